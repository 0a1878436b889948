/* Cut images (server/image.h): a cut written and mapped back serves the
 * same bytes, variants and validators; every kind of damage (a body, the
 * table, the header, a truncation, another package or seq) is refused
 * with a reason, never served; a write that cannot be done leaves nothing
 * behind; only the newest image is kept. And the variant thread: a
 * snapshot published with pending variants gets them later, each slot's
 * gzip responses attached once (server/variant.h). */
#include "check.h"
#include "server/config.h"
#include "server/image.h"
#include "server/policy.h"
#include "server/snap_int.h"
#include "server/variant.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct policy policy;
static const char *SHA = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static struct snap *build(uint64_t seq, char *big, size_t biglen)
{
	struct snap_builder *b = snap_builder_new(NULL, false, &policy);
	snap_builder_add(b, "index.html", strdup("<!doctype html><base href=\"/\"><p>hola</p>"),
			 41, 1717387200, false);
	snap_builder_add(b, "main.0123456789abcdef.js", big, biglen, 1717387200, false);
	snap_builder_add(b, "json/a.json", strdup("{\"v\":1}"), 7, 1717387200, false);
	struct cut cut = { .seq = seq };
	snprintf(cut.label, sizeof cut.label, "cut%llu", (unsigned long long)seq);
	enum rc rc;
	return snap_builder_finish(b, &cut, NULL, &rc);
}

static char *bigjs(size_t *len)
{
	size_t n = 200000;
	char *p = malloc(n);
	for (size_t i = 0; i < n; i++)
		p[i] = "function f(a){return a+1;}\n"[i % 27];
	*len = n;
	return p;
}

static struct snap *load(const char *dir, uint64_t seq, const char *sha, enum rc *rc,
			 char *why)
{
	struct cut cut = { .seq = seq };
	snprintf(cut.label, sizeof cut.label, "cut%llu", (unsigned long long)seq);
	return image_load(dir, seq, sha, &cut, &policy, rc, why, 400);
}

/* Copies the image of seq 1, changes it with fn, loads it: must fail
 * with RC_FORMAT and a reason containing want. */
static void expect_damage(const char *dir, const char *what, const char *want,
			  void (*fn)(const char *path, off_t size))
{
	char path[512], saved[600];
	image_path(dir, 1, path, sizeof path);
	snprintf(saved, sizeof saved, "%s.saved", path);
	char cmd[1400];
	snprintf(cmd, sizeof cmd, "cp '%s' '%s'", path, saved);
	CHECK(system(cmd) == 0, "copy");
	struct stat st;
	stat(path, &st);
	fn(path, st.st_size);
	enum rc rc;
	char why[400] = "";
	struct snap *s = load(dir, 1, SHA, &rc, why);
	CHECK(!s && rc == RC_FORMAT && strstr(why, want), "%s: refused (rc %s, why '%s', want '%s')",
	      what, rc_str(rc), why, want);
	if (s)
		snap_release(s);
	rename(saved, path);
}

static void flip_at(const char *path, off_t at)
{
	int fd = open(path, O_RDWR);
	unsigned char c;
	pread(fd, &c, 1, at);
	c ^= 0x20;
	pwrite(fd, &c, 1, at);
	close(fd);
}
static void flip_last(const char *path, off_t size) { flip_at(path, size - 1); }
static void flip_table(const char *path, off_t size) { (void)size; flip_at(path, 512 + 110); }
static void flip_header(const char *path, off_t size) { (void)size; flip_at(path, 100); }
static void flip_sha_field(const char *path, off_t size) { (void)size; flip_at(path, 24); }
static void cut_short(const char *path, off_t size) { (void)truncate(path, size - 1000); }
static void trunc_header(const char *path, off_t size) { (void)size; (void)truncate(path, 100); }
static void grow(const char *path, off_t size) { (void)truncate(path, size + 1); }

int main(void)
{
	struct config cfg;
	config_init(&cfg);
	char err[512];
	CHECK(config_finish(&cfg, err, sizeof err) == RC_OK, "config: %s", err);
	policy = cfg.response.policy;
	char dir[] = "/tmp/prepd-test-image.XXXXXX";
	CHECK(mkdtemp(dir) != NULL, "mkdtemp");

	/* Without the variant thread, variants are made at once. */
	size_t biglen;
	char *big = bigjs(&biglen);
	char *copy = malloc(biglen);
	memcpy(copy, big, biglen);
	struct snap *s = build(1, big, biglen);
	CHECK(s && slot_gz(snap_lookup(s, "main.0123456789abcdef.js")), "synchronous variant");
	CHECK(image_write(dir, s, 1, SHA, err, sizeof err) == RC_OK, "write: %s", err);

	enum rc rc;
	char why[400];
	struct snap *m = load(dir, 1, SHA, &rc, why);
	CHECK(m != NULL, "load: %s %s", rc_str(rc), why);
	if (m) {
		CHECK(m->nslots == 3, "three files, got %zu", m->nslots);
		const struct slot *js = snap_lookup(m, "main.0123456789abcdef.js");
		const struct slot *js0 = snap_lookup(s, "main.0123456789abcdef.js");
		CHECK(js && js->e->len == biglen && !memcmp(js->e->data, copy, biglen),
		      "the mapped body is the file");
		CHECK(js && !strcmp(js->e->etag, js0->e->etag) && js->e->mtime == js0->e->mtime,
		      "same ETag and mtime");
		const struct entry_gz *g = js ? entry_variant(js->e) : NULL;
		CHECK(g && g->len == entry_variant(js0->e)->len &&
		      !memcmp(g->data, entry_variant(js0->e)->data, g->len), "the variant is mapped too");
		CHECK(js && slot_gz(js) && slot_gz(js)->len == g->len, "its gzip responses are built");
		const struct slot *tiny = snap_lookup(m, "json/a.json");
		CHECK(tiny && !entry_variant(tiny->e) && !entry_variant_pending(tiny->e),
		      "no variant stays none");
		CHECK(snap_cut(m)->seq == 1, "cut seq");
		snap_release(m);   /* unmaps once every entry is gone */
	}

	CHECK(!load(dir, 2, SHA, &rc, why) && rc == RC_NOTFOUND, "a missing image: RC_NOTFOUND");
	CHECK(!load(dir, 1, "ff23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		    &rc, why) && rc == RC_FORMAT && strstr(why, "other package bytes"),
	      "another package's SHA-256 is refused: %s", why);
	expect_damage(dir, "a flipped body byte", "do not match", flip_last);
	expect_damage(dir, "a flipped table byte", "table's SHA-256", flip_table);
	expect_damage(dir, "a flipped header byte", "header's SHA-256", flip_header);
	expect_damage(dir, "an edited package SHA-256", "header's SHA-256", flip_sha_field);
	expect_damage(dir, "a truncated image", "truncated", cut_short);
	expect_damage(dir, "only part of the header", "truncated", trunc_header);
	expect_damage(dir, "a byte appended", "size", grow);
	char p1[512], p2[512];
	image_path(dir, 1, p1, sizeof p1);
	image_path(dir, 2, p2, sizeof p2);
	CHECK(rename(p1, p2) == 0, "rename");
	CHECK(!load(dir, 2, SHA, &rc, why) && rc == RC_FORMAT && strstr(why, "another seq"),
	      "an image under another seq's name is refused: %s", why);
	rename(p2, p1);

	/* Only the newest is kept. */
	CHECK(image_write(dir, s, 2, SHA, err, sizeof err) == RC_OK, "write 2: %s", err);
	CHECK(access(p1, F_OK) != 0 && access(p2, F_OK) == 0, "the older image is removed");

	/* A write that cannot be done: an error, nothing left behind. */
	char bad[600], cmd[1400];
	snprintf(bad, sizeof bad, "%s/ro", dir);
	mkdir(bad, 0700);
	snprintf(cmd, sizeof cmd, "%s/images", bad);
	CHECK(close(open(cmd, O_CREAT | O_WRONLY, 0600)) == 0, "images as a file");
	CHECK(image_write(bad, s, 3, SHA, err, sizeof err) == RC_IO && strstr(err, "images"),
	      "an unwritable images folder is RC_IO: %s", err);

	/* The variant thread: published first, variants attached after. */
	CHECK(variant_start() == RC_OK, "variant thread");
	char *big2 = bigjs(&biglen);
	big2[0] = '/';   /* other bytes: a new entry */
	struct snap *v = build(4, big2, biglen);
	const struct slot *vjs = snap_lookup(v, "main.0123456789abcdef.js");
	snap_publish(v);   /* held by the current pointer and the job */
	CHECK(variant_wait_idle(20000), "the variant thread finishes");
	CHECK(slot_gz(vjs) && entry_variant(vjs->e) && slot_gz(vjs)->len == entry_variant(vjs->e)->len,
	      "the variant is attached after the publish");
	CHECK(!v->https || slot_gz(&v->https->slots[vjs - v->slots]), "and to the HTTPS twin");
	struct variant_stats vs;
	variant_stats(&vs);
	CHECK(vs.made >= 1 && vs.queued == 0, "stats: made %llu queued %u",
	      (unsigned long long)vs.made, vs.queued);
	/* A snapshot nobody holds is dropped, not worked on. */
	char *big3 = bigjs(&biglen);
	big3[1] = '*';
	struct snap *d = build(5, big3, biglen);
	snap_release(d);   /* the job's reference is the last */
	CHECK(variant_wait_idle(20000), "idle after a dropped snapshot");
	/* Queued jobs do not keep a replaced cut alive: a snapshot published
	 * and replaced at once, with its variant and image jobs queued, is
	 * dropped and freed (no image written for it). */
	variant_stats(&vs);
	uint64_t dropped = vs.dropped, images = vs.images;
	char *big4 = bigjs(&biglen);
	big4[2] = '%';
	struct snap *r1 = build(6, big4, biglen);   /* its variant job is queued */
	variant_enqueue_image(r1, dir, 6, SHA);
	snap_release(r1);   /* only the queue holds r1 now: replaced */
	char *big5 = bigjs(&biglen);
	big5[3] = '#';
	struct snap *r2 = build(7, big5, biglen);
	snap_publish(r2);
	CHECK(variant_wait_idle(20000), "idle after a replaced snapshot");
	variant_stats(&vs);
	char p6[512];
	image_path(dir, 6, p6, sizeof p6);
	CHECK(access(p6, F_OK) != 0, "no image for a cut no one holds");
	CHECK(vs.images == images, "no image written (%llu)", (unsigned long long)vs.images);
	(void)dropped;
	variant_stop();
	snap_shutdown();
	snap_release(s);
	free(copy);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0, "cleanup");
	config_release(&cfg);
	return check_done();
}
