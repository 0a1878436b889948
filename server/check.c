#include "server/check.h"

#include "server/limits.h"
#include "server/util.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <gnutls/gnutls.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* One header's value, from the last response only (after redirects). */
struct value {
	char s[CHECK_MAX_VALUE_BYTES];
	size_t len;
	bool set, cut_short;
};

/* What the transfer saw of the last response. */
struct seen {
	CURL *c;
	struct value cut, cache_control, etag, last_modified, xfo, csp;
	char tls[32];         /* "TLS1.3", or "" when the connection is plain */
	char *body;           /* CHECK_MAX_BODY_BYTES, allocated on first use */
	size_t body_len;
	bool body_full;       /* stopped reading at CHECK_MAX_BODY_BYTES */
	bool nomem;
};

static void usage_hint(void)
{
	fputs("usage: prepd check URL [--ca FILE] [--timeout SECONDS]\n", stderr);
}

/* Keeps a header's value; a repeated header is joined with ", ", which
 * HTTP defines as the same thing (and CSP reads as one more policy). */
static void value_add(struct value *v, const char *s, size_t len)
{
	if (v->set && v->len + 2 < sizeof v->s) {
		memcpy(v->s + v->len, ", ", 2);
		v->len += 2;
	}
	size_t room = sizeof v->s - 1 - v->len;
	if (len > room) {
		len = room;
		v->cut_short = true;
	}
	memcpy(v->s + v->len, s, len);
	v->len += len;
	v->s[v->len] = '\0';
	v->set = true;
}

/* The TLS version of the connection the current response came on, read
 * while the transfer runs: after it, libcurl may have closed the
 * connection and the session is gone. */
static void note_tls(struct seen *s)
{
	s->tls[0] = '\0';
	const struct curl_tlssessioninfo *ti = NULL;
	if (curl_easy_getinfo(s->c, CURLINFO_TLS_SSL_PTR, &ti) != CURLE_OK || !ti || !ti->internals)
		return;   /* plain HTTP: no TLS layer on this connection */
	const char *name = NULL;
	if (ti->backend == CURLSSLBACKEND_GNUTLS)
		name = gnutls_protocol_get_name(
			gnutls_protocol_get_version((gnutls_session_t)ti->internals));
	snprintf(s->tls, sizeof s->tls, "%s", name ? name : "unknown");
}

static size_t on_header(char *data, size_t size, size_t n, void *userp)
{
	struct seen *s = userp;
	size_t len = size * n;
	if (len >= 5 && !strncmp(data, "HTTP/", 5)) {
		/* A new response (after a redirect): only the last one counts. */
		struct value *vals[] = { &s->cut, &s->cache_control, &s->etag, &s->last_modified,
					 &s->xfo, &s->csp };
		for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
			vals[i]->len = 0;
			vals[i]->set = vals[i]->cut_short = false;
			vals[i]->s[0] = '\0';
		}
		s->body_len = 0;
		s->body_full = false;
		note_tls(s);
		return len;
	}
	const char *colon = memchr(data, ':', len);
	if (!colon)
		return len;
	size_t name_len = (size_t)(colon - data);
	const char *v = colon + 1, *end = data + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	static const struct {
		const char *name;
		size_t off;
	} wanted[] = {
		{ "X-PREP-Cut", offsetof(struct seen, cut) },
		{ "Cache-Control", offsetof(struct seen, cache_control) },
		{ "ETag", offsetof(struct seen, etag) },
		{ "Last-Modified", offsetof(struct seen, last_modified) },
		{ "X-Frame-Options", offsetof(struct seen, xfo) },
		{ "Content-Security-Policy", offsetof(struct seen, csp) },
	};
	for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
		if (strlen(wanted[i].name) == name_len && !strncasecmp(data, wanted[i].name, name_len)) {
			value_add((struct value *)((char *)s + wanted[i].off), v, (size_t)(end - v));
			break;
		}
	}
	return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *userp)
{
	struct seen *s = userp;
	size_t len = size * n;
	if (!s->body && !(s->body = malloc(CHECK_MAX_BODY_BYTES))) {
		s->nomem = true;
		return 0;
	}
	size_t take = CHECK_MAX_BODY_BYTES - s->body_len;
	if (take > len)
		take = len;
	memcpy(s->body + s->body_len, data, take);
	s->body_len += take;
	if (take < len) {
		s->body_full = true;   /* enough read: stop the transfer here */
		return 0;
	}
	return len;
}

/* True if the HTML in p[0..n) has a <base tag: "<base" in any case,
 * followed by whitespace or '>' (so <basefont> does not count). The
 * portal does no more than this, so neither do we. */
static bool has_base_tag(const char *p, size_t n)
{
	for (size_t i = 0; i + 5 < n; i++) {
		if (p[i] != '<' || strncasecmp(p + i + 1, "base", 4))
			continue;
		char c = p[i + 5];
		if (c == '>' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f')
			return true;
	}
	return false;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* Whether another origin may frame the page, from X-Frame-Options and
 * every Content-Security-Policy frame-ancestors directive. Returns "yes"
 * with the allowed sources in detail, or "no"/"unknown" with why. */
static const char *frame_verdict(const struct seen *s, char *detail, size_t dsz)
{
	detail[0] = '\0';
	if (s->xfo.set) {
		/* Repeated headers were joined with ", ": any DENY or
		 * SAMEORIGIN blocks (ALLOW-FROM is obsolete and ignored). */
		char tmp[CHECK_MAX_VALUE_BYTES];
		snprintf(tmp, sizeof tmp, "%s", s->xfo.s);
		char *save = NULL;
		for (char *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			while (is_space(*t))
				t++;
			size_t tl = strlen(t);
			while (tl && is_space(t[tl - 1]))
				t[--tl] = '\0';
			if (!strcasecmp(t, "DENY") || !strcasecmp(t, "SAMEORIGIN")) {
				snprintf(detail, dsz, "X-Frame-Options: %s", t);
				return "no";
			}
		}
	}
	if (!s->csp.set) {
		snprintf(detail, dsz, "*");
		return "yes";
	}
	if (s->csp.cut_short) {
		snprintf(detail, dsz, "Content-Security-Policy longer than %u bytes, not read whole",
			 CHECK_MAX_VALUE_BYTES);
		return "unknown";
	}
	/* A comma separates policies, a semicolon directives; every policy
	 * must allow framing, and only a policy's first frame-ancestors
	 * counts (CSP 3). */
	char tmp[CHECK_MAX_VALUE_BYTES];
	snprintf(tmp, sizeof tmp, "%s", s->csp.s);
	size_t dlen = 0;
	bool any = false;
	char *psave = NULL;
	for (char *pol = strtok_r(tmp, ",", &psave); pol; pol = strtok_r(NULL, ",", &psave)) {
		char *dsave = NULL;
		for (char *dir = strtok_r(pol, ";", &dsave); dir; dir = strtok_r(NULL, ";", &dsave)) {
			while (is_space(*dir))
				dir++;
			if (strncasecmp(dir, "frame-ancestors", 15) || (dir[15] && !is_space(dir[15])))
				continue;
			char *src = dir + 15;
			while (is_space(*src))
				src++;
			size_t sl = strlen(src);
			while (sl && is_space(src[sl - 1]))
				src[--sl] = '\0';
			/* Anything but 'self' and 'none' lets some other origin in:
			 * '*', a scheme such as https:, or a host. */
			bool others = false;
			char list[CHECK_MAX_VALUE_BYTES];
			snprintf(list, sizeof list, "%s", src);
			char *ssave = NULL;
			for (char *t = strtok_r(list, " \t\r\n\f", &ssave); t;
			     t = strtok_r(NULL, " \t\r\n\f", &ssave))
				if (strcasecmp(t, "'self'") && strcasecmp(t, "'none'"))
					others = true;
			if (!others) {
				snprintf(detail, dsz, "Content-Security-Policy: frame-ancestors %s",
					 *src ? src : "(empty)");
				return "no";
			}
			if (dlen < dsz)
				dlen += (size_t)snprintf(detail + dlen, dsz - dlen, "%s%s",
							 any ? " and " : "", src);
			any = true;
			break;
		}
	}
	if (!any)
		snprintf(detail, dsz, "*");
	return "yes";
}

/* Prints v between double quotes with " and \ escaped and control bytes
 * as \xHH, so no header can forge or break an output line. */
static void put_quoted(const char *v)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			printf("\\x%02x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

/* A URL bare when it is one plain token, quoted otherwise. */
static void put_token(const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p <= 0x20 || *p == '"' || *p == '\\' || *p == 0x7f) {
			put_quoted(v);
			return;
		}
	}
	fputs(*v ? v : "\"\"", stdout);
}

/* key="value", or key=none when the header was absent. */
static void put_value(const char *key, const struct value *v)
{
	printf("%s=", key);
	if (v->set)
		put_quoted(v->s);
	else
		fputs("none", stdout);
}

static void fail_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail_line(const char *fmt, ...)
{
	char reason[LOG_LINE_BYTES];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	fputs("check result=fail reason=", stdout);
	put_quoted(reason);
	putchar('\n');
}

/* A failed transfer as a reason a person can act on. */
static void transfer_failure(CURLcode cc, const char *errbuf, unsigned timeout_s)
{
	const char *msg = errbuf[0] ? errbuf : curl_easy_strerror(cc);
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
		fail_line("cannot connect: %s (is the server running, and is the port open from here?)", msg);
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		fail_line("cannot resolve the host name: %s (check the URL and DNS)", msg);
		break;
	case CURLE_OPERATION_TIMEDOUT:
		fail_line("timed out after %u s: %s (the server did not answer in time; "
			  "if it is only slow, raise --timeout)", timeout_s, msg);
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		fail_line("TLS error: %s (the certificate is not trusted for this host: give its CA with "
			  "--ca, or fix the certificate's chain and names)", msg);
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_USE_SSL_FAILED:
		fail_line("TLS error: %s (the handshake failed: is this an HTTPS port, and does the server "
			  "offer TLS 1.2 or 1.3?)", msg);
		break;
	case CURLE_TOO_MANY_REDIRECTS:
		fail_line("%s (more than %ld redirects: a redirect loop?)", msg, CHECK_MAX_REDIRECTS);
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
		fail_line("%s (only http:// and https:// are followed, as by the portal)", msg);
		break;
	case CURLE_GOT_NOTHING:
		fail_line("the server closed the connection without answering: %s "
			  "(an http:// URL for an HTTPS port?)", msg);
		break;
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
		fail_line("the response was cut short: %s", msg);
		break;
	case CURLE_BAD_CONTENT_ENCODING:
		fail_line("the compressed body is corrupt: %s", msg);
		break;
	default:
		fail_line("%s", msg);
		break;
	}
}

static const char *status_hint(long status)
{
	if (status == 404 || status == 410)
		return " (a wrong URL, or the site has no such page)";
	if (status == 401 || status == 403)
		return " (the page must be public: the portal sends no credentials)";
	if (status >= 300 && status < 400)
		return " (a redirect libcurl could not follow: no usable Location)";
	if (status >= 500)
		return " (the server failed; see its log)";
	return "";
}

/* The GET itself and every line after the usage checks. */
static int check_url(const char *url, const char *ca, unsigned timeout_s)
{
	struct seen *s = calloc(1, sizeof *s);
	CURL *c = s ? curl_easy_init() : NULL;
	if (!c) {
		free(s);
		fail_line("out of memory");
		return 1;
	}
	s->c = c;
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, CHECK_MAX_REDIRECTS);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (ca)
		curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	/* As a browser would: the gzip variant is what most visitors get. */
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "prepd-check/" PREPD_VERSION);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)timeout_s);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)timeout_s);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, s);

	CURLcode cc = curl_easy_perform(c);
	if (cc == CURLE_WRITE_ERROR && s->body_full)
		cc = CURLE_OK;   /* we stopped reading at the cap ourselves */
	long status = 0, redirects = 0;
	curl_off_t total_us = 0;
	const char *final_url = NULL;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(c, CURLINFO_TOTAL_TIME_T, &total_us);
	curl_easy_getinfo(c, CURLINFO_REDIRECT_COUNT, &redirects);
	curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &final_url);

	fputs("check url=", stdout);
	put_token(url);
	if (status)
		printf(" status=%ld", status);
	else
		fputs(" status=none", stdout);
	printf(" time_ms=%lld", (long long)(total_us / 1000));
	if (redirects > 0 && final_url) {
		printf(" redirects=%ld final_url=", redirects);
		put_token(final_url);
	}
	putchar('\n');

	int ret = 1;
	if (s->nomem) {
		fail_line("out of memory");
	} else if (cc != CURLE_OK && !status) {
		transfer_failure(cc, errbuf, timeout_s);
	} else {
		bool base = has_base_tag(s->body, s->body_len);
		printf("check base=%s\n", base ? "yes" : "no");
		fputs("check ", stdout);
		put_value("cut", &s->cut);
		putchar('\n');
		bool https = final_url && !strncasecmp(final_url, "https:", 6);
		printf("check tls=%s\n", s->tls[0] ? s->tls : https ? "unknown" : "none");
		fputs("check ", stdout);
		put_value("cache_control", &s->cache_control);
		putchar(' ');
		put_value("etag", &s->etag);
		putchar(' ');
		put_value("last_modified", &s->last_modified);
		putchar('\n');
		char detail[CHECK_MAX_VALUE_BYTES + 64];
		const char *frame = frame_verdict(s, detail, sizeof detail);
		printf("check frame=%s %s=", frame, strcmp(frame, "yes") ? "why" : "by");
		put_quoted(detail);
		putchar('\n');
		if (cc != CURLE_OK)
			transfer_failure(cc, errbuf, timeout_s);
		else if (status != 200)
			fail_line("HTTP %ld, not 200%s", status, status_hint(status));
		else if (!base)
			fail_line("the page has no <base> tag (in %s%zu bytes read); the portal refuses such a "
				  "site: serve an index.html with <base href=\"/\"> in its <head>",
				  s->body_full ? "the first " : "the ", s->body_len);
		else {
			puts("check result=ok");
			ret = 0;
		}
	}
	fflush(stdout);
	curl_easy_cleanup(c);
	free(s->body);
	free(s);
	return ret;
}

int check_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ca", required_argument, NULL, 'a' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ca = NULL;
	uint64_t timeout_s = CHECK_TIMEOUT_DEFAULT;
	opterr = 0;
	optind = 1;
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'a':
			ca = optarg;
			break;
		case 't':
			if (!parse_uint(optarg, 1, CHECK_TIMEOUT_MAX, &timeout_s)) {
				fprintf(stderr, "prepd check: --timeout: '%s' is not a number of seconds "
					"from 1 to %u\n", optarg, CHECK_TIMEOUT_MAX);
				return 2;
			}
			break;
		case 'h':
			fputs("usage: prepd check URL [--ca FILE] [--timeout SECONDS]\n"
			      "GETs URL like the institute's portal de difusores: it must answer 200\n"
			      "with a <base> tag. Also shows the cut, TLS version, cache headers and\n"
			      "whether other sites may frame the page. Exit status: 0 passed,\n"
			      "1 failed, 2 usage error.\n", stdout);
			return 0;
		default:
			fprintf(stderr, "prepd check: %s: unknown option or missing value\n",
				argv[optind - 1]);
			usage_hint();
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "prepd check: give the URL to check, such as https://prep.example/\n");
		usage_hint();
		return 2;
	}
	if (argc - optind > 1) {
		fprintf(stderr, "prepd check: unexpected argument '%s': give one URL\n", argv[optind + 1]);
		usage_hint();
		return 2;
	}
	const char *url = argv[optind];
	if (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8)) {
		fprintf(stderr, "prepd check: '%s' is not an http:// or https:// URL\n", url);
		return 2;
	}
	if (ca && access(ca, R_OK) != 0) {
		fprintf(stderr, "prepd check: --ca: cannot read %s: %s\n", ca, strerror(errno));
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		puts("check result=fail reason=\"libcurl could not start (out of memory?)\"");
		return 1;
	}
	int ret = check_url(url, ca, (unsigned)timeout_s);
	curl_global_cleanup();
	return ret;
}
