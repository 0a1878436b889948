/* Response header policy: the built-in Cache-Control classes and the
 * operator's per-path header rules (R12, e.g. a rule for /json/main.json).
 * Rules are matched once per path when a snapshot is built, never per
 * request, so they cost nothing on the request path. */
#ifndef PREPD_RULES_H
#define PREPD_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "server/limits.h"
#include "server/rc.h"

struct rule_header {
	char *name;
	char *value;
};

/* The headers for one PATTERN of the config's [headers] section. PATTERN is
 * a glob (fnmatch, '*' also crosses '/') against the request path with its
 * leading '/'. */
struct rule {
	char *pattern;
	size_t nhdr;
	struct rule_header hdr[CFG_MAX_RULE_HEADERS];
};

struct rules {
	size_t n;
	struct rule *v;
};

/* Adds header name: value to the rule for pattern (created on first use).
 * Returns RC_FORMAT with *why set for a bad pattern, an invalid header name
 * or value, or a header prepd manages itself (Content-Length, ETag,
 * X-PREP-Cut, ...); RC_LIMIT past CFG_MAX_RULES patterns or CFG_MAX_RULE_HEADERS headers per pattern;
 * RC_NOMEM. Setting the same header twice in one rule replaces it. */
enum rc rules_add(struct rules *r, const char *pattern, const char *name,
		  const char *value, const char **why);

/* Makes dst (empty) a deep copy of src; NULL src copies nothing. Returns
 * RC_OK, or RC_NOMEM with dst left empty. */
enum rc rules_copy(struct rules *dst, const struct rules *src);

/* Frees everything rules_add allocated and leaves r empty. */
void rules_release(struct rules *r);

/* Collects the configured headers for a normalised path (no leading
 * slash): every matching rule in file order, a later rule replacing an
 * earlier one's header of the same name (case-insensitive). Fills up to max
 * pointers into r (borrowed) and returns how many. */
size_t rules_match(const struct rules *r, const char *path,
		   const struct rule_header **out, size_t max);

enum cache_class {
	CACHE_SHORT,      /* HTML, JSON, CSV and anything unversioned: per cut */
	CACHE_IMMUTABLE,  /* fingerprinted assets: main.3f2a9c1b8d7e6f50.js */
};

/* Fingerprinted means a static asset type (JS, CSS, fonts, images, wasm)
 * whose name carries a content hash in a dot- or dash-separated part
 * before the extension, as the builds of an Angular site emit it:
 *  - webpack (Angular <= 16, outputHashing): lowercase hex, 16 or more
 *    characters (main.3f2a9c1b8d7e6f50.js, 123.9f8e7d6c5b4a3210.js), or 8
 *    to 15 with at least one letter and one digit ([contenthash:8]);
 *  - esbuild (Angular >= 17, application builder): exactly 8 characters
 *    of base32, A-Z and 2-7 (main-2LZQ6AHC.js, chunk-UWQ4BXNQ.js,
 *    media/roboto-ABCDEFGH.woff2; an all-letter hash is 19% of builds,
 *    so no digit is required).
 * HTML, JSON and CSV are never immutable: they change at every cut. */
enum cache_class rules_cache_class(const char *path);

/* The content class a path is tagged with (Surrogate-Key, Cache-Tag):
 * "html", "json", "csv", "js", "css", "font", "image", "zip", "txt" or
 * "other", from its extension. Static string. */
const char *rules_type_class(const char *path);

/* [cache] cdn_header: where the CDN's TTL goes, a bit set. */
enum {
	CDN_HDR_SMAXAGE = 1,     /* s-maxage in Cache-Control (every CDN) */
	CDN_HDR_SURROGATE = 2,   /* Surrogate-Control (Fastly; Varnish by VCL) */
	CDN_HDR_CDNCC = 4,       /* CDN-Cache-Control, RFC 9213 (Cloudflare) */
};

/* [cache] tags: which purge-tag headers are sent, a bit set. */
enum {
	CACHE_TAGS_SURROGATE_KEY = 1,   /* Surrogate-Key, space-separated (Fastly) */
	CACHE_TAGS_CACHE_TAG = 2,       /* Cache-Tag, comma-separated (Cloudflare) */
};

/* Parse the [cache] lists: cdn_header is "none" or any of "s-maxage",
 * "surrogate-control", "cdn-cache-control"; tags is "off" or any of
 * "surrogate-key", "cache-tag"; separated by spaces or commas, each at
 * most once, case-insensitive. true with *out set, false on anything else.
 * Pure. */
bool rules_parse_cdn_header(const char *s, unsigned *out);
bool rules_parse_tags(const char *s, unsigned *out);

#endif
