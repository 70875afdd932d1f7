/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lktest: the plugin the loader and engine tests load, never installed.
 * One source, built once per variant by plugins/local.am: lktest_ok works
 * and does what its policy arguments say; every other variant is broken in
 * exactly one way the loader must refuse (LKTEST_ABI2, LKTEST_SMALL, ...).
 *
 * lktest_ok's arguments, "key=value" in any order:
 *   decision=success|deny|ignore|unavailable|garbage  (default success;
 *            garbage answers a decision outside enum lk_plugin_decision)
 *   reason=CODE     reason code (default: one per decision)
 *   principal=NAME  principal on success (default: the request's
 *                   principal, else its user)
 *   factors=N       LK_FACTOR_* bits reported on success (decimal)
 *   need=INPUT      answer LK_PLUGIN_NEED_INPUT until the request carries
 *                   an input of that name
 *   expect=VALUE    with need=: deny ("wrong-input") unless that input's
 *                   value is exactly VALUE
 *   fail_init=1     init fails
 *   fail_auth=1     authenticate returns an error
 *   store=probe     use host->store_exec: count this call in an own table,
 *                   and check that other tables, PRAGMA, ATTACH and
 *                   multiple statements are refused (reason
 *                   "store-ok-N" with the count, or "store-escape")
 * An unknown or malformed argument makes init fail, as a real plugin's
 * should.
 */
#include <latchkey/plugin.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef LKTEST_NAME
#error "build with -DLKTEST_NAME='\"lktest_<variant>\"'"
#endif

#define LKTEST_VERSION          "1.2.3-test"
#define LKTEST_GARBAGE_DECISION 42

struct lktest_state {
	int decision;
	char reason[LK_PLUGIN_REASON_MAX];
	char principal[LK_PLUGIN_PRINCIPAL_MAX + 1];
	unsigned long factors;
	char need[LK_PLUGIN_REASON_MAX];
	char expect[64];
	int fail_init;
	int fail_auth;
	int store_probe;
	const struct lk_plugin_host *host;
};

/* Deliberately external linkage: the export test dlsym()s this name and
 * expects the build's export list, not "static", to have hidden it. */
int lktest_parse_arg(struct lktest_state *st, const char *arg);

static int copy_value(char *dst, size_t dstlen, const char *value)
{
	size_t n = strlen(value);

	if (n == 0 || n >= dstlen)
		return -1;
	memcpy(dst, value, n + 1);
	return 0;
}

static const struct {
	const char *name;
	int decision;
	const char *reason; /* the default reason code */
} decisions[] = {
	{ "success", LK_PLUGIN_SUCCESS, "ok" },
	{ "deny", LK_PLUGIN_DENY, "denied" },
	{ "ignore", LK_PLUGIN_IGNORE, "ignored" },
	{ "unavailable", LK_PLUGIN_UNAVAILABLE, "unavailable" },
	{ "garbage", LKTEST_GARBAGE_DECISION, "garbage" },
};
#define N_DECISIONS (sizeof(decisions) / sizeof(decisions[0]))

static int parse_decision(struct lktest_state *st, const char *v)
{
	for (size_t i = 0; i < N_DECISIONS; i++) {
		if (strcmp(v, decisions[i].name) == 0) {
			st->decision = decisions[i].decision;
			return 0;
		}
	}
	return -1;
}

int lktest_parse_arg(struct lktest_state *st, const char *arg)
{
	const char *eq = arg != NULL ? strchr(arg, '=') : NULL;
	const char *v;
	char *end;
	size_t klen;

	if (eq == NULL)
		return -1;
	klen = (size_t)(eq - arg);
	v = eq + 1;
#define KEY_IS(k) (klen == sizeof(k) - 1 && strncmp(arg, k, klen) == 0)
	if (KEY_IS("decision"))
		return parse_decision(st, v);
	if (KEY_IS("reason"))
		return copy_value(st->reason, sizeof(st->reason), v);
	if (KEY_IS("principal"))
		return copy_value(st->principal, sizeof(st->principal), v);
	if (KEY_IS("need"))
		return copy_value(st->need, sizeof(st->need), v);
	if (KEY_IS("expect"))
		return copy_value(st->expect, sizeof(st->expect), v);
	if (KEY_IS("factors")) {
		st->factors = strtoul(v, &end, 10);
		return (*v == '\0' || *end != '\0' || st->factors > 0xffffffffUL) ? -1 : 0;
	}
	if (KEY_IS("fail_init")) {
		st->fail_init = strcmp(v, "1") == 0;
		return 0;
	}
	if (KEY_IS("fail_auth")) {
		st->fail_auth = strcmp(v, "1") == 0;
		return 0;
	}
	if (KEY_IS("store")) {
		st->store_probe = strcmp(v, "probe") == 0;
		return st->store_probe ? 0 : -1;
	}
#undef KEY_IS
	return -1;
}

static int lktest_init(const struct lk_plugin_host *host, const char *const *args, size_t n_args,
                       void **ret_state)
{
	struct lktest_state *st;

	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -1;
	st->decision = LK_PLUGIN_SUCCESS;
	for (size_t i = 0; i < n_args; i++)
		if (lktest_parse_arg(st, args[i]) != 0)
			goto fail;
	if (st->fail_init)
		goto fail;
	st->host = host;
	for (size_t i = 0; st->reason[0] == '\0' && i < N_DECISIONS; i++)
		if (decisions[i].decision == st->decision)
			snprintf(st->reason, sizeof(st->reason), "%s", decisions[i].reason);
	if (host != NULL &&
	    host->struct_size >= offsetof(struct lk_plugin_host, log) + sizeof(host->log) &&
	    host->log != NULL)
		host->log(host->host_ctx, LK_LOG_DEBUG, "lktest: initialised with %zu arguments",
		          n_args);
	*ret_state = st;
	return 0;
fail:
	free(st);
	return -1;
}

static const struct lk_plugin_input *find_input(const struct lk_plugin_request *req,
                                                const char *name)
{
	for (size_t i = 0; i < req->n_inputs; i++)
		if (req->inputs[i].name != NULL && strcmp(req->inputs[i].name, name) == 0)
			return &req->inputs[i];
	return NULL;
}

static int take_count(void *ctx, int n_cols, const char *const *cols)
{
	*(long *)ctx = n_cols == 1 && cols[0] != NULL ? strtol(cols[0], NULL, 10) : -1;
	return 0;
}

/* Returns the number of rows in the plugin's own table, or -1 if the host
 * let the plugin reach anything that is not its own. */
static long store_probe(const struct lk_plugin_host *h)
{
	static const char *const forbidden[] = {
		"SELECT hash FROM api_key",
		"DELETE FROM audit",
		"PRAGMA user_version",
		"ATTACH DATABASE '/tmp/x.db' AS x",
		"CREATE TABLE other_table (x)",
		"CREATE TRIGGER p9_lktest_ok_t AFTER INSERT ON p9_lktest_ok_calls BEGIN SELECT 1; "
		"END",
		"SELECT 1; DELETE FROM p9_lktest_ok_calls",
		"BEGIN",
		"INSERT INTO p9_lktest_ok_calls SELECT kid FROM api_key",
		"VACUUM INTO '/tmp/lktest-stolen.db'",
		"VACUUM",
		"CREATE TABLE p9_lktest_ok_fk (x REFERENCES api_key(status))",
		"CREATE TABLE p9_lktest_ok_fk2 (x, FOREIGN KEY (x) rEfErEnCeS "
		"subject(subject_ref))",
		"CREATE TABLE p1_a_x (y)",
	};
	const char *param[] = { "1" };
	long count = -1;

	if (h == NULL ||
	    h->struct_size < offsetof(struct lk_plugin_host, store_exec) + sizeof(h->store_exec) ||
	    h->store_exec == NULL)
		return -1;
	if (h->store_exec(h->host_ctx, "CREATE TABLE IF NOT EXISTS p9_lktest_ok_calls (n)", NULL, 0,
	                  NULL, NULL) < 0 ||
	    h->store_exec(h->host_ctx, "INSERT INTO p9_lktest_ok_calls (n) VALUES (?1)", param, 1,
	                  NULL, NULL) != 1)
		return -1;
	for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++)
		if (h->store_exec(h->host_ctx, forbidden[i], NULL, 0, NULL, NULL) >= 0)
			return -1;
	if (h->store_exec(h->host_ctx, "SELECT count(*) FROM p9_lktest_ok_calls", NULL, 0,
	                  take_count, &count) < 0)
		return -1;
	return count;
}

/* Unused in the lktest_nullfn variant. */
__attribute__((unused)) static int
lktest_authenticate(void *state, const struct lk_plugin_request *req, struct lk_plugin_result *res)
{
	const struct lktest_state *st = state;
	const struct lk_plugin_input *in = NULL;
	const char *who;

	if (st == NULL || req == NULL || res == NULL || req->struct_size < sizeof(*req) ||
	    res->struct_size < sizeof(*res))
		return -1;
	if (st->fail_auth)
		return -1;
	snprintf(res->credential, sizeof(res->credential), "lktest");
	if (st->need[0] != '\0' && (in = find_input(req, st->need)) == NULL) {
		res->decision = LK_PLUGIN_NEED_INPUT;
		snprintf(res->reason, sizeof(res->reason), "need-input");
		snprintf(res->prompt_input, sizeof(res->prompt_input), "%s", st->need);
		snprintf(res->prompt_text, sizeof(res->prompt_text), "lktest %s: ", st->need);
		res->prompt_echo = 0;
		return 0;
	}
	if (in != NULL && st->expect[0] != '\0' &&
	    (in->len != strlen(st->expect) || memcmp(in->value, st->expect, in->len) != 0)) {
		res->decision = LK_PLUGIN_DENY;
		snprintf(res->reason, sizeof(res->reason), "wrong-input");
		return 0;
	}
	res->decision = (enum lk_plugin_decision)st->decision;
	snprintf(res->reason, sizeof(res->reason), "%s", st->reason);
	if (st->store_probe) {
		long n = store_probe(st->host);
		if (n < 0) {
			res->decision = LK_PLUGIN_DENY;
			snprintf(res->reason, sizeof(res->reason), "store-escape");
			return 0;
		}
		snprintf(res->reason, sizeof(res->reason), "store-ok-%ld", n);
	}
	if (st->decision == LK_PLUGIN_SUCCESS) {
		who = st->principal[0] != '\0' ? st->principal
		      : req->principal != NULL ? req->principal
		      : req->user != NULL      ? req->user
		                               : "";
		snprintf(res->principal, sizeof(res->principal), "%s", who);
		res->factors = (uint32_t)st->factors;
	}
	return 0;
}

static void lktest_fini(void *state)
{
	free(state);
}

static const struct lk_plugin lktest_plugin = {
#ifdef LKTEST_ABI2
	.abi_major = LK_PLUGIN_ABI_MAJOR + 1,
#else
	.abi_major = LK_PLUGIN_ABI_MAJOR,
#endif
	.abi_minor = LK_PLUGIN_ABI_MINOR,
#if defined(LKTEST_SMALL)
	.struct_size = offsetof(struct lk_plugin, fini), /* as if fini did not exist */
#elif defined(LKTEST_HUGE)
	.struct_size = 1024 * 1024,
#else
	.struct_size = sizeof(struct lk_plugin),
#endif
#ifdef LKTEST_BADNAME
	.name = "lktest_other",
#else
	.name = LKTEST_NAME,
#endif
#ifdef LKTEST_NOVERSION
	.version = NULL,
#else
	.version = LKTEST_VERSION,
#endif
	.capabilities = LK_PLUGIN_CAP_PRIMARY | LK_PLUGIN_CAP_PROMPTS,
	.init = lktest_init,
#ifdef LKTEST_NULLFN
	.authenticate = NULL,
#else
	.authenticate = lktest_authenticate,
#endif
	.fini = lktest_fini,
};

#ifdef LKTEST_NOENTRY
/* Under another name (plugins/local.am exports this one instead): the
 * object exports a function, but no entry point. */
const struct lk_plugin *lktest_entry(void);
const struct lk_plugin *lktest_entry(void)
#else
const struct lk_plugin *lk_plugin_entry(void)
#endif
{
#ifdef LKTEST_NULLVT
	(void)&lktest_plugin;
	return NULL;
#else
	return &lktest_plugin;
#endif
}
