/* prepd report (server/report.h): gathers the night's facts from the data
 * folder, writes the HTML (server/report_svg.c draws), prints the PDF and
 * bundles the access logs. Runs as a command, on one thread. */
#include "server/report.h"
#include "server/report_int.h"

#include "ingest/store.h"
#include "server/cut.h"
#include "server/incident.h"
#include "server/limits.h"
#include "server/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <signal.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#define STEP 900   /* the charts' bucket: 15 minutes */

/* snprintf() for paths and sentences that may be cut: a path cut short is
 * never opened (PATH_BUF_LONG_BYTES holds any real one), a note cut short
 * is still read. */
static void textf(char *out, size_t outsz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void textf(char *out, size_t outsz, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, outsz, fmt, ap);
	va_end(ap);
}

/* ---- options ---- */

int report_take_args(int *argc, char **argv, struct report_opts *o)
{
	static const struct { const char *name; size_t off; } flags[] = {
		{ "from", offsetof(struct report_opts, from) },
		{ "to", offsetof(struct report_opts, to) },
		{ "baseline-from", offsetof(struct report_opts, baseline_from) },
		{ "baseline-to", offsetof(struct report_opts, baseline_to) },
		{ "source", offsetof(struct report_opts, source) },
		{ "out", offsetof(struct report_opts, out) },
	};
	int w = 1;
	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--no-pdf")) {
			o->no_pdf = true;
			continue;
		}
		bool taken = false;
		for (size_t k = 0; k < sizeof flags / sizeof flags[0] && !taken; k++) {
			size_t n = strlen(flags[k].name);
			if (strncmp(a, "--", 2) || strncmp(a + 2, flags[k].name, n) ||
			    (a[2 + n] != '\0' && a[2 + n] != '='))
				continue;
			const char *v = a[2 + n] == '=' ? a + 3 + n : (i + 1 < *argc ? argv[++i] : NULL);
			if (!v || !*v) {
				fprintf(stderr, "prepd report: --%s needs a value\n", flags[k].name);
				return 2;
			}
			*(const char **)((char *)o + flags[k].off) = v;
			taken = true;
		}
		if (!taken)
			argv[w++] = argv[i];
	}
	argv[w] = NULL;
	*argc = w;
	if (!o->out) {
		fprintf(stderr, "prepd report: say where to write it: --out DIR\n");
		return 2;
	}
	if (o->source && strcmp(o->source, "live") && strcmp(o->source, "clf") &&
	    strcmp(o->source, "cloudfront") && strcmp(o->source, "cloudflare")) {
		fprintf(stderr, "prepd report: --source is live, clf, cloudfront or cloudflare\n");
		return 2;
	}
	return 0;
}

/* ---- what the report holds ---- */

struct jrow {
	struct journal_rec r;
	time_t cut_at;        /* the cut time as an instant; 0: unknown */
};

struct counted { char *key; double n; };

struct probe_sum {
	char listener[8];
	unsigned rows, ok;
	double avail_pct, measured_pct;
};

struct interval { time_t from, to; char listener[8]; char why[256]; bool unmeasured; };

struct report {
	const struct config *cfg;
	time_t from, to, bfrom, bto, lfrom, lto;
	char period_note[512];
	size_t nb;                               /* 15-minute buckets */
	double *hits, *pv, *vis, *bhits, *bpv, *bvis;
	double tot_hits, tot_pv, tot_vis, tot_bytes, btot_hits, btot_pv, btot_vis;
	bool have_stats, have_night, have_base;
	char stats_note[512];
	char source[16], source_note[256];
	struct counted pages[REPORT_TOP_N], refs[REPORT_TOP_N];
	size_t npages, nrefs;
	double status_n[16];
	int status_code[16];
	size_t nstatus;
	double sess[8];
	double sess_count, sess_median, sess_mean;
	struct jrow *j;
	size_t nj, nj_more;
	struct incident_rec *inc;
	size_t ninc, ninc_more;
	unsigned inc_bad;
	struct probe_sum probe[2];
	size_t nprobe;
	struct interval *down;
	size_t ndown, down_cap;
	bool have_probe;
	/* the bundle */
	char logs_note[512];
	struct { char name[64]; char sha[65]; unsigned long long lines, bytes; } logf[64];
	size_t nlogf;
};

static const char *const sess_labels[8] = {
	"1 petición", "< 1 min", "1-5 min", "5-15 min", "15-30 min", "30-60 min", "1-2 h", "> 2 h",
};

/* ---- the statistics database ---- */

static sqlite3 *stats_open(const char *data_dir, char *note, size_t notesz)
{
	char path[PATH_BUF_LONG_BYTES];
	textf(path, sizeof path, "%s/stats.db", data_dir);
	if (access(path, F_OK) != 0) {
		textf(note, notesz, "no hay base de estadísticas (%s no existe): ¿se registraron "
			 "las estadísticas durante la noche?", path);
		return NULL;
	}
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		textf(note, notesz, "no se pudo abrir %s: %s", path, db ? sqlite3_errmsg(db) : "");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static bool has_table(sqlite3 *db, const char *name)
{
	sqlite3_stmt *s;
	bool yes = false;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", -1,
			       &s, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	yes = sqlite3_step(s) == SQLITE_ROW;
	sqlite3_finalize(s);
	return yes;
}

/* Prepares sql and binds source (when given) as ?1, from ?2, to ?3. */
static sqlite3_stmt *query(sqlite3 *db, const char *sql, const char *source, time_t from,
			   time_t to)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return NULL;
	if (source)
		sqlite3_bind_text(s, 1, source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)from);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)to);
	return s;
}

/* The 15-minute series of [from, from + nb * STEP): hits, page views,
 * visitors; every value -1 when the source has nothing there, 0 for a
 * bucket without rows between the first and the last that have some.
 * Returns whether there was anything. */
static bool series(sqlite3 *db, const char *src, time_t from, size_t nb, double *hits,
		   double *pv, double *vis, double *tot_hits, double *tot_pv, double *tot_vis,
		   double *tot_bytes)
{
	time_t to = from + (time_t)nb * STEP;
	for (size_t i = 0; i < nb; i++)
		hits[i] = pv[i] = vis[i] = -1;
	size_t lo = nb, hi = 0;
	*tot_hits = *tot_pv = *tot_vis = 0;
	if (tot_bytes)
		*tot_bytes = 0;
	sqlite3_stmt *s = query(db, "SELECT (t - ?2) / 900, SUM(requests), SUM(page_views), "
				"SUM(bytes) FROM minute WHERE source = ?1 AND t >= ?2 AND t < ?3 "
				"GROUP BY 1", src, from, to);
	while (s && sqlite3_step(s) == SQLITE_ROW) {
		sqlite3_int64 i = sqlite3_column_int64(s, 0);
		if (i < 0 || (size_t)i >= nb)
			continue;
		hits[i] = (double)sqlite3_column_int64(s, 1);
		pv[i] = (double)sqlite3_column_int64(s, 2);
		*tot_hits += hits[i];
		*tot_pv += pv[i];
		if (tot_bytes)
			*tot_bytes += (double)sqlite3_column_int64(s, 3);
		if ((size_t)i < lo)
			lo = (size_t)i;
		if ((size_t)i > hi)
			hi = (size_t)i;
	}
	sqlite3_finalize(s);
	s = query(db, "SELECT (t - ?2) / 900, COUNT(*) FROM visit WHERE source = ?1 AND t >= ?2 "
		  "AND t < ?3 GROUP BY 1", src, from, to);
	while (s && sqlite3_step(s) == SQLITE_ROW) {
		sqlite3_int64 i = sqlite3_column_int64(s, 0);
		if (i < 0 || (size_t)i >= nb)
			continue;
		vis[i] = (double)sqlite3_column_int64(s, 1);
		if ((size_t)i < lo)
			lo = (size_t)i;
		if ((size_t)i > hi)
			hi = (size_t)i;
	}
	sqlite3_finalize(s);
	if (lo == nb)
		return false;
	for (size_t i = lo; i <= hi; i++) {
		if (hits[i] < 0)
			hits[i] = 0;
		if (pv[i] < 0)
			pv[i] = 0;
		if (vis[i] < 0)
			vis[i] = 0;
	}
	s = query(db, "SELECT COUNT(DISTINCT visitor) FROM visit WHERE source = ?1 AND t >= ?2 "
		  "AND t < ?3", src, from, to);
	if (s && sqlite3_step(s) == SQLITE_ROW)
		*tot_vis = (double)sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return true;
}

static void top(sqlite3 *db, const char *sql, const char *src, time_t from, time_t to,
		struct counted *out, size_t *n)
{
	*n = 0;
	sqlite3_stmt *s = query(db, sql, src, from, to);
	while (s && *n < REPORT_TOP_N && sqlite3_step(s) == SQLITE_ROW) {
		const unsigned char *k = sqlite3_column_text(s, 0);
		out[*n].key = xstrdup(k ? (const char *)k : "");
		out[*n].n = (double)sqlite3_column_int64(s, 1);
		(*n)++;
	}
	sqlite3_finalize(s);
}

/* Which source the audience figures come from: the one asked for; else
 * the import kind with the most lines over the period; else live. */
static void pick_source(struct report *R, sqlite3 *db, const char *asked)
{
	if (asked) {
		textf(R->source, sizeof R->source, "%s", asked);
		textf(R->source_note, sizeof R->source_note, "elegida con --source");
		return;
	}
	textf(R->source, sizeof R->source, "live");
	textf(R->source_note, sizeof R->source_note, "los registros de prepd mismo (no se "
		 "importaron registros de la CDN que cubran el periodo)");
	if (!has_table(db, "import"))
		return;
	sqlite3_stmt *s = query(db, "SELECT kind, SUM(lines) FROM import WHERE first < ?3 AND "
				"last >= ?2 GROUP BY kind ORDER BY 2 DESC LIMIT 1", NULL, R->from, R->to);
	if (s && sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0)) {
		textf(R->source, sizeof R->source, "%s", (const char *)sqlite3_column_text(s, 0));
		textf(R->source_note, sizeof R->source_note, "registros importados con prepd "
			 "stats import (%s), que cubren el periodo: detrás de una CDN son los que "
			 "ven a los visitantes", R->source);
	}
	sqlite3_finalize(s);
}

static void gather_stats(struct report *R, sqlite3 *db)
{
	static const char *const need[] = { "minute", "visit", "page", "referrer", "session",
					    "minute_status" };
	for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
		if (!has_table(db, need[i])) {
			textf(R->stats_note, sizeof R->stats_note, "la base de estadísticas no "
				 "tiene la tabla %s: ninguna cifra de audiencia", need[i]);
			return;
		}
	}
	R->have_stats = true;
	const char *src = R->source;
	R->have_night = series(db, src, R->from, R->nb, R->hits, R->pv, R->vis, &R->tot_hits,
			       &R->tot_pv, &R->tot_vis, &R->tot_bytes);
	R->have_base = series(db, src, R->bfrom, R->nb, R->bhits, R->bpv, R->bvis, &R->btot_hits,
			      &R->btot_pv, &R->btot_vis, NULL);
	top(db, "SELECT path, SUM(views) FROM page WHERE source = ?1 AND t >= ?2 AND t < ?3 "
	    "GROUP BY path ORDER BY 2 DESC, path LIMIT 20", src, R->from, R->to, R->pages,
	    &R->npages);
	top(db, "SELECT referrer, SUM(requests) FROM referrer WHERE source = ?1 AND t >= ?2 AND "
	    "t < ?3 GROUP BY referrer ORDER BY 2 DESC, referrer LIMIT 20", src, R->from, R->to,
	    R->refs, &R->nrefs);
	sqlite3_stmt *s = query(db, "SELECT status, SUM(requests) FROM minute_status WHERE "
				"source = ?1 AND t >= ?2 AND t < ?3 GROUP BY status ORDER BY 2 DESC "
				"LIMIT 16", src, R->from, R->to);
	while (s && R->nstatus < 16 && sqlite3_step(s) == SQLITE_ROW) {
		R->status_code[R->nstatus] = sqlite3_column_int(s, 0);
		R->status_n[R->nstatus++] = (double)sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	/* Time on site: the sessions that started in the period. */
	static const long edges[7] = { 1, 60, 300, 900, 1800, 3600, 7200 };
	s = query(db, "SELECT end - start FROM session WHERE source = ?1 AND start >= ?2 AND "
		  "start < ?3 ORDER BY 1", src, R->from, R->to);
	double sum = 0;
	size_t cap = 0;
	double *len = NULL;
	while (s && sqlite3_step(s) == SQLITE_ROW) {
		long d = (long)sqlite3_column_int64(s, 0);
		int k = 0;
		while (k < 7 && d >= edges[k])
			k++;
		/* 0 s is one request (or several in one second): bucket 0. */
		R->sess[d <= 0 ? 0 : k]++;
		if ((size_t)R->sess_count == cap) {
			cap = cap ? cap * 2 : 1024;
			double *nl = realloc(len, cap * sizeof *nl);
			if (!nl)
				break;
			len = nl;
		}
		len[(size_t)R->sess_count] = (double)d;
		R->sess_count++;
		sum += (double)d;
	}
	sqlite3_finalize(s);
	if (R->sess_count > 0) {
		size_t c = (size_t)R->sess_count;
		R->sess_median = c % 2 ? len[c / 2] : (len[c / 2 - 1] + len[c / 2]) / 2;
		R->sess_mean = sum / R->sess_count;
	}
	free(len);
}

static void add_interval(struct report *R, time_t from, time_t to, const char *listener,
			 const char *why, bool unmeasured)
{
	if (R->ndown == R->down_cap) {
		size_t cap = R->down_cap ? R->down_cap * 2 : 16;
		if (cap > REPORT_MAX_ROWS)
			return;
		struct interval *n = realloc(R->down, cap * sizeof *n);
		if (!n)
			return;
		R->down = n;
		R->down_cap = cap;
	}
	struct interval *iv = &R->down[R->ndown++];
	iv->from = from;
	iv->to = to;
	iv->unmeasured = unmeasured;
	textf(iv->listener, sizeof iv->listener, "%s", listener);
	textf(iv->why, sizeof iv->why, "%s", why ? why : "");
}

/* Availability from the probe table: per listener, the share of the
 * period with an ok answer (each answer stands for one interval), the
 * share of the answers that were ok, and the intervals down or without
 * any answer (prepd stopped, or the probe was off). */
static void gather_probe(struct report *R, sqlite3 *db)
{
	if (!has_table(db, "probe"))
		return;
	long interval = R->cfg->probe.interval ? (long)R->cfg->probe.interval : 60;
	static const char *const names[2] = { "http", "https" };
	for (int l = 0; l < 2; l++) {
		sqlite3_stmt *s;
		if (sqlite3_prepare_v2(db, "SELECT t, ok, status, detail FROM probe WHERE listener = ?1 "
				       "AND t >= ?2 AND t < ?3 ORDER BY t", -1, &s, NULL) != SQLITE_OK)
			continue;
		sqlite3_bind_text(s, 1, names[l], -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, (sqlite3_int64)R->from);
		sqlite3_bind_int64(s, 3, (sqlite3_int64)R->to);
		struct probe_sum *p = &R->probe[R->nprobe];
		memset(p, 0, sizeof *p);
		textf(p->listener, sizeof p->listener, "%s", names[l]);
		time_t prev = R->from, down_from = 0;
		char why[256] = "";
		bool first = true;
		while (sqlite3_step(s) == SQLITE_ROW) {
			time_t t = (time_t)sqlite3_column_int64(s, 0);
			bool ok = sqlite3_column_int(s, 1) != 0;
			/* A gap of more than two intervals: nothing answered, not
			 * even the probe (prepd stopped). */
			time_t gap_from = first ? R->from : prev + interval;
			if (t - gap_from > 2 * interval && !down_from)
				add_interval(R, gap_from, t, names[l], NULL, true);
			if (!ok && !down_from) {
				down_from = t;
				const unsigned char *d = sqlite3_column_text(s, 3);
				textf(why, sizeof why, "HTTP %d %s", sqlite3_column_int(s, 2),
					 d ? (const char *)d : "");
			} else if (ok && down_from) {
				add_interval(R, down_from, t, names[l], why, false);
				down_from = 0;
			}
			p->rows++;
			p->ok += ok;
			prev = t;
			first = false;
		}
		sqlite3_finalize(s);
		if (down_from)
			add_interval(R, down_from, prev + interval, names[l], why, false);
		else if (!first && R->to - (prev + interval) > 2 * interval && prev + interval < time(NULL))
			add_interval(R, prev + interval, R->to < time(NULL) ? R->to : time(NULL),
				     names[l], NULL, true);
		if (!p->rows)
			continue;
		time_t span = (R->to < time(NULL) ? R->to : time(NULL)) - R->from;
		double ok_s = (double)p->ok * (double)interval;
		p->avail_pct = span > 0 ? 100.0 * (ok_s > (double)span ? (double)span : ok_s) / (double)span
				 : 0;
		p->measured_pct = 100.0 * p->ok / p->rows;
		R->have_probe = true;
		R->nprobe++;
	}
}

/* ---- the journal and the incidents ---- */

static int on_journal(void *ctx, const struct journal_rec *r)
{
	struct report *R = ctx;
	time_t when = r->published ? r->published : r->received;
	if (when < R->from || when >= R->to)
		return 0;
	if (R->nj == REPORT_MAX_ROWS) {
		R->nj_more++;
		return 0;
	}
	if (!(R->nj & (R->nj - 1))) {   /* grow at powers of two */
		struct jrow *n = realloc(R->j, (R->nj ? R->nj * 2 : 1) * sizeof *n);
		if (!n)
			return 1;
		R->j = n;
	}
	struct jrow *j = &R->j[R->nj++];
	j->r = *r;
	struct cut c = { 0 };
	if (r->cut_time[0])
		cut_set_time(&c, r->cut_time);
	j->cut_at = c.timed ? c.at : 0;
	return 0;
}

/* The journal's publications, for the default period. */
struct span { time_t first, last; };

static int on_published(void *ctx, const struct journal_rec *r)
{
	struct span *s = ctx;
	if (!r->published)
		return 0;
	if (!s->first || r->published < s->first)
		s->first = r->published;
	if (r->published > s->last)
		s->last = r->published;
	return 0;
}

static int on_incident(void *ctx, const struct incident_rec *r)
{
	struct report *R = ctx;
	if (R->ninc == REPORT_MAX_ROWS) {
		R->ninc_more++;
		return 0;
	}
	if (!(R->ninc & (R->ninc - 1))) {
		struct incident_rec *n = realloc(R->inc, (R->ninc ? R->ninc * 2 : 1) * sizeof *n);
		if (!n)
			return 1;
		R->inc = n;
	}
	R->inc[R->ninc++] = *r;
	return 0;
}

/* ---- the access logs ---- */

static enum rc sha256_file(const char *path, char hex[65])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return RC_IO;
	gnutls_hash_hd_t h;
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) {
		close(fd);
		return RC_NOMEM;
	}
	char buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		gnutls_hash(h, buf, (size_t)n);
	unsigned char d[SHA256_BYTES];
	gnutls_hash_deinit(h, d);
	close(fd);
	if (n < 0)
		return RC_IO;
	hex_encode(d, SHA256_BYTES, hex);
	return RC_OK;
}

struct dayfile { char day[16]; gzFile gz; unsigned long long lines, bytes; };

/* Copies the lines of one log (plain or gzip: zlib reads both) whose time
 * is in [lfrom, lto) into the day files. */
static void copy_log(struct report *R, const char *path, const char *outdir, struct dayfile *days,
		     size_t *ndays, size_t maxdays, unsigned long long *skipped)
{
	gzFile in = gzopen(path, "rb");
	if (!in)
		return;
	char *line = malloc(REPORT_LOG_LINE_BYTES);
	if (!line) {
		gzclose(in);
		return;
	}
	bool cont = false;   /* inside a line longer than the buffer */
	while (gzgets(in, line, REPORT_LOG_LINE_BYTES)) {
		size_t n = strlen(line);
		bool whole = n && line[n - 1] == '\n';
		if (cont) {
			cont = !whole;
			continue;
		}
		if (!whole && !gzeof(in)) {
			cont = true;
			(*skipped)++;
			continue;
		}
		const char *br = strchr(line, '[');
		time_t t;
		if (!br || !report_clf_time(br, &t)) {
			(*skipped)++;
			continue;
		}
		if (t < R->lfrom || t >= R->lto)
			continue;
		struct tm tm;
		localtime_r(&t, &tm);
		char day[16];
		strftime(day, sizeof day, "%Y-%m-%d", &tm);
		size_t k = 0;
		while (k < *ndays && strcmp(days[k].day, day))
			k++;
		if (k == *ndays) {
			if (*ndays == maxdays)
				continue;
			char p[PATH_BUF_LONG_BYTES];
			textf(p, sizeof p, "%s/access-%s.log.gz", outdir, day);
			days[k].gz = gzopen(p, "wb6");
			if (!days[k].gz)
				continue;
			textf(days[k].day, sizeof days[k].day, "%s", day);
			days[k].lines = days[k].bytes = 0;
			(*ndays)++;
		}
		gzwrite(days[k].gz, line, (unsigned)n);
		if (!whole)
			gzwrite(days[k].gz, "\n", 1);
		days[k].lines++;
		days[k].bytes += n;
	}
	free(line);
	gzclose(in);
}

/* OUT/logs: the lines of the night and the day after from [server]
 * access_log and its rotated siblings (oldest first, so each day's file
 * is in time order when logrotate numbered them), and SHA256SUMS. */
static int bundle_logs(struct report *R, const char *out)
{
	char dir[PATH_BUF_LONG_BYTES];
	textf(dir, sizeof dir, "%s/logs", out);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "prepd report: cannot make %s: %s\n", dir, strerror(errno));
		return -1;
	}
	/* A report made again replaces its bundle. */
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if ((!strncmp(e->d_name, "access-", 7) && strstr(e->d_name, ".log.gz")) ||
		    !strcmp(e->d_name, "SHA256SUMS")) {
			char p[PATH_BUF_LONG_BYTES];
			textf(p, sizeof p, "%s/%s", dir, e->d_name);
			unlink(p);
		}
	}
	if (d)
		closedir(d);
	const char *log = R->cfg->server.access_log;
	struct dayfile days[64];
	size_t ndays = 0;
	unsigned long long skipped = 0;
	unsigned files = 0;
	if (log) {
		char p[PATH_BUF_LONG_BYTES];
		for (int i = REPORT_MAX_ROTATED; i >= 0; i--) {
			for (int gz = 1; gz >= 0; gz--) {
				if (i == 0 && gz)
					continue;
				if (i)
					textf(p, sizeof p, "%s.%d%s", log, i, gz ? ".gz" : "");
				else
					textf(p, sizeof p, "%s", log);
				if (access(p, R_OK) != 0)
					continue;
				files++;
				copy_log(R, p, dir, days, &ndays, sizeof days / sizeof days[0], &skipped);
			}
		}
	}
	bool bad = false;
	for (size_t k = 0; k < ndays; k++)
		bad |= gzclose(days[k].gz) != Z_OK;
	if (bad) {
		fprintf(stderr, "prepd report: writing the log bundle in %s failed (disk full?)\n", dir);
		return -1;
	}
	/* Day order for the manifest and the table. */
	for (size_t a = 0; a < ndays; a++)
		for (size_t b = a + 1; b < ndays; b++)
			if (strcmp(days[b].day, days[a].day) < 0) {
				struct dayfile t = days[a];
				days[a] = days[b];
				days[b] = t;
			}
	struct buf sums = { 0 };
	for (size_t k = 0; k < ndays && R->nlogf < sizeof R->logf / sizeof R->logf[0]; k++) {
		char p[PATH_BUF_LONG_BYTES];
		textf(R->logf[R->nlogf].name, sizeof R->logf[0].name, "access-%s.log.gz", days[k].day);
		textf(p, sizeof p, "%s/%s", dir, R->logf[R->nlogf].name);
		if (sha256_file(p, R->logf[R->nlogf].sha)) {
			fprintf(stderr, "prepd report: cannot read back %s\n", p);
			buf_release(&sums);
			return -1;
		}
		R->logf[R->nlogf].lines = days[k].lines;
		R->logf[R->nlogf].bytes = days[k].bytes;
		buf_addf(&sums, "%s  %s\n", R->logf[R->nlogf].sha, R->logf[R->nlogf].name);
		R->nlogf++;
	}
	char p[PATH_BUF_LONG_BYTES];
	textf(p, sizeof p, "%s/SHA256SUMS", dir);
	FILE *f = fopen(p, "we");
	if (!f || (sums.n && fwrite(sums.s, 1, sums.n, f) != sums.n) || fclose(f) != 0) {
		fprintf(stderr, "prepd report: cannot write %s\n", p);
		buf_release(&sums);
		return -1;
	}
	buf_release(&sums);
	char a[32], b[32];
	report_local_text(R->lfrom, true, a, sizeof a);
	report_local_text(R->lto, true, b, sizeof b);
	if (!log)
		textf(R->logs_note, sizeof R->logs_note, "sin registros: prepd no escribe registro "
			 "de acceso ([server] access_log no está configurado)");
	else if (!files)
		textf(R->logs_note, sizeof R->logs_note, "sin registros: no se encontró el registro "
			 "de acceso ni sus rotaciones");
	else
		textf(R->logs_note, sizeof R->logs_note, "%u archivo(s) leído(s); se guardan las "
			 "líneas del %s al %s (hora local)%s", files, a, b,
			 skipped ? "; algunas líneas sin fecha legible no se copiaron" : "");
	return 0;
}

/* ---- the HTML ---- */

static const char css[] =
	"body{font-family:'DejaVu Sans',Arial,Helvetica,sans-serif;color:#1a1a1a;margin:2em auto;"
	"max-width:60em;padding:0 1em;line-height:1.4}"
	"h1{font-size:1.7em;margin-bottom:.2em}h2{border-bottom:2px solid #4a2c6b;padding-bottom:.2em;"
	"margin-top:1.6em}h3{margin-top:1.2em}"
	"table{border-collapse:collapse;width:100%;margin:.6em 0;font-size:.92em}"
	"th,td{border:1px solid #bbb;padding:.25em .45em;text-align:left;vertical-align:top}"
	"th{background:#eee}td.n{text-align:right;font-variant-numeric:tabular-nums}"
	"td.path{word-break:break-all}.note{color:#555;font-size:.9em}"
	".bad{color:#a00;font-weight:bold}.ok{color:#060}"
	"svg.chart{width:100%;height:auto;max-width:760px;display:block;margin:.6em 0}"
	"svg .grid{stroke:#ddd;stroke-width:1}svg .axis{stroke:#333;stroke-width:1}"
	"svg .tickmark{stroke:#333}svg text{font-size:11px;fill:#333}"
	"svg .line{fill:none;stroke-width:2}svg .s0 .line{stroke:#4a2c6b}"
	"svg .s1 .line{stroke:#d08a1a;stroke-dasharray:5 3}svg .s0 .pt{fill:#4a2c6b}"
	"svg .s1 .pt{fill:#d08a1a}svg .bar{fill:#4a2c6b}svg .frame{fill:#f7f7f7;stroke:#bbb}"
	"svg .nodata{font-size:16px;fill:#777}"
	"dl.sum{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}"
	"dl.sum dt{font-weight:bold}dl.sum dd{margin:0}"
	"@media print{body{margin:0;max-width:none;font-size:10pt}"
	"section{break-before:page}section.first{break-before:auto}"
	"table,svg,figure{break-inside:avoid}thead{display:table-header-group}"
	"a{color:inherit;text-decoration:none}}"
	"@page{size:letter;margin:15mm}";

static void num(struct buf *b, double v)
{
	char s[48];
	if (v < 0) {
		buf_add(b, "sin datos");
		return;
	}
	textf(s, sizeof s, "%.0f", v);
	size_t n = strlen(s);
	for (size_t i = 0; i < n; i++) {
		if (i && (n - i) % 3 == 0)
			buf_add(b, "\xc2\xa0");   /* no-break space: es-MX prints 1 234 567 */
		buf_addn(b, s + i, 1);
	}
}

static void when(struct buf *b, time_t t)
{
	if (!t) {
		buf_add(b, "—");
		return;
	}
	char s[48];
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(s, sizeof s, "%d/%m/%Y %H:%M:%S", &tm);
	buf_add(b, s);
}

static void duration(struct buf *b, long s)
{
	if (s < 0) {
		buf_addf(b, "−%s", "");
		s = -s;
	}
	if (s < 60)
		buf_addf(b, "%ld s", s);
	else if (s < 3600)
		buf_addf(b, "%ld min %ld s", s / 60, s % 60);
	else
		buf_addf(b, "%ld h %ld min", s / 3600, s % 3600 / 60);
}

static const char *kind_es(const char *k)
{
	static const char *const map[][2] = {
		{ "start", "arranque" }, { "stop", "paro" }, { "refused", "paquete rechazado" },
		{ "failed_period", "periodo sin corte" }, { "rollback", "reversión" },
		{ "shield", "protección (límite por cliente)" }, { "purge_failed", "purga de CDN fallida" },
		{ "probe_down", "sitio sin respuesta" }, { "probe_up", "sitio de vuelta" },
		{ "dropped", "incidentes perdidos" },
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (!strcmp(k, map[i][0]))
			return map[i][1];
	return k;
}

static void incident_detail(struct buf *b, const struct incident_rec *r)
{
	if (!strcmp(r->kind, "start")) {
		const char *prev = incident_field(r, "previous");
		if (prev && !strcmp(prev, "crash"))
			buf_add(b, "<span class=\"bad\">reinicio sin paro limpio</span> (la ejecución "
				   "anterior terminó sin registrar su paro: caída, corte de luz o kill)");
		else if (prev && !strcmp(prev, "clean"))
			buf_add(b, "arranque tras un paro limpio");
		else
			buf_add(b, "primer arranque registrado");
		return;
	}
	for (unsigned i = 0; i < r->nfields; i++) {
		if (i)
			buf_add(b, "; ");
		buf_html(b, r->f[i].key);
		buf_add(b, ": ");
		buf_html(b, r->f[i].value);
	}
}

static void chart_section(struct buf *b, struct report *R, const char *id, const char *what,
			  const double *night, const double *base, double tot, double btot)
{
	char title[256], desc[512], bfrom[32], bto[32];
	report_local_text(R->bfrom, true, bfrom, sizeof bfrom);
	report_local_text(R->bto, true, bto, sizeof bto);
	textf(title, sizeof title, "%s por 15 minutos", what);
	textf(desc, sizeof desc, "%s en cada intervalo de 15 minutos de la noche (línea "
		 "continua) y del periodo de referencia del %s al %s (línea discontinua), en hora "
		 "local. Total de la noche: %.0f; de la referencia: %.0f.", what, bfrom, bto,
		 tot < 0 ? 0 : tot, btot < 0 ? 0 : btot);
	struct svg_series s[2] = {
		{ "Noche de la elección", "s0", night },
		{ "Referencia (tráfico habitual)", "s1", base },
	};
	buf_add(b, "<figure>");
	svg_line_chart(b, id, title, desc, R->from, STEP, R->nb, s, 2, what);
	buf_add(b, "<figcaption class=\"note\">");
	buf_html(b, desc);
	buf_add(b, "</figcaption></figure>");
}

static void write_html(struct buf *b, struct report *R)
{
	const struct config *cfg = R->cfg;
	char a[32], z[32];
	buf_add(b, "<!doctype html>\n<html lang=\"es\"><head><meta charset=\"utf-8\">"
		   "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
		   "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
		   "style-src 'unsafe-inline'; img-src data:\">"
		   "<title>Memoria técnica del PREP</title><style>");
	buf_add(b, css);
	buf_add(b, "</style></head><body>\n");
	buf_add(b, "<header><h1>Memoria técnica de la difusión del PREP</h1><p>");
	if (cfg->placeholder.difusor) {
		buf_add(b, "Difusor: <strong>");
		buf_html(b, cfg->placeholder.difusor);
		buf_add(b, "</strong>. ");
	}
	if (cfg->placeholder.institute) {
		buf_add(b, "Instituto: <strong>");
		buf_html(b, cfg->placeholder.institute);
		buf_add(b, "</strong>. ");
	}
	buf_add(b, "Hecha con prepd " PREPD_VERSION " el ");
	when(b, time(NULL));
	buf_add(b, ".</p></header>\n");

	/* Summary */
	buf_add(b, "<section class=\"first\" id=\"resumen\"><h2>1. Resumen</h2><dl class=\"sum\">");
	buf_add(b, "<dt>Periodo</dt><dd>");
	when(b, R->from);
	buf_add(b, " a ");
	when(b, R->to);
	buf_add(b, " (");
	buf_html(b, R->period_note);
	buf_add(b, ")</dd><dt>Zona horaria</dt><dd>");
	buf_html(b, cfg->ingest.time_zone);
	buf_add(b, "</dd><dt>Referencia</dt><dd>");
	when(b, R->bfrom);
	buf_add(b, " a ");
	when(b, R->bto);
	buf_add(b, "</dd><dt>Fuente de la audiencia</dt><dd>");
	buf_html(b, R->source);
	buf_add(b, ": ");
	buf_html(b, R->source_note);
	buf_add(b, "</dd></dl>");
	if (!R->have_stats) {
		buf_add(b, "<p class=\"bad\">Sin datos de audiencia: ");
		buf_html(b, R->stats_note);
		buf_add(b, "</p>");
	}
	buf_add(b, "<table><thead><tr><th>Cifra</th><th>Noche</th><th>Referencia</th></tr></thead>"
		   "<tbody>");
	const struct { const char *name; double n, bn; } rows[] = {
		{ "Visitantes únicos (misma dirección, mismo día, mismo navegador)",
		  R->have_night ? R->tot_vis : -1, R->have_base ? R->btot_vis : -1 },
		{ "Páginas vistas (documentos HTML, no JSON ni recursos)",
		  R->have_night ? R->tot_pv : -1, R->have_base ? R->btot_pv : -1 },
		{ "Peticiones (hits)", R->have_night ? R->tot_hits : -1,
		  R->have_base ? R->btot_hits : -1 },
		{ "Bytes enviados", R->have_night ? R->tot_bytes : -1, -1 },
		{ "Visitas (sesiones; se cierran tras 30 min sin peticiones)",
		  R->have_stats ? R->sess_count : -1, -1 },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		buf_addf(b, "<tr><td>%s</td><td class=\"n\">", rows[i].name);
		num(b, rows[i].n);
		buf_add(b, "</td><td class=\"n\">");
		num(b, rows[i].bn);
		buf_add(b, "</td></tr>");
	}
	buf_add(b, "</tbody></table>");
	unsigned published = 0, refused = 0, restarts = 0, crashes = 0, failed = 0;
	for (size_t i = 0; i < R->nj; i++) {
		published += !strcmp(R->j[i].r.verdict, "published");
		refused += !strcmp(R->j[i].r.verdict, "refused") ||
			   !strcmp(R->j[i].r.verdict, "quarantined");
	}
	for (size_t i = 0; i < R->ninc; i++) {
		if (!strcmp(R->inc[i].kind, "start")) {
			const char *p = incident_field(&R->inc[i], "previous");
			restarts++;
			crashes += p && !strcmp(p, "crash");
		}
		failed += !strcmp(R->inc[i].kind, "failed_period");
	}
	buf_addf(b, "<p>Cortes publicados: <strong>%u</strong>; paquetes rechazados: "
		 "<strong>%u</strong>; periodos de actualización sin corte nuevo: <strong>%u</strong>; "
		 "arranques de prepd: <strong>%u</strong> (%u sin paro limpio).", published, refused,
		 failed, restarts, crashes);
	for (size_t i = 0; i < R->nprobe; i++)
		buf_addf(b, " Disponibilidad %s: <strong>%.2f %%</strong>.", R->probe[i].listener,
			 R->probe[i].avail_pct);
	if (!R->have_probe)
		buf_add(b, " Disponibilidad: sin datos del autochequeo.");
	buf_add(b, "</p></section>\n");

	/* Audience */
	buf_add(b, "<section id=\"audiencia\"><h2>2. Audiencia por 15 minutos</h2>");
	buf_add(b, "<p class=\"note\">Cada punto suma un intervalo de 15 minutos que empieza a la "
		   "hora marcada (hora local). Un visitante cuenta una vez por intervalo. La "
		   "referencia es el mismo horario del periodo de referencia, alineado al inicio.</p>");
	chart_section(b, R, "g-visitantes", "Visitantes", R->vis, R->bvis,
		      R->have_night ? R->tot_vis : -1, R->have_base ? R->btot_vis : -1);
	chart_section(b, R, "g-paginas", "Páginas vistas", R->pv, R->bpv, R->tot_pv, R->btot_pv);
	chart_section(b, R, "g-hits", "Peticiones", R->hits, R->bhits, R->tot_hits, R->btot_hits);
	buf_add(b, "</section>\n");

	/* Pages, referrers, time on site */
	buf_add(b, "<section id=\"paginas\"><h2>3. Páginas, sitios de referencia y permanencia</h2>");
	buf_add(b, "<h3>Páginas más consultadas</h3>");
	if (!R->npages) {
		buf_add(b, "<p>sin datos</p>");
	} else {
		buf_add(b, "<table><thead><tr><th>#</th><th>Página</th><th>Vistas</th></tr></thead><tbody>");
		for (size_t i = 0; i < R->npages; i++) {
			buf_addf(b, "<tr><td class=\"n\">%zu</td><td class=\"path\">", i + 1);
			buf_html(b, R->pages[i].key);
			buf_add(b, "</td><td class=\"n\">");
			num(b, R->pages[i].n);
			buf_add(b, "</td></tr>");
		}
		buf_add(b, "</tbody></table>");
	}
	buf_add(b, "<h3>Sitios de referencia (portales que enmarcan o enlazan el sitio)</h3>");
	if (!R->nrefs) {
		buf_add(b, "<p>sin datos</p>");
	} else {
		buf_add(b, "<table><thead><tr><th>#</th><th>Origen</th><th>Peticiones</th></tr></thead><tbody>");
		for (size_t i = 0; i < R->nrefs; i++) {
			buf_addf(b, "<tr><td class=\"n\">%zu</td><td class=\"path\">", i + 1);
			buf_html(b, R->refs[i].key);
			buf_add(b, "</td><td class=\"n\">");
			num(b, R->refs[i].n);
			buf_add(b, "</td></tr>");
		}
		buf_add(b, "</tbody></table>");
	}
	buf_add(b, "<h3>Tiempo de permanencia</h3>");
	char desc[512];
	textf(desc, sizeof desc, "Visitas que empezaron en el periodo, por duración (de la "
		 "primera a la última petición del visitante sin pausas de más de 30 minutos): %.0f "
		 "visitas, mediana %.0f s, media %.0f s.", R->sess_count, R->sess_median, R->sess_mean);
	double sess[8];
	memcpy(sess, R->sess, sizeof sess);
	buf_add(b, "<figure>");
	svg_bar_chart(b, "g-permanencia", "Duración de las visitas", desc, sess_labels, sess,
		      R->sess_count > 0 ? 8 : 0, "Visitas");
	buf_add(b, "<figcaption class=\"note\">");
	buf_html(b, desc);
	buf_add(b, "</figcaption></figure>");
	buf_add(b, "<h3>Códigos de respuesta</h3>");
	const char *labels[16];
	char lab[16][8];
	for (size_t i = 0; i < R->nstatus; i++) {
		textf(lab[i], sizeof lab[i], "%d", R->status_code[i]);
		labels[i] = lab[i];
	}
	svg_bar_chart(b, "g-estados", "Peticiones por código de respuesta HTTP",
		      "Peticiones del periodo por código de respuesta, de la más frecuente a la "
		      "menos", labels, R->status_n, R->nstatus, "Peticiones");
	buf_add(b, "</section>\n");

	/* Publication timeline */
	buf_add(b, "<section id=\"publicacion\"><h2>4. Publicación corte por corte</h2>");
	buf_add(b, "<p class=\"note\">Del diario de prepd (DATA/journal.log): cada paquete recibido, "
		   "cuándo llegó y cuándo se publicó. Retraso: de la hora del corte a su publicación.</p>");
	if (!R->nj) {
		buf_add(b, "<p>sin datos: el diario no tiene paquetes en el periodo</p>");
	} else {
		buf_add(b, "<table><thead><tr><th>Paquete</th><th>Corte</th><th>Hora del corte</th>"
			   "<th>Llegó</th><th>Publicado</th><th>Retraso</th><th>Origen</th>"
			   "<th>Resultado</th></tr></thead><tbody>");
		double dsum = 0;
		long dmax = 0;
		unsigned dn = 0;
		for (size_t i = 0; i < R->nj; i++) {
			const struct jrow *j = &R->j[i];
			buf_addf(b, "<tr><td class=\"n\">%llu</td><td>", (unsigned long long)j->r.seq);
			buf_html(b, j->r.cut[0] ? j->r.cut : "—");
			buf_add(b, "</td><td>");
			if (j->cut_at)
				when(b, j->cut_at);
			else
				buf_html(b, j->r.cut_time[0] ? j->r.cut_time : "—");
			buf_add(b, "</td><td>");
			when(b, j->r.received);
			buf_add(b, "</td><td>");
			when(b, j->r.published);
			buf_add(b, "</td><td class=\"n\">");
			if (j->r.published && j->cut_at) {
				long d = (long)(j->r.published - j->cut_at);
				duration(b, d);
				dsum += (double)d;
				dn++;
				if (d > dmax)
					dmax = d;
			} else {
				buf_add(b, "—");
			}
			buf_add(b, "</td><td class=\"path\">");
			buf_html(b, j->r.source);
			bool ok = !strcmp(j->r.verdict, "published") || !strcmp(j->r.verdict, "unchanged");
			buf_addf(b, "</td><td class=\"%s\">", ok ? "ok" : "bad");
			buf_html(b, !strcmp(j->r.verdict, "published") ? (!strncmp(j->r.source, "rollback:", 9)
					? "publicado (reversión)" : "publicado") :
				    !strcmp(j->r.verdict, "unchanged") ? "sin cambios" :
				    !strcmp(j->r.verdict, "quarantined") ? "rechazado (cuarentena)" :
				    !strcmp(j->r.verdict, "refused") ? "rechazado" :
				    !strcmp(j->r.verdict, "interrupted") ? "interrumpido" : j->r.verdict);
			if (j->r.reason[0]) {
				buf_add(b, ": ");
				buf_html(b, j->r.reason);
			}
			buf_add(b, "</td></tr>");
		}
		buf_add(b, "</tbody></table>");
		if (R->nj_more)
			buf_addf(b, "<p class=\"note\">y %zu paquetes más, no listados.</p>", R->nj_more);
		if (dn) {
			buf_add(b, "<p>Retraso medio de publicación: <strong>");
			duration(b, (long)(dsum / dn));
			buf_add(b, "</strong>; máximo: <strong>");
			duration(b, dmax);
			buf_add(b, "</strong>.</p>");
		}
	}
	buf_add(b, "</section>\n");

	/* Availability */
	buf_add(b, "<section id=\"disponibilidad\"><h2>5. Disponibilidad</h2>");
	buf_addf(b, "<p class=\"note\">Del autochequeo de prepd (tabla probe de DATA/stats.db): "
		 "cada %u s prepd pide / a sus propios puertos HTTP y HTTPS por la interfaz local "
		 "(HTTPS sin verificar la cadena del certificado). Cada respuesta correcta cuenta "
		 "por un intervalo; un lapso sin mediciones (prepd detenido) cuenta como no "
		 "disponible.</p>", cfg->probe.interval ? cfg->probe.interval : 60);
	if (!R->have_probe) {
		buf_add(b, "<p>sin datos: no hay mediciones del autochequeo en el periodo</p>");
	} else {
		buf_add(b, "<table><thead><tr><th>Puerto</th><th>Mediciones</th><th>Correctas</th>"
			   "<th>Disponibilidad del periodo</th><th>De las mediciones</th></tr></thead><tbody>");
		for (size_t i = 0; i < R->nprobe; i++)
			buf_addf(b, "<tr><td>%s</td><td class=\"n\">%u</td><td class=\"n\">%u</td>"
				 "<td class=\"n\">%.2f %%</td><td class=\"n\">%.2f %%</td></tr>",
				 R->probe[i].listener, R->probe[i].rows, R->probe[i].ok,
				 R->probe[i].avail_pct, R->probe[i].measured_pct);
		buf_add(b, "</tbody></table><h3>Intervalos sin servicio</h3>");
		if (!R->ndown) {
			buf_add(b, "<p class=\"ok\">Ninguno.</p>");
		} else {
			buf_add(b, "<table><thead><tr><th>Puerto</th><th>Desde</th><th>Hasta</th>"
				   "<th>Duración</th><th>Causa</th></tr></thead><tbody>");
			for (size_t i = 0; i < R->ndown; i++) {
				buf_addf(b, "<tr><td>%s</td><td>", R->down[i].listener);
				when(b, R->down[i].from);
				buf_add(b, "</td><td>");
				when(b, R->down[i].to);
				buf_add(b, "</td><td class=\"n\">");
				duration(b, (long)(R->down[i].to - R->down[i].from));
				buf_add(b, "</td><td>");
				if (R->down[i].unmeasured)
					buf_add(b, "sin mediciones (prepd detenido o autochequeo apagado)");
				else
					buf_html(b, R->down[i].why);
				buf_add(b, "</td></tr>");
			}
			buf_add(b, "</tbody></table>");
		}
	}
	buf_add(b, "</section>\n");

	/* Incidents */
	buf_add(b, "<section id=\"incidentes\"><h2>6. Incidentes</h2><p class=\"note\">De "
		   "DATA/incidents.log: arranques y paros, paquetes rechazados, periodos sin corte, "
		   "reversiones, acciones de protección, purgas fallidas y caídas vistas por el "
		   "autochequeo.</p>");
	if (!R->ninc) {
		buf_add(b, "<p>sin incidentes registrados en el periodo</p>");
	} else {
		buf_add(b, "<table><thead><tr><th>Hora</th><th>Tipo</th><th>Detalle</th></tr></thead><tbody>");
		for (size_t i = 0; i < R->ninc; i++) {
			buf_add(b, "<tr><td>");
			when(b, R->inc[i].t);
			buf_add(b, "</td><td>");
			buf_html(b, kind_es(R->inc[i].kind));
			buf_add(b, "</td><td class=\"path\">");
			incident_detail(b, &R->inc[i]);
			buf_add(b, "</td></tr>");
		}
		buf_add(b, "</tbody></table>");
		if (R->ninc_more)
			buf_addf(b, "<p class=\"note\">y %zu incidentes más, no listados.</p>", R->ninc_more);
	}
	if (R->inc_bad)
		buf_addf(b, "<p class=\"note\">%u líneas de DATA/incidents.log no se pudieron leer.</p>",
			 R->inc_bad);
	buf_add(b, "</section>\n");

	/* The log bundle */
	buf_add(b, "<section id=\"registros\"><h2>7. Registros de acceso</h2><p>");
	buf_html(b, R->logs_note);
	buf_add(b, ". Están en la carpeta <code>logs/</code> junto a este documento, comprimidos "
		   "con gzip, con sus sumas SHA-256 en <code>logs/SHA256SUMS</code> "
		   "(<code>cd logs &amp;&amp; sha256sum -c SHA256SUMS</code>).</p>");
	if (R->nlogf) {
		buf_add(b, "<table><thead><tr><th>Archivo</th><th>Líneas</th><th>SHA-256</th></tr>"
			   "</thead><tbody>");
		for (size_t i = 0; i < R->nlogf; i++) {
			buf_add(b, "<tr><td>");
			buf_html(b, R->logf[i].name);
			buf_add(b, "</td><td class=\"n\">");
			num(b, (double)R->logf[i].lines);
			buf_add(b, "</td><td class=\"path\"><code>");
			buf_html(b, R->logf[i].sha);
			buf_add(b, "</code></td></tr>");
		}
		buf_add(b, "</tbody></table>");
	}
	report_local_text(R->from, true, a, sizeof a);
	report_local_text(R->to, true, z, sizeof z);
	buf_add(b, "<h3>De dónde sale cada cifra</h3><ul class=\"note\">"
		   "<li>Audiencia: DATA/stats.db, tablas minute (peticiones, bytes, páginas vistas), "
		   "visit (visitantes: huella con sal de dirección, día local y navegador; nunca la "
		   "dirección), page, referrer, session y minute_status, de la fuente indicada.</li>"
		   "<li>Publicación: DATA/journal.log, una línea por paquete, escrita antes de publicar.</li>"
		   "<li>Disponibilidad: tabla probe de DATA/stats.db (autochequeo de prepd).</li>"
		   "<li>Incidentes y reinicios: DATA/incidents.log.</li>"
		   "<li>Registros: [server] access_log y sus rotaciones, copiados sin cambios.</li></ul>");
	buf_add(b, "</section>\n</body></html>\n");
}

/* ---- the PDF ---- */

static const char *find_chromium(void)
{
	static char found[PATH_BUF_BYTES];
	const char *env = getenv("CHROMIUM");
	if (env && *env)
		return access(env, X_OK) == 0 ? env : NULL;
	static const char *const names[] = { "chromium", "chromium-browser", "google-chrome",
					     "google-chrome-stable" };
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/bin:/bin";
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		const char *p = path;
		while (*p) {
			size_t n = strcspn(p, ":");
			textf(found, sizeof found, "%.*s/%s", (int)n, p, names[i]);
			if (n && access(found, X_OK) == 0)
				return found;
			p += n + (p[n] == ':');
		}
	}
	return NULL;
}

/* Prints html to pdf with headless Chromium, at most 120 s. */
static int print_pdf(const char *chromium, const char *html, const char *pdf, char *why,
		     size_t whysz)
{
	char profile[] = "/tmp/prepd-report-chromium.XXXXXX";
	if (!mkdtemp(profile)) {
		textf(why, whysz, "cannot make a temporary folder: %s", strerror(errno));
		return -1;
	}
	char a_pdf[PATH_BUF_LONG_BYTES + 32], a_prof[64], url[PATH_BUF_LONG_BYTES + 16];
	textf(a_pdf, sizeof a_pdf, "--print-to-pdf=%s", pdf);
	textf(a_prof, sizeof a_prof, "--user-data-dir=%s", profile);
	textf(url, sizeof url, "file://%s", html);
	unlink(pdf);
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		execl(chromium, chromium, "--headless", "--no-sandbox", "--disable-gpu",
		      "--no-first-run", "--disable-background-networking", "--disable-sync",
		      "--disable-component-update", "--no-pdf-header-footer",
		      "--print-to-pdf-no-header", a_prof, a_pdf, url, (char *)NULL);
		_exit(127);
	}
	int ret = -1;
	if (pid < 0) {
		textf(why, whysz, "fork: %s", strerror(errno));
	} else {
		int st = 0;
		bool done = false;
		for (int i = 0; i < 1200 && !done; i++) {
			pid_t r = waitpid(pid, &st, WNOHANG);
			done = r == pid;
			if (!done)
				usleep(100000);
		}
		if (!done) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			textf(why, whysz, "Chromium did not finish in 120 s");
		} else {
			char head[5] = "";
			FILE *f = fopen(pdf, "re");
			if (f) {
				if (fread(head, 1, 5, f) != 5)
					head[0] = '\0';
				fclose(f);
			}
			if (!memcmp(head, "%PDF-", 5))
				ret = 0;
			else
				textf(why, whysz, "Chromium exited with %d and wrote no PDF",
					 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		}
	}
	char cmd[128];
	textf(cmd, sizeof cmd, "rm -rf '%s'", profile);   /* a name mkdtemp made */
	if (system(cmd) != 0)
		fprintf(stderr, "prepd report: could not remove %s\n", profile);
	return ret;
}

/* ---- the command ---- */

static void report_free(struct report *R)
{
	free(R->hits);
	for (size_t i = 0; i < R->npages; i++)
		free(R->pages[i].key);
	for (size_t i = 0; i < R->nrefs; i++)
		free(R->refs[i].key);
	free(R->j);
	free(R->inc);
	free(R->down);
}

static int resolve_period(struct report *R, const struct report_opts *o)
{
	char err[512];
	if (!!o->from != !!o->to) {
		fprintf(stderr, "prepd report: give both --from and --to, or neither (the night from "
			"the journal)\n");
		return 2;
	}
	if (o->from) {
		if (!report_parse_local(o->from, &R->from) || !report_parse_local(o->to, &R->to)) {
			fprintf(stderr, "prepd report: --from and --to are local times "
				"YYYY-MM-DDTHH:MM in %s (one that exists on that day)\n",
				R->cfg->ingest.time_zone);
			return 2;
		}
		textf(R->period_note, sizeof R->period_note, "dado con --from y --to");
	} else {
		struct span s = { 0, 0 };
		bool torn;
		if (journal_read(R->cfg->server.data_dir, on_published, &s, &torn, err, sizeof err)) {
			fprintf(stderr, "prepd report: %s\n", err);
			return 1;
		}
		if (!s.first) {
			fprintf(stderr, "prepd report: the journal has no published cut to take the "
				"night from: give --from and --to (YYYY-MM-DDTHH:MM, local time)\n");
			return 2;
		}
		R->from = s.first - 3600;
		R->to = s.last + 3600;
		textf(R->period_note, sizeof R->period_note, "la noche según el diario: del primer "
			 "corte publicado al último, con una hora de margen antes y después");
	}
	R->from = report_floor(R->from, STEP);
	R->to = report_ceil(R->to, STEP);
	if (R->to <= R->from || R->to - R->from > REPORT_MAX_RANGE_S) {
		fprintf(stderr, "prepd report: the period must end after it starts and last at most "
			"%d days\n", REPORT_MAX_RANGE_S / 86400);
		return 2;
	}
	R->nb = report_buckets(R->from, R->to, STEP);
	if (!!o->baseline_from != !!o->baseline_to) {
		fprintf(stderr, "prepd report: give both --baseline-from and --baseline-to, or "
			"neither (the same hours a week earlier)\n");
		return 2;
	}
	if (o->baseline_from) {
		if (!report_parse_local(o->baseline_from, &R->bfrom) ||
		    !report_parse_local(o->baseline_to, &R->bto) || R->bto <= R->bfrom) {
			fprintf(stderr, "prepd report: --baseline-from and --baseline-to are local times "
				"YYYY-MM-DDTHH:MM, the end after the start\n");
			return 2;
		}
		R->bfrom = report_floor(R->bfrom, STEP);
		R->bto = report_ceil(R->bto, STEP);
	} else {
		R->bfrom = report_floor(report_shift_days(R->from, -7), STEP);
		R->bto = report_ceil(report_shift_days(R->to, -7), STEP);
	}
	/* The charts compare bucket by bucket: the baseline is as long as the
	 * night (cut or padded with "no data"). */
	/* The logs: the night and the whole day after it. */
	struct tm tm;
	localtime_r(&R->from, &tm);
	tm.tm_mday += 2;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	R->lfrom = R->from;
	R->lto = mktime(&tm);
	if (R->lto < R->to)
		R->lto = R->to;
	return 0;
}

int report_run(const struct config *cfg, const struct report_opts *o)
{
	struct report R = { .cfg = cfg };
	int ret = resolve_period(&R, o);
	if (ret)
		return ret;
	R.hits = calloc(R.nb * 6, sizeof *R.hits);
	if (!R.hits) {
		fprintf(stderr, "prepd report: out of memory\n");
		return 1;
	}
	R.pv = R.hits + R.nb;
	R.vis = R.pv + R.nb;
	R.bhits = R.vis + R.nb;
	R.bpv = R.bhits + R.nb;
	R.bvis = R.bpv + R.nb;
	for (size_t i = 0; i < R.nb * 6; i++)
		R.hits[i] = -1;
	if (mkdir(o->out, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "prepd report: cannot make %s: %s\n", o->out, strerror(errno));
		report_free(&R);
		return 1;
	}
	char out[PATH_BUF_BYTES];
	if (!realpath(o->out, out)) {
		fprintf(stderr, "prepd report: %s: %s\n", o->out, strerror(errno));
		report_free(&R);
		return 1;
	}
	textf(R.source, sizeof R.source, "%s", o->source ? o->source : "live");
	textf(R.source_note, sizeof R.source_note, "sin base de estadísticas");
	sqlite3 *db = stats_open(cfg->server.data_dir, R.stats_note, sizeof R.stats_note);
	if (db) {
		pick_source(&R, db, o->source);
		gather_stats(&R, db);
		gather_probe(&R, db);
		sqlite3_close(db);
	}
	char err[512];
	bool torn = false;
	if (journal_read(cfg->server.data_dir, on_journal, &R, &torn, err, sizeof err)) {
		fprintf(stderr, "prepd report: %s\n", err);
		report_free(&R);
		return 1;
	}
	if (incident_read(cfg->server.data_dir, R.from, R.to, 0, on_incident, &R, &R.inc_bad, err,
			  sizeof err))
		fprintf(stderr, "prepd report: %s (the report has no incidents)\n", err);
	if (bundle_logs(&R, out)) {
		report_free(&R);
		return 1;
	}
	struct buf b = { 0 };
	write_html(&b, &R);
	char html[PATH_BUF_LONG_BYTES], tmp[PATH_BUF_LONG_BYTES + 8];
	textf(html, sizeof html, "%s/memoria-tecnica.html", out);
	textf(tmp, sizeof tmp, "%s.tmp", html);
	FILE *f = b.failed ? NULL : fopen(tmp, "we");
	if (!f || fwrite(b.s, 1, b.n, f) != b.n || fclose(f) != 0 || rename(tmp, html) != 0) {
		fprintf(stderr, "prepd report: cannot write %s: %s\n", html,
			b.failed ? "out of memory" : strerror(errno));
		unlink(tmp);
		buf_release(&b);
		report_free(&R);
		return 1;
	}
	buf_release(&b);
	char a[32], z[32];
	report_local_text(R.from, true, a, sizeof a);
	report_local_text(R.to, true, z, sizeof z);
	printf("prepd report: %s (period %s to %s %s, source %s%s)\n", html, a, z,
	       cfg->ingest.time_zone, R.source, R.have_night ? "" : ", no audience data");
	if (!R.have_stats)
		printf("prepd report: no audience figures: %s\n", R.stats_note);
	printf("prepd report: %s/logs: %zu file(s) and SHA256SUMS (%s)\n", out, R.nlogf, R.logs_note);
	if (!o->no_pdf) {
		const char *chromium = find_chromium();
		char pdf[PATH_BUF_LONG_BYTES], why[256];
		textf(pdf, sizeof pdf, "%s/memoria-tecnica.pdf", out);
		if (!chromium)
			printf("prepd report: no PDF: Chromium is not installed (apt-get install "
			       "chromium, or print the HTML from a browser)\n");
		else if (print_pdf(chromium, html, pdf, why, sizeof why))
			printf("prepd report: no PDF: %s (print the HTML from a browser)\n", why);
		else
			printf("prepd report: %s\n", pdf);
	}
	report_free(&R);
	return 0;
}
