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


/* ---- skew protection ---- */

static struct snap *build_at(const struct snap *base, bool overlay, uint64_t seq,
			     const char *const files[][2], size_t n, struct snap_stats *st,
			     time_t now)
{
	struct snap_builder *b = snap_builder_new(base, overlay, &policy);
	snap_builder_set_now(b, now);
	for (size_t i = 0; i < n; i++)
		if (snap_builder_add(b, files[i][0], dup_str(files[i][1]),
				     strlen(files[i][1]), 1717387200, false))
			return NULL;
	struct cut cut = { .seq = seq };
	snprintf(cut.label, sizeof cut.label, "cut%llu", (unsigned long long)seq);
	enum rc rc;
	return snap_builder_finish(b, &cut, st, &rc);
}

/* A cut of an Angular site: its bundle is main-<tag>.js, a lazy chunk
 * that only some cuts change, and per-cut files. */
#define CUT(var, mainname, body, chunkname, chunkbody, html) \
	const char *const var[][2] = { \
		{ "index.html", html }, { "json/a.json", html }, \
		{ mainname, body }, { chunkname, chunkbody }, \
	}

static const char *kept_from(const struct snap *s, const char *path)
{
	const struct slot *k = snap_lookup_kept(s, path);
	return k ? s->kept_cuts[k->kept].cut.label : NULL;
}

static void skew(void)
{
	struct policy saved = policy;
	policy.keep_cuts = 3;
	policy.keep_minutes = 60;
	policy.keep_max_bytes = 0;
	time_t t0 = 1717387200;
	struct snap_stats st;

	CUT(c1, "main-AAAAAAA2.js", "main 1", "chunk-CCCCCCC2.js", "chunk 1", "<p>1</p>");
	CUT(c2, "main-AAAAAAA3.js", "main 2", "chunk-CCCCCCC2.js", "chunk 1", "<p>2</p>");
	CUT(c3, "main-AAAAAAA4.js", "main 3", "chunk-CCCCCCC3.js", "chunk 3", "<p>3</p>");
	CUT(c4, "main-AAAAAAA5.js", "main 4", "chunk-CCCCCCC3.js", "chunk 3", "<p>4</p>");
	CUT(c5, "main-AAAAAAA6.js", "main 5", "chunk-CCCCCCC3.js", "chunk 3", "<p>5</p>");

	struct snap *s1 = build_at(NULL, false, 1, c1, 4, &st, t0);
	CHECK(s1 && st.kept_files == 0 && s1->nkept == 0, "the first cut keeps nothing");
	struct entry *main1 = snap_lookup(s1, "main-AAAAAAA2.js")->e;
	entry_acquire(main1);   /* to watch it go */

	struct snap *s2 = build_at(s1, false, 2, c2, 4, &st, t0 + 60);
	CHECK(st.kept_files == 1 && st.kept_cuts == 1 && st.kept_bytes == 6 && st.kept_pruned == 0,
	      "cut 2 keeps cut 1's bundle: files=%zu cuts=%zu bytes=%llu", st.kept_files,
	      st.kept_cuts, (unsigned long long)st.kept_bytes);
	const struct slot *k = snap_lookup_kept(s2, "main-AAAAAAA2.js");
	CHECK(k && k->e == main1, "the kept file is the same entry, not a copy");
	CHECK(snap_lookup(s2, "main-AAAAAAA2.js") == NULL, "it is not part of the cut itself");
	CHECK(snap_lookup_kept(s2, "chunk-CCCCCCC2.js") == NULL &&
	      snap_lookup(s2, "chunk-CCCCCCC2.js") != NULL, "an unchanged chunk is the cut's own");
	CHECK(snap_lookup_kept(s2, "index.html") == NULL && snap_lookup_kept(s2, "json/a.json") == NULL,
	      "per-cut files are never kept");
	CHECK(k && !strcmp(MHD_get_response_header(k->ok, "X-PREP-Cut"), "seq=2; label=cut2") &&
	      !strcmp(MHD_get_response_header(k->ok, "Cache-Control"), policy.cache_immutable) &&
	      !strcmp(MHD_get_response_header(k->ok, "ETag"), main1->etag),
	      "a kept file: the serving cut, immutable caching, its own ETag");
	CHECK(!strcmp(s2->kept_cuts[0].cut.label, "cut1") && s2->kept_cuts[0].replaced == t0 + 60,
	      "cut 1 replaced at cut 2's build");

	struct snap *s3 = build_at(s2, false, 3, c3, 4, &st, t0 + 120);
	CHECK(st.kept_files == 3 && st.kept_cuts == 2, "cut 3: main 1, main 2, chunk 1: %zu/%zu",
	      st.kept_files, st.kept_cuts);
	CHECK(!strcmp(kept_from(s3, "chunk-CCCCCCC2.js"), "cut2"),
	      "chunk 1 came from cut 2 (its last cut), not cut 1");
	CHECK(!strcmp(kept_from(s3, "main-AAAAAAA2.js"), "cut1") &&
	      !strcmp(kept_from(s3, "main-AAAAAAA3.js"), "cut2"), "each from its cut");
	struct snap *s4 = build_at(s3, false, 4, c4, 4, &st, t0 + 180);
	CHECK(st.kept_cuts == 3 && st.kept_files == 4 && st.kept_pruned == 0, "cut 4 keeps 3 cuts");
	struct snap *s5 = build_at(s4, false, 5, c5, 4, &st, t0 + 240);
	CHECK(st.kept_cuts == 3 && st.kept_pruned == 1 && !snap_lookup_kept(s5, "main-AAAAAAA2.js") &&
	      kept_from(s5, "main-AAAAAAA3.js"), "cut 5: cut 1 is the 4th back and goes (%zu, %zu)",
	      st.kept_cuts, st.kept_pruned);
	CHECK(s5->kept_cuts[0].cut.seq == 4 && s5->kept_cuts[1].cut.seq == 3 &&
	      s5->kept_cuts[2].cut.seq == 2, "newest replaced first");

	/* Pruning frees memory: once the snapshots that held main 1 are
	 * gone, only our own reference is left. */
	CHECK(atomic_load(&main1->refs) > 1, "main 1 still held by cuts 1-4");
	snap_release(s1);
	snap_release(s2);
	snap_release(s3);
	snap_release(s4);
	CHECK(atomic_load(&main1->refs) == 1, "pruned: main 1's entry is free but for our ref (%ld)",
	      atomic_load(&main1->refs));
	entry_release(main1);

	/* An incremental cut (only JSON): the bundle is still the cut's own,
	 * cut 5 leaves nothing and does not count. */
	const char *const inc[][2] = { { "json/a.json", "{\"v\":6}" } };
	struct snap *s6 = build_at(s5, true, 6, inc, 1, &st, t0 + 300);
	CHECK(st.files == 4 && st.kept_cuts == 3 && kept_from(s6, "main-AAAAAAA3.js") &&
	      snap_lookup(s6, "main-AAAAAAA6.js"), "overlay: the kept set is carried (%zu)",
	      st.kept_cuts);

	/* Age: 61 minutes after cut 5's build, cuts 2-4 (replaced at
	 * +120..+240 s) are older than keep_minutes. */
	CUT(c7, "main-AAAAAAA7.js", "main 7", "chunk-CCCCCCC3.js", "chunk 3", "<p>7</p>");
	struct snap *s7 = build_at(s6, false, 7, c7, 4, &st, t0 + 240 + 61 * 60);
	CHECK(st.kept_cuts == 1 && !strcmp(s7->kept_cuts[0].cut.label, "cut6") &&
	      kept_from(s7, "main-AAAAAAA6.js") && !snap_lookup_kept(s7, "main-AAAAAAA5.js") &&
	      st.kept_pruned == 3, "age: only cut 6, replaced now (%zu kept, %zu pruned)",
	      st.kept_cuts, st.kept_pruned);
	struct snap *s7b = build_at(s6, false, 7, c7, 4, &st, t0 + 180 + 59 * 60);
	CHECK(st.kept_cuts == 3 && !strcmp(s7b->kept_cuts[2].cut.label, "cut3"),
	      "59 minutes after cut 3 was replaced: still 3 (%zu)", st.kept_cuts);
	snap_release(s7b);

	/* The new cut wins: a path it has (other bytes), a file where a kept
	 * path has a folder, a folder where a kept path is a file. */
	const char *const c8[][2] = {
		{ "index.html", "8" },
		{ "main-AAAAAAA6.js", "not main 5" },
		{ "main-AAAAAAA7.js/index.html", "a folder" },
	};
	struct snap *s8 = build_at(s7, false, 8, c8, 3, &st, t0 + 240 + 62 * 60);
	CHECK(!snap_lookup_kept(s8, "main-AAAAAAA6.js") &&
	      !memcmp(snap_lookup(s8, "main-AAAAAAA6.js")->e->data, "not", 3),
	      "a kept path the new cut has is the new cut's");
	CHECK(!snap_lookup_kept(s8, "main-AAAAAAA7.js"), "a folder of the cut beats a kept file");
	CHECK(kept_from(s8, "chunk-CCCCCCC3.js"), "the chunk is kept (cut 7)");
	const char *const lazy1[][2] = { { "lazy/chunk-LLLLLLL2.js", "lazy" }, { "index.html", "a" } };
	const char *const lazy2[][2] = { { "lazy", "a file now" }, { "index.html", "b" } };
	struct snap *l1 = build_at(NULL, false, 20, lazy1, 2, &st, t0);
	struct snap *l2 = build_at(l1, false, 21, lazy2, 2, &st, t0 + 1);
	CHECK(l2->nkept == 0 && st.kept_cuts == 0, "a file of the cut over a kept folder wins");
	snap_release(l1);
	snap_release(l2);

	/* Rollback: cut 5 published again after cut 7. Cut 7's bundle stays
	 * (replaced now); what cut 5's own build kept (cuts 2-4) does not. */
	time_t before_rb = time(NULL);
	struct snap *rb = snap_rebuild_after(s5, s7, &st, &(enum rc){ 0 });
	CHECK(rb && snap_cut(rb)->seq == 5 && st.files == 4, "a rollback rebuild: same cut and files");
	CHECK(rb && kept_from(rb, "main-AAAAAAA7.js") && !strcmp(kept_from(rb, "main-AAAAAAA7.js"), "cut7"),
	      "the bundle of the cut rolled back from is kept");
	CHECK(rb && rb->nkept_cuts == 1 && rb->kept_cuts[0].replaced >= before_rb,
	      "replaced now: %zu", rb ? rb->nkept_cuts : 0);
	CHECK(rb && snap_lookup(rb, "main-AAAAAAA6.js") && !snap_lookup_kept(rb, "main-AAAAAAA6.js") &&
	      !memcmp(snap_lookup(rb, "main-AAAAAAA6.js")->e->data, "main 5", 6),
	      "the rolled-back cut's own bundle is its own");
	CHECK(rb && !snap_lookup_kept(rb, "main-AAAAAAA3.js") && !snap_lookup_kept(rb, "main-AAAAAAA5.js"),
	      "cut 5's own kept files (cuts 2-4) are not carried by a rollback");
	CHECK(rb && snap_lookup(rb, "index.html") == snap_lookup(rb, "index.html") &&
	      snap_lookup(rb, "index.html")->e == snap_lookup(s5, "index.html")->e,
	      "every entry is shared with cut 5");
	/* The next cut after the rollback keeps cut 5 and cut 7 (in that
	 * order): the rollback's set carries on. */
	struct snap *after = build_at(rb, false, 9, c1, 4, &st, time(NULL) + 1);
	CHECK(after && after->nkept_cuts == 2 && after->kept_cuts[0].cut.seq == 5 &&
	      after->kept_cuts[1].cut.seq == 7, "after the rollback: cuts 5 and 7");
	snap_release(after);
	snap_release(rb);

	/* keep_max_bytes: a cut is kept whole or not at all, newest first. */
	policy.keep_max_bytes = 6;
	struct snap *m1 = build_at(NULL, false, 30, c1, 4, &st, t0);
	struct snap *m2 = build_at(m1, false, 31, c3, 4, &st, t0 + 1);
	CHECK(st.kept_cuts == 0 && st.kept_pruned == 1,
	      "cut 1 leaves 13 bytes (main and chunk), over 6: dropped whole");
	policy.keep_max_bytes = 13;
	struct snap *m3 = build_at(m1, false, 31, c3, 4, &st, t0 + 1);
	CHECK(st.kept_cuts == 1 && st.kept_files == 2 && st.kept_bytes == 13, "13 bytes fit in 13");
	snap_release(m2);
	snap_release(m3);

	/* keep_cuts = 0: off. */
	policy.keep_max_bytes = 0;
	policy.keep_cuts = 0;
	struct snap *o2 = build_at(m1, false, 32, c3, 4, &st, t0 + 1);
	CHECK(o2->nkept == 0 && st.kept_cuts == 0 && st.kept_pruned == 0, "keep_cuts = 0 keeps nothing");
	snap_release(o2);
	snap_release(m1);
	policy.keep_cuts = 3;

	/* The placeholder leaves nothing behind. */
	const char *const ph[][2] = { { "app-AAAAAAA2.js", "placeholder js" } };
	struct snap *p0 = build_at(NULL, false, 0, ph, 1, &st, t0);
	struct snap *p1 = build_at(p0, false, 1, c1, 4, &st, t0 + 1);
	CHECK(p1->nkept == 0, "the placeholder's files are not kept");
	snap_release(p0);
	snap_release(p1);

	/* HTTPS twin: kept files answer there too, with HSTS. */
	policy.hsts = "max-age=60";
	struct snap *h1 = build_at(NULL, false, 40, c1, 4, &st, t0);
	struct snap *h2 = build_at(h1, false, 41, c2, 4, &st, t0 + 1);
	const struct slot *hk = h2->https ? snap_lookup_kept(h2->https, "main-AAAAAAA2.js") : NULL;
	CHECK(hk && hk->ok != snap_lookup_kept(h2, "main-AAAAAAA2.js")->ok &&
	      !strcmp(MHD_get_response_header(hk->ok, "Strict-Transport-Security"), "max-age=60") &&
	      MHD_get_response_header(snap_lookup_kept(h2, "main-AAAAAAA2.js")->ok,
				      "Strict-Transport-Security") == NULL,
	      "the HTTPS twin has the kept files, with HSTS");
	struct snap *hr = snap_rebuild_after(h1, h2, &st, &(enum rc){ 0 });
	CHECK(hr && hr->https && snap_lookup_kept(hr->https, "main-AAAAAAA3.js") &&
	      !strcmp(hr->https->policy.hsts, "max-age=60"), "a rollback rebuild keeps the twin");
	snap_release(hr);
	snap_release(h1);
	snap_release(h2);
	policy.hsts = NULL;

	snap_release(s5);
	snap_release(s6);
	snap_release(s7);
	snap_release(s8);
	policy = saved;
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
	CHECK(snap_add_headers(r206, s5, p5, false, MHD_HTTP_PARTIAL_CONTENT, false) == RC_OK &&
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
	policy = cfg.response.policy;
	skew();
	config_release(&cfg);
	return check_done();
}
