/* The config parser (server/config.c, server/settings.c): the input is a
 * whole INI file, read by config_load() from a temporary file, then
 * checked by config_finish(); and settings_set() on its first line split
 * as SECTION NUL KEY NUL VALUE; and config_parse_listen(). */
#include "fuzz/fuzz.h"
#include "server/config.h"
#include "server/log.h"
#include "server/settings.h"

#include <limits.h>

static char file[PATH_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(LOG_ERROR);
	snprintf(file, sizeof file, "%s/prepd.ini", fuzz_tmpdir());
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!*file)
		LLVMFuzzerInitialize(NULL, NULL);
	fuzz_write_file(file, data, size);
	struct config cfg;
	char err[512] = "";
	config_init(&cfg);
	enum rc rc = config_load(&cfg, file, err, sizeof err);
	if (rc && !*err)
		fuzz_abort("config_load failed without a reason");
	if (!rc) {
		*err = '\0';
		rc = config_finish(&cfg, err, sizeof err);
		if (rc && !*err)
			fuzz_abort("config_finish failed without a reason");
	}
	config_release(&cfg);

	struct fuzz_parts p;
	fuzz_split(data, size, 3, &p);
	if (p.n == 3) {
		config_init(&cfg);
		*err = '\0';
		rc = settings_set(&cfg, p.s[0], p.s[1], p.s[2], fuzz_tmpdir(), err, sizeof err);
		if (rc && !*err)
			fuzz_abort("settings_set failed without a reason");
		config_release(&cfg);
	}
	struct listen_addr a;
	config_parse_listen(p.s[0], &a);
	fuzz_parts_free(&p);
	return 0;
}
