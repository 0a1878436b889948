/* Rebuilding published cuts from the history: at start-up (the cut served
 * before the restart), for a rollback (an earlier cut, as a new one), and
 * for a package a crash caught between keep and journal (resume). */
#include "ingest/ingest_int.h"

#include "ingest/verify.h"
#include "server/dir.h"
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
		struct snap *s = replay_chain(in, &rp, i, &c);
		if (s) {
			/* The cut served before the restart: not a new
			 * publication, so no journal line and no event. */
			pipeline_swap(in, s, rp.v[i].sha256);
			status_set_published(in, rp.v[i].published);
			log_info("ingest replay seq=%llu cut=%s ms=%llu", (unsigned long long)rp.v[i].seq,
				 rp.v[i].cut, (unsigned long long)((now_ns() - t0) / 1000000u));
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
	uint64_t took = now_ns() - t0;
	log_info("ingest rollback seq=%llu to=%llu cut=%s", (unsigned long long)rec.seq,
		 (unsigned long long)to, rec.cut);
	res->verdict = VERDICT_ROLLED_BACK;
	res->cut = *snap_cut(in->published);
	snprintf(res->kept, sizeof res->kept, "%s", rec.file);
	status_record(in, res);
	pipeline_announce(in, &rec, before, durable, EVENT_ROLLBACK, took);
}

/* ---- resuming packages a crash interrupted ---- */

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

/* A kept package ("SEQ-NAME", not its evidence) newer than the journal's
 * last line; ctx is that line's seq. */
static bool resumable(int dfd, const char *name, void *ctx)
{
	(void)dfd;
	char *dash;
	uint64_t seq = strtoull(name, &dash, 10);
	return seq > *(const uint64_t *)ctx && *dash == '-' && dash[1] && !any_evidence(name);
}

/* A package kept in history/ with no journal line was being unpacked,
 * built or published when the process died: finish its journey now, so a
 * cut that arrived by spool or upload is not lost. It is a publication
 * like any other, so it emits the publish event. */
void replay_resume(struct ingest *in)
{
	uint64_t max = 0;
	bool torn;
	char err[512];
	if (journal_read(in->cfg->data_dir, max_seq_cb, &max, &torn, err, sizeof err))
		return;
	char dir[PATH_BUF_BYTES];
	snprintf(dir, sizeof dir, "%s/history", in->cfg->data_dir);
	char **names;
	size_t n;
	if (dir_names(AT_FDCWD, dir, resumable, &max, RESUME_MAX, &names, &n, NULL))
		return;
	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		struct journal_rec rec;
		memset(&rec, 0, sizeof rec);
		char full[PATH_BUF_LONG_BYTES];
		snprintf(full, sizeof full, "%s/%s", dir, names[i]);
		char *dash;
		rec.seq = strtoull(names[i], &dash, 10);
		const char *name = dash + 1;
		struct stat sb;
		rec.received = stat(full, &sb) == 0 ? sb.st_mtime : time(NULL);
		snprintf(rec.source, sizeof rec.source, "resume");
		snprintf(rec.file, sizeof rec.file, "history/%.400s", names[i]);
		if (file_sha256(full, rec.sha256, &rec.size))
			continue;
		struct cut cut = { .seq = rec.seq };
		cut_from_name(name, &cut);
		bool incremental = false;
		struct stage_result res;
		struct snap_stats st;
		const char *action = NULL;
		struct snap *s = pipeline_build_new(in, full, &cut, &incremental, &res, &st, &action);
		if (!s) {
			pipeline_refuse(in, &rec, &res);
			log_error("ingest resume-refused seq=%llu file=%s reason=\"%s\" action=\"kept in "
				  "quarantine; the cut served before the restart is still served%s%s\"",
				  (unsigned long long)rec.seq, names[i], rec.reason, action ? "; " : "",
				  action ? action : "");
		} else {
			bool durable;
			struct snap *before = pipeline_publish(in, &rec, s, &cut, incremental, &durable);
			uint64_t took = now_ns() - t0;
			log_info("ingest resume seq=%llu cut=%s reason=\"kept before a crash, never "
				 "published; published now\"", (unsigned long long)rec.seq, cut.label);
			pipeline_announce(in, &rec, before, durable,
					  incremental ? EVENT_INCREMENTAL : EVENT_FULL, took);
		}
	}
	dir_names_free(names, n);
}
