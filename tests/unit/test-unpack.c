/* Unpacks every generated package (tests/data/mkpkg.py writes them and a
 * table of what each must give) and checks the verdict and the reason. */
#include "check.h"
#include "ingest/scan.h"
#include "ingest/unpack.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct collected {
	size_t n;
	char names[64][256];
	size_t sizes[64];
	unsigned char *nested;   /* the nested CSV zip, kept to check it */
	size_t nested_len;
	size_t total;
};

static enum rc collect(void *ctx, const char *path, void *data, size_t len,
		       time_t mtime, const unsigned char *sha)
{
	(void)sha;
	struct collected *c = ctx;
	(void)mtime;
	if (c->n < 64) {
		snprintf(c->names[c->n], sizeof c->names[c->n], "%s", path);
		c->sizes[c->n] = len;
	}
	c->n++;
	c->total += len;
	if (strstr(path, "datos/") && strstr(path, ".zip") && !c->nested) {
		c->nested = data;
		c->nested_len = len;
		return RC_OK;
	}
	free(data);
	return RC_OK;
}

/* The pipeline's gzip and tar check (verify's hashing pass) comes before
 * unpack: a package it refuses never reaches unpack. */
static enum rc stream_check(const char *file, const struct unpack_limits *lim,
			    struct unpack_error *err)
{
	FILE *f = fopen(file, "rb");
	if (!f)
		return RC_IO;
	struct scan_stream *s = scan_stream_new(lim);
	unsigned char buf[8192];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		scan_stream_observe(s, buf, n);
	fclose(f);
	struct scan_error se;
	enum rc rc = scan_stream_finish(s, &se);
	scan_stream_free(s);
	snprintf(err->entry, sizeof err->entry, "%s", se.entry);
	snprintf(err->reason, sizeof err->reason, "%s", se.reason);
	return rc;
}

static bool has(const struct collected *c, const char *name)
{
	for (size_t i = 0; i < c->n && i < 64; i++)
		if (!strcmp(c->names[i], name))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test-unpack PKGDIR\n");
		return 2;
	}
	/* The caps the hostile packages are sized against (see mkpkg.py). */
	struct unpack_limits lim = {
		.max_entries = 2000,
		.max_total_bytes = 5ull << 20,
		.max_file_bytes = 2ull << 20,
		.max_path_bytes = 255,
	};
	char table[4096];
	snprintf(table, sizeof table, "%s/../pkgs.tsv", argv[1]);
	FILE *f = fopen(table, "r");
	CHECK(f != NULL, "cannot open %s", table);
	if (!f)
		return check_done();
	char line[512];
	int cases = 0;
	while (fgets(line, sizeof line, f)) {
		char *tab = strchr(line, '\t');
		if (!tab)
			continue;
		*tab = '\0';
		char *want = tab + 1;
		want[strcspn(want, "\n")] = '\0';
		char file[4096];
		snprintf(file, sizeof file, "%s/%s", argv[1], line);

		struct collected c = { 0 };
		struct unpack_stats st;
		struct unpack_error err;
		memset(&st, 0, sizeof st);
		enum rc rc = stream_check(file, &lim, &err);
		if (!rc)
			rc = unpack_file(file, &lim, NULL, collect, &c, &st, &err);
		cases++;
		if (!strcmp(want, "ok")) {
			CHECK(rc == RC_OK, "%s: refused: entry=%s reason=%s", line, err.entry, err.reason);
			CHECK(has(&c, "index.html") && has(&c, "404.html") &&
			      has(&c, "assets/JSON/ESTADOS/Michoacán.json") &&
			      has(&c, "estados/Nuevo León/index.html") &&
			      has(&c, "main.3f2a9c1b8d7e6f50.js"),
			      "%s: expected files missing", line);
			CHECK(st.files == c.n && st.bytes == c.total, "%s: stats", line);
			CHECK(st.format == (strstr(line, ".zip") ? UNPACK_ZIP : UNPACK_TAR_GZ),
			      "%s: format %d", line, st.format);
			/* The nested database zip is a file, handed on as it is. */
			CHECK(c.nested && c.nested_len > 4 && !memcmp(c.nested, "PK\3\4", 4),
			      "%s: nested zip not passed through", line);
		} else {
			CHECK(rc != RC_OK, "%s: accepted, want refusal '%s'", line, want);
			CHECK(strstr(err.reason, want) != NULL, "%s: reason '%s' lacks '%s'",
			      line, err.reason, want);
		}
		free(c.nested);
	}
	fclose(f);
	CHECK(cases >= 20, "only %d packages in the table", cases);

	/* A missing file is an I/O error that says so. */
	struct collected c = { 0 };
	struct unpack_stats st;
	struct unpack_error err;
	enum rc rc = unpack_file("/nonexistent/p.zip", &lim, NULL, collect, &c, &st, &err);
	CHECK(rc == RC_IO && strstr(err.reason, "cannot read"), "missing file: %s", err.reason);
	return check_done();
}
