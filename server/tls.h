/* The HTTPS certificate: loaded from PEM files, handed to GnuTLS per
 * handshake through a callback, and replaced on SIGHUP without touching
 * open connections. */
#ifndef PREPD_TLS_H
#define PREPD_TLS_H

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <stddef.h>
#include <time.h>

#include "server/rc.h"

/* Loads the certificate chain and key. Fails (RC_IO, RC_FORMAT) with a
 * message in err when a file cannot be read or parsed, or when the key does
 * not belong to the certificate. Call once, before the listeners start. */
enum rc tls_load(const char *cert_file, const char *key_file, char *err,
		 size_t errsz);

/* Loads cert_file and key_file as tls_load() would, without using them
 * (prepd --check-config): the same checks and errors. On success writes
 * the leaf certificate's expiry into *expires and "subject=... not_after=...
 * chain=N" into desc. Thread-safe. */
enum rc tls_check(const char *cert_file, const char *key_file, time_t *expires,
		  char *desc, size_t descsz, char *err, size_t errsz);

/* The expiry of the certificate in use; 0 when none. */
time_t tls_expires(void);

/* Re-reads the same files. On any failure the certificate in use stays in
 * use and err says why. Thread-safe with handshakes in progress: handshakes
 * that started keep the old certificate, new ones get the new one. */
enum rc tls_reload(char *err, size_t errsz);

/* MHD_OPTION_HTTPS_CERT_CALLBACK (gnutls_certificate_retrieve_function2). */
int tls_cert_callback(gnutls_session_t session, const gnutls_datum_t *req_ca_dn,
		      int nreqs, const gnutls_pk_algorithm_t *pk_algos,
		      int pk_algos_length, gnutls_pcert_st **pcert,
		      unsigned int *pcert_length, gnutls_privkey_t *privkey);

/* Subject and expiry of the certificate in use, for the start-up log. */
void tls_describe(char *out, size_t outsz);

/* Frees every certificate ever loaded. After the listeners stop. */
void tls_shutdown(void);

#endif
