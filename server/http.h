/* The request path: libmicrohttpd callbacks that map a request onto the
 * current snapshot and queue a prebuilt response. No body is copied, no
 * global lock is taken, nothing waits for a publish. */
#ifndef PREPD_HTTP_H
#define PREPD_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include <microhttpd.h>

#include "server/limits.h"

struct snap;

/* The cls of http_on_uri (MHD_OPTION_URI_LOG_CALLBACK) for a daemon of
 * the given listener (enum reqrec_listener): request records name it. */
#define HTTP_LISTENER_CLS(listener) ((void *)(uintptr_t)(listener))

/* MHD_OPTION_URI_LOG_CALLBACK: starts a request's state with the full
 * request target, before libmicrohttpd parses it; cls is
 * HTTP_LISTENER_CLS(). */
void *http_on_uri(void *cls, const char *uri, struct MHD_Connection *c);

/* The access handler (MHD_start_daemon's dh), driven through the call
 * protocol of server/mhdcall.h. */
enum MHD_Result http_on_request(void *cls, struct MHD_Connection *c,
				const char *url, const char *method,
				const char *version, const char *upload_data,
				size_t *upload_size, void **req_cls);

/* MHD_OPTION_NOTIFY_COMPLETED: hands the request's record to the
 * request-record bus (server/reqbus.h) when it runs, and recycles the
 * request's state. */
void http_on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
		       enum MHD_RequestTerminationCode toe);

/* MHD_OPTION_UNESCAPE_CALLBACK: leaves the path percent-encoded, so that
 * path_from_request() sees "%00" and "%2e%2e" and judges them itself
 * (libmicrohttpd's own unescaping would cut the path at a decoded NUL). */
size_t http_unescape(void *cls, struct MHD_Connection *c, char *s);

/* A refusal for a connection libmicrohttpd has not read a byte of (the
 * first look at a connection, server/worker.c): the whole response as
 * bytes, status line to body, with what every prepd refusal carries
 * (the body "STATUS TITLE: why.", X-PREP-Cut, nosniff, the CSP,
 * Cache-Control: no-store, Date, Connection: close). head: the request
 * was a HEAD (no body is written). s is the current snapshot (call on a
 * reader thread while it is online). Writes into out (HTTP_RAW_REFUSAL_BYTES
 * always holds it; a CSP too long for a smaller out is left out) and
 * returns the length, the body's in *body_len. Thread-safe. */
#define HTTP_RAW_REFUSAL_BYTES (CFG_MAX_VALUE_BYTES + 1024u)
size_t http_raw_refusal(char *out, size_t size, const struct snap *s, unsigned status,
			const char *why, bool head, uint64_t *body_len);

/* Frees this thread's cache of request states (worker exit). */
void http_thread_cleanup(void);

#endif
