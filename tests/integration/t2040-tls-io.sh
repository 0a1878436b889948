#!/usr/bin/env bash
# TLS keep-alive through prepd's own GnuTLS socket functions
# (server/tlsio.c): a head kept back for its body never stalls an answer
# without one (HEAD, 304, 404 HEAD), pipelined requests in one read are
# all answered, a slow reader gets every byte, many connections keep their
# own answers; TLS 1.2 and 1.3. A first request from a client with Nagle
# on is not held for a delayed ACK. A surge of new handshakes is handed
# over a few at a time, and every one is answered. Handshakes held half
# done cost no CPU while they wait. Then curl fetches two files on one connection.
. "$(dirname "$0")/lib.sh"

"$SRCDIR/certs/make-local-cert" "$T/c" >/dev/null
mkdir -p "$T/site"
cp "$PKGDIR/site/index.html" "$T/site/"
head -c 1500000 /dev/urandom >"$T/site/big.bin"
tar -C "$T/site" -czf "$T/20240602_2215_PREP_PRES_NAL.tar.gz" index.html big.bin
start_prepd tlsio --https 127.0.0.1:0 --cert "$T/c/cert.pem" --key "$T/c/key.pem" \
	--package "$T/20240602_2215_PREP_PRES_NAL.tar.gz" --admin 127.0.0.1:0
APORT=$(sed -n 's/.*proto=admin addr=[^ ]*:\([0-9]*\).*/\1/p' "$LOG" | head -n1)
[[ -n $APORT ]] || fail "no admin listen line"
queued() {
	curl -s -H "Authorization: Bearer $(cat "$T/tlsio/var/admin.token")" \
		"http://127.0.0.1:$APORT/metrics" |
		sed -n 's/^prepd_shield_events_total{event="tls_handshakes_queued"} //p'
}

for v in 1.3 1.2; do
	out=$(timeout 120 python3 "$SRCDIR/tests/integration/tlsio.py" "$HTTPS_PORT" "$T/site" "$v") ||
		fail "TLS $v: ${out:-tlsio.py timed out}"
	ok "$out"
done

# A new visitor's first answer, from a client that leaves Nagle on: the
# client's Finished is acknowledged at once, so its request is not held
# for a delayed ACK (40 ms or more before).
for v in 1.3 1.2; do
	out=$(timeout 60 python3 "$SRCDIR/tests/integration/tlsack.py" "$HTTPS_PORT" "$v" 2>&1) ||
		fail "TLS $v first answer: ${out:-tlsack.py timed out}"
	while IFS= read -r line; do ok "$line"; done <<<"$out"
done

# A surge: 200 connections open, then all their ClientHellos in one
# burst, while a connection opened before keeps asking. The worker hands
# over NET_HANDSHAKE_BATCH new handshakes at a time and queues the rest
# (server/worker.c hand_over_when_due()); every one must be answered.
for v in 1.3 1.2; do
	before=$(queued)
	[[ -n $before ]] || fail "no tls_handshakes_queued in /metrics"
	out=$(timeout 120 python3 "$SRCDIR/tests/integration/tlssurge.py" "$HTTPS_PORT" \
		"$T/site/index.html" "$v" 200 2>&1) || fail "TLS $v surge: ${out:-tlssurge.py timed out}"
	after=$(queued)
	((after > before)) || fail "TLS $v surge: no handshake waited for its turn ($before then $after queued): $out"
	ok "TLS $v surge of 200 ClientHellos at once: all answered, $((after - before)) waited for their turn; $out"
done

# Handshakes held half done (the server's flight read, the client's
# Finished not sent) leave prepd idle: libmicrohttpd 0.9.75 keeps them on
# its ready list, and a worker that believed it spun until the client
# answered (server/worker.c run_shard()). 8 held for 2 s cost a core for
# 2 s before; now next to nothing. Then each is finished and answered.
for v in 1.3 1.2; do
	out=$(timeout 60 python3 "$SRCDIR/tests/integration/tlsstall.py" "$HTTPS_PORT" "$PID" "$v" 8 2) ||
		fail "TLS $v held handshakes: ${out:-tlsstall.py timed out}"
	ms=$(sed -n 's/^cpu_ms=\([0-9]*\) .*/\1/p' <<<"$out")
	[[ -n $ms && $ms -lt 500 ]] || fail "TLS $v: 8 handshakes held for 2 s cost prepd ${ms:-?} ms of CPU (want < 500): $out"
	ok "TLS $v: 8 handshakes held half done for 2 s cost ${ms} ms of CPU, then all answered"
done

# The same bytes over both listeners, one curl connection each.
curl -sS --insecure -o "$T/https-big" "https://127.0.0.1:$HTTPS_PORT/big.bin" -o "$T/https-index" \
	"https://127.0.0.1:$HTTPS_PORT/index.html" || fail "curl over HTTPS"
cmp -s "$T/https-big" "$T/site/big.bin" && cmp -s "$T/https-index" "$T/site/index.html" ||
	fail "curl over HTTPS: bodies differ"
ok "curl over HTTPS: both bodies byte-identical on one connection"
grep -q 'error' "$LOG" && fail "prepd logged an error: $(grep error "$LOG" | head -n 1)"
ok "no error in prepd's log"
stop_prepd
done_testing
