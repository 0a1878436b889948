#include "check.h"
#include "server/cut.h"

#include <stdio.h>
#include <string.h>

static const struct {
	const char *file, *label, *time;
} table[] = {
	/* Mexico City: -06:00 since 2022; summer time (-05:00) before. */
	{ "/spool/20240602_2215_PREP_PRES_NAL.zip", "20240602_2215", "2024-06-02T22:15-06:00" },
	{ "20180701_2359_PREP.tar.gz", "20180701_2359", "2018-07-01T23:59-05:00" },
	{ "PREP_AYUN_JAL.zip", "PREP_AYUN_JAL", "" },
	{ "PREP_2024_JAL.zip", "PREP_2024_JAL", "" },
	{ "x/120240602_2215.zip", "120240602_2215", "" },   /* glued to a digit */
	{ "20241302_2215.zip", "20241302_2215", "" },       /* month 13 */
	{ "paquete con espacios.tgz", "paquete_con_espacios", "" },
	{ "", "package", "" },
	{ ".zip", "package", "" },
};

static const struct {
	const char *json, *key, *want;   /* want NULL: not found */
} times[] = {
	{ "{\"ultimoCorte\":{\"fecha\":\"02/06/2024\",\"hora\":\"22:15\"}}", "ultimoCorte", "2024-06-02T22:15" },
	{ "{\"ultimoCorte\":{\"fecha\":\"2/6/2024\",\"hora\":\"22:15:30\"}}", "ultimoCorte", "2024-06-02T22:15" },
	{ "{\"horaCorte\":\"02/06/2024 22:15\"}", "horaCorte", "2024-06-02T22:15" },
	{ "{\"horaCorte\":\"22:15 horas (UTC-6)\"}", "horaCorte", "22:15 horas (UTC-6)" },
	{ "{\"a\":{\"b\":{\"c\":\"02/06/2024 23:00\"}}}", "a.b.c", "2024-06-02T23:00" },
	{ "{\"ultimoCorte\":{\"fecha\":\"02/06/2024\",\"hora\":\"22:15\"}}", "ultimoCorte.fecha", "02/06/2024" },
	{ "{\"horaCorte\":\"x;\\r\\nSet-Cookie: a\"}", "horaCorte", "x   Set-Cookie: a" },
	{ "{\"horaCorte\":\"\"}", "horaCorte", NULL },
	{ "{\"horaCorte\":42}", "horaCorte", NULL },
	{ "{\"otra\":\"1\"}", "horaCorte", NULL },
	{ "not json", "horaCorte", NULL },
	{ "[1,2]", "horaCorte", NULL },
	{ "{\"a\":{\"b\":1}}", "a..b", NULL },
};

/* Cut times as text, read in America/Mexico_City (RFC 3339 offsets). */
static const struct {
	const char *text, *want;
	bool timed;
	long long at;
} stamps[] = {
	{ "2024-06-02T22:15", "2024-06-02T22:15-06:00", true, 1717388100 },
	{ "2024-06-02 22:15:30", "2024-06-02T22:15:30-06:00", true, 1717388130 },
	{ "2018-07-01T23:59", "2018-07-01T23:59-05:00", true, 1530507540 },
	{ "2018-01-15T12:00", "2018-01-15T12:00-06:00", true, 1516039200 },
	{ "2024-06-03T04:15Z", "2024-06-03T04:15+00:00", true, 1717388100 },
	{ "2024-06-02T23:15-05:00", "2024-06-02T23:15-05:00", true, 1717388100 },
	{ "2024-06-03T09:45+0530", "2024-06-03T09:45+05:30", true, 1717388100 },
	{ "2024-02-29T10:00", "2024-02-29T10:00-06:00", true, 1709222400 },
	{ "2023-02-29T10:00", "2023-02-29T10:00", false, 0 },
	{ "2024-06-31T10:00", "2024-06-31T10:00", false, 0 },
	{ "2024-06-02T24:00", "2024-06-02T24:00", false, 0 },
	{ "2024-06-02T22:60", "2024-06-02T22:60", false, 0 },
	{ "2024-06-02T22:15-06", "2024-06-02T22:15-06", false, 0 },
	{ "2024-06-02T22:15+24:00", "2024-06-02T22:15+24:00", false, 0 },
	{ "2024-06-02T22:15Zx", "2024-06-02T22:15Zx", false, 0 },
	{ "2024-6-2T22:15", "2024-6-2T22:15", false, 0 },
	{ "22:15 horas (UTC-6)", "22:15 horas (UTC-6)", false, 0 },
	{ "x;\r\ny", "x   y", false, 0 },
	{ "", "", false, 0 },
};

static void zones(void)
{
	static const struct {
		const char *zone;
		enum rc want;
	} z[] = {
		{ "America/Mexico_City", RC_OK }, { "UTC", RC_OK }, { "America/Tijuana", RC_OK },
		{ "Etc/GMT+6", RC_OK }, { "America/Nowhere", RC_FORMAT }, { "", RC_FORMAT },
		{ "../../etc/passwd", RC_FORMAT }, { "/etc/localtime", RC_FORMAT },
		{ "America", RC_FORMAT }, { "America/", RC_FORMAT }, { "zone.tab", RC_FORMAT },
		{ "-America", RC_FORMAT }, { "America//Mexico_City", RC_FORMAT },
	};
	for (size_t i = 0; i < sizeof z / sizeof z[0]; i++) {
		char err[256] = "";
		enum rc rc = cut_zone_check(z[i].zone, err, sizeof err);
		CHECK(rc == z[i].want, "zone '%s': rc %d, want %d (%s)", z[i].zone, rc, z[i].want, err);
		CHECK(!rc || strstr(err, "time_zone"), "zone '%s': the error names the key: %s",
		      z[i].zone, err);
	}
}

int main(void)
{
	char err[256];
	if (cut_zone_use("America/Mexico_City", err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	zones();
	for (size_t i = 0; i < sizeof stamps / sizeof stamps[0]; i++) {
		struct cut c = { .seq = 3 };
		cut_set_time(&c, stamps[i].text);
		CHECK(!strcmp(c.time, stamps[i].want), "'%s': '%s', want '%s'", stamps[i].text, c.time,
		      stamps[i].want);
		CHECK(c.timed == stamps[i].timed, "'%s': timed %d", stamps[i].text, c.timed);
		CHECK(!c.timed || (long long)c.at == stamps[i].at, "'%s': at %lld, want %lld",
		      stamps[i].text, (long long)c.at, stamps[i].at);
		if (c.timed) {   /* what is written reads back as the same instant */
			struct cut again = { 0 };
			cut_set_time(&again, c.time);
			CHECK(again.timed && again.at == c.at && !strcmp(again.time, c.time),
			      "'%s' reads back: '%s'", c.time, again.time);
		}
	}
	/* A local time the spring change skips (Mexico City, 2018-04-01,
	 * 02:00 -> 03:00) is taken as a real instant, written as what it is. */
	struct cut gap = { 0 };
	cut_set_time(&gap, "2018-04-01T02:30");
	struct cut back = { 0 };
	cut_set_time(&back, gap.time);
	CHECK(gap.timed && back.timed && back.at == gap.at && strcmp(gap.time, "2018-04-01T02:30-06:00") &&
	      strcmp(gap.time, "2018-04-01T02:30-05:00"), "a skipped local time: '%s'", gap.time);

	/* Order: instants, not strings. */
	struct cut a = { 0 }, b = { 0 }, u = { 0 };
	int order = 9;
	cut_set_time(&a, "2024-06-02T23:15");          /* 05:15Z */
	cut_set_time(&b, "2024-06-03T04:30+00:00");    /* 04:30Z: "later" as a string */
	CHECK(cut_order(&b, &a, &order) && order == -1, "04:30Z is older than 23:15-06:00: %d", order);
	CHECK(cut_order(&a, &b, &order) && order == 1, "and the other way: %d", order);
	cut_set_time(&b, "2024-06-03T05:15Z");
	CHECK(cut_order(&a, &b, &order) && order == 0, "the same instant: %d", order);
	cut_set_time(&u, "22:15 horas");
	order = 9;
	CHECK(!cut_order(&a, &u, &order) && !cut_order(&u, &a, &order) && order == 9,
	      "an unknown time has no order");
	cut_set_time(&a, NULL);
	CHECK(!a.timed && !a.time[0], "NULL empties the time");

	for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
		char out[32] = "untouched";
		bool ok = cut_time_from_json(times[i].json, strlen(times[i].json), times[i].key,
					     out, sizeof out);
		CHECK(ok == (times[i].want != NULL), "json %zu: found=%d", i, ok);
		if (times[i].want)
			CHECK(!strcmp(out, times[i].want), "json %zu: '%s', want '%s'", i, out, times[i].want);
		else
			CHECK(!strcmp(out, "untouched"), "json %zu: out changed to '%s'", i, out);
	}
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		struct cut c = { .seq = 7 };
		cut_from_name(table[i].file, &c);
		CHECK(!strcmp(c.label, table[i].label), "%s: label '%s'", table[i].file, c.label);
		CHECK(!strcmp(c.time, table[i].time), "%s: time '%s'", table[i].file, c.time);
		CHECK(c.seq == 7, "seq untouched");
	}
	struct cut c = { .seq = 42 };
	cut_from_name("20240602_2215_PREP.zip", &c);
	char h[160];
	cut_header(&c, h, sizeof h);
	CHECK(!strcmp(h, "seq=42; label=20240602_2215; time=2024-06-02T22:15-06:00"), "header: %s", h);
	struct cut p = { .seq = 0 };
	strcpy(p.label, "placeholder");
	cut_header(&p, h, sizeof h);
	CHECK(!strcmp(h, "seq=0; label=placeholder"), "placeholder header: %s", h);
	return check_done();
}
