/* sockfloor: the least an HTTP/1.1 keep-alive server can do, for
 * bench/ceiling. Per request one recv() and one send() of a response made
 * at start (Content-Type and Content-Length, no Date); it parses nothing
 * but the blank lines that end request heads, and checks nothing. It is not
 * a server anyone should run: it shows how many requests a second this
 * machine's kernel and wrk leave room for on loopback, the ceiling of any
 * server, with its CPU a request as the kernel's share of one.
 *
 * One thread a core, each with its own epoll set; the listening socket is
 * in every set with EPOLLEXCLUSIVE.
 *
 * usage: sockfloor FILE HTTP-PORT   (127.0.0.1 only). Runs until killed. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/bare/bare.h"

#define EVENTS 512
#define HEAD_BYTES 16384

static int lfd;
static char *resp;
static size_t resp_len;

/* Counts the "\r\n\r\n" in buf, carrying the last three bytes of the
 * previous read in *tail so a head end split across reads counts once. */
static unsigned heads_ended(const char *buf, size_t n, uint32_t *tail)
{
	unsigned heads = 0;
	uint32_t w = *tail;
	for (size_t i = 0; i < n; i++) {
		w = (w << 8) | (uint8_t)buf[i];
		if (w == 0x0d0a0d0a)
			heads++;
	}
	*tail = w;
	return heads;
}

struct conn {
	int fd;
	uint32_t tail;
};

static void *run(void *arg)
{
	(void)arg;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL };
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) != 0) {
		perror("sockfloor: epoll");
		exit(1);
	}
	struct epoll_event evs[EVENTS];
	static _Thread_local char buf[HEAD_BYTES];
	for (;;) {
		int n = epoll_wait(ep, evs, EVENTS, -1);
		if (n < 0 && errno != EINTR) {
			perror("sockfloor: epoll_wait");
			exit(1);
		}
		for (int i = 0; i < n; i++) {
			struct conn *k = evs[i].data.ptr;
			if (!k) {
				int fd;
				while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					struct conn *nk = calloc(1, sizeof *nk);
					struct epoll_event ce = { .events = EPOLLIN, .data.ptr = nk };
					if (!nk || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ce) != 0) {
						free(nk);
						close(fd);
						continue;
					}
					nk->fd = fd;
				}
				continue;
			}
			ssize_t r = recv(k->fd, buf, sizeof buf, 0);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0) {
				close(k->fd);
				free(k);
				continue;
			}
			for (unsigned h = heads_ended(buf, (size_t)r, &k->tail); h; h--)
				if (send(k->fd, resp, resp_len, MSG_NOSIGNAL) != (ssize_t)resp_len)
					break;   /* a client that does not read: it gets less */
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: sockfloor FILE HTTP-PORT\n");
		return 2;
	}
	size_t len;
	char *body = bare_read_file(argv[1], &len);
	if (!body)
		return 1;
	resp = malloc(len + 128);
	if (!resp)
		return 1;
	int h = snprintf(resp, 128, "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
			 "Content-Length: %zu\r\n\r\n", len);
	memcpy(resp + h, body, len);
	resp_len = (size_t)h + len;
	if ((lfd = bare_listen(argv[2])) < 0)
		return 1;
	return bare_serve("sockfloor", bare_threads(), run, NULL, 0);
}
