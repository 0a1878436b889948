#include "ingest/event.h"

#include "server/limits.h"
#include "server/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The reference count lives beside the event, out of subscribers' sight. */
struct box {
	_Atomic long refs;
	struct event ev;
};

static struct box *box_of(const struct event *ev)
{
	return (struct box *)((char *)ev - offsetof(struct box, ev));
}

/* One subscriber: a ring of events for its thread, under its own lock so
 * a subscriber busy in fn never holds up the emitter's push. */
struct sub {
	char name[32];
	void (*fn)(const struct event *, void *);
	void *ctx;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct event *q[EVENT_QUEUE_MAX];
	size_t head, n;
	uint64_t dropped;          /* under lock */
	uint64_t dropped_logged;   /* the subscriber thread's own */
	bool stopping;
};

/* The registry: process-wide, like the snapshot, since subscribers (purge,
 * stats) register from their own modules before ingest starts. reg_lock
 * orders subscribe, emit and stop; emits are rare (one a cut). */
static struct {
	pthread_mutex_t lock;
	struct sub *subs[EVENT_MAX_SUBSCRIBERS];
	size_t n;
	_Atomic uint64_t dropped;
} reg = { .lock = PTHREAD_MUTEX_INITIALIZER };

const char *event_kind_str(enum event_kind kind)
{
	switch (kind) {
	case EVENT_FULL:        return "full";
	case EVENT_INCREMENTAL: return "incremental";
	case EVENT_ROLLBACK:    return "rollback";
	}
	return "unknown";
}

struct event *event_new(void)
{
	struct box *b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	atomic_init(&b->refs, 1);
	return &b->ev;
}

const struct event *event_acquire(const struct event *ev)
{
	atomic_fetch_add(&box_of(ev)->refs, 1);
	return ev;
}

void event_release(const struct event *ev)
{
	if (!ev)
		return;
	struct box *b = box_of(ev);
	if (atomic_fetch_sub(&b->refs, 1) != 1)
		return;
	snap_diff_release(&b->ev.paths);
	free(b);
}

uint64_t event_dropped(void)
{
	return atomic_load(&reg.dropped);
}

static void *sub_main(void *arg)
{
	struct sub *s = arg;
	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (!s->n && !s->stopping)
			pthread_cond_wait(&s->cond, &s->lock);
		if (!s->n)
			break;   /* stopping, and every queued event delivered */
		struct event *ev = s->q[s->head];
		s->head = (s->head + 1) % EVENT_QUEUE_MAX;
		s->n--;
		uint64_t dropped = s->dropped;
		pthread_mutex_unlock(&s->lock);
		if (dropped != s->dropped_logged) {
			log_warn("event dropped subscriber=%s count=%llu reason=\"the subscriber fell "
				 "%u events behind; the oldest were dropped\"", s->name,
				 (unsigned long long)(dropped - s->dropped_logged), EVENT_QUEUE_MAX);
			s->dropped_logged = dropped;
		}
		s->fn(ev, s->ctx);
		event_release(ev);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

enum rc event_subscribe(const char *name,
			void (*fn)(const struct event *ev, void *ctx),
			void *ctx)
{
	struct sub *s = calloc(1, sizeof *s);
	if (!s)
		return RC_NOMEM;
	snprintf(s->name, sizeof s->name, "%s", name);
	s->fn = fn;
	s->ctx = ctx;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	enum rc rc = RC_OK;
	pthread_mutex_lock(&reg.lock);
	if (reg.n >= EVENT_MAX_SUBSCRIBERS)
		rc = RC_LIMIT;
	else if (pthread_create(&s->thread, NULL, sub_main, s))
		rc = RC_NOMEM;
	else
		reg.subs[reg.n++] = s;
	pthread_mutex_unlock(&reg.lock);
	if (rc) {
		pthread_cond_destroy(&s->cond);
		pthread_mutex_destroy(&s->lock);
		free(s);
	}
	return rc;
}

void event_emit(struct event *ev)
{
	pthread_mutex_lock(&reg.lock);
	for (size_t i = 0; i < reg.n; i++) {
		struct sub *s = reg.subs[i];
		struct event *old = NULL;
		pthread_mutex_lock(&s->lock);
		if (s->n == EVENT_QUEUE_MAX) {
			old = s->q[s->head];
			s->head = (s->head + 1) % EVENT_QUEUE_MAX;
			s->n--;
			s->dropped++;
			atomic_fetch_add(&reg.dropped, 1);
		}
		event_acquire(ev);
		s->q[(s->head + s->n) % EVENT_QUEUE_MAX] = ev;
		s->n++;
		pthread_cond_signal(&s->cond);
		pthread_mutex_unlock(&s->lock);
		event_release(old);
	}
	pthread_mutex_unlock(&reg.lock);
	event_release(ev);
}

void event_stop(void)
{
	pthread_mutex_lock(&reg.lock);
	size_t n = reg.n;
	struct sub *subs[EVENT_MAX_SUBSCRIBERS];
	memcpy(subs, reg.subs, n * sizeof subs[0]);
	reg.n = 0;
	pthread_mutex_unlock(&reg.lock);
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&subs[i]->lock);
		subs[i]->stopping = true;
		pthread_cond_signal(&subs[i]->cond);
		pthread_mutex_unlock(&subs[i]->lock);
	}
	for (size_t i = 0; i < n; i++) {
		pthread_join(subs[i]->thread, NULL);
		pthread_cond_destroy(&subs[i]->cond);
		pthread_mutex_destroy(&subs[i]->lock);
		free(subs[i]);
	}
}

const char *event_stage_str(enum event_stage stage)
{
	static const char *const names[EVENT_STAGES] = { "verify", "store", "unpack", "build",
							  "swap" };
	return (unsigned)stage < EVENT_STAGES ? names[stage] : "?";
}
