#!/usr/bin/env bash
# The fleet view (edge/fleet.c) with three real prepd origins on loopback,
# each told of the other two, each purging a webhook of the stand-in:
# - a cut published to A, then B, then C (1 s and 2 s later) is purged by
#   A and B only once C serves it (reason=served), within a few polls of C's
#   publish; C purges at once; C is "behind" until it publishes, and says so
#   in the log and in /status;
# - a healthy origin that never gets the next cut holds the purge up to
#   max_wait (reason=max-wait, lagging= names it);
# - a stopped origin is unhealthy (logged once) and holds nothing up.
. "$(dirname "$0")/lib.sh"

STUB=$SRCDIR/tests/integration/cdnstub.py
printf 'fleet-hook-secret\n' >"$T/hook"
chmod 600 "$T/hook"
python3 "$STUB" --port-file "$T/stub.port" --webhook-secret fleet-hook-secret &
PIDS+=($!)
for ((i = 0; i < 50; i++)); do [[ -s $T/stub.port ]] && break; sleep 0.1; done
S=http://127.0.0.1:$(cat "$T/stub.port")

read -r PA PB PC < <(python3 -c '
import socket
s = [socket.socket() for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
declare -A PORT=([a]=$PA [b]=$PB [c]=$PC)

# origin NAME: its config (peers: the other two) and spool.
for o in a b c; do
	peers=""
	for p in a b c; do [[ $p == "$o" ]] || peers+="http://127.0.0.1:${PORT[$p]} "; done
	mkdir -p "$T/spool-$o"
	cat >"$T/$o.ini" <<EOF
[purge hook]
type = webhook
url = $S/hook?origin=$o
secret_file = $T/hook
timeout = 1s
backoff = 100ms

[fleet]
peers = $peers
poll = 100ms
timeout = 500ms
max_wait = 5s
EOF
done

declare -A OPID OLOG
origin() {   # origin NAME: starts it on its port
	start_prepd "$1" --config "$T/$1.ini" --spool "$T/spool-$1" --http "127.0.0.1:${PORT[$1]}" \
		--admin 127.0.0.1:0
	OPID[$1]=$PID
	OLOG[$1]=$LOG
}
origin a
origin b
origin c
APORT_C=$(sed -n 's/.*proto=admin addr=[^ ]*:\([0-9]*\).*/\1/p' "${OLOG[c]}" | head -n1)

put() { cp "$1" "$T/spool-$2/.x" && mv "$T/spool-$2/.x" "$T/spool-$2/${3:-$(basename "$1")}"; }
now() { python3 -c 'import time; print(f"{time.time():.3f}")'; }
# wait_line ORIGIN REGEX [TENTHS]: the origin's log gets a matching line.
wait_line() {
	local i
	for ((i = 0; i < ${3:-100}; i++)); do
		grep -Eq -- "$2" "${OLOG[$1]}" && return 0
		sleep 0.1
	done
	fail "$1: no log line matching '$2': $(grep -E 'fleet|purge' "${OLOG[$1]}" | tail -5)"
}
hooks() {   # hooks CUT: "origin time" of each webhook for CUT
	curl -sS "$S/_requests" | python3 -c '
import json, sys, urllib.parse
for r in json.load(sys.stdin):
    if r["kind"] == "webhook" and r.get("status") == 204 and json.loads(r["body"])["cut"] == sys.argv[1]:
        print(dict(urllib.parse.parse_qsl(r["query"]))["origin"], r["time"])' "$1"
}

P1=$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz
P3=$PKGDIR/20240602_2245_PREP_PRES_NAL.zip

# Every origin sees the other two.
for o in a b c; do wait_line "$o" "fleet peer-up peer=.* cut=placeholder" 30; done
ok "each origin reads its peers (peer-up, on the placeholder)"

# 1. 22:15 to A, B 1 s later, C 2 s after that.
put "$P1" a
wait_line a "event publish seq=1 cut=20240602_2215"
wait_line c "fleet behind cut=placeholder newest=20240602_2215" 30
ok "C, still on the placeholder, is behind once A serves 22:15"
sleep 1
put "$P1" b
sleep 2
grep -q "purge ok target=hook cut=20240602_2215" "${OLOG[a]}" &&
	fail "A purged 22:15 while C did not serve it"
ok "A's purge waits while C does not serve the cut"
# When C first serves 22:15, seen from outside: a 20 ms loop started
# before the package is put.
python3 -c '
import sys, time, urllib.request
end = time.time() + 10
open(sys.argv[2], "w").close()
while time.time() < end:
    r = urllib.request.urlopen(urllib.request.Request(sys.argv[1], method="HEAD"))
    if "label=20240602_2215;" in (r.headers.get("X-PREP-Cut") or ""):
        print(f"{time.time():.3f}"); break
    time.sleep(0.02)' "http://127.0.0.1:$PC/" "$T/watching" >"$T/tc" &
watcher=$!
for ((i = 0; i < 50; i++)); do [[ -e $T/watching ]] && break; sleep 0.05; done
put "$P1" c
wait "$watcher" || true
tc=$(cat "$T/tc")
[[ -n $tc ]] || fail "C never served 22:15"
for o in a b c; do wait_line "$o" "purge ok target=hook cut=20240602_2215 " 50; done
wait_line c "fleet caught-up cut=20240602_2215"
ok "C caught up (logged)"
line=$(grep "fleet purge cut=20240602_2215" "${OLOG[a]}")
LOG=${OLOG[a]}   # a failure below shows A's log
expect_match "$line" "reason=served waited_ms=(2[5-9][0-9]{2}|[3-9][0-9]{3}) *$" "A's purge fired when the fleet served 22:15, 3 s or more after its own publish"
hooks 20240602_2215 >"$T/h1"
python3 - "$T/h1" "$tc" <<'PY' || fail "purge times: $(cat "$T/h1") tc=$tc $(curl -sS "$S/_requests" | head -c 3000)"
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
tc = float(sys.argv[2])
got = {o: float(t) for o, t in rows}
assert sorted(got) == ["a", "b", "c"], rows
for o, t in got.items():
    # each purge once C serves the cut (its own may come a loop turn
    # before we see it), and within 1 s of that: a 100 ms poll
    assert tc - 0.1 <= t <= tc + 1.0, (o, t - tc)
PY
ok "every origin's purge of 22:15 came within 1 s of the last origin serving it"

# /status on C: the fleet, not behind, both peers healthy on 22:15.
st=$(curl -sS -H "Authorization: Bearer $(cat "$T/c/var/admin.token")" "http://127.0.0.1:$APORT_C/status")
python3 -c '
import json, sys
f = json.loads(sys.argv[1])["fleet"]
assert f["behind"] is False and f["peers"] == 2 and f["healthy"] == 2 and f["newest"] == "20240602_2215", f
assert all(p["healthy"] and p["cut"] == "20240602_2215" for p in f["peer"]), f
assert f["purged_served"] >= 1 and f["waiting"] == 0, f
' "$st" || fail "/status fleet: $st"
ok "/status shows the fleet: peers, their cuts, behind=false"

# 2. 22:45 to A and B only: C stays healthy on 22:15, so the purge waits
# for max_wait (5 s) and says who lags; C is behind.
put "$P3" a
put "$P3" b
wait_line c "fleet behind cut=20240602_2215 newest=20240602_2245" 30
st=$(curl -sS -H "Authorization: Bearer $(cat "$T/c/var/admin.token")" "http://127.0.0.1:$APORT_C/status")
python3 -c 'import json,sys; f = json.loads(sys.argv[1])["fleet"]; assert f["behind"] is True, f' "$st" ||
	fail "/status does not say behind: $st"
ok "C is behind 22:45 (log and /status)"
wait_line a "fleet purge cut=20240602_2245 reason=max-wait waited_ms=(4[89][0-9]{2}|5[0-9]{3}) lagging=http://127.0.0.1:$PC=20240602_2215 action=" 80
wait_line a "purge ok target=hook cut=20240602_2245 " 20
ok "max_wait: A purges 22:45 anyway and names the lagging origin"

# 3. C stops: unhealthy, logged once with an action; it holds nothing up.
mark=$(wc -l <"${OLOG[a]}")
kill -TERM "${OPID[c]}"
wait "${OPID[c]}" || true
wait_line a "fleet peer-down peer=http://127.0.0.1:$PC why=\".*\" action=" 30
sleep 0.5
[[ $(tail -n +"$mark" "${OLOG[a]}" | grep -c "fleet peer-down peer=http://127.0.0.1:$PC") -eq 1 ]] ||
	fail "peer-down logged more than once"
ok "a stopped origin is unhealthy, logged once"
put "$P1" a 20240602_2300_PREP_PRES_NAL.tar.gz
sleep 0.5
put "$P1" b 20240602_2300_PREP_PRES_NAL.tar.gz
wait_line a "fleet purge cut=20240602_2300 reason=served" 30
ok "with C down, A's purge waits only for B"

for o in a b; do PID=${OPID[$o]}; stop_prepd; done
done_testing
