#!/usr/bin/env bash
# Ingest from a spool folder (SFTP push, R3): packages dropped in are kept in
# the history, published, or quarantined with a reason; incremental packages
# are laid over the site (R7); a restart rebuilds the last cut from the
# history alone.
. "$(dirname "$0")/lib.sh"

spool=$T/spool
mkdir -p "$spool"
data=$T/spooled/var

# wait_cut LABEL: until / names that cut (10 s at most).
wait_cut() {
	local i
	for ((i = 0; i < 100; i++)); do
		get "http://127.0.0.1:$HTTP_PORT/" >/dev/null || true
		[[ $(header X-PREP-Cut) == *"label=$1"* ]] && return 0
		sleep 0.1
	done
	fail "cut $1 never published; serving '$(header X-PREP-Cut)'"
}

cat >"$T/cut.ini" <<'INI'
[ingest]
cut_json = /assets/JSON/PRESIDENTE/NACIONAL/Presidente_NACIONAL.json
cut_key = ultimoCorte
INI
start_prepd spooled --spool "$spool" --config "$T/cut.ini"
expect_eq "$(get "http://127.0.0.1:$HTTP_PORT/" >/dev/null; header X-PREP-Cut)" "seq=0; label=placeholder" "placeholder before the first package"

# An upload that lands under a temporary name, then is renamed (SFTP style).
cp "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" "$spool/.20240602_2215_PREP_PRES_NAL.tar.gz.part"
sleep 0.3
get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
expect_eq "$(header X-PREP-Cut)" "seq=0; label=placeholder" "a temporary file is not picked up"
mv "$spool/.20240602_2215_PREP_PRES_NAL.tar.gz.part" "$spool/20240602_2215_PREP_PRES_NAL.tar.gz"
wait_cut 20240602_2215
ok "a renamed upload is published"
cmp -s "$data/history/000001-20240602_2215_PREP_PRES_NAL.tar.gz" "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" ||
	fail "history copy is not byte-identical"
ok "the package is kept byte for byte in the history (R5)"
[[ ! -e $spool/20240602_2215_PREP_PRES_NAL.tar.gz ]] || fail "spool file left behind"
ok "the spool copy is removed once archived"
get "http://127.0.0.1:$HTTP_PORT/main.3f2a9c1b8d7e6f50.js" >/dev/null
js_etag=$(header ETag)

# A second cut written in place (close-write).
cp "$PKGDIR/20240602_2245_PREP_PRES_NAL.zip" "$spool/"
wait_cut 20240602_2245
get "http://127.0.0.1:$HTTP_PORT/main.3f2a9c1b8d7e6f50.js" >/dev/null
expect_eq "$(header ETag)" "$js_etag" "an unchanged file keeps its ETag across cuts"
expect_match "$(header X-PREP-Cut)" '^seq=2; ' "the cut's sequence number"

# A hostile package: quarantined, the current cut stays.
cp "$PKGDIR/h-symlink.tar.gz" "$spool/"
expect_log 'ingest refuse file=.*h-symlink.tar.gz seq=3 step=unpack entry="evil" reason="entry is a symbolic link"' \
	"a hostile package is refused with its entry and reason"
get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
expect_match "$(header X-PREP-Cut)" 'label=20240602_2245' "the current cut is still served"
[[ -f $data/quarantine/000003-h-symlink.tar.gz ]] || fail "not in quarantine: $(ls -R "$data")"
ok "the refused package is kept in quarantine"

# An incremental package (only JSON, no index.html) is laid over the site.
python3 - "$spool" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1] + "/.inc", "w") as z:
    z.writestr("assets/JSON/PRESIDENTE/NACIONAL/Presidente_NACIONAL.json", '{"ultimoCorte":{"fecha":"02/06/2024","hora":"23:00"}}\n')
    z.writestr("assets/JSON/nuevo.json", '{"nuevo":true}\n')
PY
mv "$spool/.inc" "$spool/20240602_2300_PREP_PRES_NAL.zip"
wait_cut 20240602_2300
expect_match "$(header X-PREP-Cut)" 'time=2024-06-02T23:00-06:00$' "the cut time comes from the package's JSON (R8)"
code=$(get "http://127.0.0.1:$HTTP_PORT/assets/JSON/PRESIDENTE/NACIONAL/Presidente_NACIONAL.json")
grep -q '"hora":"23:00"' "$T/body" || fail "incremental JSON not served"
ok "the incremental package replaced its JSON"
code=$(get "http://127.0.0.1:$HTTP_PORT/assets/JSON/nuevo.json")
expect_eq "$code" 200 "the incremental package added a file"
code=$(get "http://127.0.0.1:$HTTP_PORT/index.html")
expect_eq "$code" 200 "the site under the incremental package is still served"
grep -q 'corte 22:45' "$T/body" || fail "index.html is not the 22:45 one"
ok "files the incremental package lacks come from the cut before"

# prepd history lists the journal.
out=$("$PREPD" history --data "$data")
[[ $out == *"published"*"full"*"20240602_2215"* ]] || fail "history: $out"
[[ $out == *"refused"* && $out == *"symbolic link"* ]] || fail "history lacks the refusal: $out"
[[ $out == *"incremental"*"20240602_2300"* ]] || fail "history lacks the incremental: $out"
ok "prepd history lists every package with its verdict"
stop_prepd

# Restart without the network or the spool: the chain full + incremental is
# rebuilt from the history before the listeners open.
LOG=$T/restart.log
"$PREPD" --http 127.0.0.1:0 --data "$data" >"$LOG" 2>&1 &
PID=$!
PIDS+=("$PID")
for ((i = 0; i < 100; i++)); do grep -q 'server ready' "$LOG" && break; sleep 0.1; done
HTTP_PORT=$(sed -n 's/.*proto=http addr=[^ ]*:\([0-9]*\) .*/\1/p' "$LOG" | head -n1)
get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
expect_match "$(header X-PREP-Cut)" '^seq=4; label=20240602_2300' "after a restart the last cut is served"
get "http://127.0.0.1:$HTTP_PORT/assets/JSON/nuevo.json" >/dev/null
grep -q nuevo "$T/body" || fail "replayed incremental file missing"
get "http://127.0.0.1:$HTTP_PORT/index.html" >/dev/null
grep -q 'corte 22:45' "$T/body" || fail "replayed base file missing"
ok "the replay lays the incremental package over its full one"
stop_prepd

# Verification with SHA-256 sidecars (R4).
vspool=$T/vspool
mkdir -p "$vspool"
start_prepd verified --spool "$vspool" --verify sha256 --config <(printf '[ingest]\nevidence_wait = 2\n')
pkg=20240602_2215_PREP_PRES_NAL.tar.gz
# A wrong hash: quarantined with the reason.
echo "0000000000000000000000000000000000000000000000000000000000000000  $pkg" >"$vspool/$pkg.sha256"
cp "$PKGDIR/$pkg" "$vspool/"
expect_log "ingest refuse file=.*$pkg seq=1 step=verify reason=\"SHA-256 mismatch" "a wrong SHA-256 is refused before unpacking"
ls "$T/verified/var/quarantine/" | grep -q "000001-$pkg" || fail "wrong-hash package not quarantined"
ok "the package with a wrong hash is in quarantine"
# The package first, its sidecar after: published when the sidecar lands.
pkg2=20240602_2230_PREP_PRES_NAL.zip
cp "$PKGDIR/$pkg2" "$vspool/"
sleep 0.5
(cd "$PKGDIR" && sha256sum "$pkg2") >"$vspool/.side" && mv "$vspool/.side" "$vspool/$pkg2.sha256"
wait_cut 20240602_2230
ok "a package waits for its sidecar, then is published"
# No sidecar at all: quarantined after evidence_wait.
cp "$PKGDIR/20240602_2245_PREP_PRES_NAL.zip" "$vspool/"
expect_log 'reason="no .sha256 beside the package' "a package without its sidecar is refused after the wait"
stop_prepd
done_testing
