#include "server/tls.h"
#include "server/limits.h"
#include "server/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One certificate/key pair. */
struct cred {
	gnutls_pcert_st pcert[TLS_MAX_CHAIN];
	unsigned npcert;
	gnutls_privkey_t key;
	gnutls_pk_algorithm_t pk;
	char *names[TLS_MAX_NAMES];  /* lowercase: SAN dNSNames, else the CN */
	unsigned nnames;
	unsigned names_dropped;      /* past TLS_MAX_NAMES, or too long */
	const char *cert_file;       /* borrowed from the path list */
	char subject[MSG_NAME_BYTES];
	char not_after[32];
	time_t expires;
};

/* Every pair in use, the default first. Replaced whole on a reload. */
struct credset {
	struct credset *older;       /* every set ever loaded, newest first */
	unsigned n;
	struct cred *c[TLS_MAX_CERTS];
	time_t expires;              /* the earliest */
};

static _Atomic(struct credset *) current;
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;
/* The files, CERT KEY per pair, as tls_load() got them: a reload reads
 * the same ones. */
static char *paths[2 * TLS_MAX_CERTS];
static unsigned npaths;

static gnutls_datum_t ticket_key;
static unsigned ticket_lifetime;

static void cred_free(struct cred *c)
{
	for (unsigned i = 0; i < c->npcert; i++)
		gnutls_pcert_deinit(&c->pcert[i]);
	if (c->key)
		gnutls_privkey_deinit(c->key);
	for (unsigned i = 0; i < c->nnames; i++)
		free(c->names[i]);
	free(c);
}

static void credset_free(struct credset *set)
{
	for (unsigned i = 0; i < set->n; i++)
		cred_free(set->c[i]);
	free(set);
}

static enum rc fail(char *err, size_t errsz, enum rc rc, const char *what,
		    const char *file, int gerr)
{
	snprintf(err, errsz, "%s %s: %s", what, file, gnutls_strerror(gerr));
	return rc;
}

/* Reads a PEM file whole. Not gnutls_load_file(): its only error is
 * "Error while reading file.", which hides whether the file is missing,
 * unreadable by prepd's user or a folder; errno's text says which. */
static enum rc read_pem(const char *what, const char *path, gnutls_datum_t *out,
			char *err, size_t errsz)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(err, errsz, "cannot read the %s %s: %s%s", what, path, strerror(errno),
			 errno == EACCES ? " (prepd's user may not read it: chgrp prepd FILE; "
					   "chmod 640 FILE)" : "");
		if (fd >= 0)
			close(fd);
		return RC_IO;
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > TLS_PEM_MAX_BYTES) {
		snprintf(err, errsz, "cannot read the %s %s: %s", what, path,
			 !S_ISREG(st.st_mode) ? "not a file" : st.st_size <= 0 ? "the file is empty" :
			 "over 1 MiB, not a PEM file (TLS_PEM_MAX_BYTES)");
		close(fd);
		return RC_FORMAT;
	}
	out->data = gnutls_malloc((size_t)st.st_size + 1);
	if (!out->data) {
		close(fd);
		return RC_NOMEM;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, out->data + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(err, errsz, "cannot read the %s %s: %s", what, path,
				 r < 0 ? strerror(errno) : "it shrank while being read");
			close(fd);
			gnutls_free(out->data);
			out->data = NULL;
			return RC_IO;
		}
		got += (size_t)r;
	}
	close(fd);
	out->data[got] = '\0';
	out->size = (unsigned)got;
	return RC_OK;
}

static enum rc add_name(struct cred *c, const char *name, size_t len)
{
	/* A name with a NUL inside, an empty one or one longer than DNS
	 * allows can match no server name. */
	if (!len || len > TLS_NAME_MAX_BYTES || strlen(name) != len) {
		c->names_dropped++;
		return RC_OK;
	}
	if (c->nnames == TLS_MAX_NAMES) {
		c->names_dropped++;
		return RC_OK;
	}
	char *n = strndup(name, len);
	if (!n)
		return RC_NOMEM;
	for (char *p = n; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	c->names[c->nnames++] = n;
	return RC_OK;
}

/* The names the certificate is for (RFC 6125 6.4.4): its SAN dNSNames;
 * the subject's CN only when there is none. */
static enum rc cred_names(struct cred *c, gnutls_x509_crt_t crt)
{
	char buf[TLS_NAME_MAX_BYTES + 2];
	bool dns = false;
	for (unsigned i = 0;; i++) {
		size_t sz = sizeof buf;
		int t = gnutls_x509_crt_get_subject_alt_name(crt, i, buf, &sz, NULL);
		if (t == GNUTLS_E_SHORT_MEMORY_BUFFER) {
			c->names_dropped++;
			continue;
		}
		if (t < 0)
			break;   /* GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE: no more */
		if (t != GNUTLS_SAN_DNSNAME)
			continue;
		dns = true;
		enum rc rc = add_name(c, buf, sz);
		if (rc)
			return rc;
	}
	if (dns)
		return RC_OK;
	size_t sz = sizeof buf;
	if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &sz) >= 0)
		return add_name(c, buf, sz);
	return RC_OK;
}

static enum rc cred_load_files(const char *cert_file, const char *key_file,
			       struct cred **out, char *err, size_t errsz)
{
	struct cred *c = calloc(1, sizeof *c);
	if (!c)
		return RC_NOMEM;
	c->cert_file = cert_file;
	gnutls_datum_t certpem = { 0 }, keypem = { 0 };
	enum rc rc = read_pem("certificate", cert_file, &certpem, err, errsz);
	if (!rc)
		rc = read_pem("key", key_file, &keypem, err, errsz);
	if (rc)
		goto out;
	int g;
	c->npcert = TLS_MAX_CHAIN;
	g = gnutls_pcert_list_import_x509_raw(c->pcert, &c->npcert, &certpem,
					      GNUTLS_X509_FMT_PEM, 0);
	if (g < 0) {
		c->npcert = 0;
		rc = fail(err, errsz, RC_FORMAT, "not a PEM certificate chain", cert_file, g);
		goto out;
	}
	if ((g = gnutls_privkey_init(&c->key)) < 0 ||
	    (g = gnutls_privkey_import_x509_raw(c->key, &keypem, GNUTLS_X509_FMT_PEM,
						NULL, 0)) < 0) {
		rc = fail(err, errsz, RC_FORMAT, "not a PEM private key (or it is encrypted)",
			  key_file, g);
		goto out;
	}
	c->pk = (gnutls_pk_algorithm_t)gnutls_privkey_get_pk_algorithm(c->key, NULL);

	/* The key must belong to the leaf certificate, or every handshake
	 * would fail later with a far less helpful error. */
	gnutls_pubkey_t pub;
	unsigned char id1[64], id2[64];   /* a key ID is a SHA-256 at most */
	size_t n1 = sizeof id1, n2 = sizeof id2;
	if (gnutls_pubkey_init(&pub) < 0) {
		rc = RC_NOMEM;
		goto out;
	}
	g = gnutls_pubkey_import_privkey(pub, c->key, 0, 0);
	if (g >= 0)
		g = gnutls_pubkey_get_key_id(pub, 0, id1, &n1);
	gnutls_pubkey_deinit(pub);
	if (g >= 0)
		g = gnutls_pubkey_get_key_id(c->pcert[0].pubkey, 0, id2, &n2);
	if (g < 0 || n1 != n2 || memcmp(id1, id2, n1)) {
		snprintf(err, errsz, "the key %s does not belong to the certificate %s",
			 key_file, cert_file);
		rc = RC_FORMAT;
		goto out;
	}

	gnutls_x509_crt_t crt;
	if (gnutls_x509_crt_init(&crt) < 0) {
		rc = RC_NOMEM;
		goto out;
	}
	if (gnutls_x509_crt_import(crt, &c->pcert[0].cert, GNUTLS_X509_FMT_DER) >= 0) {
		size_t sn = sizeof c->subject;
		if (gnutls_x509_crt_get_dn(crt, c->subject, &sn) < 0)
			strcpy(c->subject, "?");
		time_t exp = gnutls_x509_crt_get_expiration_time(crt);
		c->expires = exp;
		struct tm tm;
		gmtime_r(&exp, &tm);
		strftime(c->not_after, sizeof c->not_after, "%Y-%m-%dT%H:%M:%SZ", &tm);
		rc = cred_names(c, crt);
	}
	gnutls_x509_crt_deinit(crt);
out:
	gnutls_free(certpem.data);
	gnutls_free(keypem.data);
	if (rc) {
		cred_free(c);
		return rc;
	}
	*out = c;
	return RC_OK;
}

static void cred_describe(const struct cred *c, char *out, size_t outsz)
{
	char names[512];
	size_t o = 0;
	names[0] = '\0';
	for (unsigned i = 0; i < c->nnames && o < sizeof names; i++)
		o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", i ? "," : "",
				      c->names[i]);
	if (o >= sizeof names)
		strcpy(names + sizeof names - 4, "...");
	snprintf(out, outsz, "cert=%s subject=\"%s\" names=%s%s not_after=%s chain=%u",
		 c->cert_file, c->subject, c->nnames ? names : "(none)",
		 c->names_dropped ? " (some names ignored: too long or too many)" : "",
		 c->not_after, c->npcert);
}

/* Loads every pair of the path list. */
static enum rc credset_load(struct credset **out, char *err, size_t errsz)
{
	struct credset *set = calloc(1, sizeof *set);
	if (!set)
		return RC_NOMEM;
	for (unsigned i = 0; i + 1 < npaths; i += 2) {
		enum rc rc = cred_load_files(paths[i], paths[i + 1], &set->c[set->n], err, errsz);
		if (rc) {
			credset_free(set);
			return rc;
		}
		struct cred *c = set->c[set->n++];
		if (!set->expires || c->expires < set->expires)
			set->expires = c->expires;
	}
	*out = set;
	return RC_OK;
}

enum rc tls_check(const char *cert_file, const char *key_file, time_t *expires,
		  char *desc, size_t descsz, char *err, size_t errsz)
{
	struct cred *c;
	enum rc rc = cred_load_files(cert_file, key_file, &c, err, errsz);
	if (rc)
		return rc;
	*expires = c->expires;
	cred_describe(c, desc, descsz);
	cred_free(c);
	return RC_OK;
}

unsigned tls_split_list(const char *list, char *buf, size_t bufsz,
			const char **files, unsigned max)
{
	if (!list)
		return 0;
	size_t len = strlen(list);
	if (bufsz < len + 1)
		return 0;
	memcpy(buf, list, len + 1);
	unsigned n = 0;
	char *save = NULL;
	for (char *t = strtok_r(buf, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
		if (n < max)
			files[n] = t;
		n++;
	}
	return n;
}

time_t tls_expires(void)
{
	struct credset *set = atomic_load(&current);
	return set ? set->expires : 0;
}

enum rc tls_load(const char *cert_file, const char *key_file, const char *more,
		 char *err, size_t errsz)
{
	size_t mlen = more ? strlen(more) : 0;
	char *buf = malloc(mlen + 1);
	if (!buf)
		return RC_NOMEM;
	const char *files[2 * TLS_MAX_CERTS];
	unsigned n = tls_split_list(more ? more : "", buf, mlen + 1, files, 2 * TLS_MAX_CERTS - 2);
	if (n % 2 || n > 2 * TLS_MAX_CERTS - 2) {
		snprintf(err, errsz, "[tls] certs lists %u files: expected pairs CERT KEY, at most "
			 "%u pairs besides cert and key (TLS_MAX_CERTS)", n, TLS_MAX_CERTS - 1);
		free(buf);
		return n % 2 ? RC_FORMAT : RC_LIMIT;
	}
	npaths = 0;
	paths[npaths++] = xstrdup(cert_file);
	paths[npaths++] = xstrdup(key_file);
	for (unsigned i = 0; i < n; i++)
		paths[npaths++] = xstrdup(files[i]);
	free(buf);
	struct credset *set;
	enum rc rc = credset_load(&set, err, errsz);
	if (rc)
		return rc;
	atomic_store(&current, set);
	return RC_OK;
}

enum rc tls_reload(char *err, size_t errsz)
{
	pthread_mutex_lock(&reload_lock);
	struct credset *set;
	enum rc rc = credset_load(&set, err, errsz);
	if (!rc) {
		/* The old set is kept, not freed: GnuTLS may still hold its
		 * pointers in a handshake that started before the swap. A few KB
		 * per reload, and reloads are rare. */
		set->older = atomic_load(&current);
		atomic_store(&current, set);
	}
	pthread_mutex_unlock(&reload_lock);
	return rc;
}

bool tls_name_matches(const char *pattern, const char *host)
{
	size_t hl = strlen(host);
	if (hl && host[hl - 1] == '.')
		hl--;
	if (!hl || hl > TLS_NAME_MAX_BYTES || memchr(host, '*', hl))
		return false;
	if (pattern[0] != '*')
		return strlen(pattern) == hl && !strncasecmp(pattern, host, hl);
	/* "*.rest": only a whole left-most label, and rest has two labels
	 * at least, so "*.mx" covers nothing. */
	const char *rest = pattern + 1;
	size_t rl = strlen(rest);
	if (rest[0] != '.' || rl < 4 || !strchr(rest + 1, '.') || rest[rl - 1] == '.' ||
	    strchr(rest, '*'))
		return false;
	if (hl <= rl || strncasecmp(host + hl - rl, rest, rl))
		return false;
	return !memchr(host, '.', hl - rl);
}

/* 2: an exact name of c; 1: a wildcard of c covers host; 0: neither.
 * host is lowercase. */
static int cred_match(const struct cred *c, const char *host)
{
	int best = 0;
	for (unsigned i = 0; i < c->nnames; i++) {
		if (!strcmp(c->names[i], host))
			return 2;
		if (c->names[i][0] == '*' && tls_name_matches(c->names[i], host))
			best = 1;
	}
	return best;
}

static bool pk_accepted(gnutls_pk_algorithm_t pk, const gnutls_pk_algorithm_t *algos, int n)
{
	if (!algos || n <= 0)
		return true;
	for (int i = 0; i < n; i++)
		if (algos[i] == pk || (pk == GNUTLS_PK_RSA && algos[i] == GNUTLS_PK_RSA_PSS))
			return true;
	return false;
}

int tls_cert_callback(gnutls_session_t session, const gnutls_datum_t *req_ca_dn,
		      int nreqs, const gnutls_pk_algorithm_t *pk_algos,
		      int pk_algos_length, gnutls_pcert_st **pcert,
		      unsigned int *pcert_length, gnutls_privkey_t *privkey)
{
	(void)req_ca_dn;
	(void)nreqs;
	struct credset *set = atomic_load(&current);
	if (!set || !set->n)
		return -1;
	/* The server name (RFC 6066 3), lowercase, without a trailing dot. */
	char host[TLS_NAME_MAX_BYTES + 2];
	size_t hl = sizeof host;
	unsigned type;
	bool named = set->n > 1 &&
		     gnutls_server_name_get(session, host, &hl, &type, 0) == GNUTLS_E_SUCCESS &&
		     type == GNUTLS_NAME_DNS && hl && hl < sizeof host && strlen(host) == hl;
	if (named) {
		if (host[hl - 1] == '.')
			host[--hl] = '\0';
		for (size_t i = 0; i < hl; i++)
			host[i] = (char)tolower((unsigned char)host[i]);
	}
	const struct cred *best = set->c[0];
	int best_score = -1;
	for (unsigned i = 0; i < set->n; i++) {
		const struct cred *c = set->c[i];
		int score = (named ? cred_match(c, host) : 0) * 2 +
			    pk_accepted(c->pk, pk_algos, pk_algos_length);
		if (score > best_score) {
			best = c;
			best_score = score;
		}
	}
	*pcert = (gnutls_pcert_st *)best->pcert;
	*pcert_length = best->npcert;
	*privkey = best->key;
	return 0;
}

unsigned tls_count(void)
{
	struct credset *set = atomic_load(&current);
	return set ? set->n : 0;
}

void tls_describe(unsigned i, char *out, size_t outsz)
{
	struct credset *set = atomic_load(&current);
	if (!set || i >= set->n)
		snprintf(out, outsz, "none");
	else
		cred_describe(set->c[i], out, outsz);
}

/* One directive name of RFC 6797 6.1: a token, compared without case. */
static bool directive_is(const char *p, size_t n, const char *name)
{
	return strlen(name) == n && !strncasecmp(p, name, n);
}

bool tls_hsts_check(const char *value, char *why, size_t whysz)
{
	bool max_age = false, subdomains = false, preload = false;
	const char *p = value;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		const char *name = p;
		while (*p && *p != '=' && *p != ';' && *p != ' ' && *p != '\t')
			p++;
		size_t nlen = (size_t)(p - name);
		while (*p == ' ' || *p == '\t')
			p++;
		const char *val = NULL;
		size_t vlen = 0;
		if (*p == '=') {
			p++;
			while (*p == ' ' || *p == '\t')
				p++;
			val = p;
			if (*p == '"') {
				const char *end = strchr(p + 1, '"');
				if (!end) {
					snprintf(why, whysz, "an unterminated quoted value");
					return false;
				}
				p = end + 1;
			} else {
				while (*p && *p != ';' && *p != ' ' && *p != '\t')
					p++;
			}
			vlen = (size_t)(p - val);
			while (*p == ' ' || *p == '\t')
				p++;
		}
		if (*p && *p != ';') {
			snprintf(why, whysz, "expected ';' between directives");
			return false;
		}
		if (!nlen) {
			/* RFC 6797 6.1 allows empty directives (";;"), but not
			 * an empty value. */
			if (val) {
				snprintf(why, whysz, "a value with no directive name");
				return false;
			}
		} else if (directive_is(name, nlen, "max-age")) {
			if (max_age) {
				snprintf(why, whysz, "max-age twice (RFC 6797 6.1: each directive once)");
				return false;
			}
			max_age = true;
			const char *d = val;
			size_t dl = vlen;
			if (d && dl >= 2 && d[0] == '"') {
				d++;
				dl -= 2;
			}
			bool digits = d && dl > 0 && dl <= 10;
			for (size_t i = 0; digits && i < dl; i++)
				digits = d[i] >= '0' && d[i] <= '9';
			if (!digits) {
				snprintf(why, whysz, "max-age needs a number of seconds, e.g. max-age=31536000");
				return false;
			}
		} else if (directive_is(name, nlen, "includeSubDomains") ||
			   directive_is(name, nlen, "preload")) {
			bool *seen = directive_is(name, nlen, "preload") ? &preload : &subdomains;
			if (val) {
				snprintf(why, whysz, "%.*s takes no value", (int)nlen, name);
				return false;
			}
			if (*seen) {
				snprintf(why, whysz, "%.*s twice (RFC 6797 6.1: each directive once)",
					 (int)nlen, name);
				return false;
			}
			*seen = true;
		} else {
			snprintf(why, whysz, "unknown directive '%.*s' (max-age, includeSubDomains, "
				 "preload)", (int)(nlen > 40 ? 40 : nlen), name);
			return false;
		}
		if (!*p)
			break;
		p++;   /* ';' */
	}
	if (!max_age) {
		snprintf(why, whysz, "max-age is required (RFC 6797 6.1.1)");
		return false;
	}
	return true;
}

enum rc tls_tickets_init(unsigned lifetime_s)
{
	ticket_lifetime = lifetime_s;
	if (!lifetime_s)
		return RC_OK;
	int g = gnutls_session_ticket_key_generate(&ticket_key);
	if (g < 0) {
		ticket_lifetime = 0;
		return g == GNUTLS_E_MEMORY_ERROR ? RC_NOMEM : RC_INVALID;
	}
	return RC_OK;
}

void tls_session_setup(gnutls_session_t session)
{
	if (!ticket_lifetime)
		return;
	/* The lifetime is also GnuTLS 3.7's rotation step: the key that seals
	 * tickets is SHA3-512(T || master) with T = now / (3 x lifetime), and
	 * a ticket sealed with the key of T - 1 is still opened. */
	gnutls_db_set_cache_expiration(session, (int)ticket_lifetime);
	gnutls_session_ticket_enable_server(session, &ticket_key);
}

void tls_shutdown(void)
{
	struct credset *set = atomic_exchange(&current, NULL);
	while (set) {
		struct credset *older = set->older;
		credset_free(set);
		set = older;
	}
	for (unsigned i = 0; i < npaths; i++)
		free(paths[i]);
	npaths = 0;
	if (ticket_key.data) {
		gnutls_memset(ticket_key.data, 0, ticket_key.size);
		gnutls_free(ticket_key.data);
		ticket_key.data = NULL;
	}
	ticket_lifetime = 0;
}
