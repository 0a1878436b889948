/* Entries: one file's content and everything derived from it alone (hash,
 * type, ETag, Last-Modified, gzip variant). An entry is immutable once
 * made, except for its gzip variant, which is attached once, later, by
 * entry_make_variant() (the variant thread, server/variant.h), so a cut
 * is served with its identity bodies as soon as they are hashed. Entries
 * are shared by reference between snapshots and the libmicrohttpd
 * responses that send its bytes, so an unchanged file costs nothing in the
 * next cut and keeps its ETag and its variant. Pure: no libmicrohttpd type
 * here. */
#ifndef PREPD_ENTRY_H
#define PREPD_ENTRY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "server/rc.h"
#include "server/util.h"

struct mime;

/* A gzip (RFC 1952) copy of an entry's bytes; immutable once attached. */
struct entry_gz {
	size_t len;
	bool mapped;          /* data is an anonymous mapping of map_len bytes */
	size_t map_len;
	bool borrowed;        /* data belongs to the entry's backing (an image) */
	unsigned char *data;
};

/* Whatever holds an entry's bytes when the entry does not (a mapped cut
 * image, server/image.h): released once per entry that used it. */
struct entry_backing {
	void (*release)(struct entry_backing *b);
};

/* Freed when the last reference (a snapshot slot, a builder, a response
 * still being sent) is dropped. Fields are read-only after entry_new(),
 * except gz, which goes once from ENTRY_GZ_PENDING to NULL (gzip would
 * not be smaller) or to the variant: read it with entry_variant(). */
struct entry {
	_Atomic long refs;
	unsigned char sha[SHA256_BYTES];
	const struct mime *mime;
	char ctype[96];
	char etag[24];        /* "\"<16 hex>\"" */
	char etag_gz[28];     /* "\"<16 hex>-gz\"" */
	char lastmod[32];     /* IMF-fixdate */
	time_t mtime;
	const unsigned char *data;
	size_t len;
	bool owned;           /* data is ours to free */
	struct entry_backing *backing;   /* released with the entry, or NULL */
	_Atomic(struct entry_gz *) gz;   /* ENTRY_GZ_PENDING until tried */
};

/* The value of entry.gz before entry_make_variant() has tried. */
extern struct entry_gz entry_gz_pending_mark;
#define ENTRY_GZ_PENDING (&entry_gz_pending_mark)

/* Makes an entry with one reference for data[0..len) whose SHA-256 is sha
 * and whose type is m (static). With owned, the entry takes data (freed
 * with free() when the entry goes), but only on success: on NULL
 * (out-of-memory) data is still the caller's. A future or missing mtime
 * becomes now. Fast: no compression here; an entry whose type is worth
 * compressing starts with its variant pending (entry_variant_pending()).
 * Thread-safe. */
struct entry *entry_new(const unsigned char sha[SHA256_BYTES],
			const struct mime *m, const void *data, size_t len,
			time_t mtime, bool owned);

/* The gzip variant, or NULL (none, or not made yet). One atomic load
 * (acquire): safe on the request path; the variant lives as long as e. */
static inline const struct entry_gz *entry_variant(const struct entry *e)
{
	struct entry_gz *g = atomic_load_explicit(&((struct entry *)e)->gz, memory_order_acquire);
	return g == ENTRY_GZ_PENDING ? NULL : g;
}

/* True until entry_make_variant() has tried e (its type is worth
 * compressing). A response built while it is true carries Vary:
 * Accept-Encoding, since a gzip variant may follow. */
static inline bool entry_variant_pending(const struct entry *e)
{
	return atomic_load_explicit(&((struct entry *)e)->gz, memory_order_acquire) ==
	       ENTRY_GZ_PENDING;
}

/* Compresses e's bytes (GZIP_BEST_MAX_BYTES picks the level) and attaches
 * the result when it is smaller; attaches "none" otherwise. Slow for a
 * large file: call it off the request and ingest paths (the variant
 * thread). A no-op once tried. Returns RC_OK, or RC_NOMEM with e left
 * pending (a later call may try again). Thread-safe: two callers race with
 * one compare-and-swap and the loser frees its copy. */
enum rc entry_make_variant(struct entry *e);

/* For an entry made over borrowed bytes (owned false): backing (whose
 * reference the caller hands over) is released when e goes, and, when gz
 * is not NULL, gz[0..gz_len) (also the backing's) is attached as e's
 * variant, or none with gz_len 0 and gz not NULL. Call before e is
 * shared. */
enum rc entry_set_backing(struct entry *e, struct entry_backing *backing,
			  const void *gz, size_t gz_len);

/* Bytes of entry bodies and variants freed since the last call, and
 * resets the count: the variant thread gives memory back to the system
 * (malloc_trim) after a large cut goes. Thread-safe. */
uint64_t entry_freed_bytes_take(void);

/* Takes one more reference on e, which the caller already holds.
 * Thread-safe. */
void entry_acquire(struct entry *e);

/* Drops one reference; the last one frees e and its bytes. NULL is a
 * no-op. Thread-safe (called from libmicrohttpd's response free
 * callbacks). */
void entry_release(struct entry *e);

#endif
