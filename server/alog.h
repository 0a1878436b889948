/* Access log: Combined Log Format plus the cut served and the time taken,
 * so goaccess and AWStats read it (README has their format strings):
 *
 *   127.0.0.1 - - [02/Jun/2024:22:15:03 -0600] "GET / HTTP/1.1" 200 2048
 *   "-" "curl/7.88.1" 42 20240602_2215 0.000081
 *
 * A sink of the request-record bus (server/reqbus.h): request threads only
 * queue a binary record; the bus's collector thread formats the lines,
 * buffers them and writes them with write(2). Records the bus dropped
 * (a ring was full) are counted and the count logged every 10 s at most.
 * SIGHUP makes it reopen the file (for logrotate); a failing write is
 * logged once per failing stretch and serving goes on. */
#ifndef PREPD_ALOG_H
#define PREPD_ALOG_H

#include "server/rc.h"

/* Opens file for appending and adds the access log to the request-record
 * bus's sinks; lines are written once reqbus_start() runs. Call before
 * reqbus_start(). Returns RC_IO (errno set) when the file cannot be
 * opened, RC_NOMEM, or RC_LIMIT when the bus takes no more sinks. */
enum rc alog_start(const char *file);

/* Asks for the file to be reopened on the collector thread
 * (SIGHUP). Async-signal-safe. */
void alog_reopen(void);

/* Writes what is left and closes the file. Call after reqbus_stop(),
 * which drains the last records into the log. A no-op when not started. */
void alog_stop(void);

#endif
