/* SPDX-License-Identifier: Apache-2.0 */
#ifndef LATCHKEY_REPORT_PRIVATE_H
#define LATCHKEY_REPORT_PRIVATE_H

#include <stdint.h>

#include "checkpoint-private.h"
#include "config-private.h"
#include "error-private.h"
#include "signing-private.h"
#include "store-private.h"

/* The namespace of evidence.xml (reports/evidence.xsd). */
#define LK_EVIDENCE_NS "urn:latchkey:evidence:1"

/* report.html shows at most this many <row>s of a population; the rest
 * are counted (rows-omitted) and are all in evidence.xml and the CSVs. */
#define LK_REPORT_HTML_ROWS 100

/* The XSD and the stylesheet, compiled in from reports/ (the copies
 * installed under $(pkgdatadir)/reports are for people to read). */
extern const char lk_evidence_xsd[];
extern const size_t lk_evidence_xsd_len;
extern const char lk_evidence_xsl[];
extern const size_t lk_evidence_xsl_len;

enum lk_report_kind {
	LK_REPORT_SOC2,
	LK_REPORT_GDPR,
	LK_REPORT_ISO27001,
};

/* "soc2", "gdpr", "iso27001". */
const char *lk_report_kind_str(enum lk_report_kind kind);
int lk_report_kind_parse(const char *s, enum lk_report_kind *ret);

struct lk_report_params {
	enum lk_report_kind kind;
	int64_t from, to;    /* the period, [from, to) in Unix seconds */
	int64_t now;         /* generation time; the report's checkpoint's too */
	int64_t actor;       /* the uid recorded in the checkpoint's audit row */
	const char *out_dir; /* created (0750), or an existing empty directory */
	const char *scope;   /* one line: what the pack covers (the database) */
	const char *version; /* the generator's version */
	/* The settings packs test against (offboarding_sla, audit_retention)
	 * and the GDPR record's text; never NULL. */
	const struct lk_config *cfg;
};

struct lk_report_result {
	struct lk_checkpoint cp; /* the checkpoint made for the report */
	int64_t exceptions;      /* rows in the exceptions register */
	bool intact;             /* audit verify found nothing wrong */
};

/*
 * An evidence pack of p->kind (reports/README.md): makes a signed
 * checkpoint (reason "report"), then lk_report_write. Refuses, before the
 * checkpoint, an out_dir that exists and is not empty (LK_EEXIST). A broken
 * audit chain does not stop the pack: it is its first exception.
 */
int lk_report_make(struct lk_store *store, const struct lk_signer *signer,
                   const struct lk_report_params *p, struct lk_report_result *ret,
                   struct lk_err *err);

/*
 * The pack for checkpoint cp, made already (latchkeyd makes it with its
 * writer and the pack with a reader of its own): in one read transaction
 * on store, evidence.xml (streamed, one row at a time), validated against
 * the XSD, report.html from it, the CSV populations, signing.pub.pem,
 * VERIFY.txt, and last MANIFEST.sha256 and its Ed25519 signature
 * MANIFEST.sha256.sig (raw 64 bytes). store may be read-only.
 */
int lk_report_write(struct lk_store *store, const struct lk_signer *signer,
                    const struct lk_report_params *p, const struct lk_checkpoint *cp,
                    struct lk_report_result *ret, struct lk_err *err);

/* The period, kind and directory name are sound (nothing is touched). */
int lk_report_check(const struct lk_report_params *p, struct lk_err *err);

#endif
