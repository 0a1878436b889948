/* Every size driven by input has a named cap here, with why it has its value.
 * Caps that an operator may need to change are only defaults: the config
 * file overrides them (see prepd.ini.example). */
#ifndef PREPD_LIMITS_H
#define PREPD_LIMITS_H

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

/* Request paths longer than this get 414: longer than any path a package
 * may hold, percent-encoded (3 bytes per byte). */
#define REQ_MAX_PATH_BYTES          (3 * PKG_MAX_PATH_BYTES_DEFAULT + 1)

/* A header rule or config value longer than this is a typo, not a policy. */
#define CFG_MAX_VALUE_BYTES         4096u
/* Header rules are matched per path at snapshot build time, so their number
 * costs nothing per request; the cap only stops a runaway generated file. */
#define CFG_MAX_RULES               256u
#define CFG_MAX_RULE_HEADERS        16u

/* Connections. libmicrohttpd 0.9.75 defaults to about 1020 per daemon and
 * past that clients wait silently in the accept queue; prepd sets its own
 * total and splits it across the worker daemons. */
#define NET_CONN_LIMIT_DEFAULT      8000u
/* libmicrohttpd 0.9.75 has no timeout by default, so an idle or slow client
 * holds a connection forever. 30 s is above any real browser's keep-alive
 * gap and below what a slowloris needs to matter. */
#define NET_CONN_TIMEOUT_DEFAULT    30u
#define NET_LISTEN_BACKLOG          4096
/* Memory per connection for the request head and the response headers:
 * a browser's request is 1-2 KiB, 8 KiB with heavy cookies. */
#define NET_CONN_MEMORY_BYTES       (16u * 1024)
#define NET_MAX_THREADS             64u

/* Access log: lines are queued per worker without locks; when a queue is
 * full the line is dropped and counted, never waited for. A line is about
 * 200 bytes, so 4 MiB holds ~20,000: a quarter second of a worker at 80k
 * req/s, far more than the writer's 10 ms nap. Must be a power of two. */
#define ALOG_RING_BYTES             (4u << 20)
#define ALOG_URI_BYTES              512u
#define ALOG_FIELD_BYTES            256u
#define ALOG_LINE_MAX               (ALOG_URI_BYTES * 4 + ALOG_FIELD_BYTES * 8 + 256)

/* gzip level: 9 for files up to GZIP_BEST_MAX_BYTES, 6 above. An entry is
 * compressed once and reused by every later cut while its content stays
 * the same, so the best ratio is worth it; above 4 MiB (a big CSV) level 9
 * costs seconds for ~1% and would delay the cut being published. */
#define GZIP_BEST_MAX_BYTES         (4u << 20)

/* Only this many reader threads may look at snapshots without a lock. */
#define SNAP_MAX_READERS            128u

/* History (ingest/store.c). A kept package is named "SEQ-NAME"; file
 * systems allow 255 bytes per name and SEQ takes at most 21 with its '-',
 * so NAME is cut at 200 bytes (keeping a short extension). Real names
 * ("20240602_2215_PREP_PRES_NAL.zip") are under 50. */
#define STORE_MAX_NAME_BYTES        200u
/* One journal line, newline included. The longest record journal_append()
 * can write (every text field of struct journal_rec full and every byte
 * escaped as \xHH) is about 5 KiB; store.c asserts it fits, so no record is
 * ever refused, and a reader of a damaged file stops at a bounded line. */
#define JOURNAL_MAX_LINE            8192u

/* Ingest (ingest/). Packages arrive every 5-20 minutes; 64 jobs queued
 * means the pipeline is stuck, and a source should back off (RC_LIMIT). */
#define INGEST_QUEUE_MAX            64u
/* Spool packages waiting for their sidecar or signature: an institute
 * drops one package a cut, so 64 waiting is a stuck uploader. */
#define INGEST_PENDING_MAX          64u
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

/* A file path as given or as prepd builds it from a folder and a name:
 * Linux's PATH_MAX. snprintf cuts a longer one, which then fails to open. */
#define PATH_BUF_BYTES              4096u
/* A path built from one of PATH_BUF_BYTES and a name or suffix prepd adds
 * (a kept "history/SEQ-NAME" is under 512 bytes, an evidence suffix 8),
 * so the joined path is never cut short. */
#define PATH_JOIN_BYTES             (PATH_BUF_BYTES + 512u)

#endif
