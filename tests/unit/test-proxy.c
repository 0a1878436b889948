/* server/proxy.c: trusted ranges, forwarded headers and the PROXY protocol
 * header, table-driven. The PROXY cases come from the specification
 * (haproxy.org, doc/proxy-protocol.txt): its example lines, its bounds
 * (107 bytes for v1), the v2 layout byte by byte, and what a receiver
 * must refuse. */
#include "server/proxy.h"
#include "tests/unit/check.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

static const char *fmt(const struct reqrec_addr *a, char *buf)
{
	reqrec_addr_format(a, buf, REQREC_ADDR_TEXT_BYTES);
	return buf;
}

static void test_addr_parse(void)
{
	static const struct { const char *in; const char *want; unsigned port; } t[] = {
		{ "192.0.2.1", "192.0.2.1", 0 },
		{ " 192.0.2.1\t", "192.0.2.1", 0 },
		{ "192.0.2.1:8080", "192.0.2.1", 8080 },
		{ "2001:db8::1", "2001:db8::1", 0 },
		{ "[2001:db8::1]", "2001:db8::1", 0 },
		{ "[2001:db8::1]:443", "2001:db8::1", 443 },
		{ "::ffff:198.51.100.7", "198.51.100.7", 0 },
		{ "[::ffff:198.51.100.7]:1", "198.51.100.7", 1 },
		{ "unknown", NULL, 0 },
		{ "_hidden", NULL, 0 },
		{ "example.com", NULL, 0 },
		{ "", NULL, 0 },
		{ "   ", NULL, 0 },
		{ "192.0.2.1:", NULL, 0 },
		{ "192.0.2.1:65536", NULL, 0 },
		{ "192.0.2.1:80x", NULL, 0 },
		{ "192.0.2", NULL, 0 },
		{ "192.0.2.256", NULL, 0 },
		{ "[2001:db8::1", NULL, 0 },
		{ "[2001:db8::1]x", NULL, 0 },
		{ "[192.0.2.1]", NULL, 0 },
		{ "2001:db8::1:80:zz", NULL, 0 },
		{ "1.2.3.4 5.6.7.8", NULL, 0 },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct reqrec_addr a;
		char buf[REQREC_ADDR_TEXT_BYTES];
		bool got = proxy_addr_parse(t[i].in, strlen(t[i].in), &a);
		CHECK(got == (t[i].want != NULL), "addr_parse '%s': got %d", t[i].in, got);
		if (got && t[i].want) {
			CHECK(!strcmp(fmt(&a, buf), t[i].want), "addr_parse '%s': %s", t[i].in, buf);
			CHECK(a.port == t[i].port, "addr_parse '%s': port %u", t[i].in, a.port);
		}
	}
	/* Not NUL-terminated: only n bytes are read. */
	struct reqrec_addr a;
	CHECK(proxy_addr_parse("10.0.0.1999", 8, &a) && a.addr[3] == 1, "addr_parse reads n bytes");
}

static void test_nets(void)
{
	static const struct { const char *list; bool ok; } parse[] = {
		{ "", true },
		{ "10.0.0.0/8", true },
		{ "10.0.0.0/8, 192.0.2.1 2001:db8::/32,::1", true },
		{ "0.0.0.0/0 ::/0", true },
		{ "::ffff:10.0.0.0/104", true },
		{ "10.0.0.1/8", false },       /* host bits set */
		{ "10.0.0.0/33", false },
		{ "2001:db8::/129", false },
		{ "10.0.0.0/", false },
		{ "10.0.0.0/a", false },
		{ "10.0.0.0/0008", false },
		{ "[2001:db8::1]", false },
		{ "example.com", false },
		{ "10.0.0.0/8 junk", false },
		{ "::ffff:10.0.0.0/8", false },
	};
	for (size_t i = 0; i < sizeof parse / sizeof parse[0]; i++) {
		struct proxy_nets n;
		char err[256] = "";
		enum rc rc = proxy_nets_parse(parse[i].list, &n, err, sizeof err);
		CHECK((rc == RC_OK) == parse[i].ok, "nets_parse '%s': rc %d %s", parse[i].list, rc, err);
		if (rc)
			CHECK(err[0], "nets_parse '%s': no error text", parse[i].list);
	}

	struct proxy_nets n;
	char err[256];
	CHECK(!proxy_nets_parse("10.0.0.0/8 192.0.2.128/25 2001:db8::/32 198.51.100.7 "
				"::ffff:172.16.0.0/108", &n, err, sizeof err), "nets parse");
	static const struct { const char *addr; bool in; } match[] = {
		{ "10.0.0.0", true }, { "10.255.255.255", true }, { "11.0.0.0", false },
		{ "9.255.255.255", false }, { "192.0.2.128", true }, { "192.0.2.127", false },
		{ "192.0.2.255", true }, { "2001:db8::1", true }, { "2001:db8:ffff::", true },
		{ "2001:db9::", false }, { "198.51.100.7", true }, { "198.51.100.8", false },
		{ "::ffff:10.1.2.3", true },   /* v4-mapped: normalised first */
		{ "172.16.5.5", true }, { "172.32.0.0", false },
		{ "::a00:1", false },          /* IPv4-compatible is not mapped */
	};
	for (size_t i = 0; i < sizeof match / sizeof match[0]; i++) {
		struct reqrec_addr a;
		CHECK(proxy_addr_parse(match[i].addr, strlen(match[i].addr), &a), "parse %s", match[i].addr);
		CHECK(proxy_nets_match(&n, &a) == match[i].in, "match %s", match[i].addr);
	}
	struct proxy_nets all;
	CHECK(!proxy_nets_parse("0.0.0.0/0", &all, err, sizeof err), "0/0");
	struct reqrec_addr v6;
	proxy_addr_parse("2001:db8::1", 11, &v6);
	CHECK(!proxy_nets_match(&all, &v6), "0.0.0.0/0 does not hold IPv6");

	/* SHIELD_TRUSTED_MAX entries, and one more. */
	char big[SHIELD_TRUSTED_MAX * 16 + 32];
	size_t o = 0;
	for (unsigned i = 0; i <= SHIELD_TRUSTED_MAX; i++)
		o += (size_t)snprintf(big + o, sizeof big - o, "10.%u.%u.0/24 ", i / 256, i % 256);
	CHECK(proxy_nets_parse(big, &n, err, sizeof err) == RC_LIMIT, "too many ranges");
}

static void test_xff(void)
{
	struct proxy_nets tr;
	char err[128];
	CHECK(!proxy_nets_parse("10.0.0.0/8 2001:db8:cd::/48", &tr, err, sizeof err), "xff nets");
	static const struct { const char *l1, *l2; const char *want; } t[] = {
		{ "203.0.113.9", NULL, "203.0.113.9" },
		{ "203.0.113.9, 10.0.0.2", NULL, "203.0.113.9" },
		/* Forged entries left of the real client are skipped. */
		{ "1.1.1.1, 203.0.113.9, 10.0.0.2, 10.0.0.3", NULL, "203.0.113.9" },
		{ "10.0.0.5, 10.0.0.2", NULL, "10.0.0.5" },         /* all trusted: leftmost */
		{ "unknown, 10.0.0.2", NULL, "10.0.0.2" },          /* junk: nearest trusted */
		{ "203.0.113.9, junk", NULL, NULL },                /* junk at the right: nothing */
		{ "", NULL, NULL },
		{ " , ", NULL, NULL },
		{ "203.0.113.9,,10.0.0.2", NULL, "203.0.113.9" },   /* empty element */
		{ "[2001:db8::7]:5000, 2001:db8:cd::1", NULL, "2001:db8::7" },
		{ "198.51.100.1:4711", NULL, "198.51.100.1" },
		/* Two lines are one list: the second line is to the right. */
		{ "203.0.113.9", "10.0.0.2", "203.0.113.9" },
		{ "1.1.1.1", "203.0.113.9, 10.0.0.2", "203.0.113.9" },
		{ "10.0.0.9", "10.0.0.2", "10.0.0.9" },
		{ "::ffff:203.0.113.9", NULL, "203.0.113.9" },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		const char *lines[2] = { t[i].l1, t[i].l2 };
		size_t lens[2] = { strlen(t[i].l1), t[i].l2 ? strlen(t[i].l2) : 0 };
		struct reqrec_addr a;
		char buf[REQREC_ADDR_TEXT_BYTES];
		bool got = proxy_xff_client(lines, lens, t[i].l2 ? 2 : 1, &tr, &a);
		CHECK(got == (t[i].want != NULL), "xff '%s' '%s': got %d", t[i].l1,
		      t[i].l2 ? t[i].l2 : "", got);
		if (got && t[i].want)
			CHECK(!strcmp(fmt(&a, buf), t[i].want), "xff '%s': %s", t[i].l1, buf);
		if (got)
			CHECK(a.port == 0, "xff '%s': port dropped", t[i].l1);
	}
	/* A client padding the header with trusted-looking hops past the cap
	 * gets no further than the cap. */
	char pad[SHIELD_XFF_HOPS_MAX * 12 + 64];
	size_t o = (size_t)snprintf(pad, sizeof pad, "6.6.6.6");
	for (unsigned i = 0; i < SHIELD_XFF_HOPS_MAX; i++)
		o += (size_t)snprintf(pad + o, sizeof pad - o, ", 10.0.0.%u", i % 250);
	const char *lines[1] = { pad };
	size_t lens[1] = { o };
	struct reqrec_addr a;
	char buf[REQREC_ADDR_TEXT_BYTES];
	CHECK(proxy_xff_client(lines, lens, 1, &tr, &a) && strcmp(fmt(&a, buf), "6.6.6.6"),
	      "xff hop cap: %s", buf);
	/* With no trusted range the rightmost hop is the client. */
	struct proxy_nets none = { 0 };
	lines[0] = "1.1.1.1, 203.0.113.9";
	lens[0] = strlen(lines[0]);
	CHECK(proxy_xff_client(lines, lens, 1, &none, &a) && !strcmp(fmt(&a, buf), "203.0.113.9"),
	      "xff, nothing trusted: %s", buf);
}

struct pcase {
	const char *name;
	const uint8_t *buf;
	size_t n;
	unsigned versions;
	enum proxy_result want;
	size_t used;
	const char *src;   /* NULL: no address (the peer stands in) */
	unsigned port;
};

static void run_pcases(const struct pcase *t, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		size_t used = 0;
		struct reqrec_addr src;
		char buf[REQREC_ADDR_TEXT_BYTES];
		enum proxy_result r = proxy_header_parse(t[i].buf, t[i].n, t[i].versions, &used, &src);
		CHECK(r == t[i].want, "%s: result %d, want %d", t[i].name, r, t[i].want);
		if (r != PROXY_OK || t[i].want != PROXY_OK)
			continue;
		CHECK(used == t[i].used, "%s: used %zu, want %zu", t[i].name, used, t[i].used);
		if (t[i].src) {
			CHECK(!strcmp(fmt(&src, buf), t[i].src), "%s: src %s", t[i].name, buf);
			CHECK(src.port == t[i].port, "%s: port %u", t[i].name, src.port);
		} else {
			CHECK(src.family == 0, "%s: an address where none is given", t[i].name);
		}
		/* Every shorter prefix of a good header asks for more. */
		for (size_t k = 0; k < used; k++) {
			enum proxy_result p = proxy_header_parse(t[i].buf, k, t[i].versions, &used, &src);
			CHECK(p == PROXY_MORE, "%s: prefix of %zu bytes gives %d", t[i].name, k, p);
		}
	}
}

#define S(x) (const uint8_t *)(x), sizeof(x) - 1
#define B(...) (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ })
#define SIG 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A
#define ALL (PROXY_V1 | PROXY_V2)

static void test_v1(void)
{
	static const char max_unknown[] =
		"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	_Static_assert(sizeof max_unknown - 1 == 107, "the spec's worst case is 107 bytes");
	static const char max_tcp6[] =
		"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	const struct pcase t[] = {
		{ "spec tcp4", S("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n"),
		  ALL, PROXY_OK, 56, "255.255.255.255", 65535 },
		{ "spec example + request",
		  S("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n"),
		  PROXY_V1, PROXY_OK, 47, "192.168.0.1", 56324 },
		{ "spec tcp6", S(max_tcp6), ALL, PROXY_OK, 104,
		  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535 },
		{ "spec unknown", S("PROXY UNKNOWN\r\n"), ALL, PROXY_OK, 15, NULL, 0 },
		{ "spec unknown, 107 bytes", S(max_unknown), ALL, PROXY_OK, 107, NULL, 0 },
		{ "tcp6 short form", S("PROXY TCP6 2001:db8::1 2001:db8::2 1 80\r\n"), ALL,
		  PROXY_OK, 41, "2001:db8::1", 1 },
		{ "tcp6 carrying mapped v4", S("PROXY TCP6 ::ffff:192.0.2.9 ::1 7 80\r\n"), ALL,
		  PROXY_OK, 38, "192.0.2.9", 7 },
		{ "v1 when only v2", S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), PROXY_V2, PROXY_BAD, 0, NULL, 0 },
		{ "tcp4 with a v6 address", S("PROXY TCP4 ::1 ::1 1 2\r\n"), ALL, PROXY_BAD, 0, NULL, 0 },
		{ "tcp6 with a v4 address", S("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n"), ALL, PROXY_BAD, 0, NULL, 0 },
		{ "two spaces", S("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n"), ALL, PROXY_BAD, 0, NULL, 0 },
		{ "three fields", S("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), ALL, PROXY_BAD, 0, NULL, 0 },
		{ "five fields", S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"), ALL, PROXY_BAD, 0, NULL, 0 },
		{ "port too big", S("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"), ALL, PROXY_BAD, 0, NULL, 0 },
		{ "port not a number", S("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n"), ALL, PROXY_BAD, 0, NULL, 0 },
		{ "unknown protocol", S("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"), ALL, PROXY_BAD, 0, NULL, 0 },
		{ "lowercase", S("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), ALL, PROXY_BAD, 0, NULL, 0 },
		{ "LF alone", S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), ALL, PROXY_BAD, 0, NULL, 0 },
		{ "CR not before LF", S("PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n"), ALL, PROXY_BAD, 0, NULL, 0 },
		{ "UNKNOWNX", S("PROXY UNKNOWNX\r\n"), ALL, PROXY_BAD, 0, NULL, 0 },
		{ "HTTP instead", S("GET / HTTP/1.1\r\n"), ALL, PROXY_BAD, 0, NULL, 0 },
		{ "PROXY then garbage", S("PROXX"), ALL, PROXY_BAD, 0, NULL, 0 },
		{ "a TLS hello", B(0x16, 0x03, 0x01, 0x02, 0x00), ALL, PROXY_BAD, 0, NULL, 0 },
	};
	run_pcases(t, sizeof t / sizeof t[0]);

	/* No CR LF within 107 bytes: refused, however it goes on. */
	char longline[200];
	memset(longline, 'a', sizeof longline);
	memcpy(longline, "PROXY UNKNOWN ", 14);
	size_t used;
	struct reqrec_addr src;
	CHECK(proxy_header_parse((uint8_t *)longline, 106, ALL, &used, &src) == PROXY_MORE,
	      "106 bytes without CR LF: more");
	CHECK(proxy_header_parse((uint8_t *)longline, 107, ALL, &used, &src) == PROXY_BAD,
	      "107 bytes without CR LF: refused");
	longline[106] = '\r';
	longline[107] = '\n';
	CHECK(proxy_header_parse((uint8_t *)longline, 108, ALL, &used, &src) == PROXY_BAD,
	      "CR LF ending at byte 108: refused");
}

static void test_v2(void)
{
	const struct pcase t[] = {
		{ "tcp4", B(SIG, 0x21, 0x11, 0x00, 0x0C,
			    192, 0, 2, 1, 198, 51, 100, 2, 0xDC, 0x04, 0x01, 0xBB),
		  ALL, PROXY_OK, 28, "192.0.2.1", 56324 },
		{ "tcp4 + request bytes", B(SIG, 0x21, 0x11, 0x00, 0x0C,
			    192, 0, 2, 1, 198, 51, 100, 2, 0xDC, 0x04, 0x01, 0xBB, 'G', 'E', 'T'),
		  PROXY_V2, PROXY_OK, 28, "192.0.2.1", 56324 },
		{ "tcp4 with a TLV", B(SIG, 0x21, 0x11, 0x00, 0x13,
			    10, 1, 2, 3, 10, 0, 0, 1, 0x00, 0x50, 0x00, 0x50,
			    0x02, 0x00, 0x04, 'a', '.', 'm', 'x'),   /* PP2_TYPE_AUTHORITY */
		  ALL, PROXY_OK, 35, "10.1.2.3", 80 },
		{ "tcp6", B(SIG, 0x21, 0x21, 0x00, 0x24,
			    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07,
			    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
			    0x13, 0x88, 0x01, 0xBB),
		  ALL, PROXY_OK, 52, "2001:db8::7", 5000 },
		{ "local (health check)", B(SIG, 0x20, 0x00, 0x00, 0x00), ALL, PROXY_OK, 16, NULL, 0 },
		{ "local with an address to skip", B(SIG, 0x20, 0x11, 0x00, 0x0C,
			    1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2), ALL, PROXY_OK, 28, NULL, 0 },
		{ "proxy unspec", B(SIG, 0x21, 0x00, 0x00, 0x00), ALL, PROXY_OK, 16, NULL, 0 },
		{ "v2 when only v1", B(SIG, 0x21, 0x00, 0x00, 0x00), PROXY_V1, PROXY_BAD, 0, NULL, 0 },
		{ "version 1 in a v2 header", B(SIG, 0x11, 0x11, 0x00, 0x0C), ALL, PROXY_BAD, 0, NULL, 0 },
		{ "version 3", B(SIG, 0x31, 0x11, 0x00, 0x0C), ALL, PROXY_BAD, 0, NULL, 0 },
		{ "command 2", B(SIG, 0x22, 0x11, 0x00, 0x0C), ALL, PROXY_BAD, 0, NULL, 0 },
		{ "tcp4, length too short", B(SIG, 0x21, 0x11, 0x00, 0x08,
			    1, 2, 3, 4, 5, 6, 7, 8), ALL, PROXY_BAD, 0, NULL, 0 },
		{ "tcp6, length too short", B(SIG, 0x21, 0x21, 0x00, 0x0C,
			    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12), ALL, PROXY_BAD, 0, NULL, 0 },
		{ "udp4", B(SIG, 0x21, 0x12, 0x00, 0x0C,
			    1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2), ALL, PROXY_BAD, 0, NULL, 0 },
		{ "family 4", B(SIG, 0x21, 0x41, 0x00, 0x00), ALL, PROXY_BAD, 0, NULL, 0 },
		{ "bad signature", B(0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49,
				      0x54, 0x0B, 0x21, 0x11, 0x00, 0x00), ALL, PROXY_BAD, 0, NULL, 0 },
		{ "longer than the cap", B(SIG, 0x21, 0x11, (PROXY_V2_MAX_BYTES - 15) >> 8,
					   (PROXY_V2_MAX_BYTES - 15) & 0xff), ALL, PROXY_BAD, 0, NULL, 0 },
	};
	run_pcases(t, sizeof t / sizeof t[0]);
	/* An AF_UNIX header: 216 bytes of addresses; the peer stands in. */
	uint8_t unix_hdr[16 + 216] = { SIG, 0x21, 0x31, 0x00, 0xD8 };
	size_t used;
	struct reqrec_addr src;
	CHECK(proxy_header_parse(unix_hdr, sizeof unix_hdr, ALL, &used, &src) == PROXY_OK &&
	      used == sizeof unix_hdr && src.family == 0, "v2 unix");
	/* A header exactly at the cap is taken. */
	static uint8_t capped[PROXY_V2_MAX_BYTES] = { SIG, 0x21, 0x11,
		(PROXY_V2_MAX_BYTES - 16) >> 8, (PROXY_V2_MAX_BYTES - 16) & 0xff, 127, 0, 0, 9 };
	CHECK(proxy_header_parse(capped, sizeof capped, ALL, &used, &src) == PROXY_OK &&
	      used == PROXY_V2_MAX_BYTES, "v2 at the cap");
	CHECK(proxy_header_parse(capped, sizeof capped - 1, ALL, &used, &src) == PROXY_MORE,
	      "v2 one byte short of the cap");
}

int main(void)
{
	test_addr_parse();
	test_nets();
	test_xff();
	test_v1();
	test_v2();
	return check_done();
}
