/* config's life cycle and file reading; the keys themselves, their
 * parsing, defaults and help are the settings table's (settings.c). */
#include "server/config.h"
#include "server/limits.h"
#include "server/settings.h"
#include "server/util.h"
#include "ingest/store.h"
#include "ingest/verify.h"
#include "edge/purge_conf.h"

#include <arpa/inet.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void config_init(struct config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	settings_apply_defaults(cfg);
}

/* The fields config_finish() derives and owns. */
static void release_derived(struct config *cfg)
{
	free(cfg->fetch.tmp_dir);
	free(cfg->fetch.state_file);
	cfg->fetch.tmp_dir = cfg->fetch.state_file = NULL;
}

void config_release(struct config *cfg)
{
	settings_release(cfg);
	release_derived(cfg);
	rules_release(&cfg->response.rules);
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

enum rc config_set(struct config *cfg, const char *section, const char *key,
		   const char *value, const char *base, char *err,
		   size_t errsz)
{
	err[0] = '\0';
	if (strlen(value) > CFG_MAX_VALUE_BYTES) {
		snprintf(err, errsz, "value of '%s' is longer than %u bytes", key, CFG_MAX_VALUE_BYTES);
		return RC_LIMIT;
	}
	return settings_set(cfg, section, key, value, base, err, errsz);
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

	char base[PATH_BUF_BYTES];
	snprintf(base, sizeof base, "%s", file);
	char *slash = strrchr(base, '/');
	if (slash)
		*slash = '\0';
	else
		strcpy(base, ".");

	struct load_ctx ctx = { .cfg = cfg, .base = base };
	int line = ini_parse(file, on_ini, &ctx);
	if (line == -1) {
		snprintf(err, errsz, "%s: cannot open the config file: %m", file);
		return RC_IO;
	}
	if (line == -2) {
		snprintf(err, errsz, "%s: out of memory", file);
		return RC_NOMEM;
	}
	if (line > 0) {
		snprintf(err, errsz, "%s:%d: %s", file, line,
		         ctx.failed ? ctx.err : "not a 'key = value' line or a [section] header");
		return RC_FORMAT;
	}
	return RC_OK;
}

/* Every derived field, from the settings it is derived from. */
static enum rc derive(struct config *cfg)
{
	release_derived(cfg);
	const char *data = cfg->server.data_dir;
	cfg->ingest.data_dir = data;
	cfg->ingest.startup_package = cfg->server.package;
	cfg->ingest.limits = &cfg->limits;
	cfg->ingest.fetch = cfg->fetch.url ? &cfg->fetch : NULL;
	const struct response_settings *rs = &cfg->response;
	unsigned cdn_header = 0, tags = 0;
	if (rs->cdn_header)
		rules_parse_cdn_header(rs->cdn_header, &cdn_header);   /* checked when set */
	if (rs->tags)
		rules_parse_tags(rs->tags, &tags);
	cfg->response.policy = (struct policy){
		.cache_short = rs->cache_short,
		.cache_immutable = rs->cache_immutable,
		.browser_ttl = rs->browser_ttl,
		.cdn_ttl = !rs->cdn_ttl || !strcmp(rs->cdn_ttl, "auto") ? POLICY_CDN_TTL_AUTO
									: atoi(rs->cdn_ttl),
		.cdn_header = cdn_header,
		.swr = rs->swr,
		.sie = rs->sie,
		.error_ttl = rs->error_ttl,
		.tags = tags,
		.keep_cuts = rs->keep_cuts,
		.keep_minutes = rs->keep_minutes,
		.keep_max_bytes = rs->keep_max_bytes,
		/* A CDN purge lets the edge keep per-cut files long; an
		 * origin with peers may have to answer them non-cacheably
		 * (snap_behind_set()), so those responses are prebuilt. */
		.purge_on = cfg->purge.count > 0,
		.fleet = cfg->fleet.peers && *cfg->fleet.peers,
		.frame_ancestors = rs->frame_ancestors,
		.spa_fallback = rs->spa_fallback,
		.rules = &rs->rules,
		/* HSTS is only ever sent on HTTPS (the builder makes the
		 * HTTPS responses apart when it is set). */
		.hsts = cfg->server.https.on ? cfg->tls.hsts : NULL,
	};
	cfg->ingest.policy = &cfg->response.policy;
	cfg->fetch.max_bytes = cfg->ingest.max_package_bytes;
	cfg->fetch.evidence_suffix = verify_suffix(cfg->ingest.verify);
	cfg->fetch.tmp_dir = store_tmp_path(data);
	if (!cfg->fetch.tmp_dir || asprintf(&cfg->fetch.state_file, "%s/fetch.state", data) < 0) {
		cfg->fetch.state_file = NULL;
		return RC_NOMEM;
	}
	return RC_OK;
}

enum rc config_finish(struct config *cfg, char *err, size_t errsz)
{
	struct server_settings *sv = &cfg->server;
	struct tls_settings *tls = &cfg->tls;
	if ((tls->cert != NULL) != (tls->key != NULL)) {
		snprintf(err, errsz, "HTTPS needs both a certificate and a key: give --cert and --key "
		         "(or cert and key in [tls])");
		return RC_FORMAT;
	}
	if (tls->certs && !tls->cert) {
		snprintf(err, errsz, "[tls] certs adds pairs to the default one: set cert and key "
		         "in [tls] too (the pair for clients that name no host or an unknown one)");
		return RC_FORMAT;
	}
	/* A rule would send HSTS on HTTP too, and only with files. */
	for (size_t i = 0; i < cfg->response.rules.n; i++)
		for (size_t j = 0; j < cfg->response.rules.v[i].nhdr; j++)
			if (!strcasecmp(cfg->response.rules.v[i].hdr[j].name, "Strict-Transport-Security")) {
				snprintf(err, errsz, "[headers] %s = Strict-Transport-Security: set it as "
				         "[tls] hsts instead (sent on every HTTPS response and never on "
				         "HTTP)", cfg->response.rules.v[i].pattern);
				return RC_FORMAT;
			}
	enum rc prc = purge_settings_check(&cfg->purge, err, errsz);   /* [purge NAME] */
	if (prc)
		return prc;
	if (!sv->https.set)   /* a certificate alone turns HTTPS on, :8443 */
		sv->https.on = tls->cert != NULL;
	if (sv->https.on && !tls->cert) {
		snprintf(err, errsz, "HTTPS is on but no certificate is set: give --cert FILE --key FILE, "
		         "or make a local one with certs/make-local-cert");
		return RC_FORMAT;
	}
	if (!sv->http.on && !sv->https.on) {
		snprintf(err, errsz, "both listeners are off: set --http or --https");
		return RC_FORMAT;
	}
	struct ingest_settings *in = &cfg->ingest;
	if ((in->cut_json != NULL) != (in->cut_key != NULL)) {
		snprintf(err, errsz, "the cut time needs both cut_json (the file) and cut_key (the key) in [ingest]");
		return RC_FORMAT;
	}
	if ((in->verify == VERIFY_CMS || in->verify == VERIFY_ED25519) && !in->trust_file) {
		snprintf(err, errsz, "verify = %s needs a trust file: give --trust FILE (the %s)",
		         in->verify == VERIFY_CMS ? "cms" : "ed25519",
		         in->verify == VERIFY_CMS ? "signer's certificate, PEM" : "Ed25519 public key, PEM");
		return RC_FORMAT;
	}
	if (cfg->limits.max_file_bytes > cfg->limits.max_total_bytes)
		cfg->limits.max_file_bytes = cfg->limits.max_total_bytes;
	if (derive(cfg)) {
		snprintf(err, errsz, "out of memory");
		return RC_NOMEM;
	}
	return RC_OK;
}
