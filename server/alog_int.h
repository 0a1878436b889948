/* server/alog.c's line formatter, for tests/unit/test-reqbus.c only: the
 * server reaches it through the bus sink that alog_start() adds. */
#ifndef PREPD_ALOG_INT_H
#define PREPD_ALOG_INT_H

#include <stddef.h>

#include "server/reqrec.h"

/* Formats r as one access log line, newline included, into out; returns
 * its length, at most room - 1 (0 when room is under 512 bytes). Fields
 * are escaped the way nginx escapes them ('"', '\\' and bytes outside
 * printable ASCII as \xHH); an empty field, a zero byte count and an
 * unknown client address are "-". When every field is at its cap and
 * fully escaped the line would be longer than room: the referer and the
 * user agent are then cut so the line still ends in its fixed fields.
 * The access log always passes ALOG_LINE_MAX.
 * Uses the local time zone; not thread-safe against tzset(). */
size_t alog_format(const struct reqrec *r, char *out, size_t room);

#endif
