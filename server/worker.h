/* Request threads. Each worker thread owns one libmicrohttpd daemon per
 * listener (HTTP, HTTPS) in external-epoll mode and drives them with its own
 * poll() and MHD_run(); all daemons of a listener share its socket.
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

#include <stddef.h>

#include "server/config.h"
#include "server/rc.h"

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

#endif
