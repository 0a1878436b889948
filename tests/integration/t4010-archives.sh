#!/usr/bin/env bash
# The hostile archive corpus (tests/data/mkhostile.py) through the spool
# against a served cut: each package is refused with its entry and reason,
# the cut before it is served byte for byte throughout, and the package is
# in quarantine byte for byte with its journal line. The zip a Windows tool
# writes in code page 850 is accepted and served under its UTF-8 names.
. "$(dirname "$0")/lib.sh"

spool=$T/spool
mkdir -p "$spool"
data=$T/arch/var
base=http://127.0.0.1

# wait_cut LABEL: until / names that cut (10 s at most).
wait_cut() {
	local i
	for ((i = 0; i < 100; i++)); do
		get "$base:$HTTP_PORT/" >/dev/null || true
		[[ $(header X-PREP-Cut) == *"label=$1"* ]] && return 0
		sleep 0.1
	done
	fail "cut $1 never published; serving '$(header X-PREP-Cut)'"
}

# drop FILE: renamed into the spool whole, as an SFTP upload is.
drop() {
	cp "$1" "$spool/.$(basename "$1").part"
	mv "$spool/.$(basename "$1").part" "$spool/$(basename "$1")"
}

# served_sums: the SHA-256 of a few files of the cut served, one line.
paths=(/ /index.html /main.3f2a9c1b8d7e6f50.js /assets/JSON/ESTADOS/Michoac%C3%A1n.json
	/estados/Nuevo%20Le%C3%B3n/index.html /datos/20240602_2215_PREP_PRES.zip /data.bin)
served_sums() {
	local p out=""
	for p in "${paths[@]}"; do
		[[ $(get "$base:$HTTP_PORT$p") == 200 ]] || fail "$p: not served"
		out+="$(sha256sum <"$T/body" | cut -c1-64) "
	done
	echo "$out"
}

start_prepd arch --spool "$spool"
drop "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz"
wait_cut 20240602_2215
want_sums=$(served_sums)
site=$PKGDIR/site
[[ $(get "$base:$HTTP_PORT/main.3f2a9c1b8d7e6f50.js"; cmp -s "$T/body" "$site/main.3f2a9c1b8d7e6f50.js" && echo same) == 200same ]] ||
	fail "the good cut is not served byte for byte"
ok "a good cut is served"

n=0
while IFS=$'\t' read -r name want; do
	[[ $want == ok || $name == c-* ]] && continue
	pkg=$HOSTILEDIR/$name
	drop "$pkg"
	line=""
	for ((i = 0; i < 100; i++)); do
		# file= is the claimed copy (DATA/incoming/prepd-...-spool-NAME)
		line=$(grep -F "ingest refuse file=" "$LOG" | grep -F -e "-spool-$name " -e "$spool/$name " || true)
		[[ -n $line ]] && break
		sleep 0.1
	done
	[[ -n $line ]] || fail "$name: never refused: $(tail -n 3 "$LOG")"
	[[ $line == *"reason=\""*"$want"* ]] || fail "$name: the refusal does not say '$want': $line"
	[[ $line == *'action="'* ]] || fail "$name: the refusal says nothing to do: $line"
	seq=$(sed -n 's/.* seq=\([0-9]*\) .*/\1/p' <<<"$line")
	kept=$(printf '%s/quarantine/%06d-%s' "$data" "$seq" "$name")
	cmp -s "$kept" "$pkg" || fail "$name: not in quarantine byte for byte ($kept)"
	sum=$(sha256sum <"$pkg" | cut -c1-64)
	grep -q "^seq=$seq .*sha256=$sum .*file=quarantine/$(printf %06d "$seq")-$name " "$data/journal.log" ||
		fail "$name: no journal line with its hash and quarantine file"
	[[ $(served_sums) == "$want_sums" ]] || fail "$name: the cut served changed"
	[[ $(header X-PREP-Cut) == *"label=20240602_2215"* ]] || fail "$name: another cut is served"
	ok "$name refused ($want), the cut served unchanged, kept in quarantine"
	n=$((n + 1))
done <"$HOSTILEDIR/../hostile.tsv"
[[ $n -ge 35 ]] || fail "only $n hostile packages tried"

# The refusals name the entry at fault.
expect_log 'file=[^ ]*[/-]z-name-mismatch.zip .*entry="notes.txt" reason="the central directory and the local header disagree on the name: the local header says '"'"'index.html'"'"'' \
	"a central/local name mismatch names both names"
expect_log 'file=[^ ]*[/-]z-dotdot-mismatch.zip .*entry="ok.json" reason="[^"]*'"'"'../x'"'"'' "the ../x local name is named"
expect_log 'file=[^ ]*[/-]z-nul-name.zip .*entry="index.html\\x00.txt"' "a NUL in a name is shown escaped"
expect_log 'file=[^ ]*[/-]z-overlap.zip .*entry="otro.html" reason="two central records ('"'"'index.html'"'"' and this one)' \
	"overlapping entries name both"
expect_log 'file=[^ ]*[/-]t-pax-size.tar.gz .*entry="index.html" reason="a pax extended header.s size is not a plain decimal' \
	"a bad pax size names the entry before it"
expect_log 'file=[^ ]*[/-]t-checksum.tar.gz .*entry="index.html" reason="a tar header.s checksum is wrong' \
	"a damaged tar header names the entry before it"
expect_log 'file=[^ ]*[/-]z-nfc.zip .*entry="estados/Nuevo Le[^"]*n.json" reason="two names are equal after Unicode NFC' \
	"an NFC collision names the entry"
expect_log 'file=[^ ]*[/-]z-empty.zip .*reason="the package is empty (0 bytes)"' "an empty package says it is empty"

# What a Windows tool writes in Mexico: accepted, served under UTF-8 names.
drop "$HOSTILEDIR/20240602_2300_WINDOWS_CP850.zip"
wait_cut 20240602_2300
ok "the code page 850 zip is published"
expect_eq "$(get "$base:$HTTP_PORT/peque%C3%B1a.html")" 200 "pequeña.html is served under its UTF-8 name"
expect_eq "$(cat "$T/body")" "<p>pequeña</p>" "with its bytes"
expect_eq "$(get "$base:$HTTP_PORT/A%C3%B1o/%C3%8Dndice.json")" 200 "a decoded folder name is served"
expect_eq "$(get "$base:$HTTP_PORT/Michoac%C3%A1n.json")" 200 "a UTF-8 name without the flag is served as written"
expect_match "$(get "$base:$HTTP_PORT/peque%A4a.html")" "^40[04]$" "the raw code page name is not served"
expect_log 'ingest legacy-names file=[^ ]*20240602_2300_WINDOWS_CP850.zip codepage=CP850 count=2 example="pequeña.html" was="peque\\xa4a.html"' \
	"the log says names were decoded, with the count and an example"
stop_prepd
done_testing
