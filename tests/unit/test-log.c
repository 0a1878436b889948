/* server/log.c: lines carry their journald priority ("<4>") exactly when
 * stderr is the stream JOURNAL_STREAM names, and the format stays as it
 * was otherwise. */
#include "server/log.h"
#include "tests/unit/check.h"

#include <stdbool.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char path[] = "/tmp/prepd-test-log.XXXXXX";
static int saved_stderr;   /* CHECK reports there */

/* Points stderr at a fresh file, sets JOURNAL_STREAM (NULL: unset), runs
 * log_init() and logs one line at lvl; returns the line. */
static const char *one_line(const char *journal_stream, bool match_stderr,
			    enum log_level lvl, bool *journal)
{
	static char line[512];
	FILE *f = fopen(path, "w+");
	dup2(fileno(f), STDERR_FILENO);
	fclose(f);
	char env[64];
	struct stat st;
	fstat(STDERR_FILENO, &st);
	if (match_stderr) {
		snprintf(env, sizeof env, "%llu:%llu", (unsigned long long)st.st_dev,
			 (unsigned long long)st.st_ino);
		journal_stream = env;
	}
	if (journal_stream)
		setenv("JOURNAL_STREAM", journal_stream, 1);
	else
		unsetenv("JOURNAL_STREAM");
	*journal = log_init();
	log_msg(lvl, "test event key=%d", 7);
	dup2(saved_stderr, STDERR_FILENO);
	f = fopen(path, "r");
	line[0] = '\0';
	if (!fgets(line, sizeof line, f))
		line[0] = '\0';
	fclose(f);
	return line;
}

int main(void)
{
	int fd = mkstemp(path);
	CHECK(fd >= 0, "mkstemp");
	close(fd);
	saved_stderr = dup(STDERR_FILENO);
	log_set_level(LOG_DEBUG);
	static const struct {
		enum log_level lvl;
		const char *prefix, *name;
	} rows[] = {
		{ LOG_DEBUG, "<7>", "debug" },
		{ LOG_INFO, "<6>", "info" },
		{ LOG_WARN, "<4>", "warn" },
		{ LOG_ERROR, "<3>", "error" },
	};
	char want[128];
	bool j;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const char *l = one_line(NULL, true, rows[i].lvl, &j);
		CHECK(j, "%s: stderr is JOURNAL_STREAM: journal mode", rows[i].name);
		CHECK(!strncmp(l, rows[i].prefix, 3), "%s: prefix %s, got '%s'", rows[i].name,
		      rows[i].prefix, l);
		snprintf(want, sizeof want, " %s test event key=7\n", rows[i].name);
		CHECK(strstr(l, want) && l[3] == '2', "%s: the line after the prefix is unchanged: '%s'",
		      rows[i].name, l);
	}
	/* Not the journal: no prefix. */
	static const char *const others[] = { NULL, "", "1:2", "garbage", "12:34:56", "5:x" };
	for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
		const char *l = one_line(others[i], false, LOG_WARN, &j);
		CHECK(!j, "JOURNAL_STREAM='%s' is not stderr", others[i] ? others[i] : "(unset)");
		CHECK(l[0] == '2' && strstr(l, "Z warn test event key=7\n"),
		      "JOURNAL_STREAM='%s': the plain format: '%s'", others[i] ? others[i] : "(unset)", l);
	}
	/* The right device with another inode (stderr redirected by a script
	 * under a unit): not the journal. */
	struct stat st;
	CHECK(stat(path, &st) == 0, "stat");
	snprintf(want, sizeof want, "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino + 1);
	one_line(want, false, LOG_WARN, &j);
	CHECK(!j, "another inode on the same device is not the journal");
	unlink(path);
	return check_done();
}
