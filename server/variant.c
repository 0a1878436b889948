#include "server/variant.h"

#include "server/image.h"
#include "server/limits.h"
#include "server/log.h"
#include "server/snap_int.h"
#include "server/util.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct job {
	struct job *next;
	struct snap *s;
	char *image_dir;          /* an image job: the data folder */
	uint64_t seq;
	char sha[65];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;    /* to the thread */
static pthread_cond_t idle = PTHREAD_COND_INITIALIZER;    /* to waiters */
static struct job *head, **tail = &head;
static bool running, stopping, busy;
static pthread_t thread;
static struct variant_stats stats;   /* under lock */

/* Whether anyone but this thread's queue holds s: the job in hand and
 * every queued job (a variant job and an image job per publish) hold a
 * reference each, and a cut no one else holds (a newer one replaced it)
 * is not worth a variant or an image. */
static bool held_elsewhere(const struct snap *s)
{
	pthread_mutex_lock(&lock);
	long ours = 1;   /* the job in hand */
	for (const struct job *q = head; q; q = q->next)
		ours += q->s == s;
	pthread_mutex_unlock(&lock);
	return atomic_load(&((struct snap *)s)->refs) > ours;
}

/* Slot numbers of s in the order their variants are made: smallest
 * entry first (qsort_r: a fallback run on the ingest thread may sort at
 * the same time). */
static int by_size(const void *a, const void *b, void *ctx)
{
	const struct snap *s = ctx;
	size_t x = s->slots[*(const size_t *)a].e->len;
	size_t y = s->slots[*(const size_t *)b].e->len;
	return x < y ? -1 : x > y;
}

/* Makes s's pending variants and attaches its slots' gzip responses.
 * With check_refs, stops once s is held by nobody but this job. Returns
 * false when it stopped before the end. */
static bool run_job(struct snap *s, bool check_refs)
{
	uint64_t t0 = now_ns(), made = 0, in = 0, out = 0;
	bool done = true, nomem = false;
	size_t *order = malloc((s->nslots ? s->nslots : 1) * sizeof *order);
	for (size_t i = 0; order && i < s->nslots; i++)
		order[i] = i;
	if (order)
		qsort_r(order, s->nslots, sizeof *order, by_size, s);
	for (size_t k = 0; k < s->nslots; k++) {
		size_t i = order ? order[k] : k;
		if (check_refs) {
			pthread_mutex_lock(&lock);
			bool stop = stopping;
			pthread_mutex_unlock(&lock);
			if (stop || !held_elsewhere(s)) {
				done = false;
				break;
			}
		}
		struct slot *sl = &s->slots[i];
		if (entry_variant_pending(sl->e)) {
			if (entry_make_variant(sl->e)) {
				nomem = true;
				continue;
			}
			const struct entry_gz *g = entry_variant(sl->e);
			made++;
			in += sl->e->len;
			out += g ? g->len : 0;
		}
		if (snap_slot_attach_gz(s, sl) ||
		    (s->https && snap_slot_attach_gz(s->https, &s->https->slots[i])))
			nomem = true;
	}
	free(order);
	/* Files kept from earlier cuts (skew protection): their variants were
	 * made for the cut they came from, perhaps after this snapshot was
	 * built; attach what exists, make none. */
	for (size_t i = 0; done && i < s->nkept; i++)
		if (snap_slot_attach_gz(s, &s->kept[i]) ||
		    (s->https && snap_slot_attach_gz(s->https, &s->https->kept[i])))
			nomem = true;
	pthread_mutex_lock(&lock);
	stats.made += made;
	stats.bytes_in += in;
	stats.bytes_out += out;
	stats.dropped += !done;
	pthread_mutex_unlock(&lock);
	if (nomem)
		log_warn("variant failed cut=%s error=%s action=\"some files of this cut are served "
			 "without gzip (identity bodies are complete); free memory, the next cut "
			 "tries again\"", s->cut.label, rc_str(RC_NOMEM));
	if (made || !done)
		log_info("variant %s cut=%s seq=%llu made=%llu bytes=%llu gz_bytes=%llu ms=%.1f",
			 done ? "done" : "dropped", s->cut.label, (unsigned long long)s->cut.seq,
			 (unsigned long long)made, (unsigned long long)in, (unsigned long long)out,
			 (double)(now_ns() - t0) / 1e6);
	return done;
}

/* Gives freed heap back to the system once a large cut's bodies are
 * gone: glibc keeps freed small chunks in its arenas otherwise. */
static void maybe_trim(uint64_t *freed)
{
	*freed += entry_freed_bytes_take();
	if (*freed < VARIANT_TRIM_BYTES)
		return;
	uint64_t t0 = now_ns();
	malloc_trim(0);
	log_info("variant trim freed_bytes=%llu ms=%.1f", (unsigned long long)*freed,
		 (double)(now_ns() - t0) / 1e6);
	*freed = 0;
	pthread_mutex_lock(&lock);
	stats.trims++;
	pthread_mutex_unlock(&lock);
}

static void run_image(const struct job *j)
{
	char path[PATH_BUF_LONG_BYTES], err[600];
	struct stat st;
	image_path(j->image_dir, j->seq, path, sizeof path);
	if (!held_elsewhere(j->s) || stat(path, &st) == 0)
		return;   /* replaced meanwhile, or loaded from this very image */
	uint64_t t0 = now_ns();
	enum rc rc = image_write(j->image_dir, j->s, j->seq, j->sha, err, sizeof err);
	pthread_mutex_lock(&lock);
	if (rc)
		stats.image_failures++;
	else
		stats.images++;
	pthread_mutex_unlock(&lock);
	if (rc) {
		log_warn("image write-failed seq=%llu cut=%s error=\"%s\" action=\"the cut is "
			 "published and journaled; a restart rebuilds it from the package in the "
			 "history (slower); free disk space in the data folder\"",
			 (unsigned long long)j->seq, j->s->cut.label, err);
		return;
	}
	if (stat(path, &st) != 0)
		st.st_size = 0;
	log_info("image written seq=%llu cut=%s file=%s bytes=%lld ms=%.1f",
		 (unsigned long long)j->seq, j->s->cut.label, path, (long long)st.st_size,
		 (double)(now_ns() - t0) / 1e6);
}

static void *variant_main(void *arg)
{
	(void)arg;
	/* Below the request threads: a variant may wait, a request not. */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), VARIANT_NICE) != 0)
		log_warn("variant nice-failed error=\"%s\" reason=\"the variant thread runs at the "
			 "request threads' priority\"", strerror(errno));
	uint64_t freed = 0;
	pthread_mutex_lock(&lock);
	for (;;) {
		while (!head && !stopping) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			pthread_mutex_unlock(&lock);
			maybe_trim(&freed);
			pthread_mutex_lock(&lock);
			if (!head && !stopping)
				pthread_cond_timedwait(&wake, &lock, &until);
		}
		if (stopping)
			break;
		struct job *j = head;
		head = j->next;
		if (!head)
			tail = &head;
		busy = true;
		pthread_mutex_unlock(&lock);
		if (j->image_dir)
			run_image(j);
		else
			run_job(j->s, true);
		snap_release(j->s);
		free(j->image_dir);
		free(j);
		maybe_trim(&freed);
		pthread_mutex_lock(&lock);
		busy = false;
		stats.queued--;
		if (!head)
			pthread_cond_broadcast(&idle);
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

enum rc variant_start(void)
{
	pthread_mutex_lock(&lock);
	stopping = false;
	bool ok = running || !pthread_create(&thread, NULL, variant_main, NULL);
	running = ok;
	pthread_mutex_unlock(&lock);
	return ok ? RC_OK : RC_NOMEM;
}

void variant_stop(void)
{
	pthread_mutex_lock(&lock);
	bool was = running;
	stopping = true;
	pthread_cond_broadcast(&wake);
	pthread_mutex_unlock(&lock);
	if (was)
		pthread_join(thread, NULL);
	pthread_mutex_lock(&lock);
	running = false;
	struct job *j = head;
	head = NULL;
	tail = &head;
	stats.queued = 0;
	pthread_cond_broadcast(&idle);
	pthread_mutex_unlock(&lock);
	while (j) {
		struct job *next = j->next;
		snap_release(j->s);
		free(j->image_dir);
		free(j);
		j = next;
	}
}

static bool has_pending(const struct snap *s)
{
	for (size_t i = 0; i < s->nslots; i++)
		if (entry_variant_pending(s->slots[i].e) ||
		    (entry_variant(s->slots[i].e) && !slot_gz(&s->slots[i])))
			return true;
	return false;
}

void variant_enqueue(struct snap *s)
{
	if (!has_pending(s))
		return;
	pthread_mutex_lock(&lock);
	struct job *j = running && !stopping ? calloc(1, sizeof *j) : NULL;
	if (j) {
		snap_retain(s);
		j->s = s;
		*tail = j;
		tail = &j->next;
		stats.queued++;
		pthread_cond_signal(&wake);
	}
	pthread_mutex_unlock(&lock);
	if (!j)   /* no thread (or no memory for the job): now, here */
		run_job(s, false);
}

void variant_enqueue_image(struct snap *s, const char *data_dir, uint64_t seq,
			   const char *sha_hex)
{
	pthread_mutex_lock(&lock);
	struct job *j = running && !stopping ? calloc(1, sizeof *j) : NULL;
	if (j && !(j->image_dir = strdup(data_dir))) {
		free(j);
		j = NULL;
	}
	if (j) {
		snap_retain(s);
		j->s = s;
		j->seq = seq;
		snprintf(j->sha, sizeof j->sha, "%s", sha_hex);
		*tail = j;
		tail = &j->next;
		stats.queued++;
		pthread_cond_signal(&wake);
	}
	pthread_mutex_unlock(&lock);
}

bool variant_wait_idle(unsigned timeout_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&lock);
	int r = 0;
	while ((head || busy) && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&idle, &lock, &until);
	bool ok = !head && !busy;
	pthread_mutex_unlock(&lock);
	return ok;
}

void variant_stats(struct variant_stats *out)
{
	pthread_mutex_lock(&lock);
	*out = stats;
	pthread_mutex_unlock(&lock);
}
