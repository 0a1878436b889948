#include "server/hdr.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Parses ";q=0.5"-style parameters after a coding; returns the q-value in
 * thousandths (1000 when absent) and leaves *pp after the element. */
static int element_q(const char **pp)
{
	const char *p = *pp;
	int q = 1000;
	while (*p && *p != ',') {
		if (*p == ';') {
			p = skip_ows(p + 1);
			if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
				p += 2;
				int v = 0, digits = 0;
				if (*p == '0' || *p == '1') {
					v = (*p - '0') * 1000;
					p++;
					if (*p == '.') {
						p++;
						int scale = 100;
						while (isdigit((unsigned char)*p) && digits < 3) {
							v += (*p - '0') * scale;
							scale /= 10;
							digits++;
							p++;
						}
					}
					q = v > 1000 ? 1000 : v;
				}
				continue;
			}
		}
		p++;
	}
	*pp = p;
	return q;
}

bool hdr_accepts_gzip(const char *ae)
{
	if (!ae)
		return false;
	int gzip_q = -1, star_q = -1;
	const char *p = ae;
	while (*p) {
		p = skip_ows(p);
		const char *tok = p;
		while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t')
			p++;
		size_t n = (size_t)(p - tok);
		int q = element_q(&p);
		if ((n == 4 && !strncasecmp(tok, "gzip", 4)) ||
		    (n == 6 && !strncasecmp(tok, "x-gzip", 6)))
			gzip_q = q > gzip_q ? q : gzip_q;
		else if (n == 1 && *tok == '*')
			star_q = q;
		if (*p == ',')
			p++;
	}
	if (gzip_q >= 0)
		return gzip_q > 0;
	return star_q > 0;
}

bool hdr_etag_match(const char *inm, const char *etag)
{
	if (!inm || !etag)
		return false;
	size_t elen = strlen(etag);
	const char *p = inm;
	while (*p) {
		p = skip_ows(p);
		if (*p == '*')
			return true;
		if (p[0] == 'W' && p[1] == '/')
			p += 2;
		if (*p != '"') {
			/* not an entity-tag: skip to the next list element */
			while (*p && *p != ',')
				p++;
		} else {
			const char *q = strchr(p + 1, '"');
			if (!q)
				return false;
			size_t n = (size_t)(q + 1 - p);
			if (n == elen && !memcmp(p, etag, n))
				return true;
			p = q + 1;
		}
		p = skip_ows(p);
		if (*p == ',')
			p++;
		else if (*p)
			return false;   /* junk between tags: treat as no match */
	}
	return false;
}

static int month_index(const char *m)
{
	static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	for (int i = 0; i < 12; i++)
		if (!strncmp(m, names + 3 * i, 3))
			return i;
	return -1;
}

static bool valid_tm(const struct tm *tm)
{
	return tm->tm_mon >= 0 && tm->tm_mday >= 1 && tm->tm_mday <= 31 &&
	       tm->tm_hour <= 23 && tm->tm_min <= 59 && tm->tm_sec <= 60 &&
	       tm->tm_year >= 70 && tm->tm_year < 8000;
}

bool hdr_date_parse(const char *s, time_t *out)
{
	if (!s)
		return false;
	struct tm tm = { 0 };
	char wd[16], mon[4];
	int day, year, h, mi, sec, used = 0;
	/* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
	if (sscanf(s, "%3[A-Za-z], %2d %3s %4d %2d:%2d:%2d GMT%n", wd, &day,
		   mon, &year, &h, &mi, &sec, &used) == 7 && used &&
	    s[used] == '\0') {
		tm.tm_year = year - 1900;
	/* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
	} else if (used = 0, sscanf(s, "%15[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d GMT%n",
			  wd, &day, mon, &year, &h, &mi, &sec, &used) == 7 &&
		   used && s[used] == '\0') {
		tm.tm_year = year < 70 ? year + 100 : year;
	/* asctime: Sun Nov  6 08:49:37 1994 */
	} else if (used = 0, sscanf(s, "%3s %3s %2d %2d:%2d:%2d %4d%n", wd, mon,
			  &day, &h, &mi, &sec, &year, &used) == 7 &&
		   used && s[used] == '\0') {
		tm.tm_year = year - 1900;
	} else {
		return false;
	}
	tm.tm_mon = month_index(mon);
	tm.tm_mday = day;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	if (!valid_tm(&tm))
		return false;
	*out = timegm(&tm);
	return *out != (time_t)-1;
}

void hdr_date_format(time_t t, char *out, size_t outsz)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	/* strftime's %a/%b follow the locale; HTTP dates must be English. */
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
					    "Fri", "Sat" };
	static const char *const mons[] = { "Jan", "Feb", "Mar", "Apr", "May",
					    "Jun", "Jul", "Aug", "Sep", "Oct",
					    "Nov", "Dec" };
	snprintf(out, outsz, "%s, %02d %s %04d %02d:%02d:%02d GMT",
		 days[tm.tm_wday], tm.tm_mday, mons[tm.tm_mon],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

bool hdr_name_valid(const char *name)
{
	if (!name || !*name)
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (isalnum(*p))
			continue;
		if (!strchr("!#$%&'*+-.^_`|~", *p))
			return false;
	}
	return true;
}

bool hdr_value_valid(const char *value)
{
	if (!value)
		return false;
	for (const unsigned char *p = (const unsigned char *)value; *p; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return false;
	return true;
}
