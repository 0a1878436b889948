/* The statistics' aggregation core: one request (a struct stats_hit, from
 * a live request record or a line of an imported log) goes into the
 * counters of DATA/stats.db's tables (the schema is in server/stats_db.h
 * and docs/internals.md), held in memory as deltas until they are taken
 * as a batch and written (server/stats_db.c adds each delta to its row).
 *
 * What is counted, for one source ('live' or an import kind):
 *   minute         requests, body bytes, requests over TLS, page views
 *   minute_status  requests by status code
 *   minute_cut     requests and bytes by the cut served (live only)
 *   visit          per 15-minute bucket (aligned to local time) and
 *                  visitor: requests and page views
 *   page           page views by path (no query), per 15 minutes
 *   referrer       requests by external Referer "scheme://host", per 15
 *                  minutes
 *   session        one visitor's requests with no gap over session_gap
 *
 * A visitor is the first 16 bytes of HMAC-SHA256(key, local day "YYYY-MM-DD"
 * | 0x00 | client address (4 bytes IPv4, 16 bytes IPv6; an IPv4-mapped IPv6
 * address counts as its IPv4 address; none when unknown) | 0x00 | user
 * agent): the same address, day and user agent, as goaccess counts unique
 * visitors, and never the address itself. Days and 15-minute buckets are
 * in the process's local time, which main() made the institute's zone
 * (server/cut.h). Because the day is in the hash, a session is cut at
 * local midnight.
 *
 * Memory is bounded: the deltas of one batch are capped at
 * STATS_BATCH_MAX_ROWS rows and STATS_BATCH_MAX_KEY_BYTES of keys
 * (stats_agg_full() says when to take the batch), and the open sessions
 * at max_sessions: past it the least recently active one is closed early
 * (written, forgotten, counted in evicted); that visitor's next request
 * starts a new session.
 *
 * Not thread-safe: one thread owns a struct stats_agg (the collector, or
 * the import command). No logging, no I/O. */
#ifndef PREPD_STATS_AGG_H
#define PREPD_STATS_AGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "server/rc.h"

#define STATS_KEY_BYTES 32
#define STATS_VISITOR_BYTES 16

/* One request, as the aggregator sees it. Strings are borrowed for the
 * call. */
struct stats_hit {
	time_t t;                  /* request time, UTC seconds */
	uint16_t status;
	uint64_t bytes;            /* body bytes sent */
	bool https;
	bool page;                 /* a page view (the caller judged it:
				    * stats_is_page_path() for imports) */
	const char *path;          /* request path without the query; used
				    * for page views */
	size_t path_len;
	const char *referrer;      /* external "scheme://host" (from
				    * stats_referrer()), NULL or "" for none */
	const uint8_t *addr;       /* client address, network order */
	size_t addr_len;           /* 4, 16 or 0 (unknown) */
	const char *ua;            /* User-Agent, "" when absent */
	size_t ua_len;
	const char *cut;           /* the cut's label; NULL for imports */
};

/* A session as stored: one visitor, first and last request. */
struct stats_session {
	uint8_t visitor[STATS_VISITOR_BYTES];
	int64_t start, end;
	uint32_t requests, page_views;
};

/* A batch: the deltas taken at one flush, and the sessions to write
 * (absolute values). Its rows are read with stats_batch_each(). */
struct stats_batch;

enum stats_table {
	STATS_T_MINUTE,    /* v: requests, bytes, https, page_views */
	STATS_T_STATUS,    /* key: status (2 bytes, host order); v: requests */
	STATS_T_CUT,       /* key: label; v: requests, bytes */
	STATS_T_VISIT,     /* key: visitor (16 bytes); v: requests, page_views */
	STATS_T_PAGE,      /* key: path; v: views */
	STATS_T_REFERRER,  /* key: "scheme://host"; v: requests */
	STATS_TABLES
};

/* Looks for a stored session of visitor that t falls in or next to
 * (start - gap <= t <= end + gap); fills *s and returns true when there is
 * one. The import command answers from the database; live has none. */
typedef bool stats_lookup_fn(void *ctx, const uint8_t visitor[STATS_VISITOR_BYTES],
			     int64_t t, int64_t gap, struct stats_session *s);

struct stats_agg;

/* A new aggregator for source (copied), with the secret key (copied),
 * session gap in seconds (> 0) and at most max_sessions open sessions
 * (> 0). lookup may be NULL. Returns NULL when out of memory. */
struct stats_agg *stats_agg_new(const uint8_t key[STATS_KEY_BYTES], const char *source,
				unsigned gap, size_t max_sessions, stats_lookup_fn *lookup,
				void *lookup_ctx);
void stats_agg_free(struct stats_agg *a);

const char *stats_agg_source(const struct stats_agg *a);

/* Counts one request. Never fails: when memory for a row runs out the
 * request is counted in the batch's lost count instead. */
void stats_agg_add(struct stats_agg *a, const struct stats_hit *h);

/* True when the current batch has reached a cap: take it now. */
bool stats_agg_full(const struct stats_agg *a);

/* Requests counted into the current batch since it was last taken. */
uint64_t stats_agg_pending(const struct stats_agg *a);

/* Closes the open sessions whose last request is more than gap before
 * now (copying them into the current batch if they changed), puts every
 * other changed open session into the batch, and returns the batch; an
 * empty batch (fresh, taken by the aggregator) replaces it. fresh NULL:
 * the aggregator makes one; returns NULL (nothing taken) when it cannot. */
struct stats_batch *stats_agg_take(struct stats_agg *a, struct stats_batch *fresh,
				   int64_t now);

/* Sessions closed early because max_sessions were open. */
uint64_t stats_agg_evicted(const struct stats_agg *a);

/* Adds an open session (read back from the database at start-up, so a
 * restart does not cut sessions). RC_LIMIT when max_sessions are open. */
enum rc stats_agg_resume(struct stats_agg *a, const struct stats_session *s);

/* The visitor hash of (t's local day, addr, ua), as stats_agg_add()
 * computes it. */
void stats_agg_visitor(struct stats_agg *a, time_t t, const uint8_t *addr, size_t addr_len,
		       const char *ua, size_t ua_len, uint8_t out[STATS_VISITOR_BYTES]);

struct stats_batch *stats_batch_new(void);
void stats_batch_free(struct stats_batch *b);
void stats_batch_reset(struct stats_batch *b);
/* Requests counted in b; requests that could not be counted for lack of
 * memory. */
uint64_t stats_batch_requests(const struct stats_batch *b);
uint64_t stats_batch_lost(const struct stats_batch *b);
/* Rows in b, all tables and sessions. */
size_t stats_batch_rows(const struct stats_batch *b);

/* Calls fn for each row of table: t (bucket start), the key's bytes and
 * length, and the 4 values. Stops and returns fn's rc when not RC_OK. */
typedef enum rc stats_row_fn(void *ctx, int64_t t, const void *key, size_t klen,
			     const int64_t v[4]);
enum rc stats_batch_each(const struct stats_batch *b, enum stats_table table,
			 stats_row_fn *fn, void *ctx);
/* The sessions in b, in the order they were put (a later copy of the
 * same session is newer). */
const struct stats_session *stats_batch_sessions(const struct stats_batch *b, size_t *n);

/* The start of t's 15-minute bucket, aligned to local time (so 22:00,
 * 22:15 of the institute's clock); and the local day "YYYY-MM-DD" (11
 * bytes with its NUL). Pure but for the time zone; thread-safe. */
int64_t stats_bucket15(time_t t, char day[11]);

/* Whether an imported request path (without query) is a page: it ends
 * in "/", ".html" or ".htm", or its last segment has no extension. */
bool stats_is_page_path(const char *path, size_t len);

/* "scheme://host" of referer (lowercase, no port, no user info) into out
 * when it is an http(s) URL whose host is not self_host (the request's
 * Host, port ignored; NULL or "" when unknown); else "" (no referrer or
 * the site's own). Returns out. */
#define STATS_REFERRER_BYTES 272
char *stats_referrer(const char *referer, const char *self_host, char *out, size_t outsz);

/* Parses an address as text (IPv4, IPv6, IPv4-mapped IPv6) into out (16
 * bytes): returns its length, 4 or 16, or 0 when it is not an address. */
size_t stats_addr_parse(const char *text, uint8_t out[16]);

#endif
