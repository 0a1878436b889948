/* server/tls.c's pure parts, table-driven: certificate name matching (RFC
 * 6125 6.4.3: exact names without case, a wildcard as the whole left-most
 * label covering exactly one label), the Strict-Transport-Security value
 * check (RFC 6797 6.1 and 6.1.1) and the [tls] certs list split. */
#include "server/tls.h"
#include "tests/unit/check.h"

#include <string.h>

static void test_name_matches(void)
{
	static const struct { const char *pattern, *host; bool want; } t[] = {
		{ "prep.example.mx", "prep.example.mx", true },
		{ "prep.example.mx", "PREP.Example.MX", true },
		{ "prep.example.mx", "prep.example.mx.", true },     /* a trailing dot */
		{ "prep.example.mx", "prep.example.mx..", false },
		{ "prep.example.mx", "prep.example.m", false },
		{ "prep.example.mx", "xprep.example.mx", false },
		{ "prep.example.mx", "", false },
		{ "prep.example.mx", ".", false },
		{ "*.example.mx", "prep.example.mx", true },
		{ "*.example.mx", "PREP.EXAMPLE.MX", true },
		{ "*.example.mx", "prep.example.mx.", true },
		{ "*.example.mx", "example.mx", false },              /* not its parent */
		{ "*.example.mx", ".example.mx", false },             /* an empty label */
		{ "*.example.mx", "a.b.example.mx", false },          /* one label only */
		{ "*.example.mx", "prepexample.mx", false },
		{ "*.example.mx", "*.example.mx", false },            /* no '*' in a host */
		{ "*.mx", "example.mx", false },                      /* two labels after */
		{ "*.", "a.", false },
		{ "*", "a", false },
		{ "p*.example.mx", "prep.example.mx", false },        /* partial labels: no */
		{ "*.*.example.mx", "a.b.example.mx", false },
		{ "*example.mx", "prep.example.mx", false },
		{ "*.example.mx.", "prep.example.mx", false },
		{ "a.*.example.mx", "a.b.example.mx", false },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		CHECK(tls_name_matches(t[i].pattern, t[i].host) == t[i].want,
		      "'%s' against '%s': want %d", t[i].pattern, t[i].host, t[i].want);
	/* The longest DNS name matches; one byte more cannot be a name. */
	char host[300], pat[300];
	memset(host, 'a', sizeof host);
	memcpy(host + 249, ".mx", 4);   /* 252 bytes */
	CHECK(tls_name_matches(host, host), "a 252-byte name");
	memset(host, 'a', sizeof host);
	memcpy(host + 251, ".mx", 4);   /* 254 bytes */
	memcpy(pat, host, sizeof host);
	CHECK(!tls_name_matches(pat, host), "a 254-byte name is no DNS name");
}

static void test_hsts(void)
{
	static const struct { const char *v; bool want; const char *why; } t[] = {
		{ "max-age=31536000", true, NULL },
		{ "max-age=0", true, NULL },                         /* 6.1.1: tells the UA to forget */
		{ "max-age=31536000; includeSubDomains", true, NULL },
		{ "max-age=31536000; includeSubDomains; preload", true, NULL },
		{ "MAX-AGE=600;INCLUDESUBDOMAINS", true, NULL },       /* names without case */
		{ "includeSubDomains; max-age=600", true, NULL },      /* any order */
		{ "max-age=\"600\"", true, NULL },                    /* quoted-string */
		{ " max-age = 600 ; preload ", true, NULL },          /* optional whitespace */
		{ "max-age=600;;preload", true, NULL },               /* an empty directive */
		{ "max-age=600;", true, NULL },
		{ "", false, "max-age is required" },
		{ "includeSubDomains", false, "max-age is required" },
		{ "max-age", false, "max-age needs a number" },
		{ "max-age=", false, "max-age needs a number" },
		{ "max-age=-1", false, "max-age needs a number" },
		{ "max-age=1e6", false, "max-age needs a number" },
		{ "max-age=12345678901", false, "max-age needs a number" },
		{ "max-age=\"600", false, "unterminated" },
		{ "max-age=\"\"", false, "max-age needs a number" },
		{ "max-age=1; max-age=2", false, "max-age twice" },
		{ "max-age=1; preload; Preload", false, "twice" },
		{ "max-age=1; includeSubDomains=1", false, "takes no value" },
		{ "max-age=1; report-uri=\"x\"", false, "unknown directive" },
		{ "max-age=1, includeSubDomains", false, "expected ';'" },
		{ "max-age=1,", false, "max-age needs a number" },
		{ "max-age=1 includeSubDomains", false, "expected ';'" },
		{ "=1; max-age=1", false, "no directive name" },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		char why[160] = "";
		bool got = tls_hsts_check(t[i].v, why, sizeof why);
		CHECK(got == t[i].want, "'%s': want %d (%s)", t[i].v, t[i].want, why);
		if (!t[i].want)
			CHECK(strstr(why, t[i].why) != NULL, "'%s': why '%s', want '%s'", t[i].v, why,
			      t[i].why);
	}
}

static void test_split(void)
{
	char buf[128];
	const char *f[4];
	CHECK(tls_split_list("a b\tc\n d  ", buf, sizeof buf, f, 4) == 4, "four files");
	CHECK(!strcmp(f[0], "a") && !strcmp(f[1], "b") && !strcmp(f[2], "c") && !strcmp(f[3], "d"),
	      "split at any whitespace");
	CHECK(tls_split_list("a b c d e f", buf, sizeof buf, f, 4) == 6, "counts past max");
	CHECK(!strcmp(f[3], "d"), "keeps the first max");
	CHECK(tls_split_list("", buf, sizeof buf, f, 4) == 0, "empty");
	CHECK(tls_split_list("   ", buf, sizeof buf, f, 4) == 0, "blank");
	CHECK(tls_split_list(NULL, buf, sizeof buf, f, 4) == 0, "NULL");
	CHECK(tls_split_list("abc", buf, 3, f, 4) == 0, "a buffer too small splits nothing");
}

int main(void)
{
	test_name_matches();
	test_hsts();
	test_split();
	return check_done();
}
