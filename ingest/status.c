/* What the admin status reports, and the failed-period accounting (R13).
 * The status is the only ingest state another thread reads: every access
 * is under status_lock. */
#include "ingest/ingest_int.h"

#include "server/incident.h"
#include "server/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static unsigned periods_at(struct ingest *in, time_t now);

void status_get(struct ingest *in, struct ingest_status *out)
{
	pthread_mutex_lock(&in->status_lock);
	if (in->cfg)
		periods_at(in, time(NULL));   /* between ticks */
	*out = in->status;
	pthread_mutex_unlock(&in->status_lock);
}

void status_set_result(struct ingest *in, bool ok, const char *what, const char *why)
{
	pthread_mutex_lock(&in->status_lock);
	struct ingest_status *st = &in->status;
	st->last_attempt = time(NULL);
	snprintf(st->last_result, sizeof st->last_result, "%s%s%s", what,
		 why && *why ? ": " : "", why ? why : "");
	if (ok) {
		st->last_success = st->last_attempt;
		st->failed_in_a_row = 0;
	} else {
		st->failed_in_a_row++;
	}
	pthread_mutex_unlock(&in->status_lock);
}

/* ---- R13's clock ---- */

static unsigned period_of(const struct ingest *in)
{
	return in->cfg && in->cfg->period_s ? in->cfg->period_s : 1;
}

/* Fills the status's period figures at now; under status_lock. */
static unsigned periods_at(struct ingest *in, time_t now)
{
	struct ingest_status *st = &in->status;
	if (!in->clock_base)   /* nothing served yet, not even the placeholder */
		in->clock_base = now;
	time_t period = (time_t)period_of(in);
	time_t since = now > in->clock_base ? now - in->clock_base : 0;
	unsigned failed = (unsigned)(since / period);
	st->period_s = (unsigned)period;
	st->failed_periods = failed;
	st->next_cut_due = in->clock_base + ((time_t)failed + 1) * period;
	return failed;
}

void status_tick(struct ingest *in, time_t now)
{
	pthread_mutex_lock(&in->status_lock);
	unsigned failed = periods_at(in, now);
	bool log_it = failed > in->periods_logged && in->periods_logged < 3;
	if (log_it)
		in->periods_logged = failed;
	struct cut cut = in->status.cut;
	time_t due = in->status.next_cut_due;
	unsigned period = in->status.period_s;
	pthread_mutex_unlock(&in->status_lock);
	if (!log_it)
		return;
	incident_failed_period(failed, cut.label, due - (time_t)period, period);
	char when[32] = "";
	struct tm tm;
	time_t last_due = due - (time_t)period;
	if (gmtime_r(&last_due, &tm))
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* R13: the institute cuts a difusor off after three update periods in
	 * a row without a publication. */
	if (failed == 1)
		log_warn("ingest periods-failed count=1 period_s=%u cut=%s due=%s action=\"no newer cut "
			 "was published in the last update period; check the upstream or the spool, the "
			 "network and this log\"", period, cut.label, when);
	else if (failed == 2)
		log_warn("ingest periods-failed count=2 period_s=%u cut=%s due=%s action=\"two update "
			 "periods in a row without a newer cut: the institute cuts a difusor off at "
			 "three (R13); check the upstream or the spool, the network and this log now, "
			 "and call the institute\"", period, cut.label, when);
	else
		log_error("ingest periods-failed count=%u period_s=%u cut=%s due=%s action=\"three or "
			  "more update periods in a row without a newer cut: by the institute's rule "
			  "(R13) this difusor is cut off; publish a newer cut and call the institute\"",
			  failed, period, cut.label, when);
}

static const char *const refusal_steps[INGEST_REFUSAL_STEPS] = {
	"receive", "verify", "keep", "unpack", "check", "publish", "rollback", "other",
};

const char *ingest_refusal_step(unsigned i)
{
	return i < INGEST_REFUSAL_STEPS ? refusal_steps[i] : NULL;
}

/* Counts a refusal under its step (the last name, "other", for a step
 * without a name of its own). */
static void count_refusal(struct ingest *in, const char *step)
{
	unsigned i = 0;
	while (i + 1 < INGEST_REFUSAL_STEPS && (!step || strcmp(step, refusal_steps[i])))
		i++;
	pthread_mutex_lock(&in->status_lock);
	in->status.refusals[i]++;
	pthread_mutex_unlock(&in->status_lock);
}

void status_record(struct ingest *in, const struct stage_result *res)
{
	char why[sizeof res->reason];
	if (res->verdict != VERDICT_PUBLISHED && res->verdict != VERDICT_UNCHANGED &&
	    res->verdict != VERDICT_CURRENT && res->verdict != VERDICT_ROLLED_BACK)
		count_refusal(in, res->step);
	if (res->step && !strcmp(res->step, "rollback"))   /* every rollback's outcome */
		incident_rollback(res->seq, res->cut.label, res->verdict == VERDICT_ROLLED_BACK, res->reason);
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
	time_t now = time(NULL);
	pthread_mutex_lock(&in->status_lock);
	struct cut before = in->status.cut;
	int order = 1;
	if (before.seq && !cut_order(cut, &before, &order))
		order = cut->seq != before.seq ? 1 : 0;   /* unknown times: arrival order */
	in->status.cut = *cut;
	in->status.cut_published = now;
	unsigned failed = 0;
	if (order > 0) {
		if (in->clock_base)   /* 0: the clock starts now */
			failed = periods_at(in, now);
		in->clock_base = now;
		in->periods_logged = 0;
		periods_at(in, now);
	}
	pthread_mutex_unlock(&in->status_lock);
	if (order > 0 && failed)
		log_info("ingest periods-recovered failed=%u cut=%s time=%s", failed, cut->label,
			 cut->time[0] ? cut->time : "unknown");
}

void status_set_published(struct ingest *in, time_t t)
{
	pthread_mutex_lock(&in->status_lock);
	in->status.cut_published = t;
	in->clock_base = t;
	in->periods_logged = 0;
	periods_at(in, time(NULL));
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
