#!/usr/bin/env bash
# TLS: 1.2 and 1.3 with AEAD only; 1.0/1.1 and CBC refused; SIGHUP reloads
# the certificate without dropping open connections.
. "$(dirname "$0")/lib.sh"

command -v gnutls-cli >/dev/null || fail "gnutls-cli missing (script/bootstrap installs gnutls-bin)"
"$SRCDIR/certs/make-local-cert" "$T/c1" >/dev/null
"$SRCDIR/certs/make-local-cert" "$T/c2" >/dev/null
cp "$T/c1/cert.pem" "$T/cert.pem"
cp "$T/c1/key.pem" "$T/key.pem"
start_prepd tls --https 127.0.0.1:0 --cert "$T/cert.pem" --key "$T/key.pem" \
	--package "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz"
[[ -n $HTTPS_PORT && -n $HTTP_PORT ]] || fail "both listeners"
ok "HTTP and HTTPS listen together"

# tls PRIORITY: gnutls-cli's handshake result, "ok" or "refused".
tls() {
	if gnutls-cli --insecure --priority "$1" -p "$HTTPS_PORT" 127.0.0.1 </dev/null >"$T/cli" 2>&1 &&
	   grep -q 'Handshake was completed' "$T/cli"; then
		echo ok
	else
		echo refused
	fi
}
expect_eq "$(tls 'NORMAL:-VERS-ALL:+VERS-TLS1.3')" ok "TLS 1.3 accepted"
grep -q 'TLS1.3' "$T/cli" || fail "not TLS 1.3"
expect_eq "$(tls 'NORMAL:-VERS-ALL:+VERS-TLS1.2')" ok "TLS 1.2 accepted"
grep -qE 'AES-(128|256)-GCM|CHACHA20' "$T/cli" || fail "TLS 1.2 cipher is not AEAD: $(grep -i cipher "$T/cli")"
ok "TLS 1.2 uses an AEAD cipher"
grep -q 'ECDHE' "$T/cli" || fail "TLS 1.2 key exchange is not ECDHE"
ok "TLS 1.2 uses ECDHE"
expect_eq "$(tls 'NORMAL:-VERS-ALL:+VERS-TLS1.1:%LATEST_RECORD_VERSION')" refused "TLS 1.1 refused"
expect_eq "$(tls 'NORMAL:-VERS-ALL:+VERS-TLS1.0')" refused "TLS 1.0 refused"
expect_eq "$(tls 'NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-CBC:+AES-256-CBC:-MAC-ALL:+SHA1:+SHA256')" refused "CBC ciphers refused"
expect_eq "$(tls 'NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+RSA')" refused "static RSA key exchange refused"
expect_eq "$(tls 'NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+DHE-RSA')" refused "DHE refused (ECDHE only)"

code=$(get "https://127.0.0.1:$HTTPS_PORT/" --cacert "$T/c1/cert.pem")
expect_eq "$code" 200 "curl with the certificate trusted"
expect_eq "$(header X-PREP-Cut)" "seq=1; label=20240602_2215; time=2024-06-02T22:15-06:00" "HTTPS serves the same cut"
cmp -s "$T/body" "$PKGDIR/site/index.html" || fail "HTTPS body"
ok "HTTPS body byte-identical"
curl -sS --tlsv1.1 --tls-max 1.1 --cacert "$T/c1/cert.pem" -o /dev/null "https://127.0.0.1:$HTTPS_PORT/" 2>/dev/null &&
	fail "curl with TLS 1.1 connected"
ok "curl with TLS 1.1 cannot connect"

# Reload: a connection opened before SIGHUP keeps working; new
# connections get the new certificate. A bad new pair keeps the old one.
python3 - "$HTTPS_PORT" "$T" "$PID" <<'PY' || fail "certificate reload"
import hashlib, os, signal, socket, ssl, sys, time
port, tdir, pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def fingerprint(der):
    return hashlib.sha256(der).hexdigest()
def pem_fp(path):
    return fingerprint(ssl.PEM_cert_to_DER_cert(open(path).read()))
def connect():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5))
    return s
def request(s):
    s.sendall(b"GET /tiny.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
    head, body = data.split(b"\r\n\r\n", 1)
    length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0].split(b":")[1])
    while len(body) < length:
        body += s.recv(4096)
    assert head.startswith(b"HTTP/1.1 200"), head
    return body
old = connect()
assert fingerprint(old.getpeercert(binary_form=True)) == pem_fp(tdir + "/c1/cert.pem")
request(old)
# Replace the files, then SIGHUP.
for name in ("cert.pem", "key.pem"):
    os.replace(tdir + "/c2/" + name, tdir + "/" + name + ".new")
    os.replace(tdir + "/" + name + ".new", tdir + "/" + name)
os.kill(pid, signal.SIGHUP)
deadline = time.time() + 5
while time.time() < deadline:
    s = connect()
    fp = fingerprint(s.getpeercert(binary_form=True))
    s.close()
    if fp == pem_fp(tdir + "/cert.pem"):
        break
    time.sleep(0.1)
else:
    sys.exit("new connections never got the new certificate")
request(old)   # the connection from before the reload still works
request(old)
old.close()
print("reload ok")
PY
ok "SIGHUP: new certificate for new connections, old connection kept"
expect_log 'tls reloaded' "reload is logged"

# A broken key on reload: logged, old certificate stays.
echo "not a key" >"$T/key.pem"
kill -HUP "$PID"
expect_log 'tls reload-failed.*previous certificate is still in use' "a bad reload keeps the old certificate"
code=$(get "https://127.0.0.1:$HTTPS_PORT/" -k)
expect_eq "$code" 200 "still serving HTTPS after a failed reload"

# A key that does not match the certificate is refused at start-up.
"$SRCDIR/certs/make-local-cert" "$T/c3" >/dev/null
rc=0; "$PREPD" --http off --https 127.0.0.1:0 --cert "$T/c1/cert.pem" --key "$T/c3/key.pem" \
	--data "$T/mm" >"$T/mismatch.log" 2>&1 || rc=$?
[[ $rc -ne 0 ]] && grep -q 'does not belong to the certificate' "$T/mismatch.log" ||
	fail "mismatched key: $(cat "$T/mismatch.log")"
ok "a key that does not match the certificate is refused"
stop_prepd
done_testing
