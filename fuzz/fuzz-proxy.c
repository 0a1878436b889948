/* The real client address (server/proxy.c): PROXY protocol v1/v2 headers
 * as the first bytes of a connection, X-Forwarded-For lines, one forwarded
 * address, and the trusted ranges setting. The whole input is the start of
 * a connection; split on NUL it is also X-Forwarded-For lines, the first
 * part also an address and a range list. */
#include "fuzz/fuzz.h"
#include "server/proxy.h"

#include <sys/socket.h>

_Static_assert(SHIELD_XFF_LINES_MAX <= FUZZ_MAX_PARTS, "every X-Forwarded-For line a part");

static struct proxy_nets trusted;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];
	if (proxy_nets_parse("10.0.0.0/8, 192.0.2.0/24 2001:db8::/32 ::1 127.0.0.1", &trusted,
			     err, sizeof err))
		fuzz_abort(err);
	return 0;
}

static void addr_ok(const struct reqrec_addr *a)
{
	if (a->family != 0 && a->family != AF_INET && a->family != AF_INET6)
		fuzz_abort("an address of an unknown family");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!trusted.n)
		LLVMFuzzerInitialize(NULL, NULL);
	for (unsigned versions = 1; versions <= 3; versions++) {
		size_t used = 0;
		struct reqrec_addr src = { 0 };
		enum proxy_result r = proxy_header_parse(data, size, versions, &used, &src);
		if (r == PROXY_OK) {
			if (used == 0 || used > size || used > PROXY_HEADER_MAX_BYTES)
				fuzz_abort("a PROXY header of an impossible length");
			addr_ok(&src);
			/* The same header alone must parse the same. */
			size_t used2 = 0;
			struct reqrec_addr src2 = { 0 };
			if (proxy_header_parse(data, used, versions, &used2, &src2) != PROXY_OK ||
			    used2 != used || memcmp(&src, &src2, sizeof src))
				fuzz_abort("a PROXY header parses differently without what follows");
		} else if (r == PROXY_MORE && size >= PROXY_HEADER_MAX_BYTES) {
			fuzz_abort("PROXY_MORE after PROXY_HEADER_MAX_BYTES bytes");
		}
	}

	struct fuzz_parts p;
	fuzz_split(data, size, SHIELD_XFF_LINES_MAX, &p);
	struct reqrec_addr a;
	/* An address with its length, not NUL-terminated. */
	char *s = malloc(p.len[0] ? p.len[0] : 1);
	if (!s)
		fuzz_abort("out of memory");
	memcpy(s, p.s[0], p.len[0]);
	if (proxy_addr_parse(s, p.len[0], &a)) {
		addr_ok(&a);
		proxy_addr_norm(&a);
		proxy_nets_match(&trusted, &a);
	}
	free(s);

	const char *lines[SHIELD_XFF_LINES_MAX];
	for (size_t i = 0; i < p.n; i++)
		lines[i] = p.s[i];
	if (proxy_xff_client(lines, p.len, (unsigned)p.n, &trusted, &a))
		addr_ok(&a);

	struct proxy_nets nets;
	char err[256] = "";
	enum rc rc = proxy_nets_parse(p.s[0], &nets, err, sizeof err);
	if (rc && !*err)
		fuzz_abort("proxy_nets_parse failed without a reason");
	if (!rc && nets.n && proxy_xff_client(lines, p.len, (unsigned)p.n, &nets, &a))
		addr_ok(&a);
	fuzz_parts_free(&p);
	return 0;
}
