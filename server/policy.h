/* The response policy: what a snapshot's responses say beyond their
 * content. Cache-Control by class (rules_cache_class()), the operator's
 * per-path header rules (R12), the CSP frame-ancestors sources (R10), the
 * SPA fallback page, and the error pages.
 *
 * A caller describes a policy in a struct policy and gives it to
 * snap_builder_new(). The builder copies it into a struct policy_copy that
 * the snapshot owns, so a snapshot answers with the policy it was built
 * with for its whole life, however long a request thread or a response
 * keeps it, and a new policy (a config reload) only changes the snapshots
 * built after it. The copy is a few strings and the rules, made once per
 * cut: nothing of it is per request.
 *
 * No libmicrohttpd type here (server/config.h and ingest/ may see this
 * header); the functions that write headers into responses are declared
 * in server/snap_int.h, for the request path. */
#ifndef PREPD_POLICY_H
#define PREPD_POLICY_H

#include "server/rc.h"
#include "server/rules.h"

/* A policy as its owner (the config) holds it. Every pointer is borrowed
 * and only read during snap_builder_new(). */
struct policy {
	const char *cache_short;      /* Cache-Control for HTML, JSON, ... */
	const char *cache_immutable;  /* Cache-Control for fingerprinted assets */
	const char *frame_ancestors;  /* CSP frame-ancestors sources */
	const char *spa_fallback;     /* normalised path, or NULL when off */
	const struct rules *rules;    /* per-path header rules, or NULL */
	const char *hsts;             /* Strict-Transport-Security for HTTPS
				       * responses (tls_hsts_check()), or
				       * NULL: off */
};

/* A snapshot's own copy, with the values its responses need prepared. */
struct policy_copy {
	char *cache_short;       /* NULL: no Cache-Control (no policy given) */
	char *cache_immutable;
	char *csp;               /* "frame-ancestors <sources>" */
	char *spa_fallback;      /* NULL: off */
	char *hsts;              /* NULL: this snapshot's responses carry no
				  * Strict-Transport-Security; set only in the
				  * HTTPS twin (struct snap's https) */
	struct rules rules;
};

/* Fills c with a copy of p. NULL p is no policy: no Cache-Control, no
 * rules, no fallback, and "frame-ancestors *". Returns RC_OK, or RC_NOMEM
 * with c left empty (safe to release). Thread-safe for distinct c. */
enum rc policy_copy_init(struct policy_copy *c, const struct policy *p);

/* Frees what policy_copy_init() allocated and leaves c empty. */
void policy_copy_release(struct policy_copy *c);

#endif
