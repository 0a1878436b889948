/* The identity of a published cut, as every response names it. */
#ifndef PREPD_CUT_H
#define PREPD_CUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cut {
	uint64_t seq;       /* 0 is the built-in placeholder site */
	char label[64];     /* [A-Za-z0-9._-] only, e.g. 20240602_2215 */
	char time[32];      /* the cut time, e.g. 2024-06-02T22:15, or "" */
};

/* Fills c->label and c->time from a package file name: the first
 * YYYYMMDD_HHMM in it when there is one (20240602_2215_PREP_PRES.zip gives
 * label 20240602_2215 and time 2024-06-02T22:15), else the file's base
 * name without its extension, cleaned to the label alphabet. seq is left
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
 * time=2024-06-02T22:15" (time omitted when unknown). */
void cut_header(const struct cut *c, char *out, size_t outsz);

#endif
