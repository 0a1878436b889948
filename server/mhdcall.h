/* The libmicrohttpd 0.9.75 call protocol, in one place for every listener
 * (server/http.c, server/admin.c). libmicrohttpd calls a listener's access
 * handler several times per request:
 *
 *   1st call    the request head is in, no body byte yet  -> head()
 *   next calls  a piece of body each, *upload_size > 0     -> body()
 *   last call   the body has ended (or there was none)    -> end()
 *
 * and 0.9.75 constrains when a response may be queued:
 *  - on the first call it closes the connection after the response
 *    (Connection: close), having not yet decided on keep-alive; for the
 *    public listener that costs 5-8x the throughput. So answers are
 *    queued in end(), and head() queues only refusals, which may close;
 *  - while a body is arriving it refuses to queue at all, so the body is
 *    read to its end (and dropped unless the request takes it) first;
 *  - a response queued in head(), before the body starts, makes it skip
 *    "100 Continue": that is where a request is refused without reading
 *    its body (the admin listener's auth and upload-name checks).
 * The connection timeout bounds a client that trickles a body. */
#ifndef PREPD_MHDCALL_H
#define PREPD_MHDCALL_H

#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

/* Per-request protocol state, kept inside the listener's request state.
 * Zero it (mhdcall_init) when a request starts. */
struct mhdcall {
	unsigned calls;
	bool answered;     /* a response was queued (mhdcall_queue) */
	bool take_body;    /* head() set it: body() gets the body */
};

/* A listener's handlers. req is the listener's own request state, as
 * given to mhdcall_run(). Each returns MHD_NO to drop the connection. */
struct mhdcall_ops {
	/* First call. Queues nothing (the answer comes in end()), or a
	 * refusal before the body, which also ends the request; sets
	 * call->take_body to have body() called. */
	enum MHD_Result (*head)(struct MHD_Connection *c, struct mhdcall *call, void *req,
				const char *url, const char *method, const char *version);
	/* A piece of the body, when call->take_body; may be NULL otherwise. */
	void (*body)(void *req, const char *data, size_t n);
	/* After the body: queues the answer with mhdcall_queue(). */
	enum MHD_Result (*end)(struct MHD_Connection *c, struct mhdcall *call, void *req,
			       const char *url, const char *method);
};

static inline void mhdcall_init(struct mhdcall *call)
{
	call->calls = 0;
	call->answered = false;
	call->take_body = false;
}

/* The body of a listener's access handler: calls ops as the protocol
 * above says, drops any body not taken, and ignores calls after a
 * response was queued. Takes no lock and allocates nothing. */
enum MHD_Result mhdcall_run(const struct mhdcall_ops *ops, struct mhdcall *call, void *req,
			    struct MHD_Connection *c, const char *url, const char *method,
			    const char *version, const char *upload_data,
			    size_t *upload_size);

/* Queues resp with status and marks the request answered. The caller
 * keeps its reference to resp (MHD_queue_response semantics). */
enum MHD_Result mhdcall_queue(struct mhdcall *call, struct MHD_Connection *c,
			      unsigned status, struct MHD_Response *resp);

#endif
