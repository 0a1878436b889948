/* The built-in placeholder site (www-default/, compiled in), served before
 * the first package so the institute's health check (R11) passes. Its
 * index.html is a template: [placeholder] starts, institute and difusor
 * and [ingest] time_zone are filled in (HTML-escaped) when the snapshot is
 * built, at start and on a reload that changes them. */
#ifndef PREPD_WWW_H
#define PREPD_WWW_H

#include <stddef.h>

#include "server/rc.h"

struct www_file {
	const char *path;
	const unsigned char *data;
	size_t len;
};

/* NULL-terminated; generated at build time by www-default/embed.py. */
extern const struct www_file www_default_files[];

struct snap;
struct config;
struct placeholder_settings;

/* Fills a template: each {{NAME}} of
 *   starts     the start of results, in words ("20:00 horas del domingo
 *              2 de junio de 2024", or "20:00 horas")
 *   zone       the zone in words ("hora del centro", "hora de Quintana Roo
 *              (UTC−5)", else "hora local (ZONE)")
 *   tz         the IANA zone (for the page's clock)
 *   institute  the institute's name, or "el instituto electoral"
 *   difusor    the difusor's name, or "este difusor"
 * is replaced by its value escaped for HTML text and attributes (& < > "
 * '); an unknown {{NAME}} is left as it is. ph and time_zone are
 * borrowed. Returns a new NUL-terminated buffer (free()) and its length in
 * *outlen; NULL on out-of-memory. Pure; thread-safe. */
char *www_fill(const char *tmpl, size_t len, const struct placeholder_settings *ph,
	       const char *time_zone, size_t *outlen);

/* Builds the placeholder snapshot (cut seq 0, label "placeholder") under
 * cfg's response policy, with index.html filled from cfg (borrowed during
 * the call). Files without a {{ are served from the binary, uncopied. NULL
 * with *rc on failure. Thread-safe. */
struct snap *www_default_snapshot(const struct config *cfg, enum rc *rc);

#endif
