/* The publish event's delivery: each subscriber on its own thread, in
 * order, a full queue dropping its oldest event (counted) instead of
 * holding up the emitter, and event_stop() delivering what is queued. */
#include "check.h"
#include "ingest/event.h"
#include "server/limits.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define EXTRA 3   /* emitted past a full queue */

struct slow {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool entered, open;
	uint64_t seqs[EVENT_QUEUE_MAX + EXTRA + 1];
	size_t n;
	pthread_t thread;
	const struct event *kept;
};

/* Blocks in its first call until the test opens the gate. */
static void slow_fn(const struct event *ev, void *ctx)
{
	struct slow *s = ctx;
	pthread_mutex_lock(&s->lock);
	s->thread = pthread_self();
	if (s->n < sizeof s->seqs / sizeof s->seqs[0])
		s->seqs[s->n++] = ev->seq;
	if (ev->seq == 1)
		s->kept = event_acquire(ev);   /* outlives the call */
	s->entered = true;
	pthread_cond_broadcast(&s->cond);
	while (!s->open)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

struct fast {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t seqs[EVENT_QUEUE_MAX + EXTRA + 8];
	size_t n;
	pthread_t thread;
};

static void fast_fn(const struct event *ev, void *ctx)
{
	struct fast *f = ctx;
	pthread_mutex_lock(&f->lock);
	f->thread = pthread_self();
	if (f->n < sizeof f->seqs / sizeof f->seqs[0])
		f->seqs[f->n++] = ev->seq;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

/* Waits until the fast subscriber has had n events. */
static void fast_wait(struct fast *f, size_t n)
{
	pthread_mutex_lock(&f->lock);
	while (f->n < n)
		pthread_cond_wait(&f->cond, &f->lock);
	pthread_mutex_unlock(&f->lock);
}

static void emit(uint64_t seq)
{
	struct event *ev = event_new();
	if (!ev)
		return;
	ev->seq = seq;
	ev->kind = EVENT_FULL;
	snprintf(ev->source, sizeof ev->source, "test");
	ev->paths.added = malloc(sizeof(char *));
	ev->paths.added[0] = strdup("index.html");
	ev->paths.n_added = 1;
	event_emit(ev);
}

int main(void)
{
	static struct slow slow = { .lock = PTHREAD_MUTEX_INITIALIZER,
				    .cond = PTHREAD_COND_INITIALIZER };
	static struct fast fast = { .lock = PTHREAD_MUTEX_INITIALIZER,
				    .cond = PTHREAD_COND_INITIALIZER };
	CHECK(!strcmp(event_kind_str(EVENT_FULL), "full") &&
	      !strcmp(event_kind_str(EVENT_INCREMENTAL), "incremental") &&
	      !strcmp(event_kind_str(EVENT_ROLLBACK), "rollback"), "kind names");

	emit(0);   /* nobody subscribed: dropped at once, not counted */
	CHECK(event_dropped() == 0, "no subscriber, nothing dropped");

	CHECK(event_subscribe("slow", slow_fn, &slow) == RC_OK, "subscribe slow");
	CHECK(event_subscribe("fast", fast_fn, &fast) == RC_OK, "subscribe fast");

	emit(1);
	pthread_mutex_lock(&slow.lock);
	while (!slow.entered)
		pthread_cond_wait(&slow.cond, &slow.lock);
	pthread_mutex_unlock(&slow.lock);

	/* The slow subscriber holds event 1; its queue takes EVENT_QUEUE_MAX
	 * more, then drops the oldest for each one past that. The emitter
	 * never waits for it (this would hang if it did), and the fast
	 * subscriber gets each event while the slow one is stuck (waiting
	 * for that keeps the fast one's queue from filling on a busy box). */
	for (uint64_t seq = 2; seq <= 1 + EVENT_QUEUE_MAX + EXTRA; seq++) {
		emit(seq);
		fast_wait(&fast, seq);
	}
	CHECK(event_dropped() == EXTRA, "a full queue drops its oldest, counted: %llu",
	      (unsigned long long)event_dropped());

	pthread_mutex_lock(&slow.lock);
	slow.open = true;
	pthread_cond_broadcast(&slow.cond);
	pthread_mutex_unlock(&slow.lock);
	event_stop();   /* delivers what is queued, joins */

	CHECK(slow.n == 1 + EVENT_QUEUE_MAX, "slow got the one it held and a full queue: %zu", slow.n);
	bool order = slow.n > 1 && slow.seqs[0] == 1 && slow.seqs[1] == 2 + EXTRA;
	for (size_t i = 2; order && i < slow.n; i++)
		order = slow.seqs[i] == slow.seqs[i - 1] + 1;
	CHECK(order, "in order, the oldest queued ones dropped: %llu, %llu ...",
	      (unsigned long long)slow.seqs[0], (unsigned long long)slow.seqs[1]);
	CHECK(fast.n == 1 + EVENT_QUEUE_MAX + EXTRA, "a slow subscriber does not hold up another: %zu",
	      fast.n);
	bool all = true;
	for (size_t i = 0; i < fast.n; i++)
		all = all && fast.seqs[i] == i + 1;
	CHECK(all, "every event, in order, to the fast one");
	CHECK(!pthread_equal(slow.thread, pthread_self()) && !pthread_equal(fast.thread, pthread_self()) &&
	      !pthread_equal(slow.thread, fast.thread), "each subscriber on its own thread");
	CHECK(slow.kept && slow.kept->seq == 1 && slow.kept->paths.n_added == 1 &&
	      !strcmp(slow.kept->paths.added[0], "index.html"), "an acquired event outlives delivery");
	event_release(slow.kept);

	/* After a stop the registry is empty: emits are dropped, and
	 * subscribing works again. */
	emit(100);
	CHECK(event_subscribe("again", fast_fn, &fast) == RC_OK, "subscribe after a stop");
	size_t before = fast.n;
	emit(101);
	event_stop();
	CHECK(fast.n == before + 1 && fast.seqs[fast.n - 1] == 101, "delivered after a re-subscribe");

	for (unsigned i = 0; i < EVENT_MAX_SUBSCRIBERS; i++)
		CHECK(event_subscribe("n", fast_fn, &fast) == RC_OK, "subscriber %u", i);
	CHECK(event_subscribe("one too many", fast_fn, &fast) == RC_LIMIT, "EVENT_MAX_SUBSCRIBERS");
	event_stop();
	return check_done();
}
