#!/usr/bin/env bash
# CDN purge (edge/purge.c): real publishes (the spool) and a rollback purge
# every [purge NAME] target (varnish BAN and PURGE, cloudflare by URL and by
# tag, cloudfront with SigV4, fastly soft by surrogate key, the signed
# webhook) through tests/integration/cdnstub.py, which checks every request
# byte that matters; retries after a 5xx, a 429 with Retry-After and a
# timeout; a 4xx fails at once; a newer cut supersedes a retrying one and
# the union of both cuts' paths is purged; the log lines and GET /status.
. "$(dirname "$0")/lib.sh"

STUB=$SRCDIR/tests/integration/cdnstub.py
python3 "$STUB" --selftest >"$T/selftest" || fail "SigV4 verifier: $(cat "$T/selftest")"
ok "the stand-in's SigV4 verifier passes AWS's published test vectors"

sec=$T/secrets
mkdir -p "$sec" "$T/spool"
printf 'cf-T0ken-5ecret\n' >"$sec/cf"
printf 'fastly-K3y-5ecret\n' >"$sec/fastly"
printf 'AKIDPREPTEST:aws/Secr3t+Key\n' >"$sec/aws"
printf 'hook-5ecret-hmac\n' >"$sec/hook"
chmod 600 "$sec"/*

python3 "$STUB" --port-file "$T/stub.port" --cf-token cf-T0ken-5ecret --cf-max 7 \
	--fastly-key fastly-K3y-5ecret --aws-key-id AKIDPREPTEST --aws-secret 'aws/Secr3t+Key' \
	--webhook-secret hook-5ecret-hmac --zone 023e105f4ecef8ad9ca31a8372d0c353 \
	--distribution EDFDVBD6EXAMPLE --service SU1Z0isxPaozGVKXdv0eY --host site.example &
PIDS+=($!)
for ((i = 0; i < 50; i++)); do [[ -s $T/stub.port ]] && break; sleep 0.1; done
SP=$(cat "$T/stub.port") || fail "the stand-in did not start"
S=http://127.0.0.1:$SP

common="timeout = 1s
retries = 3
backoff = 100ms
backoff_max = 400ms"
cat >"$T/prepd.ini" <<EOF
[purge ban]
type = varnish
url = $S/
host = site.example
$common

[purge pv]
type = varnish
by = paths
url = $S/
host = site.example
$common

[purge cf]
type = cloudflare
url = $S/client/v4
zone = 023e105f4ecef8ad9ca31a8372d0c353
site = https://site.example
secret_file = $sec/cf
batch = 7
$common

[purge cft]
type = cloudflare
by = tags
tags = prep-cut-{cut} prep-short
url = $S/client/v4
zone = 023e105f4ecef8ad9ca31a8372d0c353
secret_file = $sec/cf
$common

[purge cfront]
type = cloudfront
url = $S
distribution = EDFDVBD6EXAMPLE
secret_file = $sec/aws
$common

[purge fastly]
type = fastly
url = $S
service = SU1Z0isxPaozGVKXdv0eY
secret_file = $sec/fastly
tags = prep-{cut} prep-short
soft = yes
$common

[purge hook]
type = webhook
url = $S/hook
site = https://site.example
secret_file = $sec/hook
$common
EOF

"$PREPD" --check-config --config "$T/prepd.ini" --data "$T/chk" >"$T/chk.out" 2>&1 ||
	fail "--check-config refuses the purge config: $(cat "$T/chk.out")"
ok "--check-config takes seven [purge NAME] sections"

start_prepd purge --config "$T/prepd.ini" --spool "$T/spool" --admin 127.0.0.1:0
APORT=$(sed -n 's/.*proto=admin addr=[^ ]*:\([0-9]*\).*/\1/p' "$LOG" | head -n1)
data=$T/purge/var
targets=(ban pv cf cft cfront fastly hook)
for t in "${targets[@]}"; do grep -q "purge target name=$t " "$LOG" || fail "target $t not started"; done
ok "seven targets started"

put() { cp "$1" "$T/spool/.x" && mv "$T/spool/.x" "$T/spool/${2:-$(basename "$1")}"; }
reqs() { curl -sS "$S/_requests"; }
fault() { curl -sS -X POST "$S/_fault?$1" >/dev/null; }

# wait_ok CUT TARGET...: every target logs "purge ok" for CUT.
wait_ok() {
	local cut=$1 t i
	shift
	for t in "$@"; do
		# up to 30 s: a publish and a back-off under ASan on a busy machine
		for ((i = 0; i < 300; i++)); do
			grep -q "purge ok target=$t cut=$cut " "$LOG" && break
			sleep 0.1
		done
		grep -q "purge ok target=$t cut=$cut " "$LOG" || fail "no 'purge ok target=$t cut=$cut': $(grep "purge .*target=$t" "$LOG" | tail -3)"
	done
	ok "purge ok for cut $cut on: $*"
}

# check_requests CUT WANTPATHS [cloudfront]: no request had a problem, and
# each target's requests for CUT purge what the package changed (but
# cloudfront's when it is named: it was refused on purpose).
check_requests() {
	reqs >"$T/reqs.json"
	python3 - "$T/reqs.json" "$@" >"$T/check.out" 2>&1 <<'PY' || fail "stand-in: $(cat "$T/check.out")"
import json, sys, urllib.parse
reqs = json.load(open(sys.argv[1]))
cut, want_file = sys.argv[2], sys.argv[3]
want = set(filter(None, open(want_file).read().split("\n")))   # "/path", one a line
bad = [r for r in reqs if r["problems"]]
def die(msg):
    print(msg); sys.exit(1)
if bad:
    die(f"{len(bad)} requests failed the checks: {[(r['kind'], r['method'], r['path'], r['problems']) for r in bad][:3]}")
ok = [r for r in reqs if r.get("status", 0) < 300 and not r.get("fault")]
def body(r):
    try: return json.loads(r["body"])
    except ValueError: return {}
# varnish BAN: the cut's label; PURGE: one per path
bans = [r for r in ok if r["method"] == "BAN" and f"label={cut.replace('.', '[.]')}(" in r["headers"]["x-prep-ban"]]
if not bans: die(f"no BAN for {cut}")
purged = {urllib.parse.unquote(r["path"]) for r in ok if r["method"] == "PURGE"}
if not want <= purged: die(f"varnish PURGE misses {sorted(want - purged)[:5]}")
# cloudflare files: batches of at most 7, every URL https://site.example + path
files = set()
for r in ok:
    b = body(r)
    if r["kind"] == "cloudflare" and "files" in b:
        files |= {urllib.parse.unquote(u[len("https://site.example"):]) for u in b["files"]}
if not want <= files: die(f"cloudflare files miss {sorted(want - files)[:5]}")
tags = [body(r).get("tags") for r in ok if r["kind"] == "cloudflare" and "tags" in body(r)]
if ["prep-cut-" + cut, "prep-short"] not in tags: die(f"cloudflare tags {tags}")
# cloudfront: the paths, signed (the stand-in verified SigV4)
cf = set()
for r in ok:
    if r["kind"] == "cloudfront":
        cf |= {urllib.parse.unquote(p) for p in r["paths"]}
skip = sys.argv[4:]
if "cloudfront" not in skip and not (want <= cf or "/*" in cf): die(f"cloudfront paths miss {sorted(want - cf)[:5]}")
# fastly: soft purge of the surrogate keys
fk = [(r["keys"], r["headers"].get("fastly-soft-purge")) for r in ok if r["kind"] == "fastly"]
if (["prep-" + cut, "prep-short"], "1") not in fk: die(f"fastly {fk}")
# webhook: the cut and its paths, signed (the stand-in verified the HMAC)
hooks = [body(r) for r in ok if r["kind"] == "webhook"]
mine = [h for h in hooks if h.get("cut") == cut]
if not mine or not want <= {urllib.parse.unquote(p) for p in mine[-1]["paths"]}: die(f"webhook for {cut}: {[(h.get('cut'), len(h.get('paths', []))) for h in hooks]}")
print(json.dumps({"kinds": sorted({r["kind"] for r in ok})}))
PY
	ok "cut $1: every request passed the stand-in's checks and purged what changed"
}

# The paths a full package changes against what was served: the files of
# both, as URLs, a folder's index.html also as the folder.
want_paths() {   # want_paths OLD NEW > file (OLD: - for the placeholder)
	python3 - "$1" "$2" "$SRCDIR/www-default" <<'PY'
import hashlib, os, sys, tarfile, zipfile
old, new, www = sys.argv[1:]
def files(p):
    if p == "-":
        return {n: hashlib.sha256(open(os.path.join(www, n), "rb").read()).hexdigest()
                for n in ("index.html", "404.html", "estilo.css", "favicon.svg")}
    if p.endswith(".zip"):
        z = zipfile.ZipFile(p)
        return {n: hashlib.sha256(z.read(n)).hexdigest() for n in z.namelist() if not n.endswith("/")}
    t = tarfile.open(p)
    return {os.path.normpath(m.name): hashlib.sha256(t.extractfile(m).read()).hexdigest()
            for m in t.getmembers() if m.isfile()}
a, b = files(old), files(new)
for n in sorted(set(a) | set(b)):
    if a.get(n) != b.get(n):
        print("/" + n)
        if n == "index.html" or n.endswith("/index.html"):
            print("/" + n[:-len("index.html")])
PY
}

P1=$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz
P2=$PKGDIR/20240602_2230_PREP_PRES_NAL.zip
P3=$PKGDIR/20240602_2245_PREP_PRES_NAL.zip

# 1. A publish purges every target.
want_paths - "$P1" >"$T/want1"
put "$P1"
wait_ok 20240602_2215 "${targets[@]}"
expect_match "$(grep -m1 'purge ok target=cf cut=20240602_2215' "$LOG")" \
	"^.*purge ok target=cf cut=20240602_2215 paths=$(wc -l <"$T/want1") ms=[0-9]+ status=200 requests=$(( ($(wc -l <"$T/want1") + 6) / 7 )) attempt=1$" \
	"the ok line: paths, ms, status, the batches of 7 (cf's lines: $(grep 'purge .*target=cf ' "$LOG" | tr '\n' '|'))"
check_requests 20240602_2215 "$T/want1"

# 2. Faults on the next cut: a 503 (cloudflare), a 429 with Retry-After: 1
# (fastly), a stall past the 1 s timeout (webhook), a 403 (cloudfront).
curl -sS -X POST "$S/_reset" >/dev/null
fault "kind=cloudflare&status=503&n=1"
fault "kind=fastly&status=429&retry_after=1&n=1"
fault "kind=webhook&stall=3&n=1"
fault "kind=cloudfront&status=403&n=1"
want_paths "$P1" "$P3" >"$T/want3"
put "$P3"
wait_ok 20240602_2245 ban pv cf cft fastly hook
grep -Eq "purge retry target=cft? cut=20240602_2245 paths=[0-9]+ ms=[0-9]+ status=503 why=\"HTTP 503\" attempt=1 wait_ms=[0-9]+" "$LOG" ||
	fail "no retry line after the 503: $(grep 'purge retry' "$LOG")"
ok "a 503 is retried, then ok"
line=$(grep "purge retry target=fastly cut=20240602_2245" "$LOG") || fail "no retry after the 429"
expect_match "$line" "status=429 why=\"HTTP 429\" attempt=1 wait_ms=(1[0-9]{3})$" "a 429 waits its Retry-After (1 s)"
line=$(grep "purge retry target=hook cut=20240602_2245" "$LOG") || fail "no retry after the stall"
expect_match "$line" "paths=[0-9]+ ms=(9[0-9]{2}|1[0-9]{3}) why=\"[^\"]*timed out[^\"]*\" attempt=1" "a stalled webhook times out after 1 s and is retried"
for ((i = 0; i < 50; i++)); do grep -q "purge failed target=cfront" "$LOG" && break; sleep 0.1; done
line=$(grep "purge failed target=cfront cut=20240602_2245" "$LOG") || fail "no failed line after the 403"
expect_match "$line" "paths=[0-9]+ ms=[0-9]+ status=403 why=\"HTTP 403\" attempt=1 action=\"the CDN refused" "a 403 fails at once, with an action"
sleep 0.6   # longer than any back-off: a retry would have come by now
n=$(reqs | python3 -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if r["kind"] == "cloudfront"))')
expect_eq "$n" 1 "the 403 was not retried"
check_requests 20240602_2245 "$T/want3" cloudfront   # its 403: checked above

# 3. A newer cut supersedes a retrying one: the webhook answers 503 with
# Retry-After: 2; the next cut comes during the wait; one request then
# carries the newer cut and the union of both cuts' paths.
curl -sS -X POST "$S/_reset" >/dev/null
fault "kind=webhook&status=503&retry_after=2&n=1"
put "$P2" 20240602_2250_PREP_PRES_NAL.zip
for ((i = 0; i < 50; i++)); do grep -q "purge retry target=hook cut=20240602_2250" "$LOG" && break; sleep 0.1; done
grep -q "purge retry target=hook cut=20240602_2250" "$LOG" || fail "the webhook did not retry"
put "$P1" 20240602_2255_PREP_PRES_NAL.tar.gz
wait_ok 20240602_2255 hook
expect_log "purge superseded target=hook cut=20240602_2250 by=20240602_2255" "the newer cut superseded the retrying one"
want_paths "$P3" "$P2" >"$T/wa"
want_paths "$P2" "$P1" >"$T/wb"
reqs | python3 -c '
import json, sys, urllib.parse
a, b = (set(filter(None, open(f).read().split("\n"))) for f in sys.argv[1:3])
hooks = [json.loads(r["body"]) for r in json.load(sys.stdin) if r["kind"] == "webhook" and r.get("status") == 204]
assert len(hooks) == 1 and hooks[0]["cut"] == "20240602_2255", [h["cut"] for h in hooks]
got = {urllib.parse.unquote(p) for p in hooks[0]["paths"]}
assert a | b <= got, sorted((a | b) - got)[:5]
' "$T/wa" "$T/wb" || fail "the superseding webhook does not carry the union of both cuts' paths"
ok "one webhook for both cuts, with the union of their paths"
grep -q "purge ok target=hook cut=20240602_2250 " "$LOG" && fail "the superseded cut was purged by itself too"

# 4. A rollback purges too (to seq 2, the 22:45 cut: the cut served now
# has the 22:15 package's bytes).
curl -sS -X POST "$S/_reset" >/dev/null
mark=$(wc -l <"$LOG")
out=$("$PREPD" rollback 2 --admin "127.0.0.1:$APORT" --data "$data") || fail "rollback: $out"
for ((i = 0; i < 100; i++)); do
	[[ $(tail -n +"$mark" "$LOG" | grep -c "purge ok target=.* cut=20240602_2245 ") -ge 7 ]] && break
	sleep 0.1
done
[[ $(tail -n +"$mark" "$LOG" | grep -c "purge ok target=.* cut=20240602_2245 ") -ge 7 ]] ||
	fail "the rollback did not purge every target: $(tail -n +"$mark" "$LOG" | grep -E 'purge|event')"
reqs | python3 -c '
import json, sys
r = [json.loads(x["body"]) for x in json.load(sys.stdin) if x["kind"] == "webhook"]
assert r and r[-1]["kind"] == "rollback" and r[-1]["cut"] == "20240602_2245", r
' || fail "the rollback's webhook"
ok "a rollback purges every target; the webhook says kind=rollback"

# 5. GET /status: each target's state.
st=$(curl -sS -H "Authorization: Bearer $(cat "$data/admin.token")" "http://127.0.0.1:$APORT/status")
python3 -c '
import json, sys
s = json.loads(sys.argv[1])
p = {t["name"]: t for t in s["purge"]}
assert sorted(p) == sorted(["ban", "pv", "cf", "cft", "cfront", "fastly", "hook"]), sorted(p)
for n, t in p.items():
    assert t["last_cut"] == "20240602_2245" and t["result"] == "ok" and t["last_ok"], (n, t)
assert p["cfront"]["failures"] == 1 and p["cfront"]["type"] == "cloudfront", p["cfront"]
assert p["fastly"]["retries"] >= 1 and p["hook"]["superseded"] >= 1, (p["fastly"], p["hook"])
assert p["ban"]["by"] == "cut" and p["pv"]["by"] == "paths" and p["fastly"]["by"] == "tags"
' "$st" || fail "/status purge: $st"
ok "/status shows each target: last cut, result, failures, retries, superseded"

m=$(curl -sS -H "Authorization: Bearer $(cat "$data/admin.token")" "http://127.0.0.1:$APORT/metrics")
# five publications: 22:15, 22:45 (its 403), 22:50, 22:55, the rollback
grep -q '^prepd_purges_total{target="cfront",result="failed"} 1$' <<<"$m" &&
	grep -q '^prepd_purges_total{target="cfront",result="ok"} 4$' <<<"$m" &&
	grep -Eq '^prepd_purge_retries_total\{target="fastly"\} [1-9]' <<<"$m" &&
	grep -q '^prepd_purge_pending{target="hook"} 0$' <<<"$m" ||
	fail "/metrics: $(grep purge <<<"$m")"
if python3 -c 'import prometheus_client' 2>/dev/null; then
	python3 -c 'import sys; from prometheus_client.parser import text_string_to_metric_families as p; list(p(sys.stdin.read()))' <<<"$m" ||
		fail "/metrics does not parse"
fi
ok "/metrics counts each target's purges, retries and pending"

# Secrets are never logged.
for s in cf-T0ken-5ecret fastly-K3y-5ecret 'aws/Secr3t+Key' hook-5ecret-hmac; do
	grep -qF -- "$s" "$LOG" && fail "a secret is in the log"
done
ok "no secret in the log"

# A bad purge config is refused with its line, and a missing secret at start.
printf '[purge x]\ntype = cloudflare\nzone = z\n' >"$T/bad.ini"
out=$("$PREPD" --check-config --config "$T/bad.ini" --data "$T/chk2" 2>&1) && fail "a cloudflare target without a secret is accepted"
expect_match "$out" "cloudflare needs zone = the zone id and secret_file" "a target missing its secret is refused"
printf '[purge x]\ntype = fastly\nservice = s\ntags = a\nsecret_file = %s\n' "$T/nope" >"$T/bad2.ini"
out=$("$PREPD" --config "$T/bad2.ini" --data "$T/chk3" --http 127.0.0.1:0 2>&1) && fail "prepd started without its secret file"
expect_match "$out" "purge start-failed error=\"\[purge x\] secret_file $T/nope: No such file" "a missing secret file stops the start, named"
printf '[purge bad name]\ntype = webhook\n' >"$T/bad3.ini"
out=$("$PREPD" --check-config --config "$T/bad3.ini" --data "$T/chk4" 2>&1) && fail "a bad section name is accepted"
expect_match "$out" "bad3.ini:2: \[purge bad name\]: expected a name" "a bad [purge NAME] gets its FILE:LINE"

stop_prepd
done_testing
