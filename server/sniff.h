/* The first look at a new connection: what its first bytes say before
 * libmicrohttpd reads them (server/worker.c peeks them with MSG_PEEK).
 *
 * libmicrohttpd 0.9.75 answers some openings before any prepd callback,
 * with none of prepd's headers and no access-log line, and leaves others
 * waiting for a line end until the idle timeout (docs/security.md):
 * a TLS ClientHello on the HTTP port, a request line without a target
 * ("GET") or without a version ("GET /", HTTP/0.9), a version that is not
 * HTTP/d.d ("http/1.1") or whose major is not 1 ("HTTP/2.0"). The worker
 * answers those itself, on the first request of a connection; later
 * requests on a keep-alive connection are libmicrohttpd's to judge. On the
 * HTTPS port, a plain HTTP request (an ASCII letter where a TLS record
 * starts) gets a plain-text 400, as nginx answers it.
 *
 * Pure and thread-safe: no allocation, no system call. */
#ifndef PREPD_SNIFF_H
#define PREPD_SNIFF_H

#include <stdbool.h>
#include <stddef.h>

enum sniff_verdict {
	SNIFF_MORE,          /* too few bytes to judge: look again when more come */
	SNIFF_PASS,          /* hand the connection to libmicrohttpd */
	SNIFF_TLS_ON_HTTP,   /* a TLS record on the HTTP port: 400 */
	SNIFF_HTTP_ON_TLS,   /* plain HTTP on the HTTPS port: 400, in plain text */
	SNIFF_NOT_HTTP,      /* no HTTP request starts with these bytes: 400 */
	SNIFF_NO_TARGET,     /* a request line with a method only: 400 */
	SNIFF_HTTP09,        /* method and target, no version (HTTP/0.9): 400 */
	SNIFF_VERSION_BAD,   /* a version that is not "HTTP/" DIGIT "." DIGIT: 400 */
	SNIFF_VERSION_UNSUPPORTED,   /* HTTP/0.x, HTTP/2.0 and up: 505 */
};

/* What sniff_first_bytes() found. On a request-line verdict the spans
 * point into the bytes given (method, target and version as sent, each
 * possibly empty); otherwise they are empty. */
struct sniff {
	enum sniff_verdict verdict;
	const char *method, *target, *version;
	size_t method_len, target_len, version_len;
};

/* Judges the n bytes a connection opened with (n may be 0). tls_port:
 * the connection came to the HTTPS listener. At most window bytes are
 * looked at; when n >= window and nothing is decided (a request line
 * longer than the window) the verdict is SNIFF_PASS, never SNIFF_MORE.
 * Request lines are read as libmicrohttpd 0.9.75 reads them (a line ends
 * at the first CR or LF; empty lines before it are skipped; the target
 * runs from the first space to the last one), so a line passed on is one
 * libmicrohttpd takes to its callbacks. */
void sniff_first_bytes(const void *p, size_t n, size_t window, bool tls_port,
		       struct sniff *out);

/* The short reason a refusal's body and log give for a verdict ("" for
 * SNIFF_MORE and SNIFF_PASS), and its status (400, 505; 0 for those). */
const char *sniff_reason(enum sniff_verdict v);
unsigned sniff_status(enum sniff_verdict v);

#endif
