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
	/* Skew protection: the fingerprinted files of earlier cuts the
	 * snapshot still serves ([cache] keep_cuts), how many cuts they come
	 * from, and the bytes they hold (shared with the snapshots they came
	 * from: what old bundles weigh, not a copy). */
	size_t kept_files;
	size_t kept_cuts;
	uint64_t kept_bytes;  /* their bytes and gzip variants */
	size_t kept_pruned;  /* cuts dropped by this build: count, age, bytes */
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

/* snap_builder_add() with the SHA-256 of data already taken (sha; NULL:
 * taken here), as ingest/unpack.c does for a large body on a second core
 * while it is read. */
enum rc snap_builder_add_hashed(struct snap_builder *b, const char *path,
				void *data, size_t len, time_t mtime, bool is_static,
				const unsigned char *sha);

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
 * NULL with *rc set (RC_NOMEM). Frees the builder either way.
 *
 * Skew protection (the policy's keep_cuts, keep_minutes, keep_max_bytes):
 * the new snapshot also serves, under their own names, the fingerprinted
 * files (rules_cache_class()) of the base that it does not have, as the
 * files of the base's cut replaced now, and the ones the base itself kept;
 * a path the new cut has is the new cut's (whatever its bytes), and so is
 * a path under one of its files. Kept cuts are pruned newest first: at
 * most keep_cuts cuts that left files behind, each replaced less than
 * keep_minutes ago, all of them holding at most keep_max_bytes; a cut is
 * kept whole or not at all. The placeholder (seq 0) leaves nothing. */
struct snap *snap_builder_finish(struct snap_builder *b, const struct cut *cut,
				 struct snap_stats *stats, enum rc *rc);

/* s rebuilt as the cut that follows served (a rollback publishes an
 * older cut after a newer one): the same files and policy, and the files
 * served kept plus served's own fingerprinted files that s does not
 * have, as if s were built over served; s's own kept files are not
 * carried (a rollback's rebuild made them from older cuts). Both borrowed.
 * Returns a new snapshot with one reference, or NULL with *rc set
 * (RC_NOMEM). Only the responses are made anew: every entry is shared.
 * Thread-safe. */
struct snap *snap_rebuild_after(const struct snap *s, const struct snap *served,
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

/* Tells the request path whether this origin is behind the newest cut
 * of its fleet (the fleet view, R14): while on, every per-cut response of
 * whatever snapshot is current (the next ones too) says Cache-Control
 * no-store, without Surrogate-Control or CDN-Cache-Control, so no edge
 * stores an older cut after a newer one was served; fingerprinted and
 * kept files stay cacheable. Cheap: one atomic store; a request reads it
 * with one relaxed load. Prebuilt responses when the policy's fleet is
 * set, else built per request. Thread-safe; off at start. */
void snap_behind_set(bool behind);

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
