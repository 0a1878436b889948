/* `prepd stats import`: reads web server and CDN logs into DATA/stats.db,
 * the same tables the live statistics fill (server/stats_agg.h), with
 * source = the log's kind or --source:
 *
 *   clf         Combined Log Format: prepd's own access log (with its
 *               extra fields), nginx's "combined", Apache's, varnishncsa's;
 *               plain Common Log Format too (no referer, no user agent)
 *   cloudfront  Amazon CloudFront standard logs (W3C extended, tab-
 *               separated, "#Version:"/"#Fields:" headers, UTC times,
 *               URL-encoded user agent and referer)
 *   cloudflare  Cloudflare Logpush JSON lines of the http_requests dataset
 *               (EdgeStartTimestamp as RFC 3339, Unix seconds, or Unix
 *               milli/micro/nanoseconds)
 *
 * Each file plain or gzip, the kind guessed from its first line unless
 * --format says. A file is one transaction, keyed by the SHA-256 of its
 * (decompressed) bytes in the import table: importing it again changes
 * nothing and says so. A bad line is counted and named (the first few),
 * never fatal. Runs on a stopped server's data folder or beside a running
 * server (SQLite WAL; a busy database is waited for). */
#ifndef PREPD_STATS_IMPORT_H
#define PREPD_STATS_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The fields of one log line the statistics need; the strings point into
 * the line (which the parsers decode in place). */
struct stats_line {
	time_t t;
	const char *method;
	const char *path;        /* without the query */
	size_t path_len;
	unsigned status;
	uint64_t bytes;          /* body bytes */
	bool https;
	const char *client;      /* address as text, "" when unknown */
	const char *ua;          /* "" when absent */
	const char *referer;     /* "" when absent */
	const char *host;        /* the request's Host, "" when unknown */
};

/* Parses one Combined (or Common) Log Format line, in place. Returns NULL
 * or what is wrong (a static string). */
const char *stats_parse_clf(char *line, struct stats_line *out);

/* CloudFront: fields names the columns (the last "#Fields:" header, or
 * NULL for the documented default order); the line is tab-separated. */
struct stats_cf_fields {
	int date, time, ip, method, host, stem, status, referer, ua, bytes, content_len,
		protocol, host_header, count;
};
void stats_cf_fields_default(struct stats_cf_fields *f);
/* Reads a "#Fields: a b c" header line into f; false when it lacks a
 * field the statistics need (date, time, c-ip, cs-method, cs-uri-stem,
 * sc-status). */
bool stats_cf_fields_parse(const char *header, struct stats_cf_fields *f);
const char *stats_parse_cloudfront(char *line, const struct stats_cf_fields *f,
				   struct stats_line *out);

/* Cloudflare Logpush http_requests JSON line. The strings are copied
 * into buf (bufsz bytes). */
const char *stats_parse_cloudflare(const char *line, char *buf, size_t bufsz,
				   struct stats_line *out);

/* The timestamp forms Logpush writes: RFC 3339 with or without
 * fraction and offset, or a number of seconds, milliseconds,
 * microseconds or nanoseconds since 1970 (told apart by size). */
bool stats_parse_timestamp(const char *s, time_t *out);

/* prepd stats import ...: argv[0] is "stats". Returns the exit status. */
int stats_main(int argc, char **argv);

#endif
