/* What the verify stage does to a package (its SHA-256 and the stream
 * check of ingest/scan.h, which inflates a .tar.gz and keeps its tar),
 * done as the bytes arrive instead of after: a pull feeds it from the
 * download (fetch_set_observer()), so when the last byte is in, the
 * package is hashed and inflated and verify only compares the hash with
 * the sidecar. The pipeline takes the result only if the file it is
 * about to keep is exactly as long as what was seen (ingest/pipeline.c);
 * anything else is hashed again from the file, as before.
 * Not thread-safe: one per download, on the thread that downloads.
 * Leaf module, no logging. */
#ifndef PREPD_PRESCAN_H
#define PREPD_PRESCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/scan.h"
#include "ingest/settings.h"
#include "server/rc.h"
#include "server/util.h"

struct prescan;

/* lim is borrowed for the prescan's life. NULL on RC_NOMEM. */
struct prescan *prescan_new(const struct unpack_limits *lim);

/* A new body starts (a download, or the next response after a redirect
 * or a retry): everything seen before is forgotten. Shaped as a fetch
 * observer's begin. */
void prescan_begin(void *p);

/* The next n bytes of the body. Shaped as a fetch observer's observe. */
void prescan_observe(void *p, const void *buf, size_t n);

/* The body is complete: the hash is final and the scan has its verdict.
 * Further begin/observe calls are ignored. */
void prescan_end(struct prescan *p);

/* After prescan_end(): true when the result stands for `bytes` bytes
 * (the size of the file kept): every byte was seen, once, in order, and
 * memory never ran out. Then sha is the SHA-256 of those bytes, and
 * scan_rc/se/confirm are scan_stream_finish()'s verdict and
 * scan_stream_confirm(). */
bool prescan_usable(const struct prescan *p, uint64_t bytes);

struct prescan_result {
	unsigned char sha[SHA256_BYTES];
	enum rc scan_rc;
	struct scan_error se;
	bool confirm;
};
const struct prescan_result *prescan_result(const struct prescan *p);

/* Moves the inflated tar of an accepted .tar.gz to *out (see
 * scan_stream_take_tar()); false when there is none. */
bool prescan_take_tar(struct prescan *p, struct scan_tar *out);

/* Bytes seen since the last begin. */
uint64_t prescan_bytes(const struct prescan *p);

void prescan_free(struct prescan *p);

#endif
