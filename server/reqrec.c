#include "server/reqrec.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

const char *reqrec_listener_name(unsigned listener)
{
	static const char *const names[REQREC_LISTENERS] = { "http", "https" };
	return listener < REQREC_LISTENERS ? names[listener] : "?";
}

void reqrec_addr_set(struct reqrec_addr *a, const struct sockaddr *sa)
{
	memset(a, 0, sizeof *a);
	if (!sa)
		return;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		a->family = AF_INET;
		a->port = ntohs(in->sin_port);
		memcpy(a->addr, &in->sin_addr, sizeof in->sin_addr);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		a->family = AF_INET6;
		a->port = ntohs(in6->sin6_port);
		memcpy(a->addr, &in6->sin6_addr, sizeof in6->sin6_addr);
	}
}

char *reqrec_addr_format(const struct reqrec_addr *a, char *out, size_t outsz)
{
	if (!outsz)
		return out;
	out[0] = '\0';
	if ((a->family != AF_INET && a->family != AF_INET6) ||
	    !inet_ntop(a->family, a->addr, out, (socklen_t)outsz))
		out[0] = '\0';
	return out;
}

void reqrec_set_target(struct reqrec *r, const char *target)
{
	size_t n = strlen(target);
	if (n >= sizeof r->target) {
		n = sizeof r->target - 4;
		memcpy(r->target + n, "...", 4);
		r->flags |= REQREC_TARGET_CUT;
	} else {
		r->target[n] = '\0';
		r->flags &= (uint8_t)~REQREC_TARGET_CUT;
	}
	memcpy(r->target, target, n);
}

void reqrec_set_field(char *dst, size_t dstsz, const char *value, size_t n)
{
	if (!value)
		value = "";
	n = strnlen(value, n < dstsz - 1 ? n : dstsz - 1);
	memcpy(dst, value, n);
	dst[n] = '\0';
}

void reqrec_set_fwd(struct reqrec *r, const char *value, size_t n, bool forwarded)
{
	r->flags &= (uint8_t)~(REQREC_FWD_CUT | REQREC_FWD_FORWARDED);
	if (forwarded)
		r->flags |= REQREC_FWD_FORWARDED;
	if (n > sizeof r->fwd - 1) {
		value += n - (sizeof r->fwd - 1);
		n = sizeof r->fwd - 1;
		r->flags |= REQREC_FWD_CUT;
	}
	memcpy(r->fwd, value, n);
	r->fwd[n] = '\0';
}

/* The strings after the fixed part, in packing order. */
#define PACKED_STRINGS 4

static void strings_of(const struct reqrec *r, const char *s[PACKED_STRINGS],
		       size_t cap[PACKED_STRINGS])
{
	s[0] = r->target, cap[0] = sizeof r->target;
	s[1] = r->ua, cap[1] = sizeof r->ua;
	s[2] = r->referer, cap[2] = sizeof r->referer;
	s[3] = r->fwd, cap[3] = sizeof r->fwd;
}

size_t reqrec_packed_size(const struct reqrec *r)
{
	const char *s[PACKED_STRINGS];
	size_t cap[PACKED_STRINGS];
	strings_of(r, s, cap);
	size_t n = offsetof(struct reqrec, target);
	for (int i = 0; i < PACKED_STRINGS; i++)
		n += 2 + strnlen(s[i], cap[i] - 1);
	return (n + 7) & ~(size_t)7;
}

size_t reqrec_pack(const struct reqrec *r, unsigned char *out)
{
	const char *s[PACKED_STRINGS];
	size_t cap[PACKED_STRINGS];
	strings_of(r, s, cap);
	size_t o = offsetof(struct reqrec, target);
	memcpy(out, r, o);
	for (int i = 0; i < PACKED_STRINGS; i++) {
		uint16_t len = (uint16_t)strnlen(s[i], cap[i] - 1);
		memcpy(out + o, &len, 2);
		memcpy(out + o + 2, s[i], len);
		o += 2 + (size_t)len;
	}
	size_t end = (o + 7) & ~(size_t)7;
	memset(out + o, 0, end - o);
	return end;
}

bool reqrec_unpack(const unsigned char *in, size_t n, struct reqrec *r)
{
	size_t o = offsetof(struct reqrec, target);
	if (n < o)
		return false;
	memset(r, 0, sizeof *r);   /* the padding after the last string too */
	memcpy(r, in, o);
	char *d[PACKED_STRINGS] = { r->target, r->ua, r->referer, r->fwd };
	size_t cap[PACKED_STRINGS] = { sizeof r->target, sizeof r->ua, sizeof r->referer,
				       sizeof r->fwd };
	for (int i = 0; i < PACKED_STRINGS; i++) {
		uint16_t len;
		if (o + 2 > n)
			return false;
		memcpy(&len, in + o, 2);
		if (len >= cap[i] || o + 2 + len > n)
			return false;
		memcpy(d[i], in + o + 2, len);   /* NUL and the rest: zeroed above */
		o += 2 + (size_t)len;
	}
	return true;
}
