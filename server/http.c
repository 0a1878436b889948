#include "server/http.h"

#include "server/hdr.h"
#include "server/limits.h"
#include "server/log.h"
#include "server/mhdcall.h"
#include "server/mime.h"
#include "server/path.h"
#include "server/range.h"
#include "server/reqbus.h"
#include "server/reqrec.h"
#include "server/rules.h"
#include "server/snap_int.h"
#include "server/util.h"
#include "server/worker.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <threads.h>
#include <time.h>

/* Per-request state, recycled through a per-thread free list: every
 * callback of one connection runs on the worker thread that owns its
 * daemon, so no lock is needed. */
struct req {
	struct req *next_free;
	struct mhdcall call;
	uint64_t t0;
	bool head;
	bool target_bad;   /* the raw target has a space or a control byte */
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
	r->target_bad = false;
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
	/* libmicrohttpd 0.9.75 takes the target between the first space and
	 * the last one, spaces included, and passes NULL for "GET \r\n". */
	r->target_bad = !hdr_target_bytes_ok(uri);
	if (reqbus_enabled())
		reqrec_set_target(&r->rec, uri ? uri : "");
	return r;
}

static void response_done(void *cls)
{
	entry_release(cls);
}

/* The current cut as this request's listener serves it: over HTTPS with
 * [tls] hsts set, its twin whose responses add Strict-Transport-Security
 * (struct snap's https). One load and a compare: no allocation. */
static const struct snap *snap_for(const struct req *r)
{
	const struct snap *s = snap_current();
	return r->rec.listener == REQREC_HTTPS && s->https ? s->https : s;
}

static enum MHD_Result queue(struct MHD_Connection *c, struct req *r,
			     unsigned status, struct MHD_Response *resp,
			     uint64_t body)
{
	r->rec.status = (uint16_t)status;
	r->rec.bytes = (r->head || status == MHD_HTTP_NOT_MODIFIED) ? 0 : body;
	enum MHD_Result ret = mhdcall_queue(&r->call, c, status, resp);
	/* libmicrohttpd sends the body of a buffer answer in the same call as
	 * its head unless the method or status has none (RFC 9110 6.4.1). */
	if (ret == MHD_YES && r->rec.bytes && status >= 200 && status != MHD_HTTP_NO_CONTENT &&
	    r->rec.listener == REQREC_HTTPS)
		worker_body_follows(c, r->rec.bytes);
	return ret;
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

struct query {
	char *buf;
	size_t n, room;
	unsigned args;
	bool overflow;
};

static void query_put(struct query *q, const char *s, size_t n)
{
	if (q->n + n >= q->room) {
		q->overflow = true;
		return;
	}
	/* 0.9.75 turned each '+' into a space before our (no-op) unescape
	 * callback; a raw space never gets here (hdr_target_bytes_ok). */
	for (size_t i = 0; i < n; i++)
		q->buf[q->n++] = s[i] == ' ' ? '+' : s[i];
	q->buf[q->n] = '\0';
}

static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				 size_t key_size, const char *value, size_t value_size)
{
	(void)kind;
	struct query *q = cls;
	if (q->args++)
		query_put(q, "&", 1);
	query_put(q, key, key_size);
	if (value) {
		query_put(q, "=", 1);
		query_put(q, value, value_size);
	}
	return MHD_YES;
}

/* 301 from a folder without its slash to the folder ("/estados/Nuevo León"
 * to ".../Nuevo%20Le%C3%B3n/"), built from the normalised path so it can
 * never point off-site ("//host"), with the query string kept. 0.9.75 has
 * already split the query into arguments (keys and values still
 * percent-encoded: http_unescape() is a no-op), so it is joined again. */
static enum MHD_Result redirect_dir(struct MHD_Connection *c, struct req *r,
				    const struct snap *s, const char *path)
{
	char loc[3 * REQ_MAX_PATH_BYTES + REQ_MAX_QUERY_BYTES + 8];
	size_t o = 0;
	loc[o++] = '/';
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (o + 5 >= 3 * REQ_MAX_PATH_BYTES + 4)
			return queue_error(c, r, s, SNAP_ERR_414, MHD_HTTP_URI_TOO_LONG);
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("/-._~", *p))
			loc[o++] = (char)*p;
		else
			o += (size_t)snprintf(loc + o, sizeof loc - o, "%%%02X", *p);
	}
	loc[o++] = '/';
	loc[o] = '\0';
	struct query q = { loc + o, 0, sizeof loc - o, 0, false };
	query_put(&q, "?", 1);
	if (MHD_get_connection_values_n(c, MHD_GET_ARGUMENT_KIND, query_arg, &q) == 0)
		loc[o] = '\0';
	if (q.overflow)
		return queue_error(c, r, s, SNAP_ERR_414, MHD_HTTP_URI_TOO_LONG);
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

/* Reason phrases of the refusals prepd builds, Spanish first as in the
 * snapshot's error pages. */
static const char *refusal_title(unsigned status)
{
	switch (status) {
	case MHD_HTTP_BAD_REQUEST: return "Solicitud no valida / Bad request";
	case MHD_HTTP_METHOD_NOT_ALLOWED: return "Metodo no permitido / Method not allowed";
	case MHD_HTTP_PRECONDITION_FAILED: return "Precondicion fallida / Precondition failed";
	case MHD_HTTP_CONTENT_TOO_LARGE: return "Contenido no admitido / Content too large";
	case MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE:
		return "Encabezados demasiado grandes / Request header fields too large";
	case MHD_HTTP_NOT_IMPLEMENTED: return "No implementado / Not implemented";
	case MHD_HTTP_HTTP_VERSION_NOT_SUPPORTED:
		return "Version de HTTP no admitida / HTTP version not supported";
	default: return "Error";
	}
}

/* A refusal built for this request: a short text body naming the reason,
 * the headers every response carries (cut, nosniff, CSP) and, when close,
 * "Connection: close", which makes libmicrohttpd close after it. */
static enum MHD_Result refuse(struct MHD_Connection *c, struct req *r, const struct snap *s,
			      unsigned status, const char *why, bool close)
{
	char body[256];
	int n = snprintf(body, sizeof body, "%u %s: %s.\n", status, refusal_title(status), why);
	if (n < 0 || (size_t)n >= sizeof body)
		n = (int)sizeof body - 1;
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		(size_t)n, body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				    "text/plain; charset=utf-8") != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES ||
	    (status == MHD_HTTP_METHOD_NOT_ALLOWED &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") != MHD_YES) ||
	    (close && MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES) ||
	    snap_add_cut_headers(resp, s, true)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	return queue_once(c, r, status, resp, (uint64_t)n);
}

size_t http_raw_refusal(char *out, size_t size, const struct snap *s, unsigned status,
			const char *why, bool head, uint64_t *body_len)
{
	char body[512];
	int b = snprintf(body, sizeof body, "%u %s: %s.\n", status, refusal_title(status), why);
	if (b < 0 || (size_t)b >= sizeof body)
		b = (int)sizeof body - 1;
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
	const char *phrase = MHD_get_reason_phrase_for(status);
	for (int csp = 1; csp >= 0; csp--) {
		int n = snprintf(out, size,
				 "HTTP/1.1 %u %s\r\nDate: %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
				 "Content-Length: %d\r\nCache-Control: no-store\r\nConnection: close\r\n"
				 "X-PREP-Cut: %s\r\nX-Content-Type-Options: nosniff\r\n%s%s%s\r\n%s",
				 status, phrase, date, b, s->cut_hdr,
				 csp ? "Content-Security-Policy: " : "", csp ? s->policy.csp : "",
				 csp ? "\r\n" : "", head ? "" : body);
		if (n > 0 && (size_t)n < size) {
			*body_len = head ? 0 : (uint64_t)b;
			return (size_t)n;
		}
	}
	*body_len = 0;
	return 0;
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
	if (snap_add_headers(resp, s, sl, false, status, snap_behind()) ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr) != MHD_YES) {
		MHD_destroy_response(resp);
		return queue_error(c, r, s, SNAP_ERR_500, MHD_HTTP_INTERNAL_SERVER_ERROR);
	}
	return queue_once(c, r, status, resp, body);
}

/* A per-cut file's answers while this origin is behind its fleet, when
 * the snapshot has none prebuilt ([cache] policy without fleet): built
 * for this request only, from the same policy. g: the gzip variant's
 * responses the request chose, or NULL for identity. */
static enum MHD_Result queue_behind_once(struct MHD_Connection *c, struct req *r,
					 const struct snap *s, const struct slot *sl,
					 unsigned status, const struct slot_gz *g)
{
	const struct entry_gz *v = g ? entry_variant(sl->e) : NULL;
	struct MHD_Response *resp = snap_body_response(sl->e, v);
	if (!resp)
		return queue_error(c, r, s, SNAP_ERR_500, MHD_HTTP_INTERNAL_SERVER_ERROR);
	if (snap_add_headers(resp, s, sl, v != NULL, status, true)) {
		MHD_destroy_response(resp);
		return queue_error(c, r, s, SNAP_ERR_500, MHD_HTTP_INTERNAL_SERVER_ERROR);
	}
	return queue_once(c, r, status, resp, v ? v->len : sl->e->len);
}

/* Queues one of sl's prebuilt answers: 200 or 304 (nm), identity or the
 * gzip variant g (loaded once by the caller: slot_gz()); behind (a
 * per-cut file of an origin behind its fleet) takes the non-cacheable
 * set. */
static enum MHD_Result answer(struct MHD_Connection *c, struct req *r, const struct snap *s,
			      const struct slot *sl, bool behind, bool nm,
			      const struct slot_gz *g)
{
	unsigned status = nm ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK;
	uint64_t body = g ? g->len : sl->e->len;
	if (behind && !sl->immutable) {
		if (!sl->behind || (g && !g->behind_ok))
			return queue_behind_once(c, r, s, sl, status, g);
		if (g)
			return queue(c, r, status, nm ? g->behind_nm : g->behind_ok, body);
		return queue(c, r, status, nm ? sl->behind->nm : sl->behind->ok, body);
	}
	if (g)
		return queue(c, r, status, nm ? g->nm : g->ok, body);
	return queue(c, r, status, nm ? sl->nm : sl->ok, body);
}

/* Serves an existing file with status 200: conditional requests first,
 * then a byte range, then the gzip or identity body. */
static enum MHD_Result send_file(struct MHD_Connection *c, struct req *r,
				 const struct snap *s, const struct slot *sl)
{
	const struct entry *e = sl->e;
	/* One load: the variant may be attached meanwhile (server/variant.h),
	 * and this request uses what it saw here throughout. */
	const struct slot_gz *g = slot_gz(sl);
	bool gz = g && hdr_accepts_gzip(header(c, MHD_HTTP_HEADER_ACCEPT_ENCODING));
	/* The statistics' page views: HTML, the SPA fallback included. */
	if (e->mime && !strcmp(e->mime->type, "text/html"))
		r->rec.flags |= REQREC_PAGE;
	bool behind = snap_behind();

	/* Preconditions in the order of RFC 9110 13.2.2. If-Match and
	 * If-Unmodified-Since (13.1.1, 13.1.4) accept either variant's
	 * validator, as If-None-Match does below: both name this content. */
	const char *im = header(c, MHD_HTTP_HEADER_IF_MATCH);
	if (im) {
		if (!hdr_etag_match_strong(im, e->etag) &&
		    !(g && hdr_etag_match_strong(im, e->etag_gz)))
			return refuse(c, r, s, MHD_HTTP_PRECONDITION_FAILED,
				      "If-Match names no current ETag", false);
	} else {
		time_t ius;
		/* An invalid date (or a list of them) is ignored. */
		if (hdr_date_parse(header(c, MHD_HTTP_HEADER_IF_UNMODIFIED_SINCE), &ius) &&
		    e->mtime > ius)
			return refuse(c, r, s, MHD_HTTP_PRECONDITION_FAILED,
				      "modified since If-Unmodified-Since", false);
	}

	const char *inm = header(c, MHD_HTTP_HEADER_IF_NONE_MATCH);
	if (inm) {
		/* Either variant's ETag proves the client holds this content. */
		if (g && hdr_etag_match(inm, e->etag_gz))
			return answer(c, r, s, sl, behind, true, g);
		/* Name the variant the client holds, so a cache can match the
		 * 304 to its stored copy (RFC 9111 4.3.4). */
		if (hdr_etag_match(inm, e->etag))
			return answer(c, r, s, sl, behind, true, NULL);
	} else {
		time_t ims;
		/* A date in the future is invalid and ignored (RFC 9110 13.1.3). */
		if (hdr_date_parse(header(c, MHD_HTTP_HEADER_IF_MODIFIED_SINCE), &ims) &&
		    e->mtime <= ims && ims <= time(NULL))
			return answer(c, r, s, sl, behind, true, gz ? g : NULL);
	}

	if (header(c, MHD_HTTP_HEADER_RANGE) &&
	    if_range_holds(header(c, MHD_HTTP_HEADER_IF_RANGE), e)) {
		enum MHD_Result ret = send_range(c, r, s, sl);
		if (r->call.answered)
			return ret;
	}
	return answer(c, r, s, sl, behind, false, gz ? g : NULL);
}

static enum MHD_Result route(struct MHD_Connection *c, struct req *r,
			     const struct snap *s, const char *target)
{
	char path[PKG_MAX_PATH_BYTES_DEFAULT * 4 + 16];
	bool is_dir;
	/* An absolute-form target ("http://host/x", RFC 9112 3.2.2) is
	 * served as its path; prepd has one site, so the host only has to be
	 * valid (on_head() checked it). */
	const char *url;
	if (hdr_target_parse(target, &url) == HDR_TARGET_BAD)
		return queue_error(c, r, s, SNAP_ERR_400, MHD_HTTP_BAD_REQUEST);
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
	/* Skew protection: a fingerprinted file of an earlier cut that this
	 * one does not have (an index.html cached anywhere still finds its
	 * bundle). Only after the cut's own files and folders. */
	if (!sl && !is_dir && s->nkept)
		sl = snap_lookup_kept(s, path);
	/* Single-page app routes (/presidencia/entidad/07) have no file: they
	 * get the app's index.html. Paths with an extension are real misses
	 * (a missing main-2LZQ6AHC.js must never be answered with HTML: the
	 * browser would run it as the bundle). */
	if (!sl && s->fallback && !*path_ext(path))
		sl = s->fallback;
	if (sl)
		return send_file(c, r, s, sl);
	/* A fingerprinted miss, or any miss while this origin is behind its
	 * fleet, is not cached anywhere (policy_build_pages()). */
	enum snap_nf which = snap_behind() || rules_cache_class(path) == CACHE_IMMUTABLE ?
			     SNAP_NF_NOSTORE : SNAP_NF_SHORT;
	bool gz = s->nf[which][1] &&
		  hdr_accepts_gzip(header(c, MHD_HTTP_HEADER_ACCEPT_ENCODING));
	return queue(c, r, MHD_HTTP_NOT_FOUND, s->nf[which][gz], s->nf_len[gz]);
}

/* What one pass over the request's header lines finds (scan_field). */
struct scan {
	uintptr_t prev_end;     /* where the previous line's content ended */
	bool layout_bad;        /* a NUL inside a line, or a folded line */
	bool name_bad, value_bad, field_long;
	unsigned fields, hosts;
	const char *host;
	size_t host_len;
	unsigned cls;
	bool cl_bad, cl_differ;
	uint64_t cl;
	struct hdr_te te;
};

/* True if the n bytes at p are all NUL: what libmicrohttpd 0.9.75 leaves
 * of a line's CR LF (or bare LF) in its read buffer. */
static bool all_nul(uintptr_t p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (((const char *)p)[i])
			return false;
	return true;
}

static enum MHD_Result scan_field(void *cls, enum MHD_ValueKind kind, const char *key,
				  size_t key_size, const char *value, size_t value_size)
{
	(void)kind;
	struct scan *sc = cls;
	sc->fields++;
	if (!value)
		value = "";
	/* libmicrohttpd 0.9.75 parses the head in place: each name ends at
	 * its colon (made NUL), the value starts after the spaces that
	 * follow, and each line's CR LF became NUL. Its values are
	 * NUL-terminated strings, so a NUL inside a value hides the rest of
	 * the line; the only trace is a gap between one line's end and the
	 * next name that is not all NUL. A folded line (obs-fold, RFC 9112
	 * 5.2) is joined elsewhere in the pool: the gap is off too. */
	uintptr_t k = (uintptr_t)key, v = (uintptr_t)value;
	bool layout_ok = k > sc->prev_end && k - sc->prev_end <= 2 &&
			 all_nul(sc->prev_end, k - sc->prev_end) && v >= k + key_size + 1;
	for (uintptr_t p = k + key_size + 1; layout_ok && p < v; p++)
		if (*(const char *)p != ' ' && *(const char *)p != '\t')
			layout_ok = false;
	if (!layout_ok)
		sc->layout_bad = true;
	sc->prev_end = v + value_size;
	/* The line as sent: name, colon, spaces, value. */
	if ((layout_ok ? v - k : key_size + 2) + value_size > REQ_MAX_FIELD_BYTES)
		sc->field_long = true;

	/* Field names are tokens (RFC 9110 5.1): "Content-Length : 5"
	 * arrives as the name "Content-Length " and must not be ignored
	 * (RFC 9112 5.1: 400). */
	if (!key_size)
		sc->name_bad = true;
	for (size_t i = 0; i < key_size && !sc->name_bad; i++) {
		unsigned char ch = (unsigned char)key[i];
		if (!isalnum(ch) && !strchr("!#$%&'*+-.^_`|~", ch))
			sc->name_bad = true;
	}
	/* No CR, LF, NUL or other control byte but HTAB (RFC 9110 5.5). */
	for (size_t i = 0; i < value_size; i++) {
		unsigned char ch = (unsigned char)value[i];
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			sc->value_bad = true;
	}

	if (key_size == 4 && !strcasecmp(key, MHD_HTTP_HEADER_HOST)) {
		sc->hosts++;
		sc->host = value;
		/* 0.9.75 keeps a value's trailing whitespace; it is not part
		 * of the field value (RFC 9110 5.5). */
		sc->host_len = value_size;
		while (sc->host_len && (value[sc->host_len - 1] == ' ' || value[sc->host_len - 1] == '\t'))
			sc->host_len--;
	} else if (key_size == 14 && !strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
		uint64_t n;
		if (!hdr_content_length(value, &n))
			sc->cl_bad = true;
		else if (sc->cls && n != sc->cl)
			sc->cl_differ = true;
		sc->cl = n;
		sc->cls++;
	} else if (key_size == 17 && !strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
		hdr_te_add(&sc->te, value);
	}
	return MHD_YES;
}

/* The first call: the whole head is in and no body byte has been read.
 * A request whose framing or head is not valid HTTP/1.1 (RFC 9110, 9112)
 * is refused here, with "Connection: close", so that the body (if any)
 * is never read and nothing after it is taken for the next request.
 * Anything else waits for on_end(): libmicrohttpd 0.9.75 drops keep-alive
 * for a response queued on the first call, 5-8x the throughput
 * (mhdcall.h). */
static enum MHD_Result on_head(struct MHD_Connection *c, struct mhdcall *call, void *req,
			       const char *url, const char *method, const char *version)
{
	(void)call;
	struct req *r = req;
	reqrec_set_field(r->rec.method, sizeof r->rec.method, method, SIZE_MAX);
	reqrec_set_field(r->rec.proto, sizeof r->rec.proto, version, SIZE_MAX);

	struct scan sc = { .prev_end = (uintptr_t)version + strlen(version) };
	MHD_get_connection_values_n(c, MHD_HEADER_KIND, scan_field, &sc);
	const union MHD_ConnectionInfo *hi =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	size_t head = hi ? hi->header_size : 0;
	/* After the last line: its line end and the empty line, 2 to 4 NULs. */
	uintptr_t head_end = (uintptr_t)method + head;
	if (head_end < sc.prev_end + 2 || head_end - sc.prev_end > 4 ||
	    !all_nul(sc.prev_end, head_end - sc.prev_end))
		sc.layout_bad = true;

	const char *why = NULL;
	unsigned status = MHD_HTTP_BAD_REQUEST;
	const char *path;
	enum hdr_target form = hdr_target_parse(url, &path);
	enum hdr_te_result te = hdr_te_result(&sc.te);
	/* 0.9.75 takes HTTP/1.2-1.9 as 1.1 (RFC 9112 2.3) and refuses the rest. */
	bool http11 = strcmp(version, MHD_HTTP_VERSION_1_0) != 0;
	if (head > REQ_MAX_HEAD_BYTES || sc.field_long || sc.fields > REQ_MAX_FIELDS) {
		status = MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE;
		why = head > REQ_MAX_HEAD_BYTES ? "the request head is over 16 KiB" :
		      sc.field_long ? "a header line is over 8 KiB" : "over 100 header lines";
	} else if (r->target_bad) {
		why = "a space or control byte in the request target";
	} else if (form == HDR_TARGET_BAD) {
		why = "the request target is not a path or an http(s) URL";
	} else if (sc.layout_bad) {
		why = "a NUL byte or a folded line in the header";
	} else if (sc.name_bad) {
		why = "a header name that is not a token (space before the colon?)";
	} else if (sc.value_bad) {
		why = "a control character in a header value";
	} else if (http11 && !sc.hosts) {
		why = "no Host header";
	} else if (sc.hosts > 1) {
		why = "more than one Host header";
	} else if (sc.hosts && form == HDR_TARGET_ORIGIN && !hdr_host_valid(sc.host, sc.host_len)) {
		why = "the Host header is not a valid host";
	} else if (te != HDR_TE_NONE && !http11) {
		why = "Transfer-Encoding in an HTTP/1.0 request";
	} else if (te != HDR_TE_NONE && sc.cls) {
		why = "both Content-Length and Transfer-Encoding";
	} else if (te == HDR_TE_UNKNOWN) {
		status = MHD_HTTP_NOT_IMPLEMENTED;
		why = "an unknown transfer coding";
	} else if (te == HDR_TE_BAD) {
		why = "chunked is not the final transfer coding";
	} else if (sc.cl_bad) {
		why = "an invalid Content-Length";
	} else if (sc.cl_differ) {
		why = "Content-Length values that differ";
	} else if (te == HDR_TE_CHUNKED || sc.cl > 0) {
		/* The public site takes no request content: refuse it before a
		 * byte of it is read, whatever its size. */
		bool safe = !strcmp(method, MHD_HTTP_METHOD_GET) ||
			    !strcmp(method, MHD_HTTP_METHOD_HEAD);
		status = safe ? MHD_HTTP_CONTENT_TOO_LARGE : MHD_HTTP_METHOD_NOT_ALLOWED;
		why = safe ? "this server takes no request content" : "use GET or HEAD";
	}
	if (!why)
		return MHD_YES;
	const struct snap *s = snap_for(r);
	r->rec.seq = s->cut.seq;
	if (reqbus_enabled())
		reqrec_set_field(r->rec.label, sizeof r->rec.label, s->cut.label, SIZE_MAX);
	return refuse(c, r, s, status, why, true);
}

/* After any body (on GET/HEAD, or on a method about to get 405) was read
 * and dropped. */
static enum MHD_Result on_end(struct MHD_Connection *c, struct mhdcall *call, void *req,
			      const char *url, const char *method)
{
	(void)call;
	struct req *r = req;
	const struct snap *s = snap_for(r);
	r->rec.seq = s->cut.seq;
	if (reqbus_enabled())
		reqrec_set_field(r->rec.label, sizeof r->rec.label, s->cut.label, SIZE_MAX);

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
	const char *host;   /* the Host value, for REQREC_REF_SELF */
	size_t host_len;
};

/* Whether referer ("https://HOST[:PORT]/...") names host (a Host value,
 * its port ignored): the statistics count only external referrers. */
static bool referer_is_self(const char *referer, const char *host, size_t host_len)
{
	const char *p = strstr(referer, "://");
	if (!p || !host)
		return false;
	p += 3;
	size_t n = strcspn(p, "/?#:");
	size_t hn = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":");
	if (hn > host_len)
		hn = host_len;
	if (p[0] == '[')
		n = strcspn(p, "]") + 1;
	return n == hn && !strncasecmp(p, host, n);
}

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
	/* The first Host, User-Agent and Referer, as a lookup would find. */
	case sizeof "Host" - 1:
		if (!t->host && !strcasecmp(key, MHD_HTTP_HEADER_HOST)) {
			t->host = value;
			t->host_len = value_size;
		}
		break;
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
	rec->flags &= (uint8_t)~(REQREC_FWD_CUT | REQREC_FWD_FORWARDED | REQREC_REF_SELF);
	struct taken t = { rec, false, false, NULL, 0 };
	MHD_get_connection_values_n(c, MHD_HEADER_KIND, take_header, &t);
	if (rec->referer[0] && referer_is_self(rec->referer, t.host, t.host_len))
		rec->flags |= REQREC_REF_SELF;
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
	/* A response libmicrohttpd 0.9.75 built itself, before our handler
	 * was called (a head too big for the pool, an invalid Content-Length:
	 * docs/security.md), still has its status here: log it, with the
	 * method and protocol unknown. */
	if (!r->rec.status) {
		const union MHD_ConnectionInfo *si =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
		if (si) {
			r->rec.status = (uint16_t)si->http_status;
			snprintf(r->rec.method, sizeof r->rec.method, "-");
			snprintf(r->rec.proto, sizeof r->rec.proto, "-");
		}
	}
	/* A request that never got a response (client left while sending its
	 * headers) is not a page view: nothing to log. */
	if (r->rec.status && reqbus_enabled())
		record(c, r);
	(void)toe;
	req_put(r);
}
