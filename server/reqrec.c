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
