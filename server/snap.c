#include "server/snap_int.h"

#include "server/config.h"
#include "server/hdr.h"
#include "server/limits.h"
#include "server/mime.h"
#include "server/rules.h"

#include <pthread.h>
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <threads.h>
#include <zlib.h>

static const struct config *policy;
static _Atomic(struct snap *) current;
static pthread_mutex_t publish_lock = PTHREAD_MUTEX_INITIALIZER;

void snap_set_policy(const struct config *cfg)
{
	policy = cfg;
}

/* ---- reader threads (quiescent-state based reclamation) ----
 * Each reader has a counter: odd while online (may hold a pointer from
 * snap_current()), even while offline. A publisher swaps the pointer, then
 * waits until every reader that was online has moved on. All accesses are
 * sequentially consistent, so a reader that goes online after the swap can
 * only load the new pointer. */

static struct {
	_Atomic uint64_t ctr;
	_Atomic bool used;
	char pad[64 - sizeof(uint64_t) - sizeof(bool)];   /* own cache line */
} readers[SNAP_MAX_READERS];

static thread_local int my_reader = -1;

bool snap_reader_register(void)
{
	for (unsigned i = 0; i < SNAP_MAX_READERS; i++) {
		bool expected = false;
		if (atomic_compare_exchange_strong(&readers[i].used, &expected, true)) {
			my_reader = (int)i;
			return true;
		}
	}
	return false;
}

void snap_reader_unregister(void)
{
	if (my_reader < 0)
		return;
	if (atomic_load(&readers[my_reader].ctr) & 1)
		atomic_fetch_add(&readers[my_reader].ctr, 1);
	atomic_store(&readers[my_reader].used, false);
	my_reader = -1;
}

void snap_reader_online(void)
{
	atomic_fetch_add(&readers[my_reader].ctr, 1);
}

void snap_reader_offline(void)
{
	atomic_fetch_add(&readers[my_reader].ctr, 1);
}

static void readers_synchronize(void)
{
	for (unsigned i = 0; i < SNAP_MAX_READERS; i++) {
		if (!atomic_load(&readers[i].used) || (int)i == my_reader)
			continue;
		uint64_t seen = atomic_load(&readers[i].ctr);
		if (!(seen & 1))
			continue;
		/* A worker's online stretch is one MHD_run() pass: short. */
		while (atomic_load(&readers[i].ctr) == seen &&
		       atomic_load(&readers[i].used))
			sched_yield();
	}
}

const struct snap *snap_current(void)
{
	return atomic_load(&current);
}

/* ---- entries ---- */

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

static void response_done(void *cls)
{
	entry_release(cls);
}

/* Returns a gzip (RFC 1952) copy of data when it is smaller, else NULL. */
static unsigned char *gzip_smaller(const unsigned char *data, size_t len,
				   size_t *out_len)
{
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

static struct entry *entry_new(const unsigned char sha[SHA256_BYTES],
			       const struct mime *m, const void *data,
			       size_t len, time_t mtime, bool owned)
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

/* ---- builder ---- */

struct pending {
	char *path;
	struct entry *e;
};

struct snap_builder {
	const struct snap *base;
	bool overlay;
	struct pending *v;
	size_t n, cap;
	/* base entries by hash, for reuse: open addressing on entry pointers */
	struct entry **reuse;
	size_t reuse_mask, reuse_n;
	size_t built, reused;
};

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static size_t pow2_at_least(size_t n)
{
	size_t p = 16;
	while (p < n)
		p *= 2;
	return p;
}

static uint64_t sha_key(const unsigned char *sha)
{
	uint64_t k;
	memcpy(&k, sha, sizeof k);
	return k;
}

/* Adds e to the builder's table of entries by content, growing it at half
 * load. The table holds the base's entries and every entry built so far, so
 * identical files share one entry within a package as well as across cuts. */
static enum rc reuse_put(struct snap_builder *b, struct entry *e)
{
	if (b->reuse_n * 2 + 2 > b->reuse_mask + 1) {
		size_t cap = b->reuse ? (b->reuse_mask + 1) * 2 : 64;
		struct entry **t = calloc(cap, sizeof *t);
		if (!t)
			return RC_NOMEM;
		for (size_t i = 0; b->reuse && i <= b->reuse_mask; i++) {
			if (!b->reuse[i])
				continue;
			size_t j = sha_key(b->reuse[i]->sha) & (cap - 1);
			while (t[j])
				j = (j + 1) & (cap - 1);
			t[j] = b->reuse[i];
		}
		free(b->reuse);
		b->reuse = t;
		b->reuse_mask = cap - 1;
	}
	size_t j = sha_key(e->sha) & b->reuse_mask;
	while (b->reuse[j] && b->reuse[j] != e)
		j = (j + 1) & b->reuse_mask;
	if (!b->reuse[j]) {
		b->reuse[j] = e;
		b->reuse_n++;
	}
	return RC_OK;
}

struct snap_builder *snap_builder_new(const struct snap *base, bool overlay)
{
	struct snap_builder *b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	b->base = base;
	b->overlay = overlay && base;
	for (size_t i = 0; base && i < base->nslots; i++) {
		if (reuse_put(b, base->slots[i].e)) {
			free(b->reuse);
			free(b);
			return NULL;
		}
	}
	return b;
}

static struct entry *find_reusable(const struct snap_builder *b,
				   const unsigned char *sha,
				   const struct mime *m)
{
	if (!b->reuse)
		return NULL;
	for (size_t j = sha_key(sha) & b->reuse_mask; b->reuse[j];
	     j = (j + 1) & b->reuse_mask) {
		struct entry *e = b->reuse[j];
		if (e->mime == m && !memcmp(e->sha, sha, SHA256_BYTES))
			return e;
	}
	return NULL;
}

static enum rc push_pending(struct snap_builder *b, const char *path,
			    struct entry *e)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		struct pending *v = realloc(b->v, cap * sizeof *v);
		if (!v)
			return RC_NOMEM;
		b->v = v;
		b->cap = cap;
	}
	char *p = strdup(path);
	if (!p)
		return RC_NOMEM;
	b->v[b->n].path = p;
	b->v[b->n].e = e;
	b->n++;
	return RC_OK;
}

enum rc snap_builder_add(struct snap_builder *b, const char *path,
			 void *data, size_t len, time_t mtime, bool is_static)
{
	unsigned char sha[SHA256_BYTES];
	sha256(data, len, sha);
	const struct mime *m = mime_for_path(path);
	struct entry *e = find_reusable(b, sha, m);
	if (e) {
		entry_acquire(e);
		if (!is_static)
			free(data);
		b->reused++;
	} else {
		e = entry_new(sha, m, data, len, mtime, !is_static);
		if (!e) {
			if (!is_static)
				free(data);
			return RC_NOMEM;
		}
		b->built++;
		if (reuse_put(b, e)) {
			entry_release(e);
			return RC_NOMEM;
		}
	}
	enum rc rc = push_pending(b, path, e);
	if (rc)
		entry_release(e);
	return rc;
}

void snap_builder_free(struct snap_builder *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++) {
		free(b->v[i].path);
		entry_release(b->v[i].e);
	}
	free(b->v);
	free(b->reuse);
	free(b);
}

/* ---- snapshots ---- */

const struct slot *snap_lookup(const struct snap *s, const char *path)
{
	if (!s->index)
		return NULL;
	for (size_t i = fnv1a(path) & s->index_mask; s->index[i];
	     i = (i + 1) & s->index_mask) {
		const struct slot *sl = &s->slots[s->index[i] - 1];
		if (!strcmp(sl->path, path))
			return sl;
	}
	return NULL;
}

/* Inserts slot number k, replacing an earlier slot of the same path.
 * Returns the slot that lost, or -1. */
static long index_put(struct snap *s, size_t k)
{
	const char *path = s->slots[k].path;
	size_t i = fnv1a(path) & s->index_mask;
	for (; s->index[i]; i = (i + 1) & s->index_mask) {
		size_t old = s->index[i] - 1;
		if (!strcmp(s->slots[old].path, path)) {
			s->index[i] = (uint32_t)(k + 1);
			return (long)old;
		}
	}
	s->index[i] = (uint32_t)(k + 1);
	return -1;
}

#define ADD(r, name, value) \
	do { if (MHD_add_response_header((r), (name), (value)) != MHD_YES) return RC_NOMEM; } while (0)

enum rc snap_add_cut_headers(struct MHD_Response *r, const struct snap *s,
			     bool csp)
{
	ADD(r, "X-PREP-Cut", s->cut_hdr);
	ADD(r, "X-Content-Type-Options", "nosniff");
	if (csp) {
		char v[CFG_MAX_VALUE_BYTES + 32];
		snprintf(v, sizeof v, "frame-ancestors %s",
			 policy ? policy->response.frame_ancestors : "*");
		ADD(r, "Content-Security-Policy", v);
	}
	return RC_OK;
}

enum rc snap_add_headers(struct MHD_Response *r, const struct snap *s,
			 const struct slot *sl, bool gz, unsigned status)
{
	const struct entry *e = sl->e;
	const struct rule_header *rh[CFG_MAX_RULE_HEADERS * 4];
	size_t nrh = policy ? rules_match(&policy->response.rules, sl->path, rh,
					  sizeof rh / sizeof rh[0]) : 0;
	bool rule_cc = false, rule_csp = false, rule_ct = false;
	for (size_t i = 0; i < nrh; i++) {
		rule_cc |= !strcasecmp(rh[i]->name, "Cache-Control");
		rule_csp |= !strcasecmp(rh[i]->name, "Content-Security-Policy");
		rule_ct |= !strcasecmp(rh[i]->name, "Content-Type");
	}

	/* Only a response with this file's body describes the body; 304 and
	 * 416 carry validators and policy only. */
	if (status == MHD_HTTP_OK || status == MHD_HTTP_PARTIAL_CONTENT) {
		if (!rule_ct)
			ADD(r, MHD_HTTP_HEADER_CONTENT_TYPE, e->ctype);
		ADD(r, MHD_HTTP_HEADER_LAST_MODIFIED, e->lastmod);
		if (gz)
			ADD(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
		else
			ADD(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	}
	ADD(r, MHD_HTTP_HEADER_ETAG, gz ? e->etag_gz : e->etag);
	if (e->gz)
		ADD(r, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
	/* A 416 must not be cached for a year as if it were the asset. */
	if (status == MHD_HTTP_RANGE_NOT_SATISFIABLE)
		ADD(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	else if (!rule_cc && policy)
		ADD(r, MHD_HTTP_HEADER_CACHE_CONTROL,
		    rules_cache_class(sl->path) == CACHE_IMMUTABLE ?
		    policy->response.cache_immutable : policy->response.cache_short);
	enum rc rc = snap_add_cut_headers(r, s, !rule_csp);
	if (rc)
		return rc;
	for (size_t i = 0; i < nrh; i++)
		ADD(r, rh[i]->name, rh[i]->value);
	return RC_OK;
}

static struct MHD_Response *body_response(struct entry *e, bool gz)
{
	entry_acquire(e);
	struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback_cls(
		gz ? e->gz_len : e->len, gz ? (void *)e->gz : (void *)e->data,
		response_done, e);
	if (!r)
		entry_release(e);
	return r;
}

static enum rc build_slot(const struct snap *s, struct slot *sl)
{
	struct entry *e = sl->e;
	sl->ok = body_response(e, false);
	sl->nm = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!sl->ok || !sl->nm)
		return RC_NOMEM;
	enum rc rc = snap_add_headers(sl->ok, s, sl, false, MHD_HTTP_OK);
	if (!rc)
		rc = snap_add_headers(sl->nm, s, sl, false, MHD_HTTP_NOT_MODIFIED);
	if (rc || !e->gz)
		return rc;
	sl->ok_gz = body_response(e, true);
	sl->nm_gz = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!sl->ok_gz || !sl->nm_gz)
		return RC_NOMEM;
	rc = snap_add_headers(sl->ok_gz, s, sl, true, MHD_HTTP_OK);
	if (!rc)
		rc = snap_add_headers(sl->nm_gz, s, sl, true, MHD_HTTP_NOT_MODIFIED);
	return rc;
}

static const char *const err_body[SNAP_ERR_COUNT] = {
	[SNAP_ERR_400] = "400 Solicitud no valida / Bad request: the path is not valid.\n",
	[SNAP_ERR_404] = "404 No encontrado / Not found\n",
	[SNAP_ERR_405] = "405 Metodo no permitido / Method not allowed: use GET or HEAD.\n",
	[SNAP_ERR_414] = "414 Ruta demasiado larga / URI too long\n",
	[SNAP_ERR_500] = "500 Error interno / Internal server error\n",
};

static enum rc build_errors(struct snap *s)
{
	for (int i = 0; i < SNAP_ERR_COUNT; i++) {
		struct MHD_Response *r = MHD_create_response_from_buffer(
			strlen(err_body[i]), (void *)err_body[i], MHD_RESPMEM_PERSISTENT);
		if (!r)
			return RC_NOMEM;
		s->err[i] = r;
		s->err_len[i] = strlen(err_body[i]);
		ADD(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
		ADD(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
		if (i == SNAP_ERR_405)
			ADD(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
		enum rc rc = snap_add_cut_headers(r, s, true);
		if (rc)
			return rc;
	}
	return RC_OK;
}

static void snap_free(struct snap *s)
{
	for (size_t i = 0; i < s->nslots; i++) {
		struct slot *sl = &s->slots[i];
		/* libmicrohttpd counts the connections still sending each
		 * response; the entry goes when the last one finishes. */
		if (sl->ok) MHD_destroy_response(sl->ok);
		if (sl->ok_gz) MHD_destroy_response(sl->ok_gz);
		if (sl->nm) MHD_destroy_response(sl->nm);
		if (sl->nm_gz) MHD_destroy_response(sl->nm_gz);
		entry_release(sl->e);
		free(sl->path);
	}
	for (int i = 0; i < SNAP_ERR_COUNT; i++)
		if (s->err[i])
			MHD_destroy_response(s->err[i]);
	free(s->slots);
	free(s->index);
	free(s);
}

struct snap *snap_builder_finish(struct snap_builder *b, const struct cut *cut,
				 struct snap_stats *st, enum rc *rcp)
{
	enum rc rc = RC_NOMEM;
	struct snap *s = calloc(1, sizeof *s);
	if (!s)
		goto fail;
	atomic_init(&s->refs, 1);
	s->cut = *cut;
	cut_header(cut, s->cut_hdr, sizeof s->cut_hdr);

	size_t carried = b->overlay ? b->base->nslots : 0;
	size_t total = b->n + carried;
	s->slots = calloc(total ? total : 1, sizeof *s->slots);
	size_t cap = pow2_at_least(total * 2 + 1);
	s->index = calloc(cap, sizeof *s->index);
	if (!s->slots || !s->index)
		goto fail;
	s->index_mask = cap - 1;

	/* The package's own files first, then (overlay) the base's files the
	 * package did not replace. Slots that lose to a later duplicate are
	 * released at the end. */
	for (size_t i = 0; i < b->n; i++) {
		s->slots[s->nslots].path = b->v[i].path;
		s->slots[s->nslots].e = b->v[i].e;
		b->v[i].path = NULL;
		b->v[i].e = NULL;
		long lost = index_put(s, s->nslots);
		s->nslots++;
		if (lost >= 0) {   /* the same path twice: keep the last */
			struct slot *l = &s->slots[lost];
			entry_release(l->e);
			free(l->path);
			l->e = NULL;
			l->path = NULL;
		}
	}
	b->n = 0;
	for (size_t i = 0; i < carried; i++) {
		const struct slot *old = &b->base->slots[i];
		if (snap_lookup(s, old->path))
			continue;
		struct slot *sl = &s->slots[s->nslots];
		sl->path = strdup(old->path);
		if (!sl->path)
			goto fail;
		sl->e = old->e;
		entry_acquire(sl->e);
		index_put(s, s->nslots);
		s->nslots++;
		b->reused++;
	}

	/* Compact away slots that lost to a duplicate, then rebuild the index
	 * so slot numbers are dense. */
	size_t w = 0;
	for (size_t i = 0; i < s->nslots; i++)
		if (s->slots[i].path)
			s->slots[w++] = s->slots[i];
	s->nslots = w;
	memset(s->index, 0, cap * sizeof *s->index);
	for (size_t i = 0; i < s->nslots; i++)
		index_put(s, i);

	if (st) {
		memset(st, 0, sizeof *st);
		st->files = s->nslots;
		st->built = b->built;
		st->reused = b->reused;
	}
	for (size_t i = 0; i < s->nslots; i++) {
		rc = build_slot(s, &s->slots[i]);
		if (rc)
			goto fail;
		if (st) {
			st->bytes += s->slots[i].e->len;
			st->gz_bytes += s->slots[i].e->gz_len;
		}
	}
	rc = build_errors(s);
	if (rc)
		goto fail;
	if (policy && policy->response.spa_fallback)
		s->fallback = snap_lookup(s, policy->response.spa_fallback);
	s->notfound = snap_lookup(s, "404.html");
	snap_builder_free(b);
	*rcp = RC_OK;
	return s;
fail:
	snap_builder_free(b);
	if (s)
		snap_free(s);
	*rcp = rc;
	return NULL;
}

void snap_builder_set_overlay(struct snap_builder *b, bool overlay)
{
	b->overlay = overlay && b->base;
}

void snap_retain(struct snap *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void snap_release(struct snap *s)
{
	if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
		snap_free(s);
}

const struct cut *snap_cut(const struct snap *s)
{
	return &s->cut;
}

void snap_publish(struct snap *s)
{
	pthread_mutex_lock(&publish_lock);
	struct snap *old = atomic_exchange(&current, s);
	readers_synchronize();
	pthread_mutex_unlock(&publish_lock);
	snap_release(old);
}

struct snap *snap_acquire(void)
{
	pthread_mutex_lock(&publish_lock);
	struct snap *s = atomic_load(&current);
	if (s)
		atomic_fetch_add(&s->refs, 1);
	pthread_mutex_unlock(&publish_lock);
	return s;
}

void snap_shutdown(void)
{
	pthread_mutex_lock(&publish_lock);
	struct snap *old = atomic_exchange(&current, NULL);
	pthread_mutex_unlock(&publish_lock);
	snap_release(old);
}
