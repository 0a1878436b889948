#!/usr/bin/env bash
# Pulling from the institute (R3) against a real local HTTPS upstream with
# its own test CA: conditional GET, a new cut, and every fault a night
# brings (5xx, stall, truncation, oversize, wrong hash, bad and good
# signatures, TLS 1.1 only, untrusted certificate). Loopback only.
. "$(dirname "$0")/lib.sh"
up=$SRCDIR/tests/integration/upstream.py
bash "$SRCDIR/tests/integration/mkca.sh" "$T/ca" >/dev/null
root=$T/root
mkdir -p "$root"

# start_upstream NAME [ARGS...]: sets UP (its port).
start_upstream() {
	local name=$1
	shift
	rm -f "$T/$name.port"
	python3 "$up" --root "$root" --ready "$T/$name.port" --lifetime 170 "$@" 2>"$T/$name.uplog" &
	PIDS+=("$!")
	for ((i = 0; i < 50; i++)); do [[ -s $T/$name.port ]] && break; sleep 0.1; done
	UP=$(cat "$T/$name.port")
}
control() {
	curl -sS --cacert "$T/ca/ca.pem" -X POST --data "$1" "https://127.0.0.1:$UP/_control" >/dev/null
}
# publish_pkg FILE NAME: what the institute puts at /NAME, with its sidecar.
publish_pkg() {
	cp "$1" "$root/$2.new" && mv "$root/$2.new" "$root/$2"
	(cd "$root" && sha256sum "$2" >"$2.sha256.new" && mv "$2.sha256.new" "$2.sha256")
}
wait_cut() {   # wait_cut LABEL_REGEX [SECONDS]
	local i
	for ((i = 0; i < ${2:-15} * 10; i++)); do
		get "http://127.0.0.1:$HTTP_PORT/" >/dev/null || true
		[[ $(header X-PREP-Cut) =~ $1 ]] && return 0
		sleep 0.1
	done
	fail "cut /$1/ never served; serving '$(header X-PREP-Cut)'"
}

start_upstream main --cert "$T/ca/server.pem" --key "$T/ca/server-key.pem"
# A fixed name overwritten at every cut, as Jalisco does.
publish_pkg "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" PREP_PRES_NAL.tar.gz
cat >"$T/pull.ini" <<INI
[ingest]
upstream = https://127.0.0.1:$UP/PREP_PRES_NAL.tar.gz
ca = $T/ca/ca.pem
poll = 1
period = 1s
verify = sha256
low_speed_limit = 2000
low_speed_time = 2
fetch_timeout = 20
max_package_bytes = 1M
INI
start_prepd pull --config "$T/pull.ini" --admin 127.0.0.1:0
wait_cut 'seq=1; label=PREP_PRES_NAL'
ok "the first package is pulled, verified and published"
# prehashed SEQ FILE: the fetch line says every byte was hashed and
# checked as it downloaded, and the journal's SHA-256 for SEQ is FILE's.
prehashed() {
	local size sha
	size=$(stat -c %s "$2")
	sha=$(sha256sum "$2" | cut -d' ' -f1)
	grep 'ingest fetched ' "$LOG" | tail -n1 | grep -q "prehashed_bytes=$size\$" ||
		fail "the last fetch was not hashed while downloading: $(grep 'ingest fetched ' "$LOG" | tail -n1)"
	grep -q "^seq=$1 .* size=$size sha256=$sha " "$T/pull/var/journal.log" ||
		fail "seq $1's journal line does not name sha256 $sha"
}
prehashed 1 "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz"
ok "the pull hashed the package while it downloaded: the journal names sha256sum's hash"
sleep 2.5
n304=$(curl -sS --cacert "$T/ca/ca.pem" "https://127.0.0.1:$UP/_control/log" |
	python3 -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if r["status"] == 304 and r["if_none_match"]))')
[[ $n304 -ge 1 ]] || fail "no conditional GET answered 304"
ok "unchanged: conditional GETs get 304 ($n304 so far) and nothing is republished"
get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
expect_match "$(header X-PREP-Cut)" '^seq=1;' "a 304 publishes nothing"

# A new cut under the same name.
publish_pkg "$PKGDIR/20240602_2245_PREP_PRES_NAL.zip" PREP_PRES_NAL.tar.gz
wait_cut '^seq=2;'
get "http://127.0.0.1:$HTTP_PORT/index.html" >/dev/null
grep -q 'corte 22:45' "$T/body" || fail "new content not served"
ok "a new cut under the fixed name is published"

# 500 then a retry.
control '{"fault": "500", "count": 1, "retry_after": 1}'
publish_pkg "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" PREP_PRES_NAL.tar.gz
expect_log 'fetch-failed .* reason=".*answered HTTP 500' "a 500 is logged as a failed fetch"
wait_cut '^seq=3;'
ok "after a 500 the retry publishes the cut"

# A stalled transfer is dropped by the low-speed limit, then retried.
control '{"fault": "stall", "count": 1, "seconds": 60}'
publish_pkg "$PKGDIR/20240602_2230_PREP_PRES_NAL.zip" PREP_PRES_NAL.tar.gz
expect_log 'fetch-failed .*timed out' "a stalled transfer is aborted by the low-speed limit"
wait_cut '^seq=4;' 30
ok "after the stall the retry publishes the cut"

# A truncated body is not published; the retry is.
control '{"fault": "truncate", "count": 1}'
publish_pkg "$PKGDIR/20240602_2245_PREP_PRES_NAL.zip" PREP_PRES_NAL.tar.gz
expect_log 'fetch-failed .*cut short' "a truncated body is detected"
wait_cut '^seq=5;'
ok "after the truncation the retry publishes the cut"
prehashed 5 "$PKGDIR/20240602_2245_PREP_PRES_NAL.zip"
ok "the download after a cut-short one is hashed anew: the right hash"

# An oversize body with no length: the cap in the write callback stops it.
control '{"fault": "oversize", "count": 1, "bytes": 3000000, "mode": "chunked"}'
publish_pkg "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" PREP_PRES_NAL.tar.gz
expect_log 'fetch-failed .*error=limit .*larger than max_package_bytes' "an oversize body of unknown size is cut off at the cap"
wait_cut '^seq=6;'
ls "$T/pull/var/tmp" | grep -q '^\.dl-' && fail "a partial download was left in tmp"
ok "no partial download is left behind"

# A wrong SHA-256: quarantined, the current cut stays.
cp "$PKGDIR/20240602_2230_PREP_PRES_NAL.zip" "$root/PREP_PRES_NAL.tar.gz"
echo "0000000000000000000000000000000000000000000000000000000000000000  PREP_PRES_NAL.tar.gz" >"$root/PREP_PRES_NAL.tar.gz.sha256"
expect_log 'ingest refuse file=.* step=verify reason="SHA-256 mismatch' "a wrong SHA-256 is quarantined"
get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
expect_match "$(header X-PREP-Cut)" '^seq=6;' "the current cut is still served after a bad hash"

# Two failed periods: the status says so (R13).
control '{"fault": "503", "count": 100}'
publish_pkg "$PKGDIR/20240602_2245_PREP_PRES_NAL.zip" PREP_PRES_NAL.tar.gz
sleep 4
APORT=$(sed -n 's/.*proto=admin addr=[^ ]*:\([0-9]*\).*/\1/p' "$LOG" | head -n1)
get "http://127.0.0.1:$APORT/status" -H "Authorization: Bearer $(cat "$T/pull/var/admin.token")" >/dev/null
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["failed_periods"] >= 2 and "warning" in s and s["next_poll"], s' "$T/body" ||
	fail "status after failed periods: $(cat "$T/body")"
ok "after two failed periods the status warns"
expect_log 'periods-failed count=[2-9]' "the log warns once two or more periods failed"
control '{"fault": "none"}'
stop_prepd

# Signatures (Ed25519) over the pull path: a bad one is quarantined, a
# good one published.
command -v openssl >/dev/null || fail "openssl missing (script/bootstrap installs it)"
openssl genpkey -algorithm ed25519 -out "$T/ed.key" 2>/dev/null
openssl pkey -in "$T/ed.key" -pubout -out "$T/ed.pub" 2>/dev/null
rm -f "$root"/*
cp "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" "$root/s.tar.gz"
printf 'not the right bytes' >"$T/other"
openssl pkeyutl -sign -rawin -inkey "$T/ed.key" -in "$T/other" -out "$root/s.tar.gz.sig" 2>/dev/null
start_prepd sig --upstream "https://127.0.0.1:$UP/s.tar.gz" --ca "$T/ca/ca.pem" --poll 1 \
	--verify ed25519 --trust "$T/ed.pub"
expect_log 'ingest refuse file=.* step=verify' "a bad Ed25519 signature is quarantined"
openssl pkeyutl -sign -rawin -inkey "$T/ed.key" -in "$root/s.tar.gz" -out "$root/s.tar.gz.sig.new" 2>/dev/null
mv "$root/s.tar.gz.sig.new" "$root/s.tar.gz.sig"
touch "$root/s.tar.gz"
wait_cut 'label=s$'
ok "a good Ed25519 signature is published"
stop_prepd

# An untrusted certificate: refused, nothing published.
start_upstream other --cert "$T/ca/other-server.pem" --key "$T/ca/other-server-key.pem"
cp "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" "$root/u.tar.gz"
start_prepd untrusted --upstream "https://127.0.0.1:$UP/u.tar.gz" --ca "$T/ca/ca.pem" --poll 1
expect_log 'fetch-failed .*not trusted\|fetch-failed .*certificate' "an untrusted upstream certificate is refused"
get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
expect_eq "$(header X-PREP-Cut)" "seq=0; label=placeholder" "nothing from an untrusted upstream is served"
stop_prepd

# An upstream that offers only TLS 1.1: refused.
start_upstream old --cert "$T/ca/server.pem" --key "$T/ca/server-key.pem" --tls-max 1.1
start_prepd tls11 --upstream "https://127.0.0.1:$UP/u.tar.gz" --ca "$T/ca/ca.pem" --poll 1
expect_log 'fetch-failed .*TLS' "an upstream offering only TLS 1.1 is refused"
get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
expect_eq "$(header X-PREP-Cut)" "seq=0; label=placeholder" "nothing is pulled over TLS 1.1"
stop_prepd
done_testing
