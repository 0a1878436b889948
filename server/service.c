/* systemd integration through libsystemd's sd-daemon API, when built
 * with it (HAVE_LIBSYSTEMD; meson option systemd). Why a library and not
 * the few lines of the protocol by hand: sd_notify() and sd_listen_fds()
 * handle the abstract-socket, LISTEN_PID and fd-flag details the way
 * systemd itself expects, and Debian ships libsystemd0 on every system
 * that has systemd. Without it every call is a no-op. */
#include "server/service.h"

#include <stdlib.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>

bool service_supported(void)
{
	return true;
}

void service_ready(const char *status)
{
	sd_notifyf(0, "READY=1\nSTATUS=%s\nMAINPID=%lu", status, (unsigned long)getpid());
}

void service_status(const char *status)
{
	sd_notifyf(0, "STATUS=%s", status);
}

void service_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

uint64_t service_watchdog_usec(void)
{
	uint64_t usec = 0;
	/* 0 unset_environment: the ping itself needs NOTIFY_SOCKET later. */
	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return usec;
}

void service_watchdog_ping(void)
{
	sd_notify(0, "WATCHDOG=1");
}

int service_listen_fds(void)
{
	int n = sd_listen_fds(1);
	return n > 0 ? n : 0;
}

#else

bool service_supported(void)
{
	return false;
}

void service_ready(const char *status)
{
	(void)status;
}

void service_status(const char *status)
{
	(void)status;
}

void service_stopping(void)
{
}

uint64_t service_watchdog_usec(void)
{
	return 0;
}

void service_watchdog_ping(void)
{
}

int service_listen_fds(void)
{
	return 0;
}

#endif
