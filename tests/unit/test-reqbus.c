/* The request-record bus with real producer threads against its collector,
 * the record helpers, and the access log sink's line format. */
#include "check.h"
#include "server/alog.h"
#include "server/alog_int.h"
#include "server/limits.h"
#include "server/reqbus.h"
#include "server/reqrec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PRODUCERS 4
#define BURSTS 40
/* Half of what a ring holds of the largest records, which these are. */
#define BURST ((unsigned)(REQBUS_RING_BYTES / (8 + REQREC_PACKED_MAX) / 2))

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void fill(char *buf, size_t size, unsigned seed)
{
	for (size_t i = 0; i + 1 < size; i++)
		buf[i] = (char)('A' + (seed + i) % 26);
	buf[size - 1] = '\0';
}

/* Record n of producer p: every byte of it, padding included, follows
 * from (p, n), and every string is full, so a torn or shifted copy
 * differs somewhere. */
static void make_rec(unsigned p, uint32_t n, struct reqrec *r)
{
	memset(r, 0, sizeof *r);
	r->when.tv_sec = 1717366503 + n;
	r->when.tv_nsec = p * 1000 + n % 1000;
	r->dur_ns = (uint64_t)n * 1000 + p;
	r->bytes = (uint64_t)n * 7;
	r->seq = (uint64_t)p << 32 | n;
	r->status = (uint16_t)(200 + n % 300);
	r->listener = (uint8_t)(n % REQREC_LISTENERS);
	r->flags = (uint8_t)(n & 0x0f);
	r->client.family = n % 2 ? AF_INET6 : AF_INET;
	r->client.port = (uint16_t)n;
	for (unsigned i = 0; i < sizeof r->client.addr; i++)
		r->client.addr[i] = (uint8_t)(p * 31 + n + i);
	fill(r->method, sizeof r->method, n);
	fill(r->proto, sizeof r->proto, n + 1);
	fill(r->label, sizeof r->label, n + 2);
	fill(r->target, sizeof r->target, n + 3 + p);
	fill(r->ua, sizeof r->ua, n + 4);
	fill(r->referer, sizeof r->referer, n + 5);
	fill(r->fwd, sizeof r->fwd, n + 6);
}

/* What the checking sink saw; touched only on the collector thread while
 * the bus runs, read by main after reqbus_stop() joined it. */
struct seen {
	uint32_t next[PRODUCERS];       /* the n expected next, per producer */
	_Atomic uint64_t count[PRODUCERS];
	uint64_t bad, out_of_order, flushes, since_flush;
	_Atomic bool gate_closed;       /* the sink waits while set */
	_Atomic bool waiting;           /* it is waiting */
};

static void check_sink(const struct reqrec *r, void *ctx)
{
	struct seen *s = ctx;
	while (atomic_load(&s->gate_closed)) {
		atomic_store(&s->waiting, true);
		nap_ms(1);
	}
	unsigned p = (unsigned)(r->seq >> 32);
	uint32_t n = (uint32_t)r->seq;
	if (p >= PRODUCERS) {
		s->bad++;
		return;
	}
	struct reqrec want;
	make_rec(p, n, &want);
	if (memcmp(&want, r, sizeof want))
		s->bad++;
	if (n != s->next[p])
		s->out_of_order++;
	s->next[p] = n + 1;
	s->since_flush++;
	atomic_fetch_add(&s->count[p], 1);
}

static void check_flush(void *ctx)
{
	struct seen *s = ctx;
	s->flushes++;
	s->since_flush = 0;
}

struct producer {
	unsigned p;
	struct seen *seen;
	uint32_t total;     /* records to put */
	bool paced;         /* wait for the collector after each burst */
	bool attached;
};

static void *produce(void *arg)
{
	struct producer *pr = arg;
	pr->attached = reqbus_attach_thread();
	struct reqrec r;
	for (uint32_t n = 0; n < pr->total; n++) {
		make_rec(pr->p, n, &r);
		reqbus_put(&r);
		if (pr->paced && (n + 1) % BURST == 0)
			while (atomic_load(&pr->seen->count[pr->p]) < n + 1)
				nap_ms(1);
	}
	return NULL;
}

static void test_room(void)
{
	static struct seen s;
	CHECK(!reqbus_enabled(), "no sink: the bus is off");
	CHECK(reqbus_start() == RC_OK && !reqbus_enabled(), "starting with no sink does nothing");
	CHECK(reqbus_attach_thread(), "attaching to a bus that is off is no error");
	CHECK(reqbus_sink_add("check", check_sink, check_flush, &s) == RC_OK, "sink added");
	CHECK(reqbus_start() == RC_OK && reqbus_enabled(), "started with a sink");
	CHECK(reqbus_sink_add("late", check_sink, NULL, &s) == RC_LIMIT, "no sink after start");

	pthread_t t[PRODUCERS];
	struct producer pr[PRODUCERS];
	for (unsigned p = 0; p < PRODUCERS; p++) {
		pr[p] = (struct producer){ p, &s, BURSTS * BURST, true, false };
		pthread_create(&t[p], NULL, produce, &pr[p]);
	}
	for (unsigned p = 0; p < PRODUCERS; p++)
		pthread_join(t[p], NULL);
	uint64_t dropped = reqbus_dropped();
	reqbus_stop();
	CHECK(!reqbus_enabled(), "stopped");
	for (unsigned p = 0; p < PRODUCERS; p++) {
		CHECK(pr[p].attached, "producer %u attached", p);
		CHECK(atomic_load(&s.count[p]) == BURSTS * BURST, "producer %u: %llu of %u records seen",
		      p, (unsigned long long)atomic_load(&s.count[p]), BURSTS * BURST);
	}
	CHECK(dropped == 0, "%llu dropped with room in the ring", (unsigned long long)dropped);
	CHECK(s.bad == 0, "%llu records torn", (unsigned long long)s.bad);
	CHECK(s.out_of_order == 0, "%llu records out of order", (unsigned long long)s.out_of_order);
	CHECK(s.flushes > 0 && s.since_flush == 0, "flushed after the last record");
}

static void test_full(void)
{
	static struct seen s;
	atomic_store(&s.gate_closed, true);
	CHECK(reqbus_sink_add("check", check_sink, check_flush, &s) == RC_OK, "sink added again after stop");
	CHECK(reqbus_start() == RC_OK, "restarted");
	CHECK(reqbus_dropped() == 0, "the dropped count starts at 0");

	/* The collector is held in the sink at the first record, so the ring
	 * frees nothing: exactly as many records as the ring's bytes hold fit,
	 * the rest drop. Every record of make_rec() packs to the same size. */
	struct reqrec sample;
	make_rec(0, 0, &sample);
	const uint32_t fit = (uint32_t)(REQBUS_RING_BYTES / (8 + reqrec_packed_size(&sample)));
	struct producer pr = { 0, &s, fit + 500, false, false };
	pthread_t t;
	pthread_create(&t, NULL, produce, &pr);
	pthread_join(t, NULL);
	for (int i = 0; i < 5000 && !atomic_load(&s.waiting); i++)
		nap_ms(1);
	CHECK(atomic_load(&s.waiting), "the collector reached the sink");
	CHECK(reqbus_dropped() == 500, "full ring: %llu dropped, want 500",
	      (unsigned long long)reqbus_dropped());
	atomic_store(&s.gate_closed, false);
	reqbus_stop();
	CHECK(atomic_load(&s.count[0]) == fit, "full ring: %llu seen, want %u",
	      (unsigned long long)atomic_load(&s.count[0]), fit);
	CHECK(s.bad == 0 && s.out_of_order == 0, "the records kept are intact and in order");
	CHECK(s.next[0] == fit, "the first ones are kept, the last ones dropped");
}

static void test_sink_limit(void)
{
	static struct seen s;
	unsigned added = 0;
	for (unsigned i = 0; i < REQBUS_MAX_SINKS + 2; i++)
		if (reqbus_sink_add("n", check_sink, NULL, &s) == RC_OK)
			added++;
	CHECK(added == REQBUS_MAX_SINKS, "%u sinks taken, cap %u", added, REQBUS_MAX_SINKS);
	reqbus_stop();
	CHECK(reqbus_sink_add("n", check_sink, NULL, &s) == RC_OK, "stop forgets the sinks");
	reqbus_stop();
}

static void test_reqrec(void)
{
	static struct reqrec r;
	char txt[REQREC_ADDR_TEXT_BYTES];

	CHECK(!strcmp(reqrec_listener_name(REQREC_HTTP), "http") &&
	      !strcmp(reqrec_listener_name(REQREC_HTTPS), "https") &&
	      !strcmp(reqrec_listener_name(99), "?"), "listener names");

	struct sockaddr_in in4 = { .sin_family = AF_INET, .sin_port = htons(8080) };
	inet_pton(AF_INET, "192.0.2.1", &in4.sin_addr);
	reqrec_addr_set(&r.client, (struct sockaddr *)&in4);
	CHECK(r.client.family == AF_INET && r.client.port == 8080, "IPv4 family and port");
	CHECK(!strcmp(reqrec_addr_format(&r.client, txt, sizeof txt), "192.0.2.1"), "IPv4: %s", txt);
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(443) };
	inet_pton(AF_INET6, "2001:db8::1", &in6.sin6_addr);
	reqrec_addr_set(&r.client, (struct sockaddr *)&in6);
	CHECK(r.client.family == AF_INET6 && r.client.port == 443, "IPv6 family and port");
	CHECK(!strcmp(reqrec_addr_format(&r.client, txt, sizeof txt), "2001:db8::1"), "IPv6: %s", txt);
	inet_pton(AF_INET6, "::ffff:192.0.2.7", &in6.sin6_addr);
	reqrec_addr_set(&r.client, (struct sockaddr *)&in6);
	CHECK(!strcmp(reqrec_addr_format(&r.client, txt, sizeof txt), "::ffff:192.0.2.7"),
	      "IPv4-mapped IPv6: %s", txt);
	struct sockaddr un = { .sa_family = AF_UNIX };
	reqrec_addr_set(&r.client, &un);
	CHECK(r.client.family == 0 && !*reqrec_addr_format(&r.client, txt, sizeof txt),
	      "another family is unknown");
	reqrec_addr_set(&r.client, NULL);
	CHECK(r.client.family == 0, "no address is unknown");

	r.flags = 0;
	reqrec_set_target(&r, "/index.html?x=1");
	CHECK(!strcmp(r.target, "/index.html?x=1") && !(r.flags & REQREC_TARGET_CUT), "short target");
	char big[1000];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	big[0] = '/';
	reqrec_set_target(&r, big);
	size_t n = strlen(r.target);
	CHECK(n == REQREC_TARGET_BYTES - 1 && !strcmp(r.target + n - 3, "...") &&
	      !strncmp(r.target, big, n - 3) && (r.flags & REQREC_TARGET_CUT),
	      "long target: %zu bytes ending in ...", n);
	big[REQREC_TARGET_BYTES - 1] = '\0';   /* exactly fits */
	reqrec_set_target(&r, big);
	CHECK(!strcmp(r.target, big) && !(r.flags & REQREC_TARGET_CUT), "a target that just fits");

	reqrec_set_field(r.ua, sizeof r.ua, big, strlen(big));
	CHECK(strlen(r.ua) == REQREC_FIELD_BYTES - 1 && !strncmp(r.ua, big, strlen(r.ua)),
	      "long field cut silently");
	reqrec_set_field(r.ua, sizeof r.ua, NULL, 5);
	CHECK(!strcmp(r.ua, ""), "absent field");
	reqrec_set_field(r.ua, sizeof r.ua, "ab\0cd", 5);
	CHECK(!strcmp(r.ua, "ab"), "a field stops at NUL");

	reqrec_set_fwd(&r, "203.0.113.9, 10.0.0.1", 21, false);
	CHECK(!strcmp(r.fwd, "203.0.113.9, 10.0.0.1") &&
	      !(r.flags & (REQREC_FWD_CUT | REQREC_FWD_FORWARDED)), "X-Forwarded-For kept");
	char chain[400];
	size_t o = 0;
	while (o + 12 < sizeof chain - 40)
		o += (size_t)snprintf(chain + o, sizeof chain - o, "10.9.8.%zu, ", o % 250);
	o += (size_t)snprintf(chain + o, sizeof chain - o, "198.51.100.77");
	reqrec_set_fwd(&r, chain, o, true);
	CHECK(strlen(r.fwd) == REQREC_FWD_BYTES - 1 && !strcmp(r.fwd, chain + o - strlen(r.fwd)) &&
	      (r.flags & REQREC_FWD_CUT) && (r.flags & REQREC_FWD_FORWARDED),
	      "a long proxy header keeps its end: '%s'", r.fwd);
}

static void base_rec(struct reqrec *r)
{
	memset(r, 0, sizeof *r);
	r->when.tv_sec = 1717366503;   /* 2024-06-02 22:15:03 UTC */
	r->dur_ns = 81000;
	r->bytes = 2048;
	r->seq = 42;
	r->status = 200;
	struct sockaddr_in in4 = { .sin_family = AF_INET };
	inet_pton(AF_INET, "192.0.2.1", &in4.sin_addr);
	reqrec_addr_set(&r->client, (struct sockaddr *)&in4);
	strcpy(r->method, "GET");
	strcpy(r->proto, "HTTP/1.1");
	strcpy(r->label, "20240602_2215");
	strcpy(r->target, "/index.html?x=1");
	strcpy(r->ua, "curl/7.88.1");
}

static void test_format(void)
{
	static struct reqrec r;
	static char line[ALOG_LINE_MAX];

	base_rec(&r);
	alog_format(&r, line, sizeof line);
	CHECK(!strcmp(line, "192.0.2.1 - - [02/Jun/2024:22:15:03 +0000] \"GET /index.html?x=1 "
		      "HTTP/1.1\" 200 2048 \"-\" \"curl/7.88.1\" 42 20240602_2215 0.000081\n"),
	      "plain line: %s", line);

	base_rec(&r);
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
	inet_pton(AF_INET6, "2001:db8::1", &in6.sin6_addr);
	reqrec_addr_set(&r.client, (struct sockaddr *)&in6);
	strcpy(r.ua, "Mozilla/5.0 \"q\" \\ \x01\x7f\xc3\xa9");
	strcpy(r.referer, "https://portal.example/nota");
	r.bytes = 0;
	r.status = 304;
	r.label[0] = '\0';
	r.dur_ns = 1500000000;
	size_t n = alog_format(&r, line, sizeof line);
	CHECK(!strcmp(line, "2001:db8::1 - - [02/Jun/2024:22:15:03 +0000] \"GET /index.html?x=1 "
		      "HTTP/1.1\" 304 - \"https://portal.example/nota\" "
		      "\"Mozilla/5.0 \\x22q\\x22 \\x5C \\x01\\x7F\\xC3\\xA9\" 42 - 1.500000\n"),
	      "IPv6, escaping, '-' for no bytes and no label: %s", line);
	CHECK(n == strlen(line), "the length returned is the line's");

	base_rec(&r);
	r.client.family = 0;
	r.ua[0] = '\0';
	r.method[0] = '\0';
	r.target[0] = '\0';
	strcpy(r.proto, "HTTP/1.0");
	alog_format(&r, line, sizeof line);
	CHECK(!strcmp(line, "- - - [02/Jun/2024:22:15:03 +0000] \"- - HTTP/1.0\" 200 2048 "
		      "\"-\" \"-\" 42 20240602_2215 0.000081\n"),
	      "unknown address and empty fields are '-': %s", line);

	/* The worst line: every byte of every field escaped. */
	base_rec(&r);
	memset(r.target, 1, sizeof r.target - 1);
	memset(r.ua, '"', sizeof r.ua - 1);
	memset(r.referer, 0xff, sizeof r.referer - 1);
	memset(r.method, 2, sizeof r.method - 1);
	memset(r.proto, 3, sizeof r.proto - 1);
	n = alog_format(&r, line, sizeof line);
	CHECK(n > 0 && n < sizeof line && line[n - 1] == '\n' && strstr(line, "\" 42 20240602_2215 "),
	      "a line of escaped fields fits ALOG_LINE_MAX whole (%zu bytes)", n);
	CHECK(alog_format(&r, line, 511) == 0, "no room, no line");
}

/* The line against the format written out with snprintf() and
 * inet_ntop(), for many numbers and addresses (fields plain printable:
 * the escaping is checked above). */
static void test_format_numbers(void)
{
	static struct reqrec r;
	static char line[ALOG_LINE_MAX], want[ALOG_LINE_MAX];
	static const uint64_t edge[] = { 0, 1, 9, 10, 99, 100, 999999, 1000000, 4294967295u,
					 4294967296u, 18446744073709551615u };
	static const char *const addrs[] = { "0.0.0.0", "255.255.255.255", "10.0.0.1", "192.168.100.20",
					     "::1", "2001:db8::1", "::ffff:192.0.2.7", NULL };
	unsigned seed = 7;
	for (unsigned i = 0; i < 3000; i++) {
		base_rec(&r);
		seed = seed * 1103515245u + 12345u;
		uint64_t a = i < 11 ? edge[i] : ((uint64_t)seed << 20) ^ i;
		uint64_t b = edge[(i + 3) % 11] ^ (i & 1 ? 0 : seed);
		r.bytes = a;
		r.seq = b;
		r.status = (uint16_t)(100 + seed % 500);
		r.dur_ns = i < 11 ? edge[(i + 5) % 11] : (uint64_t)seed * 977u;
		const char *addr = addrs[i % 8];
		char text[64] = "-";
		if (!addr) {
			r.client.family = 0;
		} else if (strchr(addr, ':')) {
			struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
			inet_pton(AF_INET6, addr, &in6.sin6_addr);
			reqrec_addr_set(&r.client, (struct sockaddr *)&in6);
			inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof text);
		} else {
			struct sockaddr_in in4 = { .sin_family = AF_INET };
			inet_pton(AF_INET, addr, &in4.sin_addr);
			in4.sin_addr.s_addr ^= (uint32_t)(i > 8 ? seed : 0);
			reqrec_addr_set(&r.client, (struct sockaddr *)&in4);
			inet_ntop(AF_INET, &in4.sin_addr, text, sizeof text);
		}
		if (i % 5 == 0)
			r.label[0] = '\0';
		char bytes[24] = "-";
		if (r.bytes)
			snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)r.bytes);
		snprintf(want, sizeof want,
			 "%s - - [02/Jun/2024:22:15:03 +0000] \"GET /index.html?x=1 HTTP/1.1\" %u %s "
			 "\"-\" \"curl/7.88.1\" %llu %s %llu.%06llu\n",
			 text, r.status, bytes, (unsigned long long)r.seq, r.label[0] ? r.label : "-",
			 (unsigned long long)(r.dur_ns / 1000000000u),
			 (unsigned long long)(r.dur_ns % 1000000000u / 1000u));
		size_t n = alog_format(&r, line, sizeof line);
		if (strcmp(line, want) || n != strlen(want)) {
			CHECK(0, "record %u: got %s want %s", i, line, want);
			return;
		}
	}
	CHECK(1, "3000 lines of edge and random numbers and addresses as snprintf() writes them");
}

static void *put_three(void *arg)
{
	struct reqrec *recs = arg;
	if (!reqbus_attach_thread())
		return NULL;
	for (int i = 0; i < 3; i++)
		reqbus_put(&recs[i]);
	return NULL;
}

static void test_sink(void)
{
	char dir[] = "/tmp/test-reqbus.XXXXXX";
	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	char file[64];
	snprintf(file, sizeof file, "%s/access.log", dir);
	char bad[96];
	snprintf(bad, sizeof bad, "%s/no/such/dir.log", dir);
	errno = 0;
	CHECK(alog_start(bad) == RC_IO && errno == ENOENT, "an unopenable log: RC_IO, errno kept");
	CHECK(alog_start(file) == RC_OK, "log opened");
	CHECK(reqbus_start() == RC_OK && reqbus_enabled(), "the log is a sink: the bus runs");

	static struct reqrec recs[3];
	for (int i = 0; i < 3; i++) {
		base_rec(&recs[i]);
		recs[i].status = (uint16_t)(200 + i);
		recs[i].seq = (uint64_t)i;
	}
	strcpy(recs[1].ua, "a \"b\"");
	recs[2].client.family = 0;
	pthread_t t;
	pthread_create(&t, NULL, put_three, recs);
	pthread_join(t, NULL);
	reqbus_stop();
	alog_stop();

	static char want[3 * ALOG_LINE_MAX], got[3 * ALOG_LINE_MAX];
	size_t wn = 0;
	for (int i = 0; i < 3; i++)
		wn += alog_format(&recs[i], want + wn, sizeof want - wn);
	FILE *f = fopen(file, "r");
	size_t gn = f ? fread(got, 1, sizeof got - 1, f) : 0;
	if (f)
		fclose(f);
	got[gn] = '\0';
	CHECK(gn == wn && !memcmp(got, want, wn), "the file holds the three lines, in order:\n%s", got);
	unlink(file);
	rmdir(dir);
}

/* Packing keeps every field and string, whatever their lengths, and
 * refuses bytes that are not a packed record. */
static void test_pack(void)
{
	static const char *const strs[] = { "", "/", "/assets/json/nacional.json?x=1",
					    "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0" };
	for (unsigned i = 0; i < 4; i++) {
		struct reqrec r, back;
		memset(&r, 0, sizeof r);
		r.when.tv_sec = 1717366503;
		r.status = 304;
		r.seq = 42;
		snprintf(r.method, sizeof r.method, "GET");
		snprintf(r.label, sizeof r.label, "20240602_2215");
		reqrec_set_target(&r, strs[i]);
		reqrec_set_field(r.ua, sizeof r.ua, strs[(i + 1) % 4], 1000);
		reqrec_set_field(r.referer, sizeof r.referer, strs[(i + 2) % 4], 1000);
		reqrec_set_fwd(&r, strs[(i + 3) % 4], strlen(strs[(i + 3) % 4]), false);
		alignas(8) unsigned char buf[REQREC_PACKED_MAX];
		memset(buf, 0xAA, sizeof buf);
		size_t n = reqrec_pack(&r, buf);
		CHECK(n == reqrec_packed_size(&r) && n % 8 == 0 && n <= REQREC_PACKED_MAX,
		      "packed size %zu", n);
		memset(&back, 0x55, sizeof back);
		CHECK(reqrec_unpack(buf, n, &back) && !memcmp(&r, &back, sizeof r),
		      "record %u comes back byte for byte", i);
		CHECK(!reqrec_unpack(buf, offsetof(struct reqrec, target) + 1, &back),
		      "record %u cut inside a length is refused", i);
		if (*r.target)
			CHECK(!reqrec_unpack(buf, offsetof(struct reqrec, target) + 2, &back),
			      "record %u cut inside its target is refused", i);
	}
	struct reqrec full;
	make_rec(1, 7, &full);
	CHECK(reqrec_packed_size(&full) == REQREC_PACKED_MAX, "full strings pack to the most");
	unsigned char bad[REQREC_PACKED_MAX];
	reqrec_pack(&full, bad);
	bad[offsetof(struct reqrec, target)] = 0xff;   /* target length 0x..ff */
	bad[offsetof(struct reqrec, target) + 1] = 0xff;
	struct reqrec out;
	CHECK(!reqrec_unpack(bad, sizeof bad, &out), "a length past its field is refused");
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	test_reqrec();
	test_pack();
	test_format();
	test_format_numbers();
	test_room();
	test_full();
	test_sink_limit();
	test_sink();
	return check_done();
}
