/* The fleet view: the other origins behind the same CDN ([fleet] peers),
 * read every poll, so that a cut's purge fires only once every healthy
 * origin serves it (the edge then refetches the new cut, whichever origin
 * it asks) and an origin that is behind its fleet knows it.
 *
 *   publish event ─► fleet_on_publish() ("fleet" subscriber thread):
 *                    the event waits in the fleet's list, the thread wakes
 *   fleet thread  ─► every poll_ms: HEAD each peer (libcurl multi, at once),
 *                    its X-PREP-Cut ─► the peer's cut, healthy or not
 *                 ─► each waiting cut: every healthy peer serves it or a
 *                    newer one (fleet_decide()) ─► hooks.ready(ev): the purge
 *                    max_wait passed            ─► hooks.ready(ev), logged
 *                 ─► own cut older than the newest healthy peer's
 *                    (fleet_behind()) ─► hooks.on_behind(true), and false
 *                    once caught up
 *
 * Cut labels and cut times order cuts across origins, never local
 * sequence numbers (each origin counts its own). */
#ifndef PREPD_EDGE_FLEET_H
#define PREPD_EDGE_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "edge/settings.h"
#include "ingest/event.h"
#include "server/cut.h"
#include "server/rc.h"

struct fleet;

struct fleet_hooks {
	/* The cut of ev may be purged now (ev is borrowed for the call).
	 * Called on the fleet thread, once per event, in publish order. */
	void (*ready)(const struct event *ev, void *ctx);
	/* This origin is (true) or is no longer (false) behind the newest
	 * cut a healthy peer serves. Called on the fleet thread when it
	 * changes; the first call is true, if ever. May be NULL. */
	void (*on_behind)(bool behind, void *ctx);
	void *ctx;
};

/* Makes the fleet of fs (borrowed; it must outlive the fleet) with hooks
 * (copied). No thread yet. *out is NULL when fs has no peers. RC_OK,
 * RC_NOMEM, RC_FORMAT (a peer URL libcurl refuses) with err. */
enum rc fleet_new(const struct fleet_settings *fs, const struct fleet_hooks *hooks,
		  struct fleet **out, char *err, size_t errsz);

/* Starts the fleet thread. RC_NOMEM when it cannot start. */
enum rc fleet_start(struct fleet *f);

/* An event_subscribe() callback (ctx: the fleet): the event waits until
 * the fleet serves its cut. Returns at once. */
void fleet_on_publish(const struct event *ev, void *ctx);

struct fleet_peer_state {
	char url[256];
	bool healthy;
	bool known;              /* answered at least once */
	char label[64];          /* the cut it serves, "" if unknown */
	time_t since;            /* when healthy last changed */
};

struct fleet_state {
	bool behind;
	char newest[64];         /* the newest cut a healthy origin serves
	                          * (this one included) */
	unsigned peers, healthy, waiting;   /* waiting: cuts not yet purged */
	uint64_t fired_served, fired_max_wait;
};

/* Fills out (and up to max peers' states into peers, when not NULL);
 * returns how many peers there are. Thread-safe. */
unsigned fleet_state(struct fleet *f, struct fleet_state *out, struct fleet_peer_state *peers,
		     unsigned max);

/* Stops the thread (the poll in progress ends within the timeout) and
 * frees f; waiting events are dropped, unpurged (logged). NULL is a
 * no-op. */
void fleet_free(struct fleet *f);

/* ---- the decision logic, pure, for tests ---- */

/* How a stands to b: -1 older, 0 the same cut (the same label) or the same
 * cut time, 1 newer; FLEET_UNORDERED when neither the labels match nor both
 * times are known. A seq of 0 is the built-in placeholder, older than any
 * cut (any other seq is not compared: origins number their own). */
#define FLEET_UNORDERED 2
int fleet_compare(const struct cut *a, const struct cut *b);

/* Reads an X-PREP-Cut value ("seq=42; label=L; time=T", cut_header())
 * into out: label and time, and seq 0 for the placeholder, 1 for any
 * other (the peer's own numbering means nothing here). False
 * when there is no label= in it or it does not fit the label alphabet. */
bool fleet_parse_header(const char *value, struct cut *out);

/* A peer as the decision sees it. */
struct fleet_view {
	bool healthy;
	bool known;
	struct cut cut;
};

enum fleet_decision {
	FLEET_WAIT,          /* a healthy peer does not serve it yet */
	FLEET_SERVED,        /* every healthy peer serves it (or newer) */
	FLEET_MAX_WAIT,      /* waited max_wait_ms */
};

/* Whether the purge of cut c may fire: every healthy, known peer serves c
 * or a newer cut (a rollback: exactly c, by label), or waited_ms reached
 * max_wait_ms. An unhealthy peer does not hold a purge up; a healthy peer
 * whose cut cannot be ordered against c does, until max_wait. */
enum fleet_decision fleet_decide(const struct cut *c, bool rollback,
				 const struct fleet_view *peers, size_t n,
				 uint64_t waited_ms, uint64_t max_wait_ms);

/* Whether own is older than the cut a healthy peer serves; the newest
 * such cut (own when none is newer) into *newest. Unordered cuts never
 * make an origin behind. */
bool fleet_behind(const struct cut *own, const struct fleet_view *peers, size_t n,
		  struct cut *newest);

#endif
