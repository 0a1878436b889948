/* Request paths and package entry names (server/path.c): the functions
 * that decide which file a request or an entry names. Input: one string.
 * Checks besides memory safety: a normalised result never has a ".."
 * segment, a backslash or a leading '/', and a package name that
 * normalises it again (some, such as "C:x", are refused as entry names
 * only) gives it back unchanged. */
#include "fuzz/fuzz.h"
#include "server/path.h"

static void check_normal(const char *out)
{
	if (out[0] == '/' || strchr(out, '\\'))
		fuzz_abort("normalised path with a leading '/' or a backslash");
	for (const char *p = out; *p;) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			fuzz_abort("normalised path with an empty, '.' or '..' segment");
		p += n + (e != NULL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size);
	bool dir;
	char out[256];
	enum rc rc = path_from_request(s, out, sizeof out, &dir);
	if (rc == RC_OK) {
		check_normal(out);
		if (*out) {
			char again[256];
			const char *why;
			if (path_from_package(out, again, sizeof again, 255, &why) == RC_OK &&
			    strcmp(out, again))
				fuzz_abort("a normalised request path is not a normalised entry name");
		}
		path_ext(out);
	}
	/* A small output buffer of its own: writing past it is an ASan report. */
	size_t small = size % 17 + 1;
	char *o = malloc(small);
	if (!o)
		fuzz_abort("out of memory");
	path_from_request(s, o, small, &dir);
	const char *why = NULL;
	rc = path_from_package(s, o, small, 255, &why);
	if (rc == RC_REFUSED && !why)
		fuzz_abort("path_from_package refused without a reason");
	free(o);
	rc = path_from_package(s, out, sizeof out, 200, &why);
	if (rc == RC_OK)
		check_normal(out);
	path_ext(s);
	free(s);
	return 0;
}
