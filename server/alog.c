#include "alog.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#include <unistd.h>

/* One single-producer single-consumer ring per request thread. The
 * producer owns head, the writer owns tail; each index only grows. */
struct ring {
	_Atomic uint64_t head;
	char pad1[56];
	_Atomic uint64_t tail;
	char pad2[56];
	struct alog_rec rec[ALOG_RING_RECORDS];
};

#define ALOG_MAX_RINGS (NET_MAX_THREADS + 8)

static _Atomic(struct ring *) rings[ALOG_MAX_RINGS];
static _Atomic bool enabled;
static _Atomic bool stopping;
static _Atomic bool reopen_wanted;
static _Atomic uint64_t dropped;
static pthread_t writer;
static char *path;
static int fd = -1;
static thread_local struct ring *my_ring;

bool alog_enabled(void)
{
	return atomic_load_explicit(&enabled, memory_order_relaxed);
}

bool alog_attach_thread(void)
{
	if (!alog_enabled())
		return true;
	/* Rings are made on demand: each is ~5 MB, and most machines run a
	 * handful of workers. */
	struct ring *r = calloc(1, sizeof *r);
	if (!r)
		return false;
	for (unsigned i = 0; i < ALOG_MAX_RINGS; i++) {
		struct ring *expected = NULL;
		if (atomic_compare_exchange_strong(&rings[i], &expected, r)) {
			my_ring = r;
			return true;
		}
	}
	free(r);
	return false;
}

struct alog_rec *alog_claim(void)
{
	struct ring *r = my_ring;
	if (!r)
		return NULL;
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	if (head - tail >= ALOG_RING_RECORDS) {
		atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
		return NULL;
	}
	return &r->rec[head % ALOG_RING_RECORDS];
}

void alog_commit(void)
{
	struct ring *r = my_ring;
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	atomic_store_explicit(&r->head, head + 1, memory_order_release);
}

void alog_reopen(void)
{
	atomic_store(&reopen_wanted, true);
}

uint64_t alog_dropped(void)
{
	return atomic_load(&dropped);
}

/* Appends s to out, escaping '"', '\\' and bytes outside printable ASCII
 * as \xHH the way nginx does, so a field never breaks the line format. */
static size_t put_escaped(char *out, size_t room, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	if (!*s) {
		if (room > 1)
			out[o++] = '-';
		return o;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p && o + 4 < room; p++) {
		if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\') {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		} else {
			out[o++] = (char)*p;
		}
	}
	return o;
}

static size_t format_rec(const struct alog_rec *r, char *out, size_t room)
{
	static const char *const mons[] = { "Jan", "Feb", "Mar", "Apr", "May",
					    "Jun", "Jul", "Aug", "Sep", "Oct",
					    "Nov", "Dec" };
	struct tm tm;
	localtime_r(&r->when.tv_sec, &tm);
	long off = tm.tm_gmtoff / 60;
	char sign = off < 0 ? '-' : '+';
	if (off < 0)
		off = -off;
	size_t o = (size_t)snprintf(out, room, "%s - - [%02d/%s/%04d:%02d:%02d:%02d %c%02ld%02ld] \"",
				    r->ip[0] ? r->ip : "-", tm.tm_mday, mons[tm.tm_mon],
				    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
				    sign, off / 60, off % 60);
	o += put_escaped(out + o, room - o, r->method);
	out[o++] = ' ';
	o += put_escaped(out + o, room - o, r->uri);
	out[o++] = ' ';
	o += put_escaped(out + o, room - o, r->proto);
	char bytes[24];
	if (r->bytes)
		snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)r->bytes);
	else
		strcpy(bytes, "-");
	o += (size_t)snprintf(out + o, room - o, "\" %u %s \"", r->status, bytes);
	o += put_escaped(out + o, room - o, r->referer);
	o += (size_t)snprintf(out + o, room - o, "\" \"");
	o += put_escaped(out + o, room - o, r->ua);
	o += (size_t)snprintf(out + o, room - o, "\" %llu %s %.6f\n",
			      (unsigned long long)r->seq, r->label[0] ? r->label : "-",
			      (double)r->dur_ns / 1e9);
	return o;
}

static int open_log(void)
{
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

static void write_all(const char *buf, size_t n)
{
	while (n) {
		ssize_t w = write(fd, buf, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			/* A full disk must not stop serving: lose log lines,
			 * say so once per burst. */
			static _Atomic int warned;
			if (!atomic_exchange(&warned, 1))
				log_error("alog write-failed file=%s error=\"%m\" "
					  "action=\"free disk space; lines are lost until it is fixed\"",
					  path);
			return;
		}
		buf += w;
		n -= (size_t)w;
	}
}

/* Writes everything queued; returns the number of records written. */
static size_t drain(char *buf, size_t bufsz)
{
	size_t total = 0, used = 0;
	for (unsigned i = 0; i < ALOG_MAX_RINGS; i++) {
		struct ring *r = atomic_load(&rings[i]);
		if (!r)
			continue;
		uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
		uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
		for (; tail != head; tail++) {
			if (bufsz - used < ALOG_URI_BYTES * 5 + 2 * ALOG_FIELD_BYTES * 4 + 256) {
				write_all(buf, used);
				used = 0;
			}
			used += format_rec(&r->rec[tail % ALOG_RING_RECORDS], buf + used, bufsz - used);
			total++;
		}
		atomic_store_explicit(&r->tail, tail, memory_order_release);
	}
	if (used)
		write_all(buf, used);
	return total;
}

static void *writer_main(void *arg)
{
	(void)arg;
	size_t bufsz = 256 * 1024;
	char *buf = malloc(bufsz);
	if (!buf) {
		log_error("alog out-of-memory action=\"the access log is off; restart prepd\"");
		return NULL;
	}
	while (!atomic_load(&stopping)) {
		if (atomic_exchange(&reopen_wanted, false)) {
			int nfd = open_log();
			if (nfd < 0) {
				log_error("alog reopen-failed file=%s error=\"%m\" "
					  "action=\"check the folder exists and is writable; "
					  "still writing to the old file\"", path);
			} else {
				close(fd);
				fd = nfd;
				log_info("alog reopened file=%s", path);
			}
		}
		if (drain(buf, bufsz) == 0) {
			/* Nothing queued: a short nap keeps latency to the file
			 * low without a syscall per request to wake us. */
			struct timespec ts = { 0, 20 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	drain(buf, bufsz);
	free(buf);
	return NULL;
}

enum rc alog_start(const char *file)
{
	path = strdup(file);
	if (!path)
		return RC_NOMEM;
	fd = open_log();
	if (fd < 0)
		return RC_IO;
	atomic_store(&enabled, true);
	if (pthread_create(&writer, NULL, writer_main, NULL)) {
		atomic_store(&enabled, false);
		return RC_NOMEM;
	}
	return RC_OK;
}

void alog_stop(void)
{
	if (!atomic_load(&enabled))
		return;
	atomic_store(&stopping, true);
	pthread_join(writer, NULL);
	atomic_store(&enabled, false);
	close(fd);
	fd = -1;
	for (unsigned i = 0; i < ALOG_MAX_RINGS; i++)
		free(atomic_exchange(&rings[i], NULL));
	free(path);
	path = NULL;
}
