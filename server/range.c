#include "server/range.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* Parses digits into *v; returns the end, or NULL on no digits/overflow. */
static const char *parse_num(const char *p, uint64_t *v)
{
	if (!isdigit((unsigned char)*p))
		return NULL;
	uint64_t n = 0;
	while (isdigit((unsigned char)*p)) {
		unsigned d = (unsigned)(*p - '0');
		if (n > (UINT64_MAX - d) / 10)
			return NULL;
		n = n * 10 + d;
		p++;
	}
	*v = n;
	return p;
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

enum range_result range_parse(const char *value, uint64_t size,
			      uint64_t *first, uint64_t *last)
{
	if (!value)
		return RANGE_NONE;
	const char *p = skip_ws(value);
	if (strncasecmp(p, "bytes", 5))
		return RANGE_NONE;
	p = skip_ws(p + 5);
	if (*p != '=')
		return RANGE_NONE;
	p = skip_ws(p + 1);

	uint64_t a = 0, b = 0;
	bool has_a = false, has_b = false;
	if (*p == '-') {
		p = parse_num(p + 1, &b);
		if (!p)
			return RANGE_NONE;
		has_b = true;
	} else {
		p = parse_num(p, &a);
		if (!p || *p != '-')
			return RANGE_NONE;
		has_a = true;
		p++;
		if (isdigit((unsigned char)*p)) {
			p = parse_num(p, &b);
			if (!p)
				return RANGE_NONE;
			has_b = true;
		}
	}
	p = skip_ws(p);
	if (*p)   /* a second range or junk */
		return RANGE_NONE;

	if (!has_a) {   /* suffix: the last b bytes */
		if (b == 0 || size == 0)
			return RANGE_UNSATISFIABLE;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return RANGE_OK;
	}
	if (has_b && b < a)
		return RANGE_NONE;   /* invalid range-spec: ignore the header */
	if (a >= size)
		return RANGE_UNSATISFIABLE;
	*first = a;
	*last = (!has_b || b >= size) ? size - 1 : b;
	return RANGE_OK;
}
