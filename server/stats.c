#include "server/stats.h"

#include "server/limits.h"
#include "server/log.h"
#include "server/probe.h"
#include "server/reqbus.h"
#include "server/stats_db.h"
#include "server/util.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <threads.h>
#include <time.h>

struct stats {
	/* collector thread only (and main before the bus starts / after it
	 * stopped) */
	struct stats_agg *agg;
	uint64_t last_take_ns;
	uint64_t evicted_reported;
	uint64_t dropped_reported;
	uint64_t last_warn_ns;
	/* writer thread only */
	struct stats_db *db;
	char *db_path, *time_zone;
	bool failing;               /* said once per failing stretch */
	/* shared, under lock */
	mtx_t lock;
	cnd_t wake;                 /* writer: a batch or stop; main: idle */
	struct stats_batch *pending;   /* being written; NULL: writer idle */
	struct stats_batch *spare;     /* written, for the collector to reuse */
	bool stopping;              /* no more retries: prepd is stopping */
	bool stop;                  /* the writer exits once idle */
	thrd_t writer;
	/* counters */
	_Atomic uint64_t records, written, dropped, flushes, flush_us_last, flush_us_max,
		evicted;
	_Atomic bool is_failing;
};

static struct stats *the_stats;

static void count_max(_Atomic uint64_t *m, uint64_t v)
{
	uint64_t cur = atomic_load_explicit(m, memory_order_relaxed);
	while (v > cur && !atomic_compare_exchange_weak_explicit(m, &cur, v, memory_order_relaxed,
								 memory_order_relaxed))
		;
}

void stats_get_counters(struct stats_counters *c)
{
	memset(c, 0, sizeof *c);
	struct stats *s = the_stats;
	if (!s)
		return;
	c->records = atomic_load_explicit(&s->records, memory_order_relaxed);
	c->written = atomic_load_explicit(&s->written, memory_order_relaxed);
	c->dropped = atomic_load_explicit(&s->dropped, memory_order_relaxed);
	c->flushes = atomic_load_explicit(&s->flushes, memory_order_relaxed);
	c->flush_us_last = atomic_load_explicit(&s->flush_us_last, memory_order_relaxed);
	c->flush_us_max = atomic_load_explicit(&s->flush_us_max, memory_order_relaxed);
	c->evicted = atomic_load_explicit(&s->evicted, memory_order_relaxed);
	c->failing = atomic_load_explicit(&s->is_failing, memory_order_relaxed);
}

void stats_hit_from_rec(const struct reqrec *r, struct stats_hit *h, char *path, char *ref)
{
	memset(h, 0, sizeof *h);
	h->t = r->when.tv_sec;
	h->status = r->status;
	h->bytes = r->bytes;
	h->https = r->flags & REQREC_TLS;
	h->page = (r->flags & REQREC_PAGE) && !strcmp(r->method, "GET") &&
		  (r->status == 200 || r->status == 304);
	/* The path: an absolute-form target ("http://host/x") without its
	 * scheme and host, and no query. */
	const char *p = r->target;
	if (!strncasecmp(p, "http://", 7) || !strncasecmp(p, "https://", 8)) {
		p = strstr(p, "://") + 3;
		p += strcspn(p, "/");
	}
	size_t n = strcspn(p, "?#");
	if (n >= REQREC_TARGET_BYTES)
		n = REQREC_TARGET_BYTES - 1;
	memcpy(path, p, n);
	path[n] = '\0';
	h->path = path;
	h->path_len = n;
	ref[0] = '\0';
	if (r->referer[0] && !(r->flags & REQREC_REF_SELF))
		stats_referrer(r->referer, NULL, ref, STATS_REFERRER_BYTES);
	h->referrer = ref;
	if (r->client.family == AF_INET) {
		h->addr = r->client.addr;
		h->addr_len = 4;
	} else if (r->client.family == AF_INET6) {
		h->addr = r->client.addr;
		h->addr_len = 16;
	}
	h->ua = r->ua;
	h->ua_len = strlen(r->ua);
	h->cut = r->label;
}

/* ---- the writer thread ---- */

/* Writes b in one transaction; RC_OK or RC_IO with err filled. Opens
 * the database first when it is not (at start it could not be, or the
 * last write failed): an attempt is at most once a second. */
static enum rc write_batch(struct stats *s, const struct stats_batch *b, char *err,
			   size_t errsz)
{
	if (!s->db && !(s->db = stats_db_open(s->db_path, s->time_zone, err, errsz)))
		return RC_IO;
	uint64_t t0 = now_ns();
	enum rc rc = stats_db_begin(s->db, err, errsz);
	if (!rc)
		rc = stats_db_add(s->db, "live", b, err, errsz);
	if (!rc)
		rc = stats_db_commit(s->db, err, errsz);
	if (rc) {
		bool busy = stats_db_busy(s->db);
		stats_db_rollback(s->db);
		if (busy)
			return RC_LIMIT;   /* an import holds the lock: wait */
		/* A full disk, a read-only remount, a file removed: start
		 * afresh with the next attempt. */
		stats_db_close(s->db);
		s->db = NULL;
		return rc;
	}
	uint64_t us = (now_ns() - t0) / 1000;
	atomic_store_explicit(&s->flush_us_last, us, memory_order_relaxed);
	count_max(&s->flush_us_max, us);
	atomic_fetch_add_explicit(&s->flushes, 1, memory_order_relaxed);
	log_debug("stats flushed requests=%llu rows=%zu ms=%.1f",
		  (unsigned long long)stats_batch_requests(b), stats_batch_rows(b), us / 1000.0);
	return RC_OK;
}

/* Writes b, retrying for STATS_WRITE_RETRY_S (not at stop); drops it
 * (counted) when that fails. */
static void write_or_drop(struct stats *s, struct stats_batch *b)
{
	char err[512];
	uint64_t first_fail = 0;
	bool waited = false;
	for (;;) {
		enum rc rc = write_batch(s, b, err, sizeof err);
		if (rc == RC_OK) {
			atomic_fetch_add_explicit(&s->written, stats_batch_requests(b),
						  memory_order_relaxed);
			if (s->failing)
				log_info("stats write-recovered file=%s", s->db_path);
			if (waited)
				log_info("stats write-resumed file=%s reason=\"the other writer let go\"",
					 s->db_path);
			s->failing = false;
			atomic_store_explicit(&s->is_failing, false, memory_order_relaxed);
			return;
		}
		if (rc == RC_LIMIT && !s->stopping) {
			/* An import's transaction: this batch waits (the collector
			 * keeps counting into the next, up to its caps) rather
			 * than count as a failure. */
			if (!waited)
				log_info("stats write-waiting file=%s reason=\"another writer (prepd stats "
					 "import) holds stats.db\" action=\"none: the counts are kept in "
					 "memory meanwhile, up to STATS_BATCH_MAX_ROWS rows\"", s->db_path);
			waited = true;
			continue;   /* the busy timeout was the wait */
		}
		if (!s->failing)
			log_error("stats write-failed file=%s error=\"%s\" action=\"free disk space or "
				  "make the data folder writable (a read-only or locked stats.db: "
				  "check its owner and that no import holds it); serving goes on, "
				  "counts are kept for %us then dropped and counted, and writes "
				  "resume by themselves\"", s->db_path, err, STATS_WRITE_RETRY_S);
		s->failing = true;
		atomic_store_explicit(&s->is_failing, true, memory_order_relaxed);
		uint64_t now = now_ns();
		if (!first_fail)
			first_fail = now;
		mtx_lock(&s->lock);
		bool stopping = s->stopping;
		if (!stopping && now - first_fail < STATS_WRITE_RETRY_S * 1000000000ull) {
			struct timespec until;
			timespec_get(&until, TIME_UTC);
			until.tv_sec += 1;
			cnd_timedwait(&s->wake, &s->lock, &until);
			mtx_unlock(&s->lock);
			continue;
		}
		mtx_unlock(&s->lock);
		uint64_t lost = stats_batch_requests(b);
		atomic_fetch_add_explicit(&s->dropped, lost, memory_order_relaxed);
		log_warn("stats batch-dropped requests=%llu error=\"%s\" action=\"the counts of "
			 "these requests are lost; fix the cause above\"", (unsigned long long)lost,
			 err);
		return;
	}
}

static int writer_main(void *arg)
{
	struct stats *s = arg;
	mtx_lock(&s->lock);
	for (;;) {
		while (!s->pending && !s->stop)
			cnd_wait(&s->wake, &s->lock);
		struct stats_batch *b = s->pending;
		if (!b)
			break;   /* stop, and nothing left */
		mtx_unlock(&s->lock);
		write_or_drop(s, b);
		stats_batch_reset(b);
		mtx_lock(&s->lock);
		s->pending = NULL;
		if (!s->spare)
			s->spare = b;
		else
			stats_batch_free(b);
		cnd_broadcast(&s->wake);
	}
	mtx_unlock(&s->lock);
	return 0;
}

/* ---- the collector side ---- */

/* Hands the current batch to the writer when it is idle; returns false
 * when it is busy. */
static bool hand_off(struct stats *s)
{
	mtx_lock(&s->lock);
	if (s->pending) {
		mtx_unlock(&s->lock);
		return false;
	}
	struct stats_batch *fresh = s->spare;
	s->spare = NULL;
	mtx_unlock(&s->lock);
	struct stats_batch *b = stats_agg_take(s->agg, fresh, (int64_t)time(NULL));
	if (!b) {
		mtx_lock(&s->lock);
		s->spare = fresh;
		mtx_unlock(&s->lock);
		return false;
	}
	mtx_lock(&s->lock);
	if (stats_batch_rows(b) || stats_batch_lost(b))
		s->pending = b;
	else if (!s->spare)
		s->spare = b;
	else
		stats_batch_free(b);
	if (stats_batch_lost(b))
		atomic_fetch_add_explicit(&s->dropped, stats_batch_lost(b), memory_order_relaxed);
	cnd_broadcast(&s->wake);
	mtx_unlock(&s->lock);
	return true;
}

/* prepd's own self-probe (server/probe.h): a loopback peer whose
 * User-Agent is the probe's. */
static bool from_probe(const struct reqrec *r)
{
	if (strncmp(r->ua, PROBE_USER_AGENT_PREFIX, sizeof PROBE_USER_AGENT_PREFIX - 1))
		return false;
	static const uint8_t v6_loopback[16] = { [15] = 1 };
	return (r->peer.family == AF_INET && r->peer.addr[0] == 127) ||
	       (r->peer.family == AF_INET6 && !memcmp(r->peer.addr, v6_loopback, 16));
}

static void sink_record(const struct reqrec *r, void *ctx)
{
	struct stats *s = ctx;
	struct stats_hit h;
	char path[REQREC_TARGET_BYTES], ref[STATS_REFERRER_BYTES];
	if (from_probe(r))
		return;
	stats_hit_from_rec(r, &h, path, ref);
	stats_agg_add(s->agg, &h);
	atomic_fetch_add_explicit(&s->records, 1, memory_order_relaxed);
	if (stats_agg_full(s->agg) && !hand_off(s)) {
		/* The writer is stuck with the batch before (a slow or failing
		 * disk): bounded memory wins, this batch's counts go. */
		struct stats_batch *b = stats_agg_take(s->agg, NULL, (int64_t)time(NULL));
		if (b) {
			atomic_fetch_add_explicit(&s->dropped, stats_batch_requests(b),
						  memory_order_relaxed);
			stats_batch_free(b);
		}
	}
}

static void sink_flush(void *ctx)
{
	struct stats *s = ctx;
	uint64_t now = now_ns();
	if (now - s->last_take_ns >= STATS_FLUSH_MS * 1000000ull && hand_off(s))
		s->last_take_ns = now;
	if (now - s->last_warn_ns < 10000000000ull)
		return;
	uint64_t ev = stats_agg_evicted(s->agg);
	atomic_store_explicit(&s->evicted, ev, memory_order_relaxed);
	if (ev != s->evicted_reported) {
		log_warn("stats sessions-evicted count=%llu since_start=%llu limit=%u "
			 "reason=\"more visitors active within session_gap than STATS_MAX_SESSIONS\" "
			 "action=\"their sessions were closed early (time on site reads short); "
			 "lower [stats] session_gap\"", (unsigned long long)(ev - s->evicted_reported),
			 (unsigned long long)ev, STATS_MAX_SESSIONS);
		s->evicted_reported = ev;
		s->last_warn_ns = now;
	}
	uint64_t d = atomic_load_explicit(&s->dropped, memory_order_relaxed);
	if (d != s->dropped_reported) {
		log_warn("stats dropped=%llu since_start=%llu reason=\"the statistics writer "
			 "could not keep up or write\" action=\"see the stats write-failed line; "
			 "serving goes on\"", (unsigned long long)(d - s->dropped_reported),
			 (unsigned long long)d);
		s->dropped_reported = d;
		s->last_warn_ns = now;
	}
}

static void resume_session(void *ctx, const struct stats_session *ss)
{
	unsigned *n = ctx;
	if (stats_agg_resume(the_stats->agg, ss) == RC_OK)
		(*n)++;
}

static void stats_free(struct stats *s)
{
	if (!s)
		return;
	stats_agg_free(s->agg);
	stats_db_close(s->db);
	stats_batch_free(s->pending);
	stats_batch_free(s->spare);
	free(s->db_path);
	free(s->time_zone);
	mtx_destroy(&s->lock);
	cnd_destroy(&s->wake);
	free(s);
}

enum rc stats_start(const struct stats_settings *set, const char *data_dir,
		    const char *time_zone)
{
	uint8_t key[STATS_KEY_BYTES];
	enum rc rc = stats_key_load(data_dir, true, key);
	if (rc) {
		log_error("stats key-failed file=%s/%s error=\"%s\" action=\"statistics are off "
			  "until the data folder lets prepd make or read this file (32 bytes, mode "
			  "0600; delete a damaged one); serving goes on\"", data_dir, STATS_KEY_FILE,
			  rc == RC_FORMAT ? "not a 32-byte key" : strerror(errno));
		return RC_IO;
	}
	struct stats *s = calloc(1, sizeof *s);
	if (!s || mtx_init(&s->lock, mtx_plain) != thrd_success) {
		free(s);
		return RC_NOMEM;
	}
	if (cnd_init(&s->wake) != thrd_success) {
		mtx_destroy(&s->lock);
		free(s);
		return RC_NOMEM;
	}
	size_t plen = strlen(data_dir) + sizeof "/" STATS_DB_FILE;
	s->db_path = malloc(plen);
	s->time_zone = time_zone ? strdup(time_zone) : NULL;
	s->agg = stats_agg_new(key, "live", set->session_gap, STATS_MAX_SESSIONS, NULL, NULL);
	explicit_bzero(key, sizeof key);
	if (!s->db_path || !s->agg || (time_zone && !s->time_zone)) {
		stats_free(s);
		return RC_NOMEM;
	}
	snprintf(s->db_path, plen, "%s/%s", data_dir, STATS_DB_FILE);
	the_stats = s;
	char err[512];
	unsigned resumed = 0;
	s->db = stats_db_open(s->db_path, time_zone, err, sizeof err);
	if (!s->db) {
		s->failing = true;
		atomic_store(&s->is_failing, true);
		log_error("stats open-failed file=%s error=\"%s\" action=\"free disk space, fix "
			  "the file's owner or move a damaged stats.db aside; serving goes on and "
			  "prepd retries with each batch\"", s->db_path, err);
	} else if (stats_db_sessions(s->db, "live", (int64_t)time(NULL) - set->session_gap,
				     resume_session, &resumed, err, sizeof err)) {
		log_warn("stats resume-failed file=%s error=\"%s\" reason=\"visits open at the "
			 "last stop start afresh\"", s->db_path, err);
	}
	if ((rc = reqbus_sink_add("stats", sink_record, sink_flush, s))) {
		the_stats = NULL;
		stats_free(s);
		return rc;
	}
	s->last_take_ns = now_ns();
	if (thrd_create(&s->writer, writer_main, s) != thrd_success) {
		/* The sink is registered: it must stay valid until
		 * reqbus_stop(); it counts into memory with nobody writing. */
		log_error("stats start-failed error=\"cannot start the writer thread\" "
			  "action=\"statistics are not written; serving goes on\"");
		s->stop = s->stopping = true;
		return RC_NOMEM;
	}
	log_info("stats started file=%s session_gap=%us resumed_sessions=%u", s->db_path,
		 set->session_gap, resumed);
	return RC_OK;
}

void stats_stop(void)
{
	struct stats *s = the_stats;
	if (!s)
		return;
	if (!s->stop) {
		/* The collector has stopped: the last counts and every open
		 * session go to the writer, once it is idle. */
		mtx_lock(&s->lock);
		s->stopping = true;   /* a failing disk does not hold the stop up */
		cnd_broadcast(&s->wake);
		while (s->pending)
			cnd_wait(&s->wake, &s->lock);
		mtx_unlock(&s->lock);
		hand_off(s);
		mtx_lock(&s->lock);
		s->stop = true;
		cnd_broadcast(&s->wake);
		mtx_unlock(&s->lock);
		thrd_join(s->writer, NULL);
	}
	struct stats_counters c;
	stats_get_counters(&c);
	log_info("stats stopped requests=%llu written=%llu dropped=%llu flushes=%llu "
		 "flush_ms_max=%.1f sessions_evicted=%llu", (unsigned long long)c.records,
		 (unsigned long long)c.written, (unsigned long long)c.dropped,
		 (unsigned long long)c.flushes, c.flush_us_max / 1000.0,
		 (unsigned long long)stats_agg_evicted(s->agg));
	the_stats = NULL;
	stats_free(s);
}
