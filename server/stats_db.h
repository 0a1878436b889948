/* DATA/stats.db: the statistics in SQLite (WAL, synchronous=NORMAL), the
 * schema of the contract between the stats core and the report (docs/
 * internals.md, "Statistics"; meta.schema = '1'). Adding a batch adds its
 * deltas to the rows (upserts) and writes its sessions whole.
 *
 * One struct stats_db is one connection, used by one thread at a time
 * (the stats writer thread, or the import command). Functions return
 * RC_IO on an SQLite error and write SQLite's message into err; the
 * caller logs. A busy database (another writer: an import beside the
 * running server) is waited for up to STATS_DB_BUSY_MS before RC_IO. */
#ifndef PREPD_STATS_DB_H
#define PREPD_STATS_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/rc.h"
#include "server/stats_agg.h"

#define STATS_DB_FILE "stats.db"
#define STATS_KEY_FILE "stats.key"
#define STATS_DB_SCHEMA "1"

struct stats_db;

/* Opens (creating when missing) path, sets WAL and synchronous=NORMAL,
 * creates the tables and sets meta (schema, time_zone: borrowed, may be
 * NULL to leave it). Returns NULL and fills err on failure. */
struct stats_db *stats_db_open(const char *path, const char *time_zone, char *err,
			       size_t errsz);
void stats_db_close(struct stats_db *db);

/* Whether the last failure was another connection's lock (SQLITE_BUSY
 * after STATS_DB_BUSY_MS): an import's transaction, not a broken disk. */
bool stats_db_busy(const struct stats_db *db);

/* How long a call waits for another writer's lock, in ms (the import
 * command waits longer than the server's writer). */
void stats_db_busy_timeout(struct stats_db *db, unsigned ms);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK (the last never fails). */
enum rc stats_db_begin(struct stats_db *db, char *err, size_t errsz);
enum rc stats_db_commit(struct stats_db *db, char *err, size_t errsz);
void stats_db_rollback(struct stats_db *db);

/* Adds batch b's rows for source, inside a transaction the caller began. */
enum rc stats_db_add(struct stats_db *db, const char *source, const struct stats_batch *b,
		     char *err, size_t errsz);

/* Calls fn for each session of source whose last request is at or after
 * since (the open ones, read back at start-up). */
enum rc stats_db_sessions(struct stats_db *db, const char *source, int64_t since,
			  void (*fn)(void *ctx, const struct stats_session *s), void *ctx,
			  char *err, size_t errsz);

/* A stats_lookup_fn (server/stats_agg.h) over db, for the import: ctx is
 * a struct stats_db_lookup. */
struct stats_db_lookup {
	struct stats_db *db;
	const char *source;
};
bool stats_db_lookup(void *ctx, const uint8_t visitor[STATS_VISITOR_BYTES], int64_t t,
		     int64_t gap, struct stats_session *s);

/* The import table: whether sha256 (64 hex digits) was imported (name
 * and kind of that import into the buffers when so); and the row of a
 * finished import. */
enum rc stats_db_imported(struct stats_db *db, const char *sha256, bool *found, char *name,
			  size_t namesz, int64_t *when, char *err, size_t errsz);
enum rc stats_db_import_done(struct stats_db *db, const char *sha256, const char *name,
			     const char *kind, uint64_t lines, uint64_t skipped, int64_t first,
			     int64_t last, char *err, size_t errsz);

/* Reads the 32-byte key from dir/STATS_KEY_FILE, creating it (mode 0600,
 * random) when create and it is missing. RC_IO (errno set), RC_FORMAT
 * (not 32 bytes), RC_NOTFOUND (missing and not create). */
enum rc stats_key_load(const char *dir, bool create, uint8_t key[STATS_KEY_BYTES]);

#endif
