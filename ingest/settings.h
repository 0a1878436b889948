/* The ingest module's settings: what the config fills in and the ingest,
 * fetch, unpack and verify code read. Plain data, no behaviour, so that
 * server/config.h can hold them without pulling in the modules.
 *
 * Each field that is a key of the config file is a row of the settings
 * table (server/settings.c), which parses it, gives its default and frees
 * it: a `char *` here is owned by the config. Fields marked "derived" are
 * not keys: config_finish() fills them from the others. */
#ifndef PREPD_INGEST_SETTINGS_H
#define PREPD_INGEST_SETTINGS_H

#include <stdbool.h>
#include <stdint.h>

struct policy;

enum verify_mode {
	VERIFY_NONE,     /* size cap only; the SHA-256 is still computed */
	VERIFY_SHA256,   /* evidence: sidecar text "<64 hex>  NAME" lines */
	VERIFY_CMS,      /* evidence: DER CMS SignedData, detached */
	VERIFY_ED25519,  /* evidence: the 64-byte signature (raw, or base64) */
};

/* Caps for one package; each is a [limits] key in the config. */
struct unpack_limits {
	uint64_t max_entries;      /* files and directories */
	uint64_t max_total_bytes;  /* sum of unpacked file sizes */
	uint64_t max_file_bytes;   /* one unpacked file */
	uint64_t max_path_bytes;   /* one normalised entry name */
};

struct fetch_settings {
	char *url;                    /* https:// or sftp:// (upstream or
	                               * upstream_index) */
	bool index;                   /* url is an index/pointer file (set with
	                               * url by upstream_index) */
	char *ca_file;                /* trust for the upstream; NULL: system */
	char *pinned_key;             /* "sha256//BASE64" or a PEM/DER file */
	char *client_cert;            /* PEM ("autenticación por archivo PEM") */
	char *client_key;
	char *auth_file;              /* "user:password" (basic) or
	                               * "Bearer TOKEN", one line */
	char *known_hosts;            /* SFTP host keys (OpenSSH format);
	                               * required for sftp:// */
	char *ssh_key;                /* SFTP private key (the public one is
	                               * derived from it), or NULL */
	unsigned connect_timeout_s;
	unsigned total_timeout_s;
	unsigned low_speed_bytes;     /* abort below this many bytes/s ... */
	unsigned low_speed_s;         /* ... for this long */
	uint64_t max_bytes;           /* derived: a body over this is refused
	                               * (ingest's max_package_bytes) */
	const char *evidence_suffix;  /* derived from ingest's verify: NULL,
	                               * no evidence to fetch */
	char *tmp_dir;                /* derived: where downloads land
	                               * (DATA/tmp, store_tmp_path()) */
	char *state_file;             /* derived: DATA/fetch.state, remembers
	                               * validators across restarts */
};

/* How a package is laid on the site (R7). */
enum ingest_kind {
	KIND_AUTO,         /* a package with index.html at its root is full,
	                    * one without is incremental (Tamaulipas) */
	KIND_FULL,
	KIND_INCREMENTAL,
};

struct ingest_settings {
	const char *data_dir;            /* derived: [server] data */
	char *spool_dir;                 /* NULL: no spool */
	enum verify_mode verify;
	char *trust_file;
	enum ingest_kind kind;
	uint64_t max_package_bytes;      /* the package file itself */
	uint64_t min_free_bytes;         /* warn below this much free disk */
	unsigned evidence_wait_s;        /* how long a spool package waits for
	                                  * its sidecar or signature */
	const struct unpack_limits *limits;   /* derived: the config's [limits] */
	const char *startup_package;     /* derived: [server] package, run
	                                  * through the pipeline before
	                                  * ingest_start() returns */
	char *cut_json;                  /* package path of the JSON holding the
	                                  * cut time, or NULL */
	char *cut_key;                   /* its dotted key path (cut.h) */
	char *legacy_codepage;           /* the iconv code page zip names
	                                  * without the UTF-8 flag are decoded
	                                  * from when they are not UTF-8 */
	const struct fetch_settings *fetch;   /* derived: the config's fetch
	                                       * settings when an upstream is
	                                       * set; NULL: no pull */
	unsigned poll_s;                 /* seconds between polls */
	bool require_base;               /* a full cut's index.html has a
	                                  * <base href> (R11) */
	char *required_paths;            /* normalised package paths every full
	                                  * cut has, space-separated; NULL: none */
	unsigned period_s;               /* the institute's update period (R9,
	                                  * R13) */
	char *time_zone;                 /* IANA name: cut times and zip entry
	                                  * times are its local times (cut.h) */
	const struct policy *policy;     /* the response policy each new cut
	                                  * is built with (server/policy.h);
	                                  * borrowed, read at each build */
};

#endif
