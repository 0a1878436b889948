/* [purge NAME] checks and type defaults (see purge_conf.h). */
#include "edge/purge_conf.h"
#include "server/limits.h"

#include <stdio.h>
#include <string.h>

const char *purge_type_str(int type)
{
	switch (type) {
	case PURGE_TYPE_VARNISH: return "varnish";
	case PURGE_TYPE_CLOUDFLARE: return "cloudflare";
	case PURGE_TYPE_CLOUDFRONT: return "cloudfront";
	case PURGE_TYPE_FASTLY: return "fastly";
	case PURGE_TYPE_WEBHOOK: return "webhook";
	}
	return "none";
}

const char *purge_by_str(int by)
{
	switch (by) {
	case PURGE_BY_PATHS: return "paths";
	case PURGE_BY_CUT: return "cut";
	case PURGE_BY_TAGS: return "tags";
	case PURGE_BY_EVERYTHING: return "everything";
	}
	return "default";
}

int purge_by_effective(const struct purge_target_settings *t)
{
	if (t->by != PURGE_BY_DEFAULT)
		return t->by;
	switch (t->type) {
	case PURGE_TYPE_VARNISH: return PURGE_BY_CUT;
	case PURGE_TYPE_FASTLY: return PURGE_BY_TAGS;
	}
	return PURGE_BY_PATHS;
}

unsigned purge_batch_effective(const struct purge_target_settings *t)
{
	if (t->batch)
		return t->batch;
	switch (t->type) {
	/* developers.cloudflare.com/cache/how-to/purge-cache: "Max operations
	 * per request: 100" on every plan (older free plans: 30; set batch). */
	case PURGE_TYPE_CLOUDFLARE: return 100;
	/* CloudFront: up to 3,000 files in progress per distribution
	 * (InvalidationLimits.html); one request may hold all of them. */
	case PURGE_TYPE_CLOUDFRONT: return 3000;
	/* Fastly's batch purge takes up to 256 surrogate keys. */
	case PURGE_TYPE_FASTLY: return 256;
	}
	return PURGE_BATCH_MAX;   /* varnish (one request per path), webhook */
}

enum rc purge_settings_check(const struct purge_settings *ps, char *err, size_t errsz)
{
	for (unsigned i = 0; i < ps->count; i++) {
		const struct purge_target_settings *t = &ps->targets[i];
		const char *n = t->name;
		int by = purge_by_effective(t);
#define REFUSE(...) do { snprintf(err, errsz, __VA_ARGS__); return RC_FORMAT; } while (0)
		if (!*n)
			REFUSE("[purge] needs a name: write [purge NAME], e.g. [purge cdn]");
		switch (t->type) {
		case PURGE_TYPE_NONE:
			REFUSE("[purge %s]: set type = varnish, cloudflare, cloudfront, fastly or "
			       "webhook", n);
		case PURGE_TYPE_VARNISH:
			if (!t->url)
				REFUSE("[purge %s]: varnish needs url = the Varnish listener the purge "
				       "requests go to, e.g. http://127.0.0.1:6081/", n);
			if (!t->host)
				REFUSE("[purge %s]: varnish needs host = the Host header the site is "
				       "cached under", n);
			if (by == PURGE_BY_TAGS)
				REFUSE("[purge %s]: varnish purges by = cut (one BAN), paths (PURGE "
				       "per path) or everything", n);
			break;
		case PURGE_TYPE_CLOUDFLARE:
			if (!t->zone || !t->secret_file)
				REFUSE("[purge %s]: cloudflare needs zone = the zone id and "
				       "secret_file = a file with an API token that may purge it", n);
			if (by == PURGE_BY_CUT)
				REFUSE("[purge %s]: cloudflare purges by = paths, tags or everything", n);
			break;
		case PURGE_TYPE_CLOUDFRONT:
			if (!t->distribution || !t->secret_file)
				REFUSE("[purge %s]: cloudfront needs distribution = the distribution id "
				       "and secret_file = a file with ACCESS_KEY_ID:SECRET_ACCESS_KEY", n);
			if (by != PURGE_BY_PATHS && by != PURGE_BY_EVERYTHING)
				REFUSE("[purge %s]: cloudfront purges by = paths or everything "
				       "(CreateInvalidation takes paths)", n);
			break;
		case PURGE_TYPE_FASTLY:
			if (!t->service || !t->secret_file)
				REFUSE("[purge %s]: fastly needs service = the service id and "
				       "secret_file = a file with an API key that may purge", n);
			if (by != PURGE_BY_TAGS && by != PURGE_BY_EVERYTHING)
				REFUSE("[purge %s]: fastly purges by = tags (surrogate keys) or "
				       "everything", n);
			break;
		case PURGE_TYPE_WEBHOOK:
			if (!t->url || !t->secret_file)
				REFUSE("[purge %s]: webhook needs url = where to POST and secret_file = "
				       "the HMAC-SHA256 secret the receiver checks", n);
			if (by != PURGE_BY_PATHS)
				REFUSE("[purge %s]: a webhook always sends the cut and its paths "
				       "(by = paths)", n);
			break;
		default:
			REFUSE("[purge %s]: unknown type", n);
		}
		if (by == PURGE_BY_PATHS && t->type == PURGE_TYPE_CLOUDFLARE && !t->site)
			REFUSE("[purge %s]: purging by URL needs site = the public site's base URL, "
			       "e.g. https://resultados.example.mx", n);
		if (t->host && t->type != PURGE_TYPE_VARNISH)
			REFUSE("[purge %s]: host is for type = varnish", n);
		if (t->zone && t->type != PURGE_TYPE_CLOUDFLARE)
			REFUSE("[purge %s]: zone is for type = cloudflare", n);
		if (t->distribution && t->type != PURGE_TYPE_CLOUDFRONT)
			REFUSE("[purge %s]: distribution is for type = cloudfront", n);
		if (t->service && t->type != PURGE_TYPE_FASTLY)
			REFUSE("[purge %s]: service is for type = fastly", n);
		if (t->soft && t->type != PURGE_TYPE_FASTLY)
			REFUSE("[purge %s]: soft is for type = fastly", n);
		if (t->secret_file && t->type == PURGE_TYPE_VARNISH)
			REFUSE("[purge %s]: varnish takes no secret (its VCL allows purges by "
			       "address)", n);
		if (t->tags && by != PURGE_BY_TAGS)
			REFUSE("[purge %s]: tags is set but by = %s; set by = tags", n,
			       purge_by_str(by));
		unsigned ntags = 0;
		for (const char *p = t->tags; p && *p; p += strcspn(p, " \t")) {
			p += strspn(p, " \t");
			ntags += *p != '\0';
		}
		if (ntags > purge_batch_effective(t))
			REFUSE("[purge %s]: more tags than batch = %u allows in one request", n,
			       purge_batch_effective(t));
		if (t->backoff_max_ms < t->backoff_ms)
			REFUSE("[purge %s]: backoff_max is shorter than backoff", n);
#undef REFUSE
	}
	return RC_OK;
}
