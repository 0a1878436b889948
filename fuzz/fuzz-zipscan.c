/* The zip structure check (ingest/zipscan.c) on a package in memory: the
 * end records, every central record against its local header, the local
 * entries tiling the file. Every entry it accepts lies inside the file. */
#include "fuzz/fuzz.h"
#include "ingest/zipscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zipscan z;
	struct scan_error err = { 0 };
	enum rc rc = zipscan_mem(data, size, 64, &z, &err);
	if (rc == RC_OK) {
		for (size_t i = 0; i < z.n; i++) {
			if (z.v[i].local_off >= size || !z.v[i].name ||
			    strlen(z.v[i].name) > z.v[i].name_len)
				fuzz_abort("zipscan accepted an entry outside the file");
		}
		zipscan_release(&z);
	} else if (rc != RC_NOMEM && !*err.reason) {
		fuzz_abort("zipscan refused without a reason");
	}
	return 0;
}
