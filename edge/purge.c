/* CDN purge threads (see purge.h): one per target, each with one pending
 * job that newer cuts merge into, libcurl for the requests. */
#include "edge/purge.h"
#include "edge/purge_conf.h"
#include "edge/purge_req.h"
#include "server/incident.h"
#include "server/limits.h"
#include "server/log.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct target {
	struct purge *p;
	const struct purge_target_settings *cfg;
	char secret[PURGE_SECRET_MAX_BYTES + 1];   /* never logged */
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;         /* guards pending, stop and st */
	pthread_cond_t wake;
	struct purge_job *pending;    /* owned; merged into by purge_cut() */
	bool stop;
	struct purge_state st;
};

struct purge {
	unsigned n;
	struct target t[PURGE_MAX_TARGETS];
	_Atomic uint64_t next_id;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- jobs ---- */

static void job_free(struct purge_job *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->npaths; i++)
		free(j->paths[i]);
	free(j->paths);
	free(j);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts and removes duplicates; over PURGE_MAX_PATHS, drops them all and
 * sets everything. */
static void job_settle(struct purge_job *j)
{
	if (j->everything || j->npaths > PURGE_MAX_PATHS) {
		for (size_t i = 0; i < j->npaths; i++)
			free(j->paths[i]);
		j->npaths = 0;
		j->everything = true;
		return;
	}
	if (j->npaths > 1)   /* qsort's array may not be NULL, even empty */
		qsort(j->paths, j->npaths, sizeof *j->paths, cmp_str);
	size_t o = 0;
	for (size_t i = 0; i < j->npaths; i++) {
		if (o && !strcmp(j->paths[o - 1], j->paths[i]))
			free(j->paths[i]);
		else
			j->paths[o++] = j->paths[i];
	}
	j->npaths = o;
}

static bool job_add(struct purge_job *j, size_t *cap, const char *path, size_t len)
{
	if (j->npaths == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		char **np = realloc(j->paths, ncap * sizeof *np);
		if (!np)
			return false;
		j->paths = np;
		*cap = ncap;
	}
	char *s = strndup(path, len);
	if (!s)
		return false;
	j->paths[j->npaths++] = s;
	return true;
}

/* Every path the cut added, changed or removed; a folder's index.html
 * adds the folder's own URL ("dir/", "" for the root), which is what
 * visitors and caches ask for. */
static struct purge_job *job_from_event(const struct event *ev, uint64_t id)
{
	struct purge_job *j = calloc(1, sizeof *j);
	if (!j)
		return NULL;
	snprintf(j->label, sizeof j->label, "%s", ev->cut.label);
	snprintf(j->time, sizeof j->time, "%s", ev->cut.time);
	j->seq = ev->seq;
	j->kind = event_kind_str(ev->kind);
	j->id = id;
	size_t cap = 0;
	char **lists[3] = { ev->paths.added, ev->paths.changed, ev->paths.removed };
	size_t counts[3] = { ev->paths.n_added, ev->paths.n_changed, ev->paths.n_removed };
	for (int l = 0; l < 3; l++)
		for (size_t i = 0; i < counts[l]; i++) {
			const char *p = lists[l][i];
			size_t n = strlen(p);
			if (j->everything || j->npaths + 2 > PURGE_MAX_PATHS) {
				j->everything = true;
				break;
			}
			if (!job_add(j, &cap, p, n))
				goto nomem;
			if (n >= 10 && !strcmp(p + n - 10, "index.html") &&
			    (n == 10 || p[n - 11] == '/') && !job_add(j, &cap, p, n - 10))
				goto nomem;
		}
	job_settle(j);   /* everything: the paths are dropped */
	return j;
nomem:
	/* Out of memory: purge everything rather than miss a path. */
	for (size_t i = 0; i < j->npaths; i++)
		free(j->paths[i]);
	free(j->paths);
	j->paths = NULL;
	j->npaths = 0;
	j->everything = true;
	return j;
}

/* newer, with the paths of older from `from` on added to it. Takes both;
 * returns the merged job. */
static struct purge_job *job_merge(struct purge_job *older, size_t from, struct purge_job *newer,
				   uint64_t id)
{
	newer->id = id;
	newer->everything = newer->everything || older->everything;
	size_t cap = newer->npaths;
	for (size_t i = from; i < older->npaths && !newer->everything; i++) {
		if (newer->npaths >= PURGE_MAX_PATHS) {
			newer->everything = true;
			break;
		}
		if (!job_add(newer, &cap, older->paths[i], strlen(older->paths[i])))
			newer->everything = true;
	}
	job_free(older);
	job_settle(newer);
	return newer;
}

void purge_cut(struct purge *p, const struct event *ev)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->n; i++) {
		struct target *t = &p->t[i];
		struct purge_job *j = job_from_event(ev, ++p->next_id);
		if (!j) {
			log_error("purge failed target=%s cut=%s why=\"out of memory\" action=\"purge "
				  "the CDN by hand\"", t->cfg->name, ev->cut.label);
			incident_purge_failed(t->cfg->name, ev->cut.label, "out of memory");
			continue;
		}
		pthread_mutex_lock(&t->lock);
		if (t->pending) {
			/* The queued job was not tried yet: the new one covers it. */
			j = job_merge(t->pending, 0, j, ++p->next_id);
			t->st.superseded++;
		}
		t->pending = j;
		t->st.pending = true;
		if (!t->st.result || !strcmp(t->st.result, "-") || !strcmp(t->st.result, "ok") ||
		    !strcmp(t->st.result, "failed"))
			t->st.result = "waiting";
		pthread_cond_signal(&t->wake);
		pthread_mutex_unlock(&t->lock);
	}
}

void purge_on_publish(const struct event *ev, void *ctx)
{
	purge_cut(ctx, ev);
}

/* ---- one attempt ---- */

struct answer {
	char buf[PURGE_ANSWER_MAX_BYTES];
	size_t len;
};

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct answer *a = ctx;
	size_t len = size * n, room = sizeof a->buf - 1 - a->len;
	memcpy(a->buf + a->len, data, len < room ? len : room);
	a->len += len < room ? len : room;
	a->buf[a->len] = '\0';
	return len;
}

static void clean(const char *s, char *out, size_t outsz)
{
	size_t o = 0;
	for (; s && *s && o + 1 < outsz; s++)
		out[o++] = *s >= 0x20 && *s < 0x7f && *s != '"' && *s != '\\' ? *s : '?';
	out[o] = '\0';
}

/* Sends the requests of job from *from on; *from advances past every
 * batch that succeeded. *status is the last HTTP status (0: none),
 * *retry_after_s the server's Retry-After (0: none). */
static enum purge_verdict attempt(struct target *t, CURL *c, const struct purge_job *job,
				  size_t *from, long *status, char *why, size_t whysz,
				  long *retry_after_s, unsigned *requests)
{
	const struct purge_target_settings *cfg = t->cfg;
	*status = 0;
	*retry_after_s = 0;
	why[0] = '\0';
	/* A cut that changed no path (a rollback to the same bytes) needs no
	 * path purge; the webhook still reports it. */
	if (!job->npaths && !job->everything && cfg->type != PURGE_TYPE_WEBHOOK &&
	    purge_by_effective(cfg) == PURGE_BY_PATHS)
		return PURGE_OK;
	do {
		struct purge_req r;
		enum rc rc = purge_req_build(cfg, t->secret, job, *from, time(NULL), &r);
		if (rc) {
			snprintf(why, whysz, "cannot build the request: %s", rc_str(rc));
			return PURGE_FAIL;
		}
		struct curl_slist *h = NULL;
		for (unsigned i = 0; i < r.nheaders; i++)
			h = curl_slist_append(h, r.headers[i]);
		h = curl_slist_append(h, "Expect:");   /* no 100-continue round trip */
		struct answer *a = malloc(sizeof *a);
		if (!a || !h) {
			free(a);
			curl_slist_free_all(h);
			purge_req_release(&r);
			snprintf(why, whysz, "out of memory");
			return PURGE_RETRY;
		}
		a->len = 0;
		a->buf[0] = '\0';
		char errbuf[CURL_ERROR_SIZE] = "";
		curl_easy_reset(c);
		curl_easy_setopt(c, CURLOPT_URL, r.url);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(c, CURLOPT_USERAGENT, "prepd/" PREPD_VERSION);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)cfg->timeout_ms);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->timeout_ms);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
		if (r.body) {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, r.body);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r.body_len);
		} else if (!strcmp(r.method, "POST")) {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
		}
		if (strcmp(r.method, "POST"))
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r.method);
		if (r.sigv4) {
			curl_easy_setopt(c, CURLOPT_AWS_SIGV4, PURGE_CLOUDFRONT_SIGV4);
			curl_easy_setopt(c, CURLOPT_USERPWD, t->secret);   /* KEY_ID:SECRET */
		}
		CURLcode cc = curl_easy_perform(c);
		(*requests)++;
		enum purge_verdict v;
		if (cc != CURLE_OK) {
			char e[200];
			clean(errbuf[0] ? errbuf : curl_easy_strerror(cc), e, sizeof e);
			snprintf(why, whysz, "%s", e);
			*status = 0;
			v = PURGE_RETRY;
		} else {
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
			curl_off_t ra = 0;
			if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
				*retry_after_s = ra > PURGE_RETRY_AFTER_MAX_S ? PURGE_RETRY_AFTER_MAX_S : (long)ra;
			v = purge_req_judge(cfg->type, *status, a->buf, a->len, why, whysz);
		}
		curl_slist_free_all(h);
		free(a);
		size_t consumed = r.consumed;
		purge_req_release(&r);
		if (v != PURGE_OK)
			return v;
		*from += consumed;
		if (!consumed)
			break;
	} while (*from < job->npaths);
	return PURGE_OK;
}

/* The wait before retry n (1, 2, ...): backoff doubled n-1 times, capped
 * at backoff_max, with "equal jitter" (half fixed, half random) so that
 * origins behind one CDN do not retry in step; at least Retry-After. */
static uint64_t retry_wait_ms(const struct purge_target_settings *cfg, unsigned n,
			      long retry_after_s, unsigned *seed)
{
	uint64_t w = cfg->backoff_ms;
	for (unsigned i = 1; i < n && w < cfg->backoff_max_ms; i++)
		w *= 2;
	if (w > cfg->backoff_max_ms)
		w = cfg->backoff_max_ms;
	w = w / 2 + (w / 2 ? (uint64_t)rand_r(seed) % (w / 2 + 1) : 0);
	if (retry_after_s && (uint64_t)retry_after_s * 1000 > w)
		w = (uint64_t)retry_after_s * 1000;
	return w;
}

static void record(struct target *t, const struct purge_job *job, enum purge_verdict v,
		   long status, const char *why, bool final)
{
	pthread_mutex_lock(&t->lock);
	t->st.last_attempt = time(NULL);
	t->st.attempts++;
	snprintf(t->st.attempt_cut, sizeof t->st.attempt_cut, "%s", job->label);
	t->st.last_status = status;
	snprintf(t->st.last_why, sizeof t->st.last_why, "%s", why);
	if (v == PURGE_OK) {
		snprintf(t->st.last_cut, sizeof t->st.last_cut, "%s", job->label);
		t->st.last_ok = t->st.last_attempt;
		t->st.purges_ok++;
		t->st.result = "ok";
	} else if (final) {
		t->st.purges_failed++;
		t->st.result = "failed";
	} else {
		t->st.retries++;
		t->st.result = "retrying";
	}
	if (final)
		t->st.pending = t->pending != NULL;
	pthread_mutex_unlock(&t->lock);
}

static size_t job_paths(const struct purge_job *j)
{
	return j->everything ? 0 : j->npaths;
}

static void *target_main(void *arg)
{
	struct target *t = arg;
	const struct purge_target_settings *cfg = t->cfg;
	CURL *c = curl_easy_init();
	unsigned seed = (unsigned)now_ms() ^ (unsigned)(uintptr_t)t;
	for (;;) {
		pthread_mutex_lock(&t->lock);
		while (!t->stop && !t->pending)
			pthread_cond_wait(&t->wake, &t->lock);
		if (t->stop) {
			pthread_mutex_unlock(&t->lock);
			break;
		}
		struct purge_job *job = t->pending;
		t->pending = NULL;
		pthread_mutex_unlock(&t->lock);

		size_t from = 0;
		for (unsigned n = 1;; n++) {
			long status = 0, retry_after = 0;
			char why[256];
			unsigned requests = 0;
			uint64_t t0 = now_ms();
			enum purge_verdict v = c ? attempt(t, c, job, &from, &status, why, sizeof why,
							   &retry_after, &requests) : PURGE_RETRY;
			if (!c)
				snprintf(why, sizeof why, "libcurl could not start a transfer");
			unsigned long long ms = (unsigned long long)(now_ms() - t0);
			char st[32] = "";
			if (status)
				snprintf(st, sizeof st, " status=%ld", status);
			if (v == PURGE_OK) {
				log_info("purge ok target=%s cut=%s paths=%zu%s ms=%llu%s requests=%u "
					 "attempt=%u", cfg->name, job->label, job_paths(job),
					 job->everything ? " everything=yes" : "", ms, st, requests, n);
				record(t, job, v, status, "", true);
				break;
			}
			bool last = v == PURGE_FAIL || n > cfg->retries;
			if (last) {
				log_error("purge failed target=%s cut=%s paths=%zu ms=%llu%s why=\"%s\" "
					  "attempt=%u action=\"%s\"", cfg->name, job->label,
					  job_paths(job), ms, st, why, n,
					  v == PURGE_FAIL ?
					  "the CDN refused the purge: check this target's ids and "
					  "secret_file in [purge NAME]; the edge serves the old cut until "
					  "its TTL or the next purge" :
					  "the CDN did not answer after every retry: check url and the "
					  "network; the next cut purges again, or purge by hand now");
				record(t, job, v, status, why, true);
				incident_purge_failed(cfg->name, job->label, why);
				break;
			}
			uint64_t wait = retry_wait_ms(cfg, n, retry_after, &seed);
			log_warn("purge retry target=%s cut=%s paths=%zu ms=%llu%s why=\"%s\" attempt=%u "
				 "wait_ms=%llu", cfg->name, job->label, job_paths(job), ms, st, why, n,
				 (unsigned long long)wait);
			record(t, job, v, status, why, false);

			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += (time_t)(wait / 1000);
			until.tv_nsec += (long)(wait % 1000) * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			pthread_mutex_lock(&t->lock);
			while (!t->stop && !t->pending &&
			       pthread_cond_timedwait(&t->wake, &t->lock, &until) != ETIMEDOUT)
				;
			bool stop = t->stop;
			if (!stop && t->pending) {
				/* A newer cut while this one waits: one job for both. */
				char old[64];
				snprintf(old, sizeof old, "%s", job->label);
				job = job_merge(job, from, t->pending, ++t->p->next_id);
				t->pending = NULL;
				t->st.superseded++;
				from = 0;
				n = 0;
				log_info("purge superseded target=%s cut=%s by=%s paths=%zu", cfg->name,
					 old, job->label, job_paths(job));
			}
			pthread_mutex_unlock(&t->lock);
			if (stop)
				break;
		}
		job_free(job);
	}
	if (c)
		curl_easy_cleanup(c);
	return NULL;
}

/* ---- set-up ---- */

static enum rc read_secret(const struct purge_target_settings *cfg, char *out, char *err,
			   size_t errsz)
{
	int fd = open(cfg->secret_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errsz, "[purge %s] secret_file %s: %s", cfg->name, cfg->secret_file,
			 strerror(errno));
		return RC_IO;
	}
	struct stat sb;
	if (fstat(fd, &sb) == 0 && (sb.st_mode & 077))
		log_warn("purge secret-readable target=%s file=%s action=\"chmod 600 %s: others "
			 "on this machine can read the CDN's credentials\"", cfg->name,
			 cfg->secret_file, cfg->secret_file);
	ssize_t n = read(fd, out, PURGE_SECRET_MAX_BYTES + 1);
	close(fd);
	if (n < 0 || n > (ssize_t)PURGE_SECRET_MAX_BYTES) {
		snprintf(err, errsz, "[purge %s] secret_file %s: %s", cfg->name, cfg->secret_file,
			 n < 0 ? strerror(errno) : "longer than PURGE_SECRET_MAX_BYTES");
		return RC_IO;
	}
	out[n] = '\0';
	while (n && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' ' ||
		     out[n - 1] == '\t'))
		out[--n] = '\0';
	bool ok = n > 0;
	for (ssize_t i = 0; ok && i < n; i++)
		ok = out[i] > 0x20 && out[i] < 0x7f;
	if (!ok) {
		snprintf(err, errsz, "[purge %s] secret_file %s: expected one line of visible "
			 "ASCII (the token, key or secret, no spaces)", cfg->name, cfg->secret_file);
		return RC_IO;
	}
	if (cfg->type == PURGE_TYPE_CLOUDFRONT && (!strchr(out, ':') || out[0] == ':' ||
						   out[n - 1] == ':')) {
		snprintf(err, errsz, "[purge %s] secret_file %s: expected "
			 "ACCESS_KEY_ID:SECRET_ACCESS_KEY on one line", cfg->name, cfg->secret_file);
		return RC_IO;
	}
	return RC_OK;
}

enum rc purge_new(const struct purge_settings *ps, struct purge **out, char *err, size_t errsz)
{
	*out = NULL;
	if (!ps->count)
		return RC_OK;
	struct purge *p = calloc(1, sizeof *p);
	if (!p)
		return RC_NOMEM;
	for (unsigned i = 0; i < ps->count; i++) {
		struct target *t = &p->t[i];
		t->p = p;
		t->cfg = &ps->targets[i];
		pthread_mutex_init(&t->lock, NULL);
		pthread_cond_init(&t->wake, NULL);
		p->n = i + 1;
		snprintf(t->st.name, sizeof t->st.name, "%s", t->cfg->name);
		t->st.type = purge_type_str(t->cfg->type);
		t->st.by = purge_by_str(purge_by_effective(t->cfg));
		t->st.result = "-";
		if (t->cfg->secret_file) {
			enum rc rc = read_secret(t->cfg, t->secret, err, errsz);
			if (rc) {
				purge_free(p);
				return rc;
			}
		}
	}
	*out = p;
	return RC_OK;
}

enum rc purge_start(struct purge *p)
{
	if (!p)
		return RC_OK;
	for (unsigned i = 0; i < p->n; i++) {
		if (pthread_create(&p->t[i].thread, NULL, target_main, &p->t[i]))
			return RC_NOMEM;   /* purge_free() stops those started */
		p->t[i].started = true;
	}
	return RC_OK;
}

unsigned purge_count(const struct purge *p)
{
	return p ? p->n : 0;
}

void purge_state(struct purge *p, unsigned i, struct purge_state *out)
{
	struct target *t = &p->t[i];
	pthread_mutex_lock(&t->lock);
	*out = t->st;
	pthread_mutex_unlock(&t->lock);
}

void purge_free(struct purge *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->n; i++) {
		struct target *t = &p->t[i];
		pthread_mutex_lock(&t->lock);
		t->stop = true;
		pthread_cond_signal(&t->wake);
		pthread_mutex_unlock(&t->lock);
	}
	for (unsigned i = 0; i < p->n; i++) {
		struct target *t = &p->t[i];
		if (t->started)
			pthread_join(t->thread, NULL);
		job_free(t->pending);
		explicit_bzero(t->secret, sizeof t->secret);
		pthread_mutex_destroy(&t->lock);
		pthread_cond_destroy(&t->wake);
	}
	free(p);
}
