/* The stream check of a .tar.gz (ingest/scan.c with gzscan.c and
 * tarscan.c) on the package's bytes, fed whole and then in pieces as
 * verify's hashing loop feeds it (of 1 to 61 bytes, from the input's
 * size), so that bugs at piece boundaries show too. The two verdicts must
 * agree. */
#include "fuzz/fuzz.h"
#include "ingest/scan.h"

static const struct unpack_limits lim = {
	.max_entries = 64,
	.max_total_bytes = 1u << 20,
	.max_file_bytes = 256u << 10,
	.max_path_bytes = 128,
};

static enum rc scan(const uint8_t *data, size_t size, size_t piece)
{
	struct scan_stream *s = scan_stream_new(&lim);
	if (!s)
		fuzz_abort("out of memory");
	for (size_t at = 0; at < size; at += piece) {
		size_t n = size - at < piece ? size - at : piece;
		scan_stream_observe(s, data + at, n);
	}
	struct scan_error err = { 0 };
	enum rc rc = scan_stream_finish(s, &err);
	if (rc && rc != RC_NOMEM && !*err.reason)
		fuzz_abort("scan refused without a reason");
	scan_stream_free(s);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum rc whole = scan(data, size, size ? size : 1);
	enum rc pieces = scan(data, size, size % 61 + 1);
	if (whole != pieces) {
		fprintf(stderr, "whole: rc %d, in pieces of %zu: rc %d\n", whole, size % 61 + 1,
			pieces);
		fuzz_abort("the verdict depends on how the bytes are cut");
	}
	return 0;
}
