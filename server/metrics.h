/* GET /metrics on the admin listener: Prometheus text exposition format
 * 0.0.4. Counters of the request path come from the request-record bus
 * (a sink on the collector thread: nothing is added to the request path
 * but the record the bus already fills); publishes and their latency come
 * from the publish event (a subscriber on its own thread); the rest is
 * read when /metrics is asked (ingest status, shield counters, dropped
 * records, connections).
 *
 * Series (every label value is prepd's own word, never input):
 *   prepd_requests_total{listener,class}    counter  class: 1xx..5xx
 *   prepd_response_bytes_total{listener}    counter  body bytes sent
 *   prepd_open_connections                  gauge
 *   prepd_connection_limit_hits_total{what} counter  evicted_idle,
 *                                                    evicted_slow,
 *                                                    refused_full
 *   prepd_cut_sequence, prepd_cut_age_seconds, prepd_cut_time_seconds
 *   prepd_publishes_total{kind}             counter  full, incremental,
 *                                                    rollback
 *   prepd_refusals_total{step}              counter  ingest_refusal_step()
 *   prepd_publish_duration_seconds{stage}   histogram stage "total":
 *                                           arrival to durable journal
 *   prepd_failed_periods                    gauge (R13, the run now)
 *   prepd_shield_actions_total{rule,action} counter
 *   prepd_shield_events_total{event}        counter  the shield's others
 *   prepd_log_records_dropped_total         counter  reqbus_dropped()
 *   prepd_publish_events_dropped_total      counter  event_dropped()
 *   prepd_start_time_seconds, prepd_build_info{version}
 */
#ifndef PREPD_METRICS_H
#define PREPD_METRICS_H

#include <stddef.h>

#include "server/rc.h"

/* Registers the record-bus sink and the publish subscriber. Call once
 * before reqbus_start() and ingest_start(). RC_LIMIT/RC_NOMEM when either
 * cannot be added (the other may have been). */
enum rc metrics_start(void);

/* Writes the exposition into a new buffer (free()) and its length; NULL
 * on out-of-memory. Thread-safe (the admin thread). */
char *metrics_render(size_t *len);

struct purge;
struct fleet;
/* The CDN purge and the fleet view whose counters /metrics adds
 * (prepd_purge_*, prepd_fleet_*); borrowed, either NULL. Call before the
 * admin listener starts, and with NULLs before freeing them. */
void metrics_edge(struct purge *p, struct fleet *f);

#endif
