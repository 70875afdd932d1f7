/* SPDX-License-Identifier: Apache-2.0 */
/* The SQL every pack quotes (pack-private.h): the auditor re-runs it with
 * sqlite3 against the same database. */
#include "config.h"

#include "pack-private.h"

const struct lk_ev_query lk_ev_queries[Q_COUNT] = {
	[Q_ROWS] = { "rows-by-action",
	             "SELECT action, count(*) FROM audit WHERE ts >= ?1 AND ts < ?2 "
	             "GROUP BY action ORDER BY action" },
	[Q_SEQ] = { "seq-range", "SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), 0) "
	                         "FROM audit WHERE ts >= ?1 AND ts < ?2" },
	[Q_CHECKPOINTS] = { "checkpoints", "SELECT number, ts, audit_seq, key_id FROM checkpoint "
	                                   "WHERE ts >= ?1 AND ts < ?2 ORDER BY number" },
	[Q_DAILY] = { "decisions-per-day",
	              "SELECT ts / 86400, sum(reason = 'ok'), sum(reason <> 'ok') FROM audit "
	              "WHERE action = 'auth.decision' AND ts >= ?1 AND ts < ?2 "
	              "GROUP BY ts / 86400 ORDER BY ts / 86400" },
	[Q_KEYS_AT_START] = { "keys-at-start",
	                      "SELECT kid, owner_ref, env, scopes, created, expires FROM api_key "
	                      "WHERE created < ?1 AND (expires IS NULL OR expires > ?1) "
	                      "AND NOT (status = 'revoked' AND status_changed <= ?1) "
	                      "ORDER BY created, kid" },
	[Q_KEYS_AT_END] = { "keys-at-end",
	                    "SELECT kid, owner_ref, env, scopes, created, expires FROM api_key "
	                    "WHERE created < ?2 AND (expires IS NULL OR expires > ?2) "
	                    "AND NOT (status = 'revoked' AND status_changed <= ?2) "
	                    "ORDER BY created, kid" },
	[Q_SUCCESSES] = { "successes", "SELECT seq, ts, kid, subject_ref, detail FROM audit "
	                               "WHERE action = 'auth.decision' AND reason = 'ok' "
	                               "AND ts >= ?1 AND ts < ?2 ORDER BY seq" },
	[Q_ISSUANCE] = { "issuance",
	                 "SELECT seq, ts, actor_uid, action, kid, subject_ref, detail FROM audit "
	                 "WHERE action IN ('key.issue', 'key.rotate') "
	                 "AND ts >= ?1 AND ts < ?2 ORDER BY seq" },
	[Q_AFTER_REVOKE] = { "success-with-unusable-key",
	                     "SELECT d.seq, d.ts, d.kid, d.detail, k.status, k.expires FROM audit "
	                     "d "
	                     "JOIN api_key k ON k.kid = d.kid "
	                     "WHERE d.action = 'auth.decision' AND d.reason = 'ok' AND d.ts >= ?1 "
	                     "AND d.ts < ?2 "
	                     "AND ((k.expires IS NOT NULL AND k.expires <= d.ts) "
	                     "OR (k.status = 'revoked' AND k.status_changed < d.ts) "
	                     "OR EXISTS (SELECT 1 FROM audit s WHERE s.kid = d.kid AND s.seq < "
	                     "d.seq "
	                     "AND s.action IN ('key.revoke', 'key.suspend') AND NOT EXISTS (SELECT "
	                     "1 FROM audit r "
	                     "WHERE r.kid = d.kid AND r.seq > s.seq AND r.seq < d.seq AND r.action "
	                     "= 'key.resume'))) "
	                     "ORDER BY d.seq" },
	[Q_FAILURES] = { "failures-by-reason",
	                 "SELECT reason, count(*) FROM audit WHERE action = 'auth.decision' "
	                 "AND reason <> 'ok' AND ts >= ?1 AND ts < ?2 "
	                 "GROUP BY reason ORDER BY count(*) DESC, reason" },
	[Q_LOCKOUTS] = { "lockouts", "SELECT seq, ts, kid, subject_ref, detail FROM audit "
	                             "WHERE action = 'auth.lockout' AND ts >= ?1 AND ts < ?2 "
	                             "ORDER BY seq" },
	[Q_CERT_REJECTIONS] = { "certificate-rejections",
	                        "SELECT reason, count(*) FROM audit WHERE action = 'auth.decision' "
	                        "AND reason <> 'ok' AND detail LIKE '%steps=%mtls:%' "
	                        "AND ts >= ?1 AND ts < ?2 "
	                        "GROUP BY reason ORDER BY count(*) DESC, reason" },
	[Q_BOUNDARY] = { "boundary-refusals",
	                 "SELECT action, reason, count(*) FROM audit WHERE action IN "
	                 "('auth.protocol-error', 'auth.peer-denied', 'admin.denied') "
	                 "AND ts >= ?1 AND ts < ?2 GROUP BY action, reason ORDER BY action, "
	                 "reason" },
	[Q_POLICY] = { "policy-changes",
	               "SELECT seq, ts, actor_uid, action, reason, detail FROM audit "
	               "WHERE action IN ('policy.change', 'policy.load') "
	               "AND ts >= ?1 AND ts < ?2 ORDER BY seq" },
	[Q_DECISIONS] = { "decisions",
	                  "SELECT seq, ts, kid, subject_ref, reason, detail FROM audit "
	                  "WHERE action = 'auth.decision' AND ts >= ?1 AND ts < ?2 "
	                  "ORDER BY seq" },
	[Q_KEYS] = { "keys", "SELECT kid, owner_ref, env, scopes, created, expires, status, "
	                     "status_changed, status_reason FROM api_key ORDER BY created, kid" },
	/* Each success with what its policy (by the hash the decision
	 * records) asked for: NULL where that policy is not on record. */
	[Q_SUCCESSES_POLICY] = { "successes-with-policy",
	                         "SELECT a.seq, a.ts, a.kid, a.subject_ref, a.detail, "
	                         "p.required_factors, p.steps FROM audit a "
	                         "LEFT JOIN policy_evidence p "
	                         "ON p.sha256 = substr(a.detail, instr(a.detail, ' policy=') + 8, "
	                         "64) "
	                         "WHERE a.action = 'auth.decision' AND a.reason = 'ok' "
	                         "AND a.ts >= ?1 AND a.ts < ?2 ORDER BY a.seq" },
	[Q_POLICIES] = { "policies",
	                 "SELECT service, sha256, steps, required_factors, first_loaded, "
	                 "last_loaded FROM policy_evidence WHERE first_loaded < ?2 "
	                 "ORDER BY service, first_loaded, sha256" },
	[Q_PLUGIN_BUILDS] = { "plugin-builds",
	                      "SELECT name, version, sha256, path, first_loaded FROM "
	                      "plugin_evidence WHERE first_loaded < ?2 "
	                      "ORDER BY name, first_loaded, sha256" },
	[Q_PLUGIN_LOADS] = { "plugin-loads",
	                     "SELECT seq, ts, actor_uid, reason, detail FROM audit "
	                     "WHERE action = 'plugin.load' AND ts >= ?1 AND ts < ?2 "
	                     "ORDER BY seq" },
	[Q_OFFBOARDING] = { "offboarding",
	                    "SELECT seq, ts, actor_uid, subject_ref, reason, detail FROM audit "
	                    "WHERE action = 'owner.revoke-all' AND ts >= ?1 AND ts < ?2 "
	                    "ORDER BY seq" },
	[Q_SCOPE_CHANGES] = { "keys-created",
	                      "SELECT k.created, k.kid, k.owner_ref, k.scopes, k.rotated_from, "
	                      "f.scopes FROM api_key k LEFT JOIN api_key f ON f.kid = "
	                      "k.rotated_from WHERE k.created >= ?1 AND k.created < ?2 "
	                      "ORDER BY k.created, k.kid" },
};
