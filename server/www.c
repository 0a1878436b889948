#include "server/www.h"

#include "server/snap.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

struct snap *www_default_snapshot(const struct policy *policy, enum rc *rc)
{
	struct snap_builder *b = snap_builder_new(NULL, false, policy);
	if (!b) {
		*rc = RC_NOMEM;
		return NULL;
	}
	time_t now = time(NULL);
	for (const struct www_file *f = www_default_files; f->path; f++) {
		*rc = snap_builder_add(b, f->path, (void *)f->data, f->len, now, true);
		if (*rc) {
			snap_builder_free(b);
			return NULL;
		}
	}
	struct cut cut = { .seq = 0 };
	snprintf(cut.label, sizeof cut.label, "placeholder");
	return snap_builder_finish(b, &cut, NULL, rc);
}
