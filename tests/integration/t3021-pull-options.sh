#!/usr/bin/env bash
# Pull options: an index file naming each new package, a pinned key, a
# client certificate (PEM auth), basic and bearer auth, CMS signatures.
. "$(dirname "$0")/lib.sh"
up=$SRCDIR/tests/integration/upstream.py
bash "$SRCDIR/tests/integration/mkca.sh" "$T/ca" >/dev/null
root=$T/root
mkdir -p "$root"
start_upstream() {   # start_upstream NAME [ARGS...]: sets UP
	rm -f "$T/$1.port"
	python3 "$up" --root "$root" --cert "$T/ca/server.pem" --key "$T/ca/server-key.pem" \
		--ready "$T/$1.port" --lifetime 120 "${@:2}" 2>"$T/$1.uplog" &
	PIDS+=("$!")
	for ((i = 0; i < 50; i++)); do [[ -s $T/$1.port ]] && break; sleep 0.1; done
	UP=$(cat "$T/$1.port")
}
wait_cut() {
	for ((i = 0; i < 100; i++)); do
		get "http://127.0.0.1:$HTTP_PORT/" >/dev/null || true
		[[ $(header X-PREP-Cut) =~ $1 ]] && return 0
		sleep 0.1
	done
	fail "cut /$1/ never served; serving '$(header X-PREP-Cut)'"
}

# An index file whose last line names the current package (new name each cut).
start_upstream index
cp "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" "$PKGDIR/20240602_2230_PREP_PRES_NAL.zip" "$root/"
printf '# paquetes publicados\n20240602_2215_PREP_PRES_NAL.tar.gz\n' >"$root/ultimo.txt"
start_prepd index --config <(printf '[ingest]\nupstream_index = https://127.0.0.1:%s/ultimo.txt\nca = %s\npoll = 1\npin = %s\n' \
	"$UP" "$T/ca/ca.pem" "$(cat "$T/ca/server-pin.txt")")
wait_cut 'label=20240602_2215'
ok "the package named by the index is published (with the upstream's key pinned)"
printf '# paquetes publicados\n20240602_2215_PREP_PRES_NAL.tar.gz\n20240602_2230_PREP_PRES_NAL.zip\n' >"$root/ultimo.txt.new"
mv "$root/ultimo.txt.new" "$root/ultimo.txt"
wait_cut '^seq=2; label=20240602_2230'
ok "a new line in the index publishes the new package"
sleep 2
n=$(curl -sS --cacert "$T/ca/ca.pem" "https://127.0.0.1:$UP/_control/log" |
	python3 -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if r["path"].endswith(".zip")))')
expect_eq "$n" 1 "the package is downloaded once; the index is polled conditionally"
stop_prepd

# A wrong pin: refused.
start_prepd badpin --upstream "https://127.0.0.1:$UP/20240602_2215_PREP_PRES_NAL.tar.gz" --ca "$T/ca/ca.pem" \
	--poll 1 --config <(printf '[ingest]\npin = sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n')
expect_log 'fetch-failed' "a wrong pinned key is refused"
get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
expect_eq "$(header X-PREP-Cut)" "seq=0; label=placeholder" "nothing published with a wrong pin"
stop_prepd

# A client certificate required by the institute (PEM authentication).
start_upstream mtls --ca "$T/ca/ca.pem" --require-client-cert
start_prepd nocert --upstream "https://127.0.0.1:$UP/20240602_2215_PREP_PRES_NAL.tar.gz" --ca "$T/ca/ca.pem" --poll 1
expect_log 'fetch-failed' "without the client certificate the fetch fails"
stop_prepd
start_prepd cert --upstream "https://127.0.0.1:$UP/20240602_2215_PREP_PRES_NAL.tar.gz" --ca "$T/ca/ca.pem" --poll 1 \
	--client-cert "$T/ca/client.pem" --client-key "$T/ca/client-key.pem"
wait_cut 'label=20240602_2215'
ok "with the client certificate the package is published"
stop_prepd

# Basic and bearer auth.
start_upstream basic --auth-basic difusor:s3creto
echo "difusor:mal" >"$T/bad.auth"
start_prepd badauth --upstream "https://127.0.0.1:$UP/20240602_2215_PREP_PRES_NAL.tar.gz" --ca "$T/ca/ca.pem" \
	--poll 1 --config <(printf '[ingest]\nauth_file = %s\n' "$T/bad.auth")
expect_log 'answered HTTP 401 (check auth_file' "a wrong password is reported as such"
stop_prepd
echo "difusor:s3creto" >"$T/good.auth"
start_prepd basic --upstream "https://127.0.0.1:$UP/20240602_2215_PREP_PRES_NAL.tar.gz" --ca "$T/ca/ca.pem" \
	--poll 1 --config <(printf '[ingest]\nauth_file = %s\n' "$T/good.auth")
wait_cut 'label=20240602_2215'
ok "basic auth"
stop_prepd
start_upstream bearer --auth-bearer tok-123456
echo "Bearer tok-123456" >"$T/bearer.auth"
start_prepd bearer --upstream "https://127.0.0.1:$UP/20240602_2215_PREP_PRES_NAL.tar.gz" --ca "$T/ca/ca.pem" \
	--poll 1 --config <(printf '[ingest]\nauth_file = %s\n' "$T/bearer.auth")
wait_cut 'label=20240602_2215'
ok "bearer auth"
stop_prepd

# CMS (PKCS#7) detached signatures, as `openssl cms -sign -binary -outform DER` makes them.
command -v openssl >/dev/null || fail "openssl missing (script/bootstrap installs it)"
start_upstream cms
pkg=20240602_2245_PREP_PRES_NAL.zip
cp "$PKGDIR/$pkg" "$root/$pkg"
openssl cms -sign -binary -outform DER -in "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" \
	-signer "$T/ca/client.pem" -inkey "$T/ca/client-key.pem" -out "$root/$pkg.p7s"
start_prepd cms --upstream "https://127.0.0.1:$UP/$pkg" --ca "$T/ca/ca.pem" --poll 1 \
	--verify cms --trust "$T/ca/client.pem"
expect_log 'ingest refuse file=.* step=verify' "a CMS signature over other bytes is refused"
openssl cms -sign -binary -outform DER -in "$root/$pkg" -signer "$T/ca/client.pem" \
	-inkey "$T/ca/client-key.pem" -out "$root/$pkg.p7s.new"
mv "$root/$pkg.p7s.new" "$root/$pkg.p7s"
wait_cut 'label=20240602_2245'
ok "a good CMS signature is published"
stop_prepd
done_testing
