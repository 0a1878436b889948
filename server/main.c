/* prepd: serves a PREP results site from memory over HTTP and HTTPS.
 * main parses the settings, publishes the first snapshot, starts the
 * workers and handles signals: SIGTERM/SIGINT stop gracefully, SIGHUP
 * reloads the certificate and reopens the access log. */
#include "server/admin.h"
#include "edge/fleet.h"
#include "edge/purge.h"
#include "server/alog.h"
#include "server/check.h"
#include "server/config.h"
#include "server/configtest.h"
#include "server/cut.h"
#include "server/incident.h"
#include "server/probe.h"
#include "server/report.h"
#include "ingest/event.h"
#include "ingest/ingest.h"
#include "server/limits.h"
#include "server/listen.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/privs.h"
#include "server/reload.h"
#include "server/reqbus.h"
#include "server/service.h"
#include "server/settings.h"
#include "server/snap.h"
#include "server/stats.h"
#include "server/stats_import.h"
#include "server/tls.h"
#include "ingest/store.h"
#include "server/util.h"
#include "server/variant.h"
#include "server/worker.h"
#include "server/www.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <sys/socket.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <archive.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <malloc.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>


/* The fleet says this origin is (or no longer is) behind the newest cut
 * a peer serves; fleet.c has logged it and /status shows it. While it is
 * behind, the current cut's per-cut responses are non-cacheable
 * (snap_behind_set()), so no edge stores an older cut after a newer one. */
static void on_behind(bool behind, void *ctx)
{
	(void)ctx;
	snap_behind_set(behind);
}

static void usage(FILE *out)
{
	fputs(
"usage: prepd [options]\n"
"       prepd history [--data DIR | --config FILE]\n"
"       prepd rollback SEQ [--admin HOST:PORT] [--admin-token FILE | --data DIR]\n"
"       prepd check URL [--ca FILE] [--timeout SECONDS]\n"
"       prepd report --out DIR [--from T --to T] [--baseline-from T --baseline-to T]\n"
"                    [--source live|clf|cloudfront|cloudflare] [--no-pdf]\n"
"                    [--data DIR | --config FILE]   (T: YYYY-MM-DDTHH:MM, local time)\n"
"       prepd stats import [--format clf|cloudfront|cloudflare] [--source NAME]\n"
"                          [--config FILE | --data DIR] FILE...\n"
"\n"
"Serves a PREP results site (a .tar.gz or .zip package) from memory over\n"
"HTTP and HTTPS. Before the first package it serves a built-in placeholder.\n"
"\n"
"  --config FILE        read settings from an INI file (see prepd.ini.example);\n"
"                       flags given here override it\n"
"  -t, --check-config   check the settings, certificate, folders, trust files\n"
"                       and URLs, print what was found, exit 0 (usable) or 1\n"
"  --help               show this help\n"
"  --version            show versions\n", out);
	settings_help(out);
	fputs(
"\n"
"Each flag sets the config key of the same name (with '_' for '-');\n"
"prepd.ini.example lists every key, those without a flag too.\n"
"\n"
"Signals: SIGHUP reloads the config (what it can change without a restart;\n"
"a config with errors is refused whole), the certificate, and reopens the\n"
"access log;\n"
"SIGTERM or Ctrl-C stops, giving requests in flight up to 5 s to finish.\n"
"Started as root, prepd drops to user = once its ports and files are open.\n"
"man 8 prepd has the rest.\n", out);
}

static void version(void)
{
	printf("prepd %s\n", PREPD_VERSION);
	printf("libmicrohttpd %s, GnuTLS %s, %s, zlib %s\n", MHD_get_version(),
	       gnutls_check_version(NULL), archive_version_string(), zlibVersion());
	printf("systemd: %s\n", service_supported() ? "notify, watchdog, socket activation" :
	       "not built in (meson -Dsystemd=enabled)");
}

/* getopt values: the settings table's rows from FLAG_BASE on, so a flag
 * finds its row by index (reload_flags() reads them the same way). */
#define FLAG_BASE RELOAD_FLAG_BASE

/* check: -t/--check-config was given; config_file: the --config FILE, if
 * any (borrowed from argv). */
static int parse_args(int argc, char **argv, struct config *cfg, bool *check,
		      const char **config_file_out)
{
	struct option *opts = calloc(settings_count + 5, sizeof *opts);
	if (!opts)
		abort();
	size_t n = 0;
	for (size_t i = 0; i < settings_count; i++)
		if (settings[i].flag)
			opts[n++] = (struct option){ settings[i].flag, required_argument, NULL,
						     FLAG_BASE + (int)i };
	opts[n++] = (struct option){ "config", required_argument, NULL, 'c' };
	opts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	opts[n++] = (struct option){ "version", no_argument, NULL, 'V' };
	opts[n++] = (struct option){ "check-config", no_argument, NULL, 't' };
	opts[n] = (struct option){ NULL, 0, NULL, 0 };

	int ret = 0;
	/* First pass: only --config, --help, --version, so the file is read
	 * before the flags that override it. */
	const char *config_file = NULL;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "t", opts, NULL)) != -1) {
		if (c == 'c')
			config_file = optarg;
		else if (c == 't')
			*check = true;
		else if (c == 'h') {
			usage(stdout);
			exit(0);
		} else if (c == 'V') {
			version();
			exit(0);
		} else if (c == '?') {
			fprintf(stderr, "prepd: %s: unknown option or missing value; see prepd --help\n",
				argv[optind - 1]);
			ret = 2;
			goto out;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "prepd: unexpected argument '%s'; see prepd --help\n", argv[optind]);
		ret = 2;
		goto out;
	}
	*config_file_out = config_file;
	char err[1024];
	if (config_file && config_load(cfg, config_file, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		ret = 2;
		goto out;
	}
	if (reload_flags(argc, argv, cfg, err, sizeof err)) {
		fprintf(stderr, "prepd: %s\n", err);
		ret = 2;
		goto out;
	}
	if (config_finish(cfg, err, sizeof err)) {
		fprintf(stderr, "prepd: %s%s%s\n", config_file ? config_file : "",
			config_file ? ": " : "", err);
		ret = 2;
	}
out:
	free(opts);
	return ret;
}

/* The data folder holds prepd's own files; a lock in it stops a second
 * prepd from sharing it by mistake. As root with user = set (u), a folder
 * prepd creates, and the lock, are given to that user, who writes them
 * after the drop. */
static int open_data_dir(const char *dir, const struct privs_user *u)
{
	bool made = mkdir(dir, 0750) == 0;
	if (!made && errno != EEXIST) {
		log_error("server data-dir-failed dir=%s error=\"%m\" "
			  "action=\"create the folder or point --data somewhere writable\"", dir);
		return -1;
	}
	if (made && u && geteuid() == 0 && chown(dir, u->uid, u->gid) != 0) {
		log_error("server data-dir-failed dir=%s error=\"chown to %s: %m\"", dir, u->name);
		return -1;
	}
	char lock[PATH_BUF_LONG_BYTES];
	snprintf(lock, sizeof lock, "%s/prepd.lock", dir);
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		log_error("server data-dir-failed dir=%s error=\"%m\" "
			  "action=\"make the folder writable by prepd's user\"", dir);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		log_error("server data-dir-locked dir=%s "
			  "action=\"another prepd is using this folder; stop it or give --data another folder\"",
			  dir);
		close(fd);
		return -1;
	}
	if (u && geteuid() == 0 && fchown(fd, u->uid, u->gid) != 0)
		log_warn("server lock-chown-failed dir=%s user=%s error=\"%m\"", dir, u->name);
	char pid[32];
	int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == 0 && write(fd, pid, (size_t)n) != n)
		log_warn("server lock-write-failed dir=%s", dir);
	return fd;
}

/* Writes s to stdout with every control byte (and DEL) as \xHH, so that
 * a name from outside (a spool file called "x\nseq=9 ...") can never
 * forge a line of the listing. Valid or not, other bytes pass as they are. */
static void print_safe(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '\\')
			printf("\\x%02x", *p);
		else
			putchar(*p);
	}
}

static int print_history(void *ctx, const struct journal_rec *r)
{
	(void)ctx;
	char when[32] = "-";
	struct tm tm;
	if (r->received) {
		gmtime_r(&r->received, &tm);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	printf("%6llu  %-20s  ", (unsigned long long)r->seq, when);
	/* verdict, kind and cut are prepd's own words, but the journal is a
	 * file: every text field is printed safely. */
	char pad[3][16];
	const char *f[3] = { r->verdict, r->kind[0] ? r->kind : "-", r->cut[0] ? r->cut : "-" };
	const int w[3] = { 11, 11, 14 };
	for (int i = 0; i < 3; i++) {
		print_safe(f[i]);
		size_t len = strlen(f[i]);
		int n = len < (size_t)w[i] ? w[i] - (int)len : 0;
		snprintf(pad[i], sizeof pad[i], "%*s", n, "");
		printf("%s  ", pad[i]);
	}
	printf("%10llu  %.16s  ", (unsigned long long)r->size, r->sha256);
	print_safe(r->source);
	if (r->reason[0]) {
		printf("  ");
		print_safe(r->reason);
	}
	putchar('\n');
	return 0;
}

/* prepd history: the journal, one package a line. */
static int cmd_history(const struct config *cfg)
{
	printf("%6s  %-20s  %-11s  %-11s  %-14s  %10s  %-16s  %s\n", "seq", "received (UTC)",
	       "verdict", "kind", "cut", "bytes", "sha256", "source");
	bool torn = false;
	char err[512];
	if (journal_read(cfg->server.data_dir, print_history, NULL, &torn, err, sizeof err)) {
		fprintf(stderr, "prepd history: %s\n", err);
		return 1;
	}
	if (torn)
		fprintf(stderr, "prepd history: the last line was cut off by a crash and is not shown\n");
	return 0;
}

/* prepd rollback SEQ: asks the running daemon, through its admin
 * listener, to republish the cut of package SEQ. */
static int cmd_rollback(const struct config *cfg, const char *seq)
{
	uint64_t n;
	if (!parse_uint(seq, 1, UINT64_MAX, &n)) {
		fprintf(stderr, "prepd rollback: '%s' is not a sequence number; see prepd history\n", seq);
		return 2;
	}
	if (!cfg->server.admin.on) {
		fprintf(stderr, "prepd rollback: say where the daemon's admin listener is: --admin HOST:PORT "
			"(or admin = in the config)\n");
		return 2;
	}
	char tok[ADMIN_TOKEN_MAX_BYTES + 1], err[512];
	if (admin_read_token(cfg, tok, sizeof tok, err, sizeof err)) {
		fprintf(stderr, "prepd rollback: %s\n", err);
		return 1;
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	char port[16];
	snprintf(port, sizeof port, "%u", cfg->server.admin.port);
	const char *host = cfg->server.admin.host[0] ? cfg->server.admin.host : "127.0.0.1";
	if (getaddrinfo(host, port, &hints, &ai) != 0) {
		fprintf(stderr, "prepd rollback: bad admin address %s\n", host);
		return 1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		fprintf(stderr, "prepd rollback: cannot reach the daemon at %s:%s: %s "
			"(is prepd running with --admin?)\n", host, port, strerror(errno));
		freeaddrinfo(ai);
		if (fd >= 0)
			close(fd);
		return 1;
	}
	freeaddrinfo(ai);
	char req[1024];
	int len = snprintf(req, sizeof req, "POST /rollback/%llu HTTP/1.1\r\nHost: %s\r\n"
			   "Authorization: Bearer %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
			   (unsigned long long)n, host, tok);
	if (write(fd, req, (size_t)len) != len) {
		fprintf(stderr, "prepd rollback: sending failed: %s\n", strerror(errno));
		close(fd);
		return 1;
	}
	char resp[4096];   /* the daemon's short JSON answer; a longer one is cut */
	size_t got = 0;
	ssize_t r;
	while (got < sizeof resp - 1 && (r = read(fd, resp + got, sizeof resp - 1 - got)) > 0)
		got += (size_t)r;
	close(fd);
	resp[got] = '\0';
	int status = 0;
	sscanf(resp, "HTTP/1.%*d %d", &status);
	const char *body = strstr(resp, "\r\n\r\n");
	if (status == 202) {
		printf("prepd rollback: the daemon will republish the cut of package %llu; "
		       "watch the log or GET /status\n", (unsigned long long)n);
		return 0;
	}
	fprintf(stderr, "prepd rollback: the daemon answered %d: %s", status, body ? body + 4 : resp);
	return 1;
}

/* The threads prepd runs once started, by id, for the watchdog. */
struct threads {
	pid_t tid[NET_MAX_THREADS * 2 + 64];
	size_t n;
};

/* Lists this process's threads from /proc/self/task. Returns false when it
 * cannot be read. */
static bool threads_list(struct threads *t)
{
	t->n = 0;
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return false;
	struct dirent *e;
	while ((e = readdir(d)) && t->n < sizeof t->tid / sizeof t->tid[0]) {
		uint64_t tid;
		if (parse_uint(e->d_name, 1, INT32_MAX, &tid))
			t->tid[t->n++] = (pid_t)tid;
	}
	closedir(d);
	return true;
}

/* Whether thread tid still runs: present and not a zombie (state Z or X,
 * the third field of its stat line, after the parenthesised name). */
static bool thread_alive(pid_t tid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/self/task/%ld/stat", (long)tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	const char *close_paren = strrchr(buf, ')');
	return close_paren && close_paren[1] == ' ' && close_paren[2] != 'Z' &&
	       close_paren[2] != 'X';
}

/* The watchdog's question: is prepd still whole? Every thread it started
 * (request workers, the ingest thread, the publish subscribers, the log
 * collector, the admin listener) must still run, and the ingest status
 * must answer (its lock is not stuck). A thread that died or a lock that
 * never comes back means no ping, and systemd restarts prepd after
 * WatchdogSec. Called on the main thread between signals. */
static bool alive(const struct threads *started, char *why, size_t whysz)
{
	for (size_t i = 0; i < started->n; i++) {
		if (!thread_alive(started->tid[i])) {
			snprintf(why, whysz, "thread %ld is gone", (long)started->tid[i]);
			return false;
		}
	}
	struct ingest_status st;
	ingest_get_status(&st);   /* blocks, and so stops the pings, if stuck */
	return true;
}

/* STATUS= for systemctl status: the cut served. */
static void status_line(char *buf, size_t bufsz)
{
	struct snap *now = snap_acquire();
	const struct cut *c = snap_cut(now);
	if (c->seq)
		snprintf(buf, bufsz, "serving cut %s (package %llu)", c->label,
			 (unsigned long long)c->seq);
	else
		snprintf(buf, bufsz, "serving the placeholder: no package published yet");
	snap_release(now);
}

/* The publish event's subscriber: the STATUS= line follows every
 * publication. */
static void on_publish(const struct event *ev, void *ctx)
{
	(void)ctx;
	char line[256];
	snprintf(line, sizeof line, "serving cut %s (package %llu, %s)", ev->cut.label,
		 (unsigned long long)ev->seq, event_kind_str(ev->kind));
	service_status(line);
}

static void log_unclaimed(const char *addr, void *ctx)
{
	(void)ctx;
	log_warn("listen inherited-unused addr=%s action=\"prepd.socket listens where prepd.ini "
		 "does not: make its ListenStream= lines match http, https and admin\"", addr);
}

/* Opens every listener now (or takes systemd's), before the privilege
 * drop: the workers and the admin listener take them later from the pool
 * (server/listen.h). */
static int open_listeners(const struct config *cfg)
{
	char err[1024];
	int passed = service_listen_fds();
	if (listen_inherit(passed, err, sizeof err)) {
		log_error("listen inherit-failed error=\"%s\"", err);
		return -1;
	}
	struct listen_addr admin = cfg->server.admin;
	if (!admin.host[0])   /* as admin.c: ":8081" is 127.0.0.1:8081 */
		snprintf(admin.host, sizeof admin.host, "127.0.0.1");
	const struct { const char *name; const struct listen_addr *la; } ls[] = {
		{ "http", &cfg->server.http }, { "https", &cfg->server.https }, { "admin", &admin },
	};
	for (size_t i = 0; i < sizeof ls / sizeof ls[0]; i++) {
		if (!ls[i].la->on)
			continue;
		char bound[LISTEN_ADDR_TEXT_BYTES];
		bool inherited;
		if (listen_preopen(ls[i].la, bound, sizeof bound, &inherited, err, sizeof err)) {
			log_error("listen open-failed listener=%s error=\"%s\"", ls[i].name, err);
			return -1;
		}
		if (inherited)
			log_info("listen inherited listener=%s addr=%s from=systemd", ls[i].name, bound);
		if (strcmp(ls[i].name, "admin"))
			probe_target(ls[i].name, bound);   /* the self-check's address */
	}
	listen_drop_unclaimed(log_unclaimed, NULL);
	return 0;
}

/* Root gives way to user = (or warns that it stays root); an ordinary
 * user with capabilities (systemd's AmbientCapabilities=) sheds them.
 * Before any thread exists: capabilities are per thread. */
static int drop_privileges(const struct config *cfg, const struct privs_user *u)
{
	char err[512];
	struct threads t;
	if (threads_list(&t) && t.n != 1) {
		log_error("privs drop-failed error=\"%zu threads already run; the drop must come "
			  "first\" action=\"report this bug\"", t.n);
		return -1;
	}
	if (geteuid() == 0 && !u) {
		log_warn("privs running-as-root action=\"set user = prepd in [server] (prepd drops "
			 "to it once its ports are open), or run prepd.service\"");
		return 0;
	}
	if (geteuid() != 0 && !privs_any_capability())
		return 0;
	enum rc rc = u ? privs_drop(u, err, sizeof err) : privs_shed(err, sizeof err);
	if (rc) {
		log_error("privs drop-failed user=%s error=\"%s\" action=\"prepd stops rather than "
			  "run with more rights than it should\"", u ? u->name : "-", err);
		return -1;
	}
	if (u)
		log_info("privs dropped user=%s uid=%u gid=%u capabilities=none", u->name,
			 (unsigned)u->uid, (unsigned)u->gid);
	else
		log_info("privs shed capabilities=none");
	/* What the user must be able to do from now on. */
	if (access(cfg->server.data_dir, R_OK | W_OK | X_OK) != 0) {
		log_error("server data-dir-failed dir=%s user=%s error=\"%m\" action=\"chown -R %s "
			  "%s (or give data = a folder that user owns)\"", cfg->server.data_dir,
			  u ? u->name : "-", u ? u->name : "USER", cfg->server.data_dir);
		return -1;
	}
	if (cfg->server.https.on && access(cfg->tls.key, R_OK) != 0)
		log_warn("tls key-unreadable file=%s user=%s action=\"a SIGHUP reload will fail: "
			 "chgrp %s %s; chmod 640 %s\"", cfg->tls.key, u ? u->name : "-",
			 u ? u->name : "USER", cfg->tls.key, cfg->tls.key);
	return 0;
}

/* Whether a certificate pair in use (the default one, then every [tls]
 * certs pair) cannot be read now; err says which and why. For the log when
 * a reload is refused: the TLS module's own words. */
static bool tls_pairs_bad(const struct config *c, char *err, size_t errsz)
{
	time_t exp;
	char desc[512];
	if (tls_check(c->tls.cert, c->tls.key, &exp, desc, sizeof desc, err, errsz))
		return true;
	if (!c->tls.certs)
		return false;
	char buf[CFG_MAX_VALUE_BYTES + 1];
	const char *files[2 * TLS_MAX_CERTS];
	unsigned n = tls_split_list(c->tls.certs, buf, sizeof buf, files, 2 * TLS_MAX_CERTS);
	for (unsigned i = 0; i + 1 < n && i + 1 < 2 * TLS_MAX_CERTS; i += 2)
		if (tls_check(files[i], files[i + 1], &exp, desc, sizeof desc, err, errsz))
			return true;
	return false;
}

/* The name the self-probe asks for over HTTPS: the default
 * certificate's first name (a wildcard's "*" made a label), else
 * "localhost". */
static const char *probe_tls_name(const struct config *cfg)
{
	static char name[256];
	if (!cfg->server.https.on || !tls_count())
		return NULL;
	char desc[1024];
	tls_describe(0, desc, sizeof desc);
	const char *n = strstr(desc, " names=");
	if (!n || !strncmp(n + 7, "(none)", 6))
		return NULL;
	n += 7;
	size_t len = strcspn(n, ", ");
	snprintf(name, sizeof name, "%s%.*s", n[0] == '*' ? "probe" : "", (int)(n[0] == '*' ? len - 1 : len),
		 n[0] == '*' ? n + 1 : n);
	return name;
}

int main(int argc, char **argv)
{
	/* A fixed mmap threshold: every body of MEM_MMAP_THRESHOLD_BYTES or
	 * more is its own mapping, given back to the system the moment its
	 * cut goes (glibc's sliding threshold would move files of up to 32 MiB
	 * into the heap after the first one is freed). The variant thread
	 * trims what smaller bodies leave in the heap (server/variant.h). */
	mallopt(M_MMAP_THRESHOLD, MEM_MMAP_THRESHOLD_BYTES);
	/* And the heap's free top stays up to MEM_TRIM_THRESHOLD_BYTES: not
	 * given back and faulted in again as connections come and go. */
	mallopt(M_TRIM_THRESHOLD, MEM_TRIM_THRESHOLD_BYTES);
	log_init();
	/* Its own flags, no config: it only looks at a site from outside. */
	if (argc > 1 && !strcmp(argv[1], "check"))
		return check_run(argc - 1, argv + 1);
	/* Its own flags; reads the config for the data folder and zone. */
	if (argc > 1 && !strcmp(argv[1], "stats"))
		return stats_main(argc - 1, argv + 1);
	struct config cfg;
	config_init(&cfg);
	bool history = argc > 1 && !strcmp(argv[1], "history");
	bool report = argc > 1 && !strcmp(argv[1], "report");
	struct report_opts ropts = { 0 };
	bool rollback = argc > 2 && !strcmp(argv[1], "rollback");
	const char *rollback_seq = rollback ? argv[2] : NULL;
	if (report) {
		argv[1] = argv[0];
		argv++;
		argc--;
		if (report_take_args(&argc, argv, &ropts))
			return 2;
	}
	if (history || rollback) {
		int drop = history ? 1 : 2;
		argv[drop] = argv[0];
		argv += drop;
		argc -= drop;
	} else if (argc > 1 && !strcmp(argv[1], "rollback")) {
		fprintf(stderr, "prepd rollback: give the sequence number to republish, as "
			"listed by prepd history\n");
		return 2;
	}
	bool check_config = false;
	const char *config_file = NULL;
	int ret = parse_args(argc, argv, &cfg, &check_config, &config_file);
	if (!ret && report) {
		char zerr[512];
		if (cut_zone_use(cfg.ingest.time_zone, zerr, sizeof zerr)) {
			fprintf(stderr, "prepd report: %s\n", zerr);
			ret = 2;
		} else {
			ret = report_run(&cfg, &ropts);
		}
		config_release(&cfg);
		return ret;
	}
	if (check_config && !history && !rollback) {
		if (!ret) {
			curl_global_init(CURL_GLOBAL_DEFAULT);
			ret = configtest_run(&cfg, config_file, stdout);
		} else {
			printf("prepd: %s: the configuration is not usable: fix the error above\n",
			       config_file ? config_file : "the command line");
			ret = 1;
		}
		config_release(&cfg);
		return ret;
	}
	if (!ret && history) {
		ret = cmd_history(&cfg);
		config_release(&cfg);
		return ret;
	}
	if (!ret && rollback) {
		ret = cmd_rollback(&cfg, rollback_seq);
		config_release(&cfg);
		return ret;
	}
	if (ret) {
		config_release(&cfg);
		return ret;
	}
	log_set_level((enum log_level)cfg.server.log_level);
	/* The institute's zone as the process's local time, while main is the
	 * only thread (server/cut.h says why). */
	char zerr[512];
	if (cut_zone_use(cfg.ingest.time_zone, zerr, sizeof zerr)) {
		log_error("server time-zone-failed error=\"%s\" action=\"install tzdata or fix "
			  "[ingest] time_zone\"", zerr);
		config_release(&cfg);
		return 2;
	}

	/* Every thread inherits this mask; main alone takes the signals. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Before any thread: curl_global_init is not thread-safe, and the
	 * watchdog and socket variables are read from the environment. */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	uint64_t watchdog_usec = service_watchdog_usec();
	char err[1024];
	struct privs_user user, *u = NULL;
	if (cfg.server.user) {
		if (privs_lookup(cfg.server.user, &user, err, sizeof err)) {
			log_error("privs user-unknown user=%s error=\"%s\" action=\"create it "
				  "(useradd --system --home-dir %s %s) or fix user = in [server]\"",
				  cfg.server.user, err, cfg.server.data_dir, cfg.server.user);
			config_release(&cfg);
			return 1;
		}
		u = &user;
	}
	int lock_fd = open_data_dir(cfg.server.data_dir, u);
	if (lock_fd < 0) {
		config_release(&cfg);
		return 1;
	}
	if (open_listeners(&cfg))
		goto early_fail;

	enum rc rc;
	struct snap *placeholder = www_default_snapshot(&cfg, &rc);
	if (!placeholder) {
		log_error("server placeholder-failed error=%s", rc_str(rc));
		goto early_fail;
	}
	snap_publish(placeholder);

	if (cfg.server.https.on) {
		if (tls_load(cfg.tls.cert, cfg.tls.key, cfg.tls.certs, err, sizeof err)) {
			log_error("tls load-failed error=\"%s\" action=\"fix the file or give other "
				  "--cert/--key ([tls] certs); script/server makes a local pair in "
				  "certs/local/\"", err);
			goto early_fail;
		}
		char desc[1024];
		for (unsigned i = 0; i < tls_count(); i++) {
			tls_describe(i, desc, sizeof desc);
			log_info("tls loaded pair=%u%s %s", i + 1, i ? "" : " default=yes", desc);
		}
		double days = difftime(tls_expires(), time(NULL)) / 86400;
		if (days < TLS_EXPIRY_WARN_DAYS)
			log_warn("tls expires-soon days=%.0f action=\"renew the certificate (the "
				 "tls loaded lines name each one's not_after), then send SIGHUP "
				 "(systemctl reload prepd)\"", days);
		if (tls_tickets_init(cfg.tls.ticket_lifetime)) {
			log_error("tls tickets-failed action=\"GnuTLS could not make a session ticket "
				  "key (no random source?); set [tls] ticket_lifetime = 0 to start "
				  "without resumption\"");
			goto early_fail;
		}
		if (cfg.tls.ticket_lifetime)
			log_info("tls tickets lifetime=%us key_rotation=%us",
				 cfg.tls.ticket_lifetime, 3 * cfg.tls.ticket_lifetime);
		else
			log_info("tls tickets off=yes reason=\"[tls] ticket_lifetime = 0: every "
				 "connection is a full handshake\"");
	}
	if (cfg.server.access_log && (rc = alog_start(cfg.server.access_log))) {
		if (rc == RC_IO)
			log_error("alog open-failed file=%s error=\"%m\" "
				  "action=\"check the folder exists and is writable, or drop --access-log\"",
				  cfg.server.access_log);
		else
			log_error("alog start-failed file=%s error=%s", cfg.server.access_log,
				  rc_str(rc));
		goto early_fail;
	}
	/* A log prepd created as root goes to the user, who reopens it on
	 * SIGHUP (logrotate's create line makes the next one so too). */
	struct stat lst;
	if (cfg.server.access_log && u && geteuid() == 0 &&
	    stat(cfg.server.access_log, &lst) == 0 && lst.st_uid == 0 &&
	    chown(cfg.server.access_log, u->uid, u->gid) != 0)
		log_warn("alog chown-failed file=%s user=%s error=\"%m\"", cfg.server.access_log,
			 u->name);

	/* The CDN purge reads its secrets now, while prepd may still read
	 * files only root can; its threads start after the drop. */
	struct purge *purge = NULL;
	struct fleet *fleet = NULL;
	if ((rc = purge_new(&cfg.purge, &purge, err, sizeof err))) {
		log_error("purge start-failed error=\"%s\" action=\"fix secret_file in that [purge "
			  "NAME] section (one line, readable by prepd)\"", err);
		goto early_fail;
	}
	struct fleet_hooks hooks = { .ready = purge_on_publish, .on_behind = on_behind,
				     .ctx = purge };
	if ((rc = fleet_new(&cfg.fleet, &hooks, &fleet, err, sizeof err))) {
		log_error("fleet start-failed error=\"%s\"", err);
		purge_free(purge);
		goto early_fail;
	}

	/* Nothing from a package has been read yet: the start-up replay, the
	 * --package and the ingest thread all come after this. */
	if (drop_privileges(&cfg, u)) {
		fleet_free(fleet);
		purge_free(purge);
		goto early_fail;
	}
	/* After the drop (the file is the user's) and before the threads:
	 * the start line says whether the last run stopped cleanly. */
	if (incident_open(cfg.server.data_dir, PREPD_VERSION, err, sizeof err))
		log_warn("incident open-failed error=\"%s\" action=\"incidents are not recorded for "
			 "the memoria tecnica; make the data folder writable\"", err);

	/* /metrics lives on the admin listener: without it, no sink, so the
	 * request path does not fill records for nobody. */
	if (cfg.server.admin.on && (rc = metrics_start()))
		log_warn("metrics start-failed error=%s reason=\"/metrics will miss requests or "
			 "publishes\"", rc_str(rc));
	/* After the drop: stats.db and its key are the service user's. A
	 * failure is logged there and never stops serving. */
	if (cfg.stats.on)
		stats_start(&cfg.stats, cfg.server.data_dir, cfg.ingest.time_zone);
	if (variant_start())
		log_warn("variant start-failed error=%s reason=\"gzip variants are made on the "
			 "ingest thread, before each cut is published\"", rc_str(RC_NOMEM));
	if (reqbus_start()) {
		log_error("reqbus start-failed error=\"cannot start the collector thread\"");
		incident_close(NULL);
		return 1;
	}
	if ((rc = event_subscribe("service", on_publish, NULL)))
		log_warn("service subscribe-failed error=%s reason=\"systemctl status will not "
			 "follow the cut\"", rc_str(rc));
	/* The purge hangs off the publish event: through the fleet when there
	 * are peers (it fires once they serve the cut), else at once. */
	if (purge_start(purge) || fleet_start(fleet))
		log_error("purge start-failed error=\"cannot start the purge or fleet threads\" "
			  "action=\"the CDN will not be purged: restart prepd\"");
	if (fleet)
		rc = event_subscribe("fleet", fleet_on_publish, fleet);
	else if (purge)
		rc = event_subscribe("purge", purge_on_publish, purge);
	if ((fleet || purge) && rc)
		log_error("purge subscribe-failed error=%s action=\"the CDN will not be purged: "
			  "restart prepd\"", rc_str(rc));
	admin_edge(purge, fleet);
	metrics_edge(purge, fleet);
	for (unsigned i = 0; i < purge_count(purge); i++) {
		struct purge_state ps;
		purge_state(purge, i, &ps);
		log_info("purge target name=%s type=%s by=%s", ps.name, ps.type, ps.by);
	}
	if (ingest_start(&cfg.ingest, err, sizeof err)) {
		log_error("ingest start-failed error=\"%s\"", err);
		ingest_stop();   /* whatever it started: the event threads, the store */
		reqbus_stop();
		stats_stop();
		alog_stop();
		incident_close(NULL);
		return 1;
	}

	if (workers_start(&cfg, err, sizeof err)) {
		log_error("server start-failed error=\"%s\"", err);
		reqbus_stop();
		stats_stop();
		alog_stop();
		incident_close(NULL);
		return 1;
	}
	if (cfg.server.admin.on && admin_start(&cfg, err, sizeof err)) {
		log_error("admin start-failed error=\"%s\"", err);
		ingest_stop();
		workers_stop(0);
		reqbus_stop();
		stats_stop();
		alog_stop();
		incident_close(NULL);
		return 1;
	}
	/* The self-check, once everything it checks answers. */
	if ((rc = probe_start(&cfg, probe_tls_name(&cfg), err, sizeof err)))
		log_warn("probe start-failed error=\"%s\" reason=\"availability in prepd report "
			 "will have no data\"", err);
	struct snap *now = snap_acquire();
	log_info("server ready version=%s cut=%s seq=%llu", PREPD_VERSION,
		 snap_cut(now)->label, (unsigned long long)snap_cut(now)->seq);
	snap_release(now);
	char status[256];
	status_line(status, sizeof status);
	service_ready(status);

	struct threads started;
	if (watchdog_usec && !threads_list(&started)) {
		log_warn("service watchdog-off reason=\"/proc/self/task cannot be read\"");
		watchdog_usec = 0;
	}
	/* Half the interval, as sd_watchdog_enabled(3) advises. */
	struct timespec tick = { (time_t)(watchdog_usec / 2000000),
				 (long)(watchdog_usec / 2 % 1000000) * 1000 };
	/* While configs replaced by a reload wait for the ingest thread to
	 * let go of them, look every second. */
	const struct timespec tidy_tick = { 1, 0 };
	struct reload *reload = reload_new(&cfg, config_file, argc, argv);
	if (!reload)
		log_warn("server reload-off error=\"out of memory\" reason=\"SIGHUP will only reload "
			 "the certificate and reopen the access log\"");
	bool ill = false, tidy = false;
	const char *stop_signal = NULL;
	for (;;) {
		int sig;
		if (tidy && reload)
			tidy = reload_tidy(reload);
		if (watchdog_usec || tidy) {
			const struct timespec *t = !watchdog_usec ? &tidy_tick :
				tidy && tidy_tick.tv_sec < tick.tv_sec ? &tidy_tick : &tick;
			sig = sigtimedwait(&sigs, NULL, t);
			if (sig < 0 && !watchdog_usec)
				continue;
			if (sig < 0) {
				char why[128];
				if (alive(&started, why, sizeof why)) {
					service_watchdog_ping();
					ill = false;
				} else if (!ill) {
					ill = true;
					log_error("service watchdog-withheld reason=\"%s\" action=\"systemd "
						  "restarts prepd; send the log to the developers\"", why);
				}
				continue;
			}
		} else if (sigwait(&sigs, &sig) != 0) {
			continue;
		}
		if (sig == SIGHUP) {
			log_info("server sighup action=\"reloading the config and certificate, reopening "
				 "the access log\"");
			if (reload) {
				if (reload_run(reload) == RC_FORMAT) {
					/* A refused config refuses the certificate too: say
					 * so in the TLS module's words when it is at fault. */
					if (cfg.server.https.on && tls_pairs_bad(&cfg, err, sizeof err))
						log_error("tls reload-failed error=\"%s\" action=\"the previous "
							  "certificate is still in use; fix the files and send "
							  "SIGHUP again\"", err);
					tidy = reload_tidy(reload);
					if (cfg.server.access_log)
						alog_reopen();
					continue;
				}
				tidy = reload_tidy(reload);
			}
			if (cfg.server.access_log)
				alog_reopen();
			if (cfg.server.https.on) {
				if (tls_reload(err, sizeof err))
					log_error("tls reload-failed error=\"%s\" action=\"the previous "
						  "certificate is still in use; fix the files and send SIGHUP again\"",
						  err);
				else {
					char desc[1024];
					for (unsigned i = 0; i < tls_count(); i++) {
						tls_describe(i, desc, sizeof desc);
						log_info("tls reloaded pair=%u %s", i + 1, desc);
					}
				}
			}
			continue;
		}
		log_info("server stopping signal=%s connections=%u grace_ms=%u",
			 sig == SIGINT ? "int" : "term", workers_connections(), NET_STOP_GRACE_MS);
		stop_signal = sig == SIGINT ? "int" : "term";
		break;
	}
	service_stopping();
	probe_stop();
	admin_stop();
	ingest_stop();
	variant_stop();
	admin_edge(NULL, NULL);
	metrics_edge(NULL, NULL);
	fleet_free(fleet);   /* before the purge: it may still hand it a cut */
	purge_free(purge);
	workers_stop(NET_STOP_GRACE_MS);
	if (reqbus_dropped())
		log_warn("alog dropped=%llu reason=\"request threads outran the log writer\"",
			 (unsigned long long)reqbus_dropped());
	reqbus_stop();
	stats_stop();
	alog_stop();
	snap_shutdown();
	tls_shutdown();
	reload_free(reload);
	close(lock_fd);
	incident_close(stop_signal);
	config_release(&cfg);
	log_info("server stopped");
	return 0;

early_fail:
	/* Before any thread: free what was made, so a failed start is as
	 * clean as a stop (and the sanitizer build says nothing). */
	snap_shutdown();
	tls_shutdown();
	alog_stop();
	close(lock_fd);
	config_release(&cfg);
	return 1;
}
