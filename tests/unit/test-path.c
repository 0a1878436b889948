#include "check.h"
#include "server/path.h"

#include <string.h>

static const struct {
	const char *raw;
	enum rc rc;
	const char *out;
	bool dir;
} req[] = {
	{ "/", RC_OK, "", true },
	{ "/index.html", RC_OK, "index.html", false },
	{ "/assets/", RC_OK, "assets", true },
	{ "/assets/.", RC_OK, "assets", true },
	{ "//a///b", RC_OK, "a/b", false },
	{ "/a/./b", RC_OK, "a/b", false },
	{ "/estados/Nuevo%20Le%C3%B3n/", RC_OK, "estados/Nuevo León", true },
	{ "/assets/JSON/ESTADOS/Michoac%C3%A1n.json", RC_OK, "assets/JSON/ESTADOS/Michoacán.json", false },
	{ "/Michoacán.json", RC_OK, "Michoacán.json", false },   /* raw UTF-8 */
	{ "/a+b.json", RC_OK, "a+b.json", false },               /* '+' is literal */
	{ "/a%2Fb", RC_OK, "a/b", false },
	{ "/..", RC_FORMAT, NULL, false },
	{ "/../etc/passwd", RC_FORMAT, NULL, false },
	{ "/a/../b", RC_FORMAT, NULL, false },
	{ "/a/..", RC_FORMAT, NULL, false },
	{ "/%2e%2e/x", RC_FORMAT, NULL, false },
	{ "/%2E%2e", RC_FORMAT, NULL, false },
	{ "/.%2e/", RC_FORMAT, NULL, false },
	{ "/a%00.html", RC_FORMAT, NULL, false },
	{ "/a%0a", RC_FORMAT, NULL, false },
	{ "/a%7f", RC_FORMAT, NULL, false },
	{ "/a\\b", RC_FORMAT, NULL, false },
	{ "/a%5cb", RC_FORMAT, NULL, false },
	{ "/a%5C..%5Cb", RC_FORMAT, NULL, false },
	{ "/%", RC_FORMAT, NULL, false },
	{ "/%4", RC_FORMAT, NULL, false },
	{ "/%zz", RC_FORMAT, NULL, false },
	{ "/%C3", RC_FORMAT, NULL, false },          /* truncated UTF-8 */
	{ "/%C0%AF", RC_FORMAT, NULL, false },       /* overlong '/' */
	{ "/%ED%A0%80", RC_FORMAT, NULL, false },    /* surrogate */
	{ "/%F4%90%80%80", RC_FORMAT, NULL, false }, /* above U+10FFFF */
	{ "/%FF", RC_FORMAT, NULL, false },
	{ "index.html", RC_FORMAT, NULL, false },    /* no leading slash */
	{ "", RC_FORMAT, NULL, false },
	{ "*", RC_FORMAT, NULL, false },
	{ "http://evil/x", RC_FORMAT, NULL, false },
	{ "/...", RC_OK, "...", false },             /* a name, not a parent */
	{ "/..a", RC_OK, "..a", false },
};

static const struct {
	const char *name;
	enum rc rc;
	const char *out;
	const char *why;
} pkg[] = {
	{ "index.html", RC_OK, "index.html", NULL },
	{ "./index.html", RC_OK, "index.html", NULL },
	{ "./assets/", RC_OK, "assets", NULL },
	{ "a//b", RC_OK, "a/b", NULL },
	{ "estados/Nuevo León/index.html", RC_OK, "estados/Nuevo León/index.html", NULL },
	{ "/etc/passwd", RC_REFUSED, NULL, "absolute" },
	{ "C:evil", RC_REFUSED, NULL, "absolute" },
	{ "../evil", RC_REFUSED, NULL, "'..'" },
	{ "a/../../evil", RC_REFUSED, NULL, "'..'" },
	{ "a/..", RC_REFUSED, NULL, "'..'" },
	{ "bad\001name", RC_REFUSED, NULL, "control" },
	{ "bad\nname", RC_REFUSED, NULL, "control" },
	{ "a\\b", RC_REFUSED, NULL, "backslash" },
	{ "caf\xe9.html", RC_REFUSED, NULL, "UTF-8" },
	{ "", RC_REFUSED, NULL, "empty" },
	{ "./", RC_REFUSED, NULL, "empty" },
};

static const struct {
	const char *path;
	const char *ext;
} exts[] = {
	{ "a/b.tar.gz", "gz" }, { "index.html", "html" }, { "a/.env", "" },
	{ "a.b/c", "" }, { "", "" }, { "x.", "" },
};

int main(void)
{
	for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
		char out[256];
		bool dir = false;
		enum rc rc = path_from_request(req[i].raw, out, sizeof out, &dir);
		CHECK(rc == req[i].rc, "request %s: rc %d, want %d", req[i].raw, rc, req[i].rc);
		if (rc == RC_OK && req[i].rc == RC_OK) {
			CHECK(!strcmp(out, req[i].out), "request %s: got '%s', want '%s'",
			      req[i].raw, out, req[i].out);
			CHECK(dir == req[i].dir, "request %s: dir %d", req[i].raw, dir);
		}
	}
	/* The output bound is a hard cap: 414, not truncation. */
	{
		char small[8];
		bool dir;
		CHECK(path_from_request("/abcdefghij", small, sizeof small, &dir) == RC_LIMIT,
		      "long path must be RC_LIMIT");
	}
	for (size_t i = 0; i < sizeof pkg / sizeof pkg[0]; i++) {
		char out[256];
		const char *why = NULL;
		enum rc rc = path_from_package(pkg[i].name, out, sizeof out, 200, &why);
		CHECK(rc == pkg[i].rc, "package %s: rc %d, want %d", pkg[i].name, rc, pkg[i].rc);
		if (rc == RC_OK && pkg[i].out)
			CHECK(!strcmp(out, pkg[i].out), "package %s: got '%s'", pkg[i].name, out);
		if (pkg[i].why)
			CHECK(why && strstr(why, pkg[i].why), "package %s: why '%s', want '%s'",
			      pkg[i].name, why ? why : "(null)", pkg[i].why);
	}
	{
		char out[256];
		const char *why;
		CHECK(path_from_package("abcdefghijklmnop", out, sizeof out, 10, &why) == RC_LIMIT,
		      "max_bytes must be enforced");
		CHECK(why && strstr(why, "max_path_bytes"), "limit reason names the cap");
	}
	for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
		CHECK(!strcmp(path_ext(exts[i].path), exts[i].ext), "ext of %s", exts[i].path);
	return check_done();
}
