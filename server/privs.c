/* Capabilities are changed with the raw capset(2) and prctl(2) calls, not
 * libcap: four calls do not justify a dependency, and this way the exact
 * order below is visible. */
#include "server/privs.h"
#include "server/util.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

enum rc privs_lookup(const char *user, struct privs_user *out, char *err, size_t errsz)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	uint64_t n;
	int e;
	if (parse_uint(user, 0, UINT32_MAX - 1, &n))
		e = getpwuid_r((uid_t)n, &pw, buf, sizeof buf, &res);
	else
		e = getpwnam_r(user, &pw, buf, sizeof buf, &res);
	if (!res) {
		snprintf(err, errsz, "no user '%s' on this system%s%s%s", user,
			 e ? " (" : "", e ? strerror(e) : "", e ? ")" : "");
		return RC_NOTFOUND;
	}
	memset(out, 0, sizeof *out);
	out->uid = pw.pw_uid;
	out->gid = pw.pw_gid;
	snprintf(out->name, sizeof out->name, "%s", pw.pw_name);
	snprintf(out->home, sizeof out->home, "%s", pw.pw_dir ? pw.pw_dir : "/");
	return RC_OK;
}

/* The highest capability number this kernel knows. */
static int last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int last = -1;
	if (f) {
		if (fscanf(f, "%d", &last) != 1)
			last = -1;
		fclose(f);
	}
	return last >= 0 && last < 64 ? last : 63;
}

static enum rc step_failed(char *err, size_t errsz, const char *step)
{
	snprintf(err, errsz, "%s failed: %s", step, strerror(errno));
	return RC_IO;
}

static enum rc clear_capabilities(char *err, size_t errsz)
{
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
		return step_failed(err, errsz, "clearing the ambient capabilities");
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof data);
	if (syscall(SYS_capset, &hdr, data) != 0)
		return step_failed(err, errsz, "clearing the capabilities");
	return RC_OK;
}

bool privs_any_capability(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &hdr, data) != 0)
		return true;
	for (int i = 0; i < 2; i++)
		if (data[i].effective || data[i].permitted || data[i].inheritable)
			return true;
	int last = last_cap();
	for (int c = 0; c <= last; c++)
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) == 1)
			return true;
	return false;
}

enum rc privs_shed(char *err, size_t errsz)
{
	enum rc rc = clear_capabilities(err, errsz);
	if (rc)
		return rc;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return step_failed(err, errsz, "setting no-new-privileges");
	return RC_OK;
}

enum rc privs_drop(const struct privs_user *u, char *err, size_t errsz)
{
	if (geteuid() != 0)
		return privs_shed(err, errsz);
	if (u->uid == 0) {
		snprintf(err, errsz, "user = %s is root: name an ordinary user such as prepd",
			 u->name);
		return RC_INVALID;
	}
	/* The bounding set needs CAP_SETPCAP, so it goes first, while prepd
	 * is still root; the user switch needs CAP_SETGID and CAP_SETUID, so
	 * it comes before the rest is cleared. Without PR_SET_KEEPCAPS the
	 * kernel empties the permitted and effective sets when the last uid
	 * leaves 0; they are cleared again below so nothing relies on that. */
	int last = last_cap();
	for (int c = 0; c <= last; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL)
			return step_failed(err, errsz, "dropping the capability bounding set");
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0)
		return step_failed(err, errsz, "PR_SET_KEEPCAPS");
	if (initgroups(u->name, u->gid) != 0)
		return step_failed(err, errsz, "initgroups");
	if (setresgid(u->gid, u->gid, u->gid) != 0)
		return step_failed(err, errsz, "setresgid");
	if (setresuid(u->uid, u->uid, u->uid) != 0)
		return step_failed(err, errsz, "setresuid");
	enum rc rc = privs_shed(err, errsz);
	if (rc)
		return rc;
	/* Proof rather than trust: none of these may succeed now. */
	if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0 || privs_any_capability()) {
		snprintf(err, errsz, "root could be regained after switching to %s", u->name);
		return RC_INVALID;
	}
	return RC_OK;
}
