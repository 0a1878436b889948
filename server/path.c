#include "server/path.h"
#include "server/limits.h"
#include "server/util.h"

#include <string.h>

static bool is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Appends one segment to out unless it is empty or ".". Returns RC_FORMAT
 * for "..", RC_LIMIT when out is full. */
static enum rc push_segment(char *out, size_t outsz, size_t *len,
			    const char *seg, size_t seglen)
{
	if (seglen == 0 || (seglen == 1 && seg[0] == '.'))
		return RC_OK;
	if (seglen == 2 && seg[0] == '.' && seg[1] == '.')
		return RC_FORMAT;
	size_t need = seglen + (*len ? 1 : 0);
	if (*len + need + 1 > outsz)
		return RC_LIMIT;
	if (*len)
		out[(*len)++] = '/';
	memcpy(out + *len, seg, seglen);
	*len += seglen;
	out[*len] = '\0';
	return RC_OK;
}

enum rc path_from_request(const char *raw, char *out, size_t outsz,
			  bool *is_dir)
{
	if (outsz == 0)
		return RC_LIMIT;
	out[0] = '\0';
	*is_dir = false;
	if (!raw || raw[0] != '/')
		return RC_FORMAT;

	/* Decode into a scratch buffer first, checking every byte; segments are
	 * judged after decoding so "%2e%2e" is as much ".." as "..". */
	char dec[PATH_BUF_BYTES];   /* longer is no package path: 414 */
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)raw; *p; p++) {
		unsigned char c = *p;
		if (c == '%') {
			int hi = hex_digit(p[1]), lo = hi < 0 ? -1 : hex_digit((unsigned char)p[2]);
			if (hi < 0 || lo < 0)
				return RC_FORMAT;
			c = (unsigned char)(hi * 16 + lo);
			p += 2;
			if (c == 0)
				return RC_FORMAT;
		}
		if (is_ctl(c) || c == '\\')
			return RC_FORMAT;
		if (n + 1 >= sizeof dec)
			return RC_LIMIT;
		dec[n++] = (char)c;
	}
	dec[n] = '\0';
	if (!utf8_valid((const unsigned char *)dec, n))
		return RC_FORMAT;

	size_t len = 0, start = 1;
	for (size_t i = 1; i <= n; i++) {
		if (i == n || dec[i] == '/') {
			enum rc rc = push_segment(out, outsz, &len, dec + start,
						  i - start);
			if (rc)
				return rc;
			start = i + 1;
		}
	}
	/* "/a/." and "/a/" both mean the directory a. */
	*is_dir = len == 0 || dec[n - 1] == '/' ||
		  (n >= 2 && dec[n - 1] == '.' && dec[n - 2] == '/');
	return RC_OK;
}

enum rc path_from_package(const char *name, char *out, size_t outsz,
			  size_t max_bytes, const char **why)
{
	*why = NULL;
	if (outsz)
		out[0] = '\0';
	if (!name || !*name) {
		*why = "has an empty name";
		return RC_REFUSED;
	}
	size_t n = strlen(name);
	if (!utf8_valid((const unsigned char *)name, n)) {
		*why = "name is not valid UTF-8";
		return RC_REFUSED;
	}
	if (name[0] == '/') {
		*why = "has an absolute path";
		return RC_REFUSED;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (is_ctl(c)) {
			*why = "name contains a control character";
			return RC_REFUSED;
		}
		if (c == '\\') {
			*why = "name contains a backslash";
			return RC_REFUSED;
		}
	}
	/* A Windows drive letter ("C:foo") is as absolute as "/foo". */
	if (n >= 2 && name[1] == ':' &&
	    ((name[0] | 0x20) >= 'a' && (name[0] | 0x20) <= 'z')) {
		*why = "has an absolute path";
		return RC_REFUSED;
	}

	size_t len = 0, start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || name[i] == '/') {
			enum rc rc = push_segment(out, outsz, &len, name + start,
						  i - start);
			if (rc == RC_FORMAT) {
				*why = "path contains a '..' component";
				return RC_REFUSED;
			}
			if (rc) {
				*why = "path longer than max_path_bytes";
				return RC_LIMIT;
			}
			start = i + 1;
		}
	}
	if (len == 0) {
		*why = "has an empty name";
		return RC_REFUSED;
	}
	if (len > max_bytes) {
		*why = "path longer than max_path_bytes";
		return RC_LIMIT;
	}
	return RC_OK;
}

const char *path_ext(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	const char *dot = strrchr(base, '.');
	if (!dot || dot == base)
		return "";
	return dot + 1;
}
