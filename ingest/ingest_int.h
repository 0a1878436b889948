/* The ingest module's inside: the context every part of ingest/ shares,
 * and what one part calls in another. Not for server/ (ingest.h is).
 *
 *   ingest.c    the thread, the job queue, start/stop, the public API
 *   pipeline.c  receive ─► verify ─► keep ─► unpack+build ─► publish
 *   pull.c      polling the institute, back-off
 *   spool.c     the spool folder: inotify, evidence waits, the scan
 *   replay.c    start-up replay, rollback, resume of interrupted packages
 *   status.c    the status and the failed-period accounting (R13)
 *   event.c     the publish event and its subscribers (event.h)
 *
 * Everything but the status and the queue is touched by one thread only:
 * the caller of ingest_start() until it returns, the ingest thread after. */
#ifndef PREPD_INGEST_INT_H
#define PREPD_INGEST_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "ingest/event.h"
#include "ingest/ingest.h"
#include "ingest/store.h"
#include "server/limits.h"
#include "server/snap.h"

struct job {
	char path[PATH_BUF_BYTES];
	char name[FILE_NAME_BYTES];
	char source[256];
	bool take;          /* the file is ours (under tmp/) */
	bool spool;         /* remove from the spool once kept */
	bool startup;       /* --package: skipped when already published */
	uint64_t rollback;  /* non-zero: republish this package's cut */
	bool claimed;       /* path is an arrival claimed into DATA/incoming
	                     * (spool.c): ours, regular, never deduplicated */
	const char *refuse; /* non-NULL (static): quarantined at receive with
	                     * this reason (a name with control characters) */
	struct prescan *pre; /* a pull: the hash and scan taken while it
	                      * downloaded (ingest/prescan.h), or NULL;
	                      * borrowed, the puller's */
};

/* What a claimed arrival waits for (spool.c). */
enum pending_why {
	PENDING_EVIDENCE,    /* a spool package, for its sidecar or signature */
	PENDING_SPACE,       /* a package that could not be kept (disk full) */
	PENDING_EV,          /* evidence, for the next package of its name
	                      * and source (spool or upload) */
};

/* A spool package waiting for its sidecar or signature. */
struct pending {
	char name[FILE_NAME_BYTES];
	time_t since;
	char claimed[FILE_NAME_BYTES];   /* its name in DATA/incoming */
	enum pending_why why;
};

struct ingest {
	const struct ingest_settings *cfg;   /* borrowed: the start-up settings,
					      * then each reload's (swapped by
					      * the ingest thread under
					      * status_lock, which status_get()
					      * reads it under) */
	struct store *store;
	struct verify *verifier;

	/* The snapshot this module last published (its own reference), the
	 * base for the next build, and the SHA-256 of the package behind it. */
	struct snap *published;
	char published_sha[65];
	uint64_t next_seq;          /* taken only once a package is kept */
	/* The last package refused at the verify step (SHA-256 of the package
	 * and of its evidence): a poller that downloads it again is not given
	 * another quarantine copy of the same bytes. */
	char last_bad[2 * 64 + 2];

	/* the thread */
	pthread_t thread;
	bool running;
	bool live;                  /* the thread runs: start-up is over */
	_Atomic bool stopping;
	int wake_fd;                /* eventfd: a job was queued, or stop */

	pthread_mutex_t queue_lock;
	struct job queue[INGEST_QUEUE_MAX];
	size_t queue_n;

	/* a reload (ingest_reload()): handed over under queue_lock, taken
	 * by the thread between packages */
	const struct ingest_settings *reload_next;   /* NULL: none waiting */
	uint64_t reload_gen;        /* its generation */
	bool reload_rebuild;        /* the response policy changed */
	struct snap *reload_placeholder;   /* the placeholder with the new
					    * settings, or NULL */
	_Atomic uint64_t reload_taken;     /* the generation in->cfg is */

	/* pull */
	struct fetch *fetcher;      /* NULL: no pull */
	unsigned fetch_attempt;     /* failed polls in a row */

	/* spool */
	int inotify_fd;             /* -1: no spool */
	int spool_fd;               /* the spool folder, -1: none; every spool
	                             * name is opened relative to it */
	bool retry_due;             /* something waits for disk space */
	time_t retry_at;            /* when spool_retry() runs next */
	time_t keep_failing_since;  /* 0: keeping works; else the stretch of
	                             * failures began then (logged once) */
	/* the claimer thread (spool.c): moves each spool arrival into
	 * DATA/incoming the moment it is complete, even while the ingest
	 * thread is busy with a package; only it touches the spool */
	pthread_t claimer;
	bool claimer_running;
	int claimer_stop_fd;        /* eventfd: spool_stop() wakes the claimer */
	time_t claim_failing_since; /* as keep_failing_since, for claims */
	time_t claim_retry_at;      /* 0: no claim waits for disk space */
	struct pending pending[INGEST_PENDING_MAX];
	size_t pending_n;

	/* status: read by the admin thread under status_lock */
	pthread_mutex_t status_lock;
	struct ingest_status status;
	/* R13's clock: periods of cfg->period_s counted from clock_base (the
	 * last publication of a newer cut, or start-up); the highest count
	 * logged since. */
	time_t clock_base;
	unsigned periods_logged;
};

/* A context with nothing open, ready for pipeline_open(). */
#define INGEST_INIT                                          \
	{ .queue_lock = PTHREAD_MUTEX_INITIALIZER,           \
	  .status_lock = PTHREAD_MUTEX_INITIALIZER,          \
	  .wake_fd = -1, .inotify_fd = -1, .spool_fd = -1,  \
	  .claimer_stop_fd = -1 }

/* ---- pipeline.c ---- */

/* What became of a package (or a rollback). */
enum verdict {
	VERDICT_PUBLISHED,     /* a new cut is served and journaled */
	VERDICT_UNCHANGED,     /* kept and journaled; the cut served has its bytes */
	VERDICT_CURRENT,       /* --package is the cut already served: nothing done */
	VERDICT_QUARANTINED,   /* refused at verify; kept in quarantine, journaled */
	VERDICT_SAME_REFUSED,  /* the bytes refused last time: nothing kept again */
	VERDICT_REFUSED,       /* kept, refused by the unpacker, moved to quarantine */
	VERDICT_NOT_RECEIVED,  /* the file could not be read */
	VERDICT_NOT_KEPT,      /* could not be archived: not kept, not published */
	VERDICT_ROLLED_BACK,   /* a rollback published its cut */
	VERDICT_NO_SUCH_SEQ,   /* a rollback to a seq the journal does not publish */
	VERDICT_NOT_REBUILT,   /* a rollback whose cut could not be rebuilt */
};

/* What a stage (and so the pipeline) returns: its verdict and why. */
struct stage_result {
	enum verdict verdict;
	enum rc rc;               /* RC_OK for published, unchanged, current */
	const char *step;         /* where it stopped: "receive", "verify",
	                           * "keep", "unpack", "publish", "rollback";
	                           * static */
	uint64_t seq;             /* the seq it took; 0: none was taken */
	struct cut cut;           /* published: the cut now served */
	char entry[600];          /* the package entry at fault, or "" */
	char reason[600];         /* why, for a person, or "" */
	char kept[512];           /* where it is kept, relative to the data
	                           * folder ("history/000042-NAME"), or "" */
};

/* The reason a journal line and the status give: "ENTRY: REASON", or the
 * reason alone when no entry is at fault. */
void stage_result_why(const struct stage_result *r, char *out, size_t outsz);

/* Opens the store and the verifier and reads the next seq, into in (which
 * is INGEST_INIT); settings is borrowed for in's life. Starts no thread and
 * publishes nothing. RC_* with a sentence in err. */
enum rc pipeline_open(struct ingest *in, const struct ingest_settings *settings,
		      char *err, size_t errsz);

/* Closes what pipeline_open() opened and drops in->published. */
void pipeline_close(struct ingest *in);

/* Takes one package through every stage, writes its journal line (when it
 * has one), logs the outcome once, updates the status and, for a
 * publication, emits the publish event. The result says how it ended; a
 * seq is taken only by a package kept (or quarantined at verify), so
 * refusing the same bytes again, a file that cannot be read, a failed
 * keep and the --package already served leave no gap. With
 * PREPD_TEST_PAUSE_AT=STAGE (store, unpack, build, publish) the live
 * thread stops there until ingest_stop() (tests/integration/t3030-crash.sh). */
void pipeline_run(struct ingest *in, const struct job *j, struct stage_result *res);

/* Unpacks file over base (or alone) and builds a snapshot for cut (the
 * "build" pause point is in here); kind
 * decides full or incremental and *incremental says which it was. The
 * cut time from the configured JSON replaces cut->time. Returns the
 * snapshot with one reference, or NULL with res->rc and the entry and
 * reason (the unpacker's, possibly "") in res. */
struct snap *pipeline_build(struct ingest *in, const char *file,
			    const struct snap *base, enum ingest_kind kind,
			    struct cut *cut, bool *incremental,
			    struct stage_result *res, struct snap_stats *st);

/* pipeline_build() for a package never published before (a new cut):
 * over the cut served (in->published), with the kind of the settings,
 * and only when it may replace that cut: a full cut must be a site
 * (with require_base, an index.html with its <base href>; every path of
 * required_paths), an incremental one needs a full cut under it, its cut
 * time must not be older than the served cut's (cuts only move forward;
 * an unknown time is not compared), and the site after the overlay must
 * have no path that is both a file and a folder and stay within
 * [limits] max_entries and max_total_bytes. A refusal of these checks
 * sets res->step to "check" and *action (static) to what to do. */
struct snap *pipeline_build_new(struct ingest *in, const char *file,
				struct cut *cut, bool *incremental,
				struct stage_result *res, struct snap_stats *st,
				const char **action);

/* Makes s current and in's published cut (takes the caller's reference),
 * with sha the package's SHA-256. No journal line, no event: start-up
 * replay only. */
void pipeline_swap(struct ingest *in, struct snap *s, const char *sha);

/* Publishes s (taking the reference) as cut and journals rec as its
 * publication. Returns the snapshot served before, with a reference, for
 * pipeline_announce() (NULL when there was none); *durable says whether
 * the journal line was written. */
struct snap *pipeline_publish(struct ingest *in, struct journal_rec *rec,
			      struct snap *s, const struct cut *cut,
			      bool incremental, bool *durable);

/* Emits the publish event of what pipeline_publish() published last, its
 * paths diffed against before, which it releases. Emits nothing when the
 * journal line is not durable. took_ns: from the start of the work to the
 * journal line. stage_ns (EVENT_STAGES values, copied) splits it by stage
 * when the caller measured them, else NULL. Call it after the publish's own
 * log line, so the diff does not count in the swap time. */
void pipeline_announce(struct ingest *in, const struct journal_rec *rec,
		       struct snap *before, bool durable, enum event_kind kind,
		       uint64_t took_ns, const uint64_t *stage_ns);

/* A kept package the unpacker refused (res says why): moves
 * it to quarantine and journals it; rec->file is updated. */
void pipeline_refuse(struct ingest *in, struct journal_rec *rec,
		     const struct stage_result *res);

/* ---- status.c ---- */

/* Records an attempt's outcome: what ("published", "quarantined", "no new
 * package") and, for a failure, why. An attempt is not a period: only a
 * newer cut (status_set_cut()) ends the failed periods of R13. */
void status_set_result(struct ingest *in, bool ok, const char *what, const char *why);
/* The same from a pipeline result (nothing for VERDICT_CURRENT). */
void status_record(struct ingest *in, const struct stage_result *res);
/* The cut served changed (any publication: a package, a rollback, a
 * resume, the start-up replay). A newer cut than the one before (a later
 * cut time; any other cut when a time is unknown; any cut over the
 * placeholder) ends a run of failed periods, logging the recovery, and
 * starts the period clock again now (the placeholder, at
 * pipeline_open(), starts it first). */
void status_set_cut(struct ingest *in, const struct cut *cut);
/* The cut served was published at t (the start-up replay: the journal's
 * time, not now); the period clock runs from then. */
void status_set_published(struct ingest *in, time_t t);
/* R13's clock, at now: counts the update periods since the last newer cut
 * and logs at one, two and three failed periods in a row. Called from the
 * ingest thread's loop, at least once a second. */
void status_tick(struct ingest *in, time_t now);
void status_count_package(struct ingest *in);
void status_set_next_poll(struct ingest *in, time_t t);
time_t status_next_poll(struct ingest *in);
void status_get(struct ingest *in, struct ingest_status *out);
/* Refreshes the disk figures and warns below min_free_bytes. */
void status_disk_check(struct ingest *in);

/* ---- replay.c ---- */

/* Rebuilds and swaps in the last published cut from the history: no
 * journal line, no event. A chain that cannot be rebuilt is logged and
 * the one before it is tried. */
void replay_history(struct ingest *in);
/* Republishes the cut package seq published, as a new cut with its own
 * journal line ("source=rollback:SEQ") and a publish event of kind
 * rollback. A seq is taken only once the cut is rebuilt. */
void replay_rollback(struct ingest *in, uint64_t seq, struct stage_result *res);
/* Finishes packages kept in history/ without a journal line (a crash
 * between keep and journal): each is published (with its event) or
 * refused, under its own seq. */
void replay_resume(struct ingest *in);

/* ---- pull.c ---- */

/* Polls the upstream once and runs what it brought through the pipeline. */
void pull_poll(struct ingest *in);

/* ---- spool.c ---- */

/* Opens the spool folder and its inotify watch. RC_IO with err. */
enum rc spool_watch(struct ingest *in, char *err, size_t errsz);
/* Starts and stops the claimer thread (after spool_watch(); in->wake_fd
 * must exist: each claim wakes the ingest thread). RC_NOMEM with err. */
enum rc spool_start(struct ingest *in, char *err, size_t errsz);
void spool_stop(struct ingest *in);
/* Takes what DATA/incoming holds that is not waiting already, in arrival
 * order: spool and upload packages (each with its own evidence), evidence
 * (waits for its package, or is a refused package's late one). At start-up
 * (before the admin listener and the claimer run) and on the ingest
 * thread's every turn. */
void spool_take(struct ingest *in);
/* Gives up waiting for evidence that did not come (evidence_wait_s), and
 * retries what waits for disk space when due. */
void spool_expire(struct ingest *in);
/* The log form of a name from outside: control bytes, spaces, quotes and
 * backslashes as \xHH, so a name cannot forge a log line. */
void spool_name_show(const char *name, char *out, size_t outsz);
/* Logs a failure to keep once per stretch of failures (ingest
 * keep-failed), and arms the retry; spool_keep_ok() ends the stretch
 * (ingest keep-recovered). Ingest thread. */
void spool_keep_failed(struct ingest *in, const char *file, const char *err);
void spool_keep_ok(struct ingest *in);

#endif
