/* One served request, as a request thread hands it to the request-record
 * bus (server/reqbus.h) for the access log and, later, statistics and
 * metrics. Fixed size and without pointers, so it is copied into a ring
 * slot whole and read on another thread after the connection is gone.
 *
 * Every string is NUL-terminated and cut to its field's size (the caps and
 * their reasons are in server/limits.h). Nothing here is escaped or
 * judged: a sink escapes what it writes, and whether to trust fwd is the
 * sink's decision. The helpers are pure and thread-safe. */
#ifndef PREPD_REQREC_H
#define PREPD_REQREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "server/cut.h"
#include "server/limits.h"

/* The listener a request came in on. */
enum reqrec_listener {
	REQREC_HTTP,
	REQREC_HTTPS,
	REQREC_LISTENERS
};

/* struct reqrec flags */
#define REQREC_TLS           0x01u  /* the request came over TLS */
#define REQREC_TARGET_CUT    0x02u  /* target was longer: it ends in "..." */
#define REQREC_FWD_CUT       0x04u  /* fwd was longer: its start is cut */
#define REQREC_FWD_FORWARDED 0x08u  /* fwd is a Forwarded (RFC 7239) value,
				     * not X-Forwarded-For */
#define REQREC_PAGE          0x10u  /* the answer is an HTML document (a
				     * text/html file, the SPA fallback
				     * included): a page view when it is a
				     * GET answered 200 or 304 (server/stats.c) */
#define REQREC_REF_SELF      0x20u  /* the Referer's host is the request's
				     * Host (the site's own page), so it is
				     * not an external referrer */

/* A peer address in binary; the sink formats it (reqrec_addr_format). */
struct reqrec_addr {
	uint16_t family;       /* AF_INET, AF_INET6, or 0 when unknown */
	uint16_t port;         /* host byte order */
	uint8_t addr[16];      /* network byte order; IPv4 in the first 4 */
};

struct reqrec {
	struct timespec when;  /* CLOCK_REALTIME at request start */
	uint64_t dur_ns;       /* request start to completion */
	uint64_t bytes;        /* body bytes sent (0 for HEAD, 304) */
	uint64_t seq;          /* sequence number of the cut served */
	uint16_t status;
	uint8_t listener;      /* enum reqrec_listener */
	uint8_t flags;         /* REQREC_* above */
	struct reqrec_addr client;   /* the real client: the address a trusted
				      * proxy names (PROXY header,
				      * X-Forwarded-For, CF-Connecting-IP; see
				      * server/worker.c), else the TCP peer */
	struct reqrec_addr peer;     /* the TCP peer (the proxy, when they
				      * differ) */
	char method[REQREC_METHOD_BYTES];
	char proto[REQREC_PROTO_BYTES];            /* "HTTP/1.1" */
	char label[sizeof ((struct cut *)0)->label];   /* the cut's label */
	char target[REQREC_TARGET_BYTES];  /* request target as received */
	char ua[REQREC_FIELD_BYTES];       /* User-Agent, "" when absent */
	char referer[REQREC_FIELD_BYTES];  /* Referer, "" when absent */
	char fwd[REQREC_FWD_BYTES];        /* proxy-supplied client address
					    * (raw header), "" when absent */
};

/* Short name of a listener: "http", "https"; "?" when out of range. */
const char *reqrec_listener_name(unsigned listener);

/* Fills a from sa (AF_INET or AF_INET6); sa NULL or another family gives
 * family 0. */
void reqrec_addr_set(struct reqrec_addr *a, const struct sockaddr *sa);

/* Writes a's address as text ("192.0.2.1", "2001:db8::1"), no port, into
 * out; "" when the family is unknown. outsz of REQREC_ADDR_TEXT_BYTES is
 * always enough. Returns out. */
#define REQREC_ADDR_TEXT_BYTES 48
char *reqrec_addr_format(const struct reqrec_addr *a, char *out, size_t outsz);

/* Copies the request target; a target that does not fit is cut to 508
 * bytes, ends in "..." and sets REQREC_TARGET_CUT. */
void reqrec_set_target(struct reqrec *r, const char *target);

/* Copies a header value of n bytes into a field of size dstsz, cut
 * silently at dstsz - 1 bytes or a NUL byte. value NULL gives "". */
void reqrec_set_field(char *dst, size_t dstsz, const char *value, size_t n);

/* Copies a proxy's client-address header (n bytes). A value that does not
 * fit keeps its last REQREC_FWD_BYTES - 1 bytes (where the nearest proxies
 * append) and sets REQREC_FWD_CUT; forwarded sets REQREC_FWD_FORWARDED. */
void reqrec_set_fwd(struct reqrec *r, const char *value, size_t n, bool forwarded);

/* The packed form the bus's rings hold: the fixed fields as they are, then
 * target, ua, referer and fwd each as a 2-byte length and its bytes, the
 * whole padded to 8 bytes. A typical record packs to 300-400 bytes instead
 * of sizeof (struct reqrec), so a ring of the same memory holds about four
 * times the requests. Every string of r must be NUL-terminated within its
 * array (the reqrec_set_* helpers make them so). */
#define REQREC_PACKED_MAX                                                  \
	((offsetof(struct reqrec, target) + 4 * 2 + (REQREC_TARGET_BYTES - 1) + \
	  2 * (REQREC_FIELD_BYTES - 1) + (REQREC_FWD_BYTES - 1) + 7) & ~(size_t)7)

/* The packed size of r, a multiple of 8, at most REQREC_PACKED_MAX. */
size_t reqrec_packed_size(const struct reqrec *r);

/* Packs r into out (room for reqrec_packed_size(r) bytes); returns that
 * size. Pure: no allocation, no system call. */
size_t reqrec_pack(const struct reqrec *r, unsigned char *out);

/* Unpacks what reqrec_pack() wrote (n bytes) into *r, strings
 * NUL-terminated and zero-filled to the end of their arrays. Returns false
 * when the bytes are not a packed record (a length past the end). */
bool reqrec_unpack(const unsigned char *in, size_t n, struct reqrec *r);

#endif
