/* SPDX-License-Identifier: Apache-2.0 */
/* latchkeyd's sockets: safe places to listen, and who is on the other end. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon-private.h"

/* The socket's directory: a directory owned by us, writable by nobody
 * else (another user could otherwise replace the socket). */
int lkd_check_socket_dir(const char *what, const char *sock, struct lk_err *err)
{
	char dir[PATH_MAX];
	struct stat st;
	char *slash;

	if (strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return lk_err_set(err, LK_EINVAL, "%s path %s is too long", what, sock);
	snprintf(dir, sizeof(dir), "%s", sock);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &st) != 0)
		return lk_err_set(err, LK_EIO, "socket directory %s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return lk_err_set(err, LK_EINVAL, "socket directory %s is not a directory", dir);
	if (st.st_uid != geteuid())
		return lk_err_set(
		    err, LK_EINVAL,
		    "socket directory %s is owned by uid %u, not by this daemon (uid %u)", dir,
		    (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & 022)
		return lk_err_set(err, LK_EINVAL,
		                  "socket directory %s is writable by group or others (mode %04o)",
		                  dir, (unsigned)(st.st_mode & 07777));
	return LK_OK;
}

int lkd_listen(const char *what, const char *path, mode_t mode, int *ret_fd, struct lk_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	/* A truncated path would bind somewhere else entirely. */
	if (strlen(path) >= sizeof(sa.sun_path))
		return lk_err_set(err, LK_EINVAL, "%s path %s is longer than %zu bytes", what, path,
		                  sizeof(sa.sun_path) - 1);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid())
			return lk_err_set(err, LK_EEXIST,
			                  "%s exists and is not a socket of this daemon's user",
			                  path);
		/* Stale only if nobody answers: never take over a running daemon. */
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			return lk_err_set(err, LK_EEXIST, "another latchkeyd is listening on %s",
			                  path);
		}
		if (fd >= 0)
			close(fd);
		if (unlink(path) != 0)
			return lk_err_set(err, LK_EIO, "cannot remove stale socket %s: %s", path,
			                  strerror(errno));
	} else if (errno != ENOENT) {
		return lk_err_set(err, LK_EIO, "cannot stat %s: %s", path, strerror(errno));
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return lk_err_set(err, LK_EIO, "socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		close(fd);
		return lk_err_set(err, LK_EIO, "cannot bind %s: %s", path, strerror(e));
	}
	if (chmod(path, mode) != 0 || listen(fd, 128) != 0) {
		int e = errno;
		close(fd);
		unlink(path);
		return lk_err_set(err, LK_EIO, "cannot listen on %s: %s", path, strerror(e));
	}
	*ret_fd = fd;
	return LK_OK;
}

void lkd_peer_done(struct lkd_peer *peer)
{
	struct daemon *d = peer->d;

	free(peer);
	pthread_mutex_lock(&d->conn_lock);
	d->n_conns--;
	pthread_cond_broadcast(&d->conn_done);
	pthread_mutex_unlock(&d->conn_lock);
}

void lkd_accept(struct daemon *d, int listen_fd, void *(*handler)(void *))
{
	struct ucred cred;
	socklen_t cred_len = sizeof(cred);
	pthread_attr_t attr;
	pthread_t tid;
	struct lkd_peer *peer;
	int fd;

	fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
			lkd_log(d, LOG_WARNING, "accept: %s", strerror(errno));
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) != 0 ||
	    cred_len != sizeof(cred)) {
		lkd_log(d, LOG_WARNING, "cannot read the peer's credentials: %s", strerror(errno));
		close(fd);
		return;
	}
	pthread_mutex_lock(&d->conn_lock);
	if (d->n_conns >= LKD_MAX_CONNS) {
		pthread_mutex_unlock(&d->conn_lock);
		lkd_log(d, LOG_WARNING, "too many connections: refusing uid %u",
		        (unsigned)cred.uid);
		close(fd);
		return;
	}
	d->n_conns++;
	pthread_mutex_unlock(&d->conn_lock);

	peer = calloc(1, sizeof(*peer));
	if (peer != NULL) {
		*peer = (struct lkd_peer){
			.d = d, .fd = fd, .uid = cred.uid, .gid = cred.gid, .pid = cred.pid
		};
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&tid, &attr, handler, peer) == 0) {
			pthread_attr_destroy(&attr);
			return;
		}
		pthread_attr_destroy(&attr);
	}
	lkd_log(d, LOG_ERR, "cannot start a connection thread");
	close(fd);
	if (peer != NULL)
		lkd_peer_done(peer);
	else {
		pthread_mutex_lock(&d->conn_lock);
		d->n_conns--;
		pthread_mutex_unlock(&d->conn_lock);
	}
}
