/* Snapshot internals for the request path (http.c). Not for ingest/. */
#ifndef PREPD_SNAP_INT_H
#define PREPD_SNAP_INT_H

#include <microhttpd.h>
#include <stdatomic.h>

#include "server/snap.h"
#include "server/util.h"

/* A file's content and everything derived from it alone. Shared between
 * snapshots; freed when the last snapshot slot and the last libmicrohttpd
 * response using its bytes are gone. */
struct entry {
	_Atomic long refs;
	unsigned char sha[SHA256_BYTES];
	const struct mime *mime;
	char ctype[96];
	char etag[24];        /* "\"<16 hex>\"" */
	char etag_gz[28];     /* "\"<16 hex>-gz\"" */
	char lastmod[32];     /* IMF-fixdate */
	time_t mtime;
	const unsigned char *data;
	size_t len;
	bool owned;           /* data is ours to free */
	unsigned char *gz;    /* NULL when gzip would not be smaller */
	size_t gz_len;
};

/* A path in one snapshot, with its prebuilt responses. */
struct slot {
	char *path;
	struct entry *e;
	struct MHD_Response *ok;      /* 200, identity */
	struct MHD_Response *ok_gz;   /* 200, gzip; NULL without a gzip variant */
	struct MHD_Response *nm;      /* 304 for the identity ETag */
	struct MHD_Response *nm_gz;   /* 304 for the gzip ETag */
};

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
	struct slot *slots;
	size_t nslots;
	uint32_t *index;          /* open addressing: slot number + 1, 0 empty */
	size_t index_mask;
	const struct slot *fallback;   /* SPA fallback (index.html), or NULL */
	const struct slot *notfound;   /* the package's 404.html, or NULL */
	struct MHD_Response *err[SNAP_ERR_COUNT];
	size_t err_len[SNAP_ERR_COUNT];
};

/* The current snapshot, without a reference: valid only on a registered
 * reader thread between snap_reader_online() and snap_reader_offline().
 * Never NULL once the first snapshot is published; never blocks. */
const struct snap *snap_current(void);

/* Looks up a normalised path; NULL if absent. Pure, thread-safe. */
const struct slot *snap_lookup(const struct snap *s, const char *path);

/* Adds the headers every response for slot carries (type, ETag, caching,
 * cut, nosniff, frame-ancestors, rules). gz selects the gzip variant;
 * status 304 leaves out the body's metadata. Used for the prebuilt
 * responses and for per-request 206 and 416 responses. */
enum rc snap_add_headers(struct MHD_Response *r, const struct snap *s,
			 const struct slot *sl, bool gz, unsigned status);

/* Adds the headers every response carries, errors and redirects included:
 * X-PREP-Cut, nosniff and (with csp) the frame-ancestors policy. */
enum rc snap_add_cut_headers(struct MHD_Response *r, const struct snap *s,
			     bool csp);

/* Releases an entry reference (from a response's free callback). */
void entry_release(struct entry *e);

/* Takes an entry reference. */
void entry_acquire(struct entry *e);

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
