#include "server/tlsio.h"

#include "server/limits.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <threads.h>

/* Vectors in one sendmsg(): GnuTLS 3.7 flushes at most 32 buffers at a
 * time; more are sent in the next call. */
#define TLSIO_MAX_VEC 32

struct tlsio {
	gnutls_session_t session;
	int fd;
	bool hold;                       /* keep the next record pushed */
	uint32_t held, held_off;         /* kept bytes: keep[held_off, held) */
	uint32_t rpos, rlen;             /* unread bytes: rbuf[rpos, rlen) */
	uint8_t keep[TLSIO_HOLD_BYTES];
	uint8_t rbuf[TLSIO_READ_BYTES];
};

/* Reads and writes of this thread's sessions that moved bytes or ended
 * in an error other than EAGAIN (tlsio_moved()). */
static thread_local uint64_t moved;

uint64_t tlsio_moved(void)
{
	return moved;
}

static ssize_t fail(struct tlsio *io, int err)
{
	if (err != EAGAIN && err != EWOULDBLOCK)
		moved++;
	gnutls_transport_set_errno(io->session, err);
	errno = err;
	return -1;
}

static ssize_t io_pull(gnutls_transport_ptr_t p, void *buf, size_t size)
{
	struct tlsio *io = p;
	if (io->rpos == io->rlen) {
		/* A record larger than the buffer goes straight where GnuTLS
		 * wants it: no copy, and no more calls than before. */
		void *to = size >= sizeof io->rbuf ? buf : io->rbuf;
		size_t want = size >= sizeof io->rbuf ? size : sizeof io->rbuf;
		ssize_t n = recv(io->fd, to, want, 0);
		if (n < 0)
			return fail(io, errno);
		moved++;
		if (n == 0 || to == buf)
			return n;
		io->rpos = 0;
		io->rlen = (uint32_t)n;
	}
	size_t n = io->rlen - io->rpos;
	if (n > size)
		n = size;
	memcpy(buf, io->rbuf + io->rpos, n);
	io->rpos += (uint32_t)n;
	return (ssize_t)n;
}

/* GnuTLS asks whether a read would find data (its handshake and record
 * layer do, with a zero wait on a non-blocking session). */
static int io_pull_timeout(gnutls_transport_ptr_t p, unsigned int ms)
{
	struct tlsio *io = p;
	if (io->rpos < io->rlen)
		return 1;
	struct pollfd pfd = { .fd = io->fd, .events = POLLIN };
	int r = poll(&pfd, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
	if (r < 0)
		return (int)fail(io, errno);
	return r;
}

static ssize_t io_push(gnutls_transport_ptr_t p, const giovec_t *iov, int iovcnt)
{
	struct tlsio *io = p;
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	size_t kept = io->held - io->held_off;
	if (io->hold && kept == 0 && total <= sizeof io->keep) {
		io->hold = false;
		for (int i = 0; i < iovcnt; i++) {
			memcpy(io->keep + kept, iov[i].iov_base, iov[i].iov_len);
			kept += iov[i].iov_len;
		}
		io->held = (uint32_t)kept;
		io->held_off = 0;
		return (ssize_t)total;
	}
	io->hold = false;
	struct iovec v[TLSIO_MAX_VEC + 1];
	int n = 0;
	if (kept)
		v[n++] = (struct iovec){ io->keep + io->held_off, kept };
	for (int i = 0; i < iovcnt && i < TLSIO_MAX_VEC; i++)
		v[n++] = (struct iovec){ iov[i].iov_base, iov[i].iov_len };
	struct msghdr m = { .msg_iov = v, .msg_iovlen = (size_t)n };
	ssize_t r = sendmsg(io->fd, &m, MSG_NOSIGNAL);
	if (r < 0)
		return fail(io, errno);
	if ((size_t)r <= kept) {
		/* The socket is full: what is left of the kept record goes
		 * first next time; GnuTLS offers its records again then. */
		if (r > 0)
			moved++;
		io->held_off += (uint32_t)r;
		if (io->held_off == io->held)
			io->held = io->held_off = 0;
		return total ? fail(io, EAGAIN) : 0;
	}
	io->held = io->held_off = 0;
	moved++;
	return r - (ssize_t)kept;
}

struct tlsio *tlsio_attach(gnutls_session_t session, int fd)
{
	struct tlsio *io = malloc(sizeof *io);
	if (!io)
		return NULL;
	io->session = session;
	io->fd = fd;
	io->hold = false;
	io->held = io->held_off = 0;
	io->rpos = io->rlen = 0;
	gnutls_transport_set_ptr(session, io);
	gnutls_transport_set_pull_function(session, io_pull);
	gnutls_transport_set_pull_timeout_function(session, io_pull_timeout);
	gnutls_transport_set_vec_push_function(session, io_push);
	return io;
}

void tlsio_hold_next(struct tlsio *io)
{
	if (io)
		io->hold = true;
}

bool tlsio_flush(struct tlsio *io)
{
	if (!io)
		return true;
	io->hold = false;
	while (io->held_off < io->held) {
		ssize_t r = send(io->fd, io->keep + io->held_off, io->held - io->held_off,
				 MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		io->held_off += (uint32_t)r;
	}
	io->held = io->held_off = 0;
	return true;
}

void tlsio_free(struct tlsio *io)
{
	free(io);
}
