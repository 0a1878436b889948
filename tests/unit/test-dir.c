#include "check.h"
#include "server/dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64];

static void touch(const char *name)
{
	char p[256];
	snprintf(p, sizeof p, "%s/%s", root, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0)
		close(fd);
}

static bool not_tmp(int dfd, const char *name, void *ctx)
{
	(void)dfd;
	(*(int *)ctx)++;
	size_t n = strlen(name);
	return !(n > 4 && !strcmp(name + n - 4, ".tmp"));
}

static bool stop_at_two(int dfd, const char *name, void *ctx)
{
	(void)dfd;
	(void)name;
	return ++*(int *)ctx < 2;
}

int main(void)
{
	snprintf(root, sizeof root, "/tmp/prepd-test-dir.XXXXXX");
	if (!mkdtemp(root))
		return 1;
	const char *files[] = { "20240602_2230.zip", "20240602_2215.zip", "b.tmp", "a", ".hidden" };
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
		touch(files[i]);
	char sub[128];
	snprintf(sub, sizeof sub, "%s/folder", root);
	mkdir(sub, 0700);

	char **names;
	size_t n;
	bool more;
	int seen = 0;
	CHECK(dir_names(AT_FDCWD, root, not_tmp, &seen, 10, &names, &n, &more) == RC_OK, "read");
	CHECK(seen == 6, "keep saw every entry but . and .. (%d)", seen);
	CHECK(n == 5 && !more, "five kept (%zu)", n);
	const char *want[] = { ".hidden", "20240602_2215.zip", "20240602_2230.zip", "a", "folder" };
	for (size_t i = 0; i < n && i < 5; i++)
		CHECK(!strcmp(names[i], want[i]), "sorted %zu: %s", i, names[i]);
	dir_names_free(names, n);

	CHECK(dir_names(AT_FDCWD, root, NULL, NULL, 3, &names, &n, &more) == RC_OK, "read capped");
	CHECK(n == 3 && more, "at most max, the rest left for later (%zu)", n);
	dir_names_free(names, n);

	CHECK(dir_names(AT_FDCWD, root, NULL, NULL, 0, &names, &n, &more) == RC_OK && n == 0 && more,
	      "max 0 keeps none and says there is more");
	dir_names_free(names, n);

	int calls = 0;
	CHECK(dir_each(AT_FDCWD, root, stop_at_two, &calls) == RC_OK && calls == 2,
	      "fn returning false stops the walk (%d)", calls);

	int dfd = open("/tmp", O_RDONLY | O_DIRECTORY);
	CHECK(dir_names(dfd, root + 5, NULL, NULL, 10, &names, &n, NULL) == RC_OK && n == 6,
	      "a path relative to a folder fd");
	dir_names_free(names, n);
	close(dfd);

	char missing[128];
	snprintf(missing, sizeof missing, "%s/none", root);
	errno = 0;
	CHECK(dir_names(AT_FDCWD, missing, NULL, NULL, 10, &names, &n, NULL) == RC_IO &&
	      errno == ENOENT && !names && n == 0, "a missing folder is RC_IO with errno");
	snprintf(missing, sizeof missing, "%s/a", root);
	CHECK(dir_each(AT_FDCWD, missing, stop_at_two, &calls) == RC_IO && errno == ENOTDIR,
	      "a file is not a folder");

	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		char p[256];
		snprintf(p, sizeof p, "%s/%s", root, files[i]);
		unlink(p);
	}
	rmdir(sub);
	rmdir(root);
	return check_done();
}
