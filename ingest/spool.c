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
 * opened but a regular file, through the spool's own fd. */
#include "ingest/ingest_int.h"

#include "ingest/verify.h"
#include "server/dir.h"
#include "server/log.h"
#include "server/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static bool is_evidence(const struct ingest *in, const char *n)
{
	const char *suf = verify_suffix(in->cfg->verify);
	if (!suf)
		return false;
	size_t len = strlen(n), sl = strlen(suf);
	return len > sl && !strcmp(n + len - sl, suf);
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

/* Claims from spool_fd/name into DATA/incoming as claimed (made here when
 * claimed is "", given for evidence). RC_OK, or what store_claim() said,
 * logged unless the file is simply gone. */
static enum rc claim(struct ingest *in, const char *name, const char *tag, char *claimed,
		     size_t claimedsz)
{
	char err[512];
	bool copied = false, make = !claimed[0];
	enum rc rc = RC_IO;
	for (int tries = 0; tries < 4; tries++) {
		if (make && (rc = store_claim_name(tag, name, claimed, claimedsz)))
			return rc;
		rc = store_claim(in->spool_fd, name, store_incoming_fd(in->store), claimed, &copied,
				 err, sizeof err);
		if (!(rc == RC_IO && errno == EEXIST && make))
			break;
	}
	char show[3 * FILE_NAME_BYTES];
	spool_name_show(name, show, sizeof show);
	if (rc == RC_REFUSED) {
		log_error("ingest spool-refused file=%s reason=\"%s\" action=\"not a regular file: "
			  "never read or followed; remove it from the spool and send the package "
			  "itself\"", show, "not a regular file (a symbolic link, a folder, a FIFO)");
	} else if (rc && rc != RC_NOTFOUND) {
		char file[4 * FILE_NAME_BYTES];
		snprintf(file, sizeof file, "spool/%s", show);
		spool_keep_failed(in, file, err);
	} else if (!rc) {
		spool_keep_ok(in);
		if (copied)
			log_debug("ingest claimed-by-copy file=%s reason=\"the spool is on another file "
				  "system than the data folder\"", show);
	}
	return rc;
}

/* A quarantined package of this name with no evidence kept beside it (it
 * was refused for want of it), the newest one: its seq and kept name. */
struct late_find {
	const char *clean;
	const char *suffix;
	int qfd;
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

/* Evidence in the spool that no package waits for: either it came first
 * (its package follows: it stays in the spool), or it came after its
 * package was refused for want of it. The second is recognised by
 * verifying it against the newest such package in quarantine: then it is
 * kept there beside it and logged. */
static void late_evidence(struct ingest *in, const char *evname, const char *pkg)
{
	const char *suf = verify_suffix(in->cfg->verify);
	char clean[STORE_MAX_NAME_BYTES + 1], qdir[PATH_BUF_BYTES];
	store_clean_name(pkg, clean);
	snprintf(qdir, sizeof qdir, "%s/quarantine", in->cfg->data_dir);
	struct late_find f = { .clean = clean, .suffix = suf };
	if (dir_each(AT_FDCWD, qdir, late_match, &f) || !f.seq)
		return;
	/* Read it through the spool's fd, never following a link. */
	static char ev[VERIFY_MAX_EVIDENCE_BYTES];
	int fd = openat(in->spool_fd, evname, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	struct stat sb;
	ssize_t got = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? read(fd, ev, sizeof ev) : -1;
	close(fd);
	if (got < 0 || (size_t)got == sizeof ev)
		return;
	char qpath[PATH_BUF_LONG_BYTES], err[512];
	snprintf(qpath, sizeof qpath, "%s/%s", qdir, f.kept);
	unsigned char sha[SHA256_BYTES];
	if (verify_package(in->verifier, qpath, pkg, ev, (size_t)got, sha, err, sizeof err))
		return;   /* not this package's: it waits for its own */
	char claimed[FILE_NAME_BYTES] = "";
	if (claim(in, evname, TAG_SPOOL, claimed, sizeof claimed))
		return;
	char from[PATH_BUF_LONG_BYTES], kept[PATH_BUF_LONG_BYTES], kerr[512];
	claimed_path(in, claimed, from, sizeof from);
	char show[3 * FILE_NAME_BYTES];
	spool_name_show(evname, show, sizeof show);
	if (store_keep(in->store, f.seq, evname, from, true, kept, sizeof kept, kerr, sizeof kerr)) {
		log_warn("ingest evidence-late file=%s seq=%llu kept=incoming/%s error=\"%s\" "
			 "action=\"it came after its package was refused; it could not be put beside "
			 "it in quarantine and stays in DATA/incoming\"", show,
			 (unsigned long long)f.seq, claimed, kerr);
		return;
	}
	log_warn("ingest evidence-late file=%s seq=%llu kept=%s package=quarantine/%s "
		 "action=\"it came after its package was refused for want of it, and verifies it; "
		 "both are kept in quarantine; the package was not published: drop the package "
		 "again with its %s to publish it\"", show, (unsigned long long)f.seq, kept, f.kept,
		 suf);
}

/* A file in the spool is complete: a package, or the evidence a package
 * was waiting for. */
static void spool_file(struct ingest *in, const char *name)
{
	const struct ingest_settings *cfg = in->cfg;
	if (ignored_name(name))
		return;
	if (in->retry_due)
		spool_retry(in, true);
	char show[3 * FILE_NAME_BYTES];
	spool_name_show(name, show, sizeof show);
	if (is_evidence(in, name)) {
		char pkg[FILE_NAME_BYTES];
		size_t n = strlen(name) - strlen(verify_suffix(cfg->verify));
		if (n >= sizeof pkg)
			return;
		memcpy(pkg, name, n);
		pkg[n] = '\0';
		for (size_t i = 0; i < in->pending_n; i++) {
			struct pending *p = &in->pending[i];
			if (p->why != PENDING_EVIDENCE || strcmp(p->name, pkg))
				continue;
			char evc[EVIDENCE_NAME_BYTES + 32];
			snprintf(evc, sizeof evc, "%s%s", p->claimed, verify_suffix(cfg->verify));
			if (claim(in, name, TAG_SPOOL, evc, sizeof evc))
				return;
			char claimed[FILE_NAME_BYTES], pname[FILE_NAME_BYTES];
			snprintf(claimed, sizeof claimed, "%s", p->claimed);
			snprintf(pname, sizeof pname, "%s", p->name);
			pending_drop(in, i);
			run_claimed(in, claimed, pname, TAG_SPOOL, NULL);
			return;
		}
		late_evidence(in, name, pkg);
		return;
	}
	struct stat sb;
	if (fstatat(in->spool_fd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
		return;   /* gone already */
	if (S_ISDIR(sb.st_mode)) {
		log_warn("ingest spool-refused file=%s reason=\"a folder\" action=\"packages are files; "
			 "move the folder out of the spool\"", show);
		return;
	}
	/* A name with a control character is claimed too (so it is not
	 * taken again at every start) and refused at receive, kept in
	 * quarantine under a clean name. */
	bool bad = has_control(name);
	char claimed[FILE_NAME_BYTES] = "";
	if (claim(in, name, bad ? TAG_BADNAME : TAG_SPOOL, claimed, sizeof claimed))
		return;
	const char *cut;
	char tag[STORE_CLAIM_TAG_BYTES + 1], pname[FILE_NAME_BYTES];
	/* The name as claimed: control bytes made '_', cut to what can be kept. */
	if (!store_claim_parse(claimed, tag, sizeof tag, &cut))
		return;
	snprintf(pname, sizeof pname, "%s", cut);
	if (bad) {
		run_claimed(in, claimed, pname, TAG_BADNAME, name);
		return;
	}
	if (cfg->verify != VERIFY_NONE) {
		char ev[EVIDENCE_NAME_BYTES], evc[EVIDENCE_NAME_BYTES + 32];
		snprintf(ev, sizeof ev, "%s%s", name, verify_suffix(cfg->verify));
		snprintf(evc, sizeof evc, "%s%s", claimed, verify_suffix(cfg->verify));
		if (claim(in, ev, TAG_SPOOL, evc, sizeof evc)) {
			if (pending_add(in, pname, claimed, PENDING_EVIDENCE)) {
				log_info("ingest waiting file=%s claimed=incoming/%s for=%s%s max_s=%u", show,
					 claimed, show, verify_suffix(cfg->verify), cfg->evidence_wait_s);
				return;
			}
		}
	}
	run_claimed(in, claimed, pname, TAG_SPOOL, NULL);
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
	if (in->retry_due && time(NULL) >= in->retry_at)
		spool_retry(in, false);
}

void spool_retry(struct ingest *in, bool force)
{
	static bool busy;   /* spool_scan() arrives back here through spool_file() */
	if (busy || !in->retry_due || (!force && time(NULL) < in->retry_at))
		return;
	busy = true;
	in->retry_due = false;
	in->retry_at = time(NULL) + SPOOL_RETRY_S;
	/* What was claimed first goes first; a failure puts it back (and sets
	 * retry_due again), so take the ones waiting now only. */
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
	if (in->spool_fd >= 0)
		spool_scan(in);
	busy = false;
}

/* A spool entry that may be a package or evidence: not a temporary name. */
static bool spool_candidate(int dfd, const char *name, void *ctx)
{
	(void)dfd;
	(void)ctx;
	return !ignored_name(name);
}

/* Files already complete in the spool, oldest name first (timestamped
 * names sort by cut; a package sorts before its NAME.sha256). */
void spool_scan(struct ingest *in)
{
	char **names;
	size_t n;
	if (in->spool_fd < 0 || dir_names(in->spool_fd, ".", spool_candidate, in, SPOOL_SCAN_MAX,
					  &names, &n, NULL))
		return;
	for (size_t i = 0; i < n; i++)
		spool_file(in, names[i]);
	dir_names_free(names, n);
}

void spool_events(struct ingest *in)
{
	char buf[16 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t n = read(in->inotify_fd, buf, sizeof buf);
		if (n <= 0)
			return;
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

/* ---- uploads ---- */

static bool upload_evidence_add(struct ingest *in, const char *name, const char *claimed)
{
	/* The last evidence uploaded for a name is the one its next package
	 * is checked against: an earlier one not used yet is replaced. */
	for (size_t i = 0; i < in->pending_n; i++) {
		struct pending *p = &in->pending[i];
		if (p->why == PENDING_UPLOAD_EV && !strcmp(p->name, name)) {
			log_info("ingest evidence-replaced name=%s old=incoming/%s new=incoming/%s "
				 "reason=\"a newer upload of this evidence came before its package\"",
				 name, p->claimed, claimed);
			(void)unlinkat(store_incoming_fd(in->store), p->claimed, 0);   /* ours */
			pending_drop(in, i);
			break;
		}
	}
	return pending_add(in, name, claimed, PENDING_UPLOAD_EV);
}

/* Runs an uploaded package claimed as claimed, with the evidence last
 * uploaded for its name moved beside it first. */
static void upload_package(struct ingest *in, const char *claimed, const char *name)
{
	const char *suf = verify_suffix(in->cfg->verify);
	for (size_t i = 0; suf && i < in->pending_n; i++) {
		struct pending *p = &in->pending[i];
		if (p->why != PENDING_UPLOAD_EV || strcmp(p->name, name))
			continue;
		char evc[EVIDENCE_NAME_BYTES + 32];
		snprintf(evc, sizeof evc, "%s%s", claimed, suf);
		int fd = store_incoming_fd(in->store);
		if (renameat(fd, p->claimed, fd, evc) != 0)
			log_error("ingest evidence-lost-pairing name=%s evidence=incoming/%s error=\"%s\" "
				  "action=\"the package is checked without it\"", name, p->claimed,
				  strerror(errno));
		else
			(void)fsync(fd);
		pending_drop(in, i);
		break;
	}
	run_claimed(in, claimed, name, TAG_UPLOAD, NULL);
}

void spool_upload(struct ingest *in, const struct job *j)
{
	const char *slash = strrchr(j->path, '/');
	const char *claimed = slash ? slash + 1 : j->path;
	if (is_evidence(in, j->name)) {
		char pkg[FILE_NAME_BYTES];
		size_t n = strlen(j->name) - strlen(verify_suffix(in->cfg->verify));
		snprintf(pkg, sizeof pkg, "%.*s", (int)n, j->name);
		upload_evidence_add(in, pkg, claimed);
		return;
	}
	upload_package(in, claimed, j->name);
}

/* ---- start-up ---- */

static bool incoming_candidate(int dfd, const char *name, void *ctx)
{
	(void)ctx;
	struct stat sb;
	return !strncmp(name, STORE_CLAIM_PREFIX, strlen(STORE_CLAIM_PREFIX)) &&
	       fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode);
}

void spool_resume(struct ingest *in)
{
	char **names;
	size_t n;
	bool more = false;
	if (dir_names(store_incoming_fd(in->store), ".", incoming_candidate, in, SPOOL_SCAN_MAX,
		      &names, &n, &more))
		return;
	const char *suf = verify_suffix(in->cfg->verify);
	int fd = store_incoming_fd(in->store);
	if (n)
		log_info("ingest incoming-resume files=%zu reason=\"claimed before a restart, not kept "
			 "yet; taken now in arrival order\"", n);
	for (size_t i = 0; i < n; i++) {
		char tag[STORE_CLAIM_TAG_BYTES + 1];
		const char *name;
		if (!store_claim_parse(names[i], tag, sizeof tag, &name))
			continue;
		struct stat sb;
		if (fstatat(fd, names[i], &sb, AT_SYMLINK_NOFOLLOW) != 0)
			continue;   /* taken with its package already */
		if (is_evidence(in, names[i])) {
			char base[FILE_NAME_BYTES], pkg[FILE_NAME_BYTES];
			size_t bl = strlen(names[i]) - strlen(suf), nl = strlen(name) - strlen(suf);
			snprintf(base, sizeof base, "%.*s", (int)bl, names[i]);
			snprintf(pkg, sizeof pkg, "%.*s", (int)nl, name);
			if (fstatat(fd, base, &sb, AT_SYMLINK_NOFOLLOW) == 0)
				continue;   /* its package comes later in the list */
			if (!strcmp(tag, TAG_UPLOAD))
				upload_evidence_add(in, pkg, names[i]);
			else
				log_warn("ingest evidence-orphan file=incoming/%s action=\"its package is "
					 "no longer waiting (see prepd history); it is left where it is\"",
					 names[i]);
			continue;
		}
		if (!strcmp(tag, TAG_UPLOAD)) {
			upload_package(in, names[i], name);
		} else if (!strcmp(tag, TAG_BADNAME)) {
			run_claimed(in, names[i], name, TAG_BADNAME, NULL);
		} else if (!strcmp(tag, TAG_SPOOL)) {
			char ev[EVIDENCE_NAME_BYTES + 32];
			snprintf(ev, sizeof ev, "%s%s", names[i], suf ? suf : "");
			if (suf && fstatat(fd, ev, &sb, AT_SYMLINK_NOFOLLOW) != 0 &&
			    pending_add(in, name, names[i], PENDING_EVIDENCE))
				continue;   /* its evidence may still come to the spool */
			run_claimed(in, names[i], name, TAG_SPOOL, NULL);
		}
	}
	if (more)
		log_warn("ingest incoming-more max=%u action=\"more arrivals wait than one start takes; "
			 "the rest are taken at the next start\"", SPOOL_SCAN_MAX);
	dir_names_free(names, n);
}
