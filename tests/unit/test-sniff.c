/* server/sniff.c: the first bytes of a connection, table-driven. The
 * request-line cases come from RFC 9112 (2.2 empty lines before the
 * request line, 2.3 HTTP-version, 3 request-line, C.1 HTTP/0.9); the TLS
 * ones from RFC 8446 5.1 (TLSPlaintext: content type 22, legacy record
 * version 0x0301-0x0303) and RFC 6101 (SSL 3.0, 0x0300). */
#include "server/sniff.h"
#include "tests/unit/check.h"

#include <string.h>

#define W 64   /* the window in these cases */

static const char *name(enum sniff_verdict v)
{
	static const char *const n[] = { "MORE", "PASS", "TLS_ON_HTTP", "HTTP_ON_TLS", "NOT_HTTP",
					 "NO_TARGET", "HTTP09", "VERSION_BAD", "VERSION_UNSUPPORTED" };
	return (unsigned)v < sizeof n / sizeof n[0] ? n[v] : "?";
}

static void test_http_port(void)
{
	static const struct {
		const char *in;
		size_t len;   /* 0: strlen(in) */
		enum sniff_verdict want;
	} t[] = {
		{ "", 0, SNIFF_MORE },
		{ "G", 0, SNIFF_MORE },
		{ "GET", 0, SNIFF_MORE },
		{ "GET ", 0, SNIFF_MORE },
		{ "GET /index.html HTTP/1.", 0, SNIFF_MORE },
		{ "GET / HTTP/1.1\r\n", 0, SNIFF_PASS },
		{ "GET / HTTP/1.1\n", 0, SNIFF_PASS },
		{ "GET / HTTP/1.1\r", 0, SNIFF_PASS },
		{ "GET / HTTP/1.0\r\n\r\n", 0, SNIFF_PASS },
		{ "HEAD /a?b=c HTTP/1.1\r\nHost: t\r\n\r\n", 0, SNIFF_PASS },
		{ "OPTIONS * HTTP/1.1\r\n", 0, SNIFF_PASS },
		{ "BREW / HTTP/1.1\r\n", 0, SNIFF_PASS },           /* any token: 405 later */
		{ "GET /a b HTTP/1.1\r\n", 0, SNIFF_PASS },         /* space in target: on_head's 400 */
		{ "GET / HTTP/1.9\r\n", 0, SNIFF_PASS },            /* 1.x reads as 1.1 (2.3) */
		{ "\r\nGET / HTTP/1.1\r\n", 0, SNIFF_PASS },        /* 2.2: empty line first */
		{ "\n\r\n\nGET / HTTP/1.1\r\n", 0, SNIFF_PASS },
		{ "\r\n", 0, SNIFF_MORE },
		{ "GET  /  HTTP/1.1\r\n", 0, SNIFF_PASS },          /* libmicrohttpd's spaces */
		/* TLS records */
		{ "\x16\x03\x01\x02\x00\x01", 6, SNIFF_TLS_ON_HTTP },
		{ "\x16\x03\x03", 3, SNIFF_TLS_ON_HTTP },
		{ "\x16\x03\x00", 3, SNIFF_TLS_ON_HTTP },
		{ "\x16\x03\x04", 3, SNIFF_TLS_ON_HTTP },
		{ "\x16", 1, SNIFF_MORE },
		{ "\x16\x03", 2, SNIFF_MORE },
		{ "\x16\x02\x00", 3, SNIFF_NOT_HTTP },
		{ "\x16\x03\x05", 3, SNIFF_NOT_HTTP },
		{ "\r\n\x16\x03\x01", 5, SNIFF_TLS_ON_HTTP },
		/* not HTTP at all */
		{ "\x80\x2e\x01\x03\x01", 5, SNIFF_NOT_HTTP },      /* SSLv2 hello */
		{ "\x00\x00", 2, SNIFF_NOT_HTTP },
		{ " GET / HTTP/1.1\r\n", 0, SNIFF_NOT_HTTP },       /* 3: starts with the method */
		{ "GET\t/ HTTP/1.1\r\n", 0, SNIFF_NOT_HTTP },       /* 3: a single SP */
		{ "G\x01T / HTTP/1.1\r\n", 0, SNIFF_NOT_HTTP },
		{ "SSH-2.0-OpenSSH_9.2\r\n", 0, SNIFF_NO_TARGET },
		/* request lines libmicrohttpd 0.9.75 answers (or drops) itself */
		{ "GET\r\n", 0, SNIFF_NO_TARGET },
		{ "GET\n", 0, SNIFF_NO_TARGET },
		{ "GET \r\n", 0, SNIFF_NO_TARGET },
		{ "GET    \r\n", 0, SNIFF_NO_TARGET },
		{ "GET /\r\n", 0, SNIFF_HTTP09 },
		{ "GET /\n", 0, SNIFF_HTTP09 },
		{ "GET / \r\n", 0, SNIFF_HTTP09 },
		{ "GET /a\rb HTTP/1.1\r\n", 0, SNIFF_HTTP09 },       /* a lone CR ends the line */
		{ "GET / HTTP/1.1 \r\n", 0, SNIFF_VERSION_BAD },
		{ "GET / http/1.1\r\n", 0, SNIFF_VERSION_BAD },      /* 2.3: case-sensitive */
		{ "GET / HTTP/1.10\r\n", 0, SNIFF_VERSION_BAD },
		{ "GET / HTTP/11\r\n", 0, SNIFF_VERSION_BAD },
		{ "GET / HTTP/1\r\n", 0, SNIFF_VERSION_BAD },
		{ "GET / HTTP/a.1\r\n", 0, SNIFF_VERSION_BAD },
		{ "GET / HTTP/1.x\r\n", 0, SNIFF_VERSION_BAD },
		{ "GET / HTTX/1.1\r\n", 0, SNIFF_VERSION_BAD },
		{ "GET / HTTP/2.0\r\n", 0, SNIFF_VERSION_UNSUPPORTED },
		{ "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0, SNIFF_VERSION_UNSUPPORTED },  /* h2c preface */
		{ "GET / HTTP/3.0\r\n", 0, SNIFF_VERSION_UNSUPPORTED },
		{ "GET / HTTP/0.9\r\n", 0, SNIFF_VERSION_UNSUPPORTED },
		{ "GET / HTTP/9.9\r\n", 0, SNIFF_VERSION_UNSUPPORTED },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		size_t n = t[i].len ? t[i].len : strlen(t[i].in);
		struct sniff s;
		sniff_first_bytes(t[i].in, n, W, false, &s);
		CHECK(s.verdict == t[i].want, "http case %zu (%.*s): %s, want %s", i, (int)n, t[i].in,
		      name(s.verdict), name(t[i].want));
		CHECK((sniff_status(s.verdict) != 0) == (*sniff_reason(s.verdict) != '\0'),
		      "http case %zu: status and reason agree", i);
	}
}

static void test_spans(void)
{
	struct sniff s;
	const char *in = "\r\nPOST  /a?b  HTTP/2.0\r\n";
	sniff_first_bytes(in, strlen(in), W, false, &s);
	CHECK(s.verdict == SNIFF_VERSION_UNSUPPORTED, "verdict %s", name(s.verdict));
	CHECK(s.method_len == 4 && !memcmp(s.method, "POST", 4), "method %.*s", (int)s.method_len, s.method);
	CHECK(s.target_len == 5 && !memcmp(s.target, "/a?b ", 5), "target '%.*s'", (int)s.target_len, s.target);
	CHECK(s.version_len == 8 && !memcmp(s.version, "HTTP/2.0", 8), "version %.*s",
	      (int)s.version_len, s.version);
	in = "GET /x \r\n";
	sniff_first_bytes(in, strlen(in), W, false, &s);
	CHECK(s.verdict == SNIFF_HTTP09 && s.target_len == 2 && !memcmp(s.target, "/x", 2),
	      "0.9 target '%.*s'", (int)s.target_len, s.target);
	CHECK(s.version_len == 0, "0.9 has no version");
	in = "\x16\x03\x01";
	sniff_first_bytes(in, 3, W, false, &s);
	CHECK(s.method_len == 0 && s.target_len == 0 && s.method && *s.method == '\0',
	      "TLS: empty spans");
}

static void test_window(void)
{
	/* A request line longer than the window is libmicrohttpd's to judge. */
	char line[W + 16];
	memset(line, 'a', sizeof line);
	memcpy(line, "GET /", 5);
	struct sniff s;
	sniff_first_bytes(line, sizeof line, W, false, &s);
	CHECK(s.verdict == SNIFF_PASS, "long line: %s", name(s.verdict));
	sniff_first_bytes(line, W - 1, W, false, &s);
	CHECK(s.verdict == SNIFF_MORE, "long line, window not full: %s", name(s.verdict));
	/* Only the window is looked at: the verdict cannot depend on bytes
	 * past it. */
	memcpy(line + W - 3, "\r\n", 2);
	sniff_first_bytes(line, sizeof line, W, false, &s);
	CHECK(s.verdict == SNIFF_HTTP09, "line end inside the window: %s", name(s.verdict));
	char crlf[W];
	memset(crlf, '\n', sizeof crlf);
	sniff_first_bytes(crlf, sizeof crlf, W, false, &s);
	CHECK(s.verdict == SNIFF_PASS, "a window of empty lines: %s", name(s.verdict));
	sniff_first_bytes("GET", 3, 3, false, &s);
	CHECK(s.verdict == SNIFF_PASS, "method fills the window: %s", name(s.verdict));
}

static void test_tls_port(void)
{
	static const struct {
		const char *in;
		size_t len;
		enum sniff_verdict want;
	} t[] = {
		{ "", 0, SNIFF_MORE },
		{ "\x16\x03\x01", 3, SNIFF_PASS },
		{ "\x16", 1, SNIFF_PASS },
		{ "\x80\x2e", 2, SNIFF_PASS },
		{ "\x15\x03\x03", 3, SNIFF_PASS },   /* an alert: GnuTLS's to refuse */
		{ "GET / HTTP/1.1\r\n", 16, SNIFF_HTTP_ON_TLS },
		{ "G", 1, SNIFF_HTTP_ON_TLS },
		{ "post", 4, SNIFF_HTTP_ON_TLS },
		{ "\r\nGET", 5, SNIFF_PASS },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct sniff s;
		sniff_first_bytes(t[i].in, t[i].len, W, true, &s);
		CHECK(s.verdict == t[i].want, "tls case %zu: %s, want %s", i, name(s.verdict),
		      name(t[i].want));
	}
}

int main(void)
{
	test_http_port();
	test_spans();
	test_window();
	test_tls_port();
	CHECK(sniff_status(SNIFF_VERSION_UNSUPPORTED) == 505, "505");
	CHECK(sniff_status(SNIFF_HTTP09) == 400, "400");
	CHECK(sniff_status(SNIFF_PASS) == 0 && sniff_status(SNIFF_MORE) == 0, "no status");
	return check_done();
}
