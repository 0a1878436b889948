#include "ingest/tarscan.h"
#include "server/limits.h"
#include "server/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 512u

enum tar_state {
	TAR_HEADER,    /* the next block is a header (or the end marker) */
	TAR_DATA,      /* skipping an entry's data and padding */
	TAR_COLLECT,   /* reading a pax or GNU long-name header's data */
	TAR_END1,      /* one zero block seen */
	TAR_END,       /* the end marker seen: only zero blocks may follow */
};

struct tarscan {
	enum tar_state state;
	bool failed;
	struct scan_error err;
	unsigned char block[BLOCK];
	size_t fill;
	uint64_t blocks;          /* headers seen */
	uint64_t skip;            /* TAR_DATA: bytes left, padding included */

	/* TAR_COLLECT */
	char type;                /* 'x', 'g', 'L' or 'K' */
	char *buf;
	size_t len, want;         /* collected, and the header's size */
	uint64_t pad;             /* padding after it */

	/* what the extension headers before an entry said */
	bool have_pax, have_long;
	uint64_t pax_size;        /* UINT64_MAX: none */
	char *pending_name;       /* a pax path or GNU long name, or NULL */
	size_t pending_len;

	char last[PATH_BUF_BYTES];   /* the last entry's name, for messages */
};

struct tarscan *tarscan_new(void)
{
	struct tarscan *t = calloc(1, sizeof *t);
	if (t)
		t->pax_size = UINT64_MAX;
	return t;
}

void tarscan_free(struct tarscan *t)
{
	if (!t)
		return;
	free(t->buf);
	free(t->pending_name);
	free(t);
}

static bool refuse(struct tarscan *t, enum rc rc, const void *entry, size_t elen,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static bool refuse(struct tarscan *t, enum rc rc, const void *entry, size_t elen,
		   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	t->err.rc = rc;
	scan_escape(entry, elen, t->err.entry, sizeof t->err.entry);
	vsnprintf(t->err.reason, sizeof t->err.reason, fmt, ap);
	va_end(ap);
	t->failed = true;
	return false;
}

/* The fault is around the last entry seen: name it, or say it is the
 * first. */
static bool refuse_after(struct tarscan *t, enum rc rc, const char *what)
{
	if (t->last[0])
		return refuse(t, rc, t->last, strlen(t->last), "%s (in the header after this "
			      "entry)", what);
	return refuse(t, rc, NULL, 0, "%s (in the first header)", what);
}

bool tarscan_number(const unsigned char *f, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	if (len && (f[0] & 0x80)) {
		/* base-256, big-endian, the first byte's top bit a flag; 0xff
		 * marks a negative number. */
		if (f[0] == 0xff)
			return false;
		v = f[0] & 0x7f;
		for (size_t i = 1; i < len; i++) {
			if (v >> 55)
				return false;
			v = v << 8 | f[i];
		}
		if (v > INT64_MAX)
			return false;
		*out = v;
		return true;
	}
	size_t i = 0;
	while (i < len && f[i] == ' ')
		i++;
	size_t digits = 0;
	for (; i < len && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
		if (v >> 60)
			return false;
		v = v << 3 | (uint64_t)(f[i] - '0');
	}
	if (!digits)
		return false;
	/* then a space or NUL terminator, and nothing but those after it */
	for (; i < len; i++)
		if (f[i] != ' ' && f[i] != '\0')
			return false;
	*out = v;
	return true;
}

static bool all_zero(const unsigned char *b)
{
	for (size_t i = 0; i < BLOCK; i++)
		if (b[i])
			return false;
	return true;
}

static bool plain_decimal(const char *v, size_t n)
{
	if (n == 0 || n > 19)
		return false;
	for (size_t i = 0; i < n; i++)
		if (v[i] < '0' || v[i] > '9')
			return false;
	return true;
}

/* POSIX pax times: an optional '-', digits, optionally '.' and digits. */
static bool pax_time(const char *v, size_t n)
{
	size_t i = 0;
	if (i < n && v[i] == '-')
		i++;
	size_t int_digits = 0;
	while (i < n && v[i] >= '0' && v[i] <= '9')
		i++, int_digits++;
	if (!int_digits || int_digits > 19)
		return false;
	if (i == n)
		return true;
	if (v[i++] != '.')
		return false;
	size_t frac = 0;
	while (i < n && v[i] >= '0' && v[i] <= '9')
		i++, frac++;
	return frac > 0 && i == n;
}

static bool key_is(const char *k, size_t klen, const char *want)
{
	return klen == strlen(want) && !memcmp(k, want, klen);
}

enum rc tarscan_pax(const char *buf, size_t len, bool global, uint64_t *size,
		    const char **path, size_t *path_len, struct scan_error *err)
{
	*size = UINT64_MAX;
	*path = NULL;
	*path_len = 0;
	const char *hdr = global ? "a global pax header" : "a pax extended header";
	size_t at = 0;
	unsigned rec = 0;
	while (at < len) {
		rec++;
		const char *r = buf + at;
		size_t left = len - at, i = 0;
		uint64_t n = 0;
		while (i < left && r[i] >= '0' && r[i] <= '9' && i < 20)
			n = n * 10 + (uint64_t)(r[i++] - '0');
		if (i == 0 || i == 20 || i >= left || r[i] != ' ' || (r[0] == '0' && i > 1))
			return scan_fail(err, RC_FORMAT, *path, *path_len, "%s's record %u does not "
					 "start with its length and a space (LEN key=value and a newline)",
					 hdr, rec);
		if (n > left || n < i + 4)
			return scan_fail(err, RC_FORMAT, *path, *path_len, "%s's record %u says it "
					 "is %llu bytes, but %zu are left", hdr, rec,
					 (unsigned long long)n, left);
		if (r[n - 1] != '\n')
			return scan_fail(err, RC_FORMAT, *path, *path_len, "%s's record %u does not "
					 "end with a newline where its length says it ends", hdr, rec);
		const char *k = r + i + 1, *end = r + n - 1;
		const char *eq = memchr(k, '=', (size_t)(end - k));
		if (!eq || eq == k)
			return scan_fail(err, RC_FORMAT, *path, *path_len, "%s's record %u has no "
					 "key=value", hdr, rec);
		size_t klen = (size_t)(eq - k);
		const char *v = eq + 1;
		size_t vlen = (size_t)(end - v);
		if (memchr(k, '\0', klen))
			return scan_fail(err, RC_FORMAT, *path, *path_len, "%s's record %u has a NUL "
					 "byte in its key", hdr, rec);
		char key[64];
		scan_escape(k, klen, key, sizeof key);
		if (key_is(k, klen, "size") || key_is(k, klen, "uid") || key_is(k, klen, "gid")) {
			if (!plain_decimal(v, vlen))
				return scan_fail(err, RC_FORMAT, *path, *path_len, "%s's %s is not a plain "
						 "decimal number (readers disagree on what it means)",
						 hdr, key);
			if (key_is(k, klen, "size")) {
				uint64_t s = 0;
				for (size_t j = 0; j < vlen; j++)
					s = s * 10 + (uint64_t)(v[j] - '0');
				if (s > INT64_MAX)
					return scan_fail(err, RC_FORMAT, *path, *path_len, "%s's size is "
							 "too large", hdr);
				*size = s;
			}
		} else if (key_is(k, klen, "mtime") || key_is(k, klen, "atime") ||
			   key_is(k, klen, "ctime")) {
			if (!pax_time(v, vlen))
				return scan_fail(err, RC_FORMAT, *path, *path_len, "%s's %s is not a "
						 "decimal time (seconds, optionally with a fraction)",
						 hdr, key);
		} else if (key_is(k, klen, "path") || key_is(k, klen, "linkpath")) {
			if (memchr(v, '\0', vlen))
				return scan_fail(err, RC_REFUSED, v, vlen, "%s's %s has a NUL byte: "
						 "readers would cut the name short there", hdr, key);
			if (key_is(k, klen, "path")) {
				*path = v;
				*path_len = vlen;
			}
		} else if (klen >= 11 && !memcmp(k, "GNU.sparse.", 11)) {
			return scan_fail(err, RC_REFUSED, *path, *path_len, "%s describes a sparse "
					 "file (%s): a package holds plain files", hdr, key);
		}
		if (global && (key_is(k, klen, "size") || key_is(k, klen, "path") ||
			       key_is(k, klen, "linkpath")))
			return scan_fail(err, RC_FORMAT, *path, *path_len, "%s sets %s for every "
					 "entry after it: libarchive ignores it and other tools apply it",
					 hdr, key);
		at += (size_t)n;
	}
	return RC_OK;
}

/* The name an ustar header gives: prefix "/" name, each NUL-ended or full
 * length (prefix only in POSIX ustar; GNU uses those bytes otherwise). */
static size_t header_name(const unsigned char *b, bool posix, char *out, size_t outsz)
{
	size_t o = 0;
	if (posix && b[345]) {
		size_t pl = strnlen((const char *)b + 345, 155);
		memcpy(out, b + 345, pl);
		o = pl;
		out[o++] = '/';
	}
	size_t nl = strnlen((const char *)b, 100);
	memcpy(out + o, b, nl);
	o += nl;
	out[o] = '\0';
	(void)outsz;
	return o;
}

static bool end_collect(struct tarscan *t);

static bool start_collect(struct tarscan *t, char type, uint64_t size)
{
	uint64_t cap = (type == 'x' || type == 'g') ? TAR_MAX_PAX_BYTES : TAR_MAX_LONGNAME_BYTES;
	if (size > cap)
		return refuse_after(t, RC_LIMIT, type == 'x' || type == 'g' ?
				    "a pax extended header is larger than TAR_MAX_PAX_BYTES" :
				    "a GNU long name is larger than TAR_MAX_LONGNAME_BYTES");
	free(t->buf);
	t->buf = malloc(size + 1);
	if (!t->buf)
		return refuse(t, RC_NOMEM, NULL, 0, "out of memory");
	t->type = type;
	t->len = 0;
	t->want = (size_t)size;
	t->pad = (BLOCK - size % BLOCK) % BLOCK;
	t->state = TAR_COLLECT;
	return size ? true : end_collect(t);
}

/* A pax or long-name header's data is complete. */
static bool end_collect(struct tarscan *t)
{
	if (t->type == 'x' || t->type == 'g') {
		uint64_t size;
		const char *path;
		size_t plen;
		struct scan_error e = { 0 };
		enum rc rc = tarscan_pax(t->buf, t->len, t->type == 'g', &size, &path, &plen, &e);
		if (rc) {
			t->err = e;
			if (!e.entry[0] && t->last[0])
				scan_escape(t->last, strlen(t->last), t->err.entry, sizeof t->err.entry);
			t->failed = true;
			return false;
		}
		if (t->type == 'x') {
			t->pax_size = size;
			if (path) {
				free(t->pending_name);
				t->pending_name = malloc(plen + 1);
				if (!t->pending_name)
					return refuse(t, RC_NOMEM, NULL, 0, "out of memory");
				memcpy(t->pending_name, path, plen);
				t->pending_name[plen] = '\0';
				t->pending_len = plen;
			}
		}
	} else if (t->type == 'L') {
		/* GNU: the name, NUL-terminated, is the data. */
		size_t nl = strnlen(t->buf, t->len);
		if (nl + 1 < t->len)
			for (size_t i = nl; i < t->len; i++)
				if (t->buf[i])
					return refuse(t, RC_REFUSED, t->buf, t->len, "a GNU long name has "
						      "a NUL byte inside it: readers would cut it short");
		if (!t->pending_name) {
			t->pending_name = malloc(nl + 1);
			if (!t->pending_name)
				return refuse(t, RC_NOMEM, NULL, 0, "out of memory");
			memcpy(t->pending_name, t->buf, nl);
			t->pending_name[nl] = '\0';
			t->pending_len = nl;
		}
	}
	t->state = t->pad ? TAR_DATA : TAR_HEADER;
	t->skip = t->pad;
	return true;
}

static bool header(struct tarscan *t, const unsigned char *b)
{
	if (all_zero(b)) {
		if (t->have_pax || t->have_long)
			return refuse_after(t, RC_FORMAT, "an extended header is followed by the end "
					    "of the archive, not by its entry");
		t->state = TAR_END1;
		return true;
	}
	uint64_t sum;
	if (!tarscan_number(b + 148, 8, &sum))
		return refuse_after(t, RC_FORMAT, "a block where a tar header belongs has no valid "
				    "checksum: the archive is damaged");
	uint64_t u = 0;
	int64_t s = 0;
	for (size_t i = 0; i < BLOCK; i++) {
		unsigned char c = (i >= 148 && i < 156) ? ' ' : b[i];
		u += c;
		s += (signed char)c;
	}
	/* POSIX sums unsigned bytes; some old tars summed signed ones, and
	 * libarchive and GNU tar accept both. */
	if (sum != u && (int64_t)sum != s)
		return refuse_after(t, RC_FORMAT, "a tar header's checksum is wrong: the archive is "
				    "damaged");
	bool posix = !memcmp(b + 257, "ustar\0" "00", 8);
	bool gnu = !memcmp(b + 257, "ustar  \0", 8);
	bool v7 = b[257] == 0;   /* pre-POSIX: no magic at all */
	if (!posix && !gnu && !v7)
		return refuse_after(t, RC_FORMAT, "a tar header has an unknown magic (neither POSIX "
				    "ustar nor GNU tar)");
	char type = (char)b[156];
	char name[PATH_BUF_BYTES];
	size_t nlen = header_name(b, posix, name, sizeof name);
	const char *ename = t->pending_name ? t->pending_name : name;
	size_t elen = t->pending_name ? t->pending_len : nlen;

	uint64_t size;
	if (!tarscan_number(b + 124, 12, &size))
		return refuse(t, RC_FORMAT, ename, elen, "the tar header's size field is not an "
			      "octal or base-256 number");
	if (t->pax_size != UINT64_MAX && type != 'x' && type != 'g' && type != 'L' && type != 'K')
		size = t->pax_size;

	t->blocks++;
	switch (type) {
	case 'x':
	case 'g':
	case 'L':
	case 'K':
		if (type == 'x' && t->have_pax)
			return refuse(t, RC_FORMAT, ename, elen, "two pax extended headers in a row "
				      "for one entry");
		if (type == 'L' && t->have_long)
			return refuse(t, RC_FORMAT, ename, elen, "two GNU long names in a row "
				      "for one entry");
		if (type == 'x')
			t->have_pax = true;
		if (type == 'L')
			t->have_long = true;
		return start_collect(t, type, size);
	case '0':
	case '\0':
	case '7':
		break;
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
	case '6':
		if (size)
			return refuse(t, RC_FORMAT, ename, elen, "a tar entry of type '%c' (not a "
				      "regular file) has a size of %llu bytes: readers disagree on "
				      "whether data follows", type, (unsigned long long)size);
		break;
	default:
		if (type >= 0x20 && type < 0x7f)
			return refuse(t, RC_REFUSED, ename, elen, "tar entry type '%c' is not one "
				      "prepd accepts (a sparse or vendor-specific entry)", type);
		return refuse(t, RC_REFUSED, ename, elen, "tar entry type 0x%02x is not one "
			      "prepd accepts", (unsigned char)type);
	}
	if (elen >= sizeof t->last)
		elen = sizeof t->last - 1;
	memcpy(t->last, ename, elen);
	t->last[elen] = '\0';
	free(t->pending_name);
	t->pending_name = NULL;
	t->pending_len = 0;
	t->have_pax = t->have_long = false;
	t->pax_size = UINT64_MAX;
	t->skip = size + (BLOCK - size % BLOCK) % BLOCK;
	t->state = t->skip ? TAR_DATA : TAR_HEADER;
	return true;
}

bool tarscan_feed(struct tarscan *t, const void *buf, size_t n)
{
	const unsigned char *p = buf;
	if (t->failed)
		return false;
	while (n) {
		if (t->state == TAR_DATA) {
			size_t take = t->skip < n ? (size_t)t->skip : n;
			t->skip -= take;
			p += take;
			n -= take;
			if (!t->skip) {
				t->state = TAR_HEADER;
				t->fill = 0;
			}
			continue;
		}
		if (t->state == TAR_COLLECT) {
			size_t take = t->want - t->len < n ? t->want - t->len : n;
			memcpy(t->buf + t->len, p, take);
			t->len += take;
			p += take;
			n -= take;
			if (t->len == t->want && !end_collect(t))
				return false;
			continue;
		}
		size_t take = BLOCK - t->fill < n ? BLOCK - t->fill : n;
		memcpy(t->block + t->fill, p, take);
		t->fill += take;
		p += take;
		n -= take;
		if (t->fill < BLOCK)
			continue;
		t->fill = 0;
		if (t->state == TAR_HEADER) {
			if (!header(t, t->block))
				return false;
		} else if (t->state == TAR_END1) {
			t->blocks++;
			if (!all_zero(t->block))
				return refuse_after(t, RC_FORMAT, "a single zero block, then more "
						    "headers: libarchive stops at the zero block, other "
						    "tools read on");
			t->state = TAR_END;
		} else if (!all_zero(t->block)) {
			return refuse_after(t, RC_FORMAT, "data after the end-of-archive marker "
					    "(two zero blocks) that some tools would read as more "
					    "entries");
		}
	}
	return true;
}

enum rc tarscan_finish(struct tarscan *t, struct scan_error *err)
{
	if (!t->failed) {
		const char *e = t->last;
		size_t el = strlen(t->last);
		if (t->fill && t->state != TAR_DATA && t->state != TAR_COLLECT)
			refuse(t, RC_FORMAT, e, el, "the tar is truncated: it ends inside a 512-byte "
			       "block");
		else if (t->state == TAR_DATA || t->state == TAR_COLLECT)
			refuse(t, RC_FORMAT, e, el, "the tar is truncated inside this entry's data "
			       "(cut short in transfer?)");
		else if (t->state == TAR_HEADER && !t->blocks)
			refuse(t, RC_FORMAT, NULL, 0, "the tar holds nothing, not even its "
			       "end-of-archive marker");
		else if (t->state == TAR_HEADER)
			refuse(t, RC_FORMAT, e, el, "the tar has no end-of-archive marker (two zero "
			       "blocks) after this entry: it is truncated (cut short in transfer?)");
		else if (t->state == TAR_END1)
			refuse(t, RC_FORMAT, e, el, "the tar ends after one zero block; its "
			       "end-of-archive marker is two: it is truncated");
	}
	if (!t->failed)
		return RC_OK;
	*err = t->err;
	return t->err.rc;
}
