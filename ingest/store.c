#include "ingest/store.h"
#include "server/dir.h"
#include "server/limits.h"
#include "server/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* The journal, DATA/journal.log: one line per package, appended with one
 * write(2) and fdatasync'ed before journal_append() returns. Keys come in
 * this fixed order, separated by single spaces, reason last so a person
 * reads the line like a sentence:
 *
 *   seq=42 received=2026-11-22T16:00:00Z source=spool:20240602_2215_PREP.zip
 *   size=123456 sha256=<64 hex> verdict=published kind=full
 *   cut=20240602_2215 cut_time=2024-06-02T22:15
 *   published=2026-11-22T16:00:01Z file=history/000042-20240602_2215_PREP.zip
 *   reason="bad zip CRC"
 *
 * (one line on disk). An empty value, and a time of 0, is written "-". A
 * value is written in double quotes when it holds a space, '"', '\\', '=',
 * a control character or bytes that are not UTF-8, or is itself "-";
 * inside the quotes '"' and '\\' are backslash-escaped and control
 * characters and non-UTF-8 bytes are \xHH. Valid UTF-8 is written as it
 * is. Times are UTC, ISO 8601 with Z. The reader ignores keys it does not
 * know, so a newer prepd may add keys before reason without breaking
 * `prepd history` of an older one; every known key must be there once. */

#define JOURNAL_FILE "journal.log"

/* The data folder's subfolders, named once here; store_tmp_dir() gives the
 * full path of TMP_DIR to whoever downloads or uploads into it. */
#define HISTORY_DIR    "history"
#define QUARANTINE_DIR "quarantine"
#define TMP_DIR        "tmp"
#define INCOMING_DIR   "incoming"

/* Kept packages are readable by the operator's group (backups, the
 * institute's tools), not by every local user. */
#define KEEP_FILE_MODE 0640
#define KEEP_DIR_MODE  0750

/* Copy chunk: large enough that a 100 MB package is ~100 system calls,
 * small enough that a read/write fallback buffer is no burden. */
#define COPY_CHUNK_BYTES (1u << 20)

#define FIELD_SIZE(f) sizeof(((struct journal_rec *)0)->f)
/* A text field at its longest, every byte escaped as \xHH, in quotes. */
#define FIELD_WORST(f) (2 + 4 * (FIELD_SIZE(f) - 1))
#define JOURNAL_WORST_LINE                                                 \
	(sizeof "seq= received= source= size= sha256= verdict= kind= cut= " \
		"cut_time= published= file= reason=\n" +                   \
	 3 * 20 /* seq, size, and one spare uint64 */ +                     \
	 2 * 20 /* two times */ + 64 /* sha256 */ + FIELD_WORST(source) +   \
	 FIELD_WORST(verdict) + FIELD_WORST(kind) + FIELD_WORST(cut) +      \
	 FIELD_WORST(cut_time) + FIELD_WORST(file) + FIELD_WORST(reason))
_Static_assert(JOURNAL_WORST_LINE <= JOURNAL_MAX_LINE,
	       "JOURNAL_MAX_LINE must hold any record journal_append() can write");

struct store {
	char *data_dir;   /* as given by the caller */
	char *tmp_dir;    /* data_dir + "/" TMP_DIR, built once in store_open() */
	char *incoming_dir;   /* data_dir + "/" INCOMING_DIR */
	int data_fd, hist_fd, quar_fd, tmp_fd, journal_fd;
	int incoming_fd;
};

static void set_err(char *err, size_t errsz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errsz, const char *fmt, ...)
{
	if (!err || !errsz)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

/* How an errno reads in err: a full disk is said plainly, since that is
 * what the operator must act on at 3 a.m. */
static const char *why(int e)
{
	if (e == ENOSPC || e == EDQUOT)
		return "disk full";
	return strerror(e);
}

static int close_keep_errno(int fd)
{
	int saved = errno;
	if (fd >= 0)
		close(fd);
	errno = saved;
	return -1;
}

/* ---- opening ---- */

/* Opens data_fd/name as a folder, creating it first when missing. */
static enum rc open_subdir(struct store *s, const char *name, int *out,
			   char *err, size_t errsz)
{
	if (mkdirat(s->data_fd, name, KEEP_DIR_MODE) != 0 && errno != EEXIST) {
		set_err(err, errsz, "cannot create %s/%s: %s", s->data_dir, name,
			strerror(errno));
		return RC_IO;
	}
	int fd = openat(s->data_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		set_err(err, errsz, "cannot open %s/%s: %s", s->data_dir, name,
			strerror(errno));
		return RC_IO;
	}
	*out = fd;
	return RC_OK;
}

/* A crash (or a full disk) while appending can leave the journal ending in
 * part of a line. The append that wrote it never returned success, so the
 * fragment is no record; left there, the next line would be glued to it
 * and the whole line would be unreadable. Cut it off. A tail with no
 * newline within JOURNAL_MAX_LINE bytes is not an append's fragment: it is
 * left for journal_read() to report. */
static enum rc cut_torn_tail(struct store *s, char *err, size_t errsz)
{
	struct stat st;
	if (fstat(s->journal_fd, &st) != 0)
		goto fail;
	if (st.st_size == 0)
		return RC_OK;
	size_t n = (uint64_t)st.st_size < JOURNAL_MAX_LINE ? (size_t)st.st_size
							   : JOURNAL_MAX_LINE;
	char *buf = malloc(n);
	if (!buf)
		return RC_NOMEM;
	off_t start = st.st_size - (off_t)n;
	ssize_t got = pread(s->journal_fd, buf, n, start);
	if (got != (ssize_t)n) {
		free(buf);
		if (got >= 0)
			errno = EIO;   /* shrank under us: nobody else writes it */
		goto fail;
	}
	if (buf[n - 1] == '\n') {
		free(buf);
		return RC_OK;
	}
	const char *nl = memrchr(buf, '\n', n);
	off_t keep;
	if (nl)
		keep = start + (off_t)(nl - buf) + 1;
	else if (start == 0)
		keep = 0;
	else
		keep = st.st_size;
	free(buf);
	if (keep == st.st_size)
		return RC_OK;
	if (ftruncate(s->journal_fd, keep) != 0 || fdatasync(s->journal_fd) != 0)
		goto fail;
	return RC_OK;
fail:
	set_err(err, errsz, "cannot repair %s/" JOURNAL_FILE ": %s", s->data_dir,
		why(errno));
	return RC_IO;
}

enum rc store_open(const char *data_dir, struct store **out, char *err,
		   size_t errsz)
{
	*out = NULL;
	struct store *s = calloc(1, sizeof *s);
	if (!s)
		return RC_NOMEM;
	s->data_fd = s->hist_fd = s->quar_fd = s->tmp_fd = s->journal_fd = -1;
	s->incoming_fd = -1;
	s->data_dir = strdup(data_dir);
	s->tmp_dir = store_tmp_path(data_dir);
	s->incoming_dir = store_incoming_path(data_dir);
	if (!s->data_dir || !s->tmp_dir || !s->incoming_dir) {
		store_close(s);
		return RC_NOMEM;
	}

	enum rc rc = RC_IO;
	s->data_fd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->data_fd < 0) {
		set_err(err, errsz, "cannot open %s: %s", data_dir, strerror(errno));
		goto fail;
	}
	rc = open_subdir(s, HISTORY_DIR, &s->hist_fd, err, errsz);
	if (!rc)
		rc = open_subdir(s, QUARANTINE_DIR, &s->quar_fd, err, errsz);
	if (!rc)
		rc = open_subdir(s, TMP_DIR, &s->tmp_fd, err, errsz);
	if (!rc)
		rc = open_subdir(s, INCOMING_DIR, &s->incoming_fd, err, errsz);
	if (rc)
		goto fail;

	/* O_RDWR rather than O_WRONLY: cut_torn_tail() reads the end. With
	 * O_APPEND every write(2) goes to the end whatever the offset. */
	rc = RC_IO;
	s->journal_fd = openat(s->data_fd, JOURNAL_FILE,
			       O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, KEEP_FILE_MODE);
	if (s->journal_fd < 0) {
		set_err(err, errsz, "cannot open %s/" JOURNAL_FILE ": %s", data_dir,
			strerror(errno));
		goto fail;
	}
	rc = cut_torn_tail(s, err, errsz);
	if (rc)
		goto fail;

	/* New folders and a new journal are names in DATA: make them durable
	 * once here rather than on every keep. */
	if (fsync(s->data_fd) != 0) {
		set_err(err, errsz, "cannot sync %s: %s", data_dir, why(errno));
		rc = RC_IO;
		goto fail;
	}
	*out = s;
	return RC_OK;
fail:
	store_close(s);
	return rc;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	int fds[] = { s->data_fd, s->hist_fd, s->quar_fd, s->tmp_fd, s->journal_fd,
		      s->incoming_fd };
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(s->data_dir);
	free(s->tmp_dir);
	free(s->incoming_dir);
	free(s);
}

char *store_tmp_path(const char *data_dir)
{
	char *p;
	return asprintf(&p, "%s/" TMP_DIR, data_dir) < 0 ? NULL : p;
}

const char *store_tmp_dir(const struct store *s)
{
	return s->tmp_dir;
}

char *store_incoming_path(const char *data_dir)
{
	char *p;
	return asprintf(&p, "%s/" INCOMING_DIR, data_dir) < 0 ? NULL : p;
}

const char *store_incoming_dir(const struct store *s)
{
	return s->incoming_dir;
}

int store_incoming_fd(const struct store *s)
{
	return s->incoming_fd;
}

/* ---- keeping a package ---- */

/* The base name of name cut to STORE_MAX_NAME_BYTES keeping a short
 * extension; "package" if empty. With clean, every byte outside
 * [A-Za-z0-9._-] is made '_'; without, only control bytes, spaces and the
 * bytes a log line's key=value syntax gives a meaning to ('"', '\\', '=')
 * are, so a claimed name can be logged as it is.
 * out has STORE_MAX_NAME_BYTES + 1 bytes. */
static void short_name(const char *name, char *out, bool clean)
{
	const char *base = name ? strrchr(name, '/') : NULL;
	base = base ? base + 1 : name ? name : "";
	size_t len = strlen(base);
	if (len == 0) {
		strcpy(out, "package");
		return;
	}
	/* Clean first, on at most what can be kept: the head, and the tail
	 * for the extension. Cleaning maps byte to byte, so cutting after is
	 * the same as cutting before. */
	const char *ext = NULL;
	size_t extlen = 0;
	if (len > STORE_MAX_NAME_BYTES) {
		const char *dot = strrchr(base, '.');
		if (len >= 7 && !strcmp(base + len - 7, ".tar.gz"))
			dot = base + len - 7;
		if (dot && dot != base && strlen(dot) <= STORE_MAX_EXT_BYTES) {
			ext = dot;
			extlen = strlen(dot);
		}
	}
	size_t head = len > STORE_MAX_NAME_BYTES ? STORE_MAX_NAME_BYTES - extlen : len;
	size_t o = 0;
	for (size_t i = 0; i < head; i++)
		out[o++] = base[i];
	for (size_t i = 0; i < extlen; i++)
		out[o++] = ext[i];
	out[o] = '\0';
	for (char *p = out; *p; p++) {
		unsigned char c = (unsigned char)*p;
		bool ok = clean ? (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
				  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'
				: c > 0x20 && c != 0x7f && c != '"' && c != '\\' && c != '=';
		if (!ok)
			*p = '_';
	}
}

static void clean_name(const char *name, char *out)
{
	short_name(name, out, true);
}

void store_clean_name(const char *name, char out[STORE_MAX_NAME_BYTES + 1])
{
	clean_name(name, out);
}

/* Puts the file from_fd/from at dir_fd/to without ever replacing what is
 * there: RENAME_NOREPLACE, or link + unlink on a file system without it
 * (EINVAL). errno EEXIST when the destination exists. */
static int move_noreplace(int from_fd, const char *from, int dir_fd, const char *to)
{
	if (renameat2(from_fd, from, dir_fd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (linkat(from_fd, from, dir_fd, to, 0) != 0)
		return -1;
	/* The package is at its new name; the old name left behind would only
	 * be a second link to the same bytes. */
	(void)unlinkat(from_fd, from, 0);
	return 0;
}

/* Copies all of in to out from their current offsets. copy_file_range
 * lets the file system share or server-side copy the blocks; older
 * kernels and some file systems refuse it, then read/write does. Returns
 * the bytes copied, or -1 with errno. */
static int64_t copy_all(int in, int out)
{
	int64_t total = 0;
	for (;;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, COPY_CHUNK_BYTES, 0);
		if (n > 0) {
			total += n;
			continue;
		}
		if (n == 0)
			return total;
		if (errno == EINTR)
			continue;
		if (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
		    errno == EOPNOTSUPP)
			break;
		return -1;
	}
	/* Offsets moved with every partial copy, so read/write picks up
	 * exactly where copy_file_range stopped. */
	char *buf = malloc(COPY_CHUNK_BYTES);
	if (!buf) {
		errno = ENOMEM;
		return -1;
	}
	for (;;) {
		ssize_t n = read(in, buf, COPY_CHUNK_BYTES);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int saved = errno;
			free(buf);
			errno = saved;
			return n < 0 ? -1 : total;
		}
		for (ssize_t w = 0; w < n;) {
			ssize_t m = write(out, buf + w, (size_t)(n - w));
			if (m < 0 && errno == EINTR)
				continue;
			if (m <= 0) {
				int saved = m < 0 ? errno : EIO;
				free(buf);
				errno = saved;
				return -1;
			}
			w += m;
		}
		total += n;
	}
}

/* Is src's folder DATA/tmp or DATA/incoming itself (files prepd made or
 * claimed)? Compared by device and inode, so a relative path, a symbolic
 * link to the folder or "tmp/../tmp" all count. *src_fd is that folder. */
static bool in_own_dir(const struct store *s, const char *src, const char **base, int *src_fd)
{
	const char *slash = strrchr(src, '/');
	*base = slash ? slash + 1 : src;
	char *dir = slash ? strndup(src, slash == src ? 1 : (size_t)(slash - src))
			  : strdup(".");
	if (!dir)
		return false;   /* copying is always correct, only slower */
	struct stat a, b;
	bool same = false;
	if (stat(dir, &a) == 0) {
		int fds[] = { s->tmp_fd, s->incoming_fd };
		for (size_t i = 0; i < 2 && !same; i++) {
			same = fstat(fds[i], &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
			if (same)
				*src_fd = fds[i];
		}
	}
	free(dir);
	return same && **base;
}

/* Renames src_fd/base (DATA/tmp or DATA/incoming) into dir_fd/dest.
 * *fallback is set when it cannot be renamed but may be copied (a symbolic
 * link, another file system mounted on tmp); src is then untouched. */
static enum rc keep_by_rename(int src_fd, const char *src, const char *base,
			      int dir_fd, const char *dest_show, const char *dest,
			      bool *fallback, char *err, size_t errsz)
{
	*fallback = false;
	int fd = openat(src_fd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ELOOP) {
		*fallback = true;
		return RC_OK;
	}
	if (fd < 0) {
		set_err(err, errsz, "cannot open %s: %s", src, strerror(errno));
		return RC_IO;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		set_err(err, errsz, "cannot stat %s: %s", src, strerror(errno));
		close(fd);
		return RC_IO;
	}
	if (!S_ISREG(st.st_mode)) {
		set_err(err, errsz, "%s is not a regular file", src);
		close(fd);
		errno = EINVAL;
		return RC_IO;
	}
	/* The download is ours; give it the history's mode before it becomes
	 * part of the history, and make data and mode durable before the
	 * name is. */
	if ((st.st_mode & 07777) != KEEP_FILE_MODE && fchmod(fd, KEEP_FILE_MODE) != 0) {
		set_err(err, errsz, "cannot chmod %s: %s", src, strerror(errno));
		close(fd);
		return RC_IO;
	}
	if (fsync(fd) != 0) {
		set_err(err, errsz, "cannot sync %s: %s", src, why(errno));
		close_keep_errno(fd);
		return RC_IO;
	}
	close(fd);
	if (move_noreplace(src_fd, base, dir_fd, dest) != 0) {
		if (errno == EXDEV) {
			*fallback = true;
			return RC_OK;
		}
		if (errno == EEXIST)
			set_err(err, errsz, "%s already exists", dest_show);
		else
			set_err(err, errsz, "cannot rename %s to %s: %s", src, dest_show,
				why(errno));
		return RC_IO;
	}
	return RC_OK;
}

/* Copies src into a new temp file in DATA/tmp, then renames it to
 * dir_fd/dest. src is only ever read. On failure the temp file is gone. */
static enum rc keep_by_copy(struct store *s, const char *src, int dir_fd,
			    const char *dest_show, const char *dest, char *err,
			    size_t errsz)
{
	/* O_NONBLOCK: a FIFO put in the spool must not hang the ingest
	 * thread in open(); it is refused below as not a regular file. */
	int in = open(src, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (in < 0) {
		set_err(err, errsz, "cannot open %s: %s", src, strerror(errno));
		return RC_IO;
	}
	struct stat st;
	if (fstat(in, &st) != 0) {
		set_err(err, errsz, "cannot stat %s: %s", src, strerror(errno));
		close(in);
		return RC_IO;
	}
	if (!S_ISREG(st.st_mode)) {
		set_err(err, errsz, "%s is not a regular file", src);
		close(in);
		errno = EINVAL;
		return RC_IO;
	}

	char *tmp = NULL;
	if (asprintf(&tmp, "%s/.keep-XXXXXX", s->tmp_dir) < 0) {
		close(in);
		return RC_NOMEM;
	}
	const char *tmp_base = strrchr(tmp, '/') + 1;
	enum rc rc = RC_IO;
	int out = mkostemp(tmp, O_CLOEXEC);   /* O_EXCL, mode 0600 */
	if (out < 0) {
		set_err(err, errsz, "cannot create a temp file in %s: %s", s->tmp_dir,
			why(errno));
		goto done;
	}
	if (fchmod(out, KEEP_FILE_MODE) != 0) {
		set_err(err, errsz, "cannot chmod %s: %s", tmp, strerror(errno));
		goto remove;
	}
	int64_t n = copy_all(in, out);
	if (n < 0) {
		set_err(err, errsz, "cannot copy %s to %s: %s", src, tmp, why(errno));
		goto remove;
	}
	if (n != st.st_size) {
		set_err(err, errsz, "%s changed size while it was copied (%lld bytes, "
			"then %lld); it is still being written", src,
			(long long)st.st_size, (long long)n);
		errno = EAGAIN;
		goto remove;
	}
	if (fsync(out) != 0) {
		set_err(err, errsz, "cannot sync %s: %s", tmp, why(errno));
		goto remove;
	}
	if (close(out) != 0) {
		out = -1;
		set_err(err, errsz, "cannot close %s: %s", tmp, why(errno));
		goto remove;
	}
	out = -1;
	if (move_noreplace(s->tmp_fd, tmp_base, dir_fd, dest) != 0) {
		if (errno == EEXIST)
			set_err(err, errsz, "%s already exists", dest_show);
		else
			set_err(err, errsz, "cannot rename %s to %s: %s", tmp, dest_show,
				why(errno));
		goto remove;
	}
	rc = RC_OK;
	goto done;
remove:
	close_keep_errno(out);
	{
		int saved = errno;
		unlinkat(s->tmp_fd, tmp_base, 0);
		errno = saved;
	}
done:
	close_keep_errno(in);
	free(tmp);
	return rc;
}

enum rc store_keep(struct store *s, uint64_t seq, const char *name,
		   const char *src, bool quarantine, char *kept,
		   size_t keptsz, char *err, size_t errsz)
{
	const char *folder = quarantine ? QUARANTINE_DIR : HISTORY_DIR;
	int dir_fd = quarantine ? s->quar_fd : s->hist_fd;
	char clean[STORE_MAX_NAME_BYTES + 1];
	clean_name(name, clean);
	char dest[STORE_MAX_NAME_BYTES + 32];
	snprintf(dest, sizeof dest, "%06llu-%s", (unsigned long long)seq, clean);
	int n = snprintf(kept, keptsz, "%s/%s", folder, dest);
	if (n < 0 || (size_t)n >= keptsz) {
		set_err(err, errsz, "no room for the kept path %s/%s", folder, dest);
		return RC_INVALID;
	}
	char *show = NULL;
	if (asprintf(&show, "%s/%s", s->data_dir, kept) < 0)
		return RC_NOMEM;

	/* Checked first so a copy of 100 MB is not made only to be refused;
	 * the rename below refuses to replace anyway, races included. */
	enum rc rc = RC_IO;
	struct stat st;
	if (fstatat(dir_fd, dest, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		set_err(err, errsz, "%s already exists", show);
		errno = EEXIST;
		goto out;
	}

	const char *base;
	bool copy = true;
	int src_fd = -1;
	if (in_own_dir(s, src, &base, &src_fd)) {
		rc = keep_by_rename(src_fd, src, base, dir_fd, show, dest, &copy, err, errsz);
		if (rc)
			goto out;
		/* DATA/incoming holds only regular files prepd claimed: a link
		 * there is never followed. */
		if (copy && src_fd == s->incoming_fd) {
			set_err(err, errsz, "%s is not a regular file", src);
			rc = RC_IO;
			goto out;
		}
	}
	if (copy) {
		rc = keep_by_copy(s, src, dir_fd, show, dest, err, errsz);
		if (rc)
			goto out;
	}
	if (fsync(dir_fd) != 0) {
		set_err(err, errsz, "cannot sync %s/%s: %s", s->data_dir, folder,
			why(errno));
		rc = RC_IO;
		goto out;
	}
	rc = RC_OK;
out:
	free(show);
	return rc;
}

enum rc store_requarantine(struct store *s, const char *kept, char *moved,
			   size_t movedsz, char *err, size_t errsz)
{
	/* Only a name store_keep() wrote: "history/" and one plain name, so
	 * a caller's mistake cannot move anything else. */
	static const char hist[] = HISTORY_DIR "/";
	const char *name = !strncmp(kept, hist, sizeof hist - 1) ? kept + sizeof hist - 1 : NULL;
	if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") ||
	    !strcmp(name, "..")) {
		set_err(err, errsz, "%s is not a package kept in history/", kept);
		return RC_INVALID;
	}
	int n = snprintf(moved, movedsz, QUARANTINE_DIR "/%s", name);
	if (n < 0 || (size_t)n >= movedsz) {
		set_err(err, errsz, "no room for the path " QUARANTINE_DIR "/%s", name);
		return RC_INVALID;
	}
	if (move_noreplace(s->hist_fd, name, s->quar_fd, name) != 0) {
		if (errno == EEXIST)
			set_err(err, errsz, "%s/%s already exists", s->data_dir, moved);
		else
			set_err(err, errsz, "cannot move %s/%s to %s/%s: %s", s->data_dir,
				kept, s->data_dir, moved, why(errno));
		return RC_IO;
	}
	/* Both folders changed; the new name first, so a crash between the
	 * two syncs can only leave the package in quarantine/. */
	if (fsync(s->quar_fd) != 0 || fsync(s->hist_fd) != 0) {
		set_err(err, errsz, "cannot sync %s after moving %s: %s", s->data_dir,
			kept, why(errno));
		return RC_IO;
	}
	return RC_OK;
}

/* ---- claiming an arrival ---- */

/* The last arrival time handed out, so that two claims in the same
 * nanosecond (or a clock stepped back) still get distinct, ordered names.
 * Shared by the ingest and admin threads. */
static _Atomic uint64_t last_claim_ns;

enum rc store_claim_name(const char *tag, const char *name, char *out, size_t outsz)
{
	for (const char *t = tag; *t; t++)
		if (*t < 'a' || *t > 'z')
			return RC_INVALID;
	if (!*tag || strlen(tag) > STORE_CLAIM_TAG_BYTES)
		return RC_INVALID;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	uint64_t prev = atomic_load(&last_claim_ns), next;
	do
		next = now > prev ? now : prev + 1;
	while (!atomic_compare_exchange_weak(&last_claim_ns, &prev, next));
	char shortn[STORE_MAX_NAME_BYTES + 1];
	short_name(name, shortn, false);
	int n = snprintf(out, outsz, STORE_CLAIM_PREFIX "%020" PRIu64 "-%s-%s", next, tag, shortn);
	return n < 0 || (size_t)n >= outsz ? RC_INVALID : RC_OK;
}

bool store_claim_parse(const char *claimed, char *tag, size_t tagsz, const char **name)
{
	static const char prefix[] = STORE_CLAIM_PREFIX;
	if (strncmp(claimed, prefix, sizeof prefix - 1))
		return false;
	const char *p = claimed + sizeof prefix - 1;
	for (int i = 0; i < 20; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	p += 20;
	if (*p++ != '-')
		return false;
	const char *t = p;
	while (*p >= 'a' && *p <= 'z')
		p++;
	size_t tl = (size_t)(p - t);
	if (!tl || tl >= tagsz || *p != '-' || !p[1])
		return false;
	memcpy(tag, t, tl);
	tag[tl] = '\0';
	*name = p + 1;
	return true;
}

enum rc store_claim(int from_fd, const char *from, int to_fd, const char *to,
		    bool *copied, char *err, size_t errsz)
{
	*copied = false;
	struct stat st;
	if (fstatat(from_fd, from, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		int e = errno;
		set_err(err, errsz, "cannot stat %s: %s", from, strerror(e));
		errno = e;
		return e == ENOENT ? RC_NOTFOUND : RC_IO;
	}
	if (!S_ISREG(st.st_mode)) {
		set_err(err, errsz, "%s is not a regular file", from);
		return RC_REFUSED;
	}
	/* A file prepd does not own (the institute's SFTP user wrote it) or
	 * that has another name elsewhere (a hard link) is copied, not moved:
	 * a moved one would stay its writer's to change, or to chmod, after
	 * prepd kept it. Only a file that is prepd's alone is renamed. */
	bool ours = st.st_uid == geteuid() && st.st_nlink == 1;
	if (ours && move_noreplace(from_fd, from, to_fd, to) == 0) {
		/* What was moved may have been swapped for a link between the
		 * check above and the rename: look at what arrived. */
		struct stat got;
		if (fstatat(to_fd, to, &got, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(got.st_mode)) {
			set_err(err, errsz, "%s was replaced by something that is not a regular "
				"file while it was claimed", from);
			return RC_REFUSED;
		}
		/* The new name first: a crash between the two syncs leaves the
		 * file in both folders at worst (taken twice), never in none. */
		(void)fsync(to_fd);
		(void)fsync(from_fd);
		return RC_OK;
	}
	if (ours && errno != EXDEV) {
		int e = errno;
		set_err(err, errsz, "cannot move %s: %s", from, why(e));
		errno = e;
		return e == ENOENT ? RC_NOTFOUND : RC_IO;
	}

	/* Another file system, or not prepd's file: copy, sync, and only then
	 * take the original away, and only if it is still the file that was
	 * copied. */
	int in = openat(from_fd, from, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (in < 0) {
		int e = errno;
		set_err(err, errsz, "cannot open %s: %s", from, strerror(e));
		errno = e;
		return e == ENOENT ? RC_NOTFOUND : e == ELOOP ? RC_REFUSED : RC_IO;
	}
	struct stat ist;
	if (fstat(in, &ist) != 0 || !S_ISREG(ist.st_mode)) {
		set_err(err, errsz, "%s is not a regular file", from);
		close(in);
		return RC_REFUSED;
	}
	char tmp[NAME_MAX + 1];
	int n = snprintf(tmp, sizeof tmp, ".prepd-claim-%.200s", to);
	if (n < 0 || (size_t)n >= sizeof tmp) {
		close(in);
		return RC_INVALID;
	}
	enum rc rc = RC_IO;
	int out = openat(to_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, KEEP_FILE_MODE);
	if (out < 0) {
		set_err(err, errsz, "cannot create a file to claim %s into: %s", from, why(errno));
		goto done;
	}
	int64_t copied_n = copy_all(in, out);
	if (copied_n < 0) {
		set_err(err, errsz, "cannot copy %s: %s", from, why(errno));
		goto remove;
	}
	if (copied_n != ist.st_size) {
		set_err(err, errsz, "%s changed size while it was copied; it is still being written", from);
		errno = EAGAIN;
		goto remove;
	}
	if (fsync(out) != 0) {
		set_err(err, errsz, "cannot sync the copy of %s: %s", from, why(errno));
		goto remove;
	}
	if (close(out) != 0) {
		out = -1;
		set_err(err, errsz, "cannot close the copy of %s: %s", from, why(errno));
		goto remove;
	}
	out = -1;
	if (move_noreplace(to_fd, tmp, to_fd, to) != 0) {
		set_err(err, errsz, "cannot name the copy of %s: %s", from, why(errno));
		goto remove;
	}
	(void)fsync(to_fd);
	struct stat now;
	if (fstatat(from_fd, from, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == ist.st_dev &&
	    now.st_ino == ist.st_ino)
		(void)unlinkat(from_fd, from, 0);
	(void)fsync(from_fd);
	*copied = true;
	rc = RC_OK;
	goto done;
remove:
	close_keep_errno(out);
	{
		int saved = errno;
		unlinkat(to_fd, tmp, 0);
		errno = saved;
	}
done:
	close_keep_errno(in);
	return rc;
}

/* ---- space ---- */

enum rc store_free_bytes(const struct store *s, uint64_t *free_bytes,
			 uint64_t *total_bytes)
{
	struct statvfs v;
	if (fstatvfs(s->data_fd, &v) != 0)
		return RC_IO;
	if (free_bytes)
		*free_bytes = (uint64_t)v.f_bavail * v.f_frsize;
	if (total_bytes)
		*total_bytes = (uint64_t)v.f_blocks * v.f_frsize;
	return RC_OK;
}

/* Walks the entries of data_fd/folder, calling fn for each regular file
 * with its stat. -1 with errno if the folder cannot be read. */
struct walk_ctx {
	void (*fn)(void *ctx, const char *name, const struct stat *st);
	void *ctx;
};

static bool walk_one(int dfd, const char *name, void *ctx)
{
	const struct walk_ctx *w = ctx;
	struct stat st;
	if (name[0] != '.' && fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode))
		w->fn(w->ctx, name, &st);
	return true;
}

static int walk(const struct store *s, const char *folder,
		void (*fn)(void *ctx, const char *name, const struct stat *st),
		void *ctx)
{
	struct walk_ctx w = { fn, ctx };
	return dir_each(s->data_fd, folder, walk_one, &w) ? -1 : 0;
}

static void add_size(void *ctx, const char *name, const struct stat *st)
{
	(void)name;
	*(uint64_t *)ctx += (uint64_t)st->st_size;
}

uint64_t store_used_bytes(const struct store *s)
{
	uint64_t sum = 0;
	(void)walk(s, HISTORY_DIR, add_size, &sum);
	(void)walk(s, QUARANTINE_DIR, add_size, &sum);
	return sum;
}

/* ---- the journal: writing ---- */

struct line {
	char buf[JOURNAL_MAX_LINE];
	size_t len;
	bool over;
};

static void put(struct line *l, const void *p, size_t n)
{
	if (l->over || n > sizeof l->buf - l->len) {
		l->over = true;
		return;
	}
	memcpy(l->buf + l->len, p, n);
	l->len += n;
}

static void put_str(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

/* The length of the valid UTF-8 sequence at p (up to n bytes), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	size_t len = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : *p >= 0xc0 ? 2 : 0;
	if (len == 0 || len > n || !utf8_valid(p, len))
		return 0;
	return len;
}

static bool needs_quotes(const char *s)
{
	if (!strcmp(s, "-"))
		return true;   /* "-" alone means empty */
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	for (size_t i = 0; i < n; i++) {
		if (p[i] >= 0x80) {
			size_t k = utf8_seq(p + i, n - i);
			if (!k)
				return true;
			i += k - 1;
			continue;
		}
		if (p[i] <= ' ' || p[i] == 0x7f || p[i] == '"' || p[i] == '\\' ||
		    p[i] == '=')
			return true;
	}
	return false;
}

static void put_value(struct line *l, const char *s)
{
	if (!*s) {
		put(l, "-", 1);
		return;
	}
	if (!needs_quotes(s)) {
		put_str(l, s);
		return;
	}
	put(l, "\"", 1);
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	for (size_t i = 0; i < n; i++) {
		if (p[i] >= 0x80) {
			size_t k = utf8_seq(p + i, n - i);
			if (k) {
				put(l, p + i, k);
				i += k - 1;
				continue;
			}
		}
		if (p[i] == '"' || p[i] == '\\') {
			char e[2] = { '\\', (char)p[i] };
			put(l, e, 2);
		} else if (p[i] < 0x20 || p[i] >= 0x7f) {
			char e[5];
			snprintf(e, sizeof e, "\\x%02x", p[i]);
			put(l, e, 4);
		} else {
			put(l, p + i, 1);
		}
	}
	put(l, "\"", 1);
}

static void put_key(struct line *l, const char *key)
{
	if (l->len)
		put(l, " ", 1);
	put_str(l, key);
	put(l, "=", 1);
}

static void put_u64(struct line *l, const char *key, uint64_t v)
{
	char num[24];
	snprintf(num, sizeof num, "%" PRIu64, v);
	put_key(l, key);
	put_str(l, num);
}

/* Times from 1970 to 9999: what the fixed-width format can say. */
static bool format_time(time_t t, char out[21])
{
	if (t == 0) {
		strcpy(out, "");
		return true;
	}
	struct tm tm;
	if (t < 0 || !gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999)
		return false;
	return strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) == 20;
}

static bool sha256_ok(const char *s)
{
	if (!*s)
		return true;
	size_t i = 0;
	for (; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == 64;
}

/* Builds the line for r (newline included) or says what is wrong with r. */
static const char *format_rec(const struct journal_rec *r, struct line *l)
{
	const struct {
		const char *name;
		const char *v;
		size_t size;
	} text[] = {
		{ "source", r->source, sizeof r->source },
		{ "sha256", r->sha256, sizeof r->sha256 },
		{ "verdict", r->verdict, sizeof r->verdict },
		{ "kind", r->kind, sizeof r->kind },
		{ "cut", r->cut, sizeof r->cut },
		{ "cut_time", r->cut_time, sizeof r->cut_time },
		{ "file", r->file, sizeof r->file },
		{ "reason", r->reason, sizeof r->reason },
	};
	for (size_t i = 0; i < sizeof text / sizeof text[0]; i++)
		if (!memchr(text[i].v, '\0', text[i].size))
			return "a text field is not NUL-terminated";
	if (!sha256_ok(r->sha256))
		return "sha256 is not 64 lowercase hex digits";
	char received[21], published[21];
	if (!format_time(r->received, received))
		return "received is not a time between 1970 and 9999";
	if (!format_time(r->published, published))
		return "published is not a time between 1970 and 9999";

	l->len = 0;
	l->over = false;
	put_u64(l, "seq", r->seq);
	put_key(l, "received");
	put_value(l, received);
	put_key(l, "source");
	put_value(l, r->source);
	put_u64(l, "size", r->size);
	put_key(l, "sha256");
	put_value(l, r->sha256);
	put_key(l, "verdict");
	put_value(l, r->verdict);
	put_key(l, "kind");
	put_value(l, r->kind);
	put_key(l, "cut");
	put_value(l, r->cut);
	put_key(l, "cut_time");
	put_value(l, r->cut_time);
	put_key(l, "published");
	put_value(l, published);
	put_key(l, "file");
	put_value(l, r->file);
	put_key(l, "reason");
	put_value(l, r->reason);
	put(l, "\n", 1);
	/* Cannot happen (see the _Static_assert), kept as a guard. */
	if (l->over)
		return "the line would be longer than JOURNAL_MAX_LINE";
	return NULL;
}

enum rc journal_append(struct store *s, const struct journal_rec *r,
		       char *err, size_t errsz)
{
	struct line *l = malloc(sizeof *l);
	if (!l)
		return RC_NOMEM;
	const char *bad = format_rec(r, l);
	if (bad) {
		set_err(err, errsz, "cannot write journal record seq=%" PRIu64 ": %s",
			r->seq, bad);
		free(l);
		return RC_INVALID;
	}

	enum rc rc = RC_IO;
	struct stat st;
	if (fstat(s->journal_fd, &st) != 0) {
		set_err(err, errsz, "cannot stat %s/" JOURNAL_FILE ": %s", s->data_dir,
			strerror(errno));
		goto out;
	}
	/* One write(2) per line, so a reader never sees two records
	 * interleaved and a crash tears at most the last line. */
	ssize_t n;
	do
		n = write(s->journal_fd, l->buf, l->len);
	while (n < 0 && errno == EINTR);
	if (n >= 0 && (size_t)n < l->len) {
		/* A short write means the disk filled up (or a signal came)
		 * mid-line: try the rest once to learn which. */
		ssize_t m = write(s->journal_fd, l->buf + n, l->len - (size_t)n);
		if (m == (ssize_t)(l->len - (size_t)n))
			n = (ssize_t)l->len;
		else if (m >= 0)
			errno = ENOSPC;
	}
	if (n != (ssize_t)l->len) {
		int saved = errno;
		/* Take the fragment back so the next line starts on a line. */
		if (n > 0 && ftruncate(s->journal_fd, st.st_size) == 0)
			(void)fdatasync(s->journal_fd);
		set_err(err, errsz, "cannot append to %s/" JOURNAL_FILE ": %s",
			s->data_dir, why(saved));
		errno = saved;
		goto out;
	}
	if (fdatasync(s->journal_fd) != 0) {
		set_err(err, errsz, "cannot sync %s/" JOURNAL_FILE ": %s", s->data_dir,
			why(errno));
		goto out;
	}
	rc = RC_OK;
out:
	free(l);
	return rc;
}

/* ---- the journal: reading ---- */

enum key {
	K_SEQ, K_RECEIVED, K_SOURCE, K_SIZE, K_SHA256, K_VERDICT, K_KIND, K_CUT,
	K_CUT_TIME, K_PUBLISHED, K_FILE, K_REASON, K_COUNT
};

static const char *const key_names[K_COUNT] = {
	"seq", "received", "source", "size", "sha256", "verdict", "kind", "cut",
	"cut_time", "published", "file", "reason",
};

static bool parse_time(const char *s, time_t *out)
{
	if (!*s) {
		*out = 0;
		return true;
	}
	/* YYYY-MM-DDTHH:MM:SSZ, nothing else */
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
	if (strlen(s) != sizeof shape - 1)
		return false;
	for (size_t i = 0; shape[i]; i++)
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
			return false;
	int v[6];
	const int at[6] = { 0, 5, 8, 11, 14, 17 }, width[6] = { 4, 2, 2, 2, 2, 2 };
	for (int k = 0; k < 6; k++) {
		v[k] = 0;
		for (int i = 0; i < width[k]; i++)
			v[k] = v[k] * 10 + (s[at[k] + i] - '0');
	}
	struct tm tm = {
		.tm_year = v[0] - 1900, .tm_mon = v[1] - 1, .tm_mday = v[2],
		.tm_hour = v[3], .tm_min = v[4], .tm_sec = v[5],
	};
	time_t t = timegm(&tm);
	/* timegm normalises 2026-02-30 to March: a date that does not come
	 * back the same was not a real one. */
	struct tm back;
	if (t <= 0 || !gmtime_r(&t, &back) || back.tm_year != v[0] - 1900 ||
	    back.tm_mon != v[1] - 1 || back.tm_mday != v[2] || back.tm_hour != v[3] ||
	    back.tm_min != v[4] || back.tm_sec != v[5])
		return false;
	*out = t;
	return true;
}

static bool copy_text(char *dst, size_t dstsz, const char *v, size_t len)
{
	if (len >= dstsz)
		return false;
	memcpy(dst, v, len);
	dst[len] = '\0';
	return true;
}

static bool set_field(struct journal_rec *r, enum key k, const char *v, size_t len)
{
	uint64_t u;
	switch (k) {
	case K_SEQ:
		if (!parse_uint(v, 0, UINT64_MAX, &u))
			return false;
		r->seq = u;
		return true;
	case K_SIZE:
		if (!parse_uint(v, 0, UINT64_MAX, &u))
			return false;
		r->size = u;
		return true;
	case K_RECEIVED:
		return parse_time(v, &r->received);
	case K_PUBLISHED:
		return parse_time(v, &r->published);
	case K_SHA256:
		return sha256_ok(v) && copy_text(r->sha256, sizeof r->sha256, v, len);
	case K_SOURCE:
		return copy_text(r->source, sizeof r->source, v, len);
	case K_VERDICT:
		return copy_text(r->verdict, sizeof r->verdict, v, len);
	case K_KIND:
		return copy_text(r->kind, sizeof r->kind, v, len);
	case K_CUT:
		return copy_text(r->cut, sizeof r->cut, v, len);
	case K_CUT_TIME:
		return copy_text(r->cut_time, sizeof r->cut_time, v, len);
	case K_FILE:
		return copy_text(r->file, sizeof r->file, v, len);
	case K_REASON:
		return copy_text(r->reason, sizeof r->reason, v, len);
	case K_COUNT:
		break;
	}
	return false;
}

/* Parses one line (no newline, NUL-terminated, len bytes) into r. The line
 * is decoded in place. On failure writes a phrase into msg. */
static bool parse_line(char *line, size_t len, struct journal_rec *r, char *msg,
		       size_t msgsz)
{
	memset(r, 0, sizeof *r);
	if (len == 0) {
		snprintf(msg, msgsz, "empty line");
		return false;
	}
	if (!utf8_valid((const unsigned char *)line, len)) {
		snprintf(msg, msgsz, "not valid UTF-8");
		return false;
	}
	bool seen[K_COUNT] = { false };
	char *p = line, *end = line + len;
	while (p < end) {
		char *key = p;
		while (p < end && ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
				   *p == '_'))
			p++;
		if (p == key || p == end || *p != '=') {
			snprintf(msg, msgsz, "expected key=value at column %zu",
				 (size_t)(key - line) + 1);
			return false;
		}
		size_t keylen = (size_t)(p - key);
		p++;
		char *v = p, *w = p;   /* the value is decoded into v..w */
		if (*p == '"') {
			p++;
			for (;;) {
				if (p == end) {
					snprintf(msg, msgsz, "%.*s: no closing quote",
						 (int)keylen, key);
					return false;
				}
				unsigned char c = (unsigned char)*p;
				if (c == '"')
					break;
				if (c < 0x20 || c == 0x7f) {
					snprintf(msg, msgsz, "%.*s: raw control character",
						 (int)keylen, key);
					return false;
				}
				if (c != '\\') {
					*w++ = *p++;
					continue;
				}
				if (p + 1 < end && (p[1] == '"' || p[1] == '\\')) {
					*w++ = p[1];
					p += 2;
				} else if (p + 3 < end && p[1] == 'x' && hex_digit((unsigned char)p[2]) >= 0 &&
					   hex_digit((unsigned char)p[3]) >= 0 && (p[2] != '0' || p[3] != '0')) {
					*w++ = (char)(hex_digit((unsigned char)p[2]) * 16 + hex_digit((unsigned char)p[3]));
					p += 4;
				} else {
					snprintf(msg, msgsz, "%.*s: bad escape (only \\\", \\\\ "
						 "and \\xHH other than \\x00)", (int)keylen, key);
					return false;
				}
			}
			p++;   /* the closing quote */
			if (w == v) {
				snprintf(msg, msgsz, "%.*s: empty quotes (an empty value is -)",
					 (int)keylen, key);
				return false;
			}
		} else {
			while (p < end && *p != ' ') {
				unsigned char c = (unsigned char)*p;
				if (c < 0x20 || c == 0x7f || c == '"' || c == '\\' || c == '=') {
					snprintf(msg, msgsz, "%.*s: unquoted value holds a "
						 "character that needs quotes", (int)keylen, key);
					return false;
				}
				p++;
			}
			w = p;
			if (w == v) {
				snprintf(msg, msgsz, "%.*s: empty value (an empty value is -)",
					 (int)keylen, key);
				return false;
			}
			if (w - v == 1 && *v == '-')
				w = v;
		}
		if (p < end) {
			if (*p != ' ' || p + 1 == end || p[1] == ' ') {
				snprintf(msg, msgsz, "%.*s: expected one space and a key after "
					 "the value", (int)keylen, key);
				return false;
			}
			p++;
		}
		size_t vlen = (size_t)(w - v);
		*w = '\0';   /* w never passes p: decoding only shrinks */

		int k = 0;
		while (k < K_COUNT && (strlen(key_names[k]) != keylen ||
				       memcmp(key_names[k], key, keylen)))
			k++;
		if (k == K_COUNT)
			continue;   /* a newer prepd's key */
		if (seen[k]) {
			snprintf(msg, msgsz, "%s appears twice", key_names[k]);
			return false;
		}
		seen[k] = true;
		if (!set_field(r, (enum key)k, v, vlen)) {
			snprintf(msg, msgsz, "bad value for %s", key_names[k]);
			return false;
		}
	}
	for (int k = 0; k < K_COUNT; k++)
		if (!seen[k]) {
			snprintf(msg, msgsz, "%s is missing", key_names[k]);
			return false;
		}
	return true;
}

enum rc journal_read(const char *data_dir,
		     int (*fn)(void *ctx, const struct journal_rec *r),
		     void *ctx, bool *torn, char *err, size_t errsz)
{
	if (torn)
		*torn = false;
	char *path = NULL;
	if (asprintf(&path, "%s/" JOURNAL_FILE, data_dir) < 0)
		return RC_NOMEM;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		free(path);
		struct stat st;
		/* No journal yet is an empty history; no data folder at all is
		 * a mistyped --data, which must not read as "nothing happened". */
		if (e == ENOENT && stat(data_dir, &st) == 0 && S_ISDIR(st.st_mode))
			return RC_OK;
		if (e == ENOENT && stat(data_dir, &st) != 0) {
			set_err(err, errsz, "cannot open %s: %s", data_dir, strerror(errno));
			return RC_IO;
		}
		set_err(err, errsz, "cannot open %s/" JOURNAL_FILE ": %s", data_dir,
			strerror(e));
		errno = e;
		return RC_IO;
	}

	enum rc rc = RC_OK;
	/* One byte more than a line so the terminating NUL always fits. */
	char *buf = malloc(JOURNAL_MAX_LINE + 1);
	struct journal_rec *r = malloc(sizeof *r);
	if (!buf || !r) {
		rc = RC_NOMEM;
		goto out;
	}
	size_t have = 0, lineno = 0;
	bool eof = false;
	while (!eof || have) {
		char *nl = memchr(buf, '\n', have);
		if (!nl && !eof) {
			if (have == JOURNAL_MAX_LINE) {
				set_err(err, errsz, "%s:%zu: line is longer than %u bytes",
					path, lineno + 1, (unsigned)JOURNAL_MAX_LINE);
				rc = RC_FORMAT;
				goto out;
			}
			ssize_t n = read(fd, buf + have, JOURNAL_MAX_LINE - have);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				set_err(err, errsz, "cannot read %s: %s", path, strerror(errno));
				rc = RC_IO;
				goto out;
			}
			if (n == 0)
				eof = true;
			have += (size_t)n;
			continue;
		}
		if (!nl) {
			/* A last line without its newline: an append that a crash
			 * cut short, or one in progress in a running daemon. */
			if (torn)
				*torn = true;
			break;
		}
		lineno++;
		size_t len = (size_t)(nl - buf);
		*nl = '\0';
		char msg[160];
		if (memchr(buf, '\0', len)) {
			snprintf(msg, sizeof msg, "NUL byte in the line");
			goto bad;
		}
		if (!parse_line(buf, len, r, msg, sizeof msg))
			goto bad;
		int stop = fn(ctx, r);
		if (stop) {
			rc = (enum rc)stop;
			goto out;
		}
		have -= len + 1;
		memmove(buf, nl + 1, have);
		continue;
bad:
		set_err(err, errsz, "%s:%zu: %s", path, lineno, msg);
		rc = RC_FORMAT;
		goto out;
	}
out:
	close(fd);
	free(r);
	free(buf);
	free(path);
	return rc;
}

/* ---- sequence numbers ---- */

struct seq_max {
	uint64_t max;
};

static int journal_max(void *ctx, const struct journal_rec *r)
{
	struct seq_max *m = ctx;
	if (r->seq > m->max)
		m->max = r->seq;
	return 0;
}

/* "000042-NAME": the digits before the first '-'. */
static void file_max(void *ctx, const char *name, const struct stat *st)
{
	(void)st;
	struct seq_max *m = ctx;
	uint64_t v = 0;
	size_t i = 0;
	for (; name[i] >= '0' && name[i] <= '9'; i++) {
		unsigned d = (unsigned)(name[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return;   /* not a number prepd wrote */
		v = v * 10 + d;
	}
	if (i > 0 && name[i] == '-' && v > m->max)
		m->max = v;
}

enum rc store_next_seq(const struct store *s, uint64_t *next, char *err,
		       size_t errsz)
{
	struct seq_max m = { 0 };
	bool torn;
	enum rc rc = journal_read(s->data_dir, journal_max, &m, &torn, err, errsz);
	if (rc)
		return rc;
	const char *folders[] = { HISTORY_DIR, QUARANTINE_DIR };
	for (size_t i = 0; i < 2; i++)
		if (walk(s, folders[i], file_max, &m) != 0) {
			set_err(err, errsz, "cannot list %s/%s: %s", s->data_dir,
				folders[i], strerror(errno));
			return RC_IO;
		}
	if (m.max == UINT64_MAX) {
		set_err(err, errsz, "sequence numbers are exhausted");
		return RC_LIMIT;
	}
	*next = m.max + 1;
	return RC_OK;
}
