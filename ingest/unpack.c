#include "ingest/unpack.h"
#include "ingest/scan.h"
#include "ingest/zipscan.h"
#include "server/limits.h"
#include "server/path.h"
#include "server/util.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <iconv.h>
#include <locale.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>

/* A set of the names seen so far, to refuse duplicates and a name used as
 * both a file and a directory ("a" as a file and "a/b"). Names are keyed
 * by their Unicode NFC form, so "León" written precomposed and decomposed
 * clash: a browser, a CDN or a file system may take either for the other.
 * Each slot keeps the name as written, which is the name served. */
struct name_set {
	size_t n, cap;          /* cap is a power of two */
	struct name_slot {
		char *key;          /* NFC */
		char *written;
		bool dir;
	} *v;
};

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static struct name_slot *set_find(struct name_set *s, const char *key)
{
	size_t mask = s->cap - 1;
	for (size_t i = fnv1a(key) & mask;; i = (i + 1) & mask)
		if (!s->v[i].key || !strcmp(s->v[i].key, key))
			return &s->v[i];
}

static enum rc set_grow(struct name_set *s)
{
	if (s->cap && (s->n + 1) * 2 <= s->cap)
		return RC_OK;
	struct name_set bigger = { .n = s->n, .cap = s->cap ? s->cap * 2 : 256 };
	bigger.v = calloc(bigger.cap, sizeof *bigger.v);
	if (!bigger.v)
		return RC_NOMEM;
	for (size_t i = 0; i < s->cap; i++)
		if (s->v[i].key)
			*set_find(&bigger, s->v[i].key) = s->v[i];
	free(s->v);
	*s = bigger;
	return RC_OK;
}

/* The NFC form of a valid UTF-8 name, malloc'ed; ASCII is its own. NULL
 * on RC_NOMEM (utf8proc fails only for memory on valid UTF-8). */
static char *nfc(const char *name)
{
	const unsigned char *p = (const unsigned char *)name;
	while (*p && *p < 0x80)
		p++;
	if (!*p)
		return strdup(name);
	return (char *)utf8proc_NFC((const utf8proc_uint8_t *)name);
}

/* Records name; returns RC_REFUSED if it clashes with an earlier entry
 * (*earlier then says how that one was written, borrowed from the set). A
 * directory seen twice is fine (tar writes "./" and "./dir/" entries),
 * unless written differently. *added tells whether the name is new. */
static enum rc set_add(struct name_set *s, const char *name, bool dir,
		       bool *added, const char **earlier)
{
	*added = false;
	*earlier = NULL;
	enum rc rc = set_grow(s);
	if (rc)
		return rc;
	char *key = nfc(name);
	if (!key)
		return RC_NOMEM;
	struct name_slot *slot = set_find(s, key);
	if (slot->key) {
		free(key);
		*earlier = slot->written;
		return (dir && slot->dir && !strcmp(slot->written, name)) ? RC_OK : RC_REFUSED;
	}
	slot->written = strdup(name);
	if (!slot->written) {
		free(key);
		return RC_NOMEM;
	}
	slot->key = key;
	slot->dir = dir;
	s->n++;
	*added = true;
	return RC_OK;
}

static void set_release(struct name_set *s)
{
	for (size_t i = 0; i < s->cap; i++) {
		free(s->v[i].key);
		free(s->v[i].written);
	}
	free(s->v);
	memset(s, 0, sizeof *s);
}

/* Every parent of a file is implicitly a directory. Each new one counts
 * against max_entries like a directory entry would, or a small package of
 * deep, distinct paths could fill memory with folder names. */
static enum rc add_parents(struct name_set *s, const char *path,
			   uint64_t *entries, uint64_t max_entries, const char **earlier)
{
	char buf[PATH_BUF_BYTES];
	size_t n = strlen(path);
	if (n >= sizeof buf)
		return RC_LIMIT;
	memcpy(buf, path, n + 1);
	for (size_t i = 0; i < n; i++) {
		if (buf[i] != '/')
			continue;
		buf[i] = '\0';
		bool added;
		enum rc rc = set_add(s, buf, true, &added, earlier);
		buf[i] = '/';
		if (rc)
			return rc;
		if (added && ++*entries > max_entries)
			return RC_LIMIT;
	}
	return RC_OK;
}

static enum rc fail(struct unpack_error *err, enum rc rc, const char *entry,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum rc fail(struct unpack_error *err, enum rc rc, const char *entry,
		    const char *fmt, ...)
{
	scan_escape(entry, entry ? strlen(entry) : 0, err->entry, sizeof err->entry);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->reason, sizeof err->reason, fmt, ap);
	va_end(ap);
	return rc;
}

/* Reads the first bytes of the package to tell a gzip or zip from
 * anything else before libarchive guesses. Returns 0 (neither),
 * UNPACK_TAR_GZ or UNPACK_ZIP, or -1 with errno set when it cannot be
 * read. */
static int sniff(int fd)
{
	unsigned char m[4] = { 0 };
	ssize_t n = pread(fd, m, sizeof m, 0);
	if (n < 0)
		return -1;
	if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b)
		return UNPACK_TAR_GZ;
	if (n >= 4 && m[0] == 'P' && m[1] == 'K' &&
	    ((m[2] == 3 && m[3] == 4) || (m[2] == 5 && m[3] == 6)))
		return UNPACK_ZIP;
	return 0;
}


/* ---- hashing a large body on the second core while it is read ---- */

/* One helper thread per unpack, started at its first large body: the
 * reader says how many bytes of the body are in (hasher_more()), the
 * helper hashes them meanwhile, so the SHA-256 the snapshot needs costs
 * no time after the body's last byte (about 80 ms for 100 MB otherwise).
 * The body buffer is never moved while it is hashed: read_body() stops
 * the hash first if it must grow it. */
struct hasher {
	pthread_t th;
	bool started, failed;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	const unsigned char *buf;
	size_t ready, hashed;   /* bytes in; bytes hashed */
	bool busy, end, quit;   /* a body is on; it is whole; the unpack is over */
	gnutls_hash_hd_t h;
	unsigned char sha[SHA256_BYTES];
};

static void *hasher_main(void *arg)
{
	struct hasher *hs = arg;
	pthread_mutex_lock(&hs->mu);
	for (;;) {
		while (!hs->quit && !(hs->busy && (hs->hashed < hs->ready || hs->end)))
			pthread_cond_wait(&hs->cv, &hs->mu);
		if (hs->quit)
			break;
		if (hs->hashed < hs->ready) {
			size_t from = hs->hashed, to = hs->ready;
			pthread_mutex_unlock(&hs->mu);
			/* Like util.c's sha256(): only an unknown algorithm fails. */
			if (gnutls_hash(hs->h, hs->buf + from, to - from) < 0)
				abort();
			pthread_mutex_lock(&hs->mu);
			hs->hashed = to;
			continue;
		}
		gnutls_hash_deinit(hs->h, hs->sha);
		hs->h = NULL;
		hs->busy = false;
		pthread_cond_broadcast(&hs->cv);
	}
	pthread_mutex_unlock(&hs->mu);
	return NULL;
}

/* Starts hashing a body at buf. False (hash it the usual way) when the
 * thread cannot be started. */
static bool hasher_begin(struct hasher *hs, const unsigned char *buf)
{
	if (hs->failed)
		return false;
	if (!hs->started) {
		if (pthread_mutex_init(&hs->mu, NULL))
			return !(hs->failed = true);
		if (pthread_cond_init(&hs->cv, NULL)) {
			pthread_mutex_destroy(&hs->mu);
			return !(hs->failed = true);
		}
		if (pthread_create(&hs->th, NULL, hasher_main, hs)) {
			pthread_cond_destroy(&hs->cv);
			pthread_mutex_destroy(&hs->mu);
			return !(hs->failed = true);
		}
		hs->started = true;
	}
	gnutls_hash_hd_t h;
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return false;
	pthread_mutex_lock(&hs->mu);
	hs->h = h;
	hs->buf = buf;
	hs->ready = hs->hashed = 0;
	hs->end = false;
	hs->busy = true;
	pthread_mutex_unlock(&hs->mu);
	return true;
}

static void hasher_more(struct hasher *hs, size_t ready)
{
	pthread_mutex_lock(&hs->mu);
	hs->ready = ready;
	pthread_cond_broadcast(&hs->cv);
	pthread_mutex_unlock(&hs->mu);
}

/* The body is whole (or abandoned: sha NULL): waits for the helper. */
static void hasher_end(struct hasher *hs, unsigned char *sha)
{
	pthread_mutex_lock(&hs->mu);
	hs->end = true;
	pthread_cond_broadcast(&hs->cv);
	while (hs->busy)
		pthread_cond_wait(&hs->cv, &hs->mu);
	if (sha)
		memcpy(sha, hs->sha, SHA256_BYTES);
	pthread_mutex_unlock(&hs->mu);
}

static void hasher_stop(struct hasher *hs)
{
	if (!hs->started)
		return;
	pthread_mutex_lock(&hs->mu);
	hs->quit = true;
	pthread_cond_broadcast(&hs->cv);
	pthread_mutex_unlock(&hs->mu);
	pthread_join(hs->th, NULL);
	pthread_cond_destroy(&hs->cv);
	pthread_mutex_destroy(&hs->mu);
	hs->started = false;
}

struct reader {
	struct archive *a;
	const struct unpack_limits *lim;
	struct unpack_stats *st;
	struct unpack_error *err;
	struct name_set names;
	struct zipscan zip;          /* a zip's entries, in libarchive's order */
	size_t zip_at;               /* the next of them */
	bool inflated;               /* a tar the scan inflated (unpack_tar()) */
	int fd;                      /* a zip's file, for zip_body() */
	unsigned char *zbuf;         /* zip_body()'s input, ZIP_PIECE_BYTES */
	struct inflate_state *zst;
	struct hasher hs;            /* large bodies' SHA-256, on a second thread */
	unsigned char sha[SHA256_BYTES];   /* the last body's, when have_sha */
	bool have_sha;
	const char *codepage;        /* for zip names that are not UTF-8 */
	iconv_t cd;                  /* opened at the first such name */
	char last[PATH_BUF_BYTES];   /* the last entry read, for messages */
};

/* The name a zip entry is served under: as its headers hold it (zipscan),
 * with the one change libarchive 3.6.2 and unzip both make ('\\' to '/' in
 * a name with no '/' from an MS-DOS archiver). Checks that libarchive
 * reads that entry: the same bytes, with a '/' added to a folder, or, for
 * a UTF-8 name, its NFC form (libarchive normalises UTF-8 zip names to
 * NFC when it converts them to a UTF-8 locale; unzip and Windows keep
 * them as written, and so does prepd). False if libarchive reads another
 * name. */
static bool zip_name(const struct zipscan_entry *ze, const char *got, char *out, size_t outsz)
{
	if (ze->name_len >= outsz)
		return false;
	memcpy(out, ze->name, ze->name_len + 1);
	bool valid = utf8_valid((const unsigned char *)out, ze->name_len);
	if (ze->dos && valid && !memchr(out, '/', ze->name_len))
		for (char *c = out; *c; c++)
			if (*c == '\\')
				*c = '/';
	size_t gl = strlen(got);
	if (gl == ze->name_len + 1 && got[gl - 1] == '/')
		gl--;   /* a folder */
	if (gl == ze->name_len && !memcmp(got, out, gl))
		return true;
	if (!ze->utf8 || !valid)
		return false;
	char *n = nfc(out);
	bool same = n && strlen(n) == gl && !memcmp(n, got, gl);
	free(n);
	return same;
}

/* A zip name that is not UTF-8 and not flagged as such (bit 11): written by
 * a Windows tool in the OEM code page. Decodes it from r->codepage into
 * out. RC_FORMAT when it is not valid in that code page either. */
static enum rc decode_legacy(struct reader *r, const char *name, char *out, size_t outsz)
{
	if (r->cd == (iconv_t)-1) {
		r->cd = iconv_open("UTF-8", r->codepage);
		if (r->cd == (iconv_t)-1)
			return fail(r->err, RC_FORMAT, name, "the name is not UTF-8, and the "
				    "legacy_codepage %s is not one this system can convert",
				    r->codepage);
	}
	iconv(r->cd, NULL, NULL, NULL, NULL);
	char *in = (char *)name, *o = out;
	size_t inleft = strlen(name), oleft = outsz - 1;
	if (iconv(r->cd, &in, &inleft, &o, &oleft) == (size_t)-1 ||
	    iconv(r->cd, NULL, NULL, &o, &oleft) == (size_t)-1)
		return fail(r->err, RC_FORMAT, name, "the name is neither UTF-8 nor valid in the "
			    "legacy code page %s (legacy_codepage): it cannot be converted",
			    r->codepage);
	*o = '\0';
	if (!utf8_valid((const unsigned char *)out, (size_t)(o - out)) ||
	    strlen(out) != (size_t)(o - out))
		return fail(r->err, RC_FORMAT, name, "the name decoded from %s is not a valid name",
			    r->codepage);
	return RC_OK;
}

static enum rc read_body(struct reader *r, struct archive_entry *e,
			 const char *path, void **out, size_t *outlen)
{
	const struct unpack_limits *lim = r->lim;
	uint64_t room = lim->max_total_bytes - r->st->bytes;
	uint64_t cap = lim->max_file_bytes < room ? lim->max_file_bytes : room;
	const char *which = lim->max_file_bytes < room ? "file is larger than max_file_bytes"
						      : "total unpacked size exceeds max_total_bytes";
	size_t size = 0, alloc = 64 * 1024;   /* first guess when the size is not declared */
	if (archive_entry_size_is_set(e)) {
		int64_t declared = archive_entry_size(e);
		if (declared < 0 || (uint64_t)declared > cap)
			return fail(r->err, RC_LIMIT, path, "%s", which);
		alloc = (size_t)declared + 1;
	}
	unsigned char *buf = malloc(alloc);
	if (!buf)
		return RC_NOMEM;
	/* a declared large body: hashed as it comes in */
	bool par = alloc > UNPACK_HASH_BYTES && hasher_begin(&r->hs, buf);
	enum rc rc = RC_OK;
	for (;;) {
		if (size == alloc) {
			if (par) {   /* never move what the helper reads */
				hasher_end(&r->hs, NULL);
				par = false;
			}
			if (alloc > cap) {
				rc = fail(r->err, RC_LIMIT, path, "%s", which);
				break;
			}
			size_t next = alloc * 2 > cap + 1 ? (size_t)cap + 1 : alloc * 2;
			unsigned char *nb = realloc(buf, next);
			if (!nb) {
				rc = RC_NOMEM;
				break;
			}
			buf = nb;
			alloc = next;
		}
		/* archive_read_data() fills all it is given: in pieces, so the
		 * helper hashes one while the next is read */
		size_t ask = par && alloc - size > UNPACK_HASH_BYTES ? UNPACK_HASH_BYTES
								      : alloc - size;
		la_ssize_t got = archive_read_data(r->a, buf + size, ask);
		if (got == 0)
			break;
		if (got < 0) {
			/* ARCHIVE_WARN included: it is how a bad zip CRC shows. */
			if (archive_entry_is_encrypted(e))
				rc = fail(r->err, RC_REFUSED, path, "entry is encrypted");
			else
				rc = fail(r->err, RC_FORMAT, path, "archive error: %s",
					  archive_error_string(r->a));
			break;
		}
		size += (size_t)got;
		if (size > cap) {
			rc = fail(r->err, RC_LIMIT, path, "%s", which);
			break;
		}
		if (par)
			hasher_more(&r->hs, size);
	}
	if (par) {
		hasher_end(&r->hs, rc ? NULL : r->sha);
		r->have_sha = !rc;
	}
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	*outlen = size;
	return RC_OK;
}

/* ---- a zip entry's body without libarchive's inflater ---- */

/* zip_body() reads compressed data in pieces of this size. */
#define ZIP_PIECE_BYTES (1u << 20)

/* Reads a zip entry's body from where zipscan found it (both headers
 * and the data descriptor agree on its offset, sizes, method and CRC-32)
 * and inflates it with ISA-L, about 3x libarchive's zlib, straight into
 * the body. Only stored and deflated entries, only when every check
 * passes: the bytes inflate to exactly ze->size from exactly ze->csize
 * and their CRC-32 is ze->crc. Anything else (a cap, a bad CRC, bad
 * data, another method, a read error) returns false and the caller reads
 * the entry with libarchive as before, which reports it the same way as
 * before. libarchive then skips the data it did not read (the seekable
 * zip reader seeks past it). */
bool unpack_zip_fast = true;

static bool zip_body(struct reader *r, const struct zipscan_entry *ze, uint64_t cap,
		     void **out, size_t *outlen)
{
	if (!unpack_zip_fast || (ze->method != 0 && ze->method != 8) || ze->size > cap || r->fd < 0 ||
	    (ze->method == 0 && ze->csize != ze->size))
		return false;
	if (!r->zbuf && !(r->zbuf = malloc(ZIP_PIECE_BYTES)))
		return false;
	if (ze->method == 8 && !r->zst && !(r->zst = malloc(sizeof *r->zst)))
		return false;
	unsigned char *body = malloc((size_t)ze->size + 1);
	if (!body)
		return false;
	bool par = ze->size >= UNPACK_HASH_BYTES && hasher_begin(&r->hs, body);
	struct inflate_state *st = r->zst;
	if (ze->method == 8) {
		isal_inflate_init(st);
		st->crc_flag = ISAL_DEFLATE;
		st->next_out = body;
		st->avail_out = (uint32_t)ze->size + 1;   /* one more: a longer stream shows */
		if (ze->size + 1 > UINT32_MAX)
			goto no;
	}
	uint64_t at = 0;
	bool done = false;
	while (at < ze->csize) {
		size_t want = ze->csize - at < ZIP_PIECE_BYTES ? (size_t)(ze->csize - at)
							       : ZIP_PIECE_BYTES;
		unsigned char *dst = ze->method == 0 ? body + at : r->zbuf;
		ssize_t got = pread(r->fd, dst, want, (off_t)(ze->data_off + at));
		if (got != (ssize_t)want)
			goto no;
		at += want;
		if (ze->method == 0) {
			if (par)
				hasher_more(&r->hs, (size_t)at);
			continue;
		}
		st->next_in = r->zbuf;
		st->avail_in = (uint32_t)want;
		int ir = isal_inflate(st);
		if (ir != ISAL_DECOMP_OK)
			goto no;
		if (par && st->total_out <= ze->size)
			hasher_more(&r->hs, st->total_out);
		if (st->block_state == ISAL_BLOCK_FINISH) {
			/* the stream must end with the entry's last byte */
			done = at == ze->csize && st->avail_in + st->read_in_length / 8 == 0;
			break;
		}
		if (st->avail_in)
			goto no;
	}
	if (ze->method == 8 && (!done || st->total_out != ze->size))
		goto no;
	if (crc32_gzip_refl(0, body, (size_t)ze->size) != ze->crc)
		goto no;
	if (par) {
		hasher_end(&r->hs, r->sha);
		r->have_sha = true;
	}
	*out = body;
	*outlen = (size_t)ze->size;
	return true;
no:
	if (par)
		hasher_end(&r->hs, NULL);
	free(body);
	return false;
}

static enum rc read_entries(struct reader *r, int kind, unpack_sink sink,
			    void *ctx)
{
	const struct unpack_limits *lim = r->lim;
	char norm[PATH_BUF_BYTES], decoded[PATH_BUF_BYTES], written[PATH_BUF_BYTES];
	struct archive_entry *e;
	bool first = true;
	for (;;) {
		int ar = archive_read_next_header(r->a, &e);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar != ARCHIVE_OK) {
			const char *msg = archive_error_string(r->a);
			if (first && ar == ARCHIVE_FATAL && kind == 0)
				return fail(r->err, RC_FORMAT, "", "not a .tar.gz or .zip package");
			if (ar == ARCHIVE_WARN && e && archive_entry_pathname(e))
				return fail(r->err, RC_FORMAT, archive_entry_pathname(e),
					    "archive error: %s", msg ? msg : "unreadable entry header");
			/* No name for the entry at fault ("Damaged tar archive"):
			 * name the last good one, so a person can find the spot. */
			if (r->last[0])
				return fail(r->err, RC_FORMAT, r->last, "archive error in the entry "
					    "after this one: %s", msg ? msg : "unreadable entry header");
			return fail(r->err, RC_FORMAT, "", "archive error in the first entry: %s",
				    msg ? msg : "unreadable entry header");
		}
		if (first) {
			int fmt = archive_format(r->a) & ARCHIVE_FORMAT_BASE_MASK;
			int filter = archive_filter_code(r->a, 0);
			bool targz = fmt == ARCHIVE_FORMAT_TAR &&
				     filter == (r->inflated ? ARCHIVE_FILTER_NONE : ARCHIVE_FILTER_GZIP);
			bool zip = fmt == ARCHIVE_FORMAT_ZIP && filter == ARCHIVE_FILTER_NONE;
			if (!targz && !zip)
				return fail(r->err, RC_FORMAT, "", "not a .tar.gz or .zip package");
			if ((kind == UNPACK_ZIP) != zip)
				return fail(r->err, RC_FORMAT, "", "libarchive reads the package as "
					    "another format than its signature says");
			r->st->format = targz ? UNPACK_TAR_GZ : UNPACK_ZIP;
			first = false;
		}

		const char *name = archive_entry_pathname(e);
		if (name)
			snprintf(r->last, sizeof r->last, "%s", name);
		if (kind == UNPACK_ZIP) {
			/* The entry libarchive reads must be the one the zip's
			 * headers hold, in their order (zipscan). */
			const struct zipscan_entry *ze = r->zip_at < r->zip.n ?
							 &r->zip.v[r->zip_at] : NULL;
			r->zip_at++;
			if (!ze)
				return fail(r->err, RC_FORMAT, name, "libarchive reads more entries than "
					    "the zip's central directory lists");
			if (!name || !zip_name(ze, name, written, sizeof written)) {
				char got[300];
				scan_escape(name, name ? strlen(name) : 0, got, sizeof got);
				return fail(r->err, RC_FORMAT, ze->name, "libarchive reads this entry's "
					    "name as '%s', not as the zip's headers hold it", got);
			}
			name = written;
			if (!ze->utf8 && !utf8_valid((const unsigned char *)name, strlen(name))) {
				/* Valid UTF-8 is taken as it is; only the rest is
				 * decoded, so no UTF-8 name is ever decoded twice. */
				enum rc rc = decode_legacy(r, name, decoded, sizeof decoded);
				if (rc)
					return rc;
				if (!r->st->legacy_names++) {
					scan_escape(decoded, strlen(decoded), r->st->legacy_example,
						    sizeof r->st->legacy_example);
					scan_escape(name, strlen(name), r->st->legacy_raw,
						    sizeof r->st->legacy_raw);
				}
				name = decoded;
			}
		}
		if (r->st->files + r->st->dirs + 1 > lim->max_entries)
			return fail(r->err, RC_LIMIT, name, "too many entries (more than max_entries)");
		if (archive_entry_hardlink(e))
			return fail(r->err, RC_REFUSED, name, "entry is a hard link");
		mode_t type = archive_entry_filetype(e);
		if (type == AE_IFLNK || archive_entry_symlink(e))
			return fail(r->err, RC_REFUSED, name, "entry is a symbolic link");
		if (type != AE_IFREG && type != AE_IFDIR)
			return fail(r->err, RC_REFUSED, name, "entry is not a regular file or directory");
		if (archive_entry_is_encrypted(e))
			return fail(r->err, RC_REFUSED, name, "entry is encrypted");
		if (!name)
			return fail(r->err, RC_REFUSED, "", "entry name is not valid UTF-8");

		const char *why;
		enum rc rc = path_from_package(name, norm, sizeof norm,
					       lim->max_path_bytes, &why);
		bool dir = type == AE_IFDIR;
		if (rc && dir && !strcmp(why, "has an empty name")) {
			r->st->dirs++;   /* "./", the archive's own root */
			continue;
		}
		if (rc)
			return fail(r->err, rc, name, "entry %s", why);

		bool added;
		const char *earlier = NULL;
		rc = set_add(&r->names, norm, dir, &added, &earlier);
		if (!rc && dir && !added)
			continue;   /* a folder already implied by a file */
		if (!rc && !dir)
			rc = add_parents(&r->names, norm, &r->st->dirs,
					 lim->max_entries - r->st->files - 1, &earlier);
		if (rc == RC_REFUSED && earlier && strncmp(earlier, norm, strlen(earlier)))
			return fail(r->err, rc, name, "two names are equal after Unicode NFC "
				    "normalisation: %.200s and %.200s (one accent written two ways; "
				    "they would be two paths for one name)",
				    earlier, norm);
		if (rc == RC_REFUSED)
			return fail(r->err, rc, name, "duplicate name: %s appears twice, "
				    "or as both a file and a folder", norm);
		if (rc == RC_LIMIT)
			return fail(r->err, rc, name, "too many entries, counting implied "
				    "folders (more than max_entries)");
		if (rc)
			return rc;
		if (dir) {
			r->st->dirs++;
			continue;
		}

		void *data = NULL;
		size_t len = 0;
		r->have_sha = false;
		uint64_t room = lim->max_total_bytes - r->st->bytes;
		if (!(kind == UNPACK_ZIP && zip_body(r, &r->zip.v[r->zip_at - 1],
						     lim->max_file_bytes < room ?
						     lim->max_file_bytes : room, &data, &len))) {
			rc = read_body(r, e, name, &data, &len);
			if (rc)
				return rc;
		}
		r->st->files++;
		r->st->bytes += len;
		time_t mtime = archive_entry_mtime_is_set(e) ? archive_entry_mtime(e) : 0;
		rc = sink(ctx, norm, data, len, mtime, r->have_sha ? r->sha : NULL);
		if (rc)
			return fail(r->err, rc, name, "could not be added to the snapshot (%s)",
				    rc_str(rc));
	}
	if (first) {
		/* No header at all: an empty zip, or an empty tar stream. */
		if (kind == 0)
			return fail(r->err, RC_FORMAT, "", "not a .tar.gz or .zip package");
		r->st->format = kind;
	}
	if (kind == UNPACK_ZIP && r->zip_at != r->zip.n)
		return fail(r->err, RC_FORMAT, r->zip.v[r->zip_at].name, "libarchive did not read "
			    "this entry, which the zip's central directory lists (%zu of %zu read)",
			    r->zip_at, r->zip.n);
	if (r->st->files == 0)
		return fail(r->err, RC_REFUSED, "", "package has no files");
	return RC_OK;
}

enum rc unpack_file(const char *file, const struct unpack_limits *lim,
		    const char *legacy_codepage, unpack_sink sink, void *ctx,
		    struct unpack_stats *st, struct unpack_error *err)
{
	memset(st, 0, sizeof *st);
	memset(err, 0, sizeof *err);

	/* One descriptor for every reader, so zipscan and libarchive read
	 * the same file even if the name is replaced meanwhile. */
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return fail(err, RC_IO, "", "cannot read the package: %s", strerror(e));
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		return fail(err, RC_IO, "", "cannot read the package: it is not a regular file");
	}
	if (sb.st_size == 0) {
		close(fd);
		return fail(err, RC_FORMAT, "", "the package is empty (0 bytes)");
	}
	int kind = sniff(fd);
	if (kind < 0) {
		int e = errno;
		close(fd);
		return fail(err, RC_IO, "", "cannot read the package: %s", strerror(e));
	}
	if (kind == 0) {
		close(fd);
		return fail(err, RC_FORMAT, "", "not a .tar.gz or .zip package "
			    "(it starts with neither the gzip nor the zip signature)");
	}

	struct reader r = { .lim = lim, .st = st, .err = err, .cd = (iconv_t)-1, .fd = fd,
			    .codepage = legacy_codepage && *legacy_codepage ?
					legacy_codepage : UNPACK_LEGACY_CODEPAGE_DEFAULT };
	enum rc rc = RC_OK;
	if (kind == UNPACK_ZIP) {
		struct scan_error se;
		rc = zipscan_fd(fd, (uint64_t)sb.st_size, lim->max_entries, &r.zip, &se);
		if (rc) {
			snprintf(err->entry, sizeof err->entry, "%s", se.entry);
			snprintf(err->reason, sizeof err->reason, "%s", se.reason);
			close(fd);
			return rc;
		}
	}

	/* libarchive converts UTF-8 zip names to the current locale and gives
	 * NULL in the "C" locale; use C.UTF-8 for this thread only. Names
	 * without the UTF-8 flag are then handed over as their raw bytes
	 * (libarchive 3.6.2 has no default conversion on POSIX systems): the
	 * bytes zipscan checked. */
	locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	locale_t old = utf8 ? uselocale(utf8) : (locale_t)0;

	r.a = archive_read_new();
	if (!r.a) {
		rc = RC_NOMEM;
		goto out;
	}
	/* Only the two formats institutes ship; nothing else is even tried. */
	archive_read_support_filter_gzip(r.a);
	archive_read_support_format_tar(r.a);
	archive_read_support_format_zip(r.a);
	/* 64 KiB reads: the system calls cost nothing next to inflating. */
	if (lseek(fd, 0, SEEK_SET) != 0 ||
	    archive_read_open_fd(r.a, fd, 64 * 1024) != ARCHIVE_OK) {
		const char *msg = archive_error_string(r.a);
		rc = fail(err, RC_FORMAT, "", "archive error: %s", msg ? msg : "cannot open");
		goto out;
	}
	rc = read_entries(&r, kind, sink, ctx);
	/* A gzip trailer or zip directory problem may only show at the end. */
	if (!rc && archive_read_close(r.a) != ARCHIVE_OK)
		rc = fail(err, RC_FORMAT, "", "archive error: %s",
			  archive_error_string(r.a));
out:
	if (r.a)
		archive_read_free(r.a);
	hasher_stop(&r.hs);
	set_release(&r.names);
	zipscan_release(&r.zip);
	free(r.zbuf);
	free(r.zst);
	if (r.cd != (iconv_t)-1)
		iconv_close(r.cd);
	if (utf8) {
		uselocale(old);
		freelocale(utf8);
	}
	close(fd);
	return rc;
}

/* ---- a tar the scan already inflated and checked ---- */

/* libarchive reads the kept tar in pieces of this size; the pages of the
 * pieces it is done with are given back as it goes, so the tar and the
 * bodies copied out of it are not both whole in memory. */
#define TAR_PIECE_BYTES (4u << 20)

struct tar_src {
	struct scan_tar *tar;
	size_t at;          /* the next piece */
	size_t dropped;     /* pages before this are given back */
};

static la_ssize_t tar_read(struct archive *a, void *ctx, const void **buf)
{
	(void)a;
	struct tar_src *t = ctx;
	/* libarchive needs a piece until it asks for the next: everything
	 * before the piece it had is done with. */
	size_t prev = t->at >= TAR_PIECE_BYTES ? t->at - TAR_PIECE_BYTES : 0;
	size_t upto = prev & ~(size_t)((2u << 20) - 1);
	if (upto > t->dropped) {
		madvise(t->tar->p + t->dropped, upto - t->dropped, MADV_DONTNEED);
		t->dropped = upto;
	}
	size_t n = t->tar->len - t->at < TAR_PIECE_BYTES ? t->tar->len - t->at : TAR_PIECE_BYTES;
	*buf = t->tar->p + t->at;
	t->at += n;
	return (la_ssize_t)n;
}

enum rc unpack_tar(struct scan_tar *tar, const struct unpack_limits *lim,
		   const char *legacy_codepage, unpack_sink sink, void *ctx,
		   struct unpack_stats *st, struct unpack_error *err)
{
	memset(st, 0, sizeof *st);
	memset(err, 0, sizeof *err);
	struct reader r = { .lim = lim, .st = st, .err = err, .cd = (iconv_t)-1, .inflated = true,
			    .fd = -1,
			    .codepage = legacy_codepage && *legacy_codepage ?
					legacy_codepage : UNPACK_LEGACY_CODEPAGE_DEFAULT };
	struct tar_src src = { .tar = tar };
	enum rc rc = RC_OK;
	locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	locale_t old = utf8 ? uselocale(utf8) : (locale_t)0;
	r.a = archive_read_new();
	if (!r.a) {
		rc = RC_NOMEM;
		goto out;
	}
	/* The tar alone: no filter, so nothing is inflated here. */
	archive_read_support_format_tar(r.a);
	if (archive_read_open(r.a, &src, NULL, tar_read, NULL) != ARCHIVE_OK) {
		const char *msg = archive_error_string(r.a);
		rc = fail(err, RC_FORMAT, "", "archive error: %s", msg ? msg : "cannot open");
		goto out;
	}
	rc = read_entries(&r, UNPACK_TAR_GZ, sink, ctx);
	if (!rc && archive_read_close(r.a) != ARCHIVE_OK)
		rc = fail(err, RC_FORMAT, "", "archive error: %s", archive_error_string(r.a));
out:
	if (r.a)
		archive_read_free(r.a);
	hasher_stop(&r.hs);
	set_release(&r.names);
	if (r.cd != (iconv_t)-1)
		iconv_close(r.cd);
	if (utf8) {
		uselocale(old);
		freelocale(utf8);
	}
	scan_tar_release(tar);
	return rc;
}
