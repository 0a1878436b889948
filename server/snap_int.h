/* Snapshot internals for the request path (http.c) and the snapshot's own
 * files (snap.c, snap_build.c, policy.c). Not for ingest/. */
#ifndef PREPD_SNAP_INT_H
#define PREPD_SNAP_INT_H

#include <microhttpd.h>
#include <stdatomic.h>

#include "server/entry.h"
#include "server/limits.h"
#include "server/policy.h"
#include "server/snap.h"
#include "server/util.h"

/* The identity responses a slot answers with while this origin is behind
 * its fleet (snap_behind()): Cache-Control no-store, no CDN TTL. */
struct slot_resp {
	struct MHD_Response *ok;      /* 200, identity */
	struct MHD_Response *nm;      /* 304 for the identity ETag */
};

/* A slot's gzip responses, attached once its entry's variant exists
 * (server/variant.h); freed with the snapshot. */
struct slot_gz {
	struct MHD_Response *ok;      /* 200, gzip */
	struct MHD_Response *nm;      /* 304 for the gzip ETag */
	struct MHD_Response *behind_ok;   /* the same while behind its fleet, */
	struct MHD_Response *behind_nm;   /* when the slot has behind: else NULL */
	size_t len;                   /* the variant's bytes */
};

/* A path in one snapshot, with its prebuilt responses. */
struct slot {
	char *path;
	struct entry *e;
	struct MHD_Response *ok;      /* 200, identity */
	struct MHD_Response *nm;      /* 304 for the identity ETag */
	/* NULL until the gzip variant is made, and for good without one:
	 * read it once per request with slot_gz() */
	_Atomic(struct slot_gz *) gz;
	/* The identity answers while this origin is behind its fleet (the
	 * gzip ones are in gz). Built only for a per-cut file and only when
	 * the policy has fleet set; NULL otherwise (a fingerprinted file
	 * stays cacheable; without fleet the request path builds them per
	 * request). */
	struct slot_resp *behind;
	bool immutable;               /* rules_cache_class() said fingerprinted */
	uint8_t kept;                 /* in snap's kept[]: index into kept_cuts */
};

/* An earlier cut whose fingerprinted files a snapshot still serves (skew
 * protection, [cache] keep_cuts). */
struct kept_cut {
	struct cut cut;
	time_t replaced;              /* when it stopped being the current cut */
	size_t files;
	uint64_t bytes;
};

/* The 404 answers (policy_build_pages()): the package's 404.html, or a
 * text, cacheable for error_ttl or not at all. */
enum snap_nf {
	SNAP_NF_SHORT,                /* not fingerprinted, not behind: error_ttl */
	SNAP_NF_NOSTORE,              /* a fingerprinted path, or behind */
	SNAP_NF_COUNT,
};

/* The slot's gzip responses or NULL: one atomic load (acquire), safe on
 * the request path; valid while the snapshot is. */
static inline const struct slot_gz *slot_gz(const struct slot *sl)
{
	return atomic_load_explicit(&((struct slot *)sl)->gz, memory_order_acquire);
}

enum snap_err {
	SNAP_ERR_400,
	SNAP_ERR_404,
	SNAP_ERR_405,
	SNAP_ERR_414,
	SNAP_ERR_500,
	SNAP_ERR_COUNT,
};

struct snap {
	_Atomic long refs;
	struct cut cut;
	char cut_hdr[160];
	struct policy_copy policy;     /* what it was built with; its own */
	struct slot *slots;
	size_t nslots;
	uint32_t *index;          /* open addressing: slot number + 1, 0 empty */
	size_t index_mask;
	const struct slot *fallback;   /* SPA fallback (index.html), or NULL */
	const struct slot *notfound;   /* the package's 404.html, or NULL */
	struct MHD_Response *err[SNAP_ERR_COUNT];
	size_t err_len[SNAP_ERR_COUNT];
	/* 404s: [which][gzip], and their body lengths; [.][1] is NULL
	 * without a gzip variant of 404.html. */
	struct MHD_Response *nf[SNAP_NF_COUNT][2];
	size_t nf_len[2];
	/* Skew protection: the fingerprinted files of earlier cuts that this
	 * cut does not have, looked up only when the cut has no such path.
	 * Their own entries (shared with the snapshots they came from) and
	 * responses; slot.kept says which kept_cuts[] each came from, newest
	 * replaced first. The index is like index, over kept. */
	struct slot *kept;
	size_t nkept;
	uint32_t *kept_index;
	size_t kept_mask;
	struct kept_cut kept_cuts[SNAP_KEEP_MAX_CUTS];
	size_t nkept_cuts;
	uint64_t kept_bytes;
	/* [tls] hsts set: the same cut for the HTTPS listener, whose every
	 * response also carries Strict-Transport-Security (libmicrohttpd
	 * 0.9.75 cannot add a header to a shared response per connection).
	 * Owned by this snapshot; it borrows the paths, entries, index and
	 * policy and has its own responses. NULL when HSTS is off. */
	struct snap *https;
	bool twin;                /* this is some snapshot's https */
};

/* The current snapshot, without a reference: valid only on a registered
 * reader thread between snap_reader_online() and snap_reader_offline().
 * Never NULL once the first snapshot is published; never blocks. */
const struct snap *snap_current(void);

/* Looks up a normalised path in the cut; NULL if absent. Pure,
 * thread-safe. */
const struct slot *snap_lookup(const struct snap *s, const char *path);

/* Looks up a normalised path among the files kept from earlier cuts (skew
 * protection); NULL if absent. Ask snap_lookup() first: the cut's own
 * file wins. Pure, thread-safe. */
const struct slot *snap_lookup_kept(const struct snap *s, const char *path);

/* Whether this origin is behind its fleet (snap_behind_set()). One
 * relaxed atomic load: for the request path. */
bool snap_behind(void);

/* For the builder and the request path: a response sending e's body (or
 * gz, its gzip variant, when not NULL) that holds a reference on e until
 * it is freed. NULL on out-of-memory. */
struct MHD_Response *snap_body_response(struct entry *e, const struct entry_gz *gz);

/* For the builder (snap_build.c): inserts slot number k into s's index
 * (sized by the builder), replacing an earlier slot of the same path.
 * Returns the slot number that lost, or -1. */
long snap_index_put(struct snap *s, size_t k);

/* For tests of age pruning: the builder's "now" (replaced times, the
 * keep_minutes check); 0 or never called: time(NULL) at finish. */
void snap_builder_set_now(struct snap_builder *b, time_t now);

/* The same for s's kept files (kept_index over kept). */
long snap_kept_index_put(struct snap *s, size_t k);

/* Attaches sl's gzip responses (sl->gz) when its entry's variant exists
 * and they are not there yet; a no-op otherwise. s is the snapshot (or
 * HTTPS twin) that holds sl. For the builder and the variant thread only
 * (one writer per slot). RC_OK or RC_NOMEM (sl left without them). */
enum rc snap_slot_attach_gz(const struct snap *s, struct slot *sl);

/* For the builder: frees a snapshot that was never published (or whose
 * last reference is gone), its responses and its entry references. */
void snap_free(struct snap *s);

/* ---- the response policy (policy.c) ---- */

/* Adds the headers every response for slot carries (type, ETag, caching
 * with the CDN's TTL and purge tags, cut, nosniff, frame-ancestors,
 * rules), from s's own policy. gz selects the gzip variant; status 304
 * leaves out the body's metadata; behind makes a per-cut file
 * non-cacheable (POLICY_BEHIND_CACHE_CONTROL, no CDN TTL). Used for the
 * prebuilt responses and for per-request 206 and 416 responses. Returns
 * RC_OK or RC_NOMEM. Thread-safe: reads only s. */
enum rc policy_add_headers(struct MHD_Response *r, const struct snap *s,
			   const struct slot *sl, bool gz, unsigned status, bool behind);

/* Adds the headers every response carries, errors and redirects included:
 * X-PREP-Cut, nosniff and (with csp) the frame-ancestors policy. Returns
 * RC_OK or RC_NOMEM. Thread-safe. */
enum rc policy_add_cut_headers(struct MHD_Response *r, const struct snap *s,
			       bool csp);

/* For the builder, once every slot is in s: makes s's error responses
 * (s->err, s->err_len, s->nf) and picks its SPA fallback and 404 page.
 * Returns RC_OK or RC_NOMEM; what was made is freed with s. */
enum rc policy_build_pages(struct snap *s);

/* The names http.c uses. */
static inline enum rc snap_add_headers(struct MHD_Response *r,
				       const struct snap *s,
				       const struct slot *sl, bool gz,
				       unsigned status, bool behind)
{
	return policy_add_headers(r, s, sl, gz, status, behind);
}

static inline enum rc snap_add_cut_headers(struct MHD_Response *r,
					   const struct snap *s, bool csp)
{
	return policy_add_cut_headers(r, s, csp);
}

/* Reader threads (quiescent-state reclamation): a worker registers once,
 * goes offline before it blocks in poll() and online after, and may only
 * use snap_current() while online. A publish waits for every online reader
 * to pass through offline before freeing the old snapshot. Each returns
 * false only when SNAP_MAX_READERS threads are already registered. */
bool snap_reader_register(void);
void snap_reader_unregister(void);
void snap_reader_online(void);
void snap_reader_offline(void);

#endif
