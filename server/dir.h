/* Reading a folder: the one directory scanner of prepd (the spool, the
 * history, the data folder's tmp/ and the store's size count all use it).
 * Leaf module: it does not log. */
#ifndef PREPD_DIR_H
#define PREPD_DIR_H

#include <stdbool.h>
#include <stddef.h>

#include "server/rc.h"

/* Calls fn(dfd, name, ctx) for each entry of the folder path (relative to
 * at_fd, or AT_FDCWD), "." and ".." left out, in the order the file system
 * gives them. dfd is the open folder, for fstatat()/unlinkat() on name;
 * name is borrowed for the call. fn returns true to go on, false to stop.
 * Returns RC_OK, or RC_IO with errno set when the folder cannot be opened
 * or read (entries already given to fn stay given). */
enum rc dir_each(int at_fd, const char *path,
		 bool (*fn)(int dfd, const char *name, void *ctx), void *ctx);

/* The names in folder path (relative to at_fd, or AT_FDCWD) for which
 * keep(dfd, name, ctx) is true (every entry when keep is NULL), sorted by
 * strcmp (timestamped package names sort by cut), at most max of them:
 * past max the rest are left for a later scan and *more is set. On RC_OK
 * *names is a new array of new strings (free both with dir_names_free()),
 * possibly empty. RC_IO with errno when the folder cannot be read, RC_NOMEM;
 * *names is NULL and *n 0 then. */
enum rc dir_names(int at_fd, const char *path,
		  bool (*keep)(int dfd, const char *name, void *ctx), void *ctx,
		  size_t max, char ***names, size_t *n, bool *more);

/* Frees what dir_names() returned. NULL is a no-op. */
void dir_names_free(char **names, size_t n);

#endif
