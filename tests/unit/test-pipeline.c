/* The ingest pipeline driven directly, without its thread: verdicts and
 * their reasons, journal lines, the cut served, sequence numbers (taken
 * only when used), rollback, resume, start-up replay, and the publish
 * event each publication emits once its journal line is durable. */
#include "check.h"
#include "ingest/ingest_int.h"
#include "ingest/prescan.h"
#include "server/config.h"
#include "server/entry.h"
#include "server/snap_int.h"

#include <errno.h>
#include <fcntl.h>
#include <zlib.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define PKG_2215 "20240602_2215_PREP_PRES_NAL.tar.gz"
#define PKG_2230 "20240602_2230_PREP_PRES_NAL.zip"
#define PKG_2245 "20240602_2245_PREP_PRES_NAL.zip"

static const char *pkgdir;
static char root[64];

/* ---- what the subscriber saw ---- */

#define MAX_SEEN 16

struct seen {
	uint64_t seq;
	enum event_kind kind;
	char label[64];
	char source[256];
	size_t added, changed, removed;
	bool index_changed;      /* "index.html" is in paths.changed */
	bool journaled;          /* its journal line was there when it came */
	bool sorted;
	time_t received, published;
};

static struct {
	pthread_mutex_t lock;
	struct seen v[MAX_SEEN];
	size_t n;
	const char *dirs[4];     /* data folders whose journals to look in */
} rec = { .lock = PTHREAD_MUTEX_INITIALIZER };

struct find {
	const struct event *ev;
	bool found;
};

static int find_line(void *ctx, const struct journal_rec *r)
{
	struct find *f = ctx;
	if (r->seq == f->ev->seq && !strcmp(r->verdict, "published") &&
	    !strcmp(r->source, f->ev->source) && !strcmp(r->cut, f->ev->cut.label))
		f->found = true;
	return 0;
}

static bool in_list(char **v, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], path))
			return true;
	return false;
}

static bool is_sorted(char **v, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (strcmp(v[i - 1], v[i]) >= 0)
			return false;
	return true;
}

static void on_publish(const struct event *ev, void *ctx)
{
	(void)ctx;
	struct seen s = { .seq = ev->seq, .kind = ev->kind, .added = ev->paths.n_added,
			  .changed = ev->paths.n_changed, .removed = ev->paths.n_removed,
			  .received = ev->received, .published = ev->published };
	snprintf(s.label, sizeof s.label, "%s", ev->cut.label);
	snprintf(s.source, sizeof s.source, "%s", ev->source);
	s.index_changed = in_list(ev->paths.changed, ev->paths.n_changed, "index.html");
	s.sorted = is_sorted(ev->paths.added, ev->paths.n_added) &&
		   is_sorted(ev->paths.changed, ev->paths.n_changed) &&
		   is_sorted(ev->paths.removed, ev->paths.n_removed);
	struct find f = { ev, false };
	for (size_t i = 0; i < sizeof rec.dirs / sizeof rec.dirs[0] && rec.dirs[i]; i++) {
		char err[256];
		journal_read(rec.dirs[i], find_line, &f, NULL, err, sizeof err);
	}
	s.journaled = f.found;
	pthread_mutex_lock(&rec.lock);
	if (rec.n < MAX_SEEN)
		rec.v[rec.n++] = s;
	pthread_mutex_unlock(&rec.lock);
}

/* ---- helpers ---- */

static void path_of(char *out, size_t outsz, const char *dir, const char *name)
{
	if (snprintf(out, outsz, "%s/%s", dir, name) >= (int)outsz) {
		fprintf(stderr, "path too long: %s/%s\n", dir, name);
		exit(2);
	}
}

static bool exists(const char *dir, const char *name)
{
	char p[PATH_BUF_LONG_BYTES];
	path_of(p, sizeof p, dir, name);
	struct stat sb;
	return stat(p, &sb) == 0;
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
		fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
		exit(2);
	}
	close(fd);
}

static void copy_file(const char *from, const char *to)
{
	FILE *f = fopen(from, "rb");
	if (!f) {
		fprintf(stderr, "cannot read %s\n", from);
		exit(2);
	}
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	write_file(to, buf, n);
}

static void mk(const char *dir)
{
	if (mkdir(dir, 0755) && errno != EEXIST) {
		fprintf(stderr, "mkdir %s: %s\n", dir, strerror(errno));
		exit(2);
	}
}

/* Runs the package at dir/name (name also its package name). */
static void run(struct ingest *in, const char *dir, const char *name, const char *source,
		struct stage_result *res)
{
	struct job j;
	memset(&j, 0, sizeof j);
	path_of(j.path, sizeof j.path, dir, name);
	snprintf(j.name, sizeof j.name, "%s", name);
	snprintf(j.source, sizeof j.source, "%s", source);
	pipeline_run(in, &j, res);
}

/* The last journal line of data_dir. */
struct last {
	struct journal_rec r;
	size_t n;
};

static int keep_last(void *ctx, const struct journal_rec *r)
{
	struct last *l = ctx;
	l->r = *r;
	l->n++;
	return 0;
}

static struct last journal_last(const char *data_dir)
{
	struct last l;
	memset(&l, 0, sizeof l);
	char err[256];
	if (journal_read(data_dir, keep_last, &l, NULL, err, sizeof err))
		fprintf(stderr, "journal_read %s: %s\n", data_dir, err);
	return l;
}

static struct cut served(void)
{
	struct snap *s = snap_acquire();
	struct cut c = { 0 };
	if (s)
		c = *snap_cut(s);
	snap_release(s);
	return c;
}

static struct unpack_limits limits = {
	.max_entries = PKG_MAX_ENTRIES_DEFAULT,
	.max_total_bytes = PKG_MAX_TOTAL_BYTES_DEFAULT,
	.max_file_bytes = PKG_MAX_FILE_BYTES_DEFAULT,
	.max_path_bytes = PKG_MAX_PATH_BYTES_DEFAULT,
};

/* The built-in response policy, as prepd runs with no config file. */
static struct config cfg;

static struct ingest_settings settings_for(const char *data_dir, enum verify_mode mode)
{
	struct ingest_settings s;
	memset(&s, 0, sizeof s);
	s.data_dir = data_dir;
	s.verify = mode;
	s.kind = KIND_AUTO;
	s.max_package_bytes = PKG_MAX_PACKAGE_BYTES_DEFAULT;
	s.evidence_wait_s = SPOOL_EVIDENCE_WAIT_DEFAULT;
	s.limits = &limits;
	s.policy = &cfg.response.policy;
	return s;
}

/* ---- the cases ---- */

static struct ingest a = INGEST_INIT, b = INGEST_INIT, c = INGEST_INIT,
		     d = INGEST_INIT, e = INGEST_INIT;
static char dir_a[128], dir_b[128], dir_c[128], dir_d[128], in_b[128];

/* Publish, refuse, unchanged, receive and keep failures, rollback. */
static void plain_night(void)
{
	char err[512];
	static struct ingest_settings set;
	set = settings_for(dir_a, VERIFY_NONE);
	CHECK(pipeline_open(&a, &set, err, sizeof err) == RC_OK, "open a: %s", err);
	CHECK(a.next_seq == 1, "an empty store starts at seq 1: %llu", (unsigned long long)a.next_seq);
	struct stage_result res;

	run(&a, pkgdir, PKG_2215, "test:a", &res);
	CHECK(res.verdict == VERDICT_PUBLISHED && res.rc == RC_OK, "a good package publishes: verdict=%d rc=%d",
	      res.verdict, res.rc);
	CHECK(res.seq == 1 && res.cut.seq == 1 && !strcmp(res.cut.label, "20240602_2215"),
	      "the result names seq 1 and its cut: seq=%llu label=%s", (unsigned long long)res.seq,
	      res.cut.label);
	CHECK(!strcmp(res.kept, "history/000001-" PKG_2215), "kept in the history: %s", res.kept);
	struct cut now = served();
	CHECK(now.seq == 1 && !strcmp(now.label, "20240602_2215"), "the cut is current: %s", now.label);
	struct last l = journal_last(dir_a);
	CHECK(l.n == 1 && l.r.seq == 1 && !strcmp(l.r.verdict, "published") &&
	      !strcmp(l.r.kind, "full") && !strcmp(l.r.source, "test:a") &&
	      !strcmp(l.r.cut, "20240602_2215"), "journal line: n=%zu verdict=%s kind=%s", l.n,
	      l.r.verdict, l.r.kind);
	CHECK(exists(pkgdir, PKG_2215), "a package outside tmp/ is copied, not moved");

	run(&a, pkgdir, "h-symlink.tar.gz", "test:a", &res);
	CHECK(res.verdict == VERDICT_REFUSED && !strcmp(res.step, "unpack"),
	      "a hostile package is refused at unpack: verdict=%d step=%s", res.verdict, res.step);
	CHECK(!strcmp(res.entry, "evil") && strstr(res.reason, "symbolic link") && res.rc == RC_REFUSED,
	      "the refusal names the entry and why: entry=%s reason=%s", res.entry, res.reason);
	CHECK(res.seq == 2 && !strcmp(res.kept, "quarantine/000002-h-symlink.tar.gz"),
	      "kept in quarantine: seq=%llu kept=%s", (unsigned long long)res.seq, res.kept);
	CHECK(exists(dir_a, "quarantine/000002-h-symlink.tar.gz") &&
	      !exists(dir_a, "history/000002-h-symlink.tar.gz"), "moved from history to quarantine");
	now = served();
	CHECK(now.seq == 1, "the previous cut stays current: seq=%llu", (unsigned long long)now.seq);
	l = journal_last(dir_a);
	CHECK(l.r.seq == 2 && !strcmp(l.r.verdict, "refused") &&
	      !strcmp(l.r.reason, "evil: entry is a symbolic link"), "refusal journaled: %s %s",
	      l.r.verdict, l.r.reason);
	struct ingest_status st;
	status_get(&a, &st);
	CHECK(!strcmp(st.last_result, "refused: evil: entry is a symbolic link") &&
	      st.failed_in_a_row == 1, "status: %s (%u)", st.last_result, st.failed_in_a_row);

	run(&a, pkgdir, PKG_2215, "test:a", &res);
	CHECK(res.verdict == VERDICT_UNCHANGED && res.seq == 3, "the same package twice is unchanged: verdict=%d seq=%llu",
	      res.verdict, (unsigned long long)res.seq);
	l = journal_last(dir_a);
	CHECK(l.r.seq == 3 && !strcmp(l.r.verdict, "unchanged"), "unchanged journaled: %s", l.r.verdict);
	CHECK(served().seq == 1, "unchanged does not publish");

	run(&a, pkgdir, "no-such-package.zip", "test:a", &res);
	CHECK(res.verdict == VERDICT_NOT_RECEIVED && res.seq == 0 && !strcmp(res.step, "receive"),
	      "a missing file is not received: verdict=%d seq=%llu", res.verdict, (unsigned long long)res.seq);
	CHECK(a.next_seq == 4, "a missing file takes no seq: next=%llu", (unsigned long long)a.next_seq);

	/* A kept name already taken makes store_keep() fail, as a full disk
	 * or a read-only folder would. */
	char blocker[PATH_BUF_LONG_BYTES];
	path_of(blocker, sizeof blocker, dir_a, "history/000004-" PKG_2245);
	write_file(blocker, "x", 1);
	run(&a, pkgdir, PKG_2245, "test:a", &res);
	CHECK(res.verdict == VERDICT_NOT_KEPT && !strcmp(res.step, "keep") && res.seq == 0 &&
	      strstr(res.reason, "exists"), "a failed keep: verdict=%d reason=%s", res.verdict, res.reason);
	CHECK(a.next_seq == 4, "a failed keep takes no seq: next=%llu", (unsigned long long)a.next_seq);
	CHECK(journal_last(dir_a).n == 3, "a failed keep writes no journal line");
	CHECK(served().seq == 1, "a failed keep does not publish");
	unlink(blocker);

	run(&a, pkgdir, PKG_2245, "test:a", &res);
	CHECK(res.verdict == VERDICT_PUBLISHED && res.seq == 4 && res.cut.seq == 4,
	      "the next package takes the next seq, no gap: verdict=%d seq=%llu", res.verdict,
	      (unsigned long long)res.seq);

	replay_rollback(&a, 99, &res);
	CHECK(res.verdict == VERDICT_NO_SUCH_SEQ && res.seq == 0 &&
	      !strcmp(res.reason, "no published package has that sequence number"),
	      "a rollback to an unknown seq is refused: %s", res.reason);
	CHECK(a.next_seq == 5, "a refused rollback takes no seq");

	replay_rollback(&a, 1, &res);
	CHECK(res.verdict == VERDICT_ROLLED_BACK && res.seq == 5 && res.cut.seq == 5 &&
	      !strcmp(res.cut.label, "20240602_2215"), "rollback to 1 publishes cut 5: verdict=%d seq=%llu label=%s",
	      res.verdict, (unsigned long long)res.seq, res.cut.label);
	l = journal_last(dir_a);
	CHECK(l.r.seq == 5 && !strcmp(l.r.source, "rollback:1") && !strcmp(l.r.verdict, "published"),
	      "rollback journaled: %s", l.r.source);
	status_get(&a, &st);
	CHECK(!strcmp(st.last_result, "rolled back") && st.failed_in_a_row == 0, "status: %s", st.last_result);

	/* --package at a restart, the package already served. */
	struct job j;
	memset(&j, 0, sizeof j);
	path_of(j.path, sizeof j.path, pkgdir, PKG_2215);
	snprintf(j.name, sizeof j.name, PKG_2215);
	snprintf(j.source, sizeof j.source, "package:x");
	j.startup = true;
	pipeline_run(&a, &j, &res);
	CHECK(res.verdict == VERDICT_CURRENT && res.seq == 0, "the start-up package already served is skipped: %d",
	      res.verdict);
	CHECK(journal_last(dir_a).n == 5 && a.next_seq == 6, "and leaves no journal line, takes no seq");
	pipeline_close(&a);
}

/* Verification: a wrong sidecar is quarantined at verify, the same bytes
 * again are not kept twice, and a fixed sidecar publishes. */
static void verified(void)
{
	char err[512];
	static struct ingest_settings set;
	set = settings_for(dir_b, VERIFY_SHA256);
	CHECK(pipeline_open(&b, &set, err, sizeof err) == RC_OK, "open b: %s", err);
	char pkg[PATH_BUF_LONG_BYTES], side[PATH_BUF_LONG_BYTES];
	path_of(pkg, sizeof pkg, in_b, "P.zip");
	path_of(side, sizeof side, in_b, "P.zip.sha256");
	char src[PATH_BUF_LONG_BYTES];
	path_of(src, sizeof src, pkgdir, PKG_2245);
	copy_file(src, pkg);
	const char *zeros = "0000000000000000000000000000000000000000000000000000000000000000  P.zip\n";
	write_file(side, zeros, strlen(zeros));
	struct cut before = served();

	struct stage_result res;
	run(&b, in_b, "P.zip", "test:b", &res);
	CHECK(res.verdict == VERDICT_QUARANTINED && !strcmp(res.step, "verify") && res.rc == RC_VERIFY,
	      "a sha256 mismatch is refused at verify: verdict=%d step=%s rc=%d", res.verdict, res.step, res.rc);
	CHECK(strstr(res.reason, "SHA-256 mismatch") != NULL, "the reason says so: %s", res.reason);
	CHECK(res.seq == 1 && !strcmp(res.kept, "quarantine/000001-P.zip") &&
	      exists(dir_b, "quarantine/000001-P.zip") && exists(dir_b, "quarantine/000001-P.zip.sha256"),
	      "the package and its sidecar are in quarantine: kept=%s", res.kept);
	struct last l = journal_last(dir_b);
	CHECK(l.r.seq == 1 && !strcmp(l.r.verdict, "quarantined") && strstr(l.r.reason, "SHA-256 mismatch"),
	      "quarantine journaled: %s %s", l.r.verdict, l.r.reason);
	CHECK(served().seq == before.seq, "the cut served stays");

	run(&b, in_b, "P.zip", "test:b", &res);
	CHECK(res.verdict == VERDICT_SAME_REFUSED && res.seq == 0,
	      "the same refused bytes again: verdict=%d seq=%llu", res.verdict, (unsigned long long)res.seq);
	CHECK(b.next_seq == 2 && journal_last(dir_b).n == 1, "take no seq and no journal line");
	struct ingest_status st;
	status_get(&b, &st);
	CHECK(st.failed_in_a_row == 2 && !strncmp(st.last_result, "quarantined: ", 13),
	      "but count as a failed attempt: %s (%u)", st.last_result, st.failed_in_a_row);

	char line[256];
	snprintf(line, sizeof line, "%s  P.zip\n", "x");   /* replaced below */
	/* The right hash, from the bytes themselves. */
	unsigned char sha[SHA256_BYTES];
	{
		FILE *f = fopen(pkg, "rb");
		static char buf[1 << 20];
		size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
		if (f)
			fclose(f);
		sha256(buf, n, sha);
	}
	char hex[65];
	hex_encode(sha, SHA256_BYTES, hex);
	snprintf(line, sizeof line, "%s  P.zip\n", hex);
	write_file(side, line, strlen(line));
	run(&b, in_b, "P.zip", "test:b", &res);
	CHECK(res.verdict == VERDICT_PUBLISHED && res.seq == 2 && !strcmp(res.cut.label, "P"),
	      "a fixed sidecar publishes, seq 2 with no gap: verdict=%d seq=%llu reason=%s", res.verdict,
	      (unsigned long long)res.seq, res.reason);
	CHECK(exists(dir_b, "history/000002-P.zip.sha256"), "the evidence is kept beside the package");
	pipeline_close(&b);
}

/* An empty journal: a rollback says there is no such publication (it once
 * logged an uninitialised buffer here). */
static void empty_rollback(void)
{
	char err[512];
	static struct ingest_settings set;
	set = settings_for(dir_c, VERIFY_NONE);
	CHECK(pipeline_open(&c, &set, err, sizeof err) == RC_OK, "open c: %s", err);
	struct stage_result res;
	memset(res.reason, 'X', sizeof res.reason);
	replay_rollback(&c, 1, &res);
	CHECK(res.verdict == VERDICT_NO_SUCH_SEQ &&
	      !strcmp(res.reason, "no published package has that sequence number"),
	      "empty journal: %.80s", res.reason);
	pipeline_close(&c);
}

/* A package kept before a crash, with no journal line, is published at
 * start-up (and announced); the start-up replay of what was published is
 * not a publication (no event). */
static void resume_and_replay(void)
{
	char err[512];
	char hist[256], dst[PATH_BUF_LONG_BYTES], src[PATH_BUF_LONG_BYTES];
	path_of(hist, sizeof hist, dir_d, "history");
	mk(hist);
	path_of(dst, sizeof dst, hist, "000001-" PKG_2245);
	path_of(src, sizeof src, pkgdir, PKG_2245);
	copy_file(src, dst);
	static struct ingest_settings set_d, set_e;
	set_d = settings_for(dir_d, VERIFY_NONE);
	CHECK(pipeline_open(&d, &set_d, err, sizeof err) == RC_OK, "open d: %s", err);
	CHECK(d.next_seq == 2, "a kept file counts for the next seq: %llu", (unsigned long long)d.next_seq);
	replay_history(&d);
	CHECK(d.published == NULL, "nothing to replay yet");
	replay_resume(&d);
	struct last l = journal_last(dir_d);
	CHECK(l.n == 1 && l.r.seq == 1 && !strcmp(l.r.source, "resume") && !strcmp(l.r.verdict, "published"),
	      "the interrupted package is published: %s %s", l.r.source, l.r.verdict);
	CHECK(served().seq == 1 && !strcmp(served().label, "20240602_2245"), "and served");
	pipeline_close(&d);

	/* A restart on dir_a: the rollback cut is rebuilt, quietly. */
	set_e = settings_for(dir_a, VERIFY_NONE);
	CHECK(pipeline_open(&e, &set_e, err, sizeof err) == RC_OK, "open e: %s", err);
	CHECK(e.next_seq == 6, "the next seq after a restart: %llu", (unsigned long long)e.next_seq);
	replay_history(&e);
	struct cut now = served();
	CHECK(now.seq == 5 && !strcmp(now.label, "20240602_2215"), "the replay serves the last cut: seq=%llu",
	      (unsigned long long)now.seq);
	CHECK(journal_last(dir_a).n == 5, "the replay writes no journal line");
	pipeline_close(&e);
}

static void events(void)
{
	event_stop();   /* delivers everything queued, joins */
	pthread_mutex_lock(&rec.lock);
	CHECK(rec.n == 5, "one event per publication (a: 1, 4, rollback 5; b: 2; d: resume 1): %zu", rec.n);
	static const struct {
		uint64_t seq;
		enum event_kind kind;
		const char *source, *label;
	} want[] = {
		{ 1, EVENT_FULL, "test:a", "20240602_2215" },
		{ 4, EVENT_FULL, "test:a", "20240602_2245" },
		{ 5, EVENT_ROLLBACK, "rollback:1", "20240602_2215" },
		{ 2, EVENT_FULL, "test:b", "P" },
		{ 1, EVENT_FULL, "resume", "20240602_2245" },
	};
	for (size_t i = 0; i < rec.n && i < sizeof want / sizeof want[0]; i++) {
		const struct seen *s = &rec.v[i];
		CHECK(s->seq == want[i].seq && s->kind == want[i].kind && !strcmp(s->source, want[i].source) &&
		      !strcmp(s->label, want[i].label), "event %zu: seq=%llu kind=%s source=%s label=%s", i,
		      (unsigned long long)s->seq, event_kind_str(s->kind), s->source, s->label);
		CHECK(s->journaled, "event %zu came after its journal line", i);
		CHECK(s->sorted, "event %zu: path lists sorted", i);
		CHECK(s->received && s->published >= s->received, "event %zu: times", i);
	}
	if (rec.n == 5) {
		/* Nothing was served before the first cut (no placeholder here). */
		CHECK(rec.v[0].added == 10 && rec.v[0].changed == 0 && rec.v[0].removed == 0,
		      "first cut: every path added: %zu/%zu/%zu", rec.v[0].added, rec.v[0].changed,
		      rec.v[0].removed);
		/* 22:15 -> 22:45: index.html and the national JSON differ. */
		CHECK(rec.v[1].added == 0 && rec.v[1].changed == 2 && rec.v[1].removed == 0 &&
		      rec.v[1].index_changed, "22:45 changes two paths: %zu/%zu/%zu", rec.v[1].added,
		      rec.v[1].changed, rec.v[1].removed);
		CHECK(rec.v[2].added == 0 && rec.v[2].changed == 2 && rec.v[2].removed == 0 &&
		      rec.v[2].index_changed, "the rollback changes them back: %zu/%zu/%zu", rec.v[2].added,
		      rec.v[2].changed, rec.v[2].removed);
		/* P is the 22:45 package over the rolled-back 22:15 cut. */
		CHECK(rec.v[3].changed == 2 && rec.v[3].added == 0 && rec.v[3].removed == 0,
		      "b's cut against the one served before: %zu/%zu/%zu", rec.v[3].added,
		      rec.v[3].changed, rec.v[3].removed);
		CHECK(rec.v[4].added == 0 && rec.v[4].changed == 0 && rec.v[4].removed == 0,
		      "resume of the bytes already served changes nothing: %zu/%zu/%zu", rec.v[4].added,
		      rec.v[4].changed, rec.v[4].removed);
	}
	pthread_mutex_unlock(&rec.lock);
}

/* A journal line that cannot be written: the cut is not published, the
 * package stays kept, its seq is not reused, and the next start journals
 * it (interrupted: a newer cut was journaled after it) along with every
 * other kept file that has no line (quarantine/, and a crash's history/
 * package, which is published). Runs after events(): nothing subscribes. */
static struct ingest jf1 = INGEST_INIT, jf2 = INGEST_INIT;

struct find_seq {
	uint64_t seq;
	struct journal_rec r;
	int n;
};

static int find_seq_cb(void *ctx, const struct journal_rec *r)
{
	struct find_seq *f = ctx;
	if (r->seq == f->seq) {
		f->r = *r;
		f->n++;
	}
	return 0;
}

static struct find_seq line_of(const char *dir, uint64_t seq)
{
	struct find_seq f = { .seq = seq };
	char err[256];
	journal_read(dir, find_seq_cb, &f, NULL, err, sizeof err);
	return f;
}

static void journal_fails(const char *dir)
{
	char err[512];
	static struct ingest_settings set;
	set = settings_for(dir, VERIFY_NONE);
	CHECK(pipeline_open(&jf1, &set, err, sizeof err) == RC_OK, "open f: %s", err);
	struct stage_result res;
	run(&jf1, pkgdir, PKG_2215, "test:f", &res);
	CHECK(res.verdict == VERDICT_PUBLISHED && res.seq == 1, "first cut: %d", res.verdict);

	/* A claimed arrival (renamed, so keeping it writes no byte), then a
	 * journal that cannot grow (RLIMIT_FSIZE: EFBIG, as a full disk). */
	char src[PATH_BUF_LONG_BYTES], claimed[1024];
	path_of(src, sizeof src, pkgdir, PKG_2245);
	snprintf(claimed, sizeof claimed, "%s/incoming/prepd-00000000000000000001-spool-%s", dir, PKG_2245);
	copy_file(src, claimed);
	char jpath[PATH_BUF_LONG_BYTES];
	path_of(jpath, sizeof jpath, dir, "journal.log");
	struct stat jsb;
	stat(jpath, &jsb);
	struct rlimit old, lim;
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = (rlim_t)jsb.st_size;
	signal(SIGXFSZ, SIG_IGN);
	CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0, "limit the file size");
	struct job j;
	memset(&j, 0, sizeof j);
	snprintf(j.path, sizeof j.path, "%s", claimed);
	snprintf(j.name, sizeof j.name, "%s", PKG_2245);
	snprintf(j.source, sizeof j.source, "spool:%s", PKG_2245);
	j.claimed = j.take = true;
	pipeline_run(&jf1, &j, &res);
	setrlimit(RLIMIT_FSIZE, &old);
	CHECK(res.verdict == VERDICT_NOT_KEPT && !strcmp(res.step, "publish") && res.seq == 2,
	      "a journal that cannot be written stops the publication: verdict=%d step=%s seq=%llu",
	      res.verdict, res.step, (unsigned long long)res.seq);
	CHECK(served().seq == 1 && jf1.published && snap_cut(jf1.published)->seq == 1,
	      "the cut served is still the first: seq=%llu", (unsigned long long)served().seq);
	CHECK(exists(dir, "history/000002-" PKG_2245), "the package stays kept");
	CHECK(journal_last(dir).n == 1, "no journal line for it");
	run(&jf1, pkgdir, PKG_2230, "test:f", &res);
	CHECK(res.verdict == VERDICT_PUBLISHED && res.seq == 3, "the next package takes seq 3, "
	      "2 is not reused: seq=%llu", (unsigned long long)res.seq);
	pipeline_close(&jf1);

	/* Kept files with no line: a refusal the process died before
	 * journaling (quarantine/), and a package a crash caught mid-way. */
	char q[PATH_BUF_LONG_BYTES], h[PATH_BUF_LONG_BYTES];
	path_of(q, sizeof q, dir, "quarantine/000004-bad.zip");
	write_file(q, "not a zip", 9);
	path_of(h, sizeof h, dir, "history/000005-" PKG_2245);
	copy_file(src, h);
	set = settings_for(dir, VERIFY_NONE);
	CHECK(pipeline_open(&jf2, &set, err, sizeof err) == RC_OK, "reopen f: %s", err);
	CHECK(jf2.next_seq == 6, "files without lines count for the next seq: %llu",
	      (unsigned long long)jf2.next_seq);
	replay_history(&jf2);
	replay_resume(&jf2);
	struct find_seq l2 = line_of(dir, 2), l4 = line_of(dir, 4), l5 = line_of(dir, 5);
	CHECK(l2.n == 1 && !strcmp(l2.r.verdict, "interrupted") &&
	      !strcmp(l2.r.file, "history/000002-" PKG_2245) && l2.r.sha256[0],
	      "the unjournaled publication is journaled interrupted: n=%d verdict=%s", l2.n, l2.r.verdict);
	CHECK(l4.n == 1 && !strcmp(l4.r.verdict, "quarantined") &&
	      !strcmp(l4.r.file, "quarantine/000004-bad.zip") && l4.r.size == 9,
	      "a quarantined file without a line is journaled: n=%d verdict=%s", l4.n, l4.r.verdict);
	CHECK(l5.n == 1 && !strcmp(l5.r.verdict, "published"),
	      "a crash's package newer than every line is published: n=%d verdict=%s", l5.n, l5.r.verdict);
	CHECK(served().seq == 5, "and served: %llu", (unsigned long long)served().seq);
	replay_resume(&jf2);
	CHECK(line_of(dir, 2).n == 1 && line_of(dir, 4).n == 1 && line_of(dir, 5).n == 1,
	      "a second start journals nothing twice");
	pipeline_close(&jf2);
}

static void rmtree(const char *dir)
{
	char cmd[256];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}


/* ---- cuts only move forward, and only whole sites replace the site ---- */

#define BASE_HTML "<!doctype html><html><head><base href=\"/\"></head><body></body></html>"

/* Writes a .tar.gz of n files {path, content} at dir/name (POSIX ustar:
 * 512-byte headers, octal fields, checksum over the header with its
 * own field as spaces, two zero blocks at the end). */
static void write_targz(const char *dir, const char *name, const char *const files[][2], size_t n)
{
	char path[PATH_BUF_LONG_BYTES];
	path_of(path, sizeof path, dir, name);
	gzFile gz = gzopen(path, "wb");
	if (!gz) {
		fprintf(stderr, "cannot write %s\n", path);
		exit(2);
	}
	static const char zero[1024];
	for (size_t i = 0; i < n; i++) {
		unsigned char h[512] = { 0 };
		size_t len = strlen(files[i][1]);
		snprintf((char *)h, 100, "%s", files[i][0]);
		snprintf((char *)h + 100, 8, "%07o", 0644);
		snprintf((char *)h + 108, 8, "%07o", 0);
		snprintf((char *)h + 116, 8, "%07o", 0);
		snprintf((char *)h + 124, 12, "%011o", (unsigned)len);
		snprintf((char *)h + 136, 12, "%011o", 1717387200u);
		h[156] = '0';
		memcpy(h + 257, "ustar", 6);
		memcpy(h + 263, "00", 2);
		memset(h + 148, ' ', 8);
		unsigned sum = 0;
		for (size_t k = 0; k < 512; k++)
			sum += h[k];
		snprintf((char *)h + 148, 8, "%06o", sum);
		gzwrite(gz, h, 512);
		gzwrite(gz, files[i][1], (unsigned)len);
		if (len % 512)
			gzwrite(gz, zero, (unsigned)(512 - len % 512));
	}
	gzwrite(gz, zero, 1024);
	gzclose(gz);
}

/* A site of the night at cut hhmm: index.html with its base, a national
 * JSON that changes, and a folder of state JSON. */
static void write_site(const char *dir, const char *name, const char *index, const char *v)
{
	const char *const files[][2] = {
		{ "index.html", index },
		{ "json/nacional.json", v },
		{ "json/estados/01.json", "{\"e\":1}" },
		{ "main.js", "console.log(1)" },
	};
	write_targz(dir, name, files, 4);
}

static struct ingest f = INGEST_INIT, g = INGEST_INIT;
static char dir_f[128], dir_g[128], in_f[128];

static void expect_refused(struct ingest *in, const char *name, const char *entry,
			   const char *reason, uint64_t still_served, const char *what)
{
	struct stage_result res;
	run(in, in_f, name, "test:f", &res);
	CHECK(res.verdict == VERDICT_REFUSED && res.step && !strcmp(res.step, "check"),
	      "%s: refused at check: verdict=%d step=%s (%s)", what, res.verdict,
	      res.step ? res.step : "-", res.reason);
	CHECK(!strcmp(res.entry, entry), "%s: entry '%s', want '%s'", what, res.entry, entry);
	CHECK(strstr(res.reason, reason) != NULL, "%s: reason '%s'", what, res.reason);
	char q[PATH_BUF_LONG_BYTES];
	snprintf(q, sizeof q, "quarantine/%06llu-%s", (unsigned long long)res.seq, name);
	CHECK(!strcmp(res.kept, q) && exists(in->cfg->data_dir, q), "%s: kept in %s (%s)", what,
	      q, res.kept);
	struct last l = journal_last(in->cfg->data_dir);
	CHECK(l.r.seq == res.seq && !strcmp(l.r.verdict, "refused") && strstr(l.r.reason, reason),
	      "%s: journaled: %s %s", what, l.r.verdict, l.r.reason);
	CHECK(served().seq == still_served, "%s: seq %llu still served (now %llu)", what,
	      (unsigned long long)still_served, (unsigned long long)served().seq);
}

static uint64_t expect_published(struct ingest *in, const char *name, const char *what)
{
	struct stage_result res;
	run(in, in_f, name, "test:f", &res);
	CHECK(res.verdict == VERDICT_PUBLISHED, "%s: published: verdict=%d step=%s %s: %s", what,
	      res.verdict, res.step ? res.step : "-", res.entry, res.reason);
	CHECK(served().seq == res.seq, "%s: served", what);
	return res.seq;
}

static void forward(void)
{
	char err[512];
	static struct unpack_limits lim;
	lim = limits;
	lim.max_entries = 12;   /* the site: 4 files + 2 folders, room for 6 more */
	static struct ingest_settings set;
	set = settings_for(dir_f, VERIFY_NONE);
	set.require_base = true;
	set.limits = &lim;
	set.period_s = 60;
	CHECK(pipeline_open(&f, &set, err, sizeof err) == RC_OK, "open f: %s", err);
	/* The snapshot of the cases before stands for the placeholder: f has
	 * published nothing. */
	uint64_t none = served().seq;

	const char *const inc[][2] = { { "json/nacional.json", "{\"v\":0}" } };
	write_targz(in_f, "20240602_2100_INC.tar.gz", inc, 1);
	expect_refused(&f, "20240602_2100_INC.tar.gz", "", "no full cut is served",
		       none, "an incremental package before any full one");

	write_site(in_f, "20240602_2130_NOBASE.tar.gz", "<html><head><title>PREP</title></head>"
		   "<body><!-- <base href=\"/\"> --></body></html>", "{}");
	expect_refused(&f, "20240602_2130_NOBASE.tar.gz", "index.html", "no <base href>", none,
		       "an index.html whose base is in a comment");
	write_site(in_f, "20240602_2131_EMPTY.tar.gz", "", "{}");
	expect_refused(&f, "20240602_2131_EMPTY.tar.gz", "index.html", "no <base href>", none,
		       "an empty index.html");

	set.required_paths = "index.html json/nacional.json json/estados/02.json";
	write_site(in_f, "20240602_2132_REQ.tar.gz", BASE_HTML, "{}");
	expect_refused(&f, "20240602_2132_REQ.tar.gz", "json/estados/02.json", "required_paths", none,
		       "a full cut without a required path");
	set.required_paths = "index.html json/estados/01.json";

	set.kind = KIND_FULL;
	write_targz(in_f, "20240602_2133_FULL.tar.gz", inc, 1);
	expect_refused(&f, "20240602_2133_FULL.tar.gz", "index.html", "without index.html", none,
		       "kind = full without index.html");
	set.kind = KIND_AUTO;

	write_site(in_f, "20240602_2300_PRES.tar.gz", BASE_HTML, "{\"v\":2300}");
	uint64_t s2300 = expect_published(&f, "20240602_2300_PRES.tar.gz", "a whole site at 23:00");
	struct cut now = served();
	CHECK(!strcmp(now.time, "2024-06-02T23:00-06:00") && now.timed,
	      "the cut time carries the zone: %s", now.time);

	write_site(in_f, "20240602_2015_PRES.tar.gz", BASE_HTML, "{\"v\":2015}");
	expect_refused(&f, "20240602_2015_PRES.tar.gz", "", "older than the cut served", s2300,
		       "an older cut");

	/* 23:00 again, other bytes: the institute re-sent its cut. */
	write_site(in_f, "20240602_2300_PRES_B.tar.gz", BASE_HTML, "{\"v\":\"2300b\"}");
	uint64_t again = expect_published(&f, "20240602_2300_PRES_B.tar.gz", "the same cut time");

	/* Incremental overlays: a file where the site has a folder, and a
	 * folder where it has a file. */
	const char *const file_on_dir[][2] = { { "json/estados", "x" } };
	write_targz(in_f, "20240602_2310_A.tar.gz", file_on_dir, 1);
	expect_refused(&f, "20240602_2310_A.tar.gz", "json/estados", "a file where the site has a "
		       "folder", again, "a file over a folder");
	const char *const dir_on_file[][2] = { { "main.js/x.js", "x" } };
	write_targz(in_f, "20240602_2311_B.tar.gz", dir_on_file, 1);
	expect_refused(&f, "20240602_2311_B.tar.gz", "main.js", "a folder where the site has a file",
		       again, "a folder over a file");

	/* Small incrementals, each within the package caps, grow the site
	 * past max_entries (12): 6 entries, then 8, 10, 12, and 14 is refused. */
	uint64_t last = again;
	for (int k = 0; k < 4; k++) {
		char name[64], p1[64];
		snprintf(name, sizeof name, "20240602_232%d_INC.tar.gz", k);
		snprintf(p1, sizeof p1, "extra%d/a.json", k);
		const char *const more[][2] = { { p1, "{}" } };
		write_targz(in_f, name, more, 1);
		if (k < 3) {
			last = expect_published(&f, name, "an incremental within the caps");
		} else {
			expect_refused(&f, name, "", "more than max_entries", last,
				       "the site after the overlay is over the cap");
		}
	}

	/* A fixed name has no cut time: it cannot be ordered, and is taken in
	 * arrival order. */
	write_site(in_f, "PREP_PRES.tar.gz", BASE_HTML, "{\"v\":\"fixed\"}");
	expect_published(&f, "PREP_PRES.tar.gz", "a package with no cut time");
	CHECK(!served().timed, "no cut time is known");

	/* A rollback publishes older content on purpose. */
	struct stage_result res;
	replay_rollback(&f, s2300, &res);
	CHECK(res.verdict == VERDICT_ROLLED_BACK, "a rollback to an older cut: verdict=%d %s",
	      res.verdict, res.reason);

	/* A package kept in history/ by a process that died before its journal
	 * line (crash resume) is checked like any new cut: older, refused. */
	write_site(in_f, "20240602_2000_OLD.tar.gz", BASE_HTML, "{\"v\":2000}");
	char from[PATH_BUF_LONG_BYTES], to[PATH_BUF_LONG_BYTES];
	path_of(from, sizeof from, in_f, "20240602_2000_OLD.tar.gz");
	uint64_t resumed = f.next_seq;
	snprintf(to, sizeof to, "%s/history/%06llu-20240602_2000_OLD.tar.gz", dir_f,
		 (unsigned long long)resumed);
	copy_file(from, to);
	uint64_t served_before = served().seq;
	pipeline_close(&f);

	/* Restart: the replay rebuilds the cut served (not checked again:
	 * it was admitted once), then the resume refuses the older package. */
	static struct ingest_settings set2;
	set2 = set;
	struct ingest f2 = INGEST_INIT;
	CHECK(pipeline_open(&f2, &set2, err, sizeof err) == RC_OK, "reopen f: %s", err);
	replay_history(&f2);
	CHECK(served().seq == served_before, "the replay serves the cut of before: %llu",
	      (unsigned long long)served().seq);
	replay_resume(&f2);
	struct last l = journal_last(dir_f);
	CHECK(l.r.seq == resumed && !strcmp(l.r.verdict, "refused") &&
	      strstr(l.r.reason, "older than the cut served"),
	      "a resumed older package is refused: seq=%llu %s %s", (unsigned long long)l.r.seq,
	      l.r.verdict, l.r.reason);
	CHECK(served().seq == served_before, "and the cut of before is still served");
	pipeline_close(&f2);
}

/* A site published with require_base = no replays after a restart with
 * require_base = yes: what was published once is not judged again. */
static void replay_unchecked(void)
{
	char err[512];
	static struct ingest_settings set;
	set = settings_for(dir_g, VERIFY_NONE);
	set.require_base = false;
	CHECK(pipeline_open(&g, &set, err, sizeof err) == RC_OK, "open g: %s", err);
	write_site(in_f, "20240602_2200_NB.tar.gz", "<p>no base</p>", "{}");
	uint64_t seq = expect_published(&g, "20240602_2200_NB.tar.gz", "require_base = no");
	pipeline_close(&g);
	struct ingest g2 = INGEST_INIT;
	static struct ingest_settings set2;
	set2 = set;
	set2.require_base = true;
	CHECK(pipeline_open(&g2, &set2, err, sizeof err) == RC_OK, "reopen g: %s", err);
	replay_history(&g2);
	CHECK(served().seq == seq, "replayed under require_base = yes: %llu",
	      (unsigned long long)served().seq);
	pipeline_close(&g2);
}

/* R13's clock, driven with made-up times: only a newer cut ends a run of
 * failed periods; "no new package" and refusals do not. */
static void periods(void)
{
	char err[512];
	static struct ingest_settings set;
	char dir[160];
	snprintf(dir, sizeof dir, "%s/h", root);
	mk(dir);
	set = settings_for(dir, VERIFY_NONE);
	set.require_base = true;
	set.period_s = 100;
	struct ingest h = INGEST_INIT;
	CHECK(pipeline_open(&h, &set, err, sizeof err) == RC_OK, "open h: %s", err);
	time_t t0 = time(NULL);
	struct ingest_status st;
	status_tick(&h, t0 + 99);
	status_get(&h, &st);
	CHECK(st.failed_periods == 0 && st.period_s == 100, "within the first period: %u",
	      st.failed_periods);
	status_tick(&h, t0 + 100);
	status_get(&h, &st);
	/* status_get() counts at the real now; the tick's count is in the log. */
	CHECK(h.periods_logged == 1, "one failed period is logged: %u", h.periods_logged);
	status_set_result(&h, true, "no new package", NULL);
	status_tick(&h, t0 + 250);
	CHECK(h.periods_logged == 2, "a 304 is not a success: two periods: %u", h.periods_logged);
	write_site(in_f, "20240602_2100_H.tar.gz", "<p>no base</p>", "{}");
	struct stage_result res;
	run(&h, in_f, "20240602_2100_H.tar.gz", "test:h", &res);
	CHECK(res.verdict == VERDICT_REFUSED, "refused: %d", res.verdict);
	status_tick(&h, t0 + 301);
	CHECK(h.periods_logged == 3, "a refused package is not a success: three: %u", h.periods_logged);
	status_tick(&h, t0 + 999);
	CHECK(h.periods_logged == 3, "nothing logged past three: %u", h.periods_logged);

	write_site(in_f, "20240602_2230_H.tar.gz", BASE_HTML, "{}");
	run(&h, in_f, "20240602_2230_H.tar.gz", "test:h", &res);
	CHECK(res.verdict == VERDICT_PUBLISHED, "a newer cut: %d %s", res.verdict, res.reason);
	status_get(&h, &st);
	CHECK(st.failed_periods == 0 && h.periods_logged == 0 && st.next_cut_due >= t0 + 100 &&
	      st.next_cut_due <= time(NULL) + 100 && st.cut_published >= t0,
	      "recovered: failed=%u due=%lld", st.failed_periods, (long long)st.next_cut_due);

	/* The same cut time again (other bytes) is published but is not newer:
	 * the clock goes on. */
	time_t base = h.clock_base;
	write_site(in_f, "20240602_2230_H2.tar.gz", BASE_HTML, "{\"b\":1}");
	run(&h, in_f, "20240602_2230_H2.tar.gz", "test:h", &res);
	CHECK(res.verdict == VERDICT_PUBLISHED && h.clock_base == base,
	      "an equal cut time does not restart the clock: verdict=%d", res.verdict);
	pipeline_close(&h);
}


/* ---- a .tar.gz inflated once, and hashed as it downloads ---- */

static struct ingest k = INGEST_INIT;

/* The SHA-256 of a file, in hex; the file's bytes in *buf (malloc'ed). */
static size_t file_sha(const char *path, char hex[65], unsigned char **buf)
{
	FILE *fp = fopen(path, "rb");
	static unsigned char tmp[1 << 20];
	size_t n = fp ? fread(tmp, 1, sizeof tmp, fp) : 0;
	if (fp)
		fclose(fp);
	unsigned char sha[SHA256_BYTES];
	sha256(tmp, n, sha);
	hex_encode(sha, SHA256_BYTES, hex);
	*buf = malloc(n ? n : 1);
	memcpy(*buf, tmp, n);
	return n;
}

static void sidecar(const char *dir, const char *name, const char *hex)
{
	char side[PATH_BUF_LONG_BYTES], line[PATH_BUF_LONG_BYTES];
	snprintf(side, sizeof side, "%s/%s.sha256", dir, name);
	snprintf(line, sizeof line, "%s  %s\n", hex, name);
	write_file(side, line, strlen(line));
}

/* Runs dir/name as a pull does, with what pre saw of it. */
static void run_pre(struct ingest *in, const char *dir, const char *name, struct prescan *pre,
		    struct stage_result *res)
{
	struct job j;
	memset(&j, 0, sizeof j);
	path_of(j.path, sizeof j.path, dir, name);
	snprintf(j.name, sizeof j.name, "%s", name);
	snprintf(j.source, sizeof j.source, "pull:test");
	j.pre = pre;
	pipeline_run(in, &j, res);
}

static void inflate_once(const char *dir_k, const char *in_k)
{
	char err[512];
	static struct ingest_settings set;
	set = settings_for(dir_k, VERIFY_SHA256);
	CHECK(pipeline_open(&k, &set, err, sizeof err) == RC_OK, "open k: %s", err);

	/* Deflate data ISA-L and zlib both refuse: the reason is zlib's, as
	 * before ISA-L (the scan asks zlib to confirm). */
	static const unsigned char bad[] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0x07, 1, 2, 3,
					     4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	char path[PATH_BUF_LONG_BYTES], hex[65];
	path_of(path, sizeof path, in_k, "20240602_2000_BAD.tar.gz");
	write_file(path, bad, sizeof bad);
	unsigned char *bytes;
	file_sha(path, hex, &bytes);
	free(bytes);
	sidecar(in_k, "20240602_2000_BAD.tar.gz", hex);
	struct stage_result res;
	run(&k, in_k, "20240602_2000_BAD.tar.gz", "test:k", &res);
	CHECK(res.verdict == VERDICT_QUARANTINED && res.step && !strcmp(res.step, "verify") &&
	      res.rc == RC_FORMAT && strstr(res.reason, "the gzip data is corrupt (zlib: invalid "
					    "block type)"),
	      "bad deflate: verdict=%d step=%s rc=%s reason=%s", res.verdict, res.step ? res.step : "-",
	      rc_str(res.rc), res.reason);
	struct last l = journal_last(dir_k);
	CHECK(!strcmp(l.r.verdict, "quarantined") && strstr(l.r.reason, "zlib: invalid block type"),
	      "bad deflate journaled: %s %s", l.r.verdict, l.r.reason);

	/* A site, hashed and inflated as it "downloaded": a body cut short
	 * first (a redirect, a retry), then the whole file in pieces. */
	write_site(in_k, "20240602_2100_PULL.tar.gz", BASE_HTML, "{\"v\":2100}");
	path_of(path, sizeof path, in_k, "20240602_2100_PULL.tar.gz");
	size_t n = file_sha(path, hex, &bytes);
	sidecar(in_k, "20240602_2100_PULL.tar.gz", hex);
	struct prescan *pre = prescan_new(&limits);
	prescan_begin(pre);
	prescan_observe(pre, bytes, n / 3);
	prescan_begin(pre);
	for (size_t at = 0; at < n; at += 100)
		prescan_observe(pre, bytes + at, n - at < 100 ? n - at : 100);
	prescan_end(pre);
	run_pre(&k, in_k, "20240602_2100_PULL.tar.gz", pre, &res);
	prescan_free(pre);
	l = journal_last(dir_k);
	CHECK(res.verdict == VERDICT_PUBLISHED && !strcmp(l.r.sha256, hex),
	      "prehashed pull: verdict=%d (%s), journal sha %s, file's %s", res.verdict, res.reason,
	      l.r.sha256, hex);
	CHECK(served().seq == res.seq, "prehashed pull served");
	{
		struct snap *sn = snap_acquire();
		const struct slot *sl = sn ? snap_lookup(sn, "json/nacional.json") : NULL;
		const struct entry *en = sl ? sl->e : NULL;
		CHECK(en && en->len == 10 && !memcmp(en->data, "{\"v\":2100}", 10),
		      "the prehashed cut serves the package's bytes");
		snap_release(sn);
	}

	/* Seen bytes of the file's length are what verify takes (it does
	 * not read the file again): a flipped byte in what was seen shows. */
	write_site(in_k, "20240602_2105_PULL.tar.gz", BASE_HTML, "{\"v\":2105}");
	path_of(path, sizeof path, in_k, "20240602_2105_PULL.tar.gz");
	free(bytes);
	n = file_sha(path, hex, &bytes);
	sidecar(in_k, "20240602_2105_PULL.tar.gz", hex);
	bytes[n / 2] ^= 0x40;
	pre = prescan_new(&limits);
	prescan_begin(pre);
	prescan_observe(pre, bytes, n);
	prescan_end(pre);
	run_pre(&k, in_k, "20240602_2105_PULL.tar.gz", pre, &res);
	prescan_free(pre);
	CHECK(res.verdict == VERDICT_QUARANTINED && res.rc == RC_VERIFY,
	      "the prescan was not what verify used: verdict=%d (%s)", res.verdict, res.reason);
	free(bytes);

	/* What was seen is not the whole file (a download the file does not
	 * match): hashed again from the file, as before. */
	write_site(in_k, "20240602_2110_PULL.tar.gz", BASE_HTML, "{\"v\":2110}");
	path_of(path, sizeof path, in_k, "20240602_2110_PULL.tar.gz");
	n = file_sha(path, hex, &bytes);
	sidecar(in_k, "20240602_2110_PULL.tar.gz", hex);
	pre = prescan_new(&limits);
	prescan_begin(pre);
	prescan_observe(pre, bytes, n - 1);
	prescan_end(pre);
	run_pre(&k, in_k, "20240602_2110_PULL.tar.gz", pre, &res);
	prescan_free(pre);
	l = journal_last(dir_k);
	CHECK(res.verdict == VERDICT_PUBLISHED && !strcmp(l.r.sha256, hex),
	      "short prescan: verdict=%d (%s), journal sha %s, file's %s", res.verdict, res.reason,
	      l.r.sha256, hex);
	free(bytes);

	/* A prehashed package whose sidecar names other bytes: refused at
	 * verify as a mismatch, as when the file is read. */
	write_site(in_k, "20240602_2120_PULL.tar.gz", BASE_HTML, "{\"v\":2120}");
	path_of(path, sizeof path, in_k, "20240602_2120_PULL.tar.gz");
	n = file_sha(path, hex, &bytes);
	sidecar(in_k, "20240602_2120_PULL.tar.gz",
		"00000000000000000000000000000000000000000000000000000000000000ff");
	pre = prescan_new(&limits);
	prescan_begin(pre);
	prescan_observe(pre, bytes, n);
	prescan_end(pre);
	run_pre(&k, in_k, "20240602_2120_PULL.tar.gz", pre, &res);
	prescan_free(pre);
	l = journal_last(dir_k);
	CHECK(res.verdict == VERDICT_QUARANTINED && res.rc == RC_VERIFY &&
	      strstr(res.reason, "SHA-256 mismatch") && !strcmp(l.r.sha256, hex),
	      "prehashed mismatch: verdict=%d rc=%s (%s), journal sha %s", res.verdict,
	      rc_str(res.rc), res.reason, l.r.sha256);
	free(bytes);
	pipeline_close(&k);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test-pipeline PKGDIR\n");
		return 2;
	}
	pkgdir = argv[1];
	snprintf(root, sizeof root, "/tmp/prepd-pipeline.XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(dir_a, sizeof dir_a, "%s/a", root);
	snprintf(dir_b, sizeof dir_b, "%s/b", root);
	snprintf(dir_c, sizeof dir_c, "%s/c", root);
	snprintf(dir_d, sizeof dir_d, "%s/d", root);
	snprintf(in_b, sizeof in_b, "%s/in-b", root);
	mk(dir_a);
	mk(dir_b);
	mk(dir_c);
	mk(dir_d);
	mk(in_b);
	snprintf(dir_f, sizeof dir_f, "%s/f", root);
	snprintf(dir_g, sizeof dir_g, "%s/g", root);
	snprintf(in_f, sizeof in_f, "%s/in-f", root);
	mk(dir_f);
	mk(dir_g);
	mk(in_f);
	rec.dirs[0] = dir_a;
	rec.dirs[1] = dir_b;
	rec.dirs[2] = dir_d;

	char err[256];
	if (cut_zone_use(CUT_ZONE_DEFAULT, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	config_init(&cfg);
	CHECK(config_finish(&cfg, err, sizeof err) == RC_OK, "default config: %s", err);
	CHECK(event_subscribe("test", on_publish, NULL) == RC_OK, "subscribe");

	plain_night();
	verified();
	empty_rollback();
	resume_and_replay();
	events();
	forward();
	replay_unchecked();
	periods();
	char dir_j[160];
	snprintf(dir_j, sizeof dir_j, "%s/j", root);
	mk(dir_j);
	{
		char inc[200];
		snprintf(inc, sizeof inc, "%s/incoming", dir_j);
		mk(inc);
	}
	journal_fails(dir_j);
	{
		char dir_k[160], in_k[160];
		snprintf(dir_k, sizeof dir_k, "%s/k", root);
		snprintf(in_k, sizeof in_k, "%s/in-k", root);
		mk(dir_k);
		mk(in_k);
		inflate_once(dir_k, in_k);
	}

	snap_shutdown();
	config_release(&cfg);
	rmtree(root);
	return check_done();
}
