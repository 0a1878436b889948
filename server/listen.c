#include "server/listen.h"
#include "server/limits.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

enum rc listen_open(const struct listen_addr *la, int *fdp, char *bound,
		    size_t boundsz, char *err, size_t errsz)
{
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof ss);
	bool any = la->host[0] == '\0';
	bool v6 = any || strchr(la->host, ':');
	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)la->port);
		if (any)
			s6->sin6_addr = in6addr_any;
		else
			inet_pton(AF_INET6, la->host, &s6->sin6_addr);
		len = sizeof *s6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)la->port);
		inet_pton(AF_INET, la->host, &s4->sin_addr);
		len = sizeof *s4;
	}

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
	char want[INET6_ADDRSTRLEN + sizeof "[]:65535"];
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
