/* SPDX-License-Identifier: Apache-2.0 */
#ifndef LATCHKEY_CONFIG_PRIVATE_H
#define LATCHKEY_CONFIG_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error-private.h"

#define LK_DEFAULT_CONFIG "/etc/latchkey/latchkey.conf"
#define LK_CONFIG_ENV     "LATCHKEY_CONFIG"

#define LK_DEFAULT_MAX_LIFETIME     (90LL * 86400)
#define LK_DEFAULT_ROTATION_GRACE   (24LL * 3600)
#define LK_DEFAULT_ROTATION_AGE     (60LL * 86400)
#define LK_DEFAULT_GROUP_COMMIT_MAX 64
#define LK_GROUP_COMMIT_LIMIT       1024
/* latchkeyd's signed audit checkpoints: how often, and at least how far
 * apart (a checkpoint is an audit row and a signature: not free). */
#define LK_DEFAULT_CHECKPOINT_INTERVAL (15LL * 60)
#define LK_MIN_CHECKPOINT_INTERVAL     60LL
/* The evidence packs' offboarding test: an owner's keys are all revoked
 * within this long of the departure recorded with revoke-all --left. */
#define LK_DEFAULT_OFFBOARDING_SLA (24LL * 3600)

/* One "auth_peer = UID SERVICE[,SERVICE...]" line: the PAM services a peer
 * uid on the auth socket may speak for (root may speak for every one). */
struct lk_auth_peer {
	uint32_t uid;
	char **services;
	size_t n_services;
};

/* Who may do what through the admin socket. Each role includes the ones
 * below it: an operator may do all an auditor may. */
enum lk_role {
	LK_ROLE_NONE = 0,
	LK_ROLE_AUDITOR = 1,  /* read: keys, policies, the audit log */
	LK_ROLE_OPERATOR = 2, /* the key lifecycle */
	LK_ROLE_ADMIN = 3,    /* everything: revoke-all, policy changes, auth */
};

enum lk_member_kind {
	LK_MEMBER_UID,
	LK_MEMBER_GID,
	LK_MEMBER_USER,  /* a user name, looked up when a peer is checked */
	LK_MEMBER_GROUP, /* a group name, likewise */
};

/* One member of one "role = ROLE MEMBER[,MEMBER...]" line. */
struct lk_role_member {
	enum lk_role role;
	enum lk_member_kind kind;
	uint32_t id; /* LK_MEMBER_UID, LK_MEMBER_GID */
	char *name;  /* LK_MEMBER_USER, LK_MEMBER_GROUP */
};

/*
 * Everything the CLI and daemon need to find, from one file. Relative paths
 * in the file are resolved against the file's own directory, so a state
 * directory made by "latchkey init" can be moved as a whole.
 */
struct lk_config {
	char *path; /* absolute path of the file itself */
	char *database;
	char *master_key;
	char *signing_key;
	char *policy_dir;
	char *plugin_dir;
	char *auth_socket;
	char *admin_socket;
	int64_t key_max_lifetime;  /* seconds */
	int64_t rotation_grace;    /* seconds */
	int64_t rotation_age;      /* seconds after creation a key is due */
	bool allow_never_expiring; /* keys without expiry; off by default */
	/* The daemon's audit durability: "fsync" (default; SQLite
	 * synchronous=FULL, every committed batch is on disk before any reply)
	 * or "normal" (synchronous=NORMAL: WAL frames are synced only at
	 * checkpoints; a power cut can lose the last decisions, never corrupt
	 * the chain). */
	bool durability_normal;
	/* Most decisions committed in one transaction (group commit); 1 commits
	 * each decision alone. Default LK_DEFAULT_GROUP_COMMIT_MAX. */
	unsigned group_commit_max;
	/* latchkeyd signs a checkpoint of the audit chain this often (seconds,
	 * at least LK_MIN_CHECKPOINT_INTERVAL; there is no "off"), even when
	 * nothing happened, and once more when it stops. */
	int64_t checkpoint_interval;
	/* Evidence packs (reports/): the offboarding SLA (seconds) and the
	 * audit log's retention period (0: none stated; the GDPR record says
	 * so). Neither changes what latchkey does: a pack tests against them. */
	int64_t offboarding_sla;
	int64_t audit_retention;
	/* GDPR Art. 30(1) record of processing, as free text for the GDPR
	 * pack; NULL when not set (the record then says "not stated"). */
	char *controller;
	char *controller_contact;
	char *dpo_contact;
	char *processing_purpose;
	char *recipients;
	char *transfers;
	struct lk_auth_peer *auth_peers; /* none by default */
	size_t n_auth_peers;
	struct lk_role_member *role_members; /* none by default: only root and the daemon's user */
	size_t n_role_members;
};

/* -c FILE if given, else $LATCHKEY_CONFIG, else /etc/latchkey/latchkey.conf. */
const char *lk_config_locate(const char *cli_path);

/*
 * Parses "name = value" lines ("#" comments). Unknown names, duplicates,
 * bad values and missing required paths are errors naming file and line.
 */
int lk_config_load(const char *path, struct lk_config **ret_cfg, struct lk_err *err);

/* Accepts NULL. */
void lk_config_free(struct lk_config *cfg);

/* "admin", "operator", "auditor" or "none". */
const char *lk_role_str(enum lk_role role);

/*
 * The role of a peer on the admin socket: admin for uid 0 and for self (the
 * daemon's own euid); otherwise the highest role with a member matching
 * uid, one of gids (the peer's primary group and the rest of its groups),
 * the user name of uid or the name of one of gids. Names are looked up now
 * (getpwnam_r/getgrnam_r); one that does not resolve matches nobody.
 */
enum lk_role lk_config_role(const struct lk_config *cfg, uid_t uid, const gid_t *gids,
                            size_t n_gids, uid_t self);

/* gid plus the supplementary groups of uid's user (getgrouplist), or just
 * gid if uid has no passwd entry. The caller frees *ret_gids. */
int lk_peer_groups(uid_t uid, gid_t gid, gid_t **ret_gids, size_t *ret_n, struct lk_err *err);

/* Writes the config that "latchkey init" creates (relative paths). */
int lk_config_write_default(const char *path, const char *plugin_dir, struct lk_err *err);

#endif
