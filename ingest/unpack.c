#include "ingest/unpack.h"
#include "server/limits.h"
#include "server/path.h"
#include "server/util.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A set of the names seen so far, to refuse duplicates and a name used as
 * both a file and a directory ("a" as a file and "a/b"). */
struct name_set {
	size_t n, cap;          /* cap is a power of two */
	struct name_slot {
		char *name;
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

static struct name_slot *set_find(struct name_set *s, const char *name)
{
	size_t mask = s->cap - 1;
	for (size_t i = fnv1a(name) & mask;; i = (i + 1) & mask)
		if (!s->v[i].name || !strcmp(s->v[i].name, name))
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
		if (s->v[i].name)
			*set_find(&bigger, s->v[i].name) = s->v[i];
	free(s->v);
	*s = bigger;
	return RC_OK;
}

/* Records name; returns RC_REFUSED if it clashes with an earlier entry. A
 * directory seen twice is fine (tar writes "./" and "./dir/" entries).
 * *added tells whether the name is new. */
static enum rc set_add(struct name_set *s, const char *name, bool dir,
		       bool *added)
{
	*added = false;
	enum rc rc = set_grow(s);
	if (rc)
		return rc;
	struct name_slot *slot = set_find(s, name);
	if (slot->name)
		return (dir && slot->dir) ? RC_OK : RC_REFUSED;
	slot->name = strdup(name);
	if (!slot->name)
		return RC_NOMEM;
	slot->dir = dir;
	s->n++;
	*added = true;
	return RC_OK;
}

static void set_release(struct name_set *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->v[i].name);
	free(s->v);
	memset(s, 0, sizeof *s);
}

/* Every parent of a file is implicitly a directory. Each new one counts
 * against max_entries like a directory entry would, or a small package of
 * deep, distinct paths could fill memory with folder names. */
static enum rc add_parents(struct name_set *s, const char *path,
			   uint64_t *entries, uint64_t max_entries)
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
		enum rc rc = set_add(s, buf, true, &added);
		buf[i] = '/';
		if (rc)
			return rc;
		if (added && ++*entries > max_entries)
			return RC_LIMIT;
	}
	return RC_OK;
}

/* Copies name into out for a log line: printable ASCII and valid UTF-8 as
 * they are, anything else as \xHH, quotes and backslashes escaped. */
static void escape_name(const char *name, char *out, size_t outsz)
{
	size_t o = 0;
	if (!name)
		name = "";
	const unsigned char *p = (const unsigned char *)name;
	while (*p && o + 5 < outsz) {
		if (*p >= 0x80) {
			/* keep a valid UTF-8 sequence whole */
			size_t len = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : *p >= 0xc0 ? 2 : 1;
			if (len > 1 && strnlen((const char *)p, len) == len &&
			    utf8_valid(p, len) && o + len < outsz) {
				memcpy(out + o, p, len);
				o += len;
				p += len;
				continue;
			}
		}
		if (*p < 0x20 || *p == 0x7f || *p >= 0x80 || *p == '"' || *p == '\\')
			o += (size_t)snprintf(out + o, outsz - o, *p == '"' ? "\\\"" :
					      *p == '\\' ? "\\\\" : "\\x%02x", *p);
		else
			out[o++] = (char)*p;
		p++;
	}
	out[o] = '\0';
}

static enum rc fail(struct unpack_error *err, enum rc rc, const char *entry,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum rc fail(struct unpack_error *err, enum rc rc, const char *entry,
		    const char *fmt, ...)
{
	escape_name(entry, err->entry, sizeof err->entry);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->reason, sizeof err->reason, fmt, ap);
	va_end(ap);
	return rc;
}

/* Reads the first bytes of the file to tell a gzip or zip from anything
 * else before libarchive guesses. Returns 0 (neither), UNPACK_TAR_GZ or
 * UNPACK_ZIP, or -1 with errno set when the file cannot be read. */
static int sniff(const char *file)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	unsigned char m[4] = { 0 };
	ssize_t n = read(fd, m, sizeof m);
	int saved = errno;
	close(fd);
	if (n < 0) {
		errno = saved;
		return -1;
	}
	if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b)
		return UNPACK_TAR_GZ;
	if (n >= 4 && m[0] == 'P' && m[1] == 'K' &&
	    ((m[2] == 3 && m[3] == 4) || (m[2] == 5 && m[3] == 6)))
		return UNPACK_ZIP;
	return 0;
}

struct reader {
	struct archive *a;
	const struct unpack_limits *lim;
	struct unpack_stats *st;
	struct unpack_error *err;
	struct name_set names;
};

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
	for (;;) {
		if (size == alloc) {
			if (alloc > cap) {
				free(buf);
				return fail(r->err, RC_LIMIT, path, "%s", which);
			}
			size_t next = alloc * 2 > cap + 1 ? (size_t)cap + 1 : alloc * 2;
			unsigned char *nb = realloc(buf, next);
			if (!nb) {
				free(buf);
				return RC_NOMEM;
			}
			buf = nb;
			alloc = next;
		}
		la_ssize_t got = archive_read_data(r->a, buf + size, alloc - size);
		if (got == 0)
			break;
		if (got < 0) {
			/* ARCHIVE_WARN included: it is how a bad zip CRC shows. */
			free(buf);
			if (archive_entry_is_encrypted(e))
				return fail(r->err, RC_REFUSED, path, "entry is encrypted");
			return fail(r->err, RC_FORMAT, path, "archive error: %s",
				    archive_error_string(r->a));
		}
		size += (size_t)got;
		if (size > cap) {
			free(buf);
			return fail(r->err, RC_LIMIT, path, "%s", which);
		}
	}
	*out = buf;
	*outlen = size;
	return RC_OK;
}

static enum rc read_entries(struct reader *r, int kind, unpack_sink sink,
			    void *ctx)
{
	const struct unpack_limits *lim = r->lim;
	char norm[PATH_BUF_BYTES];
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
			return fail(r->err, RC_FORMAT, ar == ARCHIVE_WARN && e ?
				    archive_entry_pathname(e) : "",
				    "archive error: %s", msg ? msg : "unreadable entry header");
		}
		if (first) {
			int fmt = archive_format(r->a) & ARCHIVE_FORMAT_BASE_MASK;
			int filter = archive_filter_code(r->a, 0);
			bool targz = fmt == ARCHIVE_FORMAT_TAR && filter == ARCHIVE_FILTER_GZIP;
			bool zip = fmt == ARCHIVE_FORMAT_ZIP && filter == ARCHIVE_FILTER_NONE;
			if (!targz && !zip)
				return fail(r->err, RC_FORMAT, "", "not a .tar.gz or .zip package");
			r->st->format = targz ? UNPACK_TAR_GZ : UNPACK_ZIP;
			first = false;
		}

		const char *name = archive_entry_pathname(e);
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
		rc = set_add(&r->names, norm, dir, &added);
		if (!rc && dir && !added)
			continue;   /* a folder already implied by a file */
		if (!rc && !dir)
			rc = add_parents(&r->names, norm, &r->st->dirs,
					 lim->max_entries - r->st->files - 1);
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
		rc = read_body(r, e, name, &data, &len);
		if (rc)
			return rc;
		r->st->files++;
		r->st->bytes += len;
		time_t mtime = archive_entry_mtime_is_set(e) ? archive_entry_mtime(e) : 0;
		rc = sink(ctx, norm, data, len, mtime);
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
	if (r->st->files == 0)
		return fail(r->err, RC_REFUSED, "", "package has no files");
	return RC_OK;
}

enum rc unpack_file(const char *file, const struct unpack_limits *lim,
		    unpack_sink sink, void *ctx, struct unpack_stats *st,
		    struct unpack_error *err)
{
	memset(st, 0, sizeof *st);
	memset(err, 0, sizeof *err);

	int kind = sniff(file);
	if (kind < 0)
		return fail(err, RC_IO, "", "cannot read the package: %s", strerror(errno));
	if (kind == 0)
		return fail(err, RC_FORMAT, "", "not a .tar.gz or .zip package "
			    "(it starts with neither the gzip nor the zip signature)");

	/* libarchive converts UTF-8 zip names to the current locale and gives
	 * NULL in the "C" locale; use C.UTF-8 for this thread only. */
	locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	locale_t old = utf8 ? uselocale(utf8) : (locale_t)0;

	struct reader r = { .lim = lim, .st = st, .err = err };
	enum rc rc = RC_OK;
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
	if (archive_read_open_filename(r.a, file, 64 * 1024) != ARCHIVE_OK) {
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
	set_release(&r.names);
	if (utf8) {
		uselocale(old);
		freelocale(utf8);
	}
	return rc;
}
