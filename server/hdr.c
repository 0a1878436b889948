#include "server/hdr.h"

#include <ctype.h>
#include <stdint.h>
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

/* Parses the parameters after a coding (";q=0.5", ";foo=bar"); returns
 * the q-value in thousandths (1000 when absent) and leaves *pp on the ','
 * that ends the element or on the terminating NUL, never past it. */
static int element_q(const char **pp)
{
	const char *p = *pp;
	int q = 1000;
	while (*p && *p != ',') {
		if (*p != ';') {
			p++;
			continue;
		}
		p = skip_ows(p + 1);
		if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
			p += 2;
			if (*p == '0' || *p == '1') {
				int v = (*p - '0') * 1000;
				p++;
				if (*p == '.') {
					p++;
					int scale = 100, digits = 0;
					while (isdigit((unsigned char)*p) && digits < 3) {
						v += (*p - '0') * scale;
						scale /= 10;
						digits++;
						p++;
					}
				}
				q = v > 1000 ? 1000 : v;
			}
		}
		/* p is on the next byte to judge: the loop test sees a NUL. */
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

/* RFC 9110 8.8.3.2: weak comparison ignores W/, strong comparison lets
 * no weak tag match. */
static bool etag_match(const char *list, const char *etag, bool strong)
{
	if (!list || !etag)
		return false;
	size_t elen = strlen(etag);
	const char *p = list;
	while (*p) {
		p = skip_ows(p);
		if (*p == '*')
			return true;
		bool weak = false;
		if (p[0] == 'W' && p[1] == '/') {
			p += 2;
			weak = true;
		}
		if (*p != '"') {
			/* not an entity-tag: skip to the next list element */
			while (*p && *p != ',')
				p++;
		} else {
			const char *q = strchr(p + 1, '"');
			if (!q)
				return false;
			size_t n = (size_t)(q + 1 - p);
			if (n == elen && !memcmp(p, etag, n) && !(weak && strong))
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

bool hdr_etag_match(const char *inm, const char *etag)
{
	return etag_match(inm, etag, false);
}

bool hdr_etag_match_strong(const char *if_match, const char *etag)
{
	return etag_match(if_match, etag, true);
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
	/* sscanf's %d takes a sign: "-1" must not pass as an hour. */
	return tm->tm_mon >= 0 && tm->tm_mday >= 1 && tm->tm_mday <= 31 &&
	       tm->tm_hour >= 0 && tm->tm_hour <= 23 && tm->tm_min >= 0 &&
	       tm->tm_min <= 59 && tm->tm_sec >= 0 && tm->tm_sec <= 60 &&
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

/* RFC 3986 3.2.2: unreserved / pct-encoded / sub-delims, the reg-name and
 * IPv4 alphabet. */
static bool reg_name_char(unsigned char c)
{
	return isalnum(c) || (c && strchr("-._~!$&'()*+,;=%", c));
}

bool hdr_host_valid(const char *s, size_t n)
{
	if (!s || !n)
		return false;
	size_t i = 0;
	if (s[0] == '[') {
		/* IP-literal: IPv6 (hex, ':', '.') or IPvFuture ("v1.x"). */
		for (i = 1; i < n && s[i] != ']'; i++)
			if (!isxdigit((unsigned char)s[i]) && !strchr(":.vV", s[i]))
				return false;
		if (i >= n || i == 1)
			return false;
		i++;
	} else {
		for (; i < n && s[i] != ':'; i++)
			if (!reg_name_char((unsigned char)s[i]))
				return false;
		if (i == 0)
			return false;   /* an http URI's host is never empty */
	}
	if (i == n)
		return true;
	if (s[i] != ':')
		return false;
	/* port = *DIGIT, at most 65535 */
	size_t digits = 0;
	unsigned long port = 0;
	for (i++; i < n; i++, digits++) {
		if (!isdigit((unsigned char)s[i]) || digits >= 5)
			return false;
		port = port * 10 + (unsigned long)(s[i] - '0');
	}
	return port <= 65535;
}

bool hdr_content_length(const char *v, uint64_t *out)
{
	if (!v || !isdigit((unsigned char)*v))
		return false;
	uint64_t n = 0;
	for (; isdigit((unsigned char)*v); v++) {
		unsigned d = (unsigned)(*v - '0');
		if (n > (UINT64_MAX - d) / 10)
			return false;
		n = n * 10 + d;
	}
	if (*skip_ows(v))
		return false;
	*out = n;
	return true;
}

/* The transfer codings RFC 9112 7 and the IANA registry define; prepd
 * decodes none of them, but only an unknown one earns 501. */
static bool coding_known(const char *tok, size_t n)
{
	static const char *const known[] = { "chunked", "gzip", "x-gzip", "deflate",
					     "compress", "x-compress" };
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strlen(known[i]) == n && !strncasecmp(tok, known[i], n))
			return true;
	return false;
}

void hdr_te_add(struct hdr_te *t, const char *v)
{
	if (!v)
		return;
	t->lines++;
	unsigned here = 0;
	const char *p = v;
	for (;;) {
		p = skip_ows(p);
		const char *tok = p;
		while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t')
			p++;
		size_t n = (size_t)(p - tok);
		/* Parameters (";q=...") are legal on codings other than chunked. */
		bool params = false;
		while (*p && *p != ',') {
			if (*p == ';')
				params = true;
			p++;
		}
		if (n == 0) {
			/* An empty list element ("chunked,,") is allowed by RFC 9110
			 * 5.6.1 but a whole empty value is not a coding. */
			if (!*p && here == 0)
				t->bad = true;
		} else {
			bool chunked = n == 7 && !strncasecmp(tok, "chunked", 7);
			if (t->chunked || (chunked && params))
				t->chunked_not_last = true;   /* something after chunked */
			if (chunked)
				t->chunked = true;
			else if (!coding_known(tok, n))
				t->unknown = true;
			t->codings++;
			here++;
		}
		if (!*p)
			break;
		p++;
	}
}

enum hdr_te_result hdr_te_result(const struct hdr_te *t)
{
	if (!t->lines)
		return HDR_TE_NONE;
	if (t->bad || t->chunked_not_last)
		return HDR_TE_BAD;
	if (t->unknown)
		return HDR_TE_UNKNOWN;
	return t->chunked ? HDR_TE_CHUNKED : HDR_TE_BAD;
}

bool hdr_target_bytes_ok(const char *t)
{
	if (!t || !*t)
		return false;
	for (const unsigned char *p = (const unsigned char *)t; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return false;
	return true;
}

enum hdr_target hdr_target_parse(const char *t, const char **path)
{
	if (!t)
		return HDR_TARGET_BAD;
	if (t[0] == '/') {
		*path = t;
		return HDR_TARGET_ORIGIN;
	}
	size_t scheme;
	if (!strncasecmp(t, "http://", 7))
		scheme = 7;
	else if (!strncasecmp(t, "https://", 8))
		scheme = 8;
	else
		return HDR_TARGET_BAD;
	const char *a = t + scheme;
	size_t n = strcspn(a, "/?#");
	/* No userinfo: RFC 9110 4.2.4 makes "user@host" an error. */
	if (!hdr_host_valid(a, n) || memchr(a, '@', n))
		return HDR_TARGET_BAD;
	*path = a[n] == '/' ? a + n : "/";
	return HDR_TARGET_ABSOLUTE;
}
