#include "server/admin_int.h"

#include "server/limits.h"

#include <stdio.h>
#include <string.h>

bool admin_name_ok(const char *n)
{
	size_t len = strlen(n);
	if (!len || len >= 200 || n[0] == '.')
		return false;
	for (const char *p = n; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return false;
	return true;
}

bool admin_token_eq(const char *auth, const char *token)
{
	static const char prefix[] = "Bearer ";
	if (!auth || strncmp(auth, prefix, sizeof prefix - 1))
		return false;
	const char *given = auth + sizeof prefix - 1;
	size_t a = strlen(given), b = strlen(token);
	unsigned char diff = (unsigned char)(a != b);
	for (size_t i = 0; i < b; i++)
		diff |= (unsigned char)(given[i < a ? i : 0] ^ token[i]);
	return diff == 0;
}

enum rc admin_token_parse(const char *buf, size_t n, const char *file, char *out,
			  size_t outsz, char *err, size_t errsz)
{
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	if (n < ADMIN_TOKEN_MIN_BYTES || n > ADMIN_TOKEN_MAX_BYTES || n + 1 > outsz) {
		snprintf(err, errsz, "the admin token in %s must be %d to %d characters", file,
			 ADMIN_TOKEN_MIN_BYTES, ADMIN_TOKEN_MAX_BYTES);
		return RC_FORMAT;
	}
	for (size_t i = 0; i < n; i++) {
		/* Non-ASCII too, on every platform (char signedness varies):
		 * the token travels in an HTTP header. */
		if ((unsigned char)buf[i] <= ' ' || (unsigned char)buf[i] >= 0x7f) {
			snprintf(err, errsz, "the admin token in %s has a space or control character",
				 file);
			return RC_FORMAT;
		}
	}
	memcpy(out, buf, n);
	out[n] = '\0';
	return RC_OK;
}

json_t *admin_json_time(time_t t)
{
	if (!t)
		return json_null();
	char buf[32];
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}
