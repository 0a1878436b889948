#include "server/sniff.h"

#include <string.h>

/* tchar (RFC 9110 5.6.2): what a method is made of. */
static bool tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void set(struct sniff *out, enum sniff_verdict v)
{
	out->verdict = v;
}

void sniff_first_bytes(const void *data, size_t n, size_t window, bool tls_port,
		       struct sniff *out)
{
	const unsigned char *p = data;
	memset(out, 0, sizeof *out);
	out->method = out->target = out->version = "";
	bool full = n >= window;
	if (full)
		n = window;
	if (n == 0) {
		set(out, full ? SNIFF_PASS : SNIFF_MORE);
		return;
	}
	if (tls_port) {
		/* A TLS record starts with its content type (20-24: a
		 * ClientHello is 22, 0x16) and an SSLv2-compatible hello with
		 * a byte that has its high bit set; an HTTP request starts with
		 * a method, whose registered names are all ASCII letters. The
		 * rest is left to GnuTLS, which refuses it. */
		unsigned char c = p[0];
		bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
		set(out, letter ? SNIFF_HTTP_ON_TLS : SNIFF_PASS);
		return;
	}

	/* RFC 9112 2.2: empty lines before the request line are ignored
	 * (libmicrohttpd 0.9.75 skips them too). */
	size_t i = 0;
	while (i < n && (p[i] == '\r' || p[i] == '\n'))
		i++;
	if (i == n) {
		set(out, full ? SNIFF_PASS : SNIFF_MORE);
		return;
	}
	if (p[i] == 0x16) {
		/* A TLS record: content type 22 (handshake), then the record
		 * version 3.0-3.4 (SSL 3.0 to TLS 1.3's 3.1/3.3). */
		if (n - i < 3) {
			set(out, SNIFF_MORE);
			return;
		}
		set(out, p[i + 1] == 3 && p[i + 2] <= 4 ? SNIFF_TLS_ON_HTTP : SNIFF_NOT_HTTP);
		return;
	}
	/* The method: a token, then a space (RFC 9112 3). */
	size_t m = i;
	while (m < n && tchar(p[m]))
		m++;
	if (m == i) {
		set(out, SNIFF_NOT_HTTP);
		return;
	}
	if (m == n) {
		set(out, full ? SNIFF_PASS : SNIFF_MORE);
		return;
	}
	if (p[m] != ' ' && p[m] != '\r' && p[m] != '\n') {
		set(out, SNIFF_NOT_HTTP);
		return;
	}
	/* libmicrohttpd 0.9.75 ends a line at the first CR or LF. */
	size_t eol = m;
	while (eol < n && p[eol] != '\r' && p[eol] != '\n')
		eol++;
	if (eol == n) {
		set(out, full ? SNIFF_PASS : SNIFF_MORE);
		return;
	}
	out->method = (const char *)p + i;
	out->method_len = m - i;
	/* The target runs from after the spaces that follow the method to
	 * the last space of the line, trailing spaces skipped to find it,
	 * as libmicrohttpd 0.9.75 takes it (spaces inside the target are
	 * on_head()'s to refuse). */
	size_t t = m;
	while (t < eol && p[t] == ' ')
		t++;
	if (t == eol) {
		set(out, SNIFF_NO_TARGET);
		return;
	}
	size_t sp = eol;
	while (sp > t && p[sp - 1] == ' ')
		sp--;
	while (sp > t && p[sp - 1] != ' ')
		sp--;
	if (sp == t) {
		/* No space after the target: "GET /" (or "GET / ") */
		out->target = (const char *)p + t;
		out->target_len = eol - t;
		while (out->target_len && out->target[out->target_len - 1] == ' ')
			out->target_len--;
		set(out, SNIFF_HTTP09);
		return;
	}
	out->target = (const char *)p + t;
	out->target_len = sp - 1 - t;
	out->version = (const char *)p + sp;
	out->version_len = eol - sp;
	const unsigned char *v = p + sp;
	/* HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112
	 * 2.3); trailing spaces make it another string, as they do for
	 * libmicrohttpd 0.9.75. */
	if (eol - sp != 8 || memcmp(v, "HTTP/", 5) || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
	    v[7] < '0' || v[7] > '9') {
		set(out, SNIFF_VERSION_BAD);
		return;
	}
	/* 1.0, 1.1, and 1.2-1.9 read as 1.1 (RFC 9112 2.3: a minor version
	 * this server does not know is the highest it does). */
	set(out, v[5] == '1' ? SNIFF_PASS : SNIFF_VERSION_UNSUPPORTED);
}

const char *sniff_reason(enum sniff_verdict v)
{
	switch (v) {
	case SNIFF_TLS_ON_HTTP:
		return "this is the HTTP port and a TLS handshake came to it; use https://";
	case SNIFF_HTTP_ON_TLS:
		return "this is the HTTPS port and a plain HTTP request came to it; use https://";
	case SNIFF_NOT_HTTP:
		return "this is an HTTP port and the connection did not start with an HTTP request";
	case SNIFF_NO_TARGET:
		return "the request line has no target";
	case SNIFF_HTTP09:
		return "the request line has no HTTP version (HTTP/0.9 is not served); "
		       "send an HTTP/1.1 request";
	case SNIFF_VERSION_BAD:
		return "the request line does not end in an HTTP version such as HTTP/1.1";
	case SNIFF_VERSION_UNSUPPORTED:
		return "this server speaks HTTP/1.1 and HTTP/1.0";
	case SNIFF_MORE:
	case SNIFF_PASS:
		break;
	}
	return "";
}

unsigned sniff_status(enum sniff_verdict v)
{
	switch (v) {
	case SNIFF_MORE:
	case SNIFF_PASS:
		return 0;
	case SNIFF_VERSION_UNSUPPORTED:
		return 505;
	default:
		return 400;
	}
}
