/* What the fuzz targets share. Each fuzz-NAME.c defines
 * LLVMFuzzerTestOneInput() (and, when it needs set-up, LLVMFuzzerInitialize())
 * and is linked either with libFuzzer (script/fuzz, clang) or with
 * fuzz/replay.c, which feeds it every file of fuzz/corpus/NAME/ as a meson
 * test of the "fuzz" suite, in the normal and the ASan build.
 *
 * Inputs holding several strings separate them with NUL bytes. Each part
 * is copied into a buffer of its own, exactly its length plus the NUL, so
 * that AddressSanitizer sees a parser that reads past the end of a header
 * value (the Accept-Encoding bug of issue 9 read the next header). */
#ifndef PREPD_FUZZ_H
#define PREPD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The parts of one input: at most FUZZ_MAX_PARTS, the last one taking the
 * rest of the input, NULs and all (len says how much). */
#define FUZZ_MAX_PARTS 8
struct fuzz_parts {
	size_t n;
	char *s[FUZZ_MAX_PARTS];
	size_t len[FUZZ_MAX_PARTS];
};

static inline void fuzz_abort(const char *what)
{
	fprintf(stderr, "fuzz: %s\n", what);
	abort();
}

/* A copy of data[0..n) with a NUL after it, in a buffer of n + 1 bytes. */
static inline char *fuzz_str(const uint8_t *data, size_t n)
{
	char *s = malloc(n + 1);
	if (!s)
		fuzz_abort("out of memory");
	if (n)
		memcpy(s, data, n);
	s[n] = '\0';
	return s;
}

/* Splits data on NUL into at most max (<= FUZZ_MAX_PARTS) parts. An empty
 * input is one empty part. */
static inline void fuzz_split(const uint8_t *data, size_t size, size_t max,
			      struct fuzz_parts *p)
{
	p->n = 0;
	if (max > FUZZ_MAX_PARTS)
		max = FUZZ_MAX_PARTS;
	size_t at = 0;
	while (p->n < max) {
		const uint8_t *nul = p->n + 1 < max && at < size ?
			memchr(data + at, 0, size - at) : NULL;
		size_t end = nul ? (size_t)(nul - data) : size;
		p->len[p->n] = end - at;
		p->s[p->n] = fuzz_str(data + at, end - at);
		p->n++;
		if (!nul)
			break;
		at = end + 1;
	}
}

static inline void fuzz_parts_free(struct fuzz_parts *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->s[i]);
	p->n = 0;
}

/* A folder of the target's own for the run (under $TMPDIR or /tmp), made
 * once; removed at exit. Returns its path (static). */
const char *fuzz_tmpdir(void);

/* Writes data[0..n) to path, replacing it. Aborts on failure: the target
 * cannot test anything without it. */
void fuzz_write_file(const char *path, const void *data, size_t n);

#endif
