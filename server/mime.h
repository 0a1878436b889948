/* MIME types by file extension, for the files a PREP package holds. */
#ifndef PREPD_MIME_H
#define PREPD_MIME_H

#include <stdbool.h>

struct mime {
	const char *type;   /* static, e.g. "application/json" */
	bool text;          /* gets a charset parameter */
	bool compress;      /* worth a gzip variant */
};

/* The type for a normalised path by its extension, case-insensitive.
 * Unknown extensions get application/octet-stream (never sniffed: every
 * response says nosniff). Never returns NULL. */
const struct mime *mime_for_path(const char *path);

/* Writes the Content-Type value for a file: the type, plus "; charset=utf-8"
 * for text that is valid UTF-8, or "; charset=iso-8859-1" for CSV and plain
 * text that is not (the 2018 databases are Latin-1). HTML that is not UTF-8
 * gets no charset so the page's own <meta charset> decides. */
void mime_content_type(const struct mime *m, bool utf8, char *out,
		       unsigned outsz);

#endif
