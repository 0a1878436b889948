/* Purge requests and answers, per target type (see purge_req.h). */
#include "edge/purge_req.h"
#include "edge/purge_conf.h"
#include "server/limits.h"

#include <ctype.h>
#include <gnutls/crypto.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void purge_req_release(struct purge_req *r)
{
	free(r->url);
	for (unsigned i = 0; i < r->nheaders; i++)
		free(r->headers[i]);
	free(r->body);
	memset(r, 0, sizeof *r);
}

static enum rc add_header(struct purge_req *r, const char *name, const char *value)
{
	if (r->nheaders >= PURGE_REQ_MAX_HEADERS)
		return RC_INVALID;
	char *h;
	if (asprintf(&h, "%s: %s", name, value) < 0)
		return RC_NOMEM;
	r->headers[r->nheaders++] = h;
	return RC_OK;
}

/* base without its trailing slashes, then rest. */
static char *join_url(const char *base, const char *rest)
{
	size_t n = strlen(base);
	while (n && base[n - 1] == '/')
		n--;
	char *u;
	if (asprintf(&u, "%.*s%s", (int)n, base, rest) < 0)
		return NULL;
	return u;
}

char *purge_req_path_url(const char *path)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(path);
	char *out = malloc(3 * n + 2), *o = out;
	if (!out)
		return NULL;
	*o++ = '/';
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '.' || *p == '_' || *p == '~' || *p == '/') {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

size_t purge_req_tags(const char *tmpl, const char *label, char *buf, size_t bufsz,
		      const char **tags, size_t max)
{
	size_t used = 0, n = 0;
	for (const char *p = tmpl; *p && n < max;) {
		size_t len = strcspn(p, " \t");
		if (!len) {
			p++;
			continue;
		}
		tags[n] = buf + used;
		for (size_t i = 0; i < len && used + 1 < bufsz;) {
			if (!strncmp(p + i, "{cut}", 5)) {
				/* lowercased, as the responses' tags have it
				 * (policy_cut_tag()): Cloudflare and CloudFront
				 * match tags without case, Fastly with it */
				size_t l = strlen(label);
				if (used + l + 1 >= bufsz)
					break;
				for (size_t k = 0; k < l; k++)
					buf[used + k] = (char)tolower((unsigned char)label[k]);
				used += l;
				i += 5;
			} else {
				buf[used++] = p[i++];
			}
		}
		if (used + 1 >= bufsz)
			break;
		buf[used++] = '\0';
		n++;
		p += len;
	}
	return n;
}

enum rc purge_req_sign(const char *secret, const void *body, size_t len,
		       char *out, size_t outsz)
{
	unsigned char mac[32];
	if (outsz < 7 + 64 + 1 ||
	    gnutls_hmac_fast(GNUTLS_MAC_SHA256, secret, strlen(secret), body, len, mac) < 0)
		return RC_INVALID;
	memcpy(out, "sha256=", 7);
	for (int i = 0; i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", mac[i]);
	return RC_OK;
}

size_t purge_req_count(const struct purge_target_settings *t, const struct purge_job *job,
		       size_t from)
{
	int by = purge_by_effective(t);
	if (by != PURGE_BY_PATHS || job->everything || t->type == PURGE_TYPE_WEBHOOK)
		return 1;
	size_t left = job->npaths > from ? job->npaths - from : 0;
	size_t batch = t->type == PURGE_TYPE_VARNISH ? 1 : purge_batch_effective(t);
	if (t->type == PURGE_TYPE_CLOUDFRONT && left > batch)
		return 1;   /* one wildcard path */
	return left ? (left + batch - 1) / batch : 1;
}

/* A Varnish ban expression matching every object whose X-PREP-Cut names
 * another cut: labels are [A-Za-z0-9._-], and '.' is written [.] so the
 * expression needs no backslash (a ban string has no escapes). */
static void ban_expr(const char *label, char *out, size_t outsz)
{
	size_t o = (size_t)snprintf(out, outsz, "obj.http.X-PREP-Cut !~ \"label=");
	for (const char *p = label; *p && o + 8 < outsz; p++)
		o += (size_t)snprintf(out + o, outsz - o, *p == '.' ? "[.]" : "%c", *p);
	snprintf(out + o, outsz - o, "(;|$)\"");
}

static enum rc body_json(struct purge_req *r, json_t *j)
{
	if (!j)
		return RC_NOMEM;
	r->body = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(j);
	if (!r->body)
		return RC_NOMEM;
	r->body_len = strlen(r->body);
	return RC_OK;
}

static enum rc build_varnish(const struct purge_target_settings *t, const struct purge_job *job,
			     size_t from, struct purge_req *r)
{
	int by = purge_by_effective(t);
	enum rc rc;
	if (by == PURGE_BY_PATHS && !job->everything) {
		snprintf(r->method, sizeof r->method, "PURGE");
		char *p = purge_req_path_url(from < job->npaths ? job->paths[from] : "");
		if (!p)
			return RC_NOMEM;
		r->url = join_url(t->url, p);
		free(p);
		r->consumed = from < job->npaths ? 1 : 0;
	} else {
		char expr[256];
		if (by == PURGE_BY_CUT && !job->everything)
			ban_expr(job->label, expr, sizeof expr);
		else
			snprintf(expr, sizeof expr, "obj.status != 0");
		snprintf(r->method, sizeof r->method, "BAN");
		r->url = join_url(t->url, "/");
		if ((rc = add_header(r, "X-PREP-Ban", expr)))
			return rc;
		r->consumed = job->npaths - from;
	}
	if (!r->url)
		return RC_NOMEM;
	if ((rc = add_header(r, "Host", t->host)) ||
	    (rc = add_header(r, "X-PREP-Purge-Cut", job->label)))
		return rc;
	return RC_OK;
}

static enum rc build_cloudflare(const struct purge_target_settings *t, const char *secret,
				const struct purge_job *job, size_t from, struct purge_req *r)
{
	int by = purge_by_effective(t);
	char path[256];
	snprintf(path, sizeof path, "/zones/%s/purge_cache", t->zone);
	r->url = join_url(t->url ? t->url : PURGE_CLOUDFLARE_API, path);
	if (!r->url)
		return RC_NOMEM;
	snprintf(r->method, sizeof r->method, "POST");
	json_t *j = json_object();
	if (!j)
		return RC_NOMEM;
	size_t batch = purge_batch_effective(t);
	if (by == PURGE_BY_EVERYTHING || job->everything) {
		json_object_set_new(j, "purge_everything", json_true());
		r->consumed = job->npaths - from;
	} else if (by == PURGE_BY_TAGS) {
		char buf[PURGE_TAGS_BYTES * 4];
		const char *tags[PURGE_MAX_TAGS];
		size_t n = purge_req_tags(t->tags ? t->tags : PURGE_TAGS_DEFAULT, job->label, buf, sizeof buf, tags, PURGE_MAX_TAGS);
		json_t *a = json_array();
		for (size_t i = 0; i < n && i < batch; i++)
			json_array_append_new(a, json_string(tags[i]));
		json_object_set_new(j, "tags", a);
		r->consumed = job->npaths - from;
	} else {
		json_t *a = json_array();
		size_t i;
		for (i = from; i < job->npaths && i - from < batch; i++) {
			char *p = purge_req_path_url(job->paths[i]);
			char *u = p ? join_url(t->site, p) : NULL;
			free(p);
			if (!u) {
				json_decref(a);
				json_decref(j);
				return RC_NOMEM;
			}
			json_array_append_new(a, json_string(u));
			free(u);
		}
		json_object_set_new(j, "files", a);
		r->consumed = i - from;
	}
	enum rc rc = body_json(r, j);
	char auth[PURGE_SECRET_MAX_BYTES + 8];
	snprintf(auth, sizeof auth, "Bearer %s", secret);
	if (rc || (rc = add_header(r, "Authorization", auth)) ||
	    (rc = add_header(r, "Content-Type", "application/json")))
		return rc;
	return RC_OK;
}

/* XML text: & < > escaped (paths are percent-encoded already, so this
 * only matters for '&'). */
static void xml_put(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else
			fputc(*s, f);
	}
}

static enum rc build_cloudfront(const struct purge_target_settings *t, const struct purge_job *job,
				size_t from, struct purge_req *r)
{
	int by = purge_by_effective(t);
	char path[256];
	snprintf(path, sizeof path, "/2020-05-31/distribution/%s/invalidation", t->distribution);
	r->url = join_url(t->url ? t->url : PURGE_CLOUDFRONT_API, path);
	if (!r->url)
		return RC_NOMEM;
	snprintf(r->method, sizeof r->method, "POST");
	r->sigv4 = true;
	size_t left = job->npaths > from ? job->npaths - from : 0;
	size_t batch = purge_batch_effective(t);
	/* Over the batch, one wildcard path: 15 of them may be in progress,
	 * and it counts once, however many files it covers. */
	bool all = by == PURGE_BY_EVERYTHING || job->everything || left > batch || !left;
	char *xml = NULL;
	size_t xlen = 0;
	FILE *f = open_memstream(&xml, &xlen);
	if (!f)
		return RC_NOMEM;
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<InvalidationBatch xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\">"
		"<Paths><Quantity>%zu</Quantity><Items>", all ? (size_t)1 : left);
	if (all) {
		fputs("<Path>/*</Path>", f);
	} else {
		for (size_t i = from; i < job->npaths; i++) {
			char *p = purge_req_path_url(job->paths[i]);
			if (!p) {
				fclose(f);
				free(xml);
				return RC_NOMEM;
			}
			fputs("<Path>", f);
			xml_put(f, p);
			fputs("</Path>", f);
			free(p);
		}
	}
	/* The same reference for the same batch: a retry after a timeout that
	 * CloudFront did receive gets the first invalidation back, not a
	 * second one. */
	fprintf(f, "</Items></Paths><CallerReference>prepd-%s-%llu-%llu-%zu</CallerReference>"
		"</InvalidationBatch>", job->label, (unsigned long long)job->seq,
		(unsigned long long)job->id, from);
	if (fclose(f)) {
		free(xml);
		return RC_NOMEM;
	}
	r->body = xml;
	r->body_len = xlen;
	r->consumed = left;
	return add_header(r, "Content-Type", "text/xml");
}

static enum rc build_fastly(const struct purge_target_settings *t, const char *secret,
			    const struct purge_job *job, size_t from, struct purge_req *r)
{
	int by = purge_by_effective(t);
	const char *base = t->url ? t->url : PURGE_FASTLY_API;
	char path[PURGE_TAGS_BYTES * 4 + 256];
	enum rc rc;
	snprintf(r->method, sizeof r->method, "POST");
	if (by == PURGE_BY_EVERYTHING || job->everything) {
		snprintf(path, sizeof path, "/service/%s/purge_all", t->service);
	} else {
		char buf[PURGE_TAGS_BYTES * 4];
		const char *tags[PURGE_MAX_TAGS];
		size_t n = purge_req_tags(t->tags ? t->tags : PURGE_TAGS_DEFAULT, job->label, buf, sizeof buf, tags, PURGE_MAX_TAGS);
		size_t batch = purge_batch_effective(t);
		if (n > batch)
			n = batch;
		if (n == 1 && !strchr(tags[0], '/')) {   /* a '/' would split the path */
			char *k = purge_req_path_url(tags[0]);   /* "/" + the key, encoded */
			if (!k)
				return RC_NOMEM;
			snprintf(path, sizeof path, "/service/%s/purge%s", t->service, k);
			free(k);
		} else {
			snprintf(path, sizeof path, "/service/%s/purge", t->service);
			char keys[PURGE_TAGS_BYTES * 4] = "";
			size_t o = 0;
			for (size_t i = 0; i < n; i++)
				o += (size_t)snprintf(keys + o, sizeof keys - o, "%s%s", i ? " " : "",
						      tags[i]);
			if ((rc = add_header(r, "Surrogate-Key", keys)))
				return rc;
		}
	}
	r->consumed = job->npaths - from;
	r->url = join_url(base, path);
	if (!r->url)
		return RC_NOMEM;
	if ((rc = add_header(r, "Fastly-Key", secret)) ||
	    (rc = add_header(r, "Accept", "application/json")))
		return rc;
	if (t->soft && (rc = add_header(r, "Fastly-Soft-Purge", "1")))
		return rc;
	return RC_OK;
}

static enum rc build_webhook(const struct purge_target_settings *t, const char *secret,
			     const struct purge_job *job, time_t sent, struct purge_req *r)
{
	snprintf(r->method, sizeof r->method, "POST");
	r->url = strdup(t->url);
	if (!r->url)
		return RC_NOMEM;
	json_t *a = json_array();
	for (size_t i = 0; a && i < job->npaths; i++) {
		char *p = purge_req_path_url(job->paths[i]);
		if (!p) {
			json_decref(a);
			return RC_NOMEM;
		}
		json_array_append_new(a, json_string(p));
		free(p);
	}
	/* "sent" is signed with the rest: a receiver refuses a body older
	 * than a few minutes, so a captured request cannot be replayed. */
	json_t *j = json_pack("{s:s,s:I,s:s,s:s?,s:I,s:s?,s:b,s:o}", "cut", job->label,
			      "seq", (json_int_t)job->seq, "kind", job->kind,
			      "time", job->time[0] ? job->time : NULL, "sent", (json_int_t)sent,
			      "site", t->site, "everything", job->everything, "paths", a);
	enum rc rc = body_json(r, j);
	if (rc)
		return rc;
	char sig[80];
	if ((rc = purge_req_sign(secret, r->body, r->body_len, sig, sizeof sig)) ||
	    (rc = add_header(r, "X-PREP-Signature", sig)) ||
	    (rc = add_header(r, "Content-Type", "application/json")))
		return rc;
	r->consumed = job->npaths;
	return RC_OK;
}

enum rc purge_req_build(const struct purge_target_settings *t, const char *secret,
			const struct purge_job *job, size_t from, time_t sent,
			struct purge_req *out)
{
	memset(out, 0, sizeof *out);
	if (from > job->npaths)
		from = job->npaths;
	enum rc rc = RC_INVALID;
	switch (t->type) {
	case PURGE_TYPE_VARNISH:
		rc = t->url && t->host ? build_varnish(t, job, from, out) : RC_INVALID;
		break;
	case PURGE_TYPE_CLOUDFLARE:
		rc = t->zone && secret && (t->site || purge_by_effective(t) != PURGE_BY_PATHS) ?
		     build_cloudflare(t, secret, job, from, out) : RC_INVALID;
		break;
	case PURGE_TYPE_CLOUDFRONT:
		rc = t->distribution ? build_cloudfront(t, job, from, out) : RC_INVALID;
		break;
	case PURGE_TYPE_FASTLY:
		rc = t->service && secret ?
		     build_fastly(t, secret, job, from, out) : RC_INVALID;
		break;
	case PURGE_TYPE_WEBHOOK:
		rc = t->url && secret ? build_webhook(t, secret, job, sent, out) : RC_INVALID;
		break;
	}
	if (rc)
		purge_req_release(out);
	return rc;
}

/* s cleaned into out: printable ASCII, no quotes or backslashes. */
static void clean(const char *s, char *out, size_t outsz)
{
	size_t o = 0;
	for (; s && *s && o + 1 < outsz; s++)
		out[o++] = *s >= 0x20 && *s < 0x7f && *s != '"' && *s != '\\' ? *s : '?';
	out[o] = '\0';
}

enum purge_verdict purge_req_judge(int type, long status, const char *body, size_t len,
				   char *why, size_t whysz)
{
	why[0] = '\0';
	if (status == 0)
		return PURGE_RETRY;   /* the caller writes the transport error */
	if (status == 429 || status >= 500) {
		snprintf(why, whysz, "HTTP %ld", status);
		return PURGE_RETRY;
	}
	if (status < 200 || status >= 300) {
		snprintf(why, whysz, "HTTP %ld", status);
		if (type == PURGE_TYPE_CLOUDFLARE || type == PURGE_TYPE_FASTLY) {
			/* Cloudflare: {"errors":[{"message":...}]}; Fastly: {"msg":...} */
			json_t *j = body ? json_loadb(body, len, 0, NULL) : NULL;
			const char *m = json_string_value(json_object_get(
				json_array_get(json_object_get(j, "errors"), 0), "message"));
			if (!m)
				m = json_string_value(json_object_get(j, "msg"));
			if (m) {
				char c[200];
				clean(m, c, sizeof c);
				snprintf(why, whysz, "HTTP %ld: %s", status, c);
			}
			json_decref(j);
		}
		return PURGE_FAIL;
	}
	if (type == PURGE_TYPE_CLOUDFLARE) {
		/* A 200 is not enough: the answer's "success" must be true. */
		json_t *j = body ? json_loadb(body, len, 0, NULL) : NULL;
		json_t *ok = json_object_get(j, "success");
		enum purge_verdict v = json_is_true(ok) ? PURGE_OK : PURGE_FAIL;
		if (v == PURGE_FAIL) {
			const char *m = json_string_value(json_object_get(
				json_array_get(json_object_get(j, "errors"), 0), "message"));
			char c[200];
			clean(m ? m : j ? "success is not true" : "the answer is not JSON", c, sizeof c);
			snprintf(why, whysz, "%s", c);
		}
		json_decref(j);
		return v;
	}
	return PURGE_OK;
}
