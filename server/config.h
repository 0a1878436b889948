/* prepd's settings: built-in defaults, then the INI config file, then
 * command-line flags, each overriding the one before. Every key is
 * documented in prepd.ini.example. */
#ifndef PREPD_CONFIG_H
#define PREPD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/policy.h"
#include "server/rc.h"
#include "server/rules.h"
#include "ingest/settings.h"
#include "edge/settings.h"

struct listen_addr {
	bool on;
	bool set;              /* given explicitly (file or flag) */
	char host[64];         /* numeric address; "" means all interfaces */
	unsigned port;         /* 0 lets the kernel pick (tests) */
};

/* Each module's settings struct holds its part of the config; each field
 * that is a config key is a row of the settings table (server/settings.c),
 * which says its section, key, flag, type, bounds, default and help. A
 * `char *` field is owned by the config and freed by config_release(). */

/* [server]: the listeners and prepd's own files. Read by main.c,
 * worker.c, admin.c. */
struct server_settings {
	struct listen_addr http, https;
	struct listen_addr admin;  /* off unless set */
	char *admin_token;         /* file holding the bearer token */
	char *data_dir;
	char *user;                /* started as root: become this user */
	char *package;             /* published at start-up when set */
	char *access_log;          /* NULL: no access log */
	unsigned threads;          /* worker threads; 0 means one per core */
	unsigned conn_limit;       /* total connections per listener */
	unsigned per_ip_limit;     /* 0: none (a CDN origin sees few IPs) */
	unsigned conn_timeout;     /* seconds of inactivity before closing */
	unsigned header_timeout;   /* seconds from accept to a complete request
				    * head (server/worker.c) */
	int log_level;             /* enum log_level */
};

/* [tls]: read by main.c (tls_load) and worker.c (priorities). */
struct tls_settings {
	char *cert, *key;          /* PEM files for HTTPS: the default pair */
	char *certs;               /* more pairs chosen by SNI, "CERT KEY ...",
				    * absolute paths; NULL: none */
	char *priorities;          /* GnuTLS priority string */
	unsigned ticket_lifetime;  /* seconds a session ticket is good; 0: no
				    * tickets (server/tls.c) */
	char *hsts;                /* Strict-Transport-Security value for
				    * HTTPS responses; NULL: off. The policy
				    * borrows it (config_finish) */
};

/* What a response carries besides its content: [server] frame_ancestors
 * and spa_fallback, [cache] and [headers]. The snapshot builder reads
 * them through policy, which config_finish() points at these fields. */
struct response_settings {
	char *frame_ancestors;     /* CSP frame-ancestors sources (R10) */
	char *spa_fallback;        /* normalised path, or NULL when off */
	char *cache_short;         /* Cache-Control for HTML, JSON, ... verbatim;
				    * NULL: composed from the TTLs */
	char *cache_immutable;     /* Cache-Control for fingerprinted assets */
	/* [cache] for a CDN (server/policy.h says what each becomes) */
	unsigned browser_ttl;      /* s */
	char *cdn_ttl;             /* "auto" or seconds (parse_cdn_ttl) */
	char *cdn_header;          /* rules_parse_cdn_header() words */
	unsigned swr, sie;         /* s: stale-while-revalidate, stale-if-error */
	unsigned error_ttl;        /* s */
	char *tags;                /* rules_parse_tags() words */
	unsigned keep_cuts;        /* skew protection */
	unsigned keep_minutes;
	uint64_t keep_max_bytes;
	struct rules rules;        /* [headers] */
	struct policy policy;      /* derived: borrows the fields above */
};

/* [shield]: the real client address and the per-client limits with their
 * actions (R16). Read by server/worker.c and server/shield.c at start. */
struct shield_settings {
	char *trusted_proxies;     /* ranges, checked by proxy_nets_parse();
				    * NULL: no proxy is trusted */
	char *exempt;              /* ranges never limited (loopback by default) */
	int client_header;         /* enum shield_header (server/shield.h) */
	int proxy_protocol;        /* enum shield_proxy_protocol */
	unsigned ipv6_prefix;      /* IPv6 clients are limited per prefix */
	unsigned conn_limit;       /* connections per client; 0: none */
	int conn_action;           /* enum shield_action */
	unsigned rate;             /* requests a second per client; 0: none */
	unsigned burst;
	int rate_action;           /* enum shield_action */
	unsigned block_minutes;
	char *webhook;             /* http(s) URL, or NULL */
};

/* [placeholder]: what the built-in page (www-default/, server/www.c)
 * says before the first cut. Filled in when the placeholder snapshot is
 * built (at start and on a reload). */
struct placeholder_settings {
	char *starts;              /* "YYYY-MM-DDTHH:MM" or "HH:MM", the
				    * institute's local time ([ingest]
				    * time_zone) */
	char *institute;           /* the institute's name, or NULL */
	char *difusor;             /* the difusor's name, or NULL */
	unsigned refresh;          /* seconds between the page's reloads */
};

/* [probe]: prepd's self-check of its own listeners (server/probe.c),
 * stored in DATA/stats.db for the memoria técnica's availability. */
struct probe_settings {
	unsigned interval;         /* seconds between rounds; 0: off */
};

/* [stats]: the audience statistics in DATA/stats.db (server/stats.h).
 * Read by main.c at start and by `prepd stats import`. */
struct stats_settings {
	bool on;
	unsigned session_gap;      /* seconds without a request that end a
				    * visitor's session */
};

/* After config_finish() the derived fields point into the config itself
 * (ingest.limits, ingest.fetch, ...): do not copy or move a finished
 * config. */
struct config {
	struct server_settings server;
	struct tls_settings tls;
	struct response_settings response;
	struct shield_settings shield;   /* [shield] */
	struct ingest_settings ingest;   /* [ingest], the spool and pipeline part */
	struct fetch_settings fetch;     /* [ingest], the pull part */
	struct unpack_limits limits;     /* [limits] */
	struct placeholder_settings placeholder;   /* [placeholder] */
	struct probe_settings probe;     /* [probe] */
	struct purge_settings purge;     /* [purge NAME] sections (edge/) */
	struct fleet_settings fleet;     /* [fleet] (edge/) */
	struct stats_settings stats;     /* [stats] */
};

/* The data folder when none is set: meson -Ddefault_data_dir, which is
 * /var/lib/prepd unless a build says otherwise (the .deb's, the unit's
 * StateDirectory). */
#ifndef PREPD_DEFAULT_DATA_DIR
#define PREPD_DEFAULT_DATA_DIR "/var/lib/prepd"
#endif

/* The default TLS policy: Mozilla "intermediate" for GnuTLS. TLS 1.2 and
 * 1.3 only, AEAD ciphers only, ECDHE key exchange only. */
#define CONFIG_TLS_PRIORITIES_DEFAULT \
	"NONE:+VERS-TLS1.3:+VERS-TLS1.2:+AES-128-GCM:+AES-256-GCM:" \
	"+CHACHA20-POLY1305:+AEAD:+ECDHE-ECDSA:+ECDHE-RSA:+SIGN-ALL:" \
	"+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+COMP-NULL:" \
	"+CTYPE-X509:%SERVER_PRECEDENCE"

/* Fills cfg with the built-in defaults (the settings table's). Aborts on
 * out-of-memory (start-up). */
void config_init(struct config *cfg);

/* Frees every string and rule in cfg, derived ones included. */
void config_release(struct config *cfg);

/* Sets section.key = value, as from the config file or a flag. base_dir,
 * when not NULL, is what relative file paths are resolved against (the
 * config file's folder). On error returns RC_FORMAT or RC_LIMIT and writes
 * what is wrong, for a person, into err. */
enum rc config_set(struct config *cfg, const char *section, const char *key,
		   const char *value, const char *base_dir, char *err,
		   size_t errsz);

/* Reads an INI file into cfg. On error writes "FILE:LINE: what is wrong"
 * (or "FILE: why it cannot be read") into err and returns non-zero. */
enum rc config_load(struct config *cfg, const char *file, char *err,
		    size_t errsz);

/* Checks the settings together (HTTPS needs a certificate and key, at least
 * one listener, ...) and fills in the derived fields (ingest's data_dir,
 * limits, fetch and startup_package; fetch's max_bytes, evidence_suffix,
 * tmp_dir and state_file), all here and nowhere else. May be called again
 * after a change. err as above; RC_NOMEM when out of memory. */
enum rc config_finish(struct config *cfg, char *err, size_t errsz);

/* Parses "HOST:PORT", "[V6]:PORT", ":PORT" or "off". */
enum rc config_parse_listen(const char *s, struct listen_addr *out);

#endif
