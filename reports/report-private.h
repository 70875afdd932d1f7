/* SPDX-License-Identifier: Apache-2.0 */
#ifndef LATCHKEY_REPORT_PRIVATE_H
#define LATCHKEY_REPORT_PRIVATE_H

#include <stdint.h>

#include "checkpoint-private.h"
#include "error-private.h"
#include "signing-private.h"
#include "store-private.h"

/* The namespace of evidence.xml (reports/evidence.xsd). */
#define LK_EVIDENCE_NS "urn:latchkey:evidence:1"

/* report.html shows at most this many <row>s of a population; the rest
 * are counted (rows-omitted) and are all in evidence.xml and the CSVs. */
#define LK_REPORT_HTML_ROWS 100

/* The XSD and the SOC 2 stylesheet, compiled in from reports/ (the copies
 * installed under $(pkgdatadir)/reports are for people to read). */
extern const char lk_evidence_xsd[];
extern const size_t lk_evidence_xsd_len;
extern const char lk_soc2_xsl[];
extern const size_t lk_soc2_xsl_len;

struct lk_report_params {
	int64_t from, to;    /* the period, [from, to) in Unix seconds */
	int64_t now;         /* generation time; the report's checkpoint's too */
	int64_t actor;       /* the uid recorded in the checkpoint's audit row */
	const char *out_dir; /* created (0750), or an existing empty directory */
	const char *scope;   /* one line: what the pack covers (the database) */
	const char *version; /* the generator's version */
};

struct lk_report_result {
	struct lk_checkpoint cp; /* the checkpoint made for the report */
	int64_t exceptions;      /* rows in the exceptions register */
	bool intact;             /* audit verify found nothing wrong */
};

/*
 * The SOC 2 evidence pack (docs/reports.md): makes a signed checkpoint
 * (reason "report"), then, in one read transaction, writes evidence.xml
 * (streamed, one row at a time), validates it against the XSD, renders
 * report.html from it, writes the CSV populations, signing.pub.pem and
 * VERIFY.txt, and last MANIFEST.sha256 and its Ed25519 signature
 * MANIFEST.sha256.sig (raw 64 bytes). Refuses an out_dir that exists and is
 * not empty (LK_EEXIST). A broken audit chain does not stop the pack: it is
 * its first exception.
 */
int lk_report_soc2(struct lk_store *store, const struct lk_signer *signer,
                   const struct lk_report_params *p, struct lk_report_result *ret,
                   struct lk_err *err);

#endif
