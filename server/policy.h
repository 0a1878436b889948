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

#include <stdbool.h>
#include <stdint.h>

#include "server/rc.h"
#include "server/rules.h"

/* [cache] cdn_ttl = auto: the CDN's TTL follows purge_on. */
#define POLICY_CDN_TTL_AUTO (-1)

/* A policy as its owner (the config) holds it. Every pointer is borrowed
 * and only read during snap_builder_new(). */
struct policy {
	const char *cache_short;      /* Cache-Control for HTML, JSON, ... as
				       * given by [cache] short; NULL: composed
				       * from the TTLs below */
	const char *cache_immutable;  /* Cache-Control for fingerprinted assets */
	unsigned browser_ttl;         /* s: max-age of per-cut responses */
	int cdn_ttl;                  /* s, or POLICY_CDN_TTL_AUTO */
	unsigned cdn_header;          /* CDN_HDR_* bits (server/rules.h) */
	unsigned swr;                 /* s: stale-while-revalidate; 0: none */
	unsigned sie;                 /* s: stale-if-error; 0: none */
	unsigned error_ttl;           /* s: a 404 that is not fingerprinted; 0:
				       * no-store like the others */
	unsigned tags;                /* CACHE_TAGS_* bits */
	unsigned keep_cuts;           /* skew protection: earlier cuts whose
				       * fingerprinted files stay servable; 0 off */
	unsigned keep_minutes;        /* ... for at most this long after they
				       * were replaced; 0: no age limit */
	uint64_t keep_max_bytes;      /* ... holding at most this many bytes;
				       * 0: no cap */
	bool purge_on;                /* derived: a CDN purge runs after every
				       * publish, so the CDN may keep per-cut
				       * responses long (cdn_ttl = auto) */
	bool fleet;                   /* derived: this origin has peers and
				       * may be told it is behind
				       * (snap_behind_set()): prebuild the
				       * non-cacheable responses that needs */
	const char *frame_ancestors;  /* CSP frame-ancestors sources */
	const char *spa_fallback;     /* normalised path, or NULL when off */
	const struct rules *rules;    /* per-path header rules, or NULL */
	const char *hsts;             /* Strict-Transport-Security for HTTPS
				       * responses (tls_hsts_check()), or
				       * NULL: off */
};

/* A snapshot's own copy, with the values its responses need prepared:
 * every header value is composed here, once per cut. */
struct policy_copy {
	char *cache_short;       /* Cache-Control of per-cut files; NULL: none
				  * (no policy given) */
	char *surrogate;         /* Surrogate-Control of per-cut files, or NULL */
	char *cdn_cc;            /* CDN-Cache-Control of per-cut files, or NULL */
	char *cache_immutable;   /* Cache-Control of fingerprinted files */
	char *cache_error;       /* Cache-Control of a 404 that is not
				  * fingerprinted (error_ttl) */
	unsigned tags;           /* CACHE_TAGS_* */
	unsigned keep_cuts, keep_minutes;
	uint64_t keep_max_bytes;
	bool fleet;
	char *csp;               /* "frame-ancestors <sources>" */
	char *spa_fallback;      /* NULL: off */
	char *hsts;              /* NULL: this snapshot's responses carry no
				  * Strict-Transport-Security; set only in the
				  * HTTPS twin (struct snap's https) */
	struct rules rules;
};

/* What a per-cut response says while this origin is behind its fleet
 * (snap_behind_set()): no shared cache may keep it. */
#define POLICY_BEHIND_CACHE_CONTROL "no-store"

/* The CDN TTL p stands for: cdn_ttl, or with auto POLICY_CDN_TTL_PURGED
 * when purge_on and browser_ttl otherwise. Pure. */
unsigned policy_cdn_ttl(const struct policy *p);

/* The purge tag naming a cut, as every per-cut response carries it in
 * Surrogate-Key and Cache-Tag: "prep-cut-" and the label lowercased
 * (Cloudflare and CloudFront match tags case-insensitively, Fastly does
 * not: lowercase is the same tag everywhere). Writes at most size bytes
 * with the NUL; returns the length it needs. Pure: a purge target calls
 * it with the event's label. */
size_t policy_cut_tag(const char *label, char *out, size_t size);

/* The purge tags of one response, space-separated, into out (size bytes):
 * "prep prep-cut-LABEL prep-percut prep-CLASS" for a per-cut file (CLASS
 * from rules_type_class(), "error" for a 404), "prep prep-immutable
 * prep-CLASS" for a fingerprinted one (no cut: it is the same file in
 * every cut that has it). comma puts ',' between them instead (Cache-Tag).
 * Pure. */
void policy_tags(const char *label, const char *path, bool immutable, bool error,
		 bool comma, char *out, size_t size);

/* Fills c with a copy of p. NULL p is no policy: no Cache-Control, no
 * rules, no fallback, and "frame-ancestors *". Returns RC_OK, or RC_NOMEM
 * with c left empty (safe to release). Thread-safe for distinct c. */
enum rc policy_copy_init(struct policy_copy *c, const struct policy *p);

/* Makes dst a deep copy of src (a snapshot's policy, for a rebuild).
 * RC_OK, or RC_NOMEM with dst empty. */
enum rc policy_copy_dup(struct policy_copy *dst, const struct policy_copy *src);

/* Frees what policy_copy_init() allocated and leaves c empty. */
void policy_copy_release(struct policy_copy *c);

#endif
