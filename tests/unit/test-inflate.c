/* A .tar.gz inflated once (ingest/scan.h SCAN_KEEP_TAR, ingest/gzscan.h
 * with ISA-L, ingest/unpack.h unpack_tar()) and hashed as it downloads
 * (ingest/prescan.h):
 *  - every .tar.gz of the test and hostile corpora gives, through the
 *    kept tar, the same verdict, reason and entries (path, bytes, time)
 *    as the old path: the zlib scan, then libarchive inflating the file;
 *  - ISA-L and zlib agree on gzip streams of every kind (random,
 *    compressible, stored blocks; junk, a second member, a wrong CRC-32
 *    or ISIZE; cut at every length), fed whole or in pieces;
 *  - a bomb over the inflate cap is refused at the cap with zlib's reason;
 *  - bad deflate data is refused by ISA-L and marked for zlib to confirm;
 *  - a prescan equals sha256 of the bytes, after a restart mid-way too,
 *    and stands only for the length it saw. */
#include "check.h"
#include "ingest/gzscan.h"
#include "ingest/prescan.h"
#include "ingest/scan.h"
#include "ingest/unpack.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

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

/* ---- the same entries through both paths ---- */

struct entries {
	size_t n;
	struct ent {
		char path[256];
		size_t len;
		time_t mtime;
		unsigned char sha[SHA256_BYTES];
	} v[64];
};

static int hashed_bodies;   /* bodies unpack hashed on its second thread */

static enum rc collect(void *ctx, const char *path, void *data, size_t len, time_t mtime,
		       const unsigned char *sha)
{
	struct entries *c = ctx;
	unsigned char mine[SHA256_BYTES];
	sha256(data, len, mine);
	if (sha) {
		hashed_bodies++;
		CHECK(!memcmp(sha, mine, SHA256_BYTES), "%s: the SHA-256 unpack took is not "
		      "the body's", path);
		CHECK(len >= UNPACK_HASH_BYTES, "%s: a %zu-byte body hashed aside", path, len);
	}
	if (c->n < 64) {
		struct ent *e = &c->v[c->n++];
		snprintf(e->path, sizeof e->path, "%s", path);
		e->len = len;
		e->mtime = mtime;
		memcpy(e->sha, mine, SHA256_BYTES);
	}
	free(data);
	return RC_OK;
}

struct outcome {
	enum rc rc;
	char why[1024];
	struct entries got;
	struct unpack_stats st;
};

/* The old path: the zlib scan in 4093-byte reads, then unpack_file(). */
static void old_path(const char *file, const unsigned char *buf, size_t len, struct outcome *o)
{
	memset(o, 0, sizeof *o);
	struct scan_stream *s = scan_stream_new_flags(&lim, SCAN_REFERENCE);
	for (size_t at = 0; at < len; at += 4093)
		scan_stream_observe(s, buf + at, len - at < 4093 ? len - at : 4093);
	struct scan_error se;
	o->rc = scan_stream_finish(s, &se);
	scan_stream_free(s);
	if (o->rc) {
		snprintf(o->why, sizeof o->why, "%s: %s", se.entry, se.reason);
		return;
	}
	struct unpack_error ue;
	o->rc = unpack_file(file, &lim, "CP850", collect, &o->got, &o->st, &ue);
	snprintf(o->why, sizeof o->why, "%s: %s", ue.entry, ue.reason);
}

/* The new path, as the pipeline takes it: the fast scan keeping the tar
 * (a refusal ISA-L makes is confirmed by zlib), then unpack_tar(). */
static void new_path(const char *file, const unsigned char *buf, size_t len, size_t piece,
		     struct outcome *o)
{
	memset(o, 0, sizeof *o);
	struct scan_stream *s = scan_stream_new_flags(&lim, SCAN_KEEP_TAR);
	for (size_t at = 0; at < len; at += piece)
		scan_stream_observe(s, buf + at, len - at < piece ? len - at : piece);
	struct scan_error se;
	o->rc = scan_stream_finish(s, &se);
	if (o->rc && scan_stream_confirm(s)) {
		old_path(file, buf, len, o);
		scan_stream_free(s);
		return;
	}
	if (o->rc) {
		snprintf(o->why, sizeof o->why, "%s: %s", se.entry, se.reason);
		scan_stream_free(s);
		return;
	}
	struct scan_tar tar;
	bool took = scan_stream_take_tar(s, &tar);
	scan_stream_free(s);
	CHECK(took, "%s: no tar kept", file);
	struct unpack_error ue;
	o->rc = unpack_tar(&tar, &lim, "CP850", collect, &o->got, &o->st, &ue);
	CHECK(tar.p == NULL, "%s: unpack_tar() did not release the tar", file);
	snprintf(o->why, sizeof o->why, "%s: %s", ue.entry, ue.reason);
}

/* a and b the same: verdict, reason, counts, and each entry's path,
 * length, time and SHA-256. */
static void same_outcome(const char *name, const char *what, const struct outcome *a,
			 const struct outcome *b)
{
	CHECK(a->rc == b->rc && !strcmp(a->why, b->why), "%s (%s): rc=%s \"%s\" against rc=%s \"%s\"",
	      name, what, rc_str(a->rc), a->why, rc_str(b->rc), b->why);
	CHECK(a->got.n == b->got.n && a->st.files == b->st.files && a->st.dirs == b->st.dirs &&
	      a->st.bytes == b->st.bytes && a->st.format == b->st.format,
	      "%s (%s): %zu/%zu entries, %llu/%llu bytes, format %d/%d", name, what, a->got.n,
	      b->got.n, (unsigned long long)a->st.bytes, (unsigned long long)b->st.bytes,
	      a->st.format, b->st.format);
	for (size_t i = 0; i < a->got.n && i < b->got.n; i++)
		CHECK(!strcmp(a->got.v[i].path, b->got.v[i].path) &&
		      a->got.v[i].len == b->got.v[i].len && a->got.v[i].mtime == b->got.v[i].mtime &&
		      !memcmp(a->got.v[i].sha, b->got.v[i].sha, SHA256_BYTES),
		      "%s (%s): entry %zu differs: %s / %s", name, what, i, a->got.v[i].path,
		      b->got.v[i].path);
}

/* Calls fn for each file of dir whose name ends in suffix; returns how
 * many. */
static int for_each_file(const char *dir, const char *suffix,
			 void (*fn)(const char *file, const char *name))
{
	DIR *d = opendir(dir);
	CHECK(d != NULL, "cannot open %s", dir);
	if (!d)
		return 0;
	size_t sl = strlen(suffix);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l < sl || strcmp(de->d_name + l - sl, suffix))
			continue;
		char file[4096];
		snprintf(file, sizeof file, "%s/%s", dir, de->d_name);
		fn(file, de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

static void same_tgz(const char *file, const char *name)
{
	size_t len;
	unsigned char *buf = slurp(file, &len);
	CHECK(buf != NULL, "cannot read %s", file);
	if (!buf)
		return;
	static struct outcome a, b;
	old_path(file, buf, len, &a);
	static const size_t pieces[] = { 1, 7, 4093, 65536 };
	for (size_t k = 0; k < sizeof pieces / sizeof pieces[0]; k++) {
		if (pieces[k] == 1 && len > 200000)
			continue;
		new_path(file, buf, len, pieces[k], &b);
		char what[64];
		snprintf(what, sizeof what, "old path, new path in pieces of %zu", pieces[k]);
		same_outcome(name, what, &a, &b);
	}
	free(buf);
}

static int same_dir(const char *dir)
{
	return for_each_file(dir, ".tar.gz", same_tgz);
}

/* ---- ISA-L against zlib on gzip streams ---- */

/* gzip of data at level (0: stored blocks) into a malloc'ed buffer. */
static unsigned char *gzip_of(const unsigned char *data, size_t len, int level, size_t *outlen)
{
	z_stream z = { 0 };
	CHECK(deflateInit2(&z, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK,
	      "deflateInit2");
	size_t cap = deflateBound(&z, len) + 64;
	unsigned char *out = malloc(cap);
	z.next_in = (Bytef *)data;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END, "deflate");
	*outlen = z.total_out;
	deflateEnd(&z);
	return out;
}

struct sink {
	uLong crc;
	uint64_t n;
};

static bool to_sink(void *ctx, const void *buf, size_t n)
{
	struct sink *s = ctx;
	s->crc = crc32(s->crc, buf, (uInt)n);
	s->n += n;
	return true;
}

struct run {
	enum rc rc;
	struct scan_error e;
	uint64_t in, out;
	struct sink s;
	bool fast_failed;
};

static void run_gz(bool reference, const unsigned char *buf, size_t len, size_t piece,
		   uint64_t max_out, struct run *r)
{
	memset(r, 0, sizeof *r);
	r->s.crc = crc32(0, Z_NULL, 0);
	struct gzscan *g = reference ? gzscan_new_reference(to_sink, &r->s, max_out)
				     : gzscan_new(to_sink, &r->s, max_out);
	for (size_t at = 0; at < len; at += piece)
		gzscan_feed(g, buf + at, len - at < piece ? len - at : piece);
	r->rc = gzscan_finish(g, &r->e);
	r->in = gzscan_in(g);
	r->out = gzscan_out(g);
	r->fast_failed = gzscan_fast_failed(g);
	gzscan_free(g);
}

/* The fast inflater gives the reference's verdict, or a refusal of its
 * own that it marks for the reference to confirm. */
static void agree(const char *what, const unsigned char *buf, size_t len, uint64_t max_out,
		  bool all_pieces)
{
	struct run ref, fast;
	run_gz(true, buf, len, len ? len : 1, max_out, &ref);
	static const size_t pieces[] = { 0, 4093, 7, 1, 2, 3, 5, 8, 9, 17, 65536 };
	for (size_t k = 0; k < (all_pieces ? sizeof pieces / sizeof pieces[0] : 3); k++) {
		size_t piece = pieces[k] ? pieces[k] : (len ? len : 1);
		run_gz(false, buf, len, piece, max_out, &fast);
		if (fast.fast_failed) {
			CHECK(ref.rc != RC_OK, "%s (pieces of %zu): ISA-L refused what zlib reads",
			      what, piece);
			continue;
		}
		CHECK(fast.rc == ref.rc && !strcmp(fast.e.reason, ref.e.reason),
		      "%s (pieces of %zu): zlib rc=%s \"%s\", ISA-L rc=%s \"%s\"", what, piece,
		      rc_str(ref.rc), ref.rc ? ref.e.reason : "", rc_str(fast.rc),
		      fast.rc ? fast.e.reason : "");
		if (!ref.rc)
			CHECK(fast.in == ref.in && fast.out == ref.out && fast.s.crc == ref.s.crc &&
			      fast.s.n == ref.s.n, "%s (pieces of %zu): in %llu/%llu out %llu/%llu",
			      what, piece, (unsigned long long)ref.in, (unsigned long long)fast.in,
			      (unsigned long long)ref.out, (unsigned long long)fast.out);
	}
}

static void streams(void)
{
	size_t n = 100000;
	unsigned char *data = malloc(n);
	uint32_t x = 12345;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		/* random for the first third, then text-like */
		data[i] = i < n / 3 ? (unsigned char)(x >> 24) : (unsigned char)("abcde ,\n"[(x >> 24) & 7]);
	}
	static const int levels[] = { 0, 1, 6, 9 };
	for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
		size_t glen;
		unsigned char *gz = gzip_of(data, n, levels[l], &glen);
		char what[64];
		snprintf(what, sizeof what, "level %d", levels[l]);
		agree(what, gz, glen, 1 << 20, true);
		/* junk after it, a second member, a wrong CRC-32, a wrong ISIZE */
		unsigned char *more = malloc(glen * 2 + 16);
		memcpy(more, gz, glen);
		memcpy(more + glen, "junk", 4);
		snprintf(what, sizeof what, "level %d + junk", levels[l]);
		agree(what, more, glen + 4, 1 << 20, true);
		memcpy(more + glen, gz, glen);
		snprintf(what, sizeof what, "level %d twice", levels[l]);
		agree(what, more, glen * 2, 1 << 20, true);
		memcpy(more, gz, glen);
		more[glen - 8] ^= 1;
		snprintf(what, sizeof what, "level %d bad CRC", levels[l]);
		agree(what, more, glen, 1 << 20, true);
		struct run r;
		run_gz(false, more, glen, 4093, 1 << 20, &r);
		CHECK(r.rc == RC_FORMAT && strstr(r.e.reason, "CRC-32") && !r.fast_failed,
		      "bad CRC: rc=%s \"%s\"", rc_str(r.rc), r.e.reason);
		more[glen - 8] ^= 1;
		more[glen - 1] ^= 1;
		snprintf(what, sizeof what, "level %d bad ISIZE", levels[l]);
		agree(what, more, glen, 1 << 20, false);
		/* truncated: at a sample of lengths, and the last 12 */
		for (size_t cut = 0; cut < glen; cut += cut + 12 >= glen ? 1 : glen / 97 + 1) {
			snprintf(what, sizeof what, "level %d cut at %zu", levels[l], cut);
			agree(what, gz, cut, 1 << 20, cut + 12 >= glen);
		}
		run_gz(false, gz, glen - 3, 4093, 1 << 20, &r);
		CHECK(r.rc == RC_FORMAT && strstr(r.e.reason, "truncated"), "truncated: rc=%s \"%s\"",
		      rc_str(r.rc), r.e.reason);
		free(more);
		free(gz);
	}
	free(data);
}

/* A bomb: 16 MiB of zeros (16 KiB of gzip) against a 1 MiB cap, and
 * against the scan's cap with max_total_bytes 1 MiB (1 MiB plus 4 KiB of
 * header room for each of 2,001 entries: about 9 MiB). */
static void bomb(void)
{
	size_t n = 16 << 20;
	unsigned char *zeros = calloc(1, n);
	size_t glen;
	unsigned char *gz = gzip_of(zeros, n, 9, &glen);
	agree("bomb", gz, glen, 1 << 20, true);
	struct run r;
	run_gz(false, gz, glen, glen, 1 << 20, &r);
	CHECK(r.rc == RC_LIMIT && strstr(r.e.reason, "inflates to more than 1048576") &&
	      r.out <= (1 << 20) + 65536, "bomb: rc=%s \"%s\", %llu bytes out", rc_str(r.rc),
	      r.e.reason, (unsigned long long)r.out);
	/* through the scan, at max_total_bytes' cap: the same reason as zlib's */
	for (int ref = 0; ref < 2; ref++) {
		struct unpack_limits small = lim;
		small.max_total_bytes = 1 << 20;
		struct scan_stream *s = scan_stream_new_flags(&small, ref ? SCAN_REFERENCE
									  : SCAN_KEEP_TAR);
		scan_stream_observe(s, gz, glen);
		struct scan_error se;
		enum rc rc = scan_stream_finish(s, &se);
		CHECK(rc == RC_LIMIT && strstr(se.reason, "more than max_total_bytes allows"),
		      "bomb through the scan (%s): rc=%s \"%s\"", ref ? "zlib" : "ISA-L", rc_str(rc),
		      se.reason);
		struct scan_tar t;
		CHECK(!scan_stream_take_tar(s, &t), "a refused bomb left a tar to take");
		scan_stream_free(s);
	}
	free(gz);
	free(zeros);
}

/* Deflate data zlib refuses: ISA-L refuses it too, marked for zlib. */
static void bad_deflate(void)
{
	/* RFC 1951 bit strings (LSB first), written with a bit writer */
	static const struct {
		const char *what;
		unsigned char data[10];
		size_t len;
		const char *zlib;
	} t[] = {
		/* BFINAL, BTYPE 11 (reserved) */
		{ "reserved block type", { 0x07 }, 1, "invalid block type" },
		/* a stored block whose LEN and NLEN disagree */
		{ "stored lengths", { 0x01, 0x05, 0x00, 0x00, 0x00, 'a', 'b', 'c' }, 8,
		  "invalid stored block lengths" },
		/* fixed block: a length 3, distance 1 match before any output */
		{ "distance too far back", { 0x03, 0x02 }, 2, "invalid distance too far back" },
		/* fixed block: 'A', then literal/length symbol 286 */
		{ "symbol 286", { 0x73, 0x1c, 0x03 }, 3, "invalid literal/length code" },
		/* fixed block: 'A', a length, then distance code 30 */
		{ "distance code 30", { 0x73, 0x04, 0x3e }, 3, "invalid distance code" },
		/* dynamic block: HLIT 30, 287 literal/length codes */
		{ "HLIT 287", { 0xf5, 0xe0, 0x01 }, 3, "too many length or distance symbols" },
		/* dynamic block: 19 code length codes of length 1 (oversubscribed) */
		{ "oversubscribed", { 0x05, 0xe0, 0x93, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92 }, 9,
		  "invalid code lengths set" },
		/* dynamic block: one code length code of length 2 (incomplete) */
		{ "incomplete", { 0x05, 0xe0, 0x05 }, 3, "invalid code lengths set" },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		unsigned char gz[64] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
		memcpy(gz + 10, t[i].data, t[i].len);
		memset(gz + 10 + t[i].len, 0, 40);
		size_t len = 10 + t[i].len + 40;
		struct run fast, ref;
		run_gz(false, gz, len, len, 1 << 20, &fast);
		run_gz(true, gz, len, len, 1 << 20, &ref);
		CHECK(fast.rc == RC_FORMAT && fast.fast_failed, "%s: ISA-L rc=%s fast_failed=%d",
		      t[i].what, rc_str(fast.rc), fast.fast_failed);
		CHECK(ref.rc == RC_FORMAT && strstr(ref.e.reason, t[i].zlib), "%s: zlib \"%s\"",
		      t[i].what, ref.e.reason);
		struct scan_stream *s = scan_stream_new_flags(&lim, SCAN_KEEP_TAR);
		scan_stream_observe(s, gz, len);
		struct scan_error se;
		CHECK(scan_stream_finish(s, &se) == RC_FORMAT && scan_stream_confirm(s),
		      "%s: the scan does not ask zlib to confirm", t[i].what);
		scan_stream_free(s);
	}
}

/* ---- hashing while downloading ---- */

static void prescan(const char *pkgdir)
{
	char file[4096];
	snprintf(file, sizeof file, "%s/20240602_2215_PREP_PRES_NAL.tar.gz", pkgdir);
	size_t len;
	unsigned char *buf = slurp(file, &len);
	CHECK(buf != NULL && len > 100, "cannot read %s", file);
	if (!buf)
		return;
	unsigned char want[SHA256_BYTES];
	sha256(buf, len, want);
	struct prescan *p = prescan_new(&lim);
	/* a first response cut short (a redirect's or a retried body), then
	 * the whole body again in odd pieces */
	prescan_begin(p);
	prescan_observe(p, "<html>302</html>", 16);
	prescan_observe(p, buf, len / 2);
	prescan_begin(p);
	for (size_t at = 0; at < len; at += 997)
		prescan_observe(p, buf + at, len - at < 997 ? len - at : 997);
	prescan_end(p);
	prescan_observe(p, "late", 4);   /* ignored once ended */
	CHECK(prescan_usable(p, len), "prescan not usable for %zu bytes (saw %llu)", len,
	      (unsigned long long)prescan_bytes(p));
	CHECK(!prescan_usable(p, len + 1) && !prescan_usable(p, len - 1),
	      "prescan usable for another length");
	const struct prescan_result *r = prescan_result(p);
	CHECK(!memcmp(r->sha, want, SHA256_BYTES), "prescan SHA-256 is not the file's");
	CHECK(r->scan_rc == RC_OK, "prescan scan: %s", r->se.reason);
	struct scan_tar tar;
	CHECK(prescan_take_tar(p, &tar) && tar.len > 0 && tar.len % 512 == 0,
	      "prescan kept no tar");
	/* the tar is the file inflated */
	z_stream z = { 0 };
	inflateInit2(&z, 16 + MAX_WBITS);
	unsigned char *plain = malloc(tar.len + 1);
	z.next_in = buf;
	z.avail_in = (uInt)len;
	z.next_out = plain;
	z.avail_out = (uInt)tar.len + 1;
	CHECK(inflate(&z, Z_FINISH) == Z_STREAM_END && z.total_out == tar.len &&
	      !memcmp(plain, tar.p, tar.len), "the kept tar is not the package inflated");
	inflateEnd(&z);
	free(plain);
	scan_tar_release(&tar);
	prescan_free(p);

	/* never begun, or ended with nothing: not usable */
	p = prescan_new(&lim);
	prescan_observe(p, buf, len);
	prescan_end(p);
	CHECK(!prescan_usable(p, len), "a prescan that never began is usable");
	prescan_free(p);
	free(buf);
}

/* Every zip of the corpora: the same verdict, reason and entries with the
 * bodies read by zip_body() (ISA-L) as with libarchive reading them. */
static void same_zip(const char *file, const char *name)
{
	static struct outcome a, b;
	struct unpack_error ue;
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	unpack_zip_fast = false;
	a.rc = unpack_file(file, &lim, "CP850", collect, &a.got, &a.st, &ue);
	snprintf(a.why, sizeof a.why, "%s: %s", ue.entry, ue.reason);
	unpack_zip_fast = true;
	b.rc = unpack_file(file, &lim, "CP850", collect, &b.got, &b.st, &ue);
	snprintf(b.why, sizeof b.why, "%s: %s", ue.entry, ue.reason);
	same_outcome(name, "libarchive, ISA-L", &a, &b);
}

static int same_zips(const char *dir)
{
	return for_each_file(dir, ".zip", same_zip);
}

/* A zip of stored and deflated entries (a nested zip among them), then
 * the same with one deflated byte changed and with a CRC-32 changed in
 * both headers: the fast read gives way to libarchive, whose reason is
 * the one reported. */
static void zip_cases(void)
{
	char dir[] = "/tmp/prepd-inflate.XXXXXX";
	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	char file[256];
	snprintf(file, sizeof file, "%s/p.zip", dir);
	static const char script[] =
		"import io, sys, zipfile\n"
		"inner = io.BytesIO()\n"
		"with zipfile.ZipFile(inner, 'w', zipfile.ZIP_DEFLATED) as z:\n"
		"    z.writestr('datos.csv', 'a,b\\n' * 50000)\n"
		"with zipfile.ZipFile(sys.argv[1], 'w') as z:\n"
		"    z.writestr(zipfile.ZipInfo('index.html'), '<p>hola</p>' * 100)\n"
		"    i = zipfile.ZipInfo('json/a.json'); i.compress_type = zipfile.ZIP_DEFLATED\n"
		"    z.writestr(i, '{\"a\":1}' * 20000)\n"
		"    i = zipfile.ZipInfo('datos/db.zip'); i.compress_type = zipfile.ZIP_STORED\n"
		"    z.writestr(i, inner.getvalue())\n"
		"    i = zipfile.ZipInfo('vacio.txt'); i.compress_type = zipfile.ZIP_DEFLATED\n"
		"    z.writestr(i, '')\n"
		"    i = zipfile.ZipInfo('datos/grande.csv'); i.compress_type = zipfile.ZIP_DEFLATED\n"
		"    z.writestr(i, ''.join('%d,%d\\n' % (k, k * 7 % 1000) for k in range(200000)))\n"
		"    i = zipfile.ZipInfo('datos/grande.bin'); i.compress_type = zipfile.ZIP_STORED\n"
		"    z.writestr(i, bytes(range(256)) * 5000)\n"
		"import tarfile\n"
		"with zipfile.ZipFile(sys.argv[1]) as z, tarfile.open(sys.argv[1][:-4] + '.tar.gz', 'w:gz') as t:\n"
		"    for n in z.namelist():\n"
		"        d = z.read(n); ti = tarfile.TarInfo(n); ti.size = len(d); ti.mtime = 1717387200\n"
		"        t.addfile(ti, io.BytesIO(d))\n";
	char cmd[1024];
	FILE *py = popen("python3 - ", "w");
	CHECK(py != NULL, "python3");
	if (!py)
		return;
	fprintf(py, "import sys\nsys.argv = ['-', '%s']\n%s", file, script);
	CHECK(pclose(py) == 0, "python3 wrote no zip");
	int before = hashed_bodies;
	CHECK(same_zips(dir) == 1, "the written zip was not compared");
	/* two large bodies, read once by libarchive and once by zip_body() */
	CHECK(hashed_bodies - before == 4, "%d large zip bodies hashed while read, want 4",
	      hashed_bodies - before);
	before = hashed_bodies;
	CHECK(same_dir(dir) == 1, "the written .tar.gz was not compared");
	CHECK(hashed_bodies - before >= 2 * 2, "%d large tar bodies hashed while read",
	      hashed_bodies - before);
	size_t len;
	unsigned char *buf = slurp(file, &len);
	CHECK(buf != NULL, "cannot read %s", file);
	if (!buf)
		return;
	/* json/a.json's data: after its local header (30 + 11 bytes of name) */
	unsigned char *at = memmem(buf, len, "json/a.json", 11);
	CHECK(at != NULL && at - buf >= 30, "json/a.json not found");
	if (at) {
		unsigned char *data = at + 11 + (at[-2] | at[-1] << 8);
		data[40] ^= 0x55;
		FILE *f = fopen(file, "wb");
		fwrite(buf, 1, len, f);
		fclose(f);
		CHECK(same_zips(dir) == 1, "the damaged zip was not compared");
		struct entries got = { 0 };
		struct unpack_stats st;
		struct unpack_error ue;
		enum rc rc = unpack_file(file, &lim, NULL, collect, &got, &st, &ue);
		CHECK(rc == RC_FORMAT && !strcmp(ue.entry, "json/a.json") &&
		      strstr(ue.reason, "archive error"), "damaged deflate data: rc=%s %s: %s",
		      rc_str(rc), ue.entry, ue.reason);
		data[40] ^= 0x55;
	}
	free(buf);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK(system(cmd) == 0, "rm");
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: test-inflate PKGDIR HOSTILEDIR\n");
		return 2;
	}
	int n = same_dir(argv[1]) + same_dir(argv[2]);
	CHECK(n >= 30, "only %d .tar.gz packages compared", n);
	n = same_zips(argv[1]) + same_zips(argv[2]);
	CHECK(n >= 20, "only %d zips compared", n);
	zip_cases();
	streams();
	bomb();
	bad_deflate();
	prescan(argv[1]);
	return check_done();
}
