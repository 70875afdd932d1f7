/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An evidence pack: SQL -> evidence.xml (streamed, validated against
 * reports/evidence.xsd) -> report.html (XSLT) + CSV populations + a signed
 * manifest. Every population is read with sqlite3_step, one row at a time,
 * inside one read transaction, so the pack is one consistent snapshot and
 * never holds a table in memory. The framework (soc2.c, gdpr.c,
 * iso27001.c) writes the body; this file the rest.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libxml/xmlschemas.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit-private.h"
#include "pack-private.h"
#include "util-private.h"

/* Every file of the pack but the manifest and its signature, in manifest
 * order. */
static const char *const pack_files[] = { "VERIFY.txt", "decisions.csv", "evidence.xml",
	                                  "keys.csv",   "report.html",   "signing.pub.pem" };

/* Opens a new file in the pack directory: never follows a symlink, never
 * replaces anything. */
FILE *ev_pack_open(int dirfd, const char *name, struct lk_err *err)
{
	FILE *f;
	int fd;

	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0) {
		lk_err_set(err, LK_EIO, "cannot create %s: %s", name, strerror(errno));
		return NULL;
	}
	f = fdopen(fd, "w");
	if (f == NULL) {
		lk_err_set(err, LK_EIO, "cannot create %s: %s", name, strerror(errno));
		close(fd);
	}
	return f;
}

int ev_pack_close(FILE *f, const char *name, struct lk_err *err)
{
	bool bad = ferror(f) != 0;

	if (fclose(f) != 0 || bad)
		return lk_err_set(err, LK_EIO, "cannot write %s", name);
	return LK_OK;
}

/* RFC 4180: a field with a comma, quote, CR or LF is quoted, quotes doubled. */
void ev_csv_field(FILE *f, const char *s, bool last)
{
	if (s == NULL)
		s = "";
	if (strpbrk(s, ",\"\r\n") != NULL) {
		fputc('"', f);
		for (; *s != '\0'; s++) {
			if (*s == '"')
				fputc('"', f);
			fputc(*s, f);
		}
		fputc('"', f);
	} else {
		fputs(s, f);
	}
	fputs(last ? "\r\n" : ",", f);
}

void ev_csv_time(FILE *f, sqlite3_stmt *st, int i, bool last)
{
	char buf[40] = "";

	if (sqlite3_column_type(st, i) != SQLITE_NULL)
		lk_time_format(sqlite3_column_int64(st, i), buf, sizeof(buf));
	ev_csv_field(f, buf, last);
}

/* ---- sections -------------------------------------------------------- */

static void cover(struct rep *r, const struct lk_framework *fw, const struct lk_checkpoint *cp)
{
	const struct lk_signer *signer = r->signer;

	ev_start(r, "cover");
	ev_text(r, "title", fw->title);
	ev_start(r, "period");
	ev_attr_time(r, "from", r->p->from);
	ev_attr_time(r, "to", r->p->to);
	ev_end(r);
	ev_text(r, "scope", r->p->scope);
	ev_start(r, "generator");
	ev_attr(r, "name", "latchkey");
	ev_attr(r, "version", r->p->version);
	ev_attr_time(r, "generated", r->p->now);
	ev_end(r);
	ev_start(r, "signer");
	ev_attr(r, "algorithm", "Ed25519");
	ev_attr(r, "key-id", lk_signer_key_id(signer));
	ev_attr(r, "public-key", "signing.pub.pem");
	ev_end(r);
	ev_start(r, "checkpoint");
	ev_attr_int(r, "number", cp->number);
	ev_attr_int(r, "audit-seq", cp->audit_seq);
	ev_attr_time(r, "time", cp->ts);
	ev_end(r);
	ev_start(r, "verify");
	ev_text(r, "command", "sha256sum -c MANIFEST.sha256");
	ev_text(r, "command",
	        "openssl pkeyutl -verify -pubin -inkey signing.pub.pem -rawin "
	        "-in MANIFEST.sha256 -sigfile MANIFEST.sha256.sig");
	ev_end(r);
	ev_end(r);
}

static int integrity(struct rep *r, const struct lk_verify_report *vr, struct lk_err *err)
{
	char head[2 * LK_CHAIN_LEN + 1];
	sqlite3_stmt *st;
	int64_t n = 0, lo = 0, hi = 0;
	int rc, ret;

	ev_start(r, "integrity");
	sodium_bin2hex(head, sizeof(head), vr->audit.head, LK_CHAIN_LEN);
	ev_start(r, "chain");
	ev_attr(r, "result", vr->audit.problem == LK_AUDIT_INTACT ? "intact" : "broken");
	ev_attr(r, "problem", lk_audit_problem_str(vr->audit.problem));
	ev_attr_int(r, "rows", vr->audit.rows);
	ev_attr_int(r, "head-seq", vr->audit.head_seq);
	ev_attr(r, "head", head);
	ev_attr_int(r, "checkpoints-verified", vr->checkpoints);
	if (vr->audit.problem != LK_AUDIT_INTACT)
		ev_check(r, xmlTextWriterWriteString(r->w, BAD_CAST vr->audit.why));
	ev_end(r);
	if (vr->audit.problem != LK_AUDIT_INTACT)
		ev_add_exception(r, "integrity-chain", 1);

	if ((ret = ev_query(r, EVQ(Q_SEQ), &st, err)) < 0)
		return ret;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		n = sqlite3_column_int64(st, 0);
		lo = sqlite3_column_int64(st, 1);
		hi = sqlite3_column_int64(st, 2);
		rc = sqlite3_step(st);
	}
	if ((ret = ev_step_done(r, st, rc, EVQ(Q_SEQ)->id, err)) < 0)
		return ret;
	ev_start(r, "sequence");
	ev_attr(r, "query", EVQ(Q_SEQ)->id);
	ev_attr_int(r, "rows", n);
	ev_attr_int(r, "first", lo);
	ev_attr_int(r, "last", hi);
	/* Rows between first and last whose time is outside the period: the
	 * clock stepped back (a deleted row is the chain's to find). */
	ev_attr_int(r, "interleaved", n > 0 ? hi - lo + 1 - n : 0);
	ev_end(r);

	ev_start(r, "checkpoints");
	ev_attr(r, "query", EVQ(Q_CHECKPOINTS)->id);
	if ((ret = ev_query(r, EVQ(Q_CHECKPOINTS), &st, err)) < 0)
		return ret;
	n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ev_start(r, "row");
		ev_attr_int(r, "number", sqlite3_column_int64(st, 0));
		ev_attr_time(r, "time", sqlite3_column_int64(st, 1));
		ev_attr_int(r, "seq", sqlite3_column_int64(st, 2));
		ev_attr(r, "key-id", ev_col(st, 3));
		ev_end(r);
		n++;
	}
	if ((ret = ev_step_done(r, st, rc, EVQ(Q_CHECKPOINTS)->id, err)) < 0)
		return ret;
	ev_result(r, n, 0, NULL);
	ev_end(r);

	ev_start(r, "row-counts");
	ev_attr(r, "query", EVQ(Q_ROWS)->id);
	if ((ret = ev_query(r, EVQ(Q_ROWS), &st, err)) < 0)
		return ret;
	n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ev_start(r, "row");
		ev_attr(r, "action", ev_col(st, 0));
		ev_attr_int(r, "count", sqlite3_column_int64(st, 1));
		ev_end(r);
		n += sqlite3_column_int64(st, 1);
	}
	if ((ret = ev_step_done(r, st, rc, EVQ(Q_ROWS)->id, err)) < 0)
		return ret;
	ev_result(r, n, 0, NULL);
	ev_end(r);

	ev_end(r);
	return LK_OK;
}

/* The SQL of every query the pack ran, last, so that it is exactly those. */
static void queries_used(struct rep *r)
{
	ev_start(r, "queries");
	for (size_t i = 0; i < r->n_quoted; i++) {
		ev_start(r, "query");
		ev_attr(r, "id", r->quoted[i]->id);
		ev_string(r, r->quoted[i]->sql);
		ev_end(r);
	}
	ev_end(r);
}

static int activity(struct rep *r, struct lk_err *err)
{
	sqlite3_stmt *st;
	int rc, ret;

	ev_start(r, "activity");
	ev_attr(r, "query", EVQ(Q_DAILY)->id);
	if ((ret = ev_query(r, EVQ(Q_DAILY), &st, err)) < 0)
		return ret;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char day[40];
		lk_time_format(sqlite3_column_int64(st, 0) * 86400, day, sizeof(day));
		day[10] = '\0';
		ev_start(r, "day");
		ev_attr(r, "date", day);
		ev_attr_int(r, "allowed", sqlite3_column_int64(st, 1));
		ev_attr_int(r, "denied", sqlite3_column_int64(st, 2));
		ev_end(r);
	}
	if ((ret = ev_step_done(r, st, rc, EVQ(Q_DAILY)->id, err)) < 0)
		return ret;
	ev_end(r);
	return LK_OK;
}

static void exceptions(struct rep *r)
{
	ev_start(r, "exceptions");
	for (size_t i = 0; i < r->n_exc; i++) {
		ev_start(r, "exception");
		ev_attr(r, "test", r->exc[i].test);
		ev_attr_int(r, "count", r->exc[i].count);
		ev_end(r);
	}
	ev_result(r, r->exceptions, r->exceptions,
	          r->exceptions == 0 ? "No exceptions found." : NULL);
	ev_end(r);
}

static int write_evidence(struct rep *r, const struct lk_framework *fw,
                          const struct lk_checkpoint *cp, const struct lk_verify_report *vr,
                          struct lk_err *err)
{
	xmlOutputBufferPtr out;
	FILE *f;
	int ret;

	if ((f = ev_pack_open(r->dirfd, "evidence.xml", err)) == NULL)
		return LK_EIO;
	/* The writer takes the buffer; the FILE stays ours (closed below). */
	out = xmlOutputBufferCreateFile(f, NULL);
	if (out == NULL || (r->w = xmlNewTextWriter(out)) == NULL) {
		if (out != NULL)
			xmlOutputBufferClose(out);
		fclose(f);
		return lk_err_set(err, LK_ENOMEM, "cannot write evidence.xml: out of memory");
	}
	xmlTextWriterSetIndent(r->w, 1);
	xmlTextWriterSetIndentString(r->w, BAD_CAST " ");
	ev_check(r, xmlTextWriterStartDocument(r->w, NULL, "UTF-8", NULL));
	ev_start(r, "evidence");
	ev_attr(r, "xmlns", LK_EVIDENCE_NS);
	ev_attr(r, "framework", fw->name);
	cover(r, fw, cp);
	if ((ret = integrity(r, vr, err)) < 0)
		goto out;
	if ((ret = activity(r, err)) < 0)
		goto out;
	if ((ret = fw->body(r, err)) < 0)
		goto out;
	exceptions(r);
	queries_used(r);
	ev_end(r);
	ev_check(r, xmlTextWriterEndDocument(r->w));
	ret = LK_OK;
out:
	xmlFreeTextWriter(r->w); /* flushes the buffer into f */
	r->w = NULL;
	if (ev_pack_close(f, "evidence.xml", err) < 0 && ret == LK_OK)
		ret = LK_EIO;
	if (ret == LK_OK && r->werr)
		ret = lk_err_set(err, LK_EIO, "cannot write evidence.xml");
	return ret;
}

/* ---- validation and rendering ---------------------------------------- */

static void schema_error(void *ctx, const char *fmt, ...)
{
	struct lk_err *err = ctx;
	va_list ap;
	char msg[256];

	if (err == NULL || err->msg[0] != '\0')
		return; /* keep the first */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	msg[strcspn(msg, "\n")] = '\0';
	snprintf(err->msg, sizeof(err->msg), "evidence.xml does not validate: %s", msg);
}

/* evidence.xml read back through an fd of ours: the parser reads it and
 * never closes it (validate does). */
static int fd_read(void *ctx, char *buf, int len)
{
	ssize_t n;

	do
		n = read(*(int *)ctx, buf, (size_t)len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -1 : (int)n;
}

static int fd_keep(void *ctx)
{
	(void)ctx;
	return 0;
}

static int validate(int dirfd, struct lk_err *err)
{
	xmlSchemaParserCtxtPtr pc;
	xmlSchemaPtr schema = NULL;
	xmlSchemaValidCtxtPtr vc = NULL;
	xmlParserInputBufferPtr in;
	struct lk_err verr = { { 0 } };
	int ret = LK_EINVAL, fd;

	fd = openat(dirfd, "evidence.xml", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return lk_err_set(err, LK_EIO, "cannot read back evidence.xml: %s",
		                  strerror(errno));

	pc = xmlSchemaNewMemParserCtxt(lk_evidence_xsd, (int)lk_evidence_xsd_len);
	if (pc == NULL || (schema = xmlSchemaParse(pc)) == NULL) {
		ret = lk_err_set(err, LK_EINVAL, "the built-in evidence schema does not parse");
		goto out;
	}
	vc = xmlSchemaNewValidCtxt(schema);
	if (vc == NULL) {
		ret = lk_err_set(err, LK_ENOMEM, "out of memory");
		goto out;
	}
	xmlSchemaSetValidErrors(vc, schema_error, schema_error, &verr);
	in = xmlParserInputBufferCreateIO(fd_read, fd_keep, &fd, XML_CHAR_ENCODING_NONE);
	if (in == NULL) {
		ret = lk_err_set(err, LK_ENOMEM, "out of memory");
		goto out;
	}
	/* The stream validator takes in and frees it. */
	if (xmlSchemaValidateStream(vc, in, XML_CHAR_ENCODING_NONE, NULL, NULL) != 0) {
		ret = lk_err_set(err, LK_EINVAL, "%s",
		                 verr.msg[0] ? verr.msg : "evidence.xml does not validate");
		goto out;
	}
	ret = LK_OK;
out:
	xmlSchemaFreeValidCtxt(vc);
	xmlSchemaFree(schema);
	xmlSchemaFreeParserCtxt(pc);
	close(fd);
	return ret;
}

/* ---- CSV populations ------------------------------------------------- */

static int write_decisions_csv(struct rep *r, struct lk_err *err)
{
	sqlite3_stmt *st;
	FILE *f;
	int rc, ret;

	if ((f = ev_pack_open(r->dirfd, "decisions.csv", err)) == NULL)
		return LK_EIO;
	if ((ret = ev_query(r, EVQ(Q_DECISIONS), &st, err)) < 0) {
		fclose(f);
		return ret;
	}
	fputs("seq,time,service,result,reason,kid,subject_ref,policy,steps\r\n", f);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *detail = ev_col(st, 5), *reason = ev_col(st, 4);
		char service[64], policy[80], steps[512];
		ev_detail_field(detail, "service", service, sizeof(service));
		ev_detail_field(detail, "policy", policy, sizeof(policy));
		ev_detail_field(detail, "steps", steps, sizeof(steps));
		ev_csv_field(f, ev_col(st, 0), false);
		ev_csv_time(f, st, 1, false);
		ev_csv_field(f, service, false);
		ev_csv_field(f, strcmp(reason, "ok") == 0 ? "allowed" : "denied", false);
		ev_csv_field(f, reason, false);
		ev_csv_field(f, ev_col(st, 2), false);
		ev_csv_field(f, ev_col(st, 3), false);
		ev_csv_field(f, policy, false);
		ev_csv_field(f, steps, true);
	}
	if ((ret = ev_step_done(r, st, rc, EVQ(Q_DECISIONS)->id, err)) < 0) {
		fclose(f);
		return ret;
	}
	return ev_pack_close(f, "decisions.csv", err);
}

static int write_keys_csv(struct rep *r, struct lk_err *err)
{
	sqlite3_stmt *st;
	FILE *f;
	int rc, ret;

	if ((f = ev_pack_open(r->dirfd, "keys.csv", err)) == NULL)
		return LK_EIO;
	if ((ret = ev_query(r, EVQ(Q_KEYS), &st, err)) < 0) {
		fclose(f);
		return ret;
	}
	fputs("kid,owner_ref,env,scopes,created,expires,status,status_changed,status_reason\r\n",
	      f);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ev_csv_field(f, ev_col(st, 0), false);
		ev_csv_field(f, ev_col(st, 1), false);
		ev_csv_field(f, ev_col(st, 2), false);
		ev_csv_field(f, ev_col(st, 3), false);
		ev_csv_time(f, st, 4, false);
		ev_csv_time(f, st, 5, false);
		ev_csv_field(f, ev_col(st, 6), false);
		ev_csv_time(f, st, 7, false);
		ev_csv_field(f, ev_col(st, 8), true);
	}
	if ((ret = ev_step_done(r, st, rc, EVQ(Q_KEYS)->id, err)) < 0) {
		fclose(f);
		return ret;
	}
	return ev_pack_close(f, "keys.csv", err);
}

/* ---- the signed manifest --------------------------------------------- */

static int write_verify_txt(const struct rep *r, const char *key_id, struct lk_err *err)
{
	FILE *f = ev_pack_open(r->dirfd, "VERIFY.txt", err);

	if (f == NULL)
		return LK_EIO;
	fprintf(f,
	        "How to verify this evidence pack (run in this directory)\n"
	        "\n"
	        "1. Every file is the one that was signed:\n"
	        "\n"
	        "     sha256sum -c MANIFEST.sha256\n"
	        "\n"
	        "2. The manifest was signed by Latchkey's signing key (Ed25519, key id %s):\n"
	        "\n"
	        "     openssl pkeyutl -verify -pubin -inkey signing.pub.pem -rawin \\\n"
	        "       -in MANIFEST.sha256 -sigfile MANIFEST.sha256.sig\n"
	        "\n"
	        "   It prints \"Signature Verified Successfully\". Compare the key with the\n"
	        "   signing.pub.pem you hold from the system itself; the key id is the start\n"
	        "   of its SHA-256:\n"
	        "\n"
	        "     openssl pkey -pubin -in signing.pub.pem -outform DER | sha256sum\n"
	        "\n"
	        "3. The audit log itself, on the system: latchkey audit verify. The pack's\n"
	        "   checkpoint (evidence.xml, cover) is one of the checkpoints it verifies.\n"
	        "\n"
	        "4. evidence.xml against its schema (installed with latchkey):\n"
	        "\n"
	        "     xmllint --noout --schema /usr/share/latchkey/reports/evidence.xsd "
	        "evidence.xml\n",
	        key_id);
	return ev_pack_close(f, "VERIFY.txt", err);
}

static int file_sha256(int dirfd, const char *name, char hex[2 * crypto_hash_sha256_BYTES + 1],
                       struct lk_err *err)
{
	crypto_hash_sha256_state st;
	unsigned char buf[65536], digest[crypto_hash_sha256_BYTES];
	const char *path = name;
	size_t n;
	FILE *f;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 || (f = fdopen(fd, "r")) == NULL) {
		if (fd >= 0)
			close(fd);
		return lk_err_set(err, LK_EIO, "cannot read %s: %s", path, strerror(errno));
	}
	crypto_hash_sha256_init(&st);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		crypto_hash_sha256_update(&st, buf, n);
	if (ferror(f)) {
		fclose(f);
		return lk_err_set(err, LK_EIO, "cannot read %s", path);
	}
	fclose(f);
	crypto_hash_sha256_final(&st, digest);
	sodium_bin2hex(hex, 2 * crypto_hash_sha256_BYTES + 1, digest, sizeof(digest));
	return LK_OK;
}

static int write_manifest(const struct rep *r, const struct lk_signer *signer, struct lk_err *err)
{
	char hex[2 * crypto_hash_sha256_BYTES + 1];
	unsigned char sig[LK_SIGNATURE_LEN];
	char *manifest = NULL;
	size_t len = 0;
	FILE *m, *f;
	int ret;

	m = open_memstream(&manifest, &len);
	if (m == NULL)
		return lk_err_set(err, LK_ENOMEM, "out of memory");
	for (size_t i = 0; i < sizeof(pack_files) / sizeof(pack_files[0]); i++) {
		if ((ret = file_sha256(r->dirfd, pack_files[i], hex, err)) < 0) {
			fclose(m);
			goto out;
		}
		fprintf(m, "%s  %s\n", hex, pack_files[i]);
	}
	if (fclose(m) != 0) {
		ret = lk_err_set(err, LK_ENOMEM, "out of memory");
		goto out;
	}
	if ((ret = lk_signer_sign(signer, manifest, len, sig, err)) < 0)
		goto out;
	if ((f = ev_pack_open(r->dirfd, "MANIFEST.sha256", err)) == NULL) {
		ret = LK_EIO;
		goto out;
	}
	fwrite(manifest, 1, len, f);
	if ((ret = ev_pack_close(f, "MANIFEST.sha256", err)) < 0)
		goto out;
	if ((f = ev_pack_open(r->dirfd, "MANIFEST.sha256.sig", err)) == NULL) {
		ret = LK_EIO;
		goto out;
	}
	fwrite(sig, 1, sizeof(sig), f);
	ret = ev_pack_close(f, "MANIFEST.sha256.sig", err);
out:
	free(manifest);
	return ret;
}

/* ---- the pack -------------------------------------------------------- */

/*
 * The pack's directory, opened once: made here (0750), or an existing empty
 * one. Either way it must be the caller's own and writable by nobody else,
 * checked on the descriptor every file is then made through (openat): in a
 * directory someone else can write, a planted symlink or a file swapped in
 * before the manifest is hashed would have this process overwrite a file of
 * its choosing or sign content of theirs. The directory's own name is
 * followed once, by this open; renaming it afterwards changes nothing.
 */
static int open_pack_dir(const char *dir, int *ret_fd, struct lk_err *err)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int fd, dup_fd;

	if (mkdir(dir, 0750) != 0 && errno != EEXIST)
		return lk_err_set(err, LK_EIO, "cannot create %s: %s", dir, strerror(errno));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return lk_err_set(err, LK_EIO, "cannot use %s: %s", dir, strerror(errno));
	if (fstat(fd, &st) != 0 || st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
		close(fd);
		return lk_err_set(
		    err, LK_EINVAL,
		    "%s is not the caller's own directory, or others may write to it: "
		    "a pack goes into a new directory or an empty one only its owner "
		    "can write",
		    dir);
	}
	if ((dup_fd = dup(fd)) < 0 || (d = fdopendir(dup_fd)) == NULL) {
		if (dup_fd >= 0)
			close(dup_fd);
		close(fd);
		return lk_err_set(err, LK_EIO, "cannot read %s: %s", dir, strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			closedir(d);
			close(fd);
			return lk_err_set(
			    err, LK_EEXIST,
			    "%s is not empty: a pack goes into a new or empty directory", dir);
		}
	}
	closedir(d);
	*ret_fd = fd;
	return LK_OK;
}

/* A pack that failed half-way: the files it wrote go (by their fixed
 * names, in a directory only this user can write and that was empty), so
 * it is empty again and the same command can simply be run again. */
static void remove_partial(int dirfd)
{
	static const char *const signed_files[] = { "MANIFEST.sha256", "MANIFEST.sha256.sig" };

	for (size_t i = 0; i < sizeof(pack_files) / sizeof(pack_files[0]); i++)
		(void)unlinkat(dirfd, pack_files[i], 0);
	for (size_t i = 0; i < sizeof(signed_files) / sizeof(signed_files[0]); i++)
		(void)unlinkat(dirfd, signed_files[i], 0);
}

static const struct lk_framework *framework(enum lk_report_kind kind)
{
	switch (kind) {
	case LK_REPORT_SOC2:
		return &lk_framework_soc2;
	case LK_REPORT_GDPR:
		return &lk_framework_gdpr;
	case LK_REPORT_ISO27001:
		return &lk_framework_iso27001;
	}
	return NULL;
}

const char *lk_report_kind_str(enum lk_report_kind kind)
{
	const struct lk_framework *fw = framework(kind);

	return fw != NULL ? fw->name : "?";
}

int lk_report_kind_parse(const char *s, enum lk_report_kind *ret)
{
	static const enum lk_report_kind kinds[] = { LK_REPORT_SOC2, LK_REPORT_GDPR,
		                                     LK_REPORT_ISO27001 };

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(s, framework(kinds[i])->name) == 0) {
			*ret = kinds[i];
			return LK_OK;
		}
	}
	return LK_EINVAL;
}

int lk_report_check(const struct lk_report_params *p, struct lk_err *err)
{
	if (framework(p->kind) == NULL)
		return lk_err_set(err, LK_EINVAL, "unknown report kind");
	if (p->from >= p->to)
		return lk_err_set(err, LK_EINVAL,
		                  "the period is empty: --from must be before --to");
	if (p->out_dir == NULL || p->out_dir[0] == '\0' || strlen(p->out_dir) > 3000)
		return lk_err_set(err, LK_EINVAL, "bad output directory");
	return LK_OK;
}

int lk_report_write(struct lk_store *store, const struct lk_signer *signer,
                    const struct lk_report_params *p, const struct lk_checkpoint *cp,
                    struct lk_report_result *ret, struct lk_err *err)
{
	struct rep r = { .store = store, .db = store->db, .p = p, .signer = signer, .dirfd = -1 };
	const struct lk_framework *fw = framework(p->kind);
	struct lk_verify_report vr;
	bool in_txn = false;
	int rc;

	if (signer == NULL)
		return lk_err_set(err, LK_ECRYPTO, "a report is signed: no signing key");
	if ((rc = lk_report_check(p, err)) < 0)
		return rc;
	if ((rc = open_pack_dir(p->out_dir, &r.dirfd, err)) < 0)
		return rc;
	/* One snapshot for the whole pack: rows that arrive while it is
	 * written (the daemon keeps deciding) are none of them half-seen. */
	if (sqlite3_exec(r.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(r.db, "SELECT count(*) FROM audit", NULL, NULL, NULL) != SQLITE_OK) {
		rc = lk_store_error(store, sqlite3_errcode(r.db), "starting the report", err);
		goto out;
	}
	in_txn = true;
	if ((rc = lk_checkpoint_verify(store, lk_signer_public(signer), &vr, err)) < 0)
		goto out;
	/* The CSVs are written after evidence.xml, which quotes their queries. */
	ev_quote(&r, EVQ(Q_DECISIONS));
	ev_quote(&r, EVQ(Q_KEYS));
	if ((rc = write_evidence(&r, fw, cp, &vr, err)) < 0)
		goto out;
	/* Nothing is signed that does not validate. */
	if ((rc = validate(r.dirfd, err)) < 0)
		goto out;
	if ((rc = ev_render(r.dirfd, err)) < 0)
		goto out;
	if ((rc = write_decisions_csv(&r, err)) < 0 || (rc = write_keys_csv(&r, err)) < 0)
		goto out;
	sqlite3_exec(r.db, "COMMIT", NULL, NULL, NULL);
	in_txn = false;
	if ((rc = lk_signing_write_public_at(r.dirfd, "signing.pub.pem", lk_signer_public(signer),
	                                     err)) < 0)
		goto out;
	if ((rc = write_verify_txt(&r, lk_signer_key_id(signer), err)) < 0)
		goto out;
	if ((rc = write_manifest(&r, signer, err)) < 0)
		goto out;
	ret->cp = *cp;
	ret->exceptions = r.exceptions;
	ret->intact = vr.audit.problem == LK_AUDIT_INTACT;
	rc = LK_OK;
out:
	sqlite3_finalize(r.erased_st);
	if (in_txn)
		sqlite3_exec(r.db, "ROLLBACK", NULL, NULL, NULL);
	if (rc < 0)
		remove_partial(r.dirfd);
	close(r.dirfd);
	return rc;
}

int lk_report_make(struct lk_store *store, const struct lk_signer *signer,
                   const struct lk_report_params *p, struct lk_report_result *ret,
                   struct lk_err *err)
{
	struct lk_checkpoint cp;
	int rc, fd;

	if (signer == NULL)
		return lk_err_set(err, LK_ECRYPTO, "a report is signed: no signing key");
	if ((rc = lk_report_check(p, err)) < 0)
		return rc;
	/* Refused before the checkpoint: a pack that cannot be written adds
	 * nothing to the log. */
	if ((rc = open_pack_dir(p->out_dir, &fd, err)) < 0)
		return rc;
	close(fd);
	/* "A checkpoint at every report": the log as it stands when the pack
	 * is made is signed, and the pack names that checkpoint. */
	if ((rc = lk_checkpoint_make(store, signer, p->now, p->actor, "report", &cp, err)) < 0)
		return rc;
	return lk_report_write(store, signer, p, &cp, ret, err);
}
