/* The history folder and the journal, on a scratch folder under /tmp:
 * keeping by rename and by copy, name cleaning, never overwriting, the
 * journal's round trip with hostile values, torn and malformed lines,
 * sequence numbers, and (when a tiny tmpfs can be mounted) a full disk. */
#include "check.h"
#include "server/limits.h"
#include "ingest/store.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[] = "/tmp/test-store-XXXXXX";

/* ---- helpers ---- */

static char *pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Rotating static buffers: enough for the few paths one CHECK uses. */
static char *pathf(const char *fmt, ...)
{
	static char bufs[8][1024];
	static int next;
	char *b = bufs[next++ % 8];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b, sizeof bufs[0], fmt, ap);
	va_end(ap);
	return b;
}

static bool write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return false;
	bool ok = write(fd, data, len) == (ssize_t)len;
	return close(fd) == 0 && ok;
}

static bool write_str(const char *path, const char *s)
{
	return write_file(path, s, strlen(s), 0644);
}

/* The whole file, malloc'ed and NUL-terminated; NULL if unreadable. */
static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	char *b = malloc(cap + 1);
	size_t got;
	while (b && (got = fread(b + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			char *nb = realloc(b, cap * 2 + 1);
			if (!nb) {
				free(b);
				b = NULL;
				break;
			}
			b = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (b) {
		b[n] = '\0';
		*len = n;
	}
	return b;
}

static bool same_bytes(const char *path, const void *data, size_t len)
{
	size_t n = 0;
	char *b = read_all(path, &n);
	bool same = b && n == len && !memcmp(b, data, len);
	free(b);
	return same;
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static int mode_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

/* Entries in a folder other than . and .., or -1. */
static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* A new folder under root; the caller frees the name. */
static char *new_data_dir(const char *name)
{
	char *d = strdup(pathf("%s/%s", root, name));
	if (mkdir(d, 0750) != 0)
		fprintf(stderr, "mkdir %s: %s\n", d, strerror(errno));
	return d;
}

struct collect {
	int n;
	int stop_after;   /* 0: never */
	struct journal_rec recs[64];
};

static int collect(void *ctx, const struct journal_rec *r)
{
	struct collect *c = ctx;
	if (c->n < 64)
		c->recs[c->n] = *r;
	c->n++;
	return c->stop_after && c->n >= c->stop_after ? 7 : 0;
}

/* 2026-11-22T16:00:00Z */
#define T0 ((time_t)1795363200)

/* ---- store_open ---- */

static void test_open(void)
{
	char err[512] = "";
	struct store *s = (struct store *)1;
	enum rc rc = store_open(pathf("%s/nope", root), &s, err, sizeof err);
	CHECK(rc == RC_IO && s == NULL, "open of a missing folder: rc %d", rc);
	CHECK(strstr(err, "cannot open") && strstr(err, "No such file"), "err: %s", err);

	char *bad = new_data_dir("bad");
	write_str(pathf("%s/history", bad), "not a folder");
	rc = store_open(bad, &s, err, sizeof err);
	CHECK(rc == RC_IO, "history as a file: rc %d", rc);
	CHECK(strstr(err, "/history: Not a directory"), "err: %s", err);

	char *d = new_data_dir("open");
	rc = store_open(d, &s, err, sizeof err);
	CHECK(rc == RC_OK, "open: %s", err);
	const char *sub[] = { "history", "quarantine", "tmp" };
	for (int i = 0; i < 3; i++)
		CHECK(mode_of(pathf("%s/%s", d, sub[i])) == 0750, "%s mode %o", sub[i],
		      mode_of(pathf("%s/%s", d, sub[i])));
	CHECK(!strcmp(store_tmp_dir(s), pathf("%s/tmp", d)), "tmp dir %s", store_tmp_dir(s));
	uint64_t next = 0;
	CHECK(store_next_seq(s, &next, err, sizeof err) == RC_OK && next == 1,
	      "next seq of an empty store: %" PRIu64, next);
	store_close(s);
	/* Opening again finds everything in place. */
	rc = store_open(d, &s, err, sizeof err);
	CHECK(rc == RC_OK, "reopen: %s", err);
	store_close(s);
	store_close(NULL);
	free(bad);
	free(d);
}

/* ---- store_keep ---- */

static void test_keep(void)
{
	char err[512] = "", kept[256] = "";
	char *d = new_data_dir("keep");
	char *spool = new_data_dir("spool");
	struct store *s;
	if (store_open(d, &s, err, sizeof err)) {
		CHECK(0, "open: %s", err);
		free(d);
		free(spool);
		return;
	}

	/* By copy from outside DATA: more than one 1 MiB chunk, odd size. */
	size_t big = (3u << 20) + 123;
	unsigned char *data = malloc(big);
	for (size_t i = 0; i < big; i++)
		data[i] = (unsigned char)(i * 131 + (i >> 12));
	char *src = strdup(pathf("%s/20240602_2215_PREP.zip", spool));
	write_file(src, data, big, 0644);
	struct stat before;
	stat(src, &before);
	enum rc rc = store_keep(s, 1, "20240602_2215_PREP.zip", src, false, kept,
				sizeof kept, err, sizeof err);
	CHECK(rc == RC_OK, "keep by copy: %s", err);
	CHECK(!strcmp(kept, "history/000001-20240602_2215_PREP.zip"), "kept %s", kept);
	CHECK(same_bytes(pathf("%s/%s", d, kept), data, big), "copy is byte for byte");
	CHECK(same_bytes(src, data, big), "source unchanged after a copy");
	struct stat after;
	stat(src, &after);
	CHECK(after.st_mtim.tv_sec == before.st_mtim.tv_sec &&
	      after.st_mtim.tv_nsec == before.st_mtim.tv_nsec &&
	      after.st_ino == before.st_ino && (after.st_mode & 0777) == 0644,
	      "source's inode, mtime and mode unchanged");
	CHECK(mode_of(pathf("%s/%s", d, kept)) == 0640, "copy mode %o",
	      mode_of(pathf("%s/%s", d, kept)));
	CHECK(entries(pathf("%s/tmp", d)) == 0, "no temp file left in tmp/");

	/* By rename from DATA/tmp: the same inode ends in history/. */
	char *dl = strdup(pathf("%s/download-1", store_tmp_dir(s)));
	write_file(dl, "tarball bytes", 13, 0600);
	struct stat dst;
	stat(dl, &dst);
	rc = store_keep(s, 2, "https://prep.example/x/20240602_2230_PREP.tar.gz", dl,
			false, kept, sizeof kept, err, sizeof err);
	CHECK(rc == RC_OK, "keep by rename: %s", err);
	CHECK(!strcmp(kept, "history/000002-20240602_2230_PREP.tar.gz"), "kept %s", kept);
	CHECK(!exists(dl), "renamed: the download is gone from tmp/");
	struct stat kst;
	CHECK(stat(pathf("%s/%s", d, kept), &kst) == 0 && kst.st_ino == dst.st_ino,
	      "renamed, not copied (same inode)");
	CHECK(same_bytes(pathf("%s/%s", d, kept), "tarball bytes", 13), "renamed bytes");
	CHECK(mode_of(pathf("%s/%s", d, kept)) == 0640, "renamed mode %o",
	      mode_of(pathf("%s/%s", d, kept)));

	/* A roundabout path to tmp/ is still tmp/. */
	write_file(pathf("%s/tmp/dl-2", d), "x", 1, 0600);
	stat(pathf("%s/tmp/dl-2", d), &dst);
	rc = store_keep(s, 4, "b.zip", pathf("%s/tmp/../tmp/dl-2", d), false, kept,
			sizeof kept, err, sizeof err);
	CHECK(rc == RC_OK && stat(pathf("%s/%s", d, kept), &kst) == 0 &&
	      kst.st_ino == dst.st_ino, "tmp/../tmp/ counts as tmp/: %s", err);

	/* A symbolic link in tmp/ is copied through, never kept as a link. */
	CHECK(symlink(src, pathf("%s/tmp/link", d)) == 0, "symlink: %s", strerror(errno));
	rc = store_keep(s, 5, "link.zip", pathf("%s/tmp/link", d), false, kept,
			sizeof kept, err, sizeof err);
	struct stat lst;
	CHECK(rc == RC_OK && lstat(pathf("%s/%s", d, kept), &lst) == 0 &&
	      S_ISREG(lst.st_mode), "symlink kept as a regular file: %s", err);
	CHECK(same_bytes(pathf("%s/%s", d, kept), data, big), "symlink's target copied");
	CHECK(exists(pathf("%s/tmp/link", d)) && same_bytes(src, data, big),
	      "the link and its target are untouched");
	unlink(pathf("%s/tmp/link", d));

	/* Quarantine. */
	char *small = strdup(pathf("%s/PREP_AYUN_JAL.zip", spool));
	write_file(small, "refused", 7, 0644);
	rc = store_keep(s, 3, "PREP_AYUN_JAL.zip", small, true, kept, sizeof kept,
			err, sizeof err);
	CHECK(rc == RC_OK, "quarantine: %s", err);
	CHECK(!strcmp(kept, "quarantine/000003-PREP_AYUN_JAL.zip"), "kept %s", kept);
	CHECK(same_bytes(pathf("%s/%s", d, kept), "refused", 7), "quarantined bytes");
	CHECK(same_bytes(small, "refused", 7), "quarantine source unchanged");

	/* Never overwrite: by copy, ... */
	char *other = strdup(pathf("%s/other.zip", spool));
	write_file(other, "other", 5, 0644);
	rc = store_keep(s, 1, "20240602_2215_PREP.zip", other, false, kept,
			sizeof kept, err, sizeof err);
	CHECK(rc == RC_IO && strstr(err, "already exists"), "overwrite by copy: rc %d %s",
	      rc, err);
	CHECK(same_bytes(pathf("%s/history/000001-20240602_2215_PREP.zip", d), data, big),
	      "existing package unchanged");
	CHECK(same_bytes(other, "other", 5), "refused source unchanged");
	CHECK(entries(pathf("%s/tmp", d)) == 0, "no temp file left after a refusal");
	/* ... and by rename: the download stays where it was. */
	write_file(pathf("%s/tmp/dl-3", d), "dl3", 3, 0600);
	rc = store_keep(s, 2, "20240602_2230_PREP.tar.gz", pathf("%s/tmp/dl-3", d), false,
			kept, sizeof kept, err, sizeof err);
	CHECK(rc == RC_IO && strstr(err, "already exists"), "overwrite by rename: rc %d %s",
	      rc, err);
	CHECK(same_bytes(pathf("%s/tmp/dl-3", d), "dl3", 3), "download kept in tmp/");
	CHECK(same_bytes(pathf("%s/history/000002-20240602_2230_PREP.tar.gz", d),
			 "tarball bytes", 13), "existing package unchanged");
	unlink(pathf("%s/tmp/dl-3", d));

	/* Sources that cannot be kept. */
	rc = store_keep(s, 6, "x.zip", pathf("%s/missing.zip", spool), false, kept,
			sizeof kept, err, sizeof err);
	CHECK(rc == RC_IO && strstr(err, "cannot open") && strstr(err, "No such file"),
	      "missing source: rc %d %s", rc, err);
	rc = store_keep(s, 6, "x.zip", spool, false, kept, sizeof kept, err, sizeof err);
	CHECK(rc == RC_IO && strstr(err, "not a regular file"), "folder: rc %d %s", rc, err);
	char tiny[16];
	rc = store_keep(s, 6, "x.zip", other, false, tiny, sizeof tiny, err, sizeof err);
	CHECK(rc == RC_INVALID, "kept buffer too small: rc %d", rc);
	CHECK(!exists(pathf("%s/history/000006-x.zip", d)), "nothing kept then");

	/* The journal has no line for any of these: next_seq reads names. */
	uint64_t next = 0;
	CHECK(store_next_seq(s, &next, err, sizeof err) == RC_OK && next == 6,
	      "next seq from file names: %" PRIu64 " %s", next, err);

	/* Moving a kept package to quarantine/ after the fact. */
	char moved[256];
	stat(pathf("%s/history/000004-b.zip", d), &dst);
	rc = store_requarantine(s, "history/000004-b.zip", moved, sizeof moved, err,
				sizeof err);
	CHECK(rc == RC_OK && !strcmp(moved, "quarantine/000004-b.zip"),
	      "requarantine: rc %d %s %s", rc, moved, err);
	CHECK(!exists(pathf("%s/history/000004-b.zip", d)) &&
	      stat(pathf("%s/quarantine/000004-b.zip", d), &kst) == 0 &&
	      kst.st_ino == dst.st_ino, "requarantine moved the file");
	rc = store_requarantine(s, "history/000004-b.zip", moved, sizeof moved, err,
				sizeof err);
	CHECK(rc == RC_IO && strstr(err, "No such file"), "requarantine twice: rc %d %s",
	      rc, err);
	const char *not_kept[] = { "quarantine/000003-PREP_AYUN_JAL.zip",
				   "history/../journal.log", "history/", "history/..",
				   "history/.", "history", "tmp/x", "" };
	for (size_t i = 0; i < sizeof not_kept / sizeof not_kept[0]; i++) {
		rc = store_requarantine(s, not_kept[i], moved, sizeof moved, err, sizeof err);
		CHECK(rc == RC_INVALID, "requarantine '%s': rc %d", not_kept[i], rc);
	}
	CHECK(exists(pathf("%s/journal.log", d)), "journal not moved");
	CHECK(store_keep(s, 7, "c.zip", other, false, kept, sizeof kept, err, sizeof err) == RC_OK &&
	      store_keep(s, 7, "c.zip", small, true, kept, sizeof kept, err, sizeof err) == RC_OK,
	      "keep seq 7 twice: %s", err);
	rc = store_requarantine(s, "history/000007-c.zip", moved, sizeof moved, err,
				sizeof err);
	CHECK(rc == RC_IO && strstr(err, "already exists"), "requarantine onto a name: "
	      "rc %d %s", rc, err);
	CHECK(same_bytes(pathf("%s/history/000007-c.zip", d), "other", 5) &&
	      same_bytes(pathf("%s/quarantine/000007-c.zip", d), "refused", 7),
	      "neither file replaced");
	rc = store_requarantine(s, "history/000007-c.zip", tiny, 8, err, sizeof err);
	CHECK(rc == RC_INVALID && exists(pathf("%s/history/000007-c.zip", d)),
	      "moved buffer too small: rc %d", rc);

	store_close(s);
	free(data);
	free(src);
	free(dl);
	free(small);
	free(other);
	free(d);
	free(spool);
}

/* ---- names ---- */

static void test_names(void)
{
	char a300[301], b300[301], long_tgz[320], long_ext[330], want_tgz[210],
	     want_a[210];
	memset(a300, 'a', 300);
	a300[300] = '\0';
	memset(b300, 'b', 300);
	b300[300] = '\0';
	snprintf(long_tgz, sizeof long_tgz, "/spool/%s.tar.gz", a300);
	snprintf(want_tgz, sizeof want_tgz, "%.193s.tar.gz", a300);
	snprintf(long_ext, sizeof long_ext, "%s.zzzzzzzzzzzzzzzzzzzz", a300);
	snprintf(want_a, sizeof want_a, "%.200s", a300);
	const struct {
		uint64_t seq;
		const char *name, *want;
	} table[] = {
		{ 100, "20240602_2215_PREP_PRES_NAL.zip", "000100-20240602_2215_PREP_PRES_NAL.zip" },
		{ 101, "/srv/spool/a b.zip", "000101-a_b.zip" },
		{ 102, "../../etc/passwd", "000102-passwd" },
		{ 103, "dir/", "000103-package" },
		{ 104, "", "000104-package" },
		{ 105, "Nuevo Le\xc3\xb3n.zip", "000105-Nuevo_Le__n.zip" },
		{ 106, "a\nb\tc.zip", "000106-a_b_c.zip" },
		{ 107, "x;rm -rf $(y).tar.gz", "000107-x_rm_-rf___y_.tar.gz" },
		{ 108, "..", "000108-.." },
		{ 109, "C:\\paquetes\\p.zip", "000109-C__paquetes_p.zip" },
		{ 110, "pkg?v=2&x=%20", "000110-pkg_v_2_x__20" },
		{ 111, long_tgz, NULL },    /* 193 a's + ".tar.gz" */
		{ 112, b300, NULL },        /* 200 b's */
		{ 113, long_ext, NULL },    /* an extension too long to keep */
		{ 1234567, "p.zip", "1234567-p.zip" },
		{ 18446744073709551615ull, "max.zip", "18446744073709551615-max.zip" },
	};
	char *d = new_data_dir("names");
	char err[512], kept[300];
	struct store *s;
	if (store_open(d, &s, err, sizeof err)) {
		CHECK(0, "open: %s", err);
		free(d);
		return;
	}
	char *src = strdup(pathf("%s/spool/PREP_AYUN_JAL.zip", root));
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		char want[320];
		if (table[i].seq == 111)
			snprintf(want, sizeof want, "history/000111-%s", want_tgz);
		else if (table[i].seq == 112)
			snprintf(want, sizeof want, "history/000112-%.200s", b300);
		else if (table[i].seq == 113)
			snprintf(want, sizeof want, "history/000113-%s", want_a);
		else
			snprintf(want, sizeof want, "history/%s", table[i].want);
		enum rc rc = store_keep(s, table[i].seq, table[i].name, src, false, kept,
					sizeof kept, err, sizeof err);
		CHECK(rc == RC_OK, "name %zu: %s", i, err);
		CHECK(!strcmp(kept, want), "name %zu: kept %s, want %s", i, kept, want);
		CHECK(exists(pathf("%s/%s", d, kept)), "name %zu: file exists", i);
	}
	store_close(s);
	free(src);
	free(d);
}

/* ---- the journal ---- */

static const char *const nasty[] = {
	"", "-", "--", "plain", "with space", "two  spaces", " lead", "trail ",
	"quote\"inside", "\"", "\"\"", "back\\slash", "\\", "trailing\\",
	"a=b", "=", "key=value x=y", "\\x41 is not an escape", "\\\"",
	"Nuevo Le\xc3\xb3n \xc3\xb1 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
	"tab\there", "line\nbreak", "cr\r", "ctl\x01\x1f\x7f", "\x1b[31mred",
	"\xff\xfe not utf8", "\xc3 truncated", "\xed\xa0\x80 surrogate",
	"\xc0\xaf overlong", "reason=\"fake\" seq=9", "\"-\"", "\\\\\\",
	"pull:https://prep.example/paquete?x=1&y=2#frag",
	"rollback:41", "spool:20240602_2215_PREP.zip",
};

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void set_text(char *field, size_t size, const char *v)
{
	size_t n = strlen(v);
	if (n >= size) {
		v = "too-long";
		n = strlen(v);
	}
	memcpy(field, v, n + 1);
}

static void check_rec(const struct journal_rec *a, const struct journal_rec *b, int i)
{
	CHECK(a->seq == b->seq, "rec %d: seq %" PRIu64 " != %" PRIu64, i, a->seq, b->seq);
	CHECK(a->received == b->received, "rec %d: received", i);
	CHECK(a->published == b->published, "rec %d: published", i);
	CHECK(a->size == b->size, "rec %d: size", i);
	CHECK(!strcmp(a->source, b->source), "rec %d: source '%s' != '%s'", i, a->source, b->source);
	CHECK(!strcmp(a->sha256, b->sha256), "rec %d: sha256", i);
	CHECK(!strcmp(a->verdict, b->verdict), "rec %d: verdict '%s' != '%s'", i, a->verdict, b->verdict);
	CHECK(!strcmp(a->kind, b->kind), "rec %d: kind '%s' != '%s'", i, a->kind, b->kind);
	CHECK(!strcmp(a->cut, b->cut), "rec %d: cut '%s' != '%s'", i, a->cut, b->cut);
	CHECK(!strcmp(a->cut_time, b->cut_time), "rec %d: cut_time", i);
	CHECK(!strcmp(a->file, b->file), "rec %d: file '%s' != '%s'", i, a->file, b->file);
	CHECK(!strcmp(a->reason, b->reason), "rec %d: reason '%s' != '%s'", i, a->reason, b->reason);
}

static void test_journal_roundtrip(void)
{
	char *d = new_data_dir("journal");
	char err[512] = "";
	struct collect *c = calloc(1, sizeof *c);
	bool torn = true;

	/* No journal yet: an empty one. No data folder: an error. */
	enum rc rc = journal_read(d, collect, c, &torn, err, sizeof err);
	CHECK(rc == RC_OK && c->n == 0 && !torn, "missing journal: rc %d n %d", rc, c->n);
	rc = journal_read(pathf("%s/nope", root), collect, c, &torn, err, sizeof err);
	CHECK(rc == RC_IO && strstr(err, "No such file"), "missing data folder: rc %d %s",
	      rc, err);

	struct store *s;
	if (store_open(d, &s, err, sizeof err)) {
		CHECK(0, "open: %s", err);
		free(c);
		free(d);
		return;
	}

	/* The exact line, as the header promises. */
	struct journal_rec first = {
		.seq = 42, .received = T0, .size = 123456, .published = T0 + 1,
	};
	strcpy(first.source, "spool:20240602_2215_PREP.zip");
	strcpy(first.sha256, HEX64);
	strcpy(first.verdict, "published");
	strcpy(first.kind, "full");
	strcpy(first.cut, "20240602_2215");
	strcpy(first.cut_time, "2024-06-02T22:15");
	strcpy(first.file, "history/000042-20240602_2215_PREP.zip");
	rc = journal_append(s, &first, err, sizeof err);
	CHECK(rc == RC_OK, "append: %s", err);
	struct journal_rec refused = { .seq = 43, .received = T0 + 60, .size = 7 };
	strcpy(refused.source, "pull:https://prep.example/a b.zip");
	strcpy(refused.verdict, "refused");
	strcpy(refused.file, "quarantine/000043-a_b.zip");
	strcpy(refused.reason, "entry \"../x\" has a .. component");
	rc = journal_append(s, &refused, err, sizeof err);
	CHECK(rc == RC_OK, "append: %s", err);
	size_t len;
	char *text = read_all(pathf("%s/journal.log", d), &len);
	const char *want =
		"seq=42 received=2026-11-22T16:00:00Z source=spool:20240602_2215_PREP.zip "
		"size=123456 sha256=" HEX64 " verdict=published kind=full "
		"cut=20240602_2215 cut_time=2024-06-02T22:15 published=2026-11-22T16:00:01Z "
		"file=history/000042-20240602_2215_PREP.zip reason=-\n"
		"seq=43 received=2026-11-22T16:01:00Z source=\"pull:https://prep.example/a b.zip\" "
		"size=7 sha256=- verdict=refused kind=- cut=- cut_time=- published=- "
		"file=quarantine/000043-a_b.zip reason=\"entry \\\"../x\\\" has a .. component\"\n";
	CHECK(text && !strcmp(text, want), "journal text:\n%s\nwant:\n%s", text, want);
	free(text);

	/* Every nasty value in every text field it fits in. */
	size_t n = sizeof nasty / sizeof nasty[0];
	static struct journal_rec recs[64];
	for (size_t i = 0; i < n; i++) {
		struct journal_rec *r = &recs[i];
		memset(r, 0, sizeof *r);
		r->seq = 100 + i;
		r->received = T0 + (time_t)i;
		r->published = i % 2 ? T0 + (time_t)i + 1 : 0;
		r->size = i * 1000;
		if (i % 2)
			strcpy(r->sha256, HEX64);
		set_text(r->source, sizeof r->source, nasty[i]);
		set_text(r->verdict, sizeof r->verdict, nasty[i]);
		set_text(r->kind, sizeof r->kind, nasty[i]);
		set_text(r->cut, sizeof r->cut, nasty[i]);
		set_text(r->cut_time, sizeof r->cut_time, nasty[i]);
		set_text(r->file, sizeof r->file, nasty[i]);
		set_text(r->reason, sizeof r->reason, nasty[i]);
	}
	/* The longest line there can be: every field full of bytes that are
	 * each escaped to four. */
	struct journal_rec *w = &recs[n];
	memset(w, 0, sizeof *w);
	w->seq = UINT64_MAX;
	w->size = UINT64_MAX;
	w->received = (time_t)253402300799;   /* 9999-12-31T23:59:59Z */
	w->published = (time_t)253402300799;
	strcpy(w->sha256, HEX64);
	memset(w->source, '\x01', sizeof w->source - 1);
	memset(w->verdict, '\xff', sizeof w->verdict - 1);
	memset(w->kind, '\x7f', sizeof w->kind - 1);
	memset(w->cut, '\x1f', sizeof w->cut - 1);
	memset(w->cut_time, '\x80', sizeof w->cut_time - 1);
	memset(w->file, '\xfe', sizeof w->file - 1);
	memset(w->reason, '\x02', sizeof w->reason - 1);
	/* And a field of quotes only. */
	struct journal_rec *q = &recs[n + 1];
	memset(q, 0, sizeof *q);
	q->seq = 7;
	q->received = T0;
	memset(q->reason, '"', sizeof q->reason - 1);
	memset(q->source, '\\', sizeof q->source - 1);
	for (size_t i = 0; i < n + 2; i++) {
		rc = journal_append(s, &recs[i], err, sizeof err);
		CHECK(rc == RC_OK, "append nasty %zu: %s", i, err);
	}

	/* Each record is exactly one line. */
	text = read_all(pathf("%s/journal.log", d), &len);
	size_t lines = 0;
	for (size_t i = 0; text && i < len; i++)
		lines += text[i] == '\n';
	CHECK(lines == n + 4, "journal has %zu lines, want %zu", lines, n + 4);
	free(text);

	c->n = 0;
	rc = journal_read(d, collect, c, &torn, err, sizeof err);
	CHECK(rc == RC_OK && !torn, "read back: rc %d %s", rc, err);
	CHECK(c->n == (int)n + 4, "read %d records, want %zu", c->n, n + 4);
	if (c->n == (int)n + 4) {
		check_rec(&c->recs[0], &first, 0);
		check_rec(&c->recs[1], &refused, 1);
		for (size_t i = 0; i < n + 2; i++)
			check_rec(&c->recs[i + 2], &recs[i], (int)i + 2);
	}

	/* fn stops the walk with its value. */
	struct collect *stop = calloc(1, sizeof *stop);
	stop->stop_after = 1;
	rc = journal_read(d, collect, stop, &torn, err, sizeof err);
	CHECK((int)rc == 7 && stop->n == 1, "stopped walk: rc %d after %d", rc, stop->n);
	free(stop);

	/* Records journal_append() refuses to write. */
	struct journal_rec bad = first;
	strcpy(bad.sha256, "ABCDEF");
	CHECK(journal_append(s, &bad, err, sizeof err) == RC_INVALID &&
	      strstr(err, "sha256"), "bad sha256: %s", err);
	bad = first;
	bad.received = -5;
	CHECK(journal_append(s, &bad, err, sizeof err) == RC_INVALID &&
	      strstr(err, "received"), "negative time: %s", err);
	bad = first;
	memset(bad.cut, 'x', sizeof bad.cut);   /* no NUL */
	CHECK(journal_append(s, &bad, err, sizeof err) == RC_INVALID,
	      "unterminated field: %s", err);

	uint64_t next = 0;
	CHECK(store_next_seq(s, &next, err, sizeof err) == RC_LIMIT,
	      "seq UINT64_MAX in the journal: no next one (%s)", err);
	store_close(s);
	free(c);
	free(d);
}

/* A line as journal_append() writes it. */
#define GOOD(seq)                                                               \
	"seq=" #seq " received=2026-11-22T16:00:00Z source=upload size=10 "     \
	"sha256=- verdict=refused kind=- cut=- cut_time=- published=- "         \
	"file=quarantine/00000" #seq "-x.zip reason=\"bad zip CRC\"\n"

static void test_journal_damage(void)
{
	char *d = new_data_dir("damaged");
	char *j = strdup(pathf("%s/journal.log", d));
	char err[512];
	struct collect *c = calloc(1, sizeof *c);
	bool torn;

	/* Torn last lines are skipped and reported. */
	const struct {
		const char *text;
		int n;
		bool torn;
	} torn_table[] = {
		{ GOOD(1) GOOD(2), 2, false },
		{ GOOD(1) GOOD(2) "seq=3 recei", 2, true },
		{ GOOD(1) "seq=2 received=2026-11-22T16:00:00Z source=\"a b", 1, true },
		{ "seq=1", 0, true },
		{ "", 0, false },
	};
	for (size_t i = 0; i < sizeof torn_table / sizeof torn_table[0]; i++) {
		write_str(j, torn_table[i].text);
		c->n = 0;
		torn = !torn_table[i].torn;
		enum rc rc = journal_read(d, collect, c, &torn, err, sizeof err);
		CHECK(rc == RC_OK, "torn %zu: rc %d %s", i, rc, err);
		CHECK(c->n == torn_table[i].n, "torn %zu: %d records", i, c->n);
		CHECK(torn == torn_table[i].torn, "torn %zu: torn %d", i, torn);
	}
	c->n = 0;
	CHECK(journal_read(d, collect, c, NULL, err, sizeof err) == RC_OK,
	      "torn may be NULL");

	/* A key from a newer prepd is ignored. */
	write_str(j, GOOD(1) "seq=2 received=- source=- size=0 sha256=- verdict=x "
		  "kind=- cut=- cut_time=- published=- file=- cdn=\"purged 3\" reason=-\n");
	c->n = 0;
	enum rc rc = journal_read(d, collect, c, &torn, err, sizeof err);
	CHECK(rc == RC_OK && c->n == 2, "unknown key: rc %d %s", rc, err);

	/* Anything else malformed stops the read at its line. */
	static char longline[JOURNAL_MAX_LINE + 100];
	memset(longline, 'a', sizeof longline - 1);
	memcpy(longline, "seq=2 reason=", 13);
	static char longsource[512];
	snprintf(longsource, sizeof longsource, "seq=2 received=- source=%0300d size=0 "
		 "sha256=- verdict=x kind=- cut=- cut_time=- published=- file=- reason=-", 0);
#define REST " source=- size=0 sha256=- verdict=x kind=- cut=- cut_time=- published=- file=-"
	const char *bad[] = {
		"garbage",
		"",
		"seq=abc received=-" REST " reason=-",
		"seq=-1 received=-" REST " reason=-",
		"seq=18446744073709551616 received=-" REST " reason=-",
		"seq=2 received=-" REST,                       /* reason missing */
		"seq=2 received=-" REST " reason=- seq=3",     /* seq twice */
		"seq=2 received=-" REST " reason=\"unterminated",
		"seq=2 received=-" REST " reason=\"bad \\q escape\"",
		"seq=2 received=-" REST " reason=\"short \\x4\"",
		"seq=2 received=-" REST " reason=\"nul \\x00\"",
		"seq=2 received=-" REST " reason=\"a\"b",
		"seq=2 received=-" REST " reason=bare\"quote",
		"seq=2 received=-" REST " reason=bare\\slash",
		"seq=2 received=-" REST " reason=a=b",
		"seq=2 received=-" REST " reason=\"\"",
		"seq=2 received=-" REST " reason=",
		"seq=2 received=-" REST " reason=\"raw\x01" "control\"",
		"seq=2 received=-" REST " reason=\"bad \xff utf8\"",
		"seq=2 received=-" REST " reason=-\r",
		"seq=2 received=-" REST " reason=- ",
		"seq=2 received=-" REST "  reason=-",
		" seq=2 received=-" REST " reason=-",
		"SEQ=2 received=-" REST " reason=-",
		"seq=2 received=2026-13-01T00:00:00Z" REST " reason=-",
		"seq=2 received=2026-02-30T00:00:00Z" REST " reason=-",
		"seq=2 received=2026-11-22 16:00:00Z" REST " reason=-",
		"seq=2 received=2026-11-22T16:00:00" REST " reason=-",
		"seq=2 received=1969-12-31T23:59:59Z" REST " reason=-",
		"seq=2 received=-" REST " reason=- sha256=XYZ",
		"seq=2 received=- source=- size=0 sha256=ABCDEF0123456789ABCDEF0123456789"
		"ABCDEF0123456789ABCDEF0123456789 verdict=x kind=- cut=- cut_time=- "
		"published=- file=- reason=-",
		longsource,
		longline,
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t blen = strlen(bad[i]);
		char *text = malloc(2 * sizeof GOOD(1) + blen + 2);
		strcpy(text, GOOD(1));
		strcat(text, bad[i]);
		strcat(text, "\n");
		strcat(text, GOOD(3));
		write_str(j, text);
		free(text);
		c->n = 0;
		err[0] = '\0';
		rc = journal_read(d, collect, c, &torn, err, sizeof err);
		CHECK(rc == RC_FORMAT, "bad %zu: rc %d for '%.60s'", i, rc, bad[i]);
		CHECK(strstr(err, "journal.log:2: "), "bad %zu: err '%s'", i, err);
		CHECK(c->n == 1, "bad %zu: %d records before the bad line", i, c->n);
	}
	/* A raw NUL byte in a line. */
	{
		char text[2 * sizeof GOOD(1) + 16];
		size_t g = strlen(GOOD(1));
		memcpy(text, GOOD(1), g);
		memcpy(text + g, "seq=\0\n", 6);
		write_file(j, text, g + 6, 0644);
		c->n = 0;
		rc = journal_read(d, collect, c, &torn, err, sizeof err);
		CHECK(rc == RC_FORMAT && strstr(err, "journal.log:2: "), "NUL: rc %d %s", rc, err);
	}

	/* store_open cuts a torn tail off, so the next append starts on a
	 * line of its own. */
	write_str(j, GOOD(1) "seq=2 recei");
	struct store *s;
	if (store_open(d, &s, err, sizeof err) == RC_OK) {
		struct journal_rec r = { .seq = 2, .received = T0 };
		strcpy(r.verdict, "published");
		rc = journal_append(s, &r, err, sizeof err);
		CHECK(rc == RC_OK, "append after a torn line: %s", err);
		c->n = 0;
		rc = journal_read(d, collect, c, &torn, err, sizeof err);
		CHECK(rc == RC_OK && c->n == 2 && !torn && c->recs[1].seq == 2,
		      "torn tail repaired: rc %d n %d torn %d %s", rc, c->n, torn, err);
		store_close(s);
	} else {
		CHECK(0, "open with a torn journal: %s", err);
	}

	/* A malformed journal is not silently ignored by store_next_seq. */
	write_str(j, GOOD(1) "garbage\n");
	if (store_open(d, &s, err, sizeof err) == RC_OK) {
		uint64_t next;
		rc = store_next_seq(s, &next, err, sizeof err);
		CHECK(rc == RC_FORMAT && strstr(err, "journal.log:2: "),
		      "next seq of a bad journal: rc %d %s", rc, err);
		store_close(s);
	}
	free(c);
	free(j);
	free(d);
}

/* ---- sequence numbers and space ---- */

static void test_seq_and_space(void)
{
	char *d = new_data_dir("seq");
	char err[512], kept[300];
	struct store *s;
	if (store_open(d, &s, err, sizeof err)) {
		CHECK(0, "open: %s", err);
		free(d);
		return;
	}
	uint64_t next = 0;
	CHECK(store_next_seq(s, &next, err, sizeof err) == RC_OK && next == 1,
	      "empty: %" PRIu64, next);
	struct journal_rec r = { .seq = 5, .received = T0 };
	journal_append(s, &r, err, sizeof err);
	CHECK(store_next_seq(s, &next, err, sizeof err) == RC_OK && next == 6,
	      "journal seq 5: %" PRIu64, next);

	char *a = strdup(pathf("%s/spool-a", root));
	char buf[2345];
	memset(buf, 'x', sizeof buf);
	write_file(a, buf, 1000, 0644);
	/* A crash between keep and append leaves a file without a line. */
	CHECK(store_keep(s, 9, "a.zip", a, false, kept, sizeof kept, err, sizeof err) == RC_OK,
	      "keep: %s", err);
	CHECK(store_next_seq(s, &next, err, sizeof err) == RC_OK && next == 10,
	      "history file 9 without a line: %" PRIu64, next);
	write_file(a, buf, 2345, 0644);
	CHECK(store_keep(s, 12, "a.zip", a, true, kept, sizeof kept, err, sizeof err) == RC_OK,
	      "keep: %s", err);
	CHECK(store_next_seq(s, &next, err, sizeof err) == RC_OK && next == 13,
	      "quarantine file 12: %" PRIu64, next);
	/* Files prepd did not name do not count. */
	write_str(pathf("%s/history/notes.txt", d), "n");
	write_str(pathf("%s/history/777", d), "n");
	write_str(pathf("%s/history/99999999999999999999999-x.zip", d), "n");
	write_str(pathf("%s/tmp/500-x.zip", d), "n");
	mkdir(pathf("%s/history/600-dir", d), 0750);
	CHECK(store_next_seq(s, &next, err, sizeof err) == RC_OK && next == 13,
	      "strangers ignored: %" PRIu64, next);
	r.seq = 20;
	journal_append(s, &r, err, sizeof err);
	CHECK(store_next_seq(s, &next, err, sizeof err) == RC_OK && next == 21,
	      "journal seq 20: %" PRIu64, next);

	uint64_t used = store_used_bytes(s);
	CHECK(used == 1000 + 2345 + 3, "used bytes %" PRIu64, used);
	uint64_t free_b = 0, total = 0;
	CHECK(store_free_bytes(s, &free_b, &total) == RC_OK && total > 0 && free_b <= total,
	      "free %" PRIu64 " of %" PRIu64, free_b, total);
	store_close(s);
	free(a);
	free(d);
}

/* ---- claiming arrivals ---- */

static void test_claim(void)
{
	char *d = new_data_dir("claim");
	char err[512], kept[300];
	struct store *s;
	if (store_open(d, &s, err, sizeof err)) {
		CHECK(0, "open: %s", err);
		free(d);
		return;
	}
	struct stat sb;
	CHECK(stat(pathf("%s/incoming", d), &sb) == 0 && S_ISDIR(sb.st_mode), "DATA/incoming is made");

	/* Names: distinct, ordered by arrival, parsed back. */
	char a[NAME_MAX + 1], b[NAME_MAX + 1], tag[STORE_CLAIM_TAG_BYTES + 1];
	const char *name;
	CHECK(store_claim_name("spool", "PREP_AYUN_JAL.zip", a, sizeof a) == RC_OK &&
	      store_claim_name("spool", "PREP_AYUN_JAL.zip", b, sizeof b) == RC_OK, "names made");
	CHECK(strcmp(a, b) < 0, "two claims of one name differ and sort by arrival: %s %s", a, b);
	CHECK(!strncmp(a, STORE_CLAIM_PREFIX, strlen(STORE_CLAIM_PREFIX)), "prefixed: %s", a);
	CHECK(store_claim_parse(a, tag, sizeof tag, &name) && !strcmp(tag, "spool") &&
	      !strcmp(name, "PREP_AYUN_JAL.zip"), "parsed back: %s %s", tag, name);
	CHECK(store_claim_name("Spool", "x", a, sizeof a) == RC_INVALID &&
	      store_claim_name("", "x", a, sizeof a) == RC_INVALID &&
	      store_claim_name("waytoolongtag", "x", a, sizeof a) == RC_INVALID, "bad tags refused");
	CHECK(!store_claim_parse("prepd-123-spool-x", tag, sizeof tag, &name) &&
	      !store_claim_parse("000001-x.zip", tag, sizeof tag, &name) &&
	      !store_claim_parse("prepd-00000000000000000001-spool-", tag, sizeof tag, &name),
	      "names prepd did not make are not parsed");
	CHECK(store_claim_name("spool", "a\nb c=\"d\\.zip", a, sizeof a) == RC_OK &&
	      store_claim_parse(a, tag, sizeof tag, &name) && !strcmp(name, "a_b_c__d_.zip"),
	      "control bytes, spaces, quotes, '=' and '\\' are made '_': %s", name);
	char longname[300];
	memset(longname, 'n', 250);
	strcpy(longname + 250, ".tar.gz");
	CHECK(store_claim_name("upload", longname, a, sizeof a) == RC_OK && strlen(a) + 8 <= NAME_MAX &&
	      !strcmp(a + strlen(a) - 7, ".tar.gz"), "a long name is cut, keeping its extension, "
	      "with room for an evidence suffix: %zu", strlen(a));
	CHECK(store_claim_name("upload", "x", a, 20) == RC_INVALID, "a small buffer is refused");

	/* Claims: rename from a folder, never follow, never replace. */
	char *sp = strdup(pathf("%s/spool-claim", root));
	mkdir(sp, 0755);
	int sfd = open(sp, O_RDONLY | O_DIRECTORY), ifd = store_incoming_fd(s);
	write_str(pathf("%s/P.zip", sp), "first");
	bool copied = true;
	CHECK(store_claim_name("spool", "P.zip", a, sizeof a) == RC_OK &&
	      store_claim(sfd, "P.zip", ifd, a, &copied, err, sizeof err) == RC_OK && !copied,
	      "a claim renames: %s", err);
	CHECK(access(pathf("%s/P.zip", sp), F_OK) != 0 && access(pathf("%s/incoming/%s", d, a), F_OK) == 0,
	      "the file moved into DATA/incoming");
	write_str(pathf("%s/P.zip", sp), "second");
	CHECK(store_claim(sfd, "P.zip", ifd, a, &copied, err, sizeof err) == RC_IO && errno == EEXIST,
	      "a claim never replaces: %s", err);
	size_t len;
	char *got = read_all(pathf("%s/incoming/%s", d, a), &len);
	CHECK(got && !strcmp(got, "first"), "the first claim is intact");
	free(got);
	CHECK(store_claim(sfd, "gone.zip", ifd, "prepd-x", &copied, err, sizeof err) == RC_NOTFOUND,
	      "a file gone is RC_NOTFOUND");
	write_file(pathf("%s/secret", root), "SECRET", 6, 0600);
	CHECK(symlink(pathf("%s/secret", root), pathf("%s/L.zip", sp)) == 0, "symlink");
	CHECK(store_claim(sfd, "L.zip", ifd, "prepd-l", &copied, err, sizeof err) == RC_REFUSED &&
	      strstr(err, "not a regular file"), "a symbolic link is refused: %s", err);
	CHECK(access(pathf("%s/L.zip", sp), F_OK) == 0 && access(pathf("%s/incoming/prepd-l", d), F_OK) != 0,
	      "and left where it is, not moved");
	CHECK(mkfifo(pathf("%s/F.zip", sp), 0644) == 0 &&
	      store_claim(sfd, "F.zip", ifd, "prepd-f", &copied, err, sizeof err) == RC_REFUSED,
	      "a FIFO is refused without opening it");
	/* A file with a second name elsewhere is copied, so whoever holds the
	 * other name cannot change what prepd keeps. */
	write_str(pathf("%s/H.zip", sp), "linked");
	CHECK(link(pathf("%s/H.zip", sp), pathf("%s/H-outside", root)) == 0, "hard link");
	CHECK(store_claim(sfd, "H.zip", ifd, "prepd-h", &copied, err, sizeof err) == RC_OK && copied,
	      "a hard-linked file is claimed by copy: %s", err);
	struct stat hs, os;
	CHECK(stat(pathf("%s/incoming/prepd-h", d), &hs) == 0 && stat(pathf("%s/H-outside", root), &os) == 0 &&
	      hs.st_ino != os.st_ino && hs.st_nlink == 1 && access(pathf("%s/H.zip", sp), F_OK) != 0,
	      "the claimed copy is a file of its own, and the spool name is gone");
	unlink(pathf("%s/incoming/prepd-h", d));
	unlink(pathf("%s/H-outside", root));

	/* store_keep renames out of DATA/incoming, and refuses a link there. */
	CHECK(store_keep(s, 1, "P.zip", pathf("%s/incoming/%s", d, a), false, kept, sizeof kept,
			 err, sizeof err) == RC_OK && !strcmp(kept, "history/000001-P.zip"), "kept: %s", err);
	CHECK(access(pathf("%s/incoming/%s", d, a), F_OK) != 0, "kept by rename: gone from DATA/incoming");
	CHECK(symlink(pathf("%s/secret", root), pathf("%s/incoming/prepd-link", d)) == 0, "symlink");
	CHECK(store_keep(s, 2, "L.zip", pathf("%s/incoming/prepd-link", d), true, kept, sizeof kept,
			 err, sizeof err) != RC_OK && access(pathf("%s/quarantine/000002-L.zip", d), F_OK) != 0,
	      "a link in DATA/incoming is never followed into the history: %s", err);
	close(sfd);
	free(sp);
	store_close(s);
	free(d);
}

/* ---- a full disk ---- */

static void test_disk_full(void)
{
	char *mnt = strdup(pathf("%s/small", root));
	mkdir(mnt, 0750);
	/* A 64 KiB tmpfs needs mount privileges; without them the test says
	 * why and counts nothing. */
	if (mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k") != 0) {
		printf("skip: disk-full test: cannot mount a 64 KiB tmpfs on %s (%s)\n",
		       mnt, strerror(errno));
		free(mnt);
		return;
	}
	char *d = strdup(pathf("%s/data", mnt));
	mkdir(d, 0750);
	char err[512] = "", kept[300];
	struct store *s;
	if (store_open(d, &s, err, sizeof err)) {
		CHECK(0, "open on tmpfs: %s", err);
		goto out;
	}
	size_t big = 256 * 1024;
	unsigned char *data = malloc(big);
	for (size_t i = 0; i < big; i++)
		data[i] = (unsigned char)(i * 7);
	char *src = strdup(pathf("%s/spool/big.zip", root));
	write_file(src, data, big, 0644);
	enum rc rc = store_keep(s, 1, "big.zip", src, false, kept, sizeof kept,
				err, sizeof err);
	CHECK(rc == RC_IO && strstr(err, "disk full"), "full disk: rc %d %s", rc, err);
	CHECK(same_bytes(src, data, big), "source survives a full disk");
	CHECK(entries(pathf("%s/tmp", d)) == 0, "temp file removed");
	CHECK(entries(pathf("%s/history", d)) == 0, "nothing kept");
	/* The failure was the space: a small package still fits. */
	char *small = strdup(pathf("%s/spool/small.zip", root));
	write_file(small, data, 1000, 0644);
	rc = store_keep(s, 2, "small.zip", small, false, kept, sizeof kept, err, sizeof err);
	CHECK(rc == RC_OK, "small keep on tmpfs: %s", err);

	/* Fill the disk, then append: "disk full", and no fragment left. */
	int fd = open(pathf("%s/filler", mnt), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	while (fd >= 0 && write(fd, data, 4096) > 0)
		;
	if (fd >= 0)
		close(fd);
	struct journal_rec r = { .seq = 1, .received = T0 };
	strcpy(r.reason, "a reason long enough to need a page of its own");
	rc = journal_append(s, &r, err, sizeof err);
	CHECK(rc == RC_IO && strstr(err, "disk full"), "journal on a full disk: rc %d %s",
	      rc, err);
	struct collect *c = calloc(1, sizeof *c);
	bool torn = true;
	rc = journal_read(d, collect, c, &torn, err, sizeof err);
	CHECK(rc == RC_OK && c->n == 0 && !torn, "journal clean after a full disk: "
	      "rc %d n %d torn %d", rc, c->n, torn);
	free(c);
	store_close(s);
	free(data);
	free(src);
	free(small);
out:
	if (umount(mnt) != 0)
		fprintf(stderr, "umount %s: %s\n", mnt, strerror(errno));
	free(d);
	free(mnt);
}

int main(void)
{
	umask(022);
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 2;
	}
	test_open();
	test_keep();
	test_names();
	test_journal_roundtrip();
	test_journal_damage();
	test_seq_and_space();
	test_claim();
	test_disk_full();
	rm_rf(root);
	return check_done();
}
