#include "check.h"
#include "server/rules.h"

#include <string.h>
#include <strings.h>

static const struct {
	const char *path;
	enum cache_class c;
} classes[] = {
	{ "main.3f2a9c1b8d7e6f50.js", CACHE_IMMUTABLE },
	{ "polyfills.a1b2c3d4e5f60718.js", CACHE_IMMUTABLE },
	{ "styles.a1b2c3d4e5f60718.css", CACHE_IMMUTABLE },
	{ "assets/chunk-3f2a9c1b.js", CACHE_IMMUTABLE },
	{ "3f2a9c1b8d7e6f50.js", CACHE_IMMUTABLE },
	{ "fonts/roboto.0a1b2c3d4e.woff2", CACHE_IMMUTABLE },
	{ "main.js", CACHE_SHORT },
	{ "index.html", CACHE_SHORT },
	{ "main.3f2a9c1b8d7e6f50.html", CACHE_SHORT },   /* HTML never */
	{ "data.3f2a9c1b8d7e6f50.json", CACHE_SHORT },   /* JSON never */
	{ "datos/20240602_2215_PREP.zip", CACHE_SHORT },
	{ "logo.20240602.png", CACHE_SHORT },            /* digits only: a date */
	{ "app.deadbeef.js", CACHE_SHORT },              /* letters only: a word */
	{ "app.3f2a9c1.js", CACHE_SHORT },               /* 7 chars: too short */
	{ "app.3F2A9C1B8D.js", CACHE_SHORT },            /* webpack hashes are lowercase */
	/* An Angular build with webpack (<= 16, outputHashing all). */
	{ "runtime.0123456789abcdef.js", CACHE_IMMUTABLE },
	{ "123.9f8e7d6c5b4a3210.js", CACHE_IMMUTABLE },   /* a lazy chunk */
	{ "src_app_mapa_module_ts.9f8e7d6c5b4a3210.js", CACHE_IMMUTABLE },
	{ "polyfills.1234567890123456.js", CACHE_IMMUTABLE },   /* 16 digits: still a hash */
	{ "main.abcdefabcdefabcd.js", CACHE_IMMUTABLE },        /* 16 letters too */
	{ "media/roboto-v20-latin-regular.0a1b2c3d4e5f6a7b.woff2", CACHE_IMMUTABLE },
	{ "3rdpartylicenses.txt", CACHE_SHORT },
	{ "favicon.ico", CACHE_SHORT },
	{ "assets/img/logo-ine.png", CACHE_SHORT },
	/* An Angular build with esbuild (>= 17, application builder):
	 * 8 characters of base32 (A-Z, 2-7) after a dash. */
	{ "main-2LZQ6AHC.js", CACHE_IMMUTABLE },
	{ "chunk-UWQ4BXNQ.js", CACHE_IMMUTABLE },
	{ "polyfills-FFHMD2TL.js", CACHE_IMMUTABLE },
	{ "styles-5INURTSO.css", CACHE_IMMUTABLE },
	{ "chunk-ABCDEFGH.js", CACHE_IMMUTABLE },     /* all letters: 19% of hashes */
	{ "media/roboto-KFOMCNQE.woff2", CACHE_IMMUTABLE },
	{ "worker-Q2ZKXV3M.js", CACHE_IMMUTABLE },
	{ "main-2LZQ6AH.js", CACHE_SHORT },           /* 7: not a hash */
	{ "main-2LZQ6AHCX.js", CACHE_SHORT },         /* 9 */
	{ "main-2LZQ6AH1.js", CACHE_SHORT },          /* 1 is not base32 */
	{ "main-2lzq6ahc.js", CACHE_SHORT },          /* esbuild hashes are uppercase */
	{ "chunk-UWQ4BXNQ.json", CACHE_SHORT },       /* JSON never */
	{ "index-UWQ4BXNQ.html", CACHE_SHORT },       /* HTML never */
	{ "chunk-UWQ4BXNQ.js.map", CACHE_SHORT },     /* a map is not an asset type */
	{ "chunk-UWQ4BXNQ", CACHE_SHORT },            /* no extension */
	{ "UWQ4BXNQ.js", CACHE_IMMUTABLE },           /* a bare hash */
	{ "main-2LZQ6AHC.mjs", CACHE_IMMUTABLE },
	{ "assets/MAIN-2LZQ6AHC.JS", CACHE_IMMUTABLE },   /* the type, not its case */
};

static const struct {
	const char *path, *cls;
} types[] = {
	{ "index.html", "html" }, { "a/b.HTM", "html" }, { "json/x.json", "json" },
	{ "datos/base.csv", "csv" }, { "main-2LZQ6AHC.js", "js" }, { "x.mjs", "js" },
	{ "styles.css", "css" }, { "f.woff2", "font" }, { "logo.svg", "image" },
	{ "datos/20240602_PREP.zip", "zip" }, { "robots.txt", "txt" }, { "x.wasm", "other" },
	{ "LICENSE", "other" }, { "a.tar.gz", "other" },
};

static const struct {
	const char *s;
	bool ok;
	unsigned bits;
} cdn_headers[] = {
	{ "s-maxage", true, CDN_HDR_SMAXAGE },
	{ "Surrogate-Control", true, CDN_HDR_SURROGATE },
	{ "cdn-cache-control", true, CDN_HDR_CDNCC },
	{ "s-maxage surrogate-control", true, CDN_HDR_SMAXAGE | CDN_HDR_SURROGATE },
	{ " s-maxage,cdn-cache-control , surrogate-control ", true, 7 },
	{ "none", true, 0 },
	{ "NONE", true, 0 },
	{ "none s-maxage", false, 0 },
	{ "s-maxage s-maxage", false, 0 },
	{ "", false, 0 },
	{ " , ", false, 0 },
	{ "s-max-age", false, 0 },
	{ "s-maxagex", false, 0 },
	{ "surrogate-key", false, 0 },
};

static const struct {
	const char *s;
	bool ok;
	unsigned bits;
} tag_modes[] = {
	{ "surrogate-key", true, CACHE_TAGS_SURROGATE_KEY },
	{ "cache-tag", true, CACHE_TAGS_CACHE_TAG },
	{ "surrogate-key cache-tag", true, 3 },
	{ "cache-tag,surrogate-key", true, 3 },
	{ "off", true, 0 },
	{ "off off", false, 0 },
	{ "cache-tag cache-tag", false, 0 },
	{ "cache-tags", false, 0 },
	{ "", false, 0 },
};

static void parsers(void)
{
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		CHECK(!strcmp(rules_type_class(types[i].path), types[i].cls), "type class of %s: %s",
		      types[i].path, rules_type_class(types[i].path));
	for (size_t i = 0; i < sizeof cdn_headers / sizeof cdn_headers[0]; i++) {
		unsigned bits = 99;
		bool ok = rules_parse_cdn_header(cdn_headers[i].s, &bits);
		CHECK(ok == cdn_headers[i].ok && (!ok || bits == cdn_headers[i].bits),
		      "cdn_header '%s': ok=%d bits=%u", cdn_headers[i].s, ok, bits);
		CHECK(ok || bits == 99, "cdn_header '%s': a refusal stores nothing", cdn_headers[i].s);
	}
	for (size_t i = 0; i < sizeof tag_modes / sizeof tag_modes[0]; i++) {
		unsigned bits = 99;
		bool ok = rules_parse_tags(tag_modes[i].s, &bits);
		CHECK(ok == tag_modes[i].ok && (!ok || bits == tag_modes[i].bits),
		      "tags '%s': ok=%d bits=%u", tag_modes[i].s, ok, bits);
	}
}

int main(void)
{
	parsers();
	for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
		CHECK(rules_cache_class(classes[i].path) == classes[i].c, "class of %s",
		      classes[i].path);

	struct rules r = { 0 };
	const char *why;
	CHECK(rules_add(&r, "/json/main.json", "Cache-Control", "no-cache", &why) == RC_OK, "add");
	CHECK(rules_add(&r, "/json/*", "Access-Control-Allow-Origin", "*", &why) == RC_OK, "add glob");
	CHECK(rules_add(&r, "/json/*", "Cache-Control", "max-age=5", &why) == RC_OK, "add glob cc");
	CHECK(rules_add(&r, "/json/main.json", "cache-control", "no-store", &why) == RC_OK,
	      "same header again replaces");

	/* Bad rules, each with its reason. */
	static const struct {
		const char *pattern, *name, *value, *why;
	} bad[] = {
		{ "json/main.json", "X-A", "1", "start with '/'" },
		{ "/x", "Bad Name", "1", "not a valid HTTP header name" },
		{ "/x", "X-A", "a\r\nSet-Cookie: 1", "control character" },
		{ "/x", "Content-Length", "1", "sets this header itself" },
		{ "/x", "etag", "\"x\"", "sets this header itself" },
		{ "/x", "X-PREP-Cut", "1", "sets this header itself" },
		{ "/x", "Content-Encoding", "gzip", "sets this header itself" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		enum rc rc = rules_add(&r, bad[i].pattern, bad[i].name, bad[i].value, &why);
		CHECK(rc == RC_FORMAT, "bad rule %zu accepted", i);
		CHECK(why && strstr(why, bad[i].why), "bad rule %zu: why '%s'", i, why ? why : "");
	}

	const struct rule_header *out[8];
	size_t n = rules_match(&r, "json/main.json", out, 8);
	CHECK(n == 2, "main.json gets 2 headers, got %zu", n);
	bool cc = false, cors = false;
	for (size_t i = 0; i < n; i++) {
		if (!strcasecmp(out[i]->name, "Cache-Control")) {
			/* rules apply in file order: the glob came later and wins */
			CHECK(!strcmp(out[i]->value, "max-age=5"), "later rule wins: %s", out[i]->value);
			cc = true;
		}
		if (!strcmp(out[i]->name, "Access-Control-Allow-Origin"))
			cors = true;
	}
	CHECK(cc && cors, "both headers present");
	n = rules_match(&r, "json/other.json", out, 8);
	CHECK(n == 2, "other json: %zu", n);
	n = rules_match(&r, "index.html", out, 8);
	CHECK(n == 0, "index.html matches nothing: %zu", n);

	/* A copy (what a snapshot keeps) matches the same and owns its
	 * strings. */
	struct rules copy;
	CHECK(rules_copy(&copy, &r) == RC_OK && copy.n == r.n, "copy");
	CHECK(copy.v[0].pattern != r.v[0].pattern, "copy owns its patterns");
	n = rules_match(&copy, "json/main.json", out, 8);
	CHECK(n == 2, "copy: main.json gets 2 headers, got %zu", n);
	rules_release(&copy);
	CHECK(rules_copy(&copy, NULL) == RC_OK && copy.n == 0 && !copy.v, "copy of nothing");

	/* Caps are enforced. */
	struct rules many = { 0 };
	enum rc rc = RC_OK;
	for (unsigned i = 0; i <= CFG_MAX_RULE_HEADERS && !rc; i++) {
		char name[32];
		snprintf(name, sizeof name, "X-H%u", i);
		rc = rules_add(&many, "/a", name, "1", &why);
	}
	CHECK(rc == RC_LIMIT, "CFG_MAX_RULE_HEADERS enforced");
	rules_release(&many);
	rules_release(&r);
	CHECK(r.n == 0 && r.v == NULL, "release empties");
	return check_done();
}
