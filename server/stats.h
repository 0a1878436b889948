/* The audience statistics of the running server: a request-record bus
 * sink (server/reqbus.h) that counts each request on the collector
 * thread (server/stats_agg.h says what is counted and how) and a writer
 * thread that adds the counts to DATA/stats.db (server/stats_db.h):
 *
 *   collector: record ─► stats_agg_add() (memory only, no lock, no I/O)
 *              every STATS_FLUSH_MS: stats_agg_take() ─► batch ─► writer
 *   writer:    BEGIN; upsert the batch's rows and sessions; COMMIT
 *
 * The collector never waits for SQLite: while the writer is busy it keeps
 * counting into its batch; a batch that reaches its caps with the writer
 * still busy is dropped and counted. A database that cannot be opened or
 * written (disk full, read-only, locked) never stops serving: the writer
 * logs once per failing stretch with what to do, retries the batch for
 * STATS_WRITE_RETRY_S, drops it (counted), reopens the database for the
 * next one and logs when writes work again.
 *
 * Life cycle (main.c): stats_start() after the privilege drop and before
 * reqbus_start(); stats_stop() after reqbus_stop(). */
#ifndef PREPD_STATS_H
#define PREPD_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "server/config.h"
#include "server/rc.h"
#include "server/reqrec.h"
#include "server/stats_agg.h"

/* Loads (or makes) the key DATA/stats.key, opens DATA/stats.db, reads
 * back the open sessions, registers the sink and starts the writer.
 * Logs its own failures. A database that cannot be opened now is logged
 * and retried by the writer (RC_OK: serving does not depend on it);
 * RC_IO when the key cannot be read or made (then no statistics at all:
 * visitors cannot be hashed), RC_NOMEM, or reqbus_sink_add()'s rc.
 * Call once, on the main thread; time_zone (borrowed) is written to meta. */
enum rc stats_start(const struct stats_settings *s, const char *data_dir,
		    const char *time_zone);

/* Writes what is left (the collector must have stopped: reqbus_stop()),
 * stops the writer, logs the totals and frees everything. A no-op when
 * stats_start() did not succeed. */
void stats_stop(void);

/* What /status or a benchmark reads; thread-safe (relaxed atomics). */
struct stats_counters {
	uint64_t records;         /* requests counted by the sink */
	uint64_t written;         /* requests whose counts reached stats.db */
	uint64_t dropped;         /* requests whose counts were lost */
	uint64_t flushes;         /* batches committed */
	uint64_t flush_us_last;   /* time of the last commit */
	uint64_t flush_us_max;
	uint64_t evicted;         /* sessions closed early (STATS_MAX_SESSIONS) */
	bool failing;             /* the last write failed */
};
void stats_get_counters(struct stats_counters *c);

/* The statistics' view of one request record (what the sink counts):
 * page view, path without the query, external referrer. path and ref
 * are buffers of REQREC_TARGET_BYTES and STATS_REFERRER_BYTES the hit
 * points into. Pure; exposed for the unit test. */
void stats_hit_from_rec(const struct reqrec *r, struct stats_hit *h, char *path, char *ref);

#endif
