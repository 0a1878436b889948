/* Per-client limits and what happens past them (R16): open connections
 * and a request rate (a token bucket) per real client address, each rule
 * with its own action (log, 429 with Retry-After, close, or block the
 * address for some minutes), a block list, counters for /status and a
 * later /metrics, and an optional webhook.
 *
 * Who calls what: server/worker.c asks shield_conn_open() when it accepts
 * a connection and shield_request() when a request head is complete, and
 * does what the decision says; it tells shield_conn_close() when a
 * connection it counted ends.
 *
 * Cost on the request path: with no limit set (rate and
 * connections_per_client both 0) the calls return at once. Otherwise the
 * state lives in a hash table split into SHIELD_SHARDS shards, each with
 * its own mutex held for one probe of an open-addressing table and a few
 * additions: tens of nanoseconds, so even when every request comes from
 * one CDN address (one shard, every worker) the lock is busy well under
 * 1% of the time at 100k req/s. No allocation, no system call, no log
 * line under the lock; a breach is logged once per address, rule and
 * minute after the lock is dropped, and the webhook gets it through a
 * bounded queue, sent by a thread of its own (never a request thread).
 *
 * IPv6 clients are keyed by their first ipv6_prefix bits (a /64 is one
 * home or phone). The table holds SHIELD_CLIENTS_MAX clients; past that a
 * new client is not limited (counted as table_full and said once a
 * minute), because serving matters more than limiting.
 *
 * Clients in [shield] exempt (loopback by default: a proxy on this
 * machine, a health check, an operator's tool) are never limited.
 *
 * Every function is thread-safe unless it says otherwise. */
#ifndef PREPD_SHIELD_H
#define PREPD_SHIELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/config.h"
#include "server/proxy.h"
#include "server/rc.h"
#include "server/reqrec.h"

/* [shield] connection_action and rate_action. */
enum shield_action { SHIELD_LOG, SHIELD_429, SHIELD_CLOSE, SHIELD_BLOCK, SHIELD_ACTIONS };
/* [shield] client_header. */
enum shield_header { SHIELD_HEADER_XFF, SHIELD_HEADER_CF, SHIELD_HEADER_NONE };
/* [shield] proxy_protocol. */
enum shield_proxy_protocol { SHIELD_PP_OFF, SHIELD_PP_V1, SHIELD_PP_V2, SHIELD_PP_ANY };

enum shield_rule { SHIELD_RULE_CONN, SHIELD_RULE_RATE, SHIELD_RULES };

/* What the caller does. */
enum shield_verdict {
	SHIELD_PASS,     /* serve it (possibly after a "log" breach) */
	SHIELD_REFUSE,   /* answer 429 with Retry-After: retry_after seconds */
	SHIELD_DROP,     /* close the connection */
};

struct shield_decision {
	enum shield_verdict verdict;
	unsigned retry_after;     /* seconds, >= 1, for SHIELD_REFUSE */
};

/* Counters since start, for /status and /metrics. The first eight are
 * the breaches by rule and action taken. */
enum shield_counter {
	SHIELD_C_CONN_LOG, SHIELD_C_CONN_429, SHIELD_C_CONN_CLOSE, SHIELD_C_CONN_BLOCK,
	SHIELD_C_RATE_LOG, SHIELD_C_RATE_429, SHIELD_C_RATE_CLOSE, SHIELD_C_RATE_BLOCK,
	SHIELD_C_BLOCKED,         /* connections and requests refused while blocked */
	SHIELD_C_TABLE_FULL,      /* clients not limited: the table was full */
	SHIELD_C_HEADER_TIMEOUT,  /* connections closed at the head deadline */
	SHIELD_C_EVICT_IDLE,      /* idle keep-alive connections closed at the limit */
	SHIELD_C_EVICT_SLOW,      /* connections still sending their head, closed
				   * at the limit */
	SHIELD_C_REFUSED_FULL,    /* new connections answered 503 (or closed) at
				   * the limit, nothing left to close */
	SHIELD_C_PROXY_BAD,       /* a trusted peer's PROXY header was bad or missing */
	SHIELD_C_TLS_QUEUED,      /* new TLS connections that waited for the
				   * handshake budget (NET_HANDSHAKE_BATCH) */
	SHIELD_C_WEBHOOK_SENT,
	SHIELD_C_WEBHOOK_FAILED,
	SHIELD_C_WEBHOOK_DROPPED, /* the queue was full, or prepd stopped */
	SHIELD_COUNTERS
};

struct shield;

/* Makes a shield from the [shield] settings (borrowed; trusted_proxies
 * is parsed here, the settings table has checked it) and starts the
 * webhook thread when a webhook is set. Returns NULL with the reason in
 * err on out-of-memory or when the thread cannot start. */
struct shield *shield_new(const struct shield_settings *s, char *err, size_t errsz);

/* Applies new [shield] settings (borrowed for the call; what is used is
 * copied): the limits, their actions, block_minutes, exempt and webhook
 * take effect for the next call. trusted_proxies, client_header,
 * proxy_protocol and ipv6_prefix stay as shield_new() had them (not
 * reloadable: the workers hold them per connection, and the table is
 * keyed by the prefix). No lock on the request path: the rules are one
 * pointer, swapped here; the old rules are freed once no thread can be
 * reading them (a call is short: this waits microseconds). Clients'
 * state (connections, buckets, blocks) is kept. The client table and the
 * webhook thread are made when first needed. RC_NOMEM with err (nothing
 * changed). Thread-safe; not concurrently with shield_free(). */
enum rc shield_reload(struct shield *sh, const struct shield_settings *s, char *err,
		      size_t errsz);

/* Stops the webhook thread (events still queued are dropped and counted)
 * and frees sh. NULL is a no-op. Call when no other thread uses sh. */
void shield_free(struct shield *sh);

/* True when peer (normalised) is in trusted_proxies. */
bool shield_trusted(const struct shield *sh, const struct reqrec_addr *peer);

/* The settings sh was made from (borrowed, as given to shield_new()); a
 * reload does not change them: read only the parts that are not
 * reloadable (client_header, proxy_protocol, ipv6_prefix) from it. */
const struct shield_settings *shield_settings(const struct shield *sh);

/* The trusted ranges (for proxy_xff_client()). */
const struct proxy_nets *shield_trusted_nets(const struct shield *sh);

/* A new connection from client (the PROXY header's source, or the peer),
 * at now (now_ns()). PASS means it is counted: call shield_conn_close()
 * with the same address when it ends. Anything else means it is not
 * counted; REFUSE means answer 429 at once (the connection rule's "429"
 * action), DROP means close it (blocked, or "close" and "block"). */
struct shield_decision shield_conn_open(struct shield *sh, const struct reqrec_addr *client,
					uint64_t now);

/* A counted connection of client ended. */
void shield_conn_close(struct shield *sh, const struct reqrec_addr *client);

/* A request from client at now. via_header says the address came from a
 * trusted proxy's header (X-Forwarded-For, CF-Connecting-IP): a blocked
 * client is then refused with 429 rather than by closing the proxy's
 * connection, which carries other visitors too. */
struct shield_decision shield_request(struct shield *sh, const struct reqrec_addr *client,
				      bool via_header, uint64_t now);

/* Adds n to a counter (the worker's own events). */
void shield_count(struct shield *sh, enum shield_counter c, uint64_t n);

/* A counter's value, and its name for JSON ("rate_429"). NULL sh: 0. */
uint64_t shield_counter(const struct shield *sh, enum shield_counter c);
const char *shield_counter_name(enum shield_counter c);

/* Clients with state in the table now (for /status). */
unsigned shield_clients(struct shield *sh);

/* Names for logs: "log", "429", "close", "block"; "connections", "rate". */
const char *shield_action_name(enum shield_action a);
const char *shield_rule_name(enum shield_rule r);

#endif
