#!/usr/bin/env bash
# Least privilege without systemd: started as root with user = set, prepd
# opens its ports, key and files, then becomes that user with no capability
# left (/proc/PID/status) before it reads any package, and still serves and
# publishes. Without user =, a root start warns. Needs root.
source "$SRCDIR/tests/integration/lib.sh"

[[ $(id -u) -eq 0 ]] || skip "needs root: it checks the drop from root to user ="

user=prepd-test
if ! getent passwd "$user" >/dev/null; then
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user" 2>/dev/null ||
		user=nobody
fi
uid=$(id -u "$user")
gid=$(id -g "$user")
chmod 755 "$T"   # the user must reach the data folder under $T

"$SRCDIR/certs/make-local-cert" "$T/certs" >/dev/null 2>&1 || fail "make-local-cert failed"
chmod 600 "$T/certs/key.pem"   # root's alone: read before the drop
spool=$T/spool
mkdir -p "$spool"
chown "$user" "$spool"
# The start-up package is read after the drop: the user must be able to.
cp "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" "$T/20240602_2215_PREP_PRES_NAL.tar.gz"
chmod 644 "$T/20240602_2215_PREP_PRES_NAL.tar.gz"

start_prepd priv --user "$user" --https 127.0.0.1:0 --cert "$T/certs/cert.pem" \
	--key "$T/certs/key.pem" --spool "$spool" --access-log "$T/priv/access.log" \
	--admin 127.0.0.1:0 --package "$T/20240602_2215_PREP_PRES_NAL.tar.gz"
expect_log "privs dropped user=$user uid=$uid gid=$gid capabilities=none" "the drop is logged"

field() { awk -v k="$1:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "/proc/$PID/status"; }
expect_eq "$(field Uid)" "$uid $uid $uid $uid" "Uid is $user's (real, effective, saved, fs)"
expect_eq "$(field Gid)" "$gid $gid $gid $gid" "Gid is $user's"
for cap in CapInh CapPrm CapEff CapBnd CapAmb; do
	expect_eq "$(field $cap)" 0000000000000000 "$cap holds nothing"
done
expect_eq "$(field NoNewPrivs)" 1 "no-new-privileges is set"
# Every thread, not only the main one: the drop came before any started.
for task in /proc/"$PID"/task/*; do
	[[ $(awk '$1 == "Uid:" { print $3 }' "$task/status") == "$uid" &&
		$(awk '$1 == "CapEff:" { print $2 }' "$task/status") == 0000000000000000 ]] ||
		fail "thread ${task##*/} is not $user without capabilities"
done
ok "every thread runs as $user without capabilities"

[[ $(stat -c %U "$T/priv/var") == "$user" ]] || fail "the data folder prepd created is not $user's"
ok "the data folder prepd created as root belongs to $user"
[[ $(stat -c %U "$T/priv/var/history") == "$user" ]] || fail "history/ is not $user's"
ok "files written after the drop are $user's"

# The start-up package was read after the drop, and was published.
expect_eq "$(get "http://127.0.0.1:$HTTP_PORT/" )" 200 "serves over HTTP"
expect_match "$(header X-PREP-Cut)" "label=20240602_2215;" "the start-up package is published"
expect_eq "$(get "https://127.0.0.1:$HTTPS_PORT/" -k)" 200 "serves over HTTPS"

cp "$PKGDIR/20240602_2245_PREP_PRES_NAL.zip" "$spool/.x"
mv "$spool/.x" "$spool/20240602_2245_PREP_PRES_NAL.zip"
expect_log "ingest publish .*cut=20240602_2245" "publishes a spool package as $user"
expect_eq "$(get "http://127.0.0.1:$HTTP_PORT/")" 200 "serves the new cut"
expect_match "$(header X-PREP-Cut)" "label=20240602_2245;" "the new cut is served"

# SIGHUP as the user: the access log is reopened (rotated as logrotate's
# "create 0640 prepd adm" does: the folder is root's) and reloading the
# key it cannot read fails with its cause but keeps serving.
[[ $(stat -c %U "$T/priv/access.log") == "$user" ]] || fail "the access log prepd created is not $user's"
ok "the access log prepd created as root belongs to $user"
mv "$T/priv/access.log" "$T/priv/access.log.1"
install -o "$user" -m 640 /dev/null "$T/priv/access.log"
kill -HUP "$PID"
expect_log "tls reload-failed .*Permission denied" "a key only root reads: reload fails with its cause"
get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
for ((i = 0; i < 50; i++)); do [[ -s $T/priv/access.log ]] && break; sleep 0.1; done
[[ -s $T/priv/access.log ]] || fail "the access log was not reopened after SIGHUP"
ok "the access log is reopened as $user after SIGHUP"
grep -q 'privs key-unreadable\|tls key-unreadable' "$LOG" || fail "no warning that the key is unreadable by $user"
ok "the start-up warned that the key is unreadable by $user"
stop_prepd

# Without user =, a root start says it stays root.
start_prepd root
expect_log "warn privs running-as-root" "a root start without user = warns"
stop_prepd

# An unknown user stops the start with what to do.
rc=0; "$PREPD" --http 127.0.0.1:0 --data "$T/nouser" --user no-such-user-xyz >"$T/nouser.log" 2>&1 || rc=$?
[[ $rc -eq 1 ]] && grep -q "privs user-unknown user=no-such-user-xyz" "$T/nouser.log" ||
	fail "an unknown user: rc=$rc, log: $(cat "$T/nouser.log")"
ok "an unknown user stops the start"

# A data folder the user cannot write: said clearly, before any package.
mkdir -p "$T/rootdata" && chmod 700 "$T/rootdata"
rc=0; "$PREPD" --http 127.0.0.1:0 --data "$T/rootdata" --user "$user" >"$T/rootdata.log" 2>&1 || rc=$?
[[ $rc -eq 1 ]] && grep -q "server data-dir-failed dir=$T/rootdata user=$user .*chown -R $user" "$T/rootdata.log" ||
	fail "a root-owned data folder: rc=$rc, log: $(cat "$T/rootdata.log")"
ok "a data folder the user cannot write stops the start with what to do"
done_testing
