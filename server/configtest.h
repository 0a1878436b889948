/* prepd --check-config (-t): checks a configuration the way a start would
 * use it, without starting: the certificate pair (and its expiry), the
 * data, spool and log folders, the user, trust files, the upstream URL and
 * its files. Prints one line per finding on stdout,
 *   prepd: error: /etc/prepd/prepd.ini:12: cannot read the key ...: No such file or directory
 * with FILE:LINE where the value came from the config file (--flag when it
 * came from a flag), and a last line with the verdict. Nothing is created
 * or changed. */
#ifndef PREPD_CONFIGTEST_H
#define PREPD_CONFIGTEST_H

#include <stdio.h>

#include "server/config.h"

/* Runs every check on cfg (finished: config_finish() succeeded), read from
 * config_file (NULL: flags and defaults only). Returns 0 when there is no
 * error (warnings allowed), 1 otherwise. */
int configtest_run(const struct config *cfg, const char *config_file, FILE *out);

#endif
