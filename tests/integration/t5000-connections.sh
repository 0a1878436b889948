#!/usr/bin/env bash
# Regression tests for the libmicrohttpd 0.9.75 traps prepd works around:
#  1. keep-alive is kept (queueing on the first handler call closed it);
#  2. no stall when exactly 128 or 256 connections are ready at once
#     (internal epoll mode);
#  3. no silent queueing past ~1020 connections (the default limit).
# Each run is bounded by a deadline and talks only to 127.0.0.1.
. "$(dirname "$0")/lib.sh"
conns=$SRCDIR/tests/integration/conns.py

start_prepd conns --package "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz"
base=http://127.0.0.1:$HTTP_PORT

# 1. keep-alive: curl reuses one connection for two URLs.
out=$(curl -sS -v -o /dev/null -o /dev/null "$base/" "$base/tiny.txt" 2>&1)
[[ $out == *"Re-using existing connection"* ]] || fail "keep-alive: connection not reused"
[[ $out != *"Connection: close"* ]] || fail "keep-alive: server sent Connection: close"
ok "keep-alive: two requests on one connection"
python3 "$conns" "$HTTP_PORT" 4 50 20 || fail "keep-alive over 50 rounds"
ok "keep-alive holds over 50 requests per connection"

# 2. exactly 128 and 256 ready connections, and neighbours, for both paths
#    (a small file and one with a gzip variant).
for n in 127 128 129 256 512; do
	python3 "$conns" "$HTTP_PORT" "$n" 20 30 || fail "$n connections stalled or failed"
	ok "$n connections x 20 rounds, no stall"
done

# 3. past libmicrohttpd's default of ~1020: all served while all are open.
python3 "$conns" "$HTTP_PORT" 1500 3 60 || fail "1500 connections"
ok "1500 simultaneous connections all served"
stop_prepd

# One core: the same must hold with a single worker pinned to one CPU.
if command -v taskset >/dev/null; then
	LOG=$T/one.log
	taskset -c 0 "$PREPD" --http 127.0.0.1:0 --threads 1 --data "$T/one" \
		--package "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" >"$LOG" 2>&1 &
	PID=$!
	PIDS+=("$PID")
	for ((i = 0; i < 100; i++)); do grep -q 'server ready' "$LOG" && break; sleep 0.1; done
	port=$(sed -n 's/.*proto=http addr=[^ ]*:\([0-9]*\) .*/\1/p' "$LOG" | head -n1)
	grep -q 'server listen proto=http .* workers=1 shards=16 ' "$LOG" || fail "one worker: 16 shards a listener"
	ok "one worker runs 16 libmicrohttpd daemons (shards) a listener"
	for n in 128 256 1100; do
		python3 "$conns" "$port" "$n" 5 60 || fail "one core, $n connections"
		ok "one worker on one core: $n connections, no stall"
	done
	stop_prepd
fi

# A connection limit that is reached is not silent: the log says so.
start_prepd limit --package "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" --threads 1 \
	--config <(printf '[server]\nconnection_limit = 32\n')
python3 - "$HTTP_PORT" <<'PY' || true
import socket, sys, time
socks = []
for _ in range(40):
    try:
        socks.append(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2))
    except OSError:
        pass
time.sleep(1)
PY
expect_log 'connection-limit-reached worker=0 open=32' "reaching the connection limit is logged"
stop_prepd

# Two workers share a limit of 40 (20 each) and the listening socket, not
# the accepts: a full worker leaves new connections to the other one
# instead of evicting its own, so 38 connections all stay and are served.
start_prepd share --package "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" --threads 2 \
	--config <(printf '[server]\nconnection_limit = 40\n')
python3 "$conns" "$HTTP_PORT" 38 3 20 || fail "38 connections under a limit of 2 x 20"
ok "38 connections under a limit of 40 on 2 workers: none evicted, all served"
grep -q 'connection-limit-reached' "$LOG" && fail "a worker evicted while the other had room: $(grep -m1 connection-limit-reached "$LOG")"
ok "no worker reached its limit while the other had room"
stop_prepd

# The kernel does not share a burst of new connections out evenly between
# the workers (64 went 51 to 13); prepd does: a worker ahead of another
# leaves the next ones to it. Five bursts of 64, each counted per worker
# on /metrics while all are open.
start_prepd balance --package "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" --threads 2 \
	--admin 127.0.0.1:0
APORT=$(sed -n 's/.*proto=admin addr=[^ ]*:\([0-9]*\).*/\1/p' "$LOG" | head -n1)
timeout 90 python3 "$SRCDIR/tests/integration/balance.py" "$HTTP_PORT" "$APORT" \
	"$(cat "$T/balance/var/admin.token")" 64 5 || fail "bursts of 64 connections not shared out evenly"
ok "bursts of 64 new connections shared out evenly between 2 workers"
stop_prepd

# A per-address limit counts per daemon: it keeps each worker to one shard.
start_prepd perip --package "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" --threads 1 \
	--config <(printf '[server]\nper_ip_connection_limit = 300\n')
grep -q 'server listen proto=http .* shards=1 ' "$LOG" || fail "per_ip_connection_limit: one shard"
ok "per_ip_connection_limit keeps one shard a listener"
python3 "$conns" "$HTTP_PORT" 400 2 30 && fail "400 connections from one address all served past a limit of 300"
ok "per_ip_connection_limit of 300 holds for 400 connections from one address"
stop_prepd
done_testing
