#include "server/cut.h"

#include <ctype.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

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

void cut_from_name(const char *file, struct cut *c)
{
	const char *slash = file ? strrchr(file, '/') : NULL;
	const char *base = slash ? slash + 1 : (file ? file : "");
	c->time[0] = '\0';
	for (const char *p = base; *p; p++) {
		if (stamp_at(base, p)) {
			snprintf(c->label, sizeof c->label, "%.13s", p);
			snprintf(c->time, sizeof c->time, "%.4s-%.2s-%.2sT%.2s:%.2s",
				 p, p + 4, p + 6, p + 9, p + 11);
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
