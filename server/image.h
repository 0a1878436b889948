/* Cut images: a built cut kept in the data folder as one file (every
 * file's bytes, its gzip variant and the path table), so a restart maps
 * it and serves in place instead of unpacking and compressing the package
 * again (the way kiwix-serve serves its archives; issue 13).
 *
 * An image is a cache, never trusted blindly: DATA/images/cut-SEQ.img
 * names the journal's publication SEQ; its header holds a version, the
 * cut's seq and label, the package's SHA-256 (the journal's), the sizes
 * and the SHA-256 of the header and of the path table; every body is
 * checked against its SHA-256 in the table as it is loaded (the same hash
 * a build from the package computes) and every variant against its own.
 * Anything that does not match is refused with a reason and the cut is
 * rebuilt from the package in the history. Written to a temporary name
 * and renamed, so a crash leaves the old image or none; only the newest
 * image is kept. A failed write (disk full) is reported and changes
 * nothing else.
 *
 * Layout (host byte order, the machine that wrote it reads it; the
 * header says which): a 512-byte header, the table (one record per file:
 * offsets, lengths, mtime, SHA-256 of the body and of the variant, the
 * path), then the bytes. */
#ifndef PREPD_IMAGE_H
#define PREPD_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "server/cut.h"
#include "server/rc.h"

struct snap;
struct policy;

#define IMAGE_VERSION 1u

/* Writes s (borrowed; hold a reference) as the image of publication seq,
 * whose package's SHA-256 is sha_hex, into data_dir/images/, then removes
 * older images. Variants not made yet are written as pending. Returns
 * RC_OK, or RC_IO / RC_NOMEM / RC_LIMIT (less free space than twice the
 * image and IMAGE_MIN_FREE_BYTES) with err filled (nothing is left behind: the
 * temporary file is removed). Thread-safe for distinct seqs; slow for a
 * large cut (writes every byte): call it off the ingest and request
 * threads. */
enum rc image_write(const char *data_dir, const struct snap *s, uint64_t seq,
		    const char *sha_hex, char *err, size_t errsz);

/* Maps the image of publication seq and builds its snapshot, named cut,
 * with policy (as snap_builder_new()). Returns the snapshot with one
 * reference, or NULL with *rc: RC_NOTFOUND (no image), RC_FORMAT (the
 * image does not match: why says what), RC_IO, RC_NOMEM. Does not log. */
struct snap *image_load(const char *data_dir, uint64_t seq, const char *sha_hex,
			const struct cut *cut, const struct policy *policy,
			enum rc *rc, char *why, size_t whysz);

/* The image file of seq: DATA/images/cut-SEQ.img. */
void image_path(const char *data_dir, uint64_t seq, char *out, size_t outsz);

#endif
