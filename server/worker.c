#include "server/worker.h"

#include "server/http.h"
#include "server/limits.h"
#include "server/listen.h"
#include "server/log.h"
#include "server/proxy.h"
#include "server/reqbus.h"
#include "server/shield.h"
#include "server/sniff.h"
#include "server/snap_int.h"
#include "server/tls.h"
#include "server/tlsio.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <threads.h>
#include <unistd.h>

enum { L_HTTP, L_HTTPS, L_COUNT };
static const char *const lname[L_COUNT] = { "http", "https" };
static const enum reqrec_listener lrec[L_COUNT] = { REQREC_HTTP, REQREC_HTTPS };

/* Where a connection waits, each list oldest first. A connection is in
 * one list while a deadline runs for it, and in none while a request of
 * its is being answered. */
enum { Q_OWN, Q_HEAD, Q_IDLE, Q_COUNT, Q_NONE = Q_COUNT };

/* One client connection, owned by the worker that accepted it: from
 * accept() (or the PROXY header) to libmicrohttpd's NOTIFY_CONNECTION
 * closed. Only that worker's thread touches it: no lock.
 *
 * libmicrohttpd 0.9.75 restarts a connection's timeout on every byte
 * and has no deadline for the request head, so prepd keeps its own:
 * Q_OWN    prepd still owns the socket, in the worker's epoll: waiting
 *          for a trusted proxy's PROXY header, or for the first bytes of
 *          the connection (first_look()); deadline accept + header_timeout;
 * Q_HEAD   handed to libmicrohttpd, its first request head not complete
 *          (TLS handshake included); deadline accept + header_timeout;
 * Q_IDLE   a keep-alive connection between requests; its next head must
 *          be complete within [server] timeout of the previous answer.
 * Each list has one timeout for all, so oldest first is also earliest
 * deadline first: a pass looks only at each list's head. A connection
 * past its deadline is shut down (shutdown(2)), and libmicrohttpd, seeing
 * the end of the stream, closes it and says so (NOTIFY_CONNECTION). */
struct conn {
	struct conn *prev, *next;
	struct worker *w;
	uint8_t q;                 /* Q_* */
	uint8_t l;                 /* L_HTTP, L_HTTPS */
	bool shut;                 /* shut down: no longer holds a slot */
	bool counted;              /* shield_conn_open() counted it */
	bool trusted;              /* addr is a trusted proxy */
	bool uri_seen;             /* a request line arrived since the last answer */
	bool via_header;           /* client came from a proxy's header */
	bool answered;             /* the shield's 429 was queued */
	bool proxy_wait;           /* in Q_OWN for its PROXY header */
	bool handed;               /* given to libmicrohttpd: counted in its shard */
	uint8_t shard;             /* which of the listener's daemons has it */
	int fd;
	struct tlsio *io;          /* on TLS: prepd's socket functions, or NULL */
	/* In its worker's list of connections whose answer's last bytes
	 * wait for room in the socket (tlsio_flush(), each pass). */
	struct conn *fprev, *fnext;
	bool flushing;
	/* In its worker's queue of new TLS connections waiting for their
	 * turn to be handed over (hand_over_waiting()); also in Q_OWN. */
	struct conn *hprev, *hnext;
	bool hs_wait;
	unsigned calls;            /* access handler calls this request */
	uint64_t since;            /* when it entered its list (ns) */
	struct shield_decision dec;   /* this request's */
	struct reqrec_addr peer;   /* the TCP peer */
	struct reqrec_addr addr;   /* the connection's client: the PROXY
				    * header's source, else the peer */
	struct reqrec_addr client; /* this request's real client */
};

struct queue {
	struct conn *head, *tail;
};

/* What happened since the worker's last summary line. */
struct tally {
	unsigned evicted_idle, evicted_slow, refused, header_timeouts, proxy_bad;
	unsigned opening[SNIFF_VERSION_UNSUPPORTED + 1];   /* refused by first_look() */
	char proxy_bad_peer[REQREC_ADDR_TEXT_BYTES];
	const char *proxy_bad_why;
};

struct worker {
	pthread_t tid;
	unsigned id;
	bool started;
	uint64_t last_full_warning, last_timeout_warning, last_proxy_warning;
	uint64_t last_opening_warning;
	/* Open connections after the last pass, for other threads to read:
	 * MHD_get_daemon_info() must not be called while MHD_run() runs. */
	_Atomic unsigned open;
	/* live[], published at each accept and each pass for the other
	 * workers' accept choice (leave_to_others()) */
	_Atomic unsigned live_pub[L_COUNT];
	_Atomic bool gone;         /* out of its loop: takes no connections */
	bool paused[L_COUNT];      /* listening socket left to the others */
	struct MHD_Daemon *d[L_COUNT][NET_SHARDS];   /* the shards, see limits.h */
	unsigned in_shard[L_COUNT][NET_SHARDS];      /* connections each holds */
	int ep;                    /* the listening sockets, PROXY waits */
	int nudge;                 /* eventfd in ep: look at paused[] again */
	unsigned live[L_COUNT];    /* connections holding a slot */
	unsigned nown;             /* of which prepd's own (Q_OWN) */
	struct queue q[L_COUNT][Q_COUNT];
	struct conn *free_conns;
	unsigned nfree;
	struct conn *flushing;     /* struct conn's fnext list */
	/* New TLS connections whose first bytes passed first_look(), oldest
	 * first, waiting for the handshake budget (hand_over_waiting()). */
	struct conn *hs_head, *hs_tail;
	/* TLS connections handed to each HTTPS shard since its last run, and
	 * their sum: handshakes a run of the shard has still to start. */
	unsigned hs_fresh[NET_SHARDS];
	unsigned hs_pending;
	struct tally t;
	bool full_now;             /* the limit was met in this stretch */
};

static struct worker *workers;
static unsigned nworkers;
static int listen_fd[L_COUNT] = { -1, -1 };
static int wake_fd = -1;
static _Atomic bool draining;
static unsigned daemon_limit;   /* connections per worker and listener */
static unsigned nshards = NET_SHARDS;   /* daemons per worker and listener */
static _Atomic uint64_t drain_deadline_ns;
static struct shield *shield;
static const struct config *the_cfg;
static unsigned proxy_versions;    /* PROXY_V1 | PROXY_V2, or 0 */
static uint64_t header_timeout_ns, idle_timeout_ns;
/* The epoll tags of the listening sockets and of a worker's nudge (a
 * conn pointer otherwise). */
static char listen_tag[L_COUNT];
static char nudge_tag;
/* Workers with listener l's socket in their epoll. Only a worker that is
 * not the last may take it out (step_aside()), so one always accepts. */
static _Atomic unsigned watching[L_COUNT];

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
	/* 0.9.75 says this of every handshake that fails, whatever failed
	 * (MHD_run_tls_handshake_()): mostly a client that closed in the
	 * middle, as load generators do when they stop. */
	if (!strcmp(msg, "Error: received handshake message out of context.")) {
		log_info("mhd tls-handshake-failed message=\"%s\" meaning=\"a TLS handshake did "
			 "not finish: the client closed the connection or sent what GnuTLS "
			 "refused\" action=\"none, unless it comes by the thousand (then look at "
			 "the clients in the access log)\"", msg);
		return;
	}
	log_info("mhd message=\"%s\"", msg);
}

/* The connection table (struct conn above). */

static void q_unlink(struct worker *w, struct conn *k)
{
	if (k->q == Q_NONE)
		return;
	struct queue *q = &w->q[k->l][k->q];
	if (k->prev)
		k->prev->next = k->next;
	else
		q->head = k->next;
	if (k->next)
		k->next->prev = k->prev;
	else
		q->tail = k->prev;
	k->prev = k->next = NULL;
	if (k->q == Q_OWN)
		w->nown--;
	k->q = Q_NONE;
}

/* Puts k in list qi with the given since, keeping the list oldest first:
 * from the tail, since nearly always the newest (only a connection that
 * waited for its PROXY header carries an older since into Q_HEAD). */
static void q_append(struct worker *w, struct conn *k, uint8_t qi, uint64_t since)
{
	q_unlink(w, k);
	struct queue *q = &w->q[k->l][qi];
	struct conn *after = q->tail;
	while (after && after->since > since)
		after = after->prev;
	k->q = qi;
	k->since = since;
	k->prev = after;
	k->next = after ? after->next : q->head;
	if (k->next)
		k->next->prev = k;
	else
		q->tail = k;
	if (after)
		after->next = k;
	else
		q->head = k;
	if (qi == Q_OWN)
		w->nown++;
}

static void flush_add(struct worker *w, struct conn *k)
{
	if (k->flushing)
		return;
	k->flushing = true;
	k->fprev = NULL;
	k->fnext = w->flushing;
	if (k->fnext)
		k->fnext->fprev = k;
	w->flushing = k;
}

static void flush_del(struct worker *w, struct conn *k)
{
	if (!k->flushing)
		return;
	if (k->fprev)
		k->fprev->fnext = k->fnext;
	else
		w->flushing = k->fnext;
	if (k->fnext)
		k->fnext->fprev = k->fprev;
	k->fprev = k->fnext = NULL;
	k->flushing = false;
}

static void hs_add(struct worker *w, struct conn *k)
{
	if (k->hs_wait)
		return;
	k->hs_wait = true;
	k->hnext = NULL;
	k->hprev = w->hs_tail;
	if (k->hprev)
		k->hprev->hnext = k;
	else
		w->hs_head = k;
	w->hs_tail = k;
}

static void hs_del(struct worker *w, struct conn *k)
{
	if (!k->hs_wait)
		return;
	if (k->hprev)
		k->hprev->hnext = k->hnext;
	else
		w->hs_head = k->hnext;
	if (k->hnext)
		k->hnext->hprev = k->hprev;
	else
		w->hs_tail = k->hprev;
	k->hprev = k->hnext = NULL;
	k->hs_wait = false;
}

static struct conn *conn_new(struct worker *w)
{
	struct conn *k = w->free_conns;
	if (k) {
		w->free_conns = k->next;
		w->nfree--;
	} else if (!(k = malloc(sizeof *k))) {
		return NULL;
	}
	memset(k, 0, sizeof *k);
	k->w = w;
	k->q = Q_NONE;
	k->fd = -1;
	return k;
}

/* Forgets k; its socket is already closed or libmicrohttpd's. */
static void conn_free(struct conn *k)
{
	struct worker *w = k->w;
	q_unlink(w, k);
	flush_del(w, k);
	hs_del(w, k);
	if (!k->shut)
		w->live[k->l]--;
	if (k->counted)
		shield_conn_close(shield, &k->addr);
	if (k->handed)
		w->in_shard[k->l][k->shard]--;
	tlsio_free(k->io);
	k->io = NULL;
	if (w->nfree >= NET_REQ_CACHE_MAX) {
		free(k);
		return;
	}
	k->next = w->free_conns;
	w->free_conns = k;
	w->nfree++;
}

/* Ends a connection libmicrohttpd holds: shutdown(2) makes it read the
 * end of the stream and close it on its next pass, its own way (its
 * callbacks run, the socket is closed once). The slot is free at once. */
static void conn_shut(struct conn *k)
{
	if (k->shut)
		return;
	shutdown(k->fd, SHUT_RDWR);
	k->shut = true;
	k->w->live[k->l]--;
	q_unlink(k->w, k);
}

/* Ends a connection prepd still owns (before libmicrohttpd has it). */
static void conn_close_own(struct conn *k)
{
	if (k->q == Q_OWN)
		epoll_ctl(k->w->ep, EPOLL_CTL_DEL, k->fd, NULL);
	close(k->fd);
	conn_free(k);
}

/* The worker's conn for a libmicrohttpd connection (its socket context),
 * or NULL for one prepd did not accept. */
static struct conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

/* MHD_add_connection() calls NOTIFY_CONNECTION started before it returns,
 * on the same thread: this is how the new connection finds its conn. */
static thread_local struct conn *adding;
static thread_local int adding_state;   /* 0 refused, 1 started, 2 closed again */
/* libmicrohttpd callbacks on this thread so far: with tlsio_moved(), what
 * tells a worker that an MHD_run() did something (run_shard()). */
static thread_local uint64_t calls_seen;

static void conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
			enum MHD_ConnectionNotificationCode code)
{
	(void)cls;
	calls_seen++;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		/* libmicrohttpd 0.9.75 made the GnuTLS session in
		 * new_connection_prepare_() and has not read a byte yet: the
		 * last moment to turn resumption on (it never does). */
		const union MHD_ConnectionInfo *ti =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
		if (ti && ti->tls_session) {
			tls_session_setup(ti->tls_session);
			if (adding)
				adding->io = tlsio_attach(ti->tls_session, adding->fd);
		}
		*socket_context = adding;
		if (adding)
			adding_state = 1;
		return;
	}
	struct conn *k = *socket_context;
	if (!k)
		return;
	*socket_context = NULL;
	if (k == adding)
		adding_state = 2;
	conn_free(k);
}

/* Writes an answer on a socket prepd still owns and closes it: a
 * refusal at once rather than a client left waiting. Whatever the client
 * sent is read first, so that the close does not reset the connection
 * before the answer is read. */
static void send_and_close(struct conn *k, const char *msg, size_t len)
{
	char sink[4096];
	/* Bounded: a client that keeps sending must not hold the worker. */
	for (int i = 0; i < 16 && recv(k->fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++)
		;
	ssize_t sent = send(k->fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)sent;
	shutdown(k->fd, SHUT_WR);
	conn_close_own(k);
}

/* A 503 or 429 for a connection prepd still owns. Plain HTTP only: on
 * the HTTPS port the connection is closed. */
static void answer_and_close(struct conn *k, unsigned status, unsigned retry_after)
{
	if (k->l == L_HTTP) {
		static const char body503[] = "503 Service Unavailable: too many connections\n";
		static const char body429[] = "429 Too Many Requests\n";
		const char *body = status == 503 ? body503 : body429;
		char msg[512];
		int n = snprintf(msg, sizeof msg,
				 "HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
				 "Content-Length: %zu\r\nRetry-After: %u\r\nCache-Control: no-store\r\n"
				 "Connection: close\r\n\r\n%s",
				 status == 503 ? "503 Service Unavailable" : "429 Too Many Requests",
				 strlen(body), retry_after ? retry_after : 1, body);
		send_and_close(k, msg, (size_t)n);
		return;
	}
	conn_close_own(k);
}

static void addr_to_sockaddr(const struct reqrec_addr *a, struct sockaddr_storage *ss,
			     socklen_t *len)
{
	memset(ss, 0, sizeof *ss);
	if (a->family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(a->port);
		memcpy(&in->sin_addr, a->addr, 4);
		*len = sizeof *in;
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(a->port);
		memcpy(&in6->sin6_addr, a->addr, 16);
		*len = sizeof *in6;
	}
}

/* At the limit: make room for one more connection of listener l. First
 * an idle keep-alive connection (as nginx does), oldest first; then the
 * connection that has waited longest for its head (the PROXY header
 * included): real clients send their head within milliseconds, so the
 * oldest is a slow-header client's, never a visitor who just arrived
 * (or, in a surge, a new TLS connection that has waited longest for its
 * handshake's turn: hand_over_when_due()). Returns false when every
 * slot is answering a request. */
static bool make_room(struct worker *w, int l)
{
	/* A bounded look: past NET_ACCEPT_BATCH idle connections that all
	 * started a request line, the slowest head is the better choice. */
	unsigned looked = 0;
	for (struct conn *k = w->q[l][Q_IDLE].head; k && looked++ < NET_ACCEPT_BATCH; k = k->next) {
		if (!k->uri_seen) {
			conn_shut(k);
			w->t.evicted_idle++;
			shield_count(shield, SHIELD_C_EVICT_IDLE, 1);
			return true;
		}
	}
	struct conn *head = w->q[l][Q_HEAD].head, *proxy = w->q[l][Q_OWN].head;
	struct conn *victim = !proxy ? head : !head ? proxy :
			      head->since <= proxy->since ? head : proxy;
	if (!victim)
		victim = w->q[l][Q_IDLE].head;   /* idle, but a request line came */
	if (!victim)
		return false;
	if (victim->q == Q_OWN)
		conn_close_own(victim);
	else
		conn_shut(victim);
	w->t.evicted_slow++;
	shield_count(shield, SHIELD_C_EVICT_SLOW, 1);
	return true;
}

/* The per-client connection limit, once k's client is known (at accept,
 * or from its PROXY header). Returns false when k was refused: answered
 * or closed, and gone. */
static bool count_client(struct conn *k, bool from_proxy_header)
{
	/* A trusted proxy's own connection carries many visitors: it is not
	 * counted as one client's (its requests are, by the header). */
	if (k->trusted && !from_proxy_header)
		return true;
	struct shield_decision d = shield_conn_open(shield, &k->addr, now_ns());
	if (d.verdict == SHIELD_REFUSE) {
		answer_and_close(k, 429, d.retry_after);
		return false;
	}
	if (d.verdict == SHIELD_DROP) {
		conn_close_own(k);
		return false;
	}
	k->counted = true;
	return true;
}

/* The shard a new connection joins: the first with room under
 * NET_SHARD_CONNS, so that up to that many connections stay in one daemon
 * (one poll and one MHD_run() a pass); past that, the least loaded. */
static unsigned pick_shard(const struct worker *w, int l)
{
	unsigned best = 0;
	for (unsigned i = 0; i < nshards; i++) {
		if (w->in_shard[l][i] < NET_SHARD_CONNS)
			return i;
		if (w->in_shard[l][i] < w->in_shard[l][best])
			best = i;
	}
	return best;
}

/* Hands k to libmicrohttpd. */
static void hand_over(struct worker *w, struct conn *k)
{
	hs_del(w, k);
	k->client = k->addr;
	bool owned = k->q == Q_OWN;
	if (owned)
		epoll_ctl(w->ep, EPOLL_CTL_DEL, k->fd, NULL);
	/* The head deadline still counts from accept. */
	q_append(w, k, Q_HEAD, owned ? k->since : now_ns());
	struct sockaddr_storage ss;
	socklen_t len;
	addr_to_sockaddr(&k->addr, &ss, &len);
	k->shard = (uint8_t)pick_shard(w, k->l);
	k->handed = true;
	w->in_shard[k->l][k->shard]++;
	unsigned shard = k->shard;
	bool tls = k->l == L_HTTPS;
	if (tls) {
		w->hs_fresh[shard]++;
		w->hs_pending++;
	}
	adding = k;
	adding_state = 0;
	MHD_add_connection(w->d[k->l][k->shard], k->fd, (struct sockaddr *)&ss, len);
	adding = NULL;
	if (tls && adding_state != 1) {
		/* Not in the shard (refused, or closed again at once): no
		 * handshake of it will run. */
		w->hs_fresh[shard]--;
		w->hs_pending--;
	}
	/* Refused before it started (libmicrohttpd's own limits, memory):
	 * the socket is closed already. After "closed again", k is gone. */
	if (adding_state == 0)
		conn_free(k);
}

/* Hands over queued TLS connections, oldest first, while the budget of
 * handshakes not yet started has room. */
static void hand_over_waiting(struct worker *w)
{
	while (w->hs_head && w->hs_pending < NET_HANDSHAKE_BATCH)
		hand_over(w, w->hs_head);
}

/* A shard ran: the handshakes handed to it have started. */
static void shard_ran(struct worker *w, int l, unsigned shard)
{
	if (l != L_HTTPS)
		return;
	w->hs_pending -= w->hs_fresh[shard];
	w->hs_fresh[shard] = 0;
}

/* Keeps k in the worker's own wait (Q_OWN) until its socket has more to
 * read. Edge-triggered: the bytes already peeked stay in the socket, and
 * a level-triggered watch would report them on every pass. Returns false
 * when the socket cannot be watched. */
static bool own_wait(struct worker *w, struct conn *k)
{
	if (k->q == Q_OWN)
		return true;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = k };
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, k->fd, &ev))
		return false;
	q_append(w, k, Q_OWN, k->q == Q_NONE ? now_ns() : k->since);
	return true;
}

/* Hands k over now, or, for a new TLS connection while the shards have
 * NET_HANDSHAKE_BATCH handshakes to start already, queues it for
 * hand_over_waiting(): the connections already open are answered between
 * the handshakes of a surge of new ones, not after all of them. A queued
 * connection stays in Q_OWN under its head deadline; more bytes or the
 * client's hang-up change nothing, it keeps its place. */
static void hand_over_when_due(struct worker *w, struct conn *k)
{
	if (k->hs_wait)
		return;
	if (k->l != L_HTTPS || (!w->hs_head && w->hs_pending < NET_HANDSHAKE_BATCH) ||
	    !own_wait(w, k)) {
		hand_over(w, k);
		return;
	}
	hs_add(w, k);
	shield_count(shield, SHIELD_C_TLS_QUEUED, 1);
}

/* The access-log record of an opening first_look() refused (libmicrohttpd
 * never saw the connection, so server/http.c makes none). */
static void record_opening(struct conn *k, const struct snap *s, const struct sniff *sn,
			   unsigned status, uint64_t bytes)
{
	if (!reqbus_enabled())
		return;
	static thread_local struct reqrec rec;
	memset(&rec, 0, offsetof(struct reqrec, method));
	clock_gettime(CLOCK_REALTIME, &rec.when);
	rec.status = (uint16_t)status;
	rec.bytes = bytes;
	rec.seq = s->cut.seq;
	rec.listener = lrec[k->l];
	if (k->l == L_HTTPS)
		rec.flags |= REQREC_TLS;
	rec.client = k->addr;
	rec.peer = k->peer;
	char target[NET_SNIFF_BYTES + 1];
	size_t tn = sn->target_len < NET_SNIFF_BYTES ? sn->target_len : NET_SNIFF_BYTES;
	memcpy(target, sn->target, tn);
	target[tn] = '\0';
	reqrec_set_field(rec.method, sizeof rec.method, sn->method_len ? sn->method : "-",
			 sn->method_len ? sn->method_len : 1);
	reqrec_set_field(rec.proto, sizeof rec.proto, sn->version_len ? sn->version : "-",
			 sn->version_len ? sn->version_len : 1);
	snprintf(rec.label, sizeof rec.label, "%s", s->cut.label);
	reqrec_set_target(&rec, tn ? target : "-");
	rec.ua[0] = rec.referer[0] = rec.fwd[0] = '\0';
	reqbus_put(&rec);
}

/* The first look at a connection prepd owns, before libmicrohttpd reads
 * a byte of it (server/sniff.h): its first bytes are peeked (MSG_PEEK,
 * never blocking). An opening libmicrohttpd 0.9.75 would leave hanging
 * until the idle timeout (a TLS ClientHello on the HTTP port) or answer
 * itself without prepd's headers or a log line (HTTP/0.9, a version that
 * is not 1.x) is answered here and closed; anything else goes to
 * libmicrohttpd. With nothing to judge yet, k waits in Q_OWN under the
 * head deadline and is looked at again when more comes. hup: the client
 * has stopped sending. */
static void first_look(struct worker *w, struct conn *k, bool hup)
{
	char buf[NET_SNIFF_BYTES];
	ssize_t n = recv(k->fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
		conn_close_own(k);   /* gone before it said anything */
		return;
	}
	struct sniff sn;
	sniff_first_bytes(buf, n < 0 ? 0 : (size_t)n, sizeof buf, k->l == L_HTTPS, &sn);
	if (sn.verdict == SNIFF_MORE && !hup) {
		if (!k->hs_wait && !own_wait(w, k))
			hand_over(w, k);
		return;
	}
	/* A partial opening and then the end of the stream: libmicrohttpd
	 * sees both and closes it its own way. */
	if (sn.verdict == SNIFF_MORE || sn.verdict == SNIFF_PASS) {
		hand_over_when_due(w, k);
		return;
	}
	unsigned status = sniff_status(sn.verdict);
	const struct snap *s = snap_current();
	bool head = sn.method_len == 4 && !memcmp(sn.method, "HEAD", 4);
	char msg[HTTP_RAW_REFUSAL_BYTES];
	uint64_t body = 0;
	size_t len = http_raw_refusal(msg, sizeof msg, s, status, sniff_reason(sn.verdict), head, &body);
	w->t.opening[sn.verdict]++;
	record_opening(k, s, &sn, status, body);
	send_and_close(k, msg, len);
}

static void proxy_bad(struct worker *w, struct conn *k, const char *why)
{
	w->t.proxy_bad++;
	w->t.proxy_bad_why = why;
	reqrec_addr_format(&k->peer, w->t.proxy_bad_peer, sizeof w->t.proxy_bad_peer);
	shield_count(shield, SHIELD_C_PROXY_BAD, 1);
	conn_close_own(k);
}

/* A PROXY wait is readable: take the header when it is all there. It is
 * peeked first and then read to its exact length, so the client's own
 * bytes after it (TLS or HTTP) stay for first_look() and libmicrohttpd. */
static void proxy_readable(struct worker *w, struct conn *k, bool hup)
{
	uint8_t buf[PROXY_HEADER_MAX_BYTES];
	ssize_t n = recv(k->fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close_own(k);   /* the proxy hung up */
		return;
	}
	size_t used = 0;
	struct reqrec_addr src;
	enum proxy_result r = proxy_header_parse(buf, (size_t)n, proxy_versions, &used, &src);
	if (r == PROXY_MORE && (size_t)n < sizeof buf && !hup)
		return;
	if (r != PROXY_OK) {
		proxy_bad(w, k, "the connection did not start with a PROXY header of the "
			  "version set in [shield] proxy_protocol");
		return;
	}
	if (recv(k->fd, buf, used, MSG_DONTWAIT) != (ssize_t)used) {
		proxy_bad(w, k, "the PROXY header could not be read");
		return;
	}
	k->proxy_wait = false;
	bool named = src.family != 0;
	if (named) {
		/* The connection is the client's now: is it trusted itself (a
		 * CDN behind the balancer, whose header is then believed)? */
		k->addr = src;
		k->trusted = shield_trusted(shield, &src);
	}
	if (count_client(k, named))
		first_look(w, k, hup);
}

/* One of the worker's own sockets (Q_OWN) has news. */
static void own_readable(struct worker *w, struct conn *k, uint32_t events)
{
	bool hup = events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR);
	if (k->proxy_wait)
		proxy_readable(w, k, hup);
	else
		first_look(w, k, hup);
}

static void on_accept(struct worker *w, int l, int fd, const struct sockaddr_storage *ss)
{
	struct conn *k = conn_new(w);
	if (!k) {
		close(fd);
		return;
	}
	k->fd = fd;
	k->l = (uint8_t)l;
	reqrec_addr_set(&k->peer, (const struct sockaddr *)ss);
	proxy_addr_norm(&k->peer);
	k->addr = k->peer;
	k->trusted = shield_trusted(shield, &k->peer);
	w->live[l]++;
	atomic_store_explicit(&w->live_pub[l], w->live[l], memory_order_relaxed);
	if (w->live[l] > daemon_limit) {
		if (!w->full_now) {
			w->full_now = true;
		}
		if (!make_room(w, l)) {
			w->t.refused++;
			shield_count(shield, SHIELD_C_REFUSED_FULL, 1);
			answer_and_close(k, 503, 5);
			return;
		}
	}
	if (proxy_versions && k->trusted) {
		k->proxy_wait = true;
		if (!own_wait(w, k))
			conn_close_own(k);
		return;
	}
	if (count_client(k, false))
		first_look(w, k, false);
}

/* Whether another worker has room on listener l. A count up to one pass
 * old is good enough: the cost of a wrong guess is one eviction. */
static bool other_has_room(const struct worker *w, int l)
{
	for (unsigned i = 0; i < nworkers; i++)
		if (&workers[i] != w && !atomic_load_explicit(&workers[i].gone, memory_order_relaxed) &&
		    atomic_load_explicit(&workers[i].live_pub[l], memory_order_relaxed) < daemon_limit)
			return true;
	return false;
}

/* Whether w should leave listener l's next connections to the others:
 * when it is full and another has room, or when it holds more than
 * another worker by over the slack (limits.h, NET_BALANCE_SLACK). The
 * least loaded worker in its loop never leaves them, so one always
 * accepts; a worker out of its loop (gone) takes none. The
 * others' counts are stored at each accept and each pass: one may be a
 * pass old, and only closes make it so. */
static bool leave_to_others(const struct worker *w, int l)
{
	if (w->live[l] >= daemon_limit)
		return other_has_room(w, l);
	for (unsigned i = 0; i < nworkers; i++) {
		if (&workers[i] == w || atomic_load_explicit(&workers[i].gone, memory_order_relaxed))
			continue;
		unsigned o = atomic_load_explicit(&workers[i].live_pub[l], memory_order_relaxed);
		if (w->live[l] > o + NET_BALANCE_SLACK + o / NET_BALANCE_SHARE)
			return true;
	}
	return false;
}

/* Wakes the other workers to look at their paused listeners again at
 * the end of their next pass. */
static void nudge_others(const struct worker *w)
{
	static const uint64_t one = 1;
	for (unsigned i = 0; i < nworkers; i++)
		if (&workers[i] != w && workers[i].nudge > 0 &&
		    write(workers[i].nudge, &one, sizeof one) < 0 && errno != EAGAIN)
			log_warn("server worker=%u cannot-nudge error=\"%m\"", w->id);
}

/* Watches listener l's socket again. */
static void resume_accepting(struct worker *w, int l)
{
	if (!w->paused[l])
		return;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &listen_tag[l] };
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, listen_fd[l], &ev) && errno != EEXIST)
		return;   /* tried again at the end of the next pass */
	w->paused[l] = false;
	atomic_fetch_add(&watching[l], 1);
}

/* Leaves listener l's socket to the other workers, unless w is the last
 * watching it: then w keeps it, and the paused ones are nudged to look
 * again (the caller leaves the connection in the backlog for them). */
static void step_aside(struct worker *w, int l)
{
	if (w->paused[l])
		return;
	unsigned n = atomic_load(&watching[l]);
	while (n > 1)
		if (atomic_compare_exchange_weak(&watching[l], &n, n - 1)) {
			epoll_ctl(w->ep, EPOLL_CTL_DEL, listen_fd[l], NULL);
			w->paused[l] = true;
			return;
		}
	nudge_others(w);
}

static void worker_accept(struct worker *w, int l)
{
	for (unsigned i = 0; i < NET_ACCEPT_BATCH; i++) {
		/* The workers share the listening socket but not their limits,
		 * and the kernel does not share the accepts out evenly: a full
		 * worker leaves new connections to one with room rather than
		 * evicting its own (make_room()), and a worker ahead of the
		 * others leaves them to the least loaded, until it is not. */
		if (leave_to_others(w, l)) {
			step_aside(w, l);
			return;
		}
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		int fd = accept4(listen_fd[l], (struct sockaddr *)&ss, &len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			on_accept(w, l, fd, &ss);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE) {
			/* Out of descriptors: shed a slow or idle connection so the
			 * next accept can succeed, and say so with the limit. */
			w->full_now = true;
			if (!make_room(w, l))
				w->t.refused++;
		}
		return;
	}
}

/* Closes what is past its deadline, each list from its oldest. */
static void expire(struct worker *w, uint64_t now)
{
	for (int l = 0; l < L_COUNT; l++) {
		struct conn *k;
		while ((k = w->q[l][Q_OWN].head) && now - k->since >= header_timeout_ns) {
			w->t.header_timeouts++;
			shield_count(shield, SHIELD_C_HEADER_TIMEOUT, 1);
			conn_close_own(k);
		}
		while ((k = w->q[l][Q_HEAD].head) && now - k->since >= header_timeout_ns) {
			w->t.header_timeouts++;
			shield_count(shield, SHIELD_C_HEADER_TIMEOUT, 1);
			conn_shut(k);
		}
		while ((k = w->q[l][Q_IDLE].head) && now - k->since >= idle_timeout_ns) {
			if (k->uri_seen) {
				w->t.header_timeouts++;
				shield_count(shield, SHIELD_C_HEADER_TIMEOUT, 1);
			}
			conn_shut(k);
		}
	}
}

/* Milliseconds until the next deadline, at most cap. */
static int next_deadline_ms(struct worker *w, uint64_t now, int cap)
{
	uint64_t best = (uint64_t)cap * 1000000u;
	for (int l = 0; l < L_COUNT; l++)
		for (int q = 0; q < Q_COUNT; q++) {
			const struct conn *k = w->q[l][q].head;
			if (!k)
				continue;
			uint64_t due = k->since + (q == Q_IDLE ? idle_timeout_ns : header_timeout_ns);
			uint64_t wait = due > now ? due - now : 0;
			if (wait < best)
				best = wait;
		}
	return (int)((best + 999999u) / 1000000u);
}

/* X-Forwarded-For lines, in order; the last SHIELD_XFF_LINES_MAX of them
 * (a proxy appends to the last). */
struct xff_lines {
	const char *line[SHIELD_XFF_LINES_MAX];
	size_t len[SHIELD_XFF_LINES_MAX];
	unsigned n;
};

static enum MHD_Result xff_line(void *cls, enum MHD_ValueKind kind, const char *key,
				size_t key_size, const char *value, size_t value_size)
{
	(void)kind;
	struct xff_lines *x = cls;
	if (key_size != sizeof "X-Forwarded-For" - 1 || strcasecmp(key, "X-Forwarded-For") || !value)
		return MHD_YES;
	if (x->n == SHIELD_XFF_LINES_MAX) {
		memmove(x->line, x->line + 1, sizeof x->line[0] * (SHIELD_XFF_LINES_MAX - 1));
		memmove(x->len, x->len + 1, sizeof x->len[0] * (SHIELD_XFF_LINES_MAX - 1));
		x->n--;
	}
	x->line[x->n] = value;
	x->len[x->n++] = value_size;
	return MHD_YES;
}

/* The real client of a request on k: the address a trusted proxy (the
 * connection's client, so a balancer's PROXY header can name a CDN that
 * is trusted in turn) names in the configured header. */
static struct reqrec_addr real_client(struct conn *k, struct MHD_Connection *c, bool *via)
{
	*via = false;
	const struct shield_settings *ss = shield_settings(shield);
	if (!k->trusted || ss->client_header == SHIELD_HEADER_NONE)
		return k->addr;
	struct reqrec_addr a;
	if (ss->client_header == SHIELD_HEADER_CF) {
		const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "CF-Connecting-IP");
		if (v && proxy_addr_parse(v, strlen(v), &a)) {
			a.port = 0;
			*via = true;
			return a;
		}
		return k->addr;
	}
	struct xff_lines x = { .n = 0 };
	MHD_get_connection_values_n(c, MHD_HEADER_KIND, xff_line, &x);
	if (x.n && proxy_xff_client(x.line, x.len, x.n, shield_trusted_nets(shield), &a)) {
		*via = true;
		return a;
	}
	return k->addr;
}

/* The request path: libmicrohttpd's callbacks for the public listeners
 * go through these, which keep the deadlines and apply the shield, and
 * then call server/http.c's. */

static void *worker_on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	calls_seen++;
	struct conn *k = conn_of(c);
	if (k) {
		k->uri_seen = true;
		k->calls = 0;
		k->answered = false;
		k->via_header = false;
		k->dec = (struct shield_decision){ SHIELD_PASS, 0 };
		k->client = k->addr;
	}
	return http_on_uri(cls, uri, c);
}

/* Answers a request the shield refused with 429 and Retry-After, and
 * gives the access log its record (server/http.c never saw it). */
static enum MHD_Result refuse_429(struct MHD_Connection *c, struct conn *k, const char *url,
				  const char *method, const char *version)
{
	static const char body[] = "429 Too Many Requests\n";
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	char retry[16];
	snprintf(retry, sizeof retry, "%u", k->dec.retry_after ? k->dec.retry_after : 1);
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry) != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				    "text/plain; charset=utf-8") != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES ||
	    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") != MHD_YES ||
	    (k->l == L_HTTPS && the_cfg->tls.hsts &&
	     MHD_add_response_header(resp, "Strict-Transport-Security", the_cfg->tls.hsts) != MHD_YES)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_TOO_MANY_REQUESTS, resp);
	MHD_destroy_response(resp);
	k->answered = true;
	if (reqbus_enabled()) {
		static thread_local struct reqrec rec;
		memset(&rec, 0, offsetof(struct reqrec, method));
		clock_gettime(CLOCK_REALTIME, &rec.when);
		rec.status = MHD_HTTP_TOO_MANY_REQUESTS;
		rec.bytes = strcmp(method, MHD_HTTP_METHOD_HEAD) ? sizeof body - 1 : 0;
		rec.listener = lrec[k->l];
		if (k->l == L_HTTPS)
			rec.flags |= REQREC_TLS;
		rec.client = k->client;
		rec.peer = k->peer;
		reqrec_set_field(rec.method, sizeof rec.method, method, strlen(method));
		reqrec_set_field(rec.proto, sizeof rec.proto, version, strlen(version));
		rec.label[0] = '\0';
		reqrec_set_target(&rec, url);
		const char *ua = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_USER_AGENT);
		const char *ref = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_REFERER);
		reqrec_set_field(rec.ua, sizeof rec.ua, ua, ua ? strlen(ua) : 0);
		reqrec_set_field(rec.referer, sizeof rec.referer, ref, ref ? strlen(ref) : 0);
		rec.fwd[0] = '\0';
		reqbus_put(&rec);
	}
	return ret;
}

static enum MHD_Result worker_on_request(void *cls, struct MHD_Connection *c, const char *url,
					 const char *method, const char *version,
					 const char *upload_data, size_t *upload_size,
					 void **req_cls)
{
	calls_seen++;
	struct conn *k = conn_of(c);
	if (!k)
		return http_on_request(cls, c, url, method, version, upload_data, upload_size, req_cls);
	if (k->calls++ == 0) {
		/* The head is complete: no deadline while it is answered. */
		q_unlink(k->w, k);
		k->client = real_client(k, c, &k->via_header);
		k->dec = shield_request(shield, &k->client, k->via_header, now_ns());
	}
	switch (k->dec.verdict) {
	case SHIELD_PASS:
		break;
	case SHIELD_DROP:
		return MHD_NO;
	case SHIELD_REFUSE:
		/* The answer goes on the last call, after any body, so that
		 * libmicrohttpd 0.9.75 keeps the connection (server/mhdcall.h):
		 * a CDN's connection carries other visitors. */
		if (*upload_size) {
			*upload_size = 0;
			return MHD_YES;
		}
		if (k->calls == 1 || k->answered)
			return MHD_YES;
		return refuse_429(c, k, url, method, version);
	}
	return http_on_request(cls, c, url, method, version, upload_data, upload_size, req_cls);
}

static void worker_on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
				enum MHD_RequestTerminationCode toe)
{
	calls_seen++;
	http_on_completed(cls, c, req_cls, toe);
	struct conn *k = conn_of(c);
	if (!k || k->shut)
		return;
	switch (tlsio_answer_done(k->io)) {
	case TLSIO_SENT:
		break;
	case TLSIO_PENDING:
		/* The socket is full: the rest goes as it empties
		 * (flush_waiting()). */
		flush_add(k->w, k);
		break;
	case TLSIO_FAILED:
		conn_shut(k);
		return;
	}
	/* Between requests: the next head must come within the idle timeout. */
	k->uri_seen = false;
	k->calls = 0;
	k->client = k->addr;
	q_append(k->w, k, Q_IDLE, now_ns());
}

void worker_body_follows(struct MHD_Connection *c, uint64_t body)
{
	struct conn *k = conn_of(c);
	if (k && !tlsio_cork(k->io, body))
		tlsio_hold_next(k->io);
}

/* Sends the last bytes of answers that found their socket full
 * (worker_on_completed()); a socket that gets room again makes its
 * shard's epoll descriptor readable, so the pass after comes soon. */
static void flush_waiting(struct worker *w)
{
	struct conn *k = w->flushing, *next;
	for (; k; k = next) {
		next = k->fnext;
		switch (tlsio_flush(k->io)) {
		case TLSIO_PENDING:
			break;
		case TLSIO_SENT:
			flush_del(w, k);
			break;
		case TLSIO_FAILED:
			flush_del(w, k);
			conn_shut(k);
			break;
		}
	}
}

void worker_request_client(struct MHD_Connection *c, struct reqrec_addr *client,
			   struct reqrec_addr *peer)
{
	struct conn *k = conn_of(c);
	if (k) {
		*client = k->client;
		*peer = k->peer;
		return;
	}
	const union MHD_ConnectionInfo *ai =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	reqrec_addr_set(client, ai ? ai->client_addr : NULL);
	*peer = *client;
}

static struct MHD_Daemon *start_daemon(const struct config *cfg, int l,
				       unsigned per_daemon_limit, char *err,
				       size_t errsz)
{
	/* prepd accepts the connections itself (worker_accept) and hands them
	 * over with MHD_add_connection(): it must read a PROXY header first
	 * and never leave a client waiting in the accept queue at the limit. */
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET;
	if (l == L_HTTPS)
		flags |= MHD_USE_TLS;
	struct MHD_OptionItem opts[16];
	unsigned n = 0;
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT, per_daemon_limit, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT, cfg->server.conn_timeout, NULL };
	/* The pool holds the request head and the answer's headers; its size
	 * is what server/limits.h explains (NET_CONN_MEMORY_BYTES). */
	_Static_assert(NET_CONN_MEMORY_BYTES <= NET_MHD_POOL_MALLOC_MAX,
		       "a larger pool is mmap()ed and munmap()ed for every connection");
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
	/* The shield's options come after the array, so they take the place
	 * of the URI and completion callbacks given there: the wrappers call
	 * those (server/http.c) and keep the head deadlines. */
	struct MHD_Daemon *d = MHD_start_daemon(flags, 0, NULL, NULL,
						worker_on_request, NULL,
						MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
						MHD_OPTION_ARRAY, opts,
						MHD_OPTION_NOTIFY_CONNECTION, conn_notify, NULL,
						MHD_OPTION_URI_LOG_CALLBACK, worker_on_uri,
						HTTP_LISTENER_CLS(lrec[l]),
						MHD_OPTION_NOTIFY_COMPLETED, worker_on_completed, NULL,
						MHD_OPTION_END);
	if (!d) {
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

/* The worker's summary lines, each at most once every NET_WARN_INTERVAL_NS
 * (never one per connection: under attack they would come by the
 * thousand), with what happened since the last one. */
static void report(struct worker *w)
{
	/* The shards' counts (hand_over(), conn_free()) are libmicrohttpd's
	 * connections, without asking each daemon every pass. */
	unsigned total = w->nown;
	for (int l = 0; l < L_COUNT; l++)
		for (unsigned i = 0; i < nshards; i++)
			total += w->in_shard[l][i];
	atomic_store_explicit(&w->open, total, memory_order_relaxed);
	uint64_t now = now_ns();
	struct tally *t = &w->t;
	if (w->full_now && (!w->last_full_warning || now - w->last_full_warning >= NET_WARN_INTERVAL_NS)) {
		w->last_full_warning = now;
		log_warn("server connection-limit-reached worker=%u open=%u limit_per_worker=%u "
			 "evicted_idle=%u evicted_slow=%u refused=%u "
			 "action=\"idle and slow connections were closed to make room%s; if real "
			 "clients fill it, raise [server] connection_limit (and the open-files "
			 "limit) or add capacity\"",
			 w->id, daemon_limit, daemon_limit, t->evicted_idle, t->evicted_slow,
			 t->refused, t->refused ? ", and new ones answered 503 when none was left" : "");
		w->full_now = false;
		t->evicted_idle = t->evicted_slow = t->refused = 0;
	}
	if (t->header_timeouts && (!w->last_timeout_warning ||
				   now - w->last_timeout_warning >= NET_WARN_INTERVAL_NS)) {
		w->last_timeout_warning = now;
		log_info("server header-timeout worker=%u closed=%u seconds=%u "
			 "action=\"clients that did not send a whole request head in time were "
			 "closed (slowloris or stalled links); nothing to do unless real clients "
			 "are on very slow links: raise [server] header_timeout\"",
			 w->id, t->header_timeouts, the_cfg->server.header_timeout);
		t->header_timeouts = 0;
	}
	if (t->proxy_bad && (!w->last_proxy_warning ||
			     now - w->last_proxy_warning >= NET_WARN_INTERVAL_NS)) {
		w->last_proxy_warning = now;
		log_warn("server proxy-header-bad worker=%u closed=%u peer=%s reason=\"%s\" "
			 "action=\"make the proxy at that address send the PROXY protocol "
			 "(HAProxy: send-proxy or send-proxy-v2), or change [shield] "
			 "proxy_protocol or trusted_proxies\"",
			 w->id, t->proxy_bad, t->proxy_bad_peer, t->proxy_bad_why);
		t->proxy_bad = 0;
	}
	unsigned opening = 0;
	for (unsigned v = 0; v <= SNIFF_VERSION_UNSUPPORTED; v++)
		opening += t->opening[v];
	if (opening && (!w->last_opening_warning ||
			now - w->last_opening_warning >= NET_WARN_INTERVAL_NS)) {
		w->last_opening_warning = now;
		log_info("server opening-refused worker=%u tls_on_http=%u http_on_tls=%u "
			 "not_http=%u request_line=%u version=%u "
			 "action=\"connections that opened with a TLS handshake on the HTTP port, plain "
			 "HTTP on the HTTPS port, bytes that are not HTTP or a request line without "
			 "a target or an HTTP/1.x version were answered 400 (505 for the version) "
			 "and closed; nothing to do unless tls_on_http keeps coming: then a link "
			 "or a proxy says https:// with the HTTP port\"",
			 w->id, t->opening[SNIFF_TLS_ON_HTTP], t->opening[SNIFF_HTTP_ON_TLS],
			 t->opening[SNIFF_NOT_HTTP],
			 t->opening[SNIFF_NO_TARGET] + t->opening[SNIFF_HTTP09] +
			 t->opening[SNIFF_VERSION_BAD],
			 t->opening[SNIFF_VERSION_UNSUPPORTED]);
		memset(t->opening, 0, sizeof t->opening);
	}
}

/* Stops taking new connections: the listening sockets leave this
 * worker's epoll (main closes them). Connections accepted already are
 * drain_idle()'s. */
static void stop_accepting(struct worker *w)
{
	for (int l = 0; l < L_COUNT; l++)
		if (listen_fd[l] >= 0)
			epoll_ctl(w->ep, EPOLL_CTL_DEL, listen_fd[l], NULL);
}

/* Closes the connections prepd still owns (their first bytes or PROXY
 * header never came). */
static void close_own_all(struct worker *w)
{
	for (int l = 0; l < L_COUNT; l++)
		while (w->q[l][Q_OWN].head)
			conn_close_own(w->q[l][Q_OWN].head);
}

/* Runs shard daemon d and says whether it stalled: an HTTPS shard whose
 * run moved no byte and made no callback. libmicrohttpd 0.9.75 keeps a
 * TLS connection in the middle of its handshake on its list of ready
 * connections after the socket ran dry (MHD_run_tls_handshake_() does
 * not clear the read-ready state its other reads clear on EAGAIN), so
 * MHD_get_timeout() says 0 until the client answers, and a worker that
 * believed it would run the daemon again and again for nothing: every
 * full handshake burnt the client's whole reply time, and a thousand
 * handshakes at once a thousand recv() a pass. A stalled shard is run
 * again when its epoll descriptor says a socket has news, or after
 * NET_TLS_STALL_WAIT_MS; a plain HTTP shard never stalls this way (its
 * reads clear the state), so it is always believed. */
static bool run_shard(struct MHD_Daemon *d, bool https)
{
	uint64_t before = calls_seen + tlsio_moved();
	MHD_run(d);
	return https && calls_seen + tlsio_moved() == before;
}

/* While stopping: what no request of is on its way is closed, so a stop
 * waits only for requests, not for the keep-alive connections a CDN or a
 * browser holds open between them (which would hold every stop for the
 * whole grace). A keep-alive connection between requests with nothing in
 * its socket is shut at once (libmicrohttpd sees the end of the stream
 * and closes it; one whose next request is arriving is left to be
 * answered); one accepted before the stop whose first bytes have not come
 * gets NET_DRAIN_FIRST_BYTES_MS from its accept. Returns how many of
 * prepd's own are still waiting. */
static unsigned drain_idle(struct worker *w, uint64_t now)
{
	const uint64_t first_ns = (uint64_t)NET_DRAIN_FIRST_BYTES_MS * 1000000u;
	for (int l = 0; l < L_COUNT; l++) {
		struct conn *k, *next;
		for (k = w->q[l][Q_IDLE].head; k; k = next) {
			next = k->next;
			char b;
			if (!k->uri_seen && !k->flushing &&
			    recv(k->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
			    (errno == EAGAIN || errno == EWOULDBLOCK))
				conn_shut(k);
		}
		/* Oldest first; one whose ClientHello came and that waits
		 * for the handshake budget is handed over, not closed. */
		for (k = w->q[l][Q_OWN].head; k && now - k->since >= first_ns; k = next) {
			next = k->next;
			if (!k->hs_wait)
				conn_close_own(k);
		}
	}
	return w->nown;
}

/* The own epoll's news: the sockets prepd owns first, then the
 * listening sockets. An accept at the limit may close another of prepd's
 * own (make_room()) and the next accept reuse its struct conn, so an
 * event of the same batch still to come would find it freed or reused:
 * every event for a conn is handled before any accept. A conn's own
 * event frees at most that conn. */
static void worker_events(struct worker *w)
{
	struct epoll_event ev[64];
	int n = epoll_wait(w->ep, ev, 64, 0);
	bool listener[L_COUNT] = { false };
	for (int i = 0; i < n; i++) {
		char *tag = ev[i].data.ptr;
		if (tag >= listen_tag && tag < listen_tag + L_COUNT) {
			listener[tag - listen_tag] = true;
		} else if (tag == &nudge_tag) {
			uint64_t v;
			if (read(w->nudge, &v, sizeof v) < 0 && errno != EAGAIN)
				log_warn("server worker=%u nudge-read error=\"%m\"", w->id);
		} else
			own_readable(w, ev[i].data.ptr, ev[i].events);
	}
	for (int l = 0; l < L_COUNT; l++)
		if (listener[l])
			worker_accept(w, l);
}

/* Out of the loop (stopping, a failed poll, or never in it): the others
 * must not leave new connections to this worker (leave_to_others()), nor
 * count it as watching a listening socket. */
static void leave_loop(struct worker *w)
{
	atomic_store(&w->gone, true);
	for (int l = 0; l < L_COUNT; l++)
		if (listen_fd[l] >= 0 && !w->paused[l]) {
			w->paused[l] = true;
			atomic_fetch_sub(&watching[l], 1);
		}
	nudge_others(w);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	if (!snap_reader_register()) {
		log_error("server worker=%u cannot-register action=\"lower [server] threads\"", w->id);
		leave_loop(w);
		return NULL;
	}
	if (!reqbus_attach_thread())
		log_warn("alog worker=%u no-ring action=\"lower [server] threads; this worker's requests are not logged\"",
			 w->id);

	/* Every shard daemon of this worker (dd, with its listener and shard
	 * in gl/gs), and each pass the ones holding connections (act): an
	 * empty shard has nothing to poll or time out, so a pass costs what
	 * is in use, not NET_SHARDS x listeners poll entries and timeouts. */
	struct pollfd pfd[L_COUNT * NET_SHARDS + 2];
	struct MHD_Daemon *dd[L_COUNT * NET_SHARDS];
	int efd[L_COUNT * NET_SHARDS];
	uint8_t gl[L_COUNT * NET_SHARDS], gs[L_COUNT * NET_SHARDS];
	unsigned act[L_COUNT * NET_SHARDS];
	bool due[L_COUNT * NET_SHARDS];
	bool stalled[L_COUNT * NET_SHARDS] = { false };   /* run_shard() */
	unsigned nd = 0, next = 0;
	for (int l = 0; l < L_COUNT; l++)
		for (unsigned i = 0; i < nshards; i++) {
			if (!w->d[l][i])
				continue;
			const union MHD_DaemonInfo *di =
				MHD_get_daemon_info(w->d[l][i], MHD_DAEMON_INFO_EPOLL_FD);
			efd[nd] = di->epoll_fd;
			gl[nd] = (uint8_t)l;
			gs[nd] = (uint8_t)i;
			dd[nd++] = w->d[l][i];
		}
	bool quiesced = false;

	for (;;) {
		int timeout = 1000;
		unsigned na = 0;
		/* Before the shards in use are listed, so a shard given new
		 * handshakes is polled and run in this pass. */
		hand_over_waiting(w);
		for (unsigned g = 0; g < nd; g++) {
			if (!w->in_shard[gl[g]][gs[g]]) {
				stalled[g] = false;
				shard_ran(w, gl[g], gs[g]);
				continue;
			}
			MHD_UNSIGNED_LONG_LONG t;
			bool has = MHD_get_timeout(dd[g], &t) == MHD_YES;
			if (has && t == 0 && stalled[g])
				t = NET_TLS_STALL_WAIT_MS;
			due[na] = has && t == 0;
			if (has && t < (MHD_UNSIGNED_LONG_LONG)timeout)
				timeout = (int)t;
			pfd[na].fd = efd[g];
			pfd[na].events = POLLIN;
			act[na++] = g;
		}
		pfd[na].fd = w->ep;
		pfd[na].events = POLLIN;
		pfd[na + 1].fd = wake_fd;
		pfd[na + 1].events = POLLIN;
		timeout = next_deadline_ms(w, now_ns(), timeout);
		if ((w->flushing || w->hs_head) && timeout > (int)NET_TLS_STALL_WAIT_MS)
			timeout = (int)NET_TLS_STALL_WAIT_MS;
		if (quiesced)
			timeout = timeout > 50 ? 50 : timeout;
		int pr = poll(pfd, na + (quiesced ? 1 : 2), timeout);
		if (pr < 0 && errno != EINTR) {
			log_error("server worker=%u poll-failed error=\"%m\"", w->id);
			break;
		}
		/* Online first: first_look() answers with the current cut. */
		snap_reader_online();
		if (pr > 0 && (pfd[na].revents & POLLIN))
			worker_events(w);
		/* One shard a pass, the next ready one after the last run
		 * (limits.h, NET_SHARDS); with no shard ready, each in use is
		 * run for its timeouts. A shard worker_events() just filled
		 * is polled from the next pass on. */
		unsigned ran = 0, ran_a = na;
		for (unsigned j = 0; j < na && !ran; j++) {
			unsigned a = (next + j) % na;
			if (due[a] || (pr > 0 && (pfd[a].revents & POLLIN))) {
				unsigned g = act[a];
				stalled[g] = run_shard(dd[g], gl[g] == L_HTTPS);
				shard_ran(w, gl[g], gs[g]);
				next = a + 1;
				ran = 1;
				ran_a = a;
			}
		}
		if (!ran) {
			for (unsigned j = 0; j < na; j++) {
				unsigned g = act[j];
				stalled[g] = run_shard(dd[g], gl[g] == L_HTTPS);
				shard_ran(w, gl[g], gs[g]);
			}
		} else if (w->hs_pending) {
			/* A shard given new handshakes runs in the next pass, not
			 * at its turn: with many shards busy, the budget would
			 * otherwise let new visitors in 8 a round of them. */
			for (unsigned a = 0; a < na; a++) {
				unsigned g = act[a];
				if (a != ran_a && gl[g] == L_HTTPS && w->hs_fresh[gs[g]]) {
					stalled[g] = run_shard(dd[g], true);
					shard_ran(w, L_HTTPS, gs[g]);
				}
			}
		}
		snap_reader_offline();
		flush_waiting(w);
		expire(w, now_ns());
		for (int l = 0; l < L_COUNT; l++) {
			if (listen_fd[l] < 0)
				continue;
			atomic_store_explicit(&w->live_pub[l], w->live[l], memory_order_relaxed);
			if (w->paused[l] && !quiesced && !leave_to_others(w, l))
				resume_accepting(w, l);
		}
		report(w);

		if (atomic_load(&draining)) {
			if (!quiesced) {
				stop_accepting(w);
				quiesced = true;
			}
			uint64_t now = now_ns();
			unsigned open = drain_idle(w, now);
			for (unsigned i = 0; i < nd; i++)
				open += daemon_connections(dd[i]);
			if (open == 0 || now >= atomic_load(&drain_deadline_ns))
				break;
		}
	}
	leave_loop(w);
	/* Past the grace: prepd's own waits are closed here, libmicrohttpd's
	 * connections by MHD_stop_daemon(), which says so (conn_notify). */
	close_own_all(w);
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
	/* prepd's limit is per worker and listener; each listener has one
	 * daemon per worker and the workers share its accepts. */
	unsigned per_daemon = (limit + nworkers - 1) / nworkers;
	daemon_limit = per_daemon;
	/* libmicrohttpd counts a per-address limit per daemon: one shard
	 * keeps [server] per_ip_connection_limit what it says. */
	nshards = cfg->server.per_ip_limit ? 1 : NET_SHARDS;

	the_cfg = cfg;
	shield = shield_new(&cfg->shield, err, errsz);
	if (!shield) {
		for (int l = 0; l < L_COUNT; l++)
			if (listen_fd[l] >= 0)
				close(listen_fd[l]);
		return RC_NOMEM;
	}
	static const unsigned versions[] = {
		[SHIELD_PP_OFF] = 0, [SHIELD_PP_V1] = PROXY_V1, [SHIELD_PP_V2] = PROXY_V2,
		[SHIELD_PP_ANY] = PROXY_V1 | PROXY_V2,
	};
	proxy_versions = versions[cfg->shield.proxy_protocol];
	header_timeout_ns = (uint64_t)cfg->server.header_timeout * 1000000000u;
	idle_timeout_ns = (uint64_t)cfg->server.conn_timeout * 1000000000u;

	wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	workers = calloc(nworkers, sizeof *workers);
	if (wake_fd < 0 || !workers) {
		snprintf(err, errsz, "out of memory starting the workers");
		return RC_NOMEM;
	}
	for (unsigned i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];
		w->id = i;
		w->ep = epoll_create1(EPOLL_CLOEXEC);
		w->nudge = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		struct epoll_event nev = { .events = EPOLLIN, .data.ptr = &nudge_tag };
		if (w->ep < 0 || w->nudge < 0 || epoll_ctl(w->ep, EPOLL_CTL_ADD, w->nudge, &nev)) {
			snprintf(err, errsz, "cannot make an epoll instance: %s", strerror(errno));
			workers_stop(0);
			return RC_IO;
		}
		for (int l = 0; l < L_COUNT; l++) {
			if (listen_fd[l] < 0)
				continue;
			/* libmicrohttpd's own limit has room for connections prepd
			 * shut down that it has not yet reaped (make_room); each
			 * shard may take the worker's whole share. */
			for (unsigned k = 0; k < nshards; k++) {
				w->d[l][k] = start_daemon(cfg, l, per_daemon + NET_ACCEPT_BATCH, err, errsz);
				if (!w->d[l][k]) {
					workers_stop(0);
					return RC_IO;
				}
			}
			struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &listen_tag[l] };
			if (epoll_ctl(w->ep, EPOLL_CTL_ADD, listen_fd[l], &ev)) {
				snprintf(err, errsz, "cannot watch the %s socket: %s", lname[l], strerror(errno));
				workers_stop(0);
				return RC_IO;
			}
			atomic_fetch_add(&watching[l], 1);
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
			log_info("server listen proto=%s addr=%s workers=%u shards=%u connection_limit=%u timeout=%us "
				 "header_timeout=%us proxy_protocol=%s trusted_proxies=%u",
				 lname[l], bound[l], nworkers, nshards, per_daemon * nworkers, cfg->server.conn_timeout,
				 cfg->server.header_timeout,
				 proxy_versions == (PROXY_V1 | PROXY_V2) ? "any" : proxy_versions == PROXY_V1 ? "v1" :
				 proxy_versions == PROXY_V2 ? "v2" : "off", shield_trusted_nets(shield)->n);
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
	for (unsigned i = 0; i < nworkers && workers; i++) {
		struct worker *w = &workers[i];
		/* Closes the connections left, each told to conn_notify(). */
		for (int l = 0; l < L_COUNT; l++)
			for (unsigned k = 0; k < NET_SHARDS; k++)
				if (w->d[l][k])
					MHD_stop_daemon(w->d[l][k]);
		if (!w->started) {
			stop_accepting(w);
			close_own_all(w);
		}
		if (w->ep > 0)
			close(w->ep);
		if (w->nudge > 0)
			close(w->nudge);
		while (w->free_conns) {
			struct conn *k = w->free_conns;
			w->free_conns = k->next;
			free(k);
		}
	}
	shield_free(shield);
	shield = NULL;
	for (int l = 0; l < L_COUNT; l++) {
		if (listen_fd[l] >= 0)
			close(listen_fd[l]);
		listen_fd[l] = -1;
	}
	if (wake_fd >= 0)
		close(wake_fd);
	wake_fd = -1;
	for (int l = 0; l < L_COUNT; l++)
		atomic_store(&watching[l], 0);
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

unsigned workers_count(void)
{
	return workers ? nworkers : 0;
}

unsigned worker_connections(unsigned i, bool https)
{
	if (!workers || i >= nworkers)
		return 0;
	return atomic_load_explicit(&workers[i].live_pub[https ? L_HTTPS : L_HTTP],
				    memory_order_relaxed);
}

struct shield *workers_shield(void)
{
	return shield;
}
