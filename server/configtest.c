#include "server/configtest.h"
#include "server/limits.h"
#include "server/privs.h"
#include "server/settings.h"
#include "server/tls.h"
#include "ingest/fetch.h"
#include "ingest/verify.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct run {
	const struct config *cfg;
	const char *file;
	FILE *out;
	unsigned errors, warnings;
	bool have_user;
	struct privs_user user;
};

/* Where section.key was set: "FILE:LINE" (its last line in the file, the
 * one that wins), else "--flag" (the value came from the command line),
 * else "" (the default). A key set in the file and overridden by a flag
 * names the file's line, which is where a person would look first. The
 * config is re-read for this, as inih hands its callback no line number. */
static void where(const struct run *r, const char *section, const char *key,
		  char *buf, size_t bufsz)
{
	buf[0] = '\0';
	FILE *f = r->file ? fopen(r->file, "re") : NULL;
	if (f) {
		char line[CFG_MAX_VALUE_BYTES + 256], sec[64] = "";
		unsigned no = 0;
		while (fgets(line, sizeof line, f)) {
			no++;
			char *p = line;
			while (isspace((unsigned char)*p))
				p++;
			if (*p == '[') {
				char *end = strchr(p, ']');
				if (end && (size_t)(end - p - 1) < sizeof sec) {
					memcpy(sec, p + 1, (size_t)(end - p - 1));
					sec[end - p - 1] = '\0';
				}
				continue;
			}
			size_t kl = strlen(key);
			if (!strcmp(sec, section) && !strncmp(p, key, kl)) {
				char *q = p + kl;
				while (*q == ' ' || *q == '\t')
					q++;
				if (*q == '=' || *q == ':')
					snprintf(buf, bufsz, "%s:%u", r->file, no);
			}
		}
		fclose(f);
	}
	const struct setting *s = settings_find(section, key);
	if (!buf[0] && s && s->flag)
		snprintf(buf, bufsz, "--%s", s->flag);
}

static void say(struct run *r, const char *level, const char *section, const char *key,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void say(struct run *r, const char *level, const char *section, const char *key,
		const char *fmt, ...)
{
	char at[PATH_BUF_BYTES + 32] = "";
	if (section)
		where(r, section, key, at, sizeof at);
	fprintf(r->out, "prepd: %s: %s%s", level, at, at[0] ? ": " : "");
	va_list ap;
	va_start(ap, fmt);
	vfprintf(r->out, fmt, ap);
	va_end(ap);
	fputc('\n', r->out);
	if (!strcmp(level, "error"))
		r->errors++;
	else if (!strcmp(level, "warning"))
		r->warnings++;
}

/* Whether the user prepd will run as may do mode (W_OK|X_OK, R_OK) on
 * path: as root with user = set, it is asked as that user. */
static bool can(struct run *r, const char *path, int mode, int *e)
{
	bool as_user = r->have_user && geteuid() == 0;
	if (as_user && (setegid(r->user.gid) != 0 || seteuid(r->user.uid) != 0)) {
		*e = errno;
		return false;
	}
	bool ok = access(path, mode) == 0;
	*e = errno;
	if (as_user && (seteuid(0) != 0 || setegid(0) != 0))
		ok = false;
	return ok;
}

static const char *runner(const struct run *r)
{
	static char who[96];
	if (r->have_user && geteuid() == 0)
		snprintf(who, sizeof who, "user %s", r->user.name);
	else
		snprintf(who, sizeof who, "this user (uid %u)", (unsigned)geteuid());
	return who;
}

/* A folder prepd writes into: it exists and is writable, or its parent is
 * (when prepd may create it). */
static void check_dir(struct run *r, const char *section, const char *key, const char *dir,
		      bool may_create, const char *what)
{
	struct stat st;
	int e;
	if (stat(dir, &st) != 0) {
		if (errno != ENOENT || !may_create) {
			say(r, "error", section, key, "%s %s: %s", what, dir, strerror(errno));
			return;
		}
		char parent[PATH_BUF_BYTES];
		snprintf(parent, sizeof parent, "%s", dir);
		char *slash = strrchr(parent, '/');
		if (slash == parent)
			slash[1] = '\0';
		else if (slash)
			*slash = '\0';
		else
			strcpy(parent, ".");
		if (geteuid() == 0 || can(r, parent, W_OK | X_OK, &e))
			say(r, "ok", NULL, NULL, "%s %s does not exist yet; prepd will create it", what, dir);
		else
			say(r, "error", section, key, "%s %s does not exist and %s cannot create it in %s: %s",
			    what, dir, runner(r), parent, strerror(e));
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		say(r, "error", section, key, "%s %s is not a folder", what, dir);
		return;
	}
	if (!can(r, dir, R_OK | W_OK | X_OK, &e)) {
		say(r, "error", section, key, "%s %s is not writable by %s: %s%s%s", what, dir,
		    runner(r), strerror(e), r->have_user ? "; chown -R " : "",
		    r->have_user ? r->user.name : "");
		return;
	}
	say(r, "ok", NULL, NULL, "%s %s is usable by %s", what, dir, runner(r));
}

static void check_readable(struct run *r, const char *section, const char *key,
			   const char *file, const char *what)
{
	int e;
	struct stat st;
	if (stat(file, &st) != 0 || !S_ISREG(st.st_mode))
		say(r, "error", section, key, "%s %s: %s", what, file,
		    errno && stat(file, &st) != 0 ? strerror(errno) : "not a file");
	else if (!can(r, file, R_OK, &e))
		say(r, "error", section, key, "%s %s is not readable by %s: %s", what, file,
		    runner(r), strerror(e));
	else
		say(r, "ok", NULL, NULL, "%s %s is readable", what, file);
}

static void check_tls(struct run *r)
{
	const struct config *cfg = r->cfg;
	time_t exp;
	char desc[512], err[1024];
	enum rc rc = tls_check(cfg->tls.cert, cfg->tls.key, &exp, desc, sizeof desc, err, sizeof err);
	if (rc) {
		/* Name the line of the file the error is about. */
		bool key = strstr(err, "the key ") || strstr(err, "private key");
		say(r, "error", "tls", key ? "key" : "cert", "%s", err);
		return;
	}
	say(r, "ok", NULL, NULL, "certificate %s and key %s: %s", cfg->tls.cert, cfg->tls.key, desc);
	double days = difftime(exp, time(NULL)) / 86400;
	if (days < 0)
		say(r, "error", "tls", "cert", "the certificate %s expired %.0f days ago; "
		    "renew it before starting", cfg->tls.cert, -days);
	else if (days < TLS_EXPIRY_WARN_DAYS)
		say(r, "warning", "tls", "cert", "the certificate %s expires in %.0f days; "
		    "renew it now (prepd reloads it on SIGHUP)", cfg->tls.cert, days);
	if (cfg->tls.certs) {
		/* The SNI pairs, each checked like the default one. */
		char buf[4096];
		const char *files[2 * TLS_MAX_CERTS];
		unsigned n = tls_split_list(cfg->tls.certs, buf, sizeof buf, files, 2 * TLS_MAX_CERTS);
		for (unsigned i = 0; i + 1 < n && i + 1 < 2 * TLS_MAX_CERTS; i += 2) {
			if (tls_check(files[i], files[i + 1], &exp, desc, sizeof desc, err, sizeof err)) {
				say(r, "error", "tls", "certs", "%s", err);
				continue;
			}
			say(r, "ok", NULL, NULL, "certificate %s and key %s: %s", files[i], files[i + 1],
			    desc);
			double d = difftime(exp, time(NULL)) / 86400;
			if (d < 0)
				say(r, "error", "tls", "certs", "the certificate %s expired %.0f days ago",
				    files[i], -d);
			else if (d < TLS_EXPIRY_WARN_DAYS)
				say(r, "warning", "tls", "certs", "the certificate %s expires in %.0f days; "
				    "renew it now (prepd reloads it on SIGHUP)", files[i], d);
		}
		if (n == 0)
			say(r, "error", "tls", "certs", "the list is longer than --check-config reads "
			    "(4 KiB)");
	}
	int e;
	if (r->have_user && geteuid() == 0 && !can(r, cfg->tls.key, R_OK, &e))
		say(r, "warning", "tls", "key", "user %s cannot read %s: starting as root works, "
		    "but a SIGHUP reload will fail; chgrp %s %s; chmod 640 %s", r->user.name,
		    cfg->tls.key, r->user.name, cfg->tls.key, cfg->tls.key);
	gnutls_priority_t prio;
	const char *pos = NULL;
	if (gnutls_priority_init(&prio, cfg->tls.priorities, &pos) < 0)
		say(r, "error", "tls", "priorities", "not a GnuTLS priority string near '%.40s'",
		    pos ? pos : cfg->tls.priorities);
	else
		gnutls_priority_deinit(prio);
}

/* The upstream URL parses as a URL with a host (curl's own parser, the
 * one that will use it). */
static void check_url(struct run *r)
{
	const char *key = r->cfg->fetch.index ? "upstream_index" : "upstream";
	const char *url = r->cfg->fetch.url;
	CURLU *u = curl_url();
	char *host = NULL, *path = NULL;
	/* curl reads "https:///x.zip" as host x.zip, which is not what the
	 * operator meant: an empty authority is refused first. */
	const char *auth = strstr(url, "://");
	if (auth && (auth[3] == '/' || auth[3] == '\0')) {
		say(r, "error", "ingest", key, "'%s' is not a well-formed URL: no host after "
		    "the scheme", url);
		curl_url_cleanup(u);
		return;
	}
	CURLUcode uc = u ? curl_url_set(u, CURLUPART_URL, url, 0) : CURLUE_OUT_OF_MEMORY;
	if (!uc)
		uc = curl_url_get(u, CURLUPART_HOST, &host, 0);
	if (!uc)
		uc = curl_url_get(u, CURLUPART_PATH, &path, 0);
	if (uc)
		say(r, "error", "ingest", key, "'%s' is not a well-formed URL: %s", url,
		    curl_url_strerror(uc));
	else if (!path || !strcmp(path, "/"))
		say(r, "error", "ingest", key, "'%s' names no file: give the package's (or the "
		    "index's) path", url);
	else
		say(r, "ok", NULL, NULL, "upstream %s (host %s)", url, host);
	curl_free(host);
	curl_free(path);
	curl_url_cleanup(u);
}

static void check_ca(struct run *r)
{
	gnutls_x509_trust_list_t tl;
	if (gnutls_x509_trust_list_init(&tl, 0) < 0)
		return;
	int n = gnutls_x509_trust_list_add_trust_file(tl, r->cfg->fetch.ca_file, NULL,
						      GNUTLS_X509_FMT_PEM, 0, 0);
	if (n <= 0)
		say(r, "error", "ingest", "ca", "%s holds no PEM certificate%s%s", r->cfg->fetch.ca_file,
		    n < 0 ? ": " : "", n < 0 ? gnutls_strerror(n) : "");
	else
		say(r, "ok", NULL, NULL, "ca %s: %d certificate%s", r->cfg->fetch.ca_file, n,
		    n == 1 ? "" : "s");
	gnutls_x509_trust_list_deinit(tl, 1);
}

static void listener(struct run *r, const char *name, const struct listen_addr *la)
{
	if (!la->on)
		say(r, "ok", NULL, NULL, "%s listener off", name);
	else
		say(r, "ok", NULL, NULL, "%s listener on %s%s%s:%u", name,
		    strchr(la->host, ':') ? "[" : "", la->host[0] ? la->host :
		    !strcmp(name, "admin") ? "127.0.0.1" : "*",
		    strchr(la->host, ':') ? "]" : "", la->port);
}

int configtest_run(const struct config *cfg, const char *config_file, FILE *out)
{
	struct run r = { .cfg = cfg, .file = config_file, .out = out };
	char err[1024];
	if (config_file)
		say(&r, "ok", NULL, NULL, "%s parses", config_file);
	listener(&r, "http", &cfg->server.http);
	listener(&r, "https", &cfg->server.https);
	listener(&r, "admin", &cfg->server.admin);

	if (cfg->server.user) {
		if (privs_lookup(cfg->server.user, &r.user, err, sizeof err))
			say(&r, "error", "server", "user", "%s: create it (useradd --system %s) or "
			    "name another", err, cfg->server.user);
		else {
			r.have_user = true;
			say(&r, "ok", NULL, NULL, "started as root, prepd becomes user %s (uid %u)",
			    r.user.name, (unsigned)r.user.uid);
		}
	}
	check_dir(&r, "server", "data", cfg->server.data_dir, true, "data folder");
	if (cfg->ingest.spool_dir)
		check_dir(&r, "ingest", "spool", cfg->ingest.spool_dir, false, "spool folder");
	if (cfg->server.access_log) {
		char dir[PATH_BUF_BYTES];
		snprintf(dir, sizeof dir, "%s", cfg->server.access_log);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = slash == dir ? (slash[1] = '\0', '/') : '\0';
		else
			strcpy(dir, ".");
		check_dir(&r, "server", "access_log", dir, false, "access log folder");
	}
	if (cfg->server.admin_token)
		check_readable(&r, "server", "admin_token", cfg->server.admin_token, "admin token");
	if (cfg->server.package)
		check_readable(&r, "server", "package", cfg->server.package, "start-up package");
	if (cfg->server.https.on)
		check_tls(&r);

	if (cfg->ingest.verify != VERIFY_NONE) {
		struct verify *v = NULL;
		enum rc rc = verify_new(cfg->ingest.verify, cfg->ingest.trust_file, &v, err, sizeof err);
		if (rc)
			say(&r, "error", "ingest", "trust", "%s", err);
		else
			say(&r, "ok", NULL, NULL, "package verification: evidence NAME%s%s%s",
			    verify_suffix(cfg->ingest.verify),
			    cfg->ingest.trust_file ? ", trust " : "",
			    cfg->ingest.trust_file ? cfg->ingest.trust_file : "");
		verify_free(v);
	}
	if (cfg->fetch.url) {
		check_url(&r);
		if (cfg->fetch.ca_file)
			check_ca(&r);
		struct fetch *f = NULL;
		if (fetch_new(&cfg->fetch, &f, err, sizeof err)) {
			/* Name the file the sentence is about, when it names one. */
			const char *keys[] = { "ca", "pin", "client_cert", "client_key", "auth_file",
					       "known_hosts", "ssh_key" };
			const char *files[] = { cfg->fetch.ca_file, cfg->fetch.pinned_key,
						cfg->fetch.client_cert, cfg->fetch.client_key,
						cfg->fetch.auth_file, cfg->fetch.known_hosts,
						cfg->fetch.ssh_key };
			const char *key = cfg->fetch.index ? "upstream_index" : "upstream";
			for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
				if (files[i] && strstr(err, files[i]))
					key = keys[i];
			say(&r, "error", "ingest", key, "%s", err);
		}
		fetch_free(f);
	}

	if (r.errors)
		fprintf(out, "prepd: %s: %u error%s, %u warning%s: fix the errors before starting\n",
			config_file ? config_file : "the configuration", r.errors,
			r.errors == 1 ? "" : "s", r.warnings, r.warnings == 1 ? "" : "s");
	else
		fprintf(out, "prepd: %s: the configuration is usable (%u warning%s)\n",
			config_file ? config_file : "the configuration", r.warnings,
			r.warnings == 1 ? "" : "s");
	return r.errors ? 1 : 0;
}
