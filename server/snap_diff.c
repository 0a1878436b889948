#include "server/snap_int.h"

#include <stdlib.h>
#include <string.h>

/* A growing list of copied paths. */
struct list {
	char **v;
	size_t n, cap;
};

static enum rc list_add(struct list *l, const char *path)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		char **v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return RC_NOMEM;
		l->v = v;
		l->cap = cap;
	}
	char *p = strdup(path);
	if (!p)
		return RC_NOMEM;
	l->v[l->n++] = p;
	return RC_OK;
}

static void list_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts l and hands it over as (*v, *n); an empty list is NULL. */
static void list_take(struct list *l, char ***v, size_t *n)
{
	if (l->n)
		qsort(l->v, l->n, sizeof l->v[0], cmp_path);
	else {
		free(l->v);
		l->v = NULL;
	}
	*v = l->v;
	*n = l->n;
}

static bool same_bytes(const struct entry *a, const struct entry *b)
{
	return a == b || !memcmp(a->sha, b->sha, SHA256_BYTES);
}

enum rc snap_diff(const struct snap *old, const struct snap *next,
		  struct snap_diff *out)
{
	memset(out, 0, sizeof *out);
	struct list added = { 0 }, changed = { 0 }, removed = { 0 };
	enum rc rc = RC_OK;
	for (size_t i = 0; !rc && i < next->nslots; i++) {
		const struct slot *sl = &next->slots[i];
		const struct slot *was = old ? snap_lookup(old, sl->path) : NULL;
		if (!was)
			rc = list_add(&added, sl->path);
		else if (!same_bytes(was->e, sl->e))
			rc = list_add(&changed, sl->path);
	}
	for (size_t i = 0; !rc && old && i < old->nslots; i++)
		if (!snap_lookup(next, old->slots[i].path))
			rc = list_add(&removed, old->slots[i].path);
	if (rc) {
		list_free(added.v, added.n);
		list_free(changed.v, changed.n);
		list_free(removed.v, removed.n);
		return rc;
	}
	list_take(&added, &out->added, &out->n_added);
	list_take(&changed, &out->changed, &out->n_changed);
	list_take(&removed, &out->removed, &out->n_removed);
	return RC_OK;
}

void snap_diff_release(struct snap_diff *d)
{
	list_free(d->added, d->n_added);
	list_free(d->changed, d->n_changed);
	list_free(d->removed, d->n_removed);
	memset(d, 0, sizeof *d);
}
