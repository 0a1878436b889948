/* The ingest module's settings: what the config fills in and the ingest,
 * fetch, unpack and verify code read. Plain data, no behaviour, so that
 * server/config.h can hold them without pulling in the modules. */
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
	const char *url;              /* https:// or sftp:// */
	bool index;                   /* url is an index/pointer file */
	const char *ca_file;          /* trust for the upstream; NULL: system */
	const char *pinned_key;       /* "sha256//BASE64" or a PEM/DER file */
	const char *client_cert;      /* PEM ("autenticación por archivo PEM") */
	const char *client_key;
	const char *auth_file;        /* "user:password" (basic) or
	                               * "Bearer TOKEN", one line */
	const char *known_hosts;      /* SFTP host keys (OpenSSH format);
	                               * required for sftp:// */
	const char *ssh_key;          /* SFTP private key (the public one is
	                               * derived from it), or NULL */
	unsigned connect_timeout_s;
	unsigned total_timeout_s;
	unsigned low_speed_bytes;     /* abort below this many bytes/s ... */
	unsigned low_speed_s;         /* ... for this long */
	uint64_t max_bytes;           /* a body over this is refused */
	const char *evidence_suffix;  /* NULL: no evidence to fetch */
	const char *tmp_dir;          /* where downloads land (DATA/tmp) */
	const char *state_file;       /* remembers validators across restarts */
};

/* How a package is laid on the site (R7). */
enum ingest_kind {
	KIND_AUTO,         /* a package with index.html at its root is full,
	                    * one without is incremental (Tamaulipas) */
	KIND_FULL,
	KIND_INCREMENTAL,
};

struct ingest_settings {
	const char *data_dir;
	const char *spool_dir;           /* NULL: no spool */
	enum verify_mode verify;
	const char *trust_file;
	enum ingest_kind kind;
	uint64_t max_package_bytes;      /* the package file itself */
	uint64_t min_free_bytes;         /* warn below this much free disk */
	unsigned evidence_wait_s;        /* how long a spool package waits for
	                                  * its sidecar or signature */
	const struct unpack_limits *limits;
	const char *startup_package;     /* --package: run through the pipeline
	                                  * before ingest_start() returns */
	const char *cut_json;            /* package path of the JSON holding the
	                                  * cut time, or NULL */
	const char *cut_key;             /* its dotted key path (cut.h) */
	const struct fetch_settings *fetch;   /* NULL: no pull */
	unsigned poll_s;                 /* seconds between polls */
	const struct policy *policy;     /* the response policy each new cut
	                                  * is built with (server/policy.h);
	                                  * borrowed, read at each build */
};

#endif
