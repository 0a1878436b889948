#include "server/cut.h"

#include <ctype.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool digits(const char *p, int n)
{
	for (int i = 0; i < n; i++)
		if (!isdigit((unsigned char)p[i]))
			return false;
	return true;
}

/* True if p starts a plausible YYYYMMDD_HHMM not glued to more digits. */
static bool stamp_at(const char *base, const char *p)
{
	if (strlen(p) < 13 || !digits(p, 8) || p[8] != '_' || !digits(p + 9, 4))
		return false;
	if (p > base && isdigit((unsigned char)p[-1]))
		return false;
	if (isdigit((unsigned char)p[13]))
		return false;
	int mon = (p[4] - '0') * 10 + (p[5] - '0');
	int day = (p[6] - '0') * 10 + (p[7] - '0');
	int hh = (p[9] - '0') * 10 + (p[10] - '0');
	int mm = (p[11] - '0') * 10 + (p[12] - '0');
	return mon >= 1 && mon <= 12 && day >= 1 && day <= 31 && hh <= 23 && mm <= 59;
}

/* ---- the time zone ---- */

static bool zone_name_ok(const char *z)
{
	size_t len = strlen(z);
	if (!len || len > 100 || z[0] == '/' || z[len - 1] == '/')
		return false;
	for (const char *p = z; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (!isalnum(ch) && ch != '_' && ch != '+' && ch != '-' && ch != '/')
			return false;
		/* no empty component, none starting with '-' (not an option) */
		if ((p == z || p[-1] == '/') && (ch == '/' || ch == '-'))
			return false;
	}
	return true;
}

enum rc cut_zone_check(const char *zone, char *err, size_t errsz)
{
	if (!zone || !zone_name_ok(zone)) {
		snprintf(err, errsz, "time_zone = '%.100s': expected an IANA time zone name such "
			 "as %s or UTC", zone ? zone : "", CUT_ZONE_DEFAULT);
		return RC_FORMAT;
	}
	struct stat sb;
	if (stat(CUT_ZONE_DIR, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		snprintf(err, errsz, "time_zone = '%s': there is no time zone database in %s; "
			 "install tzdata (script/bootstrap does)", zone, CUT_ZONE_DIR);
		return RC_NOTFOUND;
	}
	char path[256], magic[4];
	snprintf(path, sizeof path, "%s/%s", CUT_ZONE_DIR, zone);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool ok = fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
		  read(fd, magic, 4) == 4 && !memcmp(magic, "TZif", 4);
	if (fd >= 0)
		close(fd);
	if (!ok) {
		snprintf(err, errsz, "time_zone = '%s': no such time zone in %s (names are like "
			 "%s; see tzselect)", zone, CUT_ZONE_DIR, CUT_ZONE_DEFAULT);
		return RC_FORMAT;
	}
	return RC_OK;
}

enum rc cut_zone_use(const char *zone, char *err, size_t errsz)
{
	enum rc rc = cut_zone_check(zone, err, errsz);
	if (rc)
		return rc;
	char tz[128];
	snprintf(tz, sizeof tz, ":%s", zone);
	if (setenv("TZ", tz, 1)) {
		snprintf(err, errsz, "cannot set TZ");
		return RC_NOMEM;
	}
	tzset();
	return RC_OK;
}

/* ---- cut times ---- */

/* n digits at *p into *out, advancing p. */
static bool take_num(const char **p, int n, int *out)
{
	if (!digits(*p, n))
		return false;
	int v = 0;
	for (int i = 0; i < n; i++)
		v = v * 10 + ((*p)[i] - '0');
	*p += n;
	*out = v;
	return true;
}

static void clean_copy(const char *in, char *out, size_t outsz);

void cut_set_time(struct cut *c, const char *text)
{
	c->timed = false;
	c->at = 0;
	c->time[0] = '\0';
	if (!text || !*text)
		return;
	const char *p = text;
	int y, mo, d, h, mi, sec = 0, off_h = 0, off_m = 0;
	bool has_sec = false, has_off = false;
	int sign = 1;
	bool ok = take_num(&p, 4, &y) && *p++ == '-' && take_num(&p, 2, &mo) && *p++ == '-' &&
		  take_num(&p, 2, &d) && (*p == 'T' || *p == ' ') && p++ &&
		  take_num(&p, 2, &h) && *p++ == ':' && take_num(&p, 2, &mi);
	if (ok && *p == ':') {
		p++;
		ok = take_num(&p, 2, &sec);
		has_sec = true;
	}
	if (ok && *p) {
		has_off = true;
		if (*p == 'Z' && !p[1]) {
			p++;
		} else if (*p == '+' || *p == '-') {
			sign = *p++ == '-' ? -1 : 1;
			ok = take_num(&p, 2, &off_h);
			if (ok && *p == ':')
				p++;
			ok = ok && take_num(&p, 2, &off_m) && !*p && off_h <= 23 && off_m <= 59;
		} else {
			ok = false;
		}
	}
	ok = ok && y >= 1900 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 &&
	     mi <= 59 && sec <= 59;
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
			 .tm_min = mi, .tm_sec = sec, .tm_isdst = -1 };
	time_t at = 0;
	long off = 0;
	if (ok) {
		/* timegm() moves June 31st to July 1st: a date that does not come
		 * back as written does not exist. */
		struct tm utc = tm, back;
		time_t t = timegm(&utc);
		ok = gmtime_r(&t, &back) && back.tm_mday == d && back.tm_mon == mo - 1;
		if (ok && has_off) {
			off = sign * (off_h * 3600L + off_m * 60L);
			at = t - off;
		} else if (ok) {
			struct tm loc = tm, lt;
			at = mktime(&loc);
			ok = at != (time_t)-1 && localtime_r(&at, &lt);
			off = ok ? lt.tm_gmtoff : 0;
			/* mktime() moves a time a DST change skips to a real one:
			 * write what was taken, not what was asked. */
			if (ok) {
				tm = lt;
				has_sec = has_sec || lt.tm_sec;
			}
		}
	}
	if (!ok) {
		clean_copy(text, c->time, sizeof c->time);
		return;
	}
	long a = off < 0 ? -off : off;
	char secs[4] = "";
	if (has_sec)
		snprintf(secs, sizeof secs, ":%02d", tm.tm_sec);
	char out[128];   /* the fields are in range: it is 25 bytes at most */
	snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d%s%c%02ld:%02ld",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, secs,
		 off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
	size_t n = strlen(out);
	if (n >= sizeof c->time)
		n = sizeof c->time - 1;
	memcpy(c->time, out, n);
	c->time[n] = '\0';
	c->timed = true;
	c->at = at;
}

bool cut_order(const struct cut *a, const struct cut *b, int *order)
{
	if (!a->timed || !b->timed)
		return false;
	*order = a->at < b->at ? -1 : a->at > b->at;
	return true;
}

void cut_from_name(const char *file, struct cut *c)
{
	const char *slash = file ? strrchr(file, '/') : NULL;
	const char *base = slash ? slash + 1 : (file ? file : "");
	cut_set_time(c, NULL);
	for (const char *p = base; *p; p++) {
		if (stamp_at(base, p)) {
			char iso[32];
			snprintf(c->label, sizeof c->label, "%.13s", p);
			snprintf(iso, sizeof iso, "%.4s-%.2s-%.2sT%.2s:%.2s",
				 p, p + 4, p + 6, p + 9, p + 11);
			cut_set_time(c, iso);
			return;
		}
	}
	size_t n = 0;
	for (const char *p = base; *p && n + 1 < sizeof c->label; p++) {
		if (!strcmp(p, ".tar.gz") || !strcmp(p, ".zip") || !strcmp(p, ".tgz"))
			break;
		unsigned char ch = (unsigned char)*p;
		c->label[n++] = (isalnum(ch) || ch == '.' || ch == '-' || ch == '_') ? (char)ch : '_';
	}
	c->label[n] = '\0';
	if (!n)
		snprintf(c->label, sizeof c->label, "package");
}

void cut_header(const struct cut *c, char *out, size_t outsz)
{
	if (c->time[0])
		snprintf(out, outsz, "seq=%llu; label=%s; time=%s",
			 (unsigned long long)c->seq, c->label, c->time);
	else
		snprintf(out, outsz, "seq=%llu; label=%s",
			 (unsigned long long)c->seq, c->label);
}

/* "02/06/2024" + "22:15" (or "22:15:00") into "2024-06-02T22:15". */
static bool iso_from_parts(const char *fecha, const char *hora, char *out, size_t outsz)
{
	int d, m, y, hh, mm, used = 0;
	if (sscanf(fecha, "%2d/%2d/%4d%n", &d, &m, &y, &used) != 3 || fecha[used])
		return false;
	used = 0;
	if (sscanf(hora, "%2d:%2d%n", &hh, &mm, &used) != 2 || (hora[used] && hora[used] != ':'))
		return false;
	if (d < 1 || d > 31 || m < 1 || m > 12 || y < 1900 || hh > 23 || mm > 59 || hh < 0 || mm < 0)
		return false;
	snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d", y, m, d, hh, mm);
	return true;
}

static void clean_copy(const char *in, char *out, size_t outsz)
{
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)in; *p && o + 1 < outsz; p++)
		out[o++] = (*p >= 0x20 && *p < 0x7f && *p != ';') ? (char)*p : ' ';
	while (o && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

bool cut_time_from_json(const void *json, size_t len, const char *key_path,
			char *out, size_t outsz)
{
	json_error_t jerr;
	json_t *root = json_loadb(json, len, JSON_DECODE_ANY, &jerr);
	if (!root)
		return false;
	json_t *v = root;
	char key[128];
	for (const char *p = key_path; v && *p;) {
		size_t n = strcspn(p, ".");
		if (n == 0 || n >= sizeof key) {
			v = NULL;
			break;
		}
		memcpy(key, p, n);
		key[n] = '\0';
		v = json_is_object(v) ? json_object_get(v, key) : NULL;
		p += n + (p[n] == '.');
	}
	bool ok = false;
	if (json_is_string(v) && *json_string_value(v)) {
		char tmp[64];
		clean_copy(json_string_value(v), tmp, sizeof tmp);
		/* "02/06/2024 22:15" in one string */
		char f[16], h[16];
		if (sscanf(tmp, "%15s %15s", f, h) == 2 && iso_from_parts(f, h, out, outsz))
			ok = true;
		else if (*tmp) {
			snprintf(out, outsz, "%s", tmp);
			ok = true;
		}
	} else if (json_is_object(v)) {
		json_t *fe = json_object_get(v, "fecha"), *ho = json_object_get(v, "hora");
		if (json_is_string(fe) && json_is_string(ho)) {
			if (iso_from_parts(json_string_value(fe), json_string_value(ho), out, outsz)) {
				ok = true;
			} else {
				char a[32], b[32];
				clean_copy(json_string_value(fe), a, sizeof a);
				clean_copy(json_string_value(ho), b, sizeof b);
				snprintf(out, outsz, "%.15s %.15s", a, b);
				ok = *a || *b;
			}
		}
	}
	json_decref(root);
	return ok;
}
