/* The fleet view's decision logic (edge/fleet.h), without network: how
 * cuts from different origins are ordered (labels and cut times, never
 * local sequence numbers), when a cut's purge may fire, and when an
 * origin is behind its fleet. */
#include "check.h"
#include "edge/fleet.h"
#include "server/cut.h"

#include <stdio.h>
#include <string.h>

static struct cut mk(const char *header)
{
	struct cut c;
	if (!fleet_parse_header(header, &c))
		memset(&c, 0, sizeof c);
	return c;
}

static struct fleet_view peer(const char *header, bool healthy)
{
	struct fleet_view v = { .healthy = healthy, .known = header != NULL };
	if (header)
		v.cut = mk(header);
	return v;
}

int main(void)
{
	char err[128];
	if (cut_zone_use("America/Mexico_City", err, sizeof err)) {
		printf("SKIP: %s\n", err);
		return 77;
	}

	/* Parsing X-PREP-Cut as cut_header() writes it. */
	struct cut c = mk("seq=42; label=20240602_2215; time=2024-06-02T22:15-06:00");
	CHECK(!strcmp(c.label, "20240602_2215") && c.timed && c.seq == 1, "a full header: %s %d",
	      c.label, c.timed);
	struct cut back;
	char h[160];
	cut_header(&c, h, sizeof h);
	CHECK(fleet_parse_header(h, &back) && !strcmp(back.label, c.label) && back.at == c.at,
	      "cut_header() round-trips: %s", h);
	c = mk("seq=0; label=placeholder");
	CHECK(!strcmp(c.label, "placeholder") && c.seq == 0 && !c.timed, "the placeholder");
	struct cut x;
	CHECK(!fleet_parse_header("seq=3; time=2024-06-02T22:15-06:00", &x), "no label: refused");
	CHECK(!fleet_parse_header("seq=3; label=a b", &x), "a label outside the alphabet: refused");
	CHECK(!fleet_parse_header("seq=3; label=", &x), "an empty label: refused");
	CHECK(!fleet_parse_header("", &x) && !fleet_parse_header(NULL, &x), "nothing: refused");
	CHECK(fleet_parse_header("label=x.y-z_1", &x) && !strcmp(x.label, "x.y-z_1"),
	      "label alone, every label byte");

	/* Ordering: by cut time, across origins whose seqs differ. */
	struct cut a = mk("seq=9; label=20240602_2215; time=2024-06-02T22:15-06:00");
	struct cut b = mk("seq=2; label=20240602_2230; time=2024-06-02T22:30-06:00");
	struct cut b2 = mk("seq=7; label=20240602_2230; time=2024-06-02T22:30-06:00");
	struct cut utc = mk("seq=1; label=other; time=2024-06-03T04:30Z");   /* 22:30 in CDMX */
	struct cut un1 = mk("seq=5; label=cutA"), un2 = mk("seq=5; label=cutB");
	struct cut ph = mk("seq=0; label=placeholder");
	CHECK(fleet_compare(&a, &b) == -1 && fleet_compare(&b, &a) == 1, "22:15 < 22:30");
	CHECK(fleet_compare(&b, &b2) == 0, "the same label on two origins with other seqs");
	CHECK(fleet_compare(&b, &utc) == 0, "the same instant in another offset");
	CHECK(fleet_compare(&un1, &un2) == FLEET_UNORDERED, "untimed labels that differ");
	CHECK(fleet_compare(&un1, &un1) == 0, "an untimed label equals itself");
	CHECK(fleet_compare(&ph, &un1) == -1 && fleet_compare(&a, &ph) == 1 &&
	      fleet_compare(&ph, &ph) == 0, "the placeholder is older than any cut");

	/* fleet_decide: every healthy peer serves the cut or a newer one. */
	struct fleet_view v[3];
	v[0] = peer("seq=3; label=20240602_2230; time=2024-06-02T22:30-06:00", true);
	v[1] = peer("seq=8; label=20240602_2215; time=2024-06-02T22:15-06:00", true);
	v[2] = peer(NULL, false);
	CHECK(fleet_decide(&b, false, v, 3, 0, 1000) == FLEET_WAIT, "one peer still at 22:15");
	CHECK(fleet_decide(&a, false, v, 3, 0, 1000) == FLEET_SERVED, "22:15: served or newer");
	CHECK(fleet_decide(&b, false, v, 3, 999, 1000) == FLEET_WAIT, "just under max_wait");
	CHECK(fleet_decide(&b, false, v, 3, 1000, 1000) == FLEET_MAX_WAIT, "max_wait reached");
	v[1].healthy = false;
	CHECK(fleet_decide(&b, false, v, 3, 0, 1000) == FLEET_SERVED,
	      "an unhealthy peer does not hold the purge up");
	v[1].healthy = true;
	v[1].known = false;
	CHECK(fleet_decide(&b, false, v, 3, 0, 1000) == FLEET_SERVED, "nor one never read");
	CHECK(fleet_decide(&b, false, v, 0, 0, 1000) == FLEET_SERVED, "no peers: at once");
	v[1] = peer("seq=1; label=somethingelse", true);
	CHECK(fleet_decide(&b, false, v, 3, 0, 1000) == FLEET_WAIT,
	      "a peer whose cut cannot be ordered holds it, until max_wait");
	CHECK(fleet_decide(&b, false, v, 3, 5000, 1000) == FLEET_MAX_WAIT, "... and then fires");
	v[1] = peer("seq=0; label=placeholder", true);
	CHECK(fleet_decide(&a, false, v, 3, 0, 1000) == FLEET_WAIT,
	      "a peer still on the placeholder has not the cut");
	/* A rollback: the peers must serve that very cut, not a newer one. */
	v[1] = peer("seq=4; label=20240602_2230; time=2024-06-02T22:30-06:00", true);
	CHECK(fleet_decide(&a, true, v, 3, 0, 1000) == FLEET_WAIT,
	      "a rollback to 22:15 waits while peers serve 22:30");
	v[0] = peer("seq=3; label=20240602_2215; time=2024-06-02T22:15-06:00", true);
	v[1] = v[0];
	CHECK(fleet_decide(&a, true, v, 3, 0, 1000) == FLEET_SERVED, "... fires once they roll back");

	/* fleet_behind: only a healthy peer's strictly newer cut counts. */
	struct cut newest;
	v[0] = peer("seq=3; label=20240602_2230; time=2024-06-02T22:30-06:00", true);
	v[1] = peer("seq=8; label=20240602_2215; time=2024-06-02T22:15-06:00", true);
	CHECK(fleet_behind(&a, v, 2, &newest) && !strcmp(newest.label, "20240602_2230"),
	      "22:15 behind a peer at 22:30");
	CHECK(!fleet_behind(&b, v, 2, &newest) && !strcmp(newest.label, "20240602_2230"),
	      "22:30 is the newest");
	v[0].healthy = false;
	CHECK(!fleet_behind(&a, v, 2, &newest), "an unhealthy peer's newer cut does not count");
	v[0] = peer("seq=1; label=mystery", true);
	CHECK(!fleet_behind(&a, v, 2, &newest), "an unordered cut never makes an origin behind");
	v[0] = peer("seq=1; label=20240602_2215x; time=2024-06-02T22:15-06:00", true);
	CHECK(!fleet_behind(&a, v, 2, &newest), "another label at the same instant is not newer");
	CHECK(fleet_behind(&ph, v, 2, &newest), "the placeholder is behind any cut");
	CHECK(!fleet_behind(&a, v, 0, &newest) && !strcmp(newest.label, a.label), "alone");
	return check_done();
}
