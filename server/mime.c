#include "server/mime.h"
#include "server/path.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct mime octet = { "application/octet-stream", false, false };

/* Sorted by extension for bsearch. */
static const struct {
	const char *ext;
	struct mime m;
} table[] = {
	{ "avif",  { "image/avif", false, false } },
	{ "css",   { "text/css", true, true } },
	{ "csv",   { "text/csv", true, true } },
	{ "eot",   { "application/vnd.ms-fontobject", false, true } },
	{ "gif",   { "image/gif", false, false } },
	{ "gz",    { "application/gzip", false, false } },
	{ "htm",   { "text/html", true, true } },
	{ "html",  { "text/html", true, true } },
	{ "ico",   { "image/vnd.microsoft.icon", false, true } },
	{ "jpeg",  { "image/jpeg", false, false } },
	{ "jpg",   { "image/jpeg", false, false } },
	{ "js",    { "text/javascript", true, true } },
	{ "json",  { "application/json", true, true } },
	{ "map",   { "application/json", true, true } },
	{ "md",    { "text/markdown", true, true } },
	{ "mjs",   { "text/javascript", true, true } },
	{ "mp4",   { "video/mp4", false, false } },
	{ "otf",   { "font/otf", false, true } },
	{ "pdf",   { "application/pdf", false, false } },
	{ "png",   { "image/png", false, false } },
	{ "svg",   { "image/svg+xml", true, true } },
	{ "tar",   { "application/x-tar", false, false } },
	{ "ttf",   { "font/ttf", false, true } },
	{ "txt",   { "text/plain", true, true } },
	{ "wasm",  { "application/wasm", false, true } },
	{ "webmanifest", { "application/manifest+json", true, true } },
	{ "webp",  { "image/webp", false, false } },
	{ "woff",  { "font/woff", false, false } },
	{ "woff2", { "font/woff2", false, false } },
	{ "xml",   { "application/xml", true, true } },
	{ "zip",   { "application/zip", false, false } },
};

static int cmp(const void *key, const void *elem)
{
	return strcasecmp(key, *(const char *const *)elem);
}

const struct mime *mime_for_path(const char *path)
{
	const char *ext = path_ext(path);
	if (!*ext)
		return &octet;
	const void *hit = bsearch(ext, table, sizeof table / sizeof table[0],
				  sizeof table[0], cmp);
	if (!hit)
		return &octet;
	return &((const __typeof__(table[0]) *)hit)->m;
}

void mime_content_type(const struct mime *m, bool utf8, char *out,
		       unsigned outsz)
{
	const char *cs = "";
	if (m->text) {
		if (utf8)
			cs = "; charset=utf-8";
		else if (!strcmp(m->type, "text/csv") ||
			 !strcmp(m->type, "text/plain"))
			cs = "; charset=iso-8859-1";
	}
	snprintf(out, outsz, "%s%s", m->type, cs);
}
