/* Pulling from the institute: one poll when it is due, a back-off after a
 * failure, and the decision to remember or forget what was fetched. */
#include "ingest/ingest_int.h"

#include "ingest/fetch.h"
#include "ingest/prescan.h"
#include "ingest/verify.h"
#include "server/log.h"
#include "server/util.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Backoff after a failed poll: 2, 4, 8 ... seconds, at most the poll
 * interval (a minute when polls are rarer), +-20% so many difusores do not
 * retry in step, and never sooner than the server's Retry-After. */
static unsigned backoff_s(const struct ingest *in, unsigned attempt, unsigned retry_after)
{
	unsigned cap = in->cfg->poll_s < 60 ? 60 : in->cfg->poll_s;
	unsigned b = attempt >= 6 ? 64 : 1u << attempt;
	if (b > cap)
		b = cap;
	unsigned jitter = b / 5;
	if (jitter) {
		unsigned r;
		if (gnutls_rnd(GNUTLS_RND_NONCE, &r, sizeof r) == 0)
			b = b - jitter + r % (2 * jitter + 1);
	}
	if (retry_after > b)
		b = retry_after > 3600 ? 3600 : retry_after;
	return b ? b : 1;
}

/* Whether the fetched package is in the history now, for good. One that
 * failed verification may be fixed by new evidence, and one that could not
 * be read or archived must be fetched again: those are forgotten. */
static bool remember(const struct stage_result *res)
{
	switch (res->verdict) {
	case VERDICT_QUARANTINED:
	case VERDICT_SAME_REFUSED:
	case VERDICT_NOT_RECEIVED:
	case VERDICT_NOT_KEPT:
		return false;
	default:
		return true;
	}
}

void pull_poll(struct ingest *in)
{
	const struct ingest_settings *cfg = in->cfg;
	bool got = false;
	char path[sizeof ((struct job *)0)->path], name[FILE_NAME_BYTES], err[1024] = "";
	unsigned retry_after = 0;
	/* Hashed and checked as it downloads, so little is left once the
	 * last byte is in; without memory for it, the file is read after. */
	struct prescan *pre = prescan_new(cfg->limits);
	struct fetch_observer obs = { prescan_begin, prescan_observe, pre };
	fetch_set_observer(in->fetcher, pre ? &obs : NULL);
	uint64_t t0 = now_ns();
	enum rc rc = fetch_poll(in->fetcher, &got, path, sizeof path, name, sizeof name,
				&retry_after, err, sizeof err);
	uint64_t fetch_ns = now_ns() - t0;
	fetch_set_observer(in->fetcher, NULL);
	if (pre)
		prescan_end(pre);
	time_t now = time(NULL);
	if (rc) {
		in->fetch_attempt++;
		unsigned wait = backoff_s(in, in->fetch_attempt, retry_after);
		status_set_next_poll(in, now + wait);
		log_warn("ingest fetch-failed url=%s attempt=%u retry_in_s=%u error=%s reason=\"%s\"",
			 fetch_url(in->fetcher), in->fetch_attempt, wait, rc_str(rc), err);
		status_set_result(in, false, "fetch failed", err);
		prescan_free(pre);
		return;
	}
	in->fetch_attempt = 0;
	status_set_next_poll(in, now + cfg->poll_s);
	if (!got) {
		status_set_result(in, true, "no new package", NULL);
		prescan_free(pre);
		return;
	}
	struct job j;
	memset(&j, 0, sizeof j);
	snprintf(j.path, sizeof j.path, "%s", path);
	snprintf(j.name, sizeof j.name, "%s", name);
	snprintf(j.source, sizeof j.source, "pull:%.240s", fetch_url(in->fetcher));
	j.take = true;
	j.pre = pre;
	/* prehashed_bytes: hashed and checked while downloading (0: read
	 * again from the file after the download) */
	log_info("ingest fetched url=%s name=%s fetch_ms=%.1f prehashed_bytes=%llu",
		 fetch_url(in->fetcher), name, (double)fetch_ns / 1e6,
		 (unsigned long long)(pre && prescan_usable(pre, prescan_bytes(pre)) ?
				      prescan_bytes(pre) : 0));
	struct stage_result res;
	pipeline_run(in, &j, &res);
	prescan_free(pre);
	if (remember(&res))
		fetch_commit(in->fetcher);
	else
		fetch_forget(in->fetcher);
	/* Anything the pipeline did not keep is a leftover download. */
	unlink(path);
	if (cfg->verify != VERIFY_NONE) {
		char ev[PATH_BUF_LONG_BYTES];
		snprintf(ev, sizeof ev, "%s%s", path, verify_suffix(cfg->verify));
		unlink(ev);
	}
}
