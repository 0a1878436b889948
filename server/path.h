/* Path normalisation: the security-critical pure functions that decide what
 * name a request or a package entry refers to. No I/O, no allocation, so they
 * are table-tested (tests/unit/test-path.c) and fuzzable on their own.
 *
 * A normalised path has no leading slash, uses '/' between segments, has no
 * empty, "." or ".." segments, and is valid UTF-8 without control characters
 * or backslashes. The site root is the empty string. */
#ifndef PREPD_PATH_H
#define PREPD_PATH_H

#include <stdbool.h>
#include <stddef.h>

#include "server/rc.h"

/* Decodes and normalises the path of a request target (the part before '?',
 * still percent-encoded, as it came off the wire) into out.
 * *is_dir is set when the path ends in '/' (or is the root), which means
 * "serve this directory's index.html".
 * Returns RC_OK, RC_FORMAT for anything that must get 400 (no leading '/',
 * bad %-escape, %00, control character, backslash, bad UTF-8, a ".."
 * segment, encoded or not), or RC_LIMIT when the result does not fit in
 * outsz bytes (414). out is always NUL-terminated when outsz > 0. */
enum rc path_from_request(const char *raw, char *out, size_t outsz,
			  bool *is_dir);

/* Checks and normalises the name of a package entry (tar or zip) into out:
 * a leading "./" is dropped, a trailing '/' of a directory is dropped,
 * repeated slashes collapse. Returns RC_OK, RC_REFUSED with *why set to a
 * static phrase for names that must not be unpacked (absolute path, "..",
 * control character, backslash, not UTF-8, empty), or RC_LIMIT when the
 * normalised name is longer than max_bytes ("path longer than ..."). */
enum rc path_from_package(const char *name, char *out, size_t outsz,
			  size_t max_bytes, const char **why);

/* The extension of the last segment of a normalised path, without the dot,
 * or "" when it has none ("a/b.tar.gz" gives "gz", "a/.env" gives ""). */
const char *path_ext(const char *path);

#endif
