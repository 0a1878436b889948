/* Pulls packages from the institute (R3) with libcurl: HTTPS (TLS 1.2 or
 * later only) or SFTP, one poll at a time, on the ingest thread.
 *
 * Two ways institutes publish:
 *  - a fixed name overwritten at every cut (PREP_AYUN_JAL.zip): the URL is
 *    the package, polled with a conditional GET (ETag, Last-Modified);
 *  - a new name at every cut, listed in a small index or pointer file: the
 *    URL is that file, whose last non-empty line is the package's name or
 *    URL; the package is fetched when the line changes.
 * With verification on, the evidence is fetched beside the package (the
 * package URL + ".sha256", ".p7s" or ".sig"). SFTP has no validators, so
 * a fixed-name package over SFTP is first looked at (size and time) and
 * only downloaded when either changed. */
#ifndef PREPD_FETCH_H
#define PREPD_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/settings.h"
#include "server/rc.h"


struct fetch;

/* Checks the settings (URL scheme, files readable) and loads the saved
 * validators. RC_FORMAT/RC_IO with a sentence in err. */
enum rc fetch_new(const struct fetch_settings *s, struct fetch **out,
		  char *err, size_t errsz);
void fetch_free(struct fetch *f);

/* One poll. RC_OK and *got false: nothing new (304, or the same index
 * line). RC_OK and *got true: the package is at path (under tmp_dir, the
 * caller's to move), named name, with its evidence at path + suffix when
 * one was asked for. On failure: RC_NET (connection, TLS, timeout, low
 * speed, truncated body, HTTP error status), RC_LIMIT (over max_bytes,
 * or a path under tmp_dir that does not fit pathsz),
 * RC_IO (tmp_dir); err says which and what the operator can do, and
 * *retry_after_s is the server's Retry-After in seconds, or 0. The
 * validators of a complete download are remembered in memory only: the
 * caller saves them with fetch_commit() once the package is kept and
 * published, so a crash in between fetches it again after the restart. */
enum rc fetch_poll(struct fetch *f, bool *got, char *path, size_t pathsz,
		   char *name, size_t namesz, unsigned *retry_after_s,
		   char *err, size_t errsz);

/* Sees a package's bytes as they are written to the file fetch_poll()
 * returns, so they can be hashed and checked while they download
 * (ingest/prescan.h): begin(ctx) when a body starts (the download's start,
 * and every response after it: a redirect, a retry; what was seen before
 * is void), then observe(ctx, buf, n) for each piece written, in order.
 * Only the package's transfer is observed (not an index, not evidence).
 * What was seen stands for the file only when fetch_poll() returns RC_OK
 * with *got true; the caller checks the file's size too. */
struct fetch_observer {
	void (*begin)(void *ctx);
	void (*observe)(void *ctx, const void *buf, size_t n);
	void *ctx;
};

/* Sets (or, with NULL, clears) the observer of the next polls; o is
 * copied. */
void fetch_set_observer(struct fetch *f, const struct fetch_observer *o);

/* Saves the validators of the last download (DATA/fetch.state). */
void fetch_commit(struct fetch *f);

/* Forgets the validators of the last download, so the next poll fetches
 * the package again even if it did not change: called when the package
 * failed verification, since the institute may fix the sidecar or
 * signature without touching the package (or upload them in the wrong
 * order). */
void fetch_forget(struct fetch *f);

/* The URL being polled, for the journal and logs. Borrowed. */
const char *fetch_url(const struct fetch *f);

#endif
