#include "server/stats_agg.h"

#include "server/limits.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One row of a batch table: bucket start t and a key of klen bytes at
 * koff in the batch's key arena. */
struct row {
	uint64_t h;
	int64_t t;
	uint32_t koff;
	uint32_t klen;
	int64_t v[4];
};

/* Open addressing, linear probing; grows at half full. Rows are kept in
 * insertion order in rows[], the index holds row number + 1. */
struct tab {
	struct row *rows;
	size_t n, rows_cap;
	uint32_t *index;
	size_t mask;   /* index size - 1; 0 before the first row */
};

struct stats_batch {
	struct tab tab[STATS_TABLES];
	char *keys;
	size_t keys_used, keys_cap;
	struct stats_session *sess;
	size_t nsess, sess_cap;
	uint64_t requests, lost;
};

/* An open session; chained in its hash bucket and in the activity list
 * (least recently active first). Indexes into the pool; NONE ends. */
#define NONE UINT32_MAX
struct open_sess {
	struct stats_session s;
	uint32_t chain, prev, next;
	bool used, dirty;
};

/* Recently hashed visitors: a PREP page polls its JSON every few
 * seconds, so most requests come from a visitor hashed a moment ago; a
 * hit saves the HMAC (about a microsecond). Direct-mapped. */
#define VCACHE_SLOTS 4096u
struct vcache {
	uint64_t h;
	char day[10];
	uint8_t addr_len;
	uint8_t addr[16];
	uint16_t ua_len;
	bool used;
	uint8_t v[STATS_VISITOR_BYTES];
	char ua[REQREC_FIELD_BYTES];
};

struct stats_agg {
	uint8_t key[STATS_KEY_BYTES];
	gnutls_hmac_hd_t hmac;    /* keyed once, reused for every visitor */
	struct vcache *vcache;
	char *source;
	int64_t gap;
	size_t max_sessions;
	stats_lookup_fn *lookup;
	void *lookup_ctx;
	struct stats_batch *batch;
	/* open sessions */
	struct open_sess *pool;
	size_t pool_cap, open;
	uint32_t free_head;
	uint32_t *buckets;
	size_t bucket_mask;
	uint32_t lru_head, lru_tail;
	uint32_t *dirty;          /* pool indexes changed since the last take */
	size_t ndirty, dirty_cap;
	uint64_t evicted;
	/* the local day and bucket of the last 15-minute slot looked at */
	int64_t slot;
	int64_t slot_t15;
	char slot_day[11];
};

/* A table hash, 8 bytes a step: the collector hashes a user agent and
 * six row keys per request. Not keyed: the rows' keys are hashes or the
 * site's own paths, and a batch is bounded anyway. */
static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, s, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 32;
		s += 8;
		n -= 8;
	}
	uint64_t w = 0;
	if (n)
		memcpy(&w, s, n);
	h = (h ^ w ^ ((uint64_t)n << 56)) * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 29);
}

static uint64_t row_hash(int64_t t, const void *key, size_t klen)
{
	uint64_t h = hash_bytes(0xcbf29ce484222325ull, &t, sizeof t);
	h = hash_bytes(h, key, klen);
	return h ^ (h >> 29);
}

struct stats_batch *stats_batch_new(void)
{
	return calloc(1, sizeof(struct stats_batch));
}

void stats_batch_free(struct stats_batch *b)
{
	if (!b)
		return;
	for (int i = 0; i < STATS_TABLES; i++) {
		free(b->tab[i].rows);
		free(b->tab[i].index);
	}
	free(b->keys);
	free(b->sess);
	free(b);
}

void stats_batch_reset(struct stats_batch *b)
{
	for (int i = 0; i < STATS_TABLES; i++) {
		struct tab *t = &b->tab[i];
		if (t->n && t->index)
			memset(t->index, 0, (t->mask + 1) * sizeof *t->index);
		t->n = 0;
	}
	b->keys_used = 0;
	b->nsess = 0;
	b->requests = 0;
	b->lost = 0;
}

uint64_t stats_batch_requests(const struct stats_batch *b)
{
	return b->requests;
}

uint64_t stats_batch_lost(const struct stats_batch *b)
{
	return b->lost;
}

size_t stats_batch_rows(const struct stats_batch *b)
{
	size_t n = b->nsess;
	for (int i = 0; i < STATS_TABLES; i++)
		n += b->tab[i].n;
	return n;
}

enum rc stats_batch_each(const struct stats_batch *b, enum stats_table table,
			 stats_row_fn *fn, void *ctx)
{
	const struct tab *t = &b->tab[table];
	for (size_t i = 0; i < t->n; i++) {
		const struct row *r = &t->rows[i];
		enum rc rc = fn(ctx, r->t, r->klen ? b->keys + r->koff : "", r->klen, r->v);
		if (rc)
			return rc;
	}
	return RC_OK;
}

const struct stats_session *stats_batch_sessions(const struct stats_batch *b, size_t *n)
{
	*n = b->nsess;
	return b->sess;
}

static bool tab_grow(struct tab *t)
{
	size_t size = t->mask ? (t->mask + 1) * 2 : 64;
	uint32_t *idx = calloc(size, sizeof *idx);
	if (!idx)
		return false;
	for (size_t i = 0; i < t->n; i++) {
		size_t j = t->rows[i].h & (size - 1);
		while (idx[j])
			j = (j + 1) & (size - 1);
		idx[j] = (uint32_t)i + 1;
	}
	free(t->index);
	t->index = idx;
	t->mask = size - 1;
	return true;
}

/* The row of (t, key) in table, made with zero values when new; NULL
 * when out of memory. */
static struct row *tab_get(struct stats_batch *b, enum stats_table table, int64_t t,
			   const void *key, size_t klen)
{
	struct tab *tb = &b->tab[table];
	uint64_t h = row_hash(t, key, klen);
	if (tb->mask) {
		for (size_t j = h & tb->mask; tb->index[j]; j = (j + 1) & tb->mask) {
			struct row *r = &tb->rows[tb->index[j] - 1];
			if (r->h == h && r->t == t && r->klen == klen &&
			    (!klen || !memcmp(b->keys + r->koff, key, klen)))
				return r;
		}
	}
	if ((tb->n + 1) * 2 > tb->mask + 1 && !tab_grow(tb))
		return NULL;
	if (tb->n == tb->rows_cap) {
		size_t cap = tb->rows_cap ? tb->rows_cap * 2 : 32;
		struct row *rows = realloc(tb->rows, cap * sizeof *rows);
		if (!rows)
			return NULL;
		tb->rows = rows;
		tb->rows_cap = cap;
	}
	if (b->keys_used + klen > b->keys_cap) {
		size_t cap = b->keys_cap ? b->keys_cap : 4096;
		while (cap < b->keys_used + klen)
			cap *= 2;
		char *k = realloc(b->keys, cap);
		if (!k)
			return NULL;
		b->keys = k;
		b->keys_cap = cap;
	}
	if (klen)   /* the minute table's key is empty: keys may be NULL */
		memcpy(b->keys + b->keys_used, key, klen);
	struct row *r = &tb->rows[tb->n];
	*r = (struct row){ .h = h, .t = t, .koff = (uint32_t)b->keys_used, .klen = (uint32_t)klen };
	b->keys_used += klen;
	size_t j = h & tb->mask;
	while (tb->index[j])
		j = (j + 1) & tb->mask;
	tb->index[j] = (uint32_t)++tb->n;
	return r;
}

static bool batch_put_session(struct stats_batch *b, const struct stats_session *s)
{
	if (b->nsess == b->sess_cap) {
		size_t cap = b->sess_cap ? b->sess_cap * 2 : 256;
		struct stats_session *n = realloc(b->sess, cap * sizeof *n);
		if (!n)
			return false;
		b->sess = n;
		b->sess_cap = cap;
	}
	b->sess[b->nsess++] = *s;
	return true;
}

/* ---- time ---- */

int64_t stats_bucket15(time_t t, char day[11])
{
	struct tm tm;
	localtime_r(&t, &tm);
	if (day) {
		/* strftime: the year stays 4 digits for the dates a log holds. */
		if (strftime(day, 11, "%Y-%m-%d", &tm) != 10)
			memcpy(day, "0000-00-00", 11);
	}
	/* Local seconds since a local midnight, floored to 15 minutes. */
	int64_t local = (int64_t)t + tm.tm_gmtoff;
	int64_t m = local % 900;
	if (m < 0)
		m += 900;
	return (int64_t)t - m;
}

/* The day and bucket of t, from the cached UTC 15-minute slot: localtime_r()
 * takes glibc's time zone lock, too costly per request. Every zone's offset
 * in use is a multiple of 15 minutes, and changes happen on those
 * boundaries, so a UTC slot has one local day and bucket; a zone with an
 * odd offset (historical mean times) is computed each time. */
static int64_t agg_time(struct stats_agg *a, time_t t, const char **day)
{
	int64_t slot = (int64_t)t / 900 - ((int64_t)t % 900 < 0);
	if (slot != a->slot) {
		a->slot_t15 = stats_bucket15(t, a->slot_day);
		a->slot = a->slot_t15 == slot * 900 ? slot : INT64_MIN;
		if (a->slot == INT64_MIN) {
			*day = a->slot_day;
			return a->slot_t15;
		}
	}
	*day = a->slot_day;
	return a->slot_t15;
}

/* ---- visitors ---- */

void stats_agg_visitor(struct stats_agg *a, time_t t, const uint8_t *addr, size_t addr_len,
		       const char *ua, size_t ua_len, uint8_t out[STATS_VISITOR_BYTES])
{
	const char *day;
	agg_time(a, t, &day);
	/* day | 0 | addr | 0 | ua, as stats_agg.h says. */
	unsigned char msg[10 + 1 + 16 + 1 + 1024];
	size_t n = 0;
	memcpy(msg, day, 10);
	n = 10;
	msg[n++] = 0;
	if (addr_len == 16 && !memcmp(addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12)) {
		addr += 12;
		addr_len = 4;
	}
	if (addr_len == 4 || addr_len == 16) {
		memcpy(msg + n, addr, addr_len);
		n += addr_len;
	} else {
		addr = msg;   /* for the cache's compare: nothing */
		addr_len = 0;
	}
	msg[n++] = 0;
	if (ua_len > sizeof msg - n)
		ua_len = sizeof msg - n;
	uint64_t h = hash_bytes(hash_bytes(0xcbf29ce484222325ull, msg, n), ua, ua_len);
	struct vcache *c = a->vcache ? &a->vcache[h % VCACHE_SLOTS] : NULL;
	if (c && c->used && c->h == h && c->ua_len == ua_len && c->addr_len == addr_len &&
	    !memcmp(c->day, day, 10) && !memcmp(c->addr, addr, addr_len) &&
	    !memcmp(c->ua, ua, ua_len)) {
		memcpy(out, c->v, STATS_VISITOR_BYTES);
		return;
	}
	memcpy(msg + n, ua, ua_len);
	n += ua_len;
	uint8_t mac[32];
	/* gnutls_hmac_output() leaves the context keyed and empty again:
	 * no allocation, no key setup per visitor. */
	if (a->hmac && gnutls_hmac(a->hmac, msg, n) == 0) {
		gnutls_hmac_output(a->hmac, mac);
	} else if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, a->key, STATS_KEY_BYTES, msg, n, mac) < 0) {
		memset(mac, 0, sizeof mac);   /* cannot happen with SHA-256; never raw data */
	}
	memcpy(out, mac, STATS_VISITOR_BYTES);
	if (c && ua_len <= sizeof c->ua) {
		c->h = h;
		memcpy(c->day, day, 10);
		c->addr_len = (uint8_t)addr_len;
		memcpy(c->addr, addr, addr_len);
		c->ua_len = (uint16_t)ua_len;
		memcpy(c->ua, ua, ua_len);
		memcpy(c->v, out, STATS_VISITOR_BYTES);
		c->used = true;
	}
}

/* ---- open sessions ---- */

static uint64_t visitor_hash(const uint8_t v[STATS_VISITOR_BYTES])
{
	uint64_t h;
	memcpy(&h, v, sizeof h);   /* already a keyed hash */
	return h;
}

static void lru_unlink(struct stats_agg *a, uint32_t i)
{
	struct open_sess *o = &a->pool[i];
	if (o->prev != NONE)
		a->pool[o->prev].next = o->next;
	else
		a->lru_head = o->next;
	if (o->next != NONE)
		a->pool[o->next].prev = o->prev;
	else
		a->lru_tail = o->prev;
	o->prev = o->next = NONE;
}

static void lru_append(struct stats_agg *a, uint32_t i)
{
	struct open_sess *o = &a->pool[i];
	o->prev = a->lru_tail;
	o->next = NONE;
	if (a->lru_tail != NONE)
		a->pool[a->lru_tail].next = i;
	else
		a->lru_head = i;
	a->lru_tail = i;
}

static uint32_t sess_find(const struct stats_agg *a, const uint8_t v[STATS_VISITOR_BYTES])
{
	if (!a->buckets)
		return NONE;
	uint32_t i = a->buckets[visitor_hash(v) & a->bucket_mask];
	while (i != NONE && memcmp(a->pool[i].s.visitor, v, STATS_VISITOR_BYTES))
		i = a->pool[i].chain;
	return i;
}

static void mark_dirty(struct stats_agg *a, uint32_t i)
{
	if (a->pool[i].dirty)
		return;
	if (a->ndirty == a->dirty_cap) {
		size_t cap = a->dirty_cap ? a->dirty_cap * 2 : 1024;
		uint32_t *d = realloc(a->dirty, cap * sizeof *d);
		if (!d) {
			/* Written at the latest when it closes. */
			batch_put_session(a->batch, &a->pool[i].s);
			return;
		}
		a->dirty = d;
		a->dirty_cap = cap;
	}
	a->dirty[a->ndirty++] = i;
	a->pool[i].dirty = true;
}

/* Closes session i: into the batch if it changed, out of the table. */
static void sess_close(struct stats_agg *a, uint32_t i)
{
	struct open_sess *o = &a->pool[i];
	if (o->dirty)
		batch_put_session(a->batch, &o->s);
	o->dirty = false;
	uint32_t *p = &a->buckets[visitor_hash(o->s.visitor) & a->bucket_mask];
	while (*p != i)
		p = &a->pool[*p].chain;
	*p = o->chain;
	lru_unlink(a, i);
	o->used = false;
	o->chain = a->free_head;
	a->free_head = i;
	a->open--;
}

static bool sess_grow(struct stats_agg *a)
{
	size_t cap = a->pool_cap ? a->pool_cap * 2 : 1024;
	if (cap > a->max_sessions)
		cap = a->max_sessions;
	if (cap <= a->pool_cap)
		return false;
	struct open_sess *p = realloc(a->pool, cap * sizeof *p);
	if (!p)
		return false;
	a->pool = p;
	for (size_t i = cap; i-- > a->pool_cap;) {
		p[i].used = false;
		p[i].dirty = false;
		p[i].chain = a->free_head;
		a->free_head = (uint32_t)i;
	}
	a->pool_cap = cap;
	/* Buckets: a power of two at least the pool's size. */
	size_t nb = 1;
	while (nb < cap)
		nb *= 2;
	if (nb - 1 != a->bucket_mask || !a->buckets) {
		uint32_t *b = malloc(nb * sizeof *b);
		if (!b)
			return false;
		for (size_t i = 0; i < nb; i++)
			b[i] = NONE;
		for (size_t i = 0; i < a->pool_cap; i++) {
			if (!p[i].used)
				continue;
			size_t j = visitor_hash(p[i].s.visitor) & (nb - 1);
			p[i].chain = b[j];
			b[j] = (uint32_t)i;
		}
		free(a->buckets);
		a->buckets = b;
		a->bucket_mask = nb - 1;
	}
	return true;
}

/* A new open session for s; NONE when the table cannot take one even
 * after closing the least recently active. */
static uint32_t sess_open(struct stats_agg *a, const struct stats_session *s)
{
	if (a->free_head == NONE && !sess_grow(a)) {
		if (a->lru_head == NONE)
			return NONE;
		sess_close(a, a->lru_head);
		a->evicted++;
	}
	uint32_t i = a->free_head;
	struct open_sess *o = &a->pool[i];
	a->free_head = o->chain;
	o->s = *s;
	o->used = true;
	o->dirty = false;
	size_t j = visitor_hash(s->visitor) & a->bucket_mask;
	o->chain = a->buckets[j];
	a->buckets[j] = i;
	lru_append(a, i);
	a->open++;
	return i;
}

enum rc stats_agg_resume(struct stats_agg *a, const struct stats_session *s)
{
	if (a->open >= a->max_sessions)
		return RC_LIMIT;
	uint32_t i = sess_find(a, s->visitor);
	if (i != NONE)
		sess_close(a, i);
	return sess_open(a, s) == NONE ? RC_NOMEM : RC_OK;
}

/* Adds request h (visitor v) to its session. */
static void sess_add(struct stats_agg *a, const uint8_t v[STATS_VISITOR_BYTES], int64_t t,
		     bool page)
{
	uint32_t i = sess_find(a, v);
	if (i != NONE) {
		struct stats_session *s = &a->pool[i].s;
		if (t > s->end + a->gap) {
			sess_close(a, i);   /* that visit is over: a new one */
			i = NONE;
		} else if (t < s->start - a->gap) {
			/* An older request, out of order by more than the gap
			 * (an import): its own session, written at once. */
			struct stats_session old;
			if (!a->lookup || !a->lookup(a->lookup_ctx, v, t, a->gap, &old)) {
				old = (struct stats_session){ .start = t, .end = t };
				memcpy(old.visitor, v, STATS_VISITOR_BYTES);
			}
			if (t < old.start)
				old.start = t;
			if (t > old.end)
				old.end = t;
			old.requests++;
			old.page_views += page;
			batch_put_session(a->batch, &old);
			return;
		}
	}
	if (i == NONE) {
		struct stats_session s;
		if (!a->lookup || !a->lookup(a->lookup_ctx, v, t, a->gap, &s)) {
			s = (struct stats_session){ .start = t, .end = t };
			memcpy(s.visitor, v, STATS_VISITOR_BYTES);
		}
		i = sess_open(a, &s);
		if (i == NONE) {
			a->batch->lost++;
			return;
		}
	} else {
		lru_unlink(a, i);
		lru_append(a, i);
	}
	struct stats_session *s = &a->pool[i].s;
	if (t < s->start)
		s->start = t;
	if (t > s->end)
		s->end = t;
	s->requests++;
	s->page_views += page;
	mark_dirty(a, i);
}

/* ---- the aggregator ---- */

struct stats_agg *stats_agg_new(const uint8_t key[STATS_KEY_BYTES], const char *source,
				unsigned gap, size_t max_sessions, stats_lookup_fn *lookup,
				void *lookup_ctx)
{
	struct stats_agg *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	memcpy(a->key, key, STATS_KEY_BYTES);
	a->source = strdup(source);
	a->batch = stats_batch_new();
	a->gap = gap ? gap : 1;
	a->max_sessions = max_sessions ? max_sessions : 1;
	if (a->max_sessions > NONE - 1)
		a->max_sessions = NONE - 1;
	a->lookup = lookup;
	a->lookup_ctx = lookup_ctx;
	a->free_head = a->lru_head = a->lru_tail = NONE;
	a->slot = INT64_MIN;
	a->vcache = calloc(VCACHE_SLOTS, sizeof *a->vcache);
	if (gnutls_hmac_init(&a->hmac, GNUTLS_MAC_SHA256, key, STATS_KEY_BYTES) < 0)
		a->hmac = NULL;   /* gnutls_hmac_fast() each time */
	if (!a->source || !a->batch || !a->vcache || !sess_grow(a)) {
		stats_agg_free(a);
		return NULL;
	}
	return a;
}

void stats_agg_free(struct stats_agg *a)
{
	if (!a)
		return;
	gnutls_memset(a->key, 0, sizeof a->key);
	if (a->hmac)
		gnutls_hmac_deinit(a->hmac, NULL);
	free(a->vcache);
	stats_batch_free(a->batch);
	free(a->source);
	free(a->pool);
	free(a->buckets);
	free(a->dirty);
	free(a);
}

const char *stats_agg_source(const struct stats_agg *a)
{
	return a->source;
}

uint64_t stats_agg_evicted(const struct stats_agg *a)
{
	return a->evicted;
}

uint64_t stats_agg_pending(const struct stats_agg *a)
{
	return a->batch->requests;
}

bool stats_agg_full(const struct stats_agg *a)
{
	const struct stats_batch *b = a->batch;
	return stats_batch_rows(b) + a->ndirty >= STATS_BATCH_MAX_ROWS ||
	       b->keys_used + 2 * REQREC_TARGET_BYTES >= STATS_BATCH_MAX_KEY_BYTES;
}

void stats_agg_add(struct stats_agg *a, const struct stats_hit *h)
{
	struct stats_batch *b = a->batch;
	const char *day;
	int64_t t15 = agg_time(a, h->t, &day);
	int64_t t1 = (int64_t)h->t - ((int64_t)h->t % 60 + 60) % 60;
	uint8_t v[STATS_VISITOR_BYTES];
	stats_agg_visitor(a, h->t, h->addr, h->addr_len, h->ua, h->ua_len, v);
	bool lost = false;

	struct row *r = tab_get(b, STATS_T_MINUTE, t1, "", 0);
	if (r) {
		r->v[0]++;
		r->v[1] += (int64_t)h->bytes;
		r->v[2] += h->https;
		r->v[3] += h->page;
	} else {
		lost = true;
	}
	uint16_t st = h->status;
	if ((r = tab_get(b, STATS_T_STATUS, t1, &st, sizeof st)))
		r->v[0]++;
	if (h->cut && (r = tab_get(b, STATS_T_CUT, t1, h->cut, strlen(h->cut)))) {
		r->v[0]++;
		r->v[1] += (int64_t)h->bytes;
	}
	if ((r = tab_get(b, STATS_T_VISIT, t15, v, sizeof v))) {
		r->v[0]++;
		r->v[1] += h->page;
	}
	if (h->page && h->path && (r = tab_get(b, STATS_T_PAGE, t15, h->path, h->path_len)))
		r->v[0]++;
	if (h->referrer && h->referrer[0] &&
	    (r = tab_get(b, STATS_T_REFERRER, t15, h->referrer, strlen(h->referrer))))
		r->v[0]++;
	sess_add(a, v, (int64_t)h->t, h->page);
	if (lost)
		b->lost++;
	else
		b->requests++;
}

struct stats_batch *stats_agg_take(struct stats_agg *a, struct stats_batch *fresh, int64_t now)
{
	if (!fresh && !(fresh = stats_batch_new()))
		return NULL;
	while (a->lru_head != NONE && a->pool[a->lru_head].s.end + a->gap < now)
		sess_close(a, a->lru_head);
	for (size_t k = 0; k < a->ndirty; k++) {
		struct open_sess *o = &a->pool[a->dirty[k]];
		if (o->used && o->dirty) {
			batch_put_session(a->batch, &o->s);
			o->dirty = false;
		}
	}
	a->ndirty = 0;
	struct stats_batch *b = a->batch;
	stats_batch_reset(fresh);
	a->batch = fresh;
	return b;
}

/* ---- pure helpers ---- */

bool stats_is_page_path(const char *path, size_t len)
{
	if (!len)
		return false;
	if (path[len - 1] == '/')
		return true;
	size_t s = len;
	while (s > 0 && path[s - 1] != '/')
		s--;
	const char *dot = memrchr(path + s, '.', len - s);
	if (!dot)
		return true;
	size_t elen = len - (size_t)(dot + 1 - path);
	return (elen == 4 && !strncasecmp(dot + 1, "html", 4)) ||
	       (elen == 3 && !strncasecmp(dot + 1, "htm", 3));
}

char *stats_referrer(const char *referer, const char *self_host, char *out, size_t outsz)
{
	out[0] = '\0';
	if (!referer || outsz < 16)
		return out;
	size_t sl;
	if (!strncasecmp(referer, "http://", 7))
		sl = 7;
	else if (!strncasecmp(referer, "https://", 8))
		sl = 8;
	else
		return out;
	const char *auth = referer + sl;
	size_t alen = strcspn(auth, "/?#");
	/* No user info: "user@host" keeps the host. */
	const char *at = memrchr(auth, '@', alen);
	if (at) {
		alen -= (size_t)(at + 1 - auth);
		auth = at + 1;
	}
	size_t hlen;
	if (alen && auth[0] == '[') {
		const char *close = memchr(auth, ']', alen);
		if (!close)
			return out;
		hlen = (size_t)(close + 1 - auth);
	} else {
		const char *colon = memchr(auth, ':', alen);
		hlen = colon ? (size_t)(colon - auth) : alen;
	}
	while (hlen && auth[hlen - 1] == '.')
		hlen--;   /* "example.mx." is example.mx */
	if (!hlen || sl + hlen + 1 > outsz)
		return out;
	for (size_t i = 0; i < hlen; i++) {
		unsigned char c = (unsigned char)auth[i];
		if (!(isalnum(c) || c == '-' || c == '.' || c == '_' || c == '[' || c == ']' ||
		      c == ':'))
			return out;
	}
	if (self_host && self_host[0]) {
		size_t shl;
		if (self_host[0] == '[') {
			const char *close = strchr(self_host, ']');
			shl = close ? (size_t)(close + 1 - self_host) : strlen(self_host);
		} else {
			shl = strcspn(self_host, ":");
		}
		while (shl && self_host[shl - 1] == '.')
			shl--;
		if (shl == hlen && !strncasecmp(self_host, auth, hlen))
			return out;
	}
	memcpy(out, sl == 7 ? "http://" : "https://", sl);
	for (size_t i = 0; i < hlen; i++)
		out[sl + i] = (char)tolower((unsigned char)auth[i]);
	out[sl + hlen] = '\0';
	return out;
}

size_t stats_addr_parse(const char *text, uint8_t out[16])
{
	char buf[64];
	size_t n = strlen(text);
	if (n && text[0] == '[' && text[n - 1] == ']') {
		text++;
		n -= 2;
	}
	if (!n || n >= sizeof buf)
		return 0;
	memcpy(buf, text, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, out) == 1)
		return 4;
	if (inet_pton(AF_INET6, buf, out) == 1) {
		if (!memcmp(out, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12)) {
			memmove(out, out + 12, 4);
			return 4;
		}
		return 16;
	}
	return 0;
}
