/* server/tlsio.c with real GnuTLS sessions over a socket pair: the server
 * end uses tlsio's push and pull, the client end GnuTLS's own. It checks
 * what the wire carries (records counted from their headers, RFC 8446
 * 5.1 / RFC 5246 6.2: type, version, 2-byte length) and what the client
 * decrypts:
 *  - a corked answer leaves as one record after tlsio_answer_done(), and
 *    nothing before;
 *  - a body over TLSIO_CORK_BODY_BYTES is not corked, nor one a small
 *    send buffer could not take at once, nor any while the send queue
 *    is not empty;
 *  - a corked record the socket cannot take whole waits in tlsio
 *    (TLSIO_PENDING), goes first when the socket empties, and before the
 *    next answer's records;
 *  - a peer that is gone fails the answer (TLSIO_FAILED).
 * Anonymous ECDH over TLS 1.2 keeps the test free of certificates: the
 * record layer is the same AEAD one. */
#include "server/limits.h"
#include "server/tlsio.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+ANON-ECDH"

struct pair {
	int sfd, cfd;
	gnutls_session_t s, c;
	struct tlsio *io;
	gnutls_anon_server_credentials_t scred;
	gnutls_anon_client_credentials_t ccred;
};

/* sndbuf: the server socket's SO_SNDBUF before tlsio sees it, 0 to keep
 * the system's. */
static bool pair_open(struct pair *p, int sndbuf)
{
	int sv[2];
	memset(p, 0, sizeof *p);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return false;
	p->sfd = sv[0];
	p->cfd = sv[1];
	fcntl(p->sfd, F_SETFL, O_NONBLOCK);
	fcntl(p->cfd, F_SETFL, O_NONBLOCK);
	if (sndbuf)
		setsockopt(p->sfd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
	gnutls_anon_allocate_server_credentials(&p->scred);
	gnutls_anon_allocate_client_credentials(&p->ccred);
	gnutls_init(&p->s, GNUTLS_SERVER | GNUTLS_NONBLOCK);
	gnutls_init(&p->c, GNUTLS_CLIENT | GNUTLS_NONBLOCK);
	gnutls_priority_set_direct(p->s, PRIORITIES, NULL);
	gnutls_priority_set_direct(p->c, PRIORITIES, NULL);
	gnutls_credentials_set(p->s, GNUTLS_CRD_ANON, p->scred);
	gnutls_credentials_set(p->c, GNUTLS_CRD_ANON, p->ccred);
	gnutls_transport_set_int(p->c, p->cfd);
	p->io = tlsio_attach(p->s, p->sfd);
	if (!p->io)
		return false;
	int rs = GNUTLS_E_AGAIN, rc = GNUTLS_E_AGAIN;
	for (int i = 0; i < 1000 && (rs != 0 || rc != 0); i++) {
		if (rc != 0)
			rc = gnutls_handshake(p->c);
		if (rs != 0)
			rs = gnutls_handshake(p->s);
		if ((rc < 0 && gnutls_error_is_fatal(rc)) || (rs < 0 && gnutls_error_is_fatal(rs))) {
			fprintf(stderr, "handshake: %s / %s\n", gnutls_strerror(rc), gnutls_strerror(rs));
			return false;
		}
	}
	return rs == 0 && rc == 0;
}

static void pair_close(struct pair *p)
{
	gnutls_deinit(p->s);
	gnutls_deinit(p->c);
	tlsio_free(p->io);
	gnutls_anon_free_server_credentials(p->scred);
	gnutls_anon_free_client_credentials(p->ccred);
	close(p->sfd);
	if (p->cfd >= 0)
		close(p->cfd);
}

/* Records waiting in the client's socket, from their headers (MSG_PEEK:
 * the client's GnuTLS reads them after). */
static int records_waiting(int fd)
{
	static uint8_t b[1 << 20];
	ssize_t n = recv(fd, b, sizeof b, MSG_PEEK | MSG_DONTWAIT);
	int records = 0;
	for (ssize_t at = 0; n > 0 && at + 5 <= n; records++)
		at += 5 + (b[at + 3] << 8 | b[at + 4]);
	return records;
}

/* Everything the client can decrypt now, appended to buf at *len. */
static void client_read(struct pair *p, char *buf, size_t room, size_t *len)
{
	for (;;) {
		ssize_t r = gnutls_record_recv(p->c, buf + *len, room - *len);
		if (r <= 0)
			return;
		*len += (size_t)r;
	}
}

static void fill(char *b, size_t n, char seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (char)(seed + (char)(i % 23));
}

/* What libmicrohttpd does for a small answer: head, then body, each its
 * own gnutls_record_send(). */
static bool send_answer(struct pair *p, const char *head, size_t hn, const char *body, size_t bn)
{
	return gnutls_record_send(p->s, head, hn) == (ssize_t)hn &&
	       gnutls_record_send(p->s, body, bn) == (ssize_t)bn;
}

static void test_one_record(void)
{
	struct pair p;
	CHECK(pair_open(&p, 0), "handshake");
	static char head[600], body[TLSIO_CORK_BODY_BYTES], got[sizeof head + sizeof body];
	fill(head, sizeof head, 'a');
	fill(body, sizeof body, 'A');
	CHECK(tlsio_cork(p.io, sizeof body), "a body of TLSIO_CORK_BODY_BYTES is corked");
	CHECK(send_answer(&p, head, sizeof head, body, sizeof body), "corked sends take all");
	CHECK(records_waiting(p.cfd) == 0, "nothing leaves before the answer is done");
	CHECK(tlsio_answer_done(p.io) == TLSIO_SENT, "the answer goes whole");
	CHECK(records_waiting(p.cfd) == 1, "head and body in one record: %d", records_waiting(p.cfd));
	size_t n = 0;
	client_read(&p, got, sizeof got, &n);
	CHECK(n == sizeof head + sizeof body && !memcmp(got, head, sizeof head) &&
	      !memcmp(got + sizeof head, body, sizeof body), "the client reads head and body (%zu)", n);
	/* The next answer is corked again: the queue is empty once read. */
	CHECK(tlsio_cork(p.io, 10), "corked again");
	CHECK(send_answer(&p, head, 10, body, 10), "second answer");
	CHECK(tlsio_answer_done(p.io) == TLSIO_SENT && records_waiting(p.cfd) == 1, "one record again");
	pair_close(&p);
}

static void test_not_corked(void)
{
	struct pair p;
	CHECK(pair_open(&p, 0), "handshake");
	static char head[400], body[TLSIO_CORK_BODY_BYTES + 1], got[sizeof head + sizeof body + 20];
	fill(head, sizeof head, 'h');
	fill(body, sizeof body, 'B');
	CHECK(!tlsio_cork(p.io, sizeof body), "a larger body is not corked");
	tlsio_hold_next(p.io);
	CHECK(send_answer(&p, head, sizeof head, body, sizeof body), "sends");
	CHECK(tlsio_answer_done(p.io) == TLSIO_SENT, "sent");
	CHECK(records_waiting(p.cfd) == 2, "head record and body record: %d", records_waiting(p.cfd));
	/* Unread bytes in the queue: no cork (a close could lose a record
	 * left over); the answer still goes, its head kept for its body. */
	CHECK(!tlsio_cork(p.io, 10), "not corked while the peer has not read");
	tlsio_hold_next(p.io);
	CHECK(send_answer(&p, head, 10, body, 10), "sends");
	CHECK(tlsio_answer_done(p.io) == TLSIO_SENT && records_waiting(p.cfd) == 4, "two more records");
	size_t n = 0;
	client_read(&p, got, sizeof got, &n);
	CHECK(n == sizeof head + sizeof body + 20 && !memcmp(got + sizeof head, body, sizeof body),
	      "the client reads both answers (%zu)", n);
	pair_close(&p);
}

/* A send buffer too small for a corked record at once (SO_SNDBUF 4096,
 * which Linux doubles): only bodies that leave the head room fit. */
static void test_small_buffer(void)
{
	struct pair p;
	CHECK(pair_open(&p, 4096), "handshake");
	CHECK(!tlsio_cork(p.io, 4096), "a body the buffer cannot take with its head is not corked");
	CHECK(tlsio_cork(p.io, 1000), "a small one is");
	char head[100], body[1000];
	fill(head, sizeof head, 's');
	fill(body, sizeof body, 'S');
	CHECK(send_answer(&p, head, sizeof head, body, sizeof body), "sends");
	CHECK(tlsio_answer_done(p.io) == TLSIO_SENT && records_waiting(p.cfd) == 1, "one record");
	pair_close(&p);
}

static void test_socket_full(void)
{
	struct pair p;
	CHECK(pair_open(&p, 0), "handshake");
	/* A send buffer smaller than the record. */
	int small = 4096;
	setsockopt(p.sfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	static char head[500], body[TLSIO_CORK_BODY_BYTES], next[3000];
	static char got[sizeof head + sizeof body + sizeof next + 10];
	fill(head, sizeof head, 'x');
	fill(body, sizeof body, 'Y');
	fill(next, sizeof next, 'n');
	CHECK(tlsio_cork(p.io, sizeof body), "corked");
	CHECK(send_answer(&p, head, sizeof head, body, sizeof body), "corked sends take all");
	CHECK(tlsio_answer_done(p.io) == TLSIO_PENDING, "the socket takes part: the rest waits");
	CHECK(tlsio_flush(p.io) == TLSIO_PENDING, "still full");
	/* The next answer (not corked: bytes wait) goes after them. */
	CHECK(!tlsio_cork(p.io, sizeof next), "no cork while bytes wait");
	ssize_t r = gnutls_record_send(p.s, next, sizeof next);
	CHECK(r == GNUTLS_E_AGAIN, "the next record waits for the kept bytes: %zd", r);
	size_t n = 0;
	bool sent = false;
	for (int i = 0; i < 100 && n < sizeof got - 10; i++) {
		client_read(&p, got, sizeof got, &n);
		if (!sent && tlsio_flush(p.io) == TLSIO_SENT) {
			r = gnutls_record_send(p.s, NULL, 0);   /* GnuTLS's retry */
			sent = r == (ssize_t)sizeof next;
		}
	}
	CHECK(sent, "the next answer went once the socket emptied");
	CHECK(n == sizeof head + sizeof body + sizeof next, "all bytes arrive: %zu", n);
	CHECK(!memcmp(got, head, sizeof head) && !memcmp(got + sizeof head, body, sizeof body) &&
	      !memcmp(got + sizeof head + sizeof body, next, sizeof next), "in order");
	CHECK(tlsio_flush(p.io) == TLSIO_SENT, "nothing waits");
	pair_close(&p);
}

static void test_peer_gone(void)
{
	struct pair p;
	CHECK(pair_open(&p, 0), "handshake");
	char head[100], body[100];
	fill(head, sizeof head, 'g');
	fill(body, sizeof body, 'G');
	CHECK(tlsio_cork(p.io, sizeof body), "corked");
	CHECK(send_answer(&p, head, sizeof head, body, sizeof body), "corked sends take all");
	close(p.cfd);
	p.cfd = -1;
	CHECK(tlsio_answer_done(p.io) == TLSIO_FAILED, "a peer that is gone fails the answer");
	pair_close(&p);
}

int main(void)
{
	gnutls_global_init();
	test_one_record();
	test_not_corked();
	test_small_buffer();
	test_socket_full();
	test_peer_gone();
	gnutls_global_deinit();
	return check_done();
}
