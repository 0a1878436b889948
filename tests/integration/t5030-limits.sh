#!/usr/bin/env bash
# Per-client limits (issue 9, R16): past the request rate, each configured
# action happens (log, 429 with Retry-After, close, block), with its log
# line (once per address and minute), its counter in the admin /status and
# a webhook POST received by a small listener here; the per-client
# connection limit likewise. Clients are 127.0.0.3 and 127.0.0.4 ([shield]
# exempt is turned off: loopback is exempt by default). About 15 s.
. "$(dirname "$0")/lib.sh"
python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.3", 0))' 2>/dev/null ||
	skip "127.0.0.3 is not usable on this machine"

# The webhook receiver: one JSON body per line in $T/hook.jsonl.
python3 - "$T/hook.port" "$T/hook.jsonl" <<'PY' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(sys.argv[2], "ab") as f:
            f.write(self.headers.get("Content-Type", "").encode() + b" " + body + b"\n")
        self.send_response(204)
        self.end_headers()
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
srv.timeout = 1
open(sys.argv[1], "w").write(str(srv.server_address[1]))
import time
end = time.time() + 120
while time.time() < end:
    srv.handle_request()
PY
PIDS+=($!)
for ((i = 0; i < 50; i++)); do [[ -s $T/hook.port ]] && break; sleep 0.1; done
HOOK=http://127.0.0.1:$(cat "$T/hook.port")/prepd
touch "$T/hook.jsonl"

# status_counter NAME: a counter from the admin /status "shield" object.
status_counter() {
	curl -sS -H "Authorization: Bearer $(cat "$T/$NAME/var/admin.token")" \
		"http://127.0.0.1:$APORT/status" |
		python3 -c "import json,sys; print(json.load(sys.stdin)['shield']['$1'])"
}

# burst ADDR N PATH: N requests from ADDR on one keep-alive connection
# where the server keeps it; prints one status code per line (000: closed).
burst() {
	local i urls=()
	for ((i = 0; i < $2; i++)); do urls+=(-o /dev/null "http://127.0.0.1:$HTTP_PORT$3"); done
	curl -s --interface "$1" -w '%{http_code}\n' "${urls[@]}" 2>/dev/null || true
}

# start_limits NAME ACTION [MORE CONFIG]: prepd with rate 5/s, burst 5.
start_limits() {
	NAME=$1
	start_prepd "$1" --admin 127.0.0.1:0 --access-log "$T/$1.access" --package "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" \
		--config <(printf '[shield]\nexempt = off\nrate = 5\nrate_burst = 5\nrate_action = %s\nblock_minutes = 1\nwebhook = %s\n%b' \
			"$2" "$HOOK" "${3:-}")
	APORT=$(sed -n 's/.*proto=admin addr=[^ ]*:\([0-9]*\).*/\1/p' "$LOG" | head -n1)
}

# expect_hook ACTION RULE: the webhook got an event for 127.0.0.3.
expect_hook() {
	local i
	for ((i = 0; i < 50; i++)); do
		grep -q "\"client\":\"127.0.0.3\",\"rule\":\"$2\".*\"action\":\"$1\"" "$T/hook.jsonl" &&
			{ ok "$2 $1: the webhook got the event"; return 0; }
		sleep 0.1
	done
	fail "$2 $1: no webhook event; got: $(cat "$T/hook.jsonl")"
}

# --- log: everything is served, the breach is logged, counted, sent.
start_limits log log
codes=$(burst 127.0.0.3 20 /tiny.txt | sort | uniq -c | awk '{ printf "%s %s ", $1, $2 }')
[[ $codes == "20 200 " ]] || fail "log: every request served: $codes"
ok "log: all 20 requests served past the rate"
expect_log 'shield limit-exceeded client=127.0.0.3 rule=rate limit=5/s burst=5 did=log breaches=1 ' \
	"log: the breach is logged"
(( $(grep -c 'limit-exceeded client=127.0.0.3' "$LOG") == 1 )) || fail "log: more than one line a minute"
ok "log: one line for 15 breaches"
[[ $(status_counter rate_log) -ge 15 ]] || fail "log: rate_log $(status_counter rate_log)"
ok "log: /status counts rate_log"
expect_hook log rate
grep -q '^application/json {"event":"limit-exceeded"' "$T/hook.jsonl" || fail "webhook body: $(head -n1 "$T/hook.jsonl")"
ok "the webhook body is JSON, sent as application/json"
stop_prepd

# --- 429: past the burst, 429 with Retry-After; another address is served.
start_limits r429 429 'connections_per_client = 2\nconnection_action = 429\n'
codes=$(burst 127.0.0.3 12 /tiny.txt | sort | uniq -c | awk '{ printf "%s %s ", $1, $2 }')
[[ $codes == "5 200 7 429 " ]] || fail "429: want 5 served and 7 refused: $codes"
ok "429: the burst is served, the rest refused"
code=$(get "http://127.0.0.1:$HTTP_PORT/tiny.txt" --interface 127.0.0.3)
[[ $code == 429 && $(header Retry-After) =~ ^[1-9][0-9]*$ ]] || fail "429: code $code Retry-After '$(header Retry-After)'"
ok "429 carries Retry-After: $(header Retry-After)"
code=$(get "http://127.0.0.1:$HTTP_PORT/tiny.txt" --interface 127.0.0.4)
expect_eq "$code" 200 "another address is served meanwhile"
sleep 1.1
code=$(get "http://127.0.0.1:$HTTP_PORT/tiny.txt" --interface 127.0.0.3)
expect_eq "$code" 200 "a second later a token is back"
expect_log 'shield limit-exceeded client=127.0.0.3 rule=rate limit=5/s burst=5 did=429' "429: logged"
[[ $(status_counter rate_429) -ge 8 ]] || fail "429: rate_429 $(status_counter rate_429)"
ok "429: /status counts rate_429"
expect_hook 429 rate
sleep 0.2
grep -q '^127.0.0.3 - - .*"GET /tiny.txt HTTP/1.1" 429 22 ' "$T/r429.access" ||
	fail "429: not in the access log: $(tail -n 2 "$T/r429.access")"
ok "429: the refusal is in the access log, with the client's address"
# The connection rule, action 429: the third connection is answered at once.
python3 - "$HTTP_PORT" <<'PY' || fail "connection limit"
import socket, sys, time
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.3", 0)) for _ in range(2)]
time.sleep(0.3)
s = socket.create_connection(("127.0.0.1", port), timeout=3, source_address=("127.0.0.3", 0))
t0 = time.monotonic()
buf = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    buf += d
if not buf.startswith(b"HTTP/1.1 429"):
    sys.exit(f"third connection got {buf[:40]!r}")
if b"Retry-After:" not in buf:
    sys.exit("no Retry-After")
if time.monotonic() - t0 > 1:
    sys.exit("not answered at once")
o = socket.create_connection(("127.0.0.1", port), timeout=3, source_address=("127.0.0.4", 0))
o.sendall(b"GET /tiny.txt HTTP/1.1\r\nHost: t\r\n\r\n")
if not o.recv(100).startswith(b"HTTP/1.1 200"):
    sys.exit("another address refused")
PY
ok "connections: the third from one address is answered 429 at once, others served"
expect_log 'shield limit-exceeded client=127.0.0.3 rule=connections limit=2 did=429' "connections: logged"
[[ $(status_counter connections_429) -ge 1 ]] || fail "connections_429 $(status_counter connections_429)"
ok "connections: /status counts connections_429"
expect_hook 429 connections
stop_prepd

# --- close: past the burst the connection is closed.
start_limits close close
codes=$(burst 127.0.0.3 12 /tiny.txt | tr '\n' ' ')
[[ $codes == "200 200 200 200 200 000 "* ]] || fail "close: $codes"
ok "close: the 6th request's connection is closed ($codes)"
expect_log 'shield limit-exceeded client=127.0.0.3 rule=rate limit=5/s burst=5 did=close' "close: logged"
[[ $(status_counter rate_close) -ge 1 ]] || fail "close: rate_close $(status_counter rate_close)"
ok "close: /status counts rate_close"
expect_hook close rate
stop_prepd

# --- block: past the burst the address is refused, even after its tokens
#     are back, until block_minutes; others are served.
start_limits block block
burst 127.0.0.3 8 /tiny.txt >/dev/null
sleep 1.5
code=$(curl -s --interface 127.0.0.3 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/tiny.txt" || true)
expect_eq "$code" 000 "block: 1.5 s later (tokens back) the address is still refused"
code=$(get "http://127.0.0.1:$HTTP_PORT/tiny.txt" --interface 127.0.0.4)
expect_eq "$code" 200 "block: another address is served"
expect_log 'shield limit-exceeded client=127.0.0.3 rule=rate limit=5/s burst=5 did=block minutes=1' "block: logged"
[[ $(status_counter rate_block) -eq 1 && $(status_counter blocked_refused) -ge 1 ]] ||
	fail "block: rate_block $(status_counter rate_block) blocked_refused $(status_counter blocked_refused)"
ok "block: /status counts the block and the refusals"
expect_hook block rate
grep -q '"action":"block","block_minutes":1' "$T/hook.jsonl" || fail "block: webhook lacks block_minutes"
ok "block: the webhook says for how long"
stop_prepd
done_testing
