/* Listening sockets, made by prepd itself so it can report a bind failure
 * clearly and share one socket between its worker daemons, or passed by
 * systemd (socket activation: prepd.socket keeps the ports open across a
 * restart, so visitors wait instead of being refused).
 *
 * At start-up main moves every socket into a pool before it drops its
 * privileges: listen_inherit() takes systemd's, listen_preopen() opens (or
 * claims an inherited one for) each configured listener. listen_open(),
 * called later by the workers and the admin listener, hands over the
 * pooled socket for its address and binds one itself only when there is
 * none. Not thread-safe: start-up only, on the main thread. */
#ifndef PREPD_LISTEN_H
#define PREPD_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

#include "server/config.h"
#include "server/rc.h"

/* The text of an address, "[::]:8080", "127.0.0.1:80". */
#define LISTEN_ADDR_TEXT_BYTES 96

/* Takes the n sockets systemd passed from fd 3 on (n from
 * service_listen_fds()) into the pool. Each must be a listening TCP
 * socket (IPv4 or IPv6); it is made non-blocking and close-on-exec. On a
 * socket that is not one, returns RC_INVALID with which fd and what it is
 * into err; nothing is taken. Extra sockets past NET_MAX_INHERITED_SOCKETS
 * are RC_LIMIT. */
enum rc listen_inherit(int n, char *err, size_t errsz);

/* Opens la's socket now, or claims the inherited one with its address
 * (same family, address and port; an empty host matches [::] and
 * 0.0.0.0; port 0 never matches), and keeps it in the pool for
 * listen_open(la). Writes the bound address into bound and whether it was
 * inherited into *inherited. Errors as listen_open(). */
enum rc listen_preopen(const struct listen_addr *la, char *bound, size_t boundsz,
		       bool *inherited, char *err, size_t errsz);

/* Hands over the pooled socket for la (the one listen_preopen(la) kept,
 * or an inherited one with its address), or opens a non-blocking
 * listening TCP socket for it. An empty host means all interfaces, IPv6
 * and IPv4 together. Writes the bound address (with the real port when
 * la->port is 0) into bound. The caller owns *fd. On failure returns
 * RC_IO and writes what happened and what to do into err. */
enum rc listen_open(const struct listen_addr *la, int *fd, char *bound,
		    size_t boundsz, char *err, size_t errsz);

/* Calls fn with the address of each inherited socket no listener claimed
 * (a socket unit listening where the config does not), then closes them
 * all. Returns how many there were. */
unsigned listen_drop_unclaimed(void (*fn)(const char *addr, void *ctx), void *ctx);

#endif
