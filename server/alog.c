#include "server/alog.h"
#include "server/log.h"
#include "server/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <threads.h>
#include <unistd.h>

/* One single-producer single-consumer byte ring per request thread. The
 * producer owns head, the writer owns tail; both only grow, and the ring
 * position is the value modulo ALOG_RING_BYTES. */
struct ring {
	_Atomic uint64_t head;
	char pad1[56];
	_Atomic uint64_t tail;
	char pad2[56];
	char buf[ALOG_RING_BYTES];
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
	/* Rings are made on demand: most machines run a handful of workers. */
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

void alog_reopen(void)
{
	atomic_store(&reopen_wanted, true);
}

uint64_t alog_dropped(void)
{
	return atomic_load(&dropped);
}

/* Appends s escaped the way nginx does: '"', '\\' and bytes outside
 * printable ASCII as \xHH, so a field never breaks the line format. An
 * empty field is "-". */
static size_t put_escaped(char *out, size_t room, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	if (!*s)
		s = "-";
	for (const unsigned char *p = (const unsigned char *)s; *p && o + 5 < room; p++) {
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

/* "[02/Jun/2024:22:15:03 -0600]" for a second, cached per thread:
 * localtime_r() takes glibc's time zone lock, too costly per request. */
static const char *clf_time(time_t t)
{
	static thread_local time_t cached_sec = -1;
	static thread_local char cached[80];
	if (t == cached_sec)
		return cached;
	static const char *const mons[] = { "Jan", "Feb", "Mar", "Apr", "May",
					    "Jun", "Jul", "Aug", "Sep", "Oct",
					    "Nov", "Dec" };
	struct tm tm;
	localtime_r(&t, &tm);
	long off = tm.tm_gmtoff / 60;
	char sign = off < 0 ? '-' : '+';
	if (off < 0)
		off = -off;
	snprintf(cached, sizeof cached, "[%02d/%s/%04d:%02d:%02d:%02d %c%02ld%02ld]",
		 tm.tm_mday, mons[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, sign, off / 60, off % 60);
	cached_sec = t;
	return cached;
}

/* Formats r as one log line, newline included, into out; returns its
 * length. */
static size_t alog_format(const struct alog_rec *r, char *out, size_t room)
{
	if (room < 512)
		return 0;
	size_t o = (size_t)snprintf(out, room, "%s - - %s \"", r->ip[0] ? r->ip : "-",
				    clf_time(r->when.tv_sec));
	o += put_escaped(out + o, room - o - 256, r->method);
	out[o++] = ' ';
	o += put_escaped(out + o, room - o - 256, r->uri);
	out[o++] = ' ';
	o += put_escaped(out + o, room - o - 256, r->proto);
	char bytes[24];
	if (r->bytes)
		snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)r->bytes);
	else
		strcpy(bytes, "-");
	o += (size_t)snprintf(out + o, room - o, "\" %u %s \"", r->status, bytes);
	o += put_escaped(out + o, room - o - 200, r->referer);
	o += (size_t)snprintf(out + o, room - o, "\" \"");
	o += put_escaped(out + o, room - o - 160, r->ua);
	o += (size_t)snprintf(out + o, room - o, "\" %llu %s %llu.%06llu\n",
			      (unsigned long long)r->seq, r->label[0] ? r->label : "-",
			      (unsigned long long)(r->dur_ns / 1000000000u),
			      (unsigned long long)(r->dur_ns % 1000000000u / 1000u));
	return o < room ? o : room - 1;
}

void alog_log(const struct alog_rec *rec)
{
	struct ring *r = my_ring;
	if (!r)
		return;
	char line[ALOG_LINE_MAX];
	size_t n = alog_format(rec, line, sizeof line);
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	if (head - tail + n > ALOG_RING_BYTES) {
		atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
		return;
	}
	size_t at = head & (ALOG_RING_BYTES - 1);
	size_t first = n < ALOG_RING_BYTES - at ? n : ALOG_RING_BYTES - at;
	memcpy(r->buf + at, line, first);
	memcpy(r->buf, line + first, n - first);
	atomic_store_explicit(&r->head, head + n, memory_order_release);
}

static int open_log(void)
{
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

/* Writes iov fully; on failure the bytes are lost and said so, once per
 * failing stretch, because a full disk must not stop serving. */
static void write_all(struct iovec *iov, int n)
{
	static bool failing;
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (!failing)
				log_error("alog write-failed file=%s error=\"%m\" "
					  "action=\"free disk space or fix the file; access log "
					  "lines are lost until then, serving goes on\"", path);
			failing = true;
			return;
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	if (failing)
		log_info("alog write-recovered file=%s", path);
	failing = false;
}

/* Writes everything queued; returns the number of bytes written. */
static uint64_t drain(void)
{
	uint64_t total = 0;
	for (unsigned i = 0; i < ALOG_MAX_RINGS; i++) {
		struct ring *r = atomic_load(&rings[i]);
		if (!r)
			continue;
		uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
		uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
		if (head == tail)
			continue;
		size_t at = tail & (ALOG_RING_BYTES - 1);
		size_t n = (size_t)(head - tail);
		size_t first = n < ALOG_RING_BYTES - at ? n : ALOG_RING_BYTES - at;
		struct iovec iov[2] = { { r->buf + at, first }, { r->buf, n - first } };
		write_all(iov, n > first ? 2 : 1);
		atomic_store_explicit(&r->tail, head, memory_order_release);
		total += n;
	}
	return total;
}

static void *writer_main(void *arg)
{
	(void)arg;
	uint64_t reported = 0, last_report = 0;
	while (!atomic_load(&stopping)) {
		if (atomic_exchange(&reopen_wanted, false)) {
			int nfd = open_log();
			if (nfd < 0) {
				log_error("alog reopen-failed file=%s error=\"%m\" "
					  "action=\"check the folder exists and is writable; "
					  "still writing to the old file\"", path);
			} else {
				drain();   /* what was queued belongs to the old file */
				close(fd);
				fd = nfd;
				log_info("alog reopened file=%s", path);
			}
		}
		if (drain() == 0) {
			/* Nothing queued: a short nap keeps the file at most 10 ms
			 * behind without a wake-up call per request. */
			struct timespec ts = { 0, 10 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		uint64_t d = atomic_load(&dropped), now = now_ns();
		if (d != reported && now - last_report > 10000000000ull) {
			log_warn("alog dropped=%llu since_start=%llu reason=\"request threads outran "
				 "the log writer\" action=\"the disk or CPU is saturated; lines are lost, "
				 "serving goes on\"", (unsigned long long)(d - reported),
				 (unsigned long long)d);
			reported = d;
			last_report = now;
		}
	}
	drain();
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
