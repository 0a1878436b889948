#include "server/log.h"

#include "server/limits.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static _Atomic int min_level = LOG_INFO;
static _Atomic bool to_journal;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

/* The syslog priority journald reads from a "<N>" line prefix: the values
 * of sd-daemon.h's SD_DEBUG, SD_INFO, SD_WARNING and SD_ERR (syslog.h's
 * names clash with enum log_level's, so the numbers are written here). */
static const char *const journal_prefix[] = { "<7>", "<6>", "<4>", "<3>" };

bool log_init(void)
{
	/* systemd sets JOURNAL_STREAM=DEV:INODE when it connects stdout or
	 * stderr to the journal; it is inherited, so it counts only when
	 * stderr is still that very stream (not redirected by a script). */
	bool j = false;
	const char *e = getenv("JOURNAL_STREAM");
	struct stat st;
	unsigned long long dev, ino;
	char tail;
	if (e && sscanf(e, "%llu:%llu%c", &dev, &ino, &tail) == 2 &&
	    fstat(STDERR_FILENO, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino)
		j = true;
	atomic_store(&to_journal, j);
	return j;
}

void log_set_level(enum log_level lvl)
{
	atomic_store(&min_level, lvl);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	if ((int)lvl < atomic_load(&min_level))
		return;

	char line[LOG_LINE_BYTES];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = 0;
	if (atomic_load(&to_journal))
		n = snprintf(line, sizeof line, "%s", journal_prefix[lvl]);
	n += (int)strftime(line + n, sizeof line - (size_t)n, "%Y-%m-%dT%H:%M:%SZ ", &tm);
	n += snprintf(line + n, sizeof line - (size_t)n, "%s ", level_names[lvl]);

	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof line - 2)
		n = (int)sizeof line - 2;   /* truncated: keep the newline */
	line[n++] = '\n';

	/* One write per line so concurrent lines never interleave. */
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}
