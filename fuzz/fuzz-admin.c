/* The admin listener's checks (server/admin_int.h): upload names, the
 * token file's bytes, and the Authorization value against a token.
 * Input: NAME-or-AUTH NUL TOKEN-FILE-BYTES. */
#include "fuzz/fuzz.h"
#include "server/admin_int.h"
#include "server/limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_parts p;
	fuzz_split(data, size, 2, &p);
	if (admin_name_ok(p.s[0]) && (strchr(p.s[0], '/') || p.s[0][0] == '.'))
		fuzz_abort("an upload name with a folder or a leading dot");
	const char *tokfile = p.n > 1 ? p.s[1] : p.s[0];
	size_t toklen = p.n > 1 ? p.len[1] : p.len[0];
	char tok[ADMIN_TOKEN_MAX_BYTES + 1], err[256] = "";
	if (admin_token_parse(tokfile, toklen, "admin.token", tok, sizeof tok, err,
			      sizeof err) == RC_OK) {
		char auth[ADMIN_TOKEN_MAX_BYTES + 16];
		snprintf(auth, sizeof auth, "Bearer %s", tok);
		if (!admin_token_eq(auth, tok))
			fuzz_abort("a token does not match itself");
		admin_token_eq(p.s[0], tok);
		auth[strlen(auth) - 1] ^= 1;
		if (admin_token_eq(auth, tok))
			fuzz_abort("a token matches another one");
	} else if (!*err) {
		fuzz_abort("a token refused without a reason");
	}
	admin_token_eq(p.s[0], "0123456789abcdef0123");
	fuzz_parts_free(&p);
	return 0;
}
