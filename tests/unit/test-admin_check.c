#include "check.h"
#include "server/admin_int.h"
#include "server/limits.h"

#include <string.h>

static const struct {
	const char *name;
	bool ok;
} names[] = {
	{ "20240602_2215_PREP_PRES_NAL.zip", true }, { "a", true }, { "PREP-JAL.tar.gz", true },
	{ "", false }, { ".zip", false }, { "..", false }, { "../x.zip", false },
	{ "a/b.zip", false }, { "a\\b.zip", false }, { "a b.zip", false }, { "a%2Fb", false },
	{ "caf\xc3\xa9.zip", false }, { "a\r\n.zip", false }, { "a:b", false },
};

/* Token files as written on disk; want is the token read, NULL when the
 * file must be refused. */
static const struct {
	const char *file;
	const char *want;
} tokens[] = {
	{ "0123456789abcdef", "0123456789abcdef" },
	{ "0123456789abcdef\n", "0123456789abcdef" },
	{ "0123456789abcdef \r\n", "0123456789abcdef" },
	{ "0123456789abcde\n", NULL },               /* 15 characters */
	{ "", NULL }, { "\n\n\n", NULL },
	{ "0123456789 abcdef", NULL },               /* a space inside */
	{ "0123456789\tabcdef", NULL },
	{ "0123456789abcdef\x7f", NULL },
	{ "0123456789abcde\xc3\xa9", NULL },         /* non-ASCII, whatever char is */
	{ "\n0123456789abcdef", NULL },              /* a leading newline */
};

static const struct {
	const char *auth;
	bool ok;
} auths[] = {
	{ "Bearer 0123456789abcdef", true }, { "Bearer 0123456789abcdeg", false },
	{ "Bearer 0123456789abcde", false }, { "Bearer 0123456789abcdef0", false },
	{ "bearer 0123456789abcdef", false }, { "Bearer  0123456789abcdef", false },
	{ "Basic 0123456789abcdef", false }, { "Bearer ", false }, { "", false },
	{ NULL, false },
};

int main(void)
{
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		CHECK(admin_name_ok(names[i].name) == names[i].ok, "name '%s'", names[i].name);

	for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
		char out[ADMIN_TOKEN_MAX_BYTES + 1] = "", err[256] = "";
		enum rc rc = admin_token_parse(tokens[i].file, strlen(tokens[i].file), "t", out,
					       sizeof out, err, sizeof err);
		if (tokens[i].want)
			CHECK(rc == RC_OK && !strcmp(out, tokens[i].want), "token %zu: %s", i, err);
		else
			CHECK(rc == RC_FORMAT && strstr(err, "admin token in t"), "token %zu: rc %d",
			      i, rc);
	}
	/* Lengths at the caps, and a token longer than out holds. */
	char buf[ADMIN_TOKEN_MAX_BYTES + 2], out[ADMIN_TOKEN_MAX_BYTES + 1], err[256];
	memset(buf, 'a', sizeof buf);
	CHECK(admin_token_parse(buf, ADMIN_TOKEN_MAX_BYTES, "t", out, sizeof out, err,
				sizeof err) == RC_OK && strlen(out) == ADMIN_TOKEN_MAX_BYTES,
	      "a token of the largest size");
	CHECK(admin_token_parse(buf, ADMIN_TOKEN_MAX_BYTES + 1, "t", out, sizeof out, err,
				sizeof err) == RC_FORMAT, "a token one byte too long");
	CHECK(admin_token_parse(buf, 20, "t", out, 20, err, sizeof err) == RC_FORMAT,
	      "a token that does not fit out");
	CHECK(admin_token_parse(buf, 20, "t", out, 21, err, sizeof err) == RC_OK,
	      "a token that just fits out");

	for (size_t i = 0; i < sizeof auths / sizeof auths[0]; i++)
		CHECK(admin_token_eq(auths[i].auth, "0123456789abcdef") == auths[i].ok, "auth '%s'",
		      auths[i].auth ? auths[i].auth : "(none)");
	return check_done();
}
