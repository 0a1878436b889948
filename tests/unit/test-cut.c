#include "check.h"
#include "server/cut.h"

#include <string.h>

static const struct {
	const char *file, *label, *time;
} table[] = {
	{ "/spool/20240602_2215_PREP_PRES_NAL.zip", "20240602_2215", "2024-06-02T22:15" },
	{ "20180701_2359_PREP.tar.gz", "20180701_2359", "2018-07-01T23:59" },
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

int main(void)
{
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
	CHECK(!strcmp(h, "seq=42; label=20240602_2215; time=2024-06-02T22:15"), "header: %s", h);
	struct cut p = { .seq = 0 };
	strcpy(p.label, "placeholder");
	cut_header(&p, h, sizeof h);
	CHECK(!strcmp(h, "seq=0; label=placeholder"), "placeholder header: %s", h);
	return check_done();
}
