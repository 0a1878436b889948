#include "ingest/zipscan.h"
#include "server/limits.h"
#include "server/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* APPNOTE 4.3.16: the end record is 22 bytes and a comment of up to
 * 65535. */
#define EOCD_BYTES 22u
#define LOCATOR_BYTES 20u
#define EOCD64_MIN 56u
#define CENTRAL_BYTES 46u
#define LOCAL_BYTES 30u

/* General purpose bits (APPNOTE 4.4.4) */
#define GP_ENCRYPTED   0x0001u
#define GP_DESCRIPTOR  0x0008u
#define GP_STRONG      0x0040u
#define GP_UTF8        0x0800u
#define GP_MASKED      0x2000u
/* The bits whose disagreement changes how an entry is read. */
#define GP_COMPARED (GP_ENCRYPTED | GP_DESCRIPTOR | GP_STRONG | GP_UTF8 | GP_MASKED)

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* One header's view of an entry, central or local. */
struct view {
	const unsigned char *name;
	size_t name_len;
	const unsigned char *uname;   /* Info-ZIP Unicode Path, or NULL */
	size_t uname_len;
	uint16_t flags, method;
	uint32_t crc;
	uint64_t csize, usize, off;
	bool zip64;
};

/* Reads the extra fields of one header: ZIP64 (0x0001) values for the
 * fields that are all ones, in APPNOTE 4.5.3's order, and the Unicode Path
 * (0x7075) as libarchive 3.6.2 takes it (when the CRC-32 of the header's
 * name matches). central: the offset may be in the ZIP64 field too.
 * Returns a phrase for a malformed field, or NULL. */
static const char *extras(const unsigned char *x, size_t len, struct view *v, bool central)
{
	size_t at = 0;
	bool seen64 = false;
	while (at < len) {
		if (len - at < 4)
			return "its extra field ends inside a field header";
		uint16_t id = le16(x + at), n = le16(x + at + 2);
		const unsigned char *d = x + at + 4;
		if (n > len - at - 4)
			return "an extra field runs past the end of the extra data";
		if (id == 0x0001) {
			if (seen64)
				return "it has two ZIP64 extra fields";
			seen64 = true;
			v->zip64 = true;
			size_t k = 0;
			if (v->usize == 0xffffffffu) {
				if (n < k + 8)
					return "its ZIP64 field lacks the uncompressed size";
				v->usize = le64(d + k);
				k += 8;
			}
			if (v->csize == 0xffffffffu) {
				if (n < k + 8)
					return "its ZIP64 field lacks the compressed size";
				v->csize = le64(d + k);
				k += 8;
			}
			if (central && v->off == 0xffffffffu) {
				if (n < k + 8)
					return "its ZIP64 field lacks the local header offset";
				v->off = le64(d + k);
				k += 8;
			}
			if (v->usize > INT64_MAX || v->csize > INT64_MAX || v->off > INT64_MAX)
				return "a ZIP64 size or offset is out of range";
		} else if (id == 0x7075 && n >= 5) {
			if (le32(d + 1) == (uint32_t)crc32(0, v->name, (uInt)v->name_len) &&
			    utf8_valid(d + 5, n - 5u)) {
				v->uname = d + 5;
				v->uname_len = n - 5u;
			}
		}
		at += 4u + n;
	}
	return NULL;
}

struct scan {
	zipscan_read_fn rd;
	void *ctx;
	uint64_t size;
	struct scan_error *err;
};

static enum rc rd(struct scan *s, void *buf, size_t n, uint64_t off, const char *what)
{
	if (off > s->size || n > s->size - off)
		return scan_fail(s->err, RC_FORMAT, NULL, 0, "the zip is truncated: %s lies past "
				 "its end", what);
	enum rc rc = s->rd(s->ctx, buf, n, off);
	if (rc == RC_IO)
		return scan_fail(s->err, rc, NULL, 0, "cannot read the package: %s", strerror(errno));
	if (rc)
		return scan_fail(s->err, rc, NULL, 0, "the zip is truncated: %s lies past its end",
				 what);
	return RC_OK;
}

/* Finds the end of central directory the way libarchive 3.6.2 does (the
 * last signature in the last 16 KiB) and insists it is the one that ends
 * the file, comment included: anything else is bytes some reader takes
 * and another does not. */
static enum rc find_end(struct scan *s, uint64_t *eocd, unsigned char rec[EOCD_BYTES])
{
	if (s->size < EOCD_BYTES)
		return scan_fail(s->err, RC_FORMAT, NULL, 0, "the zip is truncated: it is %llu bytes "
				 "and has no end of central directory record (cut short in transfer?)",
				 (unsigned long long)s->size);
	size_t tail = s->size < ZIP_EOCD_SEARCH_BYTES ? (size_t)s->size : ZIP_EOCD_SEARCH_BYTES;
	unsigned char *t = malloc(tail);
	if (!t)
		return RC_NOMEM;
	enum rc rc = rd(s, t, tail, s->size - tail, "the end record");
	if (rc) {
		free(t);
		return rc;
	}
	size_t i = tail - EOCD_BYTES + 1;
	bool found = false;
	while (i-- > 0)
		if (!memcmp(t + i, "PK\5\6", 4)) {
			found = true;
			break;
		}
	if (!found) {
		free(t);
		return scan_fail(s->err, RC_FORMAT, NULL, 0, "the zip is truncated: it has no end of "
				 "central directory record, so it was cut before or inside its "
				 "central directory (cut short in transfer?)");
	}
	memcpy(rec, t + i, EOCD_BYTES);
	free(t);
	*eocd = s->size - tail + i;
	uint64_t end = *eocd + EOCD_BYTES + le16(rec + 20);
	if (end < s->size)
		return scan_fail(s->err, RC_FORMAT, NULL, 0, "%llu bytes after the end of the zip "
				 "(its end record and comment end before the file does)",
				 (unsigned long long)(s->size - end));
	if (end > s->size)
		return scan_fail(s->err, RC_FORMAT, NULL, 0, "the zip's end record says its comment "
				 "runs %llu bytes past the end of the file: truncated, or an end "
				 "record inside a comment", (unsigned long long)(end - s->size));
	return RC_OK;
}

/* What a central record says, kept until the local pass. */
struct central {
	struct view v;
};

static int by_offset(const void *a, const void *b)
{
	const struct central *x = a, *y = b;
	return x->v.off < y->v.off ? -1 : x->v.off > y->v.off;
}

void zipscan_release(struct zipscan *z)
{
	for (size_t i = 0; z->v && i < z->n; i++)
		free(z->v[i].name);
	free(z->v);
	z->v = NULL;
	z->n = 0;
}

/* Checks one entry's local header (and data descriptor) against its central
 * record c, given where the next entry (or the central directory) starts. */
static enum rc check_local(struct scan *s, const struct central *c, uint64_t next,
			   struct zipscan_entry *ze, uint64_t *end)
{
	const struct view *cv = &c->v;
	const void *nm = cv->uname ? cv->uname : cv->name;
	size_t nl = cv->uname ? cv->uname_len : cv->name_len;
	unsigned char h[LOCAL_BYTES];
	if (cv->off + LOCAL_BYTES > next)
		return scan_fail(s->err, RC_FORMAT, nm, nl, "its local header (at byte %llu) does "
				 "not fit before the next entry or the central directory",
				 (unsigned long long)cv->off);
	enum rc rc = rd(s, h, LOCAL_BYTES, cv->off, "a local header");
	if (rc)
		return rc;
	if (memcmp(h, "PK\3\4", 4))
		return scan_fail(s->err, RC_FORMAT, nm, nl, "the central directory points at byte "
				 "%llu, where there is no local header", (unsigned long long)cv->off);
	struct view lv = { .flags = le16(h + 6), .method = le16(h + 8), .crc = le32(h + 14),
			   .csize = le32(h + 18), .usize = le32(h + 22) };
	size_t n = le16(h + 26), m = le16(h + 28);
	uint64_t data = cv->off + LOCAL_BYTES + n + m;
	if (data > next)
		return scan_fail(s->err, RC_FORMAT, nm, nl, "its local header's name and extra "
				 "field run into the next entry or the central directory");
	unsigned char *var = malloc(n + m + 1);
	if (!var)
		return RC_NOMEM;
	rc = rd(s, var, n + m, cv->off + LOCAL_BYTES, "a local header");
	if (rc)
		goto out;
	lv.name = var;
	lv.name_len = n;
	const char *bad = extras(var + n, m, &lv, false);
	if (bad) {
		rc = scan_fail(s->err, RC_FORMAT, nm, nl, "in its local header, %s", bad);
		goto out;
	}
	if (n != cv->name_len || memcmp(var, cv->name, n)) {
		char other[300];
		scan_escape(var, n, other, sizeof other);
		rc = scan_fail(s->err, RC_FORMAT, cv->name, cv->name_len, "the central directory "
			       "and the local header disagree on the name: the local header says "
			       "'%s' (zip tools would show one, libarchive read the other)", other);
		goto out;
	}
	if ((lv.uname != NULL) != (cv->uname != NULL) ||
	    (lv.uname && (lv.uname_len != cv->uname_len ||
			  memcmp(lv.uname, cv->uname, lv.uname_len)))) {
		rc = scan_fail(s->err, RC_FORMAT, nm, nl, "the central directory and the local "
			       "header disagree on its Unicode Path (0x7075) name");
		goto out;
	}
	if (memchr(var, '\0', n)) {
		rc = scan_fail(s->err, RC_REFUSED, var, n, "the name holds a NUL byte: readers "
			       "would cut it short there");
		goto out;
	}
	if ((lv.flags ^ cv->flags) & (GP_ENCRYPTED | GP_STRONG)) {
		rc = scan_fail(s->err, RC_REFUSED, nm, nl, "the encrypted flag is set in only one "
			       "of its two headers (%s)", lv.flags & (GP_ENCRYPTED | GP_STRONG) ?
			       "the local one" : "the central directory");
		goto out;
	}
	if ((lv.flags ^ cv->flags) & GP_COMPARED) {
		rc = scan_fail(s->err, RC_FORMAT, nm, nl, "the central directory and the local "
			       "header disagree on its flags (0x%04x and 0x%04x)", cv->flags,
			       lv.flags);
		goto out;
	}
	if (lv.method != cv->method) {
		rc = scan_fail(s->err, RC_FORMAT, nm, nl, "the central directory and the local "
			       "header disagree on its compression method (%u and %u)", cv->method,
			       lv.method);
		goto out;
	}
	uint64_t dend = data + cv->csize;
	if (dend > next || dend < data) {
		rc = scan_fail(s->err, RC_FORMAT, nm, nl, "its %llu bytes of data run into the next "
			       "entry or the central directory: entries overlap",
			       (unsigned long long)cv->csize);
		goto out;
	}
	if (!(cv->flags & GP_DESCRIPTOR)) {
		if (lv.crc != cv->crc || lv.csize != cv->csize || lv.usize != cv->usize) {
			rc = scan_fail(s->err, RC_FORMAT, nm, nl, "the central directory and the local "
				       "header disagree on its %s (%llu and %llu)",
				       lv.crc != cv->crc ? "CRC-32" : lv.csize != cv->csize ?
				       "compressed size" : "size",
				       (unsigned long long)(lv.crc != cv->crc ? cv->crc : lv.csize !=
							    cv->csize ? cv->csize : cv->usize),
				       (unsigned long long)(lv.crc != cv->crc ? lv.crc : lv.csize !=
							    cv->csize ? lv.csize : lv.usize));
			goto out;
		}
		*end = dend;
	} else {
		/* APPNOTE 4.3.9: the local values are zero and the real ones
		 * follow the data; libarchive takes a non-zero local value
		 * as a claim, so it must agree too. */
		if ((lv.crc && lv.crc != cv->crc) || (lv.csize && lv.csize != cv->csize) ||
		    (lv.usize && lv.usize != cv->usize)) {
			rc = scan_fail(s->err, RC_FORMAT, nm, nl, "the local header's CRC-32 or sizes "
				       "disagree with the central directory");
			goto out;
		}
		unsigned char d[24];
		uint64_t room = next - dend;
		size_t sig = 0;
		if (room >= 4) {
			rc = rd(s, d, 4, dend, "a data descriptor");
			if (rc)
				goto out;
			sig = memcmp(d, "PK\7\10", 4) ? 0 : 4;
		}
		/* 32-bit sizes, or 64-bit ones (ZIP64): the one that reaches
		 * exactly to the next entry; a gap or an overlap is refused
		 * below either way. */
		size_t len = room == sig + 20 ? 20 : 12;
		if (room < sig + len) {
			rc = scan_fail(s->err, RC_FORMAT, nm, nl, "its data descriptor does not fit "
				       "before the next entry or the central directory");
			goto out;
		}
		rc = rd(s, d, len, dend + sig, "a data descriptor");
		if (rc)
			goto out;
		uint32_t dcrc = le32(d);
		uint64_t dcs = len == 20 ? le64(d + 4) : le32(d + 4);
		uint64_t dus = len == 20 ? le64(d + 12) : le32(d + 8);
		if (dcrc != cv->crc || dcs != cv->csize || dus != cv->usize) {
			rc = scan_fail(s->err, RC_FORMAT, nm, nl, "its data descriptor disagrees with "
				       "the central directory (%s %llu, central directory %llu)",
				       dcrc != cv->crc ? "CRC-32" : dcs != cv->csize ?
				       "compressed size" : "size",
				       (unsigned long long)(dcrc != cv->crc ? dcrc : dcs != cv->csize ?
							    dcs : dus),
				       (unsigned long long)(dcrc != cv->crc ? cv->crc : dcs !=
							    cv->csize ? cv->csize : cv->usize));
			goto out;
		}
		*end = dend + sig + len;
	}
	if (cv->method == 0 && cv->csize != cv->usize) {
		rc = scan_fail(s->err, RC_FORMAT, nm, nl, "it is stored (not compressed) but its "
			       "sizes differ (%llu and %llu)", (unsigned long long)cv->csize,
			       (unsigned long long)cv->usize);
		goto out;
	}
	ze->dos = h[5] == 0;
	ze->data_off = data;
	ze->csize = cv->csize;
	ze->method = cv->method;
	ze->crc = cv->crc;
	rc = RC_OK;
out:
	free(var);
	return rc;
}

enum rc zipscan_run(zipscan_read_fn rdfn, void *ctx, uint64_t size,
		    uint64_t max_entries, struct zipscan *out,
		    struct scan_error *err)
{
	memset(out, 0, sizeof *out);
	memset(err, 0, sizeof *err);
	struct scan s = { rdfn, ctx, size, err };
	if (size == 0)
		return scan_fail(err, RC_FORMAT, NULL, 0, "the package is empty (0 bytes)");
	uint64_t eocd = 0;
	unsigned char e[EOCD_BYTES] = { 0 };
	enum rc rc = find_end(&s, &eocd, e);
	if (rc)
		return rc;
	uint64_t count = le16(e + 10), count_disk = le16(e + 8);
	uint64_t cd_size = le32(e + 12), cd_off = le32(e + 16);
	unsigned disk = le16(e + 4), cd_disk = le16(e + 6);
	uint64_t cd_end = eocd;   /* where the central directory must end */
	unsigned char loc[LOCATOR_BYTES] = { 0 };
	if (eocd >= LOCATOR_BYTES) {
		rc = rd(&s, loc, LOCATOR_BYTES, eocd - LOCATOR_BYTES, "the ZIP64 locator");
		if (rc)
			return rc;
	}
	if (eocd >= LOCATOR_BYTES && !memcmp(loc, "PK\6\7", 4)) {
		/* ZIP64 (APPNOTE 4.3.14-15): libarchive uses it whenever the
		 * locator is there, so this scan does too. */
		uint64_t at = le64(loc + 8);
		if (le32(loc + 4) != 0 || le32(loc + 16) != 1)
			return scan_fail(err, RC_FORMAT, NULL, 0, "the zip is split over several "
					 "disks; prepd reads single-file zips");
		unsigned char r[EOCD64_MIN];
		if (at > eocd - LOCATOR_BYTES || eocd - LOCATOR_BYTES - at < EOCD64_MIN)
			return scan_fail(err, RC_FORMAT, NULL, 0, "the ZIP64 locator points outside "
					 "the zip");
		rc = rd(&s, r, EOCD64_MIN, at, "the ZIP64 end record");
		if (rc)
			return rc;
		if (memcmp(r, "PK\6\6", 4) || at + 12 + le64(r + 4) != eocd - LOCATOR_BYTES)
			return scan_fail(err, RC_FORMAT, NULL, 0, "the ZIP64 end record is not where "
					 "its locator says, or not the size it says");
		disk = le32(r + 16);
		cd_disk = le32(r + 20);
		count_disk = le64(r + 24);
		count = le64(r + 32);
		cd_size = le64(r + 40);
		cd_off = le64(r + 48);
		cd_end = at;
	} else if (count == 0xffff || count_disk == 0xffff || cd_size == 0xffffffffu ||
		   cd_off == 0xffffffffu) {
		return scan_fail(err, RC_FORMAT, NULL, 0, "the zip's end record defers to a ZIP64 "
				 "record that is not there: truncated or damaged");
	}
	if (disk || cd_disk || count != count_disk)
		return scan_fail(err, RC_FORMAT, NULL, 0, "the zip is split over several disks; "
				 "prepd reads single-file zips");
	if (count > max_entries)
		return scan_fail(err, RC_LIMIT, NULL, 0, "too many entries (the zip's end record "
				 "says %llu, more than max_entries)", (unsigned long long)count);
	if (cd_size > ZIP_MAX_CD_BYTES)
		return scan_fail(err, RC_LIMIT, NULL, 0, "the zip's central directory is %llu "
				 "bytes, more than ZIP_MAX_CD_BYTES", (unsigned long long)cd_size);
	if (cd_off > cd_end || cd_size > cd_end - cd_off)
		return scan_fail(err, RC_FORMAT, NULL, 0, "the zip's central directory (%llu bytes at "
				 "%llu) runs past its end record: the zip is truncated or damaged",
				 (unsigned long long)cd_size, (unsigned long long)cd_off);
	if (cd_off + cd_size != cd_end)
		return scan_fail(err, RC_FORMAT, NULL, 0, "%llu bytes between the zip's central "
				 "directory and its end record",
				 (unsigned long long)(cd_end - cd_off - cd_size));

	unsigned char *cd = malloc(cd_size ? cd_size : 1);
	struct central *cv = calloc(count ? count : 1, sizeof *cv);
	out->v = calloc(count ? count : 1, sizeof *out->v);
	if (!cd || !cv || !out->v) {
		rc = RC_NOMEM;
		goto out;
	}
	rc = rd(&s, cd, cd_size, cd_off, "the central directory");
	if (rc)
		goto out;
	size_t at = 0, k = 0;
	while (at < cd_size) {
		if (cd_size - at < CENTRAL_BYTES || memcmp(cd + at, "PK\1\2", 4)) {
			rc = scan_fail(err, RC_FORMAT, NULL, 0, "the zip's central directory is damaged "
				       "after %zu records", k);
			goto out;
		}
		const unsigned char *p = cd + at;
		size_t n = le16(p + 28), m = le16(p + 30), c = le16(p + 32);
		if (CENTRAL_BYTES + n + m + c > cd_size - at) {
			rc = scan_fail(err, RC_FORMAT, p + CENTRAL_BYTES, 0, "the zip's central "
				       "directory is damaged: record %zu runs past its end", k + 1);
			goto out;
		}
		if (k == count) {
			rc = scan_fail(err, RC_FORMAT, NULL, 0, "the zip's end record says %llu "
				       "entries, but its central directory holds more",
				       (unsigned long long)count);
			goto out;
		}
		struct view *v = &cv[k].v;
		*v = (struct view){ .name = p + CENTRAL_BYTES, .name_len = n, .flags = le16(p + 8),
				    .method = le16(p + 10), .crc = le32(p + 16),
				    .csize = le32(p + 20), .usize = le32(p + 24),
				    .off = le32(p + 42) };
		const char *bad = extras(p + CENTRAL_BYTES + n, m, v, true);
		if (bad) {
			rc = scan_fail(err, RC_FORMAT, v->name, n, "in the central directory, %s", bad);
			goto out;
		}
		if (n == 0) {
			rc = scan_fail(err, RC_REFUSED, NULL, 0, "central record %zu has an empty name",
				       k + 1);
			goto out;
		}
		if (memchr(v->name, '\0', n) || (v->uname && memchr(v->uname, '\0', v->uname_len))) {
			rc = scan_fail(err, RC_REFUSED, v->name, n, "the name holds a NUL byte: "
				       "readers would cut it short there");
			goto out;
		}
		if (le16(p + 34) != 0 && le16(p + 34) != 0xffff) {
			rc = scan_fail(err, RC_FORMAT, v->name, n, "the entry starts on another disk");
			goto out;
		}
		at += CENTRAL_BYTES + n + m + c;
		k++;
	}
	if (k != count) {
		rc = scan_fail(err, RC_FORMAT, NULL, 0, "the zip's end record says %llu entries, its "
			       "central directory holds %zu", (unsigned long long)count, k);
		goto out;
	}
	/* libarchive reads entries in local-header order: sort by it. */
	struct central *sorted = malloc((k ? k : 1) * sizeof *sorted);
	if (!sorted) {
		rc = RC_NOMEM;
		goto out;
	}
	memcpy(sorted, cv, k * sizeof *cv);
	qsort(sorted, k, sizeof *sorted, by_offset);
	free(cv);
	cv = sorted;
	for (size_t i = 0; i < k; i++) {
		struct zipscan_entry *ze = &out->v[i];
		const struct view *v = &cv[i].v;
		ze->local_off = v->off;
		ze->size = v->usize;
		ze->utf8 = (v->flags & GP_UTF8) || v->uname;
		const unsigned char *nm = v->uname ? v->uname : v->name;
		size_t nl = v->uname ? v->uname_len : v->name_len;
		ze->name = malloc(nl + 1);
		if (!ze->name) {
			rc = RC_NOMEM;
			goto out;
		}
		memcpy(ze->name, nm, nl);
		ze->name[nl] = '\0';
		ze->name_len = nl;
		out->n = i + 1;
	}
	uint64_t expect = 0;   /* where the next entry must start */
	for (size_t i = 0; i < k; i++) {
		const struct view *v = &cv[i].v;
		const void *nm = out->v[i].name;
		size_t nl = out->v[i].name_len;
		if (v->off != expect) {
			if (i == 0)
				rc = scan_fail(err, RC_FORMAT, nm, nl, "%llu bytes before the first entry "
					       "(prepended data that some readers take as part of the "
					       "zip)", (unsigned long long)v->off);
			else if (v->off < expect)
				rc = scan_fail(err, RC_FORMAT, nm, nl, "its bytes overlap those of the "
					       "entry before it: overlapping entries");
			else
				rc = scan_fail(err, RC_FORMAT, nm, nl, "%llu bytes before this entry that "
					       "the central directory does not describe (a hidden local "
					       "header some readers would see)",
					       (unsigned long long)(v->off - expect));
			goto out;
		}
		if (i + 1 < k && cv[i + 1].v.off == v->off) {
			char first[300];
			scan_escape(nm, nl, first, sizeof first);
			rc = scan_fail(err, RC_FORMAT, out->v[i + 1].name, out->v[i + 1].name_len,
				       "two central records ('%s' and this one) point at one local "
				       "header: overlapping entries", first);
			goto out;
		}
		uint64_t next = i + 1 < k ? cv[i + 1].v.off : cd_off;
		if (next > cd_off)
			next = cd_off;
		if (v->off > next) {
			rc = scan_fail(err, RC_FORMAT, nm, nl, "its local header offset (%llu) points "
				       "past the central directory", (unsigned long long)v->off);
			goto out;
		}
		rc = check_local(&s, &cv[i], next, &out->v[i], &expect);
		if (rc)
			goto out;
		/* after check_local, which says when only one header has it */
		if (v->flags & (GP_ENCRYPTED | GP_STRONG)) {
			rc = scan_fail(err, RC_REFUSED, nm, nl, "entry is encrypted");
			goto out;
		}
	}
	if (expect != cd_off) {
		rc = scan_fail(err, RC_FORMAT, k ? out->v[k - 1].name : NULL,
			       k ? out->v[k - 1].name_len : 0, "%llu bytes between the last entry "
			       "and the central directory that the directory does not describe",
			       (unsigned long long)(cd_off - expect));
		goto out;
	}
	rc = RC_OK;
out:
	free(cd);
	free(cv);
	if (rc)
		zipscan_release(out);
	return rc;
}

struct memsrc {
	const unsigned char *p;
	size_t len;
};

static enum rc mem_read(void *ctx, void *buf, size_t n, uint64_t off)
{
	const struct memsrc *m = ctx;
	if (off > m->len || n > m->len - off)
		return RC_FORMAT;
	memcpy(buf, m->p + off, n);
	return RC_OK;
}

static enum rc fd_read(void *ctx, void *buf, size_t n, uint64_t off)
{
	int fd = *(int *)ctx;
	unsigned char *p = buf;
	while (n) {
		ssize_t got = pread(fd, p, n, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return RC_IO;
		if (got == 0)
			return RC_FORMAT;   /* shorter than it was: truncated meanwhile */
		p += got;
		n -= (size_t)got;
		off += (uint64_t)got;
	}
	return RC_OK;
}

enum rc zipscan_fd(int fd, uint64_t size, uint64_t max_entries,
		   struct zipscan *out, struct scan_error *err)
{
	return zipscan_run(fd_read, &fd, size, max_entries, out, err);
}

enum rc zipscan_mem(const void *buf, size_t len, uint64_t max_entries,
		    struct zipscan *out, struct scan_error *err)
{
	struct memsrc m = { buf, len };
	return zipscan_run(mem_read, &m, len, max_entries, out, err);
}
