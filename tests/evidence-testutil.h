/* SPDX-License-Identifier: Apache-2.0 */
/* What the evidence-pack tests (check_report, check_report_frameworks) share:
 * reading evidence.xml back with XPath, validating it against the XSD an
 * auditor would use, and the verification commands VERIFY.txt shows. */
#ifndef LATCHKEY_EVIDENCE_TESTUTIL_H
#define LATCHKEY_EVIDENCE_TESTUTIL_H

#define TK_SHA_CMD "sha256sum -c MANIFEST.sha256"
#define TK_OSSL_CMD                                                                         \
	"openssl pkeyutl -verify -pubin -inkey signing.pub.pem -rawin -in MANIFEST.sha256 " \
	"-sigfile MANIFEST.sha256.sig"

/* The number an XPath expression gives over the file (prefix e: the
 * evidence namespace); a count, or a boolean as 0 or 1. */
double tk_xpath_number(const char *xml_path, const char *expr);

/* Asserts that the file validates against the source tree's
 * reports/evidence.xsd: the installed copy, not the compiled-in one the
 * generator used. */
void tk_assert_valid_evidence(const char *xml_path);

#endif
