/* The incident log: DATA/incidents.log, one JSON object a line, for the
 * night-shift operator (the dashboard) and the memoria técnica (prepd
 * report). Every line has "time" (UTC, "2024-06-03T04:15:02Z") and
 * "kind"; the other fields depend on the kind:
 *
 *   start          version, pid, previous ("clean": the last run wrote
 *                  its stop line; "crash": it did not, so prepd stopped
 *                  without a stop line (killed, crashed, power); "first":
 *                  no earlier line), last (time of the last line before)
 *   stop           signal ("term", "int"), clean (true)
 *   refused        package, source, seq (0: none taken), step, reason
 *   failed_period  count (periods in a row), cut, due, period_s
 *   rollback       seq, cut, ok (true/false), reason
 *   shield         rule, client, action, count (breaches in the minute)
 *   purge_failed   target, cut, error
 *   probe_down     listener, status, detail
 *   probe_up       listener, down_s (how long it was down)
 *   dropped        count (lines lost to a full queue before this one)
 *
 * Writing: incident_open() starts one writer thread; every incident_*()
 * call formats its line into a stack buffer, then copies it into a
 * bounded queue under a mutex held for one memcpy, and signals the
 * writer. No allocation, no file system call: callable from a request
 * thread (the shield's), as the shield's webhook queue is. The writer
 * appends each batch with write(2) and fdatasync(2). A full queue drops
 * the line and counts it. Before incident_open() and after
 * incident_close() every call is a no-op (unit tests, subcommands).
 * Every writing function is thread-safe.
 *
 * Strings given are copied; a NULL string is written as "". Control
 * bytes and invalid UTF-8 in them are escaped, so a name from outside
 * (a spool file, a client address) can never forge a line or a field. */
#ifndef PREPD_INCIDENT_H
#define PREPD_INCIDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "server/limits.h"
#include "server/rc.h"

/* Opens DATA/incidents.log for appending (mode 0640, created when
 * missing), reads its last line to tell a clean stop from a crash, starts
 * the writer and queues the start line. RC_IO (err says which file and
 * why) or RC_NOMEM; then nothing is written and prepd serves anyway. */
enum rc incident_open(const char *data_dir, const char *version, char *err, size_t errsz);

/* Queues the stop line, lets the writer write everything queued, stops
 * it and closes the file. signal: "term", "int" or NULL. */
void incident_close(const char *signal);

/* A package refused, quarantined or not kept (ingest/pipeline.c). */
void incident_refused(const char *package, const char *source, uint64_t seq,
		      const char *step, const char *reason);

/* An update period passed without a newer cut (ingest/status.c, R13):
 * count in a row; due is when the period ended. */
void incident_failed_period(unsigned count, const char *cut, time_t due, unsigned period_s);

/* A rollback ran (ingest/status.c): ok with the cut now served, or not
 * with why. */
void incident_rollback(uint64_t seq, const char *cut, bool ok, const char *reason);

/* The shield took an action (server/shield.c): mirrored from its log
 * line, so once per client, rule and minute; count is the breaches in
 * that minute. */
void incident_shield(const char *rule, const char *client, const char *action,
		     unsigned count);

/* A CDN purge failed for good (after its retries): target names the CDN
 * or URL, cut the cut it was purging for, error the reason. */
void incident_purge_failed(const char *target, const char *cut, const char *error);

/* The self-probe saw a listener go down (probe_down, with the status, 0
 * for none, and why) or come back (probe_up, after down_s seconds). */
void incident_probe(bool up, const char *listener, unsigned status, const char *detail,
		    long down_s);

/* Lines dropped because the queue was full, since start. */
uint64_t incident_dropped(void);

/* ---- reading (prepd report, the dashboard) ---- */

/* One line read back. Strings are NUL-terminated copies, cut to fit;
 * numbers and booleans are given as their JSON text ("42", "true"). */
struct incident_rec {
	time_t t;                     /* from "time" */
	char kind[32];
	unsigned nfields;             /* besides time and kind */
	struct {
		char key[32];
		char value[640];
	} f[INCIDENT_MAX_FIELDS];
};

/* The value of field key in r, or NULL. */
const char *incident_field(const struct incident_rec *r, const char *key);

/* Calls fn for each line of DATA/incidents.log whose time is in [from,
 * to) (to 0: no end), oldest first. With tail_bytes non-zero only the
 * last tail_bytes of the file are read (the first, partial line
 * skipped). A line that is not a JSON object with a time and a kind is
 * skipped and counted in *bad (may be NULL). A missing file is an empty
 * log. fn returning non-zero stops the walk with that value. RC_IO with
 * err when the file cannot be read. Thread-safe (reads only). */
enum rc incident_read(const char *data_dir, time_t from, time_t to, size_t tail_bytes,
		      int (*fn)(void *ctx, const struct incident_rec *r), void *ctx,
		      unsigned *bad, char *err, size_t errsz);

/* Writes s into out as the body of a JSON string (no quotes): '"', '\\'
 * and control bytes escaped, invalid UTF-8 bytes as \u00XX of the byte.
 * Returns the length written, at most outsz - 1 (cut at a whole escape);
 * out is NUL-terminated when outsz > 0. Pure; exposed for the tests. */
size_t incident_json_escape(const char *s, char *out, size_t outsz);

#endif
