/* The history (R5): every package received, kept byte for byte under the
 * data folder, forever, with one append-only journal line each.
 *
 *   DATA/history/000042-20240602_2215_PREP_PRES_NAL.zip   accepted packages
 *   DATA/quarantine/000043-PREP_AYUN_JAL.zip            refused packages
 *   DATA/tmp/                                           downloads in progress
 *   DATA/incoming/prepd-<ns>-spool-NAME                 arrivals claimed, not yet kept
 *   DATA/journal.log                                    one line a package
 *
 * Writes are durable before they are reported done: temp file, fsync,
 * rename, fsync of the folder. Nothing here ever deletes a package. Kept
 * packages and the journal are mode 0640, the folders 0750. */
#ifndef PREPD_STORE_H
#define PREPD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "server/limits.h"
#include "server/rc.h"

struct store;

/* Opens (creating when missing) the folders and the journal under
 * data_dir, which must exist. A torn last journal line (a crash while
 * appending; that append never returned) is cut off here, so the next line
 * starts on a line of its own. Not thread-safe: one ingest thread owns the
 * store. RC_IO with err set ("cannot create DATA/history: Permission
 * denied"), or RC_NOMEM. */
enum rc store_open(const char *data_dir, struct store **out, char *err,
		   size_t errsz);
void store_close(struct store *s);

/* The folder for downloads in progress (DATA/tmp), on the same file system
 * as the history so store_keep() can rename instead of copy. Borrowed. */
const char *store_tmp_dir(const struct store *s);

/* The same DATA/tmp path for a store not yet open (settings made before
 * it, such as where the fetcher downloads). Returns a new string the
 * caller frees, or NULL on out-of-memory. */
char *store_tmp_path(const char *data_dir);

/* DATA/incoming: every arrival (spool, upload) is moved here at once
 * under a name of its own, so that a second file of the same name is a
 * second package, and so that what was claimed but not yet kept survives a
 * restart. Borrowed; the fd is the open folder. */
const char *store_incoming_dir(const struct store *s);
int store_incoming_fd(const struct store *s);
/* The same DATA/incoming path for whoever has no store (the admin thread
 * claims uploads there). A new string, or NULL on out-of-memory. */
char *store_incoming_path(const char *data_dir);

/* Every name prepd makes in DATA/incoming and DATA/tmp starts with one of
 * these, and prepd deletes nothing else there. */
#define STORE_CLAIM_PREFIX "prepd-"
#define STORE_CLAIM_TAG_BYTES 8

/* Makes a new claimed name "prepd-<20-digit arrival time in ns>-TAG-NAME"
 * into out: NAME's base name with control bytes, spaces, '"', '\\' and '='
 * made '_' (so it can be logged as it is), cut like a kept
 * name (STORE_MAX_NAME_BYTES, extension kept). Names sort by arrival and
 * are distinct within the process (the time is made strictly increasing);
 * a clash with a name of an earlier run shows as EEXIST in store_claim():
 * make another. TAG is a-z, at most STORE_CLAIM_TAG_BYTES ("spool",
 * "upload"). Thread-safe. RC_INVALID for a bad tag or a small out. */
enum rc store_claim_name(const char *tag, const char *name, char *out, size_t outsz);

/* Splits a claimed name: true with the tag copied into tag and *name
 * pointing into claimed at NAME; false for a name store_claim_name() did
 * not make. */
bool store_claim_parse(const char *claimed, char *tag, size_t tagsz, const char **name);

/* Moves from_fd/from to to_fd/to (a name from store_claim_name()) without
 * following or replacing anything: a regular file is renamed; across file
 * systems (EXDEV) it is copied, synced, named, and only then removed from
 * from_fd, and only if from is still the file copied (a newer file renamed
 * over it meanwhile stays). *copied says which. Both folders are synced.
 * RC_OK; RC_NOTFOUND when from is gone; RC_REFUSED when from is not a
 * regular file (a symbolic link, a FIFO: never opened), with err; RC_IO
 * with err and errno (EEXIST: to exists; ENOSPC said "disk full") and from
 * left where it was; RC_INVALID. Thread-safe (touches only the two
 * folders). */
enum rc store_claim(int from_fd, const char *from, int to_fd, const char *to,
		    bool *copied, char *err, size_t errsz);

/* The name store_keep() keeps name under, without its SEQ- prefix. */
void store_clean_name(const char *name, char out[STORE_MAX_NAME_BYTES + 1]);

/* Keeps the package at src as history/ (or quarantine/ when quarantine)
 * SEQ-NAME, durably, with SEQ printed as %06llu. When src is a regular
 * file directly in store_tmp_dir() or store_incoming_dir() it is renamed
 * (a link in DATA/incoming is refused, never followed); otherwise (elsewhere, a
 * symbolic link, another file system mounted on tmp/) it is copied and src
 * is untouched: a spool file stays for the institute's tools. name is
 * reduced to its base name, cleaned to [A-Za-z0-9._-] (other bytes become
 * '_'; "package" if empty), and cut to STORE_MAX_NAME_BYTES keeping a short
 * extension. An existing SEQ-NAME is never replaced. Writes the kept path,
 * relative to the data folder ("history/000042-NAME"), into kept. Returns
 * RC_OK; RC_IO with err saying which step ("... already exists", and
 * ENOSPC said as "disk full"), and on failure src is where it was, unchanged,
 * and no temp file is left; RC_INVALID when kept is too small; RC_NOMEM. */
enum rc store_keep(struct store *s, uint64_t seq, const char *name,
		   const char *src, bool quarantine, char *kept,
		   size_t keptsz, char *err, size_t errsz);

/* Moves a package kept in history/ (kept, as store_keep() wrote it) to
 * quarantine/, durably: it turned out to be unusable after it was kept
 * (refused by the unpacker). Writes the new relative path into moved
 * ("quarantine/000042-NAME"). RC_INVALID when kept is not "history/" and
 * one plain name, or moved is too small; RC_IO with err when it cannot be
 * moved ("... already exists" if quarantine/ has that name: nothing is
 * replaced) or synced. */
enum rc store_requarantine(struct store *s, const char *kept, char *moved,
			   size_t movedsz, char *err, size_t errsz);

/* Free bytes for prepd's user (f_bavail) and the size of the data folder's
 * file system. Either pointer may be NULL. RC_IO if statvfs fails. */
enum rc store_free_bytes(const struct store *s, uint64_t *free_bytes,
			 uint64_t *total_bytes);

/* Bytes used by the regular files in history/ and quarantine/ together.
 * Best effort: what cannot be read counts 0. */
uint64_t store_used_bytes(const struct store *s);

/* One journal line. Text fields are single tokens or quoted as written by
 * journal_append(); see store.c for the exact format. A time of 0 and an
 * empty text field are written "-". Callers cut long values (a URL) to
 * fit the field. */
struct journal_rec {
	uint64_t seq;
	time_t received;
	char source[256];     /* "pull:https://...", "spool:NAME", "upload", "rollback:SEQ" */
	uint64_t size;
	char sha256[65];      /* lowercase hex */
	char verdict[32];     /* published, unchanged, refused, quarantined, interrupted */
	char kind[16];        /* full, incremental, or "" when not published */
	char cut[64];         /* cut label, or "" */
	char cut_time[32];    /* cut time, or "" */
	time_t published;     /* 0 when not published */
	char file[512];       /* kept path relative to the data folder, or "" */
	char reason[300];     /* why refused or quarantined, or "" */
};

/* Appends r as one line (one write(2)) and fdatasyncs the journal. RC_IO
 * with err on failure ("disk full" for ENOSPC), and then no part of the
 * line is left in the journal; RC_INVALID for a record that cannot be
 * written (sha256 neither "" nor 64 lowercase hex, a time before 1970 or
 * after 9999, a text field without its NUL); RC_NOMEM. */
enum rc journal_append(struct store *s, const struct journal_rec *r,
		       char *err, size_t errsz);

/* Calls fn for each line of DATA/journal.log in order; r is borrowed for
 * the call. A torn last line (a crash while appending, or an append in
 * progress) is skipped and reported through *torn (torn may be NULL); any
 * other unparsable line is RC_FORMAT with "DATA/journal.log:LINE: why" in
 * err. fn returning non-zero stops the walk with that value as the result.
 * A missing journal is an empty one; a missing data_dir is RC_IO. Usable
 * without store_open() and while a daemon appends (the `prepd history`
 * subcommand reads a running daemon's journal). */
enum rc journal_read(const char *data_dir,
		     int (*fn)(void *ctx, const struct journal_rec *r),
		     void *ctx, bool *torn, char *err, size_t errsz);

/* The sequence number after the highest one in the journal and in the
 * history/quarantine file names (a crash between keep and append leaves a
 * file without a line); 1 for an empty store. RC_FORMAT or RC_IO from
 * reading the journal, RC_IO if a folder cannot be listed, RC_LIMIT if the
 * highest is UINT64_MAX; err says which. */
enum rc store_next_seq(const struct store *s, uint64_t *next, char *err,
		       size_t errsz);

#endif
