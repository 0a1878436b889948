/* The ingest thread: every package, from any source, goes through one
 * pipeline, one package at a time (design.md):
 *
 *   receive ─► verify ─► keep (history, fsync) ─► unpack ─► build ─► publish
 *
 * A package that fails any step is kept in quarantine with a journal line
 * saying why, and the current cut goes on being served. At start-up the
 * last published cut is rebuilt from the history, without the network.
 *
 * Sources: HTTPS/SFTP pull (fetch.h, polled on this thread), the spool
 * folder (inotify) and the admin upload (ingest_submit()).
 *
 * Every publication (not the start-up replay) is announced once its
 * journal line is durable, as a publish event to the subscribers of
 * event.h, each on its own thread. The code is split by concern around
 * one context: see ingest_int.h. */
#ifndef PREPD_INGEST_H
#define PREPD_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "server/cut.h"
#include "ingest/fetch.h"
#include "ingest/settings.h"
#include "server/rc.h"
#include "ingest/unpack.h"
#include "ingest/verify.h"



/* What the admin status and the logs report. A copy; no pointers. */
struct snap;

#define INGEST_REFUSAL_STEPS 8

struct ingest_status {
	struct cut cut;                  /* the cut being served */
	time_t last_attempt;             /* 0: none yet */
	char last_result[160];           /* "published", "quarantined: ..." */
	time_t last_success;
	unsigned failed_in_a_row;        /* attempts (polls or packages) */
	unsigned failed_periods;         /* whole update periods in a row in
	                                  * which no newer cut was published
	                                  * (R13; [ingest] period) */
	time_t next_poll;                /* 0: no pull */
	time_t cut_published;            /* when the cut served was published;
	                                  * 0: the placeholder */
	unsigned period_s;               /* the update period */
	time_t next_cut_due;             /* the end of the current period: a
	                                  * newer cut by then, or it fails */
	uint64_t history_bytes;
	uint64_t free_bytes;
	uint64_t packages;               /* journal lines written since start */
	/* Packages and rollbacks refused since start, by the step that
	 * refused them (ingest_refusal_step()): /metrics. */
	uint64_t refusals[INGEST_REFUSAL_STEPS];
};

/* The steps a refusal is counted under in ingest_status.refusals:
 * "receive", "verify", "keep", "unpack", "check", "publish",
 * "rollback", "other". A static string; NULL past the last. */
const char *ingest_refusal_step(unsigned i);

/* Opens the store, rebuilds and publishes the last published cut from the
 * history (before any listener opens), finishes packages a crash
 * interrupted, runs the start-up package if any (unless it is the package
 * already published), and starts the thread. Registers the built-in
 * publish event subscriber that logs each event ("event publish ...");
 * other subscribers register before this call (event_subscribe()).
 * settings and the strings in it are borrowed for the process's life.
 * Returns non-zero with a sentence in err when the data folder cannot be
 * used or the trust file cannot be loaded. A history that cannot be
 * replayed is logged and the placeholder is served: it is not fatal. */
enum rc ingest_start(const struct ingest_settings *settings, char *err,
		     size_t errsz);

/* Queues a package for the pipeline. path, name and source are copied;
 * with take, the file is prepd's to move (it lives under the data
 * folder's tmp/). Its evidence, when verification is on, is looked for
 * beside path, as path + verify_suffix(). name is the package's file name
 * (the cut label comes from it); source says where it came from, for the
 * journal ("upload", "pull:URL"). Thread-safe; returns RC_LIMIT when the
 * queue (INGEST_QUEUE_MAX) is full. */
enum rc ingest_submit(const char *path, const char *name, const char *source,
		      bool take);

/* Queues a rollback: republish the cut that package seq published (with
 * the incremental packages it stood on), as a new cut with a journal line
 * "source=rollback:SEQ". The daemon checks seq when the job runs; the
 * outcome is in the status and the log. Thread-safe; RC_LIMIT when the
 * queue is full. */
enum rc ingest_rollback(uint64_t seq);

/* A SIGHUP's new settings (server/reload.c): the ingest thread takes them
 * between packages (a package in progress finishes under the old ones)
 * and from then on reads only next: it makes a new fetcher (upstream,
 * its files and timeouts; the saved validators are kept unless the URL
 * changed) and, when verify or trust changed, a new verifier; a shorter
 * poll brings the next poll forward; period, limits, kind and the rest
 * are read at each use. With rebuild (the response policy changed) it
 * rebuilds the cut served with next->policy, reusing every entry, and
 * publishes it (no journal line, no event: the same cut). placeholder
 * (taken; may be NULL) is published instead when no cut has been yet.
 * next and its strings are borrowed until ingest_reload_taken() returns
 * a later generation than the one returned here. A reload handed over
 * before the thread took the previous one replaces it. Thread-safe. */
uint64_t ingest_reload(const struct ingest_settings *next, bool rebuild,
		       struct snap *placeholder);

/* The generation of the settings the ingest thread reads now (0: the
 * start-up ones). Settings handed over with an older generation are no
 * longer read. Thread-safe. */
uint64_t ingest_reload_taken(void);

/* A snapshot of the status. Thread-safe. */
void ingest_get_status(struct ingest_status *out);

/* Stops the thread after the package in progress, then lets the publish
 * event subscribers finish and joins them (event_stop()). */
void ingest_stop(void);

#endif
