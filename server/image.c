#include "server/image.h"

#include "server/entry.h"
#include "server/limits.h"
#include "server/mime.h"
#include "server/snap_int.h"
#include "server/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define HDR_BYTES 512u
#define HDR_SIGNED 480u        /* the header's SHA-256 covers [0, 480) */
#define REC_FIXED 108u         /* a table record without its path */
#define ENDIAN_MARK 0x01020304u

enum { GZ_PENDING = 0, GZ_NONE = 1, GZ_PRESENT = 2 };

struct hdr {
	char magic[8];             /* "PREPDIMG" */
	uint32_t version, endian;
	uint64_t seq;
	char sha_hex[64];
	char label[64];
	uint64_t nfiles, table_off, table_len, data_off, data_len, file_size;
	unsigned char table_sha[SHA256_BYTES];
};

void image_path(const char *data_dir, uint64_t seq, char *out, size_t outsz)
{
	if ((size_t)snprintf(out, outsz, "%s/images/cut-%llu.img", data_dir,
			     (unsigned long long)seq) >= outsz && outsz)
		out[0] = '\0';
}

static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static uint64_t get64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static void hdr_pack(const struct hdr *h, unsigned char out[HDR_BYTES])
{
	memset(out, 0, HDR_BYTES);
	memcpy(out, h->magic, 8);
	memcpy(out + 8, &h->version, 4);
	memcpy(out + 12, &h->endian, 4);
	put64(out + 16, h->seq);
	memcpy(out + 24, h->sha_hex, 64);
	memcpy(out + 88, h->label, 64);
	put64(out + 152, h->nfiles);
	put64(out + 160, h->table_off);
	put64(out + 168, h->table_len);
	put64(out + 176, h->data_off);
	put64(out + 184, h->data_len);
	put64(out + 192, h->file_size);
	memcpy(out + 200, h->table_sha, SHA256_BYTES);
	sha256(out, HDR_SIGNED, out + HDR_SIGNED);
}

static void hdr_unpack(const unsigned char in[HDR_BYTES], struct hdr *h)
{
	memcpy(h->magic, in, 8);
	memcpy(&h->version, in + 8, 4);
	memcpy(&h->endian, in + 12, 4);
	h->seq = get64(in + 16);
	memcpy(h->sha_hex, in + 24, 64);
	memcpy(h->label, in + 88, 64);
	h->nfiles = get64(in + 152);
	h->table_off = get64(in + 160);
	h->table_len = get64(in + 168);
	h->data_off = get64(in + 176);
	h->data_len = get64(in + 184);
	h->file_size = get64(in + 192);
	memcpy(h->table_sha, in + 200, SHA256_BYTES);
}

/* ---- writing ---- */

static enum rc fail_io(char *err, size_t errsz, const char *what, const char *path)
{
	snprintf(err, errsz, "%s %s: %s", what, path, strerror(errno));
	return RC_IO;
}

static bool write_all(FILE *f, const void *p, size_t n)
{
	return fwrite(p, 1, n, f) == n;
}

/* Removes every cut-*.img but keep, and tmp-*.img left by a crash. */
static void remove_others(const char *dir, const char *keep)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		bool img = !strncmp(de->d_name, "cut-", 4) || !strncmp(de->d_name, "tmp-", 4);
		size_t n = strlen(de->d_name);
		if (!img || n < 5 || strcmp(de->d_name + n - 4, ".img") || !strcmp(de->d_name, keep))
			continue;
		unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

enum rc image_write(const char *data_dir, const struct snap *s, uint64_t seq,
		    const char *sha_hex, char *err, size_t errsz)
{
	char dir[PATH_BUF_LONG_BYTES], tmp[PATH_BUF_LONG_BYTES + 32], final[PATH_BUF_LONG_BYTES];
	if ((size_t)snprintf(dir, sizeof dir, "%s/images", data_dir) >= sizeof dir) {
		snprintf(err, errsz, "the data folder's name is too long");
		return RC_INVALID;
	}
	if (mkdir(dir, 0750) != 0 && errno != EEXIST)
		return fail_io(err, errsz, "cannot create", dir);
	if ((size_t)snprintf(tmp, sizeof tmp, "%s/tmp-%llu.img", dir, (unsigned long long)seq) >=
	    sizeof tmp) {
		snprintf(err, errsz, "the data folder's name is too long");
		return RC_INVALID;
	}
	image_path(data_dir, seq, final, sizeof final);

	/* The table first, in memory: its SHA-256 goes in the header. */
	struct hdr h = { .version = IMAGE_VERSION, .endian = ENDIAN_MARK, .seq = seq,
			 .nfiles = s->nslots, .table_off = HDR_BYTES };
	memcpy(h.magic, "PREPDIMG", 8);
	memcpy(h.sha_hex, sha_hex, strnlen(sha_hex, 64));
	snprintf(h.label, sizeof h.label, "%s", s->cut.label);
	size_t tlen = 0;
	for (size_t i = 0; i < s->nslots; i++)
		tlen += REC_FIXED + strlen(s->slots[i].path);
	unsigned char *table = malloc(tlen ? tlen : 1);
	if (!table) {
		snprintf(err, errsz, "out of memory for the path table");
		return RC_NOMEM;
	}
	uint64_t off = 0;
	unsigned char *p = table;
	for (size_t i = 0; i < s->nslots; i++) {
		const struct entry *e = s->slots[i].e;
		const struct entry_gz *g = entry_variant(e);
		unsigned char gsha[SHA256_BYTES] = { 0 };
		size_t pl = strlen(s->slots[i].path);
		put64(p, off);
		put64(p + 8, e->len);
		off += e->len;
		put64(p + 16, g ? off : 0);
		put64(p + 24, g ? g->len : 0);
		if (g) {
			sha256(g->data, g->len, gsha);
			off += g->len;
		}
		put64(p + 32, (uint64_t)e->mtime);
		memcpy(p + 40, e->sha, SHA256_BYTES);
		memcpy(p + 72, gsha, SHA256_BYTES);
		p[104] = g ? GZ_PRESENT : entry_variant_pending(e) ? GZ_PENDING : GZ_NONE;
		p[105] = 0;
		uint16_t pl16 = (uint16_t)pl;
		memcpy(p + 106, &pl16, 2);
		memcpy(p + REC_FIXED, s->slots[i].path, pl);
		p += REC_FIXED + pl;
	}
	h.table_len = tlen;
	h.data_off = HDR_BYTES + tlen;
	h.data_len = off;
	h.file_size = h.data_off + off;
	sha256(table, tlen, h.table_sha);
	unsigned char hb[HDR_BYTES];
	hdr_pack(&h, hb);

	/* A cache must never take the room the history needs: write only
	 * when as much again stays free afterwards. */
	struct statvfs vfs;
	if (statvfs(dir, &vfs) == 0 &&
	    (uint64_t)vfs.f_bavail * vfs.f_frsize < 2 * h.file_size + IMAGE_MIN_FREE_BYTES) {
		snprintf(err, errsz, "not enough free space for a %llu-byte image (%llu bytes free; "
			 "it needs twice its size and %llu more left free)",
			 (unsigned long long)h.file_size,
			 (unsigned long long)vfs.f_bavail * vfs.f_frsize,
			 (unsigned long long)IMAGE_MIN_FREE_BYTES);
		free(table);
		return RC_LIMIT;
	}
	enum rc rc = RC_OK;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		rc = fail_io(err, errsz, "cannot create", tmp);
		if (fd >= 0)
			close(fd);
		free(table);
		return rc;
	}
	bool ok = write_all(f, hb, sizeof hb) && write_all(f, table, tlen);
	for (size_t i = 0; ok && i < s->nslots; i++) {
		const struct entry *e = s->slots[i].e;
		const struct entry_gz *g = entry_variant(e);
		ok = write_all(f, e->data, e->len) && (!g || write_all(f, g->data, g->len));
	}
	free(table);
	/* No fdatasync: a cache need not be durable (a torn image fails its
	 * checks and is rebuilt), and syncing 1 GB would compete with the
	 * history's fsync of the next package. */
	if (!ok || fflush(f) != 0) {
		rc = fail_io(err, errsz, "cannot write", tmp);
		fclose(f);
		unlink(tmp);
		return rc;
	}
	if (fclose(f) != 0) {
		rc = fail_io(err, errsz, "cannot write", tmp);
		unlink(tmp);
		return rc;
	}
	if (rename(tmp, final) != 0) {
		rc = fail_io(err, errsz, "cannot rename", tmp);
		unlink(tmp);
		return rc;
	}
	remove_others(dir, strrchr(final, '/') + 1);
	return RC_OK;
}

/* ---- loading ---- */

struct image_map {
	struct entry_backing b;    /* first: entries release through it */
	_Atomic long refs;
	void *base;
	size_t len;
};

static void map_release(struct entry_backing *b)
{
	struct image_map *m = (struct image_map *)b;
	if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) {
		munmap(m->base, m->len);
		free(m);
	}
}

static struct snap *bad(enum rc *rcp, enum rc rc, char *why, size_t whysz, const char *fmt,
			...) __attribute__((format(printf, 5, 6)));
static struct snap *bad(enum rc *rcp, enum rc rc, char *why, size_t whysz, const char *fmt,
			...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, whysz, fmt, ap);
	va_end(ap);
	*rcp = rc;
	return NULL;
}

struct snap *image_load(const char *data_dir, uint64_t seq, const char *sha_hex,
			const struct cut *cut, const struct policy *policy,
			enum rc *rcp, char *why, size_t whysz)
{
	char path[PATH_BUF_LONG_BYTES];
	image_path(data_dir, seq, path, sizeof path);
	why[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return bad(rcp, errno == ENOENT ? RC_NOTFOUND : RC_IO, why, whysz, "cannot open "
			   "%s: %s", path, strerror(errno));
	struct stat st;
	unsigned char hb[HDR_BYTES], hsha[SHA256_BYTES];
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return bad(rcp, RC_FORMAT, why, whysz, "not a regular file");
	}
	if (st.st_size < (off_t)HDR_BYTES || pread(fd, hb, sizeof hb, 0) != (ssize_t)sizeof hb) {
		close(fd);
		return bad(rcp, RC_FORMAT, why, whysz, "truncated: %lld bytes, shorter than the "
			   "header", (long long)st.st_size);
	}
	struct hdr h;
	hdr_unpack(hb, &h);
	sha256(hb, HDR_SIGNED, hsha);
	const char *wrong = memcmp(h.magic, "PREPDIMG", 8) ? "not a prepd cut image" :
			    h.version != IMAGE_VERSION ? "another image version" :
			    h.endian != ENDIAN_MARK ? "written by a machine of another byte order" :
			    memcmp(hsha, hb + HDR_SIGNED, SHA256_BYTES) ? "the header's SHA-256 "
			    "does not match" :
			    h.seq != seq ? "the image of another seq" :
			    strncmp(h.sha_hex, sha_hex, 64) ? "made from other package bytes than the "
			    "journal's SHA-256" :
			    h.file_size != (uint64_t)st.st_size ? "truncated or extended: the size is "
			    "not the header's" :
			    h.table_off != HDR_BYTES || h.data_off != h.table_off + h.table_len ||
			    h.data_off + h.data_len != h.file_size ? "inconsistent sizes" :
			    h.nfiles > h.table_len / REC_FIXED ? "more files than the table holds" : NULL;
	if (wrong) {
		close(fd);
		return bad(rcp, RC_FORMAT, why, whysz, "%s", wrong);
	}
	void *base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
	close(fd);
	if (base == MAP_FAILED)
		return bad(rcp, RC_IO, why, whysz, "cannot map %s: %s", path, strerror(errno));
	struct image_map *m = calloc(1, sizeof *m);
	if (!m) {
		munmap(base, (size_t)st.st_size);
		return bad(rcp, RC_NOMEM, why, whysz, "out of memory");
	}
	m->b.release = map_release;
	atomic_init(&m->refs, 1);
	m->base = base;
	m->len = (size_t)st.st_size;
	const unsigned char *table = (const unsigned char *)base + h.table_off;
	const unsigned char *data = (const unsigned char *)base + h.data_off;
	unsigned char sha[SHA256_BYTES];
	sha256(table, h.table_len, sha);
	struct snap_builder *b = NULL;
	struct snap *s = NULL;
	if (memcmp(sha, h.table_sha, SHA256_BYTES)) {
		bad(rcp, RC_FORMAT, why, whysz, "the path table's SHA-256 does not match");
		goto out;
	}
	b = snap_builder_new(NULL, false, policy);
	if (!b) {
		bad(rcp, RC_NOMEM, why, whysz, "out of memory");
		goto out;
	}
	const unsigned char *p = table, *end = table + h.table_len;
	for (uint64_t i = 0; i < h.nfiles; i++) {
		uint16_t pl;
		if ((size_t)(end - p) < REC_FIXED || (memcpy(&pl, p + 106, 2), (size_t)(end - p) <
		    REC_FIXED + pl) || !pl || pl >= PATH_BUF_BYTES) {
			bad(rcp, RC_FORMAT, why, whysz, "record %llu runs past the table",
			    (unsigned long long)i);
			goto out;
		}
		char name[PATH_BUF_BYTES];
		memcpy(name, p + REC_FIXED, pl);
		name[pl] = '\0';
		uint64_t off = get64(p), len = get64(p + 8), goff = get64(p + 16),
			 glen = get64(p + 24);
		time_t mtime = (time_t)get64(p + 32);
		unsigned state = p[104];
		if (strlen(name) != pl || off > h.data_len || len > h.data_len - off ||
		    goff > h.data_len || glen > h.data_len - goff || state > GZ_PRESENT ||
		    (state == GZ_PRESENT) != (glen > 0)) {
			bad(rcp, RC_FORMAT, why, whysz, "record %llu (%.200s) is out of bounds",
			    (unsigned long long)i, name);
			goto out;
		}
		sha256(data + off, len, sha);
		if (memcmp(sha, p + 40, SHA256_BYTES)) {
			bad(rcp, RC_FORMAT, why, whysz, "the bytes of %.300s do not match their "
			    "SHA-256", name);
			goto out;
		}
		if (state == GZ_PRESENT) {
			sha256(data + goff, glen, sha);
			if (memcmp(sha, p + 72, SHA256_BYTES)) {
				bad(rcp, RC_FORMAT, why, whysz, "the gzip variant of %.300s does "
				    "not match its SHA-256", name);
				goto out;
			}
		}
		struct entry *e = entry_new(p + 40, mime_for_path(name), data + off, len, mtime,
					    false);
		if (!e) {
			bad(rcp, RC_NOMEM, why, whysz, "out of memory");
			goto out;
		}
		atomic_fetch_add(&m->refs, 1);
		if (entry_set_backing(e, &m->b, state == GZ_PENDING ? NULL : data + goff,
				      state == GZ_PRESENT ? glen : 0)) {
			entry_release(e);     /* it has no backing yet */
			map_release(&m->b);   /* the reference taken for it */
			bad(rcp, RC_NOMEM, why, whysz, "out of memory");
			goto out;
		}
		if (snap_builder_add_entry(b, name, e)) {   /* e released, and its reference */
			bad(rcp, RC_NOMEM, why, whysz, "out of memory");
			goto out;
		}
		p += REC_FIXED + pl;
	}
	if (p != end) {
		bad(rcp, RC_FORMAT, why, whysz, "the table has bytes after its last record");
		goto out;
	}
	s = snap_builder_finish(b, cut, NULL, rcp);
	b = NULL;
	if (!s)
		snprintf(why, whysz, "cannot build the snapshot: %s", rc_str(*rcp));
out:
	snap_builder_free(b);
	map_release(&m->b);
	if (s)
		*rcp = RC_OK;
	return s;
}
