/* A tokenizer for the start of an HTML document, just enough of the
 * WHATWG tree-building rules ("in head" insertion mode) to know whether a
 * <base href> is where a browser takes it from. */
#include "ingest/site.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct scan {
	const unsigned char *p, *end;
};

static bool at(const struct scan *s, const char *lit)
{
	size_t n = strlen(lit);
	return (size_t)(s->end - s->p) >= n && !strncasecmp((const char *)s->p, lit, n);
}

/* Moves past the next occurrence of lit (case-insensitive); false when
 * there is none (the rest of the document is inside it). */
static bool skip_past(struct scan *s, const char *lit)
{
	for (; s->p < s->end; s->p++) {
		if (at(s, lit)) {
			s->p += strlen(lit);
			return true;
		}
	}
	return false;
}

static bool space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* Reads a tag name (ASCII letters and digits, '-' for custom elements)
 * lower-cased into name; a longer name is cut (it matches nothing). */
static void tag_name(struct scan *s, char *name, size_t namesz)
{
	size_t n = 0;
	while (s->p < s->end && !space(*s->p) && *s->p != '/' && *s->p != '>') {
		if (n + 1 < namesz)
			name[n++] = (char)tolower(*s->p);
		s->p++;
	}
	name[n] = '\0';
}

/* Reads the attributes up to the tag's '>' (false when the document ends
 * first); *has_href says whether the first href attribute has a value that
 * is not empty or blank. */
static bool attributes(struct scan *s, bool *has_href)
{
	bool seen_href = false;
	*has_href = false;
	for (;;) {
		while (s->p < s->end && (space(*s->p) || *s->p == '/'))
			s->p++;
		if (s->p >= s->end)
			return false;
		if (*s->p == '>') {
			s->p++;
			return true;
		}
		const unsigned char *name = s->p;
		s->p++;   /* a name may start with '=' */
		while (s->p < s->end && !space(*s->p) && *s->p != '/' && *s->p != '>' &&
		       *s->p != '=')
			s->p++;
		bool is_href = s->p - name == 4 && !strncasecmp((const char *)name, "href", 4);
		while (s->p < s->end && space(*s->p))
			s->p++;
		const unsigned char *v = s->p, *vend = s->p;
		if (s->p < s->end && *s->p == '=') {
			s->p++;
			while (s->p < s->end && space(*s->p))
				s->p++;
			if (s->p < s->end && (*s->p == '"' || *s->p == '\'')) {
				unsigned char q = *s->p++;
				v = s->p;
				while (s->p < s->end && *s->p != q)
					s->p++;
				if (s->p >= s->end)
					return false;
				vend = s->p++;
			} else {
				v = s->p;
				while (s->p < s->end && !space(*s->p) && *s->p != '>')
					s->p++;
				vend = s->p;
			}
		}
		if (is_href && !seen_href) {   /* the first of a repeated attribute wins */
			seen_href = true;
			for (; v < vend; v++)
				if (!space(*v))
					*has_href = true;
		}
	}
}

/* Elements the "in head" and "before head" modes keep in the head; any
 * other start tag opens the body. */
static bool head_element(const char *n)
{
	static const char *const names[] = {
		"html", "head", "base", "basefont", "bgsound", "link", "meta", "title",
		"noscript", "noframes", "style", "script", "template",
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strcmp(n, names[i]))
			return true;
	return false;
}

/* Elements whose content is text, not markup (or, for <template> and
 * <noscript>, not the document's): skipped to their end tag. */
static bool opaque_element(const char *n)
{
	static const char *const names[] = {
		"script", "style", "template", "noscript", "noframes", "title", "textarea",
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strcmp(n, names[i]))
			return true;
	return false;
}

/* Past "</name" followed by a space, '/' or '>', then past its '>'. */
static bool skip_element(struct scan *s, const char *name)
{
	char end[32];
	snprintf(end, sizeof end, "</%s", name);
	while (skip_past(s, end)) {
		if (s->p >= s->end || space(*s->p) || *s->p == '/' || *s->p == '>')
			return skip_past(s, ">");
	}
	return false;
}

bool site_has_base(const void *html, size_t len)
{
	struct scan s = { html, (const unsigned char *)html + len };
	if (at(&s, "\xef\xbb\xbf"))
		s.p += 3;
	while (s.p < s.end) {
		if (*s.p != '<') {
			if (!space(*s.p))
				return false;   /* text: the body has begun */
			s.p++;
			continue;
		}
		if (at(&s, "<!--")) {
			s.p += 2;   /* "<!-->" and "<!--->" close at once */
			if (!skip_past(&s, "-->"))
				return false;
			continue;
		}
		if (at(&s, "<!") || at(&s, "<?")) {   /* doctype, bogus comment */
			if (!skip_past(&s, ">"))
				return false;
			continue;
		}
		if (at(&s, "</")) {
			s.p += 2;
			char name[16];
			tag_name(&s, name, sizeof name);
			if (!strcmp(name, "head") || !strcmp(name, "body") || !strcmp(name, "html"))
				return false;
			if (!skip_past(&s, ">"))
				return false;
			continue;
		}
		s.p++;
		if (s.p >= s.end || !isalpha(*s.p))
			return false;   /* a lone '<' is text */
		char name[16];
		tag_name(&s, name, sizeof name);
		bool href;
		if (!attributes(&s, &href) || !head_element(name))
			return false;
		if (!strcmp(name, "base") && href)
			return true;
		if (opaque_element(name) && !skip_element(&s, name))
			return false;
	}
	return false;
}
