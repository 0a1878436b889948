/* Snapshots: what is served. A snapshot is one published cut, immutable
 * once built: a table from path to entry, the cut's identity, and the
 * responses prebuilt for each path. Exactly one snapshot is current.
 *
 * Entries (a file's bytes, hash, type, ETag and gzip variant) are shared
 * between snapshots: an entry whose SHA-256 and type match one in the
 * previous snapshot is reused, so an unchanged file costs nothing and keeps
 * its ETag across cuts. Responses are per snapshot, because each one names
 * its cut in X-PREP-Cut; they point at the entry's bytes without copying.
 *
 * The module's files: snap.c (the current pointer, publish, acquire and
 * release, reader threads, lookup), snap_build.c (the builder), entry.c
 * (entries, entry.h) and policy.c (the response policy, policy.h).
 *
 * This header is what ingest/ sees: no libmicrohttpd type crosses it. */
#ifndef PREPD_SNAP_H
#define PREPD_SNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "server/cut.h"
#include "server/rc.h"

struct snap;
struct snap_builder;
struct policy;

/* What a build cost, for the publish log line. */
struct snap_stats {
	size_t files;        /* paths in the snapshot */
	size_t built;        /* entries hashed, typed and gzipped anew */
	size_t reused;       /* entries taken unchanged from the base */
	uint64_t bytes;      /* bytes of all files */
	uint64_t gz_bytes;   /* bytes of the gzip variants that exist */
	size_t gz_pending;   /* entries whose variant the variant thread makes */
	uint64_t unpack_ns;  /* filled by the caller that unpacked, if it wants */
};

/* Starts a snapshot. base (borrowed; keep your reference until finish) is
 * the snapshot to reuse unchanged entries from, or NULL. With overlay, the
 * new snapshot also keeps every base path the builder is not given (an
 * incremental package, R7). policy (server/policy.h: Cache-Control classes,
 * header rules, frame ancestors, SPA fallback) is borrowed only during
 * this call: the builder copies it, and the snapshot keeps that copy for
 * its whole life, so a later policy changes only later snapshots. NULL
 * policy means none (no Cache-Control, no rules, no fallback,
 * frame-ancestors *). Returns NULL on out-of-memory. Thread-safe. */
struct snap_builder *snap_builder_new(const struct snap *base, bool overlay,
				      const struct policy *policy);

/* Adds one file. path is normalised (path.h) and copied. data is taken
 * (freed with free()) unless is_static, in which case it must outlive the
 * process (the built-in site). A path given twice replaces the first.
 * Returns RC_OK or RC_NOMEM; data is taken even on failure. */
enum rc snap_builder_add(struct snap_builder *b, const char *path,
			 void *data, size_t len, time_t mtime, bool is_static);

struct entry;
/* Adds one file made elsewhere (a mapped cut image, server/image.h):
 * takes the caller's reference on e, even on failure. path is copied.
 * The builder's reuse table gets e as for snap_builder_add(). RC_OK or
 * RC_NOMEM. */
enum rc snap_builder_add_entry(struct snap_builder *b, const char *path,
			       struct entry *e);

/* Sets whether the snapshot keeps the base's files the builder is not
 * given (an incremental package), once the package has been read and its
 * kind is known. */
void snap_builder_set_overlay(struct snap_builder *b, bool overlay);

/* What snap_builder_check() found wrong, for a person. */
struct snap_check_error {
	char path[600];      /* the site path at fault, or "" */
	char reason[300];
};

/* Checks the site the builder would make, after the overlay (set it
 * first): no path is both a file and a folder (a package file where the
 * base has a folder, a package folder where the base has a file, or both
 * in the package), at most max_entries files and folders (folders implied
 * by the paths, as the unpacker counts them) and at most max_bytes bytes
 * of files; a cap of 0 is no cap. Consumes nothing: finish or free the
 * builder after. RC_OK; RC_REFUSED (file and folder) or RC_LIMIT (a cap)
 * with err filled; RC_NOMEM. Thread-safe on its own builder. */
enum rc snap_builder_check(const struct snap_builder *b, uint64_t max_entries,
			   uint64_t max_bytes, struct snap_check_error *err);

/* Builds every response and returns the snapshot with one reference, or
 * NULL with *rc set (RC_NOMEM). Frees the builder either way. */
struct snap *snap_builder_finish(struct snap_builder *b, const struct cut *cut,
				 struct snap_stats *stats, enum rc *rc);

/* Discards an unfinished builder and every file added to it. NULL is a
 * no-op. */
void snap_builder_free(struct snap_builder *b);

/* Makes s current; takes the caller's reference. Swaps one pointer, then
 * waits until no request thread can still be looking at the old snapshot
 * before dropping it. Requests never wait for this. Thread-safe; publishes
 * are serialised. */
void snap_publish(struct snap *s);

/* Returns the current snapshot with a reference taken, or NULL before the
 * first publish. Thread-safe, but may wait for a publish in progress: use
 * it from the ingest, admin or main thread, never from a request handler
 * (those use snap_current()). */
struct snap *snap_acquire(void);

/* Takes one more reference on s, which the caller already holds.
 * Thread-safe. */
void snap_retain(struct snap *s);

/* Drops one reference; the last one frees. NULL is a no-op. Thread-safe. */
void snap_release(struct snap *s);

/* The cut a snapshot serves. Borrowed from s. */
const struct cut *snap_cut(const struct snap *s);

/* Drops the current snapshot at exit, after every worker has stopped. */
void snap_shutdown(void);

/* What changed from one cut to the next, path by path (the publish event,
 * a CDN purge). Each list is sorted (strcmp), its strings copied; NULL
 * when empty. */
struct snap_diff {
	char **added;      /* in next, not in old */
	char **changed;    /* in both, with other bytes (SHA-256) */
	char **removed;    /* in old, not in next */
	size_t n_added, n_changed, n_removed;
};

/* Fills out with the differences from old to next (both borrowed: hold a
 * reference to each for the call). old NULL: every path of next is added.
 * Pure and thread-safe. RC_OK, or RC_NOMEM with out emptied. Release out
 * with snap_diff_release(). */
enum rc snap_diff(const struct snap *old, const struct snap *next,
		  struct snap_diff *out);

/* Frees the lists and empties d. An empty d is a no-op. */
void snap_diff_release(struct snap_diff *d);

#endif
