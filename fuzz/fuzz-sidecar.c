/* sha256 sidecar files (ingest/verify.c): the input is the evidence beside
 * a package, checked against a small package kept in a temporary file.
 * Its name and bytes are those of tests/unit/test-verify.c, so the
 * sidecar table's {H} and {N} (fuzz/mkseeds.py) make matching seeds. */
#include "fuzz/fuzz.h"
#include "ingest/verify.h"

#include <limits.h>

#define PKG "20240602_2215_PREP_PRES_NAL.zip"
#define PKG_BYTES "prepd fuzz package\n"

static char file[PATH_MAX];
static struct verify *v;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(file, sizeof file, "%s/" PKG, fuzz_tmpdir());
	fuzz_write_file(file, PKG_BYTES, sizeof PKG_BYTES - 1);
	char err[256];
	if (verify_new(VERIFY_SHA256, NULL, &v, err, sizeof err))
		fuzz_abort(err);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!v)
		LLVMFuzzerInitialize(NULL, NULL);
	unsigned char sha[SHA256_BYTES];
	char err[512] = "";
	enum rc rc = verify_package(v, file, PKG, data, size, sha, err, sizeof err);
	if (rc && !*err && rc != RC_NOMEM)
		fuzz_abort("verify_package failed without a reason");
	if (strchr(err, '\n'))
		fuzz_abort("a verify error with a newline (it goes in a log line)");
	*err = '\0';
	verify_package(v, file, "/spool/in/other.zip", data, size, sha, err, sizeof err);
	return 0;
}
