/* Journal lines (ingest/store.c's reader): the input is DATA/journal.log,
 * read by journal_read() as `prepd history` and the start-up reconcile
 * read it. Every record it gives must have its text fields terminated. */
#include "fuzz/fuzz.h"
#include "ingest/store.h"

#include <limits.h>

static char file[PATH_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(file, sizeof file, "%s/journal.log", fuzz_tmpdir());
	return 0;
}

static int each(void *ctx, const struct journal_rec *r)
{
	if (!memchr(r->source, 0, sizeof r->source) || !memchr(r->sha256, 0, sizeof r->sha256) ||
	    !memchr(r->verdict, 0, sizeof r->verdict) || !memchr(r->kind, 0, sizeof r->kind) ||
	    !memchr(r->cut, 0, sizeof r->cut) || !memchr(r->cut_time, 0, sizeof r->cut_time) ||
	    !memchr(r->file, 0, sizeof r->file) || !memchr(r->reason, 0, sizeof r->reason))
		fuzz_abort("a journal record with an unterminated text field");
	(*(unsigned *)ctx)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!*file)
		LLVMFuzzerInitialize(NULL, NULL);
	fuzz_write_file(file, data, size);
	unsigned n = 0;
	bool torn;
	char err[512] = "";
	enum rc rc = journal_read(fuzz_tmpdir(), each, &n, &torn, err, sizeof err);
	if (rc && !*err)
		fuzz_abort("journal_read failed without a reason");
	return 0;
}
