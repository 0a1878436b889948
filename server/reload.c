/* SIGHUP's config reload (reload.h). The order: read the file and the
 * flags into a new config, collecting every error; config_finish(); put
 * back the old value of each changed setting that is not reloadable;
 * run --check-config's checks; then say what changed and hand each part
 * to its module. Nothing is applied until everything has passed. */
#include "server/reload.h"

#include "ingest/ingest.h"
#include "server/admin.h"
#include "server/configtest.h"
#include "server/limits.h"
#include "server/log.h"
#include "server/settings.h"
#include "server/shield.h"
#include "server/snap.h"
#include "server/worker.h"
#include "server/www.h"

#include <getopt.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct retired {
	struct config *cfg;
	uint64_t gen;        /* free once the ingest thread has taken this */
};

struct reload {
	const struct config *boot;
	const struct config *cur;   /* boot, or the last applied (owned) */
	struct config *cur_owned;   /* cur when it is not boot */
	const char *file;
	int argc;
	char **argv;
	struct retired retired[RELOAD_RETIRED_MAX];
	size_t nretired;
};

/* Every error of one attempt, for the log. */
struct errors {
	unsigned n;
	char line[RELOAD_ERRORS_LOGGED_MAX][768];
};

static void error_add(struct errors *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void error_add(struct errors *e, const char *fmt, ...)
{
	if (e->n < RELOAD_ERRORS_LOGGED_MAX) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->line[e->n], sizeof e->line[e->n], fmt, ap);
		va_end(ap);
	}
	e->n++;
}

struct reload *reload_new(const struct config *boot, const char *config_file, int argc,
			  char **argv)
{
	struct reload *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->boot = r->cur = boot;
	r->file = config_file;
	r->argc = argc;
	r->argv = argv;
	return r;
}

enum rc reload_flags(int argc, char **argv, struct config *cfg, char *err, size_t errsz)
{
	/* The same option table as main's parse_args(), so getopt_long reads
	 * the command line the same way (abbreviations included). */
	struct option *opts = calloc(settings_count + 5, sizeof *opts);
	if (!opts)
		return RC_NOMEM;
	size_t n = 0;
	for (size_t i = 0; i < settings_count; i++)
		if (settings[i].flag)
			opts[n++] = (struct option){ settings[i].flag, required_argument, NULL,
						     RELOAD_FLAG_BASE + (int)i };
	opts[n++] = (struct option){ "config", required_argument, NULL, 'c' };
	opts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	opts[n++] = (struct option){ "version", no_argument, NULL, 'V' };
	opts[n++] = (struct option){ "check-config", no_argument, NULL, 't' };
	opts[n] = (struct option){ NULL, 0, NULL, 0 };
	enum rc rc = RC_OK;
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "t", opts, NULL)) != -1) {
		if (c < RELOAD_FLAG_BASE)
			continue;
		const struct setting *s = &settings[c - RELOAD_FLAG_BASE];
		char why[1024];
		rc = config_set(cfg, s->section, s->key, optarg, NULL, why, sizeof why);
		if (rc) {
			snprintf(err, errsz, "--%s: %s", s->flag, rc == RC_NOMEM ? "out of memory" : why);
			break;
		}
	}
	free(opts);
	return rc;
}

/* ---- reading the file with every error and its line ---- */

struct load {
	struct config *cfg;
	const char *file;
	char base[PATH_BUF_BYTES];
	FILE *f;
	unsigned line;       /* the line inih is on */
	bool line_open;      /* the last chunk read did not end the line */
	struct errors *errs;
};

/* inih's reader: fgets, counting lines (a long line may come in chunks). */
static char *read_line(char *str, int num, void *stream)
{
	struct load *l = stream;
	char *got = fgets(str, num, l->f);
	if (got) {
		if (!l->line_open)
			l->line++;
		size_t n = strlen(got);
		l->line_open = !n || got[n - 1] != '\n';
	}
	return got;
}

static int on_line(void *user, const char *section, const char *name, const char *value)
{
	struct load *l = user;
	char err[512];
	enum rc rc = config_set(l->cfg, section, name, value, l->base, err, sizeof err);
	if (rc)
		error_add(l->errs, "%s:%u: %s", l->file, l->line,
			  rc == RC_NOMEM ? "out of memory" : err);
	return 1;   /* go on: every error is wanted */
}

static void load_all(struct config *cfg, const char *file, struct errors *errs)
{
	struct load l = { .cfg = cfg, .file = file, .errs = errs };
	snprintf(l.base, sizeof l.base, "%s", file);
	char *slash = strrchr(l.base, '/');
	if (slash)
		*slash = '\0';
	else
		strcpy(l.base, ".");
	/* As config_load(): one line per value, long lines allowed. */
	ini_allow_multiline = false;
	ini_use_stack = false;
	ini_allow_realloc = true;
	ini_max_line = CFG_MAX_VALUE_BYTES + 256;
	l.f = fopen(file, "re");
	if (!l.f) {
		error_add(errs, "%s: cannot open the config file: %m", file);
		return;
	}
	int first_bad = ini_parse_stream(read_line, &l, on_line, &l);
	fclose(l.f);
	/* on_line() never fails, so a positive line is one inih could not
	 * read as 'key = value' or a [section]. */
	if (first_bad > 0)
		error_add(errs, "%s:%d: not a 'key = value' line or a [section] header", file,
			  first_bad);
	else if (first_bad == -2)
		error_add(errs, "%s: out of memory", file);
}

/* ---- the checks --check-config runs ---- */

static void run_checks(const struct config *cfg, const char *file, struct errors *errs)
{
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);
	if (!f) {
		error_add(errs, "out of memory for the checks");
		return;
	}
	int bad = configtest_run(cfg, file, f);
	fclose(f);
	static const char tag[] = "prepd: error: ";
	for (char *p = out, *nl; p && *p; p = nl ? nl + 1 : NULL) {
		nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		if (!strncmp(p, tag, sizeof tag - 1))
			error_add(errs, "%s", p + sizeof tag - 1);
		else if (!strncmp(p, "prepd: warning: ", 16))
			log_warn("server reload-warning warning=\"%s\"", p + 16);
	}
	if (bad && !errs->n)
		error_add(errs, "--check-config's checks failed");
	free(out);
}

/* ---- what changed ---- */

static bool same_rules(const struct rules *a, const struct rules *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct rule *x = &a->v[i], *y = &b->v[i];
		if (strcmp(x->pattern, y->pattern) || x->nhdr != y->nhdr)
			return false;
		for (size_t h = 0; h < x->nhdr; h++)
			if (strcmp(x->hdr[h].name, y->hdr[h].name) ||
			    strcmp(x->hdr[h].value, y->hdr[h].value))
				return false;
	}
	return true;
}

static bool in_section(const struct setting *s, const char *section)
{
	return !strcmp(s->section, section);
}

/* The response policy: what the snapshot's responses are built from. */
static bool policy_row(const struct setting *s)
{
	return s->offset >= offsetof(struct config, response) &&
	       s->offset < offsetof(struct config, response) + sizeof(struct response_settings);
}

static void refuse(const struct reload *r, const struct errors *errs)
{
	unsigned shown = errs->n < RELOAD_ERRORS_LOGGED_MAX ? errs->n : RELOAD_ERRORS_LOGGED_MAX;
	for (unsigned i = 0; i < shown; i++)
		log_error("server reload-error error=\"%s\"", errs->line[i]);
	log_error("server reload-refused file=%s errors=%u action=\"nothing changed: prepd runs "
		  "with the config it had; fix the errors (prepd --check-config%s%s shows them) "
		  "and send SIGHUP again\"", r->file ? r->file : "-", errs->n,
		  r->file ? " --config " : "", r->file ? r->file : "");
}

enum rc reload_run(struct reload *r)
{
	/* A reload waits for the ingest thread to let go of the configs it
	 * replaced; at RELOAD_RETIRED_MAX it is busy with a long package. */
	if (reload_tidy(r) && r->nretired == RELOAD_RETIRED_MAX) {
		log_warn("server reload-busy retired=%zu action=\"the ingest thread is busy with a "
			 "package and still reads older settings; send SIGHUP again in a minute\"",
			 r->nretired);
		return RC_LIMIT;
	}
	log_info("server reload-start file=%s", r->file ? r->file : "-");
	struct errors *errs = calloc(1, sizeof *errs);
	struct config *next = calloc(1, sizeof *next);
	if (!errs || !next) {
		free(errs);
		free(next);
		log_error("server reload-failed error=\"out of memory\"");
		return RC_NOMEM;
	}
	config_init(next);
	char err[1024];
	if (r->file)
		load_all(next, r->file, errs);
	if (!errs->n && reload_flags(r->argc, r->argv, next, err, sizeof err))
		error_add(errs, "%s", err);
	if (!errs->n && config_finish(next, err, sizeof err))
		error_add(errs, "%s%s%s", r->file ? r->file : "", r->file ? ": " : "", err);
	const struct config *cur = r->cur;
	/* What cannot change while running keeps its running value. */
	unsigned ignored = 0;
	for (size_t i = 0; !errs->n && i < settings_count; i++) {
		const struct setting *s = &settings[i];
		if (s->reloadable || settings_same(cur, next, s))
			continue;
		/* upstream and upstream_index share a field: name it once. */
		if (!strcmp(s->key, "upstream_index") && !cur->fetch.index && !next->fetch.index)
			continue;
		char was[256], now[256];
		settings_show(cur, s, was, sizeof was);
		settings_show(next, s, now, sizeof now);
		log_warn("config not-reloaded key=%s.%s old=%s new=%s action=\"restart to apply "
			 "(systemctl restart prepd; the socket unit keeps visitors waiting, not "
			 "refused)\"", s->section, s->key, was, now);
		if (settings_copy(next, cur, s))
			error_add(errs, "out of memory");
		ignored++;
	}
	if (!errs->n && ignored && config_finish(next, err, sizeof err))
		error_add(errs, "%s", err);
	if (!errs->n) {
		/* package is read at start only: a file removed since is no
		 * reason to refuse a reload. */
		char *package = next->server.package;
		next->server.package = NULL;
		run_checks(next, r->file, errs);
		next->server.package = package;
	}
	if (errs->n) {
		refuse(r, errs);
		config_release(next);
		free(next);
		free(errs);
		return RC_FORMAT;
	}
	free(errs);

	/* Say what changed. Paths are shown, never what a file holds. */
	unsigned changed = 0;
	bool policy = false, placeholder = false, shield = false, ingest = false;
	for (size_t i = 0; i < settings_count; i++) {
		const struct setting *s = &settings[i];
		if (settings_same(cur, next, s))
			continue;
		if (!strcmp(s->key, "upstream_index") && !cur->fetch.index && !next->fetch.index)
			continue;
		if (!strcmp(s->key, "upstream") && (cur->fetch.index || next->fetch.index) &&
		    cur->fetch.index == next->fetch.index)
			continue;
		char was[256], now[256];
		settings_show(cur, s, was, sizeof was);
		settings_show(next, s, now, sizeof now);
		log_info("config reloaded key=%s.%s old=%s new=%s", s->section, s->key, was, now);
		changed++;
		policy |= policy_row(s);
		placeholder |= in_section(s, "placeholder");
		shield |= in_section(s, "shield");
		ingest |= in_section(s, "ingest") || in_section(s, "limits");
	}
	if (!same_rules(&cur->response.rules, &next->response.rules)) {
		log_info("config reloaded key=headers old=\"%zu rules\" new=\"%zu rules\"",
			 cur->response.rules.n, next->response.rules.n);
		changed++;
		policy = true;
	}

	/* Apply. */
	log_set_level((enum log_level)next->server.log_level);
	admin_reload(next);
	struct shield *sh = workers_shield();
	if (shield && sh && shield_reload(sh, &next->shield, err, sizeof err))
		log_error("shield reload-failed error=\"%s\" action=\"the limits stay as they were; "
			  "send SIGHUP again\"", err);
	struct snap *ph = NULL;
	if (policy || placeholder) {
		enum rc rc;
		ph = www_default_snapshot(next, &rc);
		if (!ph)
			log_error("server placeholder-failed error=%s", rc_str(rc));
	}
	uint64_t gen = ingest_reload(&next->ingest, policy, ph);
	if (r->cur_owned) {
		r->retired[r->nretired].cfg = r->cur_owned;
		r->retired[r->nretired].gen = gen;
		r->nretired++;
	}
	r->cur = r->cur_owned = next;
	log_info("server reload-done changed=%u not_reloaded=%u generation=%llu%s", changed,
		 ignored, (unsigned long long)gen,
		 ingest || policy || placeholder ? " ingest=\"takes it between packages\"" : "");
	return RC_OK;
}

bool reload_tidy(struct reload *r)
{
	uint64_t taken = ingest_reload_taken();
	size_t keep = 0;
	for (size_t i = 0; i < r->nretired; i++) {
		if (r->retired[i].gen <= taken) {
			config_release(r->retired[i].cfg);
			free(r->retired[i].cfg);
		} else {
			r->retired[keep++] = r->retired[i];
		}
	}
	r->nretired = keep;
	return keep > 0;
}

void reload_free(struct reload *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nretired; i++) {
		config_release(r->retired[i].cfg);
		free(r->retired[i].cfg);
	}
	if (r->cur_owned) {
		config_release(r->cur_owned);
		free(r->cur_owned);
	}
	free(r);
}
