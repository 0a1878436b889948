/* A tar stream checked block by block as POSIX (ustar and pax) writes it,
 * with the GNU long-name extension: every header's checksum, its size
 * field (octal or base-256), every pax extended record ("LEN key=value\n",
 * LEN exact; size, uid and gid plain decimal, times decimal with an
 * optional fraction), no NUL in a name, and the end-of-archive marker of
 * two zero blocks followed by nothing but zero blocks. libarchive 3.6.2
 * stops at the first zero block, reads "size=12abc" as 12, and takes a
 * stream cut on a block boundary as a whole archive; other tools read
 * those differently, so each is refused. Not thread-safe: one per stream.
 * Leaf module, no logging. */
#ifndef PREPD_TARSCAN_H
#define PREPD_TARSCAN_H

#include <stdbool.h>
#include <stddef.h>

#include "ingest/scan.h"

struct tarscan;

/* NULL on RC_NOMEM. */
struct tarscan *tarscan_new(void);

/* Takes the next n bytes of the tar. Returns false once it is refused;
 * later calls do nothing. */
bool tarscan_feed(struct tarscan *t, const void *buf, size_t n);

/* The verdict at the end of the stream: RC_OK, or RC_FORMAT (with the
 * entry at fault, or the last one before the fault, in err), RC_LIMIT
 * (a pax or long-name header over its cap), RC_REFUSED (a NUL in a name,
 * a sparse file), RC_NOMEM. */
enum rc tarscan_finish(struct tarscan *t, struct scan_error *err);

void tarscan_free(struct tarscan *t);

/* ---- exposed for the unit tests ---- */

/* A tar numeric field (size, mode, checksum, ...) of len bytes: octal
 * digits after optional spaces, ended by a space, a NUL or the field's
 * end; or base-256 (first byte 0x80). False for anything else, a
 * negative base-256 value or more than 2^63 - 1. */
bool tarscan_number(const unsigned char *field, size_t len, uint64_t *out);

/* Checks the records of one pax extended header (global or not) of len
 * bytes. On success fills *size (UINT64_MAX: no size record), and the
 * path record's value (borrowed from buf, not NUL-terminated; NULL if
 * none). RC_FORMAT / RC_REFUSED with err otherwise. */
enum rc tarscan_pax(const char *buf, size_t len, bool global, uint64_t *size,
		    const char **path, size_t *path_len, struct scan_error *err);

#endif
