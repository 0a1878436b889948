/* Listening sockets, made by prepd itself so it can report a bind failure
 * clearly and share one socket between its worker daemons. */
#ifndef PREPD_LISTEN_H
#define PREPD_LISTEN_H

#include <stddef.h>

#include "server/config.h"
#include "server/rc.h"

/* Opens a non-blocking listening TCP socket for la. An empty host means all
 * interfaces, IPv6 and IPv4 together. Writes the bound address (with the
 * real port when la->port is 0) into bound. On failure returns RC_IO and
 * writes what happened and what to do into err. */
enum rc listen_open(const struct listen_addr *la, int *fd, char *bound,
		    size_t boundsz, char *err, size_t errsz);

#endif
