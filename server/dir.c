#include "server/dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum rc dir_each(int at_fd, const char *path,
		 bool (*fn)(int dfd, const char *name, void *ctx), void *ctx)
{
	int fd = openat(at_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return RC_IO;
	DIR *d = fdopendir(fd);
	if (!d) {
		int saved = errno;
		close(fd);
		errno = saved;
		return RC_IO;
	}
	int saved = 0;
	for (;;) {
		errno = 0;
		struct dirent *e = readdir(d);
		if (!e) {
			saved = errno;
			break;
		}
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (!fn(dirfd(d), e->d_name, ctx))
			break;
	}
	closedir(d);
	errno = saved;
	return saved ? RC_IO : RC_OK;
}

struct collect {
	bool (*keep)(int dfd, const char *name, void *ctx);
	void *ctx;
	size_t max;
	char **names;
	size_t n;
	bool more;
	bool nomem;
};

static bool collect_one(int dfd, const char *name, void *ctx)
{
	struct collect *c = ctx;
	if (c->keep && !c->keep(dfd, name, c->ctx))
		return true;
	if (c->n == c->max) {
		c->more = true;
		return false;
	}
	c->names[c->n] = strdup(name);
	if (!c->names[c->n]) {
		c->nomem = true;
		return false;
	}
	c->n++;
	return true;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

enum rc dir_names(int at_fd, const char *path,
		  bool (*keep)(int dfd, const char *name, void *ctx), void *ctx,
		  size_t max, char ***names, size_t *n, bool *more)
{
	*names = NULL;
	*n = 0;
	if (more)
		*more = false;
	struct collect c = { .keep = keep, .ctx = ctx, .max = max };
	c.names = calloc(max ? max : 1, sizeof *c.names);
	if (!c.names)
		return RC_NOMEM;
	enum rc rc = dir_each(at_fd, path, collect_one, &c);
	if (!rc && c.nomem)
		rc = RC_NOMEM;
	if (rc) {
		int saved = errno;
		dir_names_free(c.names, c.n);
		errno = saved;
		return rc;
	}
	qsort(c.names, c.n, sizeof *c.names, cmp_names);
	*names = c.names;
	*n = c.n;
	if (more)
		*more = c.more;
	return RC_OK;
}

void dir_names_free(char **names, size_t n)
{
	if (!names)
		return;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}
