#include "check.h"
#include "server/mime.h"

#include <string.h>

static const struct {
	const char *path;
	bool utf8;
	const char *ctype;
	bool compress;
} table[] = {
	{ "index.html", true, "text/html; charset=utf-8", true },
	{ "INDEX.HTML", true, "text/html; charset=utf-8", true },
	{ "legacy.html", false, "text/html", true },
	{ "main.3f2a9c1b8d7e6f50.js", true, "text/javascript; charset=utf-8", true },
	{ "styles.a1b2c3d4.css", true, "text/css; charset=utf-8", true },
	{ "assets/JSON/x.json", true, "application/json; charset=utf-8", true },
	{ "db/PRES_2018.csv", false, "text/csv; charset=iso-8859-1", true },
	{ "db/PRES_2024.csv", true, "text/csv; charset=utf-8", true },
	{ "LEEME.txt", true, "text/plain; charset=utf-8", true },
	{ "datos/20240602_2215_PREP.zip", true, "application/zip", false },
	{ "logo.png", true, "image/png", false },
	{ "icon.svg", true, "image/svg+xml; charset=utf-8", true },
	{ "font.woff2", true, "font/woff2", false },
	{ "README", true, "application/octet-stream", false },
	{ "a.unknownext", true, "application/octet-stream", false },
	{ "a/.hidden", true, "application/octet-stream", false },
	{ "pkg.tar.gz", true, "application/gzip", false },
};

int main(void)
{
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		const struct mime *m = mime_for_path(table[i].path);
		char ct[128];
		mime_content_type(m, table[i].utf8, ct, sizeof ct);
		CHECK(!strcmp(ct, table[i].ctype), "%s: got '%s', want '%s'",
		      table[i].path, ct, table[i].ctype);
		CHECK(m->compress == table[i].compress, "%s: compress %d", table[i].path, m->compress);
	}
	return check_done();
}
