/* Operator log: one line per event on stderr,
 *   2026-11-22T16:00:00Z info ingest publish seq=42 cut=20240602_2215
 * `subsystem event key=value ...`, lowercase. Thread-safe: each line is
 * one write(2). When stderr is the systemd journal, each line starts with
 * its priority, "<4>2026-11-22T16:00:00Z warn ...", so `journalctl -p
 * warning` finds it (journald strips the prefix). */
#ifndef PREPD_LOG_H
#define PREPD_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Looks whether stderr is the journal (JOURNAL_STREAM names stderr's
 * device and inode) and from then on prefixes each line with its priority
 * if so. Returns whether it is. Call at start-up, before any thread logs;
 * until then lines have no prefix. */
bool log_init(void);

/* Lines below this level are dropped. Default LOG_INFO. */
void log_set_level(enum log_level lvl);

void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
