#!/usr/bin/env bash
# /metrics on the admin listener: Prometheus text format 0.0.4, read with
# a real parser (Debian's python3-prometheus-client), its counters checked
# against the traffic this test sends.
source "$SRCDIR/tests/integration/lib.sh"

py=/usr/bin/python3
$py -c 'import prometheus_client.parser' 2>/dev/null ||
	skip "python3-prometheus-client is not installed (script/bootstrap installs it)"

start_prepd metrics --admin 127.0.0.1:0
APORT=$(sed -n 's/.*proto=admin addr=[^ ]*:\([0-9]*\).*/\1/p' "$LOG" | head -n1)
[[ -n $APORT ]] || fail "no admin listen line"
token=$(cat "$T/metrics/var/admin.token")
admin=http://127.0.0.1:$APORT
auth=(-H "Authorization: Bearer $token")

code=$(curl -s -o /dev/null -w '%{http_code}' "$admin/metrics")
expect_eq "$code" 401 "/metrics without the token"
ok "/metrics needs the admin token"

# Known traffic: 7 GETs and 1 HEAD (200, the HEAD with no body), 3 missing
# files (404), 2 conditional GETs (304).
bytes=0
for i in 1 2 3 4 5 6 7; do
	n=$(curl -s -o "$T/body" -w '%{size_download}' "http://127.0.0.1:$HTTP_PORT/")
	bytes=$((bytes + n))
done
for i in 1 2 3; do
	n=$(curl -s -o /dev/null -w '%{size_download}' "http://127.0.0.1:$HTTP_PORT/no-such-$i.json")
	bytes=$((bytes + n))
done
etag=$(curl -sI "http://127.0.0.1:$HTTP_PORT/" | tr -d '\r' | sed -n 's/^[Ee][Tt]ag: //p')

for i in 1 2; do
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "http://127.0.0.1:$HTTP_PORT/")
	expect_eq "$code" 304 "conditional GET"
done
# One good package and one the unpacker refuses.
code=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" -T "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" \
	"$admin/upload/20240602_2215_PREP_PRES_NAL.tar.gz")
expect_eq "$code" 202 "upload accepted"
expect_log 'event publish seq=1' 'the good package is published'
code=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" -T "$PKGDIR/h-symlink.tar.gz" \
	"$admin/upload/20240602_2300_PREP_PRES_NAL.tar.gz")
expect_eq "$code" 202 "bad upload accepted for checking"
expect_log 'ingest refuse file=.*seq=2' 'the hostile package is refused'

check() {
	curl -s "${auth[@]}" -D "$T/mh" -o "$T/metrics.txt" "$admin/metrics"
	$py - "$T/metrics.txt" "$bytes" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
want_bytes = int(sys.argv[2])
v = {}
types = {}
for fam in text_string_to_metric_families(text):
    types[fam.name] = fam.type
    for s in fam.samples:
        v[(s.name, tuple(sorted(s.labels.items())))] = s.value
def get(name, **labels):
    return v.get((name, tuple(sorted(labels.items()))))
errs = []
def expect(what, got, want):
    if got != want:
        errs.append(f"{what}: {got} != {want}")
expect("requests 2xx", get("prepd_requests_total", listener="http", **{"class": "2xx"}), 8)
expect("requests 4xx", get("prepd_requests_total", listener="http", **{"class": "4xx"}), 3)
expect("requests 3xx", get("prepd_requests_total", listener="http", **{"class": "3xx"}), 2)
expect("requests 5xx", get("prepd_requests_total", listener="http", **{"class": "5xx"}), 0)
expect("bytes", get("prepd_response_bytes_total", listener="http"), want_bytes)
expect("publishes full", get("prepd_publishes_total", kind="full"), 1)
expect("cut seq", get("prepd_cut_sequence"), 1)
expect("publish histogram count", get("prepd_publish_duration_seconds_count", stage="total"), 1)
expect("histogram +Inf", get("prepd_publish_duration_seconds_bucket", stage="total", le="+Inf"), 1)
expect("histogram type", types.get("prepd_publish_duration_seconds"), "histogram")
stage_sum = 0.0
for stage in ("verify", "store", "unpack", "build", "swap"):
    expect(f"{stage} stage count", get("prepd_publish_duration_seconds_count", stage=stage), 1)
    stage_sum += get("prepd_publish_duration_seconds_sum", stage=stage) or 0
total = get("prepd_publish_duration_seconds_sum", stage="total") or 0
if not (0 < stage_sum <= total + 1e-5):
    errs.append(f"the stages add up to {stage_sum} s, the total is {total} s")
refused = sum(val for (n, l), val in v.items() if n == "prepd_refusals_total")
expect("refusals", refused, 1)
expect("dropped", get("prepd_log_records_dropped_total"), 0)
# the statistics' sink saw every request the metrics sink did
expect("stats counted", get("prepd_stats_requests_total", state="counted"), 13)
expect("stats dropped", get("prepd_stats_requests_total", state="dropped"), 0)
expect("stats failing", get("prepd_stats_failing"), 0)
expect("build info", get("prepd_build_info", version=[l for (n, ls), _ in v.items() if n == "prepd_build_info" for k, l in ls][0]), 1)
if get("prepd_start_time_seconds") is None or get("prepd_start_time_seconds") < 1.6e9:
    errs.append("start time missing")
if get("prepd_cut_time_seconds") is None:
    errs.append("cut time missing")
if get("prepd_shield_actions_total", rule="rate", action="429") is None:
    errs.append("shield actions missing")
if errs:
    print("; ".join(errs))
    sys.exit(1)
PY
}
# The collector drains the rings every few milliseconds: give it a moment.
for ((i = 0; i < 50; i++)); do
	out=$(check) && break
	sleep 0.1
done
[[ -z ${out:-} ]] || fail "metrics do not match the traffic: $out"
grep -qi '^content-type: text/plain; version=0.0.4' "$T/mh" || fail "content type: $(cat "$T/mh")"
ok "the Prometheus parser reads /metrics (text format 0.0.4)"
ok "requests by class, bytes, publishes, refusals, the histogram and the cut match what was sent"
stop_prepd
done_testing
