/* Unpacking a package (ingest/unpack.c, with ingest/zipscan.c checking a
 * zip first): the input is the package, written to a temporary file since
 * unpack_file() takes a path. Limits are small so a run stays fast; an
 * entry the sink gets must have a normalised name within them. */
#include "fuzz/fuzz.h"
#include "ingest/unpack.h"
#include "server/path.h"
#include "server/util.h"

#include <limits.h>

static const struct unpack_limits lim = {
	.max_entries = 64,
	.max_total_bytes = 1u << 20,
	.max_file_bytes = 256u << 10,
	.max_path_bytes = 128,
};

static char file[PATH_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(file, sizeof file, "%s/package", fuzz_tmpdir());
	return 0;
}

struct seen {
	uint64_t files, bytes;
};

static enum rc sink(void *ctx, const char *path, void *data, size_t len, time_t mtime,
		    const unsigned char *sha)
{
	if (sha) {
		unsigned char mine[SHA256_BYTES];
		sha256(data, len, mine);
		if (memcmp(mine, sha, SHA256_BYTES))
			fuzz_abort("unpack's SHA-256 of a body is not the body's");
	}
	struct seen *s = ctx;
	char out[PATH_MAX];
	const char *why;
	if (path_from_package(path, out, sizeof out, lim.max_path_bytes, &why) != RC_OK ||
	    strcmp(out, path))
		fuzz_abort("unpack gave a name that is not normalised");
	if (len > lim.max_file_bytes)
		fuzz_abort("unpack gave a file over max_file_bytes");
	s->files++;
	s->bytes += len;
	free(data);
	return RC_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!*file)
		LLVMFuzzerInitialize(NULL, NULL);
	fuzz_write_file(file, data, size);
	struct seen s = { 0 };
	struct unpack_stats st = { 0 };
	struct unpack_error err = { "", "" };
	enum rc rc = unpack_file(file, &lim, NULL, sink, &s, &st, &err);
	if (rc && rc != RC_NOMEM && !*err.reason)
		fuzz_abort("unpack failed without a reason");
	if (s.files > lim.max_entries || s.bytes > lim.max_total_bytes)
		fuzz_abort("unpack went over its limits");
	return 0;
}
