/* Small pure helpers shared by server/ and ingest/. */
#ifndef PREPD_UTIL_H
#define PREPD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHA256_BYTES 32

/* SHA-256 of buf (GnuTLS). Never fails for in-memory input. */
void sha256(const void *buf, size_t len, unsigned char out[SHA256_BYTES]);

/* Lowercase hex of len bytes into out (2*len+1 bytes, NUL-terminated). */
void hex_encode(const unsigned char *in, size_t len, char *out);

/* The value of one hex digit (either case), or -1 for anything else. */
int hex_digit(unsigned char c);

/* Decodes the 2*len hex digits (either case) at in into len bytes of out.
 * Returns false, with out partly written, at the first byte that is not a
 * hex digit; reads no further than that byte. */
bool hex_decode(const char *in, size_t len, unsigned char *out);

/* True if s[0..len) is well-formed UTF-8: no overlongs, no surrogates,
 * nothing above U+10FFFF. NUL bytes are allowed here; callers that care
 * reject control characters themselves. */
bool utf8_valid(const unsigned char *s, size_t len);

/* The length (1-4) of the well-formed UTF-8 sequence at s, of which at
 * most avail bytes may be read, or 0 when it is not one (as utf8_valid()
 * judges). Reads no byte past the first that fails, so SIZE_MAX is a
 * safe avail for a NUL-terminated string. */
size_t utf8_seq_len(const unsigned char *s, size_t avail);

/* The value of one base64 digit (RFC 4648 section 4 alphabet), or -1. */
int base64_value(unsigned char c);

/* Parses a decimal unsigned integer with an optional K/M/G (KiB/MiB/GiB)
 * suffix. Returns false on junk, overflow or a value above max. */
bool parse_size(const char *s, uint64_t max, uint64_t *out);

/* Parses a plain decimal in [min, max]. */
bool parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* strdup that aborts the process on out-of-memory: used only at start-up
 * and config time, where there is nothing to serve yet. */
char *xstrdup(const char *s);

/* Monotonic clock in nanoseconds. */
uint64_t now_ns(void);

#endif
