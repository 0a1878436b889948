/* prepd report: the memoria técnica (R19) of a night, from the data
 * folder alone, while prepd runs or after:
 *
 *   OUT/memoria-tecnica.html   Spanish, one self-contained file (inline
 *                              CSS and SVG, no script, printable)
 *   OUT/memoria-tecnica.pdf    the same, printed by headless Chromium
 *                              when it is installed
 *   OUT/logs/                  the access log lines of the night and the
 *                              day after, one gzip file per local day,
 *                              and SHA256SUMS (sha256sum -c)
 *
 * Where each figure comes from: DATA/stats.db (audience: the minute,
 * visit, page, referrer, session and minute_status tables of one source;
 * availability: the probe table), DATA/journal.log (the publication
 * timeline), DATA/incidents.log (restarts, refusals, failed periods,
 * rollbacks, shield actions, purge failures, probe changes) and
 * [server] access_log with its rotated siblings (the bundle). */
#ifndef PREPD_REPORT_H
#define PREPD_REPORT_H

#include <stdbool.h>

#include "server/config.h"

struct report_opts {
	const char *from, *to;              /* "YYYY-MM-DDTHH:MM", local; NULL:
					     * from the journal */
	const char *baseline_from, *baseline_to;   /* NULL: a week earlier */
	const char *source;                 /* live, clf, cloudfront,
					     * cloudflare; NULL: chosen */
	const char *out;                    /* the folder to write */
	bool no_pdf;
};

/* Takes report's own flags (--from, --to, --baseline-from,
 * --baseline-to, --source, --out, --no-pdf; "--flag value" or
 * "--flag=value") out of argv, leaving argv[0] and the settings' flags
 * (--data, --config, ...) in place and *argc counting them. Strings point
 * into argv. Returns 0, or 2 after saying what is wrong on stderr. */
int report_take_args(int *argc, char **argv, struct report_opts *o);

/* Writes the report. The process's local time must be the institute's
 * zone (cut_zone_use()). Prints what it wrote and what it could not
 * (no statistics, no Chromium) on stdout/stderr; returns 0, 1 when the
 * report could not be written, 2 for bad options. */
int report_run(const struct config *cfg, const struct report_opts *o);

#endif
