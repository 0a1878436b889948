#include "server/entry.h"

#include "server/hdr.h"
#include "server/limits.h"
#include "server/mime.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

void entry_acquire(struct entry *e)
{
	atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
}

void entry_release(struct entry *e)
{
	if (!e || atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (e->owned)
		free((void *)e->data);
	free(e->gz);
	free(e);
}

/* Returns a gzip (RFC 1952) copy of data when it is smaller, else NULL. */
static unsigned char *gzip_smaller(const unsigned char *data, size_t len,
				   size_t *out_len)
{
	/* Below 64 bytes gzip's 18 bytes of header and trailer eat any gain;
	 * zlib takes a uInt length. */
	if (len < 64 || len > UINT32_MAX)
		return NULL;
	z_stream z = { 0 };
	/* windowBits 15 + 16 writes a gzip header and trailer. */
	int level = len <= GZIP_BEST_MAX_BYTES ? 9 : 6;
	if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
		return NULL;
	uLong bound = deflateBound(&z, (uLong)len);
	unsigned char *out = malloc(bound);
	if (!out) {
		deflateEnd(&z);
		return NULL;
	}
	z.next_in = (Bytef *)data;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)bound;
	int zr = deflate(&z, Z_FINISH);
	size_t n = z.total_out;
	deflateEnd(&z);
	if (zr != Z_STREAM_END || n >= len) {
		free(out);
		return NULL;
	}
	unsigned char *shrunk = realloc(out, n);
	*out_len = n;
	return shrunk ? shrunk : out;
}

struct entry *entry_new(const unsigned char sha[SHA256_BYTES],
			const struct mime *m, const void *data, size_t len,
			time_t mtime, bool owned)
{
	struct entry *e = calloc(1, sizeof *e);
	if (!e)
		return NULL;
	atomic_init(&e->refs, 1);
	memcpy(e->sha, sha, SHA256_BYTES);
	e->mime = m;
	e->data = data;
	e->len = len;
	e->owned = owned;
	mime_content_type(m, utf8_valid(data, len), e->ctype, sizeof e->ctype);
	char hex[2 * SHA256_BYTES + 1];
	hex_encode(sha, SHA256_BYTES, hex);
	snprintf(e->etag, sizeof e->etag, "\"%.16s\"", hex);
	snprintf(e->etag_gz, sizeof e->etag_gz, "\"%.16s-gz\"", hex);
	time_t now = time(NULL);
	/* A file dated in the future (a skewed clock at the institute) would
	 * make If-Modified-Since useless: clamp it to now. */
	e->mtime = (mtime <= 0 || mtime > now) ? now : mtime;
	hdr_date_format(e->mtime, e->lastmod, sizeof e->lastmod);
	if (m->compress)
		e->gz = gzip_smaller(data, len, &e->gz_len);
	return e;
}
