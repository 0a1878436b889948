/* The structural checks (ingest/scan.h, zipscan.h, gzscan.h, tarscan.h):
 * the hostile corpus tests/data/mkhostile.py writes, each package taken
 * through the stream check and then unpack as the pipeline does, must
 * end with the reason its table names (or be accepted); and the pure
 * parts are table-tested: tar numbers, pax records, a gzip fed in pieces
 * of every size. */
#include "check.h"
#include "ingest/gzscan.h"
#include "ingest/scan.h"
#include "ingest/tarscan.h"
#include "ingest/unpack.h"
#include "ingest/zipscan.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct unpack_limits lim = {
	.max_entries = 2000,
	.max_total_bytes = 5ull << 20,
	.max_file_bytes = 2ull << 20,
	.max_path_bytes = 255,
};

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	unsigned char *buf = malloc(cap);
	size_t got;
	while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap)
			buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	*len = n;
	return buf;
}

struct names {
	size_t n;
	char v[16][256];
};

static enum rc collect(void *ctx, const char *path, void *data, size_t len, time_t mtime,
		       const unsigned char *sha)
{
	(void)sha;
	struct names *c = ctx;
	(void)len;
	(void)mtime;
	if (c->n < 16)
		snprintf(c->v[c->n++], sizeof c->v[0], "%s", path);
	free(data);
	return RC_OK;
}

static bool served(const struct names *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->v[i], name))
			return true;
	return false;
}

/* What the pipeline does: the stream check in the hashing pass (fed in
 * 4093-byte reads, a prime, so fields straddle them), then unpack. */
static enum rc verdict(const char *file, char *why, size_t whysz, struct names *names,
		       struct unpack_stats *st)
{
	size_t len;
	unsigned char *buf = slurp(file, &len);
	if (!buf)
		return RC_IO;
	struct scan_stream *s = scan_stream_new(&lim);
	for (size_t at = 0; at < len; at += 4093)
		scan_stream_observe(s, buf + at, len - at < 4093 ? len - at : 4093);
	struct scan_error se;
	enum rc rc = scan_stream_finish(s, &se);
	scan_stream_free(s);
	free(buf);
	if (rc) {
		snprintf(why, whysz, "%s: %s", se.entry, se.reason);
		return rc;
	}
	struct unpack_error ue;
	rc = unpack_file(file, &lim, "CP850", collect, names, st, &ue);
	snprintf(why, whysz, "%s: %s", ue.entry, ue.reason);
	return rc;
}

static void corpus(const char *dir)
{
	char table[4096];
	snprintf(table, sizeof table, "%s/../hostile.tsv", dir);
	FILE *f = fopen(table, "r");
	CHECK(f != NULL, "cannot open %s", table);
	if (!f)
		return;
	char line[512];
	int cases = 0, refused = 0;
	while (fgets(line, sizeof line, f)) {
		char *tab = strchr(line, '\t');
		if (!tab)
			continue;
		*tab = '\0';
		char *want = tab + 1;
		want[strcspn(want, "\n")] = '\0';
		char file[4096], why[1024] = "";
		snprintf(file, sizeof file, "%s/%s", dir, line);
		struct names names = { 0 };
		struct unpack_stats st;
		enum rc rc = verdict(file, why, sizeof why, &names, &st);
		if (!strcmp(want, "ok")) {
			CHECK(rc == RC_OK, "%s: refused: %s", line, why);
		} else {
			CHECK(rc != RC_OK && strstr(why, want), "%s: wanted a refusal with \"%s\", "
			      "got rc=%s \"%s\"", line, want, rc_str(rc), why);
			refused++;
		}
		cases++;
		if (!strcmp(line, "20240602_2300_WINDOWS_CP850.zip")) {
			/* served under their UTF-8 names; a UTF-8 name without
			 * the flag is taken as it is, not decoded again */
			CHECK(served(&names, "pequeña.html"), "CP850 name not decoded");
			CHECK(served(&names, "Año/Índice.json"), "CP850 folder name not decoded");
			CHECK(served(&names, "Michoacán.json"), "UTF-8 name without the flag re-decoded");
			CHECK(st.legacy_names == 2, "%llu legacy names counted, want 2",
			      (unsigned long long)st.legacy_names);
			CHECK(!strcmp(st.legacy_example, "pequeña.html") &&
			      !strcmp(st.legacy_raw, "peque\\xa4a.html"),
			      "legacy example \"%s\" was \"%s\"", st.legacy_example, st.legacy_raw);
		}
	}
	fclose(f);
	CHECK(cases >= 40 && refused >= 35, "only %d cases (%d refused)", cases, refused);
}

/* A legacy code page that cannot decode a name names the entry. */
static void unconvertible(const char *dir)
{
	char file[4096];
	snprintf(file, sizeof file, "%s/20240602_2300_WINDOWS_CP850.zip", dir);
	struct names names = { 0 };
	struct unpack_stats st;
	struct unpack_error ue;
	/* 0xA4 is not ASCII. */
	enum rc rc = unpack_file(file, &lim, "ASCII", collect, &names, &st, &ue);
	CHECK(rc == RC_FORMAT && !strcmp(ue.entry, "peque\\xa4a.html") &&
	      strstr(ue.reason, "cannot be converted"), "unconvertible name: rc=%s %s: %s",
	      rc_str(rc), ue.entry, ue.reason);
}

static void numbers(void)
{
	static const struct {
		const char *field;
		size_t len;
		bool ok;
		uint64_t want;
	} t[] = {
		{ "00000000144\0", 12, true, 100 },
		{ "     144 \0\0\0", 12, true, 100 },
		{ "144", 3, true, 100 },
		{ "0000000014x\0", 12, false, 0 },
		{ "00000001 4\0\0", 12, false, 0 },
		{ "\0\0\0\0\0\0\0\0\0\0\0\0", 12, false, 0 },
		{ "00000000009\0", 12, false, 0 },
		{ "\x80\0\0\0\0\0\0\0\0\0\x01\x00", 12, true, 256 },
		{ "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 12, false, 0 },
		{ "\x80\0\0\0\x80\0\0\0\0\0\0\0", 12, false, 0 },   /* over 2^63 */
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		uint64_t v = 0;
		bool ok = tarscan_number((const unsigned char *)t[i].field, t[i].len, &v);
		CHECK(ok == t[i].ok && (!ok || v == t[i].want), "tar number %zu: %d %llu", i, ok,
		      (unsigned long long)v);
	}
}

static void pax(void)
{
	static const struct {
		const char *rec;
		bool global;
		const char *why;      /* NULL: accepted */
		uint64_t size;
	} t[] = {
		{ "11 size=12\n", false, NULL, 12 },
		{ "14 size=12abc\n", false, "plain decimal", 0 },
		{ "12 size=-12\n", false, "plain decimal", 0 },
		{ "11 size= 2\n", false, "plain decimal", 0 },
		{ "8 size=\n", false, "plain decimal", 0 },
		{ "10 uid=0x\n", false, "plain decimal", 0 },
		{ "10 gid=00\n", false, NULL, UINT64_MAX },
		{ "19 mtime=1.5000001\n", false, NULL, UINT64_MAX },
		{ "14 mtime=-100\n", false, NULL, UINT64_MAX },
		{ "13 mtime=1e9\n", false, "decimal time", 0 },
		{ "12 mtime=1.\n", false, "decimal time", 0 },
		{ "12 size=12\n", false, "says it", 0 },
		{ "10 size=12\n", false, "newline", 0 },
		{ "011 size=12\n", false, "length", 0 },
		{ "x size=1\n", false, "length", 0 },
		{ "8 =abcd\n", false, "key=value", 0 },
		{ "11 size=12\n", true, "global", 0 },
		{ "15 path=a\0../b\n", false, "NUL", 0 },
		{ "23 GNU.sparse.size=100\n", false, "sparse", 0 },
		{ "20 comment=anything\n11 size=12\n", false, NULL, 12 },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		size_t len = strlen(t[i].rec);
		if (i == 17)
			len = 15;   /* the NUL inside */
		uint64_t size;
		const char *path;
		size_t plen;
		struct scan_error e = { 0 };
		enum rc rc = tarscan_pax(t[i].rec, len, t[i].global, &size, &path, &plen, &e);
		if (!t[i].why)
			CHECK(rc == RC_OK && size == t[i].size, "pax %zu refused: %s", i, e.reason);
		else
			CHECK(rc != RC_OK && strstr(e.reason, t[i].why), "pax %zu: want \"%s\", got "
			      "rc=%s \"%s\"", i, t[i].why, rc_str(rc), e.reason);
	}
}

/* The same gzip fed in pieces of 1, 2, ... 17 bytes gives the same
 * verdict as fed whole: a header field or the trailer split anywhere. */
static void pieces(const char *dir)
{
	static const char *const files[] = { "c-good.tar.gz", "g-crc.tar.gz", "g-isize.tar.gz",
					     "g-junk.tar.gz", "g-two-members.tar.gz" };
	for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
		char file[4096];
		snprintf(file, sizeof file, "%s/%s", dir, files[k]);
		size_t len;
		unsigned char *buf = slurp(file, &len);
		CHECK(buf != NULL, "cannot read %s", file);
		if (!buf)
			continue;
		enum rc whole = RC_INVALID;
		for (size_t piece = 0; piece <= 17; piece++) {
			struct gzscan *g = gzscan_new(NULL, NULL, 1 << 20);
			size_t step = piece ? piece : len;
			for (size_t at = 0; at < len; at += step)
				gzscan_feed(g, buf + at, len - at < step ? len - at : step);
			struct scan_error e;
			enum rc rc = gzscan_finish(g, &e);
			CHECK(gzscan_in(g) == len || rc, "%s: %llu of %zu bytes taken", files[k],
			      (unsigned long long)gzscan_in(g), len);
			gzscan_free(g);
			if (!piece)
				whole = rc;
			CHECK(rc == whole, "%s in %zu-byte pieces: rc=%s, whole: %s", files[k], piece,
			      rc_str(rc), rc_str(whole));
		}
		CHECK((whole == RC_OK) == (k == 0), "%s: rc=%s", files[k], rc_str(whole));
		free(buf);
	}
}

/* A zip cut at every byte is refused, never read as a smaller zip. */
static void every_cut(const char *dir)
{
	char file[4096];
	snprintf(file, sizeof file, "%s/c-good.zip", dir);
	size_t len;
	unsigned char *buf = slurp(file, &len);
	CHECK(buf != NULL, "cannot read %s", file);
	if (!buf)
		return;
	struct zipscan z;
	struct scan_error e;
	CHECK(zipscan_mem(buf, len, 100, &z, &e) == RC_OK && z.n == 3, "good zip: %s", e.reason);
	zipscan_release(&z);
	int bad = 0;
	for (size_t cut = 0; cut < len; cut++) {
		enum rc rc = zipscan_mem(buf, cut, 100, &z, &e);
		if (rc == RC_OK || (!strstr(e.reason, "truncated") && !strstr(e.reason, "empty") &&
				    !strstr(e.reason, "comment")))
			bad++;
		zipscan_release(&z);
	}
	CHECK(bad == 0, "%d cuts of the good zip were not refused as truncated", bad);
	free(buf);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test-scan HOSTILEDIR\n");
		return 2;
	}
	corpus(argv[1]);
	unconvertible(argv[1]);
	numbers();
	pax();
	pieces(argv[1]);
	every_cut(argv[1]);
	return check_done();
}
