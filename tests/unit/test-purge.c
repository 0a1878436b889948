/* The purge requests, byte by byte (edge/purge_req.h), against the vendors'
 * documented forms; the verdict on answers; the [purge NAME] checks
 * (edge/purge_conf.h). No network. */
#include "check.h"
#include "edge/purge_conf.h"
#include "edge/purge_req.h"
#include "server/config.h"
#include "server/limits.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *header(const struct purge_req *r, const char *name)
{
	size_t n = strlen(name);
	for (unsigned i = 0; i < r->nheaders; i++)
		if (!strncmp(r->headers[i], name, n) && r->headers[i][n] == ':')
			return r->headers[i] + n + 2;
	return NULL;
}

static struct purge_target_settings target(int type, int by)
{
	struct purge_target_settings t = { .type = type, .by = by, .timeout_ms = 1000 };
	snprintf(t.name, sizeof t.name, "t");
	return t;
}

int main(void)
{
	char *paths[] = { "", "assets/a.json", "estados/Nuevo León/index.html", "x&y<z>.js",
			  "index.html" };
	struct purge_job job = { .label = "20240602_2215", .seq = 7, .kind = "full",
				 .time = "2024-06-02T22:15-06:00", .paths = paths, .npaths = 5,
				 .id = 3 };
	struct purge_req r;

	/* Paths as URLs: RFC 3986 unreserved and '/' kept, the rest %XX. */
	char *u = purge_req_path_url("estados/Nuevo León/a b?#%.json");
	CHECK(u && !strcmp(u, "/estados/Nuevo%20Le%C3%B3n/a%20b%3F%23%25.json"), "path url: %s", u);
	free(u);
	u = purge_req_path_url("");
	CHECK(u && !strcmp(u, "/"), "the root");
	free(u);

	/* Cloudflare by URL: POST zones/ZONE/purge_cache, Bearer, JSON files,
	 * in batches. */
	struct purge_target_settings t = target(PURGE_TYPE_CLOUDFLARE, PURGE_BY_PATHS);
	t.zone = "023e105f4ecef8ad9ca31a8372d0c353";
	t.site = "https://resultados.example.mx/";
	t.batch = 2;
	CHECK(purge_req_count(&t, &job, 0) == 3, "5 paths in batches of 2: 3 requests");
	CHECK(purge_req_build(&t, "TOKEN", &job, 0, 0, &r) == RC_OK, "cloudflare builds");
	CHECK(!strcmp(r.method, "POST") && !strcmp(r.url, "https://api.cloudflare.com/client/v4/zones/"
						   "023e105f4ecef8ad9ca31a8372d0c353/purge_cache"),
	      "cloudflare url %s", r.url);
	CHECK(header(&r, "Authorization") && !strcmp(header(&r, "Authorization"), "Bearer TOKEN"),
	      "Bearer token");
	CHECK(header(&r, "Content-Type") && !strcmp(header(&r, "Content-Type"), "application/json"),
	      "json content type");
	CHECK(!strcmp(r.body, "{\"files\": [\"https://resultados.example.mx/\", "
			      "\"https://resultados.example.mx/assets/a.json\"]}") ||
	      !strcmp(r.body, "{\"files\":[\"https://resultados.example.mx/\","
			      "\"https://resultados.example.mx/assets/a.json\"]}"),
	      "files body: %s", r.body);
	CHECK(r.consumed == 2 && r.body_len == strlen(r.body), "consumed 2");
	purge_req_release(&r);
	CHECK(purge_req_build(&t, "TOKEN", &job, 4, 0, &r) == RC_OK && r.consumed == 1 &&
	      strstr(r.body, "\"https://resultados.example.mx/index.html\"]"), "the last batch: %s",
	      r.body);
	purge_req_release(&r);
	t.url = "http://127.0.0.1:9/client/v4/";
	CHECK(purge_req_build(&t, "TOKEN", &job, 0, 0, &r) == RC_OK &&
	      !strcmp(r.url, "http://127.0.0.1:9/client/v4/zones/023e105f4ecef8ad9ca31a8372d0c353/"
			     "purge_cache"), "endpoint override: %s", r.url);
	purge_req_release(&r);
	t.by = PURGE_BY_TAGS;
	t.batch = 0;
	t.tags = "prep-cut-{cut} prep-short {cut}{cut}";
	CHECK(purge_req_count(&t, &job, 0) == 1, "tags: one request");
	CHECK(purge_req_build(&t, "TOKEN", &job, 0, 0, &r) == RC_OK, "tags build");
	json_t *j = json_loads(r.body, 0, NULL);
	json_t *tags = json_object_get(j, "tags");
	CHECK(json_array_size(tags) == 3 && json_object_size(j) == 1 &&
	      !strcmp(json_string_value(json_array_get(tags, 0)), "prep-cut-20240602_2215") &&
	      !strcmp(json_string_value(json_array_get(tags, 2)), "20240602_221520240602_2215"),
	      "tags body: %s", r.body);
	json_decref(j);
	purge_req_release(&r);
	t.by = PURGE_BY_EVERYTHING;
	t.tags = NULL;
	CHECK(purge_req_build(&t, "TOKEN", &job, 0, 0, &r) == RC_OK &&
	      (!strcmp(r.body, "{\"purge_everything\":true}") ||
	       !strcmp(r.body, "{\"purge_everything\": true}")), "everything: %s", r.body);
	purge_req_release(&r);
	CHECK(purge_req_build(&t, NULL, &job, 0, 0, &r) == RC_INVALID, "no token: refused");

	/* CloudFront: the 2020-05-31 CreateInvalidation document, SigV4 by
	 * libcurl. */
	t = target(PURGE_TYPE_CLOUDFRONT, PURGE_BY_DEFAULT);
	t.distribution = "EDFDVBD6EXAMPLE";
	CHECK(purge_req_build(&t, NULL, &job, 0, 0, &r) == RC_OK && r.sigv4, "cloudfront builds");
	CHECK(!strcmp(r.url, "https://cloudfront.amazonaws.com/2020-05-31/distribution/"
			     "EDFDVBD6EXAMPLE/invalidation"), "cloudfront url %s", r.url);
	const char *want =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<InvalidationBatch xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\">"
		"<Paths><Quantity>5</Quantity><Items><Path>/</Path><Path>/assets/a.json</Path>"
		"<Path>/estados/Nuevo%20Le%C3%B3n/index.html</Path><Path>/x%26y%3Cz%3E.js</Path>"
		"<Path>/index.html</Path></Items></Paths>"
		"<CallerReference>prepd-20240602_2215-7-3-0</CallerReference></InvalidationBatch>";
	CHECK(!strcmp(r.body, want), "the XML:\n%s", r.body);
	CHECK(!strcmp(header(&r, "Content-Type"), "text/xml") && r.consumed == 5, "xml type");
	purge_req_release(&r);
	t.batch = 4;
	CHECK(purge_req_build(&t, NULL, &job, 0, 0, &r) == RC_OK &&
	      strstr(r.body, "<Quantity>1</Quantity><Items><Path>/*</Path></Items>") && r.consumed == 5,
	      "over the batch: one wildcard: %s", r.body);
	CHECK(purge_req_count(&t, &job, 0) == 1, "one request for the wildcard");
	purge_req_release(&r);

	/* Fastly: one key in the path, several in Surrogate-Key, purge_all. */
	t = target(PURGE_TYPE_FASTLY, PURGE_BY_DEFAULT);
	t.service = "SU1Z0isxPaozGVKXdv0eY";
	t.tags = "prep-{cut}";
	t.soft = true;
	CHECK(purge_req_build(&t, "KEY", &job, 0, 0, &r) == RC_OK &&
	      !strcmp(r.url, "https://api.fastly.com/service/SU1Z0isxPaozGVKXdv0eY/purge/"
			     "prep-20240602_2215") && !strcmp(r.method, "POST") &&
	      !strcmp(header(&r, "Fastly-Key"), "KEY") && header(&r, "Fastly-Soft-Purge") &&
	      !strcmp(header(&r, "Fastly-Soft-Purge"), "1") && !header(&r, "Surrogate-Key"),
	      "fastly one key: %s", r.url);
	purge_req_release(&r);
	/* No tags: prep-percut, the tag every per-cut response carries; a
	 * label in {cut} is lowercased as the responses' prep-cut-LABEL is. */
	t.tags = NULL;
	CHECK(purge_req_build(&t, "KEY", &job, 0, 0, &r) == RC_OK &&
	      !strcmp(r.url, "https://api.fastly.com/service/SU1Z0isxPaozGVKXdv0eY/purge/"
			     "prep-percut"), "fastly default tag: %s", r.url);
	purge_req_release(&r);
	{
		struct purge_job upper = job;
		snprintf(upper.label, sizeof upper.label, "Corte_A1");
		t.tags = "prep-cut-{cut}";
		CHECK(purge_req_build(&t, "KEY", &upper, 0, 0, &r) == RC_OK &&
		      !strcmp(r.url, "https://api.fastly.com/service/SU1Z0isxPaozGVKXdv0eY/purge/"
				     "prep-cut-corte_a1"), "{cut} lowercased: %s", r.url);
		purge_req_release(&r);
	}
	t.tags = "a/b";
	CHECK(purge_req_build(&t, "KEY", &job, 0, 0, &r) == RC_OK &&
	      !strcmp(r.url, "https://api.fastly.com/service/SU1Z0isxPaozGVKXdv0eY/purge") &&
	      !strcmp(header(&r, "Surrogate-Key"), "a/b"), "a key with '/' goes in the header");
	purge_req_release(&r);
	t.tags = "a b c";
	t.soft = false;
	CHECK(purge_req_build(&t, "KEY", &job, 0, 0, &r) == RC_OK &&
	      !strcmp(r.url, "https://api.fastly.com/service/SU1Z0isxPaozGVKXdv0eY/purge") &&
	      !strcmp(header(&r, "Surrogate-Key"), "a b c") && !header(&r, "Fastly-Soft-Purge"),
	      "fastly batch");
	purge_req_release(&r);
	t.by = PURGE_BY_EVERYTHING;
	CHECK(purge_req_build(&t, "KEY", &job, 0, 0, &r) == RC_OK &&
	      !strcmp(r.url, "https://api.fastly.com/service/SU1Z0isxPaozGVKXdv0eY/purge_all"),
	      "fastly purge_all");
	purge_req_release(&r);

	/* Varnish: one BAN naming the cut ('.' as [.]), or PURGE per path. */
	t = target(PURGE_TYPE_VARNISH, PURGE_BY_DEFAULT);
	t.url = "http://127.0.0.1:6081";
	t.host = "resultados.example.mx";
	struct purge_job dotted = job;
	snprintf(dotted.label, sizeof dotted.label, "corte.1-a_b");
	CHECK(purge_req_build(&t, NULL, &dotted, 0, 0, &r) == RC_OK && !strcmp(r.method, "BAN") &&
	      !strcmp(r.url, "http://127.0.0.1:6081/") &&
	      !strcmp(header(&r, "X-PREP-Ban"), "obj.http.X-PREP-Cut !~ \"label=corte[.]1-a_b(;|$)\"") &&
	      !strcmp(header(&r, "Host"), "resultados.example.mx"), "ban: %s", header(&r, "X-PREP-Ban"));
	purge_req_release(&r);
	t.by = PURGE_BY_PATHS;
	CHECK(purge_req_count(&t, &job, 0) == 5, "purge: one request per path");
	CHECK(purge_req_build(&t, NULL, &job, 2, 0, &r) == RC_OK && !strcmp(r.method, "PURGE") &&
	      !strcmp(r.url, "http://127.0.0.1:6081/estados/Nuevo%20Le%C3%B3n/index.html") &&
	      r.consumed == 1 && !r.body, "purge: %s", r.url);
	purge_req_release(&r);
	job.everything = true;
	CHECK(purge_req_build(&t, NULL, &job, 0, 0, &r) == RC_OK && !strcmp(r.method, "BAN") &&
	      !strcmp(header(&r, "X-PREP-Ban"), "obj.status != 0"), "too many paths: ban all");
	job.everything = false;
	purge_req_release(&r);

	/* The webhook: the body's HMAC-SHA256, checked against RFC 4231's
	 * test case 2 first. */
	char sig[80];
	CHECK(purge_req_sign("Jefe", "what do ya want for nothing?", 28, sig, sizeof sig) == RC_OK &&
	      !strcmp(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
	      "RFC 4231 case 2: %s", sig);
	t = target(PURGE_TYPE_WEBHOOK, PURGE_BY_DEFAULT);
	t.url = "https://hooks.example/prep";
	CHECK(purge_req_build(&t, "s3cret", &job, 0, 1717388100, &r) == RC_OK, "webhook builds");
	CHECK(purge_req_sign("s3cret", r.body, r.body_len, sig, sizeof sig) == RC_OK &&
	      !strcmp(header(&r, "X-PREP-Signature"), sig), "signed over the exact body");
	j = json_loads(r.body, 0, NULL);
	CHECK(j && !strcmp(json_string_value(json_object_get(j, "cut")), "20240602_2215") &&
	      json_integer_value(json_object_get(j, "seq")) == 7 &&
	      !strcmp(json_string_value(json_object_get(j, "kind")), "full") &&
	      json_integer_value(json_object_get(j, "sent")) == 1717388100 &&
	      json_array_size(json_object_get(j, "paths")) == 5 &&
	      !strcmp(json_string_value(json_array_get(json_object_get(j, "paths"), 2)),
		      "/estados/Nuevo%20Le%C3%B3n/index.html"), "webhook body: %s", r.body);
	json_decref(j);
	purge_req_release(&r);

	/* Verdicts. */
	char why[200];
	CHECK(purge_req_judge(PURGE_TYPE_CLOUDFLARE, 200, "{\"success\":true}", 16, why, sizeof why) ==
	      PURGE_OK, "cloudflare success");
	const char *no = "{\"success\":false,\"errors\":[{\"code\":1012,\"message\":\"Request must "
			 "contain \\\"quoted\\\" things\"}]}";
	CHECK(purge_req_judge(PURGE_TYPE_CLOUDFLARE, 200, no, strlen(no), why, sizeof why) ==
	      PURGE_FAIL && !strchr(why, '"') && strstr(why, "Request must contain"),
	      "a 200 without success fails, with the message cleaned: %s", why);
	CHECK(purge_req_judge(PURGE_TYPE_CLOUDFLARE, 200, "<html>", 6, why, sizeof why) == PURGE_FAIL,
	      "a 200 that is not JSON fails");
	CHECK(purge_req_judge(PURGE_TYPE_CLOUDFLARE, 403, no, strlen(no), why, sizeof why) ==
	      PURGE_FAIL && !strncmp(why, "HTTP 403: Request", 17), "403: %s", why);
	CHECK(purge_req_judge(PURGE_TYPE_VARNISH, 503, NULL, 0, why, sizeof why) == PURGE_RETRY, "503");
	CHECK(purge_req_judge(PURGE_TYPE_FASTLY, 429, NULL, 0, why, sizeof why) == PURGE_RETRY, "429");
	CHECK(purge_req_judge(PURGE_TYPE_WEBHOOK, 408, NULL, 0, why, sizeof why) == PURGE_FAIL,
	      "another 4xx is not retried");
	CHECK(purge_req_judge(PURGE_TYPE_WEBHOOK, 0, NULL, 0, why, sizeof why) == PURGE_RETRY,
	      "no answer: retried");
	CHECK(purge_req_judge(PURGE_TYPE_CLOUDFRONT, 201, "<x/>", 4, why, sizeof why) == PURGE_OK,
	      "201 Created");
	CHECK(purge_req_judge(PURGE_TYPE_VARNISH, 301, NULL, 0, why, sizeof why) == PURGE_FAIL,
	      "a redirect is not a purge");

	/* [purge NAME] checks through the config, as a file gives them. */
	static const struct {
		const char *lines;   /* key=value;key=value */
		const char *err;     /* NULL: accepted */
	} cases[] = {
		{ "type=varnish;url=http://v/;host=h", NULL },
		{ "type=varnish;url=http://v/", "varnish needs host" },
		{ "type=varnish;url=http://v/;host=h;by=tags;tags=a", "varnish purges by" },
		{ "type=varnish;url=http://v/;host=h;secret_file=/x", "takes no secret" },
		{ "type=cloudflare;zone=z;secret_file=/x;site=https://s", NULL },
		{ "type=cloudflare;zone=z;secret_file=/x", "needs site" },
		{ "type=cloudflare;zone=z;secret_file=/x;by=tags", NULL },
		{ "type=cloudflare;zone=z;secret_file=/x;by=cut", "cloudflare purges by" },
		{ "type=cloudflare;secret_file=/x;by=everything", "cloudflare needs zone" },
		{ "type=cloudfront;distribution=d;secret_file=/x", NULL },
		{ "type=cloudfront;distribution=d;secret_file=/x;by=tags;tags=a", "cloudfront purges by" },
		{ "type=fastly;service=s;secret_file=/x;tags=k", NULL },
		{ "type=fastly;service=s;secret_file=/x", NULL },
		{ "type=fastly;service=s;secret_file=/x;tags=k;zone=z", "zone is for type = cloudflare" },
		{ "type=webhook;url=http://h;secret_file=/x", NULL },
		{ "type=webhook;url=http://h", "webhook needs url" },
		{ "type=webhook;url=http://h;secret_file=/x;by=cut", "by = paths" },
		{ "url=http://h", "set type" },
		{ "type=webhook;url=http://h;secret_file=/x;backoff=2s;backoff_max=1s", "shorter" },
		{ "type=webhook;url=http://h;secret_file=/x;soft=yes", "soft is for" },
		{ "type=varnish;url=http://v/;host=h;by=cut;tags=a", "set by = tags" },
		{ "type=fastly;service=s;secret_file=/x;tags=a b c;batch=2", "more tags than batch" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct config cfg;
		config_init(&cfg);
		char buf[512], err[512] = "";
		snprintf(buf, sizeof buf, "%s", cases[i].lines);
		enum rc rc = RC_OK;
		for (char *kv = strtok(buf, ";"); kv && !rc; kv = strtok(NULL, ";")) {
			char *eq = strchr(kv, '=');
			*eq = '\0';
			rc = config_set(&cfg, "purge cdn", kv, eq + 1, NULL, err, sizeof err);
		}
		CHECK(!rc, "case %zu sets: %s", i, err);
		rc = purge_settings_check(&cfg.purge, err, sizeof err);
		if (cases[i].err)
			CHECK(rc == RC_FORMAT && strstr(err, cases[i].err) && strstr(err, "[purge cdn]"),
			      "case %zu: want '%s', got '%s'", i, cases[i].err, err);
		else
			CHECK(rc == RC_OK, "case %zu refused: %s", i, err);
		config_release(&cfg);
	}

	/* Named sections: several targets, their defaults, the caps. */
	struct config cfg;
	char err[512];
	config_init(&cfg);
	CHECK(config_set(&cfg, "purge a", "type", "varnish", NULL, err, sizeof err) == RC_OK &&
	      config_set(&cfg, "purge b", "type", "webhook", NULL, err, sizeof err) == RC_OK &&
	      config_set(&cfg, "purge a", "retries", "3", NULL, err, sizeof err) == RC_OK &&
	      config_set(&cfg, "purge b", "timeout", "250ms", NULL, err, sizeof err) == RC_OK,
	      "two targets: %s", err);
	CHECK(cfg.purge.count == 2 && !strcmp(cfg.purge.targets[0].name, "a") &&
	      cfg.purge.targets[0].type == PURGE_TYPE_VARNISH && cfg.purge.targets[0].retries == 3 &&
	      cfg.purge.targets[1].retries == 8 && cfg.purge.targets[1].timeout_ms == 250 &&
	      cfg.purge.targets[0].timeout_ms == 10000 && cfg.purge.targets[0].backoff_ms == 1000,
	      "each instance keeps its own values and the defaults");
	CHECK(config_set(&cfg, "purge b", "timeout", "250", NULL, err, sizeof err) == RC_FORMAT &&
	      strstr(err, "250ms"), "a time needs its unit: %s", err);
	CHECK(config_set(&cfg, "purge b", "nope", "1", NULL, err, sizeof err) == RC_FORMAT &&
	      strstr(err, "[purge NAME]") && strstr(err, "secret_file"), "unknown key: %s", err);
	CHECK(config_set(&cfg, "purge b c", "type", "webhook", NULL, err, sizeof err) == RC_FORMAT,
	      "a name with a space: %s", err);
	CHECK(config_set(&cfg, "purgex", "type", "webhook", NULL, err, sizeof err) == RC_FORMAT &&
	      strstr(err, "unknown section"), "purgex is not a purge section: %s", err);
	for (unsigned i = 2; i < PURGE_MAX_TARGETS; i++) {
		char sec[32];
		snprintf(sec, sizeof sec, "purge t%u", i);
		CHECK(config_set(&cfg, sec, "type", "varnish", NULL, err, sizeof err) == RC_OK, "%s", err);
	}
	CHECK(config_set(&cfg, "purge one-too-many", "type", "varnish", NULL, err, sizeof err) ==
	      RC_LIMIT && strstr(err, "PURGE_MAX_TARGETS"), "past the cap: %s", err);
	CHECK(config_set(&cfg, "purge a", "url", "ftp://x", NULL, err, sizeof err) == RC_FORMAT,
	      "url must be http(s)");
	CHECK(config_set(&cfg, "purge a", "zone", "a/b", NULL, err, sizeof err) == RC_FORMAT,
	      "an id cannot hold a slash");
	CHECK(config_set(&cfg, "purge a", "tags", "a,b", NULL, err, sizeof err) == RC_FORMAT,
	      "a tag cannot hold a comma");
	CHECK(config_set(&cfg, "fleet", "peers", "http://a:1 https://b:2", NULL, err, sizeof err) ==
	      RC_OK && config_set(&cfg, "fleet", "poll", "50ms", NULL, err, sizeof err) == RC_OK &&
	      cfg.fleet.poll_ms == 50, "fleet: %s", err);
	CHECK(config_set(&cfg, "fleet", "poll", "10ms", NULL, err, sizeof err) == RC_FORMAT,
	      "poll under 50ms: %s", err);
	CHECK(config_set(&cfg, "fleet", "peers", "10.0.0.2:8080", NULL, err, sizeof err) == RC_FORMAT,
	      "a peer without a scheme: %s", err);
	config_release(&cfg);
	return check_done();
}
