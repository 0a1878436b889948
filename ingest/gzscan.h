/* A gzip stream checked as RFC 1952 writes it, fed in pieces: one member
 * whose header is well-formed (reserved flags clear, FHCRC right when
 * present), whose deflate data inflates, whose trailer's CRC-32 and ISIZE
 * match what came out, and nothing after it. libarchive 3.6.2 checks
 * neither the trailer nor the end, and reads a second member as more of
 * the tar. The inflated bytes go on to a sink (the tar check).
 * Not thread-safe: one per stream. Leaf module, no logging. */
#ifndef PREPD_GZSCAN_H
#define PREPD_GZSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/scan.h"

struct gzscan;

/* Receives inflated bytes in order; returns false to stop the scan (the
 * sink refused; its own error says why). */
typedef bool (*gzscan_sink)(void *ctx, const void *buf, size_t n);

/* max_out: inflating more than this many bytes is refused (RC_LIMIT), so
 * a small bomb cannot keep the ingest thread busy for hours. sink may be
 * NULL. NULL on RC_NOMEM. Inflates with ISA-L (igzip, about 3x zlib);
 * when ISA-L refuses the deflate data, gzscan_fast_failed() says so and
 * the verdict must be confirmed by a reference scan of the same bytes,
 * whose reason is the one to report. */
struct gzscan *gzscan_new(gzscan_sink sink, void *ctx, uint64_t max_out);

/* gzscan_new() inflating with zlib: the reference, whose verdicts and
 * reasons (zlib's messages) are the ones prepd reports for bad data. */
struct gzscan *gzscan_new_reference(gzscan_sink sink, void *ctx, uint64_t max_out);

/* Whether the refusal came from ISA-L's inflater (see gzscan_new()). */
bool gzscan_fast_failed(const struct gzscan *g);

/* Takes the next n bytes. Returns false once the stream is refused or
 * the sink stopped; later calls do nothing. */
bool gzscan_feed(struct gzscan *g, const void *buf, size_t n);

/* Whether the sink stopped the scan (its error is the verdict). */
bool gzscan_sink_stopped(const struct gzscan *g);

/* The verdict at the end of the input: RC_OK for one whole member and
 * nothing after it; RC_FORMAT (truncated, corrupt, wrong CRC-32 or ISIZE,
 * junk or a second member after the end), RC_LIMIT, RC_NOMEM, with the
 * reason in err (entry ""). RC_OK too when the sink stopped it. */
enum rc gzscan_finish(struct gzscan *g, struct scan_error *err);

/* Bytes consumed and produced so far. */
uint64_t gzscan_in(const struct gzscan *g);
uint64_t gzscan_out(const struct gzscan *g);

void gzscan_free(struct gzscan *g);

#endif
