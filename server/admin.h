/* The admin listener: loopback by default, every request needs the bearer
 * token. It is where operators and later features (CDN purge, stats) talk
 * to the running daemon. Its routes are one table in admin.c, which also
 * makes the 404 help text and the 405 answers:
 *
 *   GET  /status          the cut served, ingest state, disk (JSON)
 *   PUT  /upload/NAME     a package (or its NAME.sha256/.p7s/.sig, first)
 *   POST /rollback/SEQ    republish the cut of package SEQ
 *
 * One libmicrohttpd daemon with its own poll thread: admin traffic is a
 * few requests a minute, far from the 0.9.75 epoll traps. Requests go
 * through the same call protocol as the public listener's
 * (server/mhdcall.h). */
#ifndef PREPD_ADMIN_H
#define PREPD_ADMIN_H

#include <stddef.h>

#include "server/config.h"
#include "server/rc.h"

/* Reads or creates the token and starts listening on cfg->admin. Without
 * cfg->admin_token, the token is DATA/admin.token, made (32 random bytes,
 * hex, mode 0600) when missing. On failure returns non-zero with a
 * sentence in err. */
enum rc admin_start(const struct config *cfg, char *err, size_t errsz);

struct purge;
struct fleet;
/* The CDN purge and the fleet view GET /status reports ("purge",
 * "fleet"); both borrowed, either NULL. Call before admin_start() and
 * with NULLs before freeing them (after admin_stop()). */
void admin_edge(struct purge *p, struct fleet *f);

/* A reload's settings: uploads use the new [ingest] max_package_bytes
 * and verify (for the evidence suffix). Copies what it reads.
 * Thread-safe. */
void admin_reload(const struct config *next);

/* Stops the listener; requests in flight are cut. */
void admin_stop(void);

/* Reads the token for a client (prepd rollback): cfg->admin_token, else
 * DATA/admin.token. Writes it into out. */
enum rc admin_read_token(const struct config *cfg, char *out, size_t outsz,
			 char *err, size_t errsz);

#endif
