/* Running under a service manager (systemd): readiness and status
 * notifications, the watchdog, and the listening sockets it passes.
 *
 * Every function is a no-op (or says "none") when prepd is not started by
 * systemd (no NOTIFY_SOCKET, WATCHDOG_USEC or LISTEN_FDS for this
 * process) and when prepd is built without libsystemd (meson
 * -Dsystemd=disabled): prepd runs the same from a shell, a container or
 * another supervisor. Nothing here logs. */
#ifndef PREPD_SERVICE_H
#define PREPD_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

/* Whether this build can talk to systemd (libsystemd was found). */
bool service_supported(void);

/* Tells the manager prepd is ready to serve, with a STATUS= line. Call
 * once, after every listener is open and the first cut is published.
 * Thread-safe (one datagram per call). */
void service_ready(const char *status);

/* Replaces the STATUS= line ("serving cut 20240602_2215 seq 42").
 * Thread-safe: called from the publish event's subscriber thread. */
void service_status(const char *status);

/* Tells the manager prepd is stopping (STOPPING=1), so `systemctl status`
 * says so during the grace period. */
void service_stopping(void);

/* The watchdog interval the manager asked for, in microseconds; 0 when
 * there is none (WatchdogSec= unset, or not under systemd). Call before
 * any thread starts: it reads the environment. */
uint64_t service_watchdog_usec(void);

/* One watchdog ping (WATCHDOG=1). Call only when prepd has checked it is
 * alive: the manager restarts prepd when the pings stop. */
void service_watchdog_ping(void);

/* How many listening sockets the manager passed (socket activation),
 * from fd 3 (SD_LISTEN_FDS_START) on; 0 when none. Unsets LISTEN_PID,
 * LISTEN_FDS and LISTEN_FDNAMES so no child inherits them. Call once,
 * before any thread starts. */
int service_listen_fds(void);

#endif
