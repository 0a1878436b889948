/* The snapshot: entries reused by content, overlays, per-cut headers,
 * lookups, and lifetime (a response outlives the snapshot that made it). */
#include "check.h"
#include "server/config.h"
#include "server/policy.h"
#include "server/snap_int.h"

#include <stdlib.h>
#include <string.h>

static void *dup_str(const char *s)
{
	return strdup(s);
}

static struct policy policy;

static struct snap *build(const struct snap *base, bool overlay, uint64_t seq,
			  const char *const files[][2], size_t n, struct snap_stats *st)
{
	struct snap_builder *b = snap_builder_new(base, overlay, &policy);
	for (size_t i = 0; i < n; i++)
		if (snap_builder_add(b, files[i][0], dup_str(files[i][1]),
				     strlen(files[i][1]), 1717387200, false))
			return NULL;
	struct cut cut = { .seq = seq };
	snprintf(cut.label, sizeof cut.label, "cut%llu", (unsigned long long)seq);
	enum rc rc;
	return snap_builder_finish(b, &cut, st, &rc);
}

/* snap_builder_check() on files laid over base (NULL: a full cut): the
 * rc, and the path and a word of the reason it gives. */
static void expect_check(const struct snap *base, const char *const files[][2], size_t n,
			 uint64_t max_entries, uint64_t max_bytes, enum rc want,
			 const char *want_path, const char *want_reason, const char *what)
{
	struct snap_builder *b = snap_builder_new(base, base != NULL, &policy);
	for (size_t i = 0; i < n; i++)
		snap_builder_add(b, files[i][0], dup_str(files[i][1]), strlen(files[i][1]), 0, false);
	struct snap_check_error err;
	enum rc rc = snap_builder_check(b, max_entries, max_bytes, &err);
	CHECK(rc == want, "%s: rc %s, want %s (%s: %s)", what, rc_str(rc), rc_str(want), err.path,
	      err.reason);
	if (want_path)
		CHECK(!strcmp(err.path, want_path), "%s: path '%s', want '%s'", what, err.path,
		      want_path);
	if (want_reason)
		CHECK(strstr(err.reason, want_reason) != NULL, "%s: reason '%s'", what, err.reason);
	snap_builder_free(b);
}

/* The site after an overlay: files against folders, and the caps counted
 * on the whole site (files and the folders their paths imply). */
static void site_checks(void)
{
	const char *const site[][2] = {
		{ "index.html", "<base href=/>" },
		{ "json/a.json", "{\"v\":1}" },
		{ "json/deep/b.json", "{\"v\":2}" },
		{ "json-x", "12345" },    /* sorts between "json" and "json/" */
		{ "top.txt", "0123456789" },
	};
	struct snap *base = build(NULL, false, 1, site, 5, NULL);
	CHECK(base != NULL, "build the base");
	const char *const ok[][2] = { { "json/deep/c.json", "1" }, { "json/a.json", "2" } };
	expect_check(base, ok, 2, 0, 0, RC_OK, "", NULL, "a plain overlay");
	const char *const file_on_dir[][2] = { { "json", "x" } };
	expect_check(base, file_on_dir, 1, 0, 0, RC_REFUSED, "json", "a file where the site has a folder",
		     "a file over a folder");
	const char *const file_on_deep[][2] = { { "json/deep", "x" } };
	expect_check(base, file_on_deep, 1, 0, 0, RC_REFUSED, "json/deep",
		     "a file where the site has a folder", "a file over a nested folder");
	const char *const dir_on_file[][2] = { { "top.txt/x.json", "x" } };
	expect_check(base, dir_on_file, 1, 0, 0, RC_REFUSED, "top.txt",
		     "a folder where the site has a file", "a folder over a file");
	const char *const dir_on_file2[][2] = { { "json-x/y/z", "x" } };
	expect_check(base, dir_on_file2, 1, 0, 0, RC_REFUSED, "json-x",
		     "a folder where the site has a file", "a folder over a file that sorts inside");
	const char *const both[][2] = { { "a", "1" }, { "a/b", "2" } };
	expect_check(NULL, both, 2, 0, 0, RC_REFUSED, "a", "both a file and a folder",
		     "a file and a folder in one package");
	const char *const replace[][2] = { { "top.txt", "new" } };
	expect_check(base, replace, 1, 0, 0, RC_OK, "", NULL, "a file replacing a file");

	/* The site has 5 files and 2 folders (json, json/deep): 7 entries,
	 * and 42 bytes. */
	uint64_t bytes = 13 + 7 + 7 + 5 + 10;
	const char *const one[][2] = { { "json/deep/new/c.json", "1" } };   /* +1 file, +1 folder */
	expect_check(base, one, 1, 9, 0, RC_OK, "", NULL, "9 entries fit in 9");
	expect_check(base, one, 1, 8, 0, RC_LIMIT, "", "9 files and folders", "9 entries over 8");
	expect_check(base, one, 1, 0, bytes + 1, RC_OK, "", NULL, "bytes: exactly at the cap");
	expect_check(base, one, 1, 0, bytes, RC_LIMIT, "", "max_total_bytes", "bytes: one over");
	const char *const bigger[][2] = { { "top.txt", "01234567890" } };   /* replaces: +1 byte */
	expect_check(base, bigger, 1, 0, bytes, RC_LIMIT, "", "max_total_bytes",
		     "a replaced file counts once, with its new size");
	expect_check(base, bigger, 1, 7, bytes + 1, RC_OK, "", NULL,
		     "a replaced file is not counted twice");
	snap_release(base);
}

static const char *resp_header(struct MHD_Response *r, const char *name)
{
	return MHD_get_response_header(r, name);
}

int main(void)
{
	struct config cfg;
	config_init(&cfg);
	char err[256];
	CHECK(config_finish(&cfg, err, sizeof err) == RC_OK, "default config finishes: %s", err);
	policy = cfg.response.policy;

	char big[4096];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	const char *const cut1[][2] = {
		{ "index.html", "<!doctype html><base href=\"/\"><p>corte 1</p>" },
		{ "main.3f2a9c1b8d7e6f50.js", big },
		{ "json/a.json", "{\"v\":1}" },
		{ "copy.json", "{\"v\":1}" },   /* same bytes as json/a.json */
	};
	struct snap_stats st;
	struct snap *s1 = build(NULL, false, 1, cut1, 4, &st);
	CHECK(s1 != NULL, "build cut 1");
	CHECK(st.files == 4 && st.built == 3 && st.reused == 1,
	      "identical files in one package share an entry: files=%zu built=%zu reused=%zu",
	      st.files, st.built, st.reused);
	const struct slot *js1 = snap_lookup(s1, "main.3f2a9c1b8d7e6f50.js");
	CHECK(js1 && slot_gz(js1) && slot_gz(js1)->len < js1->e->len && entry_variant(js1->e) &&
	      entry_variant(js1->e)->len == slot_gz(js1)->len, "compressible file has a smaller gzip");
	CHECK(slot_gz(snap_lookup(s1, "json/a.json")) == NULL &&
	      !entry_variant_pending(snap_lookup(s1, "json/a.json")->e), "tiny JSON has no gzip variant");
	CHECK(snap_lookup(s1, "nope") == NULL, "missing path");
	CHECK(s1->fallback == snap_lookup(s1, "index.html"), "SPA fallback is index.html");
	CHECK(s1->notfound == NULL, "no 404.html");
	CHECK(!strcmp(resp_header(js1->ok, "X-PREP-Cut"), "seq=1; label=cut1"), "cut header");
	CHECK(!strcmp(resp_header(js1->ok, "Cache-Control"), cfg.response.cache_immutable), "immutable JS");
	CHECK(!strcmp(resp_header(slot_gz(js1)->ok, "Content-Encoding"), "gzip"), "gzip encoding header");
	CHECK(resp_header(js1->nm, "Content-Type") == NULL, "304 has no Content-Type");
	CHECK(!strcmp(resp_header(js1->nm, "ETag"), js1->e->etag), "304 has the ETag");

	/* Cut 2, full: only index.html changes. Unchanged entries are the same
	 * objects (not rebuilt), with new responses naming cut 2. */
	const char *const cut2[][2] = {
		{ "index.html", "<!doctype html><base href=\"/\"><p>corte 2</p>" },
		{ "main.3f2a9c1b8d7e6f50.js", big },
		{ "json/a.json", "{\"v\":1}" },
	};
	struct snap *s2 = build(s1, false, 2, cut2, 3, &st);
	CHECK(s2 && st.files == 3 && st.built == 1 && st.reused == 2,
	      "a cut reuses unchanged entries: built=%zu reused=%zu", st.built, st.reused);
	const struct slot *js2 = snap_lookup(s2, "main.3f2a9c1b8d7e6f50.js");
	CHECK(js2->e == js1->e, "unchanged JS entry is shared between cuts");
	CHECK(js2->ok != js1->ok, "responses are per cut");
	CHECK(!strcmp(resp_header(js2->ok, "X-PREP-Cut"), "seq=2; label=cut2"), "new cut header");
	CHECK(!strcmp(resp_header(js2->ok, "ETag"), resp_header(js1->ok, "ETag")), "ETag kept");
	CHECK(snap_lookup(s2, "index.html")->e != snap_lookup(s1, "index.html")->e, "changed entry rebuilt");
	CHECK(snap_lookup(s2, "copy.json") == NULL, "a full cut drops files it lacks");

	/* Cut 3, incremental overlay: only the JSON; everything else carried. */
	const char *const cut3[][2] = {
		{ "json/a.json", "{\"v\":2}" },
		{ "json/new.json", "{\"n\":1}" },
	};
	struct snap *s3 = build(s2, true, 3, cut3, 2, &st);
	CHECK(s3 && st.files == 4 && st.built == 2 && st.reused == 2,
	      "overlay: files=%zu built=%zu reused=%zu", st.files, st.built, st.reused);
	CHECK(snap_lookup(s3, "index.html")->e == snap_lookup(s2, "index.html")->e, "overlay carries index.html");
	CHECK(!memcmp(snap_lookup(s3, "json/a.json")->e->data, "{\"v\":2}", 7), "overlay replaces a.json");
	CHECK(snap_lookup(s3, "json/new.json") != NULL, "overlay adds new.json");

	/* A path given twice in one package: the last one wins. */
	const char *const dup[][2] = { { "a.txt", "first" }, { "a.txt", "second" } };
	struct snap *s4 = build(NULL, false, 4, dup, 2, &st);
	const struct slot *a = snap_lookup(s4, "a.txt");
	CHECK(st.files == 1 && a && a->e->len == 6 && !memcmp(a->e->data, "second", 6), "last duplicate wins");
	snap_release(s4);

	/* Lifetime: a response queued by a connection (here: one extra MHD
	 * reference, as MHD_queue_response takes) keeps its entry's bytes
	 * alive after every snapshot using it is gone. */
	struct entry *e = js1->e;
	long before = atomic_load(&e->refs);
	CHECK(before >= 4, "entry refs: slots of s1 and s2, responses: %ld", before);
	snap_publish(s1);
	snap_publish(s2);    /* frees s1 */
	snap_publish(s3);    /* frees s2; s3 still uses the JS entry */
	CHECK(atomic_load(&e->refs) >= 3, "entry alive while s3 uses it");
	struct snap *cur = snap_acquire();
	CHECK(cur == s3 && snap_cut(cur)->seq == 3, "current is cut 3");
	snap_release(cur);
	snap_shutdown();     /* frees s3 and, with it, the last entry refs */

	/* A snapshot keeps its own copy of the policy it was built with: the
	 * caller's strings and rules may change or go (a config reload)
	 * while the snapshot still answers, prebuilt and per request. */
	char cc_short[] = "max-age=7", fa[] = "https://prep.ine.mx";
	struct rules rules = { 0 };
	const char *why;
	CHECK(rules_add(&rules, "/a.txt", "X-Rule", "one", &why) == RC_OK, "add a rule");
	policy = (struct policy){ .cache_short = cc_short, .cache_immutable = cc_short,
				  .frame_ancestors = fa, .rules = &rules };
	const char *const one[][2] = { { "a.txt", "policy" } };
	struct snap *s5 = build(NULL, false, 5, one, 1, &st);
	memset(cc_short, 'x', sizeof cc_short - 1);
	memset(fa, 'x', sizeof fa - 1);
	rules_release(&rules);
	const struct slot *p5 = snap_lookup(s5, "a.txt");
	CHECK(p5 && !strcmp(resp_header(p5->ok, "Cache-Control"), "max-age=7"), "kept Cache-Control");
	CHECK(!strcmp(resp_header(p5->ok, "X-Rule"), "one"), "kept rule");
	CHECK(s5->fallback == NULL, "no fallback in this policy");
	struct MHD_Response *r206 = MHD_create_response_from_buffer(0, (void *)"",
								    MHD_RESPMEM_PERSISTENT);
	CHECK(snap_add_headers(r206, s5, p5, false, MHD_HTTP_PARTIAL_CONTENT) == RC_OK &&
	      !strcmp(resp_header(r206, "Content-Security-Policy"),
		      "frame-ancestors https://prep.ine.mx") &&
	      !strcmp(resp_header(r206, "X-Rule"), "one"),
	      "a per-request response uses the kept policy");
	MHD_destroy_response(r206);
	snap_release(s5);

	/* No policy: no Cache-Control, frame-ancestors *. */
	struct snap_builder *b = snap_builder_new(NULL, false, NULL);
	CHECK(b && snap_builder_add(b, "a.txt", dup_str("x"), 1, 0, false) == RC_OK, "build bare");
	struct cut cut6 = { .seq = 6 };
	enum rc rc6;
	struct snap *s6 = snap_builder_finish(b, &cut6, NULL, &rc6);
	const struct slot *p6 = s6 ? snap_lookup(s6, "a.txt") : NULL;
	CHECK(p6 && resp_header(p6->ok, "Cache-Control") == NULL &&
	      !strcmp(resp_header(p6->ok, "Content-Security-Policy"), "frame-ancestors *"),
	      "no policy");
	snap_release(s6);

	site_checks();
	config_release(&cfg);
	return check_done();
}
