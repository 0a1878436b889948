/* snap_diff: the paths added, changed and removed from one cut to the
 * next, as the publish event reports them. */
#include "check.h"
#include "server/snap_int.h"

#include <stdlib.h>
#include <string.h>

static struct snap *build(const struct snap *base, bool overlay, uint64_t seq,
			  const char *const files[][2], size_t n)
{
	struct snap_builder *b = snap_builder_new(base, overlay, NULL);
	for (size_t i = 0; i < n; i++)
		if (snap_builder_add(b, files[i][0], strdup(files[i][1]), strlen(files[i][1]),
				     1717387200, false))
			return NULL;
	struct cut cut = { .seq = seq };
	snprintf(cut.label, sizeof cut.label, "cut%llu", (unsigned long long)seq);
	enum rc rc;
	return snap_builder_finish(b, &cut, NULL, &rc);
}

/* The list as one string, "a,b,c", for readable checks. */
static const char *joined(char **v, size_t n)
{
	static char buf[4][512];
	static int k;
	char *out = buf[k++ % 4];
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(out, ",");
		strcat(out, v[i]);
	}
	return out;
}

int main(void)
{

	const char *const one[][2] = {
		{ "index.html", "<p>corte 1</p>" },
		{ "a.json", "{\"v\":1}" },
		{ "same.css", "body{}" },
		{ "gone.txt", "bye" },
	};
	const char *const two[][2] = {
		{ "same.css", "body{}" },
		{ "index.html", "<p>corte 2</p>" },
		{ "a.json", "{\"v\":1}" },
		{ "z-new.json", "{}" },
		{ "b-new.json", "[]" },
	};
	struct snap *s1 = build(NULL, false, 1, one, 4);
	struct snap *s2 = build(s1, false, 2, two, 5);
	CHECK(s1 && s2, "build");

	struct snap_diff d;
	CHECK(snap_diff(s1, s2, &d) == RC_OK, "diff 1 -> 2");
	CHECK(!strcmp(joined(d.added, d.n_added), "b-new.json,z-new.json"), "added, sorted: %s",
	      joined(d.added, d.n_added));
	CHECK(!strcmp(joined(d.changed, d.n_changed), "index.html"), "changed: %s",
	      joined(d.changed, d.n_changed));
	CHECK(!strcmp(joined(d.removed, d.n_removed), "gone.txt"), "removed: %s",
	      joined(d.removed, d.n_removed));
	snap_diff_release(&d);
	CHECK(d.added == NULL && d.n_added == 0 && d.n_changed == 0 && d.n_removed == 0,
	      "release empties");
	snap_diff_release(&d);   /* an empty diff again: a no-op */

	CHECK(snap_diff(s2, s1, &d) == RC_OK, "diff 2 -> 1");
	CHECK(!strcmp(joined(d.added, d.n_added), "gone.txt") &&
	      !strcmp(joined(d.removed, d.n_removed), "b-new.json,z-new.json") &&
	      !strcmp(joined(d.changed, d.n_changed), "index.html"),
	      "the way back is the mirror: +%s ~%s -%s", joined(d.added, d.n_added),
	      joined(d.changed, d.n_changed), joined(d.removed, d.n_removed));
	snap_diff_release(&d);

	CHECK(snap_diff(s1, s1, &d) == RC_OK && !d.n_added && !d.n_changed && !d.n_removed &&
	      !d.added && !d.changed && !d.removed, "a cut against itself: nothing, lists NULL");
	snap_diff_release(&d);

	CHECK(snap_diff(NULL, s1, &d) == RC_OK && d.n_added == 4 && !d.n_changed && !d.n_removed &&
	      !strcmp(joined(d.added, d.n_added), "a.json,gone.txt,index.html,same.css"),
	      "no cut before: every path added: %s", joined(d.added, d.n_added));
	snap_diff_release(&d);

	/* An overlay (incremental package) keeps the base's other paths: only
	 * what it brings can be added or changed, nothing is removed. Same
	 * bytes under a path count as unchanged even from another package. */
	const char *const inc[][2] = {
		{ "a.json", "{\"v\":2}" },
		{ "same.css", "body{}" },
		{ "new/deep.json", "1" },
	};
	struct snap *s3 = build(s2, true, 3, inc, 3);
	CHECK(s3 != NULL, "build overlay");
	CHECK(snap_diff(s2, s3, &d) == RC_OK, "diff 2 -> 3");
	CHECK(!strcmp(joined(d.added, d.n_added), "new/deep.json") &&
	      !strcmp(joined(d.changed, d.n_changed), "a.json") && d.n_removed == 0,
	      "overlay: +%s ~%s -%zu", joined(d.added, d.n_added), joined(d.changed, d.n_changed),
	      d.n_removed);
	snap_diff_release(&d);

	snap_release(s1);
	snap_release(s2);
	snap_release(s3);
	return check_done();
}
