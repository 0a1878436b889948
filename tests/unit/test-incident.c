/* The incident log (server/incident.h): every kind's line is one JSON
 * object with time and kind, hostile strings cannot forge a line or a
 * field, a clean stop and a crash are told apart at the next start, a
 * torn last line is ended, and the reader filters by time and tail. */
#include "server/incident.h"

#include "check.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int collect(void *ctx, const struct incident_rec *r)
{
	struct incident_rec *all = ctx;
	size_t i = 0;
	while (all[i].kind[0])
		i++;
	if (i < 63)
		all[i] = *r;
	return 0;
}

/* Parses each line; torn: the 1-based line that is expected not to be
 * JSON (a crash cut it), 0: none. */
static size_t lines(const char *path, json_t **out, size_t max, size_t torn)
{
	FILE *f = fopen(path, "r");
	char buf[8192];
	size_t n = 0;
	while (f && fgets(buf, sizeof buf, f)) {
		json_error_t e;
		json_t *j = json_loads(buf, 0, &e);
		if (n + 1 == torn) {
			CHECK(!j && strchr(buf, '\n'), "the torn line %zu is ended alone", torn);
			n++;
			continue;
		}
		CHECK(json_is_object(j), "line %zu is a JSON object: %s (%s)", n + 1, buf, e.text);
		CHECK(j && json_is_string(json_object_get(j, "time")) &&
		      json_is_string(json_object_get(j, "kind")), "line %zu has time and kind", n + 1);
		if (n < max)
			out[n] = j;
		else
			json_decref(j);
		n++;
	}
	if (f)
		fclose(f);
	return n;
}

static const char *str(json_t *j, const char *k)
{
	const char *s = json_string_value(json_object_get(j, k));
	return s ? s : "";
}

int main(void)
{
	char dir[] = "/tmp/prepd-test-incident.XXXXXX";
	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	char path[256], err[256];
	snprintf(path, sizeof path, "%s/incidents.log", dir);

	/* before open: nothing written, nothing fails */
	incident_refused("x", "y", 1, "verify", "z");
	CHECK(access(path, F_OK) != 0, "no file before incident_open()");

	CHECK(!incident_open(dir, "9.9", err, sizeof err), "open: %s", err);
	CHECK(incident_open(dir, "9.9", err, sizeof err) == RC_INVALID, "a second open is refused");
	incident_refused("evil\n{\"kind\":\"stop\"}.zip", "spool:a\"b", 42, "verify",
			 "SHA-256 mismatch \x01\xff");
	incident_failed_period(2, "20240602_2215", 1717388100, 1200);
	incident_rollback(7, "20240602_2200", true, NULL);
	incident_shield("rate", "203.0.113.9", "429", 1500);
	incident_purge_failed("cloudflare", "20240602_2215", "HTTP 403 \\ denied");
	incident_probe(false, "https", 0, "Connection refused", 0);
	incident_probe(true, "https", 200, NULL, 120);
	incident_close("term");
	incident_refused("after", "close", 1, "x", "y");   /* a no-op again */

	json_t *j[16] = { 0 };
	size_t n = lines(path, j, 16, 0);
	CHECK(n == 9, "start, 7 incidents, stop: %zu lines", n);
	if (n == 9) {
		CHECK(!strcmp(str(j[0], "kind"), "start") && !strcmp(str(j[0], "previous"), "first") &&
		      !strcmp(str(j[0], "version"), "9.9"), "the first start");
		CHECK(!strcmp(str(j[1], "kind"), "refused") &&
		      !strcmp(str(j[1], "package"), "evil\n{\"kind\":\"stop\"}.zip") &&
		      !strcmp(str(j[1], "source"), "spool:a\"b") &&
		      json_integer_value(json_object_get(j[1], "seq")) == 42 &&
		      !strcmp(str(j[1], "step"), "verify"), "refused, the name kept exactly");
		CHECK(!strcmp(str(j[1], "reason"), "SHA-256 mismatch \x01\xc3\xbf"),
		      "a control byte escaped, a bad byte as U+00FF: '%s'", str(j[1], "reason"));
		CHECK(!strcmp(str(j[2], "kind"), "failed_period") &&
		      json_integer_value(json_object_get(j[2], "count")) == 2 &&
		      !strcmp(str(j[2], "due"), "2024-06-03T04:15:00Z") &&
		      json_integer_value(json_object_get(j[2], "period_s")) == 1200, "failed_period");
		CHECK(!strcmp(str(j[3], "kind"), "rollback") && json_is_true(json_object_get(j[3], "ok")) &&
		      !strcmp(str(j[3], "reason"), ""), "rollback, NULL as \"\"");
		CHECK(!strcmp(str(j[4], "kind"), "shield") && !strcmp(str(j[4], "rule"), "rate") &&
		      !strcmp(str(j[4], "client"), "203.0.113.9") && !strcmp(str(j[4], "action"), "429") &&
		      json_integer_value(json_object_get(j[4], "count")) == 1500, "shield");
		CHECK(!strcmp(str(j[5], "kind"), "purge_failed") &&
		      !strcmp(str(j[5], "error"), "HTTP 403 \\ denied"), "purge_failed");
		CHECK(!strcmp(str(j[6], "kind"), "probe_down") && !strcmp(str(j[6], "listener"), "https") &&
		      !strcmp(str(j[6], "detail"), "Connection refused"), "probe_down");
		CHECK(!strcmp(str(j[7], "kind"), "probe_up") &&
		      json_integer_value(json_object_get(j[7], "down_s")) == 120, "probe_up");
		CHECK(!strcmp(str(j[8], "kind"), "stop") && !strcmp(str(j[8], "signal"), "term") &&
		      json_is_true(json_object_get(j[8], "clean")), "stop");
	}
	for (size_t i = 0; i < 16; i++)
		json_decref(j[i]);

	/* a clean stop, then a crash: a line after the last stop, torn */
	CHECK(!incident_open(dir, "9.9", err, sizeof err), "reopen: %s", err);
	incident_close(NULL);
	FILE *f = fopen(path, "a");
	fputs("{\"time\":\"2024-06-03T04:00:00Z\",\"kind\":\"refused\",\"pack", f);
	fclose(f);
	CHECK(!incident_open(dir, "9.9", err, sizeof err), "open after a crash: %s", err);
	incident_close(NULL);
	memset(j, 0, sizeof j);
	n = lines(path, j, 16, 12);   /* the torn line is ended, not joined */
	CHECK(n == 14, "14 lines, the torn one alone: %zu", n);
	if (n == 14) {
		CHECK(!strcmp(str(j[9], "previous"), "clean"), "after a stop: clean");
		CHECK(!strcmp(str(j[12], "previous"), "crash"), "after a torn line: crash");
	}
	for (size_t i = 0; i < 16; i++)
		json_decref(j[i]);

	/* reading back: the torn line counts as bad, the time filter holds */
	struct incident_rec *all = calloc(64, sizeof *all);
	unsigned bad = 0;
	CHECK(!incident_read(dir, 0, 0, 0, collect, all, &bad, err, sizeof err), "read: %s", err);
	CHECK(bad == 1, "one unreadable line: %u", bad);
	CHECK(!strcmp(all[0].kind, "start") && !strcmp(all[1].kind, "refused") &&
	      !strcmp(incident_field(&all[1], "package"), "evil\n{\"kind\":\"stop\"}.zip") &&
	      !strcmp(incident_field(&all[1], "seq"), "42") &&
	      !strcmp(incident_field(&all[3], "ok"), "true") && !incident_field(&all[1], "nope"),
	      "fields back as text");
	memset(all, 0, 64 * sizeof *all);
	CHECK(!incident_read(dir, 1, 2, 0, collect, all, &bad, err, sizeof err) && !all[0].kind[0],
	      "nothing in 1970");
	memset(all, 0, 64 * sizeof *all);
	CHECK(!incident_read(dir, 0, 0, 200, collect, all, &bad, err, sizeof err), "tail");
	size_t k = 0;
	while (all[k].kind[0])
		k++;
	CHECK(k >= 1 && k <= 3 && !strcmp(all[k - 1].kind, "stop"), "the tail has the last lines: %zu", k);
	free(all);
	char none[] = "/tmp/prepd-test-incident-none-XXXXXX";
	CHECK(mkdtemp(none) && !incident_read(none, 0, 0, 0, collect, NULL, NULL, err, sizeof err),
	      "a missing log is empty");
	rmdir(none);

	/* escaping, byte by byte */
	char out[64];
	CHECK(incident_json_escape("a\"b\\c\n\x7f", out, sizeof out) == 19 &&
	      !strcmp(out, "a\\\"b\\\\c\\u000a\\u007f"), "escape: %s", out);
	CHECK(incident_json_escape("ñ\xe2\x82\xac", out, sizeof out) == 5 && !strcmp(out, "ñ€"),
	      "valid UTF-8 kept");
	CHECK(incident_json_escape("\"\"\"", out, 5) == 4 && !strcmp(out, "\\\"\\\""),
	      "cut at a whole escape: %s", out);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0, "cleanup");
	return check_done();
}
