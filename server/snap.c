#include "server/snap_int.h"

#include "server/limits.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

static _Atomic(struct snap *) current;
static pthread_mutex_t publish_lock = PTHREAD_MUTEX_INITIALIZER;

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

/* ---- lookup ---- */

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static const struct slot *lookup_in(const struct slot *slots, const uint32_t *index,
				     size_t mask, const char *path)
{
	if (!index)
		return NULL;
	for (size_t i = fnv1a(path) & mask; index[i]; i = (i + 1) & mask) {
		const struct slot *sl = &slots[index[i] - 1];
		if (!strcmp(sl->path, path))
			return sl;
	}
	return NULL;
}

static long put_in(const struct slot *slots, uint32_t *index, size_t mask, size_t k)
{
	const char *path = slots[k].path;
	size_t i = fnv1a(path) & mask;
	for (; index[i]; i = (i + 1) & mask) {
		size_t old = index[i] - 1;
		if (!strcmp(slots[old].path, path)) {
			index[i] = (uint32_t)(k + 1);
			return (long)old;
		}
	}
	index[i] = (uint32_t)(k + 1);
	return -1;
}

const struct slot *snap_lookup(const struct snap *s, const char *path)
{
	return lookup_in(s->slots, s->index, s->index_mask, path);
}

const struct slot *snap_lookup_kept(const struct snap *s, const char *path)
{
	return lookup_in(s->kept, s->kept_index, s->kept_mask, path);
}

long snap_index_put(struct snap *s, size_t k)
{
	return put_in(s->slots, s->index, s->index_mask, k);
}

long snap_kept_index_put(struct snap *s, size_t k)
{
	return put_in(s->kept, s->kept_index, s->kept_mask, k);
}

/* ---- behind the fleet ---- */

/* Written by the fleet thread, read by every request: a relaxed atomic
 * is enough, as nothing else is published with it (a request that reads
 * the old value a moment late answers as it would have a moment
 * earlier). */
static atomic_bool behind;

void snap_behind_set(bool on)
{
	atomic_store_explicit(&behind, on, memory_order_relaxed);
}

bool snap_behind(void)
{
	return atomic_load_explicit(&behind, memory_order_relaxed);
}

/* ---- lifetime ---- */

static void destroy(struct MHD_Response *r)
{
	/* libmicrohttpd counts the connections still sending each response;
	 * the entry goes when the last one finishes. */
	if (r)
		MHD_destroy_response(r);
}

static void free_slots(struct slot *v, size_t n, bool owner)
{
	for (size_t i = 0; v && i < n; i++) {
		struct slot *sl = &v[i];
		destroy(sl->ok);
		destroy(sl->nm);
		struct slot_gz *g = atomic_load(&sl->gz);
		if (g) {
			destroy(g->ok);
			destroy(g->nm);
			destroy(g->behind_ok);
			destroy(g->behind_nm);
			free(g);
		}
		if (sl->behind) {
			destroy(sl->behind->ok);
			destroy(sl->behind->nm);
			free(sl->behind);
		}
		if (owner) {
			entry_release(sl->e);
			free(sl->path);
		}
	}
	free(v);
}

void snap_free(struct snap *s)
{
	if (s->https)
		snap_free(s->https);
	free_slots(s->slots, s->nslots, !s->twin);
	free_slots(s->kept, s->nkept, !s->twin);
	for (int i = 0; i < SNAP_ERR_COUNT; i++)
		destroy(s->err[i]);
	for (int i = 0; i < SNAP_NF_COUNT; i++) {
		destroy(s->nf[i][0]);
		destroy(s->nf[i][1]);
	}
	if (s->twin) {
		free(s->policy.hsts);   /* the rest is borrowed */
	} else {
		policy_copy_release(&s->policy);
		free(s->index);
		free(s->kept_index);
	}
	free(s);
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

/* ---- the current snapshot ---- */

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
