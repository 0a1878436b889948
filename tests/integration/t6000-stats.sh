#!/usr/bin/env bash
# Audience statistics (R18): a log with known answers, imported, equals
# them exactly in stats.db (visitors, hits, page views, bytes, sessions,
# per minute and per 15 minutes, across the institute's midnight and the
# end of daylight saving time in 2022), and goaccess finds the same
# visitors, requests and bytes on it; requests replayed through a running
# prepd (with a restart in the middle) give the same rows live as the
# import of prepd's own access log; a stats.db that cannot be opened or
# written (a full disk) never stops serving, and writes resume.
. "$(dirname "$0")/lib.sh"

gen=$SRCDIR/tests/integration/statsgen.py
zone=America/Mexico_City

# 1. Known answers. 22:30 CDT on October 29th, 2022 to 04:00 CST: local
# midnight at 05:00Z, and at 07:00Z (02:00 CDT) the clock went back to
# 01:00 CST, the last change Mexico City made.
python3 "$gen" clf "$T/night.log" "$T/night.json" --zone $zone \
	--start 2022-10-29T22:30:00-05:00 --minutes 330 --seed 11
mkdir -p "$T/kv"
"$PREPD" stats import --data "$T/kv" --time-zone $zone --site prep.example.mx \
	"$T/night.log" >"$T/import.out" 2>"$T/import.err" ||
	fail "the import failed: $(cat "$T/import.err")"
expect_match "$(cat "$T/import.out")" 'imported kind=clf source=clf lines=[0-9]+ requests=[0-9]+ bad=3 ' \
	"the format is recognised and the 3 bad lines are counted"
grep -q "night.log:7: no \[time\]" "$T/import.err" &&
	grep -q "night.log:80: bad \[time\]" "$T/import.err" &&
	grep -q "night.log:204: bad status" "$T/import.err" ||
	fail "bad lines are not named with their line numbers: $(cat "$T/import.err")"
ok "each bad line is named with its line number and reason"
[[ $(stat -c %a "$T/kv/stats.key") == 600 ]] || fail "the key file is not mode 0600"
ok "the visitor key is a 0600 file in the data folder"
python3 "$gen" check "$T/kv/stats.db" "$T/night.json" "$T/kv/stats.key" clf >"$T/check.out" ||
	fail "stats.db differs from the known answers: $(cat "$T/check.out")"
ok "minutes, statuses, visitors per 15 minutes, pages, referrers and sessions equal the known answers ($(grep -c '^ok' "$T/check.out") tables)"
sqlite3 "$T/kv/stats.db" "SELECT value FROM meta WHERE key='schema'" | grep -qx 1 ||
	fail "meta.schema is not 1"
sqlite3 "$T/kv/stats.db" "PRAGMA journal_mode" | grep -qx wal || fail "stats.db is not in WAL mode"
ok "stats.db: schema 1, WAL"
# No address is stored: not one of the log's addresses is anywhere in the
# file (as text or as bytes).
python3 - "$T/kv/stats.db" "$T/night.log" <<'PY' || fail "a client address is stored in stats.db"
import ipaddress, sys
db = open(sys.argv[1], "rb").read()
for a in {l.split(" ", 1)[0] for l in open(sys.argv[2]) if l[0].isdigit() or l[0] == ':'}:
    try:
        ip = ipaddress.ip_address(a)
    except ValueError:
        continue
    if a.encode() in db or (ip.version == 6 and ip.packed in db):
        sys.exit(1)
PY
ok "no client address in stats.db"

# Idempotent: the same bytes again change nothing.
sum1=$(sqlite3 "$T/kv/stats.db" "SELECT SUM(requests), SUM(bytes) FROM minute; SELECT COUNT(*) FROM session")
gzip -c "$T/night.log" >"$T/night.log.gz"
"$PREPD" stats import --data "$T/kv" --time-zone $zone "$T/night.log.gz" >"$T/again.out" 2>&1 ||
	fail "the second import failed: $(cat "$T/again.out")"
expect_match "$(cat "$T/again.out")" 'already imported .*nothing changed' "a second import (gzip) is recognised"
[[ $(sqlite3 "$T/kv/stats.db" "SELECT SUM(requests), SUM(bytes) FROM minute; SELECT COUNT(*) FROM session") == "$sum1" ]] ||
	fail "a second import changed the counts"
ok "a second import changes nothing"

# 2. goaccess on the same requests (its COMBINED format; without the 3 bad
# lines: goaccess 1.7 takes "31/Feb/2022" as a valid date).
if command -v goaccess >/dev/null; then
	sed '7d;80d;204d' "$T/night.log" >"$T/clean.log"
	goaccess "$T/clean.log" --log-format=COMBINED --no-global-config -o "$T/goaccess.json" \
		>/dev/null 2>&1 || fail "goaccess failed on the log"
	got=$(sqlite3 "$T/kv/stats.db" "SELECT (SELECT COUNT(DISTINCT visitor) FROM visit WHERE source='clf'),
		(SELECT SUM(requests) FROM minute WHERE source='clf'), (SELECT SUM(bytes) FROM minute WHERE source='clf')" | tr '|' ' ')
	want=$(python3 -c 'import json,sys; g=json.load(open(sys.argv[1]))["general"]; print(g["unique_visitors"], g["valid_requests"], g["bandwidth"])' "$T/goaccess.json")
	expect_eq "$got" "$want" "visitors, requests and bytes equal goaccess's (visitors requests bytes)"
else
	echo "# goaccess is not installed: its comparison is skipped (apt-get install goaccess)"
fi

# 3. Live: requests through a running prepd (127.0.0.1 trusted, so
# X-Forwarded-For names the client), stopped and started in the middle:
# the live rows equal the import of prepd's own access log.
conf=$T/live.ini
printf '[shield]\ntrusted_proxies = 127.0.0.1\nrate = 0\n[stats]\nsession_gap = 30m\n' >"$conf"
start_prepd live --config "$conf" --package "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" \
	--access-log "$T/live.access.log"
expect_log 'stats started file=.*stats.db session_gap=1800s' "the statistics start with the server"
python3 "$gen" replay "http://127.0.0.1:$HTTP_PORT" "$T/plan1.json" --n 250 --seed 5 >/dev/null
stop_prepd
expect_log 'stats stopped requests=250 written=250 dropped=0' "every request of the first run is written at the stop"
start_prepd live --config "$conf" --package "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" \
	--access-log "$T/live.access.log"
expect_log 'stats started .*resumed_sessions=[1-9]' "open sessions are read back at the start"
python3 "$gen" replay "http://127.0.0.1:$HTTP_PORT" "$T/plan2.json" --n 250 --seed 6 >/dev/null
# The dashboard reads stats.db while prepd runs: the counts are there
# within a few seconds, before any stop.
for ((i = 0; i < 100; i++)); do
	n=$(sqlite3 "$T/live/var/stats.db" "SELECT SUM(requests) FROM minute WHERE source='live'" 2>/dev/null || true)
	[[ $n == 500 ]] && break
	sleep 0.1
done
expect_eq "$n" 500 "a running prepd's counts reach stats.db within seconds"
stop_prepd
"$PREPD" stats import --data "$T/live/var" --site 127.0.0.1 "$T/live.access.log" >/dev/null 2>"$T/live.err" ||
	fail "importing prepd's own access log failed: $(cat "$T/live.err")"
[[ ! -s $T/live.err ]] || fail "prepd's own access log has lines the importer refuses: $(cat "$T/live.err")"
python3 "$gen" same "$T/live/var/stats.db" live clf minute minute_status visit page referrer session \
	>"$T/same.out" || fail "live and imported figures differ: $(cat "$T/same.out")"
ok "live equals the import of the access log: minutes, statuses, visitors, pages, referrers, sessions across a restart"
multi=$(sqlite3 "$T/live/var/stats.db" "SELECT COUNT(*) FROM session WHERE source='live' AND requests > 1")
[[ $multi -gt 0 ]] || fail "no session has more than one request"
pv=$(sqlite3 "$T/live/var/stats.db" "SELECT COALESCE(SUM(views), 0) FROM page WHERE source='live' AND path = '/presidencia/entidad/07'")
want=$(python3 -c 'import json,sys; print(sum(1 for f in sys.argv[1:] for r in json.load(open(f)) if r["path"] == "/presidencia/entidad/07" and r["method"] == "GET"))' "$T/plan1.json" "$T/plan2.json")
expect_eq "$pv" "$want" "single-page routes (the index.html fallback) are page views"
js=$(sqlite3 "$T/live/var/stats.db" "SELECT COUNT(*) FROM page WHERE path LIKE '%.json' OR path LIKE '%.css' OR path LIKE '%.js'")
expect_eq "$js" 0 "JSON polls and assets are not page views"
cuts=$(sqlite3 "$T/live/var/stats.db" "SELECT cut, SUM(requests) FROM minute_cut WHERE source='live' GROUP BY cut")
expect_eq "$cuts" "20240602_2215|500" "requests are counted by the cut served"

# 4. Statistics off: no stats.db, no key.
start_prepd off --config <(printf '[stats]\nenabled = no\n')
get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
stop_prepd
[[ ! -e $T/off/var/stats.db && ! -e $T/off/var/stats.key ]] || fail "[stats] enabled = no still made stats.db"
ok "[stats] enabled = no writes nothing"

# 5. A stats.db that cannot be opened: logged with what to do, serving goes on.
mkdir -p "$T/broken/var/stats.db"
start_prepd broken
expect_log 'stats open-failed file=.*stats.db .*action=' "a stats.db that cannot be opened is logged with an action"
expect_eq "$(get "http://127.0.0.1:$HTTP_PORT/")" 200 "serving goes on without stats.db"
stop_prepd

# 6. A full disk: serving goes on, the failure is logged once with what to
# do, and once space is freed the counts held meanwhile are written.
small=$T/small
mkdir -p "$small"
if mount -t tmpfs -o size=4m tmpfs "$small" 2>"$T/mount.err"; then
	trap 'umount "$small" 2>/dev/null || true; cleanup' EXIT
	start_prepd full --data "$small/var"
	get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
	for ((i = 0; i < 100; i++)); do
		[[ $(sqlite3 "$small/var/stats.db" "SELECT SUM(requests) FROM minute" 2>/dev/null) == 1 ]] && break
		sleep 0.1
	done
	dd if=/dev/zero of="$small/filler" bs=4k 2>/dev/null || true
	# 3000 visitors (a user agent each): rows the database has no room for.
	python3 - "$HTTP_PORT" <<'PY' || fail "a request failed while the disk was full"
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
for i in range(3000):
    c.request("GET", "/p%d" % i, headers={"User-Agent": "visitor-%d" % i})
    r = c.getresponse()
    r.read()
    assert r.status in (200, 404), r.status
PY
	ok "serving goes on with a full disk"
	for ((i = 0; i < 80; i++)); do
		grep -q 'stats write-failed' "$LOG" && break
		sleep 0.1
	done
	expect_log 'stats write-failed file=.*action="free disk space' "a failed stats.db write is logged with an action"
	sleep 1.5
	expect_eq "$(grep -c 'stats write-failed' "$LOG")" 1 "the failure is logged once, not per attempt"
	rm -f "$small/filler"
	for ((i = 0; i < 100; i++)); do
		grep -q 'stats write-recovered' "$LOG" && break
		sleep 0.1
	done
	expect_log 'stats write-recovered' "writes resume once space is freed"
	get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
	stop_prepd
	n=$(sqlite3 "$small/var/stats.db" "SELECT SUM(requests) FROM minute; SELECT COUNT(DISTINCT visitor) FROM visit")
	expect_eq "$(echo $n)" "3002 3001" "no count is lost over a short full-disk stretch (retried)"
	umount "$small"
else
	echo "# cannot mount a tmpfs ($(cat "$T/mount.err")); the full-disk case needs root"
fi

done_testing
