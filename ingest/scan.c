#include "ingest/scan.h"
#include "ingest/gzscan.h"
#include "ingest/tarscan.h"
#include "server/limits.h"
#include "server/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void scan_escape(const void *name, size_t len, char *out, size_t outsz)
{
	size_t o = 0;
	const unsigned char *p = name ? name : (const void *)"";
	if (!name)
		len = 0;
	size_t i = 0;
	while (i < len && o + 5 < outsz) {
		if (p[i] >= 0x80) {
			/* keep a valid UTF-8 sequence whole */
			size_t cl = p[i] >= 0xf0 ? 4 : p[i] >= 0xe0 ? 3 : p[i] >= 0xc0 ? 2 : 1;
			if (cl > 1 && i + cl <= len && utf8_valid(p + i, cl)) {
				if (o + cl >= outsz)
					break;
				memcpy(out + o, p + i, cl);
				o += cl;
				i += cl;
				continue;
			}
		}
		unsigned char c = p[i++];
		if (c < 0x20 || c == 0x7f || c >= 0x80)
			o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", c);
		else if (c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, outsz - o, "\\%c", c);
		else
			out[o++] = (char)c;
	}
	if (outsz)
		out[o < outsz ? o : outsz - 1] = '\0';
}

enum rc scan_fail(struct scan_error *err, enum rc rc, const void *entry,
		  size_t entry_len, const char *fmt, ...)
{
	err->rc = rc;
	scan_escape(entry, entry_len, err->entry, sizeof err->entry);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->reason, sizeof err->reason, fmt, ap);
	va_end(ap);
	return rc;
}

/* ---- the stream check ---- */

struct scan_stream {
	const struct unpack_limits *lim;
	unsigned flags;
	struct scan_tar keep;     /* SCAN_KEEP_TAR: the inflated tar so far */
	uint64_t seen;
	unsigned char head[2];
	bool decided, gzip, nomem;
	bool accepted;            /* scan_stream_finish() said RC_OK */
	struct gzscan *gz;
	struct tarscan *tar;
};

struct scan_stream *scan_stream_new_flags(const struct unpack_limits *lim, unsigned flags)
{
	struct scan_stream *s = calloc(1, sizeof *s);
	if (s) {
		s->lim = lim;
		s->flags = flags;
	}
	return s;
}

struct scan_stream *scan_stream_new(const struct unpack_limits *lim)
{
	return scan_stream_new_flags(lim, 0);
}

void scan_tar_release(struct scan_tar *t)
{
	if (t->p)
		munmap(t->p, t->cap);
	memset(t, 0, sizeof *t);
}

/* The first mapping for a kept tar; it doubles (mremap moves the pages,
 * it does not copy them) as the tar grows. */
#define KEEP_FIRST_BYTES (16u << 20)

/* Appends n bytes to the kept tar. False on RC_NOMEM. The inflate cap
 * (gzscan's max_out) bounds it. */
static bool keep_append(struct scan_tar *t, const void *buf, size_t n)
{
	if (t->len + n > t->cap) {
		size_t page = (size_t)sysconf(_SC_PAGESIZE);
		size_t want = t->cap ? t->cap : KEEP_FIRST_BYTES;
		while (want < t->len + n)
			want *= 2;
		want = (want + page - 1) / page * page;
		void *m = t->p ? mremap(t->p, t->cap, want, MREMAP_MAYMOVE)
			       : mmap(NULL, want, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (m == MAP_FAILED)
			return false;
		t->p = m;
		t->cap = want;
	}
	memcpy(t->p + t->len, buf, n);
	t->len += n;
	return true;
}

bool scan_stream_confirm(const struct scan_stream *s)
{
	return s->gz && gzscan_fast_failed(s->gz);
}

bool scan_stream_take_tar(struct scan_stream *s, struct scan_tar *out)
{
	memset(out, 0, sizeof *out);
	if (!(s->flags & SCAN_KEEP_TAR) || !s->gz || !s->accepted || !s->keep.p)
		return false;
	*out = s->keep;
	memset(&s->keep, 0, sizeof s->keep);
	return true;
}

void scan_stream_free(struct scan_stream *s)
{
	if (!s)
		return;
	scan_tar_release(&s->keep);
	gzscan_free(s->gz);
	tarscan_free(s->tar);
	free(s);
}

static bool to_tar(void *ctx, const void *buf, size_t n)
{
	struct scan_stream *s = ctx;
	if ((s->flags & SCAN_KEEP_TAR) && !keep_append(&s->keep, buf, n)) {
		s->nomem = true;
		return false;
	}
	return tarscan_feed(s->tar, buf, n);
}

/* What the tar inside a gzip may inflate to: every file's bytes (the
 * total cap) and, per entry, its header and padding (TAR_ENTRY_SLACK_BYTES),
 * then one 10 KiB record of end marker and padding. */
static uint64_t inflate_cap(const struct unpack_limits *lim)
{
	return lim->max_total_bytes + (lim->max_entries + 1) * TAR_ENTRY_SLACK_BYTES +
	       TAR_RECORD_BYTES;
}

static void decide(struct scan_stream *s)
{
	s->decided = true;
	s->gzip = s->head[0] == 0x1f && s->head[1] == 0x8b;
	if (!s->gzip)
		return;
	s->tar = tarscan_new();
	if (s->tar && (s->flags & SCAN_REFERENCE))
		s->gz = gzscan_new_reference(to_tar, s, inflate_cap(s->lim));
	else if (s->tar)
		s->gz = gzscan_new(to_tar, s, inflate_cap(s->lim));
	if (!s->gz)
		s->nomem = true;
}

void scan_stream_observe(void *stream, const void *buf, size_t n)
{
	struct scan_stream *s = stream;
	const unsigned char *p = buf;
	if (!n || s->nomem)
		return;
	while (!s->decided && n) {
		s->head[s->seen++] = *p++;
		n--;
		if (s->seen == 2) {
			decide(s);
			if (s->gz)
				gzscan_feed(s->gz, s->head, 2);
		}
	}
	s->seen += n;
	if (s->gz && n)
		gzscan_feed(s->gz, p, n);
}

static enum rc finish(struct scan_stream *s, struct scan_error *err)
{
	memset(err, 0, sizeof *err);
	if (s->nomem)
		return scan_fail(err, RC_NOMEM, NULL, 0, "out of memory checking the package");
	if (s->seen == 0)
		return scan_fail(err, RC_FORMAT, NULL, 0, "the package is empty (0 bytes)");
	if (!s->decided || !s->gz)
		return RC_OK;   /* a zip (unpack checks it) or not a package (unpack says so) */
	enum rc rc;
	if (gzscan_sink_stopped(s->gz))
		return tarscan_finish(s->tar, err);
	rc = gzscan_finish(s->gz, err);
	if (rc)
		return rc;
	return tarscan_finish(s->tar, err);
}

enum rc scan_stream_finish(struct scan_stream *s, struct scan_error *err)
{
	enum rc rc = finish(s, err);
	s->accepted = rc == RC_OK;
	return rc;
}
