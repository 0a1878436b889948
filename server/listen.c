#include "server/listen.h"
#include "server/limits.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* First fd systemd passes (SD_LISTEN_FDS_START in sd-daemon.h). */
#define FIRST_PASSED_FD 3

/* A socket opened early or passed by systemd, until its listener takes it. */
struct pooled {
	int fd;                        /* -1: taken or closed */
	bool inherited;                /* from systemd */
	bool claimed;                  /* key is set: listen_preopen(key) */
	struct listen_addr key;
	struct sockaddr_storage addr;  /* its bound address */
	char text[LISTEN_ADDR_TEXT_BYTES];
};

static struct pooled pool[NET_MAX_INHERITED_SOCKETS + 3];
static size_t npool;

static void describe(const struct sockaddr_storage *ss, char *out, size_t outsz)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
		port = ntohs(s6->sin6_port);
		snprintf(out, outsz, "[%s]:%u", host, port);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
		port = ntohs(s4->sin_port);
		snprintf(out, outsz, "%s:%u", host, port);
	}
}

/* la's address; returns whether it is IPv6. */
static bool addr_of(const struct listen_addr *la, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof *ss);
	bool any = la->host[0] == '\0';
	if (any || strchr(la->host, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)la->port);
		if (any)
			s6->sin6_addr = in6addr_any;
		else
			inet_pton(AF_INET6, la->host, &s6->sin6_addr);
		*len = sizeof *s6;
		return true;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)la->port);
	inet_pton(AF_INET, la->host, &s4->sin_addr);
	*len = sizeof *s4;
	return false;
}

/* Whether the inherited socket p listens where la asks. */
static bool matches(const struct pooled *p, const struct listen_addr *la)
{
	if (!la->port)
		return false;
	struct sockaddr_storage want;
	socklen_t len;
	addr_of(la, &want, &len);
	const struct sockaddr_storage *got = &p->addr;
	if (got->ss_family == AF_INET6) {
		const struct sockaddr_in6 *g = (const void *)got;
		const struct sockaddr_in6 *w = (const void *)&want;
		if (ntohs(g->sin6_port) != la->port)
			return false;
		if (!la->host[0])
			return IN6_IS_ADDR_UNSPECIFIED(&g->sin6_addr);
		return want.ss_family == AF_INET6 &&
		       !memcmp(&g->sin6_addr, &w->sin6_addr, sizeof g->sin6_addr);
	}
	const struct sockaddr_in *g = (const void *)got;
	const struct sockaddr_in *w = (const void *)&want;
	if (got->ss_family != AF_INET || ntohs(g->sin_port) != la->port)
		return false;
	if (!la->host[0])
		return g->sin_addr.s_addr == htonl(INADDR_ANY);
	return want.ss_family == AF_INET && g->sin_addr.s_addr == w->sin_addr.s_addr;
}

static bool same_key(const struct listen_addr *a, const struct listen_addr *b)
{
	return a->port == b->port && !strcmp(a->host, b->host);
}

enum rc listen_inherit(int n, char *err, size_t errsz)
{
	if (n <= 0)
		return RC_OK;
	if ((unsigned)n > NET_MAX_INHERITED_SOCKETS) {
		snprintf(err, errsz, "systemd passed %d sockets, more than the %u prepd takes "
			 "(it has three listeners): check ListenStream= in prepd.socket",
			 n, NET_MAX_INHERITED_SOCKETS);
		return RC_LIMIT;
	}
	for (int i = 0; i < n; i++) {
		int fd = FIRST_PASSED_FD + i, type = 0, acc = 0;
		socklen_t tl = sizeof type, al = sizeof acc;
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) != 0 ||
		    getsockname(fd, (struct sockaddr *)&ss, &sl) != 0 ||
		    type != SOCK_STREAM || !acc ||
		    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
			snprintf(err, errsz, "systemd passed fd %d, which is not a listening TCP "
				 "socket: prepd.socket may only have ListenStream= lines", fd);
			npool = 0;
			return RC_INVALID;
		}
		/* systemd's sockets are blocking unless NonBlocking=yes; the
		 * workers' poll loop needs them not to be. */
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
			snprintf(err, errsz, "cannot set up fd %d passed by systemd: %s", fd,
				 strerror(errno));
			npool = 0;
			return RC_IO;
		}
		struct pooled *p = &pool[npool++];
		*p = (struct pooled){ .fd = fd, .inherited = true, .addr = ss };
		describe(&ss, p->text, sizeof p->text);
	}
	return RC_OK;
}

/* Binds a new socket for la. */
static enum rc bind_new(const struct listen_addr *la, int *fdp, char *bound,
			size_t boundsz, char *err, size_t errsz)
{
	struct sockaddr_storage ss;
	socklen_t len;
	bool any = la->host[0] == '\0';
	bool v6 = addr_of(la, &ss, &len);

	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 && any && errno == EAFNOSUPPORT) {
		/* A kernel without IPv6: all interfaces means all IPv4 ones. */
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		memset(&ss, 0, sizeof ss);
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)la->port);
		s4->sin_addr.s_addr = htonl(INADDR_ANY);
		len = sizeof *s4;
		v6 = false;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	char want[LISTEN_ADDR_TEXT_BYTES];
	describe(&ss, want, sizeof want);
	if (fd < 0) {
		snprintf(err, errsz, "cannot open a socket for %s: %s", want, strerror(errno));
		return RC_IO;
	}
	int on = 1, off = 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	if (v6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, any ? &off : &on, sizeof on);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		int e = errno;
		close(fd);
		snprintf(err, errsz, "cannot listen on %s: %s%s", want, strerror(e),
			 e == EADDRINUSE ? " (another program, or another prepd, uses that port: "
					   "stop it or choose another port)" :
			 e == EACCES ? " (ports below 1024 need root or CAP_NET_BIND_SERVICE)" :
			 e == EADDRNOTAVAIL ? " (no interface of this machine has that address)" : "");
		return RC_IO;
	}
	if (listen(fd, NET_LISTEN_BACKLOG) < 0) {
		int e = errno;
		close(fd);
		snprintf(err, errsz, "cannot listen on %s: %s", want, strerror(e));
		return RC_IO;
	}
	struct sockaddr_storage got;
	socklen_t gl = sizeof got;
	if (getsockname(fd, (struct sockaddr *)&got, &gl) == 0)
		describe(&got, bound, boundsz);
	else
		snprintf(bound, boundsz, "%s", want);
	*fdp = fd;
	return RC_OK;
}

enum rc listen_preopen(const struct listen_addr *la, char *bound, size_t boundsz,
		       bool *inherited, char *err, size_t errsz)
{
	*inherited = false;
	for (size_t i = 0; i < npool; i++) {
		struct pooled *p = &pool[i];
		if (p->fd >= 0 && p->inherited && !p->claimed && matches(p, la)) {
			p->claimed = true;
			p->key = *la;
			snprintf(bound, boundsz, "%s", p->text);
			*inherited = true;
			return RC_OK;
		}
	}
	if (npool == sizeof pool / sizeof pool[0]) {
		snprintf(err, errsz, "too many listening sockets");
		return RC_LIMIT;
	}
	int fd;
	enum rc rc = bind_new(la, &fd, bound, boundsz, err, errsz);
	if (rc)
		return rc;
	struct pooled *p = &pool[npool++];
	*p = (struct pooled){ .fd = fd, .claimed = true, .key = *la };
	snprintf(p->text, sizeof p->text, "%s", bound);
	return RC_OK;
}

enum rc listen_open(const struct listen_addr *la, int *fdp, char *bound,
		    size_t boundsz, char *err, size_t errsz)
{
	struct pooled *hit = NULL;
	for (size_t i = 0; i < npool && !hit; i++)
		if (pool[i].fd >= 0 && pool[i].claimed && same_key(&pool[i].key, la))
			hit = &pool[i];
	for (size_t i = 0; i < npool && !hit; i++)
		if (pool[i].fd >= 0 && pool[i].inherited && !pool[i].claimed &&
		    matches(&pool[i], la))
			hit = &pool[i];
	if (!hit)
		return bind_new(la, fdp, bound, boundsz, err, errsz);
	*fdp = hit->fd;
	hit->fd = -1;
	snprintf(bound, boundsz, "%s", hit->text);
	return RC_OK;
}

unsigned listen_drop_unclaimed(void (*fn)(const char *addr, void *ctx), void *ctx)
{
	unsigned n = 0;
	for (size_t i = 0; i < npool; i++) {
		struct pooled *p = &pool[i];
		if (p->fd < 0 || p->claimed)
			continue;
		if (fn)
			fn(p->text, ctx);
		close(p->fd);
		p->fd = -1;
		n++;
	}
	return n;
}
