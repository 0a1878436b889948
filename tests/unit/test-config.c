#include "check.h"
#include "server/config.h"
#include "server/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Each bad config must fail at the given line with the given phrase. */
static const struct {
	const char *text;
	int line;
	const char *why;
} bad[] = {
	{ "[server]\nhtp = :8080\n", 2, "unknown key 'htp' in [server]" },
	{ "[server]\nhttp = 8080\n", 2, "expected HOST:PORT" },
	{ "[server]\nhttp = 127.0.0.1:99999\n", 2, "expected HOST:PORT" },
	{ "[server]\nhttp = example.com:80\n", 2, "numeric address" },
	{ "\n\n[server]\nthreads = many\n", 4, "threads = 'many'" },
	{ "[server]\ntimeout = 0\n", 2, "timeout" },
	{ "[server]\nframe_ancestors = 'self'; script-src *\n", 2, "frame_ancestors" },
	{ "[server]\nspa_fallback = /app/\n", 2, "spa_fallback" },
	{ "[server]\nlog_level = loud\n", 2, "log_level" },
	{ "http = :8080\n", 1, "outside any section" },
	{ "[srever]\nhttp = :8080\n", 2, "unknown section [srever]" },
	{ "[limits]\nmax_total_bytes = 10X\n", 2, "max_total_bytes" },
	{ "[limits]\nmax_entries = 0\n", 2, "max_entries" },
	{ "[tls]\ncertificate = x.pem\n", 2, "unknown key 'certificate' in [tls]" },
	{ "[headers]\njson/main.json = Cache-Control: no-cache\n", 2, "start with '/'" },
	{ "[headers]\n/x = Content-Length: 5\n", 2, "sets this header itself" },
	{ "[headers]\n/x = no-cache\n", 2, "expected 'PATTERN = Header-Name: value'" },
	{ "[headers]\n/x = Bad Name: 1\n", 2, "not a valid HTTP header name" },
	{ "[server]\nthis line has no equals sign\n", 2, "" },
	{ "[server\nhttp = :1\n", 1, "" },
	{ "[server]\nhttp = :8080\n[server]\ntimeout = abc\n", 4, "timeout" },
};

static const char *write_tmp(const char *text)
{
	static char path[64];
	strcpy(path, "/tmp/prepd-test-config-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		abort();
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	close(fd);
	return path;
}

int main(void)
{
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct config cfg;
		config_init(&cfg);
		const char *file = write_tmp(bad[i].text);
		char err[1024] = "";
		enum rc rc = config_load(&cfg, file, err, sizeof err);
		char want[128];
		snprintf(want, sizeof want, "%s:%d: ", file, bad[i].line);
		CHECK(rc != RC_OK, "case %zu accepted", i);
		CHECK(!strncmp(err, want, strlen(want)), "case %zu: '%s' does not start with '%s'",
		      i, err, want);
		CHECK(strstr(err, bad[i].why) != NULL, "case %zu: '%s' lacks '%s'", i, err, bad[i].why);
		unlink(file);
		config_release(&cfg);
	}

	/* A good file: every section, relative paths resolved beside it. */
	struct config cfg;
	config_init(&cfg);
	const char *good =
		"; comment\n# comment\n"
		"[server]\nhttp = 127.0.0.1:8081\nhttps = [::1]:8443\ndata = var/prepd\n"
		"threads = 3\nconnection_limit = 5000\ntimeout = 15\n"
		"frame_ancestors = 'self' https://www.example.com\nspa_fallback = off\n"
		"access_log = /var/log/prepd/access.log\nlog_level = warn\n"
		"[tls]\ncert = cert.pem\nkey = /etc/prepd/key.pem\n"
		"[cache]\nshort = no-cache\n"
		"[limits]\nmax_total_bytes = 2G\nmax_file_bytes = 100M\nmax_entries = 5000\n"
		"max_path_bytes = 512\n"
		"[headers]\n/assets/JSON/PRESIDENTE/NACIONAL/Presidente_NACIONAL.json = Cache-Control: no-cache, no-store\n"
		"/assets/JSON/PRESIDENTE/NACIONAL/Presidente_NACIONAL.json = Access-Control-Allow-Origin: *\n"
		"/json/* = X-A: b:c\n";
	const char *file = write_tmp(good);
	char err[1024] = "";
	enum rc rc = config_load(&cfg, file, err, sizeof err);
	CHECK(rc == RC_OK, "good config: %s", err);
	rc = config_finish(&cfg, err, sizeof err);
	CHECK(rc == RC_OK, "good config finish: %s", err);
	CHECK(cfg.server.http.on && cfg.server.http.port == 8081 && !strcmp(cfg.server.http.host, "127.0.0.1"), "http");
	CHECK(cfg.server.https.on && cfg.server.https.port == 8443 && !strcmp(cfg.server.https.host, "::1"), "https");
	CHECK(!strcmp(cfg.server.data_dir, "/tmp/var/prepd"), "data resolved beside the file: %s", cfg.server.data_dir);
	CHECK(!strcmp(cfg.tls.cert, "/tmp/cert.pem"), "cert: %s", cfg.tls.cert);
	CHECK(!strcmp(cfg.tls.key, "/etc/prepd/key.pem"), "key: %s", cfg.tls.key);
	CHECK(cfg.server.threads == 3 && cfg.server.conn_limit == 5000 && cfg.server.conn_timeout == 15, "numbers");
	CHECK(!strcmp(cfg.response.frame_ancestors, "'self' https://www.example.com"), "frame_ancestors");
	CHECK(cfg.response.spa_fallback == NULL, "spa off");
	CHECK(cfg.server.log_level == LOG_WARN, "log level");
	CHECK(!strcmp(cfg.response.cache_short, "no-cache"), "cache short");
	CHECK(cfg.limits.max_total_bytes == 2ull << 30 && cfg.limits.max_file_bytes == 100ull << 20 &&
	      cfg.limits.max_entries == 5000 && cfg.limits.max_path_bytes == 512, "limits");
	CHECK(cfg.response.rules.n == 2 && cfg.response.rules.v[0].nhdr == 2, "a long pattern with two headers");
	CHECK(!strcmp(cfg.response.rules.v[0].pattern, "/assets/JSON/PRESIDENTE/NACIONAL/Presidente_NACIONAL.json"),
	      "long pattern kept whole: %s", cfg.response.rules.v[0].pattern);
	CHECK(!strcmp(cfg.response.rules.v[0].hdr[0].value, "no-cache, no-store"), "value after the colon");
	CHECK(!strcmp(cfg.response.rules.v[1].hdr[0].value, "b:c"), "colons in the value are kept");
	unlink(file);
	config_release(&cfg);

	/* Flags go through config_set with no base directory. */
	config_init(&cfg);
	CHECK(config_set(&cfg, "server", "http", "off", NULL, err, sizeof err) == RC_OK, "http off");
	CHECK(config_finish(&cfg, err, sizeof err) != RC_OK && strstr(err, "both listeners are off"),
	      "no listener: %s", err);
	config_release(&cfg);

	config_init(&cfg);
	CHECK(config_set(&cfg, "tls", "cert", "c.pem", NULL, err, sizeof err) == RC_OK, "cert");
	CHECK(config_finish(&cfg, err, sizeof err) != RC_OK && strstr(err, "both a certificate and a key"),
	      "cert without key: %s", err);
	config_release(&cfg);

	config_init(&cfg);
	config_set(&cfg, "tls", "cert", "c.pem", NULL, err, sizeof err);
	config_set(&cfg, "tls", "key", "k.pem", NULL, err, sizeof err);
	CHECK(config_finish(&cfg, err, sizeof err) == RC_OK && cfg.server.https.on && cfg.server.https.port == 8443,
	      "a certificate turns HTTPS on at 8443");
	config_release(&cfg);

	config_init(&cfg);
	CHECK(config_set(&cfg, "server", "https", ":8443", NULL, err, sizeof err) == RC_OK, "https");
	CHECK(config_finish(&cfg, err, sizeof err) != RC_OK && strstr(err, "no certificate"),
	      "https without a certificate: %s", err);
	config_release(&cfg);

	/* Listen address forms. */
	static const struct {
		const char *s;
		bool ok, on;
		const char *host;
		unsigned port;
	} la[] = {
		{ "127.0.0.1:8080", true, true, "127.0.0.1", 8080 },
		{ "[::1]:0", true, true, "::1", 0 },
		{ ":80", true, true, "", 80 },
		{ "localhost:8080", true, true, "127.0.0.1", 8080 },
		{ "off", true, false, "", 0 },
		{ "[::1]8080", false, false, "", 0 },
		{ "1.2.3:80", false, false, "", 0 },
		{ "127.0.0.1:", false, false, "", 0 },
		{ "127.0.0.1:-1", false, false, "", 0 },
	};
	for (size_t i = 0; i < sizeof la / sizeof la[0]; i++) {
		struct listen_addr a;
		enum rc r = config_parse_listen(la[i].s, &a);
		CHECK((r == RC_OK) == la[i].ok, "listen '%s'", la[i].s);
		if (r == RC_OK && la[i].ok)
			CHECK(a.on == la[i].on && !strcmp(a.host, la[i].host) && a.port == la[i].port,
			      "listen '%s': on=%d host=%s port=%u", la[i].s, a.on, a.host, a.port);
	}
	return check_done();
}
