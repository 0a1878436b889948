/* Request threads. Each worker thread owns up to NET_SHARDS libmicrohttpd
 * daemons per listener (HTTP, HTTPS; server/limits.h says why) in
 * external-epoll mode and drives them with its own poll() and MHD_run(),
 * one ready daemon a pass. The workers share each listener's socket (a full
 * worker leaves it to one with room): a worker accepts a connection
 * itself, reads its PROXY header when a trusted proxy sends one, applies
 * the per-client connection limit, and hands it to a daemon with
 * MHD_add_connection(). It keeps its own table of its
 * connections to give each request head a total deadline and, at the
 * connection limit, to close idle and slow connections to make room
 * (server/worker.c says how).
 *
 * Why not libmicrohttpd's internal threads (0.9.75):
 *  - internal epoll mode stalls when a multiple of 128 connections are
 *    ready at once (MHD_epoll() repeats a blocking epoll_wait after a full
 *    batch of 128 events): 25-5,000 req/s at 128, 256 or 512 clients;
 *  - thread-per-connection uses select(), fails on descriptors >= 1024.
 * Driving MHD_run() ourselves calls MHD_epoll() without blocking, and lets
 * each worker be a snapshot reader (snap_reader_online/offline). */
#ifndef PREPD_WORKER_H
#define PREPD_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "server/config.h"
#include "server/rc.h"
#include "server/reqrec.h"

struct shield;

/* Opens the listeners and starts the workers. On failure returns non-zero
 * and writes what happened and what to do into err; nothing is left
 * running. Not thread-safe; call once. */
enum rc workers_start(const struct config *cfg, char *err, size_t errsz);

/* Stops accepting, lets requests in flight finish for up to grace_ms, then
 * closes every connection and joins the workers. */
void workers_stop(unsigned grace_ms);

/* Open connections across all workers as of each worker's last pass (for
 * logs and the admin status). Thread-safe; never calls into libmicrohttpd. */
unsigned workers_connections(void);

/* How many workers there are, and the connections worker i holds on the
 * HTTP (https false) or HTTPS listener as of its last accept or pass, for
 * the metrics: new connections are shared out so that no worker holds
 * more than another's count o plus NET_BALANCE_SLACK + 1 + o /
 * NET_BALANCE_SHARE (server/limits.h) while they arrive. Thread-safe. */
unsigned workers_count(void);
unsigned worker_connections(unsigned i, bool https);

/* The real client of the request now on connection c (the address a
 * trusted proxy names, else the peer) and its TCP peer, for its request
 * record. Call on the worker thread that serves c, from libmicrohttpd's
 * callbacks (server/http.c at completion). */
void worker_request_client(struct MHD_Connection *c, struct reqrec_addr *client,
			   struct reqrec_addr *peer);

/* The answer just queued on c sends body bytes right after its head (a
 * GET of a non-empty body, not 1xx, 204 or 304): on TLS, a body of up
 * to TLSIO_CORK_BODY_BYTES goes out with its head as one record, a
 * larger one with its head record in one sendmsg() (server/tlsio.h).
 * Call on the worker thread that serves c, after MHD_queue_response()
 * succeeded. */
void worker_body_follows(struct MHD_Connection *c, uint64_t body);

/* The per-client limits and their counters (server/shield.h), for the
 * admin status; NULL before workers_start() and after workers_stop(). */
struct shield *workers_shield(void);

#endif
