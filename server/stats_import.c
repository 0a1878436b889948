#include "server/stats_import.h"

#include "server/config.h"
#include "server/cut.h"
#include "server/limits.h"
#include "server/stats_agg.h"
#include "server/stats_db.h"
#include "server/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ---- field decoding ---- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* %XX decoding in place (CloudFront's user agent and referer). */
static void url_decode(char *s)
{
	char *o = s;
	for (char *p = s; *p; p++) {
		int h, l;
		if (*p == '%' && (h = hexval((unsigned char)p[1])) >= 0 &&
		    (l = hexval((unsigned char)p[2])) >= 0) {
			*o++ = (char)(h * 16 + l);
			p += 2;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
}

/* "YYYY-MM-DD" + "HH:MM:SS" as UTC, with offset_s east of UTC to
 * subtract. */
static bool civil(int y, int mo, int d, int h, int mi, int s, long offset_s, time_t *out)
{
	if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    s > 60 || h < 0 || mi < 0 || s < 0)
		return false;
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
			 .tm_min = mi, .tm_sec = s };
	time_t t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_mday != d)
		return false;   /* June 31st */
	*out = t - offset_s;
	return true;
}

/* n digits at p as a number; -1 when not digits. */
static int digits(const char *p, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* ---- Combined Log Format ---- */

/* A quoted field at *pp ("..."), unescaped in place (\" \\ \xHH, as
 * Apache, nginx and prepd write them); *pp moves past it. NULL when it
 * is not quoted or has no end. */
static char *quoted(char **pp)
{
	char *p = *pp;
	if (*p != '"')
		return NULL;
	char *start = ++p, *o = p;
	for (;;) {
		if (!*p)
			return NULL;
		if (*p == '"')
			break;
		if (*p == '\\' && p[1]) {
			int h, l;
			if (p[1] == 'x' && (h = hexval((unsigned char)p[2])) >= 0 &&
			    (l = hexval((unsigned char)p[3])) >= 0) {
				*o++ = (char)(h * 16 + l);
				p += 4;
				continue;
			}
			if (p[1] == '"' || p[1] == '\\') {
				*o++ = p[1];
				p += 2;
				continue;
			}
		}
		*o++ = *p++;
	}
	*pp = p + 1;
	*o = '\0';
	return start;
}

static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* "[02/Jun/2024:22:15:03 -0600]" */
static bool clf_time(const char *p, time_t *out)
{
	if (strlen(p) < 28 || p[0] != '[' || p[3] != '/' || p[7] != '/' || p[12] != ':' ||
	    p[15] != ':' || p[18] != ':' || p[21] != ' ' || (p[22] != '+' && p[22] != '-') ||
	    p[27] != ']')
		return false;
	int mo = -1;
	for (int i = 0; i < 12; i++)
		if (!strncmp(p + 4, months[i], 3))
			mo = i + 1;
	int d = digits(p + 1, 2), y = digits(p + 8, 4), h = digits(p + 13, 2),
	    mi = digits(p + 16, 2), s = digits(p + 19, 2), oh = digits(p + 23, 2),
	    om = digits(p + 25, 2);
	if (mo < 0 || d < 0 || y < 0 || h < 0 || mi < 0 || s < 0 || oh < 0 || om < 0 || om > 59)
		return false;
	long off = (oh * 60L + om) * 60 * (p[22] == '-' ? -1 : 1);
	return civil(y, mo, d, h, mi, s, off, out);
}

static void set_path(struct stats_line *out, const char *target)
{
	const char *p = target;
	if (!strncasecmp(p, "http://", 7) || !strncasecmp(p, "https://", 8)) {
		p = strstr(p, "://") + 3;
		p += strcspn(p, "/");
	}
	out->path = p;
	out->path_len = strcspn(p, "?#");
}

const char *stats_parse_clf(char *line, struct stats_line *out)
{
	memset(out, 0, sizeof *out);
	out->method = out->ua = out->referer = out->host = out->client = out->path = "";
	char *p = line;
	size_t n = strcspn(p, " ");
	if (!n || !p[n])
		return "no client address";
	p[n] = '\0';
	out->client = strcmp(p, "-") ? p : "";
	p += n + 1;
	/* ident and user; a user name may hold spaces: up to the '[' */
	char *br = strstr(p, " [");
	if (!br)
		return "no [time]";
	p = br + 1;
	if (!clf_time(p, &out->t))
		return "bad [time]";
	p += 28;
	if (*p++ != ' ')
		return "no request after the time";
	char *req = quoted(&p);
	if (!req)
		return "the request is not quoted";
	/* "GET /x HTTP/1.1": method, target (may hold spaces), protocol. */
	char *sp = strchr(req, ' ');
	if (sp) {
		*sp = '\0';
		char *target = sp + 1;
		char *last = strrchr(target, ' ');
		if (last && !strncmp(last + 1, "HTTP/", 5))
			*last = '\0';
		out->method = req;
		set_path(out, target);
	} else {
		out->method = req;   /* "-" or junk: a hit, not a page */
	}
	if (*p++ != ' ')
		return "no status";
	int st = digits(p, 3);
	if (st < 0 || (p[3] != ' ' && p[3] != '\0'))
		return "bad status";
	out->status = (unsigned)st;
	p += 3;
	if (*p == ' ')
		p++;
	if (*p == '-') {
		p++;
	} else {
		char *end;
		errno = 0;
		unsigned long long b = strtoull(p, &end, 10);
		if (end == p || errno || (*end != ' ' && *end != '\0'))
			return "bad byte count";
		out->bytes = b;
		p = end;
	}
	/* Common Log Format ends here; Combined has referer and agent. */
	if (*p == ' ' && p[1] == '"') {
		p++;
		char *ref = quoted(&p);
		if (!ref)
			return "the referer is not quoted";
		out->referer = strcmp(ref, "-") ? ref : "";
		if (*p == ' ' && p[1] == '"') {
			p++;
			char *ua = quoted(&p);
			if (!ua)
				return "the user agent is not quoted";
			out->ua = strcmp(ua, "-") ? ua : "";
		}
	}
	/* What follows (prepd's cut and time, nginx's extras) is not ours. */
	return NULL;
}

/* ---- CloudFront ---- */

void stats_cf_fields_default(struct stats_cf_fields *f)
{
	/* The documented order of the 33 standard log fields. */
	*f = (struct stats_cf_fields){ .date = 0, .time = 1, .bytes = 3, .ip = 4, .method = 5,
				       .host = 6, .stem = 7, .status = 8, .referer = 9, .ua = 10,
				       .host_header = 15, .protocol = 16, .content_len = 29,
				       .count = 33 };
}

bool stats_cf_fields_parse(const char *header, struct stats_cf_fields *f)
{
	static const struct {
		const char *name;
		size_t off;
	} names[] = {
		{ "date", offsetof(struct stats_cf_fields, date) },
		{ "time", offsetof(struct stats_cf_fields, time) },
		{ "c-ip", offsetof(struct stats_cf_fields, ip) },
		{ "cs-method", offsetof(struct stats_cf_fields, method) },
		{ "cs(Host)", offsetof(struct stats_cf_fields, host) },
		{ "cs-uri-stem", offsetof(struct stats_cf_fields, stem) },
		{ "sc-status", offsetof(struct stats_cf_fields, status) },
		{ "cs(Referer)", offsetof(struct stats_cf_fields, referer) },
		{ "cs(User-Agent)", offsetof(struct stats_cf_fields, ua) },
		{ "sc-bytes", offsetof(struct stats_cf_fields, bytes) },
		{ "sc-content-len", offsetof(struct stats_cf_fields, content_len) },
		{ "cs-protocol", offsetof(struct stats_cf_fields, protocol) },
		{ "x-host-header", offsetof(struct stats_cf_fields, host_header) },
	};
	struct stats_cf_fields g;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		*(int *)((char *)&g + names[i].off) = -1;
	const char *p = header + strlen("#Fields:");
	int idx = 0;
	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		size_t n = strcspn(p, " \t\r\n");
		if (!n)
			break;
		for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
			if (strlen(names[i].name) == n && !strncasecmp(p, names[i].name, n))
				*(int *)((char *)&g + names[i].off) = idx;
		idx++;
		p += n;
	}
	g.count = idx;
	if (g.date < 0 || g.time < 0 || g.ip < 0 || g.method < 0 || g.stem < 0 || g.status < 0)
		return false;
	*f = g;
	return true;
}

static const char *cf_get(char *const *col, int ncol, int i)
{
	if (i < 0 || i >= ncol)
		return "-";
	return col[i];
}

const char *stats_parse_cloudfront(char *line, const struct stats_cf_fields *f,
				   struct stats_line *out)
{
	memset(out, 0, sizeof *out);
	enum { MAXCOL = 64 };
	char *col[MAXCOL];
	int ncol = 0;
	for (char *p = line;;) {
		if (ncol == MAXCOL)
			break;
		col[ncol++] = p;
		char *tab = strchr(p, '\t');
		if (!tab)
			break;
		*tab = '\0';
		p = tab + 1;
	}
	if (ncol < f->count)
		return "fewer fields than the #Fields header names";
	const char *d = cf_get(col, ncol, f->date), *tm = cf_get(col, ncol, f->time);
	int y = strlen(d) == 10 && d[4] == '-' && d[7] == '-' ? digits(d, 4) : -1;
	if (y < 0 || strlen(tm) < 8 || tm[2] != ':' || tm[5] != ':' ||
	    !civil(y, digits(d + 5, 2), digits(d + 8, 2), digits(tm, 2), digits(tm + 3, 2),
		   digits(tm + 6, 2), 0, &out->t))
		return "bad date or time";
	const char *st = cf_get(col, ncol, f->status);
	int status = strlen(st) == 3 ? digits(st, 3) : -1;
	if (status < 0)
		return "bad sc-status";
	out->status = (unsigned)status;
	const char *ip = cf_get(col, ncol, f->ip);
	out->client = strcmp(ip, "-") ? ip : "";
	out->method = cf_get(col, ncol, f->method);
	const char *stem = cf_get(col, ncol, f->stem);
	out->path = stem;
	out->path_len = strlen(stem);
	char *ua = (char *)cf_get(col, ncol, f->ua), *ref = (char *)cf_get(col, ncol, f->referer);
	if (strcmp(ua, "-"))
		url_decode(ua);
	if (strcmp(ref, "-"))
		url_decode(ref);
	out->ua = strcmp(ua, "-") ? ua : "";
	out->referer = strcmp(ref, "-") ? ref : "";
	const char *hh = cf_get(col, ncol, f->host_header);
	if (!strcmp(hh, "-"))
		hh = cf_get(col, ncol, f->host);
	out->host = strcmp(hh, "-") ? hh : "";
	const char *proto = cf_get(col, ncol, f->protocol);
	out->https = !strcasecmp(proto, "https") || !strcasecmp(proto, "wss");
	/* Body bytes: none for HEAD, 304 and 204; else the Content-Length
	 * the edge sent (sc-content-len), else sc-bytes, which counts the
	 * headers too (a chunked answer has no Content-Length). */
	uint64_t n;
	const char *cl = cf_get(col, ncol, f->content_len), *sb = cf_get(col, ncol, f->bytes);
	if (!strcmp(out->method, "HEAD") || status == 304 || status == 204)
		out->bytes = 0;
	else if (parse_uint(cl, 0, UINT64_MAX, &n))
		out->bytes = n;
	else if (parse_uint(sb, 0, UINT64_MAX, &n))
		out->bytes = n;
	return NULL;
}

/* ---- Cloudflare ---- */

bool stats_parse_timestamp(const char *s, time_t *out)
{
	size_t n = strlen(s);
	if (n && strspn(s, "0123456789") == n) {
		if (n > 19)
			return false;
		unsigned long long v = strtoull(s, NULL, 10);
		/* Seconds are 10 digits until 2286; ms 13, us 16, ns 19. */
		while (v >= 100000000000ull)
			v /= 1000;
		*out = (time_t)v;
		return true;
	}
	if (n < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    s[13] != ':' || s[16] != ':')
		return false;
	const char *p = s + 19;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return false;
		while (isdigit((unsigned char)*p))
			p++;
	}
	long off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int oh = digits(p + 1, 2), om = digits(p + 4, 2);
		if (oh < 0 || om < 0 || oh > 23 || om > 59)
			return false;
		off = (oh * 60L + om) * 60 * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return false;
	}
	if (*p)
		return false;
	return civil(digits(s, 4), digits(s + 5, 2), digits(s + 8, 2), digits(s + 11, 2),
		     digits(s + 14, 2), digits(s + 17, 2), off, out);
}

/* Copies the string field key of o into buf; "" when absent or not a
 * string. */
static const char *cf_str(json_t *o, const char *key, char **buf, size_t *room)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_string(v))
		return "";
	size_t n = json_string_length(v);
	if (n + 1 > *room)
		return "";
	char *s = *buf;
	memcpy(s, json_string_value(v), n);
	s[n] = '\0';
	*buf += n + 1;
	*room -= n + 1;
	return s;
}

const char *stats_parse_cloudflare(const char *line, char *buf, size_t bufsz,
				   struct stats_line *out)
{
	memset(out, 0, sizeof *out);
	json_error_t jerr;
	json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(o)) {
		json_decref(o);
		return "not a JSON object";
	}
	const char *why = NULL;
	json_t *ts = json_object_get(o, "EdgeStartTimestamp");
	char num[32];
	if (json_is_integer(ts)) {
		snprintf(num, sizeof num, "%lld", (long long)json_integer_value(ts));
		if (!stats_parse_timestamp(num, &out->t))
			why = "bad EdgeStartTimestamp";
	} else if (json_is_real(ts)) {
		double v = json_real_value(ts);
		while (v >= 1e11)
			v /= 1000;
		out->t = (time_t)v;
	} else if (!json_is_string(ts) || !stats_parse_timestamp(json_string_value(ts), &out->t)) {
		why = "no EdgeStartTimestamp, or not RFC 3339 or a Unix time";
	}
	json_t *st = json_object_get(o, "EdgeResponseStatus");
	if (!why && (!json_is_integer(st) || json_integer_value(st) < 0 ||
		     json_integer_value(st) > 999))
		why = "no EdgeResponseStatus";
	if (why) {
		json_decref(o);
		return why;
	}
	out->status = (unsigned)json_integer_value(st);
	out->client = cf_str(o, "ClientIP", &buf, &bufsz);
	out->method = cf_str(o, "ClientRequestMethod", &buf, &bufsz);
	out->host = cf_str(o, "ClientRequestHost", &buf, &bufsz);
	out->ua = cf_str(o, "ClientRequestUserAgent", &buf, &bufsz);
	out->referer = cf_str(o, "ClientRequestReferer", &buf, &bufsz);
	const char *scheme = cf_str(o, "ClientRequestScheme", &buf, &bufsz);
	out->https = !strcasecmp(scheme, "https");
	const char *path = cf_str(o, "ClientRequestPath", &buf, &bufsz);
	if (!*path)
		path = cf_str(o, "ClientRequestURI", &buf, &bufsz);
	set_path(out, path);
	/* Body bytes when the job has the field, else all bytes sent. */
	json_t *b = json_object_get(o, "EdgeResponseBodyBytes");
	if (!json_is_integer(b))
		b = json_object_get(o, "EdgeResponseBytes");
	if (json_is_integer(b) && json_integer_value(b) > 0)
		out->bytes = (uint64_t)json_integer_value(b);
	json_decref(o);
	return NULL;
}

/* ---- the command ---- */

enum kind { K_AUTO, K_CLF, K_CLOUDFRONT, K_CLOUDFLARE };
static const char *const kind_names[] = { "auto", "clf", "cloudfront", "cloudflare" };

struct importer {
	struct stats_db *db;
	uint8_t key[STATS_KEY_BYTES];
	const char *source;       /* NULL: the kind */
	const char *site;         /* the site's own host names, comma-separated
				   * (--site): their Referers are not external
				   * when the log has no Host (CLF) */
	enum kind format;
	unsigned gap;
	bool progress;
};

/* A line reader over gzread() that also hashes every byte. */
struct reader {
	gzFile gz;
	gnutls_hash_hd_t sha;
	char *buf;
	size_t len, pos;
	bool eof, error;
	uint64_t bytes;       /* decompressed bytes read */
	char *line;           /* the current line, NUL-terminated */
	size_t line_cap;
};

#define READ_CHUNK (256u * 1024)

/* Next line into r->line (without its CR LF); false at the end. A line
 * over STATS_IMPORT_LINE_MAX is cut there and *too_long set. */
static bool next_line(struct reader *r, bool *too_long)
{
	size_t n = 0;
	*too_long = false;
	for (;;) {
		if (r->pos == r->len) {
			if (r->eof)
				break;
			int got = gzread(r->gz, r->buf, READ_CHUNK);
			if (got < 0) {
				r->error = true;
				r->eof = true;
				break;
			}
			if (got == 0) {
				r->eof = true;
				break;
			}
			gnutls_hash(r->sha, r->buf, (size_t)got);
			r->bytes += (size_t)got;
			r->len = (size_t)got;
			r->pos = 0;
		}
		char *nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
		size_t take = nl ? (size_t)(nl - (r->buf + r->pos)) : r->len - r->pos;
		size_t keep = take;
		if (n + keep > STATS_IMPORT_LINE_MAX) {
			keep = n < STATS_IMPORT_LINE_MAX ? STATS_IMPORT_LINE_MAX - n : 0;
			*too_long = true;
		}
		memcpy(r->line + n, r->buf + r->pos, keep);
		n += keep;
		r->pos += take + (nl ? 1 : 0);
		if (nl) {
			r->line[n] = '\0';
			if (n && r->line[n - 1] == '\r')
				r->line[--n] = '\0';
			return true;
		}
	}
	r->line[n] = '\0';
	if (n && r->line[n - 1] == '\r')
		r->line[--n] = '\0';
	return n > 0 || *too_long;
}

static void human(double b, char *out, size_t outsz)
{
	const char *u[] = { "B", "KB", "MB", "GB", "TB" };
	int i = 0;
	while (b >= 1000 && i < 4) {
		b /= 1000;
		i++;
	}
	snprintf(out, outsz, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

static void show_progress(const char *name, uint64_t done, uint64_t total, uint64_t lines,
			  double secs)
{
	char a[32], b[32];
	human((double)done, a, sizeof a);
	human((double)total, b, sizeof b);
	int pct = total ? (int)(done * 100 / total) : 0;
	if (pct > 100)
		pct = 100;
	char bar[21];
	for (int i = 0; i < 20; i++)
		bar[i] = i < pct / 5 ? '#' : '.';
	bar[20] = '\0';
	fprintf(stderr, "\r\033[K%s [%s] %3d%% %s/%s %llu lines %.0f lines/s", name, bar, pct, a,
		b, (unsigned long long)lines, secs > 0 ? lines / secs : 0.0);
	fflush(stderr);
}

static void iso(time_t t, char *out, size_t outsz)
{
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(out, outsz, "%Y-%m-%dT%H:%M:%S%z", &tm);
}

static enum kind guess(const char *line)
{
	if (!strncmp(line, "#Version:", 9) || !strncmp(line, "#Fields:", 8))
		return K_CLOUDFRONT;
	if (line[0] == '{')
		return K_CLOUDFLARE;
	return K_CLF;
}

static enum rc add_batch(struct importer *im, struct stats_agg *agg, int64_t now,
			 char *err, size_t errsz)
{
	struct stats_batch *b = stats_agg_take(agg, NULL, now);
	if (!b) {
		snprintf(err, errsz, "out of memory");
		return RC_NOMEM;
	}
	enum rc rc = stats_batch_lost(b) ? RC_NOMEM : RC_OK;
	if (rc)
		snprintf(err, errsz, "out of memory");
	else
		rc = stats_db_add(im->db, stats_agg_source(agg), b, err, errsz);
	stats_batch_free(b);
	return rc;
}

#define SHOW_BAD 5

/* Imports one file; returns 0 (imported or already there) or 1. */
static int import_file(struct importer *im, const char *file)
{
	char err[512];
	struct reader r = { 0 };
	struct stat st;
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "prepd stats import: %s: %s\n", file,
			fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return 1;
	}
	r.gz = gzdopen(fd, "rb");
	r.buf = malloc(READ_CHUNK);
	r.line = malloc(STATS_IMPORT_LINE_MAX + 1);
	if (!r.gz || !r.buf || !r.line || gnutls_hash_init(&r.sha, GNUTLS_DIG_SHA256) < 0) {
		fprintf(stderr, "prepd stats import: %s: out of memory\n", file);
		if (r.gz)
			gzclose(r.gz);
		else
			close(fd);
		free(r.buf);
		free(r.line);
		return 1;
	}
	gzbuffer(r.gz, 128 * 1024);
	int ret = 1;
	struct stats_agg *agg = NULL;
	struct stats_db_lookup lk = { im->db, NULL };
	enum kind kind = im->format;
	struct stats_cf_fields cff;
	stats_cf_fields_default(&cff);
	uint64_t lines = 0, bad = 0, lineno = 0;
	int64_t first = INT64_MAX, last = INT64_MIN;
	uint64_t t0 = now_ns(), last_show = 0;
	char *jbuf = malloc(STATS_IMPORT_LINE_MAX + 1);
	bool began = false;
	if (!jbuf) {
		snprintf(err, sizeof err, "out of memory");
		goto fail;
	}
	if (stats_db_begin(im->db, err, sizeof err))
		goto fail;
	began = true;
	bool too_long;
	while (next_line(&r, &too_long)) {
		lineno++;
		char *line = r.line;
		if (!line[0] && !too_long)
			continue;
		if (kind == K_AUTO)
			kind = guess(line);
		if (!agg) {
			lk.source = im->source ? im->source : kind_names[kind];
			agg = stats_agg_new(im->key, lk.source, im->gap, STATS_MAX_SESSIONS,
					    stats_db_lookup, &lk);
			if (!agg) {
				snprintf(err, sizeof err, "out of memory");
				goto fail;
			}
		}
		if (kind == K_CLOUDFRONT && line[0] == '#') {
			if (!strncmp(line, "#Fields:", 8) && !stats_cf_fields_parse(line, &cff)) {
				if (bad++ < SHOW_BAD)
					fprintf(stderr, "%s%s:%llu: a #Fields header without date, time, "
						"c-ip, cs-method, cs-uri-stem and sc-status\n",
						im->progress ? "\r\033[K" : "", file,
						(unsigned long long)lineno);
			}
			continue;
		}
		lines++;
		struct stats_line l;
		char shown[81];
		snprintf(shown, sizeof shown, "%s", line);
		const char *why = too_long ? "line too long" : NULL;
		if (!why) {
			if (kind == K_CLF)
				why = stats_parse_clf(line, &l);
			else if (kind == K_CLOUDFRONT)
				why = stats_parse_cloudfront(line, &cff, &l);
			else
				why = stats_parse_cloudflare(line, jbuf, STATS_IMPORT_LINE_MAX + 1, &l);
		}
		if (why) {
			if (bad++ < SHOW_BAD)
				fprintf(stderr, "%s%s:%llu: %s: %.80s\n", im->progress ? "\r\033[K" : "",
					file, (unsigned long long)lineno, why, shown);
			continue;
		}
		uint8_t addr[16];
		char ref[STATS_REFERRER_BYTES];
		stats_referrer(l.referer, l.host, ref, sizeof ref);
		for (const char *s = im->site; s && *s && ref[0];) {
			char host[256];
			size_t n = strcspn(s, ",");
			if (n < sizeof host) {
				memcpy(host, s, n);
				host[n] = '\0';
				stats_referrer(l.referer, host, ref, sizeof ref);
			}
			s += n + (s[n] == ',');
		}
		struct stats_hit h = {
			.t = l.t, .status = (uint16_t)l.status, .bytes = l.bytes, .https = l.https,
			.page = !strcmp(l.method, "GET") && (l.status == 200 || l.status == 304) &&
				stats_is_page_path(l.path, l.path_len),
			.path = l.path, .path_len = l.path_len,
			.referrer = ref,
			.addr = addr, .addr_len = stats_addr_parse(l.client, addr),
			.ua = l.ua, .ua_len = strlen(l.ua),
		};
		stats_agg_add(agg, &h);
		if (l.t < first)
			first = l.t;
		if (l.t > last)
			last = l.t;
		if (stats_agg_full(agg) || stats_agg_pending(agg) >= STATS_IMPORT_FLUSH_LINES) {
			if (add_batch(im, agg, last, err, sizeof err))
				goto fail;
		}
		if (im->progress && (lines & 1023) == 0) {
			uint64_t now = now_ns();
			if (now - last_show > 200000000ull) {
				show_progress(file, (uint64_t)gzoffset(r.gz), (uint64_t)st.st_size,
					      lines, (now - t0) / 1e9);
				last_show = now;
			}
		}
	}
	int gze = Z_OK;
	const char *gzm = gzerror(r.gz, &gze);
	if (!r.error && gze != Z_OK && gze != Z_STREAM_END) {
		/* gzread() ends a truncated or damaged stream as if at its end;
		 * a part of a file must not be taken for the file. */
		snprintf(err, sizeof err, "the gzip stream is %s after %llu bytes",
			 gze == Z_BUF_ERROR ? "cut short" : gzm, (unsigned long long)r.bytes);
		goto fail;
	}
	if (r.error) {
		int e;
		const char *m = gzerror(r.gz, &e);
		snprintf(err, sizeof err, "cannot read past byte %llu: %s",
			 (unsigned long long)r.bytes, e == Z_ERRNO ? strerror(errno) : m);
		goto fail;
	}
	if (agg && add_batch(im, agg, INT64_MAX, err, sizeof err))
		goto fail;
	unsigned char digest[32];
	gnutls_hash_output(r.sha, digest);
	char sha[65];
	for (int i = 0; i < 32; i++)
		snprintf(sha + 2 * i, 3, "%02x", digest[i]);
	if (im->progress)
		fprintf(stderr, "\r\033[K");
	bool found;
	char prev[256];
	int64_t when;
	if (stats_db_imported(im->db, sha, &found, prev, sizeof prev, &when, err, sizeof err))
		goto fail;
	if (found) {
		stats_db_rollback(im->db);
		began = false;
		char w[40];
		iso((time_t)when, w, sizeof w);
		printf("%s: already imported (as %s, %s), sha256=%s: nothing changed\n", file, prev,
		       w, sha);
		ret = 0;
		goto out;
	}
	if (!lines) {
		stats_db_rollback(im->db);
		began = false;
		printf("%s: no request lines: nothing to import\n", file);
		ret = 0;
		goto out;
	}
	if (lines == bad) {
		/* Not one line read: the wrong --format, or not a log. Kept out
		 * of the import table, so the right command can follow. */
		snprintf(err, sizeof err, "none of its %llu lines reads as %s",
			 (unsigned long long)lines, kind_names[kind]);
		goto fail;
	}
	if (stats_db_import_done(im->db, sha, file, kind_names[kind], lines, bad,
				 first, last, err, sizeof err) ||
	    stats_db_commit(im->db, err, sizeof err))
		goto fail;
	began = false;
	char a[40] = "-", b[40] = "-";
	if (lines > bad) {
		iso((time_t)first, a, sizeof a);
		iso((time_t)last, b, sizeof b);
	}
	printf("%s: imported kind=%s source=%s lines=%llu requests=%llu bad=%llu first=%s "
	       "last=%s sha256=%s seconds=%.1f\n", file, kind_names[kind],
	       im->source ? im->source : kind_names[kind], (unsigned long long)lines,
	       (unsigned long long)(lines - bad), (unsigned long long)bad, a, b, sha,
	       (now_ns() - t0) / 1e9);
	if (bad > SHOW_BAD)
		fprintf(stderr, "%s: %llu bad lines in all (the first %d shown above), not counted\n",
			file, (unsigned long long)bad, SHOW_BAD);
	ret = 0;
	goto out;
fail:
	if (im->progress)
		fprintf(stderr, "\r\033[K");
	fprintf(stderr, "prepd stats import: %s: %s; nothing of this file was imported\n", file,
		err);
out:
	if (began)
		stats_db_rollback(im->db);
	stats_agg_free(agg);
	gnutls_hash_deinit(r.sha, NULL);
	gzclose(r.gz);
	free(r.buf);
	free(r.line);
	free(jbuf);
	return ret;
}

static void import_usage(FILE *out)
{
	fputs("usage: prepd stats import [--format clf|cloudfront|cloudflare] [--source NAME]\n"
	      "                          [--config FILE | --data DIR] [--time-zone ZONE]\n"
	      "                          [--session-gap TIME] [--site HOST,...] FILE...\n"
	      "\n"
	      "Adds web server or CDN logs (plain or .gz) to DATA/stats.db: prepd's own\n"
	      "access log, nginx, Apache or varnishncsa (Combined Log Format), CloudFront\n"
	      "standard logs, Cloudflare Logpush http_requests JSON. The format is guessed\n"
	      "from each file's first line unless --format says. The counts go under\n"
	      "source NAME (default: the format). A file already imported (same SHA-256)\n"
	      "is skipped. Days and 15-minute buckets are in [ingest] time_zone.\n"
	      "--site names the site's own hosts: a Referer naming one is not an\n"
	      "external referrer (CLF logs have no Host to tell).\n", out);
}

/* When root imports into a folder another user owns (the service's),
 * the files it made go to that user, or the server could not write them. */
static void give_to_owner(const char *dir)
{
	struct stat d;
	if (geteuid() != 0 || stat(dir, &d) != 0 || d.st_uid == 0)
		return;
	const char *files[] = { STATS_DB_FILE, STATS_DB_FILE "-wal", STATS_DB_FILE "-shm",
				STATS_KEY_FILE };
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		char p[4200];
		struct stat f;
		snprintf(p, sizeof p, "%s/%s", dir, files[i]);
		if (stat(p, &f) == 0 && f.st_uid == 0 && chown(p, d.st_uid, d.st_gid) != 0)
			fprintf(stderr, "prepd stats import: cannot give %s to uid %u: %s\n", p,
				(unsigned)d.st_uid, strerror(errno));
	}
}

int stats_main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "import")) {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			import_usage(stdout);
			return 0;
		}
		fprintf(stderr, "prepd stats: the command is 'prepd stats import FILE...'\n");
		import_usage(stderr);
		return 2;
	}
	argc--;
	argv++;
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "source", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "data", required_argument, NULL, 'd' },
		{ "time-zone", required_argument, NULL, 'z' },
		{ "session-gap", required_argument, NULL, 'g' },
		{ "site", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct importer im = { 0 };
	const char *config_file = NULL, *data = NULL, *zone = NULL, *gap = NULL;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			im.format = K_AUTO;
			for (int k = K_CLF; k <= K_CLOUDFLARE; k++)
				if (!strcmp(optarg, kind_names[k]))
					im.format = (enum kind)k;
			if (im.format == K_AUTO) {
				fprintf(stderr, "prepd stats import: --format %s: expected clf, "
					"cloudfront or cloudflare\n", optarg);
				return 2;
			}
			break;
		case 's':
			if (!*optarg || strlen(optarg) > 32 ||
			    strspn(optarg, "abcdefghijklmnopqrstuvwxyz0123456789_.-") != strlen(optarg) ||
			    !strcmp(optarg, "live")) {
				fprintf(stderr, "prepd stats import: --source %s: expected up to 32 "
					"of a-z 0-9 _ . - (and not 'live', prepd's own)\n", optarg);
				return 2;
			}
			im.source = optarg;
			break;
		case 'c': config_file = optarg; break;
		case 'd': data = optarg; break;
		case 'z': zone = optarg; break;
		case 'g': gap = optarg; break;
		case 'S': im.site = optarg; break;
		case 'h':
			import_usage(stdout);
			return 0;
		default:
			fprintf(stderr, "prepd stats import: %s: unknown option or missing value\n",
				argv[optind - 1]);
			import_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "prepd stats import: name the log files to import\n");
		import_usage(stderr);
		return 2;
	}
	struct config cfg;
	config_init(&cfg);
	char err[1024];
	int ret = 2;
	if ((config_file && config_load(&cfg, config_file, err, sizeof err)) ||
	    (data && config_set(&cfg, "server", "data", data, NULL, err, sizeof err)) ||
	    (zone && config_set(&cfg, "ingest", "time_zone", zone, NULL, err, sizeof err)) ||
	    (gap && config_set(&cfg, "stats", "session_gap", gap, NULL, err, sizeof err))) {
		fprintf(stderr, "prepd stats import: %s\n", err);
		goto out;
	}
	if (cut_zone_use(cfg.ingest.time_zone, err, sizeof err)) {
		fprintf(stderr, "prepd stats import: time zone: %s\n", err);
		goto out;
	}
	im.gap = cfg.stats.session_gap;
	im.progress = isatty(STDERR_FILENO);
	ret = 1;
	const char *dir = cfg.server.data_dir;
	struct stat ds;
	if (stat(dir, &ds) != 0 || !S_ISDIR(ds.st_mode)) {
		fprintf(stderr, "prepd stats import: data folder %s: %s\n", dir,
			errno ? strerror(errno) : "not a folder");
		goto out;
	}
	enum rc rc = stats_key_load(dir, true, im.key);
	if (rc) {
		fprintf(stderr, "prepd stats import: %s/%s: %s\n", dir, STATS_KEY_FILE,
			rc == RC_FORMAT ? "not a 32-byte key (the visitor hashes' secret)" :
			strerror(errno));
		goto out;
	}
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", dir, STATS_DB_FILE);
	im.db = stats_db_open(path, cfg.ingest.time_zone, err, sizeof err);
	if (!im.db) {
		fprintf(stderr, "prepd stats import: %s: %s\n", path, err);
		goto out;
	}
	/* Another import, or the server's writer (whose transactions last
	 * milliseconds): wait for it rather than fail. */
	stats_db_busy_timeout(im.db, STATS_IMPORT_BUSY_MS);
	give_to_owner(dir);
	ret = 0;
	for (int i = optind; i < argc; i++)
		if (import_file(&im, argv[i]))
			ret = 1;
	stats_db_close(im.db);
	give_to_owner(dir);
out:
	gnutls_memset(im.key, 0, sizeof im.key);
	config_release(&cfg);
	return ret;
}
