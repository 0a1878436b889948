/* Arrivals: the spool folder (SFTP push, R3) and admin uploads.
 *
 * Every arrival is claimed at once: moved (renamed, or copied and synced
 * across file systems) into DATA/incoming under a name of its own,
 * "prepd-<arrival ns>-<spool|upload>-NAME" (store_claim_name()). So the
 * same fixed name dropped twice is two packages, two uploads of one name
 * never share a file, and what was claimed but not kept yet survives a
 * restart (spool_resume(), in arrival order). A spool file is taken once
 * it is complete (closed after writing, or renamed in); a package waits up
 * to evidence_wait_s for its sidecar or signature, which is claimed beside
 * it as "<claimed name><suffix>". Nothing in the spool is ever followed or
 * opened but a regular file, through the spool's own fd.
 *
 * Two threads: the claimer (only it touches the spool: it claims each file
 * the moment inotify reports it complete, so a second file renamed over
 * the same name 250 ms later is not lost while the ingest thread is busy
 * with a 100 MB package) and the ingest thread (spool_take(): pairs
 * packages with their evidence and runs them, in arrival order). Uploads
 * are claimed by the admin thread the same way. */
#include "ingest/ingest_int.h"

#include "ingest/verify.h"
#include "server/dir.h"
#include "server/log.h"
#include "server/util.h"

#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

/* How often what waits for disk space is tried again (besides at every
 * new arrival): often enough that a freed disk is noticed within seconds,
 * rarely enough that a full one costs nothing. */
#define SPOOL_RETRY_S 5

enum rc spool_watch(struct ingest *in, char *err, size_t errsz)
{
	if (in->spool_fd < 0)
		in->spool_fd = open(in->cfg->spool_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (in->spool_fd < 0) {
		snprintf(err, errsz, "cannot open the spool folder %s: %s", in->cfg->spool_dir,
			 strerror(errno));
		return RC_IO;
	}
	if (in->inotify_fd >= 0)
		return RC_OK;
	in->inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (in->inotify_fd < 0 ||
	    inotify_add_watch(in->inotify_fd, in->cfg->spool_dir, IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
		snprintf(err, errsz, "cannot watch the spool folder %s: %s", in->cfg->spool_dir,
			 strerror(errno));
		return RC_IO;
	}
	return RC_OK;
}

void spool_name_show(const char *name, char *out, size_t outsz)
{
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)name; *p && o + 5 < outsz; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\' || *p == ' ') {
			snprintf(out + o, outsz - o, "\\x%02x", *p);
			o += 4;
		} else {
			out[o++] = (char)*p;
		}
	}
	if (outsz)
		out[o < outsz ? o : outsz - 1] = '\0';
}

static bool has_control(const char *n)
{
	for (const unsigned char *p = (const unsigned char *)n; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return true;
	return false;
}

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

/* ---- the stretch of keep failures ---- */

void spool_keep_failed(struct ingest *in, const char *file, const char *err)
{
	in->retry_due = true;
	if (!in->retry_at || in->retry_at > time(NULL) + SPOOL_RETRY_S)
		in->retry_at = time(NULL) + SPOOL_RETRY_S;
	if (in->keep_failing_since) {
		log_debug("ingest keep-failed-again file=%s error=\"%s\"", file, err);
		return;
	}
	in->keep_failing_since = time(NULL);
	log_error("ingest keep-failed file=%s error=\"%s\" action=\"the package was NOT archived "
		  "and NOT published; free disk space: it waits where it is (the spool or "
		  "DATA/incoming) and is taken again every %d s and at each new arrival; the current "
		  "cut is still served; this is logged once until keeping works again\"",
		  file, err, SPOOL_RETRY_S);
}

void spool_keep_ok(struct ingest *in)
{
	if (!in->keep_failing_since)
		return;
	log_info("ingest keep-recovered failing_s=%lld", (long long)(time(NULL) - in->keep_failing_since));
	in->keep_failing_since = 0;
}

/* ---- the waiting list ---- */

static void pending_drop(struct ingest *in, size_t i)
{
	memmove(in->pending + i, in->pending + i + 1,
		(in->pending_n - i - 1) * sizeof in->pending[0]);
	in->pending_n--;
}

static bool pending_add(struct ingest *in, const char *name, const char *claimed,
			enum pending_why why)
{
	if (in->pending_n >= INGEST_PENDING_MAX) {
		char show[3 * FILE_NAME_BYTES];
		spool_name_show(claimed, show, sizeof show);
		log_error("ingest pending-full max=%u file=incoming/%s action=\"%s\"",
			  INGEST_PENDING_MAX, show,
			  why == PENDING_EVIDENCE ? "more packages wait for evidence than prepd holds: "
			  "this one is quarantined now as unverifiable; fix the uploader" :
			  "more arrivals wait than prepd holds: this one stays in DATA/incoming and is "
			  "taken at the next start");
		return false;
	}
	struct pending *p = &in->pending[in->pending_n++];
	snprintf(p->name, sizeof p->name, "%s", name);
	snprintf(p->claimed, sizeof p->claimed, "%s", claimed);
	p->since = time(NULL);
	p->why = why;
	return true;
}

/* ---- running a claimed package ---- */

static void claimed_path(const struct ingest *in, const char *claimed, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s/%s", store_incoming_dir(in->store), claimed);
}

/* Tags of claimed names: a spool package, a spool package whose name holds
 * a control character (refused, whenever it is taken), an upload. */
#define TAG_SPOOL   "spool"
#define TAG_BADNAME "badname"
#define TAG_UPLOAD  "upload"
#define BADNAME_REASON "the file name holds a control character; rename it and drop it again"

/* raw: the name as it arrived, for the journal's source (it escapes);
 * NULL: name. */
static void run_claimed(struct ingest *in, const char *claimed, const char *name,
			const char *tag, const char *raw)
{
	struct job j;
	memset(&j, 0, sizeof j);
	claimed_path(in, claimed, j.path, sizeof j.path);
	snprintf(j.name, sizeof j.name, "%s", name);
	if (!strcmp(tag, TAG_SPOOL) || !strcmp(tag, TAG_BADNAME))
		snprintf(j.source, sizeof j.source, "spool:%.240s", raw ? raw : name);
	else
		snprintf(j.source, sizeof j.source, "%s", tag);
	const char *refuse = !strcmp(tag, TAG_BADNAME) ? BADNAME_REASON : NULL;
	j.claimed = true;
	j.take = true;
	j.refuse = refuse;
	struct stage_result res;
	pipeline_run(in, &j, &res);
	struct stat sb;
	if (res.verdict == VERDICT_NOT_KEPT &&
	    fstatat(store_incoming_fd(in->store), claimed, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		/* Still in DATA/incoming: tried again once there is room. (One
		 * kept whose publication could not be journaled is not.) */
		in->retry_due = true;
		pending_add(in, name, claimed, PENDING_SPACE);
	}
}

/* Tells the ingest thread that DATA/incoming has something new. */
static void wake_ingest(struct ingest *in)
{
	uint64_t one = 1;
	if (in->wake_fd >= 0 && write(in->wake_fd, &one, sizeof one) < 0)
		(void)0;   /* the counter is full: it is awake anyway */
}

/* Claims spool_fd/name into DATA/incoming under a new name with tag.
 * Claimer thread. RC_OK, or what store_claim() said, logged unless the
 * file is simply gone; a failure for want of space arms the retry and is
 * logged once a stretch. */
static enum rc claim(struct ingest *in, const char *name, const char *tag)
{
	char err[512], claimed[FILE_NAME_BYTES];
	bool copied = false;
	enum rc rc = RC_IO;
	for (int tries = 0; tries < 4; tries++) {
		if ((rc = store_claim_name(tag, name, claimed, sizeof claimed)))
			return rc;
		rc = store_claim(in->spool_fd, name, store_incoming_fd(in->store), claimed, &copied,
				 err, sizeof err);
		if (!(rc == RC_IO && errno == EEXIST))
			break;
	}
	char show[3 * FILE_NAME_BYTES];
	spool_name_show(name, show, sizeof show);
	if (rc == RC_REFUSED) {
		log_error("ingest spool-refused file=%s reason=\"not a regular file (a symbolic link, a "
			  "FIFO, a device)\" action=\"it was never read or followed; remove it from the "
			  "spool and send the package itself\"", show);
	} else if (rc && rc != RC_NOTFOUND) {
		in->claim_retry_at = time(NULL) + SPOOL_RETRY_S;
		if (!in->claim_failing_since) {
			in->claim_failing_since = time(NULL);
			log_error("ingest keep-failed file=spool/%s error=\"%s\" action=\"the package was "
				  "NOT archived and NOT published; free disk space: it stays in the spool "
				  "and is taken again every %d s; the current cut is still served; this is "
				  "logged once until claiming works again\"", show, err, SPOOL_RETRY_S);
		}
	} else if (!rc) {
		if (in->claim_failing_since) {
			log_info("ingest keep-recovered failing_s=%lld what=claim",
				 (long long)(time(NULL) - in->claim_failing_since));
			in->claim_failing_since = 0;
			in->claim_retry_at = 0;
		}
		log_debug("ingest claimed file=%s as=incoming/%s copied=%s", show, claimed,
			  copied ? "yes (the spool is on another file system)" : "no");
		wake_ingest(in);
	}
	return rc;
}

/* A file in the spool is complete. Claimer thread. */
static void spool_file(struct ingest *in, const char *name)
{
	if (ignored_name(name))
		return;
	struct stat sb;
	if (fstatat(in->spool_fd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
		return;   /* gone already */
	if (S_ISDIR(sb.st_mode)) {
		char show[3 * FILE_NAME_BYTES];
		spool_name_show(name, show, sizeof show);
		log_warn("ingest spool-refused file=%s reason=\"a folder\" action=\"packages are files; "
			 "move the folder out of the spool\"", show);
		return;
	}
	/* A name with a control character is claimed too (so it is not
	 * taken again at every start) and refused at receive. */
	claim(in, name, has_control(name) ? TAG_BADNAME : TAG_SPOOL);
}

/* A spool entry that may be a package or evidence: not a temporary name. */
static bool spool_candidate(int dfd, const char *name, void *ctx)
{
	(void)dfd;
	(void)ctx;
	return !ignored_name(name);
}

struct arrival {
	struct timespec ctime;
	const char *name;
};

static int cmp_arrival(const void *a, const void *b)
{
	const struct arrival *x = a, *y = b;
	if (x->ctime.tv_sec != y->ctime.tv_sec)
		return x->ctime.tv_sec < y->ctime.tv_sec ? -1 : 1;
	if (x->ctime.tv_nsec != y->ctime.tv_nsec)
		return x->ctime.tv_nsec < y->ctime.tv_nsec ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Files already complete in the spool (start-up, an inotify overflow, a
 * retry), in arrival order: by the time they were last renamed or written
 * (ctime), then by name. */
static void spool_scan(struct ingest *in)
{
	char **names;
	size_t n;
	if (dir_names(in->spool_fd, ".", spool_candidate, in, SPOOL_SCAN_MAX, &names, &n, NULL))
		return;
	struct arrival *v = n ? calloc(n, sizeof *v) : NULL;
	for (size_t i = 0; v && i < n; i++) {
		struct stat sb;
		v[i].name = names[i];
		if (fstatat(in->spool_fd, names[i], &sb, AT_SYMLINK_NOFOLLOW) == 0)
			v[i].ctime = sb.st_ctim;
	}
	if (v)
		qsort(v, n, sizeof *v, cmp_arrival);
	for (size_t i = 0; i < n && !atomic_load(&in->stopping); i++)
		spool_file(in, v ? v[i].name : names[i]);
	free(v);
	dir_names_free(names, n);
}

static void *claimer_main(void *arg)
{
	struct ingest *in = arg;
	spool_scan(in);
	char buf[16 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
	while (!atomic_load(&in->stopping)) {
		/* Woken by an arrival or by spool_stop(); the timeout is for
		 * claims waiting for disk space. */
		struct pollfd pfd[2] = { { in->inotify_fd, POLLIN, 0 },
					 { in->claimer_stop_fd, POLLIN, 0 } };
		int r = poll(pfd, 2, 1000);
		if (r < 0 && errno != EINTR)
			break;
		if (atomic_load(&in->stopping))
			break;
		if (in->claim_retry_at && time(NULL) >= in->claim_retry_at) {
			in->claim_retry_at = time(NULL) + SPOOL_RETRY_S;
			spool_scan(in);
		}
		if (r <= 0 || !(pfd[0].revents & POLLIN))
			continue;
		ssize_t n;
		while ((n = read(in->inotify_fd, buf, sizeof buf)) > 0) {
			for (char *p = buf; p < buf + n;) {
				const struct inotify_event *ev = (const struct inotify_event *)p;
				if (ev->mask & IN_Q_OVERFLOW)
					spool_scan(in);
				else if (ev->len && (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)))
					spool_file(in, ev->name);
				p += sizeof *ev + ev->len;
			}
		}
	}
	return NULL;
}

enum rc spool_start(struct ingest *in, char *err, size_t errsz)
{
	in->claimer_stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (in->claimer_stop_fd < 0) {
		snprintf(err, errsz, "cannot make the spool claimer's wake-up: %s", strerror(errno));
		return RC_NOMEM;
	}
	if (pthread_create(&in->claimer, NULL, claimer_main, in)) {
		snprintf(err, errsz, "cannot start the spool claimer thread");
		close(in->claimer_stop_fd);
		in->claimer_stop_fd = -1;
		return RC_NOMEM;
	}
	in->claimer_running = true;
	return RC_OK;
}

void spool_stop(struct ingest *in)
{
	if (in->claimer_running) {
		/* in->stopping is set: wake the claimer so a stop does not
		 * wait for its poll() to time out */
		uint64_t one = 1;
		ssize_t w = write(in->claimer_stop_fd, &one, sizeof one);
		(void)w;
		pthread_join(in->claimer, NULL);
		in->claimer_running = false;
	}
	if (in->claimer_stop_fd >= 0)
		close(in->claimer_stop_fd);
	in->claimer_stop_fd = -1;
}

/* ---- the ingest thread: pairing and running what was claimed ---- */

/* A quarantined package of this name with no evidence kept beside it (it
 * was refused for want of it), the newest one: its seq and kept name. */
struct late_find {
	const char *clean;
	const char *suffix;
	uint64_t seq;
	char kept[FILE_NAME_BYTES];
};

static bool late_match(int dfd, const char *name, void *ctx)
{
	struct late_find *f = ctx;
	char *dash;
	uint64_t seq = strtoull(name, &dash, 10);
	if (dash == name || *dash != '-' || strcmp(dash + 1, f->clean) || seq <= f->seq)
		return true;
	char ev[EVIDENCE_NAME_BYTES + 32];
	snprintf(ev, sizeof ev, "%s%s", name, f->suffix);
	struct stat sb;
	if (fstatat(dfd, ev, &sb, AT_SYMLINK_NOFOLLOW) == 0)
		return true;
	f->seq = seq;
	snprintf(f->kept, sizeof f->kept, "%s", name);
	return true;
}

/* Reads the claimed evidence file into buf; its length, or -1. */
static ssize_t read_claimed(struct ingest *in, const char *claimed, char *buf, size_t bufsz)
{
	int fd = openat(store_incoming_fd(in->store), claimed, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t got = read(fd, buf, bufsz);
	close(fd);
	return got < 0 || (size_t)got == bufsz ? -1 : got;
}

/* Evidence that no package waits for is, in two cases, the evidence of a
 * package already kept, and is then kept beside it instead of waiting for
 * the next package of its name (which it would fail):
 *  - in history/, a package with no evidence beside it: prepd stopped
 *    between keeping the package and keeping its evidence (two renames);
 *  - in quarantine/ (spool only), a package refused for want of it: the
 *    evidence came late.
 * The newest such package of the name in the folder is taken, and only if
 * the evidence verifies it. Returns true when it was kept (or tried and
 * logged); false when it waits for its own package. */
static bool evidence_of_kept(struct ingest *in, const char *claimed, const char *pkg,
			     const char *folder)
{
	bool quarantined = !strcmp(folder, "quarantine");
	const char *suf = verify_suffix(in->cfg->verify);
	char clean[STORE_MAX_NAME_BYTES + 1], dir[PATH_BUF_BYTES];
	store_clean_name(pkg, clean);
	snprintf(dir, sizeof dir, "%s/%s", in->cfg->data_dir, folder);
	struct late_find f = { .clean = clean, .suffix = suf };
	if (dir_each(AT_FDCWD, dir, late_match, &f) || !f.seq)
		return false;
	static char ev[VERIFY_MAX_EVIDENCE_BYTES];
	ssize_t got = read_claimed(in, claimed, ev, sizeof ev);
	if (got < 0)
		return false;
	char path[PATH_BUF_LONG_BYTES], err[512];
	snprintf(path, sizeof path, "%s/%s", dir, f.kept);
	unsigned char sha[SHA256_BYTES];
	if (verify_package(in->verifier, path, pkg, ev, (size_t)got, sha, err, sizeof err))
		return false;   /* not this package's: it waits for its own */
	char from[PATH_BUF_LONG_BYTES], kept[PATH_BUF_LONG_BYTES], kerr[512], evname[EVIDENCE_NAME_BYTES];
	claimed_path(in, claimed, from, sizeof from);
	snprintf(evname, sizeof evname, "%s%s", pkg, suf);
	char show[3 * FILE_NAME_BYTES];
	spool_name_show(evname, show, sizeof show);
	if (store_keep(in->store, f.seq, evname, from, quarantined, kept, sizeof kept, kerr,
		       sizeof kerr)) {
		log_warn("ingest evidence-%s file=%s seq=%llu kept=incoming/%s error=\"%s\" "
			 "action=\"it belongs to the package kept in %s as seq %llu but could not be "
			 "put beside it; it stays in DATA/incoming\"", quarantined ? "late" : "recovered",
			 show, (unsigned long long)f.seq, claimed, kerr, folder,
			 (unsigned long long)f.seq);
		return true;
	}
	if (quarantined)
		log_warn("ingest evidence-late file=%s seq=%llu kept=%s package=quarantine/%s "
			 "action=\"it came after its package was refused for want of it, and verifies it; "
			 "both are kept in quarantine; the package was not published: send the package "
			 "again with its %s to publish it\"", show, (unsigned long long)f.seq, kept, f.kept,
			 suf);
	else
		log_info("ingest evidence-recovered file=%s seq=%llu kept=%s package=history/%s "
			 "reason=\"prepd stopped after keeping the package and before keeping its "
			 "evidence; it verifies the package and is kept beside it now\"", show,
			 (unsigned long long)f.seq, kept, f.kept);
	return true;
}

static bool pending_has(const struct ingest *in, const char *claimed)
{
	for (size_t i = 0; i < in->pending_n; i++)
		if (!strcmp(in->pending[i].claimed, claimed))
			return true;
	return false;
}

static bool same_tag(const char *claimed, const char *tag)
{
	char t[STORE_CLAIM_TAG_BYTES + 1];
	const char *dummy;
	return store_claim_parse(claimed, t, sizeof t, &dummy) && !strcmp(t, tag);
}

/* Moves the evidence claimed as ev beside the package claimed as pkg. */
static bool pair(struct ingest *in, const char *ev, const char *pkg, const char *name)
{
	char to[EVIDENCE_NAME_BYTES + 32];
	snprintf(to, sizeof to, "%s%s", pkg, verify_suffix(in->cfg->verify));
	int fd = store_incoming_fd(in->store);
	if (renameat(fd, ev, fd, to) != 0) {
		char show[3 * FILE_NAME_BYTES];
		spool_name_show(name, show, sizeof show);
		log_error("ingest evidence-pairing-failed name=%s evidence=incoming/%s error=\"%s\" "
			  "action=\"the package is checked without it; see DATA/incoming\"", show, ev,
			  strerror(errno));
		return false;
	}
	(void)fsync(fd);
	return true;
}

/* Evidence claimed for pkg (its package's name) from tag. */
static void evidence_arrived(struct ingest *in, const char *tag, const char *pkg,
			     const char *claimed)
{
	for (size_t i = 0; i < in->pending_n; i++) {
		struct pending *p = &in->pending[i];
		if (p->why != PENDING_EVIDENCE || strcmp(p->name, pkg) || !same_tag(p->claimed, tag))
			continue;
		char pc[FILE_NAME_BYTES], pn[FILE_NAME_BYTES];
		snprintf(pc, sizeof pc, "%s", p->claimed);
		snprintf(pn, sizeof pn, "%s", p->name);
		pending_drop(in, i);
		pair(in, claimed, pc, pn);
		run_claimed(in, pc, pn, tag, NULL);
		return;
	}
	if (evidence_of_kept(in, claimed, pkg, "history") ||
	    (!strcmp(tag, TAG_SPOOL) && evidence_of_kept(in, claimed, pkg, "quarantine")))
		return;
	/* It waits for the next package of its name. The last evidence sent
	 * for a name is the one that package is checked against: an earlier
	 * one not used yet is replaced. */
	for (size_t i = 0; i < in->pending_n; i++) {
		struct pending *p = &in->pending[i];
		if (p->why == PENDING_EV && !strcmp(p->name, pkg) && same_tag(p->claimed, tag)) {
			log_info("ingest evidence-replaced name=%s old=incoming/%s new=incoming/%s "
				 "reason=\"a newer %s came before its package\"", pkg, p->claimed, claimed,
				 verify_suffix(in->cfg->verify));
			(void)unlinkat(store_incoming_fd(in->store), p->claimed, 0);   /* ours */
			pending_drop(in, i);
			break;
		}
	}
	pending_add(in, pkg, claimed, PENDING_EV);
}

/* A package claimed as claimed, named name, from tag. */
static void package_arrived(struct ingest *in, const char *tag, const char *name,
			    const char *claimed)
{
	const char *suf = verify_suffix(in->cfg->verify);
	if (!suf || !strcmp(tag, TAG_BADNAME)) {
		run_claimed(in, claimed, name, tag, NULL);
		return;
	}
	char ev[EVIDENCE_NAME_BYTES + 32];
	snprintf(ev, sizeof ev, "%s%s", claimed, suf);
	struct stat sb;
	if (fstatat(store_incoming_fd(in->store), ev, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		run_claimed(in, claimed, name, tag, NULL);   /* paired before a restart */
		return;
	}
	for (size_t i = 0; i < in->pending_n; i++) {
		struct pending *p = &in->pending[i];
		if (p->why != PENDING_EV || strcmp(p->name, name) || !same_tag(p->claimed, tag))
			continue;
		char pc[FILE_NAME_BYTES];
		snprintf(pc, sizeof pc, "%s", p->claimed);
		pending_drop(in, i);
		pair(in, pc, claimed, name);
		run_claimed(in, claimed, name, tag, NULL);
		return;
	}
	/* A spool package waits for its evidence; an upload's evidence comes
	 * first (README), so an upload without it is checked (and refused)
	 * now. A full waiting list quarantines it now as unverifiable. */
	if (!strcmp(tag, TAG_SPOOL) && pending_add(in, name, claimed, PENDING_EVIDENCE)) {
		char show[3 * FILE_NAME_BYTES];
		spool_name_show(name, show, sizeof show);
		log_info("ingest waiting file=%s claimed=incoming/%s for=%s max_s=%u", show, claimed,
			 suf, in->cfg->evidence_wait_s);
		return;
	}
	run_claimed(in, claimed, name, tag, NULL);
}

static bool incoming_candidate(int dfd, const char *name, void *ctx)
{
	struct stat sb;
	return !strncmp(name, STORE_CLAIM_PREFIX, strlen(STORE_CLAIM_PREFIX)) &&
	       !pending_has(ctx, name) && fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(sb.st_mode);
}

void spool_take(struct ingest *in)
{
	char **names;
	size_t n;
	bool more = false;
	int fd = store_incoming_fd(in->store);
	if (dir_names(fd, ".", incoming_candidate, in, SPOOL_SCAN_MAX, &names, &n, &more))
		return;
	const char *suf = verify_suffix(in->cfg->verify);
	if (n && !in->live)
		log_info("ingest incoming-resume files=%zu reason=\"claimed before a restart, not kept "
			 "yet; taken now in arrival order\"", n);
	for (size_t i = 0; i < n && !atomic_load(&in->stopping); i++) {
		char tag[STORE_CLAIM_TAG_BYTES + 1];
		const char *name;
		struct stat sb;
		if (!store_claim_parse(names[i], tag, sizeof tag, &name) ||
		    fstatat(fd, names[i], &sb, AT_SYMLINK_NOFOLLOW) != 0 || pending_has(in, names[i]))
			continue;   /* taken with its package already */
		if (strcmp(tag, TAG_SPOOL) && strcmp(tag, TAG_BADNAME) && strcmp(tag, TAG_UPLOAD))
			continue;
		size_t len = strlen(names[i]), sl = suf ? strlen(suf) : 0;
		if (suf && strcmp(tag, TAG_BADNAME) && len > sl && !strcmp(names[i] + len - sl, suf)) {
			char base[FILE_NAME_BYTES], pkg[FILE_NAME_BYTES];
			snprintf(base, sizeof base, "%.*s", (int)(len - sl), names[i]);
			snprintf(pkg, sizeof pkg, "%.*s", (int)(strlen(name) - sl), name);
			if (fstatat(fd, base, &sb, AT_SYMLINK_NOFOLLOW) == 0)
				continue;   /* paired: it goes with its package */
			evidence_arrived(in, tag, pkg, names[i]);
			continue;
		}
		package_arrived(in, tag, name, names[i]);
	}
	if (more)
		log_warn("ingest incoming-more max=%u action=\"more arrivals wait than one pass takes; "
			 "the rest are taken next\"", SPOOL_SCAN_MAX);
	dir_names_free(names, n);
}

void spool_expire(struct ingest *in)
{
	time_t now = time(NULL);
	for (size_t i = 0; i < in->pending_n;) {
		struct pending *p = &in->pending[i];
		if (p->why == PENDING_EVIDENCE && now - p->since >= (time_t)in->cfg->evidence_wait_s) {
			char name[FILE_NAME_BYTES], claimed[FILE_NAME_BYTES];
			snprintf(name, sizeof name, "%s", p->name);
			snprintf(claimed, sizeof claimed, "%s", p->claimed);
			pending_drop(in, i);
			/* Processing it now quarantines it, saying what is missing. */
			run_claimed(in, claimed, name, TAG_SPOOL, NULL);
		} else {
			i++;
		}
	}
	if (!in->retry_due || now < in->retry_at)
		return;
	/* What waits for disk space, first claimed first; a failure puts it
	 * back (and arms the retry again), so take the ones waiting now only. */
	in->retry_due = false;
	in->retry_at = now + SPOOL_RETRY_S;
	size_t n = 0;
	for (size_t i = 0; i < in->pending_n; i++)
		n += in->pending[i].why == PENDING_SPACE;
	for (size_t k = 0; k < n; k++) {
		for (size_t i = 0; i < in->pending_n; i++) {
			if (in->pending[i].why != PENDING_SPACE)
				continue;
			char name[FILE_NAME_BYTES], claimed[FILE_NAME_BYTES], tag[STORE_CLAIM_TAG_BYTES + 1];
			snprintf(name, sizeof name, "%s", in->pending[i].name);
			snprintf(claimed, sizeof claimed, "%s", in->pending[i].claimed);
			pending_drop(in, i);
			const char *dummy;
			if (store_claim_parse(claimed, tag, sizeof tag, &dummy))
				run_claimed(in, claimed, name, tag, NULL);
			break;
		}
	}
}
