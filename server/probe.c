/* The self-probe (server/probe.h). */
#include "server/probe.h"

#include "server/incident.h"
#include "server/log.h"
#include "server/proxy.h"
#include "server/shield.h"
#include "server/util.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char probe_table_sql[] =
	"CREATE TABLE IF NOT EXISTS probe ("
	" t INTEGER NOT NULL, listener TEXT NOT NULL,"
	" ok INTEGER NOT NULL, ms INTEGER NOT NULL, status INTEGER NOT NULL,"
	" cut TEXT NOT NULL, detail TEXT NOT NULL,"
	" PRIMARY KEY (t, listener)) WITHOUT ROWID";

struct probe_db {
	sqlite3 *db;
	sqlite3_stmt *put;
};

/* A writer waits this long for the stats collector's transaction. */
#define PROBE_BUSY_MS 5000

enum rc probe_db_open(const char *data_dir, struct probe_db **out, char *err, size_t errsz)
{
	char path[PATH_BUF_LONG_BYTES];
	snprintf(path, sizeof path, "%s/stats.db", data_dir);
	struct probe_db *p = calloc(1, sizeof *p);
	if (!p) {
		snprintf(err, errsz, "out of memory");
		return RC_NOMEM;
	}
	int r = sqlite3_open_v2(path, &p->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				SQLITE_OPEN_NOMUTEX, NULL);
	if (r == SQLITE_OK)
		r = sqlite3_busy_timeout(p->db, PROBE_BUSY_MS);
	if (r == SQLITE_OK)
		r = sqlite3_exec(p->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
	if (r == SQLITE_OK)
		r = sqlite3_exec(p->db, probe_table_sql, NULL, NULL, NULL);
	if (r == SQLITE_OK)
		r = sqlite3_prepare_v2(p->db, "INSERT OR REPLACE INTO probe (t, listener, ok, ms, "
				       "status, cut, detail) VALUES (?, ?, ?, ?, ?, ?, ?)", -1,
				       &p->put, NULL);
	if (r != SQLITE_OK) {
		snprintf(err, errsz, "%s: %s", path, p->db ? sqlite3_errmsg(p->db) : sqlite3_errstr(r));
		probe_db_close(p);
		return RC_IO;
	}
	*out = p;
	return RC_OK;
}

enum rc probe_db_put(struct probe_db *p, const struct probe_row *row, char *err, size_t errsz)
{
	sqlite3_stmt *s = p->put;
	sqlite3_reset(s);
	sqlite3_bind_int64(s, 1, (sqlite3_int64)row->t);
	sqlite3_bind_text(s, 2, row->listener, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(s, 3, row->ok);
	sqlite3_bind_int(s, 4, (int)row->ms);
	sqlite3_bind_int(s, 5, (int)row->status);
	sqlite3_bind_text(s, 6, row->cut, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 7, row->detail, -1, SQLITE_TRANSIENT);
	int r = sqlite3_step(s);
	sqlite3_reset(s);
	if (r != SQLITE_DONE) {
		snprintf(err, errsz, "%s", sqlite3_errmsg(p->db));
		return RC_IO;
	}
	return RC_OK;
}

void probe_db_close(struct probe_db *p)
{
	if (!p)
		return;
	sqlite3_finalize(p->put);
	sqlite3_close(p->db);
	free(p);
}

bool probe_connect_host(const char *bound, char *host, size_t hostsz, unsigned *port)
{
	const char *colon = strrchr(bound, ':');
	if (!colon || !colon[1] || colon == bound)
		return false;
	char *end;
	errno = 0;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (*end || errno || !p || p > 65535 || colon[1] == '-' || colon[1] == '+')
		return false;
	size_t hl = (size_t)(colon - bound);
	const char *h = bound;
	bool v6 = false;
	if (h[0] == '[') {
		if (hl < 3 || h[hl - 1] != ']')
			return false;
		h++;
		hl -= 2;
		v6 = true;
	} else if (memchr(h, ':', hl)) {
		return false;   /* an IPv6 address needs its brackets */
	}
	char addr[64];
	if (hl >= sizeof addr)
		return false;
	memcpy(addr, h, hl);
	addr[hl] = '\0';
	if (!strcmp(addr, "::") || !strcmp(addr, "0.0.0.0") || !addr[0])
		snprintf(host, hostsz, "127.0.0.1");
	else if (v6)
		snprintf(host, hostsz, "[%s]", addr);
	else
		snprintf(host, hostsz, "%s", addr);
	*port = (unsigned)p;
	return true;
}

void probe_cut_label(const char *header, char *out, size_t outsz)
{
	out[0] = '\0';
	const char *p = header;
	while (p && *p) {
		while (*p == ' ' || *p == ';')
			p++;
		if (!strncmp(p, "label=", 6)) {
			p += 6;
			size_t n = 0;
			while (p[n] && p[n] != ';' && p[n] != ' ' && p[n] != '\r' && p[n] != '\n')
				n++;
			snprintf(out, outsz, "%.*s", (int)n, p);
			return;
		}
		p = strchr(p, ';');
	}
}

#define PROBE_TARGETS 2

static struct {
	struct {
		char listener[8];
		char bound[96];
		bool set;
		int up;            /* -1 unknown, 0 down, 1 up */
		time_t down_since;
	} t[PROBE_TARGETS];
	const struct config *cfg;
	char tls_name[256];
	pthread_t thread;
	bool started, stop;
	pthread_mutex_t lock;
	pthread_cond_t cond;       /* on CLOCK_MONOTONIC (probe_start()) */
	struct probe_db *db;
	bool db_failed;
} P = { .lock = PTHREAD_MUTEX_INITIALIZER };

void probe_target(const char *listener, const char *bound)
{
	unsigned i = !strcmp(listener, "https");
	snprintf(P.t[i].listener, sizeof P.t[i].listener, "%s", i ? "https" : "http");
	snprintf(P.t[i].bound, sizeof P.t[i].bound, "%s", bound);
	P.t[i].set = true;
	P.t[i].up = -1;
}

struct answer {
	char cut[64];
	size_t body;
};

static size_t on_header(char *b, size_t size, size_t n, void *ud)
{
	struct answer *a = ud;
	size_t len = size * n;
	static const char name[] = "x-prep-cut:";
	if (len > sizeof name && !strncasecmp(b, name, sizeof name - 1)) {
		char v[256];
		size_t vl = len - (sizeof name - 1);
		if (vl >= sizeof v)
			vl = sizeof v - 1;
		memcpy(v, b + sizeof name - 1, vl);
		v[vl] = '\0';
		probe_cut_label(v, a->cut, sizeof a->cut);
	}
	return len;
}

static size_t on_body(char *b, size_t size, size_t n, void *ud)
{
	(void)b;
	struct answer *a = ud;
	a->body += size * n;
	return size * n;
}

/* Whether 127.0.0.1 is a trusted proxy that must send a PROXY header. */
static int proxy_header_needed(const struct config *cfg)
{
	if (cfg->shield.proxy_protocol == SHIELD_PP_OFF || !cfg->shield.trusted_proxies)
		return 0;
	struct proxy_nets nets;
	char err[256];
	struct reqrec_addr lo;
	if (proxy_nets_parse(cfg->shield.trusted_proxies, &nets, err, sizeof err) ||
	    !proxy_addr_parse("127.0.0.1", 9, &lo) || !proxy_nets_match(&nets, &lo))
		return 0;
	return cfg->shield.proxy_protocol == SHIELD_PP_V2 ? 2 : 1;
}

/* One GET; fills row. */
static void probe_one(unsigned i, struct probe_row *row)
{
	const char *listener = P.t[i].listener;
	memset(row, 0, sizeof *row);
	row->t = time(NULL);
	snprintf(row->listener, sizeof row->listener, "%s", listener);
	char host[80];
	unsigned port;
	if (!probe_connect_host(P.t[i].bound, host, sizeof host, &port)) {
		snprintf(row->detail, sizeof row->detail, "cannot read the listener address %s",
			 P.t[i].bound);
		return;
	}
	CURL *c = curl_easy_init();
	if (!c) {
		snprintf(row->detail, sizeof row->detail, "out of memory");
		return;
	}
	char url[400], connect_to[400];
	struct curl_slist *to = NULL;
	if (i) {
		/* SNI and Host name the certificate; the socket goes to our own
		 * listener. */
		snprintf(url, sizeof url, "https://%s:%u/", P.tls_name, port);
		snprintf(connect_to, sizeof connect_to, "%s:%u:%s:%u", P.tls_name, port, host, port);
		to = curl_slist_append(NULL, connect_to);
		curl_easy_setopt(c, CURLOPT_CONNECT_TO, to);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	} else {
		snprintf(url, sizeof url, "http://%s:%u/", host, port);
	}
	struct answer a = { .cut = "" };
	char errbuf[CURL_ERROR_SIZE] = "";
	int pp = proxy_header_needed(P.cfg);
	if (pp == 1)
		curl_easy_setopt(c, CURLOPT_HAPROXYPROTOCOL, 1L);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, PROBE_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, PROBE_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_USERAGENT, PROBE_USER_AGENT_PREFIX PREPD_VERSION);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &a);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	/* Every round is a new connection and a full handshake: that is what
	 * a new visitor gets. */
	curl_easy_setopt(c, CURLOPT_SSL_SESSIONID_CACHE, 0L);
	uint64_t t0 = now_ns();
	CURLcode cr = curl_easy_perform(c);
	row->ms = (unsigned)((now_ns() - t0) / 1000000u);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	row->status = (unsigned)status;
	snprintf(row->cut, sizeof row->cut, "%s", a.cut);
	if (cr != CURLE_OK)
		snprintf(row->detail, sizeof row->detail, "%s%s", errbuf[0] ? errbuf :
			 curl_easy_strerror(cr), pp == 2 ? " (loopback is a trusted proxy that must "
			 "send PROXY v2, which the probe cannot)" : "");
	else if (status == 429)
		snprintf(row->detail, sizeof row->detail, "429: the shield limits loopback "
			 "([shield] exempt)");
	else if (status < 200 || status > 299)
		snprintf(row->detail, sizeof row->detail, "HTTP %ld", status);
	else if (!a.cut[0])
		snprintf(row->detail, sizeof row->detail, "no X-PREP-Cut in the answer");
	else
		row->ok = true;
	curl_easy_cleanup(c);
	curl_slist_free_all(to);
}

static void record(const struct probe_row *row)
{
	char err[512];
	if (!P.db) {
		if (probe_db_open(P.cfg->server.data_dir, &P.db, err, sizeof err)) {
			P.db = NULL;
			goto failed;
		}
	}
	if (probe_db_put(P.db, row, err, sizeof err))
		goto failed;
	if (P.db_failed)
		log_info("probe db-recovered");
	P.db_failed = false;
	return;
failed:
	if (!P.db_failed)
		log_warn("probe db-failed error=\"%s\" action=\"the self-check's results are not "
			 "stored (availability in prepd report will have a gap); check the data "
			 "folder's disk and DATA/stats.db\"", err);
	P.db_failed = true;
}

/* Waits until the monotonic time at, or a stop; false on a stop. */
static bool wait_until(const struct timespec *at)
{
	pthread_mutex_lock(&P.lock);
	while (!P.stop && pthread_cond_timedwait(&P.cond, &P.lock, at) != ETIMEDOUT)
		;
	bool go = !P.stop;
	pthread_mutex_unlock(&P.lock);
	return go;
}

static void *probe_main(void *arg)
{
	(void)arg;
	/* The first round an interval after the start, as every later one:
	 * a short-lived prepd (a test, a --check run) sees no request of its
	 * own in its access log or metrics, and the one-minute granularity is
	 * the probe's anyway. Monotonic: a wall clock step neither stops the
	 * probe nor makes it spin. */
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	next.tv_sec += (time_t)P.cfg->probe.interval;
	while (wait_until(&next)) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		time_t round = now.tv_sec;
		for (unsigned i = 0; i < PROBE_TARGETS; i++) {
			if (!P.t[i].set)
				continue;
			struct probe_row row;
			probe_one(i, &row);
			row.t = round;   /* one key per round and listener */
			record(&row);
			int was = P.t[i].up;
			if (row.ok && was != 1) {
				if (was == 0) {
					long down = (long)(round - P.t[i].down_since);
					incident_probe(true, row.listener, row.status, NULL, down);
					log_info("probe up listener=%s down_s=%ld cut=%s ms=%u",
						 row.listener, down, row.cut, row.ms);
				}
				P.t[i].up = 1;
			} else if (!row.ok && was != 0) {
				incident_probe(false, row.listener, row.status, row.detail, 0);
				log_error("probe down listener=%s status=%u detail=\"%s\" action=\"prepd "
					  "does not answer on its own %s listener: check the log above, "
					  "the connections (/status) and the machine's load\"",
					  row.listener, row.status, row.detail, row.listener);
				P.t[i].up = 0;
				P.t[i].down_since = round;
			}
		}
		next.tv_sec += (time_t)P.cfg->probe.interval;
		struct timespec mono;
		clock_gettime(CLOCK_MONOTONIC, &mono);
		if (next.tv_sec < mono.tv_sec)   /* a round longer than the interval */
			next = mono;
	}
	return NULL;
}

enum rc probe_start(const struct config *cfg, const char *tls_name, char *err, size_t errsz)
{
	P.cfg = cfg;
	if (!cfg->probe.interval || (!P.t[0].set && !P.t[1].set))
		return RC_OK;
	snprintf(P.tls_name, sizeof P.tls_name, "%s", tls_name && *tls_name ? tls_name : "localhost");
	P.stop = false;
	pthread_condattr_t ca;
	if (pthread_condattr_init(&ca) || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) ||
	    pthread_cond_init(&P.cond, &ca)) {
		snprintf(err, errsz, "cannot make the probe's timer");
		return RC_NOMEM;
	}
	pthread_condattr_destroy(&ca);
	if (pthread_create(&P.thread, NULL, probe_main, NULL) != 0) {
		snprintf(err, errsz, "cannot start the probe thread");
		return RC_NOMEM;
	}
	P.started = true;
	log_info("probe started interval=%us http=%s https=%s name=%s", cfg->probe.interval,
		 P.t[0].set ? P.t[0].bound : "off", P.t[1].set ? P.t[1].bound : "off", P.tls_name);
	return RC_OK;
}

void probe_stop(void)
{
	if (!P.started)
		return;
	pthread_mutex_lock(&P.lock);
	P.stop = true;
	pthread_cond_signal(&P.cond);
	pthread_mutex_unlock(&P.lock);
	pthread_join(P.thread, NULL);
	P.started = false;
	probe_db_close(P.db);
	P.db = NULL;
}
