#include "server/http.h"

#include "server/hdr.h"
#include "server/limits.h"
#include "server/log.h"
#include "server/mhdcall.h"
#include "server/path.h"
#include "server/range.h"
#include "server/reqbus.h"
#include "server/snap_int.h"
#include "server/util.h"
#include "server/worker.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <threads.h>

/* Per-request state, recycled through a per-thread free list: every
 * callback of one connection runs on the worker thread that owns its
 * daemon, so no lock is needed. */
struct req {
	struct req *next_free;
	struct mhdcall call;
	uint64_t t0;
	bool head;
	/* What the request-record bus gets at completion; status is also
	 * what was answered. The target, label, headers and address are
	 * filled in only while the bus runs (reqbus_enabled()). */
	struct reqrec rec;
};

static thread_local struct req *free_reqs;

static thread_local unsigned free_count;


static struct req *req_get(void)
{
	struct req *r = free_reqs;
	if (r) {
		free_reqs = r->next_free;
		free_count--;
	} else {
		r = malloc(sizeof *r);
		if (!r)
			return NULL;
	}
	mhdcall_init(&r->call);
	r->head = false;
	r->rec.status = 0;
	r->rec.bytes = 0;
	r->rec.seq = 0;
	r->rec.flags = 0;
	r->rec.label[0] = '\0';
	r->rec.method[0] = '\0';
	r->rec.proto[0] = '\0';
	return r;
}

static void req_put(struct req *r)
{
	if (free_count >= NET_REQ_CACHE_MAX) {
		free(r);
		return;
	}
	r->next_free = free_reqs;
	free_reqs = r;
	free_count++;
}

void http_thread_cleanup(void)
{
	while (free_reqs) {
		struct req *r = free_reqs;
		free_reqs = r->next_free;
		free(r);
	}
	free_count = 0;
}

size_t http_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

void *http_on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	(void)c;
	struct req *r = req_get();
	if (!r)
		return NULL;
	clock_gettime(CLOCK_REALTIME, &r->rec.when);
	r->t0 = now_ns();
	r->rec.listener = (uint8_t)(uintptr_t)cls;
	if (r->rec.listener == REQREC_HTTPS)
		r->rec.flags |= REQREC_TLS;
	if (reqbus_enabled())
		reqrec_set_target(&r->rec, uri);
	return r;
}

static void response_done(void *cls)
{
	entry_release(cls);
}

static enum MHD_Result queue(struct MHD_Connection *c, struct req *r,
			     unsigned status, struct MHD_Response *resp,
			     uint64_t body)
{
	r->rec.status = (uint16_t)status;
	r->rec.bytes = (r->head || status == MHD_HTTP_NOT_MODIFIED) ? 0 : body;
	return mhdcall_queue(&r->call, c, status, resp);
}

static enum MHD_Result queue_error(struct MHD_Connection *c, struct req *r,
				   const struct snap *s, enum snap_err which,
				   unsigned status)
{
	return queue(c, r, status, s->err[which], s->err_len[which]);
}

/* Queues a response built for this request only, then drops our handle:
 * libmicrohttpd keeps its own until the response is sent. */
static enum MHD_Result queue_once(struct MHD_Connection *c, struct req *r,
				  unsigned status, struct MHD_Response *resp,
				  uint64_t body)
{
	enum MHD_Result ret = queue(c, r, status, resp, body);
	MHD_destroy_response(resp);
	return ret;
}

/* 301 from a folder without its slash to the folder ("/estados/Nuevo León"
 * to ".../Nuevo%20Le%C3%B3n/"), built from the normalised path so it can
 * never point off-site ("//host"). */
static enum MHD_Result redirect_dir(struct MHD_Connection *c, struct req *r,
				    const struct snap *s, const char *path)
{
	char loc[3 * REQ_MAX_PATH_BYTES + 4];
	size_t o = 0;
	loc[o++] = '/';
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (o + 5 >= sizeof loc)
			return queue_error(c, r, s, SNAP_ERR_414, MHD_HTTP_URI_TOO_LONG);
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("/-._~", *p))
			loc[o++] = (char)*p;
		else
			o += (size_t)snprintf(loc + o, sizeof loc - o, "%%%02X", *p);
	}
	loc[o++] = '/';
	loc[o] = '\0';
	static const char body[] = "301 Moved Permanently\n";
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, loc) != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				    "text/plain; charset=utf-8") != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				    "public, max-age=60") != MHD_YES ||
	    snap_add_cut_headers(resp, s, true)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	return queue_once(c, r, MHD_HTTP_MOVED_PERMANENTLY, resp, sizeof body - 1);
}

static const char *header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* If-Range (RFC 9110 13.1.5): the range applies only if the validator
 * still names this representation; a strong ETag or the exact date. */
static bool if_range_holds(const char *v, const struct entry *e)
{
	if (!v)
		return true;
	if (v[0] == '"')
		return !strcmp(v, e->etag);
	time_t t;
	return hdr_date_parse(v, &t) && t == e->mtime;
}

static enum MHD_Result send_range(struct MHD_Connection *c, struct req *r,
				  const struct snap *s, const struct slot *sl)
{
	struct entry *e = sl->e;
	uint64_t first, last;
	enum range_result rr = range_parse(header(c, MHD_HTTP_HEADER_RANGE),
					   e->len, &first, &last);
	if (rr == RANGE_NONE)
		return MHD_NO;   /* caller sends the whole file */

	char cr[80];
	struct MHD_Response *resp;
	unsigned status;
	uint64_t body = 0;
	if (rr == RANGE_UNSATISFIABLE) {
		snprintf(cr, sizeof cr, "bytes */%zu", e->len);
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		status = MHD_HTTP_RANGE_NOT_SATISFIABLE;
	} else {
		snprintf(cr, sizeof cr, "bytes %llu-%llu/%zu",
			 (unsigned long long)first, (unsigned long long)last, e->len);
		body = last - first + 1;
		entry_acquire(e);
		resp = MHD_create_response_from_buffer_with_free_callback_cls(
			(size_t)body, (void *)(e->data + first), response_done, e);
		if (!resp)
			entry_release(e);
		status = MHD_HTTP_PARTIAL_CONTENT;
	}
	if (!resp)
		return queue_error(c, r, s, SNAP_ERR_500, MHD_HTTP_INTERNAL_SERVER_ERROR);
	if (snap_add_headers(resp, s, sl, false, status) ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr) != MHD_YES) {
		MHD_destroy_response(resp);
		return queue_error(c, r, s, SNAP_ERR_500, MHD_HTTP_INTERNAL_SERVER_ERROR);
	}
	return queue_once(c, r, status, resp, body);
}

/* Serves an existing file with status 200: conditional requests first,
 * then a byte range, then the gzip or identity body. */
static enum MHD_Result send_file(struct MHD_Connection *c, struct req *r,
				 const struct snap *s, const struct slot *sl)
{
	const struct entry *e = sl->e;
	bool gz = sl->ok_gz && hdr_accepts_gzip(header(c, MHD_HTTP_HEADER_ACCEPT_ENCODING));

	const char *inm = header(c, MHD_HTTP_HEADER_IF_NONE_MATCH);
	if (inm) {
		/* Either variant's ETag proves the client holds this content. */
		if (sl->ok_gz && hdr_etag_match(inm, e->etag_gz))
			return queue(c, r, MHD_HTTP_NOT_MODIFIED, sl->nm_gz, 0);
		/* Name the variant the client holds, so a cache can match the
		 * 304 to its stored copy (RFC 9111 4.3.4). */
		if (hdr_etag_match(inm, e->etag))
			return queue(c, r, MHD_HTTP_NOT_MODIFIED, sl->nm, 0);
	} else {
		time_t ims;
		/* A date in the future is invalid and ignored (RFC 9110 13.1.3). */
		if (hdr_date_parse(header(c, MHD_HTTP_HEADER_IF_MODIFIED_SINCE), &ims) &&
		    e->mtime <= ims && ims <= time(NULL))
			return queue(c, r, MHD_HTTP_NOT_MODIFIED, gz ? sl->nm_gz : sl->nm, 0);
	}

	if (header(c, MHD_HTTP_HEADER_RANGE) &&
	    if_range_holds(header(c, MHD_HTTP_HEADER_IF_RANGE), e)) {
		enum MHD_Result ret = send_range(c, r, s, sl);
		if (r->call.answered)
			return ret;
	}
	if (gz)
		return queue(c, r, MHD_HTTP_OK, sl->ok_gz, e->gz_len);
	return queue(c, r, MHD_HTTP_OK, sl->ok, e->len);
}

static enum MHD_Result route(struct MHD_Connection *c, struct req *r,
			     const struct snap *s, const char *url)
{
	char path[PKG_MAX_PATH_BYTES_DEFAULT * 4 + 16];
	bool is_dir;
	if (strlen(url) > REQ_MAX_PATH_BYTES)
		return queue_error(c, r, s, SNAP_ERR_414, MHD_HTTP_URI_TOO_LONG);
	enum rc rc = path_from_request(url, path, sizeof path - sizeof "/index.html", &is_dir);
	if (rc == RC_LIMIT)
		return queue_error(c, r, s, SNAP_ERR_414, MHD_HTTP_URI_TOO_LONG);
	if (rc)
		return queue_error(c, r, s, SNAP_ERR_400, MHD_HTTP_BAD_REQUEST);

	const struct slot *sl;
	size_t n = strlen(path);
	if (is_dir) {
		strcpy(path + n, n ? "/index.html" : "index.html");
		sl = snap_lookup(s, path);
		path[n] = '\0';
	} else {
		sl = snap_lookup(s, path);
		if (!sl) {
			strcpy(path + n, "/index.html");
			bool folder = snap_lookup(s, path) != NULL;
			path[n] = '\0';
			if (folder)
				return redirect_dir(c, r, s, path);
		}
	}
	/* Single-page app routes (/presidencia/entidad/07) have no file: they
	 * get the app's index.html. Paths with an extension are real misses. */
	if (!sl && s->fallback && !*path_ext(path))
		sl = s->fallback;
	if (sl)
		return send_file(c, r, s, sl);
	if (s->notfound) {
		bool gz = s->notfound->ok_gz &&
			  hdr_accepts_gzip(header(c, MHD_HTTP_HEADER_ACCEPT_ENCODING));
		const struct entry *e = s->notfound->e;
		return gz ? queue(c, r, MHD_HTTP_NOT_FOUND, s->notfound->ok_gz, e->gz_len)
			  : queue(c, r, MHD_HTTP_NOT_FOUND, s->notfound->ok, e->len);
	}
	return queue_error(c, r, s, SNAP_ERR_404, MHD_HTTP_NOT_FOUND);
}

/* The first call: only remember what the access log shows. The answer
 * waits for on_end(): libmicrohttpd 0.9.75 drops keep-alive for a
 * response queued on the first call, 5-8x the throughput (mhdcall.h). */
static enum MHD_Result on_head(struct MHD_Connection *c, struct mhdcall *call, void *req,
			       const char *url, const char *method, const char *version)
{
	(void)c;
	(void)call;
	(void)url;
	struct req *r = req;
	snprintf(r->rec.method, sizeof r->rec.method, "%s", method);
	snprintf(r->rec.proto, sizeof r->rec.proto, "%s", version);
	return MHD_YES;
}

/* After any body (on GET/HEAD, or on a method about to get 405) was read
 * and dropped. */
static enum MHD_Result on_end(struct MHD_Connection *c, struct mhdcall *call, void *req,
			      const char *url, const char *method)
{
	(void)call;
	struct req *r = req;
	const struct snap *s = snap_current();
	r->rec.seq = s->cut.seq;
	if (reqbus_enabled())
		snprintf(r->rec.label, sizeof r->rec.label, "%s", s->cut.label);

	bool get = !strcmp(method, MHD_HTTP_METHOD_GET);
	r->head = !strcmp(method, MHD_HTTP_METHOD_HEAD);
	if (!get && !r->head)
		return queue_error(c, r, s, SNAP_ERR_405, MHD_HTTP_METHOD_NOT_ALLOWED);
	return route(c, r, s, url);
}

static const struct mhdcall_ops ops = { .head = on_head, .end = on_end };

enum MHD_Result http_on_request(void *cls, struct MHD_Connection *c,
				const char *url, const char *method,
				const char *version, const char *upload_data,
				size_t *upload_size, void **req_cls)
{
	(void)cls;
	struct req *r = *req_cls;
	if (!r)
		return MHD_NO;   /* out of memory in http_on_uri: drop the connection */
	return mhdcall_run(&ops, &r->call, r, c, url, method, version, upload_data, upload_size);
}

struct taken {
	struct reqrec *rec;
	bool ua, referer;
};

/* The headers the record carries, in one pass over the request's headers
 * rather than a lookup each. */
static enum MHD_Result take_header(void *cls, enum MHD_ValueKind kind, const char *key,
				   size_t key_size, const char *value, size_t value_size)
{
	(void)kind;
	struct taken *t = cls;
	struct reqrec *rec = t->rec;
	if (!value)
		return MHD_YES;
	switch (key_size) {
	/* The first User-Agent and Referer, as a lookup would find. */
	case sizeof "Referer" - 1:
		if (!t->referer && !strcasecmp(key, MHD_HTTP_HEADER_REFERER)) {
			reqrec_set_field(rec->referer, sizeof rec->referer, value, value_size);
			t->referer = true;
		}
		break;
	case sizeof "User-Agent" - 1:
		if (!t->ua && !strcasecmp(key, MHD_HTTP_HEADER_USER_AGENT)) {
			reqrec_set_field(rec->ua, sizeof rec->ua, value, value_size);
			t->ua = true;
		}
		break;
	/* The last proxy header line: a proxy appends its own after any
	 * the client sent. X-Forwarded-For wins over Forwarded. */
	case sizeof "X-Forwarded-For" - 1:
		if (!strcasecmp(key, "X-Forwarded-For"))
			reqrec_set_fwd(rec, value, value_size, false);
		break;
	case sizeof "Forwarded" - 1:
		if (!strcasecmp(key, MHD_HTTP_HEADER_FORWARDED) &&
		    (!rec->fwd[0] || (rec->flags & REQREC_FWD_FORWARDED)))
			reqrec_set_fwd(rec, value, value_size, true);
		break;
	}
	return MHD_YES;
}

/* Completes the record and hands it to the bus. */
static void record(struct MHD_Connection *c, struct req *r)
{
	struct reqrec *rec = &r->rec;
	rec->dur_ns = now_ns() - r->t0;
	rec->ua[0] = '\0';
	rec->referer[0] = '\0';
	rec->fwd[0] = '\0';
	rec->flags &= (uint8_t)~(REQREC_FWD_CUT | REQREC_FWD_FORWARDED);
	struct taken t = { rec, false, false };
	MHD_get_connection_values_n(c, MHD_HEADER_KIND, take_header, &t);
	worker_request_client(c, &rec->client, &rec->peer);
	reqbus_put(rec);
}

void http_on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
		       enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	struct req *r = *req_cls;
	if (!r)
		return;
	*req_cls = NULL;
	/* A request that never got a response (client left while sending its
	 * headers) is not a page view: nothing to log. */
	if (r->rec.status && reqbus_enabled())
		record(c, r);
	(void)toe;
	req_put(r);
}
