/* Least privilege without systemd: prepd started as root does what needs
 * root (binding ports below 1024, reading the key, opening the data folder
 * and the access log), then becomes an ordinary user with no capability
 * left before it reads any package. Not thread-safe: call on the main
 * thread before any other thread exists (capabilities are per thread).
 * Nothing logs. */
#ifndef PREPD_PRIVS_H
#define PREPD_PRIVS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "server/rc.h"

/* The account prepd drops to. */
struct privs_user {
	uid_t uid;
	gid_t gid;
	char name[64];
	char home[256];
};

/* Looks user up (a name, or a numeric uid). RC_NOTFOUND with "no user
 * 'NAME' on this system (...)" in err. */
enum rc privs_lookup(const char *user, struct privs_user *out, char *err, size_t errsz);

/* Becomes u for good: its groups (initgroups), gid and uid (real,
 * effective and saved), then clears every capability (effective,
 * permitted, inheritable, ambient and, when allowed, the bounding set) and
 * sets no-new-privileges, and checks that root cannot be regained. Works
 * as root; when not root (systemd's User= with AmbientCapabilities=), it
 * only sheds the capabilities it holds. On failure returns RC_IO with the
 * step and errno's text in err; the process must then stop. */
enum rc privs_drop(const struct privs_user *u, char *err, size_t errsz);

/* Sheds every capability the process holds and sets no-new-privileges,
 * without changing user: for prepd started as an ordinary user with
 * ambient capabilities (systemd), once its ports are open. Errors as
 * privs_drop(). */
enum rc privs_shed(char *err, size_t errsz);

/* Whether the process holds any effective, permitted or ambient
 * capability. */
bool privs_any_capability(void);

#endif
