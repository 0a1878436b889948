#include "server/rules.h"
#include "server/hdr.h"
#include "server/path.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Headers whose value prepd derives from the content or the cut; a rule
 * that set them would make responses lie about their bodies. */
static const char *const managed[] = {
	"Content-Length", "Content-Encoding", "Transfer-Encoding", "ETag",
	"Last-Modified", "Content-Range", "Accept-Ranges", "Connection",
	"Keep-Alive", "Date", "Vary", "X-PREP-Cut", "Upgrade", "Trailer",
};

enum rc rules_add(struct rules *r, const char *pattern, const char *name,
		  const char *value, const char **why)
{
	*why = NULL;
	if (!pattern || pattern[0] != '/' || !hdr_value_valid(pattern) ||
	    strlen(pattern) > CFG_MAX_VALUE_BYTES) {
		*why = "a header rule pattern must start with '/', as in /json/main.json";
		return RC_FORMAT;
	}
	if (!hdr_name_valid(name)) {
		*why = "not a valid HTTP header name";
		return RC_FORMAT;
	}
	for (size_t i = 0; i < sizeof managed / sizeof managed[0]; i++) {
		if (!strcasecmp(name, managed[i])) {
			*why = "prepd sets this header itself; a rule may not change it";
			return RC_FORMAT;
		}
	}
	if (!hdr_value_valid(value) || strlen(value) > CFG_MAX_VALUE_BYTES) {
		*why = "header value has a control character or is too long";
		return RC_FORMAT;
	}

	struct rule *rule = NULL;
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->v[i].pattern, pattern))
			rule = &r->v[i];
	if (!rule) {
		if (r->n >= CFG_MAX_RULES) {
			*why = "too many patterns in [headers] (CFG_MAX_RULES)";
			return RC_LIMIT;
		}
		struct rule *v = realloc(r->v, (r->n + 1) * sizeof *v);
		if (!v)
			return RC_NOMEM;
		r->v = v;
		rule = &r->v[r->n];
		memset(rule, 0, sizeof *rule);
		rule->pattern = strdup(pattern);
		if (!rule->pattern)
			return RC_NOMEM;
		r->n++;
	}

	char *nv = strdup(value);
	if (!nv)
		return RC_NOMEM;
	for (size_t i = 0; i < rule->nhdr; i++) {
		if (!strcasecmp(rule->hdr[i].name, name)) {
			free(rule->hdr[i].value);
			rule->hdr[i].value = nv;
			return RC_OK;
		}
	}
	if (rule->nhdr >= CFG_MAX_RULE_HEADERS) {
		free(nv);
		*why = "too many headers for one pattern (CFG_MAX_RULE_HEADERS)";
		return RC_LIMIT;
	}
	char *nn = strdup(name);
	if (!nn) {
		free(nv);
		return RC_NOMEM;
	}
	rule->hdr[rule->nhdr].name = nn;
	rule->hdr[rule->nhdr].value = nv;
	rule->nhdr++;
	return RC_OK;
}

void rules_release(struct rules *r)
{
	for (size_t i = 0; i < r->n; i++) {
		for (size_t k = 0; k < r->v[i].nhdr; k++) {
			free(r->v[i].hdr[k].name);
			free(r->v[i].hdr[k].value);
		}
		free(r->v[i].pattern);
	}
	free(r->v);
	r->v = NULL;
	r->n = 0;
}

enum rc rules_copy(struct rules *dst, const struct rules *src)
{
	dst->n = 0;
	dst->v = NULL;
	if (!src || !src->n)
		return RC_OK;
	dst->v = calloc(src->n, sizeof *dst->v);
	if (!dst->v)
		return RC_NOMEM;
	for (size_t i = 0; i < src->n; i++) {
		const struct rule *from = &src->v[i];
		struct rule *to = &dst->v[i];
		dst->n++;
		to->pattern = strdup(from->pattern);
		if (!to->pattern)
			goto fail;
		for (size_t k = 0; k < from->nhdr; k++) {
			to->hdr[k].name = strdup(from->hdr[k].name);
			to->hdr[k].value = strdup(from->hdr[k].value);
			to->nhdr++;
			if (!to->hdr[k].name || !to->hdr[k].value)
				goto fail;
		}
	}
	return RC_OK;
fail:
	rules_release(dst);
	return RC_NOMEM;
}

size_t rules_match(const struct rules *r, const char *path,
		   const struct rule_header **out, size_t max)
{
	char full[1 + PATH_BUF_BYTES];   /* "/" and a package path */
	size_t plen = strlen(path);
	if (plen + 2 > sizeof full)
		return 0;
	full[0] = '/';
	memcpy(full + 1, path, plen + 1);

	size_t n = 0;
	for (size_t i = 0; r && i < r->n; i++) {
		const struct rule *rule = &r->v[i];
		if (fnmatch(rule->pattern, full, 0) != 0)
			continue;
		for (size_t k = 0; k < rule->nhdr; k++) {
			size_t j;
			for (j = 0; j < n; j++)
				if (!strcasecmp(out[j]->name, rule->hdr[k].name))
					break;
			if (j < n)
				out[j] = &rule->hdr[k];
			else if (n < max)
				out[n++] = &rule->hdr[k];
		}
	}
	return n;
}

static bool fingerprint_type(const char *ext)
{
	static const char *const exts[] = {
		"js", "mjs", "css", "woff", "woff2", "ttf", "otf", "eot",
		"png", "jpg", "jpeg", "gif", "svg", "webp", "avif", "ico",
		"wasm",
	};
	for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
		if (!strcasecmp(ext, exts[i]))
			return true;
	return false;
}

/* A webpack hash: lowercase hex, 16+ characters, or 8-15 with a letter
 * and a digit (so "20240602" or "deadbeef" alone are not taken). */
static bool webpack_hash(const char *s, size_t len)
{
	if (len < 8)
		return false;
	bool letter = false, digit = false;
	for (size_t i = 0; i < len; i++) {
		if (isdigit((unsigned char)s[i]))
			digit = true;
		else if (s[i] >= 'a' && s[i] <= 'f')
			letter = true;
		else
			return false;
	}
	return len >= 16 || (letter && digit);
}

/* An esbuild hash: exactly 8 characters of its base32 alphabet. */
static bool esbuild_hash(const char *s, size_t len)
{
	if (len != 8)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '2' && s[i] <= '7')))
			return false;
	return true;
}

enum cache_class rules_cache_class(const char *path)
{
	const char *ext = path_ext(path);
	if (!*ext || !fingerprint_type(ext))
		return CACHE_SHORT;
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	/* Each dot-separated part before the extension, and the last
	 * dash-separated piece of each (chunk-UWQ4BXNQ.js,
	 * roboto-v20-latin.3f2a9c1b.woff2). */
	const char *p = base;
	while (p < ext - 1) {
		const char *end = memchr(p, '.', (size_t)(ext - 1 - p));
		if (!end)
			end = ext - 1;
		const char *s = p;
		for (const char *q = p; q < end; q++)
			if (*q == '-')
				s = q + 1;
		size_t len = (size_t)(end - s);
		if (webpack_hash(s, len) || esbuild_hash(s, len))
			return CACHE_IMMUTABLE;
		p = end + 1;
	}
	return CACHE_SHORT;
}

const char *rules_type_class(const char *path)
{
	static const struct {
		const char *ext, *cls;
	} map[] = {
		{ "html", "html" }, { "htm", "html" }, { "json", "json" }, { "csv", "csv" },
		{ "js", "js" }, { "mjs", "js" }, { "css", "css" },
		{ "woff", "font" }, { "woff2", "font" }, { "ttf", "font" }, { "otf", "font" },
		{ "eot", "font" },
		{ "png", "image" }, { "jpg", "image" }, { "jpeg", "image" }, { "gif", "image" },
		{ "svg", "image" }, { "webp", "image" }, { "avif", "image" }, { "ico", "image" },
		{ "zip", "zip" }, { "txt", "txt" },
	};
	const char *ext = path_ext(path);
	for (size_t i = 0; *ext && i < sizeof map / sizeof map[0]; i++)
		if (!strcasecmp(ext, map[i].ext))
			return map[i].cls;
	return "other";
}

/* Splits s on spaces and commas; each word must be one of names[] (its
 * bit is 1 << index) at most once, or s is exactly none_word. */
static bool parse_words(const char *s, const char *const *names, size_t n,
			const char *none_word, unsigned *out)
{
	unsigned bits = 0;
	size_t words = 0;
	bool none = false;
	while (*s) {
		while (*s == ' ' || *s == ',' || *s == '\t')
			s++;
		if (!*s)
			break;
		size_t len = strcspn(s, " ,\t");
		words++;
		size_t i;
		for (i = 0; i < n; i++)
			if (strlen(names[i]) == len && !strncasecmp(s, names[i], len))
				break;
		if (i < n) {
			if (bits & (1u << i))
				return false;
			bits |= 1u << i;
		} else if (strlen(none_word) == len && !strncasecmp(s, none_word, len)) {
			none = true;
		} else {
			return false;
		}
		s += len;
	}
	if (!words || (none && words != 1))
		return false;
	*out = bits;
	return true;
}

bool rules_parse_cdn_header(const char *s, unsigned *out)
{
	static const char *const names[] = { "s-maxage", "surrogate-control", "cdn-cache-control" };
	return parse_words(s, names, 3, "none", out);
}

bool rules_parse_tags(const char *s, unsigned *out)
{
	static const char *const names[] = { "surrogate-key", "cache-tag" };
	return parse_words(s, names, 2, "off", out);
}
