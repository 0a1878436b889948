#!/usr/bin/env bash
# Running under systemd, without systemd as PID 1: sd_notify readiness,
# STATUS= following each publish, watchdog pings and STOPPING=1 (read from
# a notify socket of our own), and socket activation through
# systemd-socket-activate (the sockets passed as LISTEN_FDS, matched to the
# listeners by address; an unmatched one is named and closed).
source "$SRCDIR/tests/integration/lib.sh"

command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate is not installed"
"$PREPD" --version | grep -q '^systemd: notify' || skip "prepd is built without libsystemd (meson -Dsystemd=enabled)"
# A notify socket: every datagram prepd sends, one per line (\n -> |).
python3 - "$T/notify.sock" "$T/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode().replace("\n", "|") + "\n")
PY
PIDS+=($!)
for ((i = 0; i < 50; i++)); do [[ -S $T/notify.sock ]] && break; sleep 0.1; done

notified() {   # notified PATTERN WHAT
	local i
	for ((i = 0; i < 60; i++)); do
		grep -q -- "$1" "$T/notify.log" 2>/dev/null && { ok "$2"; return 0; }
		sleep 0.1
	done
	fail "$2: no notification matching '$1' in: $(cat "$T/notify.log" 2>/dev/null)"
}

spool=$T/spool
mkdir -p "$spool"
NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=400000 start_prepd svc --spool "$spool"
notified "READY=1|STATUS=serving the placeholder" "READY=1 with the cut served in STATUS="
notified "WATCHDOG=1" "the watchdog is pinged"
n1=$(grep -c WATCHDOG=1 "$T/notify.log")
sleep 1
n2=$(grep -c WATCHDOG=1 "$T/notify.log")
((n2 >= n1 + 3)) || fail "pings every half interval: $n1 then $n2 after 1 s"
ok "pings every half interval ($((n2 - n1)) in 1 s)"
cp "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" "$spool/.x"
mv "$spool/.x" "$spool/20240602_2215_PREP_PRES_NAL.tar.gz"
notified "STATUS=serving cut 20240602_2215 (package 1, full)" "STATUS= follows a publish"
stop_prepd
notified "STOPPING=1" "STOPPING=1 on SIGTERM"

# Socket activation: the HTTP socket comes from the manager; one more
# socket matches no listener.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
extra=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
LOG=$T/act.log
systemd-socket-activate -l "127.0.0.1:$port" -l "127.0.0.1:$extra" \
	"$PREPD" --http "127.0.0.1:$port" --data "$T/act" >"$LOG" 2>&1 &
PID=$!
PIDS+=("$PID")
# Connect only once it listens (it may be slow to start on a busy machine);
# systemd-socket-activate starts prepd on the first connection.
for ((i = 0; i < 100; i++)); do
	grep -q "Listening on 127.0.0.1:$extra" "$LOG" 2>/dev/null && break
	sleep 0.05
done
expect_eq "$(get "http://127.0.0.1:$port/")" 200 "serves on the passed socket"
expect_log "listen inherited listener=http addr=127.0.0.1:$port from=systemd" "the socket is taken from systemd"
expect_log "warn listen inherited-unused addr=127.0.0.1:$extra" "an unmatched passed socket is named"
# The listener was never bound by prepd: a second bind of that port by
# prepd would have failed with "address in use".
grep -q "cannot listen" "$LOG" && fail "prepd tried to bind the passed port"
ok "prepd did not bind the port itself"
stop_prepd
done_testing
