/* server/shield.c with a fake clock: the token bucket's arithmetic, each
 * action of each rule, the block list, logging once per address, rule
 * and minute, IPv6 prefixes, the table's bound and reclaiming, and the
 * webhook's failure counting. */
#include "server/shield.h"
#include "tests/unit/check.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S 1000000000ull
#define T0 (1000 * S)

static struct shield_settings base(void)
{
	struct shield_settings s = { 0 };
	s.ipv6_prefix = 64;
	s.burst = 1;
	s.conn_action = SHIELD_CLOSE;
	s.rate_action = SHIELD_429;
	s.block_minutes = 10;
	return s;
}

static struct reqrec_addr addr(const char *text)
{
	struct reqrec_addr a;
	if (!proxy_addr_parse(text, strlen(text), &a))
		abort();
	return a;
}

static struct shield *make(const struct shield_settings *s)
{
	char err[256];
	struct shield *sh = shield_new(s, err, sizeof err);
	if (!sh) {
		fprintf(stderr, "shield_new: %s\n", err);
		abort();
	}
	return sh;
}

/* Log lines (stderr) go to a file so the test can count them. */
static FILE *logf_;
static void capture_log(void)
{
	logf_ = tmpfile();
	fflush(stderr);
	dup2(fileno(logf_), 2);
}

static unsigned log_lines(const char *needle)
{
	fflush(stderr);
	rewind(logf_);
	char line[2048];
	unsigned n = 0;
	while (fgets(line, sizeof line, logf_))
		if (strstr(line, needle))
			n++;
	return n;
}

static void test_bucket(void)
{
	struct shield_settings s = base();
	s.rate = 10;
	s.burst = 5;
	struct shield *sh = make(&s);
	struct reqrec_addr a = addr("192.0.2.1"), b = addr("192.0.2.2");
	uint64_t t = T0;
	for (int i = 0; i < 5; i++)
		CHECK(shield_request(sh, &a, false, t).verdict == SHIELD_PASS, "burst request %d", i);
	struct shield_decision d = shield_request(sh, &a, false, t);
	CHECK(d.verdict == SHIELD_REFUSE && d.retry_after == 1, "6th at once: 429, Retry-After 1 "
	      "(got %d, %u)", d.verdict, d.retry_after);
	CHECK(shield_request(sh, &b, false, t).verdict == SHIELD_PASS, "another client is not affected");
	/* One token comes back every 100 ms. */
	CHECK(shield_request(sh, &a, false, t + 99 * S / 1000).verdict == SHIELD_REFUSE, "99 ms: none yet");
	CHECK(shield_request(sh, &a, false, t + 100 * S / 1000).verdict == SHIELD_PASS, "100 ms: one");
	CHECK(shield_request(sh, &a, false, t + 100 * S / 1000).verdict == SHIELD_REFUSE, "and only one");
	/* A steady 10/s is never refused, for a minute. */
	t += S;
	unsigned refused = 0;
	for (int i = 0; i < 600; i++)
		refused += shield_request(sh, &a, false, t + (uint64_t)i * S / 10).verdict != SHIELD_PASS;
	CHECK(refused == 0, "10/s steady: %u refused", refused);
	/* 20/s: half refused, over a long enough stretch. */
	t += 120 * S;
	refused = 0;
	for (int i = 0; i < 2000; i++)
		refused += shield_request(sh, &a, false, t + (uint64_t)i * S / 20).verdict != SHIELD_PASS;
	CHECK(refused >= 990 && refused <= 1010, "20/s against 10/s: %u of 2000 refused", refused);
	CHECK(shield_counter(sh, SHIELD_C_RATE_429) == 1 + 1 + 1 + refused,
	      "rate_429 counts each refusal: %llu", (unsigned long long)shield_counter(sh, SHIELD_C_RATE_429));

	/* A long wait: Retry-After says when the next token is back. */
	struct shield_settings s2 = base();
	s2.rate = 1;
	s2.burst = 1;
	struct shield *slow = make(&s2);
	CHECK(shield_request(slow, &a, false, T0).verdict == SHIELD_PASS, "1/s first");
	d = shield_request(slow, &a, false, T0 + S / 4);
	CHECK(d.verdict == SHIELD_REFUSE && d.retry_after == 1, "1/s: Retry-After rounds up to 1");
	shield_free(slow);
	shield_free(sh);
}

static void test_actions(void)
{
	static const struct {
		enum shield_action action;
		bool via_header;
		enum shield_verdict first, blocked_conn, blocked_req;
		enum shield_counter counter;
	} t[] = {
		{ SHIELD_LOG, false, SHIELD_PASS, SHIELD_PASS, SHIELD_PASS, SHIELD_C_RATE_LOG },
		{ SHIELD_429, false, SHIELD_REFUSE, SHIELD_PASS, SHIELD_PASS, SHIELD_C_RATE_429 },
		{ SHIELD_CLOSE, false, SHIELD_DROP, SHIELD_PASS, SHIELD_PASS, SHIELD_C_RATE_CLOSE },
		{ SHIELD_BLOCK, false, SHIELD_DROP, SHIELD_DROP, SHIELD_DROP, SHIELD_C_RATE_BLOCK },
		{ SHIELD_BLOCK, true, SHIELD_REFUSE, SHIELD_DROP, SHIELD_REFUSE, SHIELD_C_RATE_BLOCK },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct shield_settings s = base();
		s.rate = 1;
		s.burst = 2;
		s.rate_action = (int)t[i].action;
		struct shield *sh = make(&s);
		struct reqrec_addr a = addr("198.51.100.9");
		shield_request(sh, &a, t[i].via_header, T0);
		shield_request(sh, &a, t[i].via_header, T0);
		struct shield_decision d = shield_request(sh, &a, t[i].via_header, T0);
		CHECK(d.verdict == t[i].first, "action %s%s: verdict %d", shield_action_name(t[i].action),
		      t[i].via_header ? " via header" : "", d.verdict);
		CHECK(shield_counter(sh, t[i].counter) == 1, "action %s: counted",
		      shield_action_name(t[i].action));
		/* A second later a token is back; a blocked address stays refused. */
		d = shield_conn_open(sh, &a, T0 + S);
		CHECK(d.verdict == t[i].blocked_conn, "action %s: connection a second later: %d",
		      shield_action_name(t[i].action), d.verdict);
		if (d.verdict == SHIELD_PASS)
			shield_conn_close(sh, &a);
		d = shield_request(sh, &a, t[i].via_header, T0 + S);
		CHECK(d.verdict == t[i].blocked_req, "action %s: request a second later: %d", shield_action_name(t[i].action), d.verdict);
		if (t[i].action == SHIELD_BLOCK) {
			if (t[i].via_header)
				CHECK(d.retry_after == 10 * 60 - 1, "blocked via header: Retry-After %u", d.retry_after);
			CHECK(shield_counter(sh, SHIELD_C_BLOCKED) == 2, "blocked refusals counted");
			/* Ten minutes after the block it is lifted. */
			CHECK(shield_request(sh, &a, t[i].via_header, T0 + 600 * S).verdict == SHIELD_PASS,
			      "block lifted after block_minutes");
			struct reqrec_addr other = addr("198.51.100.10");
			CHECK(shield_request(sh, &other, false, T0 + S).verdict == SHIELD_PASS,
			      "a block is for one address");
		}
		shield_free(sh);
	}
}

static void test_connections(void)
{
	static const enum shield_action acts[] = { SHIELD_LOG, SHIELD_429, SHIELD_CLOSE, SHIELD_BLOCK };
	static const enum shield_verdict want[] = { SHIELD_PASS, SHIELD_REFUSE, SHIELD_DROP, SHIELD_DROP };
	for (size_t i = 0; i < 4; i++) {
		struct shield_settings s = base();
		s.conn_limit = 2;
		s.conn_action = (int)acts[i];
		struct shield *sh = make(&s);
		struct reqrec_addr a = addr("203.0.113.5"), b = addr("203.0.113.6");
		CHECK(shield_conn_open(sh, &a, T0).verdict == SHIELD_PASS, "conn 1");
		CHECK(shield_conn_open(sh, &a, T0).verdict == SHIELD_PASS, "conn 2");
		struct shield_decision d = shield_conn_open(sh, &a, T0);
		CHECK(d.verdict == want[i], "conn 3, action %s: %d", shield_action_name(acts[i]), d.verdict);
		CHECK(shield_counter(sh, (enum shield_counter)(SHIELD_C_CONN_LOG + acts[i])) == 1,
		      "conn action %s counted", shield_action_name(acts[i]));
		CHECK(shield_conn_open(sh, &b, T0).verdict == SHIELD_PASS, "another client");
		if (d.verdict == SHIELD_PASS)   /* "log" let it in: it is counted */
			shield_conn_close(sh, &a);
		shield_conn_close(sh, &a);
		d = shield_conn_open(sh, &a, T0 + S);
		CHECK(d.verdict == (acts[i] == SHIELD_BLOCK ? SHIELD_DROP : SHIELD_PASS),
		      "after one closed, action %s: %d", shield_action_name(acts[i]), d.verdict);
		/* Rate is off: requests pass unless blocked. */
		d = shield_request(sh, &a, false, T0 + S);
		CHECK(d.verdict == (acts[i] == SHIELD_BLOCK ? SHIELD_DROP : SHIELD_PASS),
		      "requests, action %s", shield_action_name(acts[i]));
		shield_free(sh);
	}
}

static void test_log_once(void)
{
	struct shield_settings s = base();
	s.rate = 1;
	s.burst = 1;
	struct shield *sh = make(&s);
	struct reqrec_addr a = addr("192.0.2.77"), b = addr("192.0.2.78");
	unsigned before = log_lines("shield limit-exceeded client=192.0.2.77 ");
	for (int i = 0; i < 1000; i++)
		shield_request(sh, &a, false, T0 + (uint64_t)i * S / 100);   /* 10 s at 100/s */
	CHECK(log_lines("shield limit-exceeded client=192.0.2.77 ") == before + 1,
	      "1000 breaches in 10 s: one line");
	shield_request(sh, &b, false, T0);
	shield_request(sh, &b, false, T0);
	CHECK(log_lines("client=192.0.2.78 rule=rate") == 1, "another address gets its own line");
	/* A minute after the first line, the next breach is logged with the
	 * count of those in between. */
	shield_request(sh, &a, false, T0 + 59 * S);
	shield_request(sh, &a, false, T0 + 59 * S);
	CHECK(log_lines("shield limit-exceeded client=192.0.2.77 ") == before + 1,
	      "59 s later: still one line");
	shield_request(sh, &a, false, T0 + 61 * S);
	shield_request(sh, &a, false, T0 + 61 * S);
	CHECK(log_lines("shield limit-exceeded client=192.0.2.77 ") == before + 2,
	      "a minute later: a second line");
	/* 1000 requests in 10 s at 1/s: about 10 served, the rest breaches,
	 * plus the 59 s one and this one. */
	uint64_t count = shield_counter(sh, SHIELD_C_RATE_429);
	char want[160];
	snprintf(want, sizeof want, "client=192.0.2.77 rule=rate limit=1/s burst=1 did=429 breaches=%llu ",
		 (unsigned long long)(count - 1 /* b's */ - 1 /* the first line's */));
	CHECK(log_lines(want) == 1, "the second line counts the breaches since the first (%s)", want);
	shield_free(sh);
}

static void test_ipv6_prefix(void)
{
	struct shield_settings s = base();
	s.rate = 1;
	s.burst = 1;
	struct shield *sh = make(&s);
	struct reqrec_addr a1 = addr("2001:db8:1:2::1"), a2 = addr("2001:db8:1:2:ffff::9"),
			   other = addr("2001:db8:1:3::1");
	CHECK(shield_request(sh, &a1, false, T0).verdict == SHIELD_PASS, "v6 first");
	CHECK(shield_request(sh, &a2, false, T0).verdict == SHIELD_REFUSE, "same /64 shares the bucket");
	CHECK(shield_request(sh, &other, false, T0).verdict == SHIELD_PASS, "next /64 does not");
	CHECK(log_lines("client=2001:db8:1:2::/64 rule=rate") == 1, "the log names the prefix");
	shield_free(sh);

	s.ipv6_prefix = 128;
	sh = make(&s);
	CHECK(shield_request(sh, &a1, false, T0).verdict == SHIELD_PASS, "/128 first");
	CHECK(shield_request(sh, &a2, false, T0).verdict == SHIELD_PASS, "/128: each address alone");
	shield_free(sh);
}

static void test_table(void)
{
	struct shield_settings s = base();
	s.conn_limit = 5;
	struct shield *sh = make(&s);
	/* Every client keeps a connection open: nothing can be reclaimed. */
	unsigned passed = 0;
	for (unsigned i = 0; i < SHIELD_CLIENTS_MAX + 1000; i++) {
		struct reqrec_addr a = { .family = AF_INET };
		a.addr[0] = 10;
		a.addr[1] = (uint8_t)(i >> 16);
		a.addr[2] = (uint8_t)(i >> 8);
		a.addr[3] = (uint8_t)i;
		passed += shield_conn_open(sh, &a, T0).verdict == SHIELD_PASS;
	}
	CHECK(passed == SHIELD_CLIENTS_MAX + 1000, "a full table still serves: %u", passed);
	CHECK(shield_counter(sh, SHIELD_C_TABLE_FULL) > 0, "table_full counted");
	CHECK(shield_clients(sh) <= SHIELD_CLIENTS_MAX, "bounded: %u", shield_clients(sh));
	CHECK(log_lines("shield table-full") == 1, "said once");
	shield_free(sh);

	/* Clients whose bucket is full again are reclaimed for new ones. */
	s = base();
	s.rate = 100;
	s.burst = 1;
	sh = make(&s);
	for (unsigned round = 0; round < 3; round++)
		for (unsigned i = 0; i < SHIELD_CLIENTS_MAX; i++) {
			struct reqrec_addr a = { .family = AF_INET };
			a.addr[0] = (uint8_t)(11 + round);
			a.addr[1] = (uint8_t)(i >> 16);
			a.addr[2] = (uint8_t)(i >> 8);
			a.addr[3] = (uint8_t)i;
			shield_request(sh, &a, false, T0 + round * S);
		}
	CHECK(shield_counter(sh, SHIELD_C_TABLE_FULL) < SHIELD_CLIENTS_MAX,
	      "later rounds reuse reclaimed entries (table_full %llu)",
	      (unsigned long long)shield_counter(sh, SHIELD_C_TABLE_FULL));
	/* A client that is still limited is never reclaimed: its next request
	 * within the same 10 ms is still refused. */
	struct reqrec_addr x = addr("13.0.0.5");
	struct shield_decision d = shield_request(sh, &x, false, T0 + 2 * S);
	CHECK(d.verdict != SHIELD_PASS || shield_request(sh, &x, false, T0 + 2 * S).verdict == SHIELD_REFUSE,
	      "a limited client keeps its state");
	shield_free(sh);
}

static void test_off_and_trust(void)
{
	struct shield_settings s = base();
	struct shield *sh = make(&s);
	struct reqrec_addr a = addr("192.0.2.1");
	for (int i = 0; i < 10000; i++)
		CHECK(shield_request(sh, &a, false, T0).verdict == SHIELD_PASS || i < 0, "off");
	CHECK(!shield_trusted(sh, &a), "nothing trusted by default");
	shield_free(sh);
	s.trusted_proxies = "192.0.2.0/24";
	sh = make(&s);
	CHECK(shield_trusted(sh, &a), "trusted range");
	struct reqrec_addr m = addr("::ffff:192.0.2.200");
	CHECK(shield_trusted(sh, &m), "mapped address in a trusted v4 range");
	shield_free(sh);
	/* Exempt clients are never limited; others still are. */
	s = base();
	s.rate = 1;
	s.conn_limit = 1;
	s.exempt = "127.0.0.0/8 ::1";
	sh = make(&s);
	struct reqrec_addr lo = addr("127.0.0.3"), lo6 = addr("::1");
	unsigned refused = 0;
	for (int i = 0; i < 100; i++) {
		refused += shield_request(sh, &lo, false, T0).verdict != SHIELD_PASS;
		refused += shield_request(sh, &lo6, false, T0).verdict != SHIELD_PASS;
		refused += shield_conn_open(sh, &lo, T0).verdict != SHIELD_PASS;
	}
	CHECK(refused == 0, "exempt: %u refused", refused);
	shield_request(sh, &a, false, T0);
	CHECK(shield_request(sh, &a, false, T0).verdict == SHIELD_REFUSE, "not exempt: limited");
	shield_free(sh);
}

static void test_webhook_fails(void)
{
	struct shield_settings s = base();
	s.rate = 1;
	s.burst = 1;
	s.webhook = "http://127.0.0.1:1/hook";   /* nothing listens on port 1 */
	struct shield *sh = make(&s);
	struct reqrec_addr a = addr("192.0.2.50");
	shield_request(sh, &a, false, T0);
	shield_request(sh, &a, false, T0);
	for (int i = 0; i < 100 && !shield_counter(sh, SHIELD_C_WEBHOOK_FAILED); i++)
		usleep(50000);
	CHECK(shield_counter(sh, SHIELD_C_WEBHOOK_FAILED) == 1, "webhook failure counted");
	CHECK(log_lines("shield webhook-failed") == 1, "webhook failure logged");
	shield_free(sh);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	capture_log();
	test_bucket();
	test_actions();
	test_connections();
	test_log_once();
	test_ipv6_prefix();
	test_table();
	test_off_and_trust();
	test_webhook_fails();
	curl_global_cleanup();
	/* CHECK reports on stderr, which went to the log file. */
	fflush(stderr);
	rewind(logf_);
	char line[2048];
	while (fgets(line, sizeof line, logf_))
		if (strstr(line, "FAIL"))
			fputs(line, stdout);
	return check_done();
}
