#include "server/policy.h"

#include "server/snap_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *dup_or_null(const char *s, bool *failed)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		*failed = true;
	return d;
}

enum rc policy_copy_init(struct policy_copy *c, const struct policy *p)
{
	memset(c, 0, sizeof *c);
	const char *fa = p && p->frame_ancestors ? p->frame_ancestors : "*";
	static const char csp_prefix[] = "frame-ancestors ";
	size_t n = sizeof csp_prefix + strlen(fa);
	c->csp = malloc(n);
	if (!c->csp)
		return RC_NOMEM;
	snprintf(c->csp, n, "%s%s", csp_prefix, fa);
	if (!p)
		return RC_OK;
	bool failed = false;
	c->cache_short = dup_or_null(p->cache_short, &failed);
	c->cache_immutable = dup_or_null(p->cache_immutable, &failed);
	c->spa_fallback = dup_or_null(p->spa_fallback, &failed);
	c->hsts = dup_or_null(p->hsts, &failed);
	if (failed || rules_copy(&c->rules, p->rules)) {
		policy_copy_release(c);
		return RC_NOMEM;
	}
	return RC_OK;
}

void policy_copy_release(struct policy_copy *c)
{
	free(c->cache_short);
	free(c->cache_immutable);
	free(c->csp);
	free(c->spa_fallback);
	free(c->hsts);
	rules_release(&c->rules);
	memset(c, 0, sizeof *c);
}

#define ADD(r, name, value) \
	do { if (MHD_add_response_header((r), (name), (value)) != MHD_YES) return RC_NOMEM; } while (0)

enum rc policy_add_cut_headers(struct MHD_Response *r, const struct snap *s,
			       bool csp)
{
	ADD(r, "X-PREP-Cut", s->cut_hdr);
	ADD(r, "X-Content-Type-Options", "nosniff");
	if (csp)
		ADD(r, "Content-Security-Policy", s->policy.csp);
	if (s->policy.hsts)
		ADD(r, "Strict-Transport-Security", s->policy.hsts);
	return RC_OK;
}

enum rc policy_add_headers(struct MHD_Response *r, const struct snap *s,
			   const struct slot *sl, bool gz, unsigned status)
{
	const struct policy_copy *pc = &s->policy;
	const struct entry *e = sl->e;
	const struct rule_header *rh[RULES_MAX_MATCHED_HEADERS];
	size_t nrh = rules_match(&pc->rules, sl->path, rh, sizeof rh / sizeof rh[0]);
	bool rule_cc = false, rule_csp = false, rule_ct = false;
	for (size_t i = 0; i < nrh; i++) {
		rule_cc |= !strcasecmp(rh[i]->name, "Cache-Control");
		rule_csp |= !strcasecmp(rh[i]->name, "Content-Security-Policy");
		rule_ct |= !strcasecmp(rh[i]->name, "Content-Type");
	}

	/* Only a response with this file's body describes the body; 304 and
	 * 416 carry validators and policy only. */
	if (status == MHD_HTTP_OK || status == MHD_HTTP_PARTIAL_CONTENT) {
		if (!rule_ct)
			ADD(r, MHD_HTTP_HEADER_CONTENT_TYPE, e->ctype);
		ADD(r, MHD_HTTP_HEADER_LAST_MODIFIED, e->lastmod);
		if (gz)
			ADD(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
		else
			ADD(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	}
	ADD(r, MHD_HTTP_HEADER_ETAG, gz ? e->etag_gz : e->etag);
	/* A variant made later (server/variant.h) is announced from the
	 * first response on, so no cache keeps the identity body for all. */
	if (entry_variant(e) || entry_variant_pending(e))
		ADD(r, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
	/* A 416 must not be cached for a year as if it were the asset. */
	if (status == MHD_HTTP_RANGE_NOT_SATISFIABLE) {
		ADD(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	} else if (!rule_cc) {
		const char *cc = rules_cache_class(sl->path) == CACHE_IMMUTABLE ?
				 pc->cache_immutable : pc->cache_short;
		if (cc)
			ADD(r, MHD_HTTP_HEADER_CACHE_CONTROL, cc);
	}
	enum rc rc = policy_add_cut_headers(r, s, !rule_csp);
	if (rc)
		return rc;
	for (size_t i = 0; i < nrh; i++)
		ADD(r, rh[i]->name, rh[i]->value);
	return RC_OK;
}

static const char *const err_body[SNAP_ERR_COUNT] = {
	[SNAP_ERR_400] = "400 Solicitud no valida / Bad request: the path is not valid.\n",
	[SNAP_ERR_404] = "404 No encontrado / Not found\n",
	[SNAP_ERR_405] = "405 Metodo no permitido / Method not allowed: use GET or HEAD.\n",
	[SNAP_ERR_414] = "414 Ruta demasiado larga / URI too long\n",
	[SNAP_ERR_500] = "500 Error interno / Internal server error\n",
};

enum rc policy_build_pages(struct snap *s)
{
	for (int i = 0; i < SNAP_ERR_COUNT; i++) {
		struct MHD_Response *r = MHD_create_response_from_buffer(
			strlen(err_body[i]), (void *)err_body[i], MHD_RESPMEM_PERSISTENT);
		if (!r)
			return RC_NOMEM;
		s->err[i] = r;
		s->err_len[i] = strlen(err_body[i]);
		ADD(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
		ADD(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
		if (i == SNAP_ERR_405)
			ADD(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
		enum rc rc = policy_add_cut_headers(r, s, true);
		if (rc)
			return rc;
	}
	if (s->policy.spa_fallback)
		s->fallback = snap_lookup(s, s->policy.spa_fallback);
	s->notfound = snap_lookup(s, "404.html");
	return RC_OK;
}
