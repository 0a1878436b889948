/* Pure parsers for request headers: content negotiation, validators and
 * HTTP dates. No allocation; every input may be NULL (header absent). */
#ifndef PREPD_HDR_H
#define PREPD_HDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* True if an Accept-Encoding value allows gzip: "gzip", "x-gzip" or "*" with
 * a q-value above zero, and gzip not refused explicitly. */
bool hdr_accepts_gzip(const char *accept_encoding);

/* True if an If-None-Match value matches etag (a quoted strong ETag such as
 * "\"abc\""), using the weak comparison RFC 9110 prescribes for GET and
 * HEAD, so W/"abc" matches too. "*" matches anything. */
bool hdr_etag_match(const char *if_none_match, const char *etag);

/* True if an If-Match value matches etag with the strong comparison of
 * RFC 9110 8.8.3.2 (a W/ tag never matches); "*" matches anything. */
bool hdr_etag_match_strong(const char *if_match, const char *etag);

/* Parses an HTTP-date in any of the three RFC 9110 forms (IMF-fixdate,
 * RFC 850, asctime). Returns false for anything else. */
bool hdr_date_parse(const char *s, time_t *out);

/* Formats t as an IMF-fixdate ("Sun, 02 Jun 2024 22:15:00 GMT") into out,
 * which must hold at least 30 bytes. */
void hdr_date_format(time_t t, char *out, size_t outsz);

/* True if name is a valid header field name (RFC 9110 token). */
bool hdr_name_valid(const char *name);

/* True if value may be sent as a header value: visible ASCII, space, tab and
 * UTF-8 bytes, but no CR, LF, NUL or other control characters. */
bool hdr_value_valid(const char *value);

/* True if s[0..n) is a valid Host value for an http(s) URI (RFC 9110
 * 7.2, RFC 3986 3.2.2-3.2.3): a non-empty reg-name, IPv4 or [IP-literal],
 * then an optional ":port" up to 65535. No userinfo, no path. */
bool hdr_host_valid(const char *s, size_t n);

/* Parses a Content-Length value: 1*DIGIT and optional trailing OWS, no
 * sign, no list, no overflow (RFC 9110 8.6). False for anything else. */
bool hdr_content_length(const char *v, uint64_t *out);

/* Transfer-Encoding across all its field lines (RFC 9112 6.1, 7): zero
 * the struct, hdr_te_add() each line's value in order, then ask
 * hdr_te_result(). */
struct hdr_te {
	unsigned lines, codings;
	bool chunked;            /* chunked seen */
	bool chunked_not_last;   /* a coding (or chunked again) after chunked */
	bool unknown;            /* a coding RFC 9112 does not define */
	bool bad;                /* an empty value */
};
enum hdr_te_result {
	HDR_TE_NONE,      /* no Transfer-Encoding */
	HDR_TE_CHUNKED,   /* known codings ending in chunked: a body follows */
	HDR_TE_UNKNOWN,   /* an unknown coding: 501 (RFC 9112 6.1) */
	HDR_TE_BAD,       /* chunked not last, twice, or absent: 400 (6.3) */
};
void hdr_te_add(struct hdr_te *t, const char *value);
enum hdr_te_result hdr_te_result(const struct hdr_te *t);

/* True if a request target as received has no byte a request line cannot
 * carry (RFC 9112 3.2: no SP, no control character) and is not empty. A
 * space inside the target would otherwise end up in the access log's
 * request field, where it forges the protocol. */
bool hdr_target_bytes_ok(const char *target);

/* The form of a request target without its query (RFC 9112 3.2):
 * origin-form "/x" gives *path = target; absolute-form
 * "http://host[:port]/x" (http or https, valid host, no userinfo) gives
 * *path pointing at "/x" inside target, or at a static "/" when the path
 * is empty. Anything else (authority-form, asterisk-form, other schemes)
 * is HDR_TARGET_BAD. */
enum hdr_target { HDR_TARGET_ORIGIN, HDR_TARGET_ABSOLUTE, HDR_TARGET_BAD };
enum hdr_target hdr_target_parse(const char *target, const char **path);

#endif
