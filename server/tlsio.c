#include "server/tlsio.h"

#include "server/limits.h"

#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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
	bool corked;                     /* tlsio_cork(): records wait in GnuTLS */
	bool take_all;                   /* in tlsio_answer_done(): what the
					  * socket refuses waits in out */
	uint32_t cork_max;               /* largest body tlsio_cork() takes */
	/* Bytes made but not sent yet, out[out_off, out_len): a kept head
	 * record, or what was left of a record the socket refused. out is
	 * keep, or a buffer of its own for more than keep holds (spill()). */
	uint8_t *out;
	uint32_t out_len, out_off;
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

/* Nothing waits to be sent any more. */
static void out_clear(struct tlsio *io)
{
	if (io->out != io->keep)
		free(io->out);
	io->out = io->keep;
	io->out_len = io->out_off = 0;
}

/* Keeps what is left unsent: the rest of out, then iov's bytes after its
 * first skip. Only while corked records go out (take_all), whose size the
 * cork bounds (TLSIO_CORK_BODY_BYTES). False if out of memory. */
static bool spill(struct tlsio *io, const giovec_t *iov, int iovcnt, size_t skip)
{
	size_t left = io->out_len - io->out_off, need = left;
	for (int i = 0; i < iovcnt; i++)
		need += iov[i].iov_len;
	need -= skip;
	uint8_t *b;
	if (need <= sizeof io->keep && io->out == io->keep) {
		memmove(io->keep, io->keep + io->out_off, left);
		b = io->keep;
	} else {
		if (need > UINT32_MAX || !(b = malloc(need)))
			return false;
		memcpy(b, io->out + io->out_off, left);
		if (io->out != io->keep)
			free(io->out);
	}
	size_t at = left;
	for (int i = 0; i < iovcnt; i++) {
		size_t n = iov[i].iov_len;
		if (skip >= n) {
			skip -= n;
			continue;
		}
		memcpy(b + at, (const uint8_t *)iov[i].iov_base + skip, n - skip);
		at += n - skip;
		skip = 0;
	}
	io->out = b;
	io->out_off = 0;
	io->out_len = (uint32_t)need;
	return true;
}

static ssize_t io_push(gnutls_transport_ptr_t p, const giovec_t *iov, int iovcnt)
{
	struct tlsio *io = p;
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	size_t kept = io->out_len - io->out_off;
	if (io->hold && kept == 0 && total <= sizeof io->keep) {
		io->hold = false;
		for (int i = 0; i < iovcnt; i++) {
			memcpy(io->keep + kept, iov[i].iov_base, iov[i].iov_len);
			kept += iov[i].iov_len;
		}
		io->out = io->keep;
		io->out_len = (uint32_t)kept;
		io->out_off = 0;
		return (ssize_t)total;
	}
	io->hold = false;
	struct iovec v[TLSIO_MAX_VEC + 1];
	int n = 0;
	if (kept)
		v[n++] = (struct iovec){ io->out + io->out_off, kept };
	for (int i = 0; i < iovcnt && i < TLSIO_MAX_VEC; i++)
		v[n++] = (struct iovec){ iov[i].iov_base, iov[i].iov_len };
	struct msghdr m = { .msg_iov = v, .msg_iovlen = (size_t)n };
	ssize_t r = sendmsg(io->fd, &m, MSG_NOSIGNAL);
	if (r < 0 && !(io->take_all && (errno == EAGAIN || errno == EWOULDBLOCK)))
		return fail(io, errno);
	if (r > 0)
		moved++;
	size_t sent = r > 0 ? (size_t)r : 0, sent_new = 0;
	if (sent < kept) {
		io->out_off += (uint32_t)sent;
	} else {
		sent_new = sent - kept;
		out_clear(io);
	}
	if (sent_new == total)
		return (ssize_t)total;
	/* The socket is full. Corked records being let go are kept whole
	 * (tlsio_answer_done() says so, and tlsio_flush() sends them);
	 * otherwise what is left of the kept record goes first next time,
	 * and GnuTLS offers its records again then. */
	if (io->take_all)
		return spill(io, iov, iovcnt, sent_new) ? (ssize_t)total : fail(io, ENOMEM);
	if (sent_new == 0)
		return fail(io, EAGAIN);
	return (ssize_t)sent_new;
}

/* The client's Finished has been read. In a full TLS 1.3 handshake, and
 * in a resumed TLS 1.2 one, it is the handshake's last message and the
 * server has nothing to send after it (GnuTLS 3.7 sends a full TLS 1.3
 * handshake's session tickets with its own Finished), so the kernel
 * delays its ACK, by 40 ms when the connection is in its interactive
 * mode, which the server's first flight has put it in. A client that
 * leaves Nagle's algorithm on (Python's and Java's sockets, wget) holds
 * its first request until that ACK: every new visitor's first answer
 * came 40 ms late. TCP_QUICKACK sends the ACK now (nginx's OpenSSL sends
 * its tickets at this point, and they carry it). After a resumed TLS 1.3
 * handshake GnuTLS sends a new ticket, and in a full TLS 1.2 handshake
 * the server's Finished follows: either carries the ACK. */
static int on_client_finished(gnutls_session_t session, unsigned htype, unsigned when,
			      unsigned incoming, const gnutls_datum_t *msg)
{
	(void)htype;
	(void)when;
	(void)msg;
	if (!incoming)
		return 0;
	bool tls13 = gnutls_protocol_get_version(session) == GNUTLS_TLS1_3;
	if (tls13 == (gnutls_session_is_resumed(session) != 0))
		return 0;
	struct tlsio *io = gnutls_transport_get_ptr(session);
	int one = 1;
	setsockopt(io->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
	return 0;
}

struct tlsio *tlsio_attach(gnutls_session_t session, int fd)
{
	struct tlsio *io = malloc(sizeof *io);
	if (!io)
		return NULL;
	io->session = session;
	io->fd = fd;
	io->hold = io->corked = io->take_all = false;
	io->out = io->keep;
	io->out_len = io->out_off = 0;
	io->rpos = io->rlen = 0;
	/* A corked record must fit the socket's send buffer at once, head
	 * and record included, or a close right after could lose its rest
	 * (tlsio_cork()); TCP's buffer only grows from this. */
	int sndbuf = 0;
	socklen_t len = sizeof sndbuf;
	io->cork_max = 0;
	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len) == 0 &&
	    sndbuf / 2 > (int)TLSIO_CORK_HEAD_ROOM)
		io->cork_max = (uint32_t)(sndbuf / 2) - TLSIO_CORK_HEAD_ROOM;
	if (io->cork_max > TLSIO_CORK_BODY_BYTES)
		io->cork_max = TLSIO_CORK_BODY_BYTES;
	gnutls_transport_set_ptr(session, io);
	gnutls_transport_set_pull_function(session, io_pull);
	gnutls_transport_set_pull_timeout_function(session, io_pull_timeout);
	gnutls_transport_set_vec_push_function(session, io_push);
	gnutls_handshake_set_hook_function(session, GNUTLS_HANDSHAKE_FINISHED, GNUTLS_HOOK_POST,
					   on_client_finished);
	return io;
}

void tlsio_hold_next(struct tlsio *io)
{
	if (io)
		io->hold = true;
}

bool tlsio_cork(struct tlsio *io, uint64_t body)
{
	if (!io)
		return false;
	if (io->corked)
		return true;
	/* An empty send queue (nothing unsent or unacknowledged) takes the
	 * record whole: nothing is left over for a close to lose
	 * (tlsio_answer_done()). */
	int queued;
	if (body > io->cork_max || io->out_off < io->out_len ||
	    ioctl(io->fd, SIOCOUTQ, &queued) != 0 || queued != 0)
		return false;
	gnutls_record_cork(io->session);
	io->corked = true;
	return true;
}

enum tlsio_out tlsio_flush(struct tlsio *io)
{
	if (!io)
		return TLSIO_SENT;
	io->hold = false;
	while (io->out_off < io->out_len) {
		ssize_t r = send(io->fd, io->out + io->out_off, io->out_len - io->out_off,
				 MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return TLSIO_PENDING;
		moved++;
		if (r <= 0)
			return TLSIO_FAILED;
		io->out_off += (uint32_t)r;
	}
	out_clear(io);
	return TLSIO_SENT;
}

enum tlsio_out tlsio_answer_done(struct tlsio *io)
{
	if (!io)
		return TLSIO_SENT;
	if (io->corked) {
		io->corked = false;
		io->take_all = true;
		ssize_t r = gnutls_record_uncork(io->session, 0);
		io->take_all = false;
		if (r < 0)
			return TLSIO_FAILED;
	}
	return tlsio_flush(io);
}

void tlsio_free(struct tlsio *io)
{
	if (io && io->out != io->keep)
		free(io->out);
	free(io);
}
