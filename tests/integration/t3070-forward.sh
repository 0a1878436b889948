#!/usr/bin/env bash
# Only a newer, whole site replaces the site served: an incremental package
# before any full one, a full one without a real <base href> (R11) or
# without a required path, an older cut, an overlay that puts a file over a
# folder or a folder over a file, and an overlay that takes the site past
# the caps are each refused, kept in quarantine byte for byte, journaled
# and logged with what to do, while the cut served goes on being served
# byte for byte. A package left in the spool over a restart that is older
# than the last published cut is refused too.
. "$(dirname "$0")/lib.sh"

spool=$T/spool
pk=$T/pk
mkdir -p "$spool" "$pk"
data=$T/fwd/var

# mk NAME PATH=CONTENT...: a zip holding those files (CONTENT @N: N bytes).
mk() {
	python3 - "$pk/$1" "${@:2}" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    for arg in sys.argv[2:]:
        path, _, content = arg.partition("=")
        if content.startswith("@"):
            content = "x" * int(content[1:])
        z.writestr(zipfile.ZipInfo(path, (2024, 6, 2, 22, 0, 0)), content)
PY
}

BASE='<!doctype html><html><head><meta charset="utf-8"><base href="/"></head><body><app-root></app-root></body></html>'
site() {   # site NAME VERSION: a whole site
	mk "$1" "index.html=$BASE" "json/nacional.json={\"v\":\"$2\"}" \
		"json/estados/01.json={\"e\":1}" "main.js=console.log(1)"
}

# drop NAME: into the spool, renamed in whole.
drop() {
	cp "$pk/$1" "$spool/.$1.part" && mv "$spool/.$1.part" "$spool/$1"
}

served() {
	get "http://127.0.0.1:$HTTP_PORT/json/nacional.json" >/dev/null || true
	header X-PREP-Cut
}

wait_cut() {
	local i
	for ((i = 0; i < 100; i++)); do
		[[ $(served) == *"label=$1"* ]] && return 0
		sleep 0.1
	done
	fail "cut $1 never published; serving '$(served)'"
}

# refused NAME REASON CUT WHAT: the package was refused at the check step
# with REASON (a regex) and an action, kept in quarantine byte for byte and
# journaled; CUT (a label, or "placeholder") is still served.
refused() {
	local name=$1 reason=$2 cut=$3 what=$4
	expect_log "ingest refuse file=[^ ]*[/-]$name seq=[0-9]* step=check .*reason=\"[^\"]*$reason[^\"]*\" .*action=\"the package was not published" "$what: refused, with what to do"
	local q
	q=$(ls "$data/quarantine/" | grep -- "-$name\$" | head -n1)
	[[ -n $q ]] || fail "$what: not in quarantine"
	cmp -s "$data/quarantine/$q" "$pk/$name" || fail "$what: the quarantine copy differs"
	ok "$what: kept in quarantine byte for byte"
	"$PREPD" history --data "$data" | grep -- "$name" | grep -q "refused" ||
		fail "$what: no journal line says refused: $("$PREPD" history --data "$data" | tail -n 3)"
	ok "$what: journaled"
	expect_match "$(served)" "label=$cut(;|\$)" "$what: $cut is still served"
	if [[ $cut != placeholder ]]; then
		cmp -s "$T/body" "$T/served.json" || fail "$what: the served JSON changed"
		ok "$what: the site served is unchanged, byte for byte"
	fi
}

cat >"$T/fwd.ini" <<'INI'
[ingest]
require_base = yes
required_paths = index.html json/nacional.json
[limits]
max_entries = 9
max_total_bytes = 2K
INI
# The server's own zone does not matter: prepd works in time_zone.
TZ=Asia/Tokyo start_prepd fwd --spool "$spool" --config "$T/fwd.ini"
expect_match "$(served)" '^seq=0; label=placeholder' "the placeholder first"

mk 20240602_2100_INC.zip 'json/nacional.json={"v":"inc"}'
drop 20240602_2100_INC.zip
refused 20240602_2100_INC.zip "no full cut is served to lay it over" placeholder \
	"an incremental package before any full one"
get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
expect_eq "$(header X-PREP-Cut)" "seq=0; label=placeholder" "/ is still the placeholder, not a 404"

mk 20240602_2101_GARBAGE.zip "index.html=$(printf 'PK\001\002 garbage <html')" 'json/nacional.json={}'
drop 20240602_2101_GARBAGE.zip
refused 20240602_2101_GARBAGE.zip "no <base href> in its head" placeholder "a garbage index.html"

mk 20240602_2102_EMPTY.zip "index.html=" 'json/nacional.json={}'
drop 20240602_2102_EMPTY.zip
refused 20240602_2102_EMPTY.zip "no <base href> in its head" placeholder "an empty index.html"

mk 20240602_2103_SCRIPT.zip 'index.html=<html><head><script>document.write("<base href=/>")</script></head></html>' \
	'json/nacional.json={}'
drop 20240602_2103_SCRIPT.zip
refused 20240602_2103_SCRIPT.zip "no <base href> in its head" placeholder "a <base inside a script"

mk 20240602_2104_NOJSON.zip "index.html=$BASE" 'main.js=1'
drop 20240602_2104_NOJSON.zip
expect_log 'entry="json/nacional.json" reason="missing: required_paths' "a missing required path names it"
refused 20240602_2104_NOJSON.zip "required_paths" placeholder "a full cut without a required path"

site 20240602_2300_PRES.zip 2300
drop 20240602_2300_PRES.zip
wait_cut 20240602_2300
expect_match "$(served)" '^seq=[0-9]+; label=20240602_2300; time=2024-06-02T23:00-06:00$' \
	"a whole site is published, its time with the zone's offset"
cp "$T/body" "$T/served.json"
expect_eq "$(cat "$T/served.json")" '{"v":"2300"}' "its JSON is served"
# The zip's file time, 2024-06-02 22:00 without a zone (APPNOTE 4.4.6), is
# Mexico City's local time: 04:00 UTC the next day.
expect_eq "$(header Last-Modified)" "Mon, 03 Jun 2024 04:00:00 GMT" \
	"Last-Modified: a zip time is the institute's local time, sent in GMT"

site 20240602_2015_PRES.zip 2015
drop 20240602_2015_PRES.zip
refused 20240602_2015_PRES.zip "older than the cut served (20240602_2300" 20240602_2300 \
	"an older cut"

mk 20240602_2310_FILE.zip 'json/estados=x'
drop 20240602_2310_FILE.zip
refused 20240602_2310_FILE.zip "puts a file where the site has a folder" 20240602_2300 \
	"a file over a folder"
mk 20240602_2311_DIR.zip 'main.js/x.js=x'
drop 20240602_2311_DIR.zip
refused 20240602_2311_DIR.zip "puts a folder where the site has a file" 20240602_2300 \
	"a folder over a file"

# Caps on the site after the overlay: 4 files and 2 folders, max_entries 9.
mk 20240602_2320_INC.zip 'extra1/a.json={}'
drop 20240602_2320_INC.zip
wait_cut 20240602_2320
ok "an incremental within the caps (8 entries)"
cp "$T/body" "$T/served.json"
mk 20240602_2321_INC.zip 'extra2/a.json={}'
drop 20240602_2321_INC.zip
refused 20240602_2321_INC.zip "would have 10 files and folders, more than max_entries (9)" \
	20240602_2320 "an incremental that takes the site past max_entries"
mk 20240602_2322_INC.zip 'big.bin=@1500'
drop 20240602_2322_INC.zip
wait_cut 20240602_2322
ok "an incremental within the byte cap"
cp "$T/body" "$T/served.json"
mk 20240602_2323_INC.zip 'big.bin=@1990'
drop 20240602_2323_INC.zip
refused 20240602_2323_INC.zip "bytes, more than max_total_bytes (2048)" 20240602_2322 \
	"a 1990-byte file (under every package cap) that takes the site past max_total_bytes"

# A package left in the spool over a restart, older than the last cut.
stop_prepd
site 20240602_2200_LEFT.zip 2200
cp "$pk/20240602_2200_LEFT.zip" "$spool/"
start_prepd fwd --spool "$spool" --config "$T/fwd.ini"
expect_log "ingest replay seq=[0-9]* cut=20240602_2322" "the restart replays the last cut"
refused 20240602_2200_LEFT.zip "older than the cut served" 20240602_2322 \
	"an older package left in the spool over a restart"
[[ -e $spool/20240602_2200_LEFT.zip ]] && fail "the refused package is still in the spool"
ok "the refused package left the spool"
stop_prepd
done_testing
