#include "server/reqbus.h"

#include "server/limits.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#include <time.h>

/* One single-producer single-consumer byte ring per request thread,
 * holding packed records (reqrec_pack()): an 8-byte header with the packed
 * length, then the packed record; both multiples of 8, so a header never
 * straddles the ring's end while a record's body may wrap. head is the
 * producer's, tail the collector's; both count bytes, only grow, and the
 * ring position is the value modulo REQBUS_RING_BYTES. Each side works in
 * its own cache line: the producer reads the collector's tail only when
 * its cached copy says the ring is full, so the line holding tail is not
 * pulled over on every request. */
struct ring {
	alignas(64) _Atomic uint64_t head;
	uint64_t tail_seen;            /* producer's last look at tail */
	alignas(64) _Atomic uint64_t tail;
	alignas(64) unsigned char buf[REQBUS_RING_BYTES];
};

#define REC_HEADER 8u

_Static_assert((REQBUS_RING_BYTES & (REQBUS_RING_BYTES - 1)) == 0,
	       "REQBUS_RING_BYTES must be a power of two");
_Static_assert(REQBUS_RING_BYTES >= 4 * (REC_HEADER + REQREC_PACKED_MAX),
	       "a ring must hold a few records of the largest size");

/* Copies n bytes into the ring at byte position pos, wrapping. */
static void ring_write(struct ring *r, uint64_t pos, const void *src, size_t n)
{
	size_t at = pos & (REQBUS_RING_BYTES - 1);
	size_t first = n < REQBUS_RING_BYTES - at ? n : REQBUS_RING_BYTES - at;
	memcpy(r->buf + at, src, first);
	memcpy(r->buf, (const unsigned char *)src + first, n - first);
}

static void ring_read(const struct ring *r, uint64_t pos, void *dst, size_t n)
{
	size_t at = pos & (REQBUS_RING_BYTES - 1);
	size_t first = n < REQBUS_RING_BYTES - at ? n : REQBUS_RING_BYTES - at;
	memcpy(dst, r->buf + at, first);
	memcpy((unsigned char *)dst + first, r->buf, n - first);
}

struct sink {
	const char *name;
	void (*fn)(const struct reqrec *r, void *ctx);
	void (*flush)(void *ctx);
	void *ctx;
};

/* The collector releases ring space after this many records of a pass
 * (and at the end of it), not after each one. */
#define RELEASE_EVERY 64u

static struct sink sinks[REQBUS_MAX_SINKS];
static unsigned nsinks;
static _Atomic(struct ring *) rings[REQBUS_MAX_RINGS];
static _Atomic bool running;
static _Atomic bool stopping;
static _Atomic uint64_t dropped;
static pthread_t collector;
static thread_local struct ring *my_ring;
/* Which run of the bus my_ring belongs to: reqbus_stop() frees the rings,
 * so a thread that outlives a stop and start (a test, a later reload) must
 * not write into the ring of an earlier run. */
static _Atomic unsigned generation;
static thread_local unsigned my_generation;

enum rc reqbus_sink_add(const char *name, void (*fn)(const struct reqrec *r, void *ctx),
			void (*flush)(void *ctx), void *ctx)
{
	if (nsinks >= REQBUS_MAX_SINKS || atomic_load(&running))
		return RC_LIMIT;
	sinks[nsinks++] = (struct sink){ name, fn, flush, ctx };
	return RC_OK;
}

bool reqbus_enabled(void)
{
	return atomic_load_explicit(&running, memory_order_relaxed);
}

uint64_t reqbus_dropped(void)
{
	return atomic_load_explicit(&dropped, memory_order_relaxed);
}

bool reqbus_attach_thread(void)
{
	if (!reqbus_enabled())
		return true;
	unsigned gen = atomic_load(&generation);
	if (my_ring && my_generation == gen)
		return true;   /* attached already in this run */
	/* Rings are made on demand: most machines run a handful of workers.
	 * calloc() leaves the pages untouched until records fill them. */
	struct ring *r = calloc(1, sizeof *r);
	if (!r)
		return false;
	for (unsigned i = 0; i < REQBUS_MAX_RINGS; i++) {
		struct ring *expected = NULL;
		if (atomic_compare_exchange_strong(&rings[i], &expected, r)) {
			my_ring = r;
			my_generation = gen;
			return true;
		}
	}
	free(r);
	return false;
}

void reqbus_put(const struct reqrec *rec)
{
	struct ring *r = my_ring;
	if (!r || my_generation != atomic_load_explicit(&generation, memory_order_relaxed))
		return;
	/* Packed on the stack first: the strings' lengths are known only
	 * then, and the copy into the ring is two memcpy at most. */
	alignas(8) unsigned char packed[REC_HEADER + REQREC_PACKED_MAX];
	size_t n = reqrec_pack(rec, packed + REC_HEADER);
	uint64_t len = n;
	memcpy(packed, &len, sizeof len);
	n += REC_HEADER;
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	if (head - r->tail_seen + n > REQBUS_RING_BYTES) {
		r->tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (head - r->tail_seen + n > REQBUS_RING_BYTES) {
			atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
			return;
		}
	}
	ring_write(r, head, packed, n);
	atomic_store_explicit(&r->head, head + n, memory_order_release);
}

/* Hands every queued record to the sinks; returns how many there were. */
static uint64_t drain(void)
{
	uint64_t total = 0;
	struct reqrec rec;
	for (unsigned i = 0; i < REQBUS_MAX_RINGS; i++) {
		struct ring *r = atomic_load_explicit(&rings[i], memory_order_acquire);
		if (!r)
			continue;
		uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
		uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
		for (uint64_t n = 1; tail != head; n++) {
			alignas(8) unsigned char packed[REQREC_PACKED_MAX];
			uint64_t len;
			ring_read(r, tail, &len, sizeof len);
			/* The producer wrote len; anything else is a bug here, and
			 * the rest of this ring cannot be trusted: drop it. */
			if (len > REQREC_PACKED_MAX || len % 8 || head - tail < REC_HEADER + len) {
				atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
				atomic_store_explicit(&r->tail, head, memory_order_release);
				break;
			}
			ring_read(r, tail + REC_HEADER, packed, (size_t)len);
			tail += REC_HEADER + len;
			if (reqrec_unpack(packed, (size_t)len, &rec)) {
				total++;
				for (unsigned s = 0; s < nsinks; s++)
					sinks[s].fn(&rec, sinks[s].ctx);
			} else {
				atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
			}
			if (n % RELEASE_EVERY == 0 || tail == head)
				atomic_store_explicit(&r->tail, tail, memory_order_release);
		}
	}
	return total;
}

static void flush_all(void)
{
	for (unsigned s = 0; s < nsinks; s++)
		if (sinks[s].flush)
			sinks[s].flush(sinks[s].ctx);
}

static void *collector_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&stopping)) {
		uint64_t n = drain();
		flush_all();
		if (n == 0) {
			struct timespec ts = { 0, REQBUS_NAP_NS };
			nanosleep(&ts, NULL);
		}
	}
	drain();   /* the request threads have stopped: this is the rest */
	flush_all();
	return NULL;
}

enum rc reqbus_start(void)
{
	if (!nsinks || atomic_load(&running))
		return RC_OK;
	atomic_store(&dropped, 0);
	atomic_store(&stopping, false);
	atomic_fetch_add(&generation, 1);
	atomic_store(&running, true);
	if (pthread_create(&collector, NULL, collector_main, NULL)) {
		atomic_store(&running, false);
		return RC_NOMEM;
	}
	return RC_OK;
}

void reqbus_stop(void)
{
	if (atomic_load(&running)) {
		atomic_store(&stopping, true);
		pthread_join(collector, NULL);
		atomic_store(&running, false);
	}
	for (unsigned i = 0; i < REQBUS_MAX_RINGS; i++)
		free(atomic_exchange(&rings[i], NULL));
	memset(sinks, 0, sizeof sinks);
	nsinks = 0;
}
