#include "server/entry.h"

#include "server/hdr.h"
#include "server/limits.h"
#include "server/mime.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

struct entry_gz entry_gz_pending_mark;

/* Bodies and variants freed since entry_freed_bytes_take(). */
static _Atomic uint64_t freed_bytes;

uint64_t entry_freed_bytes_take(void)
{
	return atomic_exchange_explicit(&freed_bytes, 0, memory_order_relaxed);
}

static void gz_free(struct entry_gz *g)
{
	if (!g || g == ENTRY_GZ_PENDING)
		return;
	if (g->borrowed)
		;
	else if (g->mapped)
		munmap(g->data, g->map_len);
	else
		free(g->data);
	free(g);
}

void entry_acquire(struct entry *e)
{
	atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
}

void entry_release(struct entry *e)
{
	if (!e || atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) != 1)
		return;
	struct entry_gz *g = atomic_load_explicit(&e->gz, memory_order_acquire);
	uint64_t bytes = (e->owned ? e->len : 0) + (g && g != ENTRY_GZ_PENDING ? g->len : 0);
	atomic_fetch_add_explicit(&freed_bytes, bytes, memory_order_relaxed);
	if (e->owned)
		free((void *)e->data);
	gz_free(g);
	if (e->backing)
		e->backing->release(e->backing);
	free(e);
}

enum rc entry_set_backing(struct entry *e, struct entry_backing *backing,
			  const void *gz, size_t gz_len)
{
	struct entry_gz *g = NULL;
	if (gz && gz_len) {
		g = calloc(1, sizeof *g);
		if (!g)
			return RC_NOMEM;
		g->borrowed = true;
		g->data = (unsigned char *)gz;
		g->len = gz_len;
	}
	e->backing = backing;
	if (gz)
		atomic_store_explicit(&e->gz, g, memory_order_release);
	return RC_OK;
}

/* Output buffers at least this large are anonymous mappings: only the
 * pages deflate writes are ever resident (the bound is reserved, not
 * used), the unused tail is given back with mremap, and freeing the
 * variant gives its memory back to the system at once. */
#define GZ_MAP_MIN_BYTES (1u << 20)

/* Returns a gzip (RFC 1952) copy of data when it is smaller, else NULL
 * with *nomem telling out-of-memory from "not smaller". */
static struct entry_gz *gzip_smaller(const unsigned char *data, size_t len, bool *nomem)
{
	*nomem = false;
	/* Below 64 bytes gzip's 18 bytes of header and trailer eat any gain;
	 * zlib takes a uInt length. */
	if (len < 64 || len > UINT32_MAX)
		return NULL;
	z_stream z = { 0 };
	/* windowBits 15 + 16 writes a gzip header and trailer. */
	int level = len <= GZIP_BEST_MAX_BYTES ? 9 : 6;
	if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
		*nomem = true;
		return NULL;
	}
	size_t bound = deflateBound(&z, (uLong)len);
	struct entry_gz *g = calloc(1, sizeof *g);
	unsigned char *out = NULL;
	if (g && bound >= GZ_MAP_MIN_BYTES) {
		out = mmap(NULL, bound, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
			   MAP_NORESERVE, -1, 0);
		if (out == MAP_FAILED)
			out = NULL;
		g->mapped = out != NULL;
		g->map_len = bound;
	} else if (g) {
		out = malloc(bound);
	}
	if (!out) {
		free(g);
		deflateEnd(&z);
		*nomem = true;
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
		if (g->mapped)
			munmap(out, bound);
		else
			free(out);
		free(g);
		return NULL;
	}
	if (g->mapped) {
		size_t page = (size_t)sysconf(_SC_PAGESIZE);
		size_t keep = (n + page - 1) / page * page;
		void *shrunk = keep < bound ? mremap(out, bound, keep, 0) : out;
		if (shrunk != MAP_FAILED)
			g->map_len = keep;
	} else {
		unsigned char *shrunk = realloc(out, n);
		out = shrunk ? shrunk : out;
	}
	g->data = out;
	g->len = n;
	return g;
}

enum rc entry_make_variant(struct entry *e)
{
	if (!entry_variant_pending(e))
		return RC_OK;
	bool nomem;
	struct entry_gz *g = gzip_smaller(e->data, e->len, &nomem);
	if (!g && nomem)
		return RC_NOMEM;
	struct entry_gz *expect = ENTRY_GZ_PENDING;
	/* Release: a reader that sees the pointer sees the bytes behind it. */
	if (!atomic_compare_exchange_strong_explicit(&e->gz, &expect, g, memory_order_acq_rel,
						     memory_order_acquire))
		gz_free(g);   /* another thread attached one first */
	return RC_OK;
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
	/* Too small to gain (gzip_smaller()) is decided now: no Vary. */
	atomic_init(&e->gz, m->compress && len >= 64 && len <= UINT32_MAX ? ENTRY_GZ_PENDING : NULL);
	return e;
}
