/* The publish event: once a cut is published AND its journal line is
 * durable, every subscriber is told what was published and which paths it
 * added, changed and removed. Rollbacks and crash-resumed packages are
 * publications too and emit the same event; the start-up replay of the
 * cut already published before a restart is not, and emits none.
 *
 * Each subscriber runs on a thread of its own with a bounded queue
 * (EVENT_QUEUE_MAX): a slow subscriber never delays the ingest thread, a
 * request thread or another subscriber. When its queue is full the oldest
 * event is dropped and counted (logged from the subscriber's thread).
 *
 *   ingest thread ─ event_emit() ─► queue ─► subscriber thread ─► fn(ev)
 *                                 ─► queue ─► subscriber thread ─► fn(ev)
 *
 * The CDN purge, the fleet view, statistics and metrics subscribe here. */
#ifndef PREPD_EVENT_H
#define PREPD_EVENT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "server/cut.h"
#include "server/rc.h"
#include "server/snap.h"

enum event_kind {
	EVENT_FULL,          /* a full package replaced the site */
	EVENT_INCREMENTAL,   /* a package laid over the cut before it (R7) */
	EVENT_ROLLBACK,      /* an earlier cut republished (prepd rollback) */
};

/* The pipeline's stages a publication's time is split into (the
 * `ingest publish` log line's *_ms fields). */
enum event_stage {
	EVENT_STAGE_VERIFY,   /* hashing and checking the package */
	EVENT_STAGE_STORE,    /* keeping it in the history (fsync) */
	EVENT_STAGE_UNPACK,   /* reading it, hashing and gzipping new entries */
	EVENT_STAGE_BUILD,    /* building the responses */
	EVENT_STAGE_SWAP,     /* the journal line and the pointer swap */
	EVENT_STAGES
};

/* "verify", "store", "unpack", "build", "swap". A static string. */
const char *event_stage_str(enum event_stage stage);

/* One publication. Immutable once emitted and shared by every subscriber:
 * read it, never write it. */
struct event {
	uint64_t seq;            /* its journal line's seq; also cut.seq */
	struct cut cut;          /* the cut now served: label and time */
	enum event_kind kind;
	char source[256];        /* as journaled: "spool:NAME", "pull:URL",
	                          * "upload", "rollback:SEQ", "resume" */
	struct snap_diff paths;  /* against the cut served before it (the
	                          * placeholder before the first package) */
	time_t received;         /* when the package arrived */
	time_t published;        /* when the cut was swapped in */
	bool staged;             /* stage_ns holds the time of each stage
	                          * (a package; not a rollback or a resume) */
	uint64_t stage_ns[EVENT_STAGES];
	uint64_t took_ns;        /* from the start of its pipeline run to
	                          * its journal line being durable */
};

/* "full", "incremental", "rollback". A static string. */
const char *event_kind_str(enum event_kind kind);

/* Registers fn, called once per event in publish order on a thread of its
 * own (started now). name (copied, cut to 31 bytes) names the subscriber
 * in log lines. ev is borrowed for the call: event_acquire() it to keep
 * it. fn must not call back into this module but for event_acquire().
 * Call before ingest_start() (so no event is missed) and not
 * concurrently with event_stop(). RC_LIMIT past EVENT_MAX_SUBSCRIBERS,
 * RC_NOMEM when the thread cannot be started. */
enum rc event_subscribe(const char *name,
			void (*fn)(const struct event *ev, void *ctx),
			void *ctx);

/* A zeroed event with one reference, for the emitter to fill; NULL on
 * out-of-memory. */
struct event *event_new(void);

/* Queues ev for every subscriber and returns at once; takes the caller's
 * reference (dropped at once when nobody subscribes, or after
 * event_stop()). Never blocks on a subscriber. Called by the ingest
 * pipeline only; thread-safe. */
void event_emit(struct event *ev);

/* Takes one more reference on ev, which the caller holds (a subscriber
 * inside fn). Returns ev. Thread-safe. */
const struct event *event_acquire(const struct event *ev);

/* Drops one reference; the last one frees the path lists too. NULL is a
 * no-op. Thread-safe. */
void event_release(const struct event *ev);

/* Events dropped from full queues since start, all subscribers together.
 * Thread-safe. */
uint64_t event_dropped(void);

/* Lets every subscriber finish the events queued for it, joins the
 * threads and forgets the subscribers. Call after the ingest thread has
 * stopped; event_subscribe() may be used again afterwards. */
void event_stop(void);

#endif
