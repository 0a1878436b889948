/* What the structural checks of a package share (ingest/zipscan.h,
 * ingest/gzscan.h, ingest/tarscan.h), and the stream check the pipeline
 * runs while verify hashes the package.
 *
 * libarchive is lenient: it reads a zip's local headers where unzip reads
 * its central directory, stops a tar at the first zero block, and ignores
 * a gzip trailer. These checks read the formats as their specifications
 * write them (PKWARE APPNOTE 6.3, POSIX pax, RFC 1952) and refuse any
 * package two readers could read differently. Leaf modules: no logging. */
#ifndef PREPD_SCAN_H
#define PREPD_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/settings.h"
#include "server/rc.h"

/* Why a package was refused: the entry (escaped for a log line, "" when
 * the whole package is at fault) and a phrase for a person. */
struct scan_error {
	enum rc rc;
	char entry[600];
	char reason[300];
};

/* Copies name[0..len) into out for a log line: printable ASCII and valid
 * UTF-8 as they are, anything else (NUL included) as \xHH, quotes and
 * backslashes escaped, cut short (whole characters) to fit outsz. */
void scan_escape(const void *name, size_t len, char *out, size_t outsz);

/* Fills err (escaping entry, which may be NULL) and returns rc. */
enum rc scan_fail(struct scan_error *err, enum rc rc, const void *entry,
		  size_t entry_len, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* The check of a package's bytes in the order they are read, fed by
 * verify's hashing loop so the package is read once: a gzip is checked
 * member, trailer and end (gzscan) and the tar inside it block by block
 * (tarscan). A zip needs its end first and is checked by unpack
 * (zipscan); anything else is left to unpack to refuse. */
struct scan_stream;

/* lim is borrowed for the scanner's life (caps on entry and total sizes).
 * NULL on RC_NOMEM. Not thread-safe; one per package. The same as
 * scan_stream_new_flags(lim, 0). */
struct scan_stream *scan_stream_new(const struct unpack_limits *lim);

/* What a scan keeps or how it inflates:
 * SCAN_KEEP_TAR: the tar a gzip inflates to is kept in memory, so the
 *   package is inflated once (scan_stream_take_tar());
 * SCAN_REFERENCE: inflates with zlib (gzscan_new_reference()), to confirm
 *   a refusal of the fast inflater (scan_stream_confirm()). */
enum { SCAN_KEEP_TAR = 1, SCAN_REFERENCE = 2 };
struct scan_stream *scan_stream_new_flags(const struct unpack_limits *lim, unsigned flags);

/* The inflated tar of a .tar.gz a SCAN_KEEP_TAR scan accepted: len bytes
 * at p, in a private anonymous mapping of cap bytes (page-aligned),
 * never more than the inflate cap
 * (max_total_bytes plus the tar's headers). Owned by whoever took it;
 * unpack_tar() gives its pages back as it reads them. */
struct scan_tar {
	unsigned char *p;
	size_t len, cap;
};

/* Whether the verdict of scan_stream_finish() was a refusal by the fast
 * inflater (ISA-L) that a SCAN_REFERENCE scan of the same bytes must
 * confirm: its verdict and reason are the ones to report. */
bool scan_stream_confirm(const struct scan_stream *s);

/* After scan_stream_finish() returned RC_OK for a .tar.gz scanned with
 * SCAN_KEEP_TAR: moves the inflated tar to *out and returns true. False
 * (and *out empty) for anything else: a refused or unfinished scan, a
 * zip, a scan without the flag. */
bool scan_stream_take_tar(struct scan_stream *s, struct scan_tar *out);

/* Unmaps t->p (NULL is fine) and empties *t. */
void scan_tar_release(struct scan_tar *t);

/* Sees the next n bytes of the package. Shaped as verify's observer; once
 * the package is refused, further bytes are ignored. */
void scan_stream_observe(void *stream, const void *buf, size_t n);

/* The verdict once every byte was observed: RC_OK, or the rc with the
 * entry and the reason in err. RC_NOMEM when memory ran out meanwhile. */
enum rc scan_stream_finish(struct scan_stream *s, struct scan_error *err);

void scan_stream_free(struct scan_stream *s);

#endif
