/* prepd report's pure parts (server/report_int.h): the SVG charts (every
 * point where the geometry in report_int.h says), HTML escaping of hostile
 * text, the local-time arithmetic across daylight-saving changes, CLF
 * times; then a whole report over a fixture statistics database built
 * with the contract's SQL (docs/internals.md), a journal and an incident
 * log written by hand. */
#include "server/config.h"
#include "server/cut.h"
#include "server/report.h"
#include "server/report_int.h"

#include "check.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PW (SVG_W - SVG_LEFT - SVG_RIGHT)
#define PH (SVG_H - SVG_TOP - SVG_BOTTOM)

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* Checks every <circle class="pt"> of series k against the geometry:
 * returns how many were found. */
static size_t check_points(const char *svg, size_t k, size_t n, const double *v, double ymax)
{
	size_t found = 0;
	for (const char *p = svg; (p = strstr(p, "<circle class=\"pt\"")); p++) {
		size_t ser, i;
		double val, cx, cy;
		if (sscanf(p, "<circle class=\"pt\" data-series=\"%zu\" data-i=\"%zu\" data-v=\"%lf\" "
			   "cx=\"%lf\" cy=\"%lf\"", &ser, &i, &val, &cx, &cy) != 5) {
			CHECK(0, "unparsable point: %.80s", p);
			continue;
		}
		if (ser != k)
			continue;
		found++;
		double ex = n > 1 ? SVG_LEFT + (double)i * PW / (double)(n - 1) : SVG_LEFT + PW / 2.0;
		double ey = SVG_TOP + PH * (1 - v[i] / ymax);
		CHECK(i < n && val == v[i], "series %zu point %zu value %g, want %g", k, i, val, v[i]);
		CHECK(fabs(cx - ex) < 0.006 && fabs(cy - ey) < 0.006,
		      "series %zu point %zu at (%g,%g), want (%g,%g)", k, i, cx, cy, ex, ey);
	}
	return found;
}

static void test_line_chart(void)
{
	const double night[] = { 0, 10, 35, 80, 120, 97, 5 };
	const double base[] = { 3, -1, 4, 4, -1, 2, 1 };   /* two gaps */
	struct svg_series s[2] = { { "Noche", "s0", night }, { "Referencia", "s1", base } };
	struct buf b = { 0 };
	svg_line_chart(&b, "g", "Visitantes", "desc", 1717380000, 900, 7, s, 2, "Visitantes");
	CHECK(!b.failed, "buffer failed");
	/* ymax: nice(120) = 200 (1, 2, 2.5, 5 x 10^k) */
	CHECK(check_points(b.s, 0, 7, night, 200) == 7, "7 points of the night");
	CHECK(check_points(b.s, 1, 7, base, 200) == 5, "5 points of the baseline (2 missing)");
	/* the baseline's line breaks at each gap: 3 pieces */
	const char *g1 = strstr(b.s, "data-series=\"1\">");
	CHECK(g1 && count(g1, "<polyline") == 3 - 0, "baseline drawn in 3 pieces");
	CHECK(count(b.s, "<title id=\"g-t\">Visitantes</title>") == 1, "accessible title");
	CHECK(count(b.s, "<text x=") == 2, "a legend entry per series");
	CHECK(!strstr(b.s, "sin datos"), "data: no 'sin datos'");
	buf_release(&b);

	/* one point: the middle of the plot */
	const double one[] = { 7 };
	struct svg_series s1 = { "x", "s0", one };
	svg_line_chart(&b, "h", "t", "d", 0, 900, 1, &s1, 1, "y");
	CHECK(check_points(b.s, 0, 1, one, 10) == 1, "a single point");
	buf_release(&b);

	/* nothing: an honest box, no point, still an svg with a title */
	const double none[] = { -1, -1, -1 };
	struct svg_series s2 = { "x", "s0", none };
	svg_line_chart(&b, "e", "Vacía", "d", 0, 900, 3, &s2, 1, "y");
	CHECK(strstr(b.s, ">sin datos<") && !strstr(b.s, "<circle"), "no data: 'sin datos'");
	CHECK(!strncmp(b.s, "<svg", 4) && strstr(b.s, "</svg>"), "still an svg");
	buf_release(&b);
	svg_line_chart(&b, "e", "Vacía", "d", 0, 900, 0, &s2, 1, "y");
	CHECK(strstr(b.s, ">sin datos<") != NULL, "no buckets: 'sin datos'");
	buf_release(&b);

	/* all zero: a flat line at the bottom, not a division by zero */
	const double zero[] = { 0, 0, 0 };
	struct svg_series s3 = { "x", "s0", zero };
	svg_line_chart(&b, "z", "t", "d", 0, 900, 3, &s3, 1, "y");
	CHECK(check_points(b.s, 0, 3, zero, 1) == 3 && !strstr(b.s, "nan"), "zeros on the axis");
	buf_release(&b);
}

static void test_bar_chart(void)
{
	const double v[] = { 4, 0, 17, 3 };
	const char *const labels[] = { "1 petición", "<1 min", "1-5 min", "\"x\"" };
	struct buf b = { 0 };
	svg_bar_chart(&b, "p", "Permanencia", "d", labels, v, 4, "Visitas");
	double ymax = svg_nice_max(17), slot = PW / 4.0;
	size_t found = 0;
	for (const char *p = b.s; (p = strstr(p, "<rect class=\"bar\"")); p++) {
		size_t i;
		double val, x, y, w, h;
		if (sscanf(p, "<rect class=\"bar\" data-i=\"%zu\" data-v=\"%lf\" x=\"%lf\" y=\"%lf\" "
			   "width=\"%lf\" height=\"%lf\"", &i, &val, &x, &y, &w, &h) != 6)
			continue;
		found++;
		double eh = PH * v[i] / ymax;
		CHECK(val == v[i] && fabs(x - (SVG_LEFT + i * slot + slot * 0.15)) < 0.006 &&
		      fabs(w - slot * 0.7) < 0.006 && fabs(h - eh) < 0.006 &&
		      fabs(y - (SVG_TOP + PH - eh)) < 0.006, "bar %zu placed", i);
	}
	CHECK(found == 4, "4 bars, found %zu", found);
	CHECK(strstr(b.s, "&lt;1 min") && strstr(b.s, "&quot;x&quot;"), "labels escaped");
	buf_release(&b);
}

static void test_nice(void)
{
	const struct { double v, want; } t[] = {
		{ 0, 1 }, { -5, 1 }, { 1, 1 }, { 1.5, 2 }, { 2, 2 }, { 2.1, 2.5 }, { 3, 5 },
		{ 7, 10 }, { 10, 10 }, { 11, 20 }, { 120, 200 }, { 250, 250 }, { 251, 500 },
		{ 999999, 1000000 }, { 0.3, 0.5 },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		CHECK(fabs(svg_nice_max(t[i].v) - t[i].want) < 1e-9, "nice(%g) = %g, want %g", t[i].v,
		      svg_nice_max(t[i].v), t[i].want);
}

static void test_html(void)
{
	const struct { const char *in, *want; } t[] = {
		{ "<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;" },
		{ "\" onmouseover=\"x", "&quot; onmouseover=&quot;x" },
		{ "'><img src=x>", "&#39;&gt;&lt;img src=x&gt;" },
		{ "a&b", "a&amp;b" },
		{ "/elección/México", "/elección/México" },
		{ "bad\xff\xfe" "byte", "bad\xef\xbf\xbd\xef\xbf\xbd" "byte" },
		{ "over\xc0\xaflong", "over\xef\xbf\xbd\xef\xbf\xbdlong" },
		{ "esc\x1b[31mred", "esc[31mred" },
		{ "nul-free\x7f", "nul-free" },
		{ "c1\xc2\x85" "x", "c1x" },
		{ "tab\tnl\n", "tab\tnl\n" },
		{ "surrogate\xed\xa0\x80", "surrogate\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "", "" },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct buf b = { 0 };
		buf_add(&b, "");
		buf_html(&b, t[i].in);
		CHECK(b.s && !strcmp(b.s, t[i].want), "html(%zu) = '%s', want '%s'", i, b.s ? b.s : "",
		      t[i].want);
		buf_release(&b);
	}
	struct buf b = { 0 };
	buf_html(&b, NULL);
	buf_add(&b, "");
	CHECK(b.s && !b.s[0], "NULL is empty");
	buf_release(&b);
}

static time_t utc(int y, int mo, int d, int h, int mi)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
			 .tm_min = mi };
	return timegm(&tm);
}

static void test_time(void)
{
	char err[256];
	CHECK(!cut_zone_use("America/Mexico_City", err, sizeof err), "zone: %s", err);
	time_t t;
	/* Mexico City kept DST until 2022-10-30 (02:00 CDT -> 01:00 CST). */
	CHECK(report_parse_local("2022-11-05T20:00", &t) && t == utc(2022, 11, 6, 2, 0),
	      "20:00 CST is 02:00Z");
	time_t b = report_shift_days(t, -7);
	CHECK(b == utc(2022, 10, 30, 1, 0), "a week earlier is 20:00 CDT, 01:00Z");
	CHECK(t - b == 7 * 86400 + 3600, "so the week is 7 days and an hour");
	CHECK(report_shift_days(b, 7) == t, "and back");
	/* the night of the change: 20:00 CDT to 04:00 CST is 9 hours */
	time_t f, to;
	CHECK(report_parse_local("2022-10-29T20:00", &f) && report_parse_local("2022-10-30T04:00", &to),
	      "parse the night");
	CHECK(report_buckets(f, to, 900) == 36, "36 buckets of 15 min, not 32: %zu",
	      report_buckets(f, to, 900));
	/* the repeated hour is its first occurrence (CDT) */
	CHECK(report_parse_local("2022-10-30T01:30", &t) && t == utc(2022, 10, 30, 6, 30),
	      "01:30 on the change is the first one, 06:30Z");
	/* the skipped hour does not exist (2022-04-03 02:00 -> 03:00) */
	CHECK(!report_parse_local("2022-04-03T02:30", &t), "a skipped local time is refused");
	CHECK(report_parse_local("2022-04-03T03:00", &t) && t == utc(2022, 4, 3, 8, 0),
	      "03:00 CDT is 08:00Z");
	/* spring forward: a night across it has one hour less */
	CHECK(report_parse_local("2022-04-02T20:00", &f) && report_parse_local("2022-04-03T04:00", &to) &&
	      report_buckets(f, to, 900) == 28, "28 buckets across spring forward");
	const char *bad[] = { "2024-06-31T20:00", "2024-06-02 20:00", "2024-6-02T20:00",
			      "2024-06-02T24:00", "2024-06-02T20:60", "2024-06-02T20:00Z",
			      "2024-06-02T2a:00", "", "1969-12-31T23:00", "+2024-06-02T2:00" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(!report_parse_local(bad[i], &t), "'%s' refused", bad[i]);
	/* floors and ceilings */
	CHECK(report_floor(1000, 900) == 900 && report_ceil(1000, 900) == 1800 &&
	      report_ceil(1800, 900) == 1800 && report_floor(-1, 900) == -900, "floor/ceil");
	CHECK(report_buckets(10, 10, 900) == 0 && report_buckets(0, 1, 900) == 1, "buckets edges");
	/* CLF times */
	CHECK(report_clf_time("[02/Jun/2024:22:15:03 -0600]", &t) && t == utc(2024, 6, 3, 4, 15) + 3,
	      "CLF -0600");
	CHECK(report_clf_time("[02/Jun/2024:22:15:03 +0530] \"GET", &t) &&
	      t == utc(2024, 6, 2, 16, 45) + 3, "CLF +0530");
	const char *badclf[] = { "[02/Jux/2024:22:15:03 -0600]", "[02/Jun/2024:22:15:03]",
				 "02/Jun/2024:22:15:03 -0600", "[32/Jun/2024:22:15:03 -0600]",
				 "[02/Jun/2024:22:15:03 -0660]", "[02/unJ/2024:22:15:03 -0600]" };
	for (size_t i = 0; i < sizeof badclf / sizeof badclf[0]; i++)
		CHECK(!report_clf_time(badclf[i], &t), "'%s' refused", badclf[i]);
}

/* The contract's schema (docs/internals.md, "Statistics"), as the stats
 * core makes it. */
static const char schema[] =
	"PRAGMA journal_mode = WAL;"
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS minute (source TEXT NOT NULL, t INTEGER NOT NULL,"
	" requests INTEGER NOT NULL, bytes INTEGER NOT NULL, https INTEGER NOT NULL,"
	" page_views INTEGER NOT NULL, PRIMARY KEY (source, t)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS minute_status (source TEXT NOT NULL, t INTEGER NOT NULL,"
	" status INTEGER NOT NULL, requests INTEGER NOT NULL,"
	" PRIMARY KEY (source, t, status)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS minute_cut (source TEXT NOT NULL, t INTEGER NOT NULL,"
	" cut TEXT NOT NULL, requests INTEGER NOT NULL, bytes INTEGER NOT NULL,"
	" PRIMARY KEY (source, t, cut)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS visit (source TEXT NOT NULL, t INTEGER NOT NULL,"
	" visitor BLOB NOT NULL, requests INTEGER NOT NULL, page_views INTEGER NOT NULL,"
	" PRIMARY KEY (source, t, visitor)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS page (source TEXT NOT NULL, t INTEGER NOT NULL,"
	" path TEXT NOT NULL, views INTEGER NOT NULL, PRIMARY KEY (source, t, path)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS referrer (source TEXT NOT NULL, t INTEGER NOT NULL,"
	" referrer TEXT NOT NULL, requests INTEGER NOT NULL,"
	" PRIMARY KEY (source, t, referrer)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS session (source TEXT NOT NULL, visitor BLOB NOT NULL,"
	" start INTEGER NOT NULL, end INTEGER NOT NULL, requests INTEGER NOT NULL,"
	" page_views INTEGER NOT NULL, PRIMARY KEY (source, visitor, start)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS import (sha256 TEXT PRIMARY KEY, name TEXT NOT NULL,"
	" kind TEXT NOT NULL, lines INTEGER NOT NULL, skipped INTEGER NOT NULL,"
	" first INTEGER, last INTEGER, imported INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS probe (t INTEGER NOT NULL, listener TEXT NOT NULL,"
	" ok INTEGER NOT NULL, ms INTEGER NOT NULL, status INTEGER NOT NULL,"
	" cut TEXT NOT NULL, detail TEXT NOT NULL, PRIMARY KEY (t, listener)) WITHOUT ROWID;";

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *s = malloc((size_t)n + 1);
	if (s && fread(s, 1, (size_t)n, f) != (size_t)n)
		n = 0;
	if (s)
		s[n] = '\0';
	fclose(f);
	return s;
}

/* A night 2024-06-02T20:00 to 22:00 CST (02:00Z-04:00Z June 3): 8
 * buckets. Known data: the night has visitors in buckets 0..3, the
 * baseline (a week earlier) in bucket 1 only. */
static void test_whole_report(void)
{
	char dir[] = "/tmp/prepd-test-report.XXXXXX";
	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	char path[1024];
	snprintf(path, sizeof path, "%s/stats.db", dir);
	sqlite3 *db;
	CHECK(sqlite3_open(path, &db) == SQLITE_OK, "fixture db");
	char *e = NULL;
	CHECK(sqlite3_exec(db, schema, NULL, NULL, &e) == SQLITE_OK, "schema: %s", e ? e : "");
	time_t n0 = utc(2024, 6, 3, 2, 0), b0 = n0 - 7 * 86400;   /* no DST in 2024 */
	char sql[4096];
	/* minute rows: 2 per bucket in buckets 0..3 */
	for (int i = 0; i < 4; i++) {
		snprintf(sql, sizeof sql, "INSERT INTO minute VALUES ('live', %ld, %d, %d, 0, %d);"
			 "INSERT INTO minute VALUES ('live', %ld, %d, %d, 0, %d);",
			 (long)(n0 + i * 900), 100 * (i + 1), 1000, 10 * (i + 1),
			 (long)(n0 + i * 900 + 60), 1, 10, 0);
		CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "minute");
		for (int v = 0; v <= i; v++) {
			snprintf(sql, sizeof sql, "INSERT INTO visit VALUES ('live', %ld, x'%032d', 1, 1)",
				 (long)(n0 + i * 900), v);
			CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "visit");
		}
	}
	snprintf(sql, sizeof sql,
		 "INSERT INTO minute VALUES ('live', %ld, 50, 500, 0, 5);"
		 "INSERT INTO visit VALUES ('live', %ld, x'00000000000000000000000000000009', 1, 1);"
		 "INSERT INTO page VALUES ('live', %ld, '/<script>alert(1)</script>', 7);"
		 "INSERT INTO page VALUES ('live', %ld, '/', 30);"
		 "INSERT INTO referrer VALUES ('live', %ld, 'https://portal.example\" onload=\"x', 12);"
		 "INSERT INTO minute_status VALUES ('live', %ld, 200, 400);"
		 "INSERT INTO minute_status VALUES ('live', %ld, 404, 3);"
		 "INSERT INTO session VALUES ('live', x'01', %ld, %ld, 5, 2);"
		 "INSERT INTO session VALUES ('live', x'02', %ld, %ld, 1, 1);"
		 "INSERT INTO session VALUES ('live', x'03', %ld, %ld, 90, 3);"
		 "INSERT INTO probe VALUES (%ld, 'http', 1, 2, 200, 'c1', '');"
		 "INSERT INTO probe VALUES (%ld, 'http', 0, 10000, 0, '', 'timeout <b>');"
		 "INSERT INTO probe VALUES (%ld, 'http', 1, 2, 200, 'c1', '');",
		 (long)(b0 + 900), (long)(b0 + 900), (long)n0, (long)n0, (long)n0, (long)n0, (long)n0,
		 (long)n0 + 10, (long)n0 + 130, (long)n0 + 20, (long)n0 + 20, (long)n0 + 30,
		 (long)n0 + 30 + 4000, (long)n0, (long)n0 + 60, (long)n0 + 120);
	CHECK(sqlite3_exec(db, sql, NULL, NULL, &e) == SQLITE_OK, "rows: %s", e ? e : "");
	sqlite3_close(db);
	/* the journal: one published cut, one refused with a hostile reason */
	snprintf(path, sizeof path, "%s/journal.log", dir);
	FILE *f = fopen(path, "w");
	fprintf(f, "seq=1 received=2024-06-03T02:20:00Z source=spool:20240602_2015.zip size=10 "
		   "sha256=%064d verdict=published kind=full cut=20240602_2015 "
		   "cut_time=2024-06-02T20:15-06:00 published=2024-06-03T02:20:30Z "
		   "file=history/000001-x.zip reason=-\n", 0);
	fprintf(f, "seq=2 received=2024-06-03T02:40:00Z source=spool:evil.zip size=10 "
		   "sha256=%064d verdict=quarantined kind=- cut=- cut_time=- published=- "
		   "file=quarantine/000002-evil.zip reason=\"<img src=x onerror=alert(1)>\"\n", 1);
	fclose(f);
	snprintf(path, sizeof path, "%s/incidents.log", dir);
	f = fopen(path, "w");
	fprintf(f, "{\"time\":\"2024-06-03T02:05:00Z\",\"kind\":\"start\",\"previous\":\"crash\"}\n"
		   "{\"time\":\"2024-06-03T02:41:00Z\",\"kind\":\"refused\",\"package\":\"<b>evil</b>\"}\n"
		   "not json\n"
		   "{\"time\":\"2024-06-04T02:41:00Z\",\"kind\":\"refused\",\"package\":\"later\"}\n");
	fclose(f);

	struct config cfg;
	config_init(&cfg);
	char err[512];
	CHECK(!config_set(&cfg, "server", "data", dir, NULL, err, sizeof err), "data: %s", err);
	char out[600];
	snprintf(out, sizeof out, "%s/out", dir);
	struct report_opts o = { .from = "2024-06-02T20:00", .to = "2024-06-02T22:00", .out = out,
				 .no_pdf = true };
	CHECK(report_run(&cfg, &o) == 0, "report_run");
	snprintf(path, sizeof path, "%s/memoria-tecnica.html", out);
	char *h = slurp(path);
	CHECK(h != NULL, "the HTML is written");
	if (h) {
		CHECK(count(h, "<svg") == 5, "5 charts (3 series, time on site, status): %zu",
		      count(h, "<svg"));
		/* night: 8 buckets, data in 0..3 (zeros filled between first and
		 * last only: 4 points a chart); baseline: 1 point a chart */
		const char *g = strstr(h, "id=\"g-visitantes\"");
		const char *g2 = strstr(h, "id=\"g-paginas\"");
		CHECK(g && g2, "the visitors and pages charts");
		if (g && g2) {
			size_t pts = 0;
			for (const char *p = g; (p = strstr(p, "<circle")) && p < g2; p++)
				pts++;
			CHECK(pts == 5, "visitors chart: 4 night points and 1 baseline, got %zu", pts);
		}
		CHECK(strstr(h, "data-series=\"0\" data-i=\"3\" data-v=\"4\"") != NULL,
		      "bucket 3 has 4 visitors");
		CHECK(!strstr(h, "<script") && !strstr(h, "<img") && !strstr(h, "<b>"),
		      "nothing from the data is markup");
		CHECK(strstr(h, "/&lt;script&gt;alert(1)&lt;/script&gt;") != NULL, "the path escaped");
		CHECK(strstr(h, "portal.example&quot; onload=&quot;x") != NULL, "the referrer escaped");
		CHECK(strstr(h, "&lt;img src=x onerror=alert(1)&gt;") != NULL, "the reason escaped");
		CHECK(strstr(h, "reinicio sin paro limpio") != NULL, "the crash restart");
		CHECK(!strstr(h, "later"), "an incident after the period is not listed");
		CHECK(strstr(h, "1 líneas de DATA/incidents.log no se pudieron leer") != NULL,
		      "the bad incident line is counted");
		CHECK(strstr(h, "timeout &lt;b&gt;") != NULL, "the down interval with its cause");
		/* totals: hits 100+1+200+1+300+1+400+1 = 1004, visitors 4 distinct */
		CHECK(strstr(h, "<td class=\"n\">1\xc2\xa0" "004</td>") != NULL, "1 004 hits");
		CHECK(strstr(h, "<rect class=\"bar\" data-i=\"0\" data-v=\"1\"") && strstr(h, "<rect class=\"bar\" data-i=\"6\" data-v=\"1\""), "sessions: one of 0 s, one of 1-2 h");
		CHECK(strstr(h, "5 min 30 s") != NULL, "publication delay 20:15 -> 20:20:30");
		free(h);
	}
	snprintf(path, sizeof path, "%s/logs/SHA256SUMS", out);
	CHECK(access(path, F_OK) == 0, "a manifest even without logs");
	/* bad options */
	struct report_opts bad = { .from = "2024-06-02T20:00", .out = out, .no_pdf = true };
	CHECK(report_run(&cfg, &bad) == 2, "--from without --to");
	struct report_opts bad2 = { .from = "2024-06-02T22:00", .to = "2024-06-02T20:00",
				    .out = out, .no_pdf = true };
	CHECK(report_run(&cfg, &bad2) == 2, "--to before --from");
	config_release(&cfg);
	char cmd[700];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0, "cleanup");
}

static void test_args(void)
{
	char *argv[] = { "prepd", "--from", "2024-06-02T20:00", "--data", "/d", "--to=2024-06-03T02:00",
			 "--out", "o", "--no-pdf", "--source", "cloudfront", NULL };
	int argc = 11;
	struct report_opts o = { 0 };
	CHECK(report_take_args(&argc, argv, &o) == 0, "args");
	CHECK(argc == 3 && !strcmp(argv[1], "--data") && !strcmp(argv[2], "/d") && !argv[3],
	      "the settings' flags stay");
	CHECK(o.from && !strcmp(o.from, "2024-06-02T20:00") && !strcmp(o.to, "2024-06-03T02:00") &&
	      !strcmp(o.out, "o") && o.no_pdf && !strcmp(o.source, "cloudfront"), "values");
	char *argv2[] = { "prepd", "--source", "awstats", "--out", "o", NULL };
	argc = 5;
	struct report_opts o2 = { 0 };
	CHECK(report_take_args(&argc, argv2, &o2) == 2, "bad source");
	char *argv3[] = { "prepd", "--from", NULL };
	argc = 2;
	struct report_opts o3 = { 0 };
	CHECK(report_take_args(&argc, argv3, &o3) == 2, "missing value");
}

int main(void)
{
	test_nice();
	test_line_chart();
	test_bar_chart();
	test_html();
	test_time();
	test_args();
	test_whole_report();
	return check_done();
}
