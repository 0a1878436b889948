/* The replay driver: runs LLVMFuzzerTestOneInput() once on each file named
 * on the command line, or on each file of each folder named, in name
 * order, as libFuzzer would replay a corpus. Built with gcc, so the
 * corpora are regression tests of the normal and the ASan build without
 * clang (tests of the "fuzz" suite). A crash, a sanitizer report or an
 * abort fails the test; the driver prints the file it was on first.
 * Exit 0 when every file ran; 1 on an unreadable file or an empty corpus. */
#include "fuzz/fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>

/* A corpus file is at most what script/fuzz lets libFuzzer write
 * (-max_len), with room to spare; more is a mistake in the corpus. */
#define REPLAY_MAX_BYTES (1u << 20)

__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	uint8_t *buf = malloc(REPLAY_MAX_BYTES + 1);
	if (!buf)
		fuzz_abort("out of memory");
	size_t n = fread(buf, 1, REPLAY_MAX_BYTES + 1, f);
	int bad = ferror(f) || n > REPLAY_MAX_BYTES;
	fclose(f);
	if (bad) {
		fprintf(stderr, "replay: cannot read %s, or it is over %u bytes\n", path,
			REPLAY_MAX_BYTES);
		free(buf);
		return -1;
	}
	/* The input in a buffer of exactly its size, as libFuzzer gives it,
	 * so that reading one byte past it is an ASan report. */
	uint8_t *exact = malloc(n ? n : 1);
	if (!exact)
		fuzz_abort("out of memory");
	memcpy(exact, buf, n);
	free(buf);
	fprintf(stderr, "replay: %s\n", path);
	LLVMFuzzerTestOneInput(exact, n);
	free(exact);
	return 1;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file in folder; returns how many, or -1. */
static int run_dir(const char *folder)
{
	DIR *d = opendir(folder);
	if (!d) {
		fprintf(stderr, "replay: cannot open %s: %s\n", folder, strerror(errno));
		return -1;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = realloc(names, cap * sizeof *names);
			if (!names)
				fuzz_abort("out of memory");
		}
		names[n] = strdup(e->d_name);
		if (!names[n++])
			fuzz_abort("out of memory");
	}
	closedir(d);
	qsort(names, n, sizeof *names, cmp);
	int ran = 0;
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s/%s", folder, names[i]);
		struct stat st;
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			int r = run_file(path);
			if (r < 0)
				ran = -1;
			else if (ran >= 0)
				ran += r;
		}
		free(names[i]);
	}
	free(names);
	return ran;
}

int main(int argc, char **argv)
{
	LLVMFuzzerInitialize(&argc, &argv);
	long total = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st)) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		int r = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]);
		if (r < 0)
			return 1;
		total += r;
	}
	if (total == 0) {
		fprintf(stderr, "replay: no input to replay (an empty corpus is a mistake)\n");
		return 1;
	}
	printf("replay: %ld inputs, no crash\n", total);
	return 0;
}
