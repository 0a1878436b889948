/* The statistics' pure parts, table-driven: log line parsers (CLF,
 * CloudFront, Cloudflare timestamps), referrers, page paths, local
 * buckets across a DST change, the aggregator's sessions and bounds, the
 * database round trip; and the sink's cost per record (printed, not
 * judged). */
#include "server/cut.h"
#include "server/limits.h"
#include "server/stats.h"
#include "server/stats_agg.h"
#include "server/stats_db.h"
#include "server/stats_import.h"
#include "server/util.h"
#include "tests/unit/check.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void test_clf(void)
{
	static const struct {
		const char *line;
		const char *err;      /* NULL: parses */
		long long t;
		const char *client, *method, *path, *ua, *referer;
		unsigned status;
		unsigned long long bytes;
	} cases[] = {
		/* prepd's own, with its extra fields and \xHH escapes */
		{ "192.0.2.1 - - [02/Jun/2024:22:15:03 -0600] \"GET /index.html?x=1 HTTP/1.1\" 200 2756 "
		  "\"https://portal.example/nota\" \"Mozilla/5.0 \\x22quoted\\x22\" 1 20240602_2215 0.004178",
		  NULL, 1717388103, "192.0.2.1", "GET", "/index.html", "Mozilla/5.0 \"quoted\"",
		  "https://portal.example/nota", 200, 2756 },
		/* nginx combined, HEAD, "-" bytes, IPv6 */
		{ "2001:db8::1 - - [30/Oct/2022:01:30:00 -0500] \"HEAD / HTTP/1.1\" 304 - \"-\" \"-\"",
		  NULL, 1667111400, "2001:db8::1", "HEAD", "/", "", "", 304, 0 },
		/* Apache's \" escapes, a user name with a space */
		{ "10.0.0.1 - jo smith [01/Jan/2023:00:00:00 +0000] \"GET /a%20b HTTP/1.0\" 404 12 "
		  "\"-\" \"Agent \\\"x\\\" \\\\ y\"", NULL, 1672531200, "10.0.0.1", "GET", "/a%20b",
		  "Agent \"x\" \\ y", "", 404, 12 },
		/* Common Log Format: no referer, no agent */
		{ "10.0.0.1 - - [01/Jan/2023:00:00:00 +0530] \"GET / HTTP/1.1\" 200 5", NULL,
		  1672511400, "10.0.0.1", "GET", "/", "", "", 200, 5 },
		/* varnishncsa: absolute-form target */
		{ "10.0.0.2 - - [01/Jan/2023:00:00:00 +0000] \"GET http://prep.example/x/?a HTTP/1.1\" 200 5 "
		  "\"-\" \"curl/8\"", NULL, 1672531200, "10.0.0.2", "GET", "/x/", "curl/8", "", 200, 5 },
		/* junk request line: a hit, not a page */
		{ "10.0.0.3 - - [01/Jan/2023:00:00:00 +0000] \"\\x16\\x03\\x01\" 400 0 \"-\" \"-\"", NULL,
		  1672531200, "10.0.0.3", "\x16\x03\x01", "", "", "", 400, 0 },
		{ "garbage", "no client address", 0, NULL, NULL, NULL, NULL, NULL, 0, 0 },
		{ "1.2.3.4 - - [31/Feb/2022:10:00:00 -0500] \"GET / HTTP/1.1\" 200 5", "bad [time]", 0,
		  NULL, NULL, NULL, NULL, NULL, 0, 0 },
		{ "1.2.3.4 - - [01/Foo/2022:10:00:00 -0500] \"GET / HTTP/1.1\" 200 5", "bad [time]", 0,
		  NULL, NULL, NULL, NULL, NULL, 0, 0 },
		{ "1.2.3.4 - - [01/Jan/2022:10:00:00 -0500] \"GET / HTTP/1.1\" 2x0 5", "bad status", 0,
		  NULL, NULL, NULL, NULL, NULL, 0, 0 },
		{ "1.2.3.4 - - [01/Jan/2022:10:00:00 -0500] \"GET / HTTP/1.1 200 5", "the request is not quoted", 0,
		  NULL, NULL, NULL, NULL, NULL, 0, 0 },
		{ "1.2.3.4 - - [01/Jan/2022:10:00:00 -0500] \"GET / HTTP/1.1\" 200 5x", "bad byte count",
		  0, NULL, NULL, NULL, NULL, NULL, 0, 0 },
		{ "1.2.3.4 - - [01/Jan/2022:10:00:00 -0500] \"GET / HTTP/1.1\" 200 5 \"-\" \"unterminated",
		  "the user agent is not quoted", 0, NULL, NULL, NULL, NULL, NULL, 0, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char buf[1024];
		snprintf(buf, sizeof buf, "%s", cases[i].line);
		struct stats_line l;
		const char *err = stats_parse_clf(buf, &l);
		if (cases[i].err) {
			CHECK(err && !strcmp(err, cases[i].err), "clf %zu: want '%s', got '%s'", i,
			      cases[i].err, err ? err : "(parsed)");
			continue;
		}
		CHECK(!err, "clf %zu: %s", i, err);
		if (err)
			continue;
		CHECK(l.t == cases[i].t, "clf %zu: time %lld, want %lld", i, (long long)l.t,
		      cases[i].t);
		CHECK(!strcmp(l.client, cases[i].client), "clf %zu: client '%s'", i, l.client);
		CHECK(!strcmp(l.method, cases[i].method), "clf %zu: method '%s'", i, l.method);
		CHECK(l.path_len == strlen(cases[i].path) && !strncmp(l.path, cases[i].path, l.path_len),
		      "clf %zu: path '%.*s'", i, (int)l.path_len, l.path);
		CHECK(!strcmp(l.ua, cases[i].ua), "clf %zu: ua '%s'", i, l.ua);
		CHECK(!strcmp(l.referer, cases[i].referer), "clf %zu: referer '%s'", i, l.referer);
		CHECK(l.status == cases[i].status, "clf %zu: status %u", i, l.status);
		CHECK(l.bytes == cases[i].bytes, "clf %zu: bytes %llu", i, (unsigned long long)l.bytes);
	}
}

static void test_cloudfront(void)
{
	struct stats_cf_fields f;
	CHECK(stats_cf_fields_parse("#Fields: date time x-edge-location sc-bytes c-ip cs-method "
				    "cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) "
				    "cs-uri-query", &f), "the legacy 12-field header");
	CHECK(f.count == 12 && f.ip == 4 && f.content_len == -1, "fields %d ip %d", f.count, f.ip);
	char line[] = "2022-10-30\t07:30:00\tMEX50-C1\t1500\t192.0.2.5\tGET\td1.cloudfront.net\t"
		      "/presidencia/\t200\thttps://www.portal.mx/a%20b\tMozilla/5.0%20(X11)\t-";
	struct stats_line l;
	const char *err = stats_parse_cloudfront(line, &f, &l);
	CHECK(!err, "cloudfront: %s", err);
	CHECK(l.t == 1667115000, "cloudfront time %lld (UTC)", (long long)l.t);
	CHECK(!strcmp(l.ua, "Mozilla/5.0 (X11)"), "ua URL-decoded: '%s'", l.ua);
	CHECK(!strcmp(l.referer, "https://www.portal.mx/a b"), "referer decoded: '%s'", l.referer);
	CHECK(l.bytes == 1500 && !l.https && !strcmp(l.host, "d1.cloudfront.net"),
	      "sc-bytes without sc-content-len; host from cs(Host)");
	CHECK(!stats_cf_fields_parse("#Fields: date time c-ip", &f), "a header without the status");
	stats_cf_fields_default(&f);
	char short_line[] = "2022-10-30\t07:30:00\tx";
	CHECK(stats_parse_cloudfront(short_line, &f, &l) != NULL, "too few fields");
}

static void test_timestamps(void)
{
	static const struct {
		const char *s;
		bool ok;
		long long t;
	} cases[] = {
		{ "2022-10-30T07:30:00Z", true, 1667115000 },
		{ "2022-10-30T07:30:00.123456789Z", true, 1667115000 },
		{ "2022-10-30T01:30:00-06:00", true, 1667115000 },
		{ "2022-10-30T13:00:00+05:30", true, 1667115000 },
		{ "1667115000", true, 1667115000 },
		{ "1667115000123", true, 1667115000 },
		{ "1667115000123456", true, 1667115000 },
		{ "1667115000123456789", true, 1667115000 },
		{ "2022-10-30 07:30:00Z", true, 1667115000 },
		{ "2022-10-30T07:30:00", false, 0 },
		{ "2022-02-30T07:30:00Z", false, 0 },
		{ "yesterday", false, 0 },
		{ "", false, 0 },
		{ "16671150001234567890", false, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		time_t t = 0;
		bool ok = stats_parse_timestamp(cases[i].s, &t);
		CHECK(ok == cases[i].ok && (!ok || t == cases[i].t), "timestamp '%s': %d %lld",
		      cases[i].s, ok, (long long)t);
	}
	char buf[512];
	struct stats_line l;
	const char *err = stats_parse_cloudflare(
		"{\"EdgeStartTimestamp\":1667115000123456789,\"EdgeResponseStatus\":200,"
		"\"ClientIP\":\"2001:db8::5\",\"ClientRequestURI\":\"/a/b?c=d\","
		"\"ClientRequestMethod\":\"GET\",\"ClientRequestScheme\":\"https\","
		"\"EdgeResponseBytes\":900,\"EdgeResponseBodyBytes\":500}", buf, sizeof buf, &l);
	CHECK(!err && l.t == 1667115000 && l.bytes == 500 && l.https && l.path_len == 4,
	      "cloudflare JSON: %s", err ? err : "");
	CHECK(stats_parse_cloudflare("{\"EdgeResponseStatus\":200}", buf, sizeof buf, &l) != NULL,
	      "cloudflare without a timestamp");
	CHECK(stats_parse_cloudflare("[1]", buf, sizeof buf, &l) != NULL, "not an object");
}

static void test_referrer_page(void)
{
	static const struct {
		const char *ref, *self, *want;
	} refs[] = {
		{ "https://www.Portal.mx/noticias?a=1", NULL, "https://www.portal.mx" },
		{ "http://diario.example.com:8080/x", NULL, "http://diario.example.com" },
		{ "https://user:pw@tv.example.org/", NULL, "https://tv.example.org" },
		{ "https://prep.example.mx/", "prep.example.mx", "" },
		{ "https://PREP.example.mx./x", "prep.example.mx:443", "" },
		{ "https://[2001:db8::1]:8443/", NULL, "https://[2001:db8::1]" },
		{ "android-app://com.x/", NULL, "" },
		{ "-", NULL, "" },
		{ "", NULL, "" },
		{ "https://evil.example\"<script>/", NULL, "" },
	};
	for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
		char out[STATS_REFERRER_BYTES];
		stats_referrer(refs[i].ref, refs[i].self, out, sizeof out);
		CHECK(!strcmp(out, refs[i].want), "referrer '%s': '%s', want '%s'", refs[i].ref, out,
		      refs[i].want);
	}
	static const struct {
		const char *p;
		bool page;
	} pages[] = {
		{ "/", true }, { "/index.html", true }, { "/a.HTM", true }, { "/presidencia/07", true },
		{ "/senado/", true }, { "/data.json", false }, { "/app.3f.js", false },
		{ "/v1.2/x", true }, { "/x.htmlx", false }, { "", false },
	};
	for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++)
		CHECK(stats_is_page_path(pages[i].p, strlen(pages[i].p)) == pages[i].page,
		      "page path '%s'", pages[i].p);
	uint8_t a[16];
	CHECK(stats_addr_parse("192.0.2.1", a) == 4 && a[3] == 1, "IPv4");
	CHECK(stats_addr_parse("::ffff:192.0.2.1", a) == 4 && a[0] == 192, "IPv4-mapped is IPv4");
	CHECK(stats_addr_parse("[2001:db8::1]", a) == 16, "bracketed IPv6");
	CHECK(stats_addr_parse("-", a) == 0 && stats_addr_parse("", a) == 0, "no address");
}

static void test_buckets(void)
{
	/* America/Mexico_City, 2022-10-30: CDT (-5) until 07:00Z, then CST. */
	char day[11];
	/* 04:59:59Z = 23:59:59 CDT on the 29th; 05:00Z = midnight of the 30th */
	int64_t b = stats_bucket15(1667105999, day);
	CHECK(!strcmp(day, "2022-10-29") && b == 1667105100, "before midnight: %s %lld", day,
	      (long long)b);
	b = stats_bucket15(1667106000, day);
	CHECK(!strcmp(day, "2022-10-30") && b == 1667106000, "midnight: %s", day);
	/* 06:59Z (01:59 CDT) and 07:00Z (01:00 CST): the same local hour twice */
	b = stats_bucket15(1667113140, day);
	CHECK(b == 1667112300 && !strcmp(day, "2022-10-30"), "01:45 CDT bucket");
	b = stats_bucket15(1667113200, day);
	CHECK(b == 1667113200, "01:00 CST starts a bucket");
	/* a half-hour zone: buckets still at :00 :15 :30 :45 local */
	(void)b;
}

static unsigned resumed;
static void count_session(void *ctx, const struct stats_session *s)
{
	(void)ctx;
	(void)s;
	resumed++;
}

static void test_agg_db(const char *dir)
{
	uint8_t key[STATS_KEY_BYTES];
	CHECK(stats_key_load(dir, false, key) == RC_NOTFOUND, "no key yet");
	CHECK(stats_key_load(dir, true, key) == RC_OK, "key made");
	uint8_t key2[STATS_KEY_BYTES];
	CHECK(stats_key_load(dir, true, key2) == RC_OK && !memcmp(key, key2, sizeof key),
	      "the key is kept");
	struct stats_agg *a = stats_agg_new(key, "t", 1800, 2, NULL, NULL);
	CHECK(a != NULL, "aggregator");
	uint8_t ip1[4] = { 192, 0, 2, 1 }, ip2[4] = { 192, 0, 2, 2 }, ip3[4] = { 192, 0, 2, 3 };
	struct stats_hit h = { .t = 1667106000, .status = 200, .bytes = 10, .page = true,
			       .path = "/", .path_len = 1, .referrer = "https://a.mx",
			       .addr = ip1, .addr_len = 4, .ua = "u", .ua_len = 1 };
	stats_agg_add(a, &h);
	h.t += 1800;   /* exactly the gap: the same session */
	stats_agg_add(a, &h);
	h.t += 1801;   /* more: a new one */
	stats_agg_add(a, &h);
	h.addr = ip2;
	stats_agg_add(a, &h);
	h.addr = ip3;  /* a third open session with room for 2: the oldest goes */
	stats_agg_add(a, &h);
	CHECK(stats_agg_evicted(a) == 1, "evicted %llu", (unsigned long long)stats_agg_evicted(a));
	struct stats_batch *bt = stats_agg_take(a, NULL, h.t);
	size_t n;
	const struct stats_session *ss = stats_batch_sessions(bt, &n);
	/* ip1's first (closed at the 3rd request), ip1's second (evicted),
	 * ip2's and ip3's (open, changed) */
	CHECK(n == 4, "%zu sessions in the batch", n);
	CHECK(n >= 1 && ss[0].end - ss[0].start == 1800 && ss[0].requests == 2,
	      "a session across exactly the gap");
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, STATS_DB_FILE);
	char err[256];
	struct stats_db *db = stats_db_open(path, "America/Mexico_City", err, sizeof err);
	CHECK(db != NULL, "open: %s", err);
	if (db) {
		CHECK(!stats_db_begin(db, err, sizeof err) &&
		      !stats_db_add(db, "t", bt, err, sizeof err) &&
		      !stats_db_commit(db, err, sizeof err), "write: %s", err);
		CHECK(!stats_db_begin(db, err, sizeof err) &&
		      !stats_db_add(db, "t", bt, err, sizeof err) &&
		      !stats_db_commit(db, err, sizeof err), "write again (adds): %s", err);
		resumed = 0;
		stats_db_sessions(db, "t", h.t - 10, count_session, NULL, err, sizeof err);
		CHECK(resumed == 3, "open sessions read back: %u", resumed);
		struct stats_db_lookup lk = { db, "t" };
		struct stats_session s;
		uint8_t v[STATS_VISITOR_BYTES];
		stats_agg_visitor(a, h.t, ip2, 4, "u", 1, v);
		CHECK(stats_db_lookup(&lk, v, h.t + 1800, 1800, &s) && s.requests == 1,
		      "a stored session is found within the gap");
		CHECK(!stats_db_lookup(&lk, v, h.t + 1801, 1800, &s), "and not past it");
		stats_db_close(db);
	}
	stats_batch_free(bt);
	/* The same address and agent on another local day is another visitor;
	 * IPv4-mapped IPv6 is the IPv4 visitor. */
	uint8_t v1[STATS_VISITOR_BYTES], v2[STATS_VISITOR_BYTES], v3[STATS_VISITOR_BYTES];
	uint8_t mapped[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1 };
	stats_agg_visitor(a, 1667105999, ip1, 4, "u", 1, v1);
	stats_agg_visitor(a, 1667106000, ip1, 4, "u", 1, v2);
	stats_agg_visitor(a, 1667105999, mapped, 16, "u", 1, v3);
	CHECK(memcmp(v1, v2, sizeof v1) != 0, "local midnight makes another visitor");
	CHECK(!memcmp(v1, v3, sizeof v1), "an IPv4-mapped address is its IPv4 visitor");
	stats_agg_free(a);
}

static void test_hit_from_rec(void)
{
	static const struct {
		const char *method, *target, *referer;
		unsigned status, flags;
		bool page;
		const char *path, *ref;
	} cases[] = {
		{ "GET", "/presidencia/07?x=1", "https://Portal.mx/a", 200, REQREC_PAGE, true,
		  "/presidencia/07", "https://portal.mx" },
		{ "GET", "/", "", 304, REQREC_PAGE, true, "/", "" },
		{ "HEAD", "/", "", 200, REQREC_PAGE, false, "/", "" },
		{ "GET", "/index.html", "", 206, REQREC_PAGE, false, "/index.html", "" },
		{ "GET", "/data.json", "http://127.0.0.1:8080/", 200, REQREC_REF_SELF, false,
		  "/data.json", "" },
		{ "GET", "/x.html", "", 404, 0, false, "/x.html", "" },
		{ "GET", "http://prep.example.mx/a/?q", "", 200, REQREC_PAGE, true, "/a/", "" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct reqrec r;
		memset(&r, 0, sizeof r);
		snprintf(r.method, sizeof r.method, "%s", cases[i].method);
		snprintf(r.target, sizeof r.target, "%s", cases[i].target);
		snprintf(r.referer, sizeof r.referer, "%s", cases[i].referer);
		r.status = (uint16_t)cases[i].status;
		r.flags = (uint8_t)(cases[i].flags | REQREC_TLS);
		r.client.family = AF_INET6;
		struct stats_hit h;
		char path[REQREC_TARGET_BYTES], ref[STATS_REFERRER_BYTES];
		stats_hit_from_rec(&r, &h, path, ref);
		CHECK(h.page == cases[i].page, "rec %zu: page %d", i, h.page);
		CHECK(!strcmp(h.path, cases[i].path) && h.path_len == strlen(cases[i].path),
		      "rec %zu: path '%s'", i, h.path);
		CHECK(!strcmp(h.referrer, cases[i].ref), "rec %zu: referrer '%s'", i, h.referrer);
		CHECK(h.https && h.addr_len == 16, "rec %zu: TLS and IPv6", i);
	}
}

/* The sink's work per request (stats_hit_from_rec + stats_agg_add),
 * on realistic records: printed for docs/benchmarks.md, not judged. */
static void measure(unsigned visitors)
{
	uint8_t key[STATS_KEY_BYTES] = { 1 };
	struct stats_agg *a = stats_agg_new(key, "live", 1800, STATS_MAX_SESSIONS, NULL, NULL);
	struct reqrec r;
	memset(&r, 0, sizeof r);
	r.status = 200;
	r.bytes = 5000;
	r.client.family = AF_INET;
	strcpy(r.method, "GET");
	strcpy(r.label, "20240602_2215");
	strcpy(r.ua, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
		     "Gecko) Chrome/120.0.0.0 Safari/537.36");
	strcpy(r.referer, "https://www.portal.mx/elecciones/2024");
	enum { N = 200000 };
	uint64_t t0 = now_ns();
	for (unsigned i = 0; i < N; i++) {
		r.when.tv_sec = 1717380000 + i / 50;
		uint32_t ip = htonl(0xc0000000u + i % visitors);
		memcpy(r.client.addr, &ip, 4);
		snprintf(r.target, sizeof r.target, i % 10 ? "/assets/JSON/P_%u.json?t=%u" :
			 "/presidencia/%u", i % 32, i);
		r.flags = i % 10 ? 0 : REQREC_PAGE;
		struct stats_hit h;
		char path[REQREC_TARGET_BYTES], ref[STATS_REFERRER_BYTES];
		stats_hit_from_rec(&r, &h, path, ref);
		stats_agg_add(a, &h);
		if (stats_agg_full(a) || i % 50000 == 49999)
			stats_batch_free(stats_agg_take(a, NULL, r.when.tv_sec));
	}
	uint64_t ns = now_ns() - t0;
	printf("# stats sink: %.2f us per record (%d records, %u visitors in turn)\n",
	       ns / 1000.0 / N, N, visitors);
	stats_agg_free(a);
}

int main(void)
{
	char err[256];
	if (cut_zone_use("America/Mexico_City", err, sizeof err)) {
		printf("SKIP: %s\n", err);
		return 77;
	}
	char dir[] = "/tmp/test-stats.XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	test_clf();
	test_cloudfront();
	test_timestamps();
	test_referrer_page();
	test_buckets();
	test_hit_from_rec();
	test_agg_db(dir);
	measure(20000);   /* every visitor's hash computed again */
	measure(500);     /* pollers: hashes mostly cached */
	char cmd[64];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return check_done();
}
