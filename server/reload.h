/* SIGHUP: re-reads the config file (the same path, the same command-line
 * flags on top), checks it as --check-config does, and applies every
 * setting the settings table marks reloadable without dropping a
 * connection; a config with any error is refused whole, each error logged
 * with FILE:LINE, and the running one stays. A changed setting that is not
 * reloadable is logged ("restart to apply") and keeps its old value.
 *
 * What applies where: the log level at once; the shield's rules
 * (shield_reload()); the admin listener's upload settings
 * (admin_reload()); the ingest and fetch settings and the response policy
 * on the ingest thread, between packages (ingest_reload()), which rebuilds
 * the cut served with the new policy, or publishes the new placeholder.
 * The certificate is reloaded and the access log reopened as before.
 *
 * Main thread only. */
#ifndef PREPD_RELOAD_H
#define PREPD_RELOAD_H

#include <stdbool.h>

#include "server/config.h"
#include "server/rc.h"

struct reload;

/* getopt values of the settings table's flags: RELOAD_FLAG_BASE + the
 * row's index (main's parse_args() uses the same). */
#define RELOAD_FLAG_BASE 256

/* Remembers how the running config was made: boot (borrowed for the
 * process: the workers and the admin listener read it), config_file (may
 * be NULL) and argv (borrowed: main's). NULL on out-of-memory. */
struct reload *reload_new(const struct config *boot, const char *config_file, int argc,
			  char **argv);

/* One SIGHUP: logs what it did ("server reload-done changed=N", or the
 * errors and "server reload-refused"). Returns RC_OK when the new config
 * was applied (even if nothing changed), RC_FORMAT when refused. */
enum rc reload_run(struct reload *r);

/* Frees the configs earlier reloads replaced once the ingest thread no
 * longer reads them. Returns true while some wait: call again within a
 * second or so. */
bool reload_tidy(struct reload *r);

/* Frees everything but boot. Call after ingest_stop(). NULL is a no-op. */
void reload_free(struct reload *r);

/* Sets, in cfg, the settings the command line's flags name (the table's
 * flags; --config, --help, --version, -t are skipped), in order.
 * argv is not changed but getopt's state is (optind). RC_FORMAT with
 * "--flag: what is wrong" in err; RC_NOMEM. */
enum rc reload_flags(int argc, char **argv, struct config *cfg, char *err, size_t errsz);

#endif
