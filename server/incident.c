/* The incident log (server/incident.h): a bounded queue of formatted
 * lines and one writer thread, so a caller on a request thread (the
 * shield) never waits on the disk. */
#include "server/incident.h"

#include "server/log.h"
#include "server/util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool on;                 /* open: calls queue lines */
	bool stop;               /* the writer drains and ends */
	int fd;
	char (*q)[INCIDENT_LINE_BYTES];
	size_t qlen[INCIDENT_QUEUE_MAX];
	unsigned head, len;
	uint64_t dropped_unsaid; /* dropped since the last line said so */
	bool write_failed;       /* said once per failing stretch */
} W = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .fd = -1 };
static _Atomic uint64_t dropped_total;

size_t incident_json_escape(const char *s, char *out, size_t outsz)
{
	if (!outsz)
		return 0;
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	while (*p) {
		char esc[8];
		size_t n;
		const char *src = esc;
		size_t seq = utf8_seq_len(p, SIZE_MAX);
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			n = 2;
			seq = 1;
		} else if (*p < 0x20 || *p == 0x7f || !seq) {
			/* DEL too: a terminal reading the file should not see it */
			snprintf(esc, sizeof esc, "\\u%04x", *p);
			n = 6;
			seq = 1;
		} else {
			src = (const char *)p;
			n = seq;
		}
		if (o + n >= outsz)
			break;
		memcpy(out + o, src, n);
		o += n;
		p += seq;
	}
	out[o] = '\0';
	return o;
}

/* A line being made: {"time":"...","kind":"..." then fields, then }\n. */
struct line {
	char b[INCIDENT_LINE_BYTES];
	size_t n;
};

/* Room kept for the closing "}\n" and a NUL. */
#define LINE_TAIL 3

static void put_raw(struct line *l, const char *s)
{
	size_t len = strlen(s);
	if (l->n + len + LINE_TAIL > sizeof l->b)
		return;
	memcpy(l->b + l->n, s, len);
	l->n += len;
}

static void put_str(struct line *l, const char *key, const char *value)
{
	char k[64];
	snprintf(k, sizeof k, ",\"%s\":\"", key);
	if (l->n + strlen(k) + 1 + LINE_TAIL > sizeof l->b)
		return;
	put_raw(l, k);
	size_t room = sizeof l->b - l->n - LINE_TAIL - 1;   /* and the closing quote */
	l->n += incident_json_escape(value, l->b + l->n, room + 1);
	l->b[l->n++] = '"';
}

static void put_num(struct line *l, const char *key, long long v)
{
	char k[96];
	snprintf(k, sizeof k, ",\"%s\":%lld", key, v);
	put_raw(l, k);
}

static void put_bool(struct line *l, const char *key, bool v)
{
	char k[64];
	snprintf(k, sizeof k, ",\"%s\":%s", key, v ? "true" : "false");
	put_raw(l, k);
}

static void utc_text(time_t t, char *out, size_t outsz)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void begin(struct line *l, const char *kind)
{
	char when[32];
	utc_text(time(NULL), when, sizeof when);
	l->n = (size_t)snprintf(l->b, sizeof l->b, "{\"time\":\"%s\",\"kind\":\"%s\"", when, kind);
}

/* Queues l; a no-op when the log is not open. */
static void submit(struct line *l)
{
	l->b[l->n++] = '}';
	l->b[l->n++] = '\n';
	pthread_mutex_lock(&W.lock);
	if (!W.on || W.stop) {
		pthread_mutex_unlock(&W.lock);
		return;
	}
	if (W.len == INCIDENT_QUEUE_MAX) {
		W.dropped_unsaid++;
		pthread_mutex_unlock(&W.lock);
		atomic_fetch_add(&dropped_total, 1);
		return;
	}
	unsigned at = (W.head + W.len++) % INCIDENT_QUEUE_MAX;
	memcpy(W.q[at], l->b, l->n);
	W.qlen[at] = l->n;
	pthread_cond_signal(&W.cond);
	pthread_mutex_unlock(&W.lock);
}

static bool write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* The writer: takes every queued line at once, writes them outside the
 * lock, then makes them durable (a crash right after an incident must
 * not lose it: it is the evidence the memoria técnica shows). */
static void *writer(void *arg)
{
	(void)arg;
	static char batch[INCIDENT_QUEUE_MAX + 1][INCIDENT_LINE_BYTES];
	static size_t blen[INCIDENT_QUEUE_MAX + 1];
	pthread_mutex_lock(&W.lock);
	for (;;) {
		while (!W.len && !W.stop && !W.dropped_unsaid)
			pthread_cond_wait(&W.cond, &W.lock);
		if (!W.len && W.stop)
			break;
		unsigned n = 0;
		if (W.dropped_unsaid) {
			struct line l;
			begin(&l, "dropped");
			put_num(&l, "count", (long long)W.dropped_unsaid);
			l.b[l.n++] = '}';
			l.b[l.n++] = '\n';
			memcpy(batch[n], l.b, l.n);
			blen[n++] = l.n;
			W.dropped_unsaid = 0;
		}
		while (W.len) {
			memcpy(batch[n], W.q[W.head], W.qlen[W.head]);
			blen[n++] = W.qlen[W.head];
			W.head = (W.head + 1) % INCIDENT_QUEUE_MAX;
			W.len--;
		}
		int fd = W.fd;
		pthread_mutex_unlock(&W.lock);
		bool ok = true;
		for (unsigned i = 0; i < n && ok; i++)
			ok = write_all(fd, batch[i], blen[i]);
		if (ok)
			ok = fdatasync(fd) == 0;
		pthread_mutex_lock(&W.lock);
		if (!ok && !W.write_failed)
			log_error("incident write-failed error=\"%s\" action=\"free disk space; "
				  "incidents are lost until the data folder can be written\"",
				  strerror(errno));
		W.write_failed = !ok;
	}
	pthread_mutex_unlock(&W.lock);
	return NULL;
}

/* How the last run ended, from the file's last line: "first" (empty),
 * "clean" (a stop line) or "crash"; *last its time. *torn when the file
 * does not end in a newline. */
static const char *last_run(int fd, time_t *last, bool *torn)
{
	struct stat sb;
	*last = 0;
	*torn = false;
	if (fstat(fd, &sb) != 0 || sb.st_size == 0)
		return "first";
	char buf[INCIDENT_LINE_BYTES * 2];
	off_t at = sb.st_size > (off_t)sizeof buf - 1 ? sb.st_size - (off_t)(sizeof buf - 1) : 0;
	ssize_t n = pread(fd, buf, sizeof buf - 1, at);
	if (n <= 0)
		return "crash";
	buf[n] = '\0';
	*torn = buf[n - 1] != '\n';
	if (!*torn)
		buf[--n] = '\0';
	char *start = strrchr(buf, '\n');
	start = start ? start + 1 : buf;
	json_t *j = json_loads(start, 0, NULL);
	const char *kind = j ? json_string_value(json_object_get(j, "kind")) : NULL;
	const char *when = j ? json_string_value(json_object_get(j, "time")) : NULL;
	struct tm tm = { 0 };
	if (when && strptime(when, "%Y-%m-%dT%H:%M:%SZ", &tm))
		*last = timegm(&tm);
	bool clean = kind && !strcmp(kind, "stop") && !*torn;
	json_decref(j);
	return clean ? "clean" : "crash";
}

enum rc incident_open(const char *data_dir, const char *version, char *err, size_t errsz)
{
	char path[PATH_BUF_LONG_BYTES];
	snprintf(path, sizeof path, "%s/incidents.log", data_dir);
	int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		snprintf(err, errsz, "cannot open %s: %s", path, strerror(errno));
		return RC_IO;
	}
	time_t last;
	bool torn;
	const char *previous = last_run(fd, &last, &torn);
	/* A line cut by a crash gets its end, so the start line stands alone. */
	if (torn && !write_all(fd, "\n", 1)) {
		snprintf(err, errsz, "cannot write %s: %s", path, strerror(errno));
		close(fd);
		return RC_IO;
	}
	pthread_mutex_lock(&W.lock);
	if (W.on) {
		pthread_mutex_unlock(&W.lock);
		close(fd);
		snprintf(err, errsz, "the incident log is already open");
		return RC_INVALID;
	}
	W.q = malloc(sizeof *W.q * INCIDENT_QUEUE_MAX);
	if (!W.q) {
		pthread_mutex_unlock(&W.lock);
		close(fd);
		snprintf(err, errsz, "out of memory");
		return RC_NOMEM;
	}
	W.fd = fd;
	W.head = W.len = 0;
	W.stop = false;
	W.dropped_unsaid = 0;
	if (pthread_create(&W.thread, NULL, writer, NULL) != 0) {
		free(W.q);
		W.q = NULL;
		W.fd = -1;
		pthread_mutex_unlock(&W.lock);
		close(fd);
		snprintf(err, errsz, "cannot start the incident writer thread");
		return RC_NOMEM;
	}
	W.on = true;
	pthread_mutex_unlock(&W.lock);
	struct line l;
	begin(&l, "start");
	put_str(&l, "version", version);
	put_num(&l, "pid", (long long)getpid());
	put_str(&l, "previous", previous);
	if (last) {
		char when[32];
		utc_text(last, when, sizeof when);
		put_str(&l, "last", when);
	}
	submit(&l);
	return RC_OK;
}

void incident_close(const char *signal)
{
	pthread_mutex_lock(&W.lock);
	bool on = W.on;
	pthread_mutex_unlock(&W.lock);
	if (!on)
		return;
	struct line l;
	begin(&l, "stop");
	if (signal)
		put_str(&l, "signal", signal);
	put_bool(&l, "clean", true);
	submit(&l);
	pthread_mutex_lock(&W.lock);
	W.stop = true;
	pthread_cond_signal(&W.cond);
	pthread_mutex_unlock(&W.lock);
	pthread_join(W.thread, NULL);
	pthread_mutex_lock(&W.lock);
	W.on = false;
	close(W.fd);
	W.fd = -1;
	free(W.q);
	W.q = NULL;
	pthread_mutex_unlock(&W.lock);
}

void incident_refused(const char *package, const char *source, uint64_t seq,
		      const char *step, const char *reason)
{
	struct line l;
	begin(&l, "refused");
	put_str(&l, "package", package);
	put_str(&l, "source", source);
	put_num(&l, "seq", (long long)seq);
	put_str(&l, "step", step);
	put_str(&l, "reason", reason);
	submit(&l);
}

void incident_failed_period(unsigned count, const char *cut, time_t due, unsigned period_s)
{
	struct line l;
	char when[32];
	utc_text(due, when, sizeof when);
	begin(&l, "failed_period");
	put_num(&l, "count", count);
	put_str(&l, "cut", cut);
	put_str(&l, "due", when);
	put_num(&l, "period_s", period_s);
	submit(&l);
}

void incident_rollback(uint64_t seq, const char *cut, bool ok, const char *reason)
{
	struct line l;
	begin(&l, "rollback");
	put_num(&l, "seq", (long long)seq);
	put_str(&l, "cut", cut);
	put_bool(&l, "ok", ok);
	put_str(&l, "reason", reason);
	submit(&l);
}

void incident_shield(const char *rule, const char *client, const char *action, unsigned count)
{
	struct line l;
	begin(&l, "shield");
	put_str(&l, "rule", rule);
	put_str(&l, "client", client);
	put_str(&l, "action", action);
	put_num(&l, "count", count);
	submit(&l);
}

void incident_purge_failed(const char *target, const char *cut, const char *error)
{
	struct line l;
	begin(&l, "purge_failed");
	put_str(&l, "target", target);
	put_str(&l, "cut", cut);
	put_str(&l, "error", error);
	submit(&l);
}

void incident_probe(bool up, const char *listener, unsigned status, const char *detail,
		    long down_s)
{
	struct line l;
	begin(&l, up ? "probe_up" : "probe_down");
	put_str(&l, "listener", listener);
	if (up) {
		put_num(&l, "down_s", down_s);
	} else {
		put_num(&l, "status", status);
		put_str(&l, "detail", detail);
	}
	submit(&l);
}

uint64_t incident_dropped(void)
{
	return atomic_load(&dropped_total);
}

/* ---- reading ---- */

const char *incident_field(const struct incident_rec *r, const char *key)
{
	for (unsigned i = 0; i < r->nfields; i++)
		if (!strcmp(r->f[i].key, key))
			return r->f[i].value;
	return NULL;
}

/* Fills r from one line; false when it is not an incident. */
static bool parse_line(const char *s, size_t n, struct incident_rec *r)
{
	json_t *j = json_loadb(s, n, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return false;
	}
	const char *when = json_string_value(json_object_get(j, "time"));
	const char *kind = json_string_value(json_object_get(j, "kind"));
	struct tm tm = { 0 };
	const char *end = when ? strptime(when, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
	if (!kind || !end || *end || !*kind || strlen(kind) >= sizeof r->kind) {
		json_decref(j);
		return false;
	}
	memset(r, 0, sizeof *r);
	r->t = timegm(&tm);
	snprintf(r->kind, sizeof r->kind, "%s", kind);
	const char *key;
	json_t *v;
	json_object_foreach(j, key, v) {
		if (!strcmp(key, "time") || !strcmp(key, "kind") || r->nfields == INCIDENT_MAX_FIELDS)
			continue;
		char *val = r->f[r->nfields].value;
		size_t vsz = sizeof r->f[0].value;
		if (json_is_string(v))
			snprintf(val, vsz, "%s", json_string_value(v));
		else if (json_is_integer(v))
			snprintf(val, vsz, "%lld", (long long)json_integer_value(v));
		else if (json_is_boolean(v))
			snprintf(val, vsz, "%s", json_is_true(v) ? "true" : "false");
		else if (json_is_real(v))
			snprintf(val, vsz, "%g", json_real_value(v));
		else
			continue;   /* null, objects, arrays: not prepd's */
		snprintf(r->f[r->nfields].key, sizeof r->f[0].key, "%s", key);
		r->nfields++;
	}
	json_decref(j);
	return true;
}

enum rc incident_read(const char *data_dir, time_t from, time_t to, size_t tail_bytes,
		      int (*fn)(void *ctx, const struct incident_rec *r), void *ctx,
		      unsigned *bad, char *err, size_t errsz)
{
	char path[PATH_BUF_LONG_BYTES];
	snprintf(path, sizeof path, "%s/incidents.log", data_dir);
	if (bad)
		*bad = 0;
	FILE *f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			return RC_OK;
		snprintf(err, errsz, "cannot read %s: %s", path, strerror(errno));
		return RC_IO;
	}
	bool skip_first = false;
	if (tail_bytes) {
		struct stat sb;
		if (fstat(fileno(f), &sb) == 0 && sb.st_size > (off_t)tail_bytes) {
			fseeko(f, sb.st_size - (off_t)tail_bytes, SEEK_SET);
			skip_first = true;
		}
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int ret = 0;
	struct incident_rec *r = malloc(sizeof *r);
	if (!r) {
		fclose(f);
		snprintf(err, errsz, "out of memory");
		return RC_NOMEM;
	}
	while (!ret && (n = getline(&line, &cap, f)) >= 0) {
		if (skip_first) {
			skip_first = false;
			continue;
		}
		if (n && line[n - 1] == '\n')
			n--;
		if (!n)
			continue;
		if ((size_t)n > INCIDENT_LINE_BYTES * 2 || !parse_line(line, (size_t)n, r)) {
			if (bad)
				(*bad)++;
			continue;
		}
		if (r->t < from || (to && r->t >= to))
			continue;
		ret = fn(ctx, r);
	}
	bool failed = ferror(f);
	free(line);
	free(r);
	fclose(f);
	if (failed) {
		snprintf(err, errsz, "cannot read %s: %s", path, strerror(errno));
		return RC_IO;
	}
	return (enum rc)ret;
}
