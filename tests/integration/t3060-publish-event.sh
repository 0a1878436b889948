#!/usr/bin/env bash
# The publish event (ingest/event.h): every publication (a full package, an
# incremental one, a rollback) is announced once, after its journal line is
# durable, with the paths it added, changed and removed against the cut
# served before. The built-in subscriber logs it from its own thread. A
# refused or unchanged package announces nothing, and neither does the
# start-up replay of the cut already published.
. "$(dirname "$0")/lib.sh"

spool=$T/spool
mkdir -p "$spool"
data=$T/ev/var

# The expected counts, worked out from the packages' own contents: the
# placeholder site, then 22:15 (full), 22:45 (full), an incremental
# package, then a rollback to 22:15. Prints one "added=A changed=C
# removed=R" line per publication.
python3 - "$PKGDIR" "$SRCDIR/www-default" "$T/inc.zip" >"$T/want" <<'PY'
import hashlib, os, sys, tarfile, zipfile
pkgdir, www, inc = sys.argv[1:]
NAT = "assets/JSON/PRESIDENTE/NACIONAL/Presidente_NACIONAL.json"
with zipfile.ZipFile(inc, "w") as z:
    z.writestr(NAT, '{"ultimoCorte":{"fecha":"02/06/2024","hora":"23:00"}}\n')
    z.writestr("assets/JSON/nuevo.json", '{"nuevo":true}\n')
def h(b): return hashlib.sha256(b).hexdigest()
def files(p):
    if p.endswith(".zip"):
        z = zipfile.ZipFile(p)
        return {n: h(z.read(n)) for n in z.namelist() if not n.endswith("/")}
    t = tarfile.open(p)
    return {os.path.normpath(m.name): h(t.extractfile(m).read()) for m in t.getmembers() if m.isfile()}
placeholder = {n: h(open(os.path.join(www, n), "rb").read())
               for n in ("index.html", "404.html", "estilo.css", "favicon.svg")}
p2215 = files(os.path.join(pkgdir, "20240602_2215_PREP_PRES_NAL.tar.gz"))
p2245 = files(os.path.join(pkgdir, "20240602_2245_PREP_PRES_NAL.zip"))
overlay = dict(p2245, **files(inc))
states = [placeholder, p2215, p2245, overlay, p2215]
for old, new in zip(states, states[1:]):
    added = sum(1 for k in new if k not in old)
    changed = sum(1 for k in new if k in old and old[k] != new[k])
    removed = sum(1 for k in old if k not in new)
    print(f"added={added} changed={changed} removed={removed}")
PY
mapfile -t want <"$T/want"
[[ ${#want[@]} -eq 4 ]] || fail "expected counts: ${want[*]}"

start_prepd ev --spool "$spool" --admin 127.0.0.1:0
APORT=$(sed -n 's/.*proto=admin addr=[^ ]*:\([0-9]*\).*/\1/p' "$LOG" | head -n1)

# expect_event SEQ KIND SOURCE COUNTS: the event line appears, and by then
# the journal already holds the publication's line.
expect_event() {
	local seq=$1 kind=$2 source=$3 counts=$4 i line=""
	for ((i = 0; i < 100; i++)); do
		line=$(grep "event publish seq=$seq " "$LOG" || true)
		[[ -n $line ]] && break
		sleep 0.1
	done
	[[ -n $line ]] || fail "no event for seq $seq"
	grep -q "^seq=$seq .*verdict=published" "$data/journal.log" ||
		fail "event seq=$seq logged before its journal line: $(cat "$data/journal.log")"
	expect_match "$line" "event publish seq=$seq cut=[^ ]+ kind=$kind source=$source $counts publish_ms=[0-9.]+$" \
		"seq $seq: one $kind event, $counts, after its journal line"
}

put() {   # put FILE [NAME]: into the spool as a complete file
	cp "$1" "$spool/.x" && mv "$spool/.x" "$spool/${2:-$(basename "$1")}"
}

put "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz"
expect_event 1 full "spool:20240602_2215_PREP_PRES_NAL.tar.gz" "${want[0]}"
put "$PKGDIR/20240602_2245_PREP_PRES_NAL.zip"
expect_event 2 full "spool:20240602_2245_PREP_PRES_NAL.zip" "${want[1]}"
put "$T/inc.zip" 20240602_2300_PREP_PRES_NAL.zip
expect_event 3 incremental "spool:20240602_2300_PREP_PRES_NAL.zip" "${want[2]}"

# A refused and an unchanged package are journaled but announce nothing.
put "$PKGDIR/h-symlink.tar.gz"
expect_log 'ingest refuse file=.*h-symlink.tar.gz seq=4 step=unpack' "a hostile package is refused"
put "$T/inc.zip" again.zip
expect_log 'ingest unchanged seq=5 ' "the same bytes again are unchanged"

out=$("$PREPD" rollback 1 --admin "127.0.0.1:$APORT" --data "$data")
[[ $out == *"will republish the cut of package 1"* ]] || fail "rollback: $out"
expect_event 6 rollback "rollback:1" "${want[3]}"
stop_prepd
expect_eq "$(grep -c 'event publish' "$LOG")" 4 "one event per publication, none for the refusal or the unchanged package"

# A restart replays the last cut from the history: not a new publication.
start_prepd ev --data "$data"
get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
expect_match "$(header X-PREP-Cut)" '^seq=6; label=20240602_2215' "the restart serves the rolled-back cut"
grep -q 'ingest replay seq=6' "$LOG" || fail "no replay line"
stop_prepd
expect_eq "$(grep -c 'event publish' "$LOG" || true)" 0 "the start-up replay emits no event"
done_testing
