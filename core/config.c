/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config-private.h"
#include "util-private.h"

#define CONFIG_MAX_BYTES (64 * 1024)

const char *lk_config_locate(const char *cli_path)
{
	const char *env;

	if (cli_path != NULL)
		return cli_path;
	env = getenv(LK_CONFIG_ENV);
	if (env != NULL && env[0] != '\0')
		return env;
	return LK_DEFAULT_CONFIG;
}

void lk_config_free(struct lk_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->database);
	free(cfg->master_key);
	free(cfg->signing_key);
	free(cfg->policy_dir);
	free(cfg->plugin_dir);
	free(cfg->auth_socket);
	free(cfg->admin_socket);
	free(cfg->controller);
	free(cfg->controller_contact);
	free(cfg->dpo_contact);
	free(cfg->processing_purpose);
	free(cfg->recipients);
	free(cfg->transfers);
	for (size_t i = 0; i < cfg->n_auth_peers; i++) {
		for (size_t j = 0; j < cfg->auth_peers[i].n_services; j++)
			free(cfg->auth_peers[i].services[j]);
		free(cfg->auth_peers[i].services);
	}
	free(cfg->auth_peers);
	for (size_t i = 0; i < cfg->n_role_members; i++)
		free(cfg->role_members[i].name);
	free(cfg->role_members);
	free(cfg);
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

static char *resolve(const char *dir, const char *value)
{
	char *out;

	if (value[0] == '/')
		return strdup(value);
	if (asprintf(&out, "%s/%s", dir, value) < 0)
		return NULL;
	return out;
}

struct path_field {
	const char *name;
	size_t offset;
	bool required;
};

static const struct path_field path_fields[] = {
	{ "database", offsetof(struct lk_config, database), true },
	{ "master_key", offsetof(struct lk_config, master_key), true },
	{ "signing_key", offsetof(struct lk_config, signing_key), false },
	{ "policy_dir", offsetof(struct lk_config, policy_dir), true },
	{ "plugin_dir", offsetof(struct lk_config, plugin_dir), false },
	{ "auth_socket", offsetof(struct lk_config, auth_socket), false },
	{ "admin_socket", offsetof(struct lk_config, admin_socket), false },
};

struct duration_field {
	const char *name;
	size_t offset;
};

static const struct duration_field duration_fields[] = {
	{ "key_max_lifetime", offsetof(struct lk_config, key_max_lifetime) },
	{ "rotation_grace", offsetof(struct lk_config, rotation_grace) },
	{ "rotation_age", offsetof(struct lk_config, rotation_age) },
	{ "checkpoint_interval", offsetof(struct lk_config, checkpoint_interval) },
	{ "offboarding_sla", offsetof(struct lk_config, offboarding_sla) },
	{ "audit_retention", offsetof(struct lk_config, audit_retention) },
};

/* Free text for the GDPR record (one line, printable, at most 256 bytes). */
static const struct path_field text_fields[] = {
	{ "controller", offsetof(struct lk_config, controller), false },
	{ "controller_contact", offsetof(struct lk_config, controller_contact), false },
	{ "dpo_contact", offsetof(struct lk_config, dpo_contact), false },
	{ "processing_purpose", offsetof(struct lk_config, processing_purpose), false },
	{ "recipients", offsetof(struct lk_config, recipients), false },
	{ "transfers", offsetof(struct lk_config, transfers), false },
};

static int read_small_file(const char *path, char **ret_buf, struct lk_err *err)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return lk_err_set(err, errno == ENOENT ? LK_ENOTFOUND : LK_EIO,
		                  "cannot open config %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		r = lk_err_set(err, LK_EIO, "cannot stat config %s: %s", path, strerror(errno));
		goto out;
	}
	r = lk_err_set(err, LK_EINVAL, "config %s is not a regular file", path);
	if (!S_ISREG(st.st_mode))
		goto out;
	r = lk_check_owner_mode(&st, "config", path, 022, err);
	if (r < 0) {
		r = LK_EINVAL;
		goto out;
	}
	r = lk_err_set(err, LK_EINVAL, "config %s is larger than %d bytes", path, CONFIG_MAX_BYTES);
	if (st.st_size > CONFIG_MAX_BYTES)
		goto out;
	r = lk_err_set(err, LK_ENOMEM, "out of memory reading %s", path);
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL)
		goto out;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = lk_err_set(err, LK_EIO, "cannot read config %s", path);
			goto out;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	if (strlen(buf) != got) {
		r = lk_err_set(err, LK_EINVAL, "config %s contains a NUL byte", path);
		goto out;
	}
	*ret_buf = buf;
	buf = NULL;
	r = LK_OK;
out:
	free(buf);
	close(fd);
	return r;
}

/* Records that setting number bit was seen; true if it already was. */
static bool mark_seen(unsigned *seen, size_t bit)
{
	bool was = (*seen & (1u << bit)) != 0;

	*seen |= 1u << bit;
	return was;
}

/* "UID SERVICE[,SERVICE...]": repeatable, one line per uid. */
static int add_auth_peer(struct lk_config *cfg, char *value, const char *path, int line,
                         struct lk_err *err)
{
	struct lk_auth_peer *peers, *peer;
	char *list, *svc, *save = NULL, *end;
	unsigned long long uid;

	list = value + strcspn(value, " \t");
	if (*list != '\0')
		*list++ = '\0';
	while (*list == ' ' || *list == '\t')
		list++;
	errno = 0;
	uid = strtoull(value, &end, 10);
	if (value[0] < '0' || value[0] > '9' || *end != '\0' || errno != 0 || uid >= UINT32_MAX)
		return lk_err_set(err, LK_EINVAL, "%s:%d: bad uid '%.40s' for 'auth_peer'", path,
		                  line, value);
	if (*list == '\0')
		return lk_err_set(err, LK_EINVAL,
		                  "%s:%d: 'auth_peer' needs a uid and services (UID SERVICE[,...])",
		                  path, line);
	if (list[0] == ',' || list[strlen(list) - 1] == ',' || strstr(list, ",,") != NULL)
		return lk_err_set(err, LK_EINVAL, "%s:%d: empty service in 'auth_peer'", path,
		                  line);
	for (size_t i = 0; i < cfg->n_auth_peers; i++)
		if (cfg->auth_peers[i].uid == uid)
			return lk_err_set(err, LK_EINVAL,
			                  "%s:%d: 'auth_peer' for uid %llu is set twice", path,
			                  line, uid);
	peers = realloc(cfg->auth_peers, (cfg->n_auth_peers + 1) * sizeof(*peers));
	if (peers == NULL)
		return lk_err_set(err, LK_ENOMEM, "out of memory");
	cfg->auth_peers = peers;
	peer = &peers[cfg->n_auth_peers++];
	*peer = (struct lk_auth_peer){ .uid = (uint32_t)uid };
	for (svc = strtok_r(list, ",", &save); svc != NULL; svc = strtok_r(NULL, ",", &save)) {
		char **services;

		svc = trim(svc);
		if (strcmp(svc, "*") == 0)
			return lk_err_set(
			    err, LK_EINVAL,
			    "%s:%d: 'auth_peer' does not allow '*': name each service", path, line);
		if (!lk_service_name_valid(svc))
			return lk_err_set(err, LK_EINVAL,
			                  "%s:%d: bad service '%.70s' for 'auth_peer'", path, line,
			                  svc);
		services = realloc(peer->services, (peer->n_services + 1) * sizeof(*services));
		if (services == NULL)
			return lk_err_set(err, LK_ENOMEM, "out of memory");
		peer->services = services;
		if ((services[peer->n_services] = strdup(svc)) == NULL)
			return lk_err_set(err, LK_ENOMEM, "out of memory");
		peer->n_services++;
	}
	return LK_OK;
}

static const char *const role_names[] = {
	[LK_ROLE_NONE] = "none",
	[LK_ROLE_AUDITOR] = "auditor",
	[LK_ROLE_OPERATOR] = "operator",
	[LK_ROLE_ADMIN] = "admin",
};

const char *lk_role_str(enum lk_role role)
{
	return role <= LK_ROLE_ADMIN ? role_names[role] : "none";
}

/* A user or group name as useradd/groupadd accept it. */
static bool account_name_valid(const char *s)
{
	return s[0] != '-' && lk_token_valid(s, 32, "._-");
}

static bool parse_id(const char *s, uint32_t *ret)
{
	unsigned long long n;
	char *end;

	errno = 0;
	n = strtoull(s, &end, 10);
	/* (uid_t)-1 means "no id" to the kernel: never a member. */
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || n >= UINT32_MAX)
		return false;
	*ret = (uint32_t)n;
	return true;
}

/* One "uid:N", "gid:N", "user:NAME" or "group:NAME". */
static bool parse_member(char *s, struct lk_role_member *m)
{
	static const struct {
		const char *prefix;
		enum lk_member_kind kind;
	} kinds[] = {
		{ "uid:", LK_MEMBER_UID },
		{ "gid:", LK_MEMBER_GID },
		{ "user:", LK_MEMBER_USER },
		{ "group:", LK_MEMBER_GROUP },
	};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t n = strlen(kinds[i].prefix);
		if (strncmp(s, kinds[i].prefix, n) != 0)
			continue;
		m->kind = kinds[i].kind;
		if (m->kind == LK_MEMBER_UID || m->kind == LK_MEMBER_GID)
			return parse_id(s + n, &m->id);
		if (!account_name_valid(s + n))
			return false;
		m->name = strdup(s + n);
		return m->name != NULL;
	}
	return false;
}

/* "ROLE MEMBER[,MEMBER...]": repeatable; a member may appear under several
 * roles (the highest wins). */
static int add_role(struct lk_config *cfg, char *value, const char *path, int line,
                    struct lk_err *err)
{
	char *list, *item, *save = NULL;
	enum lk_role role = LK_ROLE_NONE;

	list = value + strcspn(value, " \t");
	if (*list != '\0')
		*list++ = '\0';
	while (*list == ' ' || *list == '\t')
		list++;
	for (int i = LK_ROLE_AUDITOR; i <= LK_ROLE_ADMIN; i++)
		if (strcmp(value, role_names[i]) == 0)
			role = (enum lk_role)i;
	if (role == LK_ROLE_NONE)
		return lk_err_set(err, LK_EINVAL,
		                  "%s:%d: bad role '%.40s' for 'role' (admin, operator or auditor)",
		                  path, line, value);
	if (*list == '\0')
		return lk_err_set(err, LK_EINVAL,
		                  "%s:%d: 'role' needs a role and members (ROLE MEMBER[,...])",
		                  path, line);
	if (list[0] == ',' || list[strlen(list) - 1] == ',' || strstr(list, ",,") != NULL)
		return lk_err_set(err, LK_EINVAL, "%s:%d: empty member in 'role'", path, line);
	for (item = strtok_r(list, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
		struct lk_role_member *members, m = { .role = role };

		item = trim(item);
		if (!parse_member(item, &m)) {
			free(m.name);
			return lk_err_set(err, LK_EINVAL,
			                  "%s:%d: bad member '%.60s' for 'role' (uid:N, gid:N, "
			                  "user:NAME or group:NAME)",
			                  path, line, item);
		}
		members = realloc(cfg->role_members, (cfg->n_role_members + 1) * sizeof(*members));
		if (members == NULL) {
			free(m.name);
			return lk_err_set(err, LK_ENOMEM, "out of memory");
		}
		cfg->role_members = members;
		members[cfg->n_role_members++] = m;
	}
	return LK_OK;
}

/* getpwnam_r, getpwuid_r and getgrnam_r want a buffer of unknown size: it
 * grows on ERANGE, up to a bound no real entry reaches. */
#define NSS_BUF_MAX (1024 * 1024)

struct nss_query {
	bool group;       /* a group by name, else a user */
	const char *name; /* a user by name, else by uid */
	uid_t uid;
	struct passwd pw;
	struct group gr;
};

static int nss_try(struct nss_query *q, char *buf, size_t len, bool *found)
{
	struct passwd *pw = NULL;
	struct group *gr = NULL;
	int r;

	if (q->group)
		r = getgrnam_r(q->name, &q->gr, buf, len, &gr);
	else if (q->name != NULL)
		r = getpwnam_r(q->name, &q->pw, buf, len, &pw);
	else
		r = getpwuid_r(q->uid, &q->pw, buf, len, &pw);
	*found = pw != NULL || gr != NULL;
	return r;
}

/* The entry (q->pw or q->gr) points into the returned buffer, which the
 * caller frees; NULL when there is no such entry or the lookup failed. */
static char *nss_lookup(struct nss_query *q)
{
	size_t len = 4096;
	char *buf = NULL;
	bool found = false;
	int r = ERANGE;

	while (r == ERANGE && len <= NSS_BUF_MAX) {
		char *p = realloc(buf, len);
		if (p == NULL)
			break;
		buf = p;
		r = nss_try(q, buf, len, &found);
		len *= 2;
	}
	if (r != 0 || !found) {
		free(buf);
		return NULL;
	}
	return buf;
}

static bool user_uid(const char *name, uid_t *ret_uid)
{
	struct nss_query q = { .name = name };
	char *buf = nss_lookup(&q);

	if (buf == NULL)
		return false;
	*ret_uid = q.pw.pw_uid;
	free(buf);
	return true;
}

static bool group_gid(const char *name, gid_t *ret_gid)
{
	struct nss_query q = { .group = true, .name = name };
	char *buf = nss_lookup(&q);

	if (buf == NULL)
		return false;
	*ret_gid = q.gr.gr_gid;
	free(buf);
	return true;
}

static bool has_gid(const gid_t *gids, size_t n_gids, gid_t gid)
{
	for (size_t i = 0; i < n_gids; i++)
		if (gids[i] == gid)
			return true;
	return false;
}

static bool member_matches(const struct lk_role_member *m, uid_t uid, const gid_t *gids,
                           size_t n_gids)
{
	uid_t u;
	gid_t g;

	switch (m->kind) {
	case LK_MEMBER_UID:
		return m->id == uid;
	case LK_MEMBER_GID:
		return has_gid(gids, n_gids, m->id);
	case LK_MEMBER_USER:
		return user_uid(m->name, &u) && u == uid;
	case LK_MEMBER_GROUP:
		return group_gid(m->name, &g) && has_gid(gids, n_gids, g);
	}
	return false;
}

enum lk_role lk_config_role(const struct lk_config *cfg, uid_t uid, const gid_t *gids,
                            size_t n_gids, uid_t self)
{
	enum lk_role best = LK_ROLE_NONE;

	/* Root could open the database anyway; the daemon's own user owns it. */
	if (uid == 0 || uid == self)
		return LK_ROLE_ADMIN;
	for (size_t i = 0; i < cfg->n_role_members; i++) {
		const struct lk_role_member *m = &cfg->role_members[i];
		if (m->role > best && member_matches(m, uid, gids, n_gids))
			best = m->role;
	}
	return best;
}

int lk_peer_groups(uid_t uid, gid_t gid, gid_t **ret_gids, size_t *ret_n, struct lk_err *err)
{
	struct nss_query q = { .uid = uid };
	char *buf = nss_lookup(&q);
	gid_t *gids = NULL;
	int n = 0;

	/* getgrouplist says how many there are when the array is short. */
	for (int cap = 32; buf != NULL && cap <= 65536; cap *= 2) {
		gid_t *p = realloc(gids, (size_t)cap * sizeof(*gids));
		if (p == NULL)
			break;
		gids = p;
		n = cap;
		if (getgrouplist(q.pw.pw_name, gid, gids, &n) >= 0)
			break;
		n = 0;
	}
	free(buf);
	if (n == 0) {
		/* No passwd entry (or no memory for the list): the primary
		 * group alone, so a gid member still matches. */
		gid_t *p = realloc(gids, sizeof(*gids));
		if (p == NULL) {
			free(gids);
			return lk_err_set(err, LK_ENOMEM, "out of memory");
		}
		gids = p;
		gids[0] = gid;
		n = 1;
	}
	*ret_gids = gids;
	*ret_n = (size_t)n;
	return LK_OK;
}

static int set_field(struct lk_config *cfg, const char *dir, const char *name, const char *value,
                     unsigned *seen, const char *path, int line, struct lk_err *err)
{
	size_t i;

	for (i = 0; i < sizeof(path_fields) / sizeof(path_fields[0]); i++) {
		char **slot = (char **)((char *)cfg + path_fields[i].offset);
		if (strcmp(name, path_fields[i].name) != 0)
			continue;
		if (mark_seen(seen, i))
			return lk_err_set(err, LK_EINVAL, "%s:%d: '%s' is set twice", path, line,
			                  name);
		if (value[0] == '\0' || !lk_text_valid(value, PATH_MAX))
			return lk_err_set(err, LK_EINVAL, "%s:%d: bad path for '%s'", path, line,
			                  name);
		*slot = resolve(dir, value);
		return *slot == NULL ? lk_err_set(err, LK_ENOMEM, "out of memory") : LK_OK;
	}
	for (i = 0; i < sizeof(duration_fields) / sizeof(duration_fields[0]); i++) {
		int64_t *slot = (int64_t *)((char *)cfg + duration_fields[i].offset);
		if (strcmp(name, duration_fields[i].name) != 0)
			continue;
		if (mark_seen(seen, 8 + i))
			return lk_err_set(err, LK_EINVAL, "%s:%d: '%s' is set twice", path, line,
			                  name);
		if (lk_duration_parse(value, slot) != LK_OK)
			return lk_err_set(
			    err, LK_EINVAL,
			    "%s:%d: bad duration '%s' for '%s' (expected e.g. 90d, 24h)", path,
			    line, value, name);
		return LK_OK;
	}
	for (i = 0; i < sizeof(text_fields) / sizeof(text_fields[0]); i++) {
		char **slot = (char **)((char *)cfg + text_fields[i].offset);
		if (strcmp(name, text_fields[i].name) != 0)
			continue;
		if (mark_seen(seen, 20 + i))
			return lk_err_set(err, LK_EINVAL, "%s:%d: '%s' is set twice", path, line,
			                  name);
		if (value[0] == '\0' || !lk_text_valid(value, 256))
			return lk_err_set(err, LK_EINVAL,
			                  "%s:%d: bad value for '%s' (printable text, at most 256 "
			                  "bytes)",
			                  path, line, name);
		*slot = strdup(value);
		return *slot == NULL ? lk_err_set(err, LK_ENOMEM, "out of memory") : LK_OK;
	}
	if (strcmp(name, "allow_never_expiring") == 0) {
		if (mark_seen(seen, 16))
			return lk_err_set(err, LK_EINVAL, "%s:%d: '%s' is set twice", path, line,
			                  name);
		if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0)
			cfg->allow_never_expiring = true;
		else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0)
			cfg->allow_never_expiring = false;
		else
			return lk_err_set(err, LK_EINVAL,
			                  "%s:%d: bad value '%s' for '%s' (yes or no)", path, line,
			                  value, name);
		return LK_OK;
	}
	if (strcmp(name, "durability") == 0) {
		if (mark_seen(seen, 17))
			return lk_err_set(err, LK_EINVAL, "%s:%d: '%s' is set twice", path, line,
			                  name);
		if (strcmp(value, "fsync") == 0)
			cfg->durability_normal = false;
		else if (strcmp(value, "normal") == 0)
			cfg->durability_normal = true;
		else
			return lk_err_set(err, LK_EINVAL,
			                  "%s:%d: bad value '%s' for '%s' (fsync or normal)", path,
			                  line, value, name);
		return LK_OK;
	}
	if (strcmp(name, "group_commit_max") == 0) {
		char *end;
		unsigned long n;
		if (mark_seen(seen, 18))
			return lk_err_set(err, LK_EINVAL, "%s:%d: '%s' is set twice", path, line,
			                  name);
		errno = 0;
		n = strtoul(value, &end, 10);
		if (value[0] < '0' || value[0] > '9' || *end != '\0' || errno != 0 || n < 1 ||
		    n > LK_GROUP_COMMIT_LIMIT)
			return lk_err_set(err, LK_EINVAL,
			                  "%s:%d: bad value '%s' for '%s' (1 to %d)", path, line,
			                  value, name, LK_GROUP_COMMIT_LIMIT);
		cfg->group_commit_max = (unsigned)n;
		return LK_OK;
	}
	if (strcmp(name, "auth_peer") == 0)
		return add_auth_peer(cfg, (char *)value, path, line, err);
	if (strcmp(name, "role") == 0)
		return add_role(cfg, (char *)value, path, line, err);
	return lk_err_set(err, LK_EINVAL, "%s:%d: unknown setting '%s'", path, line, name);
}

int lk_config_load(const char *path, struct lk_config **ret_cfg, struct lk_err *err)
{
	struct lk_config *cfg = NULL;
	char *buf = NULL, *line, *save = NULL, *dir = NULL, *slash;
	char abs[PATH_MAX];
	unsigned seen = 0;
	int r, lineno = 0;

	r = read_small_file(path, &buf, err);
	if (r < 0)
		goto out;
	if (realpath(path, abs) == NULL) {
		r = lk_err_set(err, LK_EIO, "cannot resolve config path %s: %s", path,
		               strerror(errno));
		goto out;
	}
	r = lk_err_set(err, LK_ENOMEM, "out of memory");
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL || (cfg->path = strdup(abs)) == NULL || (dir = strdup(abs)) == NULL)
		goto out;
	slash = strrchr(dir, '/');
	*(slash == dir ? slash + 1 : slash) = '\0';
	cfg->key_max_lifetime = LK_DEFAULT_MAX_LIFETIME;
	cfg->rotation_grace = LK_DEFAULT_ROTATION_GRACE;
	cfg->rotation_age = LK_DEFAULT_ROTATION_AGE;
	cfg->group_commit_max = LK_DEFAULT_GROUP_COMMIT_MAX;
	cfg->offboarding_sla = LK_DEFAULT_OFFBOARDING_SLA;
	cfg->checkpoint_interval = LK_DEFAULT_CHECKPOINT_INTERVAL;

	/* strtok_r would merge empty lines and miscount line numbers. */
	for (line = buf; line != NULL; line = save) {
		char *eq, *name, *value;

		save = strchr(line, '\n');
		if (save != NULL)
			*save++ = '\0';
		lineno++;
		line = trim(line);
		if (line[0] == '\0' || line[0] == '#')
			continue;
		eq = strchr(line, '=');
		if (eq == NULL) {
			r = lk_err_set(err, LK_EINVAL, "%s:%d: expected 'name = value'", path,
			               lineno);
			goto out;
		}
		*eq = '\0';
		name = trim(line);
		value = trim(eq + 1);
		r = set_field(cfg, dir, name, value, &seen, path, lineno, err);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < sizeof(path_fields) / sizeof(path_fields[0]); i++) {
		if (path_fields[i].required && !(seen & (1u << i))) {
			r = lk_err_set(err, LK_EINVAL, "%s: required setting '%s' is missing", path,
			               path_fields[i].name);
			goto out;
		}
	}
	if (cfg->checkpoint_interval < LK_MIN_CHECKPOINT_INTERVAL) {
		r = lk_err_set(err, LK_EINVAL,
		               "%s: checkpoint_interval must be at least 1m (it cannot be turned "
		               "off)",
		               path);
		goto out;
	}
	if (cfg->rotation_grace > cfg->key_max_lifetime) {
		r = lk_err_set(err, LK_EINVAL, "%s: rotation_grace is longer than key_max_lifetime",
		               path);
		goto out;
	}
	*ret_cfg = cfg;
	cfg = NULL;
	r = LK_OK;
out:
	lk_config_free(cfg);
	free(buf);
	free(dir);
	return r;
}

int lk_config_write_default(const char *path, const char *plugin_dir, struct lk_err *err)
{
	FILE *f;
	int fd, r;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0)
		return lk_err_set(err, errno == EEXIST ? LK_EEXIST : LK_EIO, "cannot create %s: %s",
		                  path, strerror(errno));
	f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		unlink(path);
		return lk_err_set(err, LK_EIO, "cannot write %s: %s", path, strerror(errno));
	}
	fprintf(f,
	        "# Latchkey configuration, made by 'latchkey init'. See latchkey(1).\n"
	        "# Relative paths are resolved against this file's directory.\n"
	        "database = latchkey.db\n"
	        "master_key = master.key\n"
	        "signing_key = signing.key\n"
	        "policy_dir = policies\n"
	        "plugin_dir = %s\n"
	        "auth_socket = run/auth.sock\n"
	        "admin_socket = run/admin.sock\n"
	        "\n"
	        "# latchkeyd: a reply goes out only once its audit row is on disk\n"
	        "# (fsync; or normal), decisions committed in batches of at most this many.\n"
	        "durability = fsync\n"
	        "group_commit_max = 64\n"
	        "\n"
	        "# latchkeyd signs a checkpoint of the audit log this often, and when it\n"
	        "# stops, with signing_key (at least 1m). signing.pub.pem verifies them.\n"
	        "checkpoint_interval = 15m\n"
	        "\n"
	        "# Key rules: every key expires, at most key_max_lifetime after issue.\n"
	        "key_max_lifetime = 90d\n"
	        "rotation_grace = 24h\n"
	        "rotation_age = 60d\n"
	        "allow_never_expiring = no\n"
	        "\n"
	        "# Evidence packs (latchkey report) test against these; they change\n"
	        "# nothing latchkey does. The GDPR record of processing (Art. 30) takes\n"
	        "# controller, controller_contact, dpo_contact, processing_purpose,\n"
	        "# recipients and transfers as one line of text each.\n"
	        "offboarding_sla = 24h\n"
	        "# audit_retention = 400d\n",
	        plugin_dir);
	r = (fflush(f) == 0 && fsync(fd) == 0) ? LK_OK : LK_EIO;
	if (fclose(f) != 0)
		r = LK_EIO;
	if (r < 0) {
		unlink(path);
		return lk_err_set(err, r, "cannot write %s", path);
	}
	return LK_OK;
}
