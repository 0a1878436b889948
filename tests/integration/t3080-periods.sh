#!/usr/bin/env bash
# R13's three strikes on the institute's cadence ([ingest] period, R9),
# with 2-second periods: a period fails when no newer cut was published in
# it, whatever the source. Silence in spool mode, only 304s from the
# upstream and only refused packages each fail periods: a warning at one
# and at two in a row (the second naming the institute's cut-off at
# three), in the log and in /status; a newer cut recovers with an info
# line. /status shows the cut's ages, the period and when the next cut is
# due.
. "$(dirname "$0")/lib.sh"
up=$SRCDIR/tests/integration/upstream.py

spool=$T/spool
mkdir -p "$spool"

drop() {   # drop FILE NAME: into the spool, renamed in whole
	cp "$1" "$spool/.$2.part" && mv "$spool/.$2.part" "$spool/$2"
}
wait_cut() {
	local i
	for ((i = 0; i < 100; i++)); do
		get "http://127.0.0.1:$HTTP_PORT/" >/dev/null || true
		[[ $(header X-PREP-Cut) == *"label=$1"* ]] && return 0
		sleep 0.1
	done
	fail "cut $1 never published; serving '$(header X-PREP-Cut)'"
}
# status PYTHON_ASSERTION WHAT: /status as s, checked.
status() {
	local aport
	aport=$(sed -n 's/.*proto=admin addr=[^ ]*:\([0-9]*\).*/\1/p' "$LOG" | head -n1)
	get "http://127.0.0.1:$aport/status" -H "Authorization: Bearer $(cat "$T/$NAME/var/admin.token")" >/dev/null
	python3 - "$T/body" "$1" <<'PY' || fail "$2: $(cat "$T/body")"
import json, sys, datetime
s = json.load(open(sys.argv[1]))
def t(v):
    return datetime.datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
now = datetime.datetime.now(datetime.timezone.utc).timestamp()
assert eval(sys.argv[2]), sys.argv[2]
PY
	ok "$2"
}
# count REGEX: lines of the log matching it.
count() {
	grep -c -- "$1" "$LOG" || true
}
# wait_count REGEX N WHAT: until N lines match (8 s at most).
wait_count() {
	local i
	for ((i = 0; i < 80; i++)); do
		(($(count "$1") >= $2)) && { ok "$3"; return 0; }
		sleep 0.1
	done
	fail "$3: $(count "$1") lines match '$1', want $2"
}

printf '[ingest]\nperiod = 2s\n' >"$T/p.ini"

# ---- spool mode: silence, then recovery, then only refused packages ----
NAME=spooled
start_prepd spooled --spool "$spool" --config "$T/p.ini" --admin 127.0.0.1:0
drop "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" 20240602_2215_PREP_PRES_NAL.tar.gz
wait_cut 20240602_2215
# In milliseconds: whole seconds made the check below fail when the cut
# landed late in one second and the warning early in another. t_pub is
# read up to one poll of wait_cut (0.1 s and a request) after the publish.
t_pub=$(($(date +%s%N) / 1000000))
status 's["period_s"] == 2 and s["failed_periods"] == 0 and "warning" not in s and s["cut"]["time"] == "2024-06-02T22:15-06:00" and abs(t(s["cut_published"]) - now) <= 3 and 0 <= s["cut_age_s"] <= 3 and s["cut_time_age_s"] > 86400 and 0 < t(s["next_cut_due"]) - now <= 2' \
	"after a cut: its ages, the period and when the next is due"

wait_count 'warn ingest periods-failed count=1 period_s=2 cut=20240602_2215 .*action="' 1 \
	"silence in spool mode: a warning after one period"
status 's["failed_periods"] == 1 and "warning" in s and "one update period" in s["warning"]' \
	"/status: one failed period and its warning"
wait_count 'warn ingest periods-failed count=2 .*cuts a difusor off at three' 1 \
	"and after two, naming the cut-off at three"
# Two periods are 4,000 ms after the publish; t_pub is at most ~0.3 s late.
(( $(date +%s%N) / 1000000 - t_pub >= 3700 )) ||
	fail "the second warning came before two periods passed ($(($(date +%s%N) / 1000000 - t_pub)) ms after the cut)"
ok "the second warning came after two whole periods"
status 's["failed_periods"] >= 2 and "drops a difusor after three" in s["warning"] and t(s["next_cut_due"]) > now' \
	"/status: two failed periods, the warning"

drop "$PKGDIR/20240602_2230_PREP_PRES_NAL.zip" 20240602_2230_PREP_PRES_NAL.zip
wait_cut 20240602_2230
expect_log 'info ingest periods-recovered failed=[2-9] cut=20240602_2230 time=2024-06-02T22:30-06:00' \
	"a newer cut recovers, with an info line"
status 's["failed_periods"] == 0 and "warning" not in s and s["cut_age_s"] <= 2' \
	"/status after the recovery: no failed period, no warning"

# Only refused packages for two periods: older cuts (and a hostile one)
# are no success.
before=$(count 'periods-failed count=2')
for ((k = 0; k < 5; k++)); do
	drop "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" "20240602_221${k}_OLD.tar.gz"
	sleep 0.5
	drop "$PKGDIR/h-symlink.tar.gz" "h-symlink-$k.tar.gz"
	sleep 0.5
done
(($(count 'step=check .*older than the cut served') >= 4)) || fail "the older packages were not refused"
ok "older packages are refused"
wait_count 'periods-failed count=2' $((before + 1)) "only refused packages: two failed periods again"
status 's["failed_periods"] >= 2 and s["last_result"].startswith("refused") and s["cut"]["label"] == "20240602_2230"' \
	"/status: refusals, failed periods, the cut still served"
drop "$PKGDIR/20240602_2245_PREP_PRES_NAL.zip" 20240602_2245_PREP_PRES_NAL.zip
wait_cut 20240602_2245
expect_log 'periods-recovered failed=[2-9] cut=20240602_2245' "and a newer cut recovers again"
stop_prepd

# ---- pull mode: the upstream answers only 304 ----
bash "$SRCDIR/tests/integration/mkca.sh" "$T/ca" >/dev/null
root=$T/root
mkdir -p "$root"
cp "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" "$root/P.tar.gz"
python3 "$up" --root "$root" --cert "$T/ca/server.pem" --key "$T/ca/server-key.pem" \
	--ready "$T/up.port" --lifetime 60 2>"$T/up.uplog" &
PIDS+=("$!")
for ((i = 0; i < 50; i++)); do [[ -s $T/up.port ]] && break; sleep 0.1; done
UP=$(cat "$T/up.port")
NAME=pulled
start_prepd pulled --config "$T/p.ini" --upstream "https://127.0.0.1:$UP/P.tar.gz" \
	--ca "$T/ca/ca.pem" --poll 1 --admin 127.0.0.1:0
wait_cut P
wait_count 'warn ingest periods-failed count=2 .*cuts a difusor off at three' 1 \
	"only 304s: two failed periods"
(($(grep -c 'GET /P.tar.gz 304 ' "$T/up.uplog") >= 2)) || fail "the upstream did not answer 304: $(tail -n 3 "$T/up.uplog")"
ok "the upstream answered 304s"
status 's["failed_periods"] >= 2 and s["last_result"] == "no new package" and s["failed_in_a_row"] == 0 and s["cut_time_age_s"] is None' \
	"/status: 304s are successful polls but failed periods; a fixed name has no cut time"
stop_prepd
done_testing
