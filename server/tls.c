#include "server/tls.h"
#include "server/limits.h"
#include "server/util.h"

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

struct cred {
	struct cred *older;    /* every set ever loaded, newest first */
	gnutls_pcert_st pcert[TLS_MAX_CHAIN];
	unsigned npcert;
	gnutls_privkey_t key;
	char subject[MSG_NAME_BYTES];
	char not_after[32];
	time_t expires;
};

static _Atomic(struct cred *) current;
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;
static char *cert_path, *key_path;

static void cred_free(struct cred *c)
{
	for (unsigned i = 0; i < c->npcert; i++)
		gnutls_pcert_deinit(&c->pcert[i]);
	if (c->key)
		gnutls_privkey_deinit(c->key);
	free(c);
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

static enum rc cred_load_files(const char *cert_file, const char *key_file,
			       struct cred **out, char *err, size_t errsz)
{
	struct cred *c = calloc(1, sizeof *c);
	if (!c)
		return RC_NOMEM;
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
	if (gnutls_x509_crt_init(&crt) >= 0) {
		if (gnutls_x509_crt_import(crt, &c->pcert[0].cert, GNUTLS_X509_FMT_DER) >= 0) {
			size_t sn = sizeof c->subject;
			if (gnutls_x509_crt_get_dn(crt, c->subject, &sn) < 0)
				strcpy(c->subject, "?");
			time_t exp = gnutls_x509_crt_get_expiration_time(crt);
			c->expires = exp;
			struct tm tm;
			gmtime_r(&exp, &tm);
			strftime(c->not_after, sizeof c->not_after, "%Y-%m-%dT%H:%M:%SZ", &tm);
		}
		gnutls_x509_crt_deinit(crt);
	}
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

static enum rc cred_load(struct cred **out, char *err, size_t errsz)
{
	return cred_load_files(cert_path, key_path, out, err, errsz);
}

enum rc tls_check(const char *cert_file, const char *key_file, time_t *expires,
		  char *desc, size_t descsz, char *err, size_t errsz)
{
	struct cred *c;
	enum rc rc = cred_load_files(cert_file, key_file, &c, err, errsz);
	if (rc)
		return rc;
	*expires = c->expires;
	snprintf(desc, descsz, "subject=\"%s\" not_after=%s chain=%u", c->subject,
		 c->not_after, c->npcert);
	cred_free(c);
	return RC_OK;
}

time_t tls_expires(void)
{
	struct cred *c = atomic_load(&current);
	return c ? c->expires : 0;
}

enum rc tls_load(const char *cert_file, const char *key_file, char *err,
		 size_t errsz)
{
	cert_path = xstrdup(cert_file);
	key_path = xstrdup(key_file);
	struct cred *c;
	enum rc rc = cred_load(&c, err, errsz);
	if (rc)
		return rc;
	atomic_store(&current, c);
	return RC_OK;
}

enum rc tls_reload(char *err, size_t errsz)
{
	pthread_mutex_lock(&reload_lock);
	struct cred *c;
	enum rc rc = cred_load(&c, err, errsz);
	if (!rc) {
		/* The old set is kept, not freed: GnuTLS may still hold its
		 * pointers in a handshake that started before the swap. A few KB
		 * per reload, and reloads are rare. */
		c->older = atomic_load(&current);
		atomic_store(&current, c);
	}
	pthread_mutex_unlock(&reload_lock);
	return rc;
}

int tls_cert_callback(gnutls_session_t session, const gnutls_datum_t *req_ca_dn,
		      int nreqs, const gnutls_pk_algorithm_t *pk_algos,
		      int pk_algos_length, gnutls_pcert_st **pcert,
		      unsigned int *pcert_length, gnutls_privkey_t *privkey)
{
	(void)session;
	(void)req_ca_dn;
	(void)nreqs;
	(void)pk_algos;
	(void)pk_algos_length;
	struct cred *c = atomic_load(&current);
	if (!c)
		return -1;
	*pcert = c->pcert;
	*pcert_length = c->npcert;
	*privkey = c->key;
	return 0;
}

void tls_describe(char *out, size_t outsz)
{
	struct cred *c = atomic_load(&current);
	if (!c)
		snprintf(out, outsz, "none");
	else
		snprintf(out, outsz, "subject=\"%s\" not_after=%s chain=%u",
			 c->subject, c->not_after, c->npcert);
}

void tls_shutdown(void)
{
	struct cred *c = atomic_exchange(&current, NULL);
	while (c) {
		struct cred *older = c->older;
		cred_free(c);
		c = older;
	}
	free(cert_path);
	free(key_path);
	cert_path = key_path = NULL;
}
