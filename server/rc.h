/* One error code for the whole program.
 *
 * Functions that can fail return enum rc; RC_OK is zero so callers write
 * `rc = f(); if (rc) return rc;`. Leaf modules never log: whoever handles a
 * failure logs it once, with what an operator needs to act on it. */
#ifndef PREPD_RC_H
#define PREPD_RC_H

enum rc {
	RC_OK = 0,
	RC_NOMEM,   /* an allocation failed */
	RC_IO,      /* a file or socket operation failed; errno is meaningful */
	RC_NET,     /* a network peer failed or misbehaved */
	RC_VERIFY,  /* a package failed its integrity or signature check */
	RC_FORMAT,  /* input is malformed (bad archive, bad config value) */
	RC_LIMIT,   /* input exceeds a named cap from limits.h or config */
	RC_REFUSED, /* input is well-formed but not allowed (symlink, "..") */
	RC_NOTFOUND,
	RC_INVALID, /* a caller passed something meaningless */
};

/* Static lowercase name of an rc, for log lines ("nomem", "io", ...). */
const char *rc_str(enum rc rc);

#endif
