#include "server/www.h"

#include "server/config.h"
#include "server/snap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* What the page calls the institute's zone. Mexico has had no daylight
 * saving time since 2022 but for the border cities. */
static const struct {
	const char *tz;
	const char *words;
} zones[] = {
	{ "America/Mexico_City", "hora del centro" },
	{ "America/Monterrey", "hora del centro" },
	{ "America/Merida", "hora del centro" },
	{ "America/Matamoros", "hora del centro" },
	{ "America/Bahia_Banderas", "hora del centro" },
	{ "America/Chihuahua", "hora del centro" },
	{ "America/Cancun", "hora de Quintana Roo (UTC\u22125)" },
	{ "America/Mazatlan", "hora del Pac\u00edfico (UTC\u22127)" },
	{ "America/Hermosillo", "hora de Sonora (UTC\u22127)" },
	{ "America/Tijuana", "hora del noroeste" },
};

static const char *const days[] = { "domingo", "lunes", "martes", "mi\u00e9rcoles", "jueves",
				    "viernes", "s\u00e1bado" };
static const char *const months[] = { "enero", "febrero", "marzo", "abril", "mayo", "junio",
				      "julio", "agosto", "septiembre", "octubre", "noviembre",
				      "diciembre" };

/* [placeholder] starts in words; settings.c has checked its form. */
static void starts_words(const char *v, char *out, size_t outsz)
{
	unsigned y, mo, d, h, mi;
	if (v && strlen(v) == 16 &&
	    sscanf(v, "%4u-%2u-%2uT%2u:%2u", &y, &mo, &d, &h, &mi) == 5 && mo >= 1 && mo <= 12) {
		struct tm tm = { .tm_year = (int)y - 1900, .tm_mon = (int)mo - 1, .tm_mday = (int)d,
				 .tm_hour = 12 };
		time_t t = timegm(&tm);
		gmtime_r(&t, &tm);
		snprintf(out, outsz, "%02u:%02u horas del %s %u de %s de %u", h, mi,
			 days[tm.tm_wday % 7], d, months[mo - 1], y);
	} else if (v && strlen(v) == 5 && sscanf(v, "%2u:%2u", &h, &mi) == 2) {
		snprintf(out, outsz, "%02u:%02u horas", h, mi);
	} else {
		snprintf(out, outsz, "20:00 horas");
	}
}

static void zone_words(const char *tz, char *out, size_t outsz)
{
	for (size_t i = 0; tz && i < sizeof zones / sizeof zones[0]; i++) {
		if (!strcmp(tz, zones[i].tz)) {
			snprintf(out, outsz, "%s", zones[i].words);
			return;
		}
	}
	snprintf(out, outsz, "hora local (%s)", tz ? tz : "UTC");
}

/* Appends s escaped for HTML text and quoted attributes. */
static void put_escaped(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f);
		}
	}
}

char *www_fill(const char *tmpl, size_t len, const struct placeholder_settings *ph,
	       const char *time_zone, size_t *outlen)
{
	char starts[128], zone[128], refresh[16], every[48];
	starts_words(ph ? ph->starts : NULL, starts, sizeof starts);
	zone_words(time_zone, zone, sizeof zone);
	unsigned r = ph && ph->refresh ? ph->refresh : 60;
	snprintf(refresh, sizeof refresh, "%u", r);
	if (r == 60)
		snprintf(every, sizeof every, "cada minuto");
	else if (r % 60 == 0)
		snprintf(every, sizeof every, "cada %u minutos", r / 60);
	else
		snprintf(every, sizeof every, "cada %u segundos", r);
	const struct {
		const char *name;
		const char *value;
	} vars[] = {
		{ "starts", starts },
		{ "zone", zone },
		{ "tz", time_zone ? time_zone : "UTC" },
		{ "institute", ph && ph->institute ? ph->institute : "el instituto electoral" },
		{ "difusor", ph && ph->difusor ? ph->difusor : "este difusor" },
		{ "refresh", refresh },
		{ "every", every },
	};
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	if (!f)
		return NULL;
	for (size_t i = 0; i < len;) {
		bool done = false;
		if (tmpl[i] == '{' && i + 1 < len && tmpl[i + 1] == '{') {
			for (size_t v = 0; v < sizeof vars / sizeof vars[0] && !done; v++) {
				size_t kl = strlen(vars[v].name);
				if (i + 2 + kl + 2 <= len && !memcmp(tmpl + i + 2, vars[v].name, kl) &&
				    !memcmp(tmpl + i + 2 + kl, "}}", 2)) {
					put_escaped(f, vars[v].value);
					i += 2 + kl + 2;
					done = true;
				}
			}
		}
		if (!done)
			fputc(tmpl[i++], f);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	*outlen = n;
	return buf;
}

struct snap *www_default_snapshot(const struct config *cfg, enum rc *rc)
{
	struct snap_builder *b = snap_builder_new(NULL, false, &cfg->response.policy);
	if (!b) {
		*rc = RC_NOMEM;
		return NULL;
	}
	time_t now = time(NULL);
	for (const struct www_file *f = www_default_files; f->path; f++) {
		if (memmem(f->data, f->len, "{{", 2)) {
			size_t n;
			char *filled = www_fill((const char *)f->data, f->len, &cfg->placeholder,
						cfg->ingest.time_zone, &n);
			*rc = filled ? snap_builder_add(b, f->path, filled, n, now, false) : RC_NOMEM;
		} else {
			*rc = snap_builder_add(b, f->path, (void *)f->data, f->len, now, true);
		}
		if (*rc) {
			snap_builder_free(b);
			return NULL;
		}
	}
	struct cut cut = { .seq = 0 };
	snprintf(cut.label, sizeof cut.label, "placeholder");
	return snap_builder_finish(b, &cut, NULL, rc);
}
