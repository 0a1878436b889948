/* The edge's settings: the CDN purge targets ([purge NAME] sections) and
 * the fleet view ([fleet]). Plain data, no behaviour, so that
 * server/config.h can hold them without pulling in libcurl.
 *
 * Every field is a key of the settings table (server/settings.c), which
 * parses it, gives its default and frees it: a `char *` here is owned by
 * the config. A [purge NAME] section is a "named section": its rows are
 * written once in the table and stored into targets[i] of the i-th name
 * seen, in the order the file names them (settings.c, "named sections"). */
#ifndef PREPD_EDGE_SETTINGS_H
#define PREPD_EDGE_SETTINGS_H

#include <stdbool.h>
#include <stdint.h>

/* Purge targets one prepd drives at most: each is a thread and a
 * connection; a difusor has one CDN and perhaps its own Varnish tier,
 * a webhook, a second CDN during a migration. */
#define PURGE_MAX_TARGETS 8u
/* A target's name: [purge NAME] with NAME in [A-Za-z0-9_-]. */
#define PURGE_NAME_BYTES 32u

enum purge_type {
	PURGE_TYPE_NONE,        /* not given: config_finish() refuses */
	PURGE_TYPE_VARNISH,
	PURGE_TYPE_CLOUDFLARE,
	PURGE_TYPE_CLOUDFRONT,
	PURGE_TYPE_FASTLY,
	PURGE_TYPE_WEBHOOK,
};

/* What one purge invalidates. Each type takes some of them
 * (purge_settings_check() says which). */
enum purge_by {
	PURGE_BY_DEFAULT,       /* the type's own default */
	PURGE_BY_PATHS,         /* the paths the cut added, changed, removed */
	PURGE_BY_CUT,           /* Varnish: one BAN of what is not this cut */
	PURGE_BY_TAGS,          /* cache tags / surrogate keys (tags =) */
	PURGE_BY_EVERYTHING,    /* the whole zone, distribution or service */
};

/* by = tags without tags: every per-cut file of every cut, the tag the
 * responses carry for it (server/policy.c policy_tags()). Fingerprinted
 * files are the same in every cut and are never purged. */
#define PURGE_TAGS_DEFAULT "prep-percut"

struct purge_target_settings {
	char name[PURGE_NAME_BYTES];  /* set by the section header */
	int type;                     /* enum purge_type */
	int by;                       /* enum purge_by */
	char *url;                    /* the endpoint: Varnish, webhook; for the
	                               * SaaS types an override of the API's
	                               * base (tests point it at 127.0.0.1) */
	char *host;                   /* Varnish: the Host the edge caches
	                               * under */
	char *site;                   /* URL purges: the public site's base,
	                               * https://resultados.example.mx */
	char *zone;                   /* Cloudflare: the zone id */
	char *distribution;           /* CloudFront: the distribution id */
	char *service;                /* Fastly: the service id */
	char *secret_file;            /* the token, key, credentials or HMAC
	                               * secret; never logged */
	char *tags;                   /* tags/keys separated by spaces; {cut}
	                               * is the new cut's label, lowercased;
	                               * NULL: PURGE_TAGS_DEFAULT */
	bool soft;                    /* Fastly: Fastly-Soft-Purge: 1 */
	unsigned batch;               /* paths per request (0: the type's
	                               * documented maximum) */
	unsigned timeout_ms;          /* one attempt, connect to last byte */
	unsigned retries;             /* attempts after the first */
	unsigned backoff_ms;          /* the first retry's wait; doubles */
	unsigned backoff_max_ms;      /* the longest wait */
};

struct purge_settings {
	struct purge_target_settings targets[PURGE_MAX_TARGETS];
	unsigned count;               /* sections seen */
};

struct fleet_settings {
	char *peers;                  /* the other origins' serving
	                               * listeners: URLs separated by spaces */
	unsigned poll_ms;             /* between two reads of every peer */
	unsigned timeout_ms;          /* one read of one peer */
	unsigned max_wait_ms;         /* a cut's purge waits at most this for
	                               * the peers to serve it */
};

#endif
