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
 *  - push: when the request handler said a body follows its head at once
 *    (tlsio_hold_next()), the next record (the head) is kept and sent
 *    with the body's first record in one sendmsg(). Records leave in the
 *    order GnuTLS made them; a kept record is always sent before anything
 *    after it, and tlsio_flush() sends it if no body came.
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

/* After a request is answered: sends a kept record if no body followed
 * it (which the handler's word makes rare), and forgets a hold that was
 * not used. Returns false if a kept record could not be sent whole (the
 * peer stopped reading): the caller ends the connection. */
bool tlsio_flush(struct tlsio *io);

/* How many reads and writes of the calling thread's sessions have moved
 * bytes or failed for good (not EAGAIN) so far: a worker compares it
 * before and after MHD_run() to tell a pass that did something from one
 * that only found every socket empty. */
uint64_t tlsio_moved(void);

/* Frees it. Call when libmicrohttpd says the connection closed: its
 * session is gone by then (0.9.75 deinits it before that notice). */
void tlsio_free(struct tlsio *io);

#endif
