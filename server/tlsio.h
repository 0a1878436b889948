#ifndef PREPD_SERVER_TLSIO_H
#define PREPD_SERVER_TLSIO_H

/* The socket side of a TLS connection libmicrohttpd serves: prepd's own
 * GnuTLS push and pull functions, for fewer system calls per response.
 *
 * libmicrohttpd 0.9.75 sends a response's head and body as two
 * gnutls_record_send() calls on TLS (its vectored send is plain-only), so
 * each small response costs two TLS records in two sendmsg(); and GnuTLS
 * reads each record with two recv() (its 5-byte header, then the rest).
 * With these functions:
 *  - pull: one recv() of up to TLSIO_READ_BYTES, from which GnuTLS's
 *    small reads are served; data is never hidden from libmicrohttpd's
 *    edge-triggered epoll: the pull says EAGAIN only when this buffer and
 *    the socket are both empty, as libmicrohttpd expects of a TLS read;
 *  - push, one record: when the request handler says a small body
 *    follows its head at once, the two go into GnuTLS corked
 *    (tlsio_cork()) and leave as one record in one sendmsg() once
 *    libmicrohttpd has handed both over (tlsio_answer_done()): what
 *    nginx sends, and one decryption less for the client;
 *  - push, a larger body: the next record (the head) is kept
 *    (tlsio_hold_next()) and sent with the body's first record in one
 *    sendmsg();
 *  - the handshake: when nothing of the server's follows the client's
 *    Finished (a full TLS 1.3 handshake, a resumed TLS 1.2 one), its ACK
 *    goes at once (TCP_QUICKACK), or a client with Nagle on would hold
 *    its first request 40 ms for the delayed one.
 * Records leave in the order GnuTLS made them; bytes kept or left over
 * always go before anything after them.
 *
 * One struct tlsio per connection, used only by the worker thread that
 * owns the connection. */

#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stdint.h>

struct tlsio;

/* Installs the functions on a new server session (libmicrohttpd's
 * NOTIFY_CONNECTION started, before any byte is read) for socket fd.
 * NULL if out of memory: the session then keeps GnuTLS's own functions,
 * which work the same with more system calls. */
struct tlsio *tlsio_attach(gnutls_session_t session, int fd);

/* The next record pushed is a response head whose body follows in the
 * same libmicrohttpd send: keep it for the body's first record. */
void tlsio_hold_next(struct tlsio *io);

/* The answer just queued sends body bytes right after its head: if the
 * body is at most TLSIO_CORK_BODY_BYTES (less on a socket whose send
 * buffer could not take such a record at once) and the socket's send
 * queue is empty (one ioctl()), GnuTLS holds what libmicrohttpd sends
 * until tlsio_answer_done(), and the head and body become one record.
 * Returns whether it did; if not, the caller keeps the head instead
 * (tlsio_hold_next()). False for NULL. */
bool tlsio_cork(struct tlsio *io, uint64_t body);

enum tlsio_out {
	TLSIO_SENT,      /* nothing waits */
	TLSIO_PENDING,   /* the socket is full: call tlsio_flush() when it
			  * takes more (libmicrohttpd's next send also
			  * sends it first) */
	TLSIO_FAILED,    /* the peer is gone or memory ran out: end the
			  * connection */
};

/* After libmicrohttpd has handed an answer over (its completion
 * callback): lets the corked records go as one, and sends a kept head no
 * body followed (rare: the handler said one would). Never blocks: what
 * the socket does not take waits in tlsio's own buffer, at most one
 * corked record (then malloc()ed) or a kept head. NULL: TLSIO_SENT.
 * Bytes waiting when libmicrohttpd closes the connection are lost: the
 * empty queue and the room tlsio_cork() asks for make the socket take a
 * corked record whole, short of a kernel out of socket memory. */
enum tlsio_out tlsio_answer_done(struct tlsio *io);

/* Sends what waits, without blocking. NULL: TLSIO_SENT. */
enum tlsio_out tlsio_flush(struct tlsio *io);

/* How many reads and writes of the calling thread's sessions have moved
 * bytes or failed for good (not EAGAIN) so far: a worker compares it
 * before and after MHD_run() to tell a pass that did something from one
 * that only found every socket empty. */
uint64_t tlsio_moved(void);

/* Frees it. Call when libmicrohttpd says the connection closed: its
 * session is gone by then (0.9.75 deinits it before that notice). */
void tlsio_free(struct tlsio *io);

#endif
