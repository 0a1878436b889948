#include "ingest/ingest.h"

#include "server/log.h"
#include "server/snap.h"
#include "ingest/store.h"
#include "server/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

/* Jobs waiting for the thread. Packages arrive every 5-20 minutes; 64
 * queued means the pipeline is stuck, and a source should back off. */
#define INGEST_QUEUE_MAX 64
/* Spool packages waiting for their sidecar or signature. */
#define INGEST_PENDING_MAX 64
#define INGEST_HOOKS_MAX 8

struct job {
	char path[4096];
	char name[256];
	char source[256];
	bool take;          /* the file is ours (under tmp/) */
	bool spool;         /* remove from the spool once kept */
	bool startup;       /* --package: skipped when already published */
	uint64_t rollback;  /* non-zero: republish this package's cut */
};

struct pending {
	char name[256];
	time_t since;
};

static const struct ingest_settings *cfg;
static struct store *store;
static struct verify *verifier;
static pthread_t thread;
static bool running;
static int wake_fd = -1;
static int inotify_fd = -1;
static _Atomic bool stopping;

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static struct job queue[INGEST_QUEUE_MAX];
static size_t queue_n;

static struct fetch *fetcher;
/* The last package refused at the verify step (SHA-256 of the package and
 * of its evidence): a poller that downloads it again is not given another
 * quarantine copy of the same bytes. */
static char last_bad[2 * 64 + 2];
static bool last_verify_failed;
static bool last_not_kept;   /* the last package could not be archived */
static unsigned fetch_attempt;      /* failed polls in a row */
static time_t failing_since;        /* first failure since the last success */
static bool periods_warned;

static struct pending pending[INGEST_PENDING_MAX];
static size_t pending_n;

static struct {
	void (*fn)(const struct cut *, void *);
	void *ctx;
} hooks[INGEST_HOOKS_MAX];
static size_t nhooks;

static pthread_mutex_t status_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ingest_status status;

/* The snapshot the ingest thread last published (its own reference), the
 * base for the next build, and the SHA-256 of the package behind it. */
static struct snap *published;
static char published_sha[65];
static uint64_t next_seq;

void ingest_after_publish(void (*fn)(const struct cut *, void *), void *ctx)
{
	if (nhooks < INGEST_HOOKS_MAX) {
		hooks[nhooks].fn = fn;
		hooks[nhooks].ctx = ctx;
		nhooks++;
	}
}

void ingest_get_status(struct ingest_status *out)
{
	pthread_mutex_lock(&status_lock);
	*out = status;
	pthread_mutex_unlock(&status_lock);
}

/* Records the outcome of an attempt: what ("published", "quarantined")
 * and, for failures, why. */
static void set_result(bool ok, const char *what, const char *why)
{
	pthread_mutex_lock(&status_lock);
	status.last_attempt = time(NULL);
	snprintf(status.last_result, sizeof status.last_result, "%s%s%s", what,
		 why && *why ? ": " : "", why ? why : "");
	if (ok) {
		status.last_success = status.last_attempt;
		status.failed_in_a_row = 0;
		status.failed_periods = 0;
		failing_since = 0;
		periods_warned = false;
	} else {
		status.failed_in_a_row++;
		if (!failing_since)
			failing_since = status.last_attempt;
		/* R13: the institute drops a difusor after three update periods
		 * in a row without a publication. */
		status.failed_periods = cfg->fetch && cfg->poll_s ?
			(unsigned)((status.last_attempt - failing_since) / (time_t)cfg->poll_s) + 1 :
			status.failed_in_a_row;
	}
	unsigned periods = status.failed_periods;
	pthread_mutex_unlock(&status_lock);
	if (!ok && periods >= 2 && !periods_warned) {
		periods_warned = true;
		log_warn("ingest periods-failed count=%u action=\"two update periods in a row without a "
			 "new publication: the institute cuts a difusor off at three; check the upstream, "
			 "the network and this log now\"", periods);
	}
}

static void wake(void)
{
	if (wake_fd >= 0) {
		uint64_t one = 1;
		ssize_t w = write(wake_fd, &one, sizeof one);
		(void)w;
	}
}

/* Queues a copy of j for the thread; RC_LIMIT when the queue is full. */
static enum rc push_job(const struct job *j)
{
	enum rc rc = RC_OK;
	pthread_mutex_lock(&queue_lock);
	if (queue_n >= INGEST_QUEUE_MAX)
		rc = RC_LIMIT;
	else
		queue[queue_n++] = *j;
	pthread_mutex_unlock(&queue_lock);
	if (!rc)
		wake();
	return rc;
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
	return push_job(&j);
}

enum rc ingest_rollback(uint64_t seq)
{
	struct job j;
	memset(&j, 0, sizeof j);
	j.rollback = seq;
	snprintf(j.source, sizeof j.source, "rollback:%llu", (unsigned long long)seq);
	return push_job(&j);
}

static bool pop_job(struct job *out)
{
	pthread_mutex_lock(&queue_lock);
	bool got = queue_n > 0;
	if (got) {
		*out = queue[0];
		memmove(queue, queue + 1, (queue_n - 1) * sizeof queue[0]);
		queue_n--;
	}
	pthread_mutex_unlock(&queue_lock);
	return got;
}

/* ---- fault injection for the crash tests ---- */

/* With PREPD_TEST_PAUSE_AT=STAGE in the environment, the ingest thread
 * stops at that stage (store, unpack, build, publish) so a test can kill
 * the process there (tests/integration/t3030-crash.sh). Never set it in
 * production: it is logged as a warning. */
static bool live;   /* the thread runs: start-up replay is over */

static void stage(const char *name)
{
	const char *at = getenv("PREPD_TEST_PAUSE_AT");
	if (!live || !at || strcmp(at, name))
		return;
	log_warn("ingest test-pause stage=%s action=\"PREPD_TEST_PAUSE_AT is set: a test setting, "
		 "unset it in production\"", name);
	while (!atomic_load(&stopping))
		sleep(1);
}

/* ---- building a cut from a kept package ---- */

struct sink_ctx {
	struct snap_builder *b;
	bool has_root_index;
	bool has_time;
	char time[32];      /* the cut time from the configured JSON */
};

static enum rc sink_add(void *ctx, const char *path, void *data, size_t len,
			time_t mtime)
{
	struct sink_ctx *sc = ctx;
	if (!strcmp(path, "index.html"))
		sc->has_root_index = true;
	if (cfg->cut_json && !strcmp(path, cfg->cut_json))
		sc->has_time = cut_time_from_json(data, len, cfg->cut_key, sc->time, sizeof sc->time);
	return snap_builder_add(sc->b, path, data, len, mtime, false);
}

/* Unpacks file over base (or alone) and builds a snapshot for cut. kind
 * decides full or incremental; *incremental says what it was. On a refusal
 * fills ue and returns its rc. */
static struct snap *build_cut(const char *file, const struct snap *base,
			      enum ingest_kind kind, struct cut *cut,
			      bool *incremental, struct unpack_error *ue,
			      struct snap_stats *st, enum rc *rcp)
{
	struct sink_ctx sc = { .b = snap_builder_new(base, false, cfg->policy) };
	memset(ue, 0, sizeof *ue);
	if (!sc.b) {
		*rcp = RC_NOMEM;
		return NULL;
	}
	struct unpack_stats us;
	uint64_t t0 = now_ns();
	enum rc rc = unpack_file(file, cfg->limits, sink_add, &sc, &us, ue);
	if (rc) {
		snap_builder_free(sc.b);
		*rcp = rc;
		return NULL;
	}
	uint64_t unpack_ns = now_ns() - t0;
	stage("build");
	*incremental = kind == KIND_INCREMENTAL ||
		       (kind == KIND_AUTO && !sc.has_root_index && base);
	/* The institute's own cut time beats the one in the file name (R8). */
	if (sc.has_time)
		snprintf(cut->time, sizeof cut->time, "%s", sc.time);
	snap_builder_set_overlay(sc.b, *incremental);
	struct snap *s = snap_builder_finish(sc.b, cut, st, rcp);
	if (st)
		st->unpack_ns = unpack_ns;
	return s;
}

static void run_hooks(const struct cut *cut)
{
	for (size_t i = 0; i < nhooks; i++)
		hooks[i].fn(cut, hooks[i].ctx);
}

static void publish(struct snap *s, const char *sha)
{
	snap_release(published);
	published = s;
	snap_retain(s);   /* one for us, one for the current pointer */
	snap_publish(s);
	snprintf(published_sha, sizeof published_sha, "%s", sha);
	pthread_mutex_lock(&status_lock);
	status.cut = *snap_cut(s);
	pthread_mutex_unlock(&status_lock);
	run_hooks(snap_cut(s));
}

/* ---- the pipeline ---- */

static void journal(struct journal_rec *r)
{
	char err[512];
	if (journal_append(store, r, err, sizeof err))
		log_error("ingest journal-failed seq=%llu error=\"%s\" action=\"free disk space or "
			  "fix the data folder; the package is kept but its journal line is missing\"",
			  (unsigned long long)r->seq, err);
	pthread_mutex_lock(&status_lock);
	status.packages++;
	pthread_mutex_unlock(&status_lock);
}

/* A kept package the unpacker refused: move it to quarantine and journal
 * why. rec->file names the kept path and is updated. */
static void journal_refused(struct journal_rec *rec, const struct unpack_error *ue, enum rc rc)
{
	char moved[sizeof rec->file] = "", kerr[256];
	if (store_requarantine(store, rec->file, moved, sizeof moved, kerr, sizeof kerr) == RC_OK)
		snprintf(rec->file, sizeof rec->file, "%s", moved);
	snprintf(rec->verdict, sizeof rec->verdict, "refused");
	snprintf(rec->reason, sizeof rec->reason, "%.120s%s%.170s", ue->entry,
		 ue->entry[0] ? ": " : "", ue->reason[0] ? ue->reason : rc_str(rc));
	journal(rec);
}

/* Publishes a built cut and journals it. */
static void journal_published(struct journal_rec *rec, struct snap *s, const struct cut *cut,
			      bool incremental)
{
	publish(s, rec->sha256);
	rec->published = time(NULL);
	snprintf(rec->verdict, sizeof rec->verdict, "published");
	snprintf(rec->kind, sizeof rec->kind, "%s", incremental ? "incremental" : "full");
	snprintf(rec->cut, sizeof rec->cut, "%s", cut->label);
	snprintf(rec->cut_time, sizeof rec->cut_time, "%s", cut->time);
	journal(rec);
}

/* Reads the evidence file (sidecar or signature) into buf. */
static enum rc read_evidence(const char *path, char *buf, size_t bufsz,
			     size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return RC_NOTFOUND;
	ssize_t n = read(fd, buf, bufsz);
	close(fd);
	if (n < 0)
		return RC_IO;
	if ((size_t)n == bufsz)
		return RC_LIMIT;
	*len = (size_t)n;
	return RC_OK;
}

static void disk_check(void)
{
	uint64_t free_b = 0, total_b = 0;
	if (store_free_bytes(store, &free_b, &total_b))
		return;
	uint64_t used = store_used_bytes(store);
	pthread_mutex_lock(&status_lock);
	status.free_bytes = free_b;
	status.history_bytes = used;
	pthread_mutex_unlock(&status_lock);
	if (free_b < cfg->min_free_bytes)
		log_warn("ingest disk-low free_mb=%llu history_mb=%llu threshold_mb=%llu "
			 "action=\"free disk space or grow the volume before it fills: a full disk "
			 "stops archiving and new cuts are not published\"",
			 (unsigned long long)(free_b >> 20), (unsigned long long)(used >> 20),
			 (unsigned long long)(cfg->min_free_bytes >> 20));
}

static void process(const struct job *j)
{
	uint64_t t0 = now_ns();
	struct journal_rec rec;
	memset(&rec, 0, sizeof rec);
	rec.seq = next_seq++;
	rec.received = time(NULL);
	snprintf(rec.source, sizeof rec.source, "%s", j->source);
	char err[600] = "";

	struct stat sb;
	if (stat(j->path, &sb) != 0) {
		log_error("ingest receive-failed file=%s error=\"%m\"", j->path);
		set_result(false, "receive failed", strerror(errno));
		return;
	}
	rec.size = (uint64_t)sb.st_size;

	/* Verify before anything parses the package. */
	char evidence[64 * 1024];
	size_t evlen = 0;
	char evpath[4200];
	enum rc rc = RC_OK;
	const char *why = NULL;
	unsigned char sha[SHA256_BYTES] = { 0 };
	if ((uint64_t)sb.st_size > cfg->max_package_bytes) {
		rc = RC_LIMIT;
		snprintf(err, sizeof err, "the package is %llu bytes, more than max_package_bytes (%llu)",
			 (unsigned long long)sb.st_size, (unsigned long long)cfg->max_package_bytes);
	} else if (cfg->verify != VERIFY_NONE) {
		snprintf(evpath, sizeof evpath, "%s%s", j->path, verify_suffix(cfg->verify));
		rc = read_evidence(evpath, evidence, sizeof evidence, &evlen);
		if (rc == RC_NOTFOUND)
			snprintf(err, sizeof err, "no %s beside the package (%.400s)",
				 verify_suffix(cfg->verify), evpath);
		else if (rc)
			snprintf(err, sizeof err, "cannot read %.400s", evpath);
	}
	uint64_t t_verify = now_ns();
	if (!rc)
		rc = verify_package(verifier, j->path, j->name, evidence, evlen, sha, err, sizeof err);
	else
		verify_package(verifier, j->path, j->name, NULL, 0, sha, err + strlen(err), 0);
	hex_encode(sha, SHA256_BYTES, rec.sha256);
	if (j->startup && !rc && published && !strcmp(published_sha, rec.sha256)) {
		/* A restart with the same --package: the history has it. */
		log_info("ingest startup-package-current file=%s sha256=%.16s", j->path, rec.sha256);
		next_seq--;
		return;
	}
	bool keep_evidence = cfg->verify != VERIFY_NONE && evlen > 0;

	char kept[sizeof rec.file] = "";
	char kerr[512] = "";
	last_verify_failed = rc != RC_OK;
	last_not_kept = false;
	if (rc) {
		why = err;
		unsigned char evsha[SHA256_BYTES];
		char bad[sizeof last_bad], evhex[65];
		sha256(evidence, evlen, evsha);
		hex_encode(evsha, SHA256_BYTES, evhex);
		snprintf(bad, sizeof bad, "%s:%s", rec.sha256, evhex);
		if (!strcmp(bad, last_bad)) {
			log_info("ingest same-refused-package file=%s sha256=%.16s reason=\"%s\" "
				 "action=\"already in quarantine; waiting for a package or %s that verifies\"",
				 j->path, rec.sha256, why, verify_suffix(cfg->verify) ? verify_suffix(cfg->verify) : "evidence");
			next_seq--;
			set_result(false, "quarantined", why);
			return;
		}
		snprintf(last_bad, sizeof last_bad, "%s", bad);
		enum rc krc = store_keep(store, rec.seq, j->name, j->path, true, kept, sizeof kept,
					 kerr, sizeof kerr);
		if (!krc && keep_evidence) {
			char evname[300], evkept[600];
			snprintf(evname, sizeof evname, "%s%s", j->name, verify_suffix(cfg->verify));
			store_keep(store, rec.seq, evname, evpath, true, evkept, sizeof evkept, kerr, sizeof kerr);
		}
		snprintf(rec.verdict, sizeof rec.verdict, "quarantined");
		snprintf(rec.reason, sizeof rec.reason, "%.299s", why);
		snprintf(rec.file, sizeof rec.file, "%s", krc ? "" : kept);
		journal(&rec);
		log_error("ingest refuse file=%s seq=%llu step=verify reason=\"%s\" kept=%s "
			  "action=\"the package was not published; it is kept in quarantine for "
			  "inspection and the current cut is still served\"",
			  j->path, (unsigned long long)rec.seq, why, krc ? "none" : kept);
		set_result(false, "quarantined", why);
		return;
	}

	/* Keep it before it is unpacked: the history is the source of truth. */
	stage("store");
	uint64_t t_store = now_ns();
	rc = store_keep(store, rec.seq, j->name, j->path, false, kept, sizeof kept, kerr, sizeof kerr);
	last_not_kept = rc != RC_OK;
	if (rc) {
		log_error("ingest keep-failed file=%s seq=%llu error=\"%s\" action=\"the package was "
			  "NOT archived and NOT published; free disk space, then drop it again; the "
			  "current cut is still served\"", j->path, (unsigned long long)rec.seq, kerr);
		set_result(false, "not archived", kerr);
		next_seq--;
		return;
	}
	if (keep_evidence) {
		char evname[300], evkept[600];
		snprintf(evname, sizeof evname, "%s%s", j->name, verify_suffix(cfg->verify));
		if (store_keep(store, rec.seq, evname, evpath, false, evkept, sizeof evkept, kerr, sizeof kerr))
			log_warn("ingest keep-evidence-failed seq=%llu error=\"%s\"",
				 (unsigned long long)rec.seq, kerr);
	}
	snprintf(rec.file, sizeof rec.file, "%s", kept);
	if (j->spool) {
		unlink(j->path);   /* archived now: the spool copy is done with */
		if (keep_evidence)
			unlink(evpath);
	}
	disk_check();

	if (published && !strcmp(published_sha, rec.sha256)) {
		snprintf(rec.verdict, sizeof rec.verdict, "unchanged");
		journal(&rec);
		log_info("ingest unchanged seq=%llu file=%s sha256=%.16s", (unsigned long long)rec.seq,
			 j->name, rec.sha256);
		set_result(true, "unchanged", NULL);
		return;
	}

	stage("unpack");
	uint64_t t_unpack = now_ns();
	char full[4300];
	snprintf(full, sizeof full, "%s/%s", cfg->data_dir, kept);
	struct cut cut = { .seq = rec.seq };
	cut_from_name(j->name, &cut);
	bool incremental = false;
	struct unpack_error ue;
	struct snap_stats st;
	struct snap *s = build_cut(full, published, cfg->kind, &cut, &incremental, &ue, &st, &rc);
	if (!s) {
		journal_refused(&rec, &ue, rc);
		log_error("ingest refuse file=%s seq=%llu step=unpack entry=\"%s\" reason=\"%s\" error=%s "
			  "kept=%s action=\"the package was not published; it is kept in quarantine for "
			  "inspection and the current cut is still served\"",
			  j->path, (unsigned long long)rec.seq, ue.entry, ue.reason, rc_str(rc), rec.file);
		set_result(false, "refused", rec.reason);
		return;
	}
	stage("publish");
	uint64_t t_swap = now_ns();
	journal_published(&rec, s, &cut, incremental);
	uint64_t t_end = now_ns();
	/* Stage times, for the benchmark and for an operator wondering where a
	 * slow cut spent its time; the unpack stage includes hashing and
	 * gzipping new entries, build the responses. */
	log_info("ingest publish seq=%llu cut=%s kind=%s file=%s files=%zu built=%zu reused=%zu "
		 "bytes=%llu package_bytes=%llu verify_ms=%.1f store_ms=%.1f unpack_ms=%.1f "
		 "build_ms=%.1f swap_ms=%.1f ms=%.1f", (unsigned long long)rec.seq, cut.label,
		 rec.kind, j->name, st.files, st.built, st.reused, (unsigned long long)st.bytes,
		 (unsigned long long)rec.size,
		 (double)(t_store - t_verify) / 1e6, (double)(t_unpack - t_store) / 1e6,
		 (double)(st.unpack_ns) / 1e6, (double)(t_swap - t_unpack - st.unpack_ns) / 1e6,
		 (double)(t_end - t_swap) / 1e6, (double)(t_end - t0) / 1e6);
	set_result(true, "published", NULL);
}

static void process_rollback(const struct job *j);

/* ---- pulling from the institute ---- */

/* Backoff after a failed poll: 2, 4, 8 ... seconds, at most the poll
 * interval (a minute when polls are rarer), +-20% so many difusores do not
 * retry in step, and never sooner than the server's Retry-After. */
static unsigned backoff_s(unsigned attempt, unsigned retry_after)
{
	unsigned cap = cfg->poll_s < 60 ? 60 : cfg->poll_s;
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

static void set_next_poll(time_t t)
{
	pthread_mutex_lock(&status_lock);
	status.next_poll = t;
	pthread_mutex_unlock(&status_lock);
}

static void poll_upstream(void)
{
	bool got = false;
	char path[sizeof ((struct job *)0)->path], name[256], err[1024] = "";
	unsigned retry_after = 0;
	uint64_t t0 = now_ns();
	enum rc rc = fetch_poll(fetcher, &got, path, sizeof path, name, sizeof name,
				&retry_after, err, sizeof err);
	uint64_t fetch_ns = now_ns() - t0;
	time_t now = time(NULL);
	if (rc) {
		fetch_attempt++;
		unsigned wait = backoff_s(fetch_attempt, retry_after);
		set_next_poll(now + wait);
		log_warn("ingest fetch-failed url=%s attempt=%u retry_in_s=%u error=%s reason=\"%s\"",
			 fetch_url(fetcher), fetch_attempt, wait, rc_str(rc), err);
		set_result(false, "fetch failed", err);
		return;
	}
	fetch_attempt = 0;
	set_next_poll(now + cfg->poll_s);
	if (!got) {
		set_result(true, "no new package", NULL);
		return;
	}
	struct job j;
	memset(&j, 0, sizeof j);
	snprintf(j.path, sizeof j.path, "%s", path);
	snprintf(j.name, sizeof j.name, "%s", name);
	snprintf(j.source, sizeof j.source, "pull:%.240s", fetch_url(fetcher));
	j.take = true;
	log_info("ingest fetched url=%s name=%s fetch_ms=%.1f", fetch_url(fetcher), name,
		 (double)fetch_ns / 1e6);
	process(&j);
	/* A package that failed verification may be fixed by new evidence,
	 * and one that could not be archived must be fetched again: forget
	 * it. Anything else is in the history now: remember it for good. */
	if (last_verify_failed || last_not_kept)
		fetch_forget(fetcher);
	else
		fetch_commit(fetcher);
	/* Anything the pipeline did not keep is a leftover download. */
	unlink(path);
	if (cfg->verify != VERIFY_NONE) {
		char ev[4300];
		snprintf(ev, sizeof ev, "%s%s", path, verify_suffix(cfg->verify));
		unlink(ev);
	}
}

/* ---- the spool folder ---- */

static bool ignored_name(const char *n)
{
	size_t len = strlen(n);
	static const char *const tmp_suffixes[] = { ".tmp", ".part", ".filepart", ".partial",
						    ".crdownload", "~" };
	if (n[0] == '.' || len == 0)
		return true;
	for (size_t i = 0; i < sizeof tmp_suffixes / sizeof tmp_suffixes[0]; i++) {
		size_t sl = strlen(tmp_suffixes[i]);
		if (len >= sl && !strcmp(n + len - sl, tmp_suffixes[i]))
			return true;
	}
	return false;
}

static bool is_evidence(const char *n)
{
	const char *suf = verify_suffix(cfg->verify);
	if (!suf)
		return false;
	size_t len = strlen(n), sl = strlen(suf);
	return len > sl && !strcmp(n + len - sl, suf);
}

static bool spool_has(const char *name)
{
	char p[4200];
	snprintf(p, sizeof p, "%s/%s", cfg->spool_dir, name);
	struct stat sb;
	return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static void spool_run(const char *name)
{
	struct job j;
	memset(&j, 0, sizeof j);
	snprintf(j.path, sizeof j.path, "%s/%s", cfg->spool_dir, name);
	snprintf(j.name, sizeof j.name, "%s", name);
	snprintf(j.source, sizeof j.source, "spool:%s", name);
	j.spool = true;
	process(&j);
}

static void pending_drop(size_t i)
{
	memmove(pending + i, pending + i + 1, (pending_n - i - 1) * sizeof pending[0]);
	pending_n--;
}

/* A file in the spool is complete: a package, or the evidence a package
 * was waiting for. */
static void spool_file(const char *name)
{
	if (ignored_name(name))
		return;
	if (is_evidence(name)) {
		char pkg[256];
		size_t n = strlen(name) - strlen(verify_suffix(cfg->verify));
		if (n >= sizeof pkg)
			return;
		memcpy(pkg, name, n);
		pkg[n] = '\0';
		for (size_t i = 0; i < pending_n; i++) {
			if (!strcmp(pending[i].name, pkg)) {
				pending_drop(i);
				spool_run(pkg);
				return;
			}
		}
		return;
	}
	if (cfg->verify != VERIFY_NONE) {
		char ev[300];
		snprintf(ev, sizeof ev, "%s%s", name, verify_suffix(cfg->verify));
		if (!spool_has(ev)) {
			if (pending_n < INGEST_PENDING_MAX) {
				snprintf(pending[pending_n].name, sizeof pending[0].name, "%s", name);
				pending[pending_n].since = time(NULL);
				pending_n++;
				log_info("ingest waiting file=%s for=%s max_s=%u", name, ev,
					 cfg->evidence_wait_s);
			}
			return;
		}
	}
	spool_run(name);
}

static void pending_expire(void)
{
	time_t now = time(NULL);
	for (size_t i = 0; i < pending_n;) {
		if (now - pending[i].since >= (time_t)cfg->evidence_wait_s) {
			char name[256];
			snprintf(name, sizeof name, "%s", pending[i].name);
			pending_drop(i);
			/* Processing it now quarantines it, saying what is missing. */
			if (spool_has(name))
				spool_run(name);
		} else {
			i++;
		}
	}
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files already complete in the spool when prepd starts, oldest name
 * first (timestamped names sort by cut). */
static void spool_scan(void)
{
	DIR *d = opendir(cfg->spool_dir);
	if (!d)
		return;
	char *names[1024];
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < 1024) {
		if (ignored_name(de->d_name) || is_evidence(de->d_name))
			continue;
		if (spool_has(de->d_name))
			names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof names[0], cmp_names);
	for (size_t i = 0; i < n; i++) {
		if (names[i])
			spool_file(names[i]);
		free(names[i]);
	}
}

static void spool_events(void)
{
	char buf[16 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t n = read(inotify_fd, buf, sizeof buf);
		if (n <= 0)
			return;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW)
				spool_scan();
			else if (ev->len && (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)))
				spool_file(ev->name);
			p += sizeof *ev + ev->len;
		}
	}
}

/* ---- the thread ---- */

static void *ingest_main(void *arg)
{
	(void)arg;
	live = true;
	if (cfg->spool_dir)
		spool_scan();
	time_t last_disk = 0;
	if (fetcher)
		set_next_poll(time(NULL));
	while (!atomic_load(&stopping)) {
		struct pollfd pfd[2] = { { wake_fd, POLLIN, 0 }, { inotify_fd, POLLIN, 0 } };
		int timeout = 1000;   /* pending evidence and disk checks */
		if (fetcher) {
			struct ingest_status st;
			ingest_get_status(&st);
			if (st.next_poll <= time(NULL))
				timeout = 0;
		}
		int n = poll(pfd, inotify_fd >= 0 ? 2 : 1, timeout);
		if (n < 0 && errno != EINTR)
			break;
		if (pfd[0].revents & POLLIN) {
			uint64_t v;
			ssize_t r = read(wake_fd, &v, sizeof v);
			(void)r;
		}
		struct job j;
		while (!atomic_load(&stopping) && pop_job(&j)) {
			if (j.rollback)
				process_rollback(&j);
			else
				process(&j);
		}
		if (inotify_fd >= 0 && (pfd[1].revents & POLLIN))
			spool_events();
		pending_expire();
		if (fetcher && !atomic_load(&stopping)) {
			struct ingest_status st;
			ingest_get_status(&st);
			if (st.next_poll <= time(NULL))
				poll_upstream();
		}
		if (time(NULL) - last_disk >= 60) {
			disk_check();
			last_disk = time(NULL);
		}
	}
	return NULL;
}

/* ---- rebuilding a published cut from the history (start-up, rollback) ---- */

struct replay {
	size_t n, cap;
	struct journal_rec *v;
};

static int collect_published(void *ctx, const struct journal_rec *r)
{
	struct replay *rp = ctx;
	if (strcmp(r->verdict, "published"))
		return 0;
	if (rp->n == rp->cap) {
		size_t cap = rp->cap ? rp->cap * 2 : 64;
		struct journal_rec *v = realloc(rp->v, cap * sizeof *v);
		if (!v)
			return 1;
		rp->v = v;
		rp->cap = cap;
	}
	rp->v[rp->n++] = *r;
	return 0;
}

static enum rc read_published(struct replay *rp, char *err, size_t errsz)
{
	bool torn = false;
	enum rc rc = journal_read(cfg->data_dir, collect_published, rp, &torn, err, errsz);
	if (torn)
		log_warn("ingest journal-torn reason=\"the last line was cut off by a crash; ignored\"");
	return rc;
}

/* A chain deeper than this is a corrupt journal, not a real night. */
#define REPLAY_MAX_DEPTH 4096

static bool find_seq(const struct replay *rp, size_t before, uint64_t seq, size_t *at)
{
	for (size_t i = before; i-- > 0;) {
		if (rp->v[i].seq == seq) {
			*at = i;
			return true;
		}
	}
	return false;
}

/* The packages to lay one on another, in order, to rebuild what published
 * record idx served: a full package alone; an incremental one over what
 * was served before it; a rollback is the chain of the record it names. */
static bool chain_of(const struct replay *rp, size_t idx, size_t *out, size_t *n)
{
	for (unsigned depth = 0; depth < REPLAY_MAX_DEPTH; depth++) {
		const struct journal_rec *r = &rp->v[idx];
		if (!strncmp(r->source, "rollback:", 9)) {
			size_t at;
			if (!find_seq(rp, idx, strtoull(r->source + 9, NULL, 10), &at))
				return false;
			idx = at;
			continue;
		}
		if (*n >= REPLAY_MAX_DEPTH)
			return false;
		out[(*n)++] = idx;
		if (!strcmp(r->kind, "full"))
			break;
		if (idx == 0)
			return false;
		idx--;
	}
	if (!*n || strcmp(rp->v[out[*n - 1]].kind, "full"))
		return false;
	for (size_t i = 0; i < *n / 2; i++) {   /* oldest first */
		size_t t = out[i];
		out[i] = out[*n - 1 - i];
		out[*n - 1 - i] = t;
	}
	return true;
}

/* Rebuilds what record last served, naming it cut (its own identity, or a
 * rollback's new one). */
static struct snap *replay_chain(const struct replay *rp, size_t last, const struct cut *cut)
{
	size_t *chain = malloc(REPLAY_MAX_DEPTH * sizeof *chain);
	size_t n = 0;
	if (!chain || !chain_of(rp, last, chain, &n)) {
		log_error("ingest replay-failed seq=%llu reason=\"the journal does not lead from a full "
			  "package to this cut\"", (unsigned long long)rp->v[last].seq);
		free(chain);
		return NULL;
	}
	struct snap *cur = NULL;
	for (size_t k = 0; k < n; k++) {
		const struct journal_rec *r = &rp->v[chain[k]];
		char full[4300];
		snprintf(full, sizeof full, "%s/%s", cfg->data_dir, r->file);
		struct cut c = { .seq = r->seq };
		snprintf(c.label, sizeof c.label, "%s", r->cut);
		snprintf(c.time, sizeof c.time, "%s", r->cut_time);
		if (k == n - 1)
			c = *cut;
		bool incremental = false;
		struct unpack_error ue;
		struct snap_stats st;
		enum rc rc;
		enum ingest_kind kind = strcmp(r->kind, "incremental") ? KIND_FULL : KIND_INCREMENTAL;
		struct snap *s = build_cut(full, cur, kind, &c, &incremental, &ue, &st, &rc);
		snap_release(cur);
		if (!s) {
			log_error("ingest replay-failed seq=%llu file=%s entry=\"%s\" reason=\"%s\" error=%s",
				  (unsigned long long)r->seq, r->file, ue.entry, ue.reason, rc_str(rc));
			free(chain);
			return NULL;
		}
		cur = s;
	}
	free(chain);
	return cur;
}

static struct cut record_cut(const struct journal_rec *r)
{
	struct cut c = { .seq = r->seq };
	snprintf(c.label, sizeof c.label, "%s", r->cut);
	snprintf(c.time, sizeof c.time, "%s", r->cut_time);
	return c;
}

static void replay_history(void)
{
	struct replay rp = { 0 };
	char err[512];
	if (read_published(&rp, err, sizeof err))
		log_error("ingest journal-unreadable error=\"%s\" action=\"the history is kept as it is; "
			  "fix or move the bad line, then restart\"", err);
	for (size_t i = rp.n; i-- > 0;) {
		uint64_t t0 = now_ns();
		struct cut c = record_cut(&rp.v[i]);
		struct snap *s = replay_chain(&rp, i, &c);
		if (s) {
			publish(s, rp.v[i].sha256);
			log_info("ingest replay seq=%llu cut=%s ms=%llu", (unsigned long long)rp.v[i].seq,
				 rp.v[i].cut, (unsigned long long)((now_ns() - t0) / 1000000u));
			break;
		}
		log_warn("ingest replay-skip seq=%llu action=\"trying the cut published before it\"",
			 (unsigned long long)rp.v[i].seq);
	}
	free(rp.v);
}

static void process_rollback(const struct job *j)
{
	struct replay rp = { 0 };
	char err[512];
	size_t at;
	if (read_published(&rp, err, sizeof err) || !find_seq(&rp, rp.n, j->rollback, &at)) {
		log_error("ingest rollback-refused seq=%llu reason=\"%s\" action=\"give a seq that prepd "
			  "history lists as published\"", (unsigned long long)j->rollback,
			  rp.n ? "no published package has that sequence number" : err);
		set_result(false, "rollback refused", "no published package has that sequence number");
		free(rp.v);
		return;
	}
	struct journal_rec rec = rp.v[at];
	rec.seq = next_seq++;
	rec.received = time(NULL);
	snprintf(rec.source, sizeof rec.source, "rollback:%llu", (unsigned long long)j->rollback);
	struct cut c = record_cut(&rec);
	struct snap *s = replay_chain(&rp, at, &c);
	free(rp.v);
	if (!s) {
		next_seq--;
		set_result(false, "rollback failed", "the package could not be rebuilt; see the log");
		return;
	}
	publish(s, rec.sha256);
	rec.published = time(NULL);
	rec.reason[0] = '\0';
	journal(&rec);
	log_info("ingest rollback seq=%llu to=%llu cut=%s", (unsigned long long)rec.seq,
		 (unsigned long long)j->rollback, rec.cut);
	set_result(true, "rolled back", NULL);
}

/* DATA/tmp is scratch: partial downloads and uploads of a process that was
 * killed. Nothing in it is history (store_keep() moves what it keeps). */
static void clean_tmp(void)
{
	char dir[4200];
	snprintf(dir, sizeof dir, "%s/tmp", cfg->data_dir);
	DIR *d = opendir(dir);
	if (!d)
		return;
	unsigned n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		char p[4500];
		struct stat sb;
		snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
		if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode) && unlink(p) == 0)
			n++;
	}
	closedir(d);
	if (n)
		log_info("ingest tmp-cleaned files=%u reason=\"left by a process that stopped mid-transfer\"", n);
}

static int max_seq_cb(void *ctx, const struct journal_rec *r)
{
	uint64_t *m = ctx;
	if (r->seq > *m)
		*m = r->seq;
	return 0;
}

static enum rc file_sha256(const char *path, char hex[65], uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return RC_IO;
	gnutls_hash_hd_t h;
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) {
		close(fd);
		return RC_NOMEM;
	}
	char buf[64 * 1024];
	ssize_t n;
	*size = 0;
	while ((n = read(fd, buf, sizeof buf)) > 0) {
		gnutls_hash(h, buf, (size_t)n);
		*size += (uint64_t)n;
	}
	close(fd);
	unsigned char sha[SHA256_BYTES];
	gnutls_hash_deinit(h, sha);
	if (n < 0)
		return RC_IO;
	hex_encode(sha, SHA256_BYTES, hex);
	return RC_OK;
}

/* An evidence file kept beside its package (whatever the verify mode in
 * force now: an earlier run may have used another). */
static bool any_evidence(const char *name)
{
	static const enum verify_mode modes[] = { VERIFY_SHA256, VERIFY_CMS, VERIFY_ED25519 };
	size_t len = strlen(name);
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		const char *suf = verify_suffix(modes[i]);
		size_t sl = strlen(suf);
		if (len > sl && !strcmp(name + len - sl, suf))
			return true;
	}
	return false;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A package kept in history/ with no journal line was being unpacked,
 * built or published when the process died: finish its journey now, so a
 * cut that arrived by spool or upload is not lost. */
static void resume_interrupted(void)
{
	uint64_t max = 0;
	bool torn;
	char err[512];
	if (journal_read(cfg->data_dir, max_seq_cb, &max, &torn, err, sizeof err))
		return;
	char dir[4200];
	snprintf(dir, sizeof dir, "%s/history", cfg->data_dir);
	DIR *d = opendir(dir);
	if (!d)
		return;
	char *names[256];
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < 256) {
		char *dash;
		uint64_t seq = strtoull(de->d_name, &dash, 10);
		if (seq <= max || *dash != '-' || !dash[1] || any_evidence(de->d_name))
			continue;
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof names[0], cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (!names[i])
			continue;
		struct journal_rec rec;
		memset(&rec, 0, sizeof rec);
		char full[4500];
		snprintf(full, sizeof full, "%s/%s", dir, names[i]);
		char *dash;
		rec.seq = strtoull(names[i], &dash, 10);
		const char *name = dash + 1;
		struct stat sb;
		rec.received = stat(full, &sb) == 0 ? sb.st_mtime : time(NULL);
		snprintf(rec.source, sizeof rec.source, "resume");
		snprintf(rec.file, sizeof rec.file, "history/%.400s", names[i]);
		if (file_sha256(full, rec.sha256, &rec.size)) {
			free(names[i]);
			continue;
		}
		struct cut cut = { .seq = rec.seq };
		cut_from_name(name, &cut);
		bool incremental = false;
		struct unpack_error ue;
		struct snap_stats st;
		enum rc rc;
		struct snap *s = build_cut(full, published, cfg->kind, &cut, &incremental, &ue, &st, &rc);
		if (!s) {
			journal_refused(&rec, &ue, rc);
			log_error("ingest resume-refused seq=%llu file=%s reason=\"%s\"",
				  (unsigned long long)rec.seq, names[i], rec.reason);
		} else {
			journal_published(&rec, s, &cut, incremental);
			log_info("ingest resume seq=%llu cut=%s reason=\"kept before a crash, never "
				 "published; published now\"", (unsigned long long)rec.seq, cut.label);
		}
		free(names[i]);
	}
}

enum rc ingest_start(const struct ingest_settings *settings, char *err,
		     size_t errsz)
{
	cfg = settings;
	enum rc rc = store_open(cfg->data_dir, &store, err, errsz);
	if (rc)
		return rc;
	rc = verify_new(cfg->verify, cfg->trust_file, &verifier, err, errsz);
	if (rc)
		return rc;
	rc = store_next_seq(store, &next_seq, err, errsz);
	if (rc)
		return rc;
	struct snap *now = snap_acquire();   /* the placeholder, until a cut */
	if (now) {
		status.cut = *snap_cut(now);
		snap_release(now);
	}
	clean_tmp();
	replay_history();
	resume_interrupted();
	disk_check();
	if (cfg->startup_package) {
		struct job j;
		memset(&j, 0, sizeof j);
		snprintf(j.path, sizeof j.path, "%s", cfg->startup_package);
		const char *slash = strrchr(cfg->startup_package, '/');
		snprintf(j.name, sizeof j.name, "%s", slash ? slash + 1 : cfg->startup_package);
		snprintf(j.source, sizeof j.source, "package:%s", cfg->startup_package);
		j.startup = true;
		process(&j);
	}

	wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (wake_fd < 0) {
		snprintf(err, errsz, "cannot create an eventfd: %s", strerror(errno));
		return RC_IO;
	}
	if (cfg->fetch) {
		rc = fetch_new(cfg->fetch, &fetcher, err, errsz);
		if (rc)
			return rc;
	}
	if (cfg->spool_dir) {
		inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
		if (inotify_fd < 0 ||
		    inotify_add_watch(inotify_fd, cfg->spool_dir, IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
			snprintf(err, errsz, "cannot watch the spool folder %s: %s", cfg->spool_dir,
				 strerror(errno));
			return RC_IO;
		}
	}
	if (pthread_create(&thread, NULL, ingest_main, NULL)) {
		snprintf(err, errsz, "cannot start the ingest thread");
		return RC_NOMEM;
	}
	running = true;
	return RC_OK;
}

void ingest_stop(void)
{
	if (running) {
		atomic_store(&stopping, true);
		wake();
		pthread_join(thread, NULL);
		running = false;
	}
	if (inotify_fd >= 0)
		close(inotify_fd);
	if (wake_fd >= 0)
		close(wake_fd);
	inotify_fd = wake_fd = -1;
	snap_release(published);
	published = NULL;
	verify_free(verifier);
	verifier = NULL;
	fetch_free(fetcher);
	fetcher = NULL;
	store_close(store);
	store = NULL;
}
