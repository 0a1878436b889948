/* Package names and cut times (server/cut.c, ingest/store.c's names): the
 * cut label and time from a package's file name, a cut time as text, the
 * cut time from the institute's JSON at a key path, the X-PREP-Cut header,
 * and the names the store keeps and claims a package under. Input: NAME
 * (also read as a cut time and as JSON) NUL KEY-PATH NUL more text. */
#include "fuzz/fuzz.h"
#include "ingest/store.h"
#include "server/cut.h"
#include "server/hdr.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];
	if (cut_zone_use(CUT_ZONE_DEFAULT, err, sizeof err))
		fuzz_abort(err);
	return 0;
}

static void header_ok(const struct cut *c)
{
	char h[256];
	cut_header(c, h, sizeof h);
	if (!hdr_value_valid(h)) {
		fprintf(stderr, "X-PREP-Cut: %s\n", h);
		fuzz_abort("the X-PREP-Cut value is not a valid header value");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool zoned;
	if (!zoned) {
		zoned = true;
		LLVMFuzzerInitialize(NULL, NULL);
	}
	struct fuzz_parts p;
	fuzz_split(data, size, 3, &p);
	const char *key = p.n > 1 ? p.s[1] : "horaCorte";
	const char *more = p.n > 2 ? p.s[2] : "";

	struct cut a = { .seq = 1 }, b = { .seq = 2 };
	cut_from_name(p.s[0], &a);
	header_ok(&a);
	cut_set_time(&b, more);
	header_ok(&b);
	int order;
	cut_order(&a, &b, &order);

	char t[64];
	if (cut_time_from_json(p.s[0], p.len[0], key, t, sizeof t)) {
		struct cut c = { .seq = 3 };
		cut_set_time(&c, t);
		header_ok(&c);
	}
	/* The JSON as the pipeline hands it: not NUL-terminated. */
	char *j = malloc(p.len[0] ? p.len[0] : 1);
	if (!j)
		fuzz_abort("out of memory");
	memcpy(j, p.s[0], p.len[0]);
	cut_time_from_json(j, p.len[0], key, t, sizeof t);
	free(j);

	char kept[STORE_MAX_NAME_BYTES + 1];
	store_clean_name(p.s[0], kept);
	char claimed[STORE_MAX_NAME_BYTES + 64], tag[STORE_CLAIM_TAG_BYTES + 1];
	const char *name;
	if (store_claim_name("spool", p.s[0], claimed, sizeof claimed) == RC_OK &&
	    (!store_claim_parse(claimed, tag, sizeof tag, &name) || strcmp(tag, "spool")))
		fuzz_abort("a claimed name does not parse back");
	store_claim_parse(p.s[0], tag, sizeof tag, &name);
	fuzz_parts_free(&p);
	return 0;
}
