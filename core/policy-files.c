/* SPDX-License-Identifier: Apache-2.0 */
/* Files a policy names for its plugins: see policy-files-private.h. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy-files-private.h"
#include "util-private.h"

static int path_check(const char *path, struct lk_err *err)
{
	size_t len;

	if (path == NULL || path[0] != '/')
		return lk_err_set(err, LK_EINVAL, "policy file '%.200s' is not an absolute path",
		                  path != NULL ? path : "");
	len = strlen(path);
	if (len >= PATH_MAX)
		return lk_err_set(err, LK_EINVAL, "policy file path is longer than %d bytes",
		                  PATH_MAX - 1);
	/* ".." as a whole component anywhere: the path a policy shows must be
	 * the file that is read. */
	for (const char *p = path; (p = strstr(p, "..")) != NULL; p += 2)
		if (p[-1] == '/' && (p[2] == '/' || p[2] == '\0'))
			return lk_err_set(err, LK_EINVAL, "policy file %.200s has a '..' component",
			                  path);
	return LK_OK;
}

static uint64_t stamp_of(const struct stat *st)
{
	const int64_t parts[] = { (int64_t)st->st_dev,          (int64_t)st->st_ino,
		                  (int64_t)st->st_size,         (int64_t)st->st_mtim.tv_sec,
		                  (int64_t)st->st_mtim.tv_nsec, (int64_t)st->st_ctim.tv_sec,
		                  (int64_t)st->st_ctim.tv_nsec };
	uint64_t out;

	crypto_generichash((unsigned char *)&out, sizeof(out), (const unsigned char *)parts,
	                   sizeof(parts), NULL, 0);
	return out;
}

/*
 * Every directory above the resolved file must be as safe as the file (as
 * OpenSSH's safe_path): owned by root or the daemon's user and not group- or
 * world-writable, or else someone who may write there could swap the file
 * for a link to another one (any root-owned bundle as trust anchors, an
 * older CRL). A root-owned sticky directory (/tmp) is fine: others cannot
 * rename or remove what they do not own in it.
 */
static int ancestors_check(const char *path, struct lk_err *err)
{
	char dir[PATH_MAX];
	struct stat st;
	size_t len = strlen(path);

	memcpy(dir, path, len + 1);
	while (len > 1) {
		while (len > 1 && dir[len - 1] != '/')
			len--;
		dir[len > 1 ? len - 1 : 1] = '\0';
		len = strlen(dir);
		/* Links followed: a link among them is judged by the directory
		 * it names, and by the one holding it (checked next). */
		if (stat(dir, &st) != 0)
			return lk_err_set(err, LK_EIO, "cannot stat %s: %s", dir, strerror(errno));
		if (st.st_uid != 0 && st.st_uid != geteuid())
			return lk_err_set(
			    err, LK_EINVAL,
			    "directory %s (above a policy file) is owned by uid %u, not "
			    "by uid %u or root; refusing it",
			    dir, (unsigned)st.st_uid, (unsigned)geteuid());
		if ((st.st_mode & 022) != 0 && !((st.st_mode & S_ISVTX) && st.st_uid == 0))
			return lk_err_set(
			    err, LK_EINVAL,
			    "directory %s (above a policy file) has unsafe permissions "
			    "(mode %04o); refusing it",
			    dir, (unsigned)(st.st_mode & 07777));
	}
	return LK_OK;
}

/* Opens path (following links) and checks what it is; *ret_fd on success. */
static int open_checked(const char *path, bool want_dir, struct stat *ret_st, int *ret_fd,
                        struct lk_err *err)
{
	char real[PATH_MAX];
	int fd, r;

	r = path_check(path, err);
	if (r < 0)
		return r;
	/* Every directory above the name as given (whoever may write one
	 * could put a link there) and above the file it resolves to; opened
	 * by the resolved name, so no link can be put in between. */
	if (realpath(path, real) == NULL)
		return lk_err_set(err, errno == ENOENT ? LK_ENOTFOUND : LK_EIO,
		                  "cannot open %s: %s", path, strerror(errno));
	if ((r = ancestors_check(path, err)) < 0 || (r = ancestors_check(real, err)) < 0)
		return r;
	fd = open(real, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW |
	                    (want_dir ? O_DIRECTORY : 0));
	if (fd < 0)
		return lk_err_set(err, errno == ENOENT ? LK_ENOTFOUND : LK_EIO,
		                  "cannot open %s: %s", path, strerror(errno));
	r = lk_err_set(err, LK_EIO, "cannot stat %s: %s", path, strerror(errno));
	if (fstat(fd, ret_st) != 0)
		goto fail;
	r = lk_err_set(err, LK_EINVAL, "%s is not a %s", path,
	               want_dir ? "directory" : "regular file");
	if (want_dir ? !S_ISDIR(ret_st->st_mode) : !S_ISREG(ret_st->st_mode))
		goto fail;
	r = lk_check_owner_mode(ret_st, want_dir ? "policy directory" : "policy file", path, 022,
	                        err);
	if (r < 0) {
		r = LK_EINVAL;
		goto fail;
	}
	*ret_fd = fd;
	return LK_OK;
fail:
	close(fd);
	return r;
}

int lk_policy_file_read(const char *path, size_t max_size, unsigned char **ret_data,
                        size_t *ret_len, uint64_t *ret_stamp, struct lk_err *err)
{
	unsigned char *buf = NULL;
	struct stat st;
	size_t got = 0;
	int fd, r;

	if (max_size > LK_POLICY_FILE_MAX)
		max_size = LK_POLICY_FILE_MAX;
	r = open_checked(path, false, &st, &fd, err);
	if (r < 0)
		return r;
	r = lk_err_set(err, LK_EINVAL, "%s is %lld bytes; at most %zu", path, (long long)st.st_size,
	               max_size);
	if (st.st_size < 0 || (uint64_t)st.st_size > max_size)
		goto out;
	r = lk_err_set(err, LK_ENOMEM, "out of memory reading %s", path);
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL)
		goto out;
	/* Up to one byte past the size fstat gave: a file that grew while
	 * it was read is refused rather than cut. */
	for (;;) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = lk_err_set(err, LK_EIO, "cannot read %s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > (size_t)st.st_size) {
			r = lk_err_set(err, LK_EIO, "%s changed while it was read", path);
			goto out;
		}
	}
	if (got != (size_t)st.st_size) {
		r = lk_err_set(err, LK_EIO, "%s changed while it was read", path);
		goto out;
	}
	*ret_data = buf;
	*ret_len = got;
	*ret_stamp = stamp_of(&st);
	buf = NULL;
	r = LK_OK;
out:
	free(buf);
	close(fd);
	return r;
}

/* Asked once per trust file per request: the file's own checks, without
 * the walk up its directories (open_checked's), which read_file makes
 * whenever the stamp says the file changed. A link repointed, a file
 * replaced or its mode changed all change the stamp. */
int lk_policy_file_stamp(const char *path, uint64_t *ret_stamp, struct lk_err *err)
{
	struct stat st;
	int r;

	r = path_check(path, err);
	if (r < 0)
		return r;
	if (stat(path, &st) != 0)
		return lk_err_set(err, errno == ENOENT ? LK_ENOTFOUND : LK_EIO,
		                  "cannot open %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return lk_err_set(err, LK_EINVAL, "%s is not a regular file", path);
	if (lk_check_owner_mode(&st, "policy file", path, 022, err) < 0)
		return LK_EINVAL;
	*ret_stamp = stamp_of(&st);
	return LK_OK;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void lk_policy_dir_free(char **names, size_t n)
{
	if (names == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int lk_policy_dir_list(const char *path, char ***ret_names, size_t *ret_n, struct lk_err *err)
{
	char **names = NULL;
	size_t n = 0;
	struct stat st;
	struct dirent *de;
	DIR *dir = NULL;
	int fd, r;

	r = open_checked(path, true, &st, &fd, err);
	if (r < 0)
		return r;
	r = lk_err_set(err, LK_ENOMEM, "out of memory listing %s", path);
	dir = fdopendir(fd);
	if (dir == NULL) {
		close(fd);
		goto out;
	}
	names = calloc(LK_POLICY_DIR_MAX, sizeof(*names));
	if (names == NULL)
		goto out;
	for (;;) {
		struct stat fst;
		errno = 0; /* readdir's NULL is an error only if it sets errno */
		if ((de = readdir(dir)) == NULL)
			break;
		if (de->d_name[0] == '.')
			continue;
		/* Links followed: /etc/ssl/certs is a directory of links. */
		if (fstatat(dirfd(dir), de->d_name, &fst, 0) != 0 || !S_ISREG(fst.st_mode))
			continue;
		if (n == LK_POLICY_DIR_MAX) {
			r = lk_err_set(err, LK_EINVAL, "%s has more than %d files", path,
			               LK_POLICY_DIR_MAX);
			goto out;
		}
		if ((names[n] = strdup(de->d_name)) == NULL)
			goto out;
		n++;
	}
	if (errno != 0) {
		r = lk_err_set(err, LK_EIO, "cannot list %s: %s", path, strerror(errno));
		goto out;
	}
	qsort(names, n, sizeof(*names), name_cmp);
	*ret_names = names;
	*ret_n = n;
	names = NULL;
	r = LK_OK;
out:
	lk_policy_dir_free(names, n);
	if (dir != NULL)
		closedir(dir);
	return r;
}
