/* The settings table and what it drives: parsing a value by its type,
 * defaults, freeing, the error messages with their "known keys" lists and
 * --help.
 *
 * To add a key:
 *   1. add the field to its module's settings struct (ingest/settings.h
 *      for [ingest] and [limits], server/config.h for [server], [tls] and
 *      the response policy) and read it there;
 *   2. add a row below, in its section, with its type, bounds, default,
 *      help and whether it is reloadable (a flag only if operators need
 *      one on the command line: --help lists it by itself);
 *   3. document it in prepd.ini.example, in its [section] (as "key = " or,
 *      when it has no useful example value, ";key = "); test-settings
 *      checks that the example and the table list the same keys.
 * Nothing else: the parser, the flags, --help, the defaults, freeing and
 * the "known keys" lists all come from the table. A value computed from
 * others (a path under the data folder, say) is not a key: config_finish()
 * derives it.
 *
 * reloadable means a SIGHUP (server/reload.c) applies a new value to the
 * running prepd without dropping a connection: the value is read afresh
 * each time it is used (per snapshot built, per package, per poll or
 * transfer, per log line), or its module is given the new settings:
 * the response policy rebuilds the current snapshot, the shield swaps its
 * rules (shield_reload()), the ingest thread takes new ingest and fetch
 * settings between packages and makes a new fetcher and verifier
 * (ingest_reload()), the placeholder is rebuilt. Not reloadable: what is
 * fixed when a thread, socket, daemon or file is set up at start
 * (listeners, threads, connection options and timeouts, the data folder,
 * the TLS files and priorities, the spool watch, the time zone, the
 * access log's path) or is read by the request path outside the shield's
 * rules (trusted_proxies, client_header, proxy_protocol, ipv6_prefix: the
 * worker keeps them per connection), or used only at start (package,
 * user). A reload that changes one of those logs "restart to apply" and
 * keeps the old value.
 *
 * [headers] is not in the table: its keys are free (a path pattern, which
 * inih cannot take as a section name as it cuts those at 49 bytes) and each
 * line adds a header rule through rules_add() (server/rules.h), which does
 * its own checks. It is reloadable.
 *
 * Named sections: [purge NAME] may appear any number of times (up to
 * PURGE_MAX_TARGETS), one CDN purge target each. Its rows are written once
 * below with .named and the offset of targets[0]'s field; the i-th NAME the
 * file gives is stored in targets[i] (named_slot()), which gets the rows'
 * defaults when the name is first seen. settings_find() takes "purge NAME"
 * as "purge", so test-settings and the errors treat it as one section.
 * The cross-key checks (a type's required keys) are purge_settings_check()'s
 * (edge/purge_conf.c), called by config_finish(). Not reloadable: the
 * targets' threads and secrets are set up at start, so a reload that
 * changes them says "restart to apply" (settings_same() compares every
 * instance and the names). */
#include "server/settings.h"
#include "server/cut.h"
#include "server/hdr.h"
#include "server/limits.h"
#include "server/log.h"
#include "server/path.h"
#include "server/proxy.h"
#include "server/shield.h"
#include "server/tls.h"
#include "server/util.h"

#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The offset of field in struct config, checked at compile time to be of
 * type T, so a row cannot store a value of one type into a field of
 * another. */
#define AT(field, T) (offsetof(struct config, field) + 0 * sizeof(struct { \
	_Static_assert(_Generic(((struct config *)0)->field, T: 1, default: 0), \
		       #field " is not " #T); int unused; }))
#define AT_ENUM(field) (offsetof(struct config, field) + 0 * sizeof(struct { \
	_Static_assert(sizeof ((struct config *)0)->field == sizeof(int), \
		       #field " is not int-sized"); int unused; }))

#define UINT_AT(f)        .type = SETTING_UINT, .offset = AT(f, unsigned)
#define SIZE_AT(f)        .type = SETTING_SIZE, .offset = AT(f, uint64_t)
#define ENUM_AT(f, n)     .type = SETTING_ENUM, .offset = AT_ENUM(f), .names = n
#define PATH_AT(f)        .type = SETTING_PATH, .offset = AT(f, char *)
#define HEADER_AT(f)      .type = SETTING_HEADER, .offset = AT(f, char *)
#define LISTEN_AT(f)      .type = SETTING_LISTEN, .offset = AT(f, struct listen_addr)
#define CUSTOM_AT(f, fn)  .type = SETTING_CUSTOM, .offset = AT(f, char *), .parse = fn
#define BOOL_AT(f)        .type = SETTING_BOOL, .offset = AT(f, bool)
#define DURATION_AT(f)    .type = SETTING_DURATION, .offset = AT(f, unsigned)
#define MILLIS_AT(f)      .type = SETTING_MILLIS, .offset = AT(f, unsigned)
/* A named section's row: the field of its first instance. */
#define PURGE_AT(f, T)    .named = true, .offset = AT(purge.targets[0].f, T)

static setting_parse_fn parse_user, parse_frame_ancestors, parse_spa_fallback, parse_cut_json,
	parse_cut_key, parse_pin, parse_upstream, parse_codepage;
static setting_parse_fn parse_required_paths, parse_time_zone;
static setting_parse_fn parse_trusted_proxies, parse_webhook;
static setting_parse_fn parse_starts, parse_name;
static setting_parse_fn parse_certs, parse_hsts;
static setting_parse_fn parse_cdn_ttl, parse_cdn_header, parse_cache_tags;
static setting_parse_fn parse_edge_url, parse_edge_id, parse_edge_tags, parse_peers;

static const char *const log_levels[] = {
	[LOG_DEBUG] = "debug", [LOG_INFO] = "info", [LOG_WARN] = "warn",
	[LOG_ERROR] = "error", NULL
};
static const char *const verify_modes[] = {
	[VERIFY_NONE] = "none", [VERIFY_SHA256] = "sha256", [VERIFY_CMS] = "cms",
	[VERIFY_ED25519] = "ed25519", NULL
};
/* [shield] (server/shield.h holds the enums these index). */
static const char *const shield_actions[] = {
	[SHIELD_LOG] = "log", [SHIELD_429] = "429", [SHIELD_CLOSE] = "close",
	[SHIELD_BLOCK] = "block", NULL
};
static const char *const shield_headers[] = {
	[SHIELD_HEADER_XFF] = "x-forwarded-for", [SHIELD_HEADER_CF] = "cf-connecting-ip",
	[SHIELD_HEADER_NONE] = "none", NULL
};
static const char *const shield_pp[] = {
	[SHIELD_PP_OFF] = "off", [SHIELD_PP_V1] = "v1", [SHIELD_PP_V2] = "v2",
	[SHIELD_PP_ANY] = "any", NULL
};
/* [purge NAME] (edge/settings.h holds the enums these index). */
static const char *const purge_types[] = {
	[PURGE_TYPE_NONE] = "none", [PURGE_TYPE_VARNISH] = "varnish",
	[PURGE_TYPE_CLOUDFLARE] = "cloudflare", [PURGE_TYPE_CLOUDFRONT] = "cloudfront",
	[PURGE_TYPE_FASTLY] = "fastly", [PURGE_TYPE_WEBHOOK] = "webhook", NULL
};
static const char *const purge_bys[] = {
	[PURGE_BY_DEFAULT] = "default", [PURGE_BY_PATHS] = "paths", [PURGE_BY_CUT] = "cut",
	[PURGE_BY_TAGS] = "tags", [PURGE_BY_EVERYTHING] = "everything", NULL
};
static const char *const ingest_kinds[] = {
	[KIND_AUTO] = "auto", [KIND_FULL] = "full", [KIND_INCREMENTAL] = "incremental", NULL
};

/* Sections in the order the errors list them; title heads their flags in
 * --help. */
static const struct {
	const char *name;
	const char *title;
} sections[] = {
	{ "server", "Serving ([server] in the config file)" },
	{ "tls", "HTTPS ([tls])" },
	{ "cache", "Caching ([cache])" },
	{ "ingest", "Receiving packages ([ingest])" },
	{ "limits", "Package limits ([limits])" },
	{ "shield", "Client limits and the real client address ([shield])" },
	{ "placeholder", "The built-in page before the first cut ([placeholder])" },
	{ "probe", "Self-check of the listeners ([probe])" },
	{ "purge NAME", NULL },   /* named: see the top of this file */
	{ "fleet", NULL },
	{ "stats", "Audience statistics ([stats])" },
	{ "headers", NULL },   /* special, no rows: see the top of this file */
};
#define NSECTIONS (sizeof sections / sizeof sections[0])
#define HEADERS_SECTION "headers"
#define PURGE_SECTION "purge"

/* The order of a section's rows is the order its "known keys" list
 * names them, and the order of its flags in --help. */
const struct setting settings[] = {
	/* [server] */
	{ "server", "http", .flag = "http", .arg = "HOST:PORT", LISTEN_AT(server.http),
	  .def = ":8080",
	  .help = "HTTP listener: HOST:PORT, [IPV6]:PORT, :PORT (all interfaces) or 'off'" },
	{ "server", "https", .flag = "https", .arg = "HOST:PORT", LISTEN_AT(server.https),
	  .def = ":8443",
	  .help = "HTTPS listener, on when a certificate is given; 'off'" },
	{ "server", "admin", .flag = "admin", .arg = "HOST:PORT", LISTEN_AT(server.admin),
	  .def = "off",
	  .help = "admin listener (status, upload, rollback), loopback unless a host "
		  "is named: ':8081' is 127.0.0.1:8081" },
	{ "server", "admin_token", .flag = "admin-token", .arg = "FILE",
	  PATH_AT(server.admin_token),
	  .help = "the admin listener's bearer token (unset: DATA/admin.token, made on "
		  "first start)" },
	{ "server", "data", .flag = "data", .arg = "DIR", PATH_AT(server.data_dir),
	  .def = PREPD_DEFAULT_DATA_DIR,
	  .help = "prepd's own folder, locked: the history of every package" },
	{ "server", "user", .flag = "user", .arg = "NAME",
	  CUSTOM_AT(server.user, parse_user),
	  .help = "started as root: the user to become once the ports, keys and "
		  "logs are open, before any package is read" },
	{ "server", "package", .flag = "package", .arg = "FILE", PATH_AT(server.package),
	  .help = "publish this package at start-up" },
	{ "server", "access_log", .flag = "access-log", .arg = "FILE",
	  PATH_AT(server.access_log),
	  .help = "write an access log (Combined Log Format + cut + time); reopened "
		  "on SIGHUP" },
	{ "server", "threads", .flag = "threads", .arg = "N", UINT_AT(server.threads),
	  .min = 0, .max = NET_MAX_THREADS, .def_num = 0, .zero = "one per core",
	  .help = "worker threads" },
	{ "server", "connection_limit", UINT_AT(server.conn_limit),
	  .min = 16, .max = 1000000, .def_num = NET_CONN_LIMIT_DEFAULT,
	  .help = "open connections per listener, split across the workers" },
	{ "server", "per_ip_connection_limit", UINT_AT(server.per_ip_limit),
	  .min = 0, .max = 1000000, .def_num = 0, .zero = "no limit",
	  .help = "connections per client address, per worker and listener" },
	{ "server", "timeout", UINT_AT(server.conn_timeout), .expect = "seconds",
	  .min = 1, .max = 3600, .def_num = NET_CONN_TIMEOUT_DEFAULT,
	  .help = "seconds a connection may stay idle" },
	{ "server", "header_timeout", UINT_AT(server.header_timeout), .expect = "seconds",
	  .min = 1, .max = 3600, .def_num = SHIELD_HEADER_TIMEOUT_DEFAULT,
	  .help = "seconds from connecting to a complete request head, however slowly "
		  "it trickles" },
	{ "server", "frame_ancestors", .flag = "frame-ancestors", .arg = "S",
	  CUSTOM_AT(response.frame_ancestors, parse_frame_ancestors), .def = "*",
	  .reloadable = true,
	  .help = "who may frame the site, CSP frame-ancestors syntax" },
	{ "server", "spa_fallback", .flag = "spa-fallback", .arg = "PATH",
	  CUSTOM_AT(response.spa_fallback, parse_spa_fallback), .def = "/index.html",
	  .reloadable = true,
	  .help = "file served for extension-less paths that are no file; 'off'" },
	{ "server", "log_level", .flag = "log-level", .arg = "LEVEL",
	  ENUM_AT(server.log_level, log_levels), .def = "info", .reloadable = true,
	  .help = "debug, info, warn or error" },

	/* [tls] */
	{ "tls", "cert", .flag = "cert", .arg = "FILE", PATH_AT(tls.cert),
	  .help = "certificate chain for HTTPS, PEM; reloaded on SIGHUP" },
	{ "tls", "key", .flag = "key", .arg = "FILE", PATH_AT(tls.key),
	  .help = "private key for HTTPS, PEM; reloaded on SIGHUP" },
	{ "tls", "priorities", HEADER_AT(tls.priorities),
	  .def = CONFIG_TLS_PRIORITIES_DEFAULT, .expect = "a GnuTLS priority string",
	  .help = "GnuTLS priority string: TLS 1.2 and 1.3, AEAD, ECDHE" },
	{ "tls", "certs", CUSTOM_AT(tls.certs, parse_certs),
	  .help = "more certificate/key pairs, chosen by the client's server name (SNI): "
		  "CERT KEY [CERT KEY ...]; cert and key stay the default; reloaded on SIGHUP" },
	{ "tls", "ticket_lifetime", DURATION_AT(tls.ticket_lifetime),
	  .min = 0, .max = 604800, .def = "1h",
	  .help = "how long a session ticket resumes a TLS session (the key that seals "
		  "them changes every 3 lifetimes); 0 turns resumption off" },
	{ "tls", "hsts", CUSTOM_AT(tls.hsts, parse_hsts), .def = "off", .reloadable = true,
	  .help = "Strict-Transport-Security on every HTTPS response (never on HTTP): "
		  "off, or e.g. max-age=31536000; includeSubDomains" },

	/* [cache] */
	{ "cache", "short", HEADER_AT(response.cache_short), .reloadable = true,
	  .expect = "a Cache-Control value such as 'public, max-age=10'",
	  .help = "Cache-Control for what may change at the next cut, verbatim: replaces "
		  "the value browser_ttl, cdn_ttl and the stale times make, and the "
		  "Surrogate-Control and CDN-Cache-Control headers (unset: composed)" },
	{ "cache", "immutable", HEADER_AT(response.cache_immutable),
	  .def = "public, max-age=31536000, immutable", .reloadable = true,
	  .expect = "a Cache-Control value such as 'public, max-age=10'",
	  .help = "Cache-Control for fingerprinted assets" },
	{ "cache", "browser_ttl", DURATION_AT(response.browser_ttl), .def = "10s",
	  .min = 0, .max = 86400, .reloadable = true,
	  .help = "max-age of what may change at the next cut: how long a browser, which "
		  "no purge reaches, may show a cut without asking again" },
	{ "cache", "cdn_ttl", CUSTOM_AT(response.cdn_ttl, parse_cdn_ttl), .def = "auto",
	  .reloadable = true,
	  .help = "how long the CDN keeps what may change at the next cut: a time, or auto "
		  "(1h while a CDN purge runs after every publish, else browser_ttl)" },
	{ "cache", "cdn_header", CUSTOM_AT(response.cdn_header, parse_cdn_header),
	  .def = "s-maxage", .reloadable = true,
	  .help = "where the CDN's TTL and stale times go: s-maxage (in Cache-Control), "
		  "surrogate-control, cdn-cache-control, several, or none" },
	{ "cache", "stale_while_revalidate", DURATION_AT(response.swr), .def = "10s",
	  .min = 0, .max = 86400, .reloadable = true,
	  .help = "how long a cache may answer with an expired copy while it fetches the "
		  "next; 0: none" },
	{ "cache", "stale_if_error", DURATION_AT(response.sie), .def = "24h",
	  .min = 0, .max = 604800, .reloadable = true,
	  .help = "how long a cache may answer with an expired copy while the origins fail; "
		  "0: none" },
	{ "cache", "error_ttl", DURATION_AT(response.error_ttl), .def = "10s",
	  .min = 0, .max = 3600, .reloadable = true,
	  .help = "how long a 404 for a name that is not fingerprinted may be cached (a "
		  "fingerprinted one never is); 0: never" },
	{ "cache", "tags", CUSTOM_AT(response.tags, parse_cache_tags),
	  .def = "surrogate-key cache-tag", .reloadable = true,
	  .help = "purge tags naming the cut and the content class: surrogate-key (Fastly), "
		  "cache-tag (Cloudflare), both, or off" },
	{ "cache", "keep_cuts", UINT_AT(response.keep_cuts), .expect = "cuts",
	  .min = 0, .max = SNAP_KEEP_MAX_CUTS, .def_num = 3, .zero = "off", .reloadable = true,
	  .help = "skew protection: earlier cuts whose fingerprinted files (bundles, lazy "
		  "chunks) stay servable after a swap" },
	{ "cache", "keep_minutes", UINT_AT(response.keep_minutes), .expect = "minutes",
	  .min = 0, .max = 10080, .def_num = 60, .zero = "no age limit", .reloadable = true,
	  .help = "... for at most this many minutes after they were replaced" },
	{ "cache", "keep_max_bytes", SIZE_AT(response.keep_max_bytes),
	  .min = 0, .max = 64ull << 30, .def_num = SNAP_KEEP_MAX_BYTES_DEFAULT,
	  .reloadable = true,
	  .help = "... holding at most this many bytes, oldest cut dropped first; 0: no cap" },

	/* [ingest] */
	{ "ingest", "upstream", .flag = "upstream", .arg = "URL",
	  CUSTOM_AT(fetch.url, parse_upstream), .reloadable = true,
	  .help = "poll the institute: an https:// or sftp:// package URL" },
	{ "ingest", "upstream_index", CUSTOM_AT(fetch.url, parse_upstream), .reloadable = true,
	  .help = "poll an index or pointer file naming the package" },
	{ "ingest", "cut_json", CUSTOM_AT(ingest.cut_json, parse_cut_json),
	  .reloadable = true,
	  .help = "the package's JSON file holding the cut time" },
	{ "ingest", "cut_key", CUSTOM_AT(ingest.cut_key, parse_cut_key),
	  .reloadable = true,
	  .help = "the dotted key path of the cut time in cut_json" },
	{ "ingest", "legacy_codepage", CUSTOM_AT(ingest.legacy_codepage, parse_codepage),
	  .def = "CP850", .reloadable = true,
	  .help = "code page of zip names without the UTF-8 flag that are not UTF-8 "
		  "(Windows' OEM code page; es-MX: CP850)" },
	{ "ingest", "poll", .flag = "poll", .arg = "SECONDS", UINT_AT(ingest.poll_s),
	  .min = 1, .max = 86400, .def_num = FETCH_POLL_DEFAULT, .reloadable = true,
	  .help = "seconds between polls" },
	{ "ingest", "ca", .flag = "ca", .arg = "FILE", PATH_AT(fetch.ca_file), .reloadable = true,
	  .help = "CA certificates to trust for the upstream, PEM (unset: the system's)" },
	{ "ingest", "pin", CUSTOM_AT(fetch.pinned_key, parse_pin), .reloadable = true,
	  .help = "the upstream's public key: sha256//BASE64 or a PEM/DER key file" },
	{ "ingest", "client_cert", .flag = "client-cert", .arg = "FILE",
	  PATH_AT(fetch.client_cert), .reloadable = true,
	  .help = "client certificate for the upstream, PEM" },
	{ "ingest", "client_key", .flag = "client-key", .arg = "FILE",
	  PATH_AT(fetch.client_key), .reloadable = true,
	  .help = "its private key, PEM" },
	{ "ingest", "auth_file", PATH_AT(fetch.auth_file), .reloadable = true,
	  .help = "a file with user:password or Bearer TOKEN for the upstream" },
	{ "ingest", "known_hosts", PATH_AT(fetch.known_hosts), .reloadable = true,
	  .help = "the SFTP server's host keys, OpenSSH format" },
	{ "ingest", "ssh_key", PATH_AT(fetch.ssh_key), .reloadable = true,
	  .help = "the private key to log in to the SFTP server with" },
	{ "ingest", "connect_timeout", UINT_AT(fetch.connect_timeout_s),
	  .min = 1, .max = 600, .def_num = FETCH_CONNECT_TIMEOUT_DEFAULT,
	  .reloadable = true,
	  .help = "seconds to connect to the upstream" },
	{ "ingest", "fetch_timeout", UINT_AT(fetch.total_timeout_s),
	  .min = 1, .max = 86400, .def_num = FETCH_TIMEOUT_DEFAULT, .reloadable = true,
	  .help = "seconds for a whole transfer" },
	{ "ingest", "low_speed_limit", UINT_AT(fetch.low_speed_bytes),
	  .min = 1, .max = 1u << 30, .def_num = FETCH_LOW_SPEED_BYTES_DEFAULT,
	  .reloadable = true,
	  .help = "bytes a second below which a transfer is stalled ..." },
	{ "ingest", "low_speed_time", UINT_AT(fetch.low_speed_s),
	  .min = 1, .max = 3600, .def_num = FETCH_LOW_SPEED_TIME_DEFAULT,
	  .reloadable = true,
	  .help = "... for this many seconds" },
	{ "ingest", "spool", .flag = "spool", .arg = "DIR", PATH_AT(ingest.spool_dir),
	  .help = "publish packages dropped into DIR (SFTP push)" },
	{ "ingest", "verify", .flag = "verify", .arg = "MODE",
	  ENUM_AT(ingest.verify, verify_modes), .def = "none", .reloadable = true,
	  .help = "none, sha256 (NAME.sha256 sidecar), cms (NAME.p7s) or ed25519 "
		  "(NAME.sig)" },
	{ "ingest", "trust", .flag = "trust", .arg = "FILE", PATH_AT(ingest.trust_file), .reloadable = true,
	  .help = "signer certificate (cms) or public key (ed25519), PEM" },
	{ "ingest", "kind", ENUM_AT(ingest.kind, ingest_kinds), .def = "auto",
	  .reloadable = true,
	  .help = "auto, full or incremental: how a package is laid on the site" },
	{ "ingest", "max_package_bytes", SIZE_AT(ingest.max_package_bytes),
	  .min = 1024, .max = 64ull << 30, .def_num = PKG_MAX_PACKAGE_BYTES_DEFAULT,
	  .reloadable = true,
	  .help = "the largest package file accepted" },
	{ "ingest", "min_free_bytes", SIZE_AT(ingest.min_free_bytes),
	  .min = 0, .max = 1ull << 50, .def_num = DISK_MIN_FREE_DEFAULT,
	  .reloadable = true,
	  .help = "warn when the data folder's disk has less free" },
	{ "ingest", "evidence_wait", UINT_AT(ingest.evidence_wait_s), .expect = "seconds",
	  .min = 1, .max = 86400, .def_num = SPOOL_EVIDENCE_WAIT_DEFAULT,
	  .reloadable = true,
	  .help = "seconds a spool package waits for its evidence" },
	/* Cuts and the institute's clock (R8, R9, R11, R13). */
	{ "ingest", "require_base", BOOL_AT(ingest.require_base), .def = "yes",
	  .reloadable = true,
	  .help = "a full cut must have an index.html with a <base href> in its head "
		  "(R11's health check looks for it)" },
	{ "ingest", "required_paths", CUSTOM_AT(ingest.required_paths, parse_required_paths),
	  .reloadable = true,
	  .help = "package paths every full cut must have, separated by spaces" },
	{ "ingest", "period", DURATION_AT(ingest.period_s), .def = INGEST_PERIOD_DEFAULT,
	  .min = 1, .max = 86400, .reloadable = true,
	  .help = "the institute's update period (R9): a period with no newer cut "
		  "published is a failed one; three in a row cut a difusor off (R13)" },
	{ "ingest", "time_zone", CUSTOM_AT(ingest.time_zone, parse_time_zone),
	  .def = CUT_ZONE_DEFAULT,
	  .help = "the institute's time zone (IANA name): cut times and zip file "
		  "times are its local times" },

	/* [limits] */
	{ "limits", "max_entries", SIZE_AT(limits.max_entries),
	  .min = 1, .max = 10000000, .def_num = PKG_MAX_ENTRIES_DEFAULT,
	  .reloadable = true,
	  .help = "files and folders in one package" },
	{ "limits", "max_total_bytes", SIZE_AT(limits.max_total_bytes),
	  .min = 1024, .max = 64ull << 30, .def_num = PKG_MAX_TOTAL_BYTES_DEFAULT,
	  .reloadable = true,
	  .help = "sum of one package's unpacked sizes" },
	{ "limits", "max_file_bytes", SIZE_AT(limits.max_file_bytes),
	  .min = 1024, .max = 64ull << 30, .def_num = PKG_MAX_FILE_BYTES_DEFAULT,
	  .reloadable = true,
	  .help = "one unpacked file" },
	{ "limits", "max_path_bytes", SIZE_AT(limits.max_path_bytes),
	  .min = 16, .max = PKG_MAX_PATH_BYTES_MAX, .def_num = PKG_MAX_PATH_BYTES_DEFAULT,
	  .reloadable = true,
	  .help = "one path inside a package" },

	/* [shield] */
	{ "shield", "trusted_proxies", CUSTOM_AT(shield.trusted_proxies, parse_trusted_proxies),
	  .help = "addresses and ranges (CIDR) of the proxies, load balancers or CDN "
		  "whose client-address header or PROXY header is believed" },
	{ "shield", "exempt", CUSTOM_AT(shield.exempt, parse_trusted_proxies), .reloadable = true,
	  .def = "127.0.0.0/8 ::1",
	  .help = "addresses and ranges (CIDR) of clients that are never limited; "
		  "'off' for none" },
	{ "shield", "client_header", ENUM_AT(shield.client_header, shield_headers),
	  .def = "x-forwarded-for",
	  .help = "the header a trusted proxy names the client in: x-forwarded-for, "
		  "cf-connecting-ip or none" },
	{ "shield", "proxy_protocol", ENUM_AT(shield.proxy_protocol, shield_pp), .def = "off",
	  .help = "the PROXY protocol header trusted proxies send first on the public "
		  "listeners: off, v1, v2 or any" },
	{ "shield", "ipv6_prefix", UINT_AT(shield.ipv6_prefix), .expect = "prefix bits",
	  .min = 32, .max = 128, .def_num = 64,
	  .help = "IPv6 clients are limited per prefix of this many bits" },
	{ "shield", "connections_per_client", UINT_AT(shield.conn_limit), .reloadable = true,
	  .min = 0, .max = 1000000, .def_num = 0, .zero = "no limit",
	  .help = "open connections per client address" },
	{ "shield", "connection_action", ENUM_AT(shield.conn_action, shield_actions), .reloadable = true,
	  .def = "close",
	  .help = "past connections_per_client: log, 429, close or block" },
	{ "shield", "rate", UINT_AT(shield.rate), .expect = "requests a second", .reloadable = true,
	  .min = 0, .max = 1000000, .def_num = SHIELD_RATE_DEFAULT, .zero = "no limit",
	  .help = "requests a second per client address (token bucket)" },
	{ "shield", "rate_burst", UINT_AT(shield.burst), .expect = "requests", .reloadable = true,
	  .min = 1, .max = 10000000, .def_num = SHIELD_BURST_DEFAULT,
	  .help = "requests a client may make at once above the rate" },
	{ "shield", "rate_action", ENUM_AT(shield.rate_action, shield_actions), .def = "429", .reloadable = true,
	  .help = "past the rate: log, 429, close or block" },
	{ "shield", "block_minutes", UINT_AT(shield.block_minutes), .expect = "minutes", .reloadable = true,
	  .min = 1, .max = 10080, .def_num = SHIELD_BLOCK_MINUTES_DEFAULT,
	  .help = "how long the block action blocks an address" },
	{ "shield", "webhook", CUSTOM_AT(shield.webhook, parse_webhook), .reloadable = true,
	  .help = "an http:// or https:// URL that gets a JSON POST for each action taken" },

	/* [placeholder] (server/www.c fills them into www-default/index.html) */
	{ "placeholder", "starts", CUSTOM_AT(placeholder.starts, parse_starts), .def = "20:00",
	  .reloadable = true,
	  .help = "when results start, in the institute's time zone: YYYY-MM-DDTHH:MM "
		  "or HH:MM" },
	{ "placeholder", "institute", CUSTOM_AT(placeholder.institute, parse_name),
	  .reloadable = true,
	  .help = "the institute's name, shown on the built-in page" },
	{ "placeholder", "difusor", CUSTOM_AT(placeholder.difusor, parse_name),
	  .reloadable = true,
	  .help = "the difusor's name (yours), shown on the built-in page" },
	{ "placeholder", "refresh", DURATION_AT(placeholder.refresh), .min = 5, .max = 3600,
	  .def = "1m", .reloadable = true,
	  .help = "how often the built-in page reloads itself, so a visitor sees the "
		  "results as soon as the first cut is published" },

	/* [probe] (server/probe.c) */
	{ "probe", "interval", DURATION_AT(probe.interval), .min = 0, .max = 3600,
	  .def = PROBE_INTERVAL_DEFAULT,
	  .help = "how often prepd GETs / on its own HTTP and HTTPS listeners over "
		  "loopback and records the answer in DATA/stats.db (availability in "
		  "prepd report); 0 turns it off" },

	/* [purge NAME]: one CDN purge target per section (edge/purge.h) */
	{ "purge", "type", PURGE_AT(type, int), .type = SETTING_ENUM, .names = purge_types,
	  .help = "varnish, cloudflare, cloudfront, fastly or webhook (required)" },
	{ "purge", "by", PURGE_AT(by, int), .type = SETTING_ENUM, .names = purge_bys,
	  .def = "default",
	  .help = "what a purge names: paths (the cut's changed paths), cut (varnish: "
		  "one ban of what is not this cut), tags, everything; default: the "
		  "type's (varnish cut, cloudflare and cloudfront paths, fastly tags, "
		  "webhook paths)" },
	{ "purge", "url", PURGE_AT(url, char *), .type = SETTING_CUSTOM, .parse = parse_edge_url,
	  .help = "the endpoint: Varnish's or the webhook's URL; for cloudflare, "
		  "cloudfront and fastly an override of the API's base URL" },
	{ "purge", "host", PURGE_AT(host, char *), .type = SETTING_HEADER,
	  .expect = "a host name such as resultados.example.mx",
	  .help = "varnish: the Host header the edge caches the site under" },
	{ "purge", "site", PURGE_AT(site, char *), .type = SETTING_CUSTOM,
	  .parse = parse_edge_url,
	  .help = "the public site's base URL, for purges by URL "
		  "(https://resultados.example.mx)" },
	{ "purge", "zone", PURGE_AT(zone, char *), .type = SETTING_CUSTOM, .parse = parse_edge_id,
	  .help = "cloudflare: the zone id" },
	{ "purge", "distribution", PURGE_AT(distribution, char *), .type = SETTING_CUSTOM,
	  .parse = parse_edge_id,
	  .help = "cloudfront: the distribution id" },
	{ "purge", "service", PURGE_AT(service, char *), .type = SETTING_CUSTOM,
	  .parse = parse_edge_id,
	  .help = "fastly: the service id" },
	{ "purge", "secret_file", PURGE_AT(secret_file, char *), .type = SETTING_PATH,
	  .help = "a file holding the cloudflare API token, the fastly API key, the "
		  "cloudfront ACCESS_KEY_ID:SECRET_ACCESS_KEY or the webhook's HMAC secret; "
		  "read at start, never logged" },
	{ "purge", "tags", PURGE_AT(tags, char *), .type = SETTING_CUSTOM,
	  .parse = parse_edge_tags,
	  .help = "cache tags or surrogate keys to purge, separated by spaces; {cut} is "
		  "the new cut's label" },
	{ "purge", "soft", PURGE_AT(soft, bool), .type = SETTING_BOOL, .def = "no",
	  .help = "fastly: a soft purge (marks stale; served while revalidating)" },
	{ "purge", "batch", PURGE_AT(batch, unsigned), .type = SETTING_UINT,
	  .min = 0, .max = PURGE_BATCH_MAX, .def_num = 0, .zero = "the type's documented maximum",
	  .help = "paths, URLs or tags per request" },
	{ "purge", "timeout", PURGE_AT(timeout_ms, unsigned), .type = SETTING_MILLIS,
	  .min = 100, .max = 300000, .def = "10s",
	  .help = "one attempt, from connecting to the answer's last byte" },
	{ "purge", "retries", PURGE_AT(retries, unsigned), .type = SETTING_UINT,
	  .min = 0, .max = 100, .def_num = 8,
	  .help = "attempts after the first, on 5xx, 429, a timeout or a connection error" },
	{ "purge", "backoff", PURGE_AT(backoff_ms, unsigned), .type = SETTING_MILLIS,
	  .min = 10, .max = 600000, .def = "1s",
	  .help = "the wait before the first retry; it doubles, with jitter" },
	{ "purge", "backoff_max", PURGE_AT(backoff_max_ms, unsigned), .type = SETTING_MILLIS,
	  .min = 10, .max = 3600000, .def = "60s",
	  .help = "the longest wait between two attempts (a longer Retry-After is obeyed)" },

	/* [fleet] (edge/fleet.h) */
	{ "fleet", "peers", CUSTOM_AT(fleet.peers, parse_peers),
	  .help = "the other origins' serving listeners, http:// or https:// URLs "
		  "separated by spaces; the purge of a cut waits for them to serve it" },
	{ "fleet", "poll", MILLIS_AT(fleet.poll_ms), .min = 50, .max = 60000, .def = "250ms",
	  .help = "how often every peer's cut is read" },
	{ "fleet", "timeout", MILLIS_AT(fleet.timeout_ms), .min = 50, .max = 60000, .def = "1s",
	  .help = "one read of one peer; a peer that does not answer in time is unhealthy" },
	{ "fleet", "max_wait", MILLIS_AT(fleet.max_wait_ms), .min = 0, .max = 3600000,
	  .def = "30s",
	  .help = "a cut's purge fires after this even if a healthy peer does not serve it" },

	/* [stats] (server/stats.c; `prepd stats import` reads them too) */
	{ "stats", "enabled", BOOL_AT(stats.on), .def = "yes",
	  .help = "count requests, visitors, page views and sessions into DATA/stats.db" },
	{ "stats", "session_gap", DURATION_AT(stats.session_gap), .def = STATS_SESSION_GAP_DEFAULT,
	  .min = 60, .max = 86400,
	  .help = "time without a request that ends a visitor's session (time on site)" },
};
const size_t settings_count = sizeof settings / sizeof settings[0];
/* settings_set() lists sections in an array sized for the keys. */
_Static_assert(NSECTIONS <= sizeof settings / sizeof settings[0], "more sections than keys");

/* Appends the n items to buf as "a, b" + last + "c", each in brackets
 * when bracket ("[a]"). */
static void join(char *buf, size_t bufsz, const char *const *items, size_t n,
		 bool bracket, const char *last)
{
	size_t len = strlen(buf);
	for (size_t i = 0; i < n && len < bufsz; i++) {
		const char *sep = !i ? "" : i + 1 == n ? last : ", ";
		len += (size_t)snprintf(buf + len, bufsz - len, "%s", sep);
		if (len < bufsz)
			len += (size_t)snprintf(buf + len, bufsz - len, bracket ? "[%s]" : "%s",
						items[i]);
	}
}

static void *slot_of(struct config *cfg, const struct setting *s)
{
	return (char *)cfg + s->offset;
}

/* A named row's field in instance i. */
static void *named_slot(void *cfg, const struct setting *s, unsigned i)
{
	return (char *)cfg + s->offset + (size_t)i * sizeof(struct purge_target_settings);
}

/* "purge NAME" and "purge" are the named section; *name is NAME. */
static bool is_named(const char *section, const char **name)
{
	size_t n = strlen(PURGE_SECTION);
	if (strncmp(section, PURGE_SECTION, n) || (section[n] && section[n] != ' '))
		return false;
	*name = section + n;
	while (**name == ' ')
		(*name)++;
	return true;
}

/* "yes"/"no" and the usual synonyms; false when value is none of them. */
static bool parse_bool(const char *value, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (!strcasecmp(value, yes[i]) || !strcasecmp(value, no[i])) {
			*out = !strcasecmp(value, yes[i]);
			return true;
		}
	}
	return false;
}

/* "90", "90s", "15m", "2h" in seconds, within [min, max]. */
static bool parse_duration(const char *value, uint64_t min, uint64_t max, uint64_t *out)
{
	size_t len = strlen(value);
	if (!len || len > 12)
		return false;
	char num[16];
	memcpy(num, value, len + 1);
	uint64_t unit = 1;
	char last = num[len - 1];
	if (last == 's' || last == 'm' || last == 'h') {
		unit = last == 'h' ? 3600 : last == 'm' ? 60 : 1;
		num[--len] = '\0';
	}
	uint64_t n;
	if (!len || !parse_uint(num, 0, max, &n) || n * unit < min || n * unit > max)
		return false;
	*out = n * unit;
	return true;
}

static bool holds_string(const struct setting *s)
{
	return s->type == SETTING_PATH || s->type == SETTING_HEADER ||
	       s->type == SETTING_CUSTOM;
}

const struct setting *settings_find(const char *section, const char *key)
{
	const char *name;
	if (is_named(section, &name))
		section = PURGE_SECTION;
	for (size_t i = 0; i < settings_count; i++)
		if (!strcmp(settings[i].section, section) && !strcmp(settings[i].key, key))
			return &settings[i];
	return NULL;
}

const struct setting *settings_find_flag(const char *flag)
{
	for (size_t i = 0; i < settings_count; i++)
		if (settings[i].flag && !strcmp(settings[i].flag, flag))
			return &settings[i];
	return NULL;
}

static enum rc set_str(char **slot, const char *value)
{
	char *v = strdup(value);
	if (!v)
		return RC_NOMEM;
	free(*slot);
	*slot = v;
	return RC_OK;
}

/* Replaces *slot with value, resolved against base_dir when relative. */
static enum rc set_path(char **slot, const char *value, const char *base_dir)
{
	if (!base_dir || value[0] == '/' || !*value)
		return set_str(slot, value);
	char *v;
	if (asprintf(&v, "%s/%s", base_dir, value) < 0)
		return RC_NOMEM;
	free(*slot);
	*slot = v;
	return RC_OK;
}

static enum rc parse_number(const struct setting *s, uint64_t *out, const char *value,
			    char *err, size_t errsz)
{
	bool size = s->type == SETTING_SIZE;
	uint64_t n;
	if (size ? parse_size(value, s->max, &n) && n >= s->min :
		   parse_uint(value, s->min, s->max, &n)) {
		*out = n;
		return RC_OK;
	}
	char zero[64] = "";
	if (s->zero)
		snprintf(zero, sizeof zero, " (0: %s)", s->zero);
	snprintf(err, errsz, "%s = '%s': expected %s from %llu to %llu%s", s->key, value,
	         s->expect ? s->expect : "a number", (unsigned long long)s->min,
	         (unsigned long long)s->max, size ? " (K, M and G suffixes allowed)" : zero);
	return RC_FORMAT;
}

/* "250ms", "2s", "1m" in milliseconds, within [min, max]. */
static bool parse_millis(const char *value, uint64_t min, uint64_t max, uint64_t *out)
{
	size_t len = strlen(value);
	if (!len || len > 12)
		return false;
	char num[16];
	memcpy(num, value, len + 1);
	uint64_t unit;
	if (len > 2 && !strcmp(num + len - 2, "ms")) {
		unit = 1;
		len -= 2;
	} else if (num[len - 1] == 's' || num[len - 1] == 'm') {
		unit = num[len - 1] == 'm' ? 60000 : 1000;
		len--;
	} else {
		return false;
	}
	num[len] = '\0';
	uint64_t n;
	if (!len || !parse_uint(num, 0, max, &n) || n * unit < min || n * unit > max)
		return false;
	*out = n * unit;
	return true;
}

static enum rc apply_slot(struct config *cfg, const struct setting *s, void *slot,
			  const char *value, const char *base_dir, char *err, size_t errsz);

enum rc settings_apply(struct config *cfg, const struct setting *s,
		       const char *value, const char *base_dir, char *err,
		       size_t errsz)
{
	return apply_slot(cfg, s, slot_of(cfg, s), value, base_dir, err, errsz);
}

static enum rc apply_slot(struct config *cfg, const struct setting *s, void *slot,
			  const char *value, const char *base_dir, char *err, size_t errsz)
{
	uint64_t n;
	enum rc rc;
	switch (s->type) {
	case SETTING_UINT:
		rc = parse_number(s, &n, value, err, errsz);
		if (!rc)
			*(unsigned *)slot = (unsigned)n;
		return rc;
	case SETTING_SIZE:
		rc = parse_number(s, &n, value, err, errsz);
		if (!rc)
			*(uint64_t *)slot = n;
		return rc;
	case SETTING_ENUM:
		for (int i = 0; s->names[i]; i++) {
			if (!strcasecmp(value, s->names[i])) {
				*(int *)slot = i;
				return RC_OK;
			}
		}
		snprintf(err, errsz, "%s = '%s': expected ", s->key, value);
		size_t count = 0;
		while (s->names[count])
			count++;
		join(err, errsz, s->names, count, false, " or ");
		return RC_FORMAT;
	case SETTING_PATH:
		return set_path(slot, value, base_dir);
	case SETTING_HEADER:
		/* The value is not repeated: it may hold control bytes. */
		if (!*value || !hdr_value_valid(value)) {
			snprintf(err, errsz, "%s: expected %s", s->key, s->expect);
			return RC_FORMAT;
		}
		return set_str(slot, value);
	case SETTING_LISTEN:
		if (config_parse_listen(value, slot)) {
			snprintf(err, errsz, "%s = '%s': expected HOST:PORT, [IPV6]:PORT, :PORT or off "
			         "(HOST is a numeric address, e.g. 127.0.0.1:8080)", s->key, value);
			return RC_FORMAT;
		}
		return RC_OK;
	case SETTING_CUSTOM:
		return s->parse(cfg, s, slot, value, base_dir, err, errsz);
	case SETTING_BOOL:
		if (!parse_bool(value, slot)) {
			snprintf(err, errsz, "%s = '%s': expected yes or no", s->key, value);
			return RC_FORMAT;
		}
		return RC_OK;
	case SETTING_DURATION:
		if (!parse_duration(value, s->min, s->max, &n)) {
			snprintf(err, errsz, "%s = '%s': expected a time from %llus to %llus, with an "
				 "s, m or h suffix (e.g. 15m)", s->key, value,
				 (unsigned long long)s->min, (unsigned long long)s->max);
			return RC_FORMAT;
		}
		*(unsigned *)slot = (unsigned)n;
		return RC_OK;
	case SETTING_MILLIS:
		if (!parse_millis(value, s->min, s->max, &n)) {
			snprintf(err, errsz, "%s = '%s': expected a time from %llums to %llums with "
				 "an ms, s or m suffix (e.g. 250ms, 2s)", s->key, value,
				 (unsigned long long)s->min, (unsigned long long)s->max);
			return RC_FORMAT;
		}
		*(unsigned *)slot = (unsigned)n;
		return RC_OK;
	}
	return RC_INVALID;
}

/* The instance of [purge NAME], made (with the rows' defaults) when NAME
 * is new. */
static enum rc named_instance(struct config *cfg, const char *name, unsigned *out,
			      char *err, size_t errsz)
{
	size_t n = strlen(name);
	bool ok = n < PURGE_NAME_BYTES;
	for (size_t i = 0; ok && i < n; i++)
		ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
		     (name[i] >= '0' && name[i] <= '9') || name[i] == '_' || name[i] == '-';
	if (!ok) {
		snprintf(err, errsz, "[purge %.40s]: expected a name of at most %u letters, digits, "
			 "'_' or '-' after purge, e.g. [purge cdn]", name, PURGE_NAME_BYTES - 1);
		return RC_FORMAT;
	}
	struct purge_settings *ps = &cfg->purge;
	for (unsigned i = 0; i < ps->count; i++)
		if (!strcmp(ps->targets[i].name, name)) {
			*out = i;
			return RC_OK;
		}
	if (ps->count >= PURGE_MAX_TARGETS) {
		snprintf(err, errsz, "[purge %s]: at most %u purge targets (PURGE_MAX_TARGETS)",
			 name, PURGE_MAX_TARGETS);
		return RC_LIMIT;
	}
	unsigned i = ps->count++;
	snprintf(ps->targets[i].name, sizeof ps->targets[i].name, "%s", name);
	for (size_t r = 0; r < settings_count; r++) {
		const struct setting *s = &settings[r];
		char def[CFG_MAX_VALUE_BYTES + 1], e[256];
		if (!s->named || !settings_default(s, def, sizeof def))
			continue;
		enum rc rc = apply_slot(cfg, s, named_slot(cfg, s, i), def, NULL, e, sizeof e);
		if (rc)
			return rc;
	}
	*out = i;
	return RC_OK;
}

/* [headers]: PATTERN = Header-Name: value. */
static enum rc set_header_rule(struct config *cfg, const char *pattern, const char *value,
			       char *err, size_t errsz)
{
	const char *colon = strchr(value, ':');
	if (!colon || colon == value) {
		snprintf(err, errsz, "[headers] %s: expected 'PATTERN = Header-Name: value', "
		         "e.g. /json/main.json = Cache-Control: no-cache", pattern);
		return RC_FORMAT;
	}
	char name[CFG_MAX_HEADER_NAME_BYTES + 1];
	size_t nlen = (size_t)(colon - value);
	while (nlen && (value[nlen - 1] == ' ' || value[nlen - 1] == '\t'))
		nlen--;
	if (nlen >= sizeof name) {
		snprintf(err, errsz, "[headers] %s: header name too long", pattern);
		return RC_FORMAT;
	}
	memcpy(name, value, nlen);
	name[nlen] = '\0';
	const char *hv = colon + 1;
	while (*hv == ' ' || *hv == '\t')
		hv++;
	const char *why;
	enum rc rc = rules_add(&cfg->response.rules, pattern, name, hv, &why);
	if (rc && rc != RC_NOMEM)
		snprintf(err, errsz, "[headers] %s = %s: %s", pattern, value, why);
	return rc;
}

enum rc settings_set(struct config *cfg, const char *section, const char *key,
		     const char *value, const char *base_dir, char *err,
		     size_t errsz)
{
	if (!strcmp(section, HEADERS_SECTION))
		return set_header_rule(cfg, key, value, err, errsz);
	const struct setting *s = settings_find(section, key);
	const char *name;
	if (s && s->named && is_named(section, &name)) {
		unsigned i;
		enum rc rc = named_instance(cfg, name, &i, err, errsz);
		if (rc)
			return rc;
		return apply_slot(cfg, s, named_slot(cfg, s, i), value, base_dir, err, errsz);
	}
	if (s)
		return settings_apply(cfg, s, value, base_dir, err, errsz);
	if (is_named(section, &name))
		section = PURGE_SECTION;

	const char *names[sizeof settings / sizeof settings[0]];
	size_t n = 0;
	for (size_t i = 0; i < settings_count; i++)
		if (!strcmp(settings[i].section, section))
			names[n++] = settings[i].key;
	if (n) {
		snprintf(err, errsz, "unknown key '%s' in [%s%s]; known keys: ", key, section,
			 strcmp(section, PURGE_SECTION) ? "" : " NAME");
		join(err, errsz, names, n, false, ", ");
		return RC_FORMAT;
	}
	for (n = 0; n < NSECTIONS; n++)
		names[n] = sections[n].name;
	if (!*section) {
		snprintf(err, errsz, "'%s' is outside any section; put it under ", key);
		join(err, errsz, names, n, true, " or ");
	} else {
		snprintf(err, errsz, "unknown section [%s]; known sections: ", section);
		join(err, errsz, names, n, true, ", ");
	}
	return RC_FORMAT;
}

bool settings_default(const struct setting *s, char *buf, size_t bufsz)
{
	if (s->type != SETTING_UINT && s->type != SETTING_SIZE) {
		snprintf(buf, bufsz, "%s", s->def ? s->def : "");
		return s->def != NULL;
	}
	static const struct { char suffix; unsigned shift; } units[] = {
		{ 'G', 30 }, { 'M', 20 }, { 'K', 10 },
	};
	uint64_t v = s->def_num;
	for (size_t i = 0; s->type == SETTING_SIZE && v && i < 3; i++) {
		if (!(v & ((1ull << units[i].shift) - 1))) {
			snprintf(buf, bufsz, "%llu%c", (unsigned long long)(v >> units[i].shift),
				 units[i].suffix);
			return true;
		}
	}
	snprintf(buf, bufsz, "%llu", (unsigned long long)v);
	return true;
}

void settings_apply_defaults(struct config *cfg)
{
	for (size_t i = 0; i < settings_count; i++) {
		const struct setting *s = &settings[i];
		char def[CFG_MAX_VALUE_BYTES + 1], err[256];
		if (s->named || !settings_default(s, def, sizeof def))
			continue;   /* a named section's instance gets them when made */
		if (settings_apply(cfg, s, def, NULL, err, sizeof err)) {
			fprintf(stderr, "prepd: the default of %s.%s: %s\n", s->section, s->key, err);
			abort();
		}
		if (s->type == SETTING_LISTEN)   /* a default is not "given explicitly" */
			((struct listen_addr *)slot_of(cfg, s))->set = false;
	}
}

void settings_release(struct config *cfg)
{
	for (size_t i = 0; i < settings_count; i++) {
		if (!holds_string(&settings[i]))
			continue;
		/* Two rows may share a field (upstream, upstream_index). */
		for (unsigned k = 0; k < (settings[i].named ? PURGE_MAX_TARGETS : 1); k++) {
			char **slot = named_slot(cfg, &settings[i], k);
			free(*slot);
			*slot = NULL;
		}
	}
}

/* --help: "  --flag ARG" padded to the text column, then the help and the
 * default, wrapped at 79 columns. */
#define HELP_COLUMN 23
#define HELP_WIDTH 79

static void help_row(FILE *out, const struct setting *s)
{
	char text[1024], def[CFG_MAX_VALUE_BYTES + 1];
	size_t len = (size_t)snprintf(text, sizeof text, "%s", s->help);
	/* The TLS priority string is too long to show; the file documents it. */
	if (settings_default(s, def, sizeof def) && strlen(def) < 40 && len < sizeof text)
		snprintf(text + len, sizeof text - len, " (default %.40s%s%.200s)", def,
			 s->zero && !s->def_num ? ": " : "", s->zero && !s->def_num ? s->zero : "");

	int col = fprintf(out, "  --%s %s", s->flag, s->arg);
	if (col + 2 > HELP_COLUMN) {
		fputc('\n', out);
		col = 0;
	}
	for (const char *p = text; *p; col = 0) {
		/* As many words as fit; a word longer than a line goes alone. */
		size_t room = HELP_WIDTH - HELP_COLUMN, take = strlen(p);
		if (take > room) {
			take = room;
			while (take && p[take] != ' ')
				take--;
			if (!take)
				take = strcspn(p, " ");
		}
		fprintf(out, "%*s%.*s\n", HELP_COLUMN - col, "", (int)take, p);
		p += take;
		while (*p == ' ')
			p++;
	}
}

void settings_help(FILE *out)
{
	for (size_t sec = 0; sec < NSECTIONS; sec++) {
		bool first = true;
		for (size_t i = 0; i < settings_count; i++) {
			const struct setting *s = &settings[i];
			if (!s->flag || strcmp(s->section, sections[sec].name))
				continue;
			if (first)
				fprintf(out, "\n%s:\n", sections[sec].title);
			first = false;
			help_row(out, s);
		}
	}
}

/* A login name as useradd takes it (letters, digits, '_', '-', '.', not
 * starting with '-'), or a numeric uid; whether it exists is checked at
 * start (privs_lookup), where the error can say so. */
static enum rc parse_user(struct config *cfg, const struct setting *s,
			  char **slot, const char *value,
			  const char *base_dir, char *err, size_t errsz)
{
	size_t n = strlen(value);
	bool ok = n > 0 && n < 32 && value[0] != '-';
	for (size_t i = 0; ok && i < n; i++)
		ok = (value[i] >= 'a' && value[i] <= 'z') || (value[i] >= 'A' && value[i] <= 'Z') ||
		     (value[i] >= '0' && value[i] <= '9') || strchr("_-.", value[i]);
	if (!ok) {
		snprintf(err, errsz, "%s = '%s': expected a user name such as prepd, or a "
			 "numeric uid", s->key, value);
		return RC_FORMAT;
	}
	return set_str(slot, value);
}

/* [tls] certs: CERT KEY pairs, each path resolved like any file; stored
 * as absolute paths joined by one space (tls_load() splits them). A path
 * with whitespace cannot be written here. */
static enum rc parse_certs(struct config *cfg, const struct setting *s,
			   char **slot, const char *value,
			   const char *base_dir, char *err, size_t errsz)
{
	(void)cfg;
	size_t len = strlen(value);
	char *buf = malloc(len + 1);
	if (!buf)
		return RC_NOMEM;
	const char *files[2 * TLS_MAX_CERTS];
	unsigned n = tls_split_list(value, buf, len + 1, files, 2 * TLS_MAX_CERTS);
	if (!n || n % 2 || n > 2 * (TLS_MAX_CERTS - 1)) {
		snprintf(err, errsz, "%s = '%.200s': expected pairs of files, CERT KEY [CERT KEY "
			 "...], %u pairs at most (TLS_MAX_CERTS; cert and key are the first)",
			 s->key, value, TLS_MAX_CERTS - 1);
		free(buf);
		return n > 2 * (TLS_MAX_CERTS - 1) ? RC_LIMIT : RC_FORMAT;
	}
	for (unsigned i = 0; i < n; i++)
		if (base_dir && files[i][0] != '/' && strpbrk(base_dir, " \t\r\n")) {
			snprintf(err, errsz, "%s: '%s' is relative and the config file's folder has "
				 "whitespace in its name; give absolute paths", s->key, files[i]);
			free(buf);
			return RC_FORMAT;
		}
	char *out = NULL;
	size_t outlen = 0;
	FILE *f = open_memstream(&out, &outlen);
	if (!f) {
		free(buf);
		return RC_NOMEM;
	}
	for (unsigned i = 0; i < n; i++) {
		bool rel = base_dir && files[i][0] != '/';
		fprintf(f, "%s%s%s%s", i ? " " : "", rel ? base_dir : "", rel ? "/" : "", files[i]);
	}
	free(buf);
	if (fclose(f)) {
		free(out);
		return RC_NOMEM;
	}
	free(*slot);
	*slot = out;
	return RC_OK;
}

/* [tls] hsts: off, or a Strict-Transport-Security value. */
static enum rc parse_hsts(struct config *cfg, const struct setting *s,
			  char **slot, const char *value,
			  const char *base_dir, char *err, size_t errsz)
{
	(void)cfg;
	(void)base_dir;
	if (!strcasecmp(value, "off") || !strcasecmp(value, "no")) {
		free(*slot);
		*slot = NULL;
		return RC_OK;
	}
	char why[160];
	if (!hdr_value_valid(value) || !tls_hsts_check(value, why, sizeof why)) {
		snprintf(err, errsz, "%s = '%.200s': %s; expected off or a Strict-Transport-Security "
			 "value such as max-age=31536000; includeSubDomains", s->key, value,
			 hdr_value_valid(value) ? why : "not a valid header value");
		return RC_FORMAT;
	}
	return set_str(slot, value);
}

/* [cache] cdn_ttl: auto, or a time as parse_duration() reads it; kept as
 * "auto" or the seconds, which config_finish() reads. */
static enum rc parse_cdn_ttl(struct config *cfg, const struct setting *s,
			     char **slot, const char *value,
			     const char *base_dir, char *err, size_t errsz)
{
	(void)cfg;
	(void)base_dir;
	if (!strcasecmp(value, "auto"))
		return set_str(slot, "auto");
	uint64_t n;
	if (!parse_duration(value, 0, 31536000, &n)) {
		snprintf(err, errsz, "%s = '%.100s': expected auto or a time from 0s to 8760h, "
			 "with an s, m or h suffix (e.g. 1h)", s->key, value);
		return RC_FORMAT;
	}
	char num[24];
	snprintf(num, sizeof num, "%llu", (unsigned long long)n);
	return set_str(slot, num);
}

static enum rc parse_cdn_header(struct config *cfg, const struct setting *s,
				char **slot, const char *value,
				const char *base_dir, char *err, size_t errsz)
{
	(void)cfg;
	(void)base_dir;
	unsigned bits;
	if (!rules_parse_cdn_header(value, &bits)) {
		snprintf(err, errsz, "%s = '%.100s': expected none, or one or more of s-maxage, "
			 "surrogate-control and cdn-cache-control, each once", s->key, value);
		return RC_FORMAT;
	}
	return set_str(slot, value);
}

static enum rc parse_cache_tags(struct config *cfg, const struct setting *s,
				char **slot, const char *value,
				const char *base_dir, char *err, size_t errsz)
{
	(void)cfg;
	(void)base_dir;
	unsigned bits;
	if (!rules_parse_tags(value, &bits)) {
		snprintf(err, errsz, "%s = '%.100s': expected off, or surrogate-key, cache-tag "
			 "or both", s->key, value);
		return RC_FORMAT;
	}
	return set_str(slot, value);
}

/* CSP source list for frame-ancestors: space-separated sources, none of
 * which may end the directive early (';' or ',') or carry control bytes. */
static enum rc parse_frame_ancestors(struct config *cfg, const struct setting *s,
				     char **slot, const char *value,
				     const char *base_dir, char *err, size_t errsz)
{
	if (!*value || !hdr_value_valid(value) || strpbrk(value, ";,\"")) {
		snprintf(err, errsz, "%s = '%s': expected CSP sources separated by spaces, "
		         "e.g. * or 'self' https://www.example.com (no ';' or ',')", s->key, value);
		return RC_FORMAT;
	}
	return set_str(slot, value);
}

static enum rc parse_spa_fallback(struct config *cfg, const struct setting *s,
				  char **slot, const char *value,
				  const char *base_dir, char *err, size_t errsz)
{
	if (!strcasecmp(value, "off") || !strcasecmp(value, "no")) {
		free(*slot);
		*slot = NULL;
		return RC_OK;
	}
	char norm[PKG_MAX_PATH_BYTES_DEFAULT + 1];
	bool is_dir;
	if (path_from_request(value, norm, sizeof norm, &is_dir) || is_dir) {
		snprintf(err, errsz, "%s = '%s': expected off or a file path such as /index.html",
		         s->key, value);
		return RC_FORMAT;
	}
	return set_str(slot, norm);
}

/* A package path, with or without its leading '/', stored normalised. */
static enum rc parse_cut_json(struct config *cfg, const struct setting *s,
			      char **slot, const char *value,
			      const char *base_dir, char *err, size_t errsz)
{
	char norm[PKG_MAX_PATH_BYTES_DEFAULT + 1], with_slash[PKG_MAX_PATH_BYTES_DEFAULT + 2];
	bool is_dir;
	snprintf(with_slash, sizeof with_slash, "%s%.1024s", value[0] == '/' ? "" : "/", value);
	if (path_from_request(with_slash, norm, sizeof norm, &is_dir) || is_dir) {
		snprintf(err, errsz, "%s = '%s': expected the path of a JSON file in the "
		         "package, e.g. /assets/JSON/PRESIDENTE/NACIONAL/Presidente_NACIONAL.json",
		         s->key, value);
		return RC_FORMAT;
	}
	return set_str(slot, norm);
}

static enum rc parse_cut_key(struct config *cfg, const struct setting *s,
			     char **slot, const char *value,
			     const char *base_dir, char *err, size_t errsz)
{
	if (!*value || strlen(value) > 120 || value[0] == '.' || strstr(value, "..")) {
		snprintf(err, errsz, "%s = '%s': expected a JSON key path such as "
		         "ultimoCorte or horaCorte or ultimoCorte.fecha", s->key, value);
		return RC_FORMAT;
	}
	return set_str(slot, value);
}

/* An iconv code page name glibc can convert to UTF-8 ("CP850", "CP437",
 * "CP1252"), checked now so a typo does not wait for the first Windows
 * zip to show. */
static enum rc parse_codepage(struct config *cfg, const struct setting *s,
			      char **slot, const char *value,
			      const char *base_dir, char *err, size_t errsz)
{
	iconv_t cd = strlen(value) < 64 ? iconv_open("UTF-8", value) : (iconv_t)-1;
	if (cd == (iconv_t)-1) {
		snprintf(err, errsz, "%s = '%s': expected a code page iconv knows, such as "
		         "CP850 (Windows' OEM code page in Mexico), CP437 or CP1252 "
		         "(iconv --list shows them)", s->key, value);
		return RC_FORMAT;
	}
	iconv_close(cd);
	return set_str(slot, value);
}

/* Package paths separated by spaces, each stored normalised (as
 * cut_json), joined by one space; at most INGEST_REQUIRED_PATHS_MAX. */
static enum rc parse_required_paths(struct config *cfg, const struct setting *s,
				    char **slot, const char *value,
				    const char *base_dir, char *err, size_t errsz)
{
	char out[CFG_MAX_VALUE_BYTES + 1] = "";
	size_t used = 0, count = 0;
	for (const char *p = value; *p;) {
		size_t n = strcspn(p, " \t");
		if (!n) {
			p++;
			continue;
		}
		char one[PKG_MAX_PATH_BYTES_DEFAULT + 2], norm[PKG_MAX_PATH_BYTES_DEFAULT + 1];
		bool is_dir = false;
		bool ok = n < sizeof one - 1 && ++count <= INGEST_REQUIRED_PATHS_MAX;
		if (ok) {
			snprintf(one, sizeof one, "%s%.*s", p[0] == '/' ? "" : "/", (int)n, p);
			ok = !path_from_request(one, norm, sizeof norm, &is_dir) && !is_dir &&
			     used + strlen(norm) + 2 <= sizeof out;
		}
		if (!ok) {
			snprintf(err, errsz, "%s: '%.*s': expected at most %d file paths of the "
				 "package separated by spaces, e.g. index.html "
				 "assets/JSON/PRESIDENTE/NACIONAL/Presidente_NACIONAL.json",
				 s->key, (int)(n > 200 ? 200 : n), p, INGEST_REQUIRED_PATHS_MAX);
			return RC_FORMAT;
		}
		used += (size_t)snprintf(out + used, sizeof out - used, "%s%s", used ? " " : "",
					 norm);
		p += n;
	}
	if (!used) {   /* none: the same as unset */
		free(*slot);
		*slot = NULL;
		return RC_OK;
	}
	return set_str(slot, out);
}

/* An IANA zone the tz database has. Without a tz database at all the name
 * is taken as it is, so the default does not stop a machine without
 * tzdata from reading its config: start-up (cut_zone_use()) says then
 * what to install. */
static enum rc parse_time_zone(struct config *cfg, const struct setting *s,
			       char **slot, const char *value,
			       const char *base_dir, char *err, size_t errsz)
{
	enum rc rc = cut_zone_check(value, err, errsz);
	if (rc && rc != RC_NOTFOUND)
		return rc;
	return set_str(slot, value);
}

/* "sha256//BASE64" as it is, or a key file resolved like any path. */
static enum rc parse_pin(struct config *cfg, const struct setting *s,
			 char **slot, const char *value,
			 const char *base_dir, char *err, size_t errsz)
{
	if (!strncmp(value, "sha256//", 8))
		return set_str(slot, value);
	return set_path(slot, value, base_dir);
}

/* upstream and upstream_index share fetch.url; the key says whether it
 * names the package or an index file. */
static enum rc parse_upstream(struct config *cfg, const struct setting *s,
			      char **slot, const char *value,
			      const char *base_dir, char *err, size_t errsz)
{
	if (strncmp(value, "https://", 8) && strncmp(value, "sftp://", 7)) {
		snprintf(err, errsz, "%s = '%s': expected an https:// or sftp:// URL "
		         "(R3: TLS 1.2 or later)", s->key, value);
		return RC_FORMAT;
	}
	cfg->fetch.index = !strcmp(s->key, "upstream_index");
	return set_str(slot, value);
}

/* [shield] trusted_proxies and exempt: checked here so a typo stops prepd at start;
 * server/shield.c parses the stored text again into ranges. */
static enum rc parse_trusted_proxies(struct config *cfg, const struct setting *s,
				     char **slot, const char *value,
				     const char *base_dir, char *err, size_t errsz)
{
	if (!strcasecmp(value, "off") || !strcasecmp(value, "none"))
		value = "";
	struct proxy_nets *nets = malloc(sizeof *nets);
	if (!nets)
		return RC_NOMEM;
	char why[200];
	enum rc rc = proxy_nets_parse(value, nets, why, sizeof why);
	free(nets);
	if (rc) {
		snprintf(err, errsz, "%s: %s", s->key, why);
		return rc;
	}
	return set_str(slot, value);
}

static enum rc parse_webhook(struct config *cfg, const struct setting *s,
			     char **slot, const char *value,
			     const char *base_dir, char *err, size_t errsz)
{
	if ((strncmp(value, "http://", 7) && strncmp(value, "https://", 8)) ||
	    strlen(value) >= SHIELD_WEBHOOK_URL_BYTES || !hdr_value_valid(value) ||
	    strpbrk(value, " \t")) {
		snprintf(err, errsz, "%s = '%.200s': expected an http:// or https:// URL "
		         "(under %u bytes, no spaces)", s->key, value, SHIELD_WEBHOOK_URL_BYTES);
		return RC_FORMAT;
	}
	return set_str(slot, value);
}

/* "YYYY-MM-DDTHH:MM" or "HH:MM": a real date and time of day (the
 * placeholder shows it; server/www.c reads it again). */
static enum rc parse_starts(struct config *cfg, const struct setting *s,
			    char **slot, const char *value,
			    const char *base_dir, char *err, size_t errsz)
{
	unsigned y = 2000, mo = 1, d = 1, h, mi;
	char end;
	bool ok;
	if (strlen(value) == 5)
		ok = sscanf(value, "%2u:%2u%c", &h, &mi, &end) == 2 && value[2] == ':';
	else
		ok = strlen(value) == 16 && value[4] == '-' && value[7] == '-' &&
		     value[10] == 'T' && value[13] == ':' &&
		     sscanf(value, "%4u-%2u-%2uT%2u:%2u%c", &y, &mo, &d, &h, &mi, &end) == 5;
	static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	ok = ok && y >= 2000 && y <= 2999 && mo >= 1 && mo <= 12 && d >= 1 &&
	     d <= mdays[mo - 1] && (mo != 2 || d < 29 || (y % 4 == 0 && (y % 100 || y % 400 == 0))) &&
	     h <= 23 && mi <= 59;
	for (const char *p = value; ok && *p; p++)
		ok = (*p >= '0' && *p <= '9') || *p == '-' || *p == ':' || *p == 'T';
	if (!ok) {
		snprintf(err, errsz, "%s = '%.40s': expected the start of results in the "
			 "institute's time zone, YYYY-MM-DDTHH:MM (2024-06-02T20:00) or HH:MM (20:00)",
			 s->key, value);
		return RC_FORMAT;
	}
	return set_str(slot, value);
}

/* A name shown on a page: printable UTF-8 text, HTML-escaped when shown;
 * empty is unset. */
static enum rc parse_name(struct config *cfg, const struct setting *s,
			  char **slot, const char *value,
			  const char *base_dir, char *err, size_t errsz)
{
	if (!*value) {
		free(*slot);
		*slot = NULL;
		return RC_OK;
	}
	if (strlen(value) > PLACEHOLDER_NAME_MAX_BYTES || !hdr_value_valid(value) ||
	    !utf8_valid((const unsigned char *)value, strlen(value))) {
		snprintf(err, errsz, "%s: expected a name of at most %u bytes of UTF-8 text, "
			 "no control characters", s->key, PLACEHOLDER_NAME_MAX_BYTES);
		return RC_FORMAT;
	}
	return set_str(slot, value);
}

static bool same_at(const void *x, const void *y, const struct setting *s);

bool settings_same(const struct config *a, const struct config *b, const struct setting *s)
{
	if (!s->named)
		return same_at((const char *)a + s->offset, (const char *)b + s->offset, s);
	if (a->purge.count != b->purge.count)
		return false;
	for (unsigned i = 0; i < a->purge.count; i++)
		if (strcmp(a->purge.targets[i].name, b->purge.targets[i].name) ||
		    !same_at(named_slot((void *)a, s, i), named_slot((void *)b, s, i), s))
			return false;
	return true;
}

static bool same_at(const void *x, const void *y, const struct setting *s)
{
	switch (s->type) {
	case SETTING_UINT:
	case SETTING_MILLIS:
	case SETTING_DURATION:
		return *(const unsigned *)x == *(const unsigned *)y;
	case SETTING_SIZE:
		return *(const uint64_t *)x == *(const uint64_t *)y;
	case SETTING_ENUM:
		return *(const int *)x == *(const int *)y;
	case SETTING_BOOL:
		return *(const bool *)x == *(const bool *)y;
	case SETTING_LISTEN: {
		const struct listen_addr *p = x, *q = y;
		return p->on == q->on && p->port == q->port && !strcmp(p->host, q->host);
	}
	case SETTING_PATH:
	case SETTING_HEADER:
	case SETTING_CUSTOM: {
		const char *p = *(char *const *)x, *q = *(char *const *)y;
		return p == q || (p && q && !strcmp(p, q));
	}
	}
	return false;
}

static enum rc copy_at(void *x, const void *y, const struct setting *s);

enum rc settings_copy(struct config *dst, const struct config *src, const struct setting *s)
{
	if (!s->named)
		return copy_at(slot_of(dst, s), (const char *)src + s->offset, s);
	/* Every instance, and which names there are: rows copied one by one
	 * end with dst's targets as src's. */
	dst->purge.count = src->purge.count;
	for (unsigned i = 0; i < PURGE_MAX_TARGETS; i++) {
		memcpy(dst->purge.targets[i].name, src->purge.targets[i].name, PURGE_NAME_BYTES);
		enum rc rc = copy_at(named_slot(dst, s, i), named_slot((void *)src, s, i), s);
		if (rc)
			return rc;
	}
	return RC_OK;
}

static enum rc copy_at(void *x, const void *y, const struct setting *s)
{
	switch (s->type) {
	case SETTING_UINT:
	case SETTING_MILLIS:
	case SETTING_DURATION:
		*(unsigned *)x = *(const unsigned *)y;
		return RC_OK;
	case SETTING_SIZE:
		*(uint64_t *)x = *(const uint64_t *)y;
		return RC_OK;
	case SETTING_ENUM:
		*(int *)x = *(const int *)y;
		return RC_OK;
	case SETTING_BOOL:
		*(bool *)x = *(const bool *)y;
		return RC_OK;
	case SETTING_LISTEN:
		*(struct listen_addr *)x = *(const struct listen_addr *)y;
		return RC_OK;
	case SETTING_PATH:
	case SETTING_HEADER:
	case SETTING_CUSTOM: {
		const char *v = *(char *const *)y;
		if (!v) {
			free(*(char **)x);
			*(char **)x = NULL;
			return RC_OK;
		}
		if (*(char **)x == v)
			return RC_OK;
		return set_str(x, v);
	}
	}
	return RC_INVALID;
}

static void show_at(const void *x, const struct setting *s, char *buf, size_t bufsz);

void settings_show(const struct config *cfg, const struct setting *s, char *buf, size_t bufsz)
{
	if (!s->named) {
		show_at((const char *)cfg + s->offset, s, buf, bufsz);
		return;
	}
	/* NAME:value,NAME:value ("-" for no target) */
	size_t o = 0;
	buf[0] = '\0';
	for (unsigned i = 0; i < cfg->purge.count && o + 8 < bufsz; i++) {
		char one[512];
		show_at(named_slot((void *)cfg, s, i), s, one, sizeof one);
		o += (size_t)snprintf(buf + o, bufsz - o, "%s%s:%s", i ? "," : "",
				      cfg->purge.targets[i].name, one);
	}
	if (!cfg->purge.count)
		snprintf(buf, bufsz, "-");
}

static void show_at(const void *x, const struct setting *s, char *buf, size_t bufsz)
{
	switch (s->type) {
	case SETTING_UINT:
	case SETTING_DURATION:
		snprintf(buf, bufsz, "%u", *(const unsigned *)x);
		return;
	case SETTING_MILLIS:
		snprintf(buf, bufsz, "%ums", *(const unsigned *)x);
		return;
	case SETTING_SIZE:
		snprintf(buf, bufsz, "%llu", (unsigned long long)*(const uint64_t *)x);
		return;
	case SETTING_ENUM:
		snprintf(buf, bufsz, "%s", s->names[*(const int *)x]);
		return;
	case SETTING_BOOL:
		snprintf(buf, bufsz, "%s", *(const bool *)x ? "yes" : "no");
		return;
	case SETTING_LISTEN: {
		const struct listen_addr *la = x;
		if (!la->on)
			snprintf(buf, bufsz, "off");
		else
			snprintf(buf, bufsz, "%s%s%s:%u", strchr(la->host, ':') ? "[" : "", la->host,
				 strchr(la->host, ':') ? "]" : "", la->port);
		return;
	}
	case SETTING_PATH:
	case SETTING_HEADER:
	case SETTING_CUSTOM: {
		const char *v = *(char *const *)x;
		/* Quoted, with quotes, backslashes and control bytes escaped, so
		 * a value cannot forge a log line. */
		size_t o = 0;
		if (!v) {
			snprintf(buf, bufsz, "-");
			return;
		}
		if (bufsz < 8) {
			buf[0] = '\0';
			return;
		}
		buf[o++] = '"';
		for (const unsigned char *p = (const unsigned char *)v; *p && o + 6 < bufsz; p++) {
			if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
				o += (size_t)snprintf(buf + o, bufsz - o, "\\x%02x", *p);
			else
				buf[o++] = (char)*p;
		}
		buf[o++] = '"';
		buf[o] = '\0';
		return;
	}
	}
	snprintf(buf, bufsz, "?");
}

/* [purge NAME] url and site: an http:// or https:// URL, no spaces. */
static enum rc parse_edge_url(struct config *cfg, const struct setting *s,
			      char **slot, const char *value,
			      const char *base_dir, char *err, size_t errsz)
{
	(void)cfg;
	(void)base_dir;
	if ((strncmp(value, "http://", 7) && strncmp(value, "https://", 8)) ||
	    strlen(value) >= PURGE_URL_BYTES || !hdr_value_valid(value) ||
	    strpbrk(value, " \t\"\\")) {
		snprintf(err, errsz, "%s = '%.200s': expected an http:// or https:// URL "
			 "(under %u bytes, no spaces)", s->key, value, PURGE_URL_BYTES);
		return RC_FORMAT;
	}
	return set_str(slot, value);
}

/* A zone, distribution or service id: letters, digits, '_' and '-'
 * (it goes into an API path as it is). */
static enum rc parse_edge_id(struct config *cfg, const struct setting *s,
			     char **slot, const char *value,
			     const char *base_dir, char *err, size_t errsz)
{
	(void)cfg;
	(void)base_dir;
	size_t n = strlen(value);
	bool ok = n > 0 && n <= 128;
	for (size_t i = 0; ok && i < n; i++)
		ok = (value[i] >= 'a' && value[i] <= 'z') || (value[i] >= 'A' && value[i] <= 'Z') ||
		     (value[i] >= '0' && value[i] <= '9') || value[i] == '_' || value[i] == '-';
	if (!ok) {
		snprintf(err, errsz, "%s = '%.200s': expected the id as the provider shows it "
			 "(letters, digits, '_', '-'; at most 128)", s->key, value);
		return RC_FORMAT;
	}
	return set_str(slot, value);
}

/* Tags / surrogate keys: tokens of visible ASCII but '"', ',' and '\',
 * separated by spaces, at most PURGE_MAX_TAGS. */
static enum rc parse_edge_tags(struct config *cfg, const struct setting *s,
			       char **slot, const char *value,
			       const char *base_dir, char *err, size_t errsz)
{
	(void)cfg;
	(void)base_dir;
	unsigned count = 0;
	bool ok = true, in = false;
	for (const char *p = value; ok && *p; p++) {
		if (*p == ' ' || *p == '\t') {
			in = false;
			continue;
		}
		ok = *p > 0x20 && *p < 0x7f && !strchr("\",\\", *p);
		if (!in)
			count++;
		in = true;
	}
	if (!ok || !count || count > PURGE_MAX_TAGS || strlen(value) > PURGE_TAGS_BYTES) {
		snprintf(err, errsz, "%s = '%.200s': expected 1 to %u tags separated by spaces "
			 "(visible ASCII without '\"', ',' or '\\'; {cut} is the cut's label), e.g. "
			 "prep-percut prep-cut-{cut}", s->key, value, PURGE_MAX_TAGS);
		return RC_FORMAT;
	}
	return set_str(slot, value);
}

/* [fleet] peers: http(s) URLs separated by spaces, at most FLEET_MAX_PEERS. */
static enum rc parse_peers(struct config *cfg, const struct setting *s,
			   char **slot, const char *value,
			   const char *base_dir, char *err, size_t errsz)
{
	(void)cfg;
	(void)base_dir;
	unsigned count = 0;
	for (const char *p = value; *p;) {
		size_t n = strcspn(p, " \t");
		if (!n) {
			p++;
			continue;
		}
		bool ok = ++count <= FLEET_MAX_PEERS && n < PURGE_URL_BYTES &&
			  (!strncmp(p, "http://", 7) || !strncmp(p, "https://", 8)) &&
			  n > 8;
		for (size_t i = 0; ok && i < n; i++)
			ok = p[i] > 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\';
		if (!ok) {
			snprintf(err, errsz, "%s: '%.*s': expected at most %u http:// or https:// URLs "
				 "of the other origins' serving listeners, separated by spaces, e.g. "
				 "http://10.0.0.2:8080 http://10.0.0.3:8080", s->key,
				 (int)(n > 200 ? 200 : n), p, FLEET_MAX_PEERS);
			return count > FLEET_MAX_PEERS ? RC_LIMIT : RC_FORMAT;
		}
		p += n;
	}
	if (!count) {
		free(*slot);
		*slot = NULL;
		return RC_OK;
	}
	return set_str(slot, value);
}
