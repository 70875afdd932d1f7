/* SPDX-License-Identifier: Apache-2.0 */
/* The SOC 2 pack's body: its criteria (CC6, CC7, CC8) and their tests. */
#include "config.h"

#include "pack-private.h"

static int soc2_body(struct rep *r, struct lk_err *err)
{
	static const char *const issuance[] = { "seq", "time",    "actor",  "action",
		                                "kid", "subject", "detail", NULL };
	static const char *const after[] = { "seq",    "time",    "kid", "detail",
		                             "status", "expires", NULL };
	static const char *const grouped[] = { "reason", "count", NULL };
	static const char *const lockouts[] = { "seq", "time", "kid", "subject", "detail", NULL };
	static const char *const boundary[] = { "action", "reason", "count", NULL };
	static const char *const policy[] = { "seq",    "time",   "actor", "action",
		                              "reason", "detail", NULL };
	int ret;

	ev_criterion_open(r, "CC6.1", "Logical access security: credentials and authentication");
	if ((ret = ev_key_population(r, EVQ(Q_KEYS_AT_START), "cc6.1-population-start",
	                             "Credential population at the period's start", err)) < 0)
		return ret;
	if ((ret = ev_key_population(r, EVQ(Q_KEYS_AT_END), "cc6.1-population-end",
	                             "Credential population at the period's end", err)) < 0)
		return ret;
	if ((ret = ev_mfa(r, "cc6.1-mfa", err)) < 0)
		return ret;
	ev_end(r);

	ev_criterion_open(r, "CC6.2", "Registration, authorisation and removal of credentials");
	if ((ret = ev_listing(r, EVQ(Q_ISSUANCE), "cc6.2-issuance", "Issuance register",
	                      "Every key issued or rotated in the period, with who did it.",
	                      issuance, false, NULL, err)) < 0)
		return ret;
	if ((ret = ev_listing(
	         r, EVQ(Q_AFTER_REVOKE), "cc6.2-no-use-after-removal",
	         "No successful authentication with a revoked, expired or suspended key",
	         "Every successful decision in the period whose key was expired, "
	         "revoked, or suspended and not resumed, at the decision's time. Must be "
	         "zero; each row is an exception.",
	         after, true,
	         "No successful authentication with a revoked, expired or "
	         "suspended key: not occurring.",
	         err)) < 0)
		return ret;
	ev_end(r);

	ev_criterion_open(r, "CC6.6",
	                  "Protection against threats from outside the system boundary");
	if ((ret = ev_listing(r, EVQ(Q_FAILURES), "cc6.6-failures",
	                      "Authentication failures by reason",
	                      "Every denied decision in the period, counted by reason.", grouped,
	                      false, NULL, err)) < 0)
		return ret;
	if ((ret = ev_listing(r, EVQ(Q_LOCKOUTS), "cc6.6-lockouts", "Lockouts",
	                      "Every credential or source locked out in the period.", lockouts,
	                      false, NULL, err)) < 0)
		return ret;
	if ((ret = ev_listing(r, EVQ(Q_CERT_REJECTIONS), "cc6.6-certificate-rejections",
	                      "Client certificate rejections by reason",
	                      "Every denied decision in the period whose policy ran an mtls step, "
	                      "counted by reason.",
	                      grouped, false, NULL, err)) < 0)
		return ret;
	if ((ret =
	         ev_listing(r, EVQ(Q_BOUNDARY), "cc6.6-boundary", "Refused peers and requests",
	                    "Protocol errors, peers not allowed to speak for a service, and admin "
	                    "requests refused for their role.",
	                    boundary, false, NULL, err)) < 0)
		return ret;
	ev_end(r);

	ev_criterion_open(r, "CC7.2", "Monitoring of system components for anomalies");
	ev_test_open(r, "cc7.2-alerts", NULL, "Alerts raised and their disposition",
	             "Latchkey raises no alerts yet; lockouts (CC6.6) are its only automatic "
	             "response. The population of alerts is empty by construction.");
	ev_result(r, 0, 0, "No alerts: not occurring (no alerting is in place).");
	ev_end(r);
	ev_end(r);

	ev_criterion_open(r, "CC8.1", "Changes to infrastructure and software: policies");
	if ((ret =
	         ev_listing(r, EVQ(Q_POLICY), "cc8.1-policy-changes", "Policy change and load log",
	                    "Every policy change made through latchkey (service, old and new "
	                    "content hash, ticket, who) and every policy latchkeyd loaded.",
	                    policy, false, NULL, err)) < 0)
		return ret;
	ev_end(r);
	return LK_OK;
}

const struct lk_framework lk_framework_soc2 = {
	.name = "soc2",
	.title = "SOC 2 Type II evidence: logical access (CC6), monitoring (CC7), change "
	         "management (CC8)",
	.body = soc2_body,
};
