#include "check.h"
#include "server/hdr.h"

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
};

int main(void)
{
	for (size_t i = 0; i < sizeof ae / sizeof ae[0]; i++)
		CHECK(hdr_accepts_gzip(ae[i].ae) == ae[i].gzip, "Accept-Encoding '%s'",
		      ae[i].ae ? ae[i].ae : "(null)");
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
