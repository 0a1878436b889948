#!/usr/bin/env bash
# Nothing lost, nothing mixed up: every arrival (spool or upload) is claimed
# at once under a name of its own, so a re-drop of a fixed name is a new
# package; each upload is checked against its own evidence; what was
# claimed survives kill -9; no waiting list forgets a package; a refused
# package is not taken again at a restart, and its late sidecar is kept
# beside it; links in the spool are never followed; names with control
# characters are refused and never reach `prepd history` raw; prepd
# deletes only files it named.
. "$(dirname "$0")/lib.sh"

P1=$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz
P2=$PKGDIR/20240602_2245_PREP_PRES_NAL.zip
P3=$PKGDIR/20240602_2230_PREP_PRES_NAL.zip

# journal_lines DATA: the journal's line count.
journal_lines() { if [[ -f $1/journal.log ]]; then wc -l <"$1/journal.log"; else echo 0; fi; }

# wait_lines DATA N WHAT: until the journal has N lines (15 s at most).
wait_lines() {
	local i
	for ((i = 0; i < 150; i++)); do
		[[ $(journal_lines "$1") -ge $2 ]] && return 0
		sleep 0.1
	done
	fail "$3: the journal has $(journal_lines "$1") lines, want $2"
}

# kept_with_hash DATA FILE: prints the kept path whose journal line has
# FILE's SHA-256 and whose bytes are FILE's (one per matching line).
kept_with_hash() {
	local sha
	sha=$(sha256sum "$2" | cut -d' ' -f1)
	grep "sha256=$sha " "$1/journal.log" | sed -n 's/.* file=\([^ ]*\) .*/\1/p' |
		while read -r f; do cmp -s "$1/$f" "$2" && echo "$f"; done
}

# ---- the spool ----------------------------------------------------------
spool=$T/spool
mkdir -p "$spool"
data=$T/claim/var
mkdir -p "$data/tmp"
# Files in DATA/tmp that prepd did not name are never deleted; its own
# leftovers are.
echo keep >"$data/tmp/important.txt"
echo partial >"$data/tmp/.upload-AbC123"
start_prepd claim --spool "$spool" --admin :0
[[ -f $data/tmp/important.txt ]] || fail "DATA/tmp/important.txt was deleted"
[[ ! -e $data/tmp/.upload-AbC123 ]] || fail "a leftover .upload- file was not cleaned"
expect_log 'ingest tmp-unknown files=1' "prepd deletes only the files it named in DATA/tmp, and says what it left"

# The same fixed name renamed into the spool twice, 250 ms apart.
cp "$P1" "$spool/.a" && cp "$P2" "$spool/.b"
mv "$spool/.a" "$spool/PREP_AYUN_JAL.zip"
sleep 0.25
mv "$spool/.b" "$spool/PREP_AYUN_JAL.zip"
wait_lines "$data" 2 "two drops of one name"
[[ -n $(kept_with_hash "$data" "$P1") && -n $(kept_with_hash "$data" "$P2") ]] ||
	fail "both drops must be kept with their own hash: $(cat "$data/journal.log")"
ok "the same name dropped twice 250 ms apart is two packages, each kept with its own hash"
expect_eq "$(grep -c 'source=spool:PREP_AYUN_JAL.zip' "$data/journal.log")" 2 "both are journaled as spool:PREP_AYUN_JAL.zip"
[[ -z $(ls "$data/incoming") ]] || fail "DATA/incoming not emptied: $(ls "$data/incoming")"
ok "DATA/incoming is empty once both are kept"

# A symbolic link to a secret renamed into the spool: refused, never read.
echo "TOP SECRET 0600" >"$T/secret"
chmod 600 "$T/secret"
ln -s "$T/secret" "$spool/.lnk"
mv "$spool/.lnk" "$spool/20240602_2300_PREP_PRES_NAL.zip"
expect_log 'ingest spool-refused file=20240602_2300_PREP_PRES_NAL.zip reason="not a regular file' \
	"a symbolic link in the spool is refused"
if grep -rqs "TOP SECRET" "$data/history" "$data/quarantine" "$data/incoming"; then
	fail "the link's target was copied into the data folder"
fi
ok "its target is never read into the data folder"

# A name holding a newline: refused, kept in quarantine, journaled escaped.
lines=$(journal_lines "$data")
cp "$P3" "$spool/.nl"
mv "$spool/.nl" "$spool/$(printf 'evil\nseq=99 verdict=published.zip')"
wait_lines "$data" $((lines + 1)) "the newline name"
expect_log 'reason="the file name holds a control character' "a name with a control character is refused"
[[ -n $(kept_with_hash "$data" "$P3") ]] || fail "the refused package is not in quarantine byte for byte"
grep -q 'file=quarantine/' "$data/journal.log" || fail "not in quarantine"
ok "the package with the bad name is kept in quarantine"
grep -q 'source=spool:evil_seq_99_verdict_published.zip ' "$data/journal.log" ||
	fail "the journal's source is not the cleaned name: $(tail -n1 "$data/journal.log")"
ok "the journal names it without the control character (and without '=' or spaces)"
grep -q 'ingest refuse file=[^ ]*-badname-evil_seq_99_verdict_published.zip seq=' "$LOG" ||
	fail "the refusal's log line does not name it safely"
ok "the log line cannot be forged by the name"
hist=$("$PREPD" history --data "$data")
expect_eq "$(printf '%s\n' "$hist" | wc -l)" "$(($(journal_lines "$data") + 1))" "prepd history prints one line a package (no forged line)"
# A journal written by hand (or by an older prepd) with an escaped
# control character: history prints it escaped, never raw.
cp "$data/journal.log" "$T/journal.saved"
printf 'seq=900 received=2026-01-01T00:00:00Z source="spool:a\\x0aseq=901 b\\x1b[2J" size=1 sha256=- verdict=quarantined kind=- cut=- cut_time=- published=- file=- reason="x\\x07y"\n' >>"$data/journal.log"
hist=$("$PREPD" history --data "$data")
cp "$T/journal.saved" "$data/journal.log"
grep -q 'spool:a\\x0aseq=901 b\\x1b\[2J' <<<"$hist" || fail "history does not show the escaped name: $hist"
if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' <<<"$hist"; then fail "history prints a raw control character"; fi
expect_eq "$(printf '%s\n' "$hist" | wc -l)" "$(($(journal_lines "$data") + 2))" "an escaped newline stays in its line"
ok "prepd history never prints a raw control character"

# Two admin uploads of the same name: each kept with its own hash and size.
admin=http://127.0.0.1:$(sed -n 's/.*proto=admin addr=[^ ]*:\([0-9]*\).*/\1/p' "$LOG" | head -n1)
auth=(-H "Authorization: Bearer $(cat "$data/admin.token")")
lines=$(journal_lines "$data")
curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" -T "$P1" "$admin/upload/SAME.zip" >"$T/c1" &
cpid=$!
c2=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" -T "$P3" "$admin/upload/SAME.zip")
wait "$cpid"
[[ $(cat "$T/c1") == 202 && $c2 == 202 ]] || fail "uploads answered $(cat "$T/c1") and $c2"
wait_lines "$data" $((lines + 2)) "two uploads of one name"
for f in "$P1" "$P3"; do
	k=$(kept_with_hash "$data" "$f" | sed -n 1p)
	[[ -n $k ]] || fail "upload of $(basename "$f") not kept with its own hash"
	size=$(grep " file=$k " "$data/journal.log" | sed -n 's/.* size=\([0-9]*\) .*/\1/p')
	[[ $size == $(stat -c %s "$f") ]] || fail "journal size $size for $k, file has $(stat -c %s "$f")"
done
ok "two uploads of one name: the journal's hash and size describe the bytes kept, for each"
stop_prepd

# A refused package is not quarantined again at the next start.
lines=$(journal_lines "$data")
start_prepd claim --spool "$spool" --admin :0
sleep 0.5
expect_eq "$(journal_lines "$data")" "$lines" "a restart takes nothing again from the spool"
stop_prepd

# ---- claimed, then killed: taken at the next start, in arrival order ----
spool2=$T/spool2
mkdir -p "$spool2"
data2=$T/crash/var
PREPD_TEST_PAUSE_AT=store start_prepd crash --spool "$spool2"
cp "$P1" "$spool2/.x" && mv "$spool2/.x" "$spool2/PREP_AYUN_JAL.zip"
sleep 0.3
cp "$P2" "$spool2/.x" && mv "$spool2/.x" "$spool2/PREP_AYUN_JAL.zip"
for ((i = 0; i < 50; i++)); do
	[[ $(ls "$data2/incoming" 2>/dev/null | wc -l) -ge 2 ]] && break
	sleep 0.1
done
[[ -z $(ls "$spool2") ]] || fail "the spool still holds $(ls "$spool2") while the first is being kept"
ok "both drops are claimed out of the spool while the pipeline is busy"
kill -KILL "$PID"
wait "$PID" 2>/dev/null || true
start_prepd crash --spool "$spool2"
wait_lines "$data2" 2 "claimed packages after kill -9"
first=$(sed -n '1s/.* sha256=\([0-9a-f]*\) .*/\1/p' "$data2/journal.log")
expect_eq "$first" "$(sha256sum "$P1" | cut -d' ' -f1)" "claimed packages survive kill -9 and are taken in arrival order"
stop_prepd

# ---- evidence: uploads pair with the next package of that name ----------
data3=$T/verified/var
spool3=$T/spool3
mkdir -p "$spool3"
start_prepd verified --verify sha256 --admin :0 --spool "$spool3" \
	--config <(printf '[ingest]\nevidence_wait = 6\n')
admin=http://127.0.0.1:$(sed -n 's/.*proto=admin addr=[^ ]*:\([0-9]*\).*/\1/p' "$LOG" | head -n1)
auth=(-H "Authorization: Bearer $(cat "$data3/admin.token")")
up() { curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" -T "$1" "$admin/upload/$2"; }
side() { printf '%s  %s\n' "$(sha256sum "$1" | cut -d' ' -f1)" "$2" >"$3"; }
side "$P2" PKG.zip "$T/good.sha256"
side "$P3" PKG.zip "$T/other.sha256"
expect_eq "$(up "$T/good.sha256" PKG.zip.sha256)" 201 "evidence upload stored"
expect_eq "$(up "$P2" PKG.zip)" 202 "its package queued"
expect_eq "$(up "$T/other.sha256" PKG.zip.sha256)" 201 "second evidence upload"
expect_eq "$(up "$P2" PKG.zip)" 202 "a package that does not match it"
wait_lines "$data3" 2 "two verified uploads"
grep -q 'verdict=published' <<<"$(sed -n 1p "$data3/journal.log")" || fail "first upload: $(sed -n 1p "$data3/journal.log")"
grep -q 'verdict=quarantined.*SHA-256 mismatch' <<<"$(sed -n 2p "$data3/journal.log")" ||
	fail "the second package was not checked against its own evidence: $(sed -n 2p "$data3/journal.log")"
ok "each upload is checked against the evidence uploaded before it"

# 70 spool packages waiting for their sidecars: every one is taken.
lines=$(journal_lines "$data3")
for i in $(seq -w 1 70); do
	cp "$P1" "$spool3/.p" && mv "$spool3/.p" "$spool3/W$i.tar.gz"
done
sleep 0.3
for i in $(seq -w 1 70); do side "$P1" "W$i.tar.gz" "$spool3/W$i.tar.gz.sha256"; done
wait_lines "$data3" $((lines + 70)) "70 packages waiting for sidecars"
expect_eq "$(grep -c 'source=spool:W' "$data3/journal.log")" 70 "70 packages waiting for sidecars are all processed"
expect_eq "$(grep 'source=spool:W' "$data3/journal.log" | grep -vc 'verdict=\(published\|unchanged\)')" 0 "and all verified"

# A sidecar that comes after its package was refused for want of it.
lines=$(journal_lines "$data3")
cp "$P3" "$spool3/.p" && mv "$spool3/.p" "$spool3/LATE.zip"
wait_lines "$data3" $((lines + 1)) "the package without its sidecar"
grep 'source=spool:LATE.zip' "$data3/journal.log" | grep 'verdict=quarantined' >/dev/null || fail "LATE.zip not quarantined"
side "$P3" LATE.zip "$spool3/.s" && mv "$spool3/.s" "$spool3/LATE.zip.sha256"
expect_log 'ingest evidence-late file=LATE.zip.sha256 seq=' "a late sidecar is logged"
seq=$(grep 'source=spool:LATE.zip' "$data3/journal.log" | sed -n 's/^seq=\([0-9]*\) .*/\1/p')
ls "$data3"/quarantine/*-LATE.zip.sha256 >/dev/null 2>&1 || fail "late sidecar not in quarantine: $(ls "$data3/quarantine")"
[[ -f $(printf '%s/quarantine/%06d-LATE.zip.sha256' "$data3" "$seq") ]] || fail "late sidecar not beside seq $seq"
ok "and kept beside its package in quarantine"
stop_prepd

# prepd stopped between keeping a package and keeping its sidecar (two
# renames): at the next start the sidecar left in DATA/incoming is put beside
# its package, and does not fail the next package of that name.
kept=$(ls "$data3"/history/*-PKG.zip.sha256 | head -n1)
[[ -f $kept ]] || fail "no kept PKG.zip.sha256 in history: $(ls "$data3/history")"
mv "$kept" "$data3/incoming/prepd-00000000000000000001-spool-PKG.zip.sha256"
start_prepd verified --verify sha256 --admin :0 --spool "$spool3" \
	--config <(printf '[ingest]\nevidence_wait = 6\n')
expect_log 'ingest evidence-recovered file=PKG.zip.sha256 seq=' "a sidecar left behind by a stop between the two renames is logged"
[[ -f $kept ]] || fail "the sidecar is not back beside its package: $(ls "$data3/history")"
ok "and is back beside its package in history"
lines=$(journal_lines "$data3")
side "$P1" PKG.zip "$spool3/.s" && mv "$spool3/.s" "$spool3/PKG.zip.sha256"
cp "$P1" "$spool3/.p" && mv "$spool3/.p" "$spool3/PKG.zip"
wait_lines "$data3" $((lines + 1)) "the next PKG.zip"
tail -n1 "$data3/journal.log" | grep -q 'source=spool:PKG.zip .*verdict=\(published\|unchanged\)' ||
	fail "the next PKG.zip was checked against the old sidecar: $(tail -n1 "$data3/journal.log")"
ok "the next package of that name is checked against its own sidecar"
stop_prepd
done_testing
