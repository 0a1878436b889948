/* The variant thread: makes the gzip variants of a published cut after
 * its identity bodies are served, so a package's last byte to its first
 * response does not wait for compressing (issue 13). One thread at nice
 * 10: it never competes with the request threads for a core, and it
 * compresses one entry at a time, smallest first (the JSON and the
 * bundles before a 100 MB CSV).
 *
 * For each snapshot handed over (variant_enqueue(), called by
 * snap_builder_finish()) it makes every pending variant
 * (entry_make_variant()) and attaches the slot's gzip responses
 * (snap_slot_attach_gz(), to the HTTPS twin too), each with one atomic
 * store; a request reads it with one atomic load (slot_gz()), so a
 * request gets the identity body or the whole gzip variant, never part of
 * one, and the identity body always comes first. A snapshot no one holds
 * any more (a newer cut replaced it) is dropped mid-way: its entries that
 * the newer cut shares are done with the newer one.
 *
 * It also gives memory back to the system: when more than
 * VARIANT_TRIM_BYTES of bodies were freed (a large cut replaced), it calls
 * malloc_trim(0) from its own thread, off the request path.
 *
 * Without variant_start() (unit tests, tools) variant_enqueue() does the
 * work at once on the caller's thread, as before issue 13. */
#ifndef PREPD_VARIANT_H
#define PREPD_VARIANT_H

#include <stdbool.h>
#include <stdint.h>

#include "server/rc.h"

struct snap;

/* Starts the thread. RC_OK, or RC_NOMEM when it cannot be created (then
 * variants are made on the publishing thread, as without it). Main
 * thread, at start-up, before the first snapshot is built. */
enum rc variant_start(void);

/* Stops the thread after the entry it is compressing, and drops the
 * snapshots still queued (their identity bodies are complete). Safe
 * without variant_start(). */
void variant_stop(void);

/* Queues s for its pending variants (takes a reference of its own), or
 * does nothing when it has none. Without the thread, makes them now.
 * Thread-safe; never blocks on the thread's work. */
void variant_enqueue(struct snap *s);

/* Queues the writing of s's cut image (server/image.h) as publication
 * seq of the package whose SHA-256 is sha_hex, into data_dir (copied),
 * after every job queued before it (so after s's own variants). Skipped
 * when the image is already there or s is no longer held by anyone else.
 * A failed write is logged (image write-failed) and changes nothing else.
 * Without the thread, does nothing: images are a cache. Thread-safe. */
void variant_enqueue_image(struct snap *s, const char *data_dir, uint64_t seq,
			   const char *sha_hex);

/* Waits until every queued snapshot is done or dropped, at most
 * timeout_ms. True when idle. For tests and benchmarks. */
bool variant_wait_idle(unsigned timeout_ms);

/* What the thread has done since start, for /status and the tests. */
struct variant_stats {
	uint64_t made;        /* variants compressed (smaller or not) */
	uint64_t bytes_in;    /* identity bytes compressed */
	uint64_t bytes_out;   /* gzip bytes kept */
	uint64_t dropped;     /* snapshots dropped before they were done */
	uint64_t trims;       /* malloc_trim(0) calls */
	uint64_t images;      /* cut images written */
	uint64_t image_failures;
	unsigned queued;      /* snapshots waiting or in progress */
};
void variant_stats(struct variant_stats *out);

#endif
