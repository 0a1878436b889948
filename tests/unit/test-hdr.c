#include "check.h"
#include "server/hdr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *ae;
	bool gzip;
} ae[] = {
	{ NULL, false }, { "", false }, { "gzip", true }, { "GZIP", true },
	{ "gzip, deflate, br", true }, { "br;q=1.0, gzip;q=0.8, *;q=0.1", true },
	{ "deflate, br", false }, { "gzip;q=0", false }, { "gzip;q=0.000", false },
	{ "gzip; q=0.001", true }, { "*", true }, { "*;q=0", false },
	{ "gzip;q=0, *", false }, { "x-gzip", true }, { "identity", false },
	{ "gzipx", false }, { "br, gzip ;q=0.5", true },
	/* An element ending in ';' (the "identity;"): the parser
	 * must stop at the end of the value. */
	{ "identity;", false }, { "identity; ", false }, { "gzip;", true },
	{ "gzip;q", true }, { "gzip;q=", true }, { "gzip; q=0;", false },
	{ "*;", true }, { ";", false }, { ";;;", false }, { ",;,", false },
	{ "identity;,gzip", true }, { "gzip;foo=bar;q=0", false },
	{ "gzip;q=0.", false }, { "gzip;q=1.5", true }, { "gzip;q=2", true },
};

/* The value is followed, in memory, by what would flip the answer if the
 * parser read past its NUL: the next header "X,gzip" as libmicrohttpd
 * 0.9.75 lays it out after a bare-LF line end. */
static const char oob_identity[] = "identity;\0X,gzip: 1";
static const char oob_star[] = "*;q=0;\0,gzip";
static const char oob_semi[] = ";\0,gzip";

static const struct {
	const char *s;
	size_t n;
	bool ok;
} hosts[] = {
	{ "a", 1, true }, { "prep.ine.mx", 11, true }, { "prep.ine.mx:443", 15, true },
	{ "127.0.0.1:8080", 14, true }, { "[::1]", 5, true }, { "[::1]:80", 8, true },
	{ "a:", 2, true }, { "xn--len-sqa.mx", 14, true }, { "a%41", 4, true },
	{ "", 0, false }, { ":80", 3, false }, { "a b", 3, false }, { "a/b", 3, false },
	{ "a@b", 3, false }, { "a:http", 6, false }, { "a:65536", 7, false },
	{ "a:123456", 8, false }, { "[::1", 4, false }, { "[]", 2, false },
	{ "[::1]x", 6, false }, { "a\tb", 3, false }, { "a\rb", 3, false },
	{ "a\"b", 3, false }, { "a\x80", 2, false }, { "a:1:2", 5, false },
};

static const struct {
	const char *v;
	bool ok;
	uint64_t n;
} cls[] = {
	{ "0", true, 0 }, { "5", true, 5 }, { "5 ", true, 5 }, { "007", true, 7 },
	{ "18446744073709551615", true, UINT64_MAX },
	{ "18446744073709551616", false, 0 }, { "99999999999999999999999", false, 0 },
	{ "", false, 0 }, { " 5", false, 0 }, { "+5", false, 0 }, { "-1", false, 0 },
	{ "5, 5", false, 0 }, { "5,5", false, 0 }, { "0x10", false, 0 }, { "5a", false, 0 },
};

static const struct {
	const char *lines[3];
	enum hdr_te_result r;
} tes[] = {
	{ { "chunked" }, HDR_TE_CHUNKED }, { { "Chunked" }, HDR_TE_CHUNKED },
	{ { "gzip, chunked" }, HDR_TE_CHUNKED }, { { "gzip", "chunked" }, HDR_TE_CHUNKED },
	{ { "chunked," }, HDR_TE_CHUNKED }, { { ", chunked" }, HDR_TE_CHUNKED },
	{ { "xchunked" }, HDR_TE_UNKNOWN }, { { "identity" }, HDR_TE_UNKNOWN },
	{ { "gzip, foo, chunked" }, HDR_TE_UNKNOWN }, { { "chunkedx" }, HDR_TE_UNKNOWN },
	{ { "chunked, identity" }, HDR_TE_BAD }, { { "chunked", "gzip" }, HDR_TE_BAD },
	{ { "chunked, chunked" }, HDR_TE_BAD }, { { "chunked", "chunked" }, HDR_TE_BAD },
	{ { "gzip" }, HDR_TE_BAD }, { { "" }, HDR_TE_BAD }, { { "chunked;a=b" }, HDR_TE_BAD },
	{ { NULL }, HDR_TE_NONE },
};

static const struct {
	const char *t;
	enum hdr_target form;
	const char *path;
} targets[] = {
	{ "/", HDR_TARGET_ORIGIN, "/" }, { "/a/b", HDR_TARGET_ORIGIN, "/a/b" },
	{ "http://h/x", HDR_TARGET_ABSOLUTE, "/x" }, { "HTTP://h:80/x/y", HDR_TARGET_ABSOLUTE, "/x/y" },
	{ "https://[::1]:8443/", HDR_TARGET_ABSOLUTE, "/" }, { "http://h", HDR_TARGET_ABSOLUTE, "/" },
	{ "http://h?x", HDR_TARGET_ABSOLUTE, "/" },
	{ "http://", HDR_TARGET_BAD, NULL }, { "http:///x", HDR_TARGET_BAD, NULL },
	{ "http://u@h/x", HDR_TARGET_BAD, NULL }, { "ftp://h/x", HDR_TARGET_BAD, NULL },
	{ "h:80", HDR_TARGET_BAD, NULL }, { "*", HDR_TARGET_BAD, NULL }, { "x", HDR_TARGET_BAD, NULL },
	{ "", HDR_TARGET_BAD, NULL }, { "http:/h/x", HDR_TARGET_BAD, NULL },
};

static const struct {
	const char *inm, *etag;
	bool match;
} inm[] = {
	{ "\"abc\"", "\"abc\"", true },
	{ "W/\"abc\"", "\"abc\"", true },
	{ "\"x\", \"abc\"", "\"abc\"", true },
	{ "\"x\",W/\"abc\"", "\"abc\"", true },
	{ "*", "\"abc\"", true },
	{ "\"abcd\"", "\"abc\"", false },
	{ "\"ab\"", "\"abc\"", false },
	{ "abc", "\"abc\"", false },
	{ "", "\"abc\"", false },
	{ NULL, "\"abc\"", false },
	{ "\"abc", "\"abc\"", false },
};

static const struct {
	const char *s;
	bool ok;
	time_t t;
} dates[] = {
	{ "Sun, 06 Nov 1994 08:49:37 GMT", true, 784111777 },
	{ "Sunday, 06-Nov-94 08:49:37 GMT", true, 784111777 },
	{ "Sun Nov  6 08:49:37 1994", true, 784111777 },
	{ "Sun, 02 Jun 2024 22:15:00 GMT", true, 1717366500 },
	{ "Sun, 06 Nov 1994 08:49:37 UTC", false, 0 },
	{ "Sun, 06 Foo 1994 08:49:37 GMT", false, 0 },
	{ "Sun, 32 Nov 1994 08:49:37 GMT", false, 0 },
	{ "Sun, 06 Nov 1994 25:49:37 GMT", false, 0 },
	{ "yesterday", false, 0 },
	{ "", false, 0 },
	{ NULL, false, 0 },
	{ "Sun, 06 Nov 1994 08:49:37 GMT trailing", false, 0 },
	{ "Sun, 06 Nov 1994 -1:49:37 GMT", false, 0 },
	{ "Sun, 06 Nov 1994 08:-1:37 GMT", false, 0 },
	{ "Sun, 06 Nov 1994 08:49:-1 GMT", false, 0 },
};

int main(void)
{
	for (size_t i = 0; i < sizeof ae / sizeof ae[0]; i++) {
		/* A copy of exactly the string's size, so that AddressSanitizer
		 * sees a read past its end. */
		char *v = ae[i].ae ? strdup(ae[i].ae) : NULL;
		CHECK(hdr_accepts_gzip(v) == ae[i].gzip, "Accept-Encoding '%s'",
		      ae[i].ae ? ae[i].ae : "(null)");
		free(v);
	}
	CHECK(!hdr_accepts_gzip(oob_identity), "'identity;' then a header named X,gzip");
	CHECK(!hdr_accepts_gzip(oob_star), "'*;q=0;' then ',gzip' in memory");
	CHECK(!hdr_accepts_gzip(oob_semi), "';' then ',gzip' in memory");
	for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
		char *v = malloc(hosts[i].n + 1);
		memcpy(v, hosts[i].s, hosts[i].n + 1);
		CHECK(hdr_host_valid(v, hosts[i].n) == hosts[i].ok, "Host '%s'", hosts[i].s);
		free(v);
	}
	CHECK(!hdr_host_valid(NULL, 0), "Host NULL");
	for (size_t i = 0; i < sizeof cls / sizeof cls[0]; i++) {
		uint64_t n = 12345;
		bool ok = hdr_content_length(cls[i].v, &n);
		CHECK(ok == cls[i].ok && (!ok || n == cls[i].n), "Content-Length '%s'", cls[i].v);
	}
	CHECK(!hdr_content_length(NULL, &(uint64_t){ 0 }), "Content-Length NULL");
	for (size_t i = 0; i < sizeof tes / sizeof tes[0]; i++) {
		struct hdr_te t = { 0 };
		for (int k = 0; k < 3 && tes[i].lines[k]; k++) {
			char *v = strdup(tes[i].lines[k]);
			hdr_te_add(&t, v);
			free(v);
		}
		CHECK(hdr_te_result(&t) == tes[i].r, "Transfer-Encoding '%s' '%s': %d",
		      tes[i].lines[0] ? tes[i].lines[0] : "(none)",
		      tes[i].lines[1] ? tes[i].lines[1] : "", hdr_te_result(&t));
	}
	for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
		const char *path = NULL;
		char *v = strdup(targets[i].t);
		enum hdr_target f = hdr_target_parse(v, &path);
		CHECK(f == targets[i].form, "target '%s': form %d", targets[i].t, f);
		if (f != HDR_TARGET_BAD)
			CHECK(!strcmp(path, targets[i].path), "target '%s': path '%s'", targets[i].t, path);
		free(v);
	}
	CHECK(hdr_target_bytes_ok("/a?b=c%20d"), "target bytes");
	CHECK(!hdr_target_bytes_ok("/a b"), "space in target");
	CHECK(!hdr_target_bytes_ok("/a\rb"), "CR in target");
	CHECK(!hdr_target_bytes_ok("/a\x7f"), "DEL in target");
	CHECK(!hdr_target_bytes_ok(""), "empty target");
	CHECK(hdr_etag_match_strong("\"abc\"", "\"abc\""), "If-Match strong");
	CHECK(!hdr_etag_match_strong("W/\"abc\"", "\"abc\""), "If-Match: a weak tag never matches");
	CHECK(hdr_etag_match_strong("W/\"abc\", \"abc\"", "\"abc\""), "If-Match list");
	CHECK(hdr_etag_match_strong("*", "\"abc\""), "If-Match *");
	CHECK(!hdr_etag_match_strong("\"x\"", "\"abc\""), "If-Match other");
	for (size_t i = 0; i < sizeof inm / sizeof inm[0]; i++)
		CHECK(hdr_etag_match(inm[i].inm, inm[i].etag) == inm[i].match,
		      "If-None-Match '%s' vs %s", inm[i].inm ? inm[i].inm : "(null)", inm[i].etag);
	for (size_t i = 0; i < sizeof dates / sizeof dates[0]; i++) {
		time_t t = 0;
		bool ok = hdr_date_parse(dates[i].s, &t);
		CHECK(ok == dates[i].ok, "date '%s': ok %d", dates[i].s ? dates[i].s : "(null)", ok);
		if (ok && dates[i].ok)
			CHECK(t == dates[i].t, "date '%s': %lld", dates[i].s, (long long)t);
	}
	char buf[40];
	hdr_date_format(784111777, buf, sizeof buf);
	CHECK(!strcmp(buf, "Sun, 06 Nov 1994 08:49:37 GMT"), "format: %s", buf);
	time_t back;
	CHECK(hdr_date_parse(buf, &back) && back == 784111777, "round trip");

	CHECK(hdr_name_valid("Cache-Control"), "token");
	CHECK(hdr_name_valid("X-Custom_1"), "token with _");
	CHECK(!hdr_name_valid("Bad Header"), "space");
	CHECK(!hdr_name_valid("Bad:Header"), "colon");
	CHECK(!hdr_name_valid(""), "empty");
	CHECK(hdr_value_valid("public, max-age=10"), "value");
	CHECK(hdr_value_valid("frame-ancestors 'self' https://a.mx"), "csp value");
	CHECK(!hdr_value_valid("a\r\nSet-Cookie: x"), "header injection");
	CHECK(!hdr_value_valid("a\nb"), "LF");
	return check_done();
}
