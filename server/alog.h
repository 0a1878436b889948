/* Access log: Combined Log Format plus the cut served and the time taken,
 * so goaccess and AWStats read it (README has their format strings):
 *
 *   127.0.0.1 - - [02/Jun/2024:22:15:03 -0600] "GET / HTTP/1.1" 200 2048
 *   "-" "curl/7.88.1" 42 20240602_2215 0.000081
 *
 * A request thread formats its line and copies it into its own lock-free
 * byte ring; it never waits and makes no system call. When a ring is full
 * the line is dropped and counted (and the count logged). One writer thread
 * drains the rings with writev(). SIGHUP makes it reopen the file (for
 * logrotate). */
#ifndef PREPD_ALOG_H
#define PREPD_ALOG_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "server/limits.h"
#include "server/rc.h"

struct alog_rec {
	struct timespec when;        /* CLOCK_REALTIME at request start */
	uint64_t dur_ns;
	uint64_t bytes;              /* body bytes sent (0 for HEAD, 304) */
	uint64_t seq;                /* cut sequence number */
	unsigned status;
	char ip[48];
	char method[16];
	char proto[16];
	char label[64];              /* cut label */
	char uri[ALOG_URI_BYTES];    /* request target as received */
	char referer[ALOG_FIELD_BYTES];
	char ua[ALOG_FIELD_BYTES];
};

/* Opens file for appending and starts the writer thread. Returns RC_IO
 * (errno set) when the file cannot be opened, RC_NOMEM. */
enum rc alog_start(const char *file);

/* True once alog_start succeeded. Cheap; thread-safe. */
bool alog_enabled(void);

/* Gives the calling request thread its own ring. Call once per worker
 * thread before it serves; returns false when all rings are taken or on
 * out-of-memory (that thread's requests are then not logged). */
bool alog_attach_thread(void);

/* Formats r and queues the line on the calling thread's ring. Never blocks;
 * a no-op when the log is off or the thread has no ring. */
void alog_log(const struct alog_rec *r);



/* Asks the writer to reopen the file (SIGHUP). Async-signal-safe. */
void alog_reopen(void);

/* Records dropped because a ring was full, since start. */
uint64_t alog_dropped(void);

/* Drains every ring, writes, closes and joins the writer. Call after the
 * request threads have stopped. */
void alog_stop(void);

#endif
