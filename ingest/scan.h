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
 * NULL on RC_NOMEM. Not thread-safe; one per package. */
struct scan_stream *scan_stream_new(const struct unpack_limits *lim);

/* Sees the next n bytes of the package. Shaped as verify's observer; once
 * the package is refused, further bytes are ignored. */
void scan_stream_observe(void *stream, const void *buf, size_t n);

/* The verdict once every byte was observed: RC_OK, or the rc with the
 * entry and the reason in err. RC_NOMEM when memory ran out meanwhile. */
enum rc scan_stream_finish(struct scan_stream *s, struct scan_error *err);

void scan_stream_free(struct scan_stream *s);

#endif
