/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The plugin loader against real shared objects: the lktest variants built
 * by plugins/local.am (LK_TEST_PLUGIN_DIR), each copied into a fresh plugin
 * directory per test so modes and owners can be changed freely.
 */
#include "config.h"

#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader-private.h"
#include "testutil.h"

static char dir[PATH_MAX];

static const char *built_dir(void)
{
	const char *d = getenv("LK_TEST_PLUGIN_DIR");

	ck_assert_msg(d != NULL && d[0] != '\0',
	              "LK_TEST_PLUGIN_DIR is not set (run through make check)");
	return d;
}

static void setup(void)
{
	tk_mkdtemp(dir, sizeof(dir), "latchkey-loader");
	ck_assert_int_eq(chmod(dir, 0700), 0);
}

static void teardown(void)
{
	tk_rmrf(dir);
}

/* Copies the built variant to <todir>/<as>.so with the given mode. */
static void install_as(const char *variant, const char *todir, const char *as, mode_t mode)
{
	char src[PATH_MAX + 64], dst[PATH_MAX + 64], buf[8192];
	int in, out;
	ssize_t n;

	snprintf(src, sizeof(src), "%s/%s.so", built_dir(), variant);
	snprintf(dst, sizeof(dst), "%s/%s.so", todir, as);
	in = open(src, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(in >= 0, "open %s: %s", src, strerror(errno));
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ck_assert_msg(out >= 0, "create %s: %s", dst, strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(fchmod(out, mode), 0);
	ck_assert_int_eq(close(out), 0);
	close(in);
}

static void install(const char *variant)
{
	install_as(variant, dir, variant, 0755);
}

/* SHA-256 of a file, computed here independently of the loader. */
static void sha256_file(const char *path, char hex[65])
{
	unsigned char buf[8192], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	FILE *f = fopen(path, "rb");
	size_t n;

	ck_assert_ptr_nonnull(ctx);
	ck_assert_msg(f != NULL, "open %s: %s", path, strerror(errno));
	ck_assert_int_eq(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		ck_assert_int_eq(EVP_DigestUpdate(ctx, buf, n), 1);
	ck_assert_int_eq(ferror(f), 0);
	ck_assert_int_eq(EVP_DigestFinal_ex(ctx, md, &mdlen), 1);
	ck_assert_uint_eq(mdlen, 32);
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	fclose(f);
	EVP_MD_CTX_free(ctx);
}

/* Loading must fail with rc, leave ret_plugin alone, and say why. */
static void expect_refused(const char *plugin_dir, const char *name, int rc, const char *why)
{
	struct lk_loaded_plugin *p = NULL;
	struct lk_err err = { { 0 } };

	ck_assert_int_eq(lk_plugin_load(plugin_dir, name, &p, &err), rc);
	ck_assert_ptr_null(p);
	ck_assert_msg(strstr(err.msg, why) != NULL, "plugin %s: want \"%s\" in \"%s\"",
	              name ? name : "(null)", why, err.msg);
}

static struct lk_loaded_plugin *load_ok(const char *plugin_dir, const char *name)
{
	struct lk_loaded_plugin *p = NULL;
	struct lk_err err = { { 0 } };

	ck_assert_msg(lk_plugin_load(plugin_dir, name, &p, &err) == LK_OK, "%s", err.msg);
	ck_assert_ptr_nonnull(p);
	return p;
}

START_TEST(test_good_plugin_loads_with_evidence)
{
	char path[PATH_MAX + 64], built[PATH_MAX + 64], hex[65], built_hex[65];
	struct lk_loaded_plugin *p;

	install("lktest_ok");
	p = load_ok(dir, "lktest_ok");
	snprintf(path, sizeof(path), "%s/lktest_ok.so", dir);
	snprintf(built, sizeof(built), "%s/lktest_ok.so", built_dir());
	sha256_file(path, hex);
	sha256_file(built, built_hex);
	ck_assert_str_eq(p->sha256_hex, hex);
	ck_assert_str_eq(p->sha256_hex, built_hex);
	for (int i = 0; i < 32; i++) {
		char byte[3];
		snprintf(byte, sizeof(byte), "%02x", p->sha256[i]);
		ck_assert_int_eq(memcmp(byte, hex + 2 * i, 2), 0);
	}
	ck_assert_str_eq(p->path, path);
	ck_assert_str_eq(p->name, "lktest_ok");
	ck_assert_str_eq(p->version, "1.2.3-test");
	ck_assert_ptr_nonnull(p->handle);
	ck_assert_ptr_nonnull(p->vt);
	ck_assert_uint_eq(p->vt->abi_major, LK_PLUGIN_ABI_MAJOR);
	ck_assert_str_eq(p->vt->name, "lktest_ok");
	lk_plugin_unload(p);
	lk_plugin_unload(NULL);
}
END_TEST

static int log_calls;

static void count_log(void *ctx, int level, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	ck_assert_ptr_eq(ctx, &log_calls);
	ck_assert_int_ge(level, LK_LOG_ERR);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_calls++;
}

/* init(args) -> authenticate(req) -> fini through the loaded vtable.
 * Returns authenticate's return value; -100 if init failed. */
static int run_plugin(const struct lk_plugin *vt, const char *const *args, size_t n_args,
                      const struct lk_plugin_request *req, struct lk_plugin_result *res)
{
	struct lk_plugin_host host = {
		.abi_major = LK_PLUGIN_ABI_MAJOR,
		.abi_minor = LK_PLUGIN_ABI_MINOR,
		.struct_size = sizeof(host),
		.host_ctx = &log_calls,
		.log = count_log,
	};
	void *state = NULL;
	int r;

	memset(res, 0, sizeof(*res));
	res->struct_size = sizeof(*res);
	if (vt->init(&host, args, n_args, &state) != 0) {
		ck_assert_ptr_null(state);
		return -100;
	}
	ck_assert_ptr_nonnull(state);
	r = vt->authenticate(state, req, res);
	vt->fini(state);
	return r;
}

START_TEST(test_lktest_ok_through_the_vtable)
{
	struct lk_plugin_input totp = { "totp", "123456", 6 };
	struct lk_plugin_request req = {
		.struct_size = sizeof(req),
		.service = "sshd",
		.user = "bob",
		.environment = "prod",
	};
	struct lk_plugin_result res;
	struct lk_loaded_plugin *p;
	const struct lk_plugin *vt;

	install("lktest_ok");
	p = load_ok(dir, "lktest_ok");
	vt = p->vt;

	log_calls = 0;
	ck_assert_int_eq(run_plugin(vt, NULL, 0, &req, &res), 0);
	ck_assert_int_gt(log_calls, 0);
	ck_assert_int_eq(res.decision, LK_PLUGIN_SUCCESS);
	ck_assert_str_eq(res.reason, "ok");
	ck_assert_str_eq(res.principal, "bob");
	ck_assert_str_eq(res.credential, "lktest");

	ck_assert_int_eq(
	    run_plugin(vt, (const char *[]){ "principal=alice", "factors=3" }, 2, &req, &res), 0);
	ck_assert_int_eq(res.decision, LK_PLUGIN_SUCCESS);
	ck_assert_str_eq(res.principal, "alice");
	ck_assert_uint_eq(res.factors, 3);

	ck_assert_int_eq(
	    run_plugin(vt, (const char *[]){ "reason=bad-secret", "decision=deny" }, 2, &req, &res),
	    0);
	ck_assert_int_eq(res.decision, LK_PLUGIN_DENY);
	ck_assert_str_eq(res.reason, "bad-secret");
	ck_assert_str_eq(res.principal, "");

	ck_assert_int_eq(run_plugin(vt, (const char *[]){ "decision=deny" }, 1, &req, &res), 0);
	ck_assert_int_eq(res.decision, LK_PLUGIN_DENY);
	ck_assert_str_eq(res.reason, "denied");
	ck_assert_int_eq(run_plugin(vt, (const char *[]){ "decision=ignore" }, 1, &req, &res), 0);
	ck_assert_int_eq(res.decision, LK_PLUGIN_IGNORE);
	ck_assert_str_eq(res.reason, "ignored");
	ck_assert_int_eq(run_plugin(vt, (const char *[]){ "decision=unavailable" }, 1, &req, &res),
	                 0);
	ck_assert_int_eq(res.decision, LK_PLUGIN_UNAVAILABLE);
	ck_assert_int_eq(run_plugin(vt, (const char *[]){ "decision=garbage" }, 1, &req, &res), 0);
	ck_assert_int_eq((int)res.decision, 42);

	/* Asks for an input until the request carries it. */
	ck_assert_int_eq(run_plugin(vt, (const char *[]){ "need=totp" }, 1, &req, &res), 0);
	ck_assert_int_eq(res.decision, LK_PLUGIN_NEED_INPUT);
	ck_assert_str_eq(res.prompt_input, "totp");
	ck_assert_int_eq(res.prompt_echo, 0);
	req.inputs = &totp;
	req.n_inputs = 1;
	ck_assert_int_eq(run_plugin(vt, (const char *[]){ "need=totp" }, 1, &req, &res), 0);
	ck_assert_int_eq(res.decision, LK_PLUGIN_SUCCESS);

	ck_assert_int_ne(run_plugin(vt, (const char *[]){ "fail_auth=1" }, 1, &req, &res), 0);
	ck_assert_int_eq(run_plugin(vt, (const char *[]){ "fail_init=1" }, 1, &req, &res), -100);
	ck_assert_int_eq(run_plugin(vt, (const char *[]){ "bogus=1" }, 1, &req, &res), -100);
	ck_assert_int_eq(run_plugin(vt, (const char *[]){ "decision=maybe" }, 1, &req, &res), -100);
	ck_assert_int_eq(run_plugin(vt, (const char *[]){ "decision" }, 1, &req, &res), -100);
	ck_assert_int_eq(run_plugin(vt, (const char *[]){ "factors=x" }, 1, &req, &res), -100);
	lk_plugin_unload(p);
}
END_TEST

START_TEST(test_broken_plugins_refused)
{
	static const struct {
		const char *name, *why;
	} bad[] = {
		{ "lktest_abi2", "ABI major 2, but this engine speaks ABI major 1" },
		{ "lktest_small", "struct_size" },
		{ "lktest_huge", "implausibly large" },
		{ "lktest_noentry", "does not export lk_plugin_entry" },
		{ "lktest_nullvt", "lk_plugin_entry() returned NULL" },
		{ "lktest_nullfn", "required function authenticate is NULL" },
		{ "lktest_badname", "declares name \"lktest_other\"" },
		{ "lktest_noversion", "declares no version" },
	};
	char prefix[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct lk_loaded_plugin *p = NULL;
		struct lk_err err = { { 0 } };

		install(bad[i].name);
		ck_assert_int_eq(lk_plugin_load(dir, bad[i].name, &p, &err), LK_EINVAL);
		ck_assert_ptr_null(p);
		snprintf(prefix, sizeof(prefix), "plugin %s: ", bad[i].name);
		ck_assert_msg(strncmp(err.msg, prefix, strlen(prefix)) == 0, "%s", err.msg);
		ck_assert_msg(strstr(err.msg, bad[i].why) != NULL, "want \"%s\" in \"%s\"",
		              bad[i].why, err.msg);
	}

	/* A good plugin under another file name declares the wrong name. */
	install_as("lktest_ok", dir, "apikey", 0755);
	expect_refused(dir, "apikey", LK_EINVAL, "declares name \"lktest_ok\"");
}
END_TEST

START_TEST(test_bad_names_refused_before_any_file_access)
{
	static const char *const names[] = {
		"a/b",         "../x",
		"..",          "",
		"Apikey",      "x.so",
		"a b",         "tab\t",
		"new\nline",   "abcdefghijklmnopqrstuvwxyz0123456", /* 33 */
		"/etc/passwd",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		ck_assert_msg(!lk_plugin_name_valid(names[i]), "%s", names[i]);
		/* The directory does not exist: the name is refused first. */
		expect_refused("/nonexistent-latchkey-dir", names[i], LK_EINVAL, "invalid name");
	}
	expect_refused("/nonexistent-latchkey-dir", NULL, LK_EINVAL, "invalid name");
	ck_assert(lk_plugin_name_valid("apikey"));
	ck_assert(lk_plugin_name_valid("lktest_ok"));
	ck_assert(lk_plugin_name_valid("x-1_2"));
	ck_assert(lk_plugin_name_valid("abcdefghijklmnopqrstuvwxyz012345")); /* 32 */

	/* The value is named, but only printable. */
	{
		struct lk_loaded_plugin *p = NULL;
		struct lk_err err = { { 0 } };
		ck_assert_int_eq(lk_plugin_load(dir, "new\nline", &p, &err), LK_EINVAL);
		ck_assert_msg(strstr(err.msg, "\"new?line\"") != NULL, "%s", err.msg);
		ck_assert_ptr_null(strchr(err.msg, '\n'));
	}
	/* With a valid name, the missing directory is what is reported. */
	expect_refused("/nonexistent-latchkey-dir", "apikey", LK_ENOTFOUND,
	               "cannot open plugin directory");
	expect_refused("", "apikey", LK_EINVAL, "no plugin directory");
}
END_TEST

START_TEST(test_outside_the_plugin_dir_unreachable)
{
	char plugins[PATH_MAX + 32], outside[PATH_MAX + 32], link[PATH_MAX + 64];

	snprintf(plugins, sizeof(plugins), "%s/plugins", dir);
	snprintf(outside, sizeof(outside), "%s/outside", dir);
	ck_assert_int_eq(mkdir(plugins, 0755), 0);
	ck_assert_int_eq(mkdir(outside, 0755), 0);
	install_as("lktest_ok", outside, "lktest_ok", 0755);
	lk_plugin_unload(load_ok(outside, "lktest_ok")); /* a good plugin, just elsewhere */

	expect_refused(plugins, "../outside/lktest_ok", LK_EINVAL, "invalid name");
	expect_refused(plugins, "lktest_ok", LK_ENOTFOUND, "no such plugin");
	/* A symbolic link in the plugin directory is not followed. */
	snprintf(link, sizeof(link), "%s/lktest_ok.so", plugins);
	ck_assert_int_eq(symlink("../outside/lktest_ok.so", link), 0);
	expect_refused(plugins, "lktest_ok", LK_EINVAL, "is a symbolic link");
}
END_TEST

START_TEST(test_symlink_to_good_plugin_refused)
{
	char real[PATH_MAX + 32], link[PATH_MAX + 32];

	snprintf(real, sizeof(real), "%s/real", dir);
	ck_assert_int_eq(mkdir(real, 0755), 0);
	install_as("lktest_ok", real, "lktest_ok", 0755);
	snprintf(link, sizeof(link), "%s/lktest_ok.so", dir);
	snprintf(real, sizeof(real), "%s/real/lktest_ok.so", dir);
	ck_assert_int_eq(symlink(real, link), 0);
	expect_refused(dir, "lktest_ok", LK_EINVAL, "is a symbolic link");
}
END_TEST

START_TEST(test_unsafe_file_modes_refused)
{
	char path[PATH_MAX + 64];
	struct lk_loaded_plugin *p;

	install("lktest_ok");
	snprintf(path, sizeof(path), "%s/lktest_ok.so", dir);
	ck_assert_int_eq(chmod(path, 0666), 0);
	expect_refused(dir, "lktest_ok", LK_EINVAL, "unsafe permissions (mode 0666)");
	ck_assert_int_eq(chmod(path, 0775), 0);
	expect_refused(dir, "lktest_ok", LK_EINVAL, "unsafe permissions (mode 0775)");
	ck_assert_int_eq(chmod(path, 0757), 0);
	expect_refused(dir, "lktest_ok", LK_EINVAL, "unsafe permissions");
	ck_assert_int_eq(chmod(path, 0500), 0);
	p = load_ok(dir, "lktest_ok");
	lk_plugin_unload(p);
}
END_TEST

START_TEST(test_unsafe_dir_modes_refused)
{
	struct lk_loaded_plugin *p;

	install("lktest_ok");
	ck_assert_int_eq(chmod(dir, 0777), 0);
	expect_refused(dir, "lktest_ok", LK_EINVAL, "plugin directory");
	expect_refused(dir, "lktest_ok", LK_EINVAL, "unsafe permissions (mode 0777)");
	ck_assert_int_eq(chmod(dir, 0770), 0);
	expect_refused(dir, "lktest_ok", LK_EINVAL, "unsafe permissions (mode 0770)");
	ck_assert_int_eq(chmod(dir, 01777), 0);
	expect_refused(dir, "lktest_ok", LK_EINVAL, "unsafe permissions (mode 1777)");
	ck_assert_int_eq(chmod(dir, 0755), 0);
	p = load_ok(dir, "lktest_ok");
	lk_plugin_unload(p);
}
END_TEST

START_TEST(test_foreign_owner_refused)
{
	char path[PATH_MAX + 64];

	if (geteuid() != 0) {
		fprintf(stderr,
		        "test_foreign_owner_refused: not root, chown impossible; skipped\n");
		return;
	}
	install("lktest_ok");
	snprintf(path, sizeof(path), "%s/lktest_ok.so", dir);
	ck_assert_int_eq(chown(path, 65534, 65534), 0);
	expect_refused(dir, "lktest_ok", LK_EINVAL, "owned by uid 65534");
	ck_assert_int_eq(chown(path, 0, 0), 0);
	ck_assert_int_eq(chown(dir, 65534, 65534), 0);
	expect_refused(dir, "lktest_ok", LK_EINVAL, "plugin directory");
	expect_refused(dir, "lktest_ok", LK_EINVAL, "owned by uid 65534");
	ck_assert_int_eq(chown(dir, 0, 0), 0);
}
END_TEST

START_TEST(test_missing_and_odd_files_refused)
{
	char path[PATH_MAX + 64];
	FILE *f;

	expect_refused(dir, "apikey", LK_ENOTFOUND, "plugin apikey: no such plugin");

	/* Not regular files: a FIFO must not block the open. */
	snprintf(path, sizeof(path), "%s/fifo.so", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	expect_refused(dir, "fifo", LK_EINVAL, "is not a regular file");
	snprintf(path, sizeof(path), "%s/adir.so", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	expect_refused(dir, "adir", LK_EINVAL, "is not a regular file");

	/* Not a shared object: dlopen's reason is passed on. */
	snprintf(path, sizeof(path), "%s/notelf.so", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("this is not an ELF file\n", f);
	ck_assert_int_eq(fclose(f), 0);
	expect_refused(dir, "notelf", LK_EINVAL, "plugin notelf: cannot load");
}
END_TEST

/* The variants as built, dlopen'ed directly: only lk_plugin_entry may be
 * visible (pam-u2f's dlsym_check). */
START_TEST(test_only_the_entry_symbol_is_exported)
{
	static const char *const variants[] = {
		"lktest_ok",     "lktest_abi2",    "lktest_small",
		"lktest_huge",   "lktest_noentry", "lktest_nullvt",
		"lktest_nullfn", "lktest_badname", "lktest_noversion",
	};
	static const char *const internal[] = {
		"lktest_parse_arg", "lktest_init", "lktest_plugin", "parse_decision", "decisions",
	};
	char path[PATH_MAX + 64];

	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		/* lktest_noentry exports its misnamed entry point instead. */
		bool noentry = strcmp(variants[i], "lktest_noentry") == 0;
		void *h;

		snprintf(path, sizeof(path), "%s/%s.so", built_dir(), variants[i]);
		h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		ck_assert_msg(h != NULL, "dlopen %s: %s", path, dlerror());
		if (noentry) {
			ck_assert_ptr_null(dlsym(h, LK_PLUGIN_ENTRY_SYMBOL));
			ck_assert_ptr_nonnull(dlsym(h, "lktest_entry"));
		} else {
			ck_assert_msg(dlsym(h, LK_PLUGIN_ENTRY_SYMBOL) != NULL, "%s: %s",
			              variants[i], dlerror());
			ck_assert_ptr_null(dlsym(h, "lktest_entry"));
		}
		for (size_t j = 0; j < sizeof(internal) / sizeof(internal[0]); j++)
			ck_assert_msg(dlsym(h, internal[j]) == NULL, "%s exports %s", variants[i],
			              internal[j]);
		ck_assert_int_eq(dlclose(h), 0);
	}
}
END_TEST

/*
 * glibc finds loaded objects by name before it opens anything, and the
 * loader's names are /proc/self/fd/N. Load the same file twice (one object,
 * two names), unload the first: its descriptor must stay reserved, or the
 * next plugin opened on that number would silently get the old object, with
 * its own (different) hash recorded.
 */
START_TEST(test_descriptor_name_not_reused_while_object_mapped)
{
	char other[PATH_MAX + 32], path[PATH_MAX + 64], hex[65];
	struct lk_loaded_plugin *a1, *a2, *b;
	int filler[64], n_filler = 0;
	int fd1, fd, spare;

	install("lktest_ok");
	snprintf(other, sizeof(other), "%s/other", dir);
	ck_assert_int_eq(mkdir(other, 0755), 0);
	install_as("lktest_ok", other, "lktest_ok", 0755);
	/* Same code, another file: trailing bytes are outside every segment. */
	snprintf(path, sizeof(path), "%s/lktest_ok.so", other);
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "trailer", 7), 7);
	ck_assert_int_eq(close(fd), 0);

	spare = open("/dev/null", O_RDONLY | O_CLOEXEC); /* a number below a1's */
	ck_assert_int_ge(spare, 0);
	a1 = load_ok(dir, "lktest_ok");
	a2 = load_ok(dir, "lktest_ok");
	ck_assert_ptr_eq(a1->handle, a2->handle);
	ck_assert_str_eq(a1->sha256_hex, a2->sha256_hex);
	fd1 = a1->fd;
	ck_assert_int_gt(fd1, spare);
	lk_plugin_unload(a1);
	ck_assert_int_ne(fcntl(fd1, F_GETFD), -1);

	/* Leave exactly one free number below fd1, for the loader's directory
	 * descriptor: had fd1 been closed, the plugin file would get it. */
	for (fd = 0; fd < fd1 && n_filler < 64; fd++)
		if (fcntl(fd, F_GETFD) == -1)
			filler[n_filler++] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ck_assert_int_eq(close(spare), 0);
	b = load_ok(other, "lktest_ok");
	ck_assert_int_ne(b->fd, fd1);
	sha256_file(path, hex);
	ck_assert_str_eq(b->sha256_hex, hex);
	ck_assert_str_ne(b->sha256_hex, a2->sha256_hex);
	ck_assert_ptr_ne(b->handle, a2->handle);
	ck_assert_ptr_ne(b->vt, a2->vt);
	while (n_filler > 0)
		close(filler[--n_filler]);
	lk_plugin_unload(a2);
	lk_plugin_unload(b);
}
END_TEST

Suite *loader_suite(void);

Suite *loader_suite(void)
{
	Suite *s = suite_create("loader");
	TCase *tc;

	tc = tcase_create("load");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_good_plugin_loads_with_evidence);
	tcase_add_test(tc, test_lktest_ok_through_the_vtable);
	tcase_add_test(tc, test_descriptor_name_not_reused_while_object_mapped);
	suite_add_tcase(s, tc);

	tc = tcase_create("refuse");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_broken_plugins_refused);
	tcase_add_test(tc, test_bad_names_refused_before_any_file_access);
	tcase_add_test(tc, test_outside_the_plugin_dir_unreachable);
	tcase_add_test(tc, test_symlink_to_good_plugin_refused);
	tcase_add_test(tc, test_unsafe_file_modes_refused);
	tcase_add_test(tc, test_unsafe_dir_modes_refused);
	tcase_add_test(tc, test_foreign_owner_refused);
	tcase_add_test(tc, test_missing_and_odd_files_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("exports");
	tcase_add_test(tc, test_only_the_entry_symbol_is_exported);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tk_run_suite(loader_suite());
}
