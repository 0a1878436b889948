#include "server/admin.h"
#include "server/admin_int.h"
#include "server/dashboard.h"

#include "ingest/ingest.h"
#include "ingest/store.h"
#include "server/limits.h"
#include "server/listen.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/mhdcall.h"
#include "server/util.h"
#include "ingest/verify.h"
#include "server/shield.h"
#include "edge/fleet.h"
#include "edge/purge.h"
#include "server/worker.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <limits.h>
#include <gnutls/crypto.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


static struct MHD_Daemon *daemon_;
static const struct config *cfg;
static char token[ADMIN_TOKEN_MAX_BYTES + 1];
static char *upload_dir;   /* DATA/tmp, the store's scratch folder */
static char *incoming_dir; /* DATA/incoming, where uploads are claimed */
static int upload_dir_fd = -1, incoming_fd = -1;   /* DATA/tmp, DATA/incoming */
/* What an upload reads of the reloadable settings: set at start and by
 * admin_reload(), read by the admin thread. */
static _Atomic uint64_t max_package_bytes;
static _Atomic int verify_mode;
static struct purge *edge_purge;   /* admin_edge(): set before the daemon starts */
static struct fleet *edge_fleet;

struct route;

/* Per-request state: the route chosen on the first call, an upload in
 * progress. */
struct areq {
	struct mhdcall call;
	const struct route *route;   /* NULL: no route has this path */
	bool wrong_method;           /* route has this path, not this method */
	int fd;                 /* temp file of an upload, or -1 */
	char tmp[PATH_BUF_LONG_BYTES];
	char name[FILE_NAME_BYTES];
	uint64_t size;
	bool too_big;
	bool write_failed;
};

static enum rc read_token_file(const char *file, char *out, size_t outsz,
			       char *err, size_t errsz)
{
	FILE *f = fopen(file, "r");
	if (!f) {
		snprintf(err, errsz, "cannot read the admin token %s: %s", file, strerror(errno));
		return RC_IO;
	}
	/* One byte more than a token, so a longer one is seen as too long. */
	char buf[ADMIN_TOKEN_MAX_BYTES + 2];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	return admin_token_parse(buf, n, file, out, outsz, err, errsz);
}

enum rc admin_read_token(const struct config *c, char *out, size_t outsz,
			 char *err, size_t errsz)
{
	if (c->server.admin_token)
		return read_token_file(c->server.admin_token, out, outsz, err, errsz);
	char path[PATH_BUF_LONG_BYTES];
	snprintf(path, sizeof path, "%s/admin.token", c->server.data_dir);
	return read_token_file(path, out, outsz, err, errsz);
}

/* Makes DATA/admin.token when there is none: 32 random bytes, hex. */
static enum rc make_token(char *err, size_t errsz)
{
	char path[PATH_BUF_LONG_BYTES];
	snprintf(path, sizeof path, "%s/admin.token", cfg->server.data_dir);
	if (access(path, F_OK) == 0)
		return RC_OK;
	unsigned char rnd[32];
	char hex[65];
	if (gnutls_rnd(GNUTLS_RND_KEY, rnd, sizeof rnd) < 0) {
		snprintf(err, errsz, "cannot get random bytes for the admin token");
		return RC_IO;
	}
	hex_encode(rnd, sizeof rnd, hex);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, hex, 64) != 64 || write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
		snprintf(err, errsz, "cannot write the admin token %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return RC_IO;
	}
	close(fd);
	log_info("admin token-created file=%s action=\"give this file to admin clients "
		 "(prepd rollback reads it by default)\"", path);
	return RC_OK;
}

/* The bearer token, or (GET and HEAD only, so a browser can open the
 * dashboard) the token as HTTP Basic's password: server/dashboard.h says
 * why no other method takes Basic. */
static bool token_ok(const char *auth, const char *method)
{
	return dashboard_auth_ok(auth, token, !strcmp(method, MHD_HTTP_METHOD_GET) ||
				 !strcmp(method, MHD_HTTP_METHOD_HEAD));
}

static enum MHD_Result reply(struct MHD_Connection *c, struct areq *r,
			     unsigned status, const char *ctype, char *body)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_UNAUTHORIZED) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"prepd admin\"");
		/* A browser asks for a user and password: the token is the
		 * password (GET /, the dashboard). */
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Basic realm=\"prepd\", charset=\"UTF-8\"");
	}
	enum MHD_Result ret = mhdcall_queue(&r->call, c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply_json(struct MHD_Connection *c, struct areq *r,
				  unsigned status, json_t *j)
{
	char *body = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(j);
	if (!body)
		return MHD_NO;
	size_t n = strlen(body);
	char *withnl = realloc(body, n + 2);
	if (withnl) {
		withnl[n] = '\n';
		withnl[n + 1] = '\0';
		body = withnl;
	}
	return reply(c, r, status, "application/json", body);
}

static enum MHD_Result reply_error(struct MHD_Connection *c, struct areq *r,
				   unsigned status, const char *msg)
{
	return reply_json(c, r, status, json_pack("{s:s}", "error", msg));
}

static enum MHD_Result get_status(struct MHD_Connection *c, struct areq *r, const char *arg)
{
	(void)arg;
	struct ingest_status st;
	ingest_get_status(&st);
	json_t *j = json_object();
	json_object_set_new(j, "version", json_string(PREPD_VERSION));
	json_object_set_new(j, "cut", json_pack("{s:I,s:s,s:o}", "seq", (json_int_t)st.cut.seq,
						 "label", st.cut.label,
						 "time", st.cut.time[0] ? json_string(st.cut.time) : json_null()));
	json_object_set_new(j, "last_attempt", admin_json_time(st.last_attempt));
	json_object_set_new(j, "last_result", st.last_attempt ? json_string(st.last_result) : json_null());
	json_object_set_new(j, "last_success", admin_json_time(st.last_success));
	json_object_set_new(j, "next_poll", admin_json_time(st.next_poll));
	json_object_set_new(j, "failed_in_a_row", json_integer(st.failed_in_a_row));
	/* R13's clock: the cut's age, and the update periods without a newer one. */
	time_t now = time(NULL);
	json_object_set_new(j, "cut_published", admin_json_time(st.cut_published));
	json_object_set_new(j, "cut_age_s", st.cut_published ?
			    json_integer((json_int_t)(now - st.cut_published)) : json_null());
	json_object_set_new(j, "cut_time_age_s", st.cut.timed ?
			    json_integer((json_int_t)(now - st.cut.at)) : json_null());
	json_object_set_new(j, "period_s", json_integer(st.period_s));
	json_object_set_new(j, "next_cut_due", admin_json_time(st.next_cut_due));
	json_object_set_new(j, "failed_periods", json_integer(st.failed_periods));
	if (st.failed_periods >= 2)
		json_object_set_new(j, "warning", json_string(
			"two or more update periods in a row failed: the institute drops a difusor "
			"after three (R13); check the log now"));
	else if (st.failed_periods == 1)
		json_object_set_new(j, "warning", json_string(
			"one update period passed without a newer cut: the institute drops a "
			"difusor after three in a row (R13); check the log"));
	json_object_set_new(j, "history_bytes", json_integer((json_int_t)st.history_bytes));
	json_object_set_new(j, "free_bytes", json_integer((json_int_t)st.free_bytes));
	json_object_set_new(j, "connections", json_integer(workers_connections()));
	/* The shield (server/shield.h): what each limit's action did since
	 * start, slots taken back, clients followed. */
	struct shield *sh = workers_shield();
	if (sh) {
		json_t *sj = json_object();
		for (int i = 0; i < SHIELD_COUNTERS; i++)
			json_object_set_new(sj, shield_counter_name((enum shield_counter)i),
					    json_integer((json_int_t)shield_counter(sh, (enum shield_counter)i)));
		json_object_set_new(sj, "clients", json_integer(shield_clients(sh)));
		json_object_set_new(j, "shield", sj);
	}
	/* The CDN purge targets and the fleet view (edge/). */
	if (edge_purge) {
		json_t *pa = json_array();
		for (unsigned i = 0; i < purge_count(edge_purge); i++) {
			struct purge_state ps;
			purge_state(edge_purge, i, &ps);
			json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:s,s:b,s:I,s:I,s:I,s:I,s:I}",
					      "name", ps.name, "type", ps.type, "by", ps.by,
					      "last_cut", ps.last_cut, "last_attempt",
					      admin_json_time(ps.last_attempt), "last_ok", admin_json_time(ps.last_ok),
					      "last_status", ps.last_status ? json_integer(ps.last_status) :
					      json_null(), "result", ps.result, "pending", ps.pending,
					      "purges_ok", (json_int_t)ps.purges_ok,
					      "failures", (json_int_t)ps.purges_failed,
					      "attempts", (json_int_t)ps.attempts,
					      "retries", (json_int_t)ps.retries,
					      "superseded", (json_int_t)ps.superseded);
			if (o && ps.last_why[0])
				json_object_set_new(o, "last_why", json_string(ps.last_why));
			if (o && ps.attempt_cut[0])
				json_object_set_new(o, "attempt_cut", json_string(ps.attempt_cut));
			json_array_append_new(pa, o);
		}
		json_object_set_new(j, "purge", pa);
	}
	if (edge_fleet) {
		struct fleet_state fs;
		struct fleet_peer_state peers[FLEET_MAX_PEERS];
		unsigned n = fleet_state(edge_fleet, &fs, peers, FLEET_MAX_PEERS);
		json_t *pa = json_array();
		for (unsigned i = 0; i < n && i < FLEET_MAX_PEERS; i++)
			json_array_append_new(pa, json_pack("{s:s,s:b,s:s?,s:o}", "url", peers[i].url,
							    "healthy", peers[i].healthy,
							    "cut", peers[i].known ? peers[i].label : NULL,
							    "since", admin_json_time(peers[i].since)));
		json_object_set_new(j, "fleet", json_pack("{s:b,s:s,s:i,s:i,s:i,s:I,s:I,s:o}",
			"behind", fs.behind, "newest", fs.newest, "peers", (int)fs.peers,
			"healthy", (int)fs.healthy, "waiting", (int)fs.waiting,
			"purged_served", (json_int_t)fs.fired_served,
			"purged_max_wait", (json_int_t)fs.fired_max_wait, "peer", pa));
	}
	return reply_json(c, r, MHD_HTTP_OK, j);
}

void admin_edge(struct purge *p, struct fleet *f)
{
	edge_purge = p;
	edge_fleet = f;
}

static enum MHD_Result get_metrics(struct MHD_Connection *c, struct areq *r, const char *arg)
{
	(void)arg;
	size_t n;
	char *body = metrics_render(&n);
	if (!body)
		return reply_error(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	return reply(c, r, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body);
}

/* GET /: the dashboard page; its script fetches /dashboard.json. */
static enum MHD_Result get_dashboard(struct MHD_Connection *c, struct areq *r, const char *arg)
{
	(void)arg;
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		dashboard_page_len, (void *)dashboard_page, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "Content-Security-Policy", dashboard_csp);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	enum MHD_Result ret = mhdcall_queue(&r->call, c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result get_dashboard_json(struct MHD_Connection *c, struct areq *r,
					  const char *arg)
{
	(void)arg;
	struct ingest_status st;
	ingest_get_status(&st);
	char *body = dashboard_json(cfg->server.data_dir, &st, time(NULL));
	if (!body)
		return reply_error(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	return reply(c, r, MHD_HTTP_OK, "application/json", body);
}

static enum MHD_Result upload_begin(struct MHD_Connection *c, struct areq *r,
				    const char *name)
{
	if (!admin_name_ok(name))
		return reply_error(c, r, MHD_HTTP_BAD_REQUEST,
				   "the name must be a plain file name: letters, digits, '.', '_' and '-'");
	snprintf(r->name, sizeof r->name, "%s", name);
	snprintf(r->tmp, sizeof r->tmp, "%s/.upload-XXXXXX", upload_dir);
	r->fd = mkostemp(r->tmp, O_CLOEXEC);
	if (r->fd < 0) {
		log_error("admin upload-failed name=%s error=\"%m\" action=\"check the data folder\"", name);
		return reply_error(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot store the upload");
	}
	return MHD_YES;
}

static void upload_data(struct areq *r, const char *data, size_t n)
{
	if (r->too_big || r->write_failed)
		return;
	if (r->size + n > atomic_load(&max_package_bytes)) {
		r->too_big = true;
		return;
	}
	while (n) {
		ssize_t w = write(r->fd, data, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			r->write_failed = true;
			return;
		}
		data += w;
		n -= (size_t)w;
		r->size += (uint64_t)w;
	}
}

static enum MHD_Result upload_end(struct MHD_Connection *c, struct areq *r, const char *arg)
{
	(void)arg;
	if (!r->too_big && !r->write_failed && fsync(r->fd) != 0)
		r->write_failed = true;
	if (close(r->fd) != 0)
		r->write_failed = true;
	r->fd = -1;
	if (r->too_big || r->write_failed) {
		unlink(r->tmp);
		if (r->write_failed)
			log_error("admin upload-failed name=%s error=\"write failed (disk full?)\" "
				  "action=\"free disk space and upload again\"", r->name);
		return reply_error(c, r, r->too_big ? MHD_HTTP_CONTENT_TOO_LARGE : MHD_HTTP_INSUFFICIENT_STORAGE,
				   r->too_big ? "the package is larger than max_package_bytes"
					      : "the upload could not be written: disk full?");
	}
	/* Claimed before it is acknowledged: its own name in DATA/incoming,
	 * durable, so two uploads of one name are two packages and a 202 is
	 * never lost to a crash (the next start takes it). */
	char claimed[NAME_MAX + 1], err[512];
	const char *base = strrchr(r->tmp, '/') + 1;
	bool copied;
	enum rc rc = store_claim_name("upload", r->name, claimed, sizeof claimed);
	if (!rc)
		rc = store_claim(upload_dir_fd, base, incoming_fd, claimed, &copied, err, sizeof err);
	if (rc) {
		unlink(r->tmp);
		log_error("admin upload-failed name=%s error=\"%s\" action=\"check the data folder, "
			  "then upload again\"", r->name, rc == RC_INVALID ? "bad name" : err);
		return reply_error(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot store the upload");
	}
	char final[PATH_BUF_LONG_BYTES];
	snprintf(final, sizeof final, "%s/%s", incoming_dir, claimed);
	const char *suffix = verify_suffix((enum verify_mode)atomic_load(&verify_mode));
	size_t nl = strlen(r->name), sl = suffix ? strlen(suffix) : 0;
	bool evidence = suffix && nl > sl && !strcmp(r->name + nl - sl, suffix);
	if (ingest_submit(final, r->name, "upload", true)) {
		unlinkat(incoming_fd, claimed, 0);   /* ours, and refused: not taken later */
		return reply_error(c, r, MHD_HTTP_SERVICE_UNAVAILABLE,
				   "the ingest queue is full; try again in a minute");
	}
	if (evidence) {
		/* Checked with the next package uploaded under its name. */
		log_info("admin upload-evidence name=%s bytes=%llu claimed=%s", r->name,
			 (unsigned long long)r->size, claimed);
		return reply_json(c, r, MHD_HTTP_CREATED, json_pack("{s:s}", "stored", r->name));
	}
	log_info("admin upload name=%s bytes=%llu claimed=%s", r->name, (unsigned long long)r->size,
		 claimed);
	return reply_json(c, r, MHD_HTTP_ACCEPTED,
			  json_pack("{s:s,s:I}", "queued", r->name, "bytes", (json_int_t)r->size));
}

static enum MHD_Result post_rollback(struct MHD_Connection *c, struct areq *r,
				     const char *arg)
{
	uint64_t seq;
	if (!parse_uint(arg, 1, UINT64_MAX, &seq))
		return reply_error(c, r, MHD_HTTP_BAD_REQUEST, "expected /rollback/SEQ, SEQ as in prepd history");
	if (ingest_rollback(seq))
		return reply_error(c, r, MHD_HTTP_SERVICE_UNAVAILABLE, "the ingest queue is full");
	log_info("admin rollback-requested seq=%llu", (unsigned long long)seq);
	return reply_json(c, r, MHD_HTTP_ACCEPTED, json_pack("{s:I}", "rollback", (json_int_t)seq));
}

/* The admin routes. A request to no route's path gets 404 with the help
 * texts; to a route's path with another method, 405 "use METHOD". arg is
 * the URL after the route's path (the NAME of /upload/NAME). */
struct route {
	const char *method;   /* "GET" also answers HEAD */
	const char *path;     /* exact, or a prefix when it ends in '/' */
	/* Queues the answer, after the body. */
	enum MHD_Result (*answer)(struct MHD_Connection *c, struct areq *r, const char *arg);
	/* A route that takes a body gets begin() on the first call, where it
	 * may refuse before any body byte is read, then body() per piece.
	 * Another method on its path is answered 404, not 405, as before
	 * the table (no 405 for a request whose body would be refused). */
	bool takes_body;
	enum MHD_Result (*begin)(struct MHD_Connection *c, struct areq *r, const char *arg);
	void (*body)(struct areq *r, const char *data, size_t n);
	const char *help;
};

static const struct route routes[] = {
	{ "GET", "/", get_dashboard, false, NULL, NULL, "GET / (dashboard)" },
	{ "GET", "/dashboard.json", get_dashboard_json, false, NULL, NULL, "GET /dashboard.json" },
	{ "GET", "/status", get_status, false, NULL, NULL, "GET /status" },
	{ "GET", "/metrics", get_metrics, false, NULL, NULL, "GET /metrics" },
	{ "PUT", "/upload/", upload_end, true, upload_begin, upload_data, "PUT /upload/NAME" },
	{ "POST", "/rollback/", post_rollback, false, NULL, NULL, "POST /rollback/SEQ" },
};
#define NROUTES (sizeof routes / sizeof routes[0])

static bool route_path_matches(const struct route *rt, const char *url)
{
	size_t n = strlen(rt->path);
	/* "/" alone is the dashboard, not a prefix of every path. */
	return n > 1 && rt->path[n - 1] == '/' ? !strncmp(url, rt->path, n) : !strcmp(url, rt->path);
}

static bool route_method_matches(const struct route *rt, const char *method)
{
	return !strcmp(method, rt->method) ||
	       (!strcmp(rt->method, MHD_HTTP_METHOD_GET) && !strcmp(method, MHD_HTTP_METHOD_HEAD));
}

/* The route for url and method; else the route whose path it is, with
 * *wrong_method set; else NULL. */
static const struct route *route_find(const char *url, const char *method, bool *wrong_method)
{
	const struct route *by_path = NULL;
	*wrong_method = false;
	for (size_t i = 0; i < NROUTES; i++) {
		const struct route *rt = &routes[i];
		if (!route_path_matches(rt, url))
			continue;
		if (route_method_matches(rt, method))
			return rt;
		if (!rt->takes_body && !by_path)
			by_path = rt;
	}
	*wrong_method = by_path != NULL;
	return by_path;
}

/* "routes: GET /status, PUT /upload/NAME, POST /rollback/SEQ" */
static void route_help(char *out, size_t outsz)
{
	size_t o = (size_t)snprintf(out, outsz, "routes:");
	for (size_t i = 0; i < NROUTES && o < outsz; i++)
		o += (size_t)snprintf(out + o, outsz - o, "%s %s", i ? "," : "", routes[i].help);
}

/* The first call. Everything that may refuse a request (auth, 405, a bad
 * upload name) is decided here, before any body is read: libmicrohttpd
 * 0.9.75 queues a response only before the body starts (it then skips
 * "100 Continue") or after it ends. Auth and upload refusals are queued
 * now; 404 and 405 once any body has been read and dropped. */
static enum MHD_Result on_head(struct MHD_Connection *c, struct mhdcall *call, void *req,
			       const char *url, const char *method, const char *version)
{
	(void)version;
	struct areq *r = req;
	if (!token_ok(MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						  MHD_HTTP_HEADER_AUTHORIZATION), method)) {
		log_warn("admin unauthorized method=%s path=%s", method, url);
		return reply_error(c, r, MHD_HTTP_UNAUTHORIZED,
				   "send Authorization: Bearer <token from the admin token file> (a "
				   "browser, for GET: any user name and the token as the password)");
	}
	r->route = route_find(url, method, &r->wrong_method);
	if (r->route && !r->wrong_method && r->route->takes_body) {
		call->take_body = true;
		return r->route->begin(c, r, url + strlen(r->route->path));
	}
	return MHD_YES;
}

static void on_body(void *req, const char *data, size_t n)
{
	struct areq *r = req;
	r->route->body(r, data, n);
}

static enum MHD_Result on_end(struct MHD_Connection *c, struct mhdcall *call, void *req,
			      const char *url, const char *method)
{
	(void)call;
	(void)method;
	struct areq *r = req;
	if (!r->route) {
		char help[256];
		route_help(help, sizeof help);
		return reply_error(c, r, MHD_HTTP_NOT_FOUND, help);
	}
	if (r->wrong_method) {
		char use[32];
		snprintf(use, sizeof use, "use %s", r->route->method);
		return reply_error(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, use);
	}
	return r->route->answer(c, r, url + strlen(r->route->path));
}

static const struct mhdcall_ops ops = { .head = on_head, .body = on_body, .end = on_end };

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *data,
				  size_t *data_size, void **req_cls)
{
	(void)cls;
	struct areq *r = *req_cls;
	if (!r) {
		r = calloc(1, sizeof *r);
		if (!r)
			return MHD_NO;
		mhdcall_init(&r->call);
		r->fd = -1;
		*req_cls = r;
	}
	return mhdcall_run(&ops, &r->call, r, c, url, method, version, data, data_size);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	struct areq *r = *req_cls;
	if (!r)
		return;
	if (r->fd >= 0) {   /* the client left mid-upload */
		close(r->fd);
		unlink(r->tmp);
	}
	free(r);
	*req_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	msg[strcspn(msg, "\r\n")] = '\0';
	log_info("admin mhd message=\"%s\"", msg);
}

void admin_reload(const struct config *next)
{
	atomic_store(&max_package_bytes, next->ingest.max_package_bytes);
	atomic_store(&verify_mode, (int)next->ingest.verify);
}

enum rc admin_start(const struct config *c, char *err, size_t errsz)
{
	cfg = c;
	admin_reload(c);
	enum rc rc = c->server.admin_token ? RC_OK : make_token(err, errsz);
	if (!rc)
		rc = admin_read_token(c, token, sizeof token, err, errsz);
	if (rc)
		return rc;
	free(upload_dir);
	free(incoming_dir);
	upload_dir = store_tmp_path(c->server.data_dir);
	incoming_dir = store_incoming_path(c->server.data_dir);
	if (!upload_dir || !incoming_dir) {
		snprintf(err, errsz, "out of memory");
		return RC_NOMEM;
	}
	/* Both made by the store (ingest_start() runs first). */
	upload_dir_fd = open(upload_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	incoming_fd = open(incoming_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (upload_dir_fd < 0 || incoming_fd < 0) {
		snprintf(err, errsz, "cannot open %s: %s", upload_dir_fd < 0 ? upload_dir : incoming_dir,
			 strerror(errno));
		return RC_IO;
	}
	int fd;
	char bound[96];
	/* The admin listener is loopback unless a host is named: ":8081"
	 * means 127.0.0.1:8081, never every interface. */
	struct listen_addr la = c->server.admin;
	if (!la.host[0])
		snprintf(la.host, sizeof la.host, "127.0.0.1");
	rc = listen_open(&la, &fd, bound, sizeof bound, err, errsz);
	if (rc)
		return rc;
	daemon_ = MHD_start_daemon(MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
				   on_request, NULL,
				   MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				   MHD_OPTION_LISTEN_SOCKET, fd,
				   MHD_OPTION_CONNECTION_LIMIT, (unsigned)ADMIN_CONN_LIMIT,
				   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)NET_CONN_TIMEOUT_DEFAULT,
				   MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
				   MHD_OPTION_END);
	if (!daemon_) {
		close(fd);
		snprintf(err, errsz, "libmicrohttpd refused to start the admin listener");
		return RC_IO;
	}
	log_info("server listen proto=admin addr=%s", bound);
	return RC_OK;
}

void admin_stop(void)
{
	if (daemon_)
		MHD_stop_daemon(daemon_);
	daemon_ = NULL;
	free(upload_dir);
	upload_dir = NULL;
	free(incoming_dir);
	incoming_dir = NULL;
	if (upload_dir_fd >= 0)
		close(upload_dir_fd);
	if (incoming_fd >= 0)
		close(incoming_fd);
	upload_dir_fd = incoming_fd = -1;
}
