#include "ingest/fetch.h"

#include "server/limits.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct fetch {
	struct fetch_settings s;
	char auth[FETCH_AUTH_LINE_BYTES];   /* the auth file's line */
	/* Validators of the last complete download (package or index). */
	char etag[FETCH_VALIDATOR_BYTES];
	long long last_modified;    /* seconds, or -1 */
	char last_line[FETCH_URL_BYTES];   /* index mode: the line fetched */
	struct fetch_observer obs;          /* begin NULL: none */
};

/* What one transfer saw. */
struct xfer {
	FILE *out;          /* file sink, or NULL for memory */
	char *mem;
	size_t mem_len, mem_cap;
	uint64_t bytes, cap;
	bool too_big;
	char etag[FETCH_VALIDATOR_BYTES];
	const struct fetch_observer *obs;   /* the package's transfer only */
};

const char *fetch_url(const struct fetch *f)
{
	return f->s.url;
}

static void load_state(struct fetch *f)
{
	FILE *st = f->s.state_file ? fopen(f->s.state_file, "r") : NULL;
	f->last_modified = -1;
	if (!st)
		return;
	char line[FETCH_URL_BYTES + 32];
	while (fgets(line, sizeof line, st)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "url=", 4) && strcmp(line + 4, f->s.url)) {
			/* Saved for another upstream: start afresh. */
			f->etag[0] = '\0';
			f->last_line[0] = '\0';
			f->last_modified = -1;
			break;
		}
		if (!strncmp(line, "etag=", 5))
			snprintf(f->etag, sizeof f->etag, "%.*s", (int)sizeof f->etag - 1, line + 5);
		else if (!strncmp(line, "last_modified=", 14))
			f->last_modified = strtoll(line + 14, NULL, 10);
		else if (!strncmp(line, "index_line=", 11))
			snprintf(f->last_line, sizeof f->last_line, "%.*s", (int)sizeof f->last_line - 1,
				 line + 11);
	}
	fclose(st);
}

/* Best effort: losing it only costs one full download after a restart. */
static void save_state(const struct fetch *f)
{
	if (!f->s.state_file)
		return;
	char tmp[PATH_BUF_LONG_BYTES];
	int n = snprintf(tmp, sizeof tmp, "%s.tmp", f->s.state_file);
	FILE *st = n > 0 && (size_t)n < sizeof tmp ? fopen(tmp, "w") : NULL;
	if (!st)
		return;
	fprintf(st, "url=%s\netag=%s\nlast_modified=%lld\nindex_line=%s\n", f->s.url, f->etag,
		f->last_modified, f->last_line);
	if (fflush(st) == 0 && fsync(fileno(st)) == 0 && fclose(st) == 0)
		rename(tmp, f->s.state_file);
	else
		unlink(tmp);
}

enum rc fetch_new(const struct fetch_settings *s, struct fetch **out,
		  char *err, size_t errsz)
{
	if (strncmp(s->url, "https://", 8) && strncmp(s->url, "sftp://", 7)) {
		snprintf(err, errsz, "upstream %s: only https:// and sftp:// are allowed (R3: TLS 1.2 or later)",
			 s->url);
		return RC_FORMAT;
	}
	if (strlen(s->url) >= FETCH_URL_BYTES - 16) {
		snprintf(err, errsz, "upstream URL longer than %u bytes", FETCH_URL_BYTES - 16);
		return RC_FORMAT;
	}
	const char *files[] = { s->ca_file, s->client_cert, s->client_key, s->auth_file, s->known_hosts,
				s->ssh_key };
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		if (files[i] && access(files[i], R_OK) != 0) {
			snprintf(err, errsz, "cannot read %s: %s", files[i], strerror(errno));
			return RC_IO;
		}
	}
	if (!strncmp(s->url, "sftp://", 7) && !s->known_hosts) {
		snprintf(err, errsz, "an sftp:// upstream needs known_hosts: the OpenSSH known_hosts file "
			 "listing the institute's host key (prepd never trusts an unknown host)");
		return RC_FORMAT;
	}
	if ((s->client_cert != NULL) != (s->client_key != NULL)) {
		snprintf(err, errsz, "a client certificate needs both client_cert and client_key");
		return RC_FORMAT;
	}
	struct fetch *f = calloc(1, sizeof *f);
	if (!f)
		return RC_NOMEM;
	f->s = *s;
	if (s->auth_file) {
		FILE *a = fopen(s->auth_file, "r");
		if (!a || !fgets(f->auth, sizeof f->auth, a)) {
			snprintf(err, errsz, "cannot read a line from %s", s->auth_file);
			if (a)
				fclose(a);
			free(f);
			return RC_IO;
		}
		fclose(a);
		f->auth[strcspn(f->auth, "\r\n")] = '\0';
		if (!strchr(f->auth, ':') && strncmp(f->auth, "Bearer ", 7)) {
			snprintf(err, errsz, "%s must hold 'user:password' or 'Bearer TOKEN'", s->auth_file);
			free(f);
			return RC_FORMAT;
		}
	}
	load_state(f);
	*out = f;
	return RC_OK;
}

void fetch_set_observer(struct fetch *f, const struct fetch_observer *o)
{
	if (o && o->begin && o->observe)
		f->obs = *o;
	else
		memset(&f->obs, 0, sizeof f->obs);
}

void fetch_commit(struct fetch *f)
{
	save_state(f);
}

void fetch_forget(struct fetch *f)
{
	f->etag[0] = '\0';
	f->last_modified = -1;
	f->last_line[0] = '\0';
	save_state(f);
}

void fetch_free(struct fetch *f)
{
	free(f);
}

static size_t on_body(char *data, size_t size, size_t n, void *userp)
{
	struct xfer *x = userp;
	size_t len = size * n;
	/* libcurl 7.88 does not enforce CURLOPT_MAXFILESIZE when the server
	 * sends no length (chunked or close-delimited): the cap is here. */
	if (x->bytes + len > x->cap) {
		x->too_big = true;
		return 0;
	}
	x->bytes += len;
	if (x->out) {
		if (fwrite(data, 1, len, x->out) != len)
			return 0;
		if (x->obs)
			x->obs->observe(x->obs->ctx, data, len);
		return len;
	}
	if (x->mem_len + len + 1 > x->mem_cap) {
		size_t cap = (x->mem_len + len + 1) * 2;
		char *m = realloc(x->mem, cap);
		if (!m)
			return 0;
		x->mem = m;
		x->mem_cap = cap;
	}
	memcpy(x->mem + x->mem_len, data, len);
	x->mem_len += len;
	x->mem[x->mem_len] = '\0';
	return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *userp)
{
	struct xfer *x = userp;
	size_t len = size * n;
	if (len > 5 && !strncmp(data, "HTTP/", 5)) {
		x->etag[0] = '\0';   /* a new response (after a redirect) */
		if (x->obs)
			x->obs->begin(x->obs->ctx);
	} else if (len > 5 && !strncasecmp(data, "ETag:", 5)) {
		const char *v = data + 5;
		while (*v == ' ' || *v == '\t')
			v++;
		size_t vl = len - (size_t)(v - data);
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
			vl--;
		if (vl < sizeof x->etag) {
			memcpy(x->etag, v, vl);
			x->etag[vl] = '\0';
		}
	}
	return len;
}

struct result {
	long status;
	long long filetime;
	long long length;   /* -1 when unknown */
	unsigned retry_after;
};

/* One transfer of url into x, conditional on etag/last_modified when
 * given. Returns RC_OK for any HTTP status (the caller judges it). */
static enum rc transfer(const struct fetch *f, const char *url, struct xfer *x,
			const char *etag, long long last_modified, bool nobody,
			struct result *res, char *err, size_t errsz)
{
	CURL *c = curl_easy_init();
	if (!c)
		return RC_NOMEM;
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	char line[FETCH_VALIDATOR_BYTES + 32];
	if (etag && *etag) {
		snprintf(line, sizeof line, "If-None-Match: %s", etag);
		hdrs = curl_slist_append(hdrs, line);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);   /* we are one thread of many */
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,sftp");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, FETCH_MAX_REDIRECTS);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (f->s.ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, f->s.ca_file);
	if (f->s.pinned_key)
		curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, f->s.pinned_key);
	if (f->s.client_cert) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, f->s.client_cert);
		curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(c, CURLOPT_SSLKEY, f->s.client_key);
		curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (f->auth[0]) {
		if (!strncmp(f->auth, "Bearer ", 7)) {
			curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
			curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, f->auth + 7);
		} else {
			curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
			curl_easy_setopt(c, CURLOPT_USERPWD, f->auth);
		}
	}
	if (f->s.known_hosts)
		curl_easy_setopt(c, CURLOPT_SSH_KNOWNHOSTS, f->s.known_hosts);
	if (f->s.ssh_key) {
		curl_easy_setopt(c, CURLOPT_SSH_AUTH_TYPES, (long)CURLSSH_AUTH_PUBLICKEY);
		curl_easy_setopt(c, CURLOPT_SSH_PRIVATE_KEYFILE, f->s.ssh_key);
		/* Empty: libssh2 derives the public key from the private one. */
		curl_easy_setopt(c, CURLOPT_SSH_PUBLIC_KEYFILE, "");
	}
	if (nobody)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	/* If-Modified-Since only without an ETag: with both, libcurl itself
	 * "simulates a 304" when the new file's Last-Modified falls in the same
	 * second as the old one, and a package replaced within a second of the
	 * last poll would be missed. The ETag follows the content. */
	if (last_modified >= 0 && !(etag && *etag)) {
		curl_easy_setopt(c, CURLOPT_TIMECONDITION, (long)CURL_TIMECOND_IFMODSINCE);
		curl_easy_setopt(c, CURLOPT_TIMEVALUE_LARGE, (curl_off_t)last_modified);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "prepd/" PREPD_VERSION);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)f->s.connect_timeout_s);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)f->s.total_timeout_s);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, (long)f->s.low_speed_bytes);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)f->s.low_speed_s);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->cap);
	curl_easy_setopt(c, CURLOPT_FILETIME, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);

	CURLcode cc = curl_easy_perform(c);
	memset(res, 0, sizeof *res);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
	curl_off_t ft = -1, ra = 0, cl = -1;
	curl_easy_getinfo(c, CURLINFO_FILETIME_T, &ft);
	curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &ra);
	curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
	res->filetime = ft;
	res->length = cl;
	res->retry_after = ra > 0 && ra < FETCH_MAX_RETRY_AFTER_S ? (unsigned)ra : 0;
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);

	if (x->too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		snprintf(err, errsz, "%s is larger than max_package_bytes (%llu); not downloaded", url,
			 (unsigned long long)x->cap);
		return RC_LIMIT;
	}
	if (cc != CURLE_OK) {
		const char *hint = "";
		switch (cc) {
		case CURLE_OPERATION_TIMEDOUT: hint = " (timed out: the transfer stalled or was too slow)"; break;
		case CURLE_PARTIAL_FILE:
		case CURLE_RECV_ERROR:
			hint = " (the body was cut short: the connection ended mid-transfer)"; break;
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CACERT_BADFILE:
			hint = " (the upstream's certificate is not trusted: check ca and pin)"; break;
		case CURLE_SSL_CONNECT_ERROR:
			hint = " (TLS handshake failed: the upstream may offer only TLS 1.0/1.1, which prepd refuses)"; break;
		case CURLE_COULDNT_CONNECT:
		case CURLE_COULDNT_RESOLVE_HOST: hint = " (the upstream is unreachable)"; break;
		case CURLE_SSH:
			hint = " (SSH failed: is the host key in known_hosts, and the key accepted?)"; break;
		case CURLE_LOGIN_DENIED: hint = " (login refused: check the user and key)"; break;
		case CURLE_REMOTE_FILE_NOT_FOUND: hint = " (not published yet, or a wrong path)"; break;
		default: break;
		}
		snprintf(err, errsz, "%s: %s%s", url, errbuf[0] ? errbuf : curl_easy_strerror(cc), hint);
		return RC_NET;
	}
	return RC_OK;
}

/* The file name to keep a download under: the URL's last segment. */
static void name_from_url(const char *url, char *name, size_t namesz)
{
	const char *end = url + strcspn(url, "?#");
	const char *slash = end;
	while (slash > url && slash[-1] != '/')
		slash--;
	size_t n = (size_t)(end - slash);
	if (n == 0 || n >= namesz) {
		snprintf(name, namesz, "package");
		return;
	}
	memcpy(name, slash, n);
	name[n] = '\0';
}

/* Resolves an index line against the index URL: absolute stays, a name is
 * taken relative to the index's folder. */
static void resolve(const char *base, const char *line, char *out, size_t outsz)
{
	if (strstr(line, "://")) {
		snprintf(out, outsz, "%s", line);
		return;
	}
	const char *end = base + strcspn(base, "?#");
	const char *slash = end;
	while (slash > base && slash[-1] != '/')
		slash--;
	snprintf(out, outsz, "%.*s%s", (int)(slash - base), base, line[0] == '/' ? line + 1 : line);
}

/* A completed transfer: HTTP 200, or an SFTP transfer (no status code). */
static bool got_body(const char *url, long status)
{
	return status == 200 || (status == 0 && !strncmp(url, "sftp://", 7));
}

/* Downloads url into DATA/tmp/NAME (+ suffix for evidence). */
static enum rc download(const struct fetch *f, const char *url, const char *dest,
			const char *etag, long long lm, struct xfer *x, struct result *res,
			char *err, size_t errsz)
{
	char tmp[PATH_BUF_LONG_BYTES];
	int n = snprintf(tmp, sizeof tmp, "%s/.dl-XXXXXX", f->s.tmp_dir);
	if (n < 0 || (size_t)n >= sizeof tmp) {
		snprintf(err, errsz, "the folder %s is too long a path", f->s.tmp_dir);
		return RC_LIMIT;
	}
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errsz, "cannot create a file in %s: %s", f->s.tmp_dir, strerror(errno));
		return RC_IO;
	}
	x->out = fdopen(fd, "w");
	if (!x->out) {
		close(fd);
		unlink(tmp);
		return RC_NOMEM;
	}
	if (x->obs)
		x->obs->begin(x->obs->ctx);   /* SFTP has no status line */
	enum rc rc = transfer(f, url, x, etag, lm, false, res, err, errsz);
	bool flushed = fflush(x->out) == 0 && fsync(fileno(x->out)) == 0;
	fclose(x->out);
	x->out = NULL;
	bool body = got_body(url, res->status);
	if (!rc && body && !flushed) {
		snprintf(err, errsz, "writing %s failed (disk full?)", tmp);
		rc = RC_IO;
	}
	if (rc || !body || rename(tmp, dest) != 0) {
		unlink(tmp);
		if (!rc && body) {
			snprintf(err, errsz, "cannot move the download into %s: %s", dest, strerror(errno));
			rc = RC_IO;
		}
	}
	return rc;
}

static enum rc status_error(const char *url, long status, char *err, size_t errsz)
{
	snprintf(err, errsz, "%s answered HTTP %ld%s", url, status,
		 status == 401 || status == 403 ? " (check auth_file and the client certificate)" :
		 status == 404 ? " (not published yet, or a wrong URL)" :
		 status >= 500 ? " (the institute's server failed; retrying)" : "");
	return RC_NET;
}

enum rc fetch_poll(struct fetch *f, bool *got, char *path, size_t pathsz,
		   char *name, size_t namesz, unsigned *retry_after_s,
		   char *err, size_t errsz)
{
	*got = false;
	*retry_after_s = 0;
	struct result res;
	char pkg_url[FETCH_URL_BYTES];
	char new_line[FETCH_URL_BYTES] = "";
	char new_etag[FETCH_VALIDATOR_BYTES] = "";
	long long new_lm = -1;
	enum rc rc;

	if (f->s.index) {
		struct xfer x = { .cap = FETCH_INDEX_MAX_BYTES };
		rc = transfer(f, f->s.url, &x, f->etag, f->last_modified, false, &res, err, errsz);
		*retry_after_s = res.retry_after;
		if (!rc && res.status == 304) {
			free(x.mem);
			return RC_OK;
		}
		if (!rc && !got_body(f->s.url, res.status))
			rc = status_error(f->s.url, res.status, err, errsz);
		if (rc) {
			free(x.mem);
			return rc;
		}
		/* The last non-empty line names the current package. */
		char *last = NULL;
		for (char *l = x.mem ? strtok(x.mem, "\r\n") : NULL; l; l = strtok(NULL, "\r\n")) {
			while (*l == ' ' || *l == '\t')
				l++;
			if (*l && *l != '#')
				last = l;
		}
		if (!last) {
			snprintf(err, errsz, "the index %s names no package", f->s.url);
			free(x.mem);
			return RC_NET;
		}
		snprintf(new_line, sizeof new_line, "%s", last);
		snprintf(new_etag, sizeof new_etag, "%s", x.etag);
		new_lm = res.filetime;
		free(x.mem);
		if (!strcmp(new_line, f->last_line)) {
			/* Same package as last time: remember the index's
			 * validators so the next poll is a 304. */
			snprintf(f->etag, sizeof f->etag, "%s", new_etag);
			f->last_modified = new_lm;
			save_state(f);
			return RC_OK;
		}
		resolve(f->s.url, new_line, pkg_url, sizeof pkg_url);
	} else {
		snprintf(pkg_url, sizeof pkg_url, "%s", f->s.url);
	}

	bool sftp = !strncmp(pkg_url, "sftp://", 7);
	char sftp_validator[FETCH_VALIDATOR_BYTES] = "";
	if (sftp && !f->s.index) {
		/* No ETag over SFTP: size and modification time stand in. */
		struct xfer meta = { .cap = 0 };
		rc = transfer(f, pkg_url, &meta, NULL, -1, true, &res, err, errsz);
		if (rc)
			return rc;
		snprintf(sftp_validator, sizeof sftp_validator, "sftp:%lld:%lld", res.length, res.filetime);
		if (!strcmp(sftp_validator, f->etag))
			return RC_OK;
	}
	name_from_url(pkg_url, name, namesz);
	int pn = snprintf(path, pathsz, "%s/%s", f->s.tmp_dir, name);
	if (pn < 0 || (size_t)pn >= pathsz) {
		snprintf(err, errsz, "%s/%s is too long a path", f->s.tmp_dir, name);
		return RC_LIMIT;
	}
	struct xfer x = { .cap = f->s.max_bytes, .obs = f->obs.begin ? &f->obs : NULL };
	bool conditional = !f->s.index && !sftp;
	rc = download(f, pkg_url, path, conditional ? f->etag : NULL,
		      conditional ? f->last_modified : -1, &x, &res, err, errsz);
	*retry_after_s = res.retry_after;
	if (rc)
		return rc;
	if (res.status == 304)
		return RC_OK;
	if (!got_body(pkg_url, res.status))
		return status_error(pkg_url, res.status, err, errsz);
	if (sftp && !f->s.index) {
		snprintf(new_etag, sizeof new_etag, "%s", sftp_validator);
		new_lm = -1;
	} else if (!f->s.index) {
		snprintf(new_etag, sizeof new_etag, "%s", x.etag);
		new_lm = res.filetime;
	}

	if (f->s.evidence_suffix) {
		char ev_url[FETCH_URL_BYTES + 16], ev_path[PATH_BUF_LONG_BYTES];
		snprintf(ev_url, sizeof ev_url, "%s%s", pkg_url, f->s.evidence_suffix);
		int n = snprintf(ev_path, sizeof ev_path, "%s%s", path, f->s.evidence_suffix);
		struct xfer ex = { .cap = VERIFY_MAX_EVIDENCE_BYTES };
		if (n < 0 || (size_t)n >= sizeof ev_path) {
			snprintf(err, errsz, "%s%s is too long a path", path, f->s.evidence_suffix);
			rc = RC_LIMIT;
		} else {
			rc = download(f, ev_url, ev_path, NULL, -1, &ex, &res, err, errsz);
		}
		if (!rc && !got_body(ev_url, res.status) && res.status != 404)
			rc = status_error(ev_url, res.status, err, errsz);
		if (rc) {
			/* Without its evidence the package would be quarantined:
			 * try the pair again at the next poll. */
			unlink(path);
			*retry_after_s = res.retry_after;
			return rc;
		}
		/* A 404 leaves the package alone: the pipeline quarantines it,
		 * saying the evidence is missing. */
	}
	snprintf(f->etag, sizeof f->etag, "%s", new_etag);
	f->last_modified = new_lm;
	snprintf(f->last_line, sizeof f->last_line, "%s", new_line);
	*got = true;
	return RC_OK;
}
