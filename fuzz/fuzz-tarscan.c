/* The tar check (ingest/tarscan.c) on a bare tar stream, and its pieces:
 * numeric fields and pax records. Input: the first byte picks what the
 * rest is: 'n' a numeric field, 'p' a pax extended header ('g' a global
 * one), anything else a tar stream (that byte included). */
#include "fuzz/fuzz.h"
#include "ingest/tarscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scan_error err = { 0 };
	if (size && data[0] == 'n') {
		uint64_t v;
		if (tarscan_number(data + 1, size - 1, &v) && v > INT64_MAX)
			fuzz_abort("a tar number over 2^63 - 1");
		return 0;
	}
	if (size && (data[0] == 'p' || data[0] == 'g')) {
		/* Not NUL-terminated, as it is in a tar block. */
		char *buf = malloc(size - 1 ? size - 1 : 1);
		if (!buf)
			fuzz_abort("out of memory");
		memcpy(buf, data + 1, size - 1);
		uint64_t sz;
		const char *path = NULL;
		size_t path_len = 0;
		if (tarscan_pax(buf, size - 1, data[0] == 'g', &sz, &path, &path_len, &err) ==
		    RC_OK && path && (path < buf || path + path_len > buf + size - 1))
			fuzz_abort("a pax path outside its header");
		free(buf);
		return 0;
	}
	struct tarscan *t = tarscan_new();
	if (!t)
		fuzz_abort("out of memory");
	tarscan_feed(t, data, size);
	enum rc rc = tarscan_finish(t, &err);
	if (rc && rc != RC_NOMEM && !*err.reason)
		fuzz_abort("tarscan refused without a reason");
	tarscan_free(t);
	return 0;
}
