/* The spool folder (SFTP push, R3): a file is taken once it is complete
 * (closed after writing, or renamed in), a package waits up to
 * evidence_wait_s for its sidecar or signature, and a scan takes what is
 * already there at start-up or after an inotify overflow. */
#include "ingest/ingest_int.h"

#include "ingest/verify.h"
#include "server/dir.h"
#include "server/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

enum rc spool_watch(struct ingest *in, char *err, size_t errsz)
{
	in->inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (in->inotify_fd < 0 ||
	    inotify_add_watch(in->inotify_fd, in->cfg->spool_dir, IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
		snprintf(err, errsz, "cannot watch the spool folder %s: %s", in->cfg->spool_dir,
			 strerror(errno));
		return RC_IO;
	}
	return RC_OK;
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

static bool spool_has(const struct ingest *in, const char *name)
{
	char p[PATH_BUF_LONG_BYTES];
	snprintf(p, sizeof p, "%s/%s", in->cfg->spool_dir, name);
	struct stat sb;
	return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static void spool_run(struct ingest *in, const char *name)
{
	struct job j;
	memset(&j, 0, sizeof j);
	snprintf(j.path, sizeof j.path, "%s/%s", in->cfg->spool_dir, name);
	snprintf(j.name, sizeof j.name, "%s", name);
	snprintf(j.source, sizeof j.source, "spool:%s", name);
	j.spool = true;
	struct stage_result res;
	pipeline_run(in, &j, &res);
}

static void pending_drop(struct ingest *in, size_t i)
{
	memmove(in->pending + i, in->pending + i + 1,
		(in->pending_n - i - 1) * sizeof in->pending[0]);
	in->pending_n--;
}

/* A file in the spool is complete: a package, or the evidence a package
 * was waiting for. */
static void spool_file(struct ingest *in, const char *name)
{
	const struct ingest_settings *cfg = in->cfg;
	if (ignored_name(name))
		return;
	if (is_evidence(in, name)) {
		char pkg[FILE_NAME_BYTES];
		size_t n = strlen(name) - strlen(verify_suffix(cfg->verify));
		if (n >= sizeof pkg)
			return;
		memcpy(pkg, name, n);
		pkg[n] = '\0';
		for (size_t i = 0; i < in->pending_n; i++) {
			if (!strcmp(in->pending[i].name, pkg)) {
				pending_drop(in, i);
				spool_run(in, pkg);
				return;
			}
		}
		return;
	}
	if (cfg->verify != VERIFY_NONE) {
		char ev[EVIDENCE_NAME_BYTES];
		snprintf(ev, sizeof ev, "%s%s", name, verify_suffix(cfg->verify));
		if (!spool_has(in, ev)) {
			if (in->pending_n < INGEST_PENDING_MAX) {
				struct pending *p = &in->pending[in->pending_n++];
				snprintf(p->name, sizeof p->name, "%s", name);
				p->since = time(NULL);
				log_info("ingest waiting file=%s for=%s max_s=%u", name, ev,
					 cfg->evidence_wait_s);
			}
			return;
		}
	}
	spool_run(in, name);
}

void spool_expire(struct ingest *in)
{
	time_t now = time(NULL);
	for (size_t i = 0; i < in->pending_n;) {
		if (now - in->pending[i].since >= (time_t)in->cfg->evidence_wait_s) {
			char name[FILE_NAME_BYTES];
			snprintf(name, sizeof name, "%s", in->pending[i].name);
			pending_drop(in, i);
			/* Processing it now quarantines it, saying what is missing. */
			if (spool_has(in, name))
				spool_run(in, name);
		} else {
			i++;
		}
	}
}

/* A spool entry that may be a package: not a temporary or evidence name,
 * a regular file. */
static bool spool_candidate(int dfd, const char *name, void *ctx)
{
	(void)dfd;
	struct ingest *in = ctx;
	return !ignored_name(name) && !is_evidence(in, name) && spool_has(in, name);
}

/* Files already complete in the spool, oldest name first (timestamped
 * names sort by cut). */
void spool_scan(struct ingest *in)
{
	char **names;
	size_t n;
	if (dir_names(AT_FDCWD, in->cfg->spool_dir, spool_candidate, in, SPOOL_SCAN_MAX,
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
