/* The self-probe: one thread that, every [probe] interval, GETs / on
 * prepd's own HTTP and HTTPS listeners over loopback (libcurl) and
 * records the answer in DATA/stats.db's probe table (the contract in
 * docs/internals.md, "Statistics"): t, listener, ok, ms, status, the cut
 * label of X-PREP-Cut, and a detail for a failure. A change between up
 * and down is an incident (server/incident.h: probe_down, probe_up).
 *
 * What it proves: prepd accepts, parses and answers on each listener
 * within PROBE_TIMEOUT_S, with the cut it serves. HTTPS connects to the
 * listener's address but names the certificate's first name (SNI, Host),
 * and does NOT verify the chain or the name: it is a self-check of
 * prepd, not of the certificate's issuer (prepd check URL does that from
 * outside). A wildcard bound address ("[::]:443", "0.0.0.0:80") is
 * probed on 127.0.0.1. When loopback is a trusted proxy that must send
 * the PROXY protocol ([shield] proxy_protocol v1 or any), the probe sends
 * a v1 header; with v2 only it cannot (libcurl 7.88 sends v1), and each
 * round says so in its detail. It makes two requests a round, far under
 * any per-client limit, so it does not need loopback to be exempt from
 * the shield; a 429 is recorded as a failure with its reason.
 *
 * The database: its own SQLite connection, WAL, a busy timeout; a failed
 * write is logged once per failing stretch and never stops the probe or
 * the server. */
#ifndef PREPD_PROBE_H
#define PREPD_PROBE_H

/* The probe's User-Agent starts with this; the statistics leave out a
 * request with it from a loopback peer (server/stats.c): it is prepd
 * checking itself, not a visitor. */
#define PROBE_USER_AGENT_PREFIX "prepd-probe/"

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "server/config.h"
#include "server/rc.h"

/* Remembers where listener ("http" or "https") is bound, as
 * listen_preopen() wrote it ("127.0.0.1:8080", "[::]:8443"). Main
 * thread, before probe_start(). */
void probe_target(const char *listener, const char *bound);

/* Starts the thread when cfg->probe.interval is not 0 and some target was
 * given; tls_name is the certificate's name to ask for over HTTPS (NULL:
 * "localhost"). cfg is borrowed for the process's life. RC_NOMEM with err
 * when the thread cannot start. */
enum rc probe_start(const struct config *cfg, const char *tls_name, char *err, size_t errsz);

/* Stops the thread (a round in progress ends within PROBE_TIMEOUT_S) and
 * closes the database. No-op when not started. */
void probe_stop(void);

/* From a bound address text, the host to connect to ("127.0.0.1" for a
 * wildcard, an IPv6 address in brackets) and the port. False when the
 * text is not HOST:PORT or [V6]:PORT. Pure. */
bool probe_connect_host(const char *bound, char *host, size_t hostsz, unsigned *port);

/* The cut label in an X-PREP-Cut value ("seq=42; label=20240602_2215;
 * time=..."), into out ("" when there is none). Pure. */
void probe_cut_label(const char *header, char *out, size_t outsz);

/* One probe row, as stored. */
struct probe_row {
	time_t t;
	char listener[8];
	bool ok;
	unsigned ms, status;
	char cut[64];
	char detail[256];
};

/* Opens (creating when missing) DATA/stats.db in WAL mode with the probe
 * table, and writes row. The thread keeps one connection; this is the
 * same code for the tests. Returns RC_IO with SQLite's message in err. */
struct probe_db;
enum rc probe_db_open(const char *data_dir, struct probe_db **out, char *err, size_t errsz);
enum rc probe_db_put(struct probe_db *db, const struct probe_row *row, char *err, size_t errsz);
void probe_db_close(struct probe_db *db);

/* The CREATE TABLE statement of the probe table (the contract's). */
extern const char probe_table_sql[];

#endif
