/* The admin listener's pure checks, apart from server/admin.c (which needs
 * libmicrohttpd, the ingest thread and the store) so that the unit tests
 * and the fuzz targets (fuzz/fuzz-admin.c) reach exactly the code the
 * listener runs. No allocation, no I/O, no logging; thread-safe. */
#ifndef PREPD_ADMIN_INT_H
#define PREPD_ADMIN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "server/rc.h"

/* True for a name a client may upload (PUT /upload/NAME): a plain file
 * name of 1 to 199 bytes of letters, digits, '.', '_' and '-', not
 * starting with '.' (no folders, no dot file). */
bool admin_name_ok(const char *name);

/* True when the Authorization value auth (NULL: absent) is "Bearer "
 * followed by exactly token. Takes the same time whatever the first
 * differing byte, so the token cannot be guessed byte by byte. */
bool admin_token_eq(const char *auth, const char *token);

/* (admin_check.c) t as an ISO 8601 UTC string ("2024-06-03T04:15:00Z"), or JSON null for
 * 0 (never): the time fields of /status and the dashboard's JSON. */
json_t *admin_json_time(time_t t);

/* Checks the bytes of a token file, buf[0..n) (need not be NUL-terminated;
 * trailing spaces, CR and LF are dropped), and copies the token with its
 * NUL into out. file only names the file in err. RC_FORMAT with a
 * sentence in err for a token shorter than ADMIN_TOKEN_MIN_BYTES, longer
 * than ADMIN_TOKEN_MAX_BYTES (or than out holds), or holding a space, a
 * control character or DEL. */
enum rc admin_token_parse(const char *buf, size_t n, const char *file, char *out,
			  size_t outsz, char *err, size_t errsz);

#endif
