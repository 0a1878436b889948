/* Verifies a package against sidecars, CMS signatures and Ed25519
 * signatures. Keys, certificates and signatures are made at test time with
 * the openssl command (script/bootstrap installs it) in a temporary folder,
 * removed at the end; sidecar texts are built from the tables below. */
#include "check.h"
#include "server/limits.h"
#include "ingest/verify.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PKG "20240602_2215_PREP_PRES_NAL.zip"

static char dir[] = "/tmp/prepd-test-verify-XXXXXX";

/* Run as `sh mk.sh DIR`. signer.pem is self-signed, and openssl's default
 * req extensions make it a CA too; leaf.pem (EC P-256) is issued by ca.pem
 * and is not a CA. */
static const char fixtures[] =
	"set -eu\n"
	"cd \"$1\"\n"
	"head -c 200000 /dev/urandom >" PKG "\n"
	"printf 'not the package\\n' >other.bin\n"
	": >empty\n"
	"printf 'not a key\\n' >garbage.pem\n"
	"sha256sum " PKG " >sum-text.sha256\n"
	"sha256sum -b " PKG " >sum-binary.sha256\n"
	"\n"
	"self() { openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj \"/CN=$1\" \\\n"
	"	-keyout \"$2.key\" -out \"$2.pem\"; }\n"
	"self 'PREP test signer' signer\n"
	"self 'Someone else' other\n"
	"openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj '/CN=PREP test CA' \\\n"
	"	-addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign' \\\n"
	"	-keyout ca.key -out ca.pem\n"
	"openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \\\n"
	"	-subj '/CN=PREP test leaf' -keyout leaf.key -out leaf.csr\n"
	"printf 'basicConstraints=CA:FALSE\\nkeyUsage=critical,digitalSignature\\n' >leaf.ext\n"
	"openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \\\n"
	"	-extfile leaf.ext -out leaf.pem\n"
	"cat ca.pem signer.pem >bundle.pem\n"
	"openssl req -new -newkey rsa:2048 -nodes -subj '/CN=Expired signer' \\\n"
	"	-keyout expired.key -out expired.csr\n"
	"openssl x509 -req -in expired.csr -signkey expired.key -days -1 -out expired.pem\n"
	"openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days -1 \\\n"
	"	-extfile leaf.ext -out leaf-expired.pem\n"
	"cp leaf.key leaf-expired.key\n"
	"\n"
	"cms() { in=$1 who=$2 out=$3; shift 3\n"
	"	openssl cms -sign -binary -outform DER -in \"$in\" -signer \"$who.pem\" \\\n"
	"		-inkey \"$who.key\" -out \"$out\" \"$@\"; }\n"
	"cms " PKG " signer good.p7s\n"
	"cms " PKG " signer noattr.p7s -noattr\n"
	"cms other.bin signer other-bytes.p7s\n"
	"cms " PKG " other other-signer.p7s\n"
	"cms " PKG " leaf leaf.p7s\n"
	"cms other.bin leaf leaf-other-bytes.p7s\n"
	"cms " PKG " leaf leaf-nocerts.p7s -nocerts\n"
	"cms " PKG " expired expired.p7s\n"
	"cms " PKG " leaf-expired leaf-expired.p7s\n"
	"openssl cms -sign -binary -outform PEM -in " PKG " -signer signer.pem \\\n"
	"	-inkey signer.key -out pem.p7s\n"
	"\n"
	"openssl genpkey -algorithm ed25519 -out ed.key\n"
	"openssl pkey -in ed.key -pubout -out ed.pub\n"
	"openssl genpkey -algorithm ed25519 -out ed2.key\n"
	"openssl pkey -in ed2.key -pubout -out ed2.pub\n"
	"openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out p256.key\n"
	"openssl pkey -in p256.key -pubout -out p256.pub\n"
	"openssl pkeyutl -sign -rawin -inkey ed.key -in " PKG " -out good.sig\n"
	"openssl pkeyutl -sign -rawin -inkey ed.key -in other.bin -out other-bytes.sig\n"
	"base64 good.sig >good-wrapped.b64\n"          /* 76 columns: two lines */
	"openssl base64 -A -in good.sig -out good-oneline.b64\n"
	"head -c 63 good.sig | base64 >short.b64\n"
	"head -c 63 good.sig >short.sig\n"
	"head -c 2000000 /dev/zero | tr '\\0' 'A' >big.pem\n";

static const char *at(const char *name)
{
	static char buf[4][512];
	static int i;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
	return buf[i];
}

static unsigned char *slurp(const char *name, size_t *len)
{
	*len = 0;
	FILE *f = fopen(at(name), "rb");
	CHECK(f != NULL, "fixture %s is missing", name);
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	unsigned char *buf = malloc(cap);
	size_t got;
	while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			unsigned char *nb = realloc(buf, cap *= 2);
			if (!nb)
				free(buf);
			buf = nb;
		}
	}
	fclose(f);
	*len = n;
	return buf;
}

static void spew(const char *name, const void *buf, size_t len)
{
	FILE *f = fopen(at(name), "wb");
	CHECK(f && fwrite(buf, 1, len, f) == len, "cannot write %s", name);
	if (f)
		fclose(f);
}

static bool zero(const unsigned char *sha)
{
	for (size_t i = 0; i < SHA256_BYTES; i++)
		if (sha[i])
			return false;
	return true;
}

static unsigned char pkg_sha[SHA256_BYTES];
static char pkg_hex[65], pkg_upper[65], wrong_hex[65], wrong_upper[65];

/* Expands {H} (the package's SHA-256), {U} (the same, uppercase), {W} (a
 * wrong one), {V} (that, uppercase) and {N} (the package's name). */
static void expand(const char *in, char *out, size_t outsz)
{
	size_t o = 0;
	while (*in && o + 1 < outsz) {
		const char *rep = NULL;
		if (in[0] == '{' && in[1] && in[2] == '}') {
			rep = in[1] == 'H' ? pkg_hex : in[1] == 'U' ? pkg_upper :
			      in[1] == 'W' ? wrong_hex : in[1] == 'V' ? wrong_upper :
			      in[1] == 'N' ? PKG : NULL;
		}
		if (rep) {
			o += (size_t)snprintf(out + o, outsz - o, "%s", rep);
			in += 3;
		} else {
			out[o++] = *in++;
		}
	}
	out[o < outsz ? o : outsz - 1] = '\0';
}

static const struct {
	const char *what, *text;
	enum rc rc;
	const char *says;   /* a substring of err; "" when it must stay empty */
} sidecars[] = {
	{ "text mode", "{H}  {N}\n", RC_OK, "" },
	{ "binary mode", "{H} *{N}\n", RC_OK, "" },
	{ "one space", "{H} {N}\n", RC_OK, "" },
	{ "no final newline", "{H}  {N}", RC_OK, "" },
	{ "uppercase hex", "{U}  {N}\n", RC_OK, "" },
	{ "CRLF", "{H}  {N}\r\n", RC_OK, "" },
	{ "byte-order mark", "\xef\xbb\xbf{H}  {N}\r\n", RC_OK, "" },
	{ "path before the name", "{H}  dist/prep/{N}\n", RC_OK, "" },
	{ "Windows path", "{H} *C:\\out\\{N}\r\n", RC_OK, "" },
	{ "escaped name", "\\{H}  a\\\\{N}\n", RC_OK, "" },
	{ "several lines", "{W}  a.zip\n{H}  {N}\n{W}  b.zip\n", RC_OK, "" },
	{ "several, CRLF, blank lines", "\r\n{W}  a.zip\r\n\r\n{H}  {N}\r\n", RC_OK, "" },
	{ "same line twice", "{H}  {N}\n{H}  {N}\n", RC_OK, "" },
	{ "one line, another name", "{H}  PREP_renamed.zip\n", RC_OK, "" },
	{ "bare hash", "{H}\n", RC_OK, "" },
	{ "wrong hash", "{W}  {N}\n", RC_VERIFY,
	  "SHA-256 mismatch: the sidecar says {W}, the package is {H}" },
	{ "wrong hash, uppercase", "{V}  {N}\r\n", RC_VERIFY, "the sidecar says {W}," },
	{ "wrong line for this name", "{H}  a.zip\n{W}  {N}\n", RC_VERIFY, "SHA-256 mismatch" },
	{ "one wrong line, another name", "{W}  other.zip\n", RC_VERIFY, "SHA-256 mismatch" },
	{ "two lines, other names", "{H}  a.zip\n{H}  b.zip\n", RC_VERIFY,
	  "no line for {N} (its 2 lines name other files)" },
	{ "two hashes for this name", "{H}  {N}\n{W}  {N}\n", RC_VERIFY, "two different" },
	{ "empty", "", RC_FORMAT, "the sidecar is empty" },
	{ "blank lines only", "\n\r\n  \n", RC_FORMAT, "no SHA-256 line" },
	{ "short hash", "abc123  {N}\n", RC_FORMAT, "line 1 of the sidecar" },
	{ "not hex", "zz{H}  {N}\n", RC_FORMAT, "line 1 of the sidecar" },
	{ "65 digits", "{H}0  {N}\n", RC_FORMAT, "line 1 of the sidecar" },
	{ "BSD --tag format", "SHA256 ({N}) = {H}\n", RC_FORMAT, "line 1 of the sidecar" },
	{ "bad second line", "{H}  {N}\ngarbage\n", RC_FORMAT, "line 2 of the sidecar" },
};

static void check_result(const char *what, enum rc rc, enum rc want, const char *err,
			 const char *says, const unsigned char *sha)
{
	CHECK(rc == want, "%s: rc %s, want %s (%s)", what, rc_str(rc), rc_str(want), err);
	if (*says)
		CHECK(strstr(err, says) != NULL, "%s: err '%s' lacks '%s'", what, err, says);
	else
		CHECK(*err == '\0', "%s: err '%s' on success", what, err);
	CHECK(!strchr(err, '\n'), "%s: err has a newline", what);
	if (sha)
		CHECK(!memcmp(sha, pkg_sha, SHA256_BYTES), "%s: sha not filled", what);
}

static void test_modes(void)
{
	static const struct {
		const char *s;
		bool ok;
		enum verify_mode mode;
		const char *suffix;
	} t[] = {
		{ "none", true, VERIFY_NONE, NULL },
		{ "sha256", true, VERIFY_SHA256, ".sha256" },
		{ "cms", true, VERIFY_CMS, ".p7s" },
		{ "ed25519", true, VERIFY_ED25519, ".sig" },
		{ "SHA256", false, 0, NULL },
		{ "", false, 0, NULL },
		{ "gpg", false, 0, NULL },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		enum verify_mode m = VERIFY_NONE;
		bool ok = verify_mode_parse(t[i].s, &m);
		CHECK(ok == t[i].ok, "mode '%s': parse %d", t[i].s, ok);
		if (!ok || !t[i].ok)
			continue;
		CHECK(m == t[i].mode, "mode '%s': %d", t[i].s, (int)m);
		const char *suf = verify_suffix(m);
		CHECK(t[i].suffix ? suf && !strcmp(suf, t[i].suffix) : !suf,
		      "mode '%s': suffix '%s'", t[i].s, suf ? suf : "(null)");
	}
}

static void test_new(void)
{
	static const struct {
		enum verify_mode mode;
		const char *trust;   /* a fixture, or NULL */
		enum rc rc;
		const char *says;
	} t[] = {
		{ VERIFY_NONE, NULL, RC_OK, "" },
		{ VERIFY_SHA256, "missing.pem", RC_OK, "" },   /* ignored */
		{ VERIFY_CMS, "signer.pem", RC_OK, "" },
		{ VERIFY_CMS, "bundle.pem", RC_OK, "" },
		{ VERIFY_CMS, "missing.pem", RC_IO, "cannot read the trust file" },
		{ VERIFY_CMS, "garbage.pem", RC_FORMAT, "garbage.pem is not a PEM certificate" },
		{ VERIFY_CMS, "ed.pub", RC_FORMAT, "is not a PEM certificate" },
		{ VERIFY_CMS, "empty", RC_FORMAT, "is not a PEM certificate" },
		{ VERIFY_CMS, "big.pem", RC_FORMAT, "larger than 1 MiB" },
		{ VERIFY_CMS, NULL, RC_INVALID, "needs a trust file" },
		{ VERIFY_ED25519, "ed.pub", RC_OK, "" },
		{ VERIFY_ED25519, "p256.pub", RC_FORMAT,
		  "p256.pub is not an Ed25519 public key (its algorithm is EC/ECDSA)" },
		{ VERIFY_ED25519, "signer.pem", RC_FORMAT, "is not an Ed25519 public key" },
		{ VERIFY_ED25519, "ed.key", RC_FORMAT, "is not an Ed25519 public key" },
		{ VERIFY_ED25519, "garbage.pem", RC_FORMAT, "not a PEM public key" },
		{ VERIFY_ED25519, "missing.pub", RC_IO, "cannot read the trust file" },
		{ VERIFY_ED25519, NULL, RC_INVALID, "needs a trust file" },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct verify *v = (struct verify *)1;
		char err[512] = "junk";
		enum rc rc = verify_new(t[i].mode, t[i].trust ? at(t[i].trust) : NULL, &v,
					err, sizeof err);
		char what[128];
		snprintf(what, sizeof what, "verify_new(%d, %s)", (int)t[i].mode,
			 t[i].trust ? t[i].trust : "NULL");
		check_result(what, rc, t[i].rc, err, t[i].says, NULL);
		CHECK(rc ? v == NULL : v != NULL, "%s: out", what);
		verify_free(rc ? NULL : v);
	}
}

static void test_none(void)
{
	struct verify *v;
	char err[512];
	unsigned char sha[SHA256_BYTES];
	CHECK(verify_new(VERIFY_NONE, NULL, &v, err, sizeof err) == RC_OK, "none: new");
	enum rc rc = verify_package(v, at(PKG), PKG, NULL, 0, sha, err, sizeof err);
	check_result("none", rc, RC_OK, err, "", sha);
	memset(sha, 0xff, sizeof sha);
	rc = verify_package(v, at("missing.zip"), "missing.zip", NULL, 0, sha, err, sizeof err);
	check_result("none, missing", rc, RC_IO, err, "cannot read the package: No such file", NULL);
	CHECK(zero(sha), "none, missing: sha should be zeros");
	rc = verify_package(v, dir, "dir", NULL, 0, sha, err, sizeof err);
	check_result("none, a folder", rc, RC_IO, err, "not a regular file", NULL);
	verify_free(v);
}

static void test_sidecars(void)
{
	struct verify *v;
	char err[512];
	unsigned char sha[SHA256_BYTES];
	CHECK(verify_new(VERIFY_SHA256, NULL, &v, err, sizeof err) == RC_OK, "sha256: new");
	for (size_t i = 0; i < sizeof sidecars / sizeof sidecars[0]; i++) {
		char text[1024], says[512];
		expand(sidecars[i].text, text, sizeof text);
		expand(sidecars[i].says, says, sizeof says);
		memset(sha, 0, sizeof sha);
		enum rc rc = verify_package(v, at(PKG), PKG, text, strlen(text), sha, err,
					    sizeof err);
		check_result(sidecars[i].what, rc, sidecars[i].rc, err, says, sha);
	}

	/* What sha256sum itself writes. */
	static const char *const made[] = { "sum-text.sha256", "sum-binary.sha256" };
	for (size_t i = 0; i < 2; i++) {
		size_t len;
		unsigned char *ev = slurp(made[i], &len);
		enum rc rc = verify_package(v, at(PKG), PKG, ev, len, sha, err, sizeof err);
		check_result(made[i], rc, RC_OK, err, "", sha);
		free(ev);
	}

	/* The caller may pass a path as the name. */
	char text[200];
	expand("{H}  a.zip\n{H}  {N}\n", text, sizeof text);
	enum rc rc = verify_package(v, at(PKG), "/spool/in/" PKG, text, strlen(text), sha,
				    err, sizeof err);
	check_result("name with a path", rc, RC_OK, err, "", sha);

	/* NUL bytes, and a sidecar over the cap. */
	rc = verify_package(v, at(PKG), PKG, "\0\0\0", 3, sha, err, sizeof err);
	check_result("NUL bytes", rc, RC_FORMAT, err, "NUL", sha);
	size_t big = VERIFY_MAX_EVIDENCE_BYTES + 1;
	char *huge = malloc(big);
	CHECK(huge != NULL, "malloc");
	if (huge) {
		memset(huge, '\n', big);
		memcpy(huge, text, strlen(text));
		rc = verify_package(v, at(PKG), PKG, huge, big, sha, err, sizeof err);
		check_result("sidecar over the cap", rc, RC_LIMIT, err, "VERIFY_MAX_EVIDENCE_BYTES",
			     sha);
		free(huge);
	}

	/* An empty package has a hash too. */
	const char *e = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  empty\n";
	rc = verify_package(v, at("empty"), "empty", e, strlen(e), sha, err, sizeof err);
	CHECK(rc == RC_OK, "empty package: %s (%s)", rc_str(rc), err);

	/* A tiny error buffer truncates, never overflows. */
	char small[8];
	expand("{W}  {N}\n", text, sizeof text);
	rc = verify_package(v, at(PKG), PKG, text, strlen(text), sha, small, sizeof small);
	CHECK(rc == RC_VERIFY && strlen(small) == 7, "small err: %s '%s'", rc_str(rc), small);
	verify_free(v);
}

static const struct {
	const char *trust, *sig;
	enum rc rc;
	const char *says;
} cms[] = {
	{ "signer.pem", "good.p7s", RC_OK, "" },
	{ "signer.pem", "noattr.p7s", RC_OK, "" },
	{ "signer.pem", "other-bytes.p7s", RC_VERIFY, "signature does not match the package" },
	{ "signer.pem", "other-signer.p7s", RC_VERIFY,
	  "not signed by the configured certificate (CN=PREP test signer) or one it issued: "
	  "the signer is CN=Someone else" },
	{ "leaf.pem", "leaf.p7s", RC_OK, "" },
	{ "leaf.pem", "leaf-other-bytes.p7s", RC_VERIFY, "signature does not match the package" },
	{ "leaf.pem", "other-signer.p7s", RC_VERIFY,
	  "not signed by the configured certificate (CN=PREP test leaf): "
	  "the signer is CN=Someone else" },
	{ "ca.pem", "leaf.p7s", RC_OK, "" },
	{ "ca.pem", "leaf-other-bytes.p7s", RC_VERIFY, "signature does not match the package" },
	{ "ca.pem", "other-signer.p7s", RC_VERIFY,
	  "not signed by the configured certificate (CN=PREP test CA) or one it issued: "
	  "the signer is CN=Someone else" },
	{ "ca.pem", "good.p7s", RC_VERIFY, "the signer is CN=PREP test signer" },
	{ "ca.pem", "leaf-nocerts.p7s", RC_VERIFY, "does not include its certificate" },
	{ "expired.pem", "expired.p7s", RC_VERIFY,
	  "the configured certificate (CN=Expired signer) has expired" },
	{ "ca.pem", "leaf-expired.p7s", RC_VERIFY,
	  "the signer's certificate (CN=PREP test leaf) is not accepted under the configured "
	  "certificate (CN=PREP test CA): the certificate chain uses expired certificate" },
	{ "bundle.pem", "good.p7s", RC_OK, "" },
	{ "bundle.pem", "leaf.p7s", RC_OK, "" },
	{ "bundle.pem", "other-signer.p7s", RC_VERIFY, "not signed by the configured certificate" },
	{ "signer.pem", "pem.p7s", RC_FORMAT, "prepd expects DER" },
	{ "signer.pem", "garbage.pem", RC_FORMAT, "not a DER CMS/PKCS#7 signature" },
	{ "signer.pem", "good.sig", RC_FORMAT, "not a DER CMS/PKCS#7 signature" },
	{ "signer.pem", "empty", RC_FORMAT, "the signature file is empty" },
	{ "signer.pem", "big.pem", RC_LIMIT, "VERIFY_MAX_EVIDENCE_BYTES" },
};

static void test_cms(void)
{
	for (size_t i = 0; i < sizeof cms / sizeof cms[0]; i++) {
		struct verify *v = NULL;
		char err[512], what[128];
		unsigned char sha[SHA256_BYTES];
		snprintf(what, sizeof what, "cms %s, %s", cms[i].trust, cms[i].sig);
		enum rc rc = verify_new(VERIFY_CMS, at(cms[i].trust), &v, err, sizeof err);
		CHECK(rc == RC_OK, "%s: verify_new: %s", what, err);
		if (rc)
			continue;
		size_t len;
		unsigned char *ev = slurp(cms[i].sig, &len);
		memset(sha, 0, sizeof sha);
		rc = verify_package(v, at(PKG), PKG, ev, len, sha, err, sizeof err);
		check_result(what, rc, cms[i].rc, err, cms[i].says, sha);
		if (!strcmp(cms[i].sig, "good.p7s") && !strcmp(cms[i].trust, "signer.pem")) {
			rc = verify_package(v, at("empty"), "empty", ev, len, sha, err, sizeof err);
			check_result("cms, empty package", rc, RC_VERIFY, err, "package is empty", NULL);
			rc = verify_package(v, at("other.bin"), PKG, ev, len, sha, err, sizeof err);
			check_result("cms, other package", rc, RC_VERIFY, err,
				     "signature does not match the package", NULL);
		}
		free(ev);
		verify_free(v);
	}
}

static const struct {
	const char *trust, *sig;
	enum rc rc;
	const char *says;
} ed[] = {
	{ "ed.pub", "good.sig", RC_OK, "" },
	{ "ed.pub", "good-wrapped.b64", RC_OK, "" },
	{ "ed.pub", "good-oneline.b64", RC_OK, "" },
	{ "ed.pub", "good-crlf.b64", RC_OK, "" },
	{ "ed.pub", "flipped.sig", RC_VERIFY, "Ed25519 signature does not match the package" },
	{ "ed.pub", "flipped.b64", RC_VERIFY, "Ed25519 signature does not match the package" },
	{ "ed.pub", "other-bytes.sig", RC_VERIFY, "does not match the package" },
	{ "ed2.pub", "good.sig", RC_VERIFY, "signed with another key" },
	{ "ed.pub", "short.sig", RC_FORMAT, "is 63 bytes, neither the 64 raw bytes" },
	{ "ed.pub", "short.b64", RC_FORMAT, "base64 of 63 bytes; an Ed25519 signature is 64" },
	{ "ed.pub", "garbage.pem", RC_FORMAT, "an Ed25519 signature is 64" },  /* "notakey" is base64 */
	{ "ed.pub", "signer.pem", RC_FORMAT, "neither the 64 raw bytes" },
	{ "ed.pub", "empty", RC_FORMAT, "neither the 64 raw bytes" },
	{ "ed.pub", "big.pem", RC_LIMIT, "VERIFY_MAX_EVIDENCE_BYTES" },
};

static void test_ed25519(void)
{
	/* Derived signatures: one flipped bit, and base64 with CRLF. */
	size_t len;
	unsigned char *sig = slurp("good.sig", &len);
	CHECK(sig && len == 64, "good.sig is %zu bytes", len);
	if (!sig || len != 64) {
		free(sig);
		return;
	}
	size_t b64len;
	unsigned char *b64 = slurp("good-wrapped.b64", &b64len);
	if (b64) {
		char crlf[256];
		size_t o = 0;
		for (size_t i = 0; i < b64len && o + 2 < sizeof crlf; i++) {
			if (b64[i] == '\n')
				crlf[o++] = '\r';
			crlf[o++] = (char)b64[i];
		}
		spew("good-crlf.b64", crlf, o);
		b64[10] = b64[10] == 'A' ? 'B' : 'A';
		spew("flipped.b64", b64, b64len);
		free(b64);
	}
	sig[17] ^= 0x01;
	spew("flipped.sig", sig, len);
	free(sig);

	for (size_t i = 0; i < sizeof ed / sizeof ed[0]; i++) {
		struct verify *v = NULL;
		char err[512], what[128];
		unsigned char sha[SHA256_BYTES];
		snprintf(what, sizeof what, "ed25519 %s, %s", ed[i].trust, ed[i].sig);
		enum rc rc = verify_new(VERIFY_ED25519, at(ed[i].trust), &v, err, sizeof err);
		CHECK(rc == RC_OK, "%s: verify_new: %s", what, err);
		if (rc)
			continue;
		unsigned char *ev = slurp(ed[i].sig, &len);
		memset(sha, 0, sizeof sha);
		rc = verify_package(v, at(PKG), PKG, ev, len, sha, err, sizeof err);
		check_result(what, rc, ed[i].rc, err, ed[i].says, sha);
		free(ev);
		verify_free(v);
	}
}

int main(void)
{
	if (system("command -v openssl >/dev/null 2>&1") != 0) {
		CHECK(0, "the openssl command is missing; run script/bootstrap, which installs "
		      "it (the verify tests make their keys and signatures with it)");
		return check_done();
	}
	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp %s failed", dir);
		return check_done();
	}
	spew("mk.sh", fixtures, strlen(fixtures));
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "sh '%s/mk.sh' '%s' >'%s/mk.log' 2>&1", dir, dir, dir);
	if (system(cmd) != 0) {
		size_t len;
		unsigned char *log = slurp("mk.log", &len);
		CHECK(0, "making the fixtures with openssl failed:\n%.*s", (int)len,
		      log ? (const char *)log : "");
		free(log);
	} else {
		size_t len;
		unsigned char *pkg = slurp(PKG, &len);
		if (pkg) {
			sha256(pkg, len, pkg_sha);
			hex_encode(pkg_sha, SHA256_BYTES, pkg_hex);
			unsigned char wrong[SHA256_BYTES];
			sha256("not the package", 15, wrong);
			hex_encode(wrong, SHA256_BYTES, wrong_hex);
			for (size_t i = 0; i < 64; i++) {
				pkg_upper[i] = (char)toupper((unsigned char)pkg_hex[i]);
				wrong_upper[i] = (char)toupper((unsigned char)wrong_hex[i]);
			}
			free(pkg);
			test_modes();
			test_new();
			test_none();
			test_sidecars();
			test_cms();
			test_ed25519();
		}
	}
	snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "test-verify: could not remove %s\n", dir);
	return check_done();
}
