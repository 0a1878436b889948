#include "server/worker.h"

#include "server/http.h"
#include "server/limits.h"
#include "server/listen.h"
#include "server/log.h"
#include "server/reqbus.h"
#include "server/snap_int.h"
#include "server/tls.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

enum { L_HTTP, L_HTTPS, L_COUNT };
static const char *const lname[L_COUNT] = { "http", "https" };
static const enum reqrec_listener lrec[L_COUNT] = { REQREC_HTTP, REQREC_HTTPS };

struct worker {
	pthread_t tid;
	unsigned id;
	bool started;
	uint64_t last_full_warning;
	/* Open connections after the last pass, for other threads to read:
	 * MHD_get_daemon_info() must not be called while MHD_run() runs. */
	_Atomic unsigned open;
	struct MHD_Daemon *d[L_COUNT];
};

static struct worker *workers;
static unsigned nworkers;
static int listen_fd[L_COUNT] = { -1, -1 };
static int wake_fd = -1;
static _Atomic bool draining;
static unsigned daemon_limit;   /* connections per daemon */
static _Atomic uint64_t drain_deadline_ns;

/* libmicrohttpd's messages are about one client (a failed TLS handshake,
 * a malformed request) far more often than about prepd; under attack they
 * come by the thousand. Keep a few a second and count the rest. */
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	static _Atomic uint64_t window, count, suppressed;
	uint64_t sec = now_ns() / 1000000000u;
	if (atomic_exchange(&window, sec) != sec) {
		uint64_t s = atomic_exchange(&suppressed, 0);
		atomic_store(&count, 0);
		if (s)
			log_info("mhd suppressed=%llu reason=\"more than 5 messages a second\"",
				 (unsigned long long)s);
	}
	if (atomic_fetch_add(&count, 1) >= 5) {
		atomic_fetch_add(&suppressed, 1);
		return;
	}
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_info("mhd message=\"%s\"", msg);
}

static struct MHD_Daemon *start_daemon(const struct config *cfg, int l,
				       unsigned per_daemon_limit, char *err,
				       size_t errsz)
{
	int fd = dup(listen_fd[l]);
	if (fd < 0) {
		snprintf(err, errsz, "cannot duplicate the %s socket: %s", lname[l], strerror(errno));
		return NULL;
	}
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	if (l == L_HTTPS)
		flags |= MHD_USE_TLS;
	struct MHD_OptionItem opts[16];
	unsigned n = 0;
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_SOCKET, fd, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT, per_daemon_limit, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT, cfg->server.conn_timeout, NULL };
	/* libmicrohttpd clears a connection's whole memory pool between
	 * keep-alive requests; its 32 KiB default made that memset the
	 * biggest user-space cost per request. 16 KiB still holds a request
	 * with large cookies. */
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_MEMORY_LIMIT, NET_CONN_MEMORY_BYTES, NULL };
	if (cfg->server.per_ip_limit)
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_PER_IP_CONNECTION_LIMIT,
						     cfg->server.per_ip_limit, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED,
					     (intptr_t)http_on_completed, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_URI_LOG_CALLBACK,
					     (intptr_t)http_on_uri, HTTP_LISTENER_CLS(lrec[l]) };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_UNESCAPE_CALLBACK,
					     (intptr_t)http_unescape, NULL };
	/* libmicrohttpd 0.9.75's strict mode does not do what RFC 9112 asks:
	 * at 1 a space in the target closes the connection with no answer
	 * and a missing Host sends the 400 header block twice; at -1 only
	 * whitespace before a colon is refused. prepd judges the request
	 * head itself (server/http.c on_head(), docs/security.md). */
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_STRICT_FOR_CLIENT, 0, NULL };
	/* SIGPIPE is ignored process-wide (main.c). */
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1, NULL };
	if (l == L_HTTPS) {
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_CERT_CALLBACK, 0,
						     (void *)tls_cert_callback };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
						     (void *)cfg->tls.priorities };
	}
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };

	/* The logger must come first, or libmicrohttpd prints the messages
	 * about the options before it to stderr its own way. */
	struct MHD_Daemon *d = MHD_start_daemon(flags, 0, NULL, NULL,
						http_on_request, NULL,
						MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
						MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (!d) {
		close(fd);
		snprintf(err, errsz, "libmicrohttpd refused to start the %s listener%s",
			 lname[l], l == L_HTTPS ? " (check [tls] priorities: GnuTLS must accept it)" : "");
	}
	return d;
}

static unsigned daemon_connections(struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	return di ? di->num_connections : 0;
}

/* At its limit a libmicrohttpd daemon stops accepting and new clients wait
 * in the kernel's accept queue with no error anywhere. Say so, at most once
 * every 10 s per worker. */
static void warn_if_full(struct worker *w, struct MHD_Daemon **dd, unsigned nd)
{
	unsigned total = 0, full_open = 0;
	for (unsigned i = 0; i < nd; i++) {
		unsigned open = daemon_connections(dd[i]);
		total += open;
		if (open >= daemon_limit)
			full_open = open;
	}
	atomic_store_explicit(&w->open, total, memory_order_relaxed);
	uint64_t now = now_ns();
	if (!full_open || (w->last_full_warning && now - w->last_full_warning < 10000000000ull))
		return;
	w->last_full_warning = now;
	log_warn("server connection-limit-reached worker=%u open=%u limit_per_worker=%u "
		 "action=\"new clients wait in the accept queue; raise [server] "
		 "connection_limit (and the open-files limit) or add capacity\"",
		 w->id, full_open, daemon_limit);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	if (!snap_reader_register()) {
		log_error("server worker=%u cannot-register action=\"lower [server] threads\"", w->id);
		return NULL;
	}
	if (!reqbus_attach_thread())
		log_warn("alog worker=%u no-ring action=\"lower [server] threads; this worker's requests are not logged\"",
			 w->id);

	struct pollfd pfd[L_COUNT + 1];
	struct MHD_Daemon *dd[L_COUNT];
	unsigned nd = 0;
	for (int l = 0; l < L_COUNT; l++) {
		if (!w->d[l])
			continue;
		const union MHD_DaemonInfo *di = MHD_get_daemon_info(w->d[l], MHD_DAEMON_INFO_EPOLL_FD);
		pfd[nd].fd = di->epoll_fd;
		pfd[nd].events = POLLIN;
		dd[nd++] = w->d[l];
	}
	pfd[nd].fd = wake_fd;
	pfd[nd].events = POLLIN;
	bool quiesced = false;

	for (;;) {
		int timeout = 1000;
		for (unsigned i = 0; i < nd; i++) {
			MHD_UNSIGNED_LONG_LONG t;
			if (MHD_get_timeout(dd[i], &t) == MHD_YES &&
			    t < (MHD_UNSIGNED_LONG_LONG)timeout)
				timeout = (int)t;
		}
		if (quiesced)
			timeout = timeout > 50 ? 50 : timeout;
		int pr = poll(pfd, nd + (quiesced ? 0 : 1), timeout);
		if (pr < 0 && errno != EINTR) {
			log_error("server worker=%u poll-failed error=\"%m\"", w->id);
			break;
		}
		snap_reader_online();
		for (unsigned i = 0; i < nd; i++)
			MHD_run(dd[i]);
		snap_reader_offline();
		warn_if_full(w, dd, nd);

		if (atomic_load(&draining)) {
			if (!quiesced) {
				/* Stop accepting; the shared socket is closed by main. */
				for (unsigned i = 0; i < nd; i++) {
					MHD_socket s = MHD_quiesce_daemon(dd[i]);
					if (s != MHD_INVALID_SOCKET)
						close(s);
				}
				quiesced = true;
			}
			unsigned open = 0;
			for (unsigned i = 0; i < nd; i++)
				open += daemon_connections(dd[i]);
			if (open == 0 || now_ns() >= atomic_load(&drain_deadline_ns))
				break;
		}
	}
	http_thread_cleanup();
	snap_reader_unregister();
	return NULL;
}

/* Raises the open-files limit as far as allowed and returns how many
 * connections each listener may have. */
static unsigned fit_connection_limit(unsigned wanted, unsigned listeners)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return wanted;
	rlim_t need = (rlim_t)wanted * listeners + 256;
	if (rl.rlim_cur < need) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur >= need)
		return wanted;
	unsigned fit = rl.rlim_cur > 512 ? (unsigned)((rl.rlim_cur - 256) / listeners) : 128;
	log_warn("server connection-limit-lowered wanted=%u now=%u open_files_limit=%llu "
		 "action=\"raise the open-files limit (ulimit -n, or LimitNOFILE= in systemd)\"",
		 wanted, fit, (unsigned long long)rl.rlim_cur);
	return fit;
}

enum rc workers_start(const struct config *cfg, char *err, size_t errsz)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	nworkers = cfg->server.threads ? cfg->server.threads : (cores > 0 ? (unsigned)cores : 1);
	if (nworkers > NET_MAX_THREADS)
		nworkers = NET_MAX_THREADS;
	const struct listen_addr *la[L_COUNT] = { &cfg->server.http, &cfg->server.https };
	unsigned listeners = 0;
	char bound[L_COUNT][96];
	for (int l = 0; l < L_COUNT; l++) {
		if (!la[l]->on)
			continue;
		enum rc rc = listen_open(la[l], &listen_fd[l], bound[l], sizeof bound[l], err, errsz);
		if (rc) {
			for (int k = 0; k < l; k++)
				if (listen_fd[k] >= 0)
					close(listen_fd[k]);
			return rc;
		}
		listeners++;
	}
	unsigned limit = fit_connection_limit(cfg->server.conn_limit, listeners);
	/* libmicrohttpd's limit is per daemon; each listener has one daemon
	 * per worker and the kernel spreads accepts between them. */
	unsigned per_daemon = (limit + nworkers - 1) / nworkers;
	daemon_limit = per_daemon;

	wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	workers = calloc(nworkers, sizeof *workers);
	if (wake_fd < 0 || !workers) {
		snprintf(err, errsz, "out of memory starting the workers");
		return RC_NOMEM;
	}
	for (unsigned i = 0; i < nworkers; i++) {
		workers[i].id = i;
		for (int l = 0; l < L_COUNT; l++) {
			if (listen_fd[l] < 0)
				continue;
			workers[i].d[l] = start_daemon(cfg, l, per_daemon, err, errsz);
			if (!workers[i].d[l]) {
				workers_stop(0);
				return RC_IO;
			}
		}
	}
	for (unsigned i = 0; i < nworkers; i++) {
		if (pthread_create(&workers[i].tid, NULL, worker_main, &workers[i])) {
			snprintf(err, errsz, "cannot start worker thread %u", i);
			workers_stop(0);
			return RC_NOMEM;
		}
		workers[i].started = true;
	}
	for (int l = 0; l < L_COUNT; l++)
		if (listen_fd[l] >= 0)
			log_info("server listen proto=%s addr=%s workers=%u connection_limit=%u timeout=%us",
				 lname[l], bound[l], nworkers, per_daemon * nworkers, cfg->server.conn_timeout);
	return RC_OK;
}

void workers_stop(unsigned grace_ms)
{
	atomic_store(&drain_deadline_ns, now_ns() + (uint64_t)grace_ms * 1000000u);
	atomic_store(&draining, true);
	if (wake_fd >= 0) {
		uint64_t one = 1;
		ssize_t w = write(wake_fd, &one, sizeof one);
		(void)w;
	}
	for (unsigned i = 0; i < nworkers && workers; i++)
		if (workers[i].started)
			pthread_join(workers[i].tid, NULL);
	for (unsigned i = 0; i < nworkers && workers; i++)
		for (int l = 0; l < L_COUNT; l++)
			if (workers[i].d[l])
				MHD_stop_daemon(workers[i].d[l]);
	for (int l = 0; l < L_COUNT; l++) {
		if (listen_fd[l] >= 0)
			close(listen_fd[l]);
		listen_fd[l] = -1;
	}
	if (wake_fd >= 0)
		close(wake_fd);
	wake_fd = -1;
	free(workers);
	workers = NULL;
	nworkers = 0;
}

unsigned workers_connections(void)
{
	unsigned n = 0;
	for (unsigned i = 0; i < nworkers && workers; i++)
		n += atomic_load_explicit(&workers[i].open, memory_order_relaxed);
	return n;
}
