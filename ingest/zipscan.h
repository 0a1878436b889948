/* A zip checked from its bytes as PKWARE's APPNOTE (6.3.x) writes it, so
 * that libarchive (which reads names, sizes and flags from the local
 * headers, in local-header order) and unzip or Windows (which read the
 * central directory) see one archive: the end of central directory record
 * (and the ZIP64 one) ending the file exactly; every central record equal
 * to its local header in name, method, flags, CRC-32 and sizes (those of
 * the data descriptor too when bit 3 is set); the local entries tiling the
 * file from byte 0 to the central directory, with no overlap, gap, or
 * prepended or appended bytes; no NUL in a name; no encryption; the entry
 * count as the end record says. Leaf module, no logging; reentrant. */
#ifndef PREPD_ZIPSCAN_H
#define PREPD_ZIPSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/scan.h"

struct zipscan_entry {
	char *name;          /* the name libarchive 3.6.2 takes: the header's
	                      * bytes, or the Info-ZIP Unicode Path (0x7075)
	                      * when it applies; NUL-terminated, owned */
	size_t name_len;
	bool utf8;           /* general purpose bit 11, or the name came from
	                      * a Unicode Path field: the name is UTF-8 */
	bool dos;            /* the local header says MS-DOS (libarchive
	                      * then reads '\' as '/' in a name with no '/') */
	uint64_t local_off;
	uint64_t size;       /* uncompressed */
	/* where its data is and how it is stored, as both headers (and the
	 * data descriptor) agree: the first byte after the local header,
	 * the compressed size, the method (0 stored, 8 deflate, ...) and
	 * the CRC-32 of the uncompressed bytes */
	uint64_t data_off, csize;
	uint16_t method;
	uint32_t crc;
};

/* The entries in local-header order, the order libarchive reads them. */
struct zipscan {
	struct zipscan_entry *v;
	size_t n;
};

/* Reads exactly n bytes at off into buf: RC_OK, RC_IO, or RC_FORMAT when
 * the file is shorter. */
typedef enum rc (*zipscan_read_fn)(void *ctx, void *buf, size_t n, uint64_t off);

/* Checks the zip of size bytes that rd reads. max_entries: a central
 * directory announcing more is refused before it is read (RC_LIMIT).
 * On RC_OK *out holds the entries (zipscan_release() them); otherwise
 * *out is empty and err says which entry and why: RC_FORMAT (truncated,
 * damaged, inconsistent, junk), RC_REFUSED (encrypted, NUL in a name),
 * RC_LIMIT, RC_IO, RC_NOMEM. */
enum rc zipscan_run(zipscan_read_fn rd, void *ctx, uint64_t size,
		    uint64_t max_entries, struct zipscan *out,
		    struct scan_error *err);

/* zipscan_run() over an open file (pread, the file offset is untouched)
 * or a buffer (borrowed for the call). */
enum rc zipscan_fd(int fd, uint64_t size, uint64_t max_entries,
		   struct zipscan *out, struct scan_error *err);
enum rc zipscan_mem(const void *buf, size_t len, uint64_t max_entries,
		    struct zipscan *out, struct scan_error *err);

void zipscan_release(struct zipscan *z);

#endif
