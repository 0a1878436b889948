#include "server/policy.h"

#include "server/snap_int.h"

#include "server/limits.h"

#include <ctype.h>
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

unsigned policy_cdn_ttl(const struct policy *p)
{
	if (p->cdn_ttl != POLICY_CDN_TTL_AUTO)
		return (unsigned)p->cdn_ttl;
	return p->purge_on ? POLICY_CDN_TTL_PURGED : p->browser_ttl;
}

/* The stale-* directives, ", " first; "" when both are off. */
static void stale_part(const struct policy *p, char *out, size_t size)
{
	int n = 0;
	out[0] = '\0';
	if (p->swr)
		n = snprintf(out, size, ", stale-while-revalidate=%u", p->swr);
	if (p->sie && n >= 0 && (size_t)n < size)
		snprintf(out + n, size - (size_t)n, ", stale-if-error=%u", p->sie);
}

/* The per-cut values: Cache-Control for browsers and (s-maxage) the CDN;
 * Surrogate-Control and CDN-Cache-Control for the CDN alone. The stale-*
 * directives go where the CDN's TTL goes: into Cache-Control when it
 * carries s-maxage or when no header targets the CDN, else only into the
 * targeted headers, so a browser never serves a stale result page. */
static enum rc compose_short(struct policy_copy *c, const struct policy *p)
{
	char stale[96], buf[256];
	stale_part(p, stale, sizeof stale);
	unsigned cdn = policy_cdn_ttl(p);
	if (p->cache_short) {
		/* The operator's own value ([cache] short), verbatim: it
		 * replaces every composed header. */
		c->cache_short = strdup(p->cache_short);
		return c->cache_short ? RC_OK : RC_NOMEM;
	}
	bool smax = p->cdn_header & CDN_HDR_SMAXAGE;
	bool targeted = p->cdn_header & (CDN_HDR_SURROGATE | CDN_HDR_CDNCC);
	int n = snprintf(buf, sizeof buf, "public, max-age=%u", p->browser_ttl);
	if (smax)
		n += snprintf(buf + n, sizeof buf - (size_t)n, ", s-maxage=%u", cdn);
	if (smax || !targeted)
		snprintf(buf + n, sizeof buf - (size_t)n, "%s", stale);
	c->cache_short = strdup(buf);
	if (!c->cache_short)
		return RC_NOMEM;
	snprintf(buf, sizeof buf, "max-age=%u%s", cdn, stale);
	if ((p->cdn_header & CDN_HDR_SURROGATE) && !(c->surrogate = strdup(buf)))
		return RC_NOMEM;
	if ((p->cdn_header & CDN_HDR_CDNCC) && !(c->cdn_cc = strdup(buf)))
		return RC_NOMEM;
	return RC_OK;
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
	char err_cc[64];
	if (p->error_ttl)
		snprintf(err_cc, sizeof err_cc, "public, max-age=%u", p->error_ttl);
	else
		snprintf(err_cc, sizeof err_cc, "no-store");
	c->cache_error = dup_or_null(err_cc, &failed);
	c->cache_immutable = dup_or_null(p->cache_immutable, &failed);
	c->spa_fallback = dup_or_null(p->spa_fallback, &failed);
	c->hsts = dup_or_null(p->hsts, &failed);
	c->tags = p->tags;
	c->keep_cuts = p->keep_cuts < SNAP_KEEP_MAX_CUTS ? p->keep_cuts : SNAP_KEEP_MAX_CUTS;
	c->keep_minutes = p->keep_minutes;
	c->keep_max_bytes = p->keep_max_bytes;
	c->fleet = p->fleet;
	if (failed || compose_short(c, p) || rules_copy(&c->rules, p->rules)) {
		policy_copy_release(c);
		return RC_NOMEM;
	}
	return RC_OK;
}

enum rc policy_copy_dup(struct policy_copy *dst, const struct policy_copy *src)
{
	*dst = *src;
	bool failed = false;
	dst->cache_short = dup_or_null(src->cache_short, &failed);
	dst->surrogate = dup_or_null(src->surrogate, &failed);
	dst->cdn_cc = dup_or_null(src->cdn_cc, &failed);
	dst->cache_immutable = dup_or_null(src->cache_immutable, &failed);
	dst->cache_error = dup_or_null(src->cache_error, &failed);
	dst->csp = dup_or_null(src->csp, &failed);
	dst->spa_fallback = dup_or_null(src->spa_fallback, &failed);
	dst->hsts = dup_or_null(src->hsts, &failed);
	if (failed || rules_copy(&dst->rules, &src->rules)) {
		dst->rules.n = 0;
		dst->rules.v = NULL;
		policy_copy_release(dst);
		return RC_NOMEM;
	}
	return RC_OK;
}

void policy_copy_release(struct policy_copy *c)
{
	free(c->cache_short);
	free(c->surrogate);
	free(c->cdn_cc);
	free(c->cache_immutable);
	free(c->cache_error);
	free(c->csp);
	free(c->spa_fallback);
	free(c->hsts);
	rules_release(&c->rules);
	memset(c, 0, sizeof *c);
}

size_t policy_cut_tag(const char *label, char *out, size_t size)
{
	static const char prefix[] = "prep-cut-";
	size_t need = sizeof prefix - 1 + strlen(label);
	if (size) {
		size_t o = 0;
		for (const char *q = prefix; *q && o + 1 < size; q++)
			out[o++] = *q;
		for (const char *q = label; *q && o + 1 < size; q++)
			out[o++] = (char)tolower((unsigned char)*q);
		out[o] = '\0';
	}
	return need;
}

void policy_tags(const char *label, const char *path, bool immutable, bool error,
		 bool comma, char *out, size_t size)
{
	const char *sep = comma ? "," : " ";
	const char *cls = error ? "error" : rules_type_class(path);
	if (immutable) {
		snprintf(out, size, "prep%sprep-immutable%sprep-%s", sep, sep, cls);
		return;
	}
	char cut[sizeof "prep-cut-" + sizeof ((struct cut *)0)->label];
	policy_cut_tag(label, cut, sizeof cut);
	snprintf(out, size, "prep%s%s%sprep-percut%sprep-%s", sep, cut, sep, sep, cls);
}

/* Surrogate-Key and Cache-Tag, as [cache] tags says. */
static enum rc add_tags(struct MHD_Response *r, const struct snap *s, const char *path,
			bool immutable, bool error)
{
	char v[POLICY_TAGS_BYTES];
	if (s->policy.tags & CACHE_TAGS_SURROGATE_KEY) {
		policy_tags(s->cut.label, path, immutable, error, false, v, sizeof v);
		if (MHD_add_response_header(r, "Surrogate-Key", v) != MHD_YES)
			return RC_NOMEM;
	}
	if (s->policy.tags & CACHE_TAGS_CACHE_TAG) {
		policy_tags(s->cut.label, path, immutable, error, true, v, sizeof v);
		if (MHD_add_response_header(r, "Cache-Tag", v) != MHD_YES)
			return RC_NOMEM;
	}
	return RC_OK;
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
			   const struct slot *sl, bool gz, unsigned status, bool behind)
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
	/* A 416 must not be cached for a year as if it were the asset. A
	 * per-cut file of an origin behind its fleet must not be kept by any
	 * shared cache (an edge would serve the older cut after a newer one);
	 * that beats an operator's rule too. */
	bool immutable = sl->immutable;
	if (status == MHD_HTTP_RANGE_NOT_SATISFIABLE) {
		ADD(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	} else if (behind && !immutable) {
		ADD(r, MHD_HTTP_HEADER_CACHE_CONTROL, POLICY_BEHIND_CACHE_CONTROL);
	} else if (!rule_cc) {
		const char *cc = immutable ? pc->cache_immutable : pc->cache_short;
		if (cc)
			ADD(r, MHD_HTTP_HEADER_CACHE_CONTROL, cc);
		/* The CDN's own TTL; an operator's verbatim [cache] short
		 * takes it over (compose_short() left these NULL). */
		if (!immutable && pc->surrogate)
			ADD(r, "Surrogate-Control", pc->surrogate);
		if (!immutable && pc->cdn_cc)
			ADD(r, "CDN-Cache-Control", pc->cdn_cc);
	}
	if (status != MHD_HTTP_RANGE_NOT_SATISFIABLE && add_tags(r, s, sl->path, immutable, false))
		return RC_NOMEM;
	enum rc rc = policy_add_cut_headers(r, s, !rule_csp);
	if (rc)
		return rc;
	for (size_t i = 0; i < nrh; i++)
		if (!(behind && !immutable && !strcasecmp(rh[i]->name, "Cache-Control")))
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

/* One 404 answer: body is the package's 404.html (gz: its gzip variant)
 * or, without one, the text page. */
static struct MHD_Response *notfound_response(const struct snap *s, enum snap_nf which,
					      const struct entry_gz *gz)
{
	struct MHD_Response *r;
	const struct slot *page = s->notfound;
	if (page) {
		r = snap_body_response(page->e, gz);
	} else {
		const char *b = err_body[SNAP_ERR_404];
		r = MHD_create_response_from_buffer(strlen(b), (void *)b, MHD_RESPMEM_PERSISTENT);
	}
	if (!r)
		return NULL;
	bool ok = true;
	ok &= MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				      page ? page->e->ctype : "text/plain; charset=utf-8") == MHD_YES;
	if (page && gz)
		ok &= MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip") == MHD_YES;
	if (page && (entry_variant(page->e) || entry_variant_pending(page->e)))
		ok &= MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept-Encoding") == MHD_YES;
	/* A fingerprinted name that no cut here has is most likely a newer
	 * cut's bundle asked of an origin that does not have it yet: a cache
	 * that kept the miss would break that page for everyone. Any other
	 * miss is cached briefly (error_ttl), so a crawler or a mistyped link
	 * costs the origin one request per TTL, and carries the cut's tags,
	 * so the next cut's purge drops it if the path appears. */
	const char *cc = which == SNAP_NF_SHORT && s->policy.cache_error ?
			 s->policy.cache_error : "no-store";
	ok &= MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cc) == MHD_YES;
	if (ok && which == SNAP_NF_SHORT && strcmp(cc, "no-store"))
		ok = !add_tags(r, s, "", false, true);
	if (!ok || policy_add_cut_headers(r, s, true)) {
		MHD_destroy_response(r);
		return NULL;
	}
	return r;
}

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
	struct entry *pe = s->notfound ? s->notfound->e : NULL;
	/* The 404 answers are built once per snapshot, not attached later as
	 * a file's gzip responses are: a small 404.html is compressed here
	 * (thread-safe; the variant thread then finds it done). A larger one
	 * is sent as it is until a later cut finds its variant made. */
	if (pe && entry_variant_pending(pe) && pe->len <= POLICY_404_GZIP_NOW_MAX)
		(void)entry_make_variant(pe);   /* RC_NOMEM: identity only */
	const struct entry_gz *pv = pe ? entry_variant(pe) : NULL;
	s->nf_len[0] = pe ? pe->len : strlen(err_body[SNAP_ERR_404]);
	s->nf_len[1] = pv ? pv->len : 0;
	for (int w = 0; w < SNAP_NF_COUNT; w++) {
		for (int gz = 0; gz < (pv ? 2 : 1); gz++) {
			s->nf[w][gz] = notfound_response(s, (enum snap_nf)w, gz ? pv : NULL);
			if (!s->nf[w][gz])
				return RC_NOMEM;
		}
	}
	return RC_OK;
}
