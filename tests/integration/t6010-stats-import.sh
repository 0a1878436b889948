#!/usr/bin/env bash
# prepd stats import of CDN logs written from the vendors' documented
# formats: a CloudFront standard log (W3C, tab-separated, #Fields headers,
# UTC, URL-encoded fields, gzip as delivered, a second #Fields header with
# the columns in another order) and Cloudflare Logpush http_requests JSON
# lines (EdgeStartTimestamp as RFC 3339, Unix nanoseconds and Unix
# seconds). Both equal the known answers exactly; importing again changes
# nothing; the import runs beside a running prepd that writes the same
# database; a terminal gets a progress bar.
. "$(dirname "$0")/lib.sh"

gen=$SRCDIR/tests/integration/statsgen.py
zone=America/Mexico_City
python3 "$gen" cdn "$T/E2ABC.2022-10-30-04.a1b2c3.gz" "$T/cf-http_requests.log" "$T/cdn.json" \
	--zone $zone --start 2022-10-29T23:00:00-05:00 --minutes 240 --seed 21

# A running prepd on the same data folder, counting its own requests
# while the imports write.
start_prepd srv --package "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz"
data=$T/srv/var
( for ((i = 0; i < 200; i++)); do curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/"; done ) &
load=$!

"$PREPD" stats import --data "$data" --time-zone $zone "$T/E2ABC.2022-10-30-04.a1b2c3.gz" \
	"$T/cf-http_requests.log" >"$T/out" 2>"$T/err" || fail "the import failed: $(cat "$T/err")"
expect_match "$(sed -n 1p "$T/out")" 'imported kind=cloudfront source=cloudfront lines=[0-9]+ requests=[0-9]+ bad=1 ' \
	"a gzip CloudFront log is recognised by its headers"
expect_match "$(sed -n 2p "$T/out")" 'imported kind=cloudflare source=cloudflare lines=[0-9]+ requests=[0-9]+ bad=2 ' \
	"a Cloudflare Logpush file is recognised by its JSON lines"
grep -q 'a1b2c3.gz:[0-9]*: fewer fields than the #Fields header names' "$T/err" ||
	fail "the CloudFront bad line is not named: $(cat "$T/err")"
grep -q 'cf-http_requests.log:[0-9]*: no EdgeStartTimestamp' "$T/err" &&
	grep -q 'cf-http_requests.log:[0-9]*: not a JSON object' "$T/err" ||
	fail "the Cloudflare bad lines are not named: $(cat "$T/err")"
ok "bad lines are named with their line numbers, and the import goes on"
wait $load

for src in cloudfront cloudflare; do
	python3 "$gen" check "$data/stats.db" "$T/cdn.json" "$data/stats.key" $src >"$T/check.$src" ||
		fail "$src: stats.db differs from the known answers: $(cat "$T/check.$src")"
	ok "$src: minutes (HTTPS, body bytes), statuses, visitors per 15 minutes, pages, referrers and sessions equal the known answers"
done
tot=$(sqlite3 "$data/stats.db" "SELECT SUM(requests), SUM(bytes) FROM minute WHERE source='cloudfront'")
want=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["totals"]; print("%d|%d" % (t["requests"], t["bytes"]))' "$T/cdn.json")
expect_eq "$tot" "$want" "CloudFront: requests and body bytes in all"

# A long import holds the database (one transaction per file): the
# server's writer waits, keeps its counts, and writes them after.
# The lock is held until the server says it waits (a flush, then its
# 5 s busy timeout), 25 s at most.
python3 -c 'import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
open(sys.argv[2], "w").close()
for _ in range(250):
    if "stats write-waiting" in open(sys.argv[3]).read():
        break
    time.sleep(0.1)
time.sleep(1)
c.execute("ROLLBACK")' "$data/stats.db" "$T/locked" "$LOG" &
locker=$!
for ((i = 0; i < 50; i++)); do [[ -e $T/locked ]] && break; sleep 0.1; done
for ((i = 0; i < 100; i++)); do curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/x.html"; done
wait $locker
expect_log 'stats write-waiting .*another writer' "the server's writer waits for an import's lock"
expect_log 'stats write-resumed' "and writes once it is released"
stop_prepd
! grep -q 'stats write-failed\|stats batch-dropped\|stats dropped' "$LOG" ||
	fail "a held lock was taken for a failure: $(grep 'stats ' "$LOG")"
live=$(sqlite3 "$data/stats.db" "SELECT SUM(requests) FROM minute WHERE source='live'")
expect_eq "$live" 300 "the running server's own counts were all written beside the imports"

# Again, with --format named and the Cloudflare file compressed: nothing
# changes, and it says so.
before=$(sqlite3 "$data/stats.db" "SELECT source, SUM(requests), SUM(bytes) FROM minute GROUP BY source;
	SELECT COUNT(*) FROM session; SELECT COUNT(*) FROM import")
gzip -c "$T/cf-http_requests.log" >"$T/cf.json.gz"
"$PREPD" stats import --data "$data" --format cloudflare "$T/cf.json.gz" >"$T/out2" 2>&1 ||
	fail "the second import failed: $(cat "$T/out2")"
"$PREPD" stats import --data "$data" "$T/E2ABC.2022-10-30-04.a1b2c3.gz" >>"$T/out2" 2>&1 ||
	fail "the second import failed: $(cat "$T/out2")"
expect_eq "$(grep -c 'already imported .*nothing changed' "$T/out2")" 2 "both files are known by their content"
after=$(sqlite3 "$data/stats.db" "SELECT source, SUM(requests), SUM(bytes) FROM minute GROUP BY source;
	SELECT COUNT(*) FROM session; SELECT COUNT(*) FROM import")
expect_eq "$after" "$before" "a second import changes nothing"
rows=$(sqlite3 "$data/stats.db" "SELECT kind, lines, skipped, first IS NOT NULL FROM import ORDER BY kind")
expect_match "$rows" '^cloudflare\|[0-9]+\|2\|1.cloudfront\|[0-9]+\|1\|1$' "the import table keeps each file's kind, lines and bad lines"

# --source keeps another copy apart; a file that cannot be read fails
# alone; a wrong --format counts every line bad, never aborts.
"$PREPD" stats import --data "$data" --source edge-b --format clf "$T/cdn.json" >"$T/out3" 2>&1 &&
	fail "a file of no known format was imported without complaint"
expect_match "$(cat "$T/out3")" 'cdn.json:1: .*none of its 1 lines reads as clf; nothing of this file was imported' \
	"a file of which no line reads in the format given fails, and says why"
set +e
"$PREPD" stats import --data "$data" "$T/missing.log" "$T/cdn.json" >"$T/out4" 2>&1
rc=$?
set -e
[[ $rc -ne 0 ]] || fail "a missing file does not fail the command"
grep -q 'missing.log: No such file' "$T/out4" || fail "the missing file is not named: $(cat "$T/out4")"
ok "a missing file fails the command and is named"
# A gzip file cut short (a download that stopped) is not taken for the
# file: nothing of it is imported, and the whole file can follow.
head -c 12000 "$T/E2ABC.2022-10-30-04.a1b2c3.gz" >"$T/cut.gz"
rows=$(sqlite3 "$data/stats.db" "SELECT COUNT(*) FROM import")
"$PREPD" stats import --data "$data" --source cut "$T/cut.gz" >"$T/out5" 2>&1 &&
	fail "a truncated gzip file was imported: $(cat "$T/out5")"
expect_match "$(cat "$T/out5")" 'cut.gz: the gzip stream is cut short after [0-9]+ bytes; nothing of this file was imported' \
	"a truncated gzip file is refused whole"
expect_eq "$(sqlite3 "$data/stats.db" "SELECT COUNT(*) FROM import; SELECT COUNT(*) FROM minute WHERE source='cut'" | tr '\n' ' ')" \
	"$rows 0 " "and leaves no trace in stats.db"
"$PREPD" stats import --data "$data" --source live "$T/cdn.json" >/dev/null 2>&1 &&
	fail "--source live (prepd's own) was accepted"
ok "--source live is refused"

# A terminal gets a progress bar (bytes, lines, rate) on stderr.
if command -v script >/dev/null; then
	python3 "$gen" clf "$T/big.log" "$T/big.json" --zone $zone --start 2022-10-29T20:00:00-05:00 \
		--minutes 600 --seed 9
	script -qec "'$PREPD' stats import --data '$data' '$T/big.log'" /dev/null >"$T/tty.out" 2>&1 ||
		fail "the import on a terminal failed: $(cat "$T/tty.out")"
	grep -q 'imported kind=clf' "$T/tty.out" || fail "no summary on the terminal"
	# Small and fast: the bar may be drawn once or never; its line is
	# cleared before the summary either way.
	grep -qa $'\r\033\[K' "$T/tty.out" || fail "the progress line is not cleared on a terminal"
	ok "a terminal gets the progress line, cleared before the summary"
	[[ ! -s $T/err ]] || ! grep -qa $'\033' "$T/err" || fail "a progress bar went to a file"
	ok "no progress bar when stderr is not a terminal"
fi

done_testing
