/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Evidence packs for the admin socket (docs/decisions/0012-evidence-packs.md).
 * The report's checkpoint is made by the verb under the engine lock; the
 * pack is written here without it, from a read-only SQLite connection of
 * its own (WAL: one read transaction is one snapshot, and the writer goes
 * on deciding), into a directory latchkeyd makes for itself beside the
 * database. admin.c sends the files and then removes the directory.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <unistd.h>

#include "cli-private.h"
#include "daemon-private.h"
#include "report-private.h"

/* The directory that holds the database: the state directory, root's and
 * not readable by others, on the same file system as what it reports. */
static void state_dir(const struct daemon *d, char *buf, size_t len)
{
	char copy[PATH_MAX];

	snprintf(copy, sizeof(copy), "%s", d->cfg->database);
	snprintf(buf, len, "%s", dirname(copy));
}

/* Unlinks every entry of dirfd (the pack is flat: files only). */
static void empty_dir(const struct daemon *d, int dirfd, const char *path)
{
	struct dirent *de;
	DIR *dir;
	int fd = dup(dirfd);

	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		lkd_log(d, LOG_ERR, "cannot read %s to remove it: %s", path, strerror(errno));
		return;
	}
	/* The copy shares its offset with dirfd, which may be at the end. */
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd, de->d_name, 0) != 0)
			lkd_log(d, LOG_ERR, "cannot remove %s/%s: %s", path, de->d_name,
			        strerror(errno));
	}
	closedir(dir);
}

int lkd_report_make(struct daemon *d, const struct cli_report *rq, struct lkd_pack *ret_pack,
                    struct lk_report_result *ret, struct lk_err *err)
{
	struct lk_store *ro = NULL;
	char base[PATH_MAX];
	int r;

	*ret_pack = (struct lkd_pack){ .dirfd = -1 };
	state_dir(d, base, sizeof(base));
	if ((size_t)snprintf(ret_pack->dir, sizeof(ret_pack->dir), "%s/" LKD_PACK_PREFIX "XXXXXX",
	                     base) >= sizeof(ret_pack->dir))
		return lk_err_set(err, LK_EIO, "the state directory %s has too long a name", base);
	if (mkdtemp(ret_pack->dir) == NULL) {
		r = lk_err_set(err, LK_EIO, "cannot create a directory in %s: %s", base,
		               strerror(errno));
		ret_pack->dir[0] = '\0';
		return r;
	}
	ret_pack->dirfd = open(ret_pack->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (ret_pack->dirfd < 0) {
		r = lk_err_set(err, LK_EIO, "cannot open %s: %s", ret_pack->dir, strerror(errno));
		(void)rmdir(ret_pack->dir);
		ret_pack->dir[0] = '\0';
		return r;
	}
	/* A connection of its own: the daemon's is the engine's, behind the
	 * lock. Without the master key: a report reads no secret. */
	if ((r = lk_store_open(d->cfg->database, LK_STORE_READONLY, NULL, &ro, err)) < 0)
		return r;
	r = lk_report_write(ro, d->signer,
	                    &(struct lk_report_params){ .kind = (enum lk_report_kind)rq->kind,
	                                                .from = rq->from,
	                                                .to = rq->to,
	                                                .now = rq->now,
	                                                .actor = rq->actor,
	                                                .out_dir = ret_pack->dir,
	                                                .scope = rq->scope,
	                                                .version = PACKAGE_VERSION,
	                                                .cfg = d->cfg },
	                    &rq->cp, ret, err);
	lk_store_close(ro);
	return r;
}

/* The first column of sql's one row, with ?1 and ?2 bound when given. */
static int count_rows(struct lk_store *ro, const char *sql, const int64_t *from, const int64_t *to,
                      uint64_t *ret_n, struct lk_err *err)
{
	sqlite3_stmt *st = NULL;
	int r = LK_ESTORE;

	if (sqlite3_prepare_v2(ro->db, sql, -1, &st, NULL) != SQLITE_OK ||
	    (from != NULL && sqlite3_bind_int64(st, 1, *from) != SQLITE_OK) ||
	    (to != NULL && sqlite3_bind_int64(st, 2, *to) != SQLITE_OK) ||
	    sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int64(st, 0) < 0) {
		lk_err_set(err, LK_ESTORE, "cannot count what the pack would hold: %s",
		           sqlite3_errmsg(ro->db));
		goto out;
	}
	*ret_n = (uint64_t)sqlite3_column_int64(st, 0);
	r = LK_OK;
out:
	sqlite3_finalize(st);
	return r;
}

static unsigned long long mib(uint64_t bytes)
{
	return (unsigned long long)((bytes + 1024 * 1024 - 1) / (1024 * 1024));
}

int lkd_report_room(struct daemon *d, int64_t from, int64_t to, struct lk_err *err)
{
	struct lk_store *ro = NULL;
	char base[PATH_MAX];
	struct statvfs sv;
	uint64_t rows = 0, keys = 0, estimate, avail, size;
	int r;

	state_dir(d, base, sizeof(base));
	if ((r = lk_store_open(d->cfg->database, LK_STORE_READONLY, NULL, &ro, err)) < 0)
		return r;
	/* The ts index: no table scan, and no engine lock (a snapshot of its
	 * own; rows added meanwhile are within the estimate's margin). */
	r = count_rows(ro, "SELECT count(*) FROM audit WHERE ts >= ?1 AND ts < ?2", &from, &to,
	               &rows, err);
	if (r == LK_OK)
		r = count_rows(ro, "SELECT count(*) FROM api_key", NULL, NULL, &keys, err);
	lk_store_close(ro);
	if (r < 0)
		return r;
	if (statvfs(base, &sv) != 0)
		return lk_err_set(err, LK_EIO, "cannot tell the free space in %s: %s", base,
		                  strerror(errno));
	estimate = lkd_pack_estimate(rows, keys);
	avail = lkd_sat_mul(sv.f_bavail, sv.f_frsize);
	size = lkd_sat_mul(sv.f_blocks, sv.f_frsize);
	if (!lkd_pack_fits(estimate, avail, size))
		return lk_err_set(err, LK_EIO,
		                  "not enough free space in %s for the pack: up to %llu MiB for "
		                  "%llu audit rows, %llu MiB free, and %llu MiB must stay free "
		                  "for the audit log",
		                  base, mib(estimate), (unsigned long long)rows, mib(avail),
		                  mib(lkd_pack_reserve(size)));
	return LK_OK;
}

void lkd_pack_remove(struct daemon *d, struct lkd_pack *pack)
{
	if (pack->dirfd >= 0) {
		empty_dir(d, pack->dirfd, pack->dir);
		close(pack->dirfd);
		pack->dirfd = -1;
	}
	if (pack->dir[0] != '\0' && rmdir(pack->dir) != 0)
		lkd_log(d, LOG_ERR, "cannot remove %s: %s", pack->dir, strerror(errno));
	pack->dir[0] = '\0';
}

void lkd_pack_sweep(struct daemon *d)
{
	char base[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *dir;

	state_dir(d, base, sizeof(base));
	if ((dir = opendir(base)) == NULL)
		return; /* lk_store_open has reported on the directory already */
	while ((de = readdir(dir)) != NULL) {
		int fd;
		if (strncmp(de->d_name, LKD_PACK_PREFIX, strlen(LKD_PACK_PREFIX)) != 0)
			continue;
		/* Only a directory of ours, never through a link: checked on
		 * what was opened, since the name may be swapped in between. */
		fd =
		    openat(dirfd(dir), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
			close(fd);
			continue;
		}
		empty_dir(d, fd, de->d_name);
		close(fd);
		if (unlinkat(dirfd(dir), de->d_name, AT_REMOVEDIR) == 0)
			lkd_log(d, LOG_NOTICE,
			        "removed %s/%s, left by a report that did not finish", base,
			        de->d_name);
	}
	closedir(dir);
}
