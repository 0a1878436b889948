#include "server/config.h"
#include "server/hdr.h"
#include "server/limits.h"
#include "server/log.h"
#include "server/path.h"
#include "server/util.h"
#include "ingest/verify.h"

#include <arpa/inet.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void config_init(struct config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->http.on = true;
	cfg->http.port = 8080;
	cfg->https.port = 8443;
	cfg->tls_priorities = xstrdup(CONFIG_TLS_PRIORITIES_DEFAULT);
	cfg->data_dir = xstrdup("var");
	cfg->conn_limit = NET_CONN_LIMIT_DEFAULT;
	cfg->conn_timeout = NET_CONN_TIMEOUT_DEFAULT;
	cfg->frame_ancestors = xstrdup("*");
	cfg->spa_fallback = xstrdup("index.html");
	cfg->cache_short = xstrdup("public, max-age=10, must-revalidate");
	cfg->cache_immutable = xstrdup("public, max-age=31536000, immutable");
	cfg->log_level = LOG_INFO;
	cfg->verify = VERIFY_NONE;
	cfg->kind = KIND_AUTO;
	cfg->max_package_bytes = PKG_MAX_PACKAGE_BYTES_DEFAULT;
	cfg->min_free_bytes = DISK_MIN_FREE_DEFAULT;
	cfg->evidence_wait_s = SPOOL_EVIDENCE_WAIT_DEFAULT;
	cfg->poll_s = FETCH_POLL_DEFAULT;
	cfg->connect_timeout_s = FETCH_CONNECT_TIMEOUT_DEFAULT;
	cfg->fetch_timeout_s = FETCH_TIMEOUT_DEFAULT;
	cfg->low_speed_bytes = FETCH_LOW_SPEED_BYTES_DEFAULT;
	cfg->low_speed_s = FETCH_LOW_SPEED_TIME_DEFAULT;
	cfg->limits.max_entries = PKG_MAX_ENTRIES_DEFAULT;
	cfg->limits.max_total_bytes = PKG_MAX_TOTAL_BYTES_DEFAULT;
	cfg->limits.max_file_bytes = PKG_MAX_FILE_BYTES_DEFAULT;
	cfg->limits.max_path_bytes = PKG_MAX_PATH_BYTES_DEFAULT;
}

void config_release(struct config *cfg)
{
	free(cfg->cert);
	free(cfg->key);
	free(cfg->tls_priorities);
	free(cfg->data_dir);
	free(cfg->package);
	free(cfg->access_log);
	free(cfg->frame_ancestors);
	free(cfg->spa_fallback);
	free(cfg->cache_short);
	free(cfg->cache_immutable);
	free(cfg->spool_dir);
	free(cfg->admin_token);
	free(cfg->upstream);
	free(cfg->cut_json);
	free(cfg->cut_key);
	free(cfg->ca_file);
	free(cfg->pin);
	free(cfg->client_cert);
	free(cfg->client_key);
	free(cfg->auth_file);
	free(cfg->known_hosts);
	free(cfg->ssh_key);
	free(cfg->trust_file);
	rules_release(&cfg->rules);
	memset(cfg, 0, sizeof *cfg);
}

enum rc config_parse_listen(const char *s, struct listen_addr *out)
{
	memset(out, 0, sizeof *out);
	out->set = true;
	if (!strcasecmp(s, "off") || !strcasecmp(s, "no") || !*s)
		return RC_OK;

	const char *colon;
	char host[64] = "";
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof host)
			return RC_FORMAT;
		memcpy(host, s + 1, (size_t)(close - s - 1));
		host[close - s - 1] = '\0';
		struct in6_addr a6;
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return RC_FORMAT;
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof host)
			return RC_FORMAT;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		if (!strcmp(host, "localhost"))
			strcpy(host, "127.0.0.1");
		struct in_addr a4;
		if (*host && inet_pton(AF_INET, host, &a4) != 1)
			return RC_FORMAT;
	}
	uint64_t port;
	if (!parse_uint(colon + 1, 0, 65535, &port))
		return RC_FORMAT;
	snprintf(out->host, sizeof out->host, "%s", host);
	out->port = (unsigned)port;
	out->on = true;
	return RC_OK;
}

static void seterr(char *err, size_t errsz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

/* Replaces *slot with value, resolved against base_dir when relative. */
static enum rc set_path(char **slot, const char *value, const char *base_dir)
{
	char *v;
	if (base_dir && value[0] != '/' && *value) {
		size_t n = strlen(base_dir) + strlen(value) + 2;
		v = malloc(n);
		if (!v)
			return RC_NOMEM;
		snprintf(v, n, "%s/%s", base_dir, value);
	} else {
		v = strdup(value);
		if (!v)
			return RC_NOMEM;
	}
	free(*slot);
	*slot = v;
	return RC_OK;
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

/* CSP source list for frame-ancestors: space-separated sources, none of
 * which may end the directive early (';' or ',') or carry control bytes. */
static bool frame_ancestors_valid(const char *v)
{
	if (!*v || !hdr_value_valid(v) || strlen(v) > CFG_MAX_VALUE_BYTES)
		return false;
	return !strpbrk(v, ";,\"");
}

static const char *const server_keys =
	"http, https, admin, admin_token, data, package, access_log, threads, connection_limit, "
	"per_ip_connection_limit, timeout, frame_ancestors, spa_fallback, "
	"log_level";

static enum rc set_server(struct config *cfg, const char *key,
			  const char *value, const char *base, char *err,
			  size_t errsz)
{
	uint64_t n;
	if (!strcmp(key, "admin_token"))
		return set_path(&cfg->admin_token, value, base);
	if (!strcmp(key, "http") || !strcmp(key, "https") || !strcmp(key, "admin")) {
		struct listen_addr *la = !strcmp(key, "admin") ? &cfg->admin :
					 key[4] ? &cfg->https : &cfg->http;
		if (config_parse_listen(value, la)) {
			seterr(err, errsz, "%s = '%s': expected HOST:PORT, [IPV6]:PORT, :PORT or off "
			       "(HOST is a numeric address, e.g. 127.0.0.1:8080)", key, value);
			return RC_FORMAT;
		}
		return RC_OK;
	}
	if (!strcmp(key, "data"))
		return set_path(&cfg->data_dir, value, base);
	if (!strcmp(key, "package"))
		return set_path(&cfg->package, value, base);
	if (!strcmp(key, "access_log"))
		return set_path(&cfg->access_log, value, base);
	if (!strcmp(key, "threads")) {
		if (!parse_uint(value, 0, NET_MAX_THREADS, &n)) {
			seterr(err, errsz, "threads = '%s': expected 0 (one per core) to %u",
			       value, NET_MAX_THREADS);
			return RC_FORMAT;
		}
		cfg->threads = (unsigned)n;
		return RC_OK;
	}
	if (!strcmp(key, "connection_limit")) {
		if (!parse_uint(value, 16, 1000000, &n)) {
			seterr(err, errsz, "connection_limit = '%s': expected a number from 16 to 1000000", value);
			return RC_FORMAT;
		}
		cfg->conn_limit = (unsigned)n;
		return RC_OK;
	}
	if (!strcmp(key, "per_ip_connection_limit")) {
		if (!parse_uint(value, 0, 1000000, &n)) {
			seterr(err, errsz, "per_ip_connection_limit = '%s': expected a number, 0 for none", value);
			return RC_FORMAT;
		}
		cfg->per_ip_limit = (unsigned)n;
		return RC_OK;
	}
	if (!strcmp(key, "timeout")) {
		if (!parse_uint(value, 1, 3600, &n)) {
			seterr(err, errsz, "timeout = '%s': expected seconds from 1 to 3600", value);
			return RC_FORMAT;
		}
		cfg->conn_timeout = (unsigned)n;
		return RC_OK;
	}
	if (!strcmp(key, "frame_ancestors")) {
		if (!frame_ancestors_valid(value)) {
			seterr(err, errsz, "frame_ancestors = '%s': expected CSP sources separated by spaces, "
			       "e.g. * or 'self' https://www.example.com (no ';' or ',')", value);
			return RC_FORMAT;
		}
		return set_str(&cfg->frame_ancestors, value);
	}
	if (!strcmp(key, "spa_fallback")) {
		if (!strcasecmp(value, "off") || !strcasecmp(value, "no")) {
			free(cfg->spa_fallback);
			cfg->spa_fallback = NULL;
			return RC_OK;
		}
		char norm[PKG_MAX_PATH_BYTES_DEFAULT + 1];
		bool is_dir;
		if (path_from_request(value, norm, sizeof norm, &is_dir) || is_dir) {
			seterr(err, errsz, "spa_fallback = '%s': expected off or a file path such as /index.html", value);
			return RC_FORMAT;
		}
		return set_str(&cfg->spa_fallback, norm);
	}
	if (!strcmp(key, "log_level")) {
		static const char *const names[] = { "debug", "info", "warn", "error" };
		for (int i = 0; i < 4; i++) {
			if (!strcasecmp(value, names[i])) {
				cfg->log_level = i;
				return RC_OK;
			}
		}
		seterr(err, errsz, "log_level = '%s': expected debug, info, warn or error", value);
		return RC_FORMAT;
	}
	seterr(err, errsz, "unknown key '%s' in [server]; known keys: %s", key, server_keys);
	return RC_FORMAT;
}

static enum rc set_limit(uint64_t *slot, const char *key, const char *value,
			 uint64_t min, uint64_t max, char *err, size_t errsz)
{
	uint64_t n;
	if (!parse_size(value, max, &n) || n < min) {
		seterr(err, errsz, "%s = '%s': expected a number from %llu to %llu "
		       "(K, M and G suffixes allowed)", key, value,
		       (unsigned long long)min, (unsigned long long)max);
		return RC_FORMAT;
	}
	*slot = n;
	return RC_OK;
}

enum rc config_set(struct config *cfg, const char *section, const char *key,
		   const char *value, const char *base, char *err,
		   size_t errsz)
{
	err[0] = '\0';
	if (strlen(value) > CFG_MAX_VALUE_BYTES) {
		seterr(err, errsz, "value of '%s' is longer than %u bytes", key, CFG_MAX_VALUE_BYTES);
		return RC_LIMIT;
	}
	if (!strcmp(section, "server"))
		return set_server(cfg, key, value, base, err, errsz);
	if (!strcmp(section, "tls")) {
		if (!strcmp(key, "cert"))
			return set_path(&cfg->cert, value, base);
		if (!strcmp(key, "key"))
			return set_path(&cfg->key, value, base);
		if (!strcmp(key, "priorities")) {
			if (!*value || !hdr_value_valid(value)) {
				seterr(err, errsz, "priorities: expected a GnuTLS priority string");
				return RC_FORMAT;
			}
			return set_str(&cfg->tls_priorities, value);
		}
		seterr(err, errsz, "unknown key '%s' in [tls]; known keys: cert, key, priorities", key);
		return RC_FORMAT;
	}
	if (!strcmp(section, "cache")) {
		char **slot = !strcmp(key, "short") ? &cfg->cache_short :
			      !strcmp(key, "immutable") ? &cfg->cache_immutable : NULL;
		if (!slot) {
			seterr(err, errsz, "unknown key '%s' in [cache]; known keys: short, immutable", key);
			return RC_FORMAT;
		}
		if (!*value || !hdr_value_valid(value)) {
			seterr(err, errsz, "%s: expected a Cache-Control value such as 'public, max-age=10'", key);
			return RC_FORMAT;
		}
		return set_str(slot, value);
	}
	if (!strcmp(section, "ingest")) {
		uint64_t n;
		if (!strcmp(key, "spool"))
			return set_path(&cfg->spool_dir, value, base);
		if (!strcmp(key, "trust"))
			return set_path(&cfg->trust_file, value, base);
		if (!strcmp(key, "verify")) {
			if (!verify_mode_parse(value, &cfg->verify)) {
				seterr(err, errsz, "verify = '%s': expected none, sha256, cms or ed25519", value);
				return RC_FORMAT;
			}
			return RC_OK;
		}
		if (!strcmp(key, "kind")) {
			if (!strcmp(value, "auto"))
				cfg->kind = KIND_AUTO;
			else if (!strcmp(value, "full"))
				cfg->kind = KIND_FULL;
			else if (!strcmp(value, "incremental"))
				cfg->kind = KIND_INCREMENTAL;
			else {
				seterr(err, errsz, "kind = '%s': expected auto, full or incremental", value);
				return RC_FORMAT;
			}
			return RC_OK;
		}
		if (!strcmp(key, "max_package_bytes"))
			return set_limit(&cfg->max_package_bytes, key, value, 1024, 64ull << 30, err, errsz);
		if (!strcmp(key, "min_free_bytes"))
			return set_limit(&cfg->min_free_bytes, key, value, 0, 1ull << 50, err, errsz);
		if (!strcmp(key, "upstream") || !strcmp(key, "upstream_index")) {
			if (strncmp(value, "https://", 8) && strncmp(value, "sftp://", 7)) {
				seterr(err, errsz, "%s = '%s': expected an https:// or sftp:// URL "
				       "(R3: TLS 1.2 or later)", key, value);
				return RC_FORMAT;
			}
			cfg->upstream_index = key[8] == '_';
			return set_str(&cfg->upstream, value);
		}
		if (!strcmp(key, "cut_json")) {
			char norm[PKG_MAX_PATH_BYTES_DEFAULT + 1], with_slash[PKG_MAX_PATH_BYTES_DEFAULT + 2];
			bool is_dir;
			snprintf(with_slash, sizeof with_slash, "%s%.1024s", value[0] == '/' ? "" : "/", value);
			if (path_from_request(with_slash, norm, sizeof norm, &is_dir) || is_dir) {
				seterr(err, errsz, "cut_json = '%s': expected the path of a JSON file in the "
				       "package, e.g. /assets/JSON/PRESIDENTE/NACIONAL/Presidente_NACIONAL.json", value);
				return RC_FORMAT;
			}
			return set_str(&cfg->cut_json, norm);
		}
		if (!strcmp(key, "cut_key")) {
			if (!*value || strlen(value) > 120 || value[0] == '.' || strstr(value, "..")) {
				seterr(err, errsz, "cut_key = '%s': expected a JSON key path such as "
				       "ultimoCorte or horaCorte or ultimoCorte.fecha", value);
				return RC_FORMAT;
			}
			return set_str(&cfg->cut_key, value);
		}
		if (!strcmp(key, "ca"))
			return set_path(&cfg->ca_file, value, base);
		if (!strcmp(key, "pin")) {
			if (!strncmp(value, "sha256//", 8))
				return set_str(&cfg->pin, value);
			return set_path(&cfg->pin, value, base);
		}
		if (!strcmp(key, "client_cert"))
			return set_path(&cfg->client_cert, value, base);
		if (!strcmp(key, "client_key"))
			return set_path(&cfg->client_key, value, base);
		if (!strcmp(key, "auth_file"))
			return set_path(&cfg->auth_file, value, base);
		if (!strcmp(key, "known_hosts"))
			return set_path(&cfg->known_hosts, value, base);
		if (!strcmp(key, "ssh_key"))
			return set_path(&cfg->ssh_key, value, base);
		struct { const char *k; unsigned *slot; uint64_t min, max; } nums[] = {
			{ "poll", &cfg->poll_s, 1, 86400 },
			{ "connect_timeout", &cfg->connect_timeout_s, 1, 600 },
			{ "fetch_timeout", &cfg->fetch_timeout_s, 1, 86400 },
			{ "low_speed_limit", &cfg->low_speed_bytes, 1, 1u << 30 },
			{ "low_speed_time", &cfg->low_speed_s, 1, 3600 },
		};
		for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
			if (strcmp(key, nums[i].k))
				continue;
			if (!parse_uint(value, nums[i].min, nums[i].max, &n)) {
				seterr(err, errsz, "%s = '%s': expected a number from %llu to %llu", key, value,
				       (unsigned long long)nums[i].min, (unsigned long long)nums[i].max);
				return RC_FORMAT;
			}
			*nums[i].slot = (unsigned)n;
			return RC_OK;
		}
		if (!strcmp(key, "evidence_wait")) {
			if (!parse_uint(value, 1, 86400, &n)) {
				seterr(err, errsz, "evidence_wait = '%s': expected seconds from 1 to 86400", value);
				return RC_FORMAT;
			}
			cfg->evidence_wait_s = (unsigned)n;
			return RC_OK;
		}
		seterr(err, errsz, "unknown key '%s' in [ingest]; known keys: upstream, upstream_index, "
		       "cut_json, cut_key, poll, ca, pin, client_cert, client_key, auth_file, known_hosts, connect_timeout, "
		       "fetch_timeout, low_speed_limit, low_speed_time, spool, verify, trust, kind, "
		       "max_package_bytes, min_free_bytes, evidence_wait", key);
		return RC_FORMAT;
	}
	if (!strcmp(section, "limits")) {
		struct unpack_limits *l = &cfg->limits;
		if (!strcmp(key, "max_entries"))
			return set_limit(&l->max_entries, key, value, 1, 10000000, err, errsz);
		if (!strcmp(key, "max_total_bytes"))
			return set_limit(&l->max_total_bytes, key, value, 1024, 64ull << 30, err, errsz);
		if (!strcmp(key, "max_file_bytes"))
			return set_limit(&l->max_file_bytes, key, value, 1024, 64ull << 30, err, errsz);
		if (!strcmp(key, "max_path_bytes"))
			return set_limit(&l->max_path_bytes, key, value, 16, 4000, err, errsz);
		seterr(err, errsz, "unknown key '%s' in [limits]; known keys: max_entries, "
		       "max_total_bytes, max_file_bytes, max_path_bytes", key);
		return RC_FORMAT;
	}
	if (!strcmp(section, "headers")) {
		/* PATTERN = Name: value. inih cuts section names at 49 bytes,
		 * too short for real JSON paths, so the pattern is the key. */
		const char *colon = strchr(value, ':');
		if (!colon || colon == value) {
			seterr(err, errsz, "[headers] %s: expected 'PATTERN = Header-Name: value', "
			       "e.g. /json/main.json = Cache-Control: no-cache", key);
			return RC_FORMAT;
		}
		char name[256];
		size_t nlen = (size_t)(colon - value);
		while (nlen && (value[nlen - 1] == ' ' || value[nlen - 1] == '\t'))
			nlen--;
		if (nlen >= sizeof name) {
			seterr(err, errsz, "[headers] %s: header name too long", key);
			return RC_FORMAT;
		}
		memcpy(name, value, nlen);
		name[nlen] = '\0';
		const char *hv = colon + 1;
		while (*hv == ' ' || *hv == '\t')
			hv++;
		const char *why;
		enum rc rc = rules_add(&cfg->rules, key, name, hv, &why);
		if (rc == RC_NOMEM)
			return rc;
		if (rc) {
			seterr(err, errsz, "[headers] %s = %s: %s", key, value, why);
			return rc;
		}
		return RC_OK;
	}
	if (!*section)
		seterr(err, errsz, "'%s' is outside any section; put it under [server], [tls], "
		       "[cache], [ingest], [limits] or [headers]", key);
	else
		seterr(err, errsz, "unknown section [%s]; known sections: [server], [tls], "
		       "[cache], [ingest], [limits], [headers]", section);
	return RC_FORMAT;
}

struct load_ctx {
	struct config *cfg;
	const char *base;
	char err[512];
	bool failed;
};

static int on_ini(void *user, const char *section, const char *name,
		  const char *value)
{
	struct load_ctx *ctx = user;
	char err[512];
	enum rc rc = config_set(ctx->cfg, section, name, value, ctx->base,
				err, sizeof err);
	if (rc == RC_OK)
		return 1;
	if (!ctx->failed) {   /* inih reports the first failing line */
		ctx->failed = true;
		snprintf(ctx->err, sizeof ctx->err, "%s",
			 rc == RC_NOMEM ? "out of memory" : err);
	}
	return 0;
}

enum rc config_load(struct config *cfg, const char *file, char *err,
		    size_t errsz)
{
	/* Debian's inih exposes its build options at run time. Values are one
	 * line each (no Python-style continuation, which would silently glue a
	 * mistyped line to the previous value), and long lines are allowed. */
	ini_allow_multiline = false;
	ini_use_stack = false;
	ini_allow_realloc = true;
	ini_max_line = CFG_MAX_VALUE_BYTES + 256;

	char base[4096];
	snprintf(base, sizeof base, "%s", file);
	char *slash = strrchr(base, '/');
	if (slash)
		*slash = '\0';
	else
		strcpy(base, ".");

	struct load_ctx ctx = { .cfg = cfg, .base = base };
	int line = ini_parse(file, on_ini, &ctx);
	if (line == -1) {
		seterr(err, errsz, "%s: cannot open the config file: %m", file);
		return RC_IO;
	}
	if (line == -2) {
		seterr(err, errsz, "%s: out of memory", file);
		return RC_NOMEM;
	}
	if (line > 0) {
		seterr(err, errsz, "%s:%d: %s", file, line,
		       ctx.failed ? ctx.err : "not a 'key = value' line or a [section] header");
		return RC_FORMAT;
	}
	return RC_OK;
}

enum rc config_finish(struct config *cfg, char *err, size_t errsz)
{
	if ((cfg->cert != NULL) != (cfg->key != NULL)) {
		seterr(err, errsz, "HTTPS needs both a certificate and a key: give --cert and --key "
		       "(or cert and key in [tls])");
		return RC_FORMAT;
	}
	if (!cfg->https.set && cfg->cert)
		cfg->https.on = true;   /* a certificate alone turns HTTPS on, :8443 */
	if (cfg->https.on && !cfg->cert) {
		seterr(err, errsz, "HTTPS is on but no certificate is set: give --cert FILE --key FILE, "
		       "or make a local one with certs/make-local-cert");
		return RC_FORMAT;
	}
	if (!cfg->http.on && !cfg->https.on) {
		seterr(err, errsz, "both listeners are off: set --http or --https");
		return RC_FORMAT;
	}
	if ((cfg->cut_json != NULL) != (cfg->cut_key != NULL)) {
		seterr(err, errsz, "the cut time needs both cut_json (the file) and cut_key (the key) in [ingest]");
		return RC_FORMAT;
	}
	if ((cfg->verify == VERIFY_CMS || cfg->verify == VERIFY_ED25519) && !cfg->trust_file) {
		seterr(err, errsz, "verify = %s needs a trust file: give --trust FILE (the %s)",
		       cfg->verify == VERIFY_CMS ? "cms" : "ed25519",
		       cfg->verify == VERIFY_CMS ? "signer's certificate, PEM" : "Ed25519 public key, PEM");
		return RC_FORMAT;
	}
	if (cfg->limits.max_file_bytes > cfg->limits.max_total_bytes)
		cfg->limits.max_file_bytes = cfg->limits.max_total_bytes;
	return RC_OK;
}
