#include "server/snap_int.h"

#include "server/limits.h"
#include "server/mime.h"
#include "server/rules.h"
#include "server/variant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pending {
	char *path;
	struct entry *e;
};

struct snap_builder {
	const struct snap *base;
	const struct snap *served;   /* whose files are kept (skew protection):
				      * the base, or snap_rebuild_after()'s */
	time_t now;                  /* 0: time(NULL) at finish */
	bool overlay;
	struct policy_copy policy;   /* handed to the snapshot at finish */
	char *hsts;                  /* handed to its HTTPS twin; NULL: none */
	struct pending *v;
	size_t n, cap;
	/* base entries by hash, for reuse: open addressing on entry pointers */
	struct entry **reuse;
	size_t reuse_mask, reuse_n;
	size_t built, reused;
};

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

struct snap_builder *snap_builder_new(const struct snap *base, bool overlay,
				      const struct policy *policy)
{
	struct snap_builder *b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	b->base = base;
	b->served = base;
	b->overlay = overlay && base;
	if (policy_copy_init(&b->policy, policy)) {
		free(b);
		return NULL;
	}
	/* HSTS goes only in the HTTPS twin's responses. */
	b->hsts = b->policy.hsts;
	b->policy.hsts = NULL;
	for (size_t i = 0; base && i < base->nslots; i++) {
		if (reuse_put(b, base->slots[i].e)) {
			snap_builder_free(b);
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
	return snap_builder_add_hashed(b, path, data, len, mtime, is_static, NULL);
}

enum rc snap_builder_add_hashed(struct snap_builder *b, const char *path,
				void *data, size_t len, time_t mtime, bool is_static,
				const unsigned char *given)
{
	unsigned char sha[SHA256_BYTES];
	if (given)
		memcpy(sha, given, SHA256_BYTES);
	else
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
		return snap_builder_add_entry(b, path, e);
	}
	enum rc rc = push_pending(b, path, e);
	if (rc)
		entry_release(e);
	return rc;
}

void snap_builder_set_now(struct snap_builder *b, time_t now)
{
	b->now = now;
}

enum rc snap_builder_add_entry(struct snap_builder *b, const char *path,
			       struct entry *e)
{
	b->built++;
	if (reuse_put(b, e)) {
		entry_release(e);
		return RC_NOMEM;
	}
	enum rc rc = push_pending(b, path, e);
	if (rc)
		entry_release(e);
	return rc;
}

void snap_builder_set_overlay(struct snap_builder *b, bool overlay)
{
	b->overlay = overlay && b->base;
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
	policy_copy_release(&b->policy);
	free(b->hsts);
	free(b);
}

/* ---- the site after the overlay ---- */

struct site_path {
	const char *path;
	uint64_t len;
	bool from_package;
	size_t order;        /* the package's later copy of a path wins */
};

static int site_path_cmp(const void *pa, const void *pb)
{
	const struct site_path *a = pa, *b = pb;
	int c = strcmp(a->path, b->path);
	if (c)
		return c;
	if (a->from_package != b->from_package)   /* the package's before the base's */
		return a->from_package ? -1 : 1;
	return a->order < b->order ? 1 : a->order > b->order ? -1 : 0;   /* latest first */
}

/* The first index in v[0..n) whose path is >= key. */
static size_t lower_bound(const struct site_path *v, size_t n, const char *key)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(v[mid].path, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static enum rc conflict(struct snap_check_error *err, const struct site_path *file,
			const struct site_path *inside)
{
	snprintf(err->path, sizeof err->path, "%s", file->path);
	if (file->from_package && !inside->from_package)
		snprintf(err->reason, sizeof err->reason, "the package puts a file where the site "
			 "has a folder (the site has %.200s)", inside->path);
	else if (!file->from_package && inside->from_package)
		snprintf(err->reason, sizeof err->reason, "the package puts a folder where the site "
			 "has a file (the package has %.200s)", inside->path);
	else
		snprintf(err->reason, sizeof err->reason, "is both a file and a folder (%.200s)",
			 inside->path);
	return RC_REFUSED;
}

enum rc snap_builder_check(const struct snap_builder *b, uint64_t max_entries,
			   uint64_t max_bytes, struct snap_check_error *err)
{
	err->path[0] = err->reason[0] = '\0';
	size_t carried = b->overlay ? b->base->nslots : 0;
	size_t n = b->n + carried;
	struct site_path *v = malloc((n ? n : 1) * sizeof *v);
	if (!v)
		return RC_NOMEM;
	for (size_t i = 0; i < b->n; i++)
		v[i] = (struct site_path){ b->v[i].path, b->v[i].e->len, true, i };
	for (size_t i = 0; i < carried; i++)
		v[b->n + i] = (struct site_path){ b->base->slots[i].path, b->base->slots[i].e->len,
						  false, i };
	qsort(v, n, sizeof *v, site_path_cmp);
	size_t w = 0;   /* one per path: the package's latest copy, else the base's */
	for (size_t i = 0; i < n; i++)
		if (!w || strcmp(v[w - 1].path, v[i].path))
			v[w++] = v[i];
	n = w;

	enum rc rc = RC_OK;
	uint64_t bytes = 0, dirs = 0;
	char key[PATH_BUF_BYTES + 2];
	for (size_t i = 0; i < n && !rc; i++) {
		const char *p = v[i].path;
		bytes += v[i].len;
		/* The paths under a folder D are together in strcmp order (they
		 * all start with "D/"): D is new unless the path before starts
		 * with it too. */
		for (const char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
			size_t dl = (size_t)(s - p) + 1;
			if (!i || strncmp(v[i - 1].path, p, dl))
				dirs++;
		}
		size_t pl = strlen(p);
		if (pl + 2 > sizeof key)
			continue;   /* longer than any path the builder takes */
		memcpy(key, p, pl);
		key[pl] = '/';
		key[pl + 1] = '\0';
		size_t at = lower_bound(v, n, key);
		if (at < n && !strncmp(v[at].path, key, pl + 1))
			rc = conflict(err, &v[i], &v[at]);
	}
	if (!rc && max_entries && n + dirs > max_entries) {
		rc = RC_LIMIT;
		snprintf(err->reason, sizeof err->reason, "the site after this package would have "
			 "%llu files and folders, more than max_entries (%llu)",
			 (unsigned long long)(n + dirs), (unsigned long long)max_entries);
	} else if (!rc && max_bytes && bytes > max_bytes) {
		rc = RC_LIMIT;
		snprintf(err->reason, sizeof err->reason, "the site after this package would hold "
			 "%llu bytes, more than max_total_bytes (%llu)", (unsigned long long)bytes,
			 (unsigned long long)max_bytes);
	}
	free(v);
	return rc;
}

static void response_done(void *cls)
{
	entry_release(cls);
}

struct MHD_Response *snap_body_response(struct entry *e, const struct entry_gz *g)
{
	entry_acquire(e);
	struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback_cls(
		g ? g->len : e->len, g ? (void *)g->data : (void *)e->data,
		response_done, e);
	if (!r)
		entry_release(e);
	return r;
}

/* A 200 and a 304 for sl's body (identity, or the variant g), with the
 * headers for it, or for an origin behind its fleet. A 304 carries no
 * body, but libmicrohttpd 0.9.75 always sends a Content-Length on it
 * (only 1xx and 204 go without); RFC 9110 8.6 allows it only as the
 * length the 200 would have, so the 304 is sized (never sent) as its
 * variant's body. On failure the caller destroys what is set. */
static enum rc build_pair(const struct snap *s, const struct slot *sl,
			  const struct entry_gz *g, bool behind,
			  struct MHD_Response **ok, struct MHD_Response **nm)
{
	*ok = snap_body_response(sl->e, g);
	*nm = snap_body_response(sl->e, g);
	if (!*ok || !*nm)
		return RC_NOMEM;
	enum rc rc = policy_add_headers(*ok, s, sl, g != NULL, MHD_HTTP_OK, behind);
	if (!rc)
		rc = policy_add_headers(*nm, s, sl, g != NULL, MHD_HTTP_NOT_MODIFIED, behind);
	return rc;
}

static void destroy(struct MHD_Response *r)
{
	if (r)
		MHD_destroy_response(r);
}

enum rc snap_slot_attach_gz(const struct snap *s, struct slot *sl)
{
	const struct entry_gz *v = entry_variant(sl->e);
	if (!v || atomic_load(&sl->gz))
		return RC_OK;
	struct slot_gz *g = calloc(1, sizeof *g);
	if (!g)
		return RC_NOMEM;
	g->len = v->len;
	enum rc rc = build_pair(s, sl, v, false, &g->ok, &g->nm);
	if (!rc && sl->behind)
		rc = build_pair(s, sl, v, true, &g->behind_ok, &g->behind_nm);
	if (rc) {
		destroy(g->ok);
		destroy(g->nm);
		destroy(g->behind_ok);
		destroy(g->behind_nm);
		free(g);
		return rc;
	}
	/* Release: a request that loads the pointer sees complete responses.
	 * Only the variant thread (or the builder, before the snapshot is
	 * shared) attaches, so a plain store is enough. */
	atomic_store_explicit(&sl->gz, g, memory_order_release);
	return RC_OK;
}

static enum rc build_slot(const struct snap *s, struct slot *sl)
{
	enum rc rc = build_pair(s, sl, NULL, false, &sl->ok, &sl->nm);
	if (rc)
		return rc;
	/* The non-cacheable twin a fleet member answers with while it is
	 * behind; a fingerprinted file never needs one. */
	if (!sl->immutable && s->policy.fleet) {
		sl->behind = calloc(1, sizeof *sl->behind);
		if (!sl->behind)
			return RC_NOMEM;
		rc = build_pair(s, sl, NULL, true, &sl->behind->ok, &sl->behind->nm);
		if (rc)
			return rc;
	}
	/* A variant made for an earlier cut is attached now; a pending one
	 * follows from the variant thread (snap_builder_finish()). */
	return snap_slot_attach_gz(s, sl);
}

/* The HTTPS twin of s (struct snap's https): the same slots (kept ones
 * too) with responses of their own that add hsts (taken, even on
 * failure). Costs what the slots' responses cost again (their headers,
 * not the bodies, which are the entries'), and only when [tls] hsts is
 * set. */
static enum rc build_twin(struct snap *s, char *hsts)
{
	struct snap *t = calloc(1, sizeof *t);
	if (!t) {
		free(hsts);
		return RC_NOMEM;
	}
	atomic_init(&t->refs, 1);
	t->twin = true;
	t->cut = s->cut;
	memcpy(t->cut_hdr, s->cut_hdr, sizeof t->cut_hdr);
	t->policy = s->policy;
	t->policy.hsts = hsts;
	t->index = s->index;
	t->index_mask = s->index_mask;
	t->kept_index = s->kept_index;
	t->kept_mask = s->kept_mask;
	memcpy(t->kept_cuts, s->kept_cuts, sizeof t->kept_cuts);
	t->nkept_cuts = s->nkept_cuts;
	t->kept_bytes = s->kept_bytes;
	s->https = t;   /* freed with s from here on */
	t->slots = calloc(s->nslots ? s->nslots : 1, sizeof *t->slots);
	t->kept = calloc(s->nkept ? s->nkept : 1, sizeof *t->kept);
	if (!t->slots || !t->kept)
		return RC_NOMEM;
	for (size_t i = 0; i < s->nslots; i++) {
		struct slot *sl = &t->slots[t->nslots++];
		sl->path = s->slots[i].path;
		sl->e = s->slots[i].e;
		sl->immutable = s->slots[i].immutable;
		enum rc rc = build_slot(t, sl);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < s->nkept; i++) {
		struct slot *sl = &t->kept[t->nkept++];
		sl->path = s->kept[i].path;
		sl->e = s->kept[i].e;
		sl->immutable = true;
		sl->kept = s->kept[i].kept;
		enum rc rc = build_slot(t, sl);
		if (rc)
			return rc;
	}
	return policy_build_pages(t);
}

/* ---- skew protection: the files kept from earlier cuts ---- */

/* The folders of a snapshot's paths, as (start, length) keys, so that a
 * kept file where the cut has a folder can be told in one probe. */
struct folders {
	const char **p;
	size_t *len;
	size_t mask;
};

static uint64_t hash_n(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

static bool folders_has(const struct folders *f, const char *p, size_t n)
{
	for (size_t i = hash_n(p, n) & f->mask; f->p[i]; i = (i + 1) & f->mask)
		if (f->len[i] == n && !memcmp(f->p[i], p, n))
			return true;
	return false;
}

static enum rc folders_make(struct folders *f, const struct snap *s)
{
	size_t n = 0;
	for (size_t i = 0; i < s->nslots; i++)
		for (const char *q = strchr(s->slots[i].path, '/'); q; q = strchr(q + 1, '/'))
			n++;
	size_t cap = pow2_at_least(n * 2 + 1);
	f->p = calloc(cap, sizeof *f->p);
	f->len = calloc(cap, sizeof *f->len);
	f->mask = cap - 1;
	if (!f->p || !f->len)
		return RC_NOMEM;
	for (size_t i = 0; i < s->nslots; i++) {
		const char *path = s->slots[i].path;
		for (const char *q = strchr(path, '/'); q; q = strchr(q + 1, '/')) {
			size_t len = (size_t)(q - path);
			if (folders_has(f, path, len))
				continue;
			size_t j = hash_n(path, len) & f->mask;
			while (f->p[j])
				j = (j + 1) & f->mask;
			f->p[j] = path;
			f->len[j] = len;
		}
	}
	return RC_OK;
}

/* Whether the new cut s decides path itself: it has the file, a file
 * where path has a folder, or a folder where path is a file. */
static bool cut_owns(const struct snap *s, const struct folders *f, const char *path)
{
	if (snap_lookup(s, path) || folders_has(f, path, strlen(path)))
		return true;
	char buf[PATH_BUF_BYTES];
	for (const char *q = strchr(path, '/'); q; q = strchr(q + 1, '/')) {
		size_t len = (size_t)(q - path);
		if (len >= sizeof buf)
			return true;
		memcpy(buf, path, len);
		buf[len] = '\0';
		if (snap_lookup(s, buf))
			return true;
	}
	return false;
}

/* The candidates of group g of served: g = -1 is served's own
 * fingerprinted files (its cut, replaced now), g >= 0 its kept cut g. */
static const struct slot *group_slot(const struct snap *served, long g, size_t i)
{
	if (g < 0)
		return i < served->nslots && served->slots[i].immutable ? &served->slots[i] : NULL;
	return i < served->nkept && served->kept[i].kept == (uint8_t)g ? &served->kept[i] : NULL;
}

/* Fills s's kept files from served (see snap_builder_finish() in snap.h).
 * A group is carried whole, after the checks, or not at all. */
static enum rc carry_kept(struct snap *s, const struct snap *served, time_t now,
			  size_t *pruned)
{
	const struct policy_copy *pc = &s->policy;
	*pruned = 0;
	if (!served || !pc->keep_cuts)
		return RC_OK;
	size_t cand = (served->cut.seq ? served->nslots : 0) + served->nkept;
	if (!cand)
		return RC_OK;
	size_t cap = pow2_at_least(cand * 2 + 1);
	s->kept = calloc(cand, sizeof *s->kept);
	s->kept_index = calloc(cap, sizeof *s->kept_index);
	if (!s->kept || !s->kept_index)
		return RC_NOMEM;
	s->kept_mask = cap - 1;
	struct folders f = { 0 };
	enum rc rc = folders_make(&f, s);
	bool stop = false;   /* a newer cut was dropped: every older one goes too */
	for (long g = served->cut.seq ? -1 : 0; !rc && g < (long)served->nkept_cuts; g++) {
		struct kept_cut kc;
		if (g < 0)
			kc = (struct kept_cut){ .cut = served->cut, .replaced = now };
		else
			kc = served->kept_cuts[g];
		size_t n_in = g < 0 ? served->nslots : served->nkept;
		/* What this cut would leave: files the new cut does not own. */
		size_t files = 0;
		uint64_t bytes = 0;
		for (size_t i = 0; i < n_in; i++) {
			const struct slot *c = group_slot(served, g, i);
			if (c && !cut_owns(s, &f, c->path) && !snap_lookup_kept(s, c->path)) {
				files++;
				const struct entry_gz *v = entry_variant(c->e);
				bytes += c->e->len + (v ? v->len : 0);
			}
		}
		if (!files)
			continue;   /* nothing left behind: does not count */
		bool too_old = pc->keep_minutes && now - kc.replaced >= (time_t)pc->keep_minutes * 60;
		if (stop || too_old || s->nkept_cuts >= pc->keep_cuts ||
		    (pc->keep_max_bytes && s->kept_bytes + bytes > pc->keep_max_bytes)) {
			stop = true;
			(*pruned)++;
			continue;
		}
		size_t k = s->nkept_cuts++;
		kc.files = files;
		kc.bytes = bytes;
		s->kept_cuts[k] = kc;
		s->kept_bytes += bytes;
		for (size_t i = 0; i < n_in && !rc; i++) {
			const struct slot *c = group_slot(served, g, i);
			if (!c || cut_owns(s, &f, c->path) || snap_lookup_kept(s, c->path))
				continue;
			struct slot *sl = &s->kept[s->nkept];
			sl->path = strdup(c->path);
			if (!sl->path) {
				rc = RC_NOMEM;
				break;
			}
			sl->e = c->e;
			entry_acquire(sl->e);
			sl->immutable = true;
			sl->kept = (uint8_t)k;
			snap_kept_index_put(s, s->nkept);
			s->nkept++;
		}
	}
	free(f.p);
	free(f.len);
	return rc;
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
	s->policy = b->policy;
	memset(&b->policy, 0, sizeof b->policy);

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
		long lost = snap_index_put(s, s->nslots);
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
		snap_index_put(s, s->nslots);
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
		snap_index_put(s, i);

	for (size_t i = 0; i < s->nslots; i++)
		s->slots[i].immutable = rules_cache_class(s->slots[i].path) == CACHE_IMMUTABLE;
	size_t pruned = 0;
	rc = carry_kept(s, b->served, b->now ? b->now : time(NULL), &pruned);
	if (rc)
		goto fail;
	if (st) {
		memset(st, 0, sizeof *st);
		st->files = s->nslots;
		st->built = b->built;
		st->reused = b->reused;
		st->kept_files = s->nkept;
		st->kept_cuts = s->nkept_cuts;
		st->kept_bytes = s->kept_bytes;
		st->kept_pruned = pruned;
	}
	for (size_t i = 0; i < s->nslots; i++) {
		rc = build_slot(s, &s->slots[i]);
		if (rc)
			goto fail;
		if (st) {
			const struct entry_gz *g = entry_variant(s->slots[i].e);
			st->bytes += s->slots[i].e->len;
			st->gz_bytes += g ? g->len : 0;
			st->gz_pending += entry_variant_pending(s->slots[i].e);
		}
	}
	for (size_t i = 0; i < s->nkept; i++) {
		rc = build_slot(s, &s->kept[i]);
		if (rc)
			goto fail;
	}
	rc = policy_build_pages(s);
	if (rc)
		goto fail;
	if (b->hsts) {
		rc = build_twin(s, b->hsts);
		b->hsts = NULL;
		if (rc)
			goto fail;
	}
	snap_builder_free(b);
	/* Identity bodies are served from the publish on; the gzip variants
	 * still to make follow on the variant thread (server/variant.h). */
	variant_enqueue(s);
	*rcp = RC_OK;
	return s;
fail:
	snap_builder_free(b);
	if (s)
		snap_free(s);
	*rcp = rc;
	return NULL;
}

struct snap *snap_rebuild_after(const struct snap *s, const struct snap *served,
				struct snap_stats *st, enum rc *rcp)
{
	*rcp = RC_NOMEM;
	struct snap_builder *b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	b->base = s;
	b->served = served;
	b->overlay = true;
	if (policy_copy_dup(&b->policy, &s->policy)) {
		free(b);
		return NULL;
	}
	if (s->https && s->https->policy.hsts && !(b->hsts = strdup(s->https->policy.hsts))) {
		snap_builder_free(b);
		return NULL;
	}
	return snap_builder_finish(b, &s->cut, st, rcp);
}
