/* The helpers of fuzz.h that touch the file system. */
#include "fuzz/fuzz.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

static char dir[PATH_MAX];

/* Removes dir and what the targets leave in it (one level of folders:
 * the journal target's data folder holds no deeper ones). */
static void rm_tree(const char *path, int depth)
{
	DIR *d = opendir(path);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			char sub[PATH_MAX];
			snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
			if (unlink(sub) && depth < 3)
				rm_tree(sub, depth + 1);
		}
		closedir(d);
	}
	rmdir(path);
}

static void cleanup(void)
{
	if (*dir)
		rm_tree(dir, 0);
}

const char *fuzz_tmpdir(void)
{
	if (*dir)
		return dir;
	const char *t = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/prepd-fuzz-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(dir))
		fuzz_abort("cannot make a temporary folder");
	atexit(cleanup);
	return dir;
}

void fuzz_write_file(const char *path, const void *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		fuzz_abort("cannot write a temporary file");
	const char *p = data;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			fuzz_abort("cannot write a temporary file");
		p += w;
		n -= (size_t)w;
	}
	close(fd);
}
