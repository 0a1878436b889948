#include "server/proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

void proxy_addr_norm(struct reqrec_addr *a)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	if (a->family == AF_INET6 && !memcmp(a->addr, mapped, sizeof mapped)) {
		memmove(a->addr, a->addr + 12, 4);
		memset(a->addr + 4, 0, 12);
		a->family = AF_INET;
	}
}

/* inet_pton on s[0..n), which need not be NUL-terminated. */
static bool pton(int family, const char *s, size_t n, uint8_t *out)
{
	char buf[INET6_ADDRSTRLEN];
	if (n == 0 || n >= sizeof buf)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return inet_pton(family, buf, out) == 1;
}

static bool parse_port(const char *s, size_t n, uint16_t *port)
{
	if (n == 0 || n > 5)
		return false;
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

bool proxy_addr_parse(const char *s, size_t n, struct reqrec_addr *out)
{
	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	memset(out, 0, sizeof *out);
	if (!n)
		return false;
	if (s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close)
			return false;
		size_t alen = (size_t)(close - s - 1), rest = n - alen - 2;
		if (!pton(AF_INET6, s + 1, alen, out->addr))
			return false;
		if (rest && (close[1] != ':' || !parse_port(close + 2, rest - 1, &out->port)))
			return false;
		out->family = AF_INET6;
		proxy_addr_norm(out);
		return true;
	}
	const char *colon = memchr(s, ':', n);
	if (colon && memchr(colon + 1, ':', n - (size_t)(colon - s) - 1)) {
		/* Two colons or more: a bare IPv6 address, no port. */
		if (!pton(AF_INET6, s, n, out->addr))
			return false;
		out->family = AF_INET6;
		proxy_addr_norm(out);
		return true;
	}
	size_t alen = colon ? (size_t)(colon - s) : n;
	if (!pton(AF_INET, s, alen, out->addr))
		return false;
	if (colon && !parse_port(colon + 1, n - alen - 1, &out->port))
		return false;
	out->family = AF_INET;
	return true;
}

static bool prefix_match(const uint8_t *a, const uint8_t *net, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;
	if (memcmp(a, net, whole))
		return false;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[whole] & mask) == (net[whole] & mask);
}

bool proxy_nets_match(const struct proxy_nets *nets, const struct reqrec_addr *a)
{
	for (unsigned i = 0; i < nets->n; i++) {
		const struct proxy_net *p = &nets->net[i];
		if (p->family == a->family && prefix_match(a->addr, p->addr, p->bits))
			return true;
	}
	return false;
}

static enum rc parse_net(const char *s, size_t n, struct proxy_net *out)
{
	const char *slash = memchr(s, '/', n);
	size_t alen = slash ? (size_t)(slash - s) : n;
	struct reqrec_addr a;
	memset(out, 0, sizeof *out);
	/* No brackets or ports in a range: only a plain address. */
	if (memchr(s, '[', alen) || !pton(strchr("0123456789", s[0]) && !memchr(s, ':', alen) ?
					  AF_INET : AF_INET6, s, alen, a.addr))
		return RC_FORMAT;
	a.family = memchr(s, ':', alen) ? AF_INET6 : AF_INET;
	proxy_addr_norm(&a);
	unsigned max = a.family == AF_INET ? 32 : 128, bits = max;
	if (slash) {
		size_t blen = n - alen - 1;
		uint16_t v;
		if (!blen || blen > 3 || !parse_port(slash + 1, blen, &v))
			return RC_FORMAT;
		bits = v;
		/* ::ffff:10.0.0.0/104 is the IPv4 range 10.0.0.0/8. */
		if (a.family == AF_INET && memchr(s, ':', alen)) {
			if (bits < 96)
				return RC_FORMAT;
			bits -= 96;
		}
		if (bits > max)
			return RC_FORMAT;
	}
	/* Host bits below the prefix: a typo, refused rather than guessed. */
	for (unsigned b = bits; b < max; b++)
		if (a.addr[b / 8] & (0x80 >> (b % 8)))
			return RC_FORMAT;
	out->family = a.family;
	out->bits = (uint8_t)bits;
	memcpy(out->addr, a.addr, sizeof out->addr);
	return RC_OK;
}

enum rc proxy_nets_parse(const char *s, struct proxy_nets *out, char *err, size_t errsz)
{
	memset(out, 0, sizeof *out);
	const char *p = s;
	for (;;) {
		p += strspn(p, " \t,");
		if (!*p)
			return RC_OK;
		size_t n = strcspn(p, " \t,");
		if (out->n == SHIELD_TRUSTED_MAX) {
			snprintf(err, errsz, "more than %u ranges", SHIELD_TRUSTED_MAX);
			return RC_LIMIT;
		}
		if (parse_net(p, n, &out->net[out->n])) {
			snprintf(err, errsz, "'%.*s' is not an address or range such as 192.0.2.0/24 "
				 "or 2001:db8::/32 (with no host bits set after the prefix)",
				 (int)(n > 64 ? 64 : n), p);
			return RC_FORMAT;
		}
		out->n++;
		p += n;
	}
}

bool proxy_xff_client(const char *const *lines, const size_t *lens, unsigned nlines,
		      const struct proxy_nets *trusted, struct reqrec_addr *out)
{
	bool have = false;   /* out holds the nearest trusted hop so far */
	unsigned hops = 0;
	for (unsigned l = nlines; l-- > 0;) {
		const char *s = lines[l];
		size_t end = lens[l];
		/* Hops of this line, right to left. */
		while (end > 0) {
			size_t start = end;
			while (start > 0 && s[start - 1] != ',')
				start--;
			size_t len = end - start;
			end = start ? start - 1 : 0;
			bool blank = true;
			for (size_t i = 0; i < len; i++)
				if (s[start + i] != ' ' && s[start + i] != '\t')
					blank = false;
			if (blank) {   /* ", ," : an empty list element (RFC 9110 5.6.1) */
				if (!start)
					break;
				continue;
			}
			if (++hops > SHIELD_XFF_HOPS_MAX)
				return have;
			struct reqrec_addr a;
			if (!proxy_addr_parse(s + start, len, &a))
				return have;
			a.port = 0;
			*out = a;
			have = true;
			if (!proxy_nets_match(trusted, &a))
				return true;
			if (!start)
				break;
		}
	}
	return have;
}

/* v1: "PROXY TCP4 SRC DST SPORT DPORT\r\n", "PROXY UNKNOWN...\r\n". */
static enum proxy_result parse_v1(const uint8_t *buf, size_t n, size_t *used,
				  struct reqrec_addr *src)
{
	static const char sig[] = "PROXY ";
	size_t k = n < 6 ? n : 6;
	if (memcmp(buf, sig, k))
		return PROXY_BAD;
	const uint8_t *crlf = NULL;
	for (size_t i = 0; i + 1 < n && i + 1 < 107; i++)
		if (buf[i] == '\r' && buf[i + 1] == '\n') {
			crlf = buf + i;
			break;
		}
	if (!crlf) {
		/* Nothing but CR LF may end the line, within 107 bytes. */
		for (size_t i = 0; i < n && i < 107; i++)
			if (buf[i] == '\n' || (buf[i] == '\r' && i + 1 < n))
				return PROXY_BAD;
		return n >= 107 ? PROXY_BAD : PROXY_MORE;
	}
	size_t len = (size_t)(crlf - buf);
	*used = len + 2;
	memset(src, 0, sizeof *src);
	const char *line = (const char *)buf + 6, *endl = (const char *)crlf;
	if ((size_t)(endl - line) >= 7 && !memcmp(line, "UNKNOWN", 7) &&
	    (endl - line == 7 || line[7] == ' '))
		return PROXY_OK;   /* the rest of the line is ignored (spec 2.1) */
	int family;
	if ((size_t)(endl - line) > 5 && !memcmp(line, "TCP4 ", 5))
		family = AF_INET;
	else if ((size_t)(endl - line) > 5 && !memcmp(line, "TCP6 ", 5))
		family = AF_INET6;
	else
		return PROXY_BAD;
	line += 5;
	/* Exactly four fields, each separated by one space. */
	const char *f[4];
	size_t fl[4];
	for (int i = 0; i < 4; i++) {
		const char *sp = memchr(line, ' ', (size_t)(endl - line));
		const char *fe = i < 3 ? sp : endl;
		if (!fe || (i == 3 && sp))
			return PROXY_BAD;
		f[i] = line;
		fl[i] = (size_t)(fe - line);
		if (!fl[i])
			return PROXY_BAD;
		line = fe + 1;
	}
	uint8_t dst[16];
	uint16_t dport;
	if (!pton(family, f[0], fl[0], src->addr) || !pton(family, f[1], fl[1], dst) ||
	    !parse_port(f[2], fl[2], &src->port) || !parse_port(f[3], fl[3], &dport))
		return PROXY_BAD;
	src->family = (uint16_t)family;
	proxy_addr_norm(src);
	return PROXY_OK;
}

static const uint8_t v2sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
				   0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };

static enum proxy_result parse_v2(const uint8_t *buf, size_t n, size_t *used,
				  struct reqrec_addr *src)
{
	if (memcmp(buf, v2sig, n < 12 ? n : 12))
		return PROXY_BAD;
	if (n >= 13 && (buf[12] >> 4) != 2)
		return PROXY_BAD;               /* version 2 only */
	if (n >= 13 && (buf[12] & 15) > 1)
		return PROXY_BAD;               /* LOCAL or PROXY only */
	if (n < 16)
		return PROXY_MORE;
	size_t len = (size_t)buf[14] << 8 | buf[15];
	if (16 + len > PROXY_V2_MAX_BYTES)
		return PROXY_BAD;
	if (n < 16 + len)
		return PROXY_MORE;
	*used = 16 + len;
	memset(src, 0, sizeof *src);
	unsigned cmd = buf[12] & 15, fam = buf[13] >> 4, proto = buf[13] & 15;
	if (cmd == 0)
		return PROXY_OK;    /* LOCAL: the proxy's own connection (health check) */
	if (proto > 2)
		return PROXY_BAD;
	const uint8_t *a = buf + 16;
	switch (fam) {
	case 0:   /* UNSPEC: the receiver ignores the address */
		return PROXY_OK;
	case 1:
		if (len < 12 || proto != 1)   /* a stream server: TCP only */
			return PROXY_BAD;
		src->family = AF_INET;
		memcpy(src->addr, a, 4);
		src->port = (uint16_t)(a[8] << 8 | a[9]);
		return PROXY_OK;
	case 2:
		if (len < 36 || proto != 1)
			return PROXY_BAD;
		src->family = AF_INET6;
		memcpy(src->addr, a, 16);
		src->port = (uint16_t)(a[32] << 8 | a[33]);
		proxy_addr_norm(src);
		return PROXY_OK;
	case 3:   /* AF_UNIX: no IP to speak of; the peer stands in */
		return len < 216 ? PROXY_BAD : PROXY_OK;
	default:
		return PROXY_BAD;
	}
}

enum proxy_result proxy_header_parse(const uint8_t *buf, size_t n, unsigned versions,
				     size_t *used, struct reqrec_addr *src)
{
	if (n == 0)
		return PROXY_MORE;
	/* The first byte tells them apart: 'P' or CR (spec 2.2). */
	if (buf[0] == 'P' && (versions & PROXY_V1))
		return parse_v1(buf, n, used, src);
	if (buf[0] == 0x0D && (versions & PROXY_V2))
		return parse_v2(buf, n, used, src);
	return PROXY_BAD;
}
