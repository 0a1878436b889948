#!/usr/bin/env bash
# Gzip variants after the publish (issue 13) and a restart without
# refusals: a cut is served with its identity bodies as soon as they are
# hashed; the gzip variant follows from the variant thread, never before,
# and every response, before and after, is a whole, correct body for its
# Content-Encoding and ETag. Then a restart on the same data folder and
# port: from the moment the new process listens, a connect() loop is never
# refused, and the cut of the history is served again with its variant.
. "$(dirname "$0")/lib.sh"

spool=$T/spool
mkdir -p "$spool" "$T/stage"
# A compressible 24 MB CSV (level 6 takes a visible while) and a JSON.
python3 - "$T/stage/20240602_2230_PREP_PRES_NAL.tar.gz" "$T/csv" <<'PY'
import io, random, sys, tarfile
rng = random.Random(3)
rows = [f"{i},{rng.randint(1, 9999)},ENTIDAD {rng.randint(1, 32)},{rng.randint(0, 400)},"
        f"{rng.randint(0, 400)},Acta capturada\n".encode() for i in range(5000)]
csv = bytearray(b"ID,SECCION,ENTIDAD,PAN,MORENA,OBS\n")
while len(csv) < 24 << 20:
    csv += rows[rng.randrange(len(rows))]
open(sys.argv[2], "wb").write(csv)
files = {"index.html": b'<!doctype html><html><head><base href="/"></head><body>' + b"PREP " * 40 + b"</body></html>",
         "assets/json/nacional.json": b'{"corte":"20240602_2230","votos":[' + b"1234," * 200 + b"0]}",
         "datos/resultados.csv": bytes(csv)}
with tarfile.open(sys.argv[1], "w:gz", compresslevel=1) as t:
    for name, data in files.items():
        ti = tarfile.TarInfo(name)
        ti.size, ti.mtime = len(data), 1717387200
        t.addfile(ti, io.BytesIO(data))
PY
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_prepd v --spool "$spool" --http "127.0.0.1:$port"
[[ $HTTP_PORT == "$port" ]] || fail "prepd did not take port $port"

# Poll the CSV with Accept-Encoding: gzip from the rename on; every body
# must be the CSV (gunzipped when the response says gzip) under the ETag
# of its encoding. Prints "identity_first gzip_after checked".
probe=$T/probe.py
cat >"$probe" <<'PY'
import gzip, http.client, os, sys, time
port, csv, src, dst = int(sys.argv[1]), open(sys.argv[2], "rb").read(), sys.argv[3], sys.argv[4]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
os.rename(src, dst)
t0 = time.monotonic()
seen, checked, first = [], 0, None
while time.monotonic() - t0 < 60:
    c.request("GET", "/datos/resultados.csv", headers={"Accept-Encoding": "gzip"})
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        continue   # the placeholder's 404 before the cut
    enc = r.getheader("Content-Encoding") or "identity"
    etag = r.getheader("ETag") or ""
    if "label=20240602_2230" not in (r.getheader("X-PREP-Cut") or ""):
        sys.exit(f"a 200 for the CSV from another cut: {r.getheader('X-PREP-Cut')}")
    if "accept-encoding" not in (r.getheader("Vary") or "").lower():
        sys.exit(f"{enc} response without Vary: Accept-Encoding")
    if enc == "gzip":
        if not etag.endswith('-gz"') or gzip.decompress(body) != csv:
            sys.exit(f"a wrong gzip body or ETag ({etag}, {len(body)} bytes)")
    elif enc != "identity" or etag.endswith('-gz"') or body != csv:
        sys.exit(f"a wrong identity body or ETag ({enc}, {etag}, {len(body)} bytes)")
    checked += 1
    if first is None:
        first = enc
    if enc == "gzip":
        break
print(first, enc, checked)
PY
read -r first last checked < <(python3 "$probe" "$port" "$T/csv" "$T/stage/20240602_2230_PREP_PRES_NAL.tar.gz" \
	"$spool/20240602_2230_PREP_PRES_NAL.tar.gz") || fail "probe: a wrong response (see above)"
ok "every response after the publish was a whole CSV under its own ETag ($checked checked)"
expect_eq "$last" gzip "the gzip variant appears after the publish"
pub=$(grep 'ingest publish .*cut=20240602_2230 ' "$LOG")
[[ $pub =~ gz_pending=([0-9]+) ]] && ((BASH_REMATCH[1] >= 1)) ||
	fail "the publish did not leave the variants to the variant thread: $pub"
ok "the cut was published before its variants were made (gz_pending=${BASH_REMATCH[1]})"
expect_log "variant done cut=20240602_2230 .*made=[1-9]" "the variant thread logs what it made"
# The line order proves the same: publish first, variants after.
awk '/ingest publish .*cut=20240602_2230 /{p=NR} /variant done cut=20240602_2230 /{v=NR} END{exit !(p && v > p)}' "$LOG" ||
	fail "variant done logged before the publish"
ok "variant done is logged after the publish"
code=$(get "http://127.0.0.1:$port/datos/resultados.csv")
expect_eq "$code:$(header Content-Encoding):$(cmp -s "$T/body" "$T/csv" && echo same)" "200::same" \
	"a client without Accept-Encoding gets the identity CSV"

expect_log "image written seq=1 cut=20240602_2230 " "the cut's image is written after its variants"
[[ -f $T/v/var/images/cut-1.img ]] || fail "no DATA/images/cut-1.img"
ok "the image is DATA/images/cut-1.img"

# ---- restart on the same port and data folder ----
stop_prepd
hammer=$T/hammer.py
cat >"$hammer" <<'PY'
# Execs prepd, waits for its first accepted connection (it listens), then
# connect()s in a loop (200 at least, while the cut is rebuilt they wait
# in the listen backlog) until a response names the cut (at most 30 s).
# Prints "refused connected ms".
import http.client, socket, subprocess, sys, time
port, log = int(sys.argv[1]), sys.argv[2]
p = subprocess.Popen(sys.argv[3:], stdout=open(log, "w"), stderr=subprocess.STDOUT)
print(p.pid, file=sys.stderr)
t0 = time.monotonic()
while time.monotonic() - t0 < 10:   # until it listens
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        break
    except ConnectionRefusedError:
        time.sleep(0.001)
refused = connected = 0
ms = -1
last = 0.0
while time.monotonic() - t0 < 30:
    s = socket.socket()
    s.settimeout(10)
    try:
        s.connect(("127.0.0.1", port))
        connected += 1
    except ConnectionRefusedError:
        refused += 1
    finally:
        s.close()
    if connected >= 200 and time.monotonic() - last > 0.05:
        last = time.monotonic()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            c.request("GET", "/datos/resultados.csv")
            r = c.getresponse()
            r.read()
            if r.status == 200 and "label=20240602_2230" in (r.getheader("X-PREP-Cut") or ""):
                ms = (time.monotonic() - t0) * 1000
                break
        except OSError:
            pass
print(refused, connected, round(ms))
PY
LOG=$T/restart.log
read -r refused connected ms < <(python3 "$hammer" "$port" "$LOG" "$PREPD" --http "127.0.0.1:$port" \
	--data "$T/v/var" --spool "$spool" 2>"$T/hammer.pid")
PID=$(cat "$T/hammer.pid")
PIDS+=("$PID")
((ms >= 0)) || fail "the restarted prepd never served the cut of the history"
ok "the restart serves the cut of the history (${ms} ms from exec)"
((connected >= 200)) || fail "only $connected connections completed"
expect_eq "$refused" 0 "no connect() refused once the new process listens ($connected connected)"
expect_log "ingest replay seq=1 cut=20240602_2230 ms=[0-9]* from=image" "the cut is mapped from its image"
code=$(get "http://127.0.0.1:$port/datos/resultados.csv" -H 'Accept-Encoding: gzip')
expect_eq "$code:$(header Content-Encoding):$(header ETag | grep -c -- '-gz')" "200:gzip:1" \
	"after the restart the gzip variant is served at once (it is in the image)"
gunzip -c "$T/body" | cmp -s - "$T/csv" || fail "the gzip body from the image is not the CSV"
ok "the gzip body from the image is the CSV"
kill -TERM "$PID"   # not this shell's child: the hammer started it
for ((i = 0; i < 100; i++)); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$PID" 2>/dev/null && fail "the restarted prepd did not stop on SIGTERM"
expect_log "server stopped" "the restarted prepd stops cleanly"

# ---- a damaged image is refused, removed and written again ----
img=$T/v/var/images/cut-1.img
python3 - "$img" <<'PY'
import os, sys
f = sys.argv[1]
with open(f, "r+b") as h:          # one byte of a body, near the end
    h.seek(os.path.getsize(f) - 5000)
    b = h.read(1)
    h.seek(-1, 1)
    h.write(bytes([b[0] ^ 0x40]))
PY
start_prepd v --spool "$spool" --http "127.0.0.1:$port"
expect_log "ingest image-bad seq=1 file=$img error=format reason=\".*SHA-256.*action=\"removed; rebuilding" \
	"a damaged image is refused with the reason and the action"
expect_log "ingest replay seq=1 cut=20240602_2230 ms=[0-9]* from=package" "the cut is rebuilt from the package"
code=$(get "http://127.0.0.1:$port/datos/resultados.csv")
cmp -s "$T/body" "$T/csv" || fail "the rebuilt cut does not serve the CSV"
ok "the rebuilt cut serves the CSV ($code)"
expect_log "image written seq=1 cut=20240602_2230 " "the image is written again"
stop_prepd
truncate -s 1000 "$img"
start_prepd v --spool "$spool" --http "127.0.0.1:$port"
expect_log "ingest image-bad seq=1 .*reason=\"truncated" "a truncated image is refused"
expect_log "ingest replay seq=1 cut=20240602_2230 ms=[0-9]* from=package" "and the cut rebuilt from the package"
stop_prepd
done_testing
