#include "cut.h"

#include <ctype.h>
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
