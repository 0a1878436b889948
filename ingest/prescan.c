#include "ingest/prescan.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>

struct prescan {
	const struct unpack_limits *lim;
	gnutls_hash_hd_t h;        /* NULL until the first begin */
	struct scan_stream *scan;
	uint64_t bytes;
	bool began, ended, failed;   /* failed: memory ran out */
	struct prescan_result res;
	struct scan_tar tar;
};

struct prescan *prescan_new(const struct unpack_limits *lim)
{
	struct prescan *p = calloc(1, sizeof *p);
	if (p)
		p->lim = lim;
	return p;
}

static void drop(struct prescan *p)
{
	if (p->h)
		gnutls_hash_deinit(p->h, NULL);
	p->h = NULL;
	scan_stream_free(p->scan);
	p->scan = NULL;
	scan_tar_release(&p->tar);
}

void prescan_begin(void *ctx)
{
	struct prescan *p = ctx;
	if (p->ended)
		return;
	drop(p);
	p->bytes = 0;
	p->began = true;
	p->failed = gnutls_hash_init(&p->h, GNUTLS_DIG_SHA256) < 0;
	if (p->failed)
		p->h = NULL;
	if (!p->failed && !(p->scan = scan_stream_new_flags(p->lim, SCAN_KEEP_TAR)))
		p->failed = true;
}

void prescan_observe(void *ctx, const void *buf, size_t n)
{
	struct prescan *p = ctx;
	if (p->ended || !p->began || p->failed || !n)
		return;
	/* Like util.c's sha256(): hashing only fails for an unknown
	 * algorithm. */
	if (gnutls_hash(p->h, buf, n) < 0)
		abort();
	scan_stream_observe(p->scan, buf, n);
	p->bytes += n;
}

void prescan_end(struct prescan *p)
{
	if (p->ended)
		return;
	p->ended = true;
	if (!p->began || p->failed) {
		p->failed = true;
		drop(p);
		return;
	}
	gnutls_hash_deinit(p->h, p->res.sha);
	p->h = NULL;
	p->res.scan_rc = scan_stream_finish(p->scan, &p->res.se);
	p->res.confirm = scan_stream_confirm(p->scan);
	if (p->res.scan_rc == RC_NOMEM)
		p->failed = true;   /* the file is read again, as before */
	else if (!p->res.scan_rc)
		scan_stream_take_tar(p->scan, &p->tar);
	scan_stream_free(p->scan);
	p->scan = NULL;
}

bool prescan_usable(const struct prescan *p, uint64_t bytes)
{
	return p && p->ended && !p->failed && p->bytes == bytes;
}

const struct prescan_result *prescan_result(const struct prescan *p)
{
	return &p->res;
}

bool prescan_take_tar(struct prescan *p, struct scan_tar *out)
{
	*out = p->tar;
	memset(&p->tar, 0, sizeof p->tar);
	return out->p != NULL;
}

uint64_t prescan_bytes(const struct prescan *p)
{
	return p->bytes;
}

void prescan_free(struct prescan *p)
{
	if (!p)
		return;
	drop(p);
	free(p);
}
