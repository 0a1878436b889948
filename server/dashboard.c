/* The live dashboard's auth check and JSON (server/dashboard.h). */
#include "server/dashboard.h"

#include "ingest/store.h"
#include "server/admin_int.h"
#include "server/incident.h"
#include "server/limits.h"
#include "server/util.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Strict base64 (RFC 4648 section 4, padding required) into out; false
 * for anything else or when it does not fit (NUL included). */
static bool b64_decode(const char *in, char *out, size_t outsz)
{
	size_t n = strlen(in), o = 0;
	if (!n || n % 4)
		return false;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		for (int k = 0; k < 4; k++) {
			v[k] = in[i + k] == '=' ? -2 : base64_value((unsigned char)in[i + k]);
			if (v[k] == -1)
				return false;
		}
		bool last = i + 4 == n;
		if (v[0] < 0 || v[1] < 0 || (v[2] == -2 && v[3] != -2) ||
		    ((v[2] == -2 || v[3] == -2) && !last))
			return false;
		unsigned bits = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 |
				(unsigned)(v[2] < 0 ? 0 : v[2]) << 6 | (unsigned)(v[3] < 0 ? 0 : v[3]);
		int bytes = v[2] == -2 ? 1 : v[3] == -2 ? 2 : 3;
		if (o + (size_t)bytes + 1 > outsz)
			return false;
		for (int k = 0; k < bytes; k++)
			out[o++] = (char)(bits >> (16 - 8 * k) & 0xff);
	}
	out[o] = '\0';
	return strlen(out) == o;   /* no NUL inside */
}

bool dashboard_auth_ok(const char *auth, const char *token, bool basic_ok)
{
	if (!auth)
		return admin_token_eq(NULL, token);
	if (!basic_ok || strncasecmp(auth, "Basic ", 6))
		return admin_token_eq(auth, token);
	const char *p = auth + 6;
	while (*p == ' ')
		p++;
	char plain[ADMIN_TOKEN_MAX_BYTES * 2 + 64];
	if (strlen(p) > (sizeof plain - 1) / 3 * 4 || !b64_decode(p, plain, sizeof plain))
		return admin_token_eq(NULL, token);
	const char *colon = strchr(plain, ':');
	char bearer[sizeof plain + 8];
	snprintf(bearer, sizeof bearer, "Bearer %s", colon ? colon + 1 : "");
	return colon && admin_token_eq(bearer, token);
}

const char *dashboard_state(const struct ingest_status *st)
{
	if (!st->cut.seq)
		return "sin_corte";
	if (st->failed_periods >= 2)
		return "muy_atrasado";
	if (st->failed_periods == 1)
		return "atrasado";
	return "al_dia";
}

/* A string for JSON: jansson refuses invalid UTF-8, which a log may hold. */
static json_t *text(const char *s)
{
	json_t *j = json_string(s ? s : "");
	if (j)
		return j;
	char esc[INCIDENT_LINE_BYTES];
	/* incident_json_escape() makes bad bytes \u00XX text; good enough to
	 * show, and valid. */
	incident_json_escape(s, esc, sizeof esc);
	return json_string(esc);
}

static json_t *stats_json(const char *data_dir, time_t now)
{
	json_t *j = json_object();
	char path[PATH_BUF_LONG_BYTES];
	snprintf(path, sizeof path, "%s/stats.db", data_dir);
	sqlite3 *db = NULL;
	if (access(path, F_OK) != 0 ||
	    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		json_object_set_new(j, "available", json_false());
		json_object_set_new(j, "note", json_string("sin estadísticas: DATA/stats.db no existe "
							   "o no se puede leer"));
		return j;
	}
	sqlite3_busy_timeout(db, 1000);
	sqlite3_stmt *s;
	json_t *pm = json_array();
	double last_full = 0;
	time_t minute = now - now % 60;
	bool ok = sqlite3_prepare_v2(db, "SELECT t, requests FROM minute WHERE source = 'live' AND "
				     "t >= ?1 ORDER BY t", -1, &s, NULL) == SQLITE_OK;
	if (ok) {
		sqlite3_bind_int64(s, 1, (sqlite3_int64)(minute - 30 * 60));
		while (sqlite3_step(s) == SQLITE_ROW) {
			time_t t = (time_t)sqlite3_column_int64(s, 0);
			sqlite3_int64 n = sqlite3_column_int64(s, 1);
			json_array_append_new(pm, json_pack("{s:o,s:I}", "t", admin_json_time(t), "requests",
							    (json_int_t)n));
			if (t == minute - 60)
				last_full = (double)n;
		}
		sqlite3_finalize(s);
	}
	json_object_set_new(j, "per_minute", pm);
	json_object_set_new(j, "rps", json_real(last_full / 60.0));
	long long vis = 0;
	if (ok && sqlite3_prepare_v2(db, "SELECT COUNT(DISTINCT visitor) FROM session WHERE "
				     "source = 'live' AND end >= ?1", -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, (sqlite3_int64)(now - 300));
		if (sqlite3_step(s) == SQLITE_ROW)
			vis = sqlite3_column_int64(s, 0);
		sqlite3_finalize(s);
	} else {
		ok = false;
	}
	json_object_set_new(j, "visitors_5min", json_integer(vis));
	json_t *pages = json_array();
	if (ok && sqlite3_prepare_v2(db, "SELECT path, SUM(views) FROM page WHERE source = 'live' "
				     "AND t >= ?1 GROUP BY path ORDER BY 2 DESC, path LIMIT 10", -1, &s,
				     NULL) == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, (sqlite3_int64)(now - now % 900 - 3600));
		while (sqlite3_step(s) == SQLITE_ROW)
			json_array_append_new(pages, json_pack("{s:o,s:I}", "path",
				text((const char *)sqlite3_column_text(s, 0)), "views",
				(json_int_t)sqlite3_column_int64(s, 1)));
		sqlite3_finalize(s);
	} else {
		ok = false;
	}
	json_object_set_new(j, "top_pages", pages);
	json_t *st = json_array();
	if (ok && sqlite3_prepare_v2(db, "SELECT status, SUM(requests) FROM minute_status WHERE "
				     "source = 'live' AND t >= ?1 GROUP BY status ORDER BY status", -1,
				     &s, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, (sqlite3_int64)(minute - 15 * 60));
		while (sqlite3_step(s) == SQLITE_ROW)
			json_array_append_new(st, json_pack("{s:i,s:I}", "status",
				sqlite3_column_int(s, 0), "requests", (json_int_t)sqlite3_column_int64(s, 1)));
		sqlite3_finalize(s);
	} else {
		ok = false;
	}
	json_object_set_new(j, "status", st);
	json_object_set_new(j, "available", json_boolean(ok));
	json_object_set_new(j, "note", json_string(ok ? "de DATA/stats.db (hasta ~5 s de retraso)" :
		"DATA/stats.db no tiene las tablas de estadísticas: ¿está activa la estadística?"));
	sqlite3_close(db);
	return j;
}

struct ring {
	json_t *a;
	size_t max;
};

static void ring_push(struct ring *r, json_t *v)
{
	json_array_append_new(r->a, v);
	if (json_array_size(r->a) > r->max)
		json_array_remove(r->a, 0);
}

static int on_journal(void *ctx, const struct journal_rec *rec)
{
	ring_push(ctx, json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o}", "seq", (json_int_t)rec->seq,
				 "received", admin_json_time(rec->received), "published", admin_json_time(rec->published),
				 "verdict", text(rec->verdict), "cut", text(rec->cut), "source",
				 text(rec->source), "reason", text(rec->reason)));
	return 0;
}

static int on_incident(void *ctx, const struct incident_rec *r)
{
	char detail[1024];
	size_t o = 0;
	detail[0] = '\0';
	for (unsigned i = 0; i < r->nfields && o < sizeof detail; i++)
		o += (size_t)snprintf(detail + o, sizeof detail - o, "%s%s=%s", i ? " " : "",
				      r->f[i].key, r->f[i].value);
	ring_push(ctx, json_pack("{s:o,s:o,s:o}", "time", admin_json_time(r->t), "kind", text(r->kind),
				 "detail", text(detail)));
	return 0;
}

char *dashboard_json(const char *data_dir, const struct ingest_status *st, time_t now)
{
	json_t *j = json_object();
	if (!j)
		return NULL;
	json_object_set_new(j, "now", admin_json_time(now));
	json_object_set_new(j, "state", json_string(dashboard_state(st)));
	json_object_set_new(j, "cut", json_pack("{s:I,s:o,s:o}", "seq", (json_int_t)st->cut.seq,
						 "label", text(st->cut.label), "time",
						 st->cut.time[0] ? text(st->cut.time) : json_null()));
	json_object_set_new(j, "cut_published", admin_json_time(st->cut_published));
	json_object_set_new(j, "cut_age_s", st->cut_published ?
			    json_integer((json_int_t)(now - st->cut_published)) : json_null());
	json_object_set_new(j, "cut_time_age_s", st->cut.timed ?
			    json_integer((json_int_t)(now - st->cut.at)) : json_null());
	json_object_set_new(j, "next_cut_due", admin_json_time(st->next_cut_due));
	json_object_set_new(j, "next_cut_in_s", json_integer((json_int_t)(st->next_cut_due - now)));
	json_object_set_new(j, "period_s", json_integer(st->period_s));
	json_object_set_new(j, "failed_periods", json_integer(st->failed_periods));
	json_object_set_new(j, "last_attempt", admin_json_time(st->last_attempt));
	json_object_set_new(j, "last_result", st->last_attempt ? text(st->last_result) : json_null());
	json_object_set_new(j, "stats", stats_json(data_dir, now));
	struct ring tl = { json_array(), DASHBOARD_TIMELINE };
	char err[256];
	bool torn;
	journal_read(data_dir, on_journal, &tl, &torn, err, sizeof err);
	json_object_set_new(j, "timeline", tl.a);
	struct ring inc = { json_array(), DASHBOARD_TIMELINE };
	incident_read(data_dir, 0, 0, INCIDENT_TAIL_BYTES, on_incident, &inc, NULL, err, sizeof err);
	json_object_set_new(j, "incidents", inc.a);
	char *out = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return out;
}
