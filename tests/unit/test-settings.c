/* The settings table: it and prepd.ini.example list the same keys, every
 * default parses through its own row, flags are unique and all in --help.
 * Takes the path of prepd.ini.example. */
#include "check.h"
#include "server/config.h"
#include "server/limits.h"
#include "server/settings.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Compares the keys of an example config with the table: a key line is
 * "key = value" or ";key = value" (a commented-out default) within its
 * [section]; [headers] holds patterns, not keys. Returns how many keys one
 * lists and the other does not, each reported when report. */
static int compare_example(const char *file, bool report)
{
	FILE *f = fopen(file, "r");
	CHECK(f != NULL, "cannot open %s", file);
	if (!f)
		return 1;
	bool seen[1024] = { false };
	CHECK(settings_count <= sizeof seen / sizeof seen[0], "table too long for the test");
	int problems = 0, lineno = 0;
	char line[8192], section[64] = "";
	while (fgets(line, sizeof line, f)) {
		lineno++;
		if (line[0] == '[') {
			sscanf(line, "[%63[^]]", section);
			continue;
		}
		const char *p = line[0] == ';' ? line + 1 : line;
		size_t n = 0;
		while (islower((unsigned char)p[n]) || isdigit((unsigned char)p[n]) || p[n] == '_')
			n++;
		if (!n || strncmp(p + n, " =", 2) || !strcmp(section, "headers"))
			continue;
		char key[128];
		snprintf(key, sizeof key, "%.*s", (int)n, p);
		const struct setting *s = settings_find(section, key);
		if (!s) {
			problems++;
			if (report)
				CHECK(false, "%s:%d: [%s] %s is not in the settings table", file, lineno,
				      section, key);
			continue;
		}
		seen[s - settings] = true;
	}
	fclose(f);
	for (size_t i = 0; i < settings_count; i++) {
		if (seen[i])
			continue;
		problems++;
		if (report)
			CHECK(false, "%s.%s is not in %s (as '%s =' or ';%s =' in [%s])",
			      settings[i].section, settings[i].key, file, settings[i].key,
			      settings[i].key, settings[i].section);
	}
	return problems;
}

/* A copy of file with extra appended after the line starting with after
 * (or at the end), minus the line starting with drop. */
static const char *mutate(const char *file, const char *after, const char *extra,
			  const char *drop)
{
	static char path[64];
	strcpy(path, "/tmp/prepd-test-settings-XXXXXX");
	int fd = mkstemp(path);
	FILE *in = fopen(file, "r"), *out = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!in || !out)
		abort();
	char line[8192];
	while (fgets(line, sizeof line, in)) {
		if (drop && !strncmp(line, drop, strlen(drop)))
			continue;
		fputs(line, out);
		if (after && !strncmp(line, after, strlen(after)))
			fputs(extra, out);
	}
	if (!after)
		fputs(extra, out);
	fclose(in);
	fclose(out);
	return path;
}

static uint64_t stored_number(const struct config *cfg, const struct setting *s)
{
	const char *at = (const char *)cfg + s->offset;
	return s->type == SETTING_UINT ? *(const unsigned *)at : *(const uint64_t *)at;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test-settings PATH/prepd.ini.example\n");
		return 2;
	}
	const char *example = argv[1];

	/* The example and the table list the same keys... */
	int base = compare_example(example, true);
	CHECK(base == 0, "%s and the table differ", example);
	/* ... and the comparison sees a key that is not in the table, one
	 * in the wrong section, and one missing from the example. */
	const char *copy = mutate(example, "[server]", "bogus_key = 1\n", NULL);
	CHECK(compare_example(copy, false) == base + 1, "a bogus key in the example goes unnoticed");
	unlink(copy);
	copy = mutate(example, "[tls]", "threads = 1\n", NULL);
	CHECK(compare_example(copy, false) == base + 1, "a key in the wrong section goes unnoticed");
	unlink(copy);
	copy = mutate(example, NULL, "", "poll =");
	CHECK(compare_example(copy, false) == base + 1, "a key missing from the example goes unnoticed");
	unlink(copy);

	struct config cfg;
	char err[1024], def[CFG_MAX_VALUE_BYTES + 1];
	for (size_t i = 0; i < settings_count; i++) {
		const struct setting *s = &settings[i];
		const char *name = s->key;

		/* One row per key; every section is one config_set knows. */
		CHECK(settings_find(s->section, s->key) == s, "%s.%s is in the table twice",
		      s->section, name);
		memset(&cfg, 0, sizeof cfg);
		CHECK(config_set(&cfg, s->section, "no_such_key", "1", NULL, err, sizeof err) &&
		      strstr(err, "unknown key 'no_such_key'") && strstr(err, name),
		      "%s: the known-keys list: %s", name, err);
		CHECK(s->help && *s->help, "%s has no help", name);

		/* The default parses through its own row. */
		bool has = settings_default(s, def, sizeof def);
		CHECK(has || (s->type != SETTING_UINT && s->type != SETTING_SIZE),
		      "%s: a number always has a default", name);
		if (has) {
			enum rc rc = config_set(&cfg, s->section, s->key, def, NULL, err, sizeof err);
			CHECK(rc == RC_OK, "%s: its default '%s' does not parse: %s", name, def, err);
		}
		if (s->type == SETTING_UINT || s->type == SETTING_SIZE) {
			CHECK(stored_number(&cfg, s) == s->def_num, "%s: default '%s' stores %llu",
			      name, def, (unsigned long long)stored_number(&cfg, s));
			CHECK(s->min <= s->def_num && s->def_num <= s->max, "%s: default out of bounds",
			      name);
			/* The bounds are inclusive and enforced. */
			char v[32];
			snprintf(v, sizeof v, "%llu", (unsigned long long)s->max);
			CHECK(settings_apply(&cfg, s, v, NULL, err, sizeof err) == RC_OK &&
			      stored_number(&cfg, s) == s->max, "%s: max %s refused", name, v);
			snprintf(v, sizeof v, "%llu", (unsigned long long)s->max + 1);
			CHECK(settings_apply(&cfg, s, v, NULL, err, sizeof err) == RC_FORMAT &&
			      strstr(err, name), "%s: %s above max accepted", name, v);
			if (s->min) {
				snprintf(v, sizeof v, "%llu", (unsigned long long)s->min - 1);
				CHECK(settings_apply(&cfg, s, v, NULL, err, sizeof err) == RC_FORMAT,
				      "%s: %s below min accepted", name, v);
			}
		}
		if (s->type == SETTING_ENUM) {
			for (int k = 0; s->names[k]; k++)
				CHECK(settings_apply(&cfg, s, s->names[k], NULL, err, sizeof err) == RC_OK &&
				      *(const int *)((const char *)&cfg + s->offset) == k,
				      "%s: %s does not store %d", name, s->names[k], k);
			CHECK(settings_apply(&cfg, s, "nonsense", NULL, err, sizeof err) == RC_FORMAT &&
			      strstr(err, s->names[0]), "%s: a bad value's error lists the names", name);
		}
		config_release(&cfg);

		/* Flags: unique, named after their key, with a value name. */
		if (!s->flag)
			continue;
		CHECK(settings_find_flag(s->flag) == s, "--%s is given to two keys", s->flag);
		char key[64];
		snprintf(key, sizeof key, "%s", s->flag);
		for (char *p = key; *p; p++)
			if (*p == '-')
				*p = '_';
		CHECK(!strcmp(key, s->key), "--%s sets %s, not the key of its name", s->flag, name);
		CHECK(s->arg && *s->arg, "--%s has no value name for --help", s->flag);
	}

	/* --help lists every flag, in lines a terminal shows whole. */
	char *help = NULL;
	size_t helplen = 0;
	FILE *mem = open_memstream(&help, &helplen);
	settings_help(mem);
	fclose(mem);
	for (size_t i = 0; i < settings_count; i++) {
		if (!settings[i].flag)
			continue;
		char want[96];
		snprintf(want, sizeof want, "\n  --%s %s ", settings[i].flag, settings[i].arg);
		CHECK(strstr(help, want) != NULL, "--help lacks '%s'", want + 1);
	}
	for (const char *l = help; *l; ) {
		size_t n = strcspn(l, "\n");
		CHECK(n <= 79, "--help line over 79 columns: %.*s", (int)n, l);
		l += n + (l[n] == '\n');
	}
	free(help);

	/* config_init applies the table's defaults, under limits.h's names. */
	config_init(&cfg);
	CHECK(cfg.server.http.on && cfg.server.http.port == 8080 && !cfg.server.http.set,
	      "http defaults to :8080, not given explicitly");
	CHECK(!cfg.server.admin.on, "admin off");
	CHECK(cfg.server.conn_limit == NET_CONN_LIMIT_DEFAULT &&
	      cfg.server.conn_timeout == NET_CONN_TIMEOUT_DEFAULT, "connection defaults");
	CHECK(!strcmp(cfg.server.data_dir, PREPD_DEFAULT_DATA_DIR), "data: %s (meson's default_data_dir)",
	      cfg.server.data_dir);
	CHECK(!strcmp(cfg.response.spa_fallback, "index.html"), "spa_fallback normalised: %s",
	      cfg.response.spa_fallback);
	CHECK(!strcmp(cfg.tls.priorities, CONFIG_TLS_PRIORITIES_DEFAULT), "priorities");
	CHECK(cfg.limits.max_total_bytes == PKG_MAX_TOTAL_BYTES_DEFAULT &&
	      cfg.ingest.min_free_bytes == DISK_MIN_FREE_DEFAULT &&
	      cfg.fetch.low_speed_bytes == FETCH_LOW_SPEED_BYTES_DEFAULT, "limits.h defaults");
	CHECK(cfg.ingest.verify == VERIFY_NONE && cfg.ingest.kind == KIND_AUTO, "enum defaults");

	/* config_finish derives, in one place. */
	CHECK(config_finish(&cfg, err, sizeof err) == RC_OK, "finish: %s", err);
	CHECK(!cfg.server.https.on, "no certificate, no HTTPS");
	CHECK(!strcmp(cfg.fetch.tmp_dir, PREPD_DEFAULT_DATA_DIR "/tmp") &&
	      !strcmp(cfg.fetch.state_file, PREPD_DEFAULT_DATA_DIR "/fetch.state"),
	      "fetch paths: %s %s", cfg.fetch.tmp_dir, cfg.fetch.state_file);
	CHECK(cfg.ingest.fetch == NULL && cfg.ingest.data_dir == cfg.server.data_dir &&
	      cfg.ingest.limits == &cfg.limits && cfg.ingest.startup_package == NULL,
	      "ingest derived fields");
	CHECK(config_set(&cfg, "ingest", "upstream_index", "https://x.example/i.txt", NULL, err,
			 sizeof err) == RC_OK, "upstream_index: %s", err);
	CHECK(config_set(&cfg, "ingest", "verify", "sha256", NULL, err, sizeof err) == RC_OK, "verify");
	CHECK(config_set(&cfg, "ingest", "max_package_bytes", "5M", NULL, err, sizeof err) == RC_OK,
	      "max_package_bytes");
	CHECK(config_set(&cfg, "server", "data", "/srv/d", NULL, err, sizeof err) == RC_OK, "data");
	CHECK(config_finish(&cfg, err, sizeof err) == RC_OK, "finish again: %s", err);
	CHECK(cfg.ingest.fetch == &cfg.fetch && cfg.fetch.index &&
	      !strcmp(cfg.fetch.url, "https://x.example/i.txt"), "an index upstream pulls");
	CHECK(cfg.fetch.max_bytes == 5ull << 20 && !strcmp(cfg.fetch.evidence_suffix, ".sha256") &&
	      !strcmp(cfg.fetch.tmp_dir, "/srv/d/tmp"), "fetch derived from ingest and data");
	CHECK(config_set(&cfg, "ingest", "upstream", "https://x.example/p.zip", NULL, err,
			 sizeof err) == RC_OK && !cfg.fetch.index, "upstream after upstream_index");
	config_release(&cfg);

	/* [ingest] require_base, required_paths, period, time_zone. */
	config_init(&cfg);
	CHECK(cfg.ingest.require_base && cfg.ingest.period_s == 20 * 60 &&
	      !strcmp(cfg.ingest.time_zone, "America/Mexico_City") && !cfg.ingest.required_paths,
	      "defaults: require_base yes, period 20m, Mexico City, no required paths");
	static const struct {
		const char *key, *value;
		bool ok;
		unsigned period;      /* period: the seconds stored */
		const char *stored;   /* required_paths, time_zone: the string stored */
	} v[] = {
		{ "require_base", "no", true, 0, NULL }, { "require_base", "YES", true, 0, NULL },
		{ "require_base", "off", true, 0, NULL }, { "require_base", "maybe", false, 0, NULL },
		{ "require_base", "", false, 0, NULL },
		{ "period", "15m", true, 900, NULL }, { "period", "90", true, 90, NULL },
		{ "period", "30s", true, 30, NULL }, { "period", "2h", true, 7200, NULL },
		{ "period", "24h", true, 86400, NULL }, { "period", "25h", false, 0, NULL },
		{ "period", "0s", false, 0, NULL }, { "period", "m", false, 0, NULL },
		{ "period", "5d", false, 0, NULL }, { "period", "-5m", false, 0, NULL },
		{ "period", "1.5m", false, 0, NULL }, { "period", "99999999999999m", false, 0, NULL },
		{ "required_paths", "/index.html  json/a.json", true, 0, "index.html json/a.json" },
		{ "required_paths", "../etc/passwd", false, 0, NULL },
		{ "required_paths", "json/", false, 0, NULL },
		{ "required_paths", "   ", true, 0, NULL },
		{ "time_zone", "UTC", true, 0, "UTC" },
		{ "time_zone", "America/Monterrey", true, 0, "America/Monterrey" },
		{ "time_zone", "Mexico/Nowhere", false, 0, NULL },
		{ "time_zone", "../../../etc/passwd", false, 0, NULL },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		char e[512] = "";
		enum rc rc = config_set(&cfg, "ingest", v[i].key, v[i].value, NULL, e, sizeof e);
		CHECK((rc == RC_OK) == v[i].ok, "%s = '%s': rc %d (%s)", v[i].key, v[i].value, rc, e);
		CHECK(rc == RC_OK || strstr(e, v[i].key), "%s = '%s': the error names the key: %s",
		      v[i].key, v[i].value, e);
		if (rc == RC_OK && v[i].period)
			CHECK(cfg.ingest.period_s == v[i].period, "%s = '%s': %u", v[i].key, v[i].value,
			      cfg.ingest.period_s);
		if (rc == RC_OK && !strcmp(v[i].key, "require_base"))
			CHECK(cfg.ingest.require_base == (v[i].value[0] == 'Y'),
			      "require_base = '%s': %d", v[i].value, cfg.ingest.require_base);
		if (rc == RC_OK && !strcmp(v[i].key, "required_paths"))
			CHECK(v[i].stored ? cfg.ingest.required_paths &&
					    !strcmp(cfg.ingest.required_paths, v[i].stored) :
					    !cfg.ingest.required_paths,
			      "required_paths = '%s': '%s'", v[i].value,
			      cfg.ingest.required_paths ? cfg.ingest.required_paths : "(none)");
		if (rc == RC_OK && !strcmp(v[i].key, "time_zone"))
			CHECK(!strcmp(cfg.ingest.time_zone, v[i].stored), "time_zone: %s",
			      cfg.ingest.time_zone);
	}
	config_release(&cfg);
	return check_done();
}
