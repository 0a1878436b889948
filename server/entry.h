/* Entries: one file's content and everything derived from it alone (hash,
 * type, ETag, Last-Modified, gzip variant). An entry is immutable once
 * made and shared by reference between snapshots and the libmicrohttpd
 * responses that send its bytes, so an unchanged file costs nothing in the
 * next cut and keeps its ETag. Pure: no libmicrohttpd type here. */
#ifndef PREPD_ENTRY_H
#define PREPD_ENTRY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "server/util.h"

struct mime;

/* Freed when the last reference (a snapshot slot, a builder, a response
 * still being sent) is dropped. Fields are read-only after entry_new(). */
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
	unsigned char *gz;    /* NULL when gzip would not be smaller */
	size_t gz_len;
};

/* Makes an entry with one reference for data[0..len) whose SHA-256 is sha
 * and whose type is m (static). With owned, the entry takes data (freed
 * with free() when the entry goes), but only on success: on NULL
 * (out-of-memory) data is still the caller's. A future or missing mtime
 * becomes now. Compresses data when m says it is worth it and the result
 * is smaller (GZIP_BEST_MAX_BYTES picks the level), so this may take a
 * while for a large file. Thread-safe. */
struct entry *entry_new(const unsigned char sha[SHA256_BYTES],
			const struct mime *m, const void *data, size_t len,
			time_t mtime, bool owned);

/* Takes one more reference on e, which the caller already holds.
 * Thread-safe. */
void entry_acquire(struct entry *e);

/* Drops one reference; the last one frees e and its bytes. NULL is a
 * no-op. Thread-safe (called from libmicrohttpd's response free
 * callbacks). */
void entry_release(struct entry *e);

#endif
