#include "check.h"
#include "server/range.h"

static const struct {
	const char *v;
	uint64_t size;
	enum range_result r;
	uint64_t first, last;
} table[] = {
	{ NULL, 100, RANGE_NONE, 0, 0 },
	{ "bytes=0-9", 100, RANGE_OK, 0, 9 },
	{ "bytes=10-", 100, RANGE_OK, 10, 99 },
	{ "bytes=-10", 100, RANGE_OK, 90, 99 },
	{ "bytes=-1000", 100, RANGE_OK, 0, 99 },
	{ "bytes=90-1000", 100, RANGE_OK, 90, 99 },
	{ "bytes=99-99", 100, RANGE_OK, 99, 99 },
	{ " bytes = 5-6 ", 100, RANGE_OK, 5, 6 },
	{ "Bytes=5-6", 100, RANGE_OK, 5, 6 },
	{ "bytes=100-", 100, RANGE_UNSATISFIABLE, 0, 0 },
	{ "bytes=100-200", 100, RANGE_UNSATISFIABLE, 0, 0 },
	{ "bytes=-0", 100, RANGE_UNSATISFIABLE, 0, 0 },
	{ "bytes=0-0", 0, RANGE_UNSATISFIABLE, 0, 0 },
	{ "bytes=-5", 0, RANGE_UNSATISFIABLE, 0, 0 },
	{ "bytes=9-5", 100, RANGE_NONE, 0, 0 },            /* invalid: ignored */
	{ "bytes=0-1,5-6", 100, RANGE_NONE, 0, 0 },        /* multi: whole file */
	{ "items=0-1", 100, RANGE_NONE, 0, 0 },
	{ "bytes=", 100, RANGE_NONE, 0, 0 },
	{ "bytes=-", 100, RANGE_NONE, 0, 0 },
	{ "bytes=a-b", 100, RANGE_NONE, 0, 0 },
	{ "bytes=1-2x", 100, RANGE_NONE, 0, 0 },
	{ "bytes=99999999999999999999-", 100, RANGE_NONE, 0, 0 },   /* overflow */
	{ "bytes=18446744073709551615-", 100, RANGE_UNSATISFIABLE, 0, 0 },
};

int main(void)
{
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		uint64_t f = 0, l = 0;
		enum range_result r = range_parse(table[i].v, table[i].size, &f, &l);
		CHECK(r == table[i].r, "'%s' size %llu: result %d, want %d",
		      table[i].v ? table[i].v : "(null)",
		      (unsigned long long)table[i].size, r, table[i].r);
		if (r == RANGE_OK && table[i].r == RANGE_OK)
			CHECK(f == table[i].first && l == table[i].last,
			      "'%s': got %llu-%llu", table[i].v,
			      (unsigned long long)f, (unsigned long long)l);
	}
	return check_done();
}
