#include "server/alog.h"
#include "server/alog_int.h"

#include "server/log.h"
#include "server/reqbus.h"
#include "server/util.h"

#include <errno.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#include <unistd.h>

/* The sink's state: touched only by the collector thread once the bus
 * runs, and by alog_start()/alog_stop() around it. */
struct alog {
	char *path;
	int fd;
	bool failing;              /* writes fail: said once per stretch */
	uint64_t reported;         /* dropped records already warned about */
	uint64_t last_report;      /* now_ns() of that warning */
	size_t used;
	char buf[ALOG_BUF_BYTES];  /* formatted lines not yet written */
};

static struct alog *the_log;
static _Atomic bool reopen_wanted;

void alog_reopen(void)
{
	atomic_store(&reopen_wanted, true);
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

/* "[02/Jun/2024:22:15:03 -0600]" for a second, cached: localtime_r()
 * takes glibc's time zone lock, too costly per line. Only the collector
 * thread formats lines; thread_local keeps a test's threads apart. */
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

/* Appenders for alog_format(): the line is made by hand, not with
 * snprintf(), which took a fifth of the collector's time per line. Each
 * returns the bytes written; the callers keep the room. */
static size_t put_str(char *out, const char *s)
{
	size_t n = strlen(s);
	memcpy(out, s, n);
	return n;
}

static size_t put_u64(char *out, uint64_t v, unsigned min_digits)
{
	char tmp[20];
	unsigned n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n < min_digits)
		tmp[n++] = '0';
	for (unsigned i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

/* The client address as inet_ntop() writes it ("-" for none); IPv4, all
 * but every line, without its sprintf(). */
static size_t put_addr(char *out, const struct reqrec_addr *a)
{
	if (a->family == AF_INET) {
		size_t o = 0;
		for (int i = 0; i < 4; i++) {
			if (i)
				out[o++] = '.';
			o += put_u64(out + o, a->addr[i], 1);
		}
		return o;
	}
	char ip[REQREC_ADDR_TEXT_BYTES];
	reqrec_addr_format(a, ip, sizeof ip);
	return put_str(out, ip[0] ? ip : "-");
}

size_t alog_format(const struct reqrec *r, char *out, size_t room)
{
	if (room < 512)
		return 0;
	size_t o = put_addr(out, &r->client);
	o += put_str(out + o, " - - ");
	o += put_str(out + o, clf_time(r->when.tv_sec));
	o += put_str(out + o, " \"");
	o += put_escaped(out + o, room - o - 256, r->method);
	out[o++] = ' ';
	o += put_escaped(out + o, room - o - 256, r->target);
	out[o++] = ' ';
	o += put_escaped(out + o, room - o - 256, r->proto);
	o += put_str(out + o, "\" ");
	o += put_u64(out + o, r->status, 1);
	out[o++] = ' ';
	if (r->bytes)
		o += put_u64(out + o, r->bytes, 1);
	else
		out[o++] = '-';
	o += put_str(out + o, " \"");
	o += put_escaped(out + o, room - o - 200, r->referer);
	o += put_str(out + o, "\" \"");
	o += put_escaped(out + o, room - o - 160, r->ua);
	o += put_str(out + o, "\" ");
	o += put_u64(out + o, r->seq, 1);
	out[o++] = ' ';
	o += put_str(out + o, r->label[0] ? r->label : "-");
	out[o++] = ' ';
	o += put_u64(out + o, r->dur_ns / 1000000000u, 1);
	out[o++] = '.';
	o += put_u64(out + o, r->dur_ns % 1000000000u / 1000u, 6);
	out[o++] = '\n';
	out[o] = '\0';
	return o;
}

static int open_log(const struct alog *l)
{
	return open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

/* Writes the buffered lines fully; on failure they are lost and said so,
 * once per failing stretch, because a full disk must not stop serving. */
static void write_out(struct alog *l)
{
	const char *p = l->buf;
	size_t n = l->used;
	l->used = 0;
	if (!n)
		return;
	while (n > 0) {
		ssize_t w = write(l->fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (!l->failing)
				log_error("alog write-failed file=%s error=\"%m\" "
					  "action=\"free disk space or fix the file; access log "
					  "lines are lost until then, serving goes on\"", l->path);
			l->failing = true;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
	if (l->failing)
		log_info("alog write-recovered file=%s", l->path);
	l->failing = false;
}

static void sink_record(const struct reqrec *r, void *ctx)
{
	struct alog *l = ctx;
	if (sizeof l->buf - l->used < ALOG_LINE_MAX)
		write_out(l);
	/* Always ALOG_LINE_MAX of room, wherever the line lands in the
	 * buffer: the field caps inside alog_format() depend on the room, and
	 * the same request must give the same line. */
	l->used += alog_format(r, l->buf + l->used, ALOG_LINE_MAX);
}

/* After each pass of the collector: write what is formatted, reopen the
 * file when SIGHUP asked (lines formatted before belong to the old file),
 * and warn about dropped records at most every 10 s. */
static void sink_flush(void *ctx)
{
	struct alog *l = ctx;
	write_out(l);
	if (atomic_exchange(&reopen_wanted, false)) {
		int nfd = open_log(l);
		if (nfd < 0) {
			log_error("alog reopen-failed file=%s error=\"%m\" "
				  "action=\"check the folder exists and is writable; "
				  "still writing to the old file\"", l->path);
		} else {
			close(l->fd);
			l->fd = nfd;
			log_info("alog reopened file=%s", l->path);
		}
	}
	uint64_t d = reqbus_dropped(), now = now_ns();
	if (d != l->reported && now - l->last_report > 10000000000ull) {
		log_warn("alog dropped=%llu since_start=%llu reason=\"request threads outran "
			 "the log writer\" action=\"the disk or CPU is saturated; lines are lost, "
			 "serving goes on\"", (unsigned long long)(d - l->reported),
			 (unsigned long long)d);
		l->reported = d;
		l->last_report = now;
	}
}

enum rc alog_start(const char *file)
{
	struct alog *l = malloc(sizeof *l);
	if (!l)
		return RC_NOMEM;
	l->path = strdup(file);
	l->failing = false;
	l->reported = 0;
	l->last_report = 0;
	l->used = 0;
	if (!l->path) {
		free(l);
		return RC_NOMEM;
	}
	l->fd = open_log(l);
	if (l->fd < 0) {
		int e = errno;
		free(l->path);
		free(l);
		errno = e;   /* main.c reports it */
		return RC_IO;
	}
	enum rc rc = reqbus_sink_add("alog", sink_record, sink_flush, l);
	if (rc) {
		close(l->fd);
		free(l->path);
		free(l);
		return rc;
	}
	atomic_store(&reopen_wanted, false);
	the_log = l;
	return RC_OK;
}

void alog_stop(void)
{
	struct alog *l = the_log;
	if (!l)
		return;
	the_log = NULL;
	write_out(l);
	close(l->fd);
	free(l->path);
	free(l);
}
