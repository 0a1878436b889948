#include "server/shield.h"

#include "server/incident.h"
#include "server/log.h"
#include "server/util.h"

#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <stdint.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <threads.h>
#include <unistd.h>

#define NS_PER_S   1000000000ull
#define MINUTE_NS  (60ull * NS_PER_S)
#define SHARD_SLOTS (SHIELD_CLIENTS_MAX / SHIELD_SHARDS)
/* Open addressing stays quick below 7/8 full. */
#define SHARD_FULL (SHARD_SLOTS / 8 * 7)
_Static_assert((SHARD_SLOTS & (SHARD_SLOTS - 1)) == 0, "shard size must be a power of two");

/* One client's state. family 0 marks a free slot. */
struct client {
	uint8_t key[16];
	uint16_t family;
	uint32_t conns;
	uint32_t breaches[SHIELD_RULES];   /* since the rule's last log line */
	uint64_t tat;                      /* token bucket as GCRA: the
					    * theoretical arrival time, ns */
	uint64_t blocked_until;
	uint64_t last_log[SHIELD_RULES];
};

struct shard {
	pthread_mutex_t lock;
	unsigned n;
	struct client *slot;
} __attribute__((aligned(64)));

/* A breach to log and send, filled under the lock, used after it. */
struct note {
	bool due;
	enum shield_rule rule;
	enum shield_action action;
	uint32_t breaches;
	/* the rule's figures when it was broken (a reload may change them
	 * before the webhook sends) */
	unsigned limit, rate, burst, block_minutes;
	char client[REQREC_ADDR_TEXT_BYTES + 8];
};

struct hook_event {
	struct note note;
	struct timespec when;
};

/* The rules a reload may change, immutable once published: every call
 * reads them through one pointer (shield->rules), and a reload swaps in a
 * new one (shield_reload()) and frees the old one once no thread can
 * still be reading it. */
struct ruleset {
	struct proxy_nets exempt;
	bool limits_on;
	unsigned conn_limit, rate, burst, block_minutes;
	enum shield_action conn_action, rate_action;
	uint64_t interval_ns;     /* one token, ns */
	uint64_t window_ns;       /* burst tokens, ns */
	char *webhook;            /* NULL: none */
};

struct shield {
	/* The start-up settings: the parts no reload changes
	 * (trusted_proxies, client_header, proxy_protocol, ipv6_prefix),
	 * which worker.c reads through shield_settings(). */
	const struct shield_settings *set;
	struct proxy_nets trusted;
	_Atomic(struct ruleset *) rules;
	pthread_mutex_t reload_lock;   /* one reload at a time */
	uint64_t seed;
	_Atomic(struct shard *) shards;   /* made when some rules first limit */
	_Atomic uint64_t counters[SHIELD_COUNTERS];
	_Atomic uint64_t table_full_logged;

	/* The webhook: a bounded ring, its thread (started when some rules
	 * first name a webhook). */
	_Atomic bool hook_on;
	pthread_t hook_tid;
	pthread_mutex_t hook_lock;
	pthread_cond_t hook_cond;
	bool hook_stop;
	unsigned hook_head, hook_len;
	struct hook_event hook_q[SHIELD_WEBHOOK_QUEUE];
	uint64_t hook_failing_since;   /* webhook thread only */
};

static const char *const action_names[SHIELD_ACTIONS] = { "log", "429", "close", "block" };
static const char *const rule_names[SHIELD_RULES] = { "connections", "rate" };
static const char *const counter_names[SHIELD_COUNTERS] = {
	"connections_log", "connections_429", "connections_close", "connections_block",
	"rate_log", "rate_429", "rate_close", "rate_block",
	"blocked_refused", "table_full", "header_timeout", "evicted_idle", "evicted_slow",
	"refused_full", "proxy_header_bad", "tls_handshakes_queued", "webhook_sent",
	"webhook_failed",
	"webhook_dropped",
};

/* ---- readers of the rules (quiescent-state reclamation, as snap.c) ----
 * Each thread that reads the rules has a slot whose counter is odd while
 * it may hold a rules pointer (one call: enter() ... leave(), never
 * nested). shield_reload() swaps the pointer, waits until every slot
 * that was odd has moved on, then frees the old rules. Entering and
 * leaving is one atomic add each on the thread's own cache line: no lock,
 * no system call, nothing shared between workers. A thread finds its slot
 * on its first call and gives it back when it exits. */
struct reader {
	_Atomic uint64_t ctr;
	_Atomic bool used;
} __attribute__((aligned(64)));

static struct reader readers[SHIELD_MAX_READERS];
/* Threads inside a call without a slot (all taken): counted together. */
static _Atomic unsigned overflow_inside;
static thread_local int my_slot = -1;   /* -1: none yet; -2: none free */
static pthread_key_t slot_key;
static pthread_once_t slot_once = PTHREAD_ONCE_INIT;

static void slot_give_back(void *v)
{
	intptr_t i = (intptr_t)v - 1;
	if (i >= 0 && (size_t)i < SHIELD_MAX_READERS)
		atomic_store(&readers[i].used, false);
}

static void slot_key_make(void)
{
	if (pthread_key_create(&slot_key, slot_give_back))
		slot_key = (pthread_key_t)-1;
}

static void slot_take(void)
{
	my_slot = -2;
	pthread_once(&slot_once, slot_key_make);
	for (unsigned i = 0; i < SHIELD_MAX_READERS; i++) {
		bool f = false;
		if (atomic_compare_exchange_strong(&readers[i].used, &f, true)) {
			/* The counter is even: a slot is given back outside a call. */
			if (pthread_setspecific(slot_key, (void *)(intptr_t)(i + 1))) {
				atomic_store(&readers[i].used, false);
				return;
			}
			my_slot = (int)i;
			return;
		}
	}
}

static const struct ruleset *enter(struct shield *sh)
{
	if (my_slot == -1)
		slot_take();
	if (my_slot >= 0)
		atomic_fetch_add(&readers[my_slot].ctr, 1);
	else
		atomic_fetch_add(&overflow_inside, 1);
	return atomic_load(&sh->rules);
}

static void leave(void)
{
	if (my_slot >= 0)
		atomic_fetch_add(&readers[my_slot].ctr, 1);
	else
		atomic_fetch_sub(&overflow_inside, 1);
}

/* Returns once no thread can hold a rules pointer loaded before the call. */
static void synchronize(void)
{
	for (unsigned i = 0; i < SHIELD_MAX_READERS; i++) {
		if (!atomic_load(&readers[i].used) || (int)i == my_slot)
			continue;
		uint64_t seen = atomic_load(&readers[i].ctr);
		if (!(seen & 1))
			continue;
		while (atomic_load(&readers[i].ctr) == seen && atomic_load(&readers[i].used))
			sched_yield();
	}
	/* Threads without a slot are counted together: wait for none inside
	 * (only ever more than SHIELD_MAX_READERS threads). */
	while (atomic_load(&overflow_inside))
		sched_yield();
}

const char *shield_action_name(enum shield_action a)
{
	return (unsigned)a < SHIELD_ACTIONS ? action_names[a] : "?";
}

const char *shield_rule_name(enum shield_rule r)
{
	return (unsigned)r < SHIELD_RULES ? rule_names[r] : "?";
}

const char *shield_counter_name(enum shield_counter c)
{
	return (unsigned)c < SHIELD_COUNTERS ? counter_names[c] : "?";
}

void shield_count(struct shield *sh, enum shield_counter c, uint64_t n)
{
	if (sh && (unsigned)c < SHIELD_COUNTERS)
		atomic_fetch_add_explicit(&sh->counters[c], n, memory_order_relaxed);
}

uint64_t shield_counter(const struct shield *sh, enum shield_counter c)
{
	if (!sh || (unsigned)c >= SHIELD_COUNTERS)
		return 0;
	return atomic_load_explicit(&((struct shield *)sh)->counters[c], memory_order_relaxed);
}

bool shield_trusted(const struct shield *sh, const struct reqrec_addr *peer)
{
	return sh->trusted.n && proxy_nets_match(&sh->trusted, peer);
}

const struct shield_settings *shield_settings(const struct shield *sh)
{
	return sh->set;
}

const struct proxy_nets *shield_trusted_nets(const struct shield *sh)
{
	return &sh->trusted;
}

/* The table key: the address, IPv6 cut to its prefix. */
static void make_key(const struct shield *sh, const struct reqrec_addr *a,
		     uint8_t key[16], uint16_t *family)
{
	memset(key, 0, 16);
	*family = a->family;
	if (a->family == AF_INET) {
		memcpy(key, a->addr, 4);
		return;
	}
	unsigned bits = sh->set->ipv6_prefix;
	memcpy(key, a->addr, bits / 8);
	if (bits % 8)
		key[bits / 8] = (uint8_t)(a->addr[bits / 8] & (0xff << (8 - bits % 8)));
}

static void key_text(const struct shield *sh, const uint8_t key[16], uint16_t family,
		     char *out, size_t outsz)
{
	struct reqrec_addr a = { .family = family };
	memcpy(a.addr, key, 16);
	char ip[REQREC_ADDR_TEXT_BYTES];
	reqrec_addr_format(&a, ip, sizeof ip);
	if (family == AF_INET6 && sh->set->ipv6_prefix < 128)
		snprintf(out, outsz, "%s/%u", ip, sh->set->ipv6_prefix);
	else
		snprintf(out, outsz, "%s", ip);
}

/* A keyed mix (the seed is random per run) so that addresses an attacker
 * picks cannot be aimed at one shard or one probe chain. */
static uint64_t key_hash(const struct shield *sh, const uint8_t key[16], uint16_t family)
{
	uint64_t a, b;
	memcpy(&a, key, 8);
	memcpy(&b, key + 8, 8);
	uint64_t h = sh->seed ^ family;
	h ^= a * 0x9E3779B97F4A7C15ull;
	h = (h ^ (h >> 31)) * 0xBF58476D1CE4E5B9ull;
	h ^= b * 0xC2B2AE3D27D4EB4Full;
	h = (h ^ (h >> 29)) * 0x94D049BB133111EBull;
	return h ^ (h >> 32);
}

static bool reclaimable(const struct client *c, uint64_t now)
{
	for (int r = 0; r < SHIELD_RULES; r++)
		if (c->last_log[r] && now - c->last_log[r] < MINUTE_NS)
			return false;
	return c->conns == 0 && c->tat <= now && c->blocked_until <= now;
}

/* Removes slot i by shifting the rest of its probe chain back, so the
 * table needs no tombstones. */
static void remove_at(struct shard *s, unsigned i, const struct shield *sh)
{
	unsigned mask = SHARD_SLOTS - 1, j = i;
	for (;;) {
		j = (j + 1) & mask;
		struct client *c = &s->slot[j];
		if (!c->family)
			break;
		unsigned home = (unsigned)key_hash(sh, c->key, c->family) & mask;
		/* Move c back to i unless its home lies cyclically in (i, j]. */
		bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
		if (!stays) {
			s->slot[i] = *c;
			i = j;
		}
	}
	memset(&s->slot[i], 0, sizeof s->slot[i]);
	s->n--;
}

static void sweep(struct shard *s, const struct shield *sh, uint64_t now)
{
	for (unsigned i = 0; i < SHARD_SLOTS; i++)
		while (s->slot[i].family && reclaimable(&s->slot[i], now))
			remove_at(s, i, sh);
}

/* The client's entry, made if missing; NULL when the shard is full of
 * clients that all still matter. Call with the shard locked. */
static struct client *find(struct shield *sh, struct shard *s, const uint8_t key[16],
			   uint16_t family, uint64_t h, uint64_t now, bool create)
{
	unsigned mask = SHARD_SLOTS - 1;
	for (int attempt = 0; attempt < 2; attempt++) {
		for (unsigned i = (unsigned)h & mask;; i = (i + 1) & mask) {
			struct client *c = &s->slot[i];
			if (!c->family) {
				if (!create)
					return NULL;
				if (s->n >= SHARD_FULL)
					break;
				memcpy(c->key, key, 16);
				c->family = family;
				s->n++;
				return c;
			}
			if (c->family == family && !memcmp(c->key, key, 16))
				return c;
		}
		sweep(s, sh, now);
	}
	return NULL;
}

static struct shard *shard_of(struct shield *sh, uint64_t h)
{
	return &atomic_load(&sh->shards)[h >> 58 & (SHIELD_SHARDS - 1)];
}

/* A rule was broken: apply its action to c and say what the caller does.
 * Fills *note when this breach is to be logged (once a minute). Call with
 * the shard locked. */
static struct shield_decision breach(struct shield *sh, const struct ruleset *r,
				     struct client *c, enum shield_rule rule, bool via_header,
				     unsigned retry_after, uint64_t now, struct note *note)
{
	enum shield_action a = rule == SHIELD_RULE_CONN ? r->conn_action : r->rate_action;
	shield_count(sh, (enum shield_counter)(rule * SHIELD_ACTIONS + a), 1);
	c->breaches[rule]++;
	if (!c->last_log[rule] || now - c->last_log[rule] >= MINUTE_NS) {
		note->due = true;
		note->rule = rule;
		note->action = a;
		note->breaches = c->breaches[rule];
		note->limit = r->conn_limit;
		note->rate = r->rate;
		note->burst = r->burst;
		note->block_minutes = r->block_minutes;
		c->breaches[rule] = 0;
		c->last_log[rule] = now ? now : 1;
	}
	struct shield_decision d = { SHIELD_PASS, 0 };
	switch (a) {
	case SHIELD_LOG:
		break;
	case SHIELD_429:
		d = (struct shield_decision){ SHIELD_REFUSE, retry_after ? retry_after : 1 };
		break;
	case SHIELD_CLOSE:
		d.verdict = SHIELD_DROP;
		break;
	case SHIELD_BLOCK:
	case SHIELD_ACTIONS:
		c->blocked_until = now + r->block_minutes * MINUTE_NS;
		d = via_header ? (struct shield_decision){ SHIELD_REFUSE, r->block_minutes * 60 }
			       : (struct shield_decision){ SHIELD_DROP, 0 };
		break;
	}
	return d;
}

static void hook_push(struct shield *sh, const struct note *n);

/* Outside the lock: the log line and the webhook event. */
static void tell(struct shield *sh, const struct ruleset *r, struct note *n)
{
	if (!n->due)
		return;
	char limit[64];
	if (n->rule == SHIELD_RULE_RATE)
		snprintf(limit, sizeof limit, "%u/s burst=%u", n->rate, n->burst);
	else
		snprintf(limit, sizeof limit, "%u", n->limit);
	char minutes[32] = "";
	if (n->action == SHIELD_BLOCK)
		snprintf(minutes, sizeof minutes, " minutes=%u", n->block_minutes);
	log_warn("shield limit-exceeded client=%s rule=%s limit=%s did=%s%s breaches=%u "
		 "action=\"%s\"", n->client, rule_names[n->rule], limit, action_names[n->action],
		 minutes, n->breaches,
		 sh->trusted.n ? "if this address is a proxy or CDN of yours, add it to [shield] "
				 "trusted_proxies; otherwise nothing to do, prepd holds the line"
			       : "if prepd is behind a proxy or CDN, set [shield] trusted_proxies "
				 "so limits apply to visitors, not to it; otherwise nothing to do");
	incident_shield(rule_names[n->rule], n->client, action_names[n->action], n->breaches);
	if (r->webhook && atomic_load(&sh->hook_on))
		hook_push(sh, n);
}

static void table_full(struct shield *sh, uint64_t now)
{
	shield_count(sh, SHIELD_C_TABLE_FULL, 1);
	uint64_t last = atomic_load(&sh->table_full_logged);
	if ((last && now - last < MINUTE_NS) ||
	    !atomic_compare_exchange_strong(&sh->table_full_logged, &last, now ? now : 1))
		return;
	log_warn("shield table-full clients=%u action=\"more distinct clients than the limits "
		 "can follow; new ones are served without limits until old ones expire\"",
		 SHIELD_CLIENTS_MAX);
}

struct shield_decision shield_conn_open(struct shield *sh, const struct reqrec_addr *client,
					uint64_t now)
{
	struct shield_decision d = { SHIELD_PASS, 0 };
	const struct ruleset *r = enter(sh);
	if (!r->limits_on || !client->family ||
	    (r->exempt.n && proxy_nets_match(&r->exempt, client))) {
		leave();
		return d;
	}
	uint8_t key[16];
	uint16_t fam;
	make_key(sh, client, key, &fam);
	uint64_t h = key_hash(sh, key, fam);
	struct shard *s = shard_of(sh, h);
	struct note note = { .due = false };
	bool full = false;
	pthread_mutex_lock(&s->lock);
	struct client *c = find(sh, s, key, fam, h, now, true);
	if (!c) {
		full = true;
	} else if (c->blocked_until > now) {
		d.verdict = SHIELD_DROP;
		shield_count(sh, SHIELD_C_BLOCKED, 1);
	} else if (r->conn_limit && c->conns >= r->conn_limit) {
		d = breach(sh, r, c, SHIELD_RULE_CONN, false, 1, now, &note);
		if (d.verdict == SHIELD_PASS)
			c->conns++;
	} else {
		c->conns++;
	}
	pthread_mutex_unlock(&s->lock);
	if (full) {
		/* Not counted: shield_conn_close() will find nothing to drop. */
		leave();
		table_full(sh, now);
		return d;
	}
	if (note.due)
		key_text(sh, key, fam, note.client, sizeof note.client);
	tell(sh, r, &note);
	leave();
	return d;
}

void shield_conn_close(struct shield *sh, const struct reqrec_addr *client)
{
	/* Not the rules: the connection was counted under the rules of its
	 * opening, and a reload since (limits off, the client now exempt)
	 * must not leave its count behind. */
	if (!atomic_load(&sh->shards) || !client->family)
		return;
	uint8_t key[16];
	uint16_t fam;
	make_key(sh, client, key, &fam);
	uint64_t h = key_hash(sh, key, fam);
	struct shard *s = shard_of(sh, h);
	pthread_mutex_lock(&s->lock);
	struct client *c = find(sh, s, key, fam, h, 0, false);
	if (c && c->conns)
		c->conns--;
	pthread_mutex_unlock(&s->lock);
}

struct shield_decision shield_request(struct shield *sh, const struct reqrec_addr *client,
				      bool via_header, uint64_t now)
{
	struct shield_decision d = { SHIELD_PASS, 0 };
	const struct ruleset *r = enter(sh);
	if (!r->limits_on || !client->family ||
	    (r->exempt.n && proxy_nets_match(&r->exempt, client))) {
		leave();
		return d;
	}
	uint8_t key[16];
	uint16_t fam;
	make_key(sh, client, key, &fam);
	uint64_t h = key_hash(sh, key, fam);
	struct shard *s = shard_of(sh, h);
	struct note note = { .due = false };
	bool full = false;
	pthread_mutex_lock(&s->lock);
	struct client *c = find(sh, s, key, fam, h, now, true);
	if (!c) {
		full = true;
	} else if (c->blocked_until > now) {
		uint64_t left = c->blocked_until - now;
		d = via_header ? (struct shield_decision){ SHIELD_REFUSE,
							   (unsigned)((left + NS_PER_S - 1) / NS_PER_S) }
			       : (struct shield_decision){ SHIELD_DROP, 0 };
		shield_count(sh, SHIELD_C_BLOCKED, 1);
	} else if (r->rate) {
		/* GCRA, the token bucket kept as one time: a request is taken
		 * when the bucket's "theoretical arrival time" after it is
		 * within burst tokens of now. A reload that lowers the burst
		 * may leave a tat further out than the new window: the client
		 * then waits for it, as it would have. */
		uint64_t tat = (c->tat > now ? c->tat : now) + r->interval_ns;
		if (tat - now <= r->window_ns) {
			c->tat = tat;
		} else {
			uint64_t wait = tat - now - r->window_ns;
			d = breach(sh, r, c, SHIELD_RULE_RATE, via_header,
				   (unsigned)((wait + NS_PER_S - 1) / NS_PER_S), now, &note);
			/* "log" serves the request: it spends its token. */
			if (d.verdict == SHIELD_PASS)
				c->tat = tat;
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (full) {
		leave();
		table_full(sh, now);
		return d;
	}
	if (note.due)
		key_text(sh, key, fam, note.client, sizeof note.client);
	tell(sh, r, &note);
	leave();
	return d;
}

unsigned shield_clients(struct shield *sh)
{
	struct shard *shards = sh ? atomic_load(&sh->shards) : NULL;
	if (!shards)
		return 0;
	unsigned n = 0;
	for (unsigned i = 0; i < SHIELD_SHARDS; i++) {
		pthread_mutex_lock(&shards[i].lock);
		n += shards[i].n;
		pthread_mutex_unlock(&shards[i].lock);
	}
	return n;
}

/* The webhook. */

static void hook_push(struct shield *sh, const struct note *n)
{
	pthread_mutex_lock(&sh->hook_lock);
	if (sh->hook_len == SHIELD_WEBHOOK_QUEUE || sh->hook_stop) {
		pthread_mutex_unlock(&sh->hook_lock);
		shield_count(sh, SHIELD_C_WEBHOOK_DROPPED, 1);
		return;
	}
	struct hook_event *e = &sh->hook_q[(sh->hook_head + sh->hook_len++) % SHIELD_WEBHOOK_QUEUE];
	e->note = *n;
	clock_gettime(CLOCK_REALTIME, &e->when);
	pthread_cond_signal(&sh->hook_cond);
	pthread_mutex_unlock(&sh->hook_lock);
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

/* POSTs one event; true on a 2xx answer. */
static bool hook_send(CURL *curl, const char *url, const struct hook_event *e, char *why,
		      size_t whysz)
{
	struct tm tm;
	gmtime_r(&e->when.tv_sec, &tm);
	char when[32], host[256] = "";
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	gethostname(host, sizeof host - 1);
	for (char *p = host; *p; p++)   /* a host name needs no escaping; be sure */
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
			*p = '_';
	char body[1024];
	int len;
	if (e->note.rule == SHIELD_RULE_RATE)
		len = snprintf(body, sizeof body,
			       "{\"event\":\"limit-exceeded\",\"time\":\"%s\",\"host\":\"%s\","
			       "\"client\":\"%s\",\"rule\":\"rate\",\"rate\":%u,\"burst\":%u,"
			       "\"action\":\"%s\",\"block_minutes\":%u,\"breaches\":%u}",
			       when, host, e->note.client, e->note.rate, e->note.burst,
			       action_names[e->note.action],
			       e->note.action == SHIELD_BLOCK ? e->note.block_minutes : 0,
			       e->note.breaches);
	else
		len = snprintf(body, sizeof body,
			       "{\"event\":\"limit-exceeded\",\"time\":\"%s\",\"host\":\"%s\","
			       "\"client\":\"%s\",\"rule\":\"connections\",\"limit\":%u,"
			       "\"action\":\"%s\",\"block_minutes\":%u,\"breaches\":%u}",
			       when, host, e->note.client, e->note.limit,
			       action_names[e->note.action],
			       e->note.action == SHIELD_BLOCK ? e->note.block_minutes : 0,
			       e->note.breaches);
	struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)SHIELD_WEBHOOK_TIMEOUT_S);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "prepd/" PREPD_VERSION);
	CURLcode cc = curl_easy_perform(curl);
	curl_slist_free_all(hdrs);
	long code = 0;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	if (cc != CURLE_OK) {
		snprintf(why, whysz, "%s", curl_easy_strerror(cc));
		return false;
	}
	if (code < 200 || code > 299) {
		snprintf(why, whysz, "HTTP status %ld", code);
		return false;
	}
	return true;
}

static void *hook_main(void *arg)
{
	struct shield *sh = arg;
	CURL *curl = curl_easy_init();
	pthread_mutex_lock(&sh->hook_lock);
	for (;;) {
		while (!sh->hook_len && !sh->hook_stop)
			pthread_cond_wait(&sh->hook_cond, &sh->hook_lock);
		if (sh->hook_stop)
			break;
		struct hook_event e = sh->hook_q[sh->hook_head];
		sh->hook_head = (sh->hook_head + 1) % SHIELD_WEBHOOK_QUEUE;
		sh->hook_len--;
		pthread_mutex_unlock(&sh->hook_lock);
		/* The URL of the rules now (a reload may have changed it);
		 * copied, so the send holds no rules while it waits. */
		char url[SHIELD_WEBHOOK_URL_BYTES] = "";
		const struct ruleset *r = enter(sh);
		if (r->webhook)
			snprintf(url, sizeof url, "%s", r->webhook);
		leave();
		if (!url[0]) {   /* a reload took the webhook away */
			shield_count(sh, SHIELD_C_WEBHOOK_DROPPED, 1);
			pthread_mutex_lock(&sh->hook_lock);
			continue;
		}
		char why[256] = "out of memory";
		bool ok = curl && hook_send(curl, url, &e, why, sizeof why);
		uint64_t now = now_ns();
		if (ok) {
			shield_count(sh, SHIELD_C_WEBHOOK_SENT, 1);
			if (sh->hook_failing_since)
				log_info("shield webhook-recovered");
			sh->hook_failing_since = 0;
		} else {
			shield_count(sh, SHIELD_C_WEBHOOK_FAILED, 1);
			/* Said once a minute while it keeps failing. */
			if (!sh->hook_failing_since || now - sh->hook_failing_since >= MINUTE_NS) {
				log_warn("shield webhook-failed error=\"%s\" action=\"check the "
					 "[shield] webhook URL and its receiver; the actions "
					 "themselves still happen and are logged\"", why);
				sh->hook_failing_since = now;
			}
		}
		pthread_mutex_lock(&sh->hook_lock);
	}
	shield_count(sh, SHIELD_C_WEBHOOK_DROPPED, sh->hook_len);
	sh->hook_len = 0;
	pthread_mutex_unlock(&sh->hook_lock);
	if (curl)
		curl_easy_cleanup(curl);
	return NULL;
}

static void rules_free(struct ruleset *r)
{
	if (r) {
		free(r->webhook);
		free(r);
	}
}

/* New rules from s (borrowed); NULL with err. */
static struct ruleset *rules_new(const struct shield_settings *s, char *err, size_t errsz)
{
	struct ruleset *r = calloc(1, sizeof *r);
	if (!r) {
		snprintf(err, errsz, "out of memory for the shield");
		return NULL;
	}
	char why[200];
	if (s->exempt && proxy_nets_parse(s->exempt, &r->exempt, why, sizeof why)) {
		snprintf(err, errsz, "[shield] exempt: %s", why);
		rules_free(r);
		return NULL;
	}
	r->conn_limit = s->conn_limit;
	r->conn_action = (enum shield_action)s->conn_action;
	r->rate = s->rate;
	r->burst = s->burst;
	r->rate_action = (enum shield_action)s->rate_action;
	r->block_minutes = s->block_minutes;
	r->limits_on = s->rate || s->conn_limit;
	if (s->rate) {
		r->interval_ns = NS_PER_S / s->rate;
		r->window_ns = r->interval_ns * s->burst;
	}
	if (s->webhook && !(r->webhook = strdup(s->webhook))) {
		snprintf(err, errsz, "out of memory for the shield");
		rules_free(r);
		return NULL;
	}
	return r;
}

/* Makes the client table when r limits something and there is none yet
 * (never freed before shield_free(): counted connections live in it). */
static enum rc need_table(struct shield *sh, const struct ruleset *r, char *err, size_t errsz)
{
	if (!r->limits_on || atomic_load(&sh->shards))
		return RC_OK;
	/* calloc'd pages cost nothing until a client lands on them. */
	struct shard *shards = calloc(SHIELD_SHARDS, sizeof *shards);
	for (unsigned i = 0; shards && i < SHIELD_SHARDS; i++) {
		pthread_mutex_init(&shards[i].lock, NULL);
		shards[i].slot = calloc(SHARD_SLOTS, sizeof (struct client));
		if (!shards[i].slot) {
			for (unsigned j = 0; j < i; j++) {
				free(shards[j].slot);
				pthread_mutex_destroy(&shards[j].lock);
			}
			pthread_mutex_destroy(&shards[i].lock);
			free(shards);
			shards = NULL;
		}
	}
	if (!shards) {
		snprintf(err, errsz, "out of memory for the shield's client table");
		return RC_NOMEM;
	}
	atomic_store(&sh->shards, shards);
	return RC_OK;
}

/* Starts the webhook thread when r names a webhook and none runs. */
static enum rc need_hook(struct shield *sh, const struct ruleset *r, char *err, size_t errsz)
{
	if (!r->webhook || atomic_load(&sh->hook_on))
		return RC_OK;
	if (pthread_create(&sh->hook_tid, NULL, hook_main, sh)) {
		snprintf(err, errsz, "cannot start the webhook thread");
		return RC_NOMEM;
	}
	atomic_store(&sh->hook_on, true);
	return RC_OK;
}

struct shield *shield_new(const struct shield_settings *s, char *err, size_t errsz)
{
	struct shield *sh = calloc(1, sizeof *sh);
	if (!sh) {
		snprintf(err, errsz, "out of memory for the shield");
		return NULL;
	}
	sh->set = s;
	pthread_mutex_init(&sh->reload_lock, NULL);
	pthread_mutex_init(&sh->hook_lock, NULL);
	pthread_cond_init(&sh->hook_cond, NULL);
	char why[200];
	if (s->trusted_proxies && proxy_nets_parse(s->trusted_proxies, &sh->trusted, why, sizeof why)) {
		snprintf(err, errsz, "[shield] trusted_proxies: %s", why);
		shield_free(sh);
		return NULL;
	}
	if (getrandom(&sh->seed, sizeof sh->seed, 0) != sizeof sh->seed)
		sh->seed = now_ns() * 0x9E3779B97F4A7C15ull;
	struct ruleset *r = rules_new(s, err, errsz);
	if (!r) {
		shield_free(sh);
		return NULL;
	}
	atomic_store(&sh->rules, r);
	if (need_table(sh, r, err, errsz) || need_hook(sh, r, err, errsz)) {
		shield_free(sh);
		return NULL;
	}
	return sh;
}

enum rc shield_reload(struct shield *sh, const struct shield_settings *s, char *err,
		      size_t errsz)
{
	struct ruleset *r = rules_new(s, err, errsz);
	if (!r)
		return RC_NOMEM;
	pthread_mutex_lock(&sh->reload_lock);
	enum rc rc = need_table(sh, r, err, errsz);
	if (!rc)
		rc = need_hook(sh, r, err, errsz);
	if (rc) {
		pthread_mutex_unlock(&sh->reload_lock);
		rules_free(r);
		return rc;
	}
	struct ruleset *old = atomic_exchange(&sh->rules, r);
	synchronize();
	pthread_mutex_unlock(&sh->reload_lock);
	rules_free(old);
	return RC_OK;
}

void shield_free(struct shield *sh)
{
	if (!sh)
		return;
	if (atomic_load(&sh->hook_on)) {
		pthread_mutex_lock(&sh->hook_lock);
		sh->hook_stop = true;
		pthread_cond_signal(&sh->hook_cond);
		pthread_mutex_unlock(&sh->hook_lock);
		pthread_join(sh->hook_tid, NULL);
	}
	struct shard *shards = atomic_load(&sh->shards);
	if (shards) {
		for (unsigned i = 0; i < SHIELD_SHARDS; i++) {
			free(shards[i].slot);
			pthread_mutex_destroy(&shards[i].lock);
		}
		free(shards);
	}
	rules_free(atomic_load(&sh->rules));
	pthread_mutex_destroy(&sh->reload_lock);
	free(sh);
}
