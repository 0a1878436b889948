/* Header rules (server/rules.c): [headers] PATTERN = Name: value, then
 * matching paths against them and the cache class of a path. Input:
 * NUL-separated pattern, name, value triples (at most two), then a path. */
#include "fuzz/fuzz.h"
#include "server/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_parts p;
	fuzz_split(data, size, 7, &p);
	struct rules r = { 0 };
	size_t i = 0;
	for (; i + 3 <= p.n; i += 3) {
		const char *why = NULL;
		enum rc rc = rules_add(&r, p.s[i], p.s[i + 1], p.s[i + 2], &why);
		if ((rc == RC_FORMAT || rc == RC_LIMIT) && !why)
			fuzz_abort("rules_add refused without a reason");
	}
	const char *path = i < p.n ? p.s[i] : p.s[0];
	struct rules copy = { 0 };
	if (rules_copy(&copy, &r) != RC_OK)
		fuzz_abort("rules_copy failed");
	const struct rule_header *out[CFG_MAX_RULE_HEADERS];
	size_t n = rules_match(&copy, path, out, CFG_MAX_RULE_HEADERS);
	for (size_t k = 0; k < n; k++)
		if (!out[k]->name || !out[k]->value)
			fuzz_abort("rules_match gave an empty header");
	rules_cache_class(path);
	rules_release(&copy);
	rules_release(&r);
	fuzz_parts_free(&p);
	return 0;
}
