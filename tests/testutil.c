/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "totp-private.h"

void tk_mkdtemp(char *out, size_t outlen, const char *prefix)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(out, outlen, "%s/%s-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp", prefix);
	ck_assert_msg(mkdtemp(out) != NULL, "mkdtemp %s: %s", out, strerror(errno));
}

void tk_rmrf(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	char child[PATH_MAX * 2];

	if (lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		chmod(path, 0700);
		d = opendir(path);
		while (d != NULL && (de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(child, sizeof(child), "%s/%s", path, de->d_name);
			tk_rmrf(child);
		}
		if (d != NULL)
			closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

void tk_setup(struct tk_env *e)
{
	struct lk_err err = { { 0 } };
	char policies[PATH_MAX + 32];

	ck_assert_int_ge(sodium_init(), 0);
	memset(e, 0, sizeof(*e));
	tk_mkdtemp(e->dir, sizeof(e->dir), "latchkey-test");
	snprintf(e->conf, sizeof(e->conf), "%s/latchkey.conf", e->dir);
	snprintf(e->db, sizeof(e->db), "%s/latchkey.db", e->dir);
	snprintf(e->master_path, sizeof(e->master_path), "%s/master.key", e->dir);
	snprintf(policies, sizeof(policies), "%s/policies", e->dir);
	ck_assert_int_eq(mkdir(policies, 0700), 0);
	ck_assert_msg(lk_master_create(e->master_path, &err) == LK_OK, "%s", err.msg);
	ck_assert_msg(lk_config_write_default(e->conf, "/nonexistent", &err) == LK_OK, "%s",
	              err.msg);
	ck_assert_msg(lk_config_load(e->conf, &e->cfg, &err) == LK_OK, "%s", err.msg);
	ck_assert_msg(lk_master_load(e->master_path, &e->master, &err) == LK_OK, "%s", err.msg);
	ck_assert_msg(lk_store_open(e->db, LK_STORE_CREATE, e->master, &e->store, &err) == LK_OK,
	              "%s", err.msg);
	lk_key_rules_from_config(e->cfg, &e->rules);
}

void tk_teardown(struct tk_env *e)
{
	lk_store_close(e->store);
	lk_master_free(e->master);
	lk_config_free(e->cfg);
	e->store = NULL;
	e->master = NULL;
	e->cfg = NULL;
	if (e->dir[0] != '\0')
		tk_rmrf(e->dir);
}

void tk_issue(struct tk_env *e, const char *owner, const char *env, const char *scope,
              int64_t lifetime, char *key, char *kid)
{
	const char *scopes[] = { scope };
	struct lk_key_info info;
	struct lk_err err = { { 0 } };
	int r;

	r = lk_key_issue(
	    e->store, &e->rules,
	    &(struct lk_issue_request){
	        .owner = owner, .env = env, .scopes = scopes, .n_scopes = 1, .lifetime = lifetime },
	    TK_ACTOR, TK_NOW, key, &info, &err);
	ck_assert_msg(r == LK_OK, "issue: %s", err.msg);
	if (kid != NULL)
		memcpy(kid, info.kid, LK_KID_LEN + 1);
}

void tk_snapshot(struct lk_store *store, struct tk_snapshot *s)
{
	struct lk_err err = { { 0 } };

	memset(s, 0, sizeof(*s));
	s->audit = lk_store_count(store, "audit");
	s->keys = lk_store_count(store, "api_key");
	s->subjects = lk_store_count(store, "subject");
	ck_assert_msg(lk_audit_head(store, &s->head_seq, s->head, &err) == LK_OK, "%s", err.msg);
}

void tk_assert_unchanged(struct lk_store *store, const struct tk_snapshot *before)
{
	struct tk_snapshot now;

	tk_snapshot(store, &now);
	ck_assert_int_eq(now.audit, before->audit);
	ck_assert_int_eq(now.keys, before->keys);
	ck_assert_int_eq(now.subjects, before->subjects);
	ck_assert_int_eq(now.head_seq, before->head_seq);
	ck_assert_mem_eq(now.head, before->head, LK_CHAIN_LEN);
}

int tk_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

long long tk_count(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	long long n;

	ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
	              sqlite3_errmsg(db));
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

void tk_totp_enroll(struct lk_store *store, const char *user, int64_t t, struct tk_totp *u)
{
	char uri[LK_TOTP_URI_MAX], secret[128], code[LK_TOTP_DIGITS_MAX + 1];
	char recovery[LK_TOTP_RECOVERY_CODES][LK_TOTP_RECOVERY_LEN + 1];
	struct lk_err err = { { 0 } };
	const char *p;
	size_t n;

	ck_assert_msg(lk_totp_enroll(store, user, &(struct lk_totp_params){ 0 }, TK_ACTOR, t, uri,
	                             sizeof(uri), recovery, &err) == LK_OK,
	              "%s", err.msg);
	p = strstr(uri, "secret=");
	ck_assert_ptr_nonnull(p);
	p += strlen("secret=");
	n = strcspn(p, "&");
	ck_assert_uint_lt(n, sizeof(secret));
	memcpy(secret, p, n);
	secret[n] = '\0';
	ck_assert_int_eq(lk_base32_decode(secret, u->seed, sizeof(u->seed), &u->seed_len), LK_OK);
	tk_totp_code(u, t, code);
	ck_assert_msg(lk_totp_confirm(store, user, code, strlen(code), TK_ACTOR, t, &err) == LK_OK,
	              "%s", err.msg);
	sodium_memzero(uri, sizeof(uri));
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(recovery, sizeof(recovery));
}

void tk_totp_code(const struct tk_totp *u, int64_t t, char *code)
{
	ck_assert_int_eq(lk_hotp(u->seed, u->seed_len, LK_TOTP_SHA1, 6,
	                         (uint64_t)t / LK_TOTP_PERIOD_DEFAULT, code,
	                         LK_TOTP_DIGITS_MAX + 1),
	                 LK_OK);
}

struct lk_signer *tk_signer(const struct tk_env *e)
{
	char key_path[PATH_MAX + 32], pub_path[PATH_MAX + 32];
	struct lk_signer *signer = NULL;
	struct lk_err err = { { 0 } };

	snprintf(key_path, sizeof(key_path), "%s/signing.key", e->dir);
	snprintf(pub_path, sizeof(pub_path), "%s/signing.pub.pem", e->dir);
	ck_assert_msg(lk_signing_create(key_path, pub_path, NULL, &err) == LK_OK, "%s", err.msg);
	ck_assert_msg(lk_signing_load(key_path, &signer, &err) == LK_OK, "%s", err.msg);
	return signer;
}

void tk_sql(sqlite3 *db, const char *statement)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, statement, NULL, NULL, &msg);

	ck_assert_msg(rc == SQLITE_OK, "%s: %s", statement, msg ? msg : "?");
	sqlite3_free(msg);
}

char *tk_slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_ge(n, 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (ret_len != NULL)
		*ret_len = (size_t)n;
	return buf;
}

void tk_replace_all(char **s, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to), n = 0;
	char *p, *out, *o;

	for (p = strstr(*s, from); p != NULL; p = strstr(p + fl, from))
		n++;
	out = malloc(strlen(*s) + n * tl + 1);
	ck_assert_ptr_nonnull(out);
	o = out;
	for (p = *s;;) {
		char *hit = strstr(p, from);
		if (hit == NULL)
			break;
		memcpy(o, p, (size_t)(hit - p));
		o += hit - p;
		memcpy(o, to, tl);
		o += tl;
		p = hit + fl;
	}
	strcpy(o, p);
	free(*s);
	*s = out;
}

void tk_blank_attr(char **s, const char *attr)
{
	char pat[64];
	char *p;

	snprintf(pat, sizeof(pat), " %s=\"", attr);
	for (p = strstr(*s, pat); p != NULL; p = strstr(p + 1, pat)) {
		char *v = p + strlen(pat), *q = strchr(v, '"');
		ck_assert_ptr_nonnull(q);
		v[0] = '*';
		memmove(v + 1, q, strlen(q) + 1);
	}
}

bool tk_have(const char *prog)
{
	char line[128];

	snprintf(line, sizeof(line), "command -v %s >/dev/null 2>&1", prog);
	return system(line) == 0;
}

int tk_run_in(const char *dir, const char *cmd)
{
	char line[PATH_MAX * 2];
	int st;

	snprintf(line, sizeof(line), "cd '%s' && %s >/dev/null 2>&1", dir, cmd);
	st = system(line);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}
