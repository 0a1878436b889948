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
	{ "app.3F2A9C1B8D.js", CACHE_SHORT },            /* hashes are lowercase */
};

int main(void)
{
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
