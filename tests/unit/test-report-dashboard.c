/* The dashboard's auth check and JSON, and the self-probe's pure parts and
 * database writes (server/dashboard.h, server/probe.h), on a fixture
 * database made with the contract's schema (the probe table only where
 * the probe makes it). */
#include "server/dashboard.h"
#include "server/probe.h"

#include "check.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOKEN "0123456789abcdef0123456789abcdef"

static void test_auth(void)
{
	const struct { const char *auth; bool basic, want; } t[] = {
		{ "Bearer " TOKEN, false, true },
		{ "Bearer " TOKEN, true, true },
		{ "Bearer " TOKEN "x", true, false },
		{ "Bearer 0123456789abcdef0123456789abcdeF", true, false },
		/* base64("op:" TOKEN) */
		{ "Basic b3A6MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", true, true },
		{ "basic b3A6MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", true, true },
		{ "Basic b3A6MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", false, false },
		/* base64(":" TOKEN): an empty user name is fine */
		{ "Basic OjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVm", true, true },
		/* base64(TOKEN) without a colon */
		{ "Basic MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", true, false },
		/* base64("op:wrong") */
		{ "Basic b3A6d3Jvbmc=", true, false },
		/* not padded, bad alphabet, padding inside */
		{ "Basic b3A6d3Jvbmc", true, false },
		{ "Basic b3A6d3J*bmc=", true, false },
		{ "Basic b3=6d3Jvbmc=", true, false },
		/* base64("op:\0" TOKEN) hides a NUL */
		{ "Basic b3A6ADAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVm", true, false },
		{ "Basic ", true, false },
		{ "", true, false },
		{ NULL, true, false },
		{ "Digest x", true, false },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		CHECK(dashboard_auth_ok(t[i].auth, TOKEN, t[i].basic) == t[i].want,
		      "auth %zu (%s, basic %d) should be %d", i, t[i].auth ? t[i].auth : "NULL",
		      t[i].basic, t[i].want);
}

static void test_state(void)
{
	struct ingest_status st = { 0 };
	CHECK(!strcmp(dashboard_state(&st), "sin_corte"), "no cut");
	st.cut.seq = 4;
	CHECK(!strcmp(dashboard_state(&st), "al_dia"), "current");
	st.failed_periods = 1;
	CHECK(!strcmp(dashboard_state(&st), "atrasado"), "one period");
	st.failed_periods = 3;
	CHECK(!strcmp(dashboard_state(&st), "muy_atrasado"), "three periods");
	st.cut.seq = 0;
	CHECK(!strcmp(dashboard_state(&st), "sin_corte"), "the placeholder, however long");
}

static void test_probe_pure(void)
{
	const struct { const char *bound, *host; unsigned port; bool ok; } t[] = {
		{ "127.0.0.1:8080", "127.0.0.1", 8080, true },
		{ "0.0.0.0:80", "127.0.0.1", 80, true },
		{ "[::]:8443", "127.0.0.1", 8443, true },
		{ "[::1]:443", "[::1]", 443, true },
		{ "192.0.2.7:80", "192.0.2.7", 80, true },
		{ ":80", "127.0.0.1", 80, false },
		{ "127.0.0.1", "", 0, false },
		{ "127.0.0.1:0", "", 0, false },
		{ "127.0.0.1:65536", "", 0, false },
		{ "::1:80", "", 0, false },
		{ "[::1:80", "", 0, false },
		{ "127.0.0.1:-1", "", 0, false },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		char host[64] = "";
		unsigned port = 0;
		bool ok = probe_connect_host(t[i].bound, host, sizeof host, &port);
		CHECK(ok == t[i].ok && (!ok || (!strcmp(host, t[i].host) && port == t[i].port)),
		      "bound '%s' -> %d '%s' %u", t[i].bound, ok, host, port);
	}
	char label[64];
	probe_cut_label(" seq=42; label=20240602_2215; time=2024-06-02T22:15-06:00\r\n", label,
			sizeof label);
	CHECK(!strcmp(label, "20240602_2215"), "label: %s", label);
	probe_cut_label("seq=0; label=placeholder\r\n", label, sizeof label);
	CHECK(!strcmp(label, "placeholder"), "label at the end: %s", label);
	probe_cut_label("seq=1; xlabel=no", label, sizeof label);
	CHECK(!label[0], "no label");
}

static void test_db(void)
{
	char dir[] = "/tmp/prepd-test-dash.XXXXXX";
	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	char err[512];
	/* the probe makes its table in a database that does not exist yet */
	struct probe_db *p;
	CHECK(!probe_db_open(dir, &p, err, sizeof err), "probe db: %s", err);
	time_t now = time(NULL);
	struct probe_row r = { .t = now - 60, .listener = "http", .ok = true, .ms = 3,
			       .status = 200, .cut = "c1", .detail = "" };
	CHECK(!probe_db_put(p, &r, err, sizeof err), "put: %s", err);
	r.ok = false;
	snprintf(r.detail, sizeof r.detail, "timeout 'quoted'");
	CHECK(!probe_db_put(p, &r, err, sizeof err), "put again replaces: %s", err);
	probe_db_close(p);
	char path[256];
	snprintf(path, sizeof path, "%s/stats.db", dir);
	sqlite3 *db;
	CHECK(sqlite3_open(path, &db) == SQLITE_OK, "open");
	sqlite3_stmt *s;
	CHECK(sqlite3_prepare_v2(db, "SELECT COUNT(*), MIN(ok), MIN(detail) FROM probe", -1, &s,
				 NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW, "select");
	CHECK(sqlite3_column_int(s, 0) == 1 && sqlite3_column_int(s, 1) == 0 &&
	      !strcmp((const char *)sqlite3_column_text(s, 2), "timeout 'quoted'"), "one row, replaced");
	sqlite3_finalize(s);
	CHECK(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL) == SQLITE_OK &&
	      sqlite3_step(s) == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(s, 0), "wal"),
	      "WAL");
	sqlite3_finalize(s);

	/* dashboard: no stats tables yet (only the probe's) */
	struct ingest_status st = { 0 };
	st.cut.seq = 3;
	snprintf(st.cut.label, sizeof st.cut.label, "20240602_2215");
	st.cut_published = now - 100;
	st.next_cut_due = now + 200;
	st.period_s = 300;
	char *js = dashboard_json(dir, &st, now);
	json_t *j = js ? json_loads(js, 0, NULL) : NULL;
	CHECK(j && !strcmp(json_string_value(json_object_get(j, "state")), "al_dia") &&
	      json_integer_value(json_object_get(j, "cut_age_s")) == 100 &&
	      json_integer_value(json_object_get(j, "next_cut_in_s")) == 200, "dashboard basics");
	CHECK(j && json_is_false(json_object_get(json_object_get(j, "stats"), "available")),
	      "no stats tables: not available");
	json_decref(j);
	free(js);
	/* the stats tables with known rows */
	char sql[2048];
	time_t m = now - now % 60;
	snprintf(sql, sizeof sql,
		 "CREATE TABLE minute (source TEXT NOT NULL, t INTEGER NOT NULL, requests INTEGER NOT NULL,"
		 " bytes INTEGER NOT NULL, https INTEGER NOT NULL, page_views INTEGER NOT NULL,"
		 " PRIMARY KEY (source, t)) WITHOUT ROWID;"
		 "CREATE TABLE minute_status (source TEXT NOT NULL, t INTEGER NOT NULL, status INTEGER NOT NULL,"
		 " requests INTEGER NOT NULL, PRIMARY KEY (source, t, status)) WITHOUT ROWID;"
		 "CREATE TABLE page (source TEXT NOT NULL, t INTEGER NOT NULL, path TEXT NOT NULL,"
		 " views INTEGER NOT NULL, PRIMARY KEY (source, t, path)) WITHOUT ROWID;"
		 "CREATE TABLE session (source TEXT NOT NULL, visitor BLOB NOT NULL, start INTEGER NOT NULL,"
		 " end INTEGER NOT NULL, requests INTEGER NOT NULL, page_views INTEGER NOT NULL,"
		 " PRIMARY KEY (source, visitor, start)) WITHOUT ROWID;"
		 "INSERT INTO minute VALUES ('live', %ld, 600, 1, 0, 1);"
		 "INSERT INTO minute VALUES ('live', %ld, 30, 1, 0, 1);"
		 "INSERT INTO minute VALUES ('clf', %ld, 99999, 1, 0, 1);"
		 "INSERT INTO minute_status VALUES ('live', %ld, 200, 620);"
		 "INSERT INTO minute_status VALUES ('live', %ld, 503, 10);"
		 "INSERT INTO page VALUES ('live', %ld, '/<b>x', 5);"
		 "INSERT INTO session VALUES ('live', x'01', %ld, %ld, 3, 1);"
		 "INSERT INTO session VALUES ('live', x'02', %ld, %ld, 3, 1);"
		 "INSERT INTO session VALUES ('live', x'01', %ld, %ld, 3, 1);",
		 (long)(m - 60), (long)m, (long)(m - 60), (long)(m - 60), (long)m, (long)(now - now % 900),
		 (long)now - 100, (long)now - 10, (long)now - 900, (long)now - 400, (long)now - 9000,
		 (long)now - 8000);
	char *e = NULL;
	CHECK(sqlite3_exec(db, sql, NULL, NULL, &e) == SQLITE_OK, "fixture: %s", e ? e : "");
	sqlite3_close(db);
	js = dashboard_json(dir, &st, now);
	j = js ? json_loads(js, 0, NULL) : NULL;
	json_t *sj = json_object_get(j, "stats");
	CHECK(json_is_true(json_object_get(sj, "available")), "stats available");
	CHECK(json_real_value(json_object_get(sj, "rps")) == 10.0, "600 in the last full minute: 10/s");
	CHECK(json_integer_value(json_object_get(sj, "visitors_5min")) == 1,
	      "one visitor active in 5 min (the other's session ended 400 s ago)");
	CHECK(json_array_size(json_object_get(sj, "per_minute")) == 2, "2 minutes of live");
	json_t *pg = json_array_get(json_object_get(sj, "top_pages"), 0);
	CHECK(pg && !strcmp(json_string_value(json_object_get(pg, "path")), "/<b>x"),
	      "the path as data (the page sets it as text)");
	CHECK(json_array_size(json_object_get(sj, "status")) == 2, "two status codes");
	json_decref(j);
	free(js);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0, "cleanup");
}

int main(void)
{
	test_auth();
	test_state();
	test_probe_pure();
	test_db();
	return check_done();
}
