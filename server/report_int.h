/* The pure parts of prepd report (server/report.c), apart so the unit
 * tests (tests/unit/test-report*.c) reach exactly the code the command
 * runs: a growable text buffer with HTML escaping, the SVG charts, and
 * the local-time arithmetic of the period and its baseline. No I/O, no
 * logging; thread-safe (the time functions use the process's zone,
 * cut_zone_use()). */
#ifndef PREPD_REPORT_INT_H
#define PREPD_REPORT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Text that grows. On out-of-memory it stops growing and sets failed
 * (the caller checks once at the end): a report is written whole or not
 * at all. */
struct buf {
	char *s;
	size_t n, cap;
	bool failed;
};

void buf_add(struct buf *b, const char *s);
void buf_addn(struct buf *b, const char *s, size_t n);
void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s HTML-escaped for text and for a quoted attribute value: & < >
 * " ' as entities, control bytes (but tab and newline) dropped, invalid
 * UTF-8 bytes as U+FFFD. Everything from a log or a database goes
 * through here. */
void buf_html(struct buf *b, const char *s);
void buf_release(struct buf *b);

/* The charts' geometry, in SVG user units: a W x H viewBox, the plot
 * inside the margins. A line chart's point i of n (n > 1) is at
 *   x = SVG_LEFT + i * (SVG_W - SVG_LEFT - SVG_RIGHT) / (n - 1)
 *   y = SVG_TOP + (SVG_H - SVG_TOP - SVG_BOTTOM) * (1 - v / ymax)
 * (a single point is at the plot's middle x), where ymax is
 * svg_nice_max() of the largest value of every series. Each point is a
 * <circle class="pt"> with data-series, data-i and data-v. */
#define SVG_W      760
#define SVG_H      280
#define SVG_LEFT   64
#define SVG_RIGHT  16
#define SVG_TOP    16
#define SVG_BOTTOM 64

/* The smallest of 1, 2, 2.5, 5 times a power of ten that is >= v (1 for
 * v <= 0), so the y axis has round ticks. */
double svg_nice_max(double v);

struct svg_series {
	const char *name;       /* the legend's words */
	const char *cls;        /* CSS class: "s0" (the night), "s1" (baseline) */
	const double *v;        /* n values; a negative one is "no data": no point */
};

/* A line chart of ns series of n points each, point i at start + i * step
 * (labels in local time, every few points). id names the chart (ASCII
 * letters, digits and '-'); title and desc are its accessible <title> and
 * <desc>. With n == 0 or no value anywhere writes a "sin datos" box
 * instead, still an <svg> with its title. */
void svg_line_chart(struct buf *b, const char *id, const char *title, const char *desc,
		    time_t start, unsigned step, size_t n, const struct svg_series *s,
		    size_t ns, const char *y_label);

/* A bar chart: n bars with their labels (escaped) and values, each a
 * <rect class="bar"> with data-i and data-v; bar i spans
 *   x = SVG_LEFT + i * pw / n + pw / n * 0.15, width pw / n * 0.7
 * (pw the plot width) and height ph * v / svg_nice_max(largest). */
void svg_bar_chart(struct buf *b, const char *id, const char *title, const char *desc,
		   const char *const *labels, const double *v, size_t n, const char *y_label);

/* "YYYY-MM-DDTHH:MM" in the process's local time (the institute's zone)
 * into *out. False for any other text, an impossible date, or a local
 * time that a daylight-saving change skips (it never happens there). A
 * time a change repeats is its first occurrence. */
bool report_parse_local(const char *s, time_t *out);

/* The same local wall-clock time days later (negative: earlier), as
 * mktime() normalises it; across a daylight-saving change the distance is
 * not days * 86400. */
time_t report_shift_days(time_t t, int days);

/* t rounded down (up) to a multiple of step seconds. */
time_t report_floor(time_t t, unsigned step);
time_t report_ceil(time_t t, unsigned step);

/* The number of step-second buckets in [from, to): (to - from) / step,
 * rounded up; 0 when to <= from. Real seconds, so a night across a change
 * of the clocks has one hour more or less of buckets. */
size_t report_buckets(time_t from, time_t to, unsigned step);

/* "HH:MM" (with_date: "DD/MM HH:MM") of t in local time. */
void report_local_text(time_t t, bool with_date, char *out, size_t outsz);

/* A CLF time "[02/Jun/2024:22:15:03 -0600]" (from '[') into UTC seconds;
 * false when it is not one. */
bool report_clf_time(const char *s, time_t *out);

#endif
