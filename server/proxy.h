/* Who the client really is, when prepd sits behind a proxy, a load
 * balancer or a CDN: the trusted proxy ranges, the PROXY protocol header
 * (HAProxy's v1 text and v2 binary formats, as specified in
 * https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt) and the
 * forwarded-address headers (X-Forwarded-For, CF-Connecting-IP).
 *
 * Pure: no allocation, no system call, no logging, no global state. Every
 * function is thread-safe. The caller decides WHETHER to believe a header
 * (only from a peer in the trusted ranges); these functions only say what
 * it claims. Addresses are struct reqrec_addr; an IPv4-mapped IPv6 address
 * (::ffff:192.0.2.1, what a dual-stack socket reports for an IPv4 peer) is
 * turned into plain IPv4 (proxy_addr_norm), so one client has one key. */
#ifndef PREPD_PROXY_H
#define PREPD_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/limits.h"
#include "server/rc.h"
#include "server/reqrec.h"

/* One address range: family AF_INET or AF_INET6, the first bits of addr. */
struct proxy_net {
	uint16_t family;
	uint8_t bits;
	uint8_t addr[16];
};

/* A list of ranges, as [shield] trusted_proxies gives it. */
struct proxy_nets {
	unsigned n;
	struct proxy_net net[SHIELD_TRUSTED_MAX];
};

/* Parses "CIDR CIDR ..." (space- or comma-separated; a bare address is
 * a /32 or /128; IPv6 in its usual forms) into out, which is cleared
 * first. "" gives an empty list. Host bits set below the prefix are an
 * error (192.0.2.1/24 is a typo for 192.0.2.0/24 or 192.0.2.1). On a bad
 * entry returns RC_FORMAT naming it in err; more than SHIELD_TRUSTED_MAX
 * entries is RC_LIMIT. */
enum rc proxy_nets_parse(const char *s, struct proxy_nets *out, char *err, size_t errsz);

/* True when a (normalised) is inside one of the ranges. */
bool proxy_nets_match(const struct proxy_nets *nets, const struct reqrec_addr *a);

/* Turns an IPv4-mapped IPv6 address into IPv4 in place. */
void proxy_addr_norm(struct reqrec_addr *a);

/* Parses one address as a forwarding header writes it: "192.0.2.1",
 * "192.0.2.1:443", "2001:db8::1", "[2001:db8::1]", "[2001:db8::1]:443",
 * with optional spaces or tabs around; s[0..n) need not be NUL-terminated.
 * Fills out (port 0 unless given) and returns true; false for anything
 * else ("unknown", a name, junk, an obfuscated Forwarded identifier). */
bool proxy_addr_parse(const char *s, size_t n, struct reqrec_addr *out);

/* X-Forwarded-For: the client is the rightmost hop that is not a trusted
 * proxy, since each proxy appends the address it received the request
 * from and anything left of the nearest untrusted hop may be forged by
 * the client. lines[0..nlines) are the header's lines in the order
 * received (several lines form one comma-separated list, RFC 9110 5.3),
 * lens their lengths. Walks right to left past trusted hops; stops at the
 * first untrusted one (the answer), or at an entry that is not an address
 * (then the answer is the trusted hop to its right, which is known to be
 * true; with none, false). When every hop is trusted the leftmost is the
 * answer. Returns false when the header names no usable address. At most
 * SHIELD_XFF_HOPS_MAX hops are looked at. */
bool proxy_xff_client(const char *const *lines, const size_t *lens, unsigned nlines,
		      const struct proxy_nets *trusted, struct reqrec_addr *out);

/* PROXY protocol versions a listener accepts (a mask). */
#define PROXY_V1 1u
#define PROXY_V2 2u

enum proxy_result {
	PROXY_MORE,   /* buf is a correct start: wait for more bytes */
	PROXY_OK,     /* a whole header: *used bytes of it */
	PROXY_BAD,    /* not a PROXY header of an accepted version, or broken */
};

/* Parses the PROXY header at the start of buf[0..n). versions is a mask of
 * PROXY_V1 and PROXY_V2. On PROXY_OK, *used is the header's length (the
 * bytes after it are the client's own: TLS or HTTP) and *src the client
 * the proxy speaks for: family 0 when the header carries no address (v1
 * UNKNOWN, v2 LOCAL, v2 UNSPEC or AF_UNIX), and then the connection's own
 * peer is the client. A v1 header is at most 107 bytes (the spec's
 * bound); a v2 header longer than PROXY_V2_MAX_BYTES is PROXY_BAD. */
enum proxy_result proxy_header_parse(const uint8_t *buf, size_t n, unsigned versions,
				     size_t *used, struct reqrec_addr *src);

/* The most bytes proxy_header_parse() may need to see to decide. */
#define PROXY_HEADER_MAX_BYTES (PROXY_V2_MAX_BYTES > 107 ? PROXY_V2_MAX_BYTES : 107)

#endif
