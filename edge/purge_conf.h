/* The [purge NAME] targets' cross-key checks and the defaults each type
 * takes, apart from the purge threads so that config_finish() (and with it
 * --check-config and a SIGHUP reload) can judge a config without libcurl.
 * Pure; thread-safe. */
#ifndef PREPD_EDGE_PURGE_CONF_H
#define PREPD_EDGE_PURGE_CONF_H

#include <stddef.h>

#include "edge/settings.h"
#include "server/rc.h"

/* "varnish", "cloudflare", ... A static string; "none" for an unknown. */
const char *purge_type_str(int type);

/* "paths", "cut", "tags", "everything". A static string. */
const char *purge_by_str(int by);

/* What t->by means once the type's default is applied. */
int purge_by_effective(const struct purge_target_settings *t);

/* Paths, URLs or tags per request: t->batch, or the type's documented
 * maximum when 0. */
unsigned purge_batch_effective(const struct purge_target_settings *t);

/* Checks every target: a name, a type, the keys the type needs (zone,
 * distribution, service, url, secret_file, site for URL purges, tags for
 * tag purges) and a by the type can do; a section with keys that its type
 * ignores is refused too (a typo'd type would otherwise purge nothing
 * the operator meant). RC_OK, or RC_FORMAT with a sentence naming the
 * section in err. */
enum rc purge_settings_check(const struct purge_settings *ps, char *err, size_t errsz);

#endif
