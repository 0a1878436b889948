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

enum cache_class rules_cache_class(const char *path)
{
	const char *ext = path_ext(path);
	if (!fingerprint_type(ext))
		return CACHE_SHORT;
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	/* Look at each dot-separated part before the extension, and also at
	 * a "-hash" suffix of the first part (chunk-3f2a9c1b.js). */
	const char *p = base;
	while (p < ext - 1) {
		const char *end = memchr(p, '.', (size_t)(ext - 1 - p));
		if (!end)
			end = ext - 1;
		const char *s = p;
		const char *dash = NULL;
		for (const char *q = p; q < end; q++)
			if (*q == '-')
				dash = q;
		if (dash)
			s = dash + 1;
		size_t len = (size_t)(end - s);
		bool hex = len >= 8, letter = false, digit = false;
		for (const char *q = s; hex && q < end; q++) {
			if (isdigit((unsigned char)*q))
				digit = true;
			else if (*q >= 'a' && *q <= 'f')
				letter = true;
			else
				hex = false;
		}
		if (hex && letter && digit)
			return CACHE_IMMUTABLE;
		p = end + 1;
	}
	return CACHE_SHORT;
}
