/* Every size driven by input has a named cap here, with why it has its value.
 * Caps that an operator may need to change are only defaults: the config
 * file overrides them (see prepd.ini.example). */
#ifndef PREPD_LIMITS_H
#define PREPD_LIMITS_H

#include <limits.h>   /* PATH_MAX, NAME_MAX */

/* File system paths. A path prepd is given (the data folder, the spool
 * folder, a file the config names) is held in PATH_BUF_BYTES: Linux
 * PATH_MAX, the longest path a system call takes, NUL included, so a
 * longer one could not be opened anyway. */
#define PATH_BUF_BYTES              PATH_MAX
/* A path built under such a folder: the folder at its longest, then up to
 * two more components (a subfolder and a file name, each at most NAME_MAX
 * bytes) with their slashes, as DATA/quarantine/SEQ-NAME.sha256. It may be
 * past PATH_MAX; the buffer still holds it whole, so the system call's
 * ENAMETOOLONG names the real path and no path is ever used cut short. */
#define PATH_BUF_LONG_BYTES         (PATH_BUF_BYTES + 2 * (NAME_MAX + 1))
/* One file name, NUL included (a package or evidence name in the spool, an
 * upload's name): NAME_MAX is the most any Linux file system allows. */
#define FILE_NAME_BYTES             (NAME_MAX + 1)
/* A package's name with its evidence suffix added (".sha256", the longest
 * of verify_suffix()'s, is 7 bytes), before the file system has said
 * whether such a name can exist. */
#define EVIDENCE_NAME_BYTES         (FILE_NAME_BYTES + 8)

/* Packages (defaults for [limits] in the config). Real packages are
 * 40-100 MB (R5) and hold a few thousand files; a national CSV is about
 * 55 MB unzipped but ships zipped inside the package. A cap 10x over the
 * largest real package still stops a zip bomb before it eats the machine.
 * Entries count files and folders, implied ones included. Each file also
 * costs ~4.5 KB of prebuilt responses per cut (two cuts live during a
 * publish), so 50,000 files is ~450 MB on top of their bytes. */
#define PKG_MAX_ENTRIES_DEFAULT     50000u
#define PKG_MAX_TOTAL_BYTES_DEFAULT (1024ull * 1024 * 1024)   /* 1 GiB */
#define PKG_MAX_FILE_BYTES_DEFAULT  (512ull * 1024 * 1024)    /* 512 MiB */
/* Linux PATH_MAX is 4096, but no real package path is near 300 bytes; 1024
 * leaves room for deep JSON trees with long accented state names. */
#define PKG_MAX_PATH_BYTES_DEFAULT  1024u
/* The most max_path_bytes may be set to: a normalised package path, with
 * the '/' a rule pattern is matched against and its NUL, always fits a
 * PATH_BUF_BYTES buffer (path.c, unpack.c, rules.c). */
#define PKG_MAX_PATH_BYTES_MAX      4000u
_Static_assert(PKG_MAX_PATH_BYTES_MAX + 2 <= PATH_BUF_BYTES,
	       "a package path must fit a path buffer");

/* The package file itself: real ones are 40-100 MB (R5). */
#define PKG_MAX_PACKAGE_BYTES_DEFAULT (1024ull * 1024 * 1024)
/* Warn when the data folder's disk has less than this free: about twenty
 * 100 MB cuts, an hour or two of election night at INE's pace. */
#define DISK_MIN_FREE_DEFAULT       (2ull * 1024 * 1024 * 1024)
/* Pull defaults. Cuts come every 5-20 minutes (R9); a 30 s poll notices
 * a new one quickly without hammering the institute. */
#define FETCH_POLL_DEFAULT          30u
#define FETCH_CONNECT_TIMEOUT_DEFAULT 10u
/* A 100 MB package at a slow 1 MB/s takes 100 s; 300 s is generous. */
#define FETCH_TIMEOUT_DEFAULT       300u
/* Below 10 KB/s for 30 s the transfer is stalled: drop it and retry. */
#define FETCH_LOW_SPEED_BYTES_DEFAULT 10240u
#define FETCH_LOW_SPEED_TIME_DEFAULT  30u

/* How long a spool package waits for its sidecar or signature. */
#define SPOOL_EVIDENCE_WAIT_DEFAULT 120u

/* The institute's update period ([ingest] period), the unit of R13's
 * three strikes. R9 promises at least one cut every 20 minutes: a
 * 20-minute period without a newer cut is a failure whatever the
 * institute's pace, and a shorter default would count the gaps of an
 * institute that keeps R9 as failures. An institute that cuts faster
 * (INE 2024: every 5 minutes) sets its own. */
#define INGEST_PERIOD_DEFAULT       "20m"
/* [ingest] required_paths: a handful of paths (index.html, the national
 * JSON); each is looked for in every file of every full package. */
#define INGEST_REQUIRED_PATHS_MAX   32

/* Pull (ingest/fetch.c). An index or pointer file is a few lines; anything
 * bigger is not one. */
#define FETCH_INDEX_MAX_BYTES       (64u * 1024)
/* An ETag (or the SFTP size:time stand-in) longer than this is not kept,
 * so that transfer is not conditional: real ETags are under 100 bytes. */
#define FETCH_VALIDATOR_BYTES       256u
/* The upstream URL and an index line naming a package: real ones are under
 * 200 bytes; 2 KiB is what browsers and CDNs reliably take. */
#define FETCH_URL_BYTES             2048u
/* The auth file's one line ("user:password" or "Bearer TOKEN"): real
 * credentials are under 200 bytes; a longer line is read cut short, and
 * the upstream refuses it as it would any wrong password. */
#define FETCH_AUTH_LINE_BYTES       512u
/* An upstream behind a CDN redirects once or twice (http to https, a
 * moved folder); more is a loop. */
#define FETCH_MAX_REDIRECTS         5L
/* A Retry-After above a day is a mistake upstream: ignored, and the poll
 * interval applies. */
#define FETCH_MAX_RETRY_AFTER_S     86400

/* Package verification (ingest/verify.c). The evidence beside a package is
 * a sha256sum line (~100 bytes), a CMS signature with its certificates (a
 * few KiB) or an Ed25519 signature (64 bytes, 88 in base64): 64 KiB is far
 * above any of them and still nothing to hold in memory. */
#define VERIFY_MAX_EVIDENCE_BYTES   (64u * 1024)
/* CMS and Ed25519 read the whole package into memory (Ed25519 signs the
 * message itself, not a hash; GnuTLS takes CMS data as one buffer). Real
 * packages are 40-100 MB; 2 GiB is twice the unpacked 1 GiB default and
 * stays below the 4 GiB a GnuTLS datum can hold. sha256 and none stream
 * the file but keep the same cap. */
#define VERIFY_MAX_PACKAGE_BYTES    (2ull * 1024 * 1024 * 1024)
/* Each CMS signer costs a full pass over the package, so a hostile
 * signature with hundreds of signers would cost minutes of CPU; an
 * institute signs once, twice during a certificate rollover. */
#define VERIFY_MAX_CMS_SIGNERS      4u
/* The trust file: a certificate or CA chain (a few KiB) or a public key.
 * Debian's whole CA bundle is ~200 KiB, so 1 MiB is not a real file. */
#define VERIFY_MAX_TRUST_BYTES      (1024u * 1024)

/* The structural checks of a package (ingest/zipscan.c, gzscan.c,
 * tarscan.c). A zip's end record is searched for in the last 16 KiB, as
 * libarchive 3.6.2 searches (a longer zip comment would send libarchive to
 * its streaming reader, which reads another archive than unzip does). */
#define ZIP_EOCD_SEARCH_BYTES       (16u * 1024)
/* A central directory is read whole: 50,000 entries (the max_entries
 * default) with 1 KiB paths and their extra fields is ~60 MB. */
#define ZIP_MAX_CD_BYTES            (64ull * 1024 * 1024)
/* A gzip header's optional fields: gzip stores the original file name
 * (at most NAME_MAX) and seldom a comment; 64 KiB is none of those. */
#define GZ_MAX_HEADER_BYTES         (64u * 1024)
/* One pax extended header's records (path, times, ids, a few vendor
 * keys: a few hundred bytes with a 4 KiB path) and one GNU long name (a
 * path): held in memory while they are checked. */
#define TAR_MAX_PAX_BYTES           (64u * 1024)
#define TAR_MAX_LONGNAME_BYTES      (8u * 1024)
/* What a tar spends around one entry's data: its header (512), a pax
 * header with path and times (512 + 512), a GNU long name (512 + 512),
 * padding (up to 511). The tar inside a gzip may inflate to max_total_bytes
 * plus this per entry plus one record, or it is refused as a bomb. */
#define TAR_ENTRY_SLACK_BYTES       4096u
/* The 20-block record tar pads its end to. */
#define TAR_RECORD_BYTES            10240u

/* A name from input quoted in a message (a sidecar's file name, a
 * certificate's subject or issuer DN) is cut to this: NAME_MAX for a file
 * name, and enough of a DN to recognise it; a hostile one cannot make a
 * log line unreadable. */
#define MSG_NAME_BYTES              256u
/* The longest certificate chain a key file may hold: leaf, intermediates,
 * maybe a cross-sign. */
#define TLS_MAX_CHAIN               8u
/* Certificate/key pairs chosen by SNI (server/tls.c): the difusor's own
 * domain, the institute-facing one, an RSA twin of each for old clients;
 * 16 is room to spare, and the callback looks at each pair per handshake. */
#define TLS_MAX_CERTS               16u
/* Names a certificate is matched on (its SAN dNSNames, or its CN): public
 * CAs issue at most 100 per certificate; more are ignored and logged. */
#define TLS_MAX_NAMES               128u
/* A DNS name is at most 253 bytes (RFC 1035 2.3.4); a longer SAN entry or
 * server name matches nothing. */
#define TLS_NAME_MAX_BYTES          253u
/* A TLS connection's socket buffers (server/tlsio.c). Reads: a browser's
 * request is one record of 0.5-2 KiB, so 4 KiB takes a record and its
 * header in one recv(); a larger record is read straight into GnuTLS's
 * buffer. Held head: prepd's response heads are under 2 KiB (the record
 * adds 22-29 bytes); a head larger than this goes out on its own. Both
 * per TLS connection, about a ninth of libmicrohttpd's pool. */
#define TLSIO_READ_BYTES            4096u
#define TLSIO_HOLD_BYTES            4096u
/* The largest body sent in one TLS record with its head (tlsio_cork()):
 * with a head of under 2 KiB and the record's 22-29 bytes, one record of
 * at most GnuTLS's 16 KiB. nginx sends a small response as one record
 * too; two records cost the client a second decryption (docs/benchmarks.md,
 * "One record a response"). A larger body has its head record kept for
 * the body's first, both in one sendmsg(). */
#define TLSIO_CORK_BODY_BYTES       12288u
/* What a corked record holds besides its body: a head under 2 KiB and the
 * record's own bytes. A connection whose socket send buffer (SO_SNDBUF,
 * when the connection starts) is not twice body plus this corks smaller
 * bodies. */
#define TLSIO_CORK_HEAD_ROOM        2048u

/* Request paths longer than this get 414: longer than any path a package
 * may hold, percent-encoded (3 bytes per byte). */
#define REQ_MAX_PATH_BYTES          (3 * PKG_MAX_PATH_BYTES_DEFAULT + 1)

/* A header rule or config value longer than this is a typo, not a policy. */
#define CFG_MAX_VALUE_BYTES         4096u
/* Header rules are matched per path at snapshot build time, so their number
 * costs nothing per request; the cap only stops a runaway generated file. */
#define CFG_MAX_RULES               256u
#define CFG_MAX_RULE_HEADERS        16u
/* A header name in a rule: the longest registered field name is under 40
 * bytes; 255 is a typo or a pasted value, refused with its line. */
#define CFG_MAX_HEADER_NAME_BYTES   255u
/* Distinct rule headers one path collects from every rule that matches it
 * (a later rule's header of the same name replaces the earlier one); past
 * this the rest are left out. Four full rules' worth: real configs set a
 * handful of headers on a path. */
#define RULES_MAX_MATCHED_HEADERS   (CFG_MAX_RULE_HEADERS * 4)

/* One operator log line (server/log.c) or `prepd check` result line: real
 * ones are a few hundred bytes; one quoting long input is cut here and
 * keeps its newline. */
#define LOG_LINE_BYTES              2048u

/* `prepd check` (server/check.c). The portal looks for <base> in the page's
 * head; a real index.html is a few KiB (an Angular one well under 100 KiB),
 * so 1 MiB is more than any page a difusor serves and still nothing to
 * hold in memory. */
#define CHECK_MAX_BODY_BYTES        (1024u * 1024)
/* Longest header value kept. Real Cache-Control, ETag and X-PREP-Cut
 * values are under 200 bytes; a big site's Content-Security-Policy can
 * reach a few KiB. A longer CSP is cut and the frame verdict is "unknown"
 * rather than a guess. */
#define CHECK_MAX_VALUE_BYTES       8192u
/* Browsers give up after 20 redirects; a difusor behind a CDN needs one or
 * two (http to https, a folder to its slash). More is a loop. */
#define CHECK_MAX_REDIRECTS         10L
/* Seconds for the whole check unless --timeout says otherwise: a page of
 * a few KiB arrives in well under a second on any working link. Ten
 * minutes is the most --timeout takes: past it a person has given up. */
#define CHECK_TIMEOUT_DEFAULT       10u
#define CHECK_TIMEOUT_MAX           600u

/* Connections. libmicrohttpd 0.9.75 defaults to about 1020 per daemon and
 * past that clients wait silently in the accept queue; prepd sets its own
 * total and splits it across the worker daemons. */
#define NET_CONN_LIMIT_DEFAULT      8000u
/* libmicrohttpd 0.9.75 has no timeout by default, so an idle or slow client
 * holds a connection forever. 30 s is above any real browser's keep-alive
 * gap and below what a slowloris needs to matter. */
#define NET_CONN_TIMEOUT_DEFAULT    30u
#define NET_LISTEN_BACKLOG          4096
/* The request head prepd serves (server/http.c on_head(); more is 431):
 * a browser's request is 1-2 KiB, 8 KiB with heavy cookies; nginx's
 * default takes 4 lines of 8 KiB. One header line (name and value) is
 * capped at 8 KiB as nginx does, and 100 lines is Apache's default and
 * ten times what a browser sends. */
#define REQ_MAX_HEAD_BYTES          (16u * 1024)
#define REQ_MAX_FIELD_BYTES         (8u * 1024)
#define REQ_MAX_FIELDS              100u
/* The query string a folder redirect carries over (server/http.c): the
 * head cap bounds it anyway; real ones (utm_*, cache busters) are short. */
#define REQ_MAX_QUERY_BYTES         2048u
/* Memory per connection (libmicrohttpd's pool) for the request head and
 * the response headers. libmicrohttpd 0.9.75 keeps the head in the pool,
 * ~50 bytes a header line on top, and copies the Cookie value once more
 * to split it, with a record per cookie; it answers 431 itself (with no
 * prepd headers, and for a Cookie that does not fit, malformed:
 * docs/security.md) when a head does not fit. 32 KiB holds a head at the
 * REQ_MAX_HEAD_BYTES cap of 100 lines, or one carrying a Cookie at the
 * REQ_MAX_FIELD_BYTES line cap of up to ~350 cookies (a browser sends at
 * most 180 to one site), plus the response headers; prepd itself answers
 * 431 for a head over the cap, up to about twice the cap.
 * Not more: above 32 KiB 0.9.75 maps each pool with mmap() and unmaps it
 * when the connection closes (memorypool.c MHD_pool_create()), so every
 * connection costs two page-table changes and a TLB shootdown on the
 * other cores; at 36 KiB that doubled prepd's CPU for a connection that
 * carries one request (docs/benchmarks.md, "A connection's memory").
 * worker.c checks the bound at compile time. Every keep-alive request
 * clears the whole pool (a memset): see docs/security.md for its cost. */
#define NET_CONN_MEMORY_BYTES       (32u * 1024)
/* libmicrohttpd 0.9.75 mallocs a pool of at most this much, mmaps a
 * larger one. */
#define NET_MHD_POOL_MALLOC_MAX     (32u * 1024)
#define NET_MAX_THREADS             64u
/* Requests in flight get this long to finish on SIGTERM: a 310 KB bundle
 * reaches a slow phone in well under 5 s; a systemd stop waits 90 s. */
#define NET_STOP_GRACE_MS           5000u
/* While stopping, a connection accepted before the listeners closed whose
 * first bytes have not come yet gets this long from its accept to send
 * them (a client sends its request or TLS hello the moment the handshake
 * completes, an RTT at most); after that it is a preconnect that will
 * never ask anything of this process, and it is closed. Idle keep-alive
 * connections are closed at once (worker.c drain_idle()). */
#define NET_DRAIN_FIRST_BYTES_MS    1000u
/* Request states kept per worker for reuse (server/http.c): enough for a
 * worker's concurrent requests, without holding memory after a burst. */
#define NET_REQ_CACHE_MAX           1024u

/* The admin listener (server/admin.c). A token shorter than 16 bytes is a
 * typo, not a secret; 256 holds any token a person or a secret store makes.
 * Admin clients are operators and scripts, not the public: 32 connections. */
#define ADMIN_TOKEN_MIN_BYTES       16
#define ADMIN_TOKEN_MAX_BYTES       256
#define ADMIN_CONN_LIMIT            32u

/* Running as a service (server/listen.c, server/main.c). prepd has three
 * listeners (HTTP, HTTPS, admin); a socket unit passing more than 16 is a
 * mistake, and the extra ones are closed and named in the log. */
#define NET_MAX_INHERITED_SOCKETS   16u
/* A PEM certificate chain or key file (server/tls.c): a chain of
 * TLS_MAX_CHAIN RSA-4096 certificates is under 20 KiB; 1 MiB is no
 * certificate file. */
#define TLS_PEM_MAX_BYTES           (1024u * 1024)
/* --check-config warns about a certificate that expires within this many
 * days: enough for a renewal to go through the difusor's CA and change
 * window before election night. */
#define TLS_EXPIRY_WARN_DAYS        30u

/* The request-record bus (server/reqbus.c). A request thread packs its
 * fixed-size record (struct reqrec, about 1.3 KiB) to its used bytes
 * (300-400 for a browser's request, reqrec_pack()) and copies it into its
 * own byte ring without a lock; when the ring is full the record is
 * dropped and counted, never waited for. 4 MiB per worker, the size of the
 * byte ring the access log had before the bus, holds about 11,000 typical
 * records: over 100 ms at the ~100k req/s a worker serves in
 * docs/benchmarks.md, ten times the collector's nap, so a collector that
 * loses the CPU for a while (two cores shared with wrk) catches up.
 * (Unpacked records, 3,072 to a ring, dropped lines in that case.) Must be
 * a power of two. */
#define REQBUS_RING_BYTES           (4u << 20)
/* A ring per worker (NET_MAX_THREADS) and a few for tests and tools. */
#define REQBUS_MAX_RINGS            (NET_MAX_THREADS + 8u)
/* Access log, statistics, metrics: a handful of sinks. */
#define REQBUS_MAX_SINKS            8u
/* With nothing queued the collector naps this long: sinks (the access log
 * file) stay at most 10 ms behind without a wake-up call per request. */
#define REQBUS_NAP_NS               (10u * 1000 * 1000)

/* Fields of a request record, cut to these sizes on the request thread.
 * The request target keeps 508 bytes and "..." when cut (the access log
 * has always shown it so); real paths are under 300 bytes (see
 * PKG_MAX_PATH_BYTES_DEFAULT), so only junk is cut. User-Agent and
 * Referer above 255 bytes are cut silently: real browsers send 100-150. */
#define REQREC_TARGET_BYTES         512u
#define REQREC_FIELD_BYTES          256u
/* A method or protocol longer than this is not HTTP libmicrohttpd serves. */
#define REQREC_METHOD_BYTES         16u
#define REQREC_PROTO_BYTES          16u
/* X-Forwarded-For or Forwarded as received, cut from the left so the
 * entries the nearest proxies appended survive a client that pads the
 * header; a chain of three IPv6 hops is about 120 bytes. */
#define REQREC_FWD_BYTES            128u

/* The room an access log line is formatted in: every byte of the target,
 * referer and user agent escaped as \xHH, plus the fixed fields. A line
 * whose method and protocol are escaped too would be a few bytes longer:
 * its user agent is cut to fit. */
#define ALOG_LINE_MAX               (REQREC_TARGET_BYTES * 4 + REQREC_FIELD_BYTES * 8 + 256)
/* The collector formats lines into a buffer of this size and writes it
 * when it cannot take another line or at the end of a pass: ~300 lines a
 * write(2) under load. */
#define ALOG_BUF_BYTES              (64u * 1024)

/* gzip level: 9 for files up to GZIP_BEST_MAX_BYTES, 6 above. An entry is
 * compressed once and reused by every later cut while its content stays
 * the same, so the best ratio is worth it; above 4 MiB (a big CSV) level 9
 * costs seconds for ~1% and would delay the cut being published. */
#define GZIP_BEST_MAX_BYTES         (4u << 20)

/* The variant thread (server/variant.h) runs at this nice value, below
 * the request threads, and calls malloc_trim(0) once this many bytes of
 * bodies and variants were freed (a large cut replaced): glibc would keep
 * them in its arenas. 32 MiB: a JSON-only cut never trims, a full one
 * does, and a trim of a 1 GB heap takes milliseconds on its own thread. */
#define VARIANT_NICE                10
#define VARIANT_TRIM_BYTES          (32ull << 20)
/* Allocations of this size or more are mappings of their own (main.c's
 * mallopt): a large body or variant goes back to the system when freed. */
#define MEM_MMAP_THRESHOLD_BYTES    (128 * 1024)
/* glibc gives the free top of a heap back (madvise(MADV_DONTNEED)) once it
 * is this large; its default, 128 KiB, is crossed back and forth by
 * connections opening and closing (each holds 32 KiB or more of
 * libmicrohttpd and GnuTLS memory), and each give-back costs a TLB
 * shootdown on the other cores and page faults when the memory is used
 * again: about 15% of prepd's CPU for a connection carrying one request
 * (docs/benchmarks.md, "A connection's memory"). 8 MiB keeps a worker's
 * churn in its heap; a storm of connections closing, or a cut's bodies
 * freed, is still given back (and the variant thread's malloc_trim()
 * takes the rest). */
#define MEM_TRIM_THRESHOLD_BYTES    (8 * 1024 * 1024)
/* A cut image (server/image.h) is written only when twice its size and
 * this much more stay free: it is a cache, and must never take the room
 * the history needs for the next package. */
#define IMAGE_MIN_FREE_BYTES        (256ull << 20)

/* Only this many reader threads may look at snapshots without a lock. */
#define SNAP_MAX_READERS            128u

/* History (ingest/store.c). A kept package is named "SEQ-NAME"; file
 * systems allow 255 bytes per name and SEQ takes at most 21 with its '-',
 * so NAME is cut at 200 bytes (keeping a short extension). Real names
 * ("20240602_2215_PREP_PRES_NAL.zip") are under 50. */
#define STORE_MAX_NAME_BYTES        200u
/* A name cut to STORE_MAX_NAME_BYTES keeps an extension up to this long
 * (".tar.gz", ".zip"), so a person and the unpacker's caller still see
 * what it is. */
#define STORE_MAX_EXT_BYTES         16u
/* One journal line, newline included. The longest record journal_append()
 * can write (every text field of struct journal_rec full and every byte
 * escaped as \xHH) is about 5 KiB; store.c asserts it fits, so no record is
 * ever refused, and a reader of a damaged file stops at a bounded line. */
#define JOURNAL_MAX_LINE            8192u

/* Ingest (ingest/). Packages arrive every 5-20 minutes; 64 jobs queued
 * means the pipeline is stuck, and a source should back off (RC_LIMIT). */
#define INGEST_QUEUE_MAX            64u
/* Claimed arrivals waiting (spool packages for their sidecar or
 * signature, packages for disk space, uploaded evidence for its package).
 * An institute sends one package a cut, ~100 a night, so 1024 waiting is
 * a stuck uploader for days. Past it nothing is forgotten: a package
 * waiting for evidence is quarantined as unverifiable, the rest stay in
 * DATA/incoming for the next start; each is logged (ingest pending-full). */
#define INGEST_PENDING_MAX          1024u
/* Files the spool scan takes in one pass (start-up, inotify overflow),
 * oldest name first; the rest are taken by the next pass. A night is
 * ~100 cuts, so 1024 is a folder nobody cleaned for a week. */
#define SPOOL_SCAN_MAX              1024u
/* Packages kept in history/ without a journal line that start-up resumes.
 * A crash leaves one (the package being worked on); 256 is a damaged
 * folder, and the rest are left where they are. */
#define RESUME_MAX                  256u
/* A replay chain (a full package and the incremental ones laid over it)
 * deeper than this is a corrupt journal, not a real night (~100 cuts). */
#define REPLAY_MAX_DEPTH            4096u

/* Publish events (ingest/event.c): one subscriber (CDN purge, stats)
 * per concern, and only a handful of concerns exist. */
#define EVENT_MAX_SUBSCRIBERS       8u
/* Events queued for one subscriber. A cut comes every 5-20 minutes, so a
 * subscriber 64 events behind has been stuck for hours; the oldest is
 * dropped (and counted) rather than the ingest thread ever waiting. */
#define EVENT_QUEUE_MAX             64u


/* The shield (server/shield.c, server/proxy.c, server/worker.c).
 * A request head (request line and headers) must be complete this many
 * seconds after the connection was accepted, however slowly it trickles:
 * libmicrohttpd 0.9.75 restarts its timeout on every byte, so without a
 * total deadline one client holds a slot forever. A browser sends its
 * head in one packet right after the TCP (and TLS) handshake; on a poor
 * mobile link a lost packet costs 1, then 2, then 4 s of retransmission,
 * so 10 s leaves room for a handshake and two losses. nginx allows 60 s. */
#define SHIELD_HEADER_TIMEOUT_DEFAULT 10u
/* Trusted proxy ranges: a CDN publishes a few dozen (Cloudflare: 22). */
#define SHIELD_TRUSTED_MAX          256u
/* X-Forwarded-For hops looked at, right to left: a real chain is 1-3
 * proxies; past 32 only a client padding the header remains. */
#define SHIELD_XFF_HOPS_MAX         32u
/* X-Forwarded-For header lines looked at (RFC 9110 lets a list be split
 * over lines); proxies append to one line, so more is a client's junk. */
#define SHIELD_XFF_LINES_MAX        8u
/* A PROXY v2 header: 16 bytes, the addresses (216 bytes at most, for
 * AF_UNIX) and TLVs. HAProxy's TLVs (ALPN, authority, unique id up to 128
 * bytes, SSL details) stay well under 1 KiB; a longer header is refused. */
#define PROXY_V2_MAX_BYTES          1024u
/* Clients the limits keep state for (connections, token bucket, block),
 * in SHIELD_SHARDS shards of a fixed-size table: about 64 bytes each, so
 * 4 MiB. An entry is dropped once it holds no connection, its bucket is
 * full and it is neither blocked nor logged in the last minute; when the
 * table is full anyway a new client is not limited (and it is counted and
 * said), because serving matters more than limiting. 65,536 distinct
 * addresses within a minute is far beyond a newsroom or a CDN's POPs. */
#define SHIELD_CLIENTS_MAX          65536u
/* Shards of that table, each with its own lock: with 64 workers at most
 * two threads share a shard at random, and a lock is held for one table
 * probe and a few additions (tens of nanoseconds). */
#define SHIELD_SHARDS               64u
/* The per-client request rate default: 1,000 requests a second with
 * bursts of 2,000. A browser loading the results page makes about 60
 * requests and then polls a few JSON files every minute; a newsroom of
 * 500 people behind one NAT address peaks near 300 req/s when everyone
 * reloads at a cut. A CDN POP before trusted_proxies is set revalidates
 * its hot files (about 100) every 10 s (max-age) from each of a few dozen
 * cache nodes: a few hundred req/s. A single client above 1,000 req/s
 * sustained is a tool, not a reader. */
#define SHIELD_RATE_DEFAULT         1000u
#define SHIELD_BURST_DEFAULT        2000u
/* Minutes an address stays blocked under the "block" action. */
#define SHIELD_BLOCK_MINUTES_DEFAULT 10u
/* Webhook events waiting for the webhook thread. Each is sent at most
 * once per address, rule and minute, so 256 queued is a receiver that is
 * down; newer events are then dropped and counted. */
#define SHIELD_WEBHOOK_QUEUE        256u
/* Seconds for one webhook POST, connecting included: a receiver on the
 * same network answers in milliseconds; a slow one must not hold events. */
#define SHIELD_WEBHOOK_TIMEOUT_S    5u
/* The webhook URL (http:// or https://): 2 KiB as any URL prepd takes. */
#define SHIELD_WEBHOOK_URL_BYTES    2048u
/* Connections a worker accepts per listener in one pass of its loop, so
 * an accept storm cannot starve the connections it already has. Also the
 * room above prepd's own per-daemon limit given to libmicrohttpd's, for
 * connections prepd has shut down but libmicrohttpd has not yet reaped. */
#define NET_ACCEPT_BATCH            64u
/* The workers share a listening socket, and the kernel does not share
 * its connections out evenly: bursts of 64 went 51 to 13 or 39 to 25,
 * 256 went 161 to 95. The worker with fewer then sleeps between its
 * requests while the other's wait: at 64 connections three times the
 * context switches a request, at 256 over HTTPS a p99 of 11-46 ms
 * against 8-12 ms shared out evenly (docs/benchmarks.md). A worker
 * holding more connections of a listener than another worker's count o
 * plus NET_BALANCE_SLACK + o / NET_BALANCE_SHARE leaves the next ones to
 * the others (worker.c leave_to_others()): 64 go at worst 34 to 30,
 * 1,000 at worst 516 to 484. The slack keeps a steady stream of new
 * connections (one a request, whose counts move by one or two) from
 * switching the listener out and in at each accept: that row measured
 * 1.01-1.10 times the req/s of the code before. */
#define NET_BALANCE_SLACK           2u
#define NET_BALANCE_SHARE           16u
/* libmicrohttpd 0.9.75's epoll loop gathers every ready connection of a
 * daemon, then answers them all, so one daemon with thousands of busy
 * connections answers in bursts of thousands, and a client's next request
 * waits for the whole burst (p99 0.5-1.2 s at 3,000 connections on one
 * core, against nginx's 60-90 ms). Each worker therefore runs up to
 * NET_SHARDS daemons a listener ("shards"), fills one to NET_SHARD_CONNS
 * connections before using the next, and runs one ready shard per pass
 * of its loop: bursts of one or two hundred. 16 x 128 rather than the
 * first 8 x 256: p99 at 3,000 connections on one core 75-89 ms against
 * 97-131 ms, the same req/s, and no cost at 256 and 1,000 connections on
 * two workers (docs/benchmarks.md, "Issue 13: shards of 128"). */
#define NET_SHARDS                  16u
#define NET_SHARD_CONNS             128u
/* An HTTPS shard whose last run moved no byte while libmicrohttpd still
 * called it ready (a TLS handshake waiting for the client: worker.c
 * run_shard()) is run again when a socket of it has news, or after this
 * long at the latest: the bound on how late a pass could come if some
 * other ready state also moved nothing. */
#define NET_TLS_STALL_WAIT_MS       10u
/* New TLS connections a worker hands to libmicrohttpd before the shard
 * that took them has run: the full handshakes one run of a shard may
 * compute (server/worker.c hand_over_waiting()). A full handshake costs
 * about 0.6 ms of CPU (docs/benchmarks.md, "TLS handshakes"), and a run
 * answers its shard's keep-alive requests only after every handshake in
 * it, so a surge of a thousand new visitors handed over at once made the
 * visitors already connected wait hundreds of milliseconds. 8 bounds a
 * run's handshakes to about 5 ms; the rest wait for the next pass, with
 * their ClientHello in the socket, under the head deadline from accept. */
#define NET_HANDSHAKE_BATCH         8u
/* The first look at a connection (server/sniff.h, server/worker.c) peeks
 * at most this much of it, again each time more arrives, until its
 * request line is whole: real request lines are under 200 bytes, a long
 * API one under 1 KiB. A longer line goes to libmicrohttpd unjudged
 * (its own checks apply), so a client trickling bytes costs at most
 * 1 KiB copied per segment. */
#define NET_SNIFF_BYTES             1024u
/* At most once every 10 s per worker: the connection-limit, header-
 * timeout and PROXY-header summaries (never one line per connection). */
#define NET_WARN_INTERVAL_NS        (10ull * 1000 * 1000 * 1000)


/* ---- the edge: CDN purge and the fleet view (edge/) ---- */
/* Paths, URLs or tags in one purge request, the largest any target
 * documents: CloudFront takes up to 3,000 files in progress per
 * distribution; Cloudflare 100 URLs or tags per request (30 on some
 * plans); Fastly 256 keys per batch purge. */
#define PURGE_BATCH_MAX             3000u
/* Paths one target's pending purge may gather (a cut's changes, unioned
 * over superseded cuts); past it the purge becomes "everything" (a
 * wildcard, a purge of the zone, a ban of every object). */
#define PURGE_MAX_PATHS             100000u
/* A purge or peer URL, and the [purge NAME] tags line. */
#define PURGE_URL_BYTES             2048u
#define PURGE_MAX_TAGS              64u
#define PURGE_TAGS_BYTES            2048u
/* A secret file (a token, a key, an HMAC secret, AWS credentials). */
#define PURGE_SECRET_MAX_BYTES      4096u
/* An API answer kept to read success/errors from; the rest is dropped. */
#define PURGE_ANSWER_MAX_BYTES      (64u * 1024)
/* A Retry-After longer than this is cut to it: a CDN saying "come back
 * in a day" would leave the edge stale all night. */
#define PURGE_RETRY_AFTER_MAX_S     600u
/* Peers one origin reads ([fleet] peers): each is one HEAD per poll. */
#define FLEET_MAX_PEERS             32u

/* ---- reload, metrics, placeholder ---- */
/* Threads that may read the shield's rules at once (server/shield.c's
 * reader slots): the workers, the webhook thread, a few spare. A thread
 * past it still works, through one shared counter. */
#define SHIELD_MAX_READERS          (NET_MAX_THREADS + 8u)
/* Configs retired by reloads whose last reader (the ingest thread, busy
 * with a package) has not let go yet; a reload past it waits. */
#define RELOAD_RETIRED_MAX          8u
/* Errors of one refused reload that are logged one per line; the rest
 * are counted. */
#define RELOAD_ERRORS_LOGGED_MAX    64u
/* A name shown on the placeholder ([placeholder] institute, difusor):
 * the longest institute name is under 100 bytes. */
#define PLACEHOLDER_NAME_MAX_BYTES  200u
/* /metrics: label values are prepd's own words (listener, status class,
 * refusal step, stage), so the series are bounded by these. */
#define METRICS_REFUSAL_KINDS       16u
#define METRICS_BODY_MAX_BYTES      (64u * 1024)


/* ---- CDN cache headers and skew protection (server/policy.c, snap_build.c) ---- */
/* [cache] keep_cuts at most: each kept cut is a group the builder walks
 * per publish; an Angular site's old bundles are a few MiB each, and 32
 * cuts at the fastest cadence (5 min) is over two and a half hours. */
#define SNAP_KEEP_MAX_CUTS          32u
/* [cache] keep_max_bytes default: bytes held only by kept files (old
 * bundles and lazy chunks, a few MiB a cut), pruned oldest cut first. */
#define SNAP_KEEP_MAX_BYTES_DEFAULT (256ull << 20)
/* The CDN TTL of per-cut responses with cdn_ttl = auto and a purge on:
 * long, because every publish purges; a purge that never arrives leaves
 * the edge behind for at most this long (the next cut's purge, by tag,
 * covers the earlier ones too). */
#define POLICY_CDN_TTL_PURGED       3600u
/* Surrogate-Key and Cache-Tag values: at most 5 tags of prepd's own
 * words and one cut label (CUT_LABEL_BYTES); Fastly takes keys of up to
 * 1024 bytes and a 16 KiB header, Cloudflare 16 KiB of tags, CloudFront
 * tags of 256 characters, so these always fit. */
#define POLICY_TAGS_BYTES           512u
/* A package's 404.html up to this size is gzipped while its snapshot is
 * built (the 404 answers are prebuilt per snapshot); a few ms at most. */
#define POLICY_404_GZIP_NOW_MAX     (1u << 20)

/* The incident log (server/incident.c, DATA/incidents.log). A line holds
 * a kind and a few fields, the longest a refusal's reason (a stage
 * result's 600 bytes) and a package name (NAME_MAX), which JSON escaping
 * may grow up to 6x for control bytes: past this a field is cut. */
#define INCIDENT_LINE_BYTES         4096u
/* Lines waiting for the writer thread. Incidents are rare (a refusal, a
 * period, the shield's one line per client, rule and minute); a burst
 * larger than this is an attack logged elsewhere too, so the excess is
 * dropped and counted in the next line written. */
#define INCIDENT_QUEUE_MAX          256u
/* The dashboard reads only the end of incidents.log: enough for the last
 * few dozen lines whatever the file's size. */
#define INCIDENT_TAIL_BYTES         (64u * 1024)
/* Fields one incident line may hold when read back (the report, the
 * dashboard): prepd writes at most 8; more come from someone else. */
#define INCIDENT_MAX_FIELDS         12u

/* The self-probe (server/probe.c): one GET per listener, each bounded so
 * a stuck listener cannot hold the next round. */
#define PROBE_INTERVAL_DEFAULT      "1m"
#define PROBE_TIMEOUT_S             10L

/* prepd report (server/report.c). A period longer than a month is not a
 * night: its 15-minute series would be thousands of points per chart. */
#define REPORT_MAX_RANGE_S          (31 * 86400)
/* Rows of the top pages and referrers tables. */
#define REPORT_TOP_N                20
/* Journal lines and incidents kept for the timeline; more is not a night
 * (INE publishes ~150 cuts). Past it the rest are counted, not listed. */
#define REPORT_MAX_ROWS             2000u
/* An access log line longer than this is not one prepd wrote
 * (ALOG_LINE_MAX is far below): it is copied only if its time is read. */
#define REPORT_LOG_LINE_BYTES       (64u * 1024)
/* Rotated access logs looked for: access.log.1 ... .N(.gz). */
#define REPORT_MAX_ROTATED          60
/* The dashboard's ingest timeline: the last journal lines and incidents. */
#define DASHBOARD_TIMELINE          15u

/* The audience statistics (server/stats.c, server/stats_agg.c). */
/* A visitor's session ends after this long without a request; 30 min is
 * the usual web-analytics visit (goaccess, Matomo, Google Analytics), and
 * a PREP page open on a screen polls its JSON far more often. */
#define STATS_SESSION_GAP_DEFAULT   "30m"
/* The collector hands its counts to the stats writer thread this often,
 * so DATA/stats.db (and the dashboard reading it) is at most ~4 s behind
 * (the contract asks for 5 s). Each active visitor costs the writer two
 * upserts per flush (its 15-minute row and its session), whatever its
 * request count: 20,000 visitors took 0.6-1.1 s of writing per 2 s flush
 * on the shared 2-core machine, so flush as late as freshness allows. */
#define STATS_FLUSH_MS              4000u
/* Rows one batch may hold (per-minute, per-bucket visitor, page, referrer
 * and session rows together, ~60 bytes each in memory): ~16 MiB. At
 * 100k req/s from 50k distinct visitors a 4 s batch has ~100k rows, so
 * this is only reached when the writer is stuck; then the collector
 * drops that batch's counts (counted: stats dropped=) rather than grow. */
#define STATS_BATCH_MAX_ROWS        (256u * 1024)
/* Key bytes (paths, referrers, cut labels, visitor hashes) of one batch. */
#define STATS_BATCH_MAX_KEY_BYTES   (16u << 20)
/* Open sessions kept in memory (~64 bytes each): visitors seen in the last
 * session_gap. 1M is a national night's peak behind a CDN-less origin;
 * past it the least recently active session is closed early (counted,
 * logged: stats sessions-evicted). */
#define STATS_MAX_SESSIONS          (1u << 20)
/* How long an SQLite call of the server's writer waits for another
 * writer (an import beside the running server) before it tries again;
 * a batch waits as long as an import holds the lock (the collector
 * keeps counting meanwhile, up to STATS_BATCH_MAX_ROWS). */
#define STATS_DB_BUSY_MS            5000u
/* The import command waits this long for another import's transaction
 * (one per file) before it gives up on a file. */
#define STATS_IMPORT_BUSY_MS        (10u * 60 * 1000)
/* A batch that cannot be written (disk full, read-only, locked) is tried
 * again every second for this long, then dropped and counted; the writer
 * reopens the database on the next batch. */
#define STATS_WRITE_RETRY_S         30u
/* The import command: one transaction per file; the counts are written
 * into it every this many lines, so memory stays bounded. */
#define STATS_IMPORT_FLUSH_LINES    100000u
/* An import line longer than this is a bad line (an edge log line with
 * every field full is under 16 KiB). */
#define STATS_IMPORT_LINE_MAX       (64u * 1024)

#endif
