/* The settings table: one row per key of the config file, saying its
 * section, key, command-line flag, type, bounds, default, help and where in
 * struct config it lives. The table alone drives the INI parser
 * (config_set, config_load), the command-line flags, --help, the defaults
 * (config_init), freeing (config_release) and the "known keys" lists of the
 * errors. server/settings.c says at its top how to add a key.
 *
 * Everything here is pure and not thread-safe on one config: it runs at
 * start-up (and, for rows marked reloadable, later on a copy of the config
 * being reloaded). Nothing logs. */
#ifndef PREPD_SETTINGS_H
#define PREPD_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "server/config.h"
#include "server/rc.h"

/* What a value looks like and what it is stored as. */
enum setting_type {
	SETTING_UINT,    /* unsigned: a plain decimal in [min, max] */
	SETTING_SIZE,    /* uint64_t: decimal with a K, M or G suffix, in
	                  * [min, max] (parse_size) */
	SETTING_ENUM,    /* an enum (int-sized): one of names[], whose index is
	                  * the value stored; case-insensitive */
	SETTING_PATH,    /* char *: a file or folder; a relative one is resolved
	                  * against the config file's folder (not for flags) */
	SETTING_HEADER,  /* char *: non-empty and valid as an HTTP header value
	                  * (hdr_value_valid) */
	SETTING_LISTEN,  /* struct listen_addr (config_parse_listen) */
	SETTING_CUSTOM,  /* char *: the row's parse() checks and stores it, and
	                  * may set other fields (upstream_index sets
	                  * fetch.index) */
	SETTING_BOOL,    /* bool: yes/no, true/false, on/off, 1/0; def is
	                  * written "yes" or "no" */
	SETTING_DURATION, /* unsigned seconds: a number with an s, m or h
	                  * suffix (none: seconds), in [min, max] seconds;
	                  * def is written with its suffix ("20m") */
	SETTING_MILLIS,  /* unsigned milliseconds: a number with an ms, s or
	                  * m suffix (required: "250ms", "2s"), in [min, max]
	                  * milliseconds; def is written with its suffix */
};

struct setting;

/* A SETTING_CUSTOM row's parser: checks value and stores it in *slot (the
 * row's char * field, owned by the config: free the old value). On a bad
 * value returns RC_FORMAT with "key = 'value': expected ..." in err;
 * RC_NOMEM. */
typedef enum rc setting_parse_fn(struct config *cfg, const struct setting *s,
				 char **slot, const char *value,
				 const char *base_dir, char *err, size_t errsz);

struct setting {
	const char *section;       /* without brackets: "server" */
	const char *key;
	const char *flag;          /* command-line flag without "--", or NULL */
	const char *arg;           /* the flag's value in --help: FILE, N, ... */
	enum setting_type type;
	size_t offset;             /* where the value lives in struct config */
	uint64_t min, max;         /* SETTING_UINT and SETTING_SIZE */
	const char *const *names;  /* SETTING_ENUM: NULL-terminated */
	setting_parse_fn *parse;   /* SETTING_CUSTOM */
	const char *def;           /* default as written in the file; NULL:
	                            * unset. Not for UINT and SIZE rows, which
	                            * always default to def_num */
	uint64_t def_num;          /* SETTING_UINT and SETTING_SIZE default */
	const char *expect;        /* errors: what a good value is. UINT: the
	                            * noun ("seconds"; NULL: "a number");
	                            * HEADER: a description */
	const char *zero;          /* SETTING_UINT: what 0 means, when it is
	                            * allowed and special ("one per core") */
	const char *help;          /* a sentence for --help (flags) and for
	                            * reading the table */
	bool reloadable;           /* a new value could take effect in a running
	                            * prepd (see the rule in settings.c) */
	bool named;                /* a row of a named section ([purge NAME]):
	                            * offset is that of the first instance's
	                            * field; see "named sections" in settings.c */
};

extern const struct setting settings[];
extern const size_t settings_count;

/* The row for section.key, or NULL. */
const struct setting *settings_find(const char *section, const char *key);

/* The row with that flag (without "--"), or NULL. */
const struct setting *settings_find_flag(const char *flag);

/* Sets section.key = value in cfg: a row of the table, or a header rule of
 * the [headers] section (PATTERN = Header-Name: value, handled by
 * rules_add()). base_dir as for config_set(). On a bad value, an unknown
 * key or an unknown section returns RC_FORMAT (RC_LIMIT for too many
 * header rules) with what is wrong, for a person, in err ("unknown key
 * 'x' in [tls]; known keys: cert, key, priorities"); RC_NOMEM. */
enum rc settings_set(struct config *cfg, const char *section, const char *key,
		     const char *value, const char *base_dir, char *err,
		     size_t errsz);

/* Parses value into row s's place in cfg. Errors as settings_set(). */
enum rc settings_apply(struct config *cfg, const struct setting *s,
		       const char *value, const char *base_dir, char *err,
		       size_t errsz);

/* Writes row s's default, as it would be written in the config file
 * ("8000", "1G", ":8080"), into buf. Returns false (buf "") when the row
 * has none, which means the setting is unset. */
bool settings_default(const struct setting *s, char *buf, size_t bufsz);

/* Applies every row's default to cfg, which must be zeroed. A default that
 * does not parse or out-of-memory aborts (start-up, a bug). */
void settings_apply_defaults(struct config *cfg);

/* Frees every value the table owns in cfg (its char * fields) and sets
 * them to NULL. Not the [headers] rules, nor derived fields. */
void settings_release(struct config *cfg);

/* Whether row s holds the same value in a and b (strings compared by
 * content). Pure. */
bool settings_same(const struct config *a, const struct config *b, const struct setting *s);

/* Copies row s's value from src into dst (a string is duplicated, the
 * old one freed). RC_OK or RC_NOMEM (dst unchanged). */
enum rc settings_copy(struct config *dst, const struct config *src, const struct setting *s);

/* Writes row s's value in cfg for a log line: numbers and names as they
 * are, listeners as HOST:PORT or off, strings in double quotes with
 * quotes, backslashes and control bytes as \xHH; "-" when unset. Cut to
 * bufsz. */
void settings_show(const struct config *cfg, const struct setting *s, char *buf, size_t bufsz);

/* Writes the flags with their help for --help, grouped by section, each
 * with its default. */
void settings_help(FILE *out);

#endif
