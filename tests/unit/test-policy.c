/* The response policy's header values for a CDN: Cache-Control with the
 * browser's and the CDN's TTLs (RFC 9111 5.2.2.10 s-maxage), the stale
 * directives (RFC 5861), Surrogate-Control (Fastly; Edge Architecture
 * 1.0), CDN-Cache-Control (RFC 9213), the purge tags (Fastly's
 * Surrogate-Key: space-separated; Cloudflare's Cache-Tag:
 * comma-separated), the 404s, and the answers of an origin behind its
 * fleet. Exact strings, for each combination of settings. */
#include "check.h"
#include "server/config.h"
#include "server/policy.h"
#include "server/snap_int.h"

#include <stdlib.h>
#include <string.h>

static const char *str(const char *s)
{
	return s ? s : "(none)";
}

#define NONE NULL

/* Each row: the settings, then Cache-Control, Surrogate-Control,
 * CDN-Cache-Control of a per-cut file and Cache-Control of a 404. */
static const struct {
	const char *what;
	const char *cache_short;
	unsigned browser, swr, sie, error_ttl, cdn_header;
	int cdn_ttl;
	bool purge_on;
	const char *cc, *sc, *cdncc, *err;
} rows[] = {
	{ "defaults with a purge", NULL, 10, 10, 86400, 10, CDN_HDR_SMAXAGE, POLICY_CDN_TTL_AUTO, true,
	  "public, max-age=10, s-maxage=3600, stale-while-revalidate=10, stale-if-error=86400",
	  NONE, NONE, "public, max-age=10" },
	{ "defaults without a purge: the CDN keeps it as long as a browser", NULL, 10, 10, 86400, 10,
	  CDN_HDR_SMAXAGE, POLICY_CDN_TTL_AUTO, false,
	  "public, max-age=10, s-maxage=10, stale-while-revalidate=10, stale-if-error=86400",
	  NONE, NONE, "public, max-age=10" },
	{ "an explicit CDN TTL ignores purge_on", NULL, 5, 10, 86400, 10, CDN_HDR_SMAXAGE, 600, false,
	  "public, max-age=5, s-maxage=600, stale-while-revalidate=10, stale-if-error=86400",
	  NONE, NONE, "public, max-age=10" },
	{ "Surrogate-Control only: browsers get no stale directive", NULL, 10, 30, 3600, 10,
	  CDN_HDR_SURROGATE, POLICY_CDN_TTL_AUTO, true,
	  "public, max-age=10",
	  "max-age=3600, stale-while-revalidate=30, stale-if-error=3600", NONE, "public, max-age=10" },
	{ "CDN-Cache-Control only", NULL, 10, 30, 3600, 10, CDN_HDR_CDNCC, 120, true,
	  "public, max-age=10", NONE, "max-age=120, stale-while-revalidate=30, stale-if-error=3600",
	  "public, max-age=10" },
	{ "all three", NULL, 10, 30, 3600, 10, CDN_HDR_SMAXAGE | CDN_HDR_SURROGATE | CDN_HDR_CDNCC,
	  POLICY_CDN_TTL_AUTO, true,
	  "public, max-age=10, s-maxage=3600, stale-while-revalidate=30, stale-if-error=3600",
	  "max-age=3600, stale-while-revalidate=30, stale-if-error=3600",
	  "max-age=3600, stale-while-revalidate=30, stale-if-error=3600", "public, max-age=10" },
	{ "no CDN header: the stale directives go to Cache-Control", NULL, 10, 30, 3600, 10, 0,
	  POLICY_CDN_TTL_AUTO, true,
	  "public, max-age=10, stale-while-revalidate=30, stale-if-error=3600", NONE, NONE,
	  "public, max-age=10" },
	{ "stale directives off", NULL, 10, 0, 0, 10, CDN_HDR_SMAXAGE | CDN_HDR_SURROGATE,
	  POLICY_CDN_TTL_AUTO, true,
	  "public, max-age=10, s-maxage=3600", "max-age=3600", NONE, "public, max-age=10" },
	{ "only stale-if-error", NULL, 10, 0, 60, 10, CDN_HDR_SMAXAGE, POLICY_CDN_TTL_AUTO, true,
	  "public, max-age=10, s-maxage=3600, stale-if-error=60", NONE, NONE, "public, max-age=10" },
	{ "browser TTL 0 and error_ttl 0", NULL, 0, 10, 86400, 0, CDN_HDR_SMAXAGE,
	  POLICY_CDN_TTL_AUTO, true,
	  "public, max-age=0, s-maxage=3600, stale-while-revalidate=10, stale-if-error=86400",
	  NONE, NONE, "no-store" },
	{ "auto without purge and browser TTL 0: the CDN keeps nothing", NULL, 0, 0, 0, 10,
	  CDN_HDR_SURROGATE, POLICY_CDN_TTL_AUTO, false, "public, max-age=0", "max-age=0", NONE,
	  "public, max-age=10" },
	{ "a verbatim [cache] short replaces every composed header", "public, max-age=5", 10, 10,
	  86400, 10, CDN_HDR_SMAXAGE | CDN_HDR_SURROGATE | CDN_HDR_CDNCC, POLICY_CDN_TTL_AUTO, true,
	  "public, max-age=5", NONE, NONE, "public, max-age=10" },
};

static void compose(void)
{
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct policy p = {
			.cache_short = rows[i].cache_short,
			.cache_immutable = "public, max-age=31536000, immutable",
			.browser_ttl = rows[i].browser, .cdn_ttl = rows[i].cdn_ttl,
			.cdn_header = rows[i].cdn_header, .swr = rows[i].swr, .sie = rows[i].sie,
			.error_ttl = rows[i].error_ttl, .purge_on = rows[i].purge_on,
		};
		struct policy_copy c;
		CHECK(policy_copy_init(&c, &p) == RC_OK, "%s: init", rows[i].what);
		CHECK(!strcmp(str(c.cache_short), str(rows[i].cc)), "%s: Cache-Control '%s'",
		      rows[i].what, str(c.cache_short));
		CHECK(!strcmp(str(c.surrogate), str(rows[i].sc)), "%s: Surrogate-Control '%s'",
		      rows[i].what, str(c.surrogate));
		CHECK(!strcmp(str(c.cdn_cc), str(rows[i].cdncc)), "%s: CDN-Cache-Control '%s'",
		      rows[i].what, str(c.cdn_cc));
		CHECK(!strcmp(str(c.cache_error), rows[i].err), "%s: 404 Cache-Control '%s'",
		      rows[i].what, str(c.cache_error));
		struct policy_copy d;
		CHECK(policy_copy_dup(&d, &c) == RC_OK && d.cache_short != c.cache_short &&
		      !strcmp(str(d.cache_short), str(c.cache_short)) &&
		      !strcmp(str(d.surrogate), str(c.surrogate)), "%s: a copy owns its strings",
		      rows[i].what);
		policy_copy_release(&d);
		policy_copy_release(&c);
	}
	struct policy p = { .cdn_ttl = POLICY_CDN_TTL_AUTO, .browser_ttl = 7 };
	CHECK(policy_cdn_ttl(&p) == 7, "auto, no purge: browser_ttl");
	p.purge_on = true;
	CHECK(policy_cdn_ttl(&p) == POLICY_CDN_TTL_PURGED, "auto with a purge: long");
	p.cdn_ttl = 0;
	CHECK(policy_cdn_ttl(&p) == 0, "an explicit 0");
}

static void tags(void)
{
	char t[POLICY_TAGS_BYTES];
	policy_tags("20240602_2215", "index.html", false, false, false, t, sizeof t);
	CHECK(!strcmp(t, "prep prep-cut-20240602_2215 prep-percut prep-html"), "per-cut key: %s", t);
	policy_tags("20240602_2215", "json/a.json", false, false, true, t, sizeof t);
	CHECK(!strcmp(t, "prep,prep-cut-20240602_2215,prep-percut,prep-json"), "Cache-Tag: %s", t);
	policy_tags("Corte-B.2", "main-2LZQ6AHC.js", true, false, false, t, sizeof t);
	CHECK(!strcmp(t, "prep prep-immutable prep-js"), "an immutable file names no cut: %s", t);
	policy_tags("Corte-B.2", "x", false, true, true, t, sizeof t);
	CHECK(!strcmp(t, "prep,prep-cut-corte-b.2,prep-percut,prep-error"),
	      "a 404, the label lowercased: %s", t);
	char small[12];
	size_t need = policy_cut_tag("ABC", small, sizeof small);
	CHECK(need == 12 && !strcmp(small, "prep-cut-ab"), "cut to size: %zu '%s'", need, small);
	CHECK(policy_cut_tag("placeholder", NULL, 0) == 20, "size only");
}

static const char *hdr(struct MHD_Response *r, const char *name)
{
	const char *v = r ? MHD_get_response_header(r, name) : NULL;
	return v ? v : "(none)";
}

/* The headers of built responses: per class, 404s, behind. */
static void responses(void)
{
	struct config cfg;
	config_init(&cfg);
	char err[256];
	CHECK(config_set(&cfg, "cache", "cdn_header", "s-maxage surrogate-control", NULL, err,
			 sizeof err) == RC_OK, "cdn_header: %s", err);
	CHECK(config_set(&cfg, "cache", "cdn_ttl", "90m", NULL, err, sizeof err) == RC_OK,
	      "cdn_ttl: %s", err);
	CHECK(config_set(&cfg, "cache", "cdn_ttl", "soon", NULL, err, sizeof err) == RC_FORMAT &&
	      strstr(err, "expected auto or a time"), "a bad cdn_ttl: %s", err);
	CHECK(config_set(&cfg, "cache", "tags", "surrogate", NULL, err, sizeof err) == RC_FORMAT,
	      "a bad tags: %s", err);
	CHECK(config_finish(&cfg, err, sizeof err) == RC_OK, "finish: %s", err);
	struct policy p = cfg.response.policy;
	CHECK(p.cdn_ttl == 5400 && p.tags == 3 && p.keep_cuts == 3 && p.keep_minutes == 60 &&
	      p.error_ttl == 10 && p.sie == 86400, "the config's policy: cdn_ttl=%d tags=%u",
	      p.cdn_ttl, p.tags);

	char page[2048];
	memset(page, 'n', sizeof page - 1);
	page[sizeof page - 1] = '\0';
	const char *const files[][2] = {
		{ "index.html", "<base href=/>" },
		{ "main-2LZQ6AHC.js", "console.log(1)" },
		{ "json/a.json", "{}" },
		{ "404.html", page },
	};
	for (int fleet = 0; fleet < 2; fleet++) {
		p.fleet = fleet;
		struct snap_builder *b = snap_builder_new(NULL, false, &p);
		for (size_t i = 0; i < 4; i++)
			snap_builder_add(b, files[i][0], strdup(files[i][1]), strlen(files[i][1]), 0,
					 false);
		struct cut cut = { .seq = 4 };
		snprintf(cut.label, sizeof cut.label, "20240602_2215");
		enum rc rc;
		struct snap *s = snap_builder_finish(b, &cut, NULL, &rc);
		CHECK(s != NULL, "build");
		const struct slot *html = snap_lookup(s, "index.html");
		const struct slot *js = snap_lookup(s, "main-2LZQ6AHC.js");
		CHECK(!strcmp(hdr(html->ok, "Cache-Control"),
			      "public, max-age=10, s-maxage=5400, stale-while-revalidate=10, "
			      "stale-if-error=86400"), "HTML: %s", hdr(html->ok, "Cache-Control"));
		CHECK(!strcmp(hdr(html->nm, "Surrogate-Control"),
			      "max-age=5400, stale-while-revalidate=10, stale-if-error=86400"),
		      "a 304 carries the CDN's TTL too (RFC 9111 4.3.4 updates it)");
		CHECK(!strcmp(hdr(html->ok, "Surrogate-Key"),
			      "prep prep-cut-20240602_2215 prep-percut prep-html"), "key: %s",
		      hdr(html->ok, "Surrogate-Key"));
		CHECK(!strcmp(hdr(html->ok, "Cache-Tag"),
			      "prep,prep-cut-20240602_2215,prep-percut,prep-html"), "tag");
		CHECK(!strcmp(hdr(js->ok, "Cache-Control"), "public, max-age=31536000, immutable") &&
		      !strcmp(hdr(js->ok, "Surrogate-Control"), "(none)") &&
		      !strcmp(hdr(js->ok, "Surrogate-Key"), "prep prep-immutable prep-js"),
		      "fingerprinted: immutable, no CDN TTL of its own, no cut tag");
		CHECK(!strcmp(hdr(js->ok, "X-PREP-Cut"), "seq=4; label=20240602_2215"), "cut header");
		/* 404s. */
		CHECK(!strcmp(hdr(s->nf[SNAP_NF_SHORT][0], "Cache-Control"), "public, max-age=10") &&
		      !strcmp(hdr(s->nf[SNAP_NF_SHORT][0], "Surrogate-Key"),
			      "prep prep-cut-20240602_2215 prep-percut prep-error"),
		      "a plain 404: error_ttl and the cut's tags");
		CHECK(!strcmp(hdr(s->nf[SNAP_NF_NOSTORE][0], "Cache-Control"), "no-store") &&
		      !strcmp(hdr(s->nf[SNAP_NF_NOSTORE][0], "Surrogate-Key"), "(none)") &&
		      !strcmp(hdr(s->nf[SNAP_NF_NOSTORE][1], "Cache-Control"), "no-store"),
		      "a fingerprinted 404: no-store, both variants");
		CHECK(!strcmp(hdr(s->nf[SNAP_NF_SHORT][1], "Content-Encoding"), "gzip") &&
		      !strcmp(hdr(s->nf[SNAP_NF_SHORT][0], "Content-Type"), "text/html; charset=utf-8") &&
		      s->nf_len[0] == sizeof page - 1 && s->nf_len[1] < s->nf_len[0],
		      "the package's 404.html is the body");
		/* Behind the fleet. */
		if (fleet) {
			CHECK(html->behind && !js->behind, "fleet: per-cut files have behind answers");
			CHECK(!strcmp(hdr(html->behind->ok, "Cache-Control"), "no-store") &&
			      !strcmp(hdr(html->behind->nm, "Cache-Control"), "no-store") &&
			      !strcmp(hdr(html->behind->ok, "Surrogate-Control"), "(none)") &&
			      !strcmp(hdr(html->behind->ok, "ETag"), html->e->etag),
			      "behind: no-store, no CDN TTL, same validator");
		} else {
			CHECK(!html->behind && !js->behind, "no fleet: nothing prebuilt");
		}
		struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"",
									 MHD_RESPMEM_PERSISTENT);
		CHECK(snap_add_headers(r, s, html, false, MHD_HTTP_OK, true) == RC_OK &&
		      !strcmp(hdr(r, "Cache-Control"), "no-store") &&
		      !strcmp(hdr(r, "Surrogate-Control"), "(none)"), "per request, behind");
		MHD_destroy_response(r);
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		CHECK(snap_add_headers(r, s, js, false, MHD_HTTP_OK, true) == RC_OK &&
		      !strcmp(hdr(r, "Cache-Control"), "public, max-age=31536000, immutable"),
		      "behind: a fingerprinted file stays cacheable");
		MHD_destroy_response(r);
		snap_release(s);
	}

	/* The switch itself. */
	CHECK(!snap_behind(), "off at start");
	snap_behind_set(true);
	CHECK(snap_behind(), "on");
	snap_behind_set(false);
	CHECK(!snap_behind(), "off again");

	/* An operator's rule for Cache-Control yields to behind. */
	struct rules rules = { 0 };
	const char *why;
	rules_add(&rules, "/json/*", "Cache-Control", "public, max-age=2", &why);
	p.rules = &rules;
	p.tags = 0;
	struct snap_builder *b = snap_builder_new(NULL, false, &p);
	snap_builder_add(b, "json/a.json", strdup("{}"), 2, 0, false);
	struct cut cut = { .seq = 5 };
	enum rc rc;
	struct snap *s = snap_builder_finish(b, &cut, NULL, &rc);
	const struct slot *j = snap_lookup(s, "json/a.json");
	CHECK(!strcmp(hdr(j->ok, "Cache-Control"), "public, max-age=2") &&
	      !strcmp(hdr(j->ok, "Surrogate-Control"), "(none)") &&
	      !strcmp(hdr(j->ok, "Surrogate-Key"), "(none)"),
	      "a rule's Cache-Control replaces the composed ones; tags off");
	CHECK(j->behind && !strcmp(hdr(j->behind->ok, "Cache-Control"), "no-store"),
	      "behind beats the rule: %s", hdr(j->behind->ok, "Cache-Control"));
	snap_release(s);
	rules_release(&rules);
	config_release(&cfg);
}

int main(void)
{
	compose();
	tags();
	responses();
	return check_done();
}
