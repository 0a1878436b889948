/* One package through every stage:
 *
 *   receive ─► verify ─► keep (history, fsync) ─► unpack+build ─► publish
 *
 * Each stage fills a struct stage_result and says whether the package
 * goes on; the first that stops it has the verdict. */
#include "ingest/ingest_int.h"

#include "ingest/prescan.h"
#include "ingest/scan.h"
#include "ingest/site.h"
#include "ingest/unpack.h"
#include "ingest/verify.h"
#include "server/incident.h"
#include "server/log.h"
#include "server/util.h"
#include "server/variant.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A package on its way: what the stages hand on to each other. */
struct package {
	const struct job *job;
	struct journal_rec rec;
	char evidence[VERIFY_MAX_EVIDENCE_BYTES];
	size_t evlen;
	char evpath[PATH_BUF_LONG_BYTES];
	bool keep_evidence;
	struct snap *built;
	struct cut cut;
	bool incremental;
	struct snap_stats st;
	uint64_t t0, t_verify, t_store, t_unpack;
	struct scan_tar tar;   /* a .tar.gz's tar, inflated and checked by verify */
};

void stage_result_why(const struct stage_result *r, char *out, size_t outsz)
{
	snprintf(out, outsz, "%.120s%s%.170s", r->entry, r->entry[0] ? ": " : "",
		 r->reason[0] ? r->reason : rc_str(r->rc));
}

/* ---- opening ---- */

enum rc pipeline_open(struct ingest *in, const struct ingest_settings *settings,
		      char *err, size_t errsz)
{
	in->cfg = settings;
	enum rc rc = store_open(in->cfg->data_dir, &in->store, err, errsz);
	if (rc)
		return rc;
	rc = verify_new(in->cfg->verify, in->cfg->trust_file, &in->verifier, err, errsz);
	if (rc)
		return rc;
	rc = store_next_seq(in->store, &in->next_seq, err, errsz);
	if (rc)
		return rc;
	struct snap *now = snap_acquire();   /* the placeholder, until a cut */
	if (now) {
		status_set_cut(in, snap_cut(now));
		snap_release(now);
	}
	return RC_OK;
}

void pipeline_close(struct ingest *in)
{
	snap_release(in->published);
	in->published = NULL;
	verify_free(in->verifier);
	in->verifier = NULL;
	store_close(in->store);
	in->store = NULL;
}

/* ---- fault injection for the crash tests ---- */

/* With PREPD_TEST_PAUSE_AT=STAGE in the environment, the ingest thread
 * stops at that stage (store, unpack, build, publish) so a test can kill
 * the process there (tests/integration/t3030-crash.sh). Never set it in
 * production: it is logged as a warning. */
static void pause_at(struct ingest *in, const char *stage)
{
	const char *at = getenv("PREPD_TEST_PAUSE_AT");
	if (!in->live || !at || strcmp(at, stage))
		return;
	log_warn("ingest test-pause stage=%s action=\"PREPD_TEST_PAUSE_AT is set: a test setting, "
		 "unset it in production\"", stage);
	while (!atomic_load(&in->stopping))
		sleep(1);
}

/* ---- building a cut from a kept package ---- */

struct sink_ctx {
	const struct ingest_settings *cfg;
	struct snap_builder *b;
	bool has_root_index;
	bool has_base;      /* index.html has a <base href> (site.h) */
	bool has_time;
	char time[32];      /* the cut time from the configured JSON */
	/* [ingest] required_paths, split (admit only), and which were seen */
	char *req_buf;
	const char *req[INGEST_REQUIRED_PATHS_MAX];
	bool req_seen[INGEST_REQUIRED_PATHS_MAX];
	size_t req_n;
};

static enum rc sink_add(void *ctx, const char *path, void *data, size_t len,
			time_t mtime, const unsigned char *sha)
{
	struct sink_ctx *sc = ctx;
	if (!strcmp(path, "index.html")) {
		sc->has_root_index = true;
		sc->has_base = site_has_base(data, len);
	}
	if (sc->cfg->cut_json && !strcmp(path, sc->cfg->cut_json))
		sc->has_time = cut_time_from_json(data, len, sc->cfg->cut_key, sc->time, sizeof sc->time);
	for (size_t i = 0; i < sc->req_n; i++)
		if (!strcmp(path, sc->req[i]))
			sc->req_seen[i] = true;
	/* A zip entry's time is a local time without a zone: libarchive
	 * converts it with the process's zone, which is the institute's
	 * (cut_zone_use() at start-up), so mtime is UTC here for zip and
	 * tar alike. */
	return snap_builder_add_hashed(sc->b, path, data, len, mtime, false, sha);
}

/* Splits [ingest] required_paths into sc (the setting is parsed and
 * capped at INGEST_REQUIRED_PATHS_MAX by the settings table). */
static enum rc sink_required(struct sink_ctx *sc)
{
	if (!sc->cfg->required_paths)
		return RC_OK;
	sc->req_buf = strdup(sc->cfg->required_paths);
	if (!sc->req_buf)
		return RC_NOMEM;
	char *save = NULL;
	for (char *t = strtok_r(sc->req_buf, " ", &save); t && sc->req_n < INGEST_REQUIRED_PATHS_MAX;
	     t = strtok_r(NULL, " ", &save))
		sc->req[sc->req_n++] = t;
	return RC_OK;
}

/* Fills res with a refusal of the admission checks and says what to do. */
static void refuse_admit(struct stage_result *res, enum rc rc, const char *entry,
			 const char *action, const char **actionp, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void refuse_admit(struct stage_result *res, enum rc rc, const char *entry,
			 const char *action, const char **actionp, const char *fmt, ...)
{
	res->rc = rc;
	res->step = "check";
	snprintf(res->entry, sizeof res->entry, "%s", entry);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof res->reason, fmt, ap);
	va_end(ap);
	if (actionp)
		*actionp = action;
}

/* A new cut (not a rebuild of one published before) must be a site, and
 * newer than the cut served, and the site after its overlay must stay
 * within the caps (R7, R11). served is the cut being served (NULL: the
 * placeholder). False with res filled when it may not be published. */
static bool admit(struct ingest *in, struct sink_ctx *sc, const struct snap *served,
		  const struct cut *cut, bool incremental, struct stage_result *res,
		  const char **action)
{
	const struct ingest_settings *cfg = in->cfg;
	if (incremental && !served) {
		refuse_admit(res, RC_REFUSED, "", "send a full package (index.html at its root) "
			     "first; this one is kept in quarantine and the placeholder stays",
			     action, "%s", cfg->kind == KIND_INCREMENTAL ?
			     "an incremental package (kind = incremental) and no full cut is served "
			     "to lay it over" :
			     "no index.html at the package root, so it is incremental, and no full "
			     "cut is served to lay it over");
		return false;
	}
	int order;
	if (served && cut_order(cut, snap_cut(served), &order) && order < 0) {
		const struct cut *now = snap_cut(served);
		refuse_admit(res, RC_REFUSED, "", "nothing to do if the institute sent an old cut "
			     "again; to serve older content on purpose, roll back (POST "
			     "/rollback/SEQ or prepd rollback SEQ)", action,
			     "cut %s (%s) is older than the cut served (%s, %s, seq %llu): cuts "
			     "only move forward", cut->label, cut->time, now->label, now->time,
			     (unsigned long long)now->seq);
		return false;
	}
	if (!incremental) {
		if (cfg->require_base && !sc->has_root_index) {
			refuse_admit(res, RC_REFUSED, "index.html", "the institute must send the "
				     "whole site; the package is kept in quarantine", action,
				     "a full cut without index.html at its root is not a site");
			return false;
		}
		if (cfg->require_base && !sc->has_base) {
			refuse_admit(res, RC_REFUSED, "index.html", "the institute's health check "
				     "(R11) fails without the tag: ask the institute for a whole site; "
				     "require_base = no accepts it", action,
				     "has no <base href> in its head: not the single-page site");
			return false;
		}
		for (size_t i = 0; i < sc->req_n; i++) {
			if (!sc->req_seen[i]) {
				refuse_admit(res, RC_REFUSED, sc->req[i], "ask the institute for a "
					     "whole site, or change required_paths", action,
					     "missing: required_paths says every full cut has it");
				return false;
			}
		}
	}
	struct snap_check_error ce;
	enum rc rc = snap_builder_check(sc->b, cfg->limits->max_entries,
					cfg->limits->max_total_bytes, &ce);
	if (rc == RC_NOMEM) {
		res->rc = rc;
		return false;
	}
	if (rc) {
		refuse_admit(res, rc, ce.path, rc == RC_LIMIT ?
			     "the site would outgrow the caps: raise [limits] max_entries or "
			     "max_total_bytes if the institute's site is really this big, or ask "
			     "for a full package" :
			     "the package does not fit the site served: ask the institute for a "
			     "full package", action, "%s", ce.reason);
		return false;
	}
	return true;
}

/* pipeline_build() and pipeline_build_new(): with admit_it, the checks of
 * a new cut (admit()) run once the package is read. */
static struct snap *build(struct ingest *in, const char *file, struct scan_tar *tar,
			  const struct snap *base, enum ingest_kind kind, struct cut *cut,
			  bool *incremental, struct stage_result *res, struct snap_stats *st,
			  bool admit_it, const char **action)
{
	struct sink_ctx sc = { .cfg = in->cfg, .b = snap_builder_new(base, false, in->cfg->policy) };
	struct unpack_error ue;
	memset(&ue, 0, sizeof ue);
	res->entry[0] = res->reason[0] = '\0';
	if (!sc.b || (admit_it && sink_required(&sc))) {
		snap_builder_free(sc.b);
		if (tar)
			scan_tar_release(tar);
		res->rc = RC_NOMEM;
		return NULL;
	}
	struct unpack_stats us;
	uint64_t t0 = now_ns();
	/* A .tar.gz verify inflated and checked is read from that tar: the
	 * package is inflated once (ingest/scan.h). */
	enum rc rc = tar && tar->p ?
		     unpack_tar(tar, in->cfg->limits, in->cfg->legacy_codepage, sink_add, &sc, &us,
				&ue) :
		     unpack_file(file, in->cfg->limits, in->cfg->legacy_codepage, sink_add, &sc,
				 &us, &ue);
	if (!rc && us.legacy_names)
		log_info("ingest legacy-names file=%s codepage=%s count=%llu example=\"%s\" "
			 "was=\"%s\" action=\"none: zip names without the UTF-8 flag were decoded "
			 "from legacy_codepage and are served under their UTF-8 names\"", file,
			 in->cfg->legacy_codepage ? in->cfg->legacy_codepage
						  : UNPACK_LEGACY_CODEPAGE_DEFAULT,
			 (unsigned long long)us.legacy_names, us.legacy_example, us.legacy_raw);
	if (rc) {
		snap_builder_free(sc.b);
		free(sc.req_buf);
		res->rc = rc;
		snprintf(res->entry, sizeof res->entry, "%s", ue.entry);
		snprintf(res->reason, sizeof res->reason, "%s", ue.reason);
		return NULL;
	}
	uint64_t unpack_ns = now_ns() - t0;
	pause_at(in, "build");
	*incremental = kind == KIND_INCREMENTAL ||
		       (kind == KIND_AUTO && !sc.has_root_index && (base || admit_it));
	/* The institute's own cut time beats the one in the file name (R8). */
	if (sc.has_time)
		cut_set_time(cut, sc.time);
	snap_builder_set_overlay(sc.b, *incremental);
	if (admit_it && !admit(in, &sc, base, cut, *incremental, res, action)) {
		snap_builder_free(sc.b);
		free(sc.req_buf);
		return NULL;
	}
	free(sc.req_buf);
	struct snap *s = snap_builder_finish(sc.b, cut, st, &res->rc);
	if (st)
		st->unpack_ns = unpack_ns;
	return s;
}

struct snap *pipeline_build(struct ingest *in, const char *file,
			    const struct snap *base, enum ingest_kind kind,
			    struct cut *cut, bool *incremental,
			    struct stage_result *res, struct snap_stats *st)
{
	return build(in, file, NULL, base, kind, cut, incremental, res, st, false, NULL);
}

struct snap *pipeline_build_new(struct ingest *in, const char *file,
				struct cut *cut, bool *incremental,
				struct stage_result *res, struct snap_stats *st,
				const char **action)
{
	return build(in, file, NULL, in->published, in->cfg->kind, cut, incremental, res, st,
		     true, action);
}

/* ---- publishing and journaling ---- */

void pipeline_swap(struct ingest *in, struct snap *s, const char *sha)
{
	snap_release(in->published);
	in->published = s;
	snap_retain(s);   /* one for us, one for the current pointer */
	snap_publish(s);
	snprintf(in->published_sha, sizeof in->published_sha, "%s", sha);
	status_set_cut(in, snap_cut(s));
	/* Its image, for a fast restart, once its variants are made. */
	variant_enqueue_image(s, in->cfg->data_dir, snap_cut(s)->seq, sha);
}

/* Appends rec to the journal and counts it; logs a failure. */
static enum rc journal(struct ingest *in, const struct journal_rec *rec)
{
	char err[512];
	enum rc rc = journal_append(in->store, rec, err, sizeof err);
	if (rc)
		log_error("ingest journal-failed seq=%llu error=\"%s\" action=\"free disk space or "
			  "fix the data folder; the package is kept but its journal line is missing\"",
			  (unsigned long long)rec->seq, err);
	status_count_package(in);
	return rc;
}

void pipeline_refuse(struct ingest *in, struct journal_rec *rec,
		     const struct stage_result *res)
{
	char moved[sizeof rec->file] = "", kerr[256];
	if (store_requarantine(in->store, rec->file, moved, sizeof moved, kerr, sizeof kerr) == RC_OK)
		snprintf(rec->file, sizeof rec->file, "%s", moved);
	snprintf(rec->verdict, sizeof rec->verdict, "refused");
	stage_result_why(res, rec->reason, sizeof rec->reason);
	journal(in, rec);
}

struct snap *pipeline_publish(struct ingest *in, struct journal_rec *rec,
			      struct snap *s, const struct cut *cut,
			      bool incremental, bool *durable)
{
	/* The journal line first, durably, and only then the swap: a cut
	 * that is served is always one the history can rebuild and the
	 * subscribers can be told of. */
	rec->published = time(NULL);
	snprintf(rec->verdict, sizeof rec->verdict, "published");
	snprintf(rec->kind, sizeof rec->kind, "%s", incremental ? "incremental" : "full");
	snprintf(rec->cut, sizeof rec->cut, "%s", cut->label);
	snprintf(rec->cut_time, sizeof rec->cut_time, "%s", cut->time);
	rec->reason[0] = '\0';
	char err[512];
	enum rc rc = journal_append(in->store, rec, err, sizeof err);
	status_count_package(in);
	*durable = rc == RC_OK;
	if (rc) {
		log_error("ingest publish-failed seq=%llu cut=%s file=%s error=\"%s\" action=\"the "
			  "journal line could not be written, so the cut was NOT published and the "
			  "current cut is still served; the package is kept (%s) and its seq is not "
			  "reused; free disk space or fix the data folder, then drop the package again "
			  "(the next start journals it as interrupted)\"", (unsigned long long)rec->seq,
			  cut->label, rec->file[0] ? rec->file : "-", err, rec->file[0] ? rec->file : "-");
		snap_release(s);
		return NULL;
	}
	struct snap *before = snap_acquire();
	pipeline_swap(in, s, rec->sha256);
	return before;
}

void pipeline_announce(struct ingest *in, const struct journal_rec *rec,
		       struct snap *before, bool durable, enum event_kind kind,
		       uint64_t took_ns, const uint64_t *stage_ns)
{
	if (!durable) {
		/* No journal line, no event: a subscriber may act on the event
		 * (purge a CDN) as on a fact of the history. */
		snap_release(before);
		return;
	}
	struct event *ev = event_new();
	enum rc rc = ev ? snap_diff(before, in->published, &ev->paths) : RC_NOMEM;
	snap_release(before);
	if (rc) {
		log_error("ingest event-failed seq=%llu error=%s action=\"subscribers (CDN purge, "
			  "statistics) miss this cut; the cut itself is published and journaled\"",
			  (unsigned long long)rec->seq, rc_str(rc));
		event_release(ev);
		return;
	}
	ev->seq = rec->seq;
	ev->cut = *snap_cut(in->published);
	ev->kind = kind;
	snprintf(ev->source, sizeof ev->source, "%s", rec->source);
	ev->received = rec->received;
	ev->published = rec->published;
	ev->took_ns = took_ns;
	if (stage_ns) {
		ev->staged = true;
		memcpy(ev->stage_ns, stage_ns, sizeof ev->stage_ns);
	}
	event_emit(ev);
}

/* ---- the stages ---- */

static void quarantine(struct ingest *in, struct package *p, struct stage_result *res);

static bool stage_receive(struct ingest *in, struct package *p, struct stage_result *res)
{
	const struct job *j = p->job;
	struct stat sb;
	/* A claimed arrival is ours, in DATA/incoming: never a link. */
	int r = j->claimed ? lstat(j->path, &sb) : stat(j->path, &sb);
	if (r != 0 || (j->claimed && !S_ISREG(sb.st_mode))) {
		int e = r ? errno : EINVAL;
		log_error("ingest receive-failed file=%s error=\"%s\"", j->path,
			  r ? strerror(e) : "not a regular file");
		res->verdict = VERDICT_NOT_RECEIVED;
		res->rc = RC_IO;
		res->step = "receive";
		snprintf(res->reason, sizeof res->reason, "%s", r ? strerror(e) : "not a regular file");
		return false;
	}
	p->rec.size = (uint64_t)sb.st_size;
	if (j->refuse) {
		/* Refused for what it is called, not for its bytes: hash them
		 * for the journal line, keep them in quarantine. */
		unsigned char sha[SHA256_BYTES] = { 0 };
		char none[1];
		verify_package(in->verifier, j->path, j->name, NULL, 0, sha, none, 0);
		hex_encode(sha, SHA256_BYTES, p->rec.sha256);
		res->verdict = VERDICT_QUARANTINED;
		res->rc = RC_REFUSED;
		res->step = "receive";
		snprintf(res->reason, sizeof res->reason, "%s", j->refuse);
		quarantine(in, p, res);
		return false;
	}
	return true;
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

/* A package that failed verification (or was refused at receive): kept
 * in quarantine with its evidence and journaled, unless it is the very
 * bytes a poller downloaded and had refused last time. A claimed arrival
 * is always a new package: it is kept even when its bytes were refused
 * before. The seq is taken only once it is kept; if it cannot be kept
 * (disk full) it is not journaled and waits (VERDICT_NOT_KEPT). */
static void quarantine(struct ingest *in, struct package *p, struct stage_result *res)
{
	const struct ingest_settings *cfg = in->cfg;
	const char *why = res->reason;
	unsigned char evsha[SHA256_BYTES];
	char bad[sizeof in->last_bad], evhex[65];
	sha256(p->evidence, p->evlen, evsha);
	hex_encode(evsha, SHA256_BYTES, evhex);
	snprintf(bad, sizeof bad, "%s:%s", p->rec.sha256, evhex);
	if (!p->job->claimed && !strcmp(bad, in->last_bad)) {
		log_info("ingest same-refused-package file=%s sha256=%.16s reason=\"%s\" "
			 "action=\"already in quarantine; waiting for a package or %s that verifies\"",
			 p->job->path, p->rec.sha256, why,
			 verify_suffix(cfg->verify) ? verify_suffix(cfg->verify) : "evidence");
		res->verdict = VERDICT_SAME_REFUSED;
		return;
	}
	uint64_t seq = in->next_seq;
	char kept[sizeof p->rec.file] = "", kerr[512] = "";
	enum rc krc = store_keep(in->store, seq, p->job->name, p->job->path, true, kept,
				 sizeof kept, kerr, sizeof kerr);
	if (krc) {
		if (p->job->claimed)
			spool_keep_failed(in, p->job->path, kerr);
		else
			log_error("ingest keep-failed file=%s error=\"%s\" action=\"refused (%s) and "
				  "NOT archived; free disk space, then send it again\"", p->job->path, kerr,
				  why);
		char was[200];
		snprintf(was, sizeof was, "%.199s", why);
		res->verdict = VERDICT_NOT_KEPT;
		res->rc = krc;
		snprintf(res->reason, sizeof res->reason, "refused (%s), and could not be kept in "
			 "quarantine: %.200s", was, kerr);
		return;
	}
	spool_keep_ok(in);
	snprintf(in->last_bad, sizeof in->last_bad, "%s", bad);
	in->next_seq++;
	p->rec.seq = seq;
	res->seq = seq;
	if (p->keep_evidence) {
		char evname[EVIDENCE_NAME_BYTES], evkept[PATH_BUF_LONG_BYTES];
		snprintf(evname, sizeof evname, "%s%s", p->job->name, verify_suffix(cfg->verify));
		if (store_keep(in->store, seq, evname, p->evpath, true, evkept, sizeof evkept, kerr,
			       sizeof kerr))
			log_warn("ingest keep-evidence-failed seq=%llu file=%s error=\"%s\" action=\"the "
				 "evidence is left where it is; move it beside %s by hand\"",
				 (unsigned long long)seq, p->evpath, kerr, kept);
	}
	snprintf(p->rec.verdict, sizeof p->rec.verdict, "quarantined");
	if (res->entry[0])   /* a gzip or tar check: "ENTRY: REASON" */
		stage_result_why(res, p->rec.reason, sizeof p->rec.reason);
	else
		snprintf(p->rec.reason, sizeof p->rec.reason, "%.299s", why);
	snprintf(p->rec.file, sizeof p->rec.file, "%s", kept);
	snprintf(res->kept, sizeof res->kept, "%s", p->rec.file);
	journal(in, &p->rec);
	/* entry= only when an entry is at fault (a gzip or tar check) */
	log_error("ingest refuse file=%s seq=%llu step=%s%s%s%s reason=\"%s\" kept=%s "
		  "action=\"the package was not published; it is kept in quarantine for "
		  "inspection and the current cut is still served\"",
		  p->job->path, (unsigned long long)p->rec.seq, res->step ? res->step : "verify",
		  res->entry[0] ? " entry=\"" : "", res->entry, res->entry[0] ? "\"" : "", why, kept);
}

/* Verify before anything parses the package. */
static bool stage_verify(struct ingest *in, struct package *p, struct stage_result *res)
{
	const struct ingest_settings *cfg = in->cfg;
	const struct job *j = p->job;
	char *err = res->reason;
	size_t errsz = sizeof res->reason;
	enum rc rc = RC_OK;
	unsigned char sha[SHA256_BYTES] = { 0 };
	if (p->rec.size > cfg->max_package_bytes) {
		rc = RC_LIMIT;
		snprintf(err, errsz, "the package is %llu bytes, more than max_package_bytes (%llu)",
			 (unsigned long long)p->rec.size, (unsigned long long)cfg->max_package_bytes);
	} else if (cfg->verify != VERIFY_NONE) {
		snprintf(p->evpath, sizeof p->evpath, "%s%s", j->path, verify_suffix(cfg->verify));
		rc = read_evidence(p->evpath, p->evidence, sizeof p->evidence, &p->evlen);
		if (rc == RC_NOTFOUND)
			snprintf(err, errsz, "no %s beside the package (%.400s)",
				 verify_suffix(cfg->verify), p->evpath);
		else if (rc)
			snprintf(err, errsz, "cannot read %.400s", p->evpath);
	}
	p->t_verify = now_ns();
	/* The gzip and tar inside are checked as the package is hashed, in
	 * the same read (ingest/scan.h): a package refused for them is never
	 * kept in the history, so no replay or resume can publish it. */
	struct scan_stream *scan = NULL;
	struct scan_error se;
	bool scanned = false;   /* se holds the scan's verdict */
	bool confirm = false;   /* ISA-L refused the deflate data */
	/* A pull hashed and checked the package as it downloaded (its file
	 * is ours, written from those very bytes: same length, same hash). */
	const struct prescan_result *pre = prescan_usable(j->pre, p->rec.size) ?
					   prescan_result(j->pre) : NULL;
	if (pre) {
		memcpy(sha, pre->sha, SHA256_BYTES);
		if (!rc) {
			rc = verify_hashed(in->verifier, j->name, p->evidence, p->evlen, sha, err,
					   errsz);
			if (rc == RC_INVALID && !err[0]) {
				/* cms, ed25519: the signature is checked over the
				 * file's bytes; the scan is the prescan's if the
				 * file is what was seen (else it is read again) */
				unsigned char fsha[SHA256_BYTES];
				rc = verify_package(in->verifier, j->path, j->name, p->evidence,
						    p->evlen, fsha, err, errsz);
				if (memcmp(fsha, pre->sha, SHA256_BYTES)) {
					rc = RC_OK;
					err[0] = '\0';
					pre = NULL;
				}
			}
			if (pre && !rc) {
				scanned = true;
				se = pre->se;
				rc = pre->scan_rc;
				confirm = rc && pre->confirm;
				if (!rc)
					prescan_take_tar(j->pre, &p->tar);
			}
		}
	}
	if (!pre) {
		if (!rc && !(scan = scan_stream_new_flags(cfg->limits, SCAN_KEEP_TAR)))
			rc = RC_NOMEM;
		if (!rc)
			rc = verify_package_observed(in->verifier, j->path, j->name, p->evidence,
						     p->evlen, scan_stream_observe, scan, sha, err,
						     errsz);
		else   /* for the SHA-256 alone: the journal line names the bytes */
			verify_package(in->verifier, j->path, j->name, NULL, 0, sha,
				       err + strlen(err), 0);
		scanned = !rc;
		if (scanned && (rc = scan_stream_finish(scan, &se)))
			confirm = scan_stream_confirm(scan);
		else if (scanned)
			scan_stream_take_tar(scan, &p->tar);
	}
	if (confirm) {
		/* ISA-L refused the deflate data: zlib, the reference, reads
		 * the same bytes again and its verdict and reason stand (as
		 * before ISA-L). If zlib accepts them, unpack reads the
		 * package as before too: libarchive inflating with zlib. */
		scan_stream_free(scan);
		scan = scan_stream_new_flags(cfg->limits, SCAN_REFERENCE);
		rc = scan ? verify_package_observed(in->verifier, j->path, j->name, p->evidence,
						    p->evlen, scan_stream_observe, scan, sha, err,
						    errsz) : RC_NOMEM;
		scanned = !rc;
		if (scanned)
			rc = scan_stream_finish(scan, &se);
	}
	if (rc && scanned) {
		snprintf(res->entry, sizeof res->entry, "%s", se.entry);
		snprintf(err, errsz, "%s", se.reason);
	}
	scan_stream_free(scan);
	hex_encode(sha, SHA256_BYTES, p->rec.sha256);
	if (j->startup && !rc && in->published && !strcmp(in->published_sha, p->rec.sha256)) {
		/* A restart with the same --package: the history has it. */
		log_info("ingest startup-package-current file=%s sha256=%.16s", j->path, p->rec.sha256);
		res->verdict = VERDICT_CURRENT;
		res->step = "verify";
		return false;
	}
	p->keep_evidence = cfg->verify != VERIFY_NONE && p->evlen > 0;
	if (rc) {
		res->verdict = VERDICT_QUARANTINED;
		res->rc = rc;
		res->step = "verify";
		quarantine(in, p, res);
		return false;
	}
	return true;
}

/* Keep it before it is unpacked: the history is the source of truth. The
 * seq is taken only once the package is kept. */
static bool stage_keep(struct ingest *in, struct package *p, struct stage_result *res)
{
	const struct ingest_settings *cfg = in->cfg;
	const struct job *j = p->job;
	pause_at(in, "store");
	p->t_store = now_ns();
	char kept[sizeof p->rec.file] = "", kerr[512] = "";
	uint64_t seq = in->next_seq;
	enum rc rc = store_keep(in->store, seq, j->name, j->path, false, kept, sizeof kept,
				kerr, sizeof kerr);
	if (rc) {
		if (j->claimed)   /* it waits in DATA/incoming: logged once a stretch */
			spool_keep_failed(in, j->path, kerr);
		else
			log_error("ingest keep-failed file=%s seq=%llu error=\"%s\" action=\"the package "
				  "was NOT archived and NOT published; free disk space, then send it "
				  "again; the current cut is still served\"", j->path,
				  (unsigned long long)seq, kerr);
		res->verdict = VERDICT_NOT_KEPT;
		res->rc = rc;
		res->step = "keep";
		snprintf(res->reason, sizeof res->reason, "%s", kerr);
		return false;
	}
	spool_keep_ok(in);
	in->next_seq++;
	p->rec.seq = res->seq = seq;
	if (p->keep_evidence) {
		/* Never removed where it is unless it is kept: a claimed sidecar
		 * that cannot be kept stays in DATA/incoming. */
		char evname[EVIDENCE_NAME_BYTES], evkept[PATH_BUF_LONG_BYTES];
		snprintf(evname, sizeof evname, "%s%s", j->name, verify_suffix(cfg->verify));
		if (store_keep(in->store, seq, evname, p->evpath, false, evkept, sizeof evkept, kerr,
			       sizeof kerr))
			log_warn("ingest keep-evidence-failed seq=%llu file=%s error=\"%s\" action=\"the "
				 "evidence is left where it is; move it beside %s by hand\"",
				 (unsigned long long)seq, p->evpath, kerr, kept);
	}
	snprintf(p->rec.file, sizeof p->rec.file, "%s", kept);
	snprintf(res->kept, sizeof res->kept, "%s", kept);
	status_disk_check(in);
	return true;
}

/* The same bytes as the cut served: journaled, not rebuilt. */
static bool stage_changed(struct ingest *in, struct package *p, struct stage_result *res)
{
	if (!in->published || strcmp(in->published_sha, p->rec.sha256))
		return true;
	snprintf(p->rec.verdict, sizeof p->rec.verdict, "unchanged");
	journal(in, &p->rec);
	log_info("ingest unchanged seq=%llu file=%s sha256=%.16s", (unsigned long long)p->rec.seq,
		 p->job->name, p->rec.sha256);
	res->verdict = VERDICT_UNCHANGED;
	res->step = "keep";
	return false;
}

static bool stage_unpack(struct ingest *in, struct package *p, struct stage_result *res)
{
	pause_at(in, "unpack");
	p->t_unpack = now_ns();
	char full[PATH_BUF_LONG_BYTES];
	snprintf(full, sizeof full, "%s/%s", in->cfg->data_dir, p->rec.file);
	p->cut = (struct cut){ .seq = p->rec.seq };
	cut_from_name(p->job->name, &p->cut);
	const char *action = NULL;
	res->step = NULL;
	p->built = build(in, full, &p->tar, in->published, in->cfg->kind, &p->cut, &p->incremental,
			 res, &p->st, true, &action);
	if (p->built)
		return true;
	if (!res->step)
		res->step = "unpack";
	pipeline_refuse(in, &p->rec, res);
	snprintf(res->kept, sizeof res->kept, "%s", p->rec.file);
	log_error("ingest refuse file=%s seq=%llu step=%s entry=\"%s\" reason=\"%s\" error=%s "
		  "kept=%s action=\"the package was not published; it is kept in quarantine for "
		  "inspection and the current cut is still served%s%s\"",
		  p->job->path, (unsigned long long)p->rec.seq, res->step, res->entry, res->reason,
		  rc_str(res->rc), p->rec.file, action ? "; " : "", action ? action : "");
	res->verdict = VERDICT_REFUSED;
	return false;
}

/* How a cut about to be published stands to the one served, for the
 * publish line: "first" (over the placeholder), "newer", "same" (the
 * same cut time: the institute re-sent its cut with other bytes),
 * "unordered" (a cut time is unknown: arrival order). admit() has
 * refused older ones. */
static const char *cut_order_word(const struct snap *served, const struct cut *next)
{
	int order;
	if (!served)
		return "first";
	if (!cut_order(next, snap_cut(served), &order))
		return "unordered";
	return order > 0 ? "newer" : order == 0 ? "same" : "older";
}

static void stage_publish(struct ingest *in, struct package *p, struct stage_result *res)
{
	pause_at(in, "publish");
	const char *order = cut_order_word(in->published, &p->cut);
	uint64_t t_swap = now_ns();
	bool durable;
	struct snap *before = pipeline_publish(in, &p->rec, p->built, &p->cut, p->incremental,
					       &durable);
	if (!durable) {   /* logged by pipeline_publish(); nothing swapped */
		res->verdict = VERDICT_NOT_KEPT;
		res->rc = RC_IO;
		res->step = "publish";
		snprintf(res->reason, sizeof res->reason, "the journal line could not be written; "
			 "the cut was not published");
		return;
	}
	uint64_t t_end = now_ns();
	const struct snap_stats *st = &p->st;
	/* Stage times, for the benchmark and for an operator wondering where a
	 * slow cut spent its time; the unpack stage includes hashing and
	 * gzipping new entries, build the responses. */
	log_info("ingest publish seq=%llu cut=%s time=%s order=%s kind=%s file=%s files=%zu "
		 "built=%zu reused=%zu bytes=%llu package_bytes=%llu kept=%zu kept_cuts=%zu "
		 "kept_bytes=%llu kept_pruned=%zu verify_ms=%.1f store_ms=%.1f "
		 "unpack_ms=%.1f build_ms=%.1f swap_ms=%.1f ms=%.1f gz_pending=%zu",
		 (unsigned long long)p->rec.seq,
		 p->cut.label, p->cut.time[0] ? p->cut.time : "unknown", order,
		 p->rec.kind, p->job->name, st->files, st->built, st->reused,
		 (unsigned long long)st->bytes, (unsigned long long)p->rec.size,
		 st->kept_files, st->kept_cuts, (unsigned long long)st->kept_bytes, st->kept_pruned,
		 (double)(p->t_store - p->t_verify) / 1e6, (double)(p->t_unpack - p->t_store) / 1e6,
		 (double)(st->unpack_ns) / 1e6,
		 (double)(t_swap - p->t_unpack - st->unpack_ns) / 1e6,
		 (double)(t_end - t_swap) / 1e6, (double)(t_end - p->t0) / 1e6, st->gz_pending);
	res->verdict = VERDICT_PUBLISHED;
	res->rc = RC_OK;
	res->step = "publish";
	res->cut = *snap_cut(in->published);
	uint64_t stage_ns[EVENT_STAGES] = {
		[EVENT_STAGE_VERIFY] = p->t_store - p->t_verify,
		[EVENT_STAGE_STORE] = p->t_unpack - p->t_store,
		[EVENT_STAGE_UNPACK] = st->unpack_ns,
		[EVENT_STAGE_BUILD] = t_swap - p->t_unpack - st->unpack_ns,
		[EVENT_STAGE_SWAP] = t_end - t_swap,
	};
	pipeline_announce(in, &p->rec, before, durable,
			  p->incremental ? EVENT_INCREMENTAL : EVENT_FULL, t_end - p->t0, stage_ns);
}

void pipeline_run(struct ingest *in, const struct job *j, struct stage_result *res)
{
	struct package p;   /* ~70 KiB, most of it the evidence buffer */
	memset(res, 0, sizeof *res);
	memset(&p.rec, 0, sizeof p.rec);
	p.job = j;
	p.evlen = 0;
	p.evpath[0] = '\0';
	p.keep_evidence = false;
	p.built = NULL;
	p.incremental = false;
	memset(&p.tar, 0, sizeof p.tar);
	memset(&p.st, 0, sizeof p.st);
	p.t0 = now_ns();
	p.rec.received = time(NULL);
	snprintf(p.rec.source, sizeof p.rec.source, "%s", j->source);
	if (stage_receive(in, &p, res) && stage_verify(in, &p, res) && stage_keep(in, &p, res) &&
	    stage_changed(in, &p, res) && stage_unpack(in, &p, res))
		stage_publish(in, &p, res);
	scan_tar_release(&p.tar);   /* when a stage stopped it before unpack */
	status_record(in, res);
	/* Not "not kept" (disk full): it is retried until it is, and is a
	 * refusal only if it never is (then the periods fail, an incident). */
	if (res->verdict == VERDICT_QUARANTINED || res->verdict == VERDICT_REFUSED ||
	    res->verdict == VERDICT_NOT_RECEIVED)
		incident_refused(j->name, j->source, res->seq, res->step, res->reason);
}
