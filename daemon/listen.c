/* SPDX-License-Identifier: Apache-2.0 */
/* latchkeyd's sockets: safe places to listen, and who is on the other end. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
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

bool lkd_stopping(struct daemon *d)
{
	bool stopping;

	pthread_mutex_lock(&d->conn_lock);
	stopping = d->stopping;
	pthread_mutex_unlock(&d->conn_lock);
	return stopping;
}

bool lkd_stream_begin(struct daemon *d, int fd)
{
	bool ok;

	pthread_mutex_lock(&d->conn_lock);
	ok = !d->stopping;
	if (ok)
		d->stream_fd = fd;
	pthread_mutex_unlock(&d->conn_lock);
	return ok;
}

void lkd_stream_end(struct daemon *d)
{
	pthread_mutex_lock(&d->conn_lock);
	d->stream_fd = -1;
	pthread_mutex_unlock(&d->conn_lock);
}

/* Workers accept for themselves: the kernel hands each connection to one
 * thread blocked in accept(), with no hand-over between threads (each
 * wake-up is dear on a virtual machine). A worker that takes a connection
 * when no other is left waiting starts one more, up to LKD_MAX_CONNS per
 * socket; further connections wait in the listen backlog. */
struct pool {
	struct pool *next;
	struct daemon *d;
	int fd;
	void *(*handler)(void *);
	unsigned n_workers, n_idle; /* under d->conn_lock */
};

static bool start_worker(struct pool *p);

static void *worker_main(void *arg)
{
	struct pool *p = arg;
	struct daemon *d = p->d;

	for (;;) {
		struct ucred cred;
		socklen_t cred_len = sizeof(cred);
		struct lkd_peer *peer;
		int fd, e;

		pthread_mutex_lock(&d->conn_lock);
		p->n_idle++;
		pthread_mutex_unlock(&d->conn_lock);
		fd = accept4(p->fd, NULL, NULL, SOCK_CLOEXEC);
		e = errno;
		pthread_mutex_lock(&d->conn_lock);
		p->n_idle--;
		if (fd < 0 && d->stopping) {
			/* OpenSSL's per-thread state (a worker that signed a pack
			 * or checked a certificate has some) is freed now, before
			 * stop_serving can see this worker gone and the process
			 * exit: left to the thread's exit, it could outlive main. */
			pthread_mutex_unlock(&d->conn_lock);
			OPENSSL_thread_stop();
			pthread_mutex_lock(&d->conn_lock);
			p->n_workers--;
			pthread_cond_broadcast(&d->conn_done);
			pthread_mutex_unlock(&d->conn_lock);
			return NULL;
		}
		if (fd >= 0) {
			d->n_conns++;
			if (p->n_idle == 0 && p->n_workers < LKD_MAX_CONNS)
				(void)start_worker(p);
		}
		pthread_mutex_unlock(&d->conn_lock);
		if (fd < 0) {
			if (e != EINTR && e != EAGAIN && e != ECONNABORTED)
				lkd_log(d, LOG_WARNING, "accept: %s", strerror(e));
			/* Out of descriptors: the pending connection stays in the
			 * backlog, so accept() fails again at once; pause instead
			 * of spinning. */
			if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
				nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
			continue;
		}
		peer = calloc(1, sizeof(*peer));
		if (peer == NULL ||
		    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) != 0 ||
		    cred_len != sizeof(cred)) {
			lkd_log(d, LOG_WARNING, "cannot take a connection: %s",
			        peer == NULL ? "out of memory" : strerror(errno));
			close(fd);
			if (peer == NULL) {
				pthread_mutex_lock(&d->conn_lock);
				d->n_conns--;
				pthread_cond_broadcast(&d->conn_done);
				pthread_mutex_unlock(&d->conn_lock);
			} else {
				lkd_peer_done(peer);
			}
			continue;
		}
		*peer = (struct lkd_peer){
			.d = d, .fd = fd, .uid = cred.uid, .gid = cred.gid, .pid = cred.pid
		};
		p->handler(peer);
	}
}

/* With conn_lock held (or before any worker runs). */
static bool start_worker(struct pool *p)
{
	pthread_attr_t attr;
	pthread_t tid;
	bool ok;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	ok = pthread_create(&tid, &attr, worker_main, p) == 0;
	pthread_attr_destroy(&attr);
	if (ok)
		p->n_workers++;
	return ok;
}

int lkd_serve(struct daemon *d, int listen_fd, void *(*handler)(void *), struct lk_err *err)
{
	struct pool *p = calloc(1, sizeof(*p));
	bool ok;

	if (p == NULL)
		return lk_err_set(err, LK_ENOMEM, "out of memory");
	*p = (struct pool){ .d = d, .fd = listen_fd, .handler = handler };
	pthread_mutex_lock(&d->conn_lock);
	ok = start_worker(p);
	if (ok) {
		p->next = d->pools;
		d->pools = p;
	}
	pthread_mutex_unlock(&d->conn_lock);
	if (!ok) {
		free(p);
		return lk_err_set(err, LK_ENOMEM, "cannot start a worker thread");
	}
	return LK_OK;
}

void lkd_stop_serving(struct daemon *d)
{
	pthread_mutex_lock(&d->conn_lock);
	d->stopping = true;
	/* Wakes the workers blocked in accept(); each then leaves. */
	for (struct pool *p = d->pools; p != NULL; p = p->next)
		shutdown(p->fd, SHUT_RDWR);
	/* A pack being sent is cut off now, not when its slow reader is done:
	 * meanwhile no authentication would be answered, and systemd would
	 * kill the daemon before its shutdown checkpoint. The client removes
	 * what it got; the sender removes the pack (admin.c). */
	if (d->stream_fd >= 0)
		shutdown(d->stream_fd, SHUT_RDWR);
	for (;;) {
		unsigned workers = 0;
		for (struct pool *p = d->pools; p != NULL; p = p->next)
			workers += p->n_workers;
		if (workers == 0 && d->n_conns == 0)
			break;
		pthread_cond_wait(&d->conn_done, &d->conn_lock);
	}
	while (d->pools != NULL) {
		struct pool *p = d->pools;
		d->pools = p->next;
		free(p);
	}
	pthread_mutex_unlock(&d->conn_lock);
}
