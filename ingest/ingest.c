/* The ingest thread, its job queue, start and stop, and the public API
 * (ingest.h). The thread waits on the queue, the spool's inotify and the
 * poll timer, and hands every package to the pipeline (pipeline.c). */
#include "ingest/ingest_int.h"

#include "ingest/fetch.h"
#include "server/dir.h"
#include "server/log.h"
#include "server/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

/* The one ingest of the process, behind the public API. */
static struct ingest the = INGEST_INIT;

void ingest_get_status(struct ingest_status *out)
{
	status_get(&the, out);
}

/* ---- the job queue ---- */

static void wake(struct ingest *in)
{
	if (in->wake_fd >= 0) {
		uint64_t one = 1;
		ssize_t w = write(in->wake_fd, &one, sizeof one);
		(void)w;
	}
}

/* Queues a copy of j for the thread; RC_LIMIT when the queue is full. */
static enum rc push_job(struct ingest *in, const struct job *j)
{
	enum rc rc = RC_OK;
	pthread_mutex_lock(&in->queue_lock);
	if (in->queue_n >= INGEST_QUEUE_MAX)
		rc = RC_LIMIT;
	else
		in->queue[in->queue_n++] = *j;
	pthread_mutex_unlock(&in->queue_lock);
	if (!rc)
		wake(in);
	return rc;
}

static bool pop_job(struct ingest *in, struct job *out)
{
	pthread_mutex_lock(&in->queue_lock);
	bool got = in->queue_n > 0;
	if (got) {
		*out = in->queue[0];
		memmove(in->queue, in->queue + 1, (in->queue_n - 1) * sizeof in->queue[0]);
		in->queue_n--;
	}
	pthread_mutex_unlock(&in->queue_lock);
	return got;
}

enum rc ingest_submit(const char *path, const char *name, const char *source,
		      bool take)
{
	struct job j;
	memset(&j, 0, sizeof j);
	snprintf(j.path, sizeof j.path, "%s", path);
	snprintf(j.name, sizeof j.name, "%s", name);
	snprintf(j.source, sizeof j.source, "%s", source);
	j.take = take;
	/* An upload the admin thread claimed into DATA/incoming: the thread
	 * takes it from there (spool_take(), in arrival order, with its
	 * evidence), so it needs no room in the queue, only a wake-up. */
	if (take && !strcmp(source, "upload")) {
		wake(&the);
		return RC_OK;
	}
	return push_job(&the, &j);
}

enum rc ingest_rollback(uint64_t seq)
{
	struct job j;
	memset(&j, 0, sizeof j);
	j.rollback = seq;
	snprintf(j.source, sizeof j.source, "rollback:%llu", (unsigned long long)seq);
	return push_job(&the, &j);
}

/* ---- reload ---- */

uint64_t ingest_reload(const struct ingest_settings *next, bool rebuild,
		       struct snap *placeholder)
{
	struct ingest *in = &the;
	pthread_mutex_lock(&in->queue_lock);
	uint64_t gen = ++in->reload_gen;
	in->reload_next = next;
	in->reload_rebuild |= rebuild;
	snap_release(in->reload_placeholder);   /* superseded */
	in->reload_placeholder = placeholder;
	pthread_mutex_unlock(&in->queue_lock);
	wake(in);
	return gen;
}

uint64_t ingest_reload_taken(void)
{
	return atomic_load(&the.reload_taken);
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* The cut served, again, with the policy of in->cfg: every entry reused,
 * only the responses are made anew. */
static void rebuild_published(struct ingest *in)
{
	uint64_t t0 = now_ns();
	struct snap_builder *b = snap_builder_new(in->published, true, in->cfg->policy);
	enum rc rc = RC_NOMEM;
	struct snap_stats st = { 0 };
	struct cut cut = *snap_cut(in->published);
	struct snap *s = b ? snap_builder_finish(b, &cut, &st, &rc) : NULL;
	if (!s) {
		log_error("ingest reload-rebuild-failed cut=%s error=%s action=\"the new response "
			  "policy applies from the next cut; the current cut keeps the old one\"",
			  cut.label, rc_str(rc));
		return;
	}
	snap_retain(s);   /* one for us, one for the current pointer */
	snap_publish(s);
	snap_release(in->published);
	in->published = s;
	log_info("ingest reload-rebuilt cut=%s files=%zu reused=%zu ms=%.1f", cut.label, st.files,
		 st.reused, (double)(now_ns() - t0) / 1e6);
}

/* Takes the settings ingest_reload() handed over, if any. Ingest thread,
 * between packages. */
static void take_reload(struct ingest *in)
{
	pthread_mutex_lock(&in->queue_lock);
	const struct ingest_settings *next = in->reload_next;
	uint64_t gen = in->reload_gen;
	bool rebuild = in->reload_rebuild;
	struct snap *placeholder = in->reload_placeholder;
	in->reload_next = NULL;
	in->reload_rebuild = false;
	in->reload_placeholder = NULL;
	pthread_mutex_unlock(&in->queue_lock);
	if (!next)
		return;
	const struct ingest_settings *old = in->cfg;
	char err[1024];
	if (next->verify != old->verify || !same_str(next->trust_file, old->trust_file)) {
		struct verify *v = NULL;
		if (verify_new(next->verify, next->trust_file, &v, err, sizeof err))
			/* --check-config's checks passed a moment ago: the file
			 * changed since. */
			log_error("ingest reload-verify-failed error=\"%s\" action=\"packages are "
				  "checked as before the reload; fix the trust file and send SIGHUP "
				  "again\"", err);
		else {
			verify_free(in->verifier);
			in->verifier = v;
		}
	}
	/* A fetcher borrows its settings' strings: always a new one. */
	bool had = in->fetcher != NULL;
	bool new_url = !old->fetch || !next->fetch || !same_str(old->fetch->url, next->fetch->url);
	struct fetch *f = NULL;
	if (next->fetch && fetch_new(next->fetch, &f, err, sizeof err)) {
		log_error("ingest reload-fetch-failed error=\"%s\" action=\"polling stopped; fix "
			  "[ingest] and send SIGHUP again\"", err);
		f = NULL;
	}
	fetch_free(in->fetcher);
	in->fetcher = f;
	pthread_mutex_lock(&in->status_lock);
	in->cfg = next;
	pthread_mutex_unlock(&in->status_lock);
	time_t now = time(NULL);
	if (f && (!had || new_url)) {
		in->fetch_attempt = 0;
		status_set_next_poll(in, now);
	} else if (f && status_next_poll(in) > now + (time_t)next->poll_s) {
		status_set_next_poll(in, now + next->poll_s);
	} else if (!f) {
		status_set_next_poll(in, 0);
	}
	if (in->published && rebuild)
		rebuild_published(in);
	if (!in->published && placeholder) {
		snap_publish(placeholder);   /* takes our reference */
		placeholder = NULL;
		log_info("ingest reload-placeholder reason=\"no cut published yet\"");
	}
	snap_release(placeholder);
	atomic_store(&in->reload_taken, gen);
	static const char *const modes[] = { "none", "sha256", "cms", "ed25519" };
	log_info("ingest reload-taken generation=%llu upstream=%s verify=%s poll_s=%u period_s=%u",
		 (unsigned long long)gen, f ? fetch_url(f) : "-", (unsigned)next->verify < 4 ? modes[next->verify] : "?",
		 next->poll_s, next->period_s);
}

/* ---- the thread ---- */

static bool poll_due(struct ingest *in)
{
	return in->fetcher && status_next_poll(in) <= time(NULL);
}

static void *ingest_main(void *arg)
{
	struct ingest *in = arg;
	in->live = true;
	time_t last_disk = 0;
	if (in->fetcher)
		status_set_next_poll(in, time(NULL));
	while (!atomic_load(&in->stopping)) {
		struct pollfd pfd[1] = { { in->wake_fd, POLLIN, 0 } };
		int timeout = poll_due(in) ? 0 : 1000;   /* pending evidence and disk checks */
		int n = poll(pfd, 1, timeout);
		if (n < 0 && errno != EINTR)
			break;
		if (pfd[0].revents & POLLIN) {
			uint64_t v;
			ssize_t r = read(in->wake_fd, &v, sizeof v);
			(void)r;
		}
		take_reload(in);
		struct job j;
		while (!atomic_load(&in->stopping) && pop_job(in, &j)) {
			struct stage_result res;
			if (j.rollback)
				replay_rollback(in, j.rollback, &res);
			else
				pipeline_run(in, &j, &res);
			take_reload(in);
		}
		/* Spool and upload arrivals, claimed into DATA/incoming by the
		 * claimer and admin threads. */
		if (!atomic_load(&in->stopping))
			spool_take(in);
		spool_expire(in);
		status_tick(in, time(NULL));   /* R13's periods */
		if (!atomic_load(&in->stopping) && poll_due(in))
			pull_poll(in);
		if (time(NULL) - last_disk >= 60) {
			status_disk_check(in);
			last_disk = time(NULL);
		}
	}
	return NULL;
}

/* ---- start and stop ---- */

/* DATA/tmp is scratch: partial downloads and uploads of a process that was
 * killed; DATA/incoming may hold a partial cross-file-system claim. Only
 * names prepd makes there are removed (".upload-", ".dl-", ".keep-",
 * ".prepd-"): a data folder pointed at the wrong place (/var, run from /)
 * loses nothing. Other files are counted and left. */
struct clean_ctx {
	unsigned removed, left;
};

static bool unlink_ours(int dfd, const char *name, void *ctx)
{
	static const char *const ours[] = { ".upload-", ".dl-", ".keep-", "." STORE_CLAIM_PREFIX };
	struct clean_ctx *c = ctx;
	struct stat sb;
	if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode))
		return true;
	for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++) {
		if (!strncmp(name, ours[i], strlen(ours[i]))) {
			if (unlinkat(dfd, name, 0) == 0)
				c->removed++;
			return true;
		}
	}
	c->left++;
	return true;
}

static void clean_tmp(struct ingest *in)
{
	struct clean_ctx c = { 0, 0 };
	(void)dir_each(AT_FDCWD, store_tmp_dir(in->store), unlink_ours, &c);
	unsigned in_tmp = c.left;
	c.left = 0;
	(void)dir_each(store_incoming_fd(in->store), ".", unlink_ours, &c);
	if (c.removed)
		log_info("ingest tmp-cleaned files=%u reason=\"left by a process that stopped mid-transfer\"",
			 c.removed);
	if (in_tmp)
		log_info("ingest tmp-unknown files=%u dir=%s reason=\"not named by prepd, so not "
			 "removed\" action=\"look at them; remove what is not needed\"", in_tmp,
			 store_tmp_dir(in->store));
}

/* The built-in subscriber: one log line per publish event, from its own
 * thread, so every publication is visible before purge or stats exist. */
static void log_event(const struct event *ev, void *ctx)
{
	(void)ctx;
	log_info("event publish seq=%llu cut=%s kind=%s source=%s added=%zu changed=%zu "
		 "removed=%zu publish_ms=%.1f", (unsigned long long)ev->seq, ev->cut.label,
		 event_kind_str(ev->kind), ev->source, ev->paths.n_added, ev->paths.n_changed,
		 ev->paths.n_removed, (double)ev->took_ns / 1e6);
}

enum rc ingest_start(const struct ingest_settings *settings, char *err,
		     size_t errsz)
{
	struct ingest *in = &the;
	enum rc rc = pipeline_open(in, settings, err, errsz);
	if (rc)
		return rc;
	rc = event_subscribe("log", log_event, NULL);
	if (rc) {
		snprintf(err, errsz, "cannot start the publish event log: %s", rc_str(rc));
		return rc;
	}
	const struct ingest_settings *cfg = in->cfg;
	clean_tmp(in);
	replay_history(in);
	replay_resume(in);
	/* Arrivals claimed before a restart, in arrival order, before the
	 * admin listener can claim new ones. */
	if (cfg->spool_dir) {
		rc = spool_watch(in, err, errsz);
		if (rc)
			return rc;
	}
	spool_take(in);
	status_disk_check(in);
	if (cfg->startup_package) {
		struct job j;
		memset(&j, 0, sizeof j);
		snprintf(j.path, sizeof j.path, "%s", cfg->startup_package);
		const char *slash = strrchr(cfg->startup_package, '/');
		snprintf(j.name, sizeof j.name, "%s", slash ? slash + 1 : cfg->startup_package);
		snprintf(j.source, sizeof j.source, "package:%s", cfg->startup_package);
		j.startup = true;
		struct stage_result res;
		pipeline_run(in, &j, &res);
	}

	in->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (in->wake_fd < 0) {
		snprintf(err, errsz, "cannot create an eventfd: %s", strerror(errno));
		return RC_IO;
	}
	if (cfg->fetch) {
		rc = fetch_new(cfg->fetch, &in->fetcher, err, errsz);
		if (rc)
			return rc;
	}
	if (cfg->spool_dir) {
		rc = spool_start(in, err, errsz);
		if (rc)
			return rc;
	}
	if (pthread_create(&in->thread, NULL, ingest_main, in)) {
		snprintf(err, errsz, "cannot start the ingest thread");
		return RC_NOMEM;
	}
	in->running = true;
	return RC_OK;
}

void ingest_stop(void)
{
	struct ingest *in = &the;
	if (in->running) {
		atomic_store(&in->stopping, true);
		wake(in);
		pthread_join(in->thread, NULL);
		in->running = false;
	}
	atomic_store(&in->stopping, true);
	spool_stop(in);
	/* The ingest thread was the only emitter: let the subscribers finish
	 * what it emitted. */
	event_stop();
	if (in->inotify_fd >= 0)
		close(in->inotify_fd);
	if (in->wake_fd >= 0)
		close(in->wake_fd);
	if (in->spool_fd >= 0)
		close(in->spool_fd);
	in->inotify_fd = in->wake_fd = in->spool_fd = -1;
	fetch_free(in->fetcher);
	in->fetcher = NULL;
	snap_release(in->reload_placeholder);
	in->reload_placeholder = NULL;
	pipeline_close(in);
}
