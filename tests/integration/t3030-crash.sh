#!/usr/bin/env bash
# kill -9 at each stage of the pipeline (download, store, unpack, build,
# publish), then a restart: prepd serves a good cut, loses no package that
# reached it, and the history stays intact. Stages are reached with the
# PREPD_TEST_PAUSE_AT hook; the download is stalled by the test upstream.
. "$(dirname "$0")/lib.sh"

spool=$T/spool
mkdir -p "$spool"
data=$T/var

run() {   # run NAME [ARGS...]: prepd on the shared data folder
	local name=$1
	shift
	LOG=$T/$name.log
	"$PREPD" --http 127.0.0.1:0 --data "$data" "$@" >"$LOG" 2>&1 &
	PID=$!
	PIDS+=("$PID")
	for ((i = 0; i < 100; i++)); do grep -q 'server ready' "$LOG" && break; sleep 0.1; done
	grep -q 'server ready' "$LOG" || fail "$name: not ready"
	HTTP_PORT=$(sed -n 's/.*proto=http addr=[^ ]*:\([0-9]*\) .*/\1/p' "$LOG" | head -n1)
}
cut_now() {
	get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
	header X-PREP-Cut
}
history_intact() {   # every journal line's file exists, byte for byte
	"$PREPD" history --data "$data" >/dev/null || fail "journal unreadable after $1"
	python3 - "$data" <<'PY' || fail "history broken after $1"
import os, re, sys, hashlib
data = sys.argv[1]
for line in open(os.path.join(data, "journal.log")):
    f = re.search(r' file=(\S+)', line).group(1)
    sha = re.search(r' sha256=(\w+)', line).group(1)
    if f == "-":
        continue
    got = hashlib.sha256(open(os.path.join(data, f), "rb").read()).hexdigest()
    assert got == sha, (f, got, sha)
for d in ("history", "quarantine"):
    for n in os.listdir(os.path.join(data, d)):
        assert not n.startswith("."), "a temporary file in " + d + ": " + n
PY
	ok "history intact after $1"
}

# A first good cut.
run first --spool "$spool"
cp "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" "$spool/"
for ((i = 0; i < 50; i++)); do [[ $(cut_now) == *20240602_2215* ]] && break; sleep 0.1; done
[[ $(cut_now) == *20240602_2215* ]] || fail "first cut not published"
kill -TERM "$PID"; wait "$PID" || true

seq=1
# Cuts only move forward: the last two are earlier packages sent again
# under later cut times (other bytes than the cut served, so each is a new
# cut).
pkgs=(20240602_2230_PREP_PRES_NAL.zip 20240602_2245_PREP_PRES_NAL.zip 20240602_2215_PREP_PRES_NAL.tar.gz 20240602_2230_PREP_PRES_NAL.zip)
names=(20240602_2230_PREP_PRES_NAL.zip 20240602_2245_PREP_PRES_NAL.zip 20240602_2300_PREP_PRES_NAL.tar.gz 20240602_2315_PREP_PRES_NAL.zip)
labels=(20240602_2230 20240602_2245 20240602_2300 20240602_2315)
k=0
for stage in store unpack build publish; do
	pkg=${pkgs[$k]} name=${names[$k]} label=${labels[$k]}
	k=$((k + 1))
	PREPD_TEST_PAUSE_AT=$stage run "pause-$stage" --spool "$spool"
	cp "$PKGDIR/$pkg" "$spool/.x" && mv "$spool/.x" "$spool/$name"
	expect_log "test-pause stage=$stage" "reached the $stage stage"
	kill -KILL "$PID"
	wait "$PID" 2>/dev/null || true
	run "after-$stage" --spool "$spool"
	for ((i = 0; i < 50; i++)); do [[ $(cut_now) == *"label=$label"* ]] && break; sleep 0.1; done
	seq=$((seq + 1))
	expect_match "$(cut_now)" "^seq=$seq; label=$label" "killed at $stage: after the restart the package is published, not lost"
	history_intact "a kill at $stage"
	kill -TERM "$PID"; wait "$PID" || true
done

# Killed mid-download: the partial file is cleared and the package fetched
# again after the restart (its validators were not saved).
bash "$SRCDIR/tests/integration/mkca.sh" "$T/ca" >/dev/null
mkdir -p "$T/root"
cp "$PKGDIR/20240602_2245_PREP_PRES_NAL.zip" "$T/root/P.zip"
python3 "$SRCDIR/tests/integration/upstream.py" --root "$T/root" --cert "$T/ca/server.pem" \
	--key "$T/ca/server-key.pem" --ready "$T/up.port" --lifetime 120 2>"$T/up.uplog" &
PIDS+=("$!")
for ((i = 0; i < 50; i++)); do [[ -s $T/up.port ]] && break; sleep 0.1; done
UP=$(cat "$T/up.port")
curl -sS --cacert "$T/ca/ca.pem" -X POST --data '{"fault": "slow", "count": 1, "bytes_per_second": 4000}' \
	"https://127.0.0.1:$UP/_control" >/dev/null
run download --upstream "https://127.0.0.1:$UP/P.zip" --ca "$T/ca/ca.pem" --poll 1
sleep 2   # mid-transfer: ~8 KB of a 40 KB package
ls -a "$data/tmp" | grep -q '^\.dl-' || fail "no download in progress to kill"
kill -KILL "$PID"
wait "$PID" 2>/dev/null || true
ok "killed mid-download"
run after-download --upstream "https://127.0.0.1:$UP/P.zip" --ca "$T/ca/ca.pem" --poll 1
for ((i = 0; i < 100; i++)); do [[ $(cut_now) == *"label=P"* ]] && break; sleep 0.1; done
expect_match "$(cut_now)" "label=P$" "after the restart the package is downloaded again and published"
ls -a "$data/tmp" | grep -q '^\.dl-' && fail "the partial download was left in tmp"
ok "the partial download is gone"
history_intact "a kill mid-download"
kill -TERM "$PID"; wait "$PID" || true
done_testing
