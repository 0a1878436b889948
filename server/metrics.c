#include "server/metrics.h"
#include "edge/fleet.h"
#include "edge/purge.h"

#include "ingest/event.h"
#include "ingest/ingest.h"
#include "server/reqbus.h"
#include "server/reqrec.h"
#include "server/shield.h"
#include "server/stats.h"
#include "server/worker.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Written by one thread each (the collector, the subscriber), read by
 * the admin thread: relaxed atomics are enough for counters. */
static _Atomic uint64_t requests[REQREC_LISTENERS][5];
static _Atomic uint64_t bytes[REQREC_LISTENERS];
static _Atomic uint64_t publishes[3];
/* Publish latency buckets, seconds: a small cut publishes in tens of
 * milliseconds, a large one in 5 to 45 s (the performance issue). */
static const double buckets[] = { 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120 };
#define NBUCKETS (sizeof buckets / sizeof buckets[0])
/* One histogram a stage, and the last for the whole publication; per
 * bucket, not cumulative. */
#define NHIST (EVENT_STAGES + 1)
#define HIST_TOTAL EVENT_STAGES
static _Atomic uint64_t lat_count[NHIST][NBUCKETS + 1];
static _Atomic uint64_t lat_sum_us[NHIST];
static time_t started;

static void on_record(const struct reqrec *r, void *ctx)
{
	(void)ctx;
	unsigned l = r->listener < REQREC_LISTENERS ? r->listener : REQREC_HTTP;
	unsigned c = r->status >= 100 && r->status < 600 ? r->status / 100 - 1 : 4;
	atomic_fetch_add_explicit(&requests[l][c], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&bytes[l], r->bytes, memory_order_relaxed);
}

static void observe(unsigned hist, uint64_t ns)
{
	double s = (double)ns / 1e9;
	size_t b = 0;
	while (b < NBUCKETS && s > buckets[b])
		b++;
	atomic_fetch_add_explicit(&lat_count[hist][b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&lat_sum_us[hist], ns / 1000, memory_order_relaxed);
}

static void on_publish(const struct event *ev, void *ctx)
{
	(void)ctx;
	if ((unsigned)ev->kind < 3)
		atomic_fetch_add_explicit(&publishes[ev->kind], 1, memory_order_relaxed);
	observe(HIST_TOTAL, ev->took_ns);
	if (ev->staged)
		for (unsigned st = 0; st < EVENT_STAGES; st++)
			observe(st, ev->stage_ns[st]);
}

enum rc metrics_start(void)
{
	started = time(NULL);
	enum rc rc = reqbus_sink_add("metrics", on_record, NULL, NULL);
	if (rc)
		return rc;
	return event_subscribe("metrics", on_publish, NULL);
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static struct purge *edge_purge;   /* metrics_edge(), before the admin thread */
static struct fleet *edge_fleet;

void metrics_edge(struct purge *p, struct fleet *f)
{
	edge_purge = p;
	edge_fleet = f;
}

/* The purge targets (edge/purge.h) and the fleet view (edge/fleet.h). */
static void edge_render(FILE *f)
{
	unsigned n = purge_count(edge_purge);
	if (n) {
		struct purge_state st[PURGE_MAX_TARGETS];
		for (unsigned i = 0; i < n; i++)
			purge_state(edge_purge, i, &st[i]);
		head(f, "prepd_purges_total", "counter",
		     "CDN purges by target and result (ok, failed after its retries or on a 4xx).");
		for (unsigned i = 0; i < n; i++)
			fprintf(f, "prepd_purges_total{target=\"%s\",result=\"ok\"} %llu\n"
				"prepd_purges_total{target=\"%s\",result=\"failed\"} %llu\n",
				st[i].name, (unsigned long long)st[i].purges_ok, st[i].name,
				(unsigned long long)st[i].purges_failed);
		head(f, "prepd_purge_attempts_total", "counter", "CDN purge requests' attempts.");
		for (unsigned i = 0; i < n; i++)
			fprintf(f, "prepd_purge_attempts_total{target=\"%s\"} %llu\n", st[i].name,
				(unsigned long long)st[i].attempts);
		head(f, "prepd_purge_retries_total", "counter",
		     "CDN purge attempts that are retried (5xx, 429, timeouts, connection errors).");
		for (unsigned i = 0; i < n; i++)
			fprintf(f, "prepd_purge_retries_total{target=\"%s\"} %llu\n", st[i].name,
				(unsigned long long)st[i].retries);
		head(f, "prepd_purge_superseded_total", "counter",
		     "CDN purges merged into a newer cut's purge before they were done.");
		for (unsigned i = 0; i < n; i++)
			fprintf(f, "prepd_purge_superseded_total{target=\"%s\"} %llu\n", st[i].name,
				(unsigned long long)st[i].superseded);
		head(f, "prepd_purge_pending", "gauge", "1 while a target has a purge to do.");
		for (unsigned i = 0; i < n; i++)
			fprintf(f, "prepd_purge_pending{target=\"%s\"} %d\n", st[i].name, st[i].pending);
		head(f, "prepd_purge_last_ok_seconds", "gauge",
		     "When each target last purged successfully, unix seconds (0: never).");
		for (unsigned i = 0; i < n; i++)
			fprintf(f, "prepd_purge_last_ok_seconds{target=\"%s\"} %lld\n", st[i].name,
				(long long)st[i].last_ok);
	}
	if (edge_fleet) {
		struct fleet_state fs;
		fleet_state(edge_fleet, &fs, NULL, 0);
		head(f, "prepd_fleet_behind", "gauge",
		     "1 while a healthy peer serves a newer cut than this origin.");
		fprintf(f, "prepd_fleet_behind %d\n", fs.behind);
		head(f, "prepd_fleet_peers", "gauge", "Fleet peers, by health.");
		fprintf(f, "prepd_fleet_peers{state=\"healthy\"} %u\nprepd_fleet_peers{state=\"unhealthy\"} %u\n",
			fs.healthy, fs.peers - fs.healthy);
		head(f, "prepd_fleet_purges_total", "counter",
		     "Purges the fleet released: served (every healthy peer had the cut) or max_wait.");
		fprintf(f, "prepd_fleet_purges_total{reason=\"served\"} %llu\n"
			"prepd_fleet_purges_total{reason=\"max_wait\"} %llu\n",
			(unsigned long long)fs.fired_served, (unsigned long long)fs.fired_max_wait);
	}
}

char *metrics_render(size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	if (!f)
		return NULL;
	static const char *const classes[] = { "1xx", "2xx", "3xx", "4xx", "5xx" };
	static const char *const kinds[] = { "full", "incremental", "rollback" };

	head(f, "prepd_requests_total", "counter",
	     "Requests answered on the public listeners, by listener and status class.");
	for (unsigned l = 0; l < REQREC_LISTENERS; l++)
		for (unsigned c = 0; c < 5; c++)
			fprintf(f, "prepd_requests_total{listener=\"%s\",class=\"%s\"} %llu\n",
				reqrec_listener_name(l), classes[c],
				(unsigned long long)atomic_load_explicit(&requests[l][c], memory_order_relaxed));
	head(f, "prepd_response_bytes_total", "counter", "Body bytes sent, by listener.");
	for (unsigned l = 0; l < REQREC_LISTENERS; l++)
		fprintf(f, "prepd_response_bytes_total{listener=\"%s\"} %llu\n", reqrec_listener_name(l),
			(unsigned long long)atomic_load_explicit(&bytes[l], memory_order_relaxed));
	head(f, "prepd_open_connections", "gauge", "Connections open on the public listeners.");
	fprintf(f, "prepd_open_connections %u\n", workers_connections());
	head(f, "prepd_worker_connections", "gauge",
	     "Connections each worker thread holds, by listener (as of its last accept or pass); new ones are shared out evenly.");
	for (unsigned i = 0; i < workers_count(); i++)
		for (int https = 0; https < 2; https++)
			fprintf(f, "prepd_worker_connections{worker=\"%u\",listener=\"%s\"} %u\n", i,
				https ? "https" : "http", worker_connections(i, https));

	struct shield *sh = workers_shield();
	head(f, "prepd_connection_limit_hits_total", "counter",
	     "At the connection limit: idle or slow connections closed to make room, new ones refused.");
	static const struct { const char *what; enum shield_counter c; } hits[] = {
		{ "evicted_idle", SHIELD_C_EVICT_IDLE }, { "evicted_slow", SHIELD_C_EVICT_SLOW },
		{ "refused_full", SHIELD_C_REFUSED_FULL },
	};
	for (size_t i = 0; i < sizeof hits / sizeof hits[0]; i++)
		fprintf(f, "prepd_connection_limit_hits_total{what=\"%s\"} %llu\n", hits[i].what,
			(unsigned long long)shield_counter(sh, hits[i].c));

	struct ingest_status st;
	ingest_get_status(&st);
	time_t now = time(NULL);
	head(f, "prepd_cut_sequence", "gauge", "The package sequence of the cut served (0: the placeholder).");
	fprintf(f, "prepd_cut_sequence %llu\n", (unsigned long long)st.cut.seq);
	head(f, "prepd_cut_age_seconds", "gauge", "Seconds since the cut served was published.");
	fprintf(f, "prepd_cut_age_seconds %lld\n",
		(long long)(st.cut_published ? now - st.cut_published : 0));
	head(f, "prepd_cut_time_seconds", "gauge",
	     "The cut's own time (its JSON's cut time, else its name), unix seconds; 0: unknown.");
	fprintf(f, "prepd_cut_time_seconds %lld\n", (long long)(st.cut.timed ? st.cut.at : 0));

	head(f, "prepd_publishes_total", "counter", "Cuts published, by kind.");
	for (unsigned k = 0; k < 3; k++)
		fprintf(f, "prepd_publishes_total{kind=\"%s\"} %llu\n", kinds[k],
			(unsigned long long)atomic_load_explicit(&publishes[k], memory_order_relaxed));
	head(f, "prepd_refusals_total", "counter",
	     "Packages and rollbacks refused, by the step that refused them.");
	for (unsigned i = 0; ingest_refusal_step(i); i++)
		fprintf(f, "prepd_refusals_total{step=\"%s\"} %llu\n", ingest_refusal_step(i),
			(unsigned long long)st.refusals[i]);
	head(f, "prepd_publish_duration_seconds", "histogram",
	     "Time to publish a cut, by pipeline stage (verify, store, unpack, build, swap: "
	     "packages only) and in total (from the start of the work to the journal line "
	     "being durable; rollbacks and resumed packages too).");
	for (unsigned h = 0; h < NHIST; h++) {
		const char *stage = h == HIST_TOTAL ? "total" : event_stage_str(h);
		uint64_t cum = 0;
		for (size_t b = 0; b <= NBUCKETS; b++) {
			cum += atomic_load_explicit(&lat_count[h][b], memory_order_relaxed);
			if (b < NBUCKETS)
				fprintf(f, "prepd_publish_duration_seconds_bucket{stage=\"%s\",le=\"%g\"} "
					"%llu\n", stage, buckets[b], (unsigned long long)cum);
			else
				fprintf(f, "prepd_publish_duration_seconds_bucket{stage=\"%s\",le=\"+Inf\"} "
					"%llu\n", stage, (unsigned long long)cum);
		}
		fprintf(f, "prepd_publish_duration_seconds_sum{stage=\"%s\"} %.6f\n", stage,
			(double)atomic_load_explicit(&lat_sum_us[h], memory_order_relaxed) / 1e6);
		fprintf(f, "prepd_publish_duration_seconds_count{stage=\"%s\"} %llu\n", stage,
			(unsigned long long)cum);
	}
	head(f, "prepd_failed_periods", "gauge",
	     "Update periods in a row without a newer cut (R13: three cut a difusor off).");
	fprintf(f, "prepd_failed_periods %u\n", st.failed_periods);

	head(f, "prepd_shield_actions_total", "counter", "Per-client limit breaches, by rule and action taken.");
	for (int r = 0; r < SHIELD_RULES; r++)
		for (int a = 0; a < SHIELD_ACTIONS; a++)
			fprintf(f, "prepd_shield_actions_total{rule=\"%s\",action=\"%s\"} %llu\n",
				shield_rule_name((enum shield_rule)r), shield_action_name((enum shield_action)a),
				(unsigned long long)shield_counter(sh, (enum shield_counter)(r * SHIELD_ACTIONS + a)));
	head(f, "prepd_shield_events_total", "counter", "The shield's other events.");
	for (int c = SHIELD_RULES * SHIELD_ACTIONS; c < SHIELD_COUNTERS; c++)
		fprintf(f, "prepd_shield_events_total{event=\"%s\"} %llu\n",
			shield_counter_name((enum shield_counter)c),
			(unsigned long long)shield_counter(sh, (enum shield_counter)c));
	head(f, "prepd_log_records_dropped_total", "counter",
	     "Request records dropped because a worker's ring was full (access log, metrics).");
	fprintf(f, "prepd_log_records_dropped_total %llu\n", (unsigned long long)reqbus_dropped());
	head(f, "prepd_publish_events_dropped_total", "counter",
	     "Publish events dropped from a slow subscriber's full queue.");
	fprintf(f, "prepd_publish_events_dropped_total %llu\n", (unsigned long long)event_dropped());
	edge_render(f);
	struct stats_counters sc;
	stats_get_counters(&sc);
	head(f, "prepd_stats_requests_total", "counter",
	     "Requests by what became of their statistics (server/stats.c): counted by the "
	     "sink, written to stats.db, or lost (a failing disk, a full batch).");
	fprintf(f, "prepd_stats_requests_total{state=\"counted\"} %llu\n"
		"prepd_stats_requests_total{state=\"written\"} %llu\n"
		"prepd_stats_requests_total{state=\"dropped\"} %llu\n",
		(unsigned long long)sc.records, (unsigned long long)sc.written,
		(unsigned long long)sc.dropped);
	head(f, "prepd_stats_flush_seconds_max", "gauge",
	     "The longest stats.db commit since start.");
	fprintf(f, "prepd_stats_flush_seconds_max %.6f\n", sc.flush_us_max / 1e6);
	head(f, "prepd_stats_failing", "gauge", "1 while stats.db cannot be written.");
	fprintf(f, "prepd_stats_failing %d\n", sc.failing ? 1 : 0);
	head(f, "prepd_start_time_seconds", "gauge", "When prepd started, unix seconds.");
	fprintf(f, "prepd_start_time_seconds %lld\n", (long long)started);
	head(f, "prepd_build_info", "gauge", "prepd's version.");
	fprintf(f, "prepd_build_info{version=\"%s\"} 1\n", PREPD_VERSION);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
