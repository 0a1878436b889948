/* What the admin status reports, and the failed-period accounting (R13).
 * The status is the only ingest state another thread reads: every access
 * is under status_lock. */
#include "ingest/ingest_int.h"

#include "server/log.h"

#include <stdio.h>

void status_get(struct ingest *in, struct ingest_status *out)
{
	pthread_mutex_lock(&in->status_lock);
	*out = in->status;
	pthread_mutex_unlock(&in->status_lock);
}

void status_set_result(struct ingest *in, bool ok, const char *what, const char *why)
{
	const struct ingest_settings *cfg = in->cfg;
	pthread_mutex_lock(&in->status_lock);
	struct ingest_status *st = &in->status;
	st->last_attempt = time(NULL);
	snprintf(st->last_result, sizeof st->last_result, "%s%s%s", what,
		 why && *why ? ": " : "", why ? why : "");
	if (ok) {
		st->last_success = st->last_attempt;
		st->failed_in_a_row = 0;
		st->failed_periods = 0;
		in->failing_since = 0;
		in->periods_warned = false;
	} else {
		st->failed_in_a_row++;
		if (!in->failing_since)
			in->failing_since = st->last_attempt;
		/* R13: the institute drops a difusor after three update periods
		 * in a row without a publication. */
		st->failed_periods = cfg->fetch && cfg->poll_s ?
			(unsigned)((st->last_attempt - in->failing_since) / (time_t)cfg->poll_s) + 1 :
			st->failed_in_a_row;
	}
	unsigned periods = st->failed_periods;
	pthread_mutex_unlock(&in->status_lock);
	if (!ok && periods >= 2 && !in->periods_warned) {
		in->periods_warned = true;
		log_warn("ingest periods-failed count=%u action=\"two update periods in a row without a "
			 "new publication: the institute cuts a difusor off at three; check the upstream, "
			 "the network and this log now\"", periods);
	}
}

void status_record(struct ingest *in, const struct stage_result *res)
{
	char why[sizeof res->reason];
	switch (res->verdict) {
	case VERDICT_PUBLISHED:
		status_set_result(in, true, "published", NULL);
		break;
	case VERDICT_UNCHANGED:
		status_set_result(in, true, "unchanged", NULL);
		break;
	case VERDICT_CURRENT:
		break;
	case VERDICT_QUARANTINED:
	case VERDICT_SAME_REFUSED:
		status_set_result(in, false, "quarantined", res->reason);
		break;
	case VERDICT_REFUSED:
		stage_result_why(res, why, sizeof why);
		status_set_result(in, false, "refused", why);
		break;
	case VERDICT_NOT_RECEIVED:
		status_set_result(in, false, "receive failed", res->reason);
		break;
	case VERDICT_NOT_KEPT:
		status_set_result(in, false, "not archived", res->reason);
		break;
	case VERDICT_ROLLED_BACK:
		status_set_result(in, true, "rolled back", NULL);
		break;
	case VERDICT_NO_SUCH_SEQ:
		status_set_result(in, false, "rollback refused", res->reason);
		break;
	case VERDICT_NOT_REBUILT:
		status_set_result(in, false, "rollback failed", res->reason);
		break;
	}
}

void status_set_cut(struct ingest *in, const struct cut *cut)
{
	pthread_mutex_lock(&in->status_lock);
	in->status.cut = *cut;
	pthread_mutex_unlock(&in->status_lock);
}

void status_count_package(struct ingest *in)
{
	pthread_mutex_lock(&in->status_lock);
	in->status.packages++;
	pthread_mutex_unlock(&in->status_lock);
}

void status_set_next_poll(struct ingest *in, time_t t)
{
	pthread_mutex_lock(&in->status_lock);
	in->status.next_poll = t;
	pthread_mutex_unlock(&in->status_lock);
}

time_t status_next_poll(struct ingest *in)
{
	pthread_mutex_lock(&in->status_lock);
	time_t t = in->status.next_poll;
	pthread_mutex_unlock(&in->status_lock);
	return t;
}

void status_disk_check(struct ingest *in)
{
	uint64_t free_b = 0, total_b = 0;
	if (store_free_bytes(in->store, &free_b, &total_b))
		return;
	uint64_t used = store_used_bytes(in->store);
	pthread_mutex_lock(&in->status_lock);
	in->status.free_bytes = free_b;
	in->status.history_bytes = used;
	pthread_mutex_unlock(&in->status_lock);
	if (free_b < in->cfg->min_free_bytes)
		log_warn("ingest disk-low free_mb=%llu history_mb=%llu threshold_mb=%llu "
			 "action=\"free disk space or grow the volume before it fills: a full disk "
			 "stops archiving and new cuts are not published\"",
			 (unsigned long long)(free_b >> 20), (unsigned long long)(used >> 20),
			 (unsigned long long)(in->cfg->min_free_bytes >> 20));
}
