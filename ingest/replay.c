/* Rebuilding published cuts from the history: at start-up (the cut served
 * before the restart), for a rollback (an earlier cut, as a new one), and
 * for a package a crash caught between keep and journal (resume). */
#include "ingest/ingest_int.h"

#include "ingest/verify.h"
#include "server/dir.h"
#include "server/image.h"
#include "server/log.h"
#include "server/util.h"

#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static enum rc read_published(struct ingest *in, struct replay *rp, char *err, size_t errsz)
{
	bool torn = false;
	enum rc rc = journal_read(in->cfg->data_dir, collect_published, rp, &torn, err, errsz);
	if (torn)
		log_warn("ingest journal-torn reason=\"the last line was cut off by a crash; ignored\"");
	return rc;
}

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

static struct cut record_cut(const struct journal_rec *r)
{
	struct cut c = { .seq = r->seq };
	snprintf(c.label, sizeof c.label, "%s", r->cut);
	cut_set_time(&c, r->cut_time);   /* an offset, or (older journals) none */
	return c;
}

/* Rebuilds what record last served, naming it cut (its own identity, or a
 * rollback's new one). */
static struct snap *replay_chain(struct ingest *in, const struct replay *rp, size_t last,
				 const struct cut *cut)
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
		char full[PATH_BUF_LONG_BYTES];
		snprintf(full, sizeof full, "%s/%s", in->cfg->data_dir, r->file);
		struct cut c = record_cut(r);
		if (k == n - 1)
			c = *cut;
		bool incremental = false;
		struct stage_result res;
		struct snap_stats st;
		enum ingest_kind kind = strcmp(r->kind, "incremental") ? KIND_FULL : KIND_INCREMENTAL;
		struct snap *s = pipeline_build(in, full, cur, kind, &c, &incremental, &res, &st);
		snap_release(cur);
		if (!s) {
			log_error("ingest replay-failed seq=%llu file=%s entry=\"%s\" reason=\"%s\" error=%s",
				  (unsigned long long)r->seq, r->file, res.entry, res.reason,
				  rc_str(res.rc));
			free(chain);
			return NULL;
		}
		cur = s;
	}
	free(chain);
	return cur;
}

/* The cut of record r from its image (server/image.h), or NULL: missing
 * (logged at info) or bad (logged, removed), and then the caller rebuilds
 * it from the package. */
static struct snap *replay_image(struct ingest *in, const struct journal_rec *r,
				 const struct cut *cut)
{
	enum rc rc;
	char why[400], path[PATH_BUF_LONG_BYTES];
	struct snap *s = image_load(in->cfg->data_dir, r->seq, r->sha256, cut, in->cfg->policy,
				    &rc, why, sizeof why);
	if (s)
		return s;
	image_path(in->cfg->data_dir, r->seq, path, sizeof path);
	if (rc == RC_NOTFOUND) {
		log_info("ingest image-missing seq=%llu file=%s action=\"rebuilding the cut from the "
			 "package in the history; its image is written again after\"",
			 (unsigned long long)r->seq, path);
		return NULL;
	}
	log_warn("ingest image-bad seq=%llu file=%s error=%s reason=\"%s\" action=\"removed; "
		 "rebuilding the cut from the package in the history, and its image is written "
		 "again after\"", (unsigned long long)r->seq, path, rc_str(rc), why);
	unlink(path);
	return NULL;
}

void replay_history(struct ingest *in)
{
	struct replay rp = { 0 };
	char err[512] = "";
	if (read_published(in, &rp, err, sizeof err))
		log_error("ingest journal-unreadable error=\"%s\" action=\"the history is kept as it is; "
			  "fix or move the bad line, then restart\"", err);
	for (size_t i = rp.n; i-- > 0;) {
		uint64_t t0 = now_ns();
		struct cut c = record_cut(&rp.v[i]);
		const char *from = "image";
		struct snap *s = replay_image(in, &rp.v[i], &c);
		if (!s) {
			from = "package";
			s = replay_chain(in, &rp, i, &c);
		}
		if (s) {
			/* The cut served before the restart: not a new
			 * publication, so no journal line and no event. */
			pipeline_swap(in, s, rp.v[i].sha256);
			status_set_published(in, rp.v[i].published);
			log_info("ingest replay seq=%llu cut=%s ms=%llu from=%s",
				 (unsigned long long)rp.v[i].seq, rp.v[i].cut,
				 (unsigned long long)((now_ns() - t0) / 1000000u), from);
			break;
		}
		log_warn("ingest replay-skip seq=%llu action=\"trying the cut published before it\"",
			 (unsigned long long)rp.v[i].seq);
	}
	free(rp.v);
}

void replay_rollback(struct ingest *in, uint64_t to, struct stage_result *res)
{
	uint64_t t0 = now_ns();
	memset(res, 0, sizeof *res);
	res->step = "rollback";
	struct replay rp = { 0 };
	char err[512] = "";
	size_t at = 0;
	enum rc rc = read_published(in, &rp, err, sizeof err);
	if (rc || !find_seq(&rp, rp.n, to, &at)) {
		/* An unreadable journal says why; a readable one (empty or
		 * not) simply has no such publication. */
		snprintf(res->reason, sizeof res->reason, "%s",
			 rc ? err : "no published package has that sequence number");
		log_error("ingest rollback-refused seq=%llu reason=\"%s\" action=\"give a seq that prepd "
			  "history lists as published\"", (unsigned long long)to, res->reason);
		res->verdict = VERDICT_NO_SUCH_SEQ;
		res->rc = rc ? rc : RC_NOTFOUND;
		status_record(in, res);
		free(rp.v);
		return;
	}
	struct journal_rec rec = rp.v[at];
	rec.seq = in->next_seq;   /* taken once the cut is rebuilt */
	rec.received = time(NULL);
	snprintf(rec.source, sizeof rec.source, "rollback:%llu", (unsigned long long)to);
	struct cut c = record_cut(&rec);
	struct snap *s = replay_chain(in, &rp, at, &c);
	free(rp.v);
	if (s && in->published) {
		/* Skew protection: the cut rolled back from and the ones it
		 * kept stay servable for a while (snap_rebuild_after()). */
		struct snap_stats st;
		enum rc krc;
		struct snap *k = snap_rebuild_after(s, in->published, &st, &krc);
		if (k) {
			snap_release(s);
			s = k;
			log_info("ingest rollback-kept cut=%s kept=%zu kept_cuts=%zu kept_bytes=%llu",
				 c.label, st.kept_files, st.kept_cuts,
				 (unsigned long long)st.kept_bytes);
		} else {
			log_warn("ingest rollback-kept-failed cut=%s error=%s action=\"none: the "
				 "rollback is published without the earlier cuts' bundles; pages "
				 "open on them reload\"", c.label, rc_str(krc));
		}
	}
	if (!s) {
		res->verdict = VERDICT_NOT_REBUILT;
		res->rc = RC_FORMAT;
		snprintf(res->reason, sizeof res->reason,
			 "the package could not be rebuilt; see the log");
		status_record(in, res);
		return;
	}
	in->next_seq++;
	res->seq = rec.seq;
	bool durable;
	struct snap *before = pipeline_publish(in, &rec, s, &c, !strcmp(rec.kind, "incremental"),
					       &durable);
	if (!durable) {   /* logged; nothing swapped, the seq is not reused */
		res->verdict = VERDICT_NOT_REBUILT;
		res->rc = RC_IO;
		snprintf(res->reason, sizeof res->reason, "the journal line could not be written; "
			 "the rollback was not published");
		status_record(in, res);
		return;
	}
	uint64_t took = now_ns() - t0;
	log_info("ingest rollback seq=%llu to=%llu cut=%s", (unsigned long long)rec.seq,
		 (unsigned long long)to, rec.cut);
	res->verdict = VERDICT_ROLLED_BACK;
	res->cut = *snap_cut(in->published);
	snprintf(res->kept, sizeof res->kept, "%s", rec.file);
	status_record(in, res);
	pipeline_announce(in, &rec, before, durable, EVENT_ROLLBACK, took, NULL);
}

/* ---- reconciling the history with the journal ---- */

/* The seqs that have a journal line, sorted, and the highest. */
struct seqs {
	uint64_t *v;
	size_t n, cap;
	uint64_t max;
};

static int collect_seq(void *ctx, const struct journal_rec *r)
{
	struct seqs *s = ctx;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		uint64_t *v = realloc(s->v, cap * sizeof *v);
		if (!v)
			return RC_NOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = r->seq;
	if (r->seq > s->max)
		s->max = r->seq;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static bool journaled(const struct seqs *s, uint64_t seq)
{
	return s->n && bsearch(&seq, s->v, s->n, sizeof *s->v, cmp_u64);
}

static enum rc file_sha256(const char *path, char hex[65], uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
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

/* A kept package ("SEQ-NAME", not its evidence, a regular file) whose
 * seq has no journal line; ctx is the journaled seqs. */
static bool orphan(int dfd, const char *name, void *ctx)
{
	char *dash;
	if (name[0] < '0' || name[0] > '9')
		return false;
	uint64_t seq = strtoull(name, &dash, 10);
	struct stat sb;
	return *dash == '-' && dash[1] && !any_evidence(name) && !journaled(ctx, seq) &&
	       fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode);
}

struct orphan_file {
	uint64_t seq;
	bool quarantined;
	const char *name;   /* borrowed from the dir_names() arrays */
};

static int cmp_orphan(const void *a, const void *b)
{
	const struct orphan_file *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Journals a file the journal did not know, without publishing it. */
static void reconcile_line(struct ingest *in, struct journal_rec *rec, const char *verdict,
			   const char *reason)
{
	snprintf(rec->verdict, sizeof rec->verdict, "%s", verdict);
	snprintf(rec->reason, sizeof rec->reason, "%s", reason);
	char err[512];
	if (journal_append(in->store, rec, err, sizeof err))
		log_error("ingest journal-failed seq=%llu error=\"%s\" action=\"free disk space or fix "
			  "the data folder; %s stays without its journal line until the next start\"",
			  (unsigned long long)rec->seq, err, rec->file);
	else
		log_warn("ingest reconciled seq=%llu file=%s verdict=%s reason=\"%s\" action=\"none: "
			 "journaled now; see prepd history\"", (unsigned long long)rec->seq, rec->file,
			 verdict, reason);
}

/* Publishes (or refuses) a package a crash caught between keep and
 * journal; it is a publication like any other, so it emits the event. */
static void resume_one(struct ingest *in, struct journal_rec *rec, const char *full,
		       const char *name)
{
	uint64_t t0 = now_ns();
	struct cut cut = { .seq = rec->seq };
	cut_from_name(name, &cut);
	bool incremental = false;
	struct stage_result res;
	struct snap_stats st;
	const char *action = NULL;
	struct snap *s = pipeline_build_new(in, full, &cut, &incremental, &res, &st, &action);
	if (!s) {
		pipeline_refuse(in, rec, &res);
		log_error("ingest resume-refused seq=%llu file=%s reason=\"%s\" action=\"kept in "
			  "quarantine; the cut served before the restart is still served%s%s\"",
			  (unsigned long long)rec->seq, name, rec->reason, action ? "; " : "",
			  action ? action : "");
		return;
	}
	bool durable;
	struct snap *before = pipeline_publish(in, rec, s, &cut, incremental, &durable);
	if (!durable)
		return;   /* logged; still without a line: the next start tries again */
	uint64_t took = now_ns() - t0;
	log_info("ingest resume seq=%llu cut=%s reason=\"kept before a crash, never "
		 "published; published now\"", (unsigned long long)rec->seq, cut.label);
	pipeline_announce(in, rec, before, durable,
			  incremental ? EVENT_INCREMENTAL : EVENT_FULL, took, NULL);
}

/* Every package kept in history/ or quarantine/ gets its journal line:
 *  - in history/, newer than every journal line: it was being unpacked,
 *    built or published when the process died; its journey is finished
 *    now (published or refused), so a cut that arrived is not lost;
 *  - in history/, older than some journal line: its publication could not
 *    be journaled (a full disk) and later packages were; it is journaled
 *    "interrupted", never published over the newer cut;
 *  - in quarantine/: refused, and the process died (or the disk filled)
 *    before the line was written; journaled "quarantined".
 * In seq order. */
void replay_resume(struct ingest *in)
{
	struct seqs js = { 0 };
	bool torn;
	char err[512];
	enum rc rc = journal_read(in->cfg->data_dir, collect_seq, &js, &torn, err, sizeof err);
	if (rc) {
		log_error("ingest reconcile-skipped error=\"%s\" action=\"the journal cannot be read; "
			  "packages kept without a journal line are left as they are\"",
			  rc == RC_NOMEM ? "out of memory" : err);
		free(js.v);
		return;
	}
	if (js.n)   /* qsort(NULL, 0, ...) is UB: glibc declares base nonnull */
		qsort(js.v, js.n, sizeof *js.v, cmp_u64);
	static const char *const folders[2] = { "history", "quarantine" };
	char **names[2] = { NULL, NULL };
	size_t n[2] = { 0, 0 };
	for (int f = 0; f < 2; f++) {
		char dir[PATH_BUF_BYTES];
		snprintf(dir, sizeof dir, "%s/%s", in->cfg->data_dir, folders[f]);
		bool more = false;
		if (dir_names(AT_FDCWD, dir, orphan, &js, RESUME_MAX, &names[f], &n[f], &more))
			n[f] = 0;
		if (more)
			log_warn("ingest reconcile-more folder=%s max=%u action=\"more packages without a "
				 "journal line than one start takes; the rest are taken at the next "
				 "start\"", folders[f], RESUME_MAX);
	}
	size_t total = n[0] + n[1];
	struct orphan_file *v = total ? calloc(total, sizeof *v) : NULL;
	size_t k = 0;
	for (int f = 0; f < 2 && (v || !total); f++)
		for (size_t i = 0; i < n[f]; i++)
			v[k++] = (struct orphan_file){ strtoull(names[f][i], NULL, 10), f == 1,
						       names[f][i] };
	if (v)
		qsort(v, k, sizeof *v, cmp_orphan);
	for (size_t i = 0; i < k; i++) {
		struct journal_rec rec;
		memset(&rec, 0, sizeof rec);
		rec.seq = v[i].seq;
		const char *folder = folders[v[i].quarantined];
		char full[PATH_BUF_LONG_BYTES];
		snprintf(full, sizeof full, "%s/%s/%s", in->cfg->data_dir, folder, v[i].name);
		struct stat sb;
		rec.received = stat(full, &sb) == 0 ? sb.st_mtime : time(NULL);
		snprintf(rec.source, sizeof rec.source, "resume");
		snprintf(rec.file, sizeof rec.file, "%s/%.400s", folder, v[i].name);
		if (file_sha256(full, rec.sha256, &rec.size))
			continue;
		if (v[i].quarantined)
			reconcile_line(in, &rec, "quarantined", "refused before a crash or a full disk "
				       "kept its journal line from being written; see the log of that run");
		else if (rec.seq < js.max)
			reconcile_line(in, &rec, "interrupted", "kept, but its journal line could not be "
				       "written (a crash or a full disk) and later packages were journaled; "
				       "not published now, so no older cut replaces a newer one; send it "
				       "again to publish it");
		else
			resume_one(in, &rec, full, strchr(v[i].name, '-') + 1);
	}
	free(v);
	for (int f = 0; f < 2; f++)
		dir_names_free(names[f], n[f]);
	free(js.v);
}
