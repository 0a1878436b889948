#!/usr/bin/env bash
# The admin listener: bearer token, /status (R13), uploads (R3), rollback
# by `prepd rollback SEQ`, and a restart after a rollback.
. "$(dirname "$0")/lib.sh"

start_prepd admin --admin 127.0.0.1:0
APORT=$(sed -n 's/.*proto=admin addr=[^ ]*:\([0-9]*\).*/\1/p' "$LOG" | head -n1)
[[ -n $APORT ]] || fail "no admin listen line"
data=$T/admin/var
token=$(cat "$data/admin.token")
[[ ${#token} -eq 64 ]] || fail "token file: '$token'"
[[ $(stat -c %a "$data/admin.token") == 600 ]] || fail "token file mode $(stat -c %a "$data/admin.token")"
ok "a 64-character token is made in DATA/admin.token, mode 600"
admin=http://127.0.0.1:$APORT
auth=(-H "Authorization: Bearer $token")

code=$(get "$admin/status")
expect_eq "$code" 401 "no token: 401"
expect_match "$(header WWW-Authenticate)" '^Bearer' "401 says how to authenticate"
code=$(get "$admin/status" -H "Authorization: Bearer ${token%?}x")
expect_eq "$code" 401 "wrong token: 401"

code=$(get "$admin/status" "${auth[@]}")
expect_eq "$code" 200 "status with the token"
python3 - "$T/body" <<'PY' || fail "status JSON: $(cat "$T/body")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["cut"] == {"seq": 0, "label": "placeholder", "time": None}, s["cut"]
for k in ("last_attempt", "last_result", "last_success", "next_poll", "failed_in_a_row",
          "history_bytes", "free_bytes", "connections", "version"):
    assert k in s, k
assert s["free_bytes"] > 0 and s["failed_in_a_row"] == 0
PY
ok "status names the cut, the last attempt, failures, history size and free disk"

# Upload a package: 202, then it is published.
code=$(get "$admin/upload/20240602_2215_PREP_PRES_NAL.tar.gz" "${auth[@]}" -T "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz")
expect_eq "$code" 202 "upload accepted"
for ((i = 0; i < 50; i++)); do
	get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
	[[ $(header X-PREP-Cut) == *label=20240602_2215* ]] && break
	sleep 0.1
done
expect_match "$(header X-PREP-Cut)" '^seq=1; label=20240602_2215' "an uploaded package is published"
cmp -s "$data/history/000001-20240602_2215_PREP_PRES_NAL.tar.gz" "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" ||
	fail "uploaded package not kept byte for byte"
ok "the upload is kept in the history"
code=$(get "$admin/upload/20240602_2245_PREP_PRES_NAL.zip" "${auth[@]}" -T "$PKGDIR/20240602_2245_PREP_PRES_NAL.zip")
for ((i = 0; i < 50; i++)); do
	get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
	[[ $(header X-PREP-Cut) == *label=20240602_2245* ]] && break
	sleep 0.1
done
expect_match "$(header X-PREP-Cut)" '^seq=2; label=20240602_2245' "a second upload is published"

# Bad names and a hostile upload.
code=$(get "$admin/upload/..%2Fevil.zip" "${auth[@]}" -T "$PKGDIR/h-symlink.tar.gz")
expect_eq "$code" 400 "an upload name with a path is refused"
code=$(get "$admin/upload/h-symlink.tar.gz" "${auth[@]}" -T "$PKGDIR/h-symlink.tar.gz")
expect_eq "$code" 202 "a hostile upload is accepted for checking"
expect_log 'ingest refuse file=.*h-symlink.tar.gz seq=3 step=unpack' "the hostile upload is refused by the pipeline"
get "$admin/status" "${auth[@]}" >/dev/null
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["failed_in_a_row"]==1 and s["last_result"].startswith("refused"), s' "$T/body" ||
	fail "status after a refusal: $(cat "$T/body")"
ok "the status counts the failed attempt"
get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
expect_match "$(header X-PREP-Cut)" 'label=20240602_2245' "the current cut is still served"

# Rollback to package 1 with the subcommand.
out=$("$PREPD" rollback 1 --admin "127.0.0.1:$APORT" --data "$data")
[[ $out == *"will republish the cut of package 1"* ]] || fail "rollback: $out"
for ((i = 0; i < 50; i++)); do
	get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
	[[ $(header X-PREP-Cut) == *label=20240602_2215* ]] && break
	sleep 0.1
done
expect_match "$(header X-PREP-Cut)" '^seq=4; label=20240602_2215' "rollback republishes package 1 as cut 4"
"$PREPD" history --data "$data" | grep -q 'rollback:1' || fail "rollback not journaled"
ok "the rollback is journaled"
rc=0; out=$("$PREPD" rollback 99 --admin "127.0.0.1:$APORT" --data "$data" 2>&1) || rc=$?
expect_log 'rollback-refused seq=99' "a rollback to an unknown package is refused"
rc=0; out=$("$PREPD" rollback 1 --admin "127.0.0.1:$APORT" --admin-token /dev/null 2>&1) || rc=$?
[[ $rc -ne 0 && $out == *"must be"* ]] || fail "bad token file: $rc $out"
ok "a bad token file is reported"
stop_prepd

# Restart: the rolled-back cut is what comes back.
start_prepd admin2 --data "$data"
get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
expect_match "$(header X-PREP-Cut)" '^seq=4; label=20240602_2215' "after a restart the rolled-back cut is served"
grep -q 'corte 22:45' "$T/body" && fail "restart served the 22:45 page"
ok "the restart rebuilt package 1's content"
stop_prepd
done_testing
