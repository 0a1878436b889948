/* The bytes of one purge request, per target type, and the verdict on
 * its answer: pure functions, apart from the threads and libcurl of
 * edge/purge.c, so that tests/unit/test-purge.c can check them byte by
 * byte against the vendors' documentation.
 *
 *   varnish     BAN  URL  Host: HOST, X-PREP-Ban: <ban expression>   (by cut,
 *                                                                   everything)
 *               PURGE URL/PATH  Host: HOST                          (by paths)
 *   cloudflare  POST BASE/zones/ZONE/purge_cache  Authorization: Bearer TOKEN
 *               {"files":[URL...]} | {"tags":[...]} | {"purge_everything":true}
 *   cloudfront  POST BASE/2020-05-31/distribution/ID/invalidation  (SigV4,
 *               signed by libcurl) <InvalidationBatch> XML
 *   fastly      POST BASE/service/ID/purge/KEY (one key), BASE/service/ID/purge
 *               with Surrogate-Key: K1 K2 (batch), BASE/service/ID/purge_all;
 *               Fastly-Key: KEY, Fastly-Soft-Purge: 1 when soft
 *   webhook     POST URL  X-PREP-Signature: sha256=HEX (HMAC-SHA256 of the
 *               body)  {"cut","seq","kind","time","sent","site","everything",
 *               "paths"}
 * Thread-safe; no I/O. */
#ifndef PREPD_EDGE_PURGE_REQ_H
#define PREPD_EDGE_PURGE_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "edge/settings.h"
#include "server/rc.h"

#define PURGE_REQ_MAX_HEADERS 8

/* What one purge is about: the newest cut it covers and the paths of it
 * and of every cut it superseded. Borrowed by the builder. */
struct purge_job {
	char label[64];
	uint64_t seq;
	const char *kind;       /* "full", "incremental", "rollback" */
	char time[32];          /* the cut time as X-PREP-Cut shows it, or "" */
	char **paths;           /* site paths without the leading '/', sorted */
	size_t npaths;
	bool everything;        /* more paths than PURGE_MAX_PATHS were unioned */
	uint64_t id;            /* changes whenever the job does (a merge) */
};

/* One HTTP request. Every string is owned (purge_req_release()). */
struct purge_req {
	char method[8];
	char *url;
	char *headers[PURGE_REQ_MAX_HEADERS];   /* "Name: value" */
	unsigned nheaders;
	char *body;             /* NULL: no body */
	size_t body_len;
	size_t consumed;        /* job paths this request covers, from `from` */
	bool sigv4;             /* sign with AWS SigV4 (cloudfront) */
};

/* The default API base of each SaaS type (the url setting overrides). */
#define PURGE_CLOUDFLARE_API "https://api.cloudflare.com/client/v4"
#define PURGE_CLOUDFRONT_API "https://cloudfront.amazonaws.com"
#define PURGE_FASTLY_API "https://api.fastly.com"
/* CURLOPT_AWS_SIGV4's provider:provider:region:service for CloudFront,
 * whose API is global and signed for us-east-1. */
#define PURGE_CLOUDFRONT_SIGV4 "aws:amz:us-east-1:cloudfront"

/* Builds the request that purges job's paths from index from on (paths
 * mode) or the whole job (the other modes) for target t, whose secret is
 * secret (a token, key or HMAC secret; NULL for varnish and cloudfront,
 * which libcurl signs). sent is the time written into a webhook body.
 * out->consumed says how many paths it covers: the caller calls again
 * from from + consumed until every path is done. RC_OK, RC_NOMEM, or
 * RC_INVALID for a target purge_settings_check() would refuse. */
enum rc purge_req_build(const struct purge_target_settings *t, const char *secret,
			const struct purge_job *job, size_t from, time_t sent,
			struct purge_req *out);

/* Frees out's strings and empties it. */
void purge_req_release(struct purge_req *r);

/* Requests a job needs from from on: 1 for a cut, tags or everything purge;
 * the batches of the remaining paths otherwise (at least 1). */
size_t purge_req_count(const struct purge_target_settings *t, const struct purge_job *job,
		       size_t from);

enum purge_verdict {
	PURGE_OK,
	PURGE_RETRY,    /* 5xx, 429, a timeout, a connection error */
	PURGE_FAIL,     /* a 4xx but 429, an API that says it failed */
};

/* The verdict on an answer: status (0: no answer, a transport error),
 * the body (may be NULL). why gets a short reason for the log (the API's
 * first error message when it gave one, cleaned to printable ASCII
 * without quotes). */
enum purge_verdict purge_req_judge(int type, long status, const char *body, size_t len,
				   char *why, size_t whysz);

/* The webhook's X-PREP-Signature value, "sha256=" and the lowercase hex
 * HMAC-SHA256 of body under secret, into out (at least 72 bytes). RC_OK;
 * RC_INVALID when GnuTLS refuses. */
enum rc purge_req_sign(const char *secret, const void *body, size_t len,
		       char *out, size_t outsz);

/* The tags of t->tags with "{cut}" replaced by label, one per element of
 * tags (at most max); returns how many. tags[i] point into buf. */
size_t purge_req_tags(const char *tmpl, const char *label, char *buf, size_t bufsz,
		      const char **tags, size_t max);

/* A site path as it goes into a URL: "/" + path, with every byte outside
 * RFC 3986's unreserved set and '/' percent-encoded (UTF-8 as bytes).
 * Returns a new string or NULL. */
char *purge_req_path_url(const char *path);

#endif
