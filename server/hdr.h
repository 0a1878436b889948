/* Pure parsers for request headers: content negotiation, validators and
 * HTTP dates. No allocation; every input may be NULL (header absent). */
#ifndef PREPD_HDR_H
#define PREPD_HDR_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* True if an Accept-Encoding value allows gzip: "gzip", "x-gzip" or "*" with
 * a q-value above zero, and gzip not refused explicitly. */
bool hdr_accepts_gzip(const char *accept_encoding);

/* True if an If-None-Match value matches etag (a quoted strong ETag such as
 * "\"abc\""), using the weak comparison RFC 9110 prescribes for GET and
 * HEAD, so W/"abc" matches too. "*" matches anything. */
bool hdr_etag_match(const char *if_none_match, const char *etag);

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

#endif
