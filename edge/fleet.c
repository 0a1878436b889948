/* The fleet view (see fleet.h): one thread reads every peer's cut with a
 * HEAD request each poll, and releases each published cut's purge once
 * the healthy peers serve it. */
#include "edge/fleet.h"
#include "server/limits.h"
#include "server/log.h"
#include "server/snap.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the decision logic ---- */

int fleet_compare(const struct cut *a, const struct cut *b)
{
	/* seq 0 is the built-in placeholder: older than any cut. */
	if (!a->seq || !b->seq)
		return a->seq ? 1 : b->seq ? -1 : 0;
	if (a->label[0] && !strcmp(a->label, b->label))
		return 0;
	int order;
	if (cut_order(a, b, &order))
		return order;
	return FLEET_UNORDERED;
}

bool fleet_parse_header(const char *value, struct cut *out)
{
	memset(out, 0, sizeof *out);
	bool have = false;
	for (const char *p = value; p && *p;) {
		while (*p == ' ' || *p == ';')
			p++;
		size_t n = strcspn(p, ";");
		if (n > 6 && !strncmp(p, "label=", 6)) {
			size_t l = n - 6;
			while (l && p[6 + l - 1] == ' ')
				l--;
			if (!l || l >= sizeof out->label)
				return false;
			for (size_t i = 0; i < l; i++) {
				char ch = p[6 + i];
				if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
				      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
					return false;
			}
			memcpy(out->label, p + 6, l);
			out->label[l] = '\0';
			have = true;
		} else if (n > 4 && !strncmp(p, "seq=", 4)) {
			/* Only whether it is the placeholder (0) counts: each origin
			 * numbers its own publications. */
			out->seq = strtoull(p + 4, NULL, 10) ? 1 : 0;
		} else if (n > 5 && !strncmp(p, "time=", 5)) {
			char t[64];
			snprintf(t, sizeof t, "%.*s", (int)(n - 5 < 63 ? n - 5 : 63), p + 5);
			cut_set_time(out, t);
		}
		p += n;
	}
	return have;
}

enum fleet_decision fleet_decide(const struct cut *c, bool rollback,
				 const struct fleet_view *peers, size_t n,
				 uint64_t waited_ms, uint64_t max_wait_ms)
{
	bool all = true;
	for (size_t i = 0; i < n && all; i++) {
		if (!peers[i].healthy || !peers[i].known)
			continue;
		int o = fleet_compare(&peers[i].cut, c);
		all = rollback ? !strcmp(peers[i].cut.label, c->label) : (o == 0 || o == 1);
	}
	if (all)
		return FLEET_SERVED;
	return waited_ms >= max_wait_ms ? FLEET_MAX_WAIT : FLEET_WAIT;
}

bool fleet_behind(const struct cut *own, const struct fleet_view *peers, size_t n,
		  struct cut *newest)
{
	*newest = *own;
	bool behind = false;
	for (size_t i = 0; i < n; i++) {
		if (!peers[i].healthy || !peers[i].known)
			continue;
		if (fleet_compare(&peers[i].cut, newest) == 1) {
			*newest = peers[i].cut;
			behind = true;
		}
	}
	/* newest may have been raised by a peer only to equal own's instant
	 * with another label: behind means strictly newer than own. */
	return behind && fleet_compare(newest, own) == 1;
}

/* ---- the thread ---- */

struct peer {
	char url[PURGE_URL_BYTES];
	CURL *easy;
	struct curl_slist *headers;
	char got[128];               /* this poll's X-PREP-Cut */
	char errbuf[CURL_ERROR_SIZE];
	struct fleet_view view;      /* guarded by the fleet's lock */
	time_t since;
};

struct waiting {
	const struct event *ev;      /* one reference */
	uint64_t since_ms;
};

#define FLEET_WAITING_MAX 64u   /* cuts published within one max_wait */

struct fleet {
	const struct fleet_settings *cfg;
	struct fleet_hooks hooks;
	struct peer *peers;
	unsigned n;
	CURLM *multi;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;        /* guards waiting, views, stop, state */
	pthread_cond_t wake;
	struct waiting waiting[FLEET_WAITING_MAX];
	unsigned nwaiting;
	bool stop;
	bool behind;
	struct cut newest;
	uint64_t fired_served, fired_max_wait;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
	struct peer *p = ctx;
	size_t len = size * n;
	if (len > 11 && !strncasecmp(data, "X-PREP-Cut:", 11)) {
		const char *v = data + 11;
		size_t l = len - 11;
		while (l && (*v == ' ' || *v == '\t')) {
			v++;
			l--;
		}
		while (l && (v[l - 1] == '\r' || v[l - 1] == '\n' || v[l - 1] == ' '))
			l--;
		snprintf(p->got, sizeof p->got, "%.*s", (int)(l < sizeof p->got ? l : sizeof p->got - 1), v);
	}
	return len;
}

static size_t on_discard(char *data, size_t size, size_t n, void *ctx)
{
	(void)data;
	(void)ctx;
	return size * n;
}

enum rc fleet_new(const struct fleet_settings *fs, const struct fleet_hooks *hooks,
		  struct fleet **out, char *err, size_t errsz)
{
	*out = NULL;
	if (!fs->peers)
		return RC_OK;
	struct fleet *f = calloc(1, sizeof *f);
	if (!f)
		return RC_NOMEM;
	f->cfg = fs;
	f->hooks = *hooks;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->wake, NULL);
	f->peers = calloc(FLEET_MAX_PEERS, sizeof *f->peers);
	f->multi = curl_multi_init();
	if (!f->peers || !f->multi) {
		fleet_free(f);
		return RC_NOMEM;
	}
	for (const char *p = fs->peers; *p && f->n < FLEET_MAX_PEERS;) {
		size_t len = strcspn(p, " \t");
		if (!len) {
			p++;
			continue;
		}
		struct peer *pe = &f->peers[f->n++];
		snprintf(pe->url, sizeof pe->url, "%.*s", (int)len, p);
		pe->since = time(NULL);
		CURL *c = pe->easy = curl_easy_init();
		if (!c) {
			fleet_free(f);
			return RC_NOMEM;
		}
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);   /* HEAD: the cut is in the head */
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(c, CURLOPT_USERAGENT, "prepd-fleet/" PREPD_VERSION);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)fs->timeout_ms);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)fs->timeout_ms);
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, pe);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_discard);
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, pe->errbuf);
		curl_easy_setopt(c, CURLOPT_PRIVATE, pe);
		if (curl_easy_setopt(c, CURLOPT_URL, pe->url) != CURLE_OK) {
			snprintf(err, errsz, "[fleet] peers: libcurl refuses %s", pe->url);
			fleet_free(f);
			return RC_FORMAT;
		}
		p += len;
	}
	*out = f;
	return RC_OK;
}

/* One read of every peer, at once; then their views (under the lock),
 * with a log line for each peer whose health changed. */
static void poll_peers(struct fleet *f)
{
	for (unsigned i = 0; i < f->n; i++) {
		f->peers[i].got[0] = '\0';
		f->peers[i].errbuf[0] = '\0';
		curl_multi_add_handle(f->multi, f->peers[i].easy);
	}
	int running = 1;
	uint64_t deadline = now_ms() + f->cfg->timeout_ms + 100;
	while (running && now_ms() < deadline) {
		if (curl_multi_perform(f->multi, &running) != CURLM_OK)
			break;
		if (running)
			curl_multi_poll(f->multi, NULL, 0, 50, NULL);
	}
	bool done[FLEET_MAX_PEERS] = { false };
	CURLcode result[FLEET_MAX_PEERS];
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(f->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct peer *pe;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&pe);
		done[pe - f->peers] = true;
		result[pe - f->peers] = m->data.result;
	}
	for (unsigned i = 0; i < f->n; i++) {
		struct peer *pe = &f->peers[i];
		long status = 0;
		char why[200] = "";
		struct cut c;
		bool ok = false;
		if (!done[i])
			snprintf(why, sizeof why, "no answer in %ums", f->cfg->timeout_ms);
		else if (result[i] != CURLE_OK)
			snprintf(why, sizeof why, "%.190s", pe->errbuf[0] ? pe->errbuf :
				 curl_easy_strerror(result[i]));
		else if (curl_easy_getinfo(pe->easy, CURLINFO_RESPONSE_CODE, &status), status >= 500)
			snprintf(why, sizeof why, "HTTP %ld", status);
		else if (!fleet_parse_header(pe->got, &c))
			snprintf(why, sizeof why, "HTTP %ld without an X-PREP-Cut label: not a prepd",
				 status);
		else
			ok = true;
		curl_multi_remove_handle(f->multi, pe->easy);
		for (char *w = why; *w; w++)
			if (*w == '"' || *w == '\\' || *w < 0x20)
				*w = '?';
		pthread_mutex_lock(&f->lock);
		bool was = pe->view.healthy;
		if (ok) {
			bool changed = !pe->view.known || strcmp(pe->view.cut.label, c.label);
			pe->view.cut = c;
			pe->view.known = true;
			if (changed)
				log_debug("fleet peer-cut peer=%s cut=%s", pe->url, c.label);
		}
		pe->view.healthy = ok;
		if (ok != was)
			pe->since = time(NULL);
		pthread_mutex_unlock(&f->lock);
		if (ok && !was)
			log_info("fleet peer-up peer=%s cut=%s", pe->url, c.label);
		else if (!ok && was)
			log_warn("fleet peer-down peer=%s why=\"%s\" action=\"this origin's purges no "
				 "longer wait for it; check that origin (prepd check) and the network, "
				 "and take it out of the load balancer if it stays down\"", pe->url, why);
	}
}

/* Fires the waiting cuts that may go, in publish order (a later one that
 * may fire takes the earlier ones with it: its purge covers theirs). */
static void decide(struct fleet *f)
{
	struct fleet_view views[FLEET_MAX_PEERS];
	const struct event *fire[FLEET_WAITING_MAX];
	enum fleet_decision why[FLEET_WAITING_MAX];
	uint64_t waited[FLEET_WAITING_MAX];
	unsigned nfire = 0;
	uint64_t now = now_ms();
	struct snap *s = snap_acquire();
	struct cut own = *snap_cut(s);
	snap_release(s);

	pthread_mutex_lock(&f->lock);
	for (unsigned i = 0; i < f->n; i++)
		views[i] = f->peers[i].view;
	int last = -1;
	for (unsigned i = 0; i < f->nwaiting; i++) {
		const struct event *ev = f->waiting[i].ev;
		enum fleet_decision d = fleet_decide(&ev->cut, ev->kind == EVENT_ROLLBACK, views, f->n,
						     now - f->waiting[i].since_ms,
						     f->cfg->max_wait_ms);
		why[i] = d;
		if (d != FLEET_WAIT)
			last = (int)i;
	}
	for (int i = 0; i <= last; i++) {
		fire[nfire] = f->waiting[i].ev;
		waited[nfire] = now - f->waiting[i].since_ms;
		if (why[i] == FLEET_WAIT)
			why[i] = FLEET_SERVED;   /* covered by a later cut's purge */
		why[nfire] = why[i];
		nfire++;
	}
	memmove(f->waiting, f->waiting + nfire, (f->nwaiting - nfire) * sizeof *f->waiting);
	f->nwaiting -= nfire;
	for (unsigned i = 0; i < nfire; i++) {
		if (why[i] == FLEET_SERVED)
			f->fired_served++;
		else
			f->fired_max_wait++;
	}
	struct cut newest;
	bool behind = fleet_behind(&own, views, f->n, &newest);
	bool changed = behind != f->behind;
	f->behind = behind;
	f->newest = newest;
	pthread_mutex_unlock(&f->lock);

	for (unsigned i = 0; i < nfire; i++) {
		const struct event *ev = fire[i];
		if (why[i] == FLEET_SERVED) {
			log_info("fleet purge cut=%s reason=served waited_ms=%llu", ev->cut.label,
				 (unsigned long long)waited[i]);
		} else {
			char lag[1024] = "";
			size_t o = 0;
			for (unsigned p = 0; p < f->n; p++)
				if (views[p].healthy && fleet_decide(&ev->cut, ev->kind == EVENT_ROLLBACK,
								    &views[p], 1, 0, 1) != FLEET_SERVED &&
				    o + 2 < sizeof lag)
					o += (size_t)snprintf(lag + o, sizeof lag - o, "%s%s=%s",
							      o ? "," : "", f->peers[p].url,
							      views[p].cut.label);
			log_warn("fleet purge cut=%s reason=max-wait waited_ms=%llu lagging=%s "
				 "action=\"a healthy origin did not serve this cut within max_wait; "
				 "the edge may mix cuts until it does: check that origin's ingest "
				 "(GET /status)\"", ev->cut.label, (unsigned long long)waited[i],
				 lag[0] ? lag : "-");
		}
		if (f->hooks.ready)
			f->hooks.ready(ev, f->hooks.ctx);
		event_release(ev);
	}
	if (changed) {
		if (behind)
			log_warn("fleet behind cut=%s newest=%s action=\"a peer serves a newer cut: "
				 "this origin's per-cut responses are not cached until its ingest "
				 "catches up (check GET /status)\"", own.label, newest.label);
		else
			log_info("fleet caught-up cut=%s", own.label);
		if (f->hooks.on_behind)
			f->hooks.on_behind(behind, f->hooks.ctx);
	}
}

static void *fleet_main(void *arg)
{
	struct fleet *f = arg;
	uint64_t next = now_ms();
	bool reported_unknown = false;
	for (;;) {
		if (now_ms() >= next) {
			poll_peers(f);
			next = now_ms() + f->cfg->poll_ms;
			if (!reported_unknown) {
				/* A peer never seen healthy at start is reported once. */
				for (unsigned i = 0; i < f->n; i++)
					if (!f->peers[i].view.known)
						log_warn("fleet peer-down peer=%s why=\"%s\" action=\"this "
							 "origin's purges do not wait for it; check that "
							 "origin and [fleet] peers\"", f->peers[i].url,
							 f->peers[i].errbuf[0] ? f->peers[i].errbuf :
							 "no answer or no X-PREP-Cut");
				reported_unknown = true;
			}
		}
		decide(f);
		pthread_mutex_lock(&f->lock);
		uint64_t now = now_ms();
		if (!f->stop && next > now) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			uint64_t w = next - now;
			until.tv_sec += (time_t)(w / 1000);
			until.tv_nsec += (long)(w % 1000) * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&f->wake, &f->lock, &until);
		}
		bool stop = f->stop;
		pthread_mutex_unlock(&f->lock);
		if (stop)
			break;
	}
	return NULL;
}

void fleet_on_publish(const struct event *ev, void *ctx)
{
	struct fleet *f = ctx;
	pthread_mutex_lock(&f->lock);
	if (f->nwaiting == FLEET_WAITING_MAX) {
		/* Full: the oldest goes now; the newer cuts' purges cover it. */
		const struct event *old = f->waiting[0].ev;
		memmove(f->waiting, f->waiting + 1, (FLEET_WAITING_MAX - 1) * sizeof *f->waiting);
		f->nwaiting--;
		pthread_mutex_unlock(&f->lock);
		log_warn("fleet waiting-full cut=%s action=\"cuts come faster than the fleet serves "
			 "them; the newer cuts' purges cover this one\"", old->cut.label);
		event_release(old);
		pthread_mutex_lock(&f->lock);
	}
	f->waiting[f->nwaiting].ev = event_acquire(ev);
	f->waiting[f->nwaiting].since_ms = now_ms();
	f->nwaiting++;
	pthread_cond_signal(&f->wake);   /* decide now, against the last poll */
	pthread_mutex_unlock(&f->lock);
}

enum rc fleet_start(struct fleet *f)
{
	if (!f)
		return RC_OK;
	if (pthread_create(&f->thread, NULL, fleet_main, f))
		return RC_NOMEM;
	f->started = true;
	return RC_OK;
}

unsigned fleet_state(struct fleet *f, struct fleet_state *out, struct fleet_peer_state *peers,
		     unsigned max)
{
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&f->lock);
	out->behind = f->behind;
	snprintf(out->newest, sizeof out->newest, "%s", f->newest.label);
	out->peers = f->n;
	out->waiting = f->nwaiting;
	out->fired_served = f->fired_served;
	out->fired_max_wait = f->fired_max_wait;
	for (unsigned i = 0; i < f->n; i++) {
		out->healthy += f->peers[i].view.healthy;
		if (peers && i < max) {
			snprintf(peers[i].url, sizeof peers[i].url, "%.255s", f->peers[i].url);
			peers[i].healthy = f->peers[i].view.healthy;
			peers[i].known = f->peers[i].view.known;
			snprintf(peers[i].label, sizeof peers[i].label, "%s", f->peers[i].view.cut.label);
			peers[i].since = f->peers[i].since;
		}
	}
	pthread_mutex_unlock(&f->lock);
	return f->n;
}

void fleet_free(struct fleet *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stop = true;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
	if (f->started)
		pthread_join(f->thread, NULL);
	if (f->nwaiting)
		log_warn("fleet stopped waiting=%u action=\"these cuts were not purged; the next "
			 "start's first publish purges again\"", f->nwaiting);
	for (unsigned i = 0; i < f->nwaiting; i++)
		event_release(f->waiting[i].ev);
	for (unsigned i = 0; f->peers && i < f->n; i++)
		if (f->peers[i].easy)
			curl_easy_cleanup(f->peers[i].easy);
	if (f->multi)
		curl_multi_cleanup(f->multi);
	free(f->peers);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->wake);
	free(f);
}
