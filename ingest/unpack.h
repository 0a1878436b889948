/* Reads a PREP package (.tar.gz or .zip) into memory, entry by entry,
 * refusing anything that is not a plain file or directory with a safe name.
 * Nothing is written to disk, so no entry can escape a directory. Nested
 * archives (the CSV database .zip) are handed on as opaque files. */
#ifndef PREPD_UNPACK_H
#define PREPD_UNPACK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ingest/scan.h"
#include "ingest/settings.h"
#include "server/rc.h"


/* Why a package was refused: the entry (escaped for a log line, or "" when
 * the whole package is at fault) and a phrase for a person. */
struct unpack_error {
	char entry[600];
	char reason[300];
};

struct unpack_stats {
	uint64_t files, dirs, bytes;
	int format;                /* UNPACK_TAR_GZ or UNPACK_ZIP */
	/* zip names that were not UTF-8, decoded from the legacy code page;
	 * the first one as served and as its bytes were, both escaped for a
	 * log line (ingest/scan.h) */
	uint64_t legacy_names;
	char legacy_example[300];
	char legacy_raw[300];
};

/* What Windows writes in Mexico: Explorer's "Send to > Compressed folder"
 * and older 7-Zip and WinZip store names in the OEM code page, 850 for
 * es-MX ("pequeña" with ñ as 0xA4), without the UTF-8 flag. */
#define UNPACK_LEGACY_CODEPAGE_DEFAULT "CP850"

enum { UNPACK_TAR_GZ = 1, UNPACK_ZIP = 2 };

/* Receives one regular file. path is normalised (path_from_package) and
 * borrowed; data is malloc'ed and owned by the sink from then on, even if
 * it fails. sha is the SHA-256 of data when unpack took it (a body of
 * UNPACK_HASH_BYTES or more is hashed on a second thread while it is
 * read), else NULL; borrowed for the call. A non-OK return stops the
 * unpack with that rc. */
typedef enum rc (*unpack_sink)(void *ctx, const char *path, void *data,
			       size_t len, time_t mtime, const unsigned char *sha);

/* Bodies from this size on are hashed while they are read. */
#define UNPACK_HASH_BYTES (1u << 20)

/* Unpacks the package at file through sink. A zip is first checked
 * whole (ingest/zipscan.h) and every entry libarchive reads must be the
 * one its headers hold. Names are served as written; two that are equal
 * after Unicode NFC normalisation are refused. A zip name without the
 * UTF-8 flag that is not valid UTF-8 is decoded from legacy_codepage (an
 * iconv name; NULL or "": UNPACK_LEGACY_CODEPAGE_DEFAULT) and counted in
 * st. A .tar.gz's gzip and tar structure is not checked here: the
 * pipeline checks it while it hashes the package (ingest/scan.h).
 * Returns RC_OK, RC_IO when the file cannot be read, RC_FORMAT for an
 * empty, corrupt or inconsistent archive or a format other than
 * .tar.gz/.zip (libarchive's ARCHIVE_WARN counts: it is how a bad zip CRC
 * is reported), RC_REFUSED for a forbidden entry, RC_LIMIT for a cap,
 * RC_NOMEM, or the sink's rc. On failure err says which entry and why;
 * files already given to the sink stay the sink's to discard. Thread-safe:
 * each call uses its own libarchive handle and sets a UTF-8 locale for its
 * thread only. */
enum rc unpack_file(const char *file, const struct unpack_limits *lim,
		    const char *legacy_codepage, unpack_sink sink, void *ctx,
		    struct unpack_stats *st, struct unpack_error *err);

/* ---- exposed for the unit tests ---- */

/* True (the default): a zip's stored and deflated bodies are read from
 * the offsets zipscan checked and inflated with ISA-L; false: every body
 * through libarchive, as before (tests/unit/test-inflate.c compares the
 * two). Set it before any unpack runs; not for production. */
extern bool unpack_zip_fast;

/* unpack_file() for a .tar.gz the pipeline's scan inflated and accepted
 * (scan_stream_take_tar()): libarchive reads the tar from memory with no
 * filter, so the package is inflated once, and every rule of
 * unpack_file() applies the same (names, types, NFC, caps); st->format
 * is UNPACK_TAR_GZ. Consumes tar: its pages are given back as they are
 * read, and it is released (scan_tar_release()) whatever the result.
 * Same returns as unpack_file() (never RC_IO). */
enum rc unpack_tar(struct scan_tar *tar, const struct unpack_limits *lim,
		   const char *legacy_codepage, unpack_sink sink, void *ctx,
		   struct unpack_stats *st, struct unpack_error *err);

#endif
