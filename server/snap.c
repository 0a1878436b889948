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

long snap_index_put(struct snap *s, size_t k)
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

/* ---- lifetime ---- */

void snap_free(struct snap *s)
{
	if (s->https)
		snap_free(s->https);
	for (size_t i = 0; s->slots && i < s->nslots; i++) {
		struct slot *sl = &s->slots[i];
		/* libmicrohttpd counts the connections still sending each
		 * response; the entry goes when the last one finishes. */
		if (sl->ok) MHD_destroy_response(sl->ok);
		if (sl->nm) MHD_destroy_response(sl->nm);
		struct slot_gz *g = atomic_load(&sl->gz);
		if (g) {
			if (g->ok) MHD_destroy_response(g->ok);
			if (g->nm) MHD_destroy_response(g->nm);
			free(g);
		}
		if (!s->twin) {
			entry_release(sl->e);
			free(sl->path);
		}
	}
	for (int i = 0; i < SNAP_ERR_COUNT; i++)
		if (s->err[i])
			MHD_destroy_response(s->err[i]);
	if (s->twin) {
		free(s->policy.hsts);   /* the rest is borrowed */
	} else {
		policy_copy_release(&s->policy);
		free(s->index);
	}
	free(s->slots);
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
