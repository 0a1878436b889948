#!/usr/bin/env bash
# TLS session resumption with tickets (RFC 5077, RFC 8446 4.6.1): TLS 1.3
# and 1.2 resume (gnutls-cli --resume), on any worker; [tls]
# ticket_lifetime = 0 turns it off; the ticket key rotates every
# 3 x lifetime (GnuTLS 3.7's schedule), a ticket sealed before a rotation
# still resumes within its lifetime, and not after.
. "$(dirname "$0")/lib.sh"

command -v gnutls-cli >/dev/null || fail "gnutls-cli missing (script/bootstrap installs gnutls-bin)"
command -v openssl >/dev/null || fail "openssl missing (script/bootstrap installs it)"
"$SRCDIR/certs/make-local-cert" "$T/c" >/dev/null
PKG=$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz

# resumed PRIORITY: "yes" if gnutls-cli's second connection resumed.
resumed() {
	gnutls-cli --insecure --resume --priority "$1" -p "$HTTPS_PORT" 127.0.0.1 \
		</dev/null >"$T/cli" 2>&1 || true
	grep -q 'Resume Handshake was completed' "$T/cli" || grep -q 'Handshake was completed' "$T/cli" ||
		fail "gnutls-cli did not connect: $(tail -n 3 "$T/cli")"
	if grep -q '\*\*\* This is a resumed session' "$T/cli"; then echo yes; else echo no; fi
}

cat >"$T/on.ini" <<EOF
[server]
threads = 2
[tls]
cert = $T/c/cert.pem
key = $T/c/key.pem
EOF
start_prepd on --config "$T/on.ini" --https 127.0.0.1:0 --package "$PKG"
grep -q 'tls tickets lifetime=3600s key_rotation=10800s' "$LOG" || fail "no 'tls tickets' line"
ok "the default: tickets good for 1h, key rotation every 3h, said in the log"
expect_eq "$(resumed 'NORMAL:-VERS-ALL:+VERS-TLS1.3')" yes "TLS 1.3 resumes (gnutls-cli --resume)"
expect_eq "$(resumed 'NORMAL:-VERS-ALL:+VERS-TLS1.2')" yes "TLS 1.2 resumes with a ticket (gnutls-cli --resume)"
# Two workers, each with its own libmicrohttpd daemon and GnuTLS
# sessions: a ticket from one must open on the other. Ten tries land on
# both workers nearly always; every one must resume.
for i in $(seq 1 10); do
	[[ $(resumed 'NORMAL:-VERS-ALL:+VERS-TLS1.3') == yes ]] || fail "try $i did not resume"
done
ok "ten resumptions in a row, whichever worker answers"
code=$(get "https://127.0.0.1:$HTTPS_PORT/" --cacert "$T/c/cert.pem")
expect_eq "$code" 200 "HTTPS still serves the cut"
stop_prepd

cat >"$T/off.ini" <<EOF
[tls]
cert = $T/c/cert.pem
key = $T/c/key.pem
ticket_lifetime = 0
EOF
start_prepd off --config "$T/off.ini" --https 127.0.0.1:0 --package "$PKG"
grep -q 'tls tickets off=yes' "$LOG" || fail "no 'tls tickets off=yes' line"
expect_eq "$(resumed 'NORMAL:-VERS-ALL:+VERS-TLS1.3')" no "ticket_lifetime = 0: TLS 1.3 does not resume"
expect_eq "$(resumed 'NORMAL:-VERS-ALL:+VERS-TLS1.2')" no "ticket_lifetime = 0: TLS 1.2 does not resume"
stop_prepd

# Rotation. With a lifetime of 2 s GnuTLS seals tickets with the key of
# step floor(epoch / 6 s), and opens those of the step before too. A
# ticket taken late in one step is offered early in the next: it must
# resume (the grace), while a ticket taken then is sealed with a new key
# (its first 16 bytes, the key name, differ). After the lifetime the old
# ticket is refused by the server (TLS 1.2 checks the session's age; a
# TLS 1.3 client no longer offers it).
cat >"$T/rot.ini" <<EOF
[tls]
cert = $T/c/cert.pem
key = $T/c/key.pem
ticket_lifetime = 2s
EOF
start_prepd rot --config "$T/rot.ini" --https 127.0.0.1:0 --package "$PKG"
grep -q 'tls tickets lifetime=2s key_rotation=6s' "$LOG" || fail "no 'tls tickets' line for 2s"

# connect VERSION SESSION_OUT [SESSION_IN]: one request over openssl
# s_client; prints New or Reused. -ign_eof reads until prepd closes, so
# the TLS 1.3 tickets (sent after the handshake) are in the session file.
connect() {
	local in=()
	[[ -n ${3:-} ]] && in=(-sess_in "$3")
	[[ -n ${MSG:-} ]] && in+=(-msg)
	printf 'GET /tiny.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
		timeout 10 openssl s_client "$1" -connect "127.0.0.1:$HTTPS_PORT" -servername localhost \
			-ign_eof -sess_out "$2" "${in[@]}" >"$T/s_client" 2>&1 || true
	grep -q '^HTTP/1.1 200' "$T/s_client" || fail "openssl s_client $1 got no 200: $(tail -n 5 "$T/s_client")"
	sed -n 's/^\(New\|Reused\),.*/\1/p' "$T/s_client" | head -n1
}
# keyname SESSION: the ticket's first 16 bytes (GnuTLS's key name).
keyname() {
	openssl sess_id -in "$1" -noout -text | grep -A1 'TLS session ticket:' | tail -n1 |
		sed 's/^ *[0-9a-f]* - //; s/   .*//; s/[- ]//g'
}
# now_ms: the wall clock in milliseconds (GnuTLS's steps follow it).
now_ms() { date +%s%3N; }

aligned=no
for try in 1 2 3; do
	# Wait until 0.4 to 1.2 s before the next 6 s step starts.
	while :; do
		m=$(( $(now_ms) % 6000 ))
		((m >= 4800 && m < 5300)) && break
		sleep 0.05
	done
	t0=$(now_ms)
	[[ $(connect -tls1_2 "$T/a12") == New ]] || fail "the first TLS 1.2 connection resumed something"
	[[ $(connect -tls1_3 "$T/a13") == New ]] || fail "the first TLS 1.3 connection resumed something"
	t1=$(now_ms)
	# Both tickets within the same step, taken before it ended?
	if (( t0 / 6000 == t1 / 6000 )); then aligned=yes; break; fi
done
[[ $aligned == yes ]] || fail "could not take two tickets within one key step (machine too slow?)"
old_key=$(keyname "$T/a12")
[[ -n $old_key ]] || fail "no ticket in the TLS 1.2 session"
expect_eq "$(keyname "$T/a13")" "$old_key" "TLS 1.2 and 1.3 tickets are sealed with the same key"
# Into the next step.
while (( $(now_ms) / 6000 == t0 / 6000 )); do sleep 0.05; done
sleep 0.1
[[ $(connect -tls1_2 "$T/b12") == New ]] || fail "a connection without a ticket resumed"
new_key=$(keyname "$T/b12")
[[ -n $new_key && $new_key != "$old_key" ]] || fail "the key did not rotate: $old_key then $new_key"
ok "the ticket key rotated at the step: $old_key -> $new_key"
age=$(( $(now_ms) - t0 ))
((age < 1900)) || fail "too slow to test the grace: the tickets are ${age} ms old"
expect_eq "$(connect -tls1_2 "$T/r12" "$T/a12")" Reused "TLS 1.2: a ticket from before the rotation resumes (${age} ms old)"
expect_eq "$(connect -tls1_3 "$T/r13" "$T/a13")" Reused "TLS 1.3: a ticket from before the rotation resumes"
# Past the lifetime (GnuTLS counts whole seconds: more than 2 s).
while (( $(now_ms) - t0 < 3300 )); do sleep 0.1; done
expect_eq "$(MSG=1 connect -tls1_2 "$T/x12" "$T/a12")" New "TLS 1.2: the same ticket after its lifetime is refused"
# The client did offer it: the ClientHello holds the ticket (its key name).
sed -n '/>>> .*ClientHello/,/<<</p' "$T/s_client" | tr -d ' \n' | grep -q "$old_key" ||
	fail "the TLS 1.2 ClientHello did not carry the old ticket: the refusal proves nothing"
ok "the refused ticket was offered: prepd refused it, not the client"
expect_eq "$(connect -tls1_3 "$T/x13" "$T/a13")" New "TLS 1.3: the same ticket after its lifetime does not resume"
stop_prepd
done_testing
