#include "ingest/verify.h"
#include "server/limits.h"
#include "server/util.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/pkcs7.h>
#include <gnutls/x509.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Packages are hashed in reads of this size: big enough that the system
 * calls cost nothing next to SHA-256, small enough for any thread's stack
 * budget (it is malloc'ed anyway). */
#define READ_CHUNK (64u * 1024)

struct verify {
	enum verify_mode mode;
	char *trust_file;       /* for messages */
	/* CMS: the trust file's PEM text; Ed25519: the public key as DER.
	 * GnuTLS objects may be used by one thread at a time only, so every
	 * verify_package() parses its own from these bytes: microseconds,
	 * next to hashing a package, and v stays immutable. */
	unsigned char *trust;
	size_t trust_len;
	bool has_ca;            /* CMS: signers the file's CA issued count too */
	char subject[MSG_NAME_BYTES];   /* CMS: the first certificate's subject DN */
};

static enum rc fail(char *err, size_t errsz, enum rc rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static enum rc fail(char *err, size_t errsz, enum rc rc, const char *fmt, ...)
{
	if (err && errsz) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errsz, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Copies s[0..len) for a message, control characters as '?': DNs and names
 * come from files an attacker may have written, and err ends up in a log
 * line. */
static void printable(const void *s, size_t len, char *out, size_t outsz)
{
	const unsigned char *p = s;
	size_t o = 0;
	for (size_t i = 0; i < len && o + 1 < outsz; i++)
		out[o++] = (p[i] < 0x20 || p[i] == 0x7f) ? '?' : (char)p[i];
	if (outsz)
		out[o] = '\0';
}

static const struct {
	const char *name, *suffix;
} modes[] = {
	[VERIFY_NONE] = { "none", NULL },
	[VERIFY_SHA256] = { "sha256", ".sha256" },
	[VERIFY_CMS] = { "cms", ".p7s" },
	[VERIFY_ED25519] = { "ed25519", ".sig" },
};

#define NMODES (sizeof modes / sizeof modes[0])

bool verify_mode_parse(const char *s, enum verify_mode *out)
{
	for (size_t i = 0; s && i < NMODES; i++) {
		if (!strcmp(s, modes[i].name)) {
			*out = (enum verify_mode)i;
			return true;
		}
	}
	return false;
}

const char *verify_suffix(enum verify_mode mode)
{
	return (unsigned)mode < NMODES ? modes[mode].suffix : NULL;
}

/* Reads fd to its end, feeding every byte to h when h is given, and to
 * observe when it is given (in order, each byte once). With keep
 * the bytes are returned in *out (malloc'ed; hint is the expected size);
 * without, *out is NULL. RC_LIMIT past cap bytes, RC_IO with errno set,
 * RC_NOMEM. */
static enum rc slurp(int fd, uint64_t cap, uint64_t hint, gnutls_hash_hd_t h,
		     verify_observe_fn observe, void *octx, bool keep,
		     unsigned char **out, size_t *outlen)
{
	size_t alloc = READ_CHUNK;
	if (keep) {
		/* One byte over the expected size, so the read that finds the
		 * end needs no realloc. */
		uint64_t want = (hint < cap ? hint : cap) + 1;
		alloc = want < 4096 ? 4096 : (size_t)want;   /* one page at least */
	}
	unsigned char *buf = malloc(alloc);
	if (!buf)
		return RC_NOMEM;
	uint64_t total = 0;
	for (;;) {
		size_t at = keep ? (size_t)total : 0;
		if (keep && at == alloc) {
			uint64_t next = (uint64_t)alloc * 2;
			if (next > cap + 1)
				next = cap + 1;
			unsigned char *nb = realloc(buf, (size_t)next);
			if (!nb) {
				free(buf);
				return RC_NOMEM;
			}
			buf = nb;
			alloc = (size_t)next;
		}
		size_t want = alloc - at < READ_CHUNK ? alloc - at : READ_CHUNK;
		ssize_t n = read(fd, buf + at, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;
			free(buf);
			errno = saved;
			return RC_IO;
		}
		if (n == 0)
			break;
		/* Like util.c's sha256(): hashing only fails for an unknown
		 * algorithm. */
		if (h && gnutls_hash(h, buf + at, (size_t)n) < 0)
			abort();
		if (observe)
			observe(octx, buf + at, (size_t)n);
		total += (uint64_t)n;
		if (total > cap) {
			free(buf);
			return RC_LIMIT;
		}
	}
	if (!keep) {
		free(buf);
		buf = NULL;
	}
	*out = buf;
	*outlen = (size_t)total;
	return RC_OK;
}

/* Reads the package once, computing its SHA-256 as it goes; with keep also
 * returns its bytes, so the bytes verified are the bytes hashed even if the
 * file changes meanwhile. Read into memory rather than mmap'ed: a file
 * truncated under a mapping would kill prepd with SIGBUS. */
static enum rc read_package(const char *path, bool keep, verify_observe_fn observe,
			    void *octx, unsigned char sha[SHA256_BYTES], unsigned char **out,
			    size_t *outlen, char *err, size_t errsz)
{
	/* O_NONBLOCK: a FIFO put in place of a package must not hang ingest. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return fail(err, errsz, RC_IO, "cannot read the package: %s", strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int saved = errno;
		close(fd);
		return fail(err, errsz, RC_IO, "cannot read the package: %s", strerror(saved));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return fail(err, errsz, RC_IO, "cannot read the package: it is not a regular file");
	}
	if ((uint64_t)st.st_size > VERIFY_MAX_PACKAGE_BYTES) {
		close(fd);
		return fail(err, errsz, RC_LIMIT, "the package is %llu bytes, more than the "
			    "%llu bytes prepd will verify (VERIFY_MAX_PACKAGE_BYTES)",
			    (unsigned long long)st.st_size,
			    (unsigned long long)VERIFY_MAX_PACKAGE_BYTES);
	}
	gnutls_hash_hd_t h;
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) {
		close(fd);
		return RC_NOMEM;
	}
	unsigned char *buf = NULL;
	size_t len = 0;
	enum rc rc = slurp(fd, VERIFY_MAX_PACKAGE_BYTES, (uint64_t)st.st_size, h,
			   observe, octx, keep, &buf, &len);
	int saved = errno;
	close(fd);
	gnutls_hash_deinit(h, rc ? NULL : sha);
	if (rc == RC_IO)
		return fail(err, errsz, rc, "cannot read the package: %s", strerror(saved));
	if (rc == RC_LIMIT)
		return fail(err, errsz, rc, "the package grew past %llu bytes while it was "
			    "being read (VERIFY_MAX_PACKAGE_BYTES); is something still writing it?",
			    (unsigned long long)VERIFY_MAX_PACKAGE_BYTES);
	if (rc)
		return rc;
	*out = buf;
	*outlen = len;
	return RC_OK;
}

/* ---- sha256: a sidecar in sha256sum format ---- */

/* The part of s[0..*len) after its last '/' or '\', since sidecars made
 * from another folder carry a path ("dist/NAME", "C:\out\NAME"). */
static const char *base_of(const char *s, size_t *len)
{
	size_t i = *len;
	while (i > 0 && s[i - 1] != '/' && s[i - 1] != '\\')
		i--;
	*len -= i;
	return s + i;
}

/* sha256sum writes a line whose name holds '\' or a newline with a leading
 * '\' and the name escaped: "\\", "\n" (and "\r" since coreutils 9). Undoes
 * that in place; returns the new length. */
static size_t unescape(char *s, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len) {
			char c = s[++i];
			s[o++] = c == 'n' ? '\n' : c == 'r' ? '\r' : c;
		} else {
			s[o++] = s[i];
		}
	}
	return o;
}

static enum rc check_sidecar(const char *name, const unsigned char *ev,
			     size_t evlen, const unsigned char sha[SHA256_BYTES],
			     char *err, size_t errsz)
{
	if (evlen == 0)
		return fail(err, errsz, RC_FORMAT, "the sidecar is empty; it should hold a line "
			    "\"<SHA-256 in hex>  NAME\" as sha256sum writes it");
	if (memchr(ev, '\0', evlen))
		return fail(err, errsz, RC_FORMAT, "the sidecar contains NUL bytes; it is not "
			    "a sha256sum text file");
	char *text = malloc(evlen);
	if (!text)
		return RC_NOMEM;
	memcpy(text, ev, evlen);

	size_t wantlen = name ? strlen(name) : 0;
	const char *want = base_of(name ? name : "", &wantlen);
	char shown[MSG_NAME_BYTES];
	printable(want, wantlen, shown, sizeof shown);

	unsigned char first[SHA256_BYTES] = { 0 }, found[SHA256_BYTES] = { 0 };
	unsigned char h[SHA256_BYTES];
	unsigned lines = 0, lineno = 0;
	bool have = false;
	enum rc rc = RC_OK;
	char *p = text, *end = text + evlen;
	if (evlen >= 3 && !memcmp(p, "\xef\xbb\xbf", 3))
		p += 3;   /* a byte-order mark, as Windows editors save */
	while (p < end) {
		char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		char *line = p;
		size_t n = (size_t)(eol - p);
		p = eol + 1;
		lineno++;
		if (n && line[n - 1] == '\r')
			n--;
		size_t k = 0;
		while (k < n && (line[k] == ' ' || line[k] == '\t'))
			k++;
		if (k == n)
			continue;

		bool escaped = line[0] == '\\';
		k = escaped;
		if (n - k < 2 * SHA256_BYTES || !hex_decode(line + k, SHA256_BYTES, h) ||
		    (n - k > 2 * SHA256_BYTES && line[k + 2 * SHA256_BYTES] != ' ' &&
		     line[k + 2 * SHA256_BYTES] != '\t')) {
			rc = fail(err, errsz, RC_FORMAT, "line %u of the sidecar is not "
				  "\"<SHA-256 in hex, 64 digits>  NAME\" as sha256sum writes it",
				  lineno);
			goto out;
		}
		k += 2 * SHA256_BYTES;
		/* "HASH  NAME" (text mode) or "HASH *NAME" (binary mode); one
		 * space alone is accepted too, as some tools write it. */
		if (k < n)
			k++;
		if (k < n && (line[k] == ' ' || line[k] == '*'))
			k++;
		char *nm = line + k;
		size_t nmlen = n - k;
		if (escaped)
			nmlen = unescape(nm, nmlen);
		const char *b = base_of(nm, &nmlen);

		if (++lines == 1)
			memcpy(first, h, sizeof h);
		if (nmlen == wantlen && !memcmp(b, want, wantlen)) {
			if (have && memcmp(found, h, sizeof h)) {
				rc = fail(err, errsz, RC_VERIFY, "the sidecar has two different "
					  "SHA-256 lines for %s", shown);
				goto out;
			}
			memcpy(found, h, sizeof h);
			have = true;
		}
	}
	if (!lines) {
		rc = fail(err, errsz, RC_FORMAT, "the sidecar has no SHA-256 line, only blank lines");
		goto out;
	}
	if (!have) {
		/* One line for another name is the institute's own naming
		 * (the package renamed on the way); with several lines we
		 * cannot tell which one is meant. */
		if (lines > 1) {
			rc = fail(err, errsz, RC_VERIFY, "the sidecar has no line for %s "
				  "(its %u lines name other files)", shown, lines);
			goto out;
		}
		memcpy(found, first, sizeof first);
	}
	if (memcmp(found, sha, SHA256_BYTES)) {
		char said[2 * SHA256_BYTES + 1], is[2 * SHA256_BYTES + 1];
		hex_encode(found, SHA256_BYTES, said);
		hex_encode(sha, SHA256_BYTES, is);
		rc = fail(err, errsz, RC_VERIFY, "SHA-256 mismatch: the sidecar says %s, "
			  "the package is %s", said, is);
	}
out:
	free(text);
	return rc;
}

/* ---- cms: a detached CMS/PKCS#7 SignedData, DER ---- */

/* Whether crt is the certificate a SignerInfo names: by issuer and serial
 * number (openssl's default), or by subject key identifier (-keyid). */
static bool names_signer(gnutls_x509_crt_t crt,
			 const gnutls_pkcs7_signature_info_st *info)
{
	if (info->signer_serial.size > 0 && info->issuer_dn.size > 0) {
		unsigned char serial[64];   /* RFC 5280: at most 20 octets */
		size_t n = sizeof serial;
		if (gnutls_x509_crt_get_serial(crt, serial, &n) < 0 ||
		    n != info->signer_serial.size ||
		    memcmp(serial, info->signer_serial.data, n))
			return false;
		gnutls_datum_t dn = { NULL, 0 };
		if (gnutls_x509_crt_get_raw_issuer_dn(crt, &dn) < 0)
			return false;
		bool same = dn.size == info->issuer_dn.size &&
			    !memcmp(dn.data, info->issuer_dn.data, dn.size);
		gnutls_free(dn.data);
		return same;
	}
	if (info->issuer_keyid.size > 0) {
		unsigned char id[64];       /* a key ID is a SHA-256 at most */
		size_t n = sizeof id;
		unsigned critical;
		return gnutls_x509_crt_get_subject_key_id(crt, id, &n, &critical) >= 0 &&
		       n == info->issuer_keyid.size &&
		       !memcmp(id, info->issuer_keyid.data, n);
	}
	return false;
}

static void crt_subject(gnutls_x509_crt_t crt, char *out, size_t outsz)
{
	gnutls_datum_t dn = { NULL, 0 };
	if (gnutls_x509_crt_get_dn3(crt, &dn, 0) < 0 || !dn.size)
		snprintf(out, outsz, "a certificate with an empty subject");
	else
		printable(dn.data, dn.size, out, outsz);
	gnutls_free(dn.data);
}

/* GnuTLS's sentence for a verification status, for an err: without its
 * leading "The certificate is NOT trusted." (the caller says so) and its
 * final period. */
static void status_reason(unsigned status, char *out, size_t outsz)
{
	static const char untrusted[] = "The certificate is NOT trusted. ";
	gnutls_datum_t s = { NULL, 0 };
	if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &s, 0) < 0) {
		snprintf(out, outsz, "GnuTLS verification status 0x%x", status);
		return;
	}
	const unsigned char *p = s.data;
	size_t n = s.size;
	if (n >= sizeof untrusted - 1 && !memcmp(p, untrusted, sizeof untrusted - 1)) {
		p += sizeof untrusted - 1;
		n -= sizeof untrusted - 1;
	}
	printable(p, n, out, outsz);
	gnutls_free(s.data);
	n = strlen(out);
	while (n && (out[n - 1] == ' ' || out[n - 1] == '.'))
		out[--n] = '\0';
	if (out[0] >= 'A' && out[0] <= 'Z')
		out[0] = (char)(out[0] - 'A' + 'a');
}

/* The certificate inside the signature that signer idx names, or NULL. */
static gnutls_x509_crt_t embedded_signer(gnutls_pkcs7_t p7,
					 const gnutls_pkcs7_signature_info_st *info)
{
	int count = gnutls_pkcs7_get_crt_count(p7);
	for (int i = 0; i < count; i++) {
		gnutls_datum_t der = { NULL, 0 };
		gnutls_x509_crt_t crt = NULL;
		if (gnutls_pkcs7_get_crt_raw2(p7, (unsigned)i, &der) < 0)
			continue;
		bool ok = gnutls_x509_crt_init(&crt) >= 0 &&
			  gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER) >= 0 &&
			  names_signer(crt, info);
		gnutls_free(der.data);
		if (ok)
			return crt;
		if (crt)
			gnutls_x509_crt_deinit(crt);
	}
	return NULL;
}

/* Says why a signature made by the configured certificate failed. */
static enum rc explain_ours(const struct verify *v, int g, char *err, size_t errsz)
{
	if (g == GNUTLS_E_PK_SIG_VERIFY_FAILED)
		return fail(err, errsz, RC_VERIFY, "the signature does not match the package: "
			    "the package was changed after it was signed, or the signature "
			    "belongs to another file");
	if (g == GNUTLS_E_EXPIRED)
		return fail(err, errsz, RC_VERIFY, "the configured certificate (%s) has expired, "
			    "so its signatures are no longer accepted", v->subject);
	if (g == GNUTLS_E_NOT_YET_ACTIVATED)
		return fail(err, errsz, RC_VERIFY, "the configured certificate (%s) is not valid "
			    "yet; check this machine's clock", v->subject);
	return fail(err, errsz, RC_VERIFY, "the signature by the configured certificate (%s) "
		    "was refused: %s", v->subject, gnutls_strerror(g));
}

/* No signer is the configured certificate itself, and none chains to its CA:
 * says who signed, and for a CA whether the bytes or the signer are wrong. */
static enum rc explain_other(const struct verify *v, gnutls_pkcs7_t p7,
			     gnutls_x509_trust_list_t tl, const gnutls_datum_t *data,
			     char *err, size_t errsz)
{
	gnutls_pkcs7_signature_info_st info;
	int g = gnutls_pkcs7_get_signature_info(p7, 0, &info);
	if (g < 0)
		return fail(err, errsz, RC_FORMAT, "the CMS signature's signer cannot be read (%s)",
			    gnutls_strerror(g));
	gnutls_x509_crt_t signer = embedded_signer(p7, &info);
	char who[sizeof "a certificate issued by " + MSG_NAME_BYTES];
	if (signer) {
		crt_subject(signer, who, sizeof who);
	} else {
		gnutls_datum_t s = { NULL, 0 };
		char issuer[MSG_NAME_BYTES];
		if (info.issuer_dn.size && gnutls_x509_rdn_get2(&info.issuer_dn, &s, 0) >= 0)
			printable(s.data, s.size, issuer, sizeof issuer);
		else
			snprintf(issuer, sizeof issuer, "an unknown issuer");
		gnutls_free(s.data);
		snprintf(who, sizeof who, "a certificate issued by %s", issuer);
	}
	gnutls_pkcs7_signature_info_deinit(&info);

	enum rc rc;
	if (!v->has_ca) {
		rc = fail(err, errsz, RC_VERIFY, "not signed by the configured certificate (%s): "
			  "the signer is %s", v->subject, who);
	} else if (!signer) {
		rc = fail(err, errsz, RC_VERIFY, "not signed by the configured certificate (%s) "
			  "or one it issued: the signer is %s, and the signature does not "
			  "include its certificate", v->subject, who);
	} else if (gnutls_pkcs7_verify_direct(p7, signer, 0, data,
					      GNUTLS_VERIFY_DISABLE_TIME_CHECKS) ==
		   GNUTLS_E_PK_SIG_VERIFY_FAILED) {
		/* Whoever the signer is, these are not the bytes signed. */
		rc = explain_ours(v, GNUTLS_E_PK_SIG_VERIFY_FAILED, err, errsz);
	} else {
		unsigned status = 0;
		if (!tl || gnutls_x509_trust_list_verify_crt2(tl, &signer, 1, NULL, 0, 0,
							      &status, NULL) < 0)
			status = GNUTLS_CERT_INVALID | GNUTLS_CERT_SIGNER_NOT_FOUND;
		if (!status || (status & GNUTLS_CERT_SIGNER_NOT_FOUND)) {
			rc = fail(err, errsz, RC_VERIFY, "not signed by the configured certificate "
				  "(%s) or one it issued: the signer is %s", v->subject, who);
		} else {
			/* Issued under the configured CA, but expired, not yet
			 * valid, or otherwise refused: say that, not "not signed". */
			char why[300];   /* a few of status_reason()'s fixed phrases */
			status_reason(status, why, sizeof why);
			rc = fail(err, errsz, RC_VERIFY, "the signer's certificate (%s) is not "
				  "accepted under the configured certificate (%s): %s", who,
				  v->subject, why);
		}
	}
	if (signer)
		gnutls_x509_crt_deinit(signer);
	return rc;
}

static enum rc check_cms(const struct verify *v, const unsigned char *pkg,
			 size_t len, const unsigned char *ev, size_t evlen,
			 char *err, size_t errsz)
{
	if (evlen == 0)
		return fail(err, errsz, RC_FORMAT, "the signature file is empty");
	if (evlen >= 10 && !memcmp(ev, "-----BEGIN", 10))
		return fail(err, errsz, RC_FORMAT, "the signature is PEM text; prepd expects "
			    "DER (openssl cms -sign -binary -outform DER)");
	/* GnuTLS takes empty data as "use the content inside the signature". */
	if (len == 0)
		return fail(err, errsz, RC_VERIFY, "the package is empty, so there is nothing "
			    "for its signature to cover");

	gnutls_pkcs7_t p7 = NULL;
	gnutls_x509_crt_t *crts = NULL;
	unsigned ncrt = 0;
	gnutls_x509_trust_list_t tl = NULL;
	enum rc rc;
	if (gnutls_pkcs7_init(&p7) < 0)
		return RC_NOMEM;
	gnutls_datum_t sig = { (unsigned char *)ev, (unsigned)evlen };
	int g = gnutls_pkcs7_import(p7, &sig, GNUTLS_X509_FMT_DER);
	if (g < 0) {
		rc = fail(err, errsz, RC_FORMAT, "the signature is not a DER CMS/PKCS#7 "
			  "signature (%s)", gnutls_strerror(g));
		goto out;
	}
	int count = gnutls_pkcs7_get_signature_count(p7);
	if (count <= 0) {
		rc = fail(err, errsz, RC_FORMAT, "the CMS signature has no signer");
		goto out;
	}
	if ((unsigned)count > VERIFY_MAX_CMS_SIGNERS) {
		rc = fail(err, errsz, RC_LIMIT, "the CMS signature has %d signers; prepd "
			  "checks at most %u (VERIFY_MAX_CMS_SIGNERS)", count,
			  VERIFY_MAX_CMS_SIGNERS);
		goto out;
	}
	gnutls_datum_t pem = { v->trust, (unsigned)v->trust_len };
	if (gnutls_x509_crt_list_import2(&crts, &ncrt, &pem, GNUTLS_X509_FMT_PEM, 0) < 0) {
		/* It parsed in verify_new(), so only memory can fail now. */
		crts = NULL;
		ncrt = 0;
		rc = RC_NOMEM;
		goto out;
	}

	gnutls_datum_t data = { (unsigned char *)pkg, (unsigned)len };
	int ours = 0;   /* the last failure of a signer that is ours */
	for (int i = 0; i < count; i++) {
		gnutls_pkcs7_signature_info_st info;
		g = gnutls_pkcs7_get_signature_info(p7, (unsigned)i, &info);
		if (g < 0) {
			rc = fail(err, errsz, RC_FORMAT, "signer %d of the CMS signature cannot "
				  "be read (%s)", i + 1, gnutls_strerror(g));
			goto out;
		}
		gnutls_x509_crt_t mine = NULL;
		for (unsigned c = 0; c < ncrt && !mine; c++)
			if (names_signer(crts[c], &info))
				mine = crts[c];
		gnutls_pkcs7_signature_info_deinit(&info);

		if (mine) {
			/* The signer is the configured certificate: its key
			 * decides, and a failure is about the bytes (or the
			 * certificate's dates), not about trust. */
			g = gnutls_pkcs7_verify_direct(p7, mine, (unsigned)i, &data, 0);
			if (g >= 0) {
				rc = RC_OK;
				goto out;
			}
			ours = g;
		} else if (v->has_ca) {
			if (!tl) {
				if (gnutls_x509_trust_list_init(&tl, 0) < 0) {
					tl = NULL;
					rc = RC_NOMEM;
					goto out;
				}
				if (gnutls_x509_trust_list_add_trust_mem(tl, &pem, NULL,
									 GNUTLS_X509_FMT_PEM,
									 0, 0) <= 0) {
					rc = RC_NOMEM;
					goto out;
				}
			}
			/* The signer's certificate travels in the signature and
			 * must chain to the configured CA. */
			g = gnutls_pkcs7_verify(p7, tl, NULL, 0, (unsigned)i, &data, 0);
			if (g >= 0) {
				rc = RC_OK;
				goto out;
			}
		}
	}
	if (ours)
		rc = explain_ours(v, ours, err, errsz);
	else
		rc = explain_other(v, p7, tl, &data, err, errsz);
out:
	if (tl)
		gnutls_x509_trust_list_deinit(tl, 1);
	for (unsigned c = 0; c < ncrt; c++)
		gnutls_x509_crt_deinit(crts[c]);
	gnutls_free(crts);
	gnutls_pkcs7_deinit(p7);
	return rc;
}

/* ---- ed25519: a raw signature, or base64 of it ---- */

/* Decodes base64 text, whitespace and line breaks anywhere (base64(1)
 * wraps at 76 columns), padding optional. False on anything else or when
 * more than outsz bytes come out. */
static bool base64_decode(const unsigned char *in, size_t len, unsigned char *out,
			  size_t outsz, size_t *outlen)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0, chars = 0, pad = 0;
	if (len >= 3 && !memcmp(in, "\xef\xbb\xbf", 3)) {
		in += 3;
		len -= 3;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = in[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		int val = base64_value(c);
		if (val < 0 || pad)
			return false;
		acc = acc << 6 | (uint32_t)val;
		bits += 6;
		chars++;
		if (bits >= 8) {
			bits -= 8;
			if (o == outsz)
				return false;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (!chars || chars % 4 == 1 || pad > 2 || (pad && (chars + pad) % 4))
		return false;
	*outlen = o;
	return true;
}

static enum rc check_ed25519(const struct verify *v, const unsigned char *pkg,
			     size_t len, const unsigned char *ev, size_t evlen,
			     char *err, size_t errsz)
{
	/* Room for a few bytes too many, to say how long a wrong one is. */
	unsigned char sig[96];
	size_t n = 0;
	if (evlen == 64) {
		/* Base64 of 64 bytes is 86 or 88 characters, so 64 bytes are
		 * always the raw signature. */
		memcpy(sig, ev, 64);
		n = 64;
	} else if (!base64_decode(ev, evlen, sig, sizeof sig, &n)) {
		return fail(err, errsz, RC_FORMAT, "the signature file is %zu bytes, neither the "
			    "64 raw bytes of an Ed25519 signature nor base64 text of them", evlen);
	}
	if (n != 64)
		return fail(err, errsz, RC_FORMAT, "the signature file holds base64 of %zu "
			    "bytes; an Ed25519 signature is 64", n);

	gnutls_pubkey_t pub;
	if (gnutls_pubkey_init(&pub) < 0)
		return RC_NOMEM;
	gnutls_datum_t der = { v->trust, (unsigned)v->trust_len };
	if (gnutls_pubkey_import(pub, &der, GNUTLS_X509_FMT_DER) < 0) {
		/* It parsed in verify_new(), so only memory can fail now. */
		gnutls_pubkey_deinit(pub);
		return RC_NOMEM;
	}
	gnutls_datum_t data = { (unsigned char *)pkg, (unsigned)len };
	gnutls_datum_t sd = { sig, 64 };
	int g = gnutls_pubkey_verify_data2(pub, GNUTLS_SIGN_EDDSA_ED25519, 0, &data, &sd);
	gnutls_pubkey_deinit(pub);
	if (g >= 0)
		return RC_OK;
	if (g == GNUTLS_E_PK_SIG_VERIFY_FAILED)
		return fail(err, errsz, RC_VERIFY, "the Ed25519 signature does not match the "
			    "package and the configured public key: the package was changed "
			    "after it was signed, or it was signed with another key");
	return fail(err, errsz, RC_VERIFY, "the Ed25519 signature was refused: %s",
		    gnutls_strerror(g));
}

/* ---- the trust material ---- */

static enum rc load_trust_file(struct verify *v, char *err, size_t errsz)
{
	int fd = open(v->trust_file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return fail(err, errsz, RC_IO, "cannot read the trust file %s: %s",
			    v->trust_file, strerror(errno));
	enum rc rc = slurp(fd, VERIFY_MAX_TRUST_BYTES, 0, NULL, NULL, NULL, true, &v->trust,
			   &v->trust_len);
	int saved = errno;
	close(fd);
	if (rc == RC_IO)
		return fail(err, errsz, rc, "cannot read the trust file %s: %s",
			    v->trust_file, strerror(saved));
	if (rc == RC_LIMIT)
		return fail(err, errsz, RC_FORMAT, "the trust file %s is larger than %u MiB, "
			    "too large for a certificate or a public key",
			    v->trust_file, VERIFY_MAX_TRUST_BYTES / (1024 * 1024));
	return rc;
}

static enum rc load_cert(struct verify *v, char *err, size_t errsz)
{
	gnutls_datum_t pem = { v->trust, (unsigned)v->trust_len };
	gnutls_x509_crt_t *crts = NULL;
	unsigned n = 0;
	int g = gnutls_x509_crt_list_import2(&crts, &n, &pem, GNUTLS_X509_FMT_PEM, 0);
	if (g < 0 || n == 0) {
		if (g >= 0)
			gnutls_free(crts);
		return fail(err, errsz, RC_FORMAT, "%s is not a PEM certificate (a file that "
			    "starts with -----BEGIN CERTIFICATE-----)", v->trust_file);
	}
	for (unsigned i = 0; i < n; i++)
		if (gnutls_x509_crt_get_ca_status(crts[i], NULL) > 0)
			v->has_ca = true;
	crt_subject(crts[0], v->subject, sizeof v->subject);
	for (unsigned i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	return RC_OK;
}

static enum rc load_key(struct verify *v, char *err, size_t errsz)
{
	gnutls_pubkey_t pub;
	if (gnutls_pubkey_init(&pub) < 0)
		return RC_NOMEM;
	gnutls_datum_t pem = { v->trust, (unsigned)v->trust_len };
	enum rc rc = RC_OK;
	gnutls_datum_t der = { NULL, 0 };
	if (gnutls_pubkey_import(pub, &pem, GNUTLS_X509_FMT_PEM) < 0) {
		rc = fail(err, errsz, RC_FORMAT, "%s is not an Ed25519 public key: it is not a "
			  "PEM public key (-----BEGIN PUBLIC KEY-----, as openssl pkey -pubout "
			  "writes it)", v->trust_file);
		goto out;
	}
	int algo = gnutls_pubkey_get_pk_algorithm(pub, NULL);
	if (algo != GNUTLS_PK_EDDSA_ED25519) {
		const char *kind = algo > 0 ? gnutls_pk_get_name((gnutls_pk_algorithm_t)algo) : NULL;
		rc = fail(err, errsz, RC_FORMAT, "%s is not an Ed25519 public key (its algorithm "
			  "is %s)", v->trust_file, kind ? kind : "unknown");
		goto out;
	}
	if (gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der) < 0) {
		rc = RC_NOMEM;
		goto out;
	}
	unsigned char *copy = malloc(der.size);
	if (!copy) {
		rc = RC_NOMEM;
		goto out;
	}
	memcpy(copy, der.data, der.size);
	free(v->trust);
	v->trust = copy;
	v->trust_len = der.size;
out:
	gnutls_free(der.data);
	gnutls_pubkey_deinit(pub);
	return rc;
}

enum rc verify_new(enum verify_mode mode, const char *trust_file,
		   struct verify **out, char *err, size_t errsz)
{
	*out = NULL;
	if (err && errsz)
		err[0] = '\0';
	if ((unsigned)mode >= NMODES)
		return fail(err, errsz, RC_INVALID, "unknown verification mode %d", (int)mode);
	struct verify *v = calloc(1, sizeof *v);
	if (!v)
		return RC_NOMEM;
	v->mode = mode;
	enum rc rc = RC_OK;
	if (mode == VERIFY_CMS || mode == VERIFY_ED25519) {
		if (!trust_file || !*trust_file) {
			rc = fail(err, errsz, RC_INVALID, "verification by %s needs a trust file: %s",
				  modes[mode].name, mode == VERIFY_CMS ? "the signer's certificate "
				  "or its CA, in PEM" : "the Ed25519 public key, in PEM");
			goto out;
		}
		v->trust_file = strdup(trust_file);
		if (!v->trust_file) {
			rc = RC_NOMEM;
			goto out;
		}
		rc = load_trust_file(v, err, errsz);
		if (!rc)
			rc = mode == VERIFY_CMS ? load_cert(v, err, errsz) : load_key(v, err, errsz);
	}
out:
	if (rc) {
		verify_free(v);
		return rc;
	}
	*out = v;
	return RC_OK;
}

void verify_free(struct verify *v)
{
	if (!v)
		return;
	free(v->trust_file);
	free(v->trust);
	free(v);
}

enum rc verify_package(const struct verify *v, const char *path,
		       const char *name, const void *evidence,
		       size_t evidence_len, unsigned char sha[SHA256_BYTES],
		       char *err, size_t errsz)
{
	return verify_package_observed(v, path, name, evidence, evidence_len, NULL, NULL,
				       sha, err, errsz);
}

enum rc verify_package_observed(const struct verify *v, const char *path,
				const char *name, const void *evidence,
				size_t evidence_len, verify_observe_fn observe,
				void *octx, unsigned char sha[SHA256_BYTES],
				char *err, size_t errsz)
{
	memset(sha, 0, SHA256_BYTES);
	if (err && errsz)
		err[0] = '\0';
	if (!v || !path || (!evidence && evidence_len))
		return fail(err, errsz, RC_INVALID, "verify_package() called without a verifier, "
			    "a path or evidence bytes");
	/* Ed25519 signs the message itself, not a hash of it, and GnuTLS takes
	 * CMS data as one buffer: both need the whole package in memory. */
	bool keep = v->mode == VERIFY_CMS || v->mode == VERIFY_ED25519;
	unsigned char *pkg = NULL;
	size_t len = 0;
	enum rc rc = read_package(path, keep, observe, octx, sha, &pkg, &len, err, errsz);
	if (rc)
		return rc;
	const unsigned char *ev = evidence;
	if (v->mode != VERIFY_NONE && evidence_len > VERIFY_MAX_EVIDENCE_BYTES) {
		rc = fail(err, errsz, RC_LIMIT, "the %s is %zu bytes, more than the %u bytes "
			  "one can need (VERIFY_MAX_EVIDENCE_BYTES)",
			  v->mode == VERIFY_SHA256 ? "sidecar" : "signature file",
			  evidence_len, VERIFY_MAX_EVIDENCE_BYTES);
	} else if (v->mode == VERIFY_SHA256) {
		rc = check_sidecar(name, ev, evidence_len, sha, err, errsz);
	} else if (v->mode == VERIFY_CMS) {
		rc = check_cms(v, pkg, len, ev, evidence_len, err, errsz);
	} else if (v->mode == VERIFY_ED25519) {
		rc = check_ed25519(v, pkg, len, ev, evidence_len, err, errsz);
	}
	free(pkg);
	return rc;
}

enum rc verify_hashed(const struct verify *v, const char *name, const void *evidence,
		      size_t evidence_len, const unsigned char sha[SHA256_BYTES], char *err,
		      size_t errsz)
{
	if (err && errsz)
		err[0] = '\0';
	if (!v || (!evidence && evidence_len))
		return fail(err, errsz, RC_INVALID, "verify_hashed() called without a verifier "
			    "or evidence bytes");
	if (v->mode == VERIFY_CMS || v->mode == VERIFY_ED25519)
		return RC_INVALID;   /* they check the bytes themselves */
	if (v->mode != VERIFY_NONE && evidence_len > VERIFY_MAX_EVIDENCE_BYTES)
		return fail(err, errsz, RC_LIMIT, "the %s is %zu bytes, more than the %u bytes "
			    "one can need (VERIFY_MAX_EVIDENCE_BYTES)", "sidecar", evidence_len,
			    VERIFY_MAX_EVIDENCE_BYTES);
	if (v->mode == VERIFY_SHA256)
		return check_sidecar(name, evidence, evidence_len, sha, err, errsz);
	return RC_OK;
}
