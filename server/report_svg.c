/* The report's text buffer, HTML escaping, SVG charts and time arithmetic
 * (server/report_int.h). */
#include "server/report_int.h"
#include "server/util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool grow(struct buf *b, size_t more)
{
	if (b->failed)
		return false;
	if (b->n + more + 1 <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->n + more + 1)
		cap *= 2;
	char *s = realloc(b->s, cap);
	if (!s) {
		b->failed = true;
		return false;
	}
	b->s = s;
	b->cap = cap;
	return true;
}

void buf_addn(struct buf *b, const char *s, size_t n)
{
	if (!grow(b, n))
		return;
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = '\0';
}

void buf_add(struct buf *b, const char *s)
{
	buf_addn(b, s, strlen(s));
}

void buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !grow(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->s + b->n, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->n += (size_t)n;
}

void buf_html(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	while (*p) {
		size_t run = 0;
		/* a run of bytes that need nothing */
		while (p[run] >= 0x20 && p[run] < 0x7f && !strchr("&<>\"'", p[run]))
			run++;
		if (run) {
			buf_addn(b, (const char *)p, run);
			p += run;
			continue;
		}
		switch (*p) {
		case '&': buf_add(b, "&amp;"); p++; continue;
		case '<': buf_add(b, "&lt;"); p++; continue;
		case '>': buf_add(b, "&gt;"); p++; continue;
		case '"': buf_add(b, "&quot;"); p++; continue;
		case '\'': buf_add(b, "&#39;"); p++; continue;
		case '\t': case '\n': buf_addn(b, (const char *)p, 1); p++; continue;
		default: break;
		}
		if (*p < 0x20 || *p == 0x7f) {
			p++;
			continue;
		}
		size_t n = utf8_seq_len(p, SIZE_MAX);
		if (!n) {
			buf_add(b, "\xef\xbf\xbd");   /* U+FFFD */
			p++;
			continue;
		}
		/* C1 controls (U+0080-U+009F) are dropped too. */
		if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) {
			p += 2;
			continue;
		}
		buf_addn(b, (const char *)p, n);
		p += n;
	}
}

void buf_release(struct buf *b)
{
	free(b->s);
	*b = (struct buf){ 0 };
}

/* ---- charts ---- */

double svg_nice_max(double v)
{
	if (!(v > 0))
		return 1;
	double p = pow(10, floor(log10(v)));
	static const double steps[] = { 1, 2, 2.5, 5, 10 };
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
		if (steps[i] * p >= v * (1 - 1e-12))
			return steps[i] * p;
	return 10 * p;
}

#define PW (SVG_W - SVG_LEFT - SVG_RIGHT)
#define PH (SVG_H - SVG_TOP - SVG_BOTTOM)

/* A number for an axis: 1234567 as "1 234 567", 2.5 as "2.5". */
static void axis_num(double v, char *out, size_t outsz)
{
	if (v != floor(v)) {
		snprintf(out, outsz, "%.1f", v);
		return;
	}
	char digits[32];
	snprintf(digits, sizeof digits, "%.0f", v);
	size_t n = strlen(digits), o = 0;
	for (size_t i = 0; i < n && o + 4 < outsz; i++) {
		if (i && (n - i) % 3 == 0)
			out[o++] = ' ';   /* the thousands separator of es-MX print */
		out[o++] = digits[i];
	}
	out[o] = '\0';
}

static void open_svg(struct buf *b, const char *id, const char *title, const char *desc)
{
	buf_addf(b, "<svg class=\"chart\" id=\"%s\" role=\"img\" aria-labelledby=\"%s-t %s-d\" "
		 "viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\">", id, id, id, SVG_W,
		 SVG_H);
	buf_addf(b, "<title id=\"%s-t\">", id);
	buf_html(b, title);
	buf_addf(b, "</title><desc id=\"%s-d\">", id);
	buf_html(b, desc);
	buf_add(b, "</desc>");
}

static void no_data(struct buf *b)
{
	buf_addf(b, "<rect class=\"frame\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>"
		 "<text class=\"nodata\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">sin datos</text>"
		 "</svg>", SVG_LEFT, SVG_TOP, PW, PH, SVG_LEFT + PW / 2, SVG_TOP + PH / 2);
}

/* The y axis: 5 gridlines with their numbers, and the axis's name. */
static void y_axis(struct buf *b, double ymax, const char *y_label)
{
	for (int k = 0; k <= 4; k++) {
		double y = SVG_TOP + PH * (1 - k / 4.0);
		char num[48];
		axis_num(ymax * k / 4.0, num, sizeof num);
		buf_addf(b, "<line class=\"grid\" x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\"/>"
			 "<text class=\"tick\" x=\"%d\" y=\"%.2f\" text-anchor=\"end\">%s</text>",
			 SVG_LEFT, y, SVG_W - SVG_RIGHT, y, SVG_LEFT - 6, y + 4, num);
	}
	buf_addf(b, "<text class=\"axis-name\" transform=\"translate(14 %d) rotate(-90)\" "
		 "text-anchor=\"middle\">", SVG_TOP + PH / 2);
	buf_html(b, y_label);
	buf_add(b, "</text>");
	buf_addf(b, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
		 "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>",
		 SVG_LEFT, SVG_TOP, SVG_LEFT, SVG_TOP + PH, SVG_LEFT, SVG_TOP + PH, SVG_W - SVG_RIGHT,
		 SVG_TOP + PH);
}

void svg_line_chart(struct buf *b, const char *id, const char *title, const char *desc,
		    time_t start, unsigned step, size_t n, const struct svg_series *s,
		    size_t ns, const char *y_label)
{
	double top = -1;
	for (size_t k = 0; k < ns; k++)
		for (size_t i = 0; i < n; i++)
			if (s[k].v[i] > top)
				top = s[k].v[i];
	open_svg(b, id, title, desc);
	if (!n || top < 0) {
		no_data(b);
		return;
	}
	double ymax = svg_nice_max(top);
	y_axis(b, ymax, y_label);
	/* x labels: about 8 across, on whole buckets. */
	size_t every = n > 8 ? (n + 7) / 8 : 1;
	for (size_t i = 0; i < n; i += every) {
		double x = n > 1 ? SVG_LEFT + (double)i * PW / (double)(n - 1) : SVG_LEFT + PW / 2.0;
		char when[32];
		report_local_text(start + (time_t)(i * step), i == 0, when, sizeof when);
		buf_addf(b, "<line class=\"tickmark\" x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%d\"/>"
			 "<text class=\"tick\" x=\"%.2f\" y=\"%d\" text-anchor=\"middle\">%s</text>",
			 x, SVG_TOP + PH, x, SVG_TOP + PH + 5, x, SVG_TOP + PH + 18, when);
	}
	for (size_t k = 0; k < ns; k++) {
		/* The line, broken where a value is missing. */
		buf_addf(b, "<g class=\"series %s\" data-series=\"%zu\">", s[k].cls, k);
		bool open = false;
		for (size_t i = 0; i < n; i++) {
			if (s[k].v[i] < 0) {
				if (open)
					buf_add(b, "\"/>");
				open = false;
				continue;
			}
			double x = n > 1 ? SVG_LEFT + (double)i * PW / (double)(n - 1) : SVG_LEFT + PW / 2.0;
			double y = SVG_TOP + PH * (1 - s[k].v[i] / ymax);
			if (!open)
				buf_add(b, "<polyline class=\"line\" points=\"");
			buf_addf(b, "%s%.2f,%.2f", open ? " " : "", x, y);
			open = true;
		}
		if (open)
			buf_add(b, "\"/>");
		for (size_t i = 0; i < n; i++) {
			if (s[k].v[i] < 0)
				continue;
			double x = n > 1 ? SVG_LEFT + (double)i * PW / (double)(n - 1) : SVG_LEFT + PW / 2.0;
			double y = SVG_TOP + PH * (1 - s[k].v[i] / ymax);
			buf_addf(b, "<circle class=\"pt\" data-series=\"%zu\" data-i=\"%zu\" "
				 "data-v=\"%.0f\" cx=\"%.2f\" cy=\"%.2f\" r=\"2\"/>", k, i, s[k].v[i], x, y);
		}
		buf_add(b, "</g>");
	}
	/* The legend, under the x labels. */
	for (size_t k = 0; k < ns; k++) {
		int lx = SVG_LEFT + (int)k * 300, ly = SVG_H - 14;
		buf_addf(b, "<g class=\"legend %s\"><line class=\"line\" x1=\"%d\" y1=\"%d\" x2=\"%d\" "
			 "y2=\"%d\"/><text x=\"%d\" y=\"%d\">", s[k].cls, lx, ly - 4, lx + 24, ly - 4,
			 lx + 30, ly);
		buf_html(b, s[k].name);
		buf_add(b, "</text></g>");
	}
	buf_add(b, "</svg>");
}

void svg_bar_chart(struct buf *b, const char *id, const char *title, const char *desc,
		   const char *const *labels, const double *v, size_t n, const char *y_label)
{
	double top = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i] > top)
			top = v[i];
	open_svg(b, id, title, desc);
	if (!n || top <= 0) {
		no_data(b);
		return;
	}
	double ymax = svg_nice_max(top);
	y_axis(b, ymax, y_label);
	double slot = (double)PW / (double)n;
	for (size_t i = 0; i < n; i++) {
		double h = PH * v[i] / ymax;
		double x = SVG_LEFT + (double)i * slot + slot * 0.15;
		buf_addf(b, "<rect class=\"bar\" data-i=\"%zu\" data-v=\"%.0f\" x=\"%.2f\" y=\"%.2f\" "
			 "width=\"%.2f\" height=\"%.2f\"/>", i, v[i], x, SVG_TOP + PH - h, slot * 0.7, h);
		char num[48];
		axis_num(v[i], num, sizeof num);
		buf_addf(b, "<text class=\"barval\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%s"
			 "</text>", x + slot * 0.35, SVG_TOP + PH - h - 4, num);
		buf_addf(b, "<text class=\"tick\" x=\"%.2f\" y=\"%d\" text-anchor=\"middle\">",
			 x + slot * 0.35, SVG_TOP + PH + 18);
		buf_html(b, labels[i]);
		buf_add(b, "</text>");
	}
	buf_add(b, "</svg>");
}

/* ---- time ---- */

bool report_parse_local(const char *s, time_t *out)
{
	int y, mo, d, h, mi, used = 0;
	if (strlen(s) != 16 || sscanf(s, "%4d-%2d-%2dT%2d:%2d%n", &y, &mo, &d, &h, &mi, &used) != 5 ||
	    used != 16 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':')
		return false;
	for (int i = 0; i < 16; i++)
		if (i != 4 && i != 7 && i != 10 && i != 13 && (s[i] < '0' || s[i] > '9'))
			return false;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || y < 1970)
		return false;
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
			 .tm_min = mi, .tm_isdst = -1 };
	time_t t = mktime(&tm);
	if (t == (time_t)-1)
		return false;
	/* mktime() moves June 31st and a skipped hour: both are refused. */
	struct tm back;
	localtime_r(&t, &back);
	if (back.tm_year != y - 1900 || back.tm_mon != mo - 1 || back.tm_mday != d ||
	    back.tm_hour != h || back.tm_min != mi)
		return false;
	/* A repeated hour: mktime() may pick either; the first is the one
	 * an hour earlier when that has the same wall clock. */
	time_t earlier = t - 3600;
	localtime_r(&earlier, &back);
	if (back.tm_mday == d && back.tm_hour == h && back.tm_min == mi)
		t = earlier;
	*out = t;
	return true;
}

time_t report_shift_days(time_t t, int days)
{
	struct tm tm;
	localtime_r(&t, &tm);
	tm.tm_mday += days;
	tm.tm_isdst = -1;
	return mktime(&tm);
}

time_t report_floor(time_t t, unsigned step)
{
	time_t r = t % (time_t)step;
	if (r < 0)
		r += step;
	return t - r;
}

time_t report_ceil(time_t t, unsigned step)
{
	time_t f = report_floor(t, step);
	return f == t ? t : f + (time_t)step;
}

size_t report_buckets(time_t from, time_t to, unsigned step)
{
	if (to <= from)
		return 0;
	return (size_t)((to - from + (time_t)step - 1) / (time_t)step);
}

void report_local_text(time_t t, bool with_date, char *out, size_t outsz)
{
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(out, outsz, with_date ? "%d/%m %H:%M" : "%H:%M", &tm);
}

bool report_clf_time(const char *s, time_t *out)
{
	static const char mons[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	char mon[4];
	int d, y, h, mi, se, used = 0;
	char sign;
	int off;
	if (sscanf(s, "[%2d/%3[A-Za-z]/%4d:%2d:%2d:%2d %c%4d]%n", &d, mon, &y, &h, &mi, &se, &sign,
		   &off, &used) != 8 || !used || (sign != '+' && sign != '-'))
		return false;
	const char *m = strstr(mons, mon);
	if (!m || strlen(mon) != 3 || (m - mons) % 3)
		return false;
	if (d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 || off % 100 > 59 || off > 1400)
		return false;
	struct tm tm = { .tm_year = y - 1900, .tm_mon = (int)((m - mons) / 3), .tm_mday = d,
			 .tm_hour = h, .tm_min = mi, .tm_sec = se };
	time_t t = timegm(&tm);
	long secs = (off / 100) * 3600L + (off % 100) * 60L;
	*out = sign == '+' ? t - secs : t + secs;
	return true;
}
