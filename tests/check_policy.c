/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy files (latchkey-policy(5)): the examples in policies/ parse to what
 * they say, write back to XML that parses to the same policy, and every
 * kind of bad input (malformed XML, schema violations, bad values, entity
 * tricks, odd files) is refused with LK_EINVAL and "FILE:LINE: reason".
 * The fuzz target's entry point runs here too, over the examples, the bad
 * inputs and mutations of them (libFuzzer itself needs --enable-fuzzing).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "policy-private.h"
#include "testutil.h"

#ifndef TK_SRCDIR
#define TK_SRCDIR "."
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NS   "urn:latchkey:policy:1"
#define HEAD "<policy xmlns=\"" NS "\" service=\"svc\" environment=\"prod\">\n"
/* A document whose <policy> is line 1 and <stack> line 2. */
#define DOC(rest) \
	HEAD "<stack><step plugin=\"apikey\" control=\"required\"/></stack>\n" rest "</policy>\n"
#define STEP(attrs) "<step " attrs "/>"
#define ONE_STACK(step)                  \
	HEAD "<stack>" step "</stack>\n" \
	     "</policy>\n"
/* 43 base62 characters mixing cases and digits: a bare secret. */
#define SECRETISH "Ab3Cd4Ef5Gh6Ij7Kl8Mn9Op0Qr1St2Uv3Wx4Yz5Ab6C"

static const char *const examples[] = { "sshd", "nginx", "billing-api" };
#define N_EXAMPLES (sizeof(examples) / sizeof(examples[0]))

static char dir[PATH_MAX];

static void setup(void)
{
	tk_mkdtemp(dir, sizeof(dir), "latchkey-policy");
}

static void teardown(void)
{
	tk_rmrf(dir);
}

/* ---------------------------------------------------------------- helpers */

static void example_path(char *out, size_t outlen, const char *name)
{
	int n = snprintf(out, outlen, "%s/policies/%s.xml", TK_SRCDIR, name);

	ck_assert(n > 0 && (size_t)n < outlen);
}

static void in_dir(char *out, size_t outlen, const char *name)
{
	int n = snprintf(out, outlen, "%s/%s", dir, name);

	ck_assert(n > 0 && (size_t)n < outlen);
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	ck_assert_int_eq(close(fd), 0);
}

static void assert_msg_has(const struct lk_err *err, const char *needle)
{
	ck_assert_msg(strstr(err->msg, needle) != NULL, "message lacks \"%s\": %s", needle,
	              err->msg);
}

static void assert_msg_starts(const struct lk_err *err, const char *name, long line)
{
	char prefix[PATH_MAX + 32];

	snprintf(prefix, sizeof(prefix), "%s:%ld: ", name, line);
	ck_assert_msg(strncmp(err->msg, prefix, strlen(prefix)) == 0, "expected \"%s...\", got: %s",
	              prefix, err->msg);
	ck_assert_msg(strlen(err->msg) > strlen(prefix) + 5, "no reason after the place: %s",
	              err->msg);
}

static void assert_strv_eq(char *const *a, size_t na, char *const *b, size_t nb)
{
	ck_assert_uint_eq(na, nb);
	for (size_t i = 0; i < na; i++)
		ck_assert_str_eq(a[i], b[i]);
}

/* Equal in everything the policy says (not its path, hash or lines). */
static void assert_policy_eq(const struct lk_policy *a, const struct lk_policy *b)
{
	ck_assert_str_eq(a->service, b->service);
	ck_assert_str_eq(a->environment, b->environment);
	ck_assert_uint_eq(a->n_steps, b->n_steps);
	for (size_t i = 0; i < a->n_steps; i++) {
		ck_assert_str_eq(a->steps[i].plugin, b->steps[i].plugin);
		ck_assert_int_eq(a->steps[i].control, b->steps[i].control);
		assert_strv_eq(a->steps[i].args, a->steps[i].n_args, b->steps[i].args,
		               b->steps[i].n_args);
	}
	assert_strv_eq(a->scopes, a->n_scopes, b->scopes, b->n_scopes);
	ck_assert_uint_eq(a->n_stepups, b->n_stepups);
	for (size_t i = 0; i < a->n_stepups; i++) {
		ck_assert_str_eq(a->stepups[i].plugin, b->stepups[i].plugin);
		assert_strv_eq(a->stepups[i].scopes, a->stepups[i].n_scopes, b->stepups[i].scopes,
		               b->stepups[i].n_scopes);
	}
	ck_assert_int_eq(a->has_key_rules, b->has_key_rules);
	ck_assert_int_eq(a->key_max_lifetime, b->key_max_lifetime);
	ck_assert_int_eq(a->rotation_grace, b->rotation_grace);
	ck_assert_int_eq(a->allow_never_expiring, b->allow_never_expiring);
	ck_assert_uint_eq(a->lockout_credential_failures, b->lockout_credential_failures);
	ck_assert_uint_eq(a->lockout_source_failures, b->lockout_source_failures);
	ck_assert_int_eq(a->lockout_window, b->lockout_window);
	ck_assert_int_eq(a->lockout_duration, b->lockout_duration);
	ck_assert_int_eq(a->lockout_include_root, b->lockout_include_root);
	for (size_t i = 0; i < a->n_stepups; i++)
		assert_strv_eq(a->stepups[i].args, a->stepups[i].n_args, b->stepups[i].args,
		               b->stepups[i].n_args);
}

static struct lk_policy *parse_ok(const char *xml)
{
	struct lk_policy *p = NULL;
	struct lk_err err = { { 0 } };
	int r = lk_policy_parse(xml, strlen(xml), "test.xml", &p, &err);

	ck_assert_msg(r == LK_OK, "refused: %s\n%s", err.msg, xml);
	ck_assert_ptr_nonnull(p);
	return p;
}

/* Refused with LK_EINVAL, no policy, "test.xml:LINE: ...needle...". */
static void parse_bad(const char *xml, size_t len, long line, const char *needle)
{
	struct lk_policy *p = (struct lk_policy *)&p; /* must be left alone */
	struct lk_err err = { { 0 } };

	ck_assert_msg(lk_policy_parse(xml, len, "test.xml", &p, &err) == LK_EINVAL,
	              "accepted (or wrong code): %s", xml);
	ck_assert_ptr_eq(p, (struct lk_policy *)&p);
	assert_msg_starts(&err, "test.xml", line);
	assert_msg_has(&err, needle);
}

/* -------------------------------------------------------------- examples */

START_TEST(test_examples_parse)
{
	struct lk_policy *p = NULL;
	struct lk_err err = { { 0 } };
	char path[PATH_MAX];

	example_path(path, sizeof(path), "sshd");
	ck_assert_msg(lk_policy_load(path, &p, &err) == LK_OK, "%s", err.msg);
	ck_assert_str_eq(p->path, path);
	ck_assert_str_eq(p->service, "sshd");
	ck_assert_str_eq(p->environment, "prod");
	ck_assert_uint_eq(p->n_steps, 1);
	ck_assert_str_eq(p->steps[0].plugin, "apikey");
	ck_assert_int_eq(p->steps[0].control, LK_CONTROL_REQUIRED);
	ck_assert_uint_eq(p->steps[0].n_args, 1);
	ck_assert_str_eq(p->steps[0].args[0], "prompt=API key: ");
	ck_assert_int_eq(p->steps[0].line, 9);
	ck_assert_uint_eq(p->n_scopes, 1);
	ck_assert_str_eq(p->scopes[0], "ssh:login");
	ck_assert_uint_eq(p->n_stepups, 1);
	ck_assert_str_eq(p->stepups[0].plugin, "totp");
	ck_assert_uint_eq(p->stepups[0].n_scopes, 2);
	ck_assert_str_eq(p->stepups[0].scopes[0], "ssh:admin");
	ck_assert_str_eq(p->stepups[0].scopes[1], "ssh:root");
	ck_assert(p->has_key_rules);
	ck_assert_int_eq(p->key_max_lifetime, 90 * 86400);
	ck_assert_int_eq(p->rotation_grace, 24 * 3600);
	ck_assert(!p->allow_never_expiring);
	ck_assert_uint_eq(p->lockout_credential_failures, 5);
	ck_assert_uint_eq(p->lockout_source_failures, 20);
	ck_assert_int_eq(p->lockout_window, 15 * 60);
	ck_assert_int_eq(p->lockout_duration, 15 * 60);
	lk_policy_free(p);

	/* API key only; no key rules (the config's apply), default lockout. */
	example_path(path, sizeof(path), "nginx");
	ck_assert_msg(lk_policy_load(path, &p, &err) == LK_OK, "%s", err.msg);
	ck_assert_str_eq(p->service, "nginx");
	ck_assert_uint_eq(p->n_steps, 1);
	ck_assert_str_eq(p->steps[0].plugin, "apikey");
	ck_assert_uint_eq(p->steps[0].n_args, 0);
	ck_assert_uint_eq(p->n_stepups, 0);
	ck_assert(!p->has_key_rules);
	ck_assert_uint_eq(p->lockout_credential_failures, 5);
	ck_assert_uint_eq(p->lockout_source_failures, 20);
	ck_assert_int_eq(p->lockout_window, 900);
	ck_assert_int_eq(p->lockout_duration, 900);
	lk_policy_free(p);

	/* TOTP always: a step-up without scopes. */
	example_path(path, sizeof(path), "billing-api");
	ck_assert_msg(lk_policy_load(path, &p, &err) == LK_OK, "%s", err.msg);
	ck_assert_str_eq(p->service, "billing-api");
	ck_assert_uint_eq(p->n_stepups, 1);
	ck_assert_str_eq(p->stepups[0].plugin, "totp");
	ck_assert_uint_eq(p->stepups[0].n_scopes, 0);
	ck_assert_int_eq(p->key_max_lifetime, 30 * 86400);
	ck_assert_int_eq(p->rotation_grace, 12 * 3600);
	ck_assert_uint_eq(p->lockout_credential_failures, 3);
	ck_assert_int_eq(p->lockout_duration, 3600);
	lk_policy_free(p);
}
END_TEST

/* The hash is SHA-256 of the file's bytes, computed independently here. */
START_TEST(test_hash_is_sha256_of_the_bytes)
{
	/* printf '%s' "$doc" | sha256sum, computed when this test was written. */
	static const char doc[] = DOC("");
	static const char known[] =
	    "6cf3e8a77c4ab98a76f1ad0138f8d1643cc2d5aa93479be2aec889ebe50a16e8";
	struct lk_policy *p = NULL;
	struct lk_err err = { { 0 } };
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	char path[PATH_MAX], hex[65];
	size_t len;
	char *buf;

	for (size_t i = 0; i < N_EXAMPLES; i++) {
		example_path(path, sizeof(path), examples[i]);
		buf = tk_slurp(path, &len);
		ck_assert_int_eq(EVP_Digest(buf, len, md, &md_len, EVP_sha256(), NULL), 1);
		ck_assert_uint_eq(md_len, LK_POLICY_HASH_LEN);
		ck_assert_msg(lk_policy_load(path, &p, &err) == LK_OK, "%s", err.msg);
		ck_assert_mem_eq(p->hash, md, LK_POLICY_HASH_LEN);
		for (size_t j = 0; j < md_len; j++)
			snprintf(hex + 2 * j, 3, "%02x", md[j]);
		ck_assert_str_eq(p->hash_hex, hex);
		lk_policy_free(p);
		free(buf);
	}

	p = parse_ok(doc);
	ck_assert_str_eq(p->hash_hex, known);
	lk_policy_free(p);
}
END_TEST

/* The grammar compiled in is policies/latchkey-policy.rng, byte for byte. */
START_TEST(test_builtin_schema_is_the_rng)
{
	char path[PATH_MAX];
	size_t len;
	char *buf;

	snprintf(path, sizeof(path), "%s/policies/latchkey-policy.rng", TK_SRCDIR);
	buf = tk_slurp(path, &len);
	ck_assert_uint_eq(lk_policy_schema_len, len);
	ck_assert_mem_eq(lk_policy_schema, buf, len);
	ck_assert_int_eq(lk_policy_schema[len], '\0');
	free(buf);
}
END_TEST

/* ------------------------------------------------------------ round trip */

static void assert_round_trip(const struct lk_policy *p)
{
	struct lk_policy *again = NULL, *third = NULL;
	struct lk_err err = { { 0 } };
	char *xml = NULL, *xml2 = NULL;
	size_t len = 0, len2 = 0;

	ck_assert_int_eq(lk_policy_to_xml(p, &xml, &len, &err), LK_OK);
	ck_assert_uint_eq(strlen(xml), len);
	ck_assert_msg(lk_policy_parse(xml, len, "canonical", &again, &err) == LK_OK, "%s\n%s",
	              err.msg, xml);
	assert_policy_eq(p, again);
	/* Canonical: writing the re-read policy gives the same bytes. */
	ck_assert_int_eq(lk_policy_to_xml(again, &xml2, &len2, &err), LK_OK);
	ck_assert_uint_eq(len, len2);
	ck_assert_str_eq(xml, xml2);
	ck_assert_int_eq(lk_policy_parse(xml2, len2, "canonical", &third, &err), LK_OK);
	ck_assert_str_eq(again->hash_hex, third->hash_hex);
	lk_policy_free(third);
	lk_policy_free(again);
	free(xml);
	free(xml2);
}

START_TEST(test_round_trip)
{
	struct lk_policy *p = NULL;
	struct lk_err err = { { 0 } };
	char path[PATH_MAX];

	for (size_t i = 0; i < N_EXAMPLES; i++) {
		example_path(path, sizeof(path), examples[i]);
		ck_assert_msg(lk_policy_load(path, &p, &err) == LK_OK, "%s", err.msg);
		assert_round_trip(p);
		lk_policy_free(p);
	}

	/* Everything at once, with characters that need escaping. */
	p = parse_ok(HEAD "<stack>\n"
	                  "  <step plugin=\"apikey\" control=\"requisite\">"
	                  "<arg>a&amp;b&lt;c&gt;d\"e'f</arg><arg><![CDATA[x<y]]></arg>"
	                  "<arg>caf\xc3\xa9 \xe2\x82\xac</arg></step>\n"
	                  "  <step plugin=\"mtls\" control=\"sufficient\"/>\n"
	                  "  <step plugin=\"totp\" control=\"optional\"/>\n"
	                  "  <step plugin=\"my_plugin-2\" control=\"required\"/>\n"
	                  "</stack>\n"
	                  "<scopes><scope>repo/admin</scope><scope>a.b-c_d:e</scope></scopes>\n"
	                  "<step-up plugin=\"totp\"><scope>repo/admin</scope></step-up>\n"
	                  "<step-up plugin=\"mtls\"/>\n"
	                  "<key-rules max-lifetime=\"2w\" rotation-grace=\"90s\" "
	                  "allow-never-expiring=\"true\"/>\n"
	                  "<lockout credential-failures=\"0\" source-failures=\"999999\" "
	                  "window=\"36h\" duration=\"1m\"/>\n"
	                  "</policy>\n");
	ck_assert_str_eq(p->steps[0].args[0], "a&b<c>d\"e'f");
	ck_assert_str_eq(p->steps[0].args[1], "x<y");
	ck_assert_int_eq(p->steps[0].control, LK_CONTROL_REQUISITE);
	ck_assert_int_eq(p->steps[1].control, LK_CONTROL_SUFFICIENT);
	ck_assert_int_eq(p->steps[2].control, LK_CONTROL_OPTIONAL);
	ck_assert_int_eq(p->key_max_lifetime, 14 * 86400);
	ck_assert(p->allow_never_expiring);
	ck_assert_uint_eq(p->lockout_credential_failures, 0);
	ck_assert_uint_eq(p->lockout_source_failures, 999999);
	ck_assert_int_eq(p->lockout_window, 36 * 3600);
	assert_round_trip(p);
	lk_policy_free(p);
}
END_TEST

/* What "policy mfa enable" does: change the struct, write, re-read. */
START_TEST(test_to_xml_after_edit)
{
	struct lk_policy *p = parse_ok(DOC(""));
	struct lk_err err = { { 0 } };
	static char plugin_scope[] = "admin";
	char *scopes[] = { plugin_scope };
	struct lk_policy_stepup su = { .plugin = "totp", .scopes = scopes, .n_scopes = 1 };
	struct lk_policy *again = NULL;
	char *xml = NULL;
	size_t len;

	ck_assert_uint_eq(p->n_stepups, 0);
	p->stepups = &su;
	p->n_stepups = 1;
	ck_assert_int_eq(lk_policy_to_xml(p, &xml, &len, &err), LK_OK);
	ck_assert_ptr_nonnull(strstr(xml, "<step-up plugin=\"totp\">\n    <scope>admin</scope>"));
	ck_assert_int_eq(lk_policy_parse(xml, len, "edited", &again, &err), LK_OK);
	assert_policy_eq(p, again);
	p->stepups = NULL;
	p->n_stepups = 0;
	/* A control out of range is refused, not written as garbage. */
	p->steps[0].control = (enum lk_control)7;
	free(xml);
	xml = NULL;
	ck_assert_int_eq(lk_policy_to_xml(p, &xml, &len, &err), LK_EINVAL);
	ck_assert_ptr_null(xml);
	ck_assert_int_eq(lk_policy_to_xml(NULL, &xml, &len, &err), LK_EINVAL);
	lk_policy_free(again);
	lk_policy_free(p);
}
END_TEST

/* ------------------------------------------------------------ step-ups */

START_TEST(test_stepups_for)
{
	struct lk_policy *p = NULL;
	struct lk_err err = { { 0 } };
	const char *plugins[4];
	const char *root[] = { "ssh:root" }, *other[] = { "ssh:sftp", "x" };
	const char *admin[] = { "ssh:admin" };
	char path[PATH_MAX];
	size_t n = 99;

	example_path(path, sizeof(path), "sshd");
	ck_assert_int_eq(lk_policy_load(path, &p, &err), LK_OK);
	/* ssh:login alone (the policy's own scope) needs no second factor. */
	ck_assert_int_eq(lk_policy_stepups_for(p, NULL, 0, plugins, 4, &n), LK_OK);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(lk_policy_stepups_for(p, other, 2, plugins, 4, &n), LK_OK);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(lk_policy_stepups_for(p, root, 1, plugins, 4, &n), LK_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(plugins[0], "totp");
	n = 99;
	ck_assert_int_eq(lk_policy_stepups_for(p, admin, 1, plugins, 4, &n), LK_OK);
	ck_assert_uint_eq(n, 1);
	/* Too small an array is an error, never a dropped factor. */
	n = 99;
	ck_assert_int_eq(lk_policy_stepups_for(p, root, 1, plugins, 0, &n), LK_EINVAL);
	ck_assert_uint_eq(n, 99);
	ck_assert_int_eq(lk_policy_stepups_for(NULL, root, 1, plugins, 4, &n), LK_EINVAL);
	ck_assert_int_eq(lk_policy_stepups_for(p, NULL, 1, plugins, 4, &n), LK_EINVAL);
	lk_policy_free(p);

	example_path(path, sizeof(path), "billing-api");
	ck_assert_int_eq(lk_policy_load(path, &p, &err), LK_OK);
	ck_assert_int_eq(lk_policy_stepups_for(p, NULL, 0, plugins, 4, &n), LK_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(plugins[0], "totp");
	lk_policy_free(p);

	example_path(path, sizeof(path), "nginx");
	ck_assert_int_eq(lk_policy_load(path, &p, &err), LK_OK);
	ck_assert_int_eq(lk_policy_stepups_for(p, root, 1, NULL, 0, &n), LK_OK);
	ck_assert_uint_eq(n, 0);
	lk_policy_free(p);

	/* A step-up on one of the policy's own scopes applies to every
	 * request; several step-ups come out in document order. */
	p = parse_ok(
	    DOC("<scopes><scope>a</scope></scopes>\n"
	        "<step-up plugin=\"mtls\"><scope>b</scope></step-up>\n"
	        "<step-up plugin=\"totp\"><scope>a</scope></step-up>\n"
	        "<step-up plugin=\"webauthn\"><scope>c</scope><scope>b</scope></step-up>\n"));
	ck_assert_int_eq(lk_policy_stepups_for(p, NULL, 0, plugins, 4, &n), LK_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(plugins[0], "totp");
	{
		const char *b[] = { "b" };
		ck_assert_int_eq(lk_policy_stepups_for(p, b, 1, plugins, 4, &n), LK_OK);
		ck_assert_uint_eq(n, 3);
		ck_assert_str_eq(plugins[0], "mtls");
		ck_assert_str_eq(plugins[1], "totp");
		ck_assert_str_eq(plugins[2], "webauthn");
		/* Refused, and nothing written. */
		plugins[0] = "untouched";
		n = 99;
		ck_assert_int_eq(lk_policy_stepups_for(p, b, 1, plugins, 2, &n), LK_EINVAL);
		ck_assert_str_eq(plugins[0], "untouched");
		ck_assert_uint_eq(n, 99);
	}
	lk_policy_free(p);
}
END_TEST

/* ------------------------------------------------------------ bad input */

static const struct bad {
	const char *what;
	const char *xml;
	long line;
	const char *reason;
} bad_inputs[] = {
	/* Not XML, or not well-formed. */
	{ "empty document", "", 1, "empty" },
	{ "plain text", "hello", 1, "Start tag expected" },
	{ "unclosed", HEAD "<stack>\n", 3, "Premature end of data" },
	{ "mismatched tags", HEAD "<stack></step>\n</policy>\n", 2, "mismatch" },
	{ "two roots", DOC("") "<policy/>\n", 4, "Extra content" },
	{ "undefined entity", DOC("&foo;\n"), 3, "Entity 'foo' not defined" },
	{ "not UTF-8",
	  ONE_STACK("<step plugin=\"apikey\" control=\"required\"><arg>\xff</arg></step>"), 2,
	  "UTF-8" },
	/* Wrong document. */
	{ "wrong namespace",
	  "<policy xmlns=\"urn:latchkey:policy:2\" service=\"s\" "
	  "environment=\"prod\"/>",
	  1, "not in namespace " NS },
	{ "no namespace", "<policy service=\"s\" environment=\"prod\"/>", 1, "has no namespace" },
	{ "wrong root", "<config xmlns=\"" NS "\"/>", 1, "root element is <config>" },
	{ "child in another namespace",
	  HEAD
	  "<x:stack xmlns:x=\"urn:other\"><step plugin=\"a\" control=\"required\"/></x:stack>\n"
	  "</policy>\n",
	  2, "<stack> is not in namespace" },
	{ "xinclude is never processed",
	  DOC("<xi:include xmlns:xi=\"http://www.w3.org/2001/XInclude\" href=\"/etc/passwd\"/>\n"),
	  3, "<include> is not in namespace" },
	/* Unknown elements and attributes. */
	{ "unknown element", DOC("<steps/>\n"), 3, "unknown element <steps> in <policy>" },
	{ "unknown element in step",
	  ONE_STACK("<step plugin=\"a\" control=\"required\"><args/></step>"), 2,
	  "unknown element <args> in <step>" },
	{ "element in arg",
	  ONE_STACK("<step plugin=\"a\" control=\"required\"><arg>x<b/></arg></step>"), 2,
	  "unexpected element <b> in <arg>" },
	{ "text in stack", ONE_STACK("hello<step plugin=\"a\" control=\"required\"/>"), 2,
	  "unexpected text in <stack>" },
	{ "unknown attribute on policy",
	  "<policy xmlns=\"" NS "\" service=\"s\" environment=\"prod\" version=\"1\"/>", 1,
	  "unknown attribute version on <policy>" },
	{ "namespaced attribute",
	  "<policy xmlns=\"" NS "\" service=\"s\" environment=\"prod\" xml:lang=\"en\"/>", 1,
	  "unknown attribute xml:lang on <policy>" },
	{ "unknown attribute on step",
	  ONE_STACK(STEP("plugin=\"a\" control=\"required\" onerr=\"succeed\"")), 2,
	  "unknown attribute onerr on <step>" },
	{ "unknown attribute on stack",
	  HEAD
	  "<stack order=\"any\"><step plugin=\"a\" control=\"required\"/></stack>\n</policy>\n",
	  2, "unknown attribute order on <stack>" },
	/* Controls. */
	{ "control include", ONE_STACK(STEP("plugin=\"a\" control=\"include\"")), 2,
	  "unknown control \"include\"" },
	{ "control Required", ONE_STACK(STEP("plugin=\"a\" control=\"Required\"")), 2,
	  "unknown control \"Required\"" },
	{ "control substack", ONE_STACK(STEP("plugin=\"a\" control=\"substack\"")), 2,
	  "unknown control \"substack\"" },
	{ "control in brackets", ONE_STACK(STEP("plugin=\"a\" control=\"[success=ok]\"")), 2,
	  "unknown control \"[success=ok]\"" },
	{ "control with spaces", ONE_STACK(STEP("plugin=\"a\" control=\" required\"")), 2,
	  "unknown control \" required\"" },
	{ "control empty", ONE_STACK(STEP("plugin=\"a\" control=\"\"")), 2,
	  "unknown control \"\"" },
	{ "control missing", ONE_STACK(STEP("plugin=\"a\"")), 2,
	  "missing attribute control on <step>" },
	/* Plugin names. */
	{ "plugin ../evil", ONE_STACK(STEP("plugin=\"../evil\" control=\"required\"")), 2,
	  "bad plugin name \"../evil\"" },
	{ "plugin a/b", ONE_STACK(STEP("plugin=\"a/b\" control=\"required\"")), 2,
	  "bad plugin name \"a/b\"" },
	{ "plugin UPPER", ONE_STACK(STEP("plugin=\"UPPER\" control=\"required\"")), 2,
	  "bad plugin name \"UPPER\"" },
	{ "plugin .so", ONE_STACK(STEP("plugin=\"apikey.so\" control=\"required\"")), 2,
	  "bad plugin name \"apikey.so\"" },
	{ "plugin empty", ONE_STACK(STEP("plugin=\"\" control=\"required\"")), 2,
	  "bad plugin name \"\"" },
	{ "plugin 33 chars",
	  ONE_STACK(STEP("plugin=\"abcdefghijklmnopqrstuvwxyz0123456\" control=\"required\"")), 2,
	  "bad plugin name" },
	{ "plugin missing", ONE_STACK(STEP("control=\"required\"")), 2,
	  "missing attribute plugin on <step>" },
	{ "step-up plugin bad", DOC("<step-up plugin=\"/usr/lib/evil\"/>\n"), 3,
	  "bad plugin name \"/usr/lib/evil\"" },
	/* Stack shape. */
	{ "empty stack", HEAD "<stack/>\n</policy>\n", 2, "empty <stack>" },
	{ "no stack", HEAD "<scopes><scope>a</scope></scopes>\n</policy>\n", 2, "before <stack>" },
	{ "no children", HEAD "</policy>\n", 1, "no <stack>" },
	{ "two stacks", DOC("<stack><step plugin=\"a\" control=\"required\"/></stack>\n"), 3,
	  "more than one <stack>" },
	{ "out of order", DOC("<lockout/>\n<scopes><scope>a</scope></scopes>\n"), 4,
	  "<scopes> out of order" },
	{ "17 steps",
	  ONE_STACK(
	      STEP("plugin=\"a\" control=\"required\"") STEP("plugin=\"a\" control=\"required\"")
	          STEP("plugin=\"a\" control=\"required\"") STEP(
	              "plugin=\"a\" control=\"required\"") STEP("plugin=\"a\" control=\"required\"")
	              STEP("plugin=\"a\" control=\"required\"")
	                  STEP("plugin=\"a\" control=\"required\"")
	                      STEP("plugin=\"a\" control=\"required\"")
	                          STEP("plugin=\"a\" control=\"required\"")
	                              STEP("plugin=\"a\" control=\"required\"")
	                                  STEP("plugin=\"a\" control=\"required\"") STEP(
	                                      "plugin=\"a\" control=\"required\"")
	                                      STEP("plugin=\"a\" control=\"required\"") STEP(
	                                          "plugin=\"a\" control=\"required\"")
	                                          STEP("plugin=\"a\" control=\"required\"") STEP(
	                                              "plugin=\"a\" control=\"required\"")
	                                              STEP("plugin=\"a\" control=\"required\"")),
	  2, "more than 16 steps" },
	/* Service and environment. */
	{ "environment PROD", "<policy xmlns=\"" NS "\" service=\"s\" environment=\"PROD\"/>", 1,
	  "bad environment \"PROD\"" },
	{ "environment too long",
	  "<policy xmlns=\"" NS "\" service=\"s\" environment=\"production\"/>", 1,
	  "bad environment \"production\"" },
	{ "environment one letter", "<policy xmlns=\"" NS "\" service=\"s\" environment=\"p\"/>", 1,
	  "bad environment \"p\"" },
	{ "environment digit", "<policy xmlns=\"" NS "\" service=\"s\" environment=\"pr0d\"/>", 1,
	  "bad environment \"pr0d\"" },
	{ "environment missing", "<policy xmlns=\"" NS "\" service=\"s\"/>", 1,
	  "missing attribute environment on <policy>" },
	{ "service with slash", "<policy xmlns=\"" NS "\" service=\"a/b\" environment=\"prod\"/>",
	  1, "bad service \"a/b\"" },
	{ "service leading dash", "<policy xmlns=\"" NS "\" service=\"-x\" environment=\"prod\"/>",
	  1, "bad service \"-x\"" },
	{ "service upper case", "<policy xmlns=\"" NS "\" service=\"Sshd\" environment=\"prod\"/>",
	  1, "bad service \"Sshd\"" },
	{ "service 65 chars",
	  "<policy xmlns=\"" NS "\" service=\"a1234567890123456789012345678901234567890123456789"
	  "012345678901234\" environment=\"prod\"/>",
	  1, "bad service" },
	/* Durations and counts. */
	{ "duration without unit", DOC("<key-rules max-lifetime=\"90\" rotation-grace=\"1h\"/>\n"),
	  3, "bad max-lifetime \"90\"" },
	{ "duration zero", DOC("<key-rules max-lifetime=\"0d\" rotation-grace=\"1h\"/>\n"), 3,
	  "bad max-lifetime \"0d\"" },
	{ "duration in words", DOC("<key-rules max-lifetime=\"90days\" rotation-grace=\"1h\"/>\n"),
	  3, "bad max-lifetime \"90days\"" },
	{ "duration negative", DOC("<key-rules max-lifetime=\"90d\" rotation-grace=\"-1h\"/>\n"), 3,
	  "bad rotation-grace \"-1h\"" },
	{ "duration in years", DOC("<key-rules max-lifetime=\"1y\" rotation-grace=\"1h\"/>\n"), 3,
	  "bad max-lifetime \"1y\"" },
	{ "duration too long",
	  DOC("<key-rules max-lifetime=\"999999999999d\" rotation-grace=\"1h\"/>\n"), 3,
	  "bad max-lifetime" },
	{ "key rules incomplete", DOC("<key-rules max-lifetime=\"90d\"/>\n"), 3,
	  "missing attribute rotation-grace on <key-rules>" },
	{ "never-expiring yes",
	  DOC("<key-rules max-lifetime=\"9d\" rotation-grace=\"1h\" "
	      "allow-never-expiring=\"yes\"/>\n"),
	  3, "bad allow-never-expiring \"yes\"" },
	{ "lockout window zero", DOC("<lockout window=\"0m\"/>\n"), 3, "bad window \"0m\"" },
	{ "lockout count word", DOC("<lockout credential-failures=\"five\"/>\n"), 3,
	  "bad credential-failures \"five\"" },
	{ "lockout count negative", DOC("<lockout source-failures=\"-1\"/>\n"), 3,
	  "bad source-failures \"-1\"" },
	{ "lockout count too big", DOC("<lockout source-failures=\"1000000\"/>\n"), 3,
	  "bad source-failures \"1000000\"" },
	{ "lockout child", DOC("<lockout>\n<window/></lockout>\n"), 4,
	  "unknown element <window> in <lockout>" },
	{ "include-root yes", DOC("<lockout include-root=\"yes\"/>\n"), 3,
	  "bad include-root \"yes\"" },
	/* The totp plugin's arguments, in a step or a step-up. */
	{ "totp skew 11",
	  ONE_STACK("<step plugin=\"totp\" control=\"required\"><arg>skew=11</arg></step>"), 2,
	  "bad totp argument \"skew=11\"" },
	{ "totp skew negative",
	  ONE_STACK("<step plugin=\"totp\" control=\"required\"><arg>skew=-1</arg></step>"), 2,
	  "bad totp argument \"skew=-1\"" },
	{ "totp skew empty",
	  ONE_STACK("<step plugin=\"totp\" control=\"required\"><arg>skew=</arg></step>"), 2,
	  "bad totp argument \"skew=\"" },
	{ "totp rollout Feb 30",
	  DOC("<step-up plugin=\"totp\"><arg>rollout=2027-02-30</arg></step-up>\n"), 3,
	  "bad totp argument \"rollout=2027-02-30\"" },
	{ "totp rollout in words",
	  DOC("<step-up plugin=\"totp\"><arg>rollout=next week</arg></step-up>\n"), 3,
	  "rollout is a date, YYYY-MM-DD" },
	{ "totp rollout 1999",
	  DOC("<step-up plugin=\"totp\"><arg>rollout=1999-12-31</arg></step-up>\n"), 3,
	  "bad totp argument \"rollout=1999-12-31\"" },
	{ "totp unknown argument",
	  ONE_STACK("<step plugin=\"totp\" control=\"required\"><arg>window=3</arg></step>"), 2,
	  "unknown totp argument \"window=3\"" },
	/* The mtls plugin's arguments, by name and form. */
	{ "mtls misspelt argument",
	  ONE_STACK("<step plugin=\"mtls\" control=\"required\"><arg>crl_max_age=2d</arg></step>"),
	  2, "unknown mtls argument \"crl_max_age=2d\"" },
	{ "mtls relative CA",
	  ONE_STACK("<step plugin=\"mtls\" control=\"required\"><arg>ca=ca.pem</arg></step>"), 2,
	  "bad mtls argument \"ca=ca.pem\": the file must be an absolute path" },
	{ "mtls relative CRL",
	  ONE_STACK("<step plugin=\"mtls\" control=\"required\"><arg>crl=./x.crl</arg></step>"), 2,
	  "bad mtls argument \"crl=./x.crl\"" },
	{ "mtls unknown map source",
	  ONE_STACK("<step plugin=\"mtls\" control=\"required\"><arg>map=san-ip:{}</arg></step>"),
	  2, "map= takes san-uri:, san-dns:, san-email: or cn:" },
	{ "mtls value missing",
	  ONE_STACK("<step plugin=\"mtls\" control=\"required\"><arg>skew=</arg></step>"), 2,
	  "unknown mtls argument \"skew=\"" },
	{ "step-up arg after scope",
	  DOC("<step-up plugin=\"totp\"><scope>a</scope>\n<arg>skew=1</arg></step-up>\n"), 4,
	  "<arg>" },
	{ "step-up empty arg", DOC("<step-up plugin=\"mtls\"><arg/></step-up>\n"), 3,
	  "empty <arg> for plugin mtls" },
	/* Scopes. */
	{ "duplicate scope", DOC("<scopes>\n<scope>a:b</scope>\n<scope>a:b</scope>\n</scopes>\n"),
	  5, "duplicate scope \"a:b\" in <scopes>" },
	{ "duplicate step-up scope",
	  DOC("<step-up plugin=\"totp\"><scope>x</scope><scope>x</scope></step-up>\n"), 3,
	  "duplicate scope \"x\" in <step-up>" },
	{ "wildcard scope", DOC("<scopes><scope>*</scope></scopes>\n"), 3, "bad scope \"*\"" },
	{ "scope with space", DOC("<scopes><scope> billing:read</scope></scopes>\n"), 3,
	  "bad scope \" billing:read\"" },
	{ "empty scopes", DOC("<scopes/>\n"), 3, "empty <scopes>" },
	{ "scope attribute", DOC("<scopes><scope kind=\"x\">a</scope></scopes>\n"), 3,
	  "unknown attribute kind on <scope>" },
	{ "not a scope", DOC("<scopes><role>a</role></scopes>\n"), 3,
	  "unknown element <role> in <scopes>" },
	{ "duplicate step-up", DOC("<step-up plugin=\"totp\"/>\n<step-up plugin=\"totp\"/>\n"), 4,
	  "duplicate <step-up> for plugin totp" },
	/* Arguments. */
	{ "empty arg", ONE_STACK("<step plugin=\"a\" control=\"required\"><arg/></step>"), 2,
	  "empty <arg>" },
	{ "arg with DEL",
	  ONE_STACK("<step plugin=\"a\" control=\"required\"><arg>a&#x7f;</arg></step>"), 2,
	  "control, bidirectional" },
	{ "arg with newline",
	  ONE_STACK("<step plugin=\"a\" control=\"required\"><arg>a\nb</arg></step>"), 2,
	  "control, bidirectional" },
	{ "arg with bidi override",
	  ONE_STACK("<step plugin=\"a\" control=\"required\"><arg>a&#x202e;b</arg></step>"), 2,
	  "control, bidirectional" },
	{ "arg holding a secret",
	  ONE_STACK("<step plugin=\"a\" control=\"required\"><arg>token=" SECRETISH
	            "</arg></step>"),
	  2, "looks like an API key" },
	/* Entity tricks: any DOCTYPE is refused before its subset is read. */
	{ "internal entity", "<!DOCTYPE policy [<!ENTITY x \"y\">]>\n" DOC("&x;"), 1, "DOCTYPE" },
	{ "external entity",
	  "<?xml version=\"1.0\"?>\n<!DOCTYPE policy [\n<!ENTITY x SYSTEM \"file:///etc/passwd\">\n"
	  "]>\n" ONE_STACK("<step plugin=\"a\" control=\"required\"><arg>&x;</arg></step>"),
	  2, "DOCTYPE" },
	{ "parameter entity",
	  "<!DOCTYPE policy [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]>\n" DOC(""), 1,
	  "DOCTYPE" },
	{ "external DTD", "<!DOCTYPE policy SYSTEM \"file:///etc/passwd\">\n" DOC(""), 1,
	  "DOCTYPE" },
	{ "network DTD",
	  "<!DOCTYPE policy PUBLIC \"-//x//y\" \"http://192.0.2.1/x.dtd\">\n" DOC(""), 1,
	  "DOCTYPE" },
	{ "bare DOCTYPE", "<!DOCTYPE policy>\n" DOC(""), 1, "DOCTYPE" },
};

START_TEST(test_bad_input)
{
	const struct bad *b = &bad_inputs[_i];

	/* Check's loop index: one test per table row, named in failures. */
	ck_assert_msg(b->xml != NULL, "%s", b->what);
	parse_bad(b->xml, strlen(b->xml), b->line, b->reason);
}
END_TEST

/* The limits are where the man page says: the maximum passes. */
START_TEST(test_limits)
{
	char xml[16384], *p;
	struct lk_policy *pol;

	/* 16 steps, each with 16 arguments of 256 bytes. */
	p = xml + snprintf(xml, sizeof(xml), "%s<stack>", HEAD);
	for (int i = 0; i < LK_POLICY_MAX_STEPS; i++)
		p += snprintf(p, (size_t)(xml + sizeof(xml) - p),
		              "<step plugin=\"p%d\" control=\"optional\"/>", i);
	snprintf(p, sizeof(xml) - (size_t)(p - xml), "</stack></policy>");
	pol = parse_ok(xml);
	ck_assert_uint_eq(pol->n_steps, LK_POLICY_MAX_STEPS);
	lk_policy_free(pol);

	{
		static char big[LK_POLICY_MAX_ARGS * (LK_POLICY_ARG_MAX + 16) + 1024];
		char arg[LK_POLICY_ARG_MAX + 2];
		memset(arg, 'x', sizeof(arg));
		arg[LK_POLICY_ARG_MAX] = '\0';
		p = big + snprintf(big, sizeof(big),
		                   "%s<stack><step plugin=\"a\" control=\"required\">", HEAD);
		for (int i = 0; i < LK_POLICY_MAX_ARGS; i++)
			p += snprintf(p, (size_t)(xml + sizeof(xml) - p), "<arg>%s</arg>", arg);
		snprintf(p, (size_t)(xml + sizeof(xml) - p), "</step></stack></policy>");
		pol = parse_ok(big);
		ck_assert_uint_eq(pol->steps[0].n_args, LK_POLICY_MAX_ARGS);
		ck_assert_uint_eq(strlen(pol->steps[0].args[15]), LK_POLICY_ARG_MAX);
		lk_policy_free(pol);
		/* One more argument. */
		snprintf(p, (size_t)(xml + sizeof(xml) - p),
		         "<arg>x</arg></step></stack></policy>");
		parse_bad(big, strlen(big), 2, "more than 16 arguments");
		/* One byte more in an argument. */
		arg[LK_POLICY_ARG_MAX] = 'x';
		arg[LK_POLICY_ARG_MAX + 1] = '\0';
		snprintf(big, sizeof(big),
		         "%s<stack><step plugin=\"a\" control=\"required\"><arg>%s</arg></step>"
		         "</stack></policy>",
		         HEAD, arg);
		parse_bad(big, strlen(big), 2, "longer than 256 bytes");
	}

	/* 32 scopes; 33 refused. */
	p = xml + snprintf(xml, sizeof(xml), "%s", DOC("<scopes>"));
	p -= strlen("</policy>\n");
	for (int i = 0; i < 32; i++)
		p += snprintf(p, (size_t)(xml + sizeof(xml) - p), "<scope>s%d</scope>", i);
	snprintf(p, (size_t)(xml + sizeof(xml) - p), "</scopes></policy>");
	pol = parse_ok(xml);
	ck_assert_uint_eq(pol->n_scopes, 32);
	lk_policy_free(pol);
	snprintf(p, (size_t)(xml + sizeof(xml) - p), "<scope>s32</scope></scopes></policy>");
	parse_bad(xml, strlen(xml), 3, "more than 32 scopes");

	/* 64-character service name, 8-letter environment, 32-char plugin. */
	pol = parse_ok("<policy xmlns=\"" NS "\" service=\"a123456789012345678901234567890123456789"
	               "0123456789012345678.-_xy\" environment=\"abcdefgh\"><stack>"
	               "<step plugin=\"abcdefghijklmnopqrstuvwxyz-_0123\" control=\"required\"/>"
	               "</stack></policy>");
	ck_assert_uint_eq(strlen(pol->service), 64);
	ck_assert_str_eq(pol->steps[0].plugin, "abcdefghijklmnopqrstuvwxyz-_0123");
	lk_policy_free(pol);
}
END_TEST

/* Comments, processing instructions, whitespace and an XML declaration
 * that names another encoding (ignored: policies are read as UTF-8). */
START_TEST(test_tolerated)
{
	struct lk_policy *p;

	p = parse_ok("<?xml version=\"1.0\" encoding=\"ISO-2022-CN-EXT\"?>\n"
	             "<!-- a comment -->\n<?editor hint?>\n" HEAD "  <!-- inside -->\n"
	             "  <stack>\n    <step plugin=\"apikey\" control=\"required\">\n"
	             "      <arg>a<!-- split -->b</arg>\n    </step>\n  </stack>\n</policy>\n\n");
	ck_assert_str_eq(p->steps[0].args[0], "ab");
	ck_assert_int_eq(p->steps[0].line, 7);
	lk_policy_free(p);
	/* Entities every XML parser knows need no DTD. */
	p = parse_ok(ONE_STACK(
	    "<step plugin=\"a\" control=\"required\"><arg>&lt;&amp;&#65;&#x42;</arg></step>"));
	ck_assert_str_eq(p->steps[0].args[0], "<&AB");
	lk_policy_free(p);
}
END_TEST

/* Line numbers past 65535 (libxml2 keeps 16 bits unless asked). */
START_TEST(test_big_line_numbers)
{
	static char xml[80000];
	size_t n;

	n = (size_t)snprintf(xml, sizeof(xml), "%s", DOC(""));
	n -= strlen("</policy>\n");
	memset(xml + n, '\n', 70000);
	n += 70000;
	n += (size_t)snprintf(xml + n, sizeof(xml) - n, "<bogus/></policy>\n");
	parse_bad(xml, n, 70003, "unknown element <bogus>");
}
END_TEST

/* Billion laughs: ten levels of ten. Refused at the DOCTYPE, quickly,
 * whatever the nesting. */
START_TEST(test_billion_laughs)
{
	char xml[8192], *p = xml;

	p += snprintf(p, (size_t)(xml + sizeof(xml) - p),
	              "<?xml version=\"1.0\"?>\n<!DOCTYPE policy [\n<!ENTITY l0 \"lol\">\n");
	for (int i = 1; i <= 10; i++) {
		p += snprintf(p, (size_t)(xml + sizeof(xml) - p), "<!ENTITY l%d \"", i);
		for (int j = 0; j < 10; j++)
			p += snprintf(p, (size_t)(xml + sizeof(xml) - p), "&l%d;", i - 1);
		p += snprintf(p, (size_t)(xml + sizeof(xml) - p), "\">\n");
	}
	p += snprintf(p, (size_t)(xml + sizeof(xml) - p),
	              "]>\n" ONE_STACK("<step plugin=\"a\" control=\"required\"><arg>&l10;</arg>"
	                               "</step>"));
	/* Refused at the DOCTYPE, before any entity is expanded (an expansion
	 * would take minutes and gigabytes: the case's timeout would fire). No
	 * timing assertion: the error says where parsing stopped. */
	parse_bad(xml, strlen(xml), 2, "DOCTYPE declarations are not allowed");
}
END_TEST

/* libxml2 2.9 checks each attribute of a tag against all earlier ones and
 * looks prefixes up through every declaration in scope: a megabyte of
 * either took it seconds. Both are refused before libxml2 sees them. */
START_TEST(test_attribute_flood)
{
	static char xml[LK_POLICY_MAX_BYTES];
	static const char *const openers[] = {
		"<lockout",                     /* one tag, ~100k attributes */
		"<!x/><lockout",                /* after markup that stops a naive scanner */
		"<!-- '\" --><lockout",         /* after a comment holding quotes */
		"<x:e xmlns:x=\"u\"/><lockout", /* namespace declarations count too */
	};

	for (size_t k = 0; k < sizeof(openers) / sizeof(openers[0]); k++) {
		size_t n = (size_t)snprintf(xml, sizeof(xml), "%s", DOC(""));
		long i;
		n -= strlen("</policy>\n");
		n += (size_t)snprintf(xml + n, sizeof(xml) - n, "%s", openers[k]);
		for (i = 0; n + 64 < sizeof(xml); i++)
			n += (size_t)snprintf(xml + n, sizeof(xml) - n, "\n%s%lx=''",
			                      k == 3 ? "xmlns:p" : "a", i);
		n += (size_t)snprintf(xml + n, sizeof(xml) - n, "/></policy>\n");
		ck_assert_uint_le(n, LK_POLICY_MAX_BYTES);
		/* Five attributes on lines 1 and 2, then one a line from line 4;
		 * refused by the count before libxml2's slow path is reached. */
		parse_bad(xml, n, k == 3 ? 254 : 255, "more than 256 attributes");
	}
}
END_TEST

/* XXE: a file named by an external entity is never read into anything. */
START_TEST(test_external_entity_never_read)
{
	static const char marker[] = "LK-XXE-MARKER-7f3a";
	char secret[PATH_MAX], xml[PATH_MAX * 2 + 512], path[PATH_MAX];
	const char *targets[2];
	struct lk_policy *p = NULL;
	struct lk_err err = { { 0 } };

	in_dir(secret, sizeof(secret), "secret.txt");
	write_file(secret, marker, strlen(marker), 0644);
	targets[0] = secret;
	targets[1] = "/etc/passwd";
	for (int i = 0; i < 2; i++) {
		/* As an entity in the content, and as the document's DTD. */
		snprintf(
		    xml, sizeof(xml), "<!DOCTYPE policy [<!ENTITY x SYSTEM \"file://%s\">]>\n%s",
		    targets[i],
		    ONE_STACK("<step plugin=\"a\" control=\"required\"><arg>&x;</arg></step>"));
		in_dir(path, sizeof(path), "xxe.xml");
		write_file(path, xml, strlen(xml), 0644);
		ck_assert_int_eq(lk_policy_load(path, &p, &err), LK_EINVAL);
		ck_assert_ptr_null(p);
		assert_msg_has(&err, "DOCTYPE");
		ck_assert_ptr_null(strstr(err.msg, marker));
		ck_assert_ptr_null(strstr(err.msg, "root:"));

		snprintf(xml, sizeof(xml), "<!DOCTYPE policy SYSTEM \"%s\">\n%s", targets[i],
		         DOC(""));
		write_file(path, xml, strlen(xml), 0644);
		ck_assert_int_eq(lk_policy_load(path, &p, &err), LK_EINVAL);
		ck_assert_ptr_null(p);
		assert_msg_starts(&err, path, 1);
		ck_assert_ptr_null(strstr(err.msg, marker));
		ck_assert_ptr_null(strstr(err.msg, "root:"));
	}
}
END_TEST

/* ------------------------------------------------------------ files */

START_TEST(test_size_limit)
{
	static char buf[LK_POLICY_MAX_BYTES + 1];
	struct lk_policy *p = NULL;
	struct lk_err err = { { 0 } };
	char path[PATH_MAX];
	size_t head = strlen(DOC(""));

	/* Exactly the maximum, padded with a comment: accepted. */
	memcpy(buf, DOC(""), head);
	memcpy(buf + head, "<!--", 4);
	memset(buf + head + 4, ' ', LK_POLICY_MAX_BYTES - head - 7);
	memcpy(buf + LK_POLICY_MAX_BYTES - 3, "-->", 3);
	in_dir(path, sizeof(path), "max.xml");
	write_file(path, buf, LK_POLICY_MAX_BYTES, 0644);
	ck_assert_msg(lk_policy_load(path, &p, &err) == LK_OK, "%s", err.msg);
	lk_policy_free(p);
	p = NULL;

	/* One byte more: refused unread, from the file and from memory. */
	buf[LK_POLICY_MAX_BYTES] = '\n';
	in_dir(path, sizeof(path), "big.xml");
	write_file(path, buf, LK_POLICY_MAX_BYTES + 1, 0644);
	ck_assert_int_eq(lk_policy_load(path, &p, &err), LK_EINVAL);
	ck_assert_ptr_null(p);
	assert_msg_has(&err, path);
	assert_msg_has(&err, "larger than 1048576 bytes");
	ck_assert_int_eq(lk_policy_parse(buf, sizeof(buf), "mem", &p, &err), LK_EINVAL);
	ck_assert_ptr_null(p);
	assert_msg_has(&err, "mem: larger than");
}
END_TEST

START_TEST(test_odd_files)
{
	struct lk_policy *p = NULL;
	struct lk_err err = { { 0 } };
	char good[PATH_MAX], path[PATH_MAX];

	in_dir(good, sizeof(good), "good.xml");
	write_file(good, DOC(""), strlen(DOC("")), 0644);
	ck_assert_int_eq(lk_policy_load(good, &p, &err), LK_OK);
	lk_policy_free(p);
	p = NULL;

	in_dir(path, sizeof(path), "missing.xml");
	ck_assert_int_eq(lk_policy_load(path, &p, &err), LK_ENOTFOUND);
	ck_assert_ptr_null(p);
	assert_msg_has(&err, path);
	assert_msg_has(&err, "No such file");

	/* A symlink, even to a good policy (O_NOFOLLOW). */
	in_dir(path, sizeof(path), "link.xml");
	ck_assert_int_eq(symlink(good, path), 0);
	ck_assert_int_eq(lk_policy_load(path, &p, &err), LK_EINVAL);
	ck_assert_ptr_null(p);
	assert_msg_has(&err, "symbolic link");

	in_dir(path, sizeof(path), "dir.xml");
	ck_assert_int_eq(mkdir(path, 0755), 0);
	ck_assert_int_eq(lk_policy_load(path, &p, &err), LK_EINVAL);
	ck_assert_ptr_null(p);
	assert_msg_has(&err, "is a directory");

	/* A FIFO must not hang the daemon waiting for a writer. */
	in_dir(path, sizeof(path), "fifo.xml");
	ck_assert_int_eq(mkfifo(path, 0644), 0);
	ck_assert_int_eq(lk_policy_load(path, &p, &err), LK_EINVAL);
	ck_assert_ptr_null(p);
	assert_msg_has(&err, "not a regular file");

	/* Writable by others: whoever can write it decides who gets in. */
	ck_assert_int_eq(chmod(good, 0666), 0);
	ck_assert_int_eq(lk_policy_load(good, &p, &err), LK_EINVAL);
	ck_assert_ptr_null(p);
	assert_msg_has(&err, "unsafe permissions");
	ck_assert_int_eq(chmod(good, 0644), 0);

	/* Unreadable: as root, read it as nobody. */
	ck_assert_int_eq(chmod(good, 0600), 0);
	if (geteuid() == 0)
		ck_assert_int_eq(seteuid(65534), 0);
	if (geteuid() != 0) {
		int r = lk_policy_load(good, &p, &err);
		if (getuid() == 0)
			ck_assert_int_eq(seteuid(0), 0);
		ck_assert_int_eq(r, LK_EIO);
		ck_assert_ptr_null(p);
		assert_msg_has(&err, good);
		assert_msg_has(&err, "Permission denied");
	}

	ck_assert_int_eq(lk_policy_load(NULL, &p, &err), LK_EINVAL);
	ck_assert_int_eq(lk_policy_parse(NULL, 5, "x", &p, &err), LK_EINVAL);
	lk_policy_free(NULL);
}
END_TEST

/* An error in a file names the file, as given, and the line. */
START_TEST(test_load_message_names_file_and_line)
{
	struct lk_policy *p = NULL;
	struct lk_err err = { { 0 } };
	char path[PATH_MAX];
	const char *xml = DOC("<scopes>\n<scope>a</scope>\n<scope>a</scope>\n</scopes>\n");

	in_dir(path, sizeof(path), "sshd.xml");
	write_file(path, xml, strlen(xml), 0644);
	ck_assert_int_eq(lk_policy_load(path, &p, &err), LK_EINVAL);
	ck_assert_ptr_null(p);
	assert_msg_starts(&err, path, 5);
	assert_msg_has(&err, "duplicate scope \"a\"");
}
END_TEST

/* ------------------------------------------------------------ fuzzing */

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

/* Mutates buf (len bytes, capacity cap) in place; returns the new length. */
static size_t mutate(char *buf, size_t len, size_t cap)
{
	static const char *const tokens[] = {
		"<!DOCTYPE policy [<!ENTITY a \"b\">]>",
		"&a;",
		"<![CDATA[",
		"]]>",
		"<step",
		"control=\"sufficient\"",
		"<arg>",
		"</arg>",
		"<scope>",
		"xmlns=\"urn:x\"",
		"\xff",
		"\xe2\x80\xae",
		"&#0;",
		"<?xml",
		"<!--",
		"/>",
		"\"",
		"<",
		">",
		"&",
		"\n",
	};
	int ops = 1 + (int)(rng() % 4);

	for (int k = 0; k < ops && len > 0; k++) {
		size_t at = (size_t)(rng() % len);
		switch (rng() % 5) {
		case 0: /* flip a byte */
			buf[at] = (char)(rng() & 0xff);
			break;
		case 1: { /* delete a run */
			size_t n = 1 + (size_t)(rng() % 16);
			if (n > len - at)
				n = len - at;
			memmove(buf + at, buf + at + n, len - at - n);
			len -= n;
			break;
		}
		case 2: { /* insert a token */
			const char *t = tokens[rng() % (sizeof(tokens) / sizeof(tokens[0]))];
			size_t n = strlen(t);
			if (len + n > cap)
				break;
			memmove(buf + at + n, buf + at, len - at);
			memcpy(buf + at, t, n);
			len += n;
			break;
		}
		case 3: { /* duplicate a chunk */
			size_t n = 1 + (size_t)(rng() % 64);
			if (n > len - at)
				n = len - at;
			if (len + n > cap)
				break;
			memmove(buf + at + n, buf + at, len - at);
			len += n;
			break;
		}
		default: /* truncate */
			len = at;
			break;
		}
	}
	return len;
}

START_TEST(test_fuzz_target_short_run)
{
	enum { CAP = 8192, ROUNDS = 400 };
	static char buf[CAP];
	char *seeds[N_EXAMPLES];
	size_t seed_len[N_EXAMPLES];
	char path[PATH_MAX];

	for (size_t i = 0; i < N_EXAMPLES; i++) {
		example_path(path, sizeof(path), examples[i]);
		seeds[i] = tk_slurp(path, &seed_len[i]);
		ck_assert_int_eq(LLVMFuzzerTestOneInput((const uint8_t *)seeds[i], seed_len[i]), 0);
	}
	for (size_t i = 0; i < sizeof(bad_inputs) / sizeof(bad_inputs[0]); i++)
		ck_assert_int_eq(LLVMFuzzerTestOneInput((const uint8_t *)bad_inputs[i].xml,
		                                        strlen(bad_inputs[i].xml)),
		                 0);
	ck_assert_int_eq(LLVMFuzzerTestOneInput(NULL, 0), 0);

	rng_state = UINT64_C(0x9e3779b97f4a7c15);
	for (int round = 0; round < ROUNDS; round++) {
		size_t len;
		const char *src;
		if (round % 2 == 0) {
			size_t i = (size_t)(rng() % N_EXAMPLES);
			src = seeds[i];
			len = seed_len[i];
		} else {
			src = bad_inputs[rng() % (sizeof(bad_inputs) / sizeof(bad_inputs[0]))].xml;
			len = strlen(src);
		}
		ck_assert_uint_le(len, CAP);
		memcpy(buf, src, len);
		len = mutate(buf, len, CAP);
		ck_assert_int_eq(LLVMFuzzerTestOneInput((const uint8_t *)buf, len), 0);
	}
	for (size_t i = 0; i < N_EXAMPLES; i++)
		free(seeds[i]);
}
END_TEST

/* <lockout include-root=>, and arguments for step-ups (the totp plugin's
 * rollout date is the reason they exist). */
START_TEST(test_include_root_and_stepup_args)
{
	struct lk_policy *p;
	struct lk_err err = { { 0 } };
	char *xml = NULL;
	size_t len;

	p = parse_ok(DOC("<step-up plugin=\"totp\"><arg>rollout=2028-02-29</arg><arg>skew=0</arg>"
	                 "<scope>admin</scope></step-up>\n"
	                 "<step-up plugin=\"acme-sso\"><arg>anything=goes</arg></step-up>\n"
	                 "<lockout include-root=\"true\"/>\n"));
	ck_assert(p->lockout_include_root);
	ck_assert_uint_eq(p->n_stepups, 2);
	ck_assert_uint_eq(p->stepups[0].n_args, 2);
	ck_assert_str_eq(p->stepups[0].args[0], "rollout=2028-02-29");
	ck_assert_str_eq(p->stepups[0].args[1], "skew=0");
	ck_assert_uint_eq(p->stepups[0].n_scopes, 1);
	ck_assert_uint_eq(p->stepups[1].n_args, 1);
	/* The defaults stand beside it. */
	ck_assert_uint_eq(p->lockout_credential_failures, 5);
	assert_round_trip(p);
	ck_assert_int_eq(lk_policy_to_xml(p, &xml, &len, &err), LK_OK);
	ck_assert_ptr_nonnull(strstr(xml,
	                             "<step-up plugin=\"totp\">\n    <arg>rollout=2028-02-29"
	                             "</arg>\n    <arg>skew=0</arg>\n    <scope>admin</scope>"));
	ck_assert_ptr_nonnull(strstr(xml, " include-root=\"true\"/>"));
	free(xml);
	lk_policy_free(p);

	/* Not set, or "false": not locked, and not written (the canonical
	 * form of older policies is unchanged). */
	p = parse_ok(DOC("<lockout include-root=\"false\"/>\n"));
	ck_assert(!p->lockout_include_root);
	ck_assert_int_eq(lk_policy_to_xml(p, &xml, &len, &err), LK_OK);
	ck_assert_ptr_null(strstr(xml, "include-root"));
	free(xml);
	lk_policy_free(p);
	p = parse_ok(DOC(""));
	ck_assert(!p->lockout_include_root);
	lk_policy_free(p);

	/* Every valid skew, and a valid leap day, in a stack step. */
	for (int i = 0; i <= 10; i++) {
		char doc[512];
		snprintf(doc, sizeof(doc),
		         ONE_STACK("<step plugin=\"totp\" control=\"required\"><arg>skew=%d</arg>"
		                   "<arg>rollout=2000-02-29</arg></step>"),
		         i);
		p = parse_ok(doc);
		ck_assert_uint_eq(p->steps[0].n_args, 2);
		lk_policy_free(p);
	}
}
END_TEST

Suite *policy_suite(void);

Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc;

	tc = tcase_create("examples");
	tcase_add_test(tc, test_examples_parse);
	tcase_add_test(tc, test_hash_is_sha256_of_the_bytes);
	tcase_add_test(tc, test_builtin_schema_is_the_rng);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_to_xml_after_edit);
	tcase_add_test(tc, test_stepups_for);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad-input");
	tcase_add_loop_test(tc, test_bad_input, 0,
	                    (int)(sizeof(bad_inputs) / sizeof(bad_inputs[0])));
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_tolerated);
	tcase_add_test(tc, test_big_line_numbers);
	tcase_add_test(tc, test_billion_laughs);
	tcase_add_test(tc, test_attribute_flood);
	tcase_add_test(tc, test_include_root_and_stepup_args);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_external_entity_never_read);
	tcase_add_test(tc, test_size_limit);
	tcase_add_test(tc, test_odd_files);
	tcase_add_test(tc, test_load_message_names_file_and_line);
	suite_add_tcase(s, tc);

	tc = tcase_create("fuzz");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_fuzz_target_short_run);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tk_run_suite(policy_suite());
}
