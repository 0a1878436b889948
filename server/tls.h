/* HTTPS: the certificates and the session tickets.
 *
 * Certificates: one or more certificate/key pairs loaded from PEM files
 * ([tls] cert and key, then [tls] certs), handed to GnuTLS per full
 * handshake through a callback that picks the pair by the client's server
 * name (SNI), and replaced on SIGHUP without touching open connections.
 * The first pair is the default: for a client that names no host, or one
 * no certificate is for.
 *
 * Session tickets (RFC 5077 for TLS 1.2, RFC 8446 4.6.1 for TLS 1.3): one
 * master key per process, random, in memory only, shared by every worker.
 * GnuTLS 3.7 derives the key that seals the tickets from it and the clock
 * (a new key every 3 x ticket_lifetime, the previous one still accepted),
 * so every worker seals and opens with the same key at the same time. */
#ifndef PREPD_TLS_H
#define PREPD_TLS_H

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "server/rc.h"

/* Loads the default pair (cert_file, key_file) and then the pairs of
 * more ("CERT KEY [CERT KEY ...]", whitespace-separated; NULL or "" for
 * none). Fails (RC_IO, RC_FORMAT, RC_LIMIT) with a message in err naming
 * the file when one cannot be read or parsed, when a key does not belong
 * to its certificate, or when more holds an odd number of files or more
 * than TLS_MAX_CERTS pairs. Call once, before the listeners start. */
enum rc tls_load(const char *cert_file, const char *key_file, const char *more,
		 char *err, size_t errsz);

/* Loads cert_file and key_file as tls_load() would, without using them
 * (prepd --check-config): the same checks and errors. On success writes
 * the leaf certificate's expiry into *expires and "subject=... names=...
 * not_after=... chain=N" into desc. Thread-safe. */
enum rc tls_check(const char *cert_file, const char *key_file, time_t *expires,
		  char *desc, size_t descsz, char *err, size_t errsz);

/* Splits a [tls] certs value into its files, in order, at most max (an
 * even count is the caller's check). Returns how many there were, which
 * may be more than max; files[i] point into buf, a copy of list cut at
 * the whitespace (bufsz: strlen(list) + 1 or more, else 0 is returned). */
unsigned tls_split_list(const char *list, char *buf, size_t bufsz,
			const char **files, unsigned max);

/* The earliest expiry among the pairs in use; 0 when none. */
time_t tls_expires(void);

/* Re-reads the same files, every pair. On any failure every pair in use
 * stays in use and err says why. Thread-safe with handshakes in progress:
 * handshakes that started keep the old pairs, new ones get the new. */
enum rc tls_reload(char *err, size_t errsz);

/* MHD_OPTION_HTTPS_CERT_CALLBACK (gnutls_certificate_retrieve_function2):
 * the pair for the client's server name, exact names before wildcards,
 * and among pairs that match equally one whose key type the client
 * accepts; else the default. Never allocates. */
int tls_cert_callback(gnutls_session_t session, const gnutls_datum_t *req_ca_dn,
		      int nreqs, const gnutls_pk_algorithm_t *pk_algos,
		      int pk_algos_length, gnutls_pcert_st **pcert,
		      unsigned int *pcert_length, gnutls_privkey_t *privkey);

/* True if the certificate name pattern (a dNSName or CN, lowercase)
 * covers host: equal ignoring case, or "*.rest" where host is one more
 * label followed by ".rest" (RFC 6125 6.4.3: the wildcard is the whole
 * left-most label and matches exactly one label; "rest" has at least two
 * labels). A trailing dot on host is ignored. Pure. */
bool tls_name_matches(const char *pattern, const char *host);

/* How many pairs are in use, and pair i's "cert=FILE subject=...
 * names=... not_after=... chain=N" for the log. */
unsigned tls_count(void);
void tls_describe(unsigned i, char *out, size_t outsz);

/* Session tickets: makes the master key and sets how long a ticket is
 * good (seconds, at most 7 days; 0: no tickets, every connection is a
 * full handshake). Call once before the listeners start. RC_NOMEM, or
 * RC_INVALID if GnuTLS cannot make a key (no random source). */
enum rc tls_tickets_init(unsigned lifetime_s);

/* Turns resumption on for a new server session, before its handshake
 * (libmicrohttpd's NOTIFY_CONNECTION started). No-op when tickets are
 * off. Thread-safe, allocates nothing. */
void tls_session_setup(gnutls_session_t session);

/* Checks a Strict-Transport-Security value ([tls] hsts, RFC 6797 6.1):
 * directives separated by ';', max-age=SECONDS required (digits, or
 * quoted digits), includeSubDomains and preload optional, each at most
 * once, names in any case, no other directive. On a bad value returns
 * false with the reason in why. Pure. */
bool tls_hsts_check(const char *value, char *why, size_t whysz);

/* Frees every certificate ever loaded and wipes the ticket key. After
 * the listeners stop. */
void tls_shutdown(void);

#endif
