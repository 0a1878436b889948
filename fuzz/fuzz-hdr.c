/* Request header values (server/hdr.c, server/range.c): Accept-Encoding,
 * If-None-Match and If-Match lists, HTTP dates, Host, Content-Length,
 * Transfer-Encoding lines, the request target's bytes and form, Range.
 * Input: up to four NUL-separated values; every parser sees each, as
 * libmicrohttpd would hand it (NUL-terminated in a buffer of its own). */
#include "fuzz/fuzz.h"
#include "server/hdr.h"
#include "server/path.h"
#include "server/range.h"

static void one(const char *v, size_t n)
{
	hdr_accepts_gzip(v);
	hdr_etag_match(v, "\"abc\"");
	hdr_etag_match_strong(v, "\"abc\"");
	time_t t;
	if (hdr_date_parse(v, &t)) {
		/* What prepd writes, it must read back as the same instant. */
		char d[64], *exact;
		hdr_date_format(t, d, sizeof d);
		time_t back;
		if (!hdr_date_parse(d, &back) || back != t) {
			fprintf(stderr, "date '%s' -> %lld -> '%s'\n", v, (long long)t, d);
			fuzz_abort("an HTTP date does not read back");
		}
		exact = fuzz_str((const uint8_t *)d, strlen(d));
		hdr_date_parse(exact, &back);
		free(exact);
	}
	hdr_name_valid(v);
	hdr_value_valid(v);
	/* Host is given with its length, not NUL-terminated. */
	char *h = malloc(n ? n : 1);
	if (!h)
		fuzz_abort("out of memory");
	memcpy(h, v, n);
	hdr_host_valid(h, n);
	free(h);
	uint64_t cl;
	hdr_content_length(v, &cl);
	if (hdr_target_bytes_ok(v)) {
		const char *p = NULL;
		if (hdr_target_parse(v, &p) != HDR_TARGET_BAD) {
			if (!p || p[0] != '/')
				fuzz_abort("a request target's path does not start with '/'");
			char out[256];
			bool dir;
			path_from_request(p, out, sizeof out, &dir);
		}
	}
	static const uint64_t sizes[] = { 0, 1, 100, UINT64_MAX };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		uint64_t first = 0, last = 0;
		if (range_parse(v, sizes[i], &first, &last) == RANGE_OK &&
		    (first > last || last >= sizes[i]))
			fuzz_abort("range_parse gave a range outside the file");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_parts p;
	fuzz_split(data, size, 4, &p);
	struct hdr_te te = { 0 };
	for (size_t i = 0; i < p.n; i++) {
		one(p.s[i], strlen(p.s[i]));
		hdr_te_add(&te, p.s[i]);
	}
	hdr_te_result(&te);
	if (p.n >= 2) {
		hdr_etag_match(p.s[0], p.s[1]);
		hdr_etag_match_strong(p.s[0], p.s[1]);
	}
	fuzz_parts_free(&p);
	return 0;
}
