/* mhdbare: libmicrohttpd 0.9.75 with nothing of prepd on top, for
 * bench/ceiling. It answers every request with one file, from one response
 * object made at start (Content-Type only; libmicrohttpd adds Date and
 * Content-Length), with prepd's TLS settings and connection memory. What it
 * serves a second is what the library can serve on this machine at best: an
 * upper bound for prepd, which does its own work on every request (routing,
 * conditional and range requests, security and cache headers, the access log,
 * statistics).
 *
 * Over TLS, a response leaves as one record, as prepd's do
 * (server/tlsio.h): GnuTLS is corked when the answer is queued and let go
 * when libmicrohttpd has handed it over (GNUTLS_RECORD_WAIT: a client that
 * stops reading stalls its thread, which a measurement on loopback never
 * meets).
 *
 * Its loop is prepd's without prepd: one thread a core, each with one
 * daemon in external-epoll mode on the shared listening sockets, polled
 * with the daemon's timeout and run without blocking (libmicrohttpd's own
 * epoll thread stalls at 128 ready connections: server/worker.h). Unlike
 * prepd, each daemon accepts its own connections.
 *
 * usage: mhdbare FILE HTTP-PORT [HTTPS-PORT CERT KEY]   (127.0.0.1 only)
 * Runs until killed. A measurement tool: not installed, not a server. */
#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench/bare/bare.h"
#include "server/config.h"
#include "server/limits.h"

static struct MHD_Response *resp;

/* libmicrohttpd 0.9.75 closes a keep-alive connection whose answer is
 * queued on the first call, before it has read the whole request; prepd
 * answers on the second call too (server/http.c). */
static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *data,
			      size_t *size, void **ctx)
{
	static int seen;
	(void)cls, (void)url, (void)method, (void)version, (void)data;
	if (!*ctx) {
		*ctx = &seen;
		return MHD_YES;
	}
	*size = 0;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci && ci->tls_session)
		gnutls_record_cork(ci->tls_session);
	return MHD_queue_response(c, MHD_HTTP_OK, resp);
}

static void answered(void *cls, struct MHD_Connection *c, void **ctx,
		     enum MHD_RequestTerminationCode toe)
{
	(void)cls, (void)ctx, (void)toe;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci && ci->tls_session)
		gnutls_record_uncork(ci->tls_session, GNUTLS_RECORD_WAIT);
}

static struct MHD_Daemon *start(int fd, const char *cert, const char *key)
{
	unsigned flags = MHD_USE_EPOLL;
	struct MHD_OptionItem tls[] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cert },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)key },
		{ MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)CONFIG_TLS_PRIORITIES_DEFAULT },
		{ MHD_OPTION_END, 0, NULL },
	};
	if (cert)
		flags |= MHD_USE_TLS;
	return MHD_start_daemon(flags, 0, NULL, NULL, answer, NULL,
				MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)NET_CONN_MEMORY_BYTES,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)BARE_CONNECTION_LIMIT,
				MHD_OPTION_CONNECTION_TIMEOUT, 60u,
				MHD_OPTION_NOTIFY_COMPLETED, answered, NULL,
				MHD_OPTION_ARRAY, cert ? tls : tls + 3,
				MHD_OPTION_END);
}

struct shard {
	struct MHD_Daemon *d[2];
	unsigned n;
};

static void *run(void *arg)
{
	struct shard *s = arg;
	struct pollfd p[2];
	for (unsigned i = 0; i < s->n; i++) {
		p[i].fd = MHD_get_daemon_info(s->d[i], MHD_DAEMON_INFO_EPOLL_FD)->epoll_fd;
		p[i].events = POLLIN;
	}
	for (;;) {
		int timeout = 1000;
		for (unsigned i = 0; i < s->n; i++) {
			MHD_UNSIGNED_LONG_LONG t;
			if (MHD_get_timeout(s->d[i], &t) == MHD_YES && t < (MHD_UNSIGNED_LONG_LONG)timeout)
				timeout = (int)t;
		}
		if (poll(p, s->n, timeout) < 0 && errno != EINTR) {
			perror("mhdbare: poll");
			exit(1);
		}
		for (unsigned i = 0; i < s->n; i++)
			MHD_run(s->d[i]);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3 && argc != 6) {
		fprintf(stderr, "usage: mhdbare FILE HTTP-PORT [HTTPS-PORT CERT KEY]\n");
		return 2;
	}
	size_t len;
	char *body = bare_read_file(argv[1], &len);
	char *cert = argc == 6 ? bare_read_file(argv[4], NULL) : NULL;
	char *key = argc == 6 ? bare_read_file(argv[5], NULL) : NULL;
	if (!body || (argc == 6 && (!cert || !key)))
		return 1;
	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_PERSISTENT);
	if (!resp || MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					     "text/html; charset=utf-8") != MHD_YES)
		return 1;
	int fds[2] = { bare_listen(argv[2]), argc == 6 ? bare_listen(argv[3]) : -1 };
	if (fds[0] < 0 || (argc == 6 && fds[1] < 0))
		return 1;

	static struct shard shards[BARE_MAX_THREADS];
	unsigned n = bare_threads();
	for (unsigned i = 0; i < n; i++)
		for (int l = 0; l < 2; l++) {
			if (fds[l] < 0)
				continue;
			struct MHD_Daemon *d = start(fds[l], l ? cert : NULL, l ? key : NULL);
			if (!d) {
				fprintf(stderr, "mhdbare: libmicrohttpd did not start\n");
				return 1;
			}
			shards[i].d[shards[i].n++] = d;
		}
	return bare_serve("mhdbare", n, run, shards, sizeof shards[0]);
}
