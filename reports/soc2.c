/* SPDX-License-Identifier: Apache-2.0 */
/* The SOC 2 pack's body: the system description, the control matrix, and
 * the criteria (CC6, CC7, CC8) with their tests. */
#include "config.h"

#include "pack-private.h"

/* Each control, how Latchkey operates it (true to the code: each claim
 * names where it is done), and the tests that give evidence of it. */
static void soc2_matrix(struct rep *r)
{
	static const char *const cc61[] = { "cc6.1-population-start", "cc6.1-population-end",
		                            "cc6.1-mfa", "cc6.1-key-age", NULL };
	static const char *const cc62[] = { "cc6.2-issuance", "cc6.2-no-use-after-removal",
		                            "cc6.2-offboarding", NULL };
	static const char *const cc63[] = { "cc6.3-scope-changes", "cc6.3-privileged-keys", NULL };
	static const char *const cc66[] = { "cc6.6-failures", "cc6.6-lockouts",
		                            "cc6.6-certificate-rejections", "cc6.6-boundary",
		                            NULL };
	static const char *const cc68[] = { "cc6.8-plugin-builds", "cc6.8-plugin-loads", NULL };
	static const char *const cc71[] = { "cc6.8-plugin-builds", "cc6.8-plugin-loads",
		                            "cc8.1-policy-changes", NULL };
	static const char *const cc72[] = { "cc7.2-alerts", "cc6.6-lockouts", NULL };
	static const char *const cc81[] = { "cc8.1-policy-changes", NULL };

	ev_start(r, "matrix");
	ev_control(
	    r, "CC6.1", "Logical access security: credentials and authentication",
	    "Every login to a PAM service that lists pam_latchkey.so is decided by latchkeyd "
	    "with that service's policy file, validated against the policy schema before use (an "
	    "invalid file makes the service deny everything). API keys carry about 256 random "
	    "bits, are stored only as keyed BLAKE2b-256 hashes, and work only in their "
	    "environment, with their scopes, until they expire; the policy's stack and step-ups "
	    "decide which factors (API key, TOTP code, client certificate) a login needs. Each "
	    "decision records its policy's hash and the outcome of every step.",
	    cc61);
	ev_control(
	    r, "CC6.2", "Registration, authorisation and removal of credentials",
	    "Keys are issued, rotated, suspended and revoked only through latchkey, as an "
	    "operator (admin socket; the role comes from the caller's uid and gid), each change "
	    "audited with who made it; the key is shown once, at issue. Every check reads the "
	    "key's row, so revocation, suspension and expiry apply to the next request. A "
	    "leaver's keys are revoked at once with latchkey key revoke-all (admin), which "
	    "records the departure time given with --left; offboarding_sla sets the time "
	    "allowed.",
	    cc62);
	ev_control(
	    r, "CC6.3", "Role-based access and least privilege",
	    "A key holds exactly the scopes it was issued with: the scope grammar has no "
	    "wildcards, no verb changes a key's scopes and rotation copies them. Each service's "
	    "policy names the scopes every request needs, and step-up rules require another "
	    "factor for sensitive scopes (e.g. ssh:admin). Administration is split into "
	    "auditor, operator and admin roles.",
	    cc63);
	ev_control(
	    r, "CC6.6", "Protection against threats from outside the system boundary",
	    "Failures are counted per credential and per source; past the policy's thresholds "
	    "the credential or source is locked out, and a locked source is refused before any "
	    "plugin runs. Client certificates are checked against the CA and CRL the policy "
	    "names. Only uids given an auth_peer line (or root) may ask for decisions, each for "
	    "its own services; malformed frames, refused peers and admin requests refused for "
	    "their role are audited.",
	    cc66);
	ev_control(
	    r, "CC6.7", "Restriction of the transmission of credentials",
	    "Credentials travel between processes on the host only: pam_latchkey.so and the "
	    "latchkey command talk to latchkeyd over Unix-domain sockets, each side checking "
	    "the other's uid with SO_PEERCRED; latchkeyd opens no network listener. Keys never "
	    "appear in the log, a report or an error message. The transport from the client to "
	    "the host service (SSH, TLS) is that service's: procedural, no population in the "
	    "log.",
	    NULL);
	ev_control(
	    r, "CC6.8", "Prevention of unauthorised or malicious software",
	    "latchkeyd loads plugins only from the configured plugin directory, which, like "
	    "each plugin file, must not be writable by other users; it hashes the opened file "
	    "and loads exactly those bytes (dlopen RTLD_NOW | RTLD_LOCAL), refusing a wrong ABI "
	    "version or size. A plugin that fails to load fails its step; it never succeeds. "
	    "Each build is recorded by SHA-256 when first loaded.",
	    cc68);
	ev_control(
	    r, "CC7.1", "Detection of configuration changes",
	    "The configuration that decides logins is on record: every policy put in service "
	    "by hash, with its steps and required factors, every plugin build by hash, and "
	    "every policy change and load in the audit chain, whose hashes and signed "
	    "checkpoints are verified for every pack (completeness and integrity).",
	    cc71);
	ev_control(r, "CC7.2", "Monitoring of system components for anomalies",
	           "Latchkey raises no alerts; its automatic response to repeated failures is the "
	           "lockout. Monitoring of the log is the organisation's.",
	           cc72);
	ev_control(
	    r, "CC8.1", "Changes to infrastructure and software: policies",
	    "Policies change through latchkey policy (admin role): the new policy is validated, "
	    "written to a temporary file and renamed into place only if the file was not "
	    "changed meanwhile, and the change is audited with the old and new content hashes, "
	    "the actor and the ticket given; latchkeyd then reloads and records the load.",
	    cc81);
	ev_end(r);
}

static int soc2_cc6(struct rep *r, struct lk_err *err)
{
	static const char *const issuance[] = { "seq", "time",    "actor",  "action",
		                                "kid", "subject", "detail", NULL };
	static const char *const after[] = { "seq",    "time",    "kid", "detail",
		                             "status", "expires", NULL };
	static const char *const grouped[] = { "reason", "count", NULL };
	static const char *const lockouts[] = { "seq", "time", "kid", "subject", "detail", NULL };
	static const char *const boundary[] = { "action", "reason", "count", NULL };
	static const char *const builds[] = { "name", "version",      "sha256",
		                              "path", "first-loaded", NULL };
	int ret;

	ev_criterion_open(r, "CC6.1", "Logical access security: credentials and authentication");
	if ((ret = ev_key_population(r, EVQ(Q_KEYS_AT_START), "cc6.1-population-start",
	                             "Credential population at the period's start", err)) < 0 ||
	    (ret = ev_key_population(r, EVQ(Q_KEYS_AT_END), "cc6.1-population-end",
	                             "Credential population at the period's end", err)) < 0 ||
	    (ret = ev_mfa(r, "cc6.1-mfa", err)) < 0 ||
	    (ret = ev_key_age(r, "cc6.1-key-age", err)) < 0)
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
	if ((ret = ev_offboarding(r, "cc6.2-offboarding", err)) < 0)
		return ret;
	ev_end(r);

	ev_criterion_open(r, "CC6.3", "Role-based access and least privilege");
	if ((ret = ev_scope_changes(r, "cc6.3-scope-changes", err)) < 0 ||
	    (ret = ev_privileged_keys(r, "cc6.3-privileged-keys", err)) < 0)
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

	ev_criterion_open(r, "CC6.8",
	                  "Prevention of unauthorised or malicious software (and "
	                  "CC7.1, configuration changes)");
	if ((ret = ev_listing(r, EVQ(Q_PLUGIN_BUILDS), "cc6.8-plugin-builds",
	                      "Plugin builds on record",
	                      "Every plugin build latchkeyd loaded by the period's end (first load "
	                      "before it), by the SHA-256 of the file it loaded, with the name "
	                      "and version the build reports.",
	                      builds, false, NULL, err)) < 0 ||
	    (ret = ev_plugins(r, "cc6.8-plugin-loads", err)) < 0)
		return ret;
	ev_end(r);
	return LK_OK;
}

static int soc2_body(struct rep *r, struct lk_err *err)
{
	int ret;

	if ((ret = ev_system(r, err)) < 0)
		return ret;
	soc2_matrix(r);
	if ((ret = soc2_cc6(r, err)) < 0)
		return ret;

	ev_criterion_open(r, "CC7.2", "Monitoring of system components for anomalies");
	ev_test_open(r, "cc7.2-alerts", NULL, "Alerts raised and their disposition",
	             "Latchkey raises no alerts yet; lockouts (CC6.6) are its only automatic "
	             "response. The population of alerts is empty by construction.");
	ev_result(r, 0, 0, "No alerts: not occurring (no alerting is in place).");
	ev_end(r);
	ev_end(r);

	ev_criterion_open(r, "CC8.1", "Changes to infrastructure and software: policies");
	if ((ret = ev_policy_changes(r, "cc8.1-policy-changes", err)) < 0)
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
