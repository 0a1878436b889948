/* CDN purge: after every publish and rollback, each [purge NAME] target
 * is told what the new cut invalidates, from a thread of its own.
 *
 *   publish event ─► purge_on_publish() (the "purge" subscriber's thread)
 *                    or fleet.c, once the fleet serves the cut
 *                 ─► purge_cut() ─► each target's pending job (merged)
 *                                   └─► the target's thread: the requests
 *                                       (libcurl), retries with back-off
 *
 * A target's thread works on one job at a time. A newer cut that comes
 * while a job waits to be retried supersedes it: the new job covers the
 * newer cut and the union of both cuts' paths (a cut, tag or everything
 * purge covers the older one by itself), and starts its attempts afresh.
 * Each attempt is logged (purge ok|retry|failed target= cut= paths= ms=).
 * Nothing here delays the ingest thread or a request. */
#ifndef PREPD_EDGE_PURGE_H
#define PREPD_EDGE_PURGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "edge/settings.h"
#include "ingest/event.h"
#include "server/rc.h"

struct purge;

/* Makes the purge of every target in ps (borrowed: it must outlive the
 * purge; the start-up config does) and reads their secrets now, before
 * privileges are dropped. No thread yet. *out is NULL when ps has no
 * target. RC_OK; RC_IO (a secret file cannot be read, is empty or too
 * long: PURGE_SECRET_MAX_BYTES; cloudfront's has no ':'), RC_NOMEM, with
 * a sentence in err that names the target, never the secret. */
enum rc purge_new(const struct purge_settings *ps, struct purge **out, char *err, size_t errsz);

/* Starts one thread per target. RC_NOMEM when a thread cannot start
 * (those started are stopped). */
enum rc purge_start(struct purge *p);

/* Queues the purge of ev's cut on every target and returns at once
 * (ev is borrowed; what is needed is copied). Thread-safe. */
void purge_cut(struct purge *p, const struct event *ev);

/* An event_subscribe() callback: purge_cut(ctx, ev). For a prepd without
 * [fleet] peers. */
void purge_on_publish(const struct event *ev, void *ctx);

/* One target's state, for /status and /metrics. */
struct purge_state {
	char name[PURGE_NAME_BYTES];
	const char *type;          /* "varnish", ... (static) */
	const char *by;            /* "cut", "paths", ... (static) */
	char last_cut[64];         /* the last cut purged, "" before any */
	char attempt_cut[64];      /* the cut of the last attempt */
	time_t last_attempt;       /* 0: none yet */
	time_t last_ok;
	const char *result;        /* "ok", "retrying", "failed", "waiting", "-" */
	long last_status;          /* the last HTTP status, 0: none */
	char last_why[200];        /* why the last attempt did not succeed */
	bool pending;              /* a job waits or is in progress */
	uint64_t purges_ok, purges_failed, attempts, retries, superseded;
};

/* Targets in p (0 for NULL). */
unsigned purge_count(const struct purge *p);

/* Fills out with target i's state. Thread-safe. */
void purge_state(struct purge *p, unsigned i, struct purge_state *out);

/* Stops the threads: a job in progress ends its current attempt (bounded
 * by the target's timeout), no retry is waited for. Then frees p. NULL
 * is a no-op. */
void purge_free(struct purge *p);

#endif
