/* Proves a package is the institute's and complete before anything parses
 * it (R4): a SHA-256 sidecar in sha256sum format, a detached CMS/PKCS#7
 * signature (DER, as `openssl cms -sign -binary -outform DER` makes it)
 * checked against a configured certificate, or a raw Ed25519 signature
 * checked against a configured public key. Uses GnuTLS only. */
#ifndef PREPD_VERIFY_H
#define PREPD_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/settings.h"
#include "server/rc.h"
#include "server/util.h"


struct verify;

/* Parses "none", "sha256", "cms", "ed25519". Returns false otherwise. */
bool verify_mode_parse(const char *s, enum verify_mode *out);

/* The suffix the evidence file has beside a package, dot included:
 * ".sha256" (NAME.sha256), ".p7s" or ".sig"; NULL for VERIFY_NONE.
 * A static string. */
const char *verify_suffix(enum verify_mode mode);

/* Loads the trust material once: for VERIFY_CMS a PEM certificate (the
 * signer's, or a CA that issued it), for VERIFY_ED25519 a PEM public key
 * (SubjectPublicKeyInfo). trust_file is ignored (may be NULL) for NONE and
 * SHA256. On failure returns RC_IO (unreadable) or RC_FORMAT (not a PEM
 * certificate, not an Ed25519 key, over VERIFY_MAX_TRUST_BYTES) with a
 * sentence in err; RC_INVALID for an unknown mode or a missing trust_file,
 * RC_NOMEM. The result is immutable and may be used from any thread. */
enum rc verify_new(enum verify_mode mode, const char *trust_file,
		   struct verify **out, char *err, size_t errsz);

void verify_free(struct verify *v);

/* Checks the package bytes at path against evidence (the sidecar's or the
 * signature's bytes, borrowed; ignored for VERIFY_NONE). name is the
 * package's file name, matched by base name against the sidecar's lines (a
 * sidecar with one line and any name is accepted too). Always fills sha
 * with the package's SHA-256 when the file could be read, whatever the
 * verdict; otherwise sha is all zeros. sha256 and none stream the file;
 * cms and ed25519 hold it in memory for the call. Returns RC_OK, RC_VERIFY
 * with the reason in err (hash mismatch, no line for this name, bad
 * signature, signer not trusted, ...), RC_FORMAT for evidence that cannot
 * be parsed, RC_LIMIT for evidence over VERIFY_MAX_EVIDENCE_BYTES or a
 * package over VERIFY_MAX_PACKAGE_BYTES, RC_IO, RC_NOMEM. err never ends in
 * a newline. Thread-safe: v is only read. */
enum rc verify_package(const struct verify *v, const char *path,
		       const char *name, const void *evidence,
		       size_t evidence_len, unsigned char sha[SHA256_BYTES],
		       char *err, size_t errsz);

/* Sees each byte of the package once, in order, as verify_package_observed()
 * reads it to hash it (ingest/scan.h checks the archive in the same pass). */
typedef void (*verify_observe_fn)(void *ctx, const void *buf, size_t n);

/* verify_package() that also shows every byte it reads to observe (with
 * ctx), whatever the mode; observe may be NULL. When the file cannot be
 * read the observer has seen only part of it (or none): its verdict then
 * means nothing. */
enum rc verify_package_observed(const struct verify *v, const char *path,
				const char *name, const void *evidence,
				size_t evidence_len, verify_observe_fn observe,
				void *ctx, unsigned char sha[SHA256_BYTES],
				char *err, size_t errsz);

/* The check of verify_package() for a package whose SHA-256 was taken
 * as it arrived (ingest/prescan.h: a pull hashes while it downloads):
 * for VERIFY_NONE and VERIFY_SHA256 the same verdicts, reasons and
 * returns as verify_package() given those bytes; RC_INVALID without a
 * reason for VERIFY_CMS and VERIFY_ED25519, which check the bytes
 * themselves (call verify_package() then). Thread-safe. */
enum rc verify_hashed(const struct verify *v, const char *name, const void *evidence,
		      size_t evidence_len, const unsigned char sha[SHA256_BYTES], char *err,
		      size_t errsz);

#endif
