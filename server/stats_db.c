#include "server/stats_db.h"

#include "server/limits.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The contract's schema, word for word (docs/internals.md). */
static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS minute ("
	"  source TEXT NOT NULL, t INTEGER NOT NULL,"
	"  requests INTEGER NOT NULL, bytes INTEGER NOT NULL,"
	"  https INTEGER NOT NULL,"
	"  page_views INTEGER NOT NULL,"
	"  PRIMARY KEY (source, t)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS minute_status ("
	"  source TEXT NOT NULL, t INTEGER NOT NULL, status INTEGER NOT NULL,"
	"  requests INTEGER NOT NULL,"
	"  PRIMARY KEY (source, t, status)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS minute_cut ("
	"  source TEXT NOT NULL, t INTEGER NOT NULL, cut TEXT NOT NULL,"
	"  requests INTEGER NOT NULL, bytes INTEGER NOT NULL,"
	"  PRIMARY KEY (source, t, cut)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS visit ("
	"  source TEXT NOT NULL, t INTEGER NOT NULL,"
	"  visitor BLOB NOT NULL,"
	"  requests INTEGER NOT NULL, page_views INTEGER NOT NULL,"
	"  PRIMARY KEY (source, t, visitor)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS page ("
	"  source TEXT NOT NULL, t INTEGER NOT NULL, path TEXT NOT NULL,"
	"  views INTEGER NOT NULL,"
	"  PRIMARY KEY (source, t, path)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS referrer ("
	"  source TEXT NOT NULL, t INTEGER NOT NULL,"
	"  referrer TEXT NOT NULL,"
	"  requests INTEGER NOT NULL,"
	"  PRIMARY KEY (source, t, referrer)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS session ("
	"  source TEXT NOT NULL, visitor BLOB NOT NULL,"
	"  start INTEGER NOT NULL, end INTEGER NOT NULL,"
	"  requests INTEGER NOT NULL, page_views INTEGER NOT NULL,"
	"  PRIMARY KEY (source, visitor, start)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS import ("
	"  sha256 TEXT PRIMARY KEY,"
	"  name TEXT NOT NULL, kind TEXT NOT NULL,"
	"  lines INTEGER NOT NULL, skipped INTEGER NOT NULL,"
	"  first INTEGER, last INTEGER,"
	"  imported INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS probe ("
	"  t INTEGER NOT NULL, listener TEXT NOT NULL,"
	"  ok INTEGER NOT NULL, ms INTEGER NOT NULL, status INTEGER NOT NULL,"
	"  cut TEXT NOT NULL, detail TEXT NOT NULL,"
	"  PRIMARY KEY (t, listener)) WITHOUT ROWID;";

enum stmt {
	S_MINUTE, S_STATUS, S_CUT, S_VISIT, S_PAGE, S_REFERRER, S_SESSION,
	S_SESSIONS_OPEN, S_LOOKUP, S_IMPORTED, S_IMPORT_DONE, S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
	[S_MINUTE] = "INSERT INTO minute (source, t, requests, bytes, https, page_views) "
		     "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (source, t) DO UPDATE SET "
		     "requests = requests + excluded.requests, bytes = bytes + excluded.bytes, "
		     "https = https + excluded.https, "
		     "page_views = page_views + excluded.page_views",
	[S_STATUS] = "INSERT INTO minute_status (source, t, status, requests) "
		     "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (source, t, status) DO UPDATE SET "
		     "requests = requests + excluded.requests",
	[S_CUT] = "INSERT INTO minute_cut (source, t, cut, requests, bytes) "
		  "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (source, t, cut) DO UPDATE SET "
		  "requests = requests + excluded.requests, bytes = bytes + excluded.bytes",
	[S_VISIT] = "INSERT INTO visit (source, t, visitor, requests, page_views) "
		    "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (source, t, visitor) DO UPDATE SET "
		    "requests = requests + excluded.requests, "
		    "page_views = page_views + excluded.page_views",
	[S_PAGE] = "INSERT INTO page (source, t, path, views) VALUES (?1, ?2, ?3, ?4) "
		   "ON CONFLICT (source, t, path) DO UPDATE SET views = views + excluded.views",
	[S_REFERRER] = "INSERT INTO referrer (source, t, referrer, requests) "
		       "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (source, t, referrer) DO UPDATE SET "
		       "requests = requests + excluded.requests",
	[S_SESSION] = "INSERT INTO session (source, visitor, start, end, requests, page_views) "
		      "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (source, visitor, start) "
		      "DO UPDATE SET end = excluded.end, requests = excluded.requests, "
		      "page_views = excluded.page_views",
	[S_SESSIONS_OPEN] = "SELECT visitor, start, end, requests, page_views FROM session "
			    "WHERE source = ?1 AND end >= ?2",
	[S_LOOKUP] = "SELECT visitor, start, end, requests, page_views FROM session "
		     "WHERE source = ?1 AND visitor = ?2 AND start <= ?3 + ?4 AND end >= ?3 - ?4 "
		     "ORDER BY start DESC LIMIT 1",
	[S_IMPORTED] = "SELECT name, imported FROM import WHERE sha256 = ?1",
	[S_IMPORT_DONE] = "INSERT INTO import (sha256, name, kind, lines, skipped, first, last, "
			  "imported) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
};

struct stats_db {
	sqlite3 *db;
	sqlite3_stmt *st[S_COUNT];
};

static enum rc fail(struct stats_db *db, sqlite3 *raw, char *err, size_t errsz)
{
	snprintf(err, errsz, "%s", sqlite3_errmsg(db ? db->db : raw));
	return RC_IO;
}

void stats_db_close(struct stats_db *db)
{
	if (!db)
		return;
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(db->st[i]);
	sqlite3_close_v2(db->db);
	free(db);
}

static enum rc exec(struct stats_db *db, const char *sql, char *err, size_t errsz)
{
	char *msg = NULL;
	if (sqlite3_exec(db->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errsz, "%s", msg ? msg : sqlite3_errmsg(db->db));
		sqlite3_free(msg);
		return RC_IO;
	}
	return RC_OK;
}

struct stats_db *stats_db_open(const char *path, const char *time_zone, char *err, size_t errsz)
{
	struct stats_db *db = calloc(1, sizeof *db);
	if (!db) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	int r = sqlite3_open_v2(path, &db->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				SQLITE_OPEN_NOMUTEX, NULL);
	if (r != SQLITE_OK) {
		if (db->db)
			snprintf(err, errsz, "%s", sqlite3_errmsg(db->db));
		else
			snprintf(err, errsz, "%s", sqlite3_errstr(r));
		stats_db_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db->db, STATS_DB_BUSY_MS);
	sqlite3_extended_result_codes(db->db, 1);
	/* WAL: the report and dashboard read while prepd writes; NORMAL: a
	 * commit does not wait for the disk (a crash may lose the last
	 * seconds of counts, never corrupt the file). */
	/* 64 MiB of page cache: a night's session rows are keyed by visitor,
	 * so their updates land all over the table. */
	if (exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
		 "PRAGMA cache_size = -65536;", err, errsz) ||
	    exec(db, "BEGIN IMMEDIATE", err, errsz)) {
		stats_db_close(db);
		return NULL;
	}
	if (exec(db, schema_sql, err, errsz) ||
	    exec(db, "INSERT INTO meta (key, value) VALUES ('schema', '" STATS_DB_SCHEMA "') "
		 "ON CONFLICT (key) DO NOTHING", err, errsz)) {
		sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
		stats_db_close(db);
		return NULL;
	}
	if (time_zone) {
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(db->db, "INSERT INTO meta (key, value) VALUES ('time_zone', ?1) "
				       "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
				       -1, &st, NULL) != SQLITE_OK) {
			fail(db, NULL, err, errsz);
			sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
			stats_db_close(db);
			return NULL;
		}
		sqlite3_bind_text(st, 1, time_zone, -1, SQLITE_STATIC);
		r = sqlite3_step(st);
		sqlite3_finalize(st);
		if (r != SQLITE_DONE) {
			fail(db, NULL, err, errsz);
			sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
			stats_db_close(db);
			return NULL;
		}
	}
	if (exec(db, "COMMIT", err, errsz)) {
		sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
		stats_db_close(db);
		return NULL;
	}
	/* A database of another schema (a later prepd's) is not written to. */
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db->db, "SELECT value FROM meta WHERE key = 'schema'", -1, &st,
			       NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
	    strcmp((const char *)sqlite3_column_text(st, 0), STATS_DB_SCHEMA)) {
		snprintf(err, errsz, "schema %s, this prepd writes schema " STATS_DB_SCHEMA,
			 (const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
		stats_db_close(db);
		return NULL;
	}
	sqlite3_finalize(st);
	for (int i = 0; i < S_COUNT; i++) {
		if (sqlite3_prepare_v3(db->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
				       &db->st[i], NULL) != SQLITE_OK) {
			fail(db, NULL, err, errsz);
			stats_db_close(db);
			return NULL;
		}
	}
	return db;
}

bool stats_db_busy(const struct stats_db *db)
{
	int e = sqlite3_extended_errcode(db->db) & 0xff;
	return e == SQLITE_BUSY || e == SQLITE_LOCKED;
}

void stats_db_busy_timeout(struct stats_db *db, unsigned ms)
{
	sqlite3_busy_timeout(db->db, (int)ms);
}

enum rc stats_db_begin(struct stats_db *db, char *err, size_t errsz)
{
	return exec(db, "BEGIN IMMEDIATE", err, errsz);
}

enum rc stats_db_commit(struct stats_db *db, char *err, size_t errsz)
{
	return exec(db, "COMMIT", err, errsz);
}

void stats_db_rollback(struct stats_db *db)
{
	if (!sqlite3_get_autocommit(db->db))
		sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
}

static enum rc step(struct stats_db *db, sqlite3_stmt *st, char *err, size_t errsz)
{
	int r = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (r != SQLITE_DONE)
		return fail(db, NULL, err, errsz);
	return RC_OK;
}

struct add_ctx {
	struct stats_db *db;
	const char *source;
	enum stmt stmt;
	char *err;
	size_t errsz;
};

static enum rc add_row(void *ctx, int64_t t, const void *key, size_t klen, const int64_t v[4])
{
	struct add_ctx *c = ctx;
	sqlite3_stmt *st = c->db->st[c->stmt];
	sqlite3_bind_text(st, 1, c->source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, t);
	switch (c->stmt) {
	case S_MINUTE:
		for (int i = 0; i < 4; i++)
			sqlite3_bind_int64(st, 3 + i, v[i]);
		break;
	case S_STATUS: {
		uint16_t status;
		memcpy(&status, key, sizeof status);
		sqlite3_bind_int(st, 3, status);
		sqlite3_bind_int64(st, 4, v[0]);
		break;
	}
	case S_CUT:
		sqlite3_bind_text(st, 3, key, (int)klen, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, v[0]);
		sqlite3_bind_int64(st, 5, v[1]);
		break;
	case S_VISIT:
		sqlite3_bind_blob(st, 3, key, (int)klen, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, v[0]);
		sqlite3_bind_int64(st, 5, v[1]);
		break;
	default:   /* S_PAGE, S_REFERRER */
		sqlite3_bind_text(st, 3, key, (int)klen, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, v[0]);
		break;
	}
	return step(c->db, st, c->err, c->errsz);
}

enum rc stats_db_add(struct stats_db *db, const char *source, const struct stats_batch *b,
		     char *err, size_t errsz)
{
	static const enum stmt of[STATS_TABLES] = {
		[STATS_T_MINUTE] = S_MINUTE, [STATS_T_STATUS] = S_STATUS, [STATS_T_CUT] = S_CUT,
		[STATS_T_VISIT] = S_VISIT, [STATS_T_PAGE] = S_PAGE, [STATS_T_REFERRER] = S_REFERRER,
	};
	for (int t = 0; t < STATS_TABLES; t++) {
		struct add_ctx c = { db, source, of[t], err, errsz };
		enum rc rc = stats_batch_each(b, (enum stats_table)t, add_row, &c);
		if (rc)
			return rc;
	}
	size_t n;
	const struct stats_session *s = stats_batch_sessions(b, &n);
	sqlite3_stmt *st = db->st[S_SESSION];
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, s[i].visitor, STATS_VISITOR_BYTES, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, s[i].start);
		sqlite3_bind_int64(st, 4, s[i].end);
		sqlite3_bind_int64(st, 5, s[i].requests);
		sqlite3_bind_int64(st, 6, s[i].page_views);
		enum rc rc = step(db, st, err, errsz);
		if (rc)
			return rc;
	}
	return RC_OK;
}

static bool read_session(sqlite3_stmt *st, struct stats_session *s)
{
	if (sqlite3_column_bytes(st, 0) != STATS_VISITOR_BYTES)
		return false;
	memcpy(s->visitor, sqlite3_column_blob(st, 0), STATS_VISITOR_BYTES);
	s->start = sqlite3_column_int64(st, 1);
	s->end = sqlite3_column_int64(st, 2);
	s->requests = (uint32_t)sqlite3_column_int64(st, 3);
	s->page_views = (uint32_t)sqlite3_column_int64(st, 4);
	return true;
}

enum rc stats_db_sessions(struct stats_db *db, const char *source, int64_t since,
			  void (*fn)(void *ctx, const struct stats_session *s), void *ctx,
			  char *err, size_t errsz)
{
	sqlite3_stmt *st = db->st[S_SESSIONS_OPEN];
	sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since);
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct stats_session s;
		if (read_session(st, &s))
			fn(ctx, &s);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r == SQLITE_DONE ? RC_OK : fail(db, NULL, err, errsz);
}

bool stats_db_lookup(void *ctx, const uint8_t visitor[STATS_VISITOR_BYTES], int64_t t,
		     int64_t gap, struct stats_session *s)
{
	struct stats_db_lookup *l = ctx;
	sqlite3_stmt *st = l->db->st[S_LOOKUP];
	sqlite3_bind_text(st, 1, l->source, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, visitor, STATS_VISITOR_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, t);
	sqlite3_bind_int64(st, 4, gap);
	bool found = sqlite3_step(st) == SQLITE_ROW && read_session(st, s);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return found;
}

enum rc stats_db_imported(struct stats_db *db, const char *sha256, bool *found, char *name,
			  size_t namesz, int64_t *when, char *err, size_t errsz)
{
	sqlite3_stmt *st = db->st[S_IMPORTED];
	sqlite3_bind_text(st, 1, sha256, -1, SQLITE_STATIC);
	int r = sqlite3_step(st);
	*found = r == SQLITE_ROW;
	if (*found) {
		snprintf(name, namesz, "%s", (const char *)sqlite3_column_text(st, 0));
		*when = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r == SQLITE_ROW || r == SQLITE_DONE ? RC_OK : fail(db, NULL, err, errsz);
}

enum rc stats_db_import_done(struct stats_db *db, const char *sha256, const char *name,
			     const char *kind, uint64_t lines, uint64_t skipped, int64_t first,
			     int64_t last, char *err, size_t errsz)
{
	sqlite3_stmt *st = db->st[S_IMPORT_DONE];
	sqlite3_bind_text(st, 1, sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)lines);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)skipped);
	if (lines > skipped) {
		sqlite3_bind_int64(st, 6, first);
		sqlite3_bind_int64(st, 7, last);
	}
	sqlite3_bind_int64(st, 8, (sqlite3_int64)time(NULL));
	return step(db, st, err, errsz);
}

enum rc stats_key_load(const char *dir, bool create, uint8_t key[STATS_KEY_BYTES])
{
	char path[4096];
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, STATS_KEY_FILE) >= sizeof path) {
		errno = ENAMETOOLONG;
		return RC_IO;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (!create)
			return RC_NOTFOUND;
		/* Made whole under a temporary name, then linked in: two
		 * starters never see half a key. */
		char tmp[4200];
		snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
		uint8_t k[STATS_KEY_BYTES];
		if (gnutls_rnd(GNUTLS_RND_KEY, k, sizeof k) < 0) {
			errno = EIO;
			return RC_IO;
		}
		int w = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (w < 0)
			return RC_IO;
		bool ok = write(w, k, sizeof k) == (ssize_t)sizeof k && fsync(w) == 0;
		int e = errno;
		close(w);
		gnutls_memset(k, 0, sizeof k);
		if (!ok || (link(tmp, path) != 0 && errno != EEXIST)) {
			e = ok ? errno : e;
			unlink(tmp);
			errno = e;
			return RC_IO;
		}
		unlink(tmp);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return RC_IO;
	struct stat st;
	ssize_t n = -1;
	if (fstat(fd, &st) == 0 && st.st_size == STATS_KEY_BYTES)
		n = read(fd, key, STATS_KEY_BYTES);
	close(fd);
	return n == STATS_KEY_BYTES ? RC_OK : RC_FORMAT;
}
