/* The built-in placeholder site (www-default/, compiled in), served before
 * the first package so the institute's health check (R11) passes. */
#ifndef PREPD_WWW_H
#define PREPD_WWW_H

#include <stddef.h>

#include "server/rc.h"

struct www_file {
	const char *path;
	const unsigned char *data;
	size_t len;
};

/* NULL-terminated; generated at build time by www-default/embed.py. */
extern const struct www_file www_default_files[];

struct snap;
struct policy;

/* Builds the placeholder snapshot (cut seq 0, label "placeholder") under
 * policy (borrowed during the call, as snap_builder_new() takes it). The
 * bytes stay in the binary; nothing is copied. NULL with *rc on failure. */
struct snap *www_default_snapshot(const struct policy *policy, enum rc *rc);

#endif
