/* The request-record bus: request threads hand one fixed-size record per
 * request (struct reqrec) to a collector thread, which passes it to every
 * sink: the access log (server/alog.c) now, statistics and metrics later.
 *
 *   worker thread --reqbus_put()--> its own ring --> collector --> sinks
 *
 * Each worker owns a single-producer single-consumer ring of
 * REQBUS_RING_BYTES (server/limits.h), holding records packed to the
 * bytes they use (reqrec_pack()). reqbus_put() copies the
 * record into it without a lock, a system call or an allocation: the
 * request path must not wait for a disk or a slow sink. When a ring is
 * full the record is dropped and counted (reqbus_dropped()); the access
 * log reports the count. The collector drains the rings in turn and naps
 * REQBUS_NAP_NS when they are all empty, so sinks run on the collector
 * thread only, one record at a time, never on a request thread.
 *
 * Life cycle (main.c): reqbus_sink_add() for each sink, reqbus_start(),
 * then the workers (each calls reqbus_attach_thread()); at exit the
 * workers stop first, then reqbus_stop() drains what is queued. With no
 * sink the bus never starts and records are not even filled in
 * (reqbus_enabled() is false). */
#ifndef PREPD_REQBUS_H
#define PREPD_REQBUS_H

#include <stdbool.h>
#include <stdint.h>

#include "server/rc.h"
#include "server/reqrec.h"

/* Adds a sink. fn gets each record, on the collector thread; the record
 * is borrowed for the call only. flush (may be NULL) is called on the
 * collector thread after every pass over the rings, records or not (at
 * least every REQBUS_NAP_NS), and once more after the last record at
 * reqbus_stop(): a sink writes out what it buffered and does its periodic
 * work there. name (borrowed, a string literal) and ctx are kept until
 * reqbus_stop(). Call before reqbus_start(); not thread-safe. Returns
 * RC_LIMIT when REQBUS_MAX_SINKS are taken or the bus has started. */
enum rc reqbus_sink_add(const char *name, void (*fn)(const struct reqrec *r, void *ctx),
			void (*flush)(void *ctx), void *ctx);

/* Starts the collector thread when at least one sink was added; with none
 * it does nothing and returns RC_OK. Returns RC_NOMEM when the thread
 * cannot be made. Resets the dropped count. Not thread-safe; call once
 * before the workers start. */
enum rc reqbus_start(void);

/* True while the bus runs with at least one sink: request threads fill
 * and put records only then. Cheap; thread-safe. */
bool reqbus_enabled(void);

/* Gives the calling thread its own ring (allocated here, freed by
 * reqbus_stop()). Call once per request thread before it serves. Returns
 * true when the bus is off (nothing to attach) or the ring is ready;
 * false when all REQBUS_MAX_RINGS are taken or memory ran out, and then
 * this thread's records are not collected. */
bool reqbus_attach_thread(void);

/* Copies r into the calling thread's ring. Never blocks, takes no lock,
 * makes no system call; when the ring is full r is dropped and counted.
 * A no-op when the thread has no ring. */
void reqbus_put(const struct reqrec *r);

/* Records dropped because a ring was full since reqbus_start().
 * Thread-safe. */
uint64_t reqbus_dropped(void);

/* Drains every ring into the sinks, flushes them, joins the collector,
 * frees the rings and forgets the sinks (reqbus_sink_add() may be called
 * again). Call after the request threads have stopped putting records. */
void reqbus_stop(void);

#endif
