/* The identity of a published cut, as every response names it, and the
 * cut's time as an instant in the institute's time zone.
 *
 * Time zone: cut times are written by the institute in its own local time
 * (R8; "22:15" in Mexico City is 04:15 UTC). prepd makes the institute's
 * zone ([ingest] time_zone) the process's local time once, at start-up,
 * before any thread starts (cut_zone_use()), and converts with mktime()
 * and localtime_r() from then on. The same setting makes libarchive read a
 * zip entry's DOS time (a local time without a zone) as the institute's
 * local time, so Last-Modified is right. TZ is never changed again: glibc
 * reads it without a lock in the conversions. */
#ifndef PREPD_CUT_H
#define PREPD_CUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "server/rc.h"

struct cut {
	uint64_t seq;       /* 0 is the built-in placeholder site */
	char label[64];     /* [A-Za-z0-9._-] only, e.g. 20240602_2215 */
	char time[32];      /* the cut time with its UTC offset, e.g.
	                     * 2024-06-02T22:15-06:00; text that is not a
	                     * date as the institute wrote it; or "" */
	bool timed;         /* time is a date: at holds its instant */
	time_t at;          /* the cut time as an instant (UTC seconds) */
};

/* The default of [ingest] time_zone: the institutes of R1-R15 are
 * Mexican, and central Mexico (the INE, most states) keeps this zone. */
#define CUT_ZONE_DEFAULT "America/Mexico_City"
#define CUT_ZONE_DIR "/usr/share/zoneinfo"

/* Checks that zone names a zone of the system's tz database: a relative
 * name such as America/Mexico_City (letters, digits, '_', '+', '-', '/';
 * no "." component) whose file under CUT_ZONE_DIR is a TZif file. RC_OK;
 * RC_FORMAT (a bad name, no such zone) or RC_NOTFOUND (no tz database:
 * tzdata is not installed) with a sentence in err. Reads the file system;
 * thread-safe. */
enum rc cut_zone_check(const char *zone, char *err, size_t errsz);

/* Makes zone the process's local time (TZ=":zone", then tzset()). Call it
 * once, at start-up, before any thread starts; never in a running server.
 * Fails as cut_zone_check(), leaving TZ alone. */
enum rc cut_zone_use(const char *zone, char *err, size_t errsz);

/* Sets c->time, c->timed and c->at from a cut time as text:
 * "YYYY-MM-DDTHH:MM[:SS]" (or a space for the T) is a local time of the
 * process's zone (cut_zone_use()); with "Z", "+HH:MM", "-HH:MM" or
 * "+HHMM" after it, a time at that offset. c->time is then written
 * "YYYY-MM-DDTHH:MM[:SS]+HH:MM" (seconds when the text had them). A local
 * time that a daylight-saving change skips or repeats is taken as mktime()
 * does (tm_isdst = -1). Other text, or an impossible date (June 31st), is
 * kept as it is (cut to fit, made printable ASCII without ';') with timed
 * false. NULL or "" empties the time. Never fails. */
void cut_set_time(struct cut *c, const char *text);

/* How a's cut time stands to b's: -1 older, 0 the same instant, 1 newer.
 * Returns false (and leaves *order alone) when either time is unknown
 * (not timed): such cuts cannot be ordered. */
bool cut_order(const struct cut *a, const struct cut *b, int *order);

/* Fills c->label and c->time from a package file name: the first
 * YYYYMMDD_HHMM in it when there is one (20240602_2215_PREP_PRES.zip gives
 * label 20240602_2215 and time 2024-06-02T22:15-06:00 in Mexico City,
 * through cut_set_time()), else the file's base name without its
 * extension, cleaned to the label alphabet, and no time. seq is left
 * alone. Never fails; an empty name gives label "package". */
void cut_from_name(const char *file, struct cut *c);

/* Reads the cut time from a JSON document (the institute's own, such as
 * Presidente_NACIONAL.json) at a dotted key path: "horaCorte", or
 * "ultimoCorte" for an object {"fecha": "02/06/2024", "hora": "22:15"},
 * or "ultimoCorte.fecha" style paths. A DD/MM/YYYY date and HH:MM time
 * become "2024-06-02T22:15"; other text is kept, cleaned to printable
 * ASCII without ';' so it can go in a header. Returns false (out
 * untouched) when the JSON does not parse or has no such key. */
bool cut_time_from_json(const void *json, size_t len, const char *key_path,
			char *out, size_t outsz);

/* Writes the X-PREP-Cut header value: "seq=42; label=20240602_2215;
 * time=2024-06-02T22:15-06:00" (time omitted when unknown). */
void cut_header(const struct cut *c, char *out, size_t outsz);

#endif
