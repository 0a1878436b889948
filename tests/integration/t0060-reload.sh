#!/usr/bin/env bash
# SIGHUP reloads the config: each reloadable setting takes effect while a
# load client runs, with no failed request and no dropped connection; a
# setting that is not reloadable is logged ("restart to apply") and kept;
# a broken config (a bad value, an unknown key, an unreadable certificate)
# changes nothing and is logged with FILE:LINE.
source "$SRCDIR/tests/integration/lib.sh"

"$SRCDIR/certs/make-local-cert" "$T/c" >/dev/null
cp "$T/c/cert.pem" "$T/cert.pem"
cp "$T/c/key.pem" "$T/key.pem"
ini=$T/prepd.ini
write_ini() {   # write_ini KEY=VALUE... : the base config with these lines changed
		# (SECTION.KEY=VALUE adds a key the base does not have)
	cat >"$ini" <<INI
[server]
admin = 127.0.0.1:0
frame_ancestors = 'self'
spa_fallback = /index.html
log_level = info
timeout = 30
[tls]
cert = $T/cert.pem
key = $T/key.pem
[cache]
short = public, max-age=10
[ingest]
poll = 30
period = 20m
verify = none
[shield]
rate = 1000
rate_burst = 2000
exempt = 127.0.0.0/8 ::1
[placeholder]
institute = Instituto Uno
INI
	local kv
	for kv in "$@"; do
		local k=${kv%%=*} v=${kv#*=}
		if grep -q "^$k = " "$ini"; then
			local e=${v//\\/\\\\}
			e=${e//&/\\&}
			sed -i "s|^$k = .*|$k = ${e//|/\\|}|" "$ini"
		elif [[ $k == *.* ]]; then   # SECTION.KEY: a key the base has not
			printf '[%s]\n%s = %s\n' "${k%%.*}" "${k#*.}" "$v" >>"$ini"
		else
			printf '%s = %s\n' "$k" "$v" >>"$ini"
		fi
	done
}
write_ini
start_prepd reload --config "$ini" --https 127.0.0.1:0
APORT=$(sed -n 's/.*proto=admin addr=[^ ]*:\([0-9]*\).*/\1/p' "$LOG" | head -n1)
admin=http://127.0.0.1:$APORT
auth=(-H "Authorization: Bearer $(cat "$T/reload/var/admin.token")")
base=http://127.0.0.1:$HTTP_PORT

# hup NAME: sends SIGHUP and waits for that reload's verdict line.
hup() {
	local before
	before=$(grep -c 'server reload-done\|server reload-refused' "$LOG" || true)
	kill -HUP "$PID"
	local i
	for ((i = 0; i < 100; i++)); do
		(($(grep -c 'server reload-done\|server reload-refused' "$LOG" || true) > before)) && return 0
		sleep 0.05
	done
	fail "$1: no reload verdict in the log"
}

# 1. The placeholder is rebuilt with the new [placeholder] settings.
curl -s "$base/" | grep -q 'Instituto Uno' || fail "placeholder names the institute"
write_ini "institute=Instituto <Dos> & Cía"
hup placeholder
for ((i = 0; i < 50; i++)); do
	curl -s "$base/" | grep -q 'Instituto &lt;Dos&gt; &amp; Cía' && break
	sleep 0.1
done
((i < 50)) || fail "the placeholder did not change: $(curl -s "$base/" | grep -o '<small>.*</small>')"
expect_log "config reloaded key=placeholder.institute old=\"Instituto Uno\" new=\"Instituto <Dos> & Cía\"" \
	"the placeholder's institute changes on SIGHUP, HTML-escaped, and the log says old and new"

# A cut to serve.
code=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" -T "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" \
	"$admin/upload/20240602_2215_PREP_PRES_NAL.tar.gz")
expect_eq "$code" 202 "a package is uploaded"
expect_log 'event publish seq=1' "its cut is published"

# 2. Under load, every reloadable setting of the response policy, the
# ingest and the log at once, and one that is not reloadable.
/usr/bin/python3 - "$HTTP_PORT" "$HTTPS_PORT" "$T/load" <<'PY' &
import http.client, os, ssl, sys, time
port, sport, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ok = bad = 0
errors = []
ctx = ssl._create_unverified_context()
keep = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
tkeep = http.client.HTTPSConnection("127.0.0.1", sport, timeout=5, context=ctx)
end = time.time() + 30
while time.time() < end and not os.path.exists(out + ".stop"):
    for c, fresh in ((keep, False), (tkeep, False),
                     (http.client.HTTPConnection("127.0.0.1", port, timeout=5), True)):
        try:
            c.request("GET", "/index.html")
            r = c.getresponse()
            r.read()
            if r.status == 200:
                ok += 1
            else:
                bad += 1
                errors.append(f"status {r.status}")
        except Exception as e:   # a dropped keep-alive connection is a failure
            bad += 1
            errors.append(repr(e))
        if fresh:
            c.close()
with open(out, "w") as f:
    f.write(f"{ok} {bad} {'; '.join(errors[:5])}\n")
PY
LOADPID=$!
PIDS+=("$LOADPID")
sleep 0.5
get_head() { curl -s -D "$T/head" -o "$T/body" -w '%{http_code}' "$@"; }
code=$(get_head "$base/index.html")
expect_eq "$(header Cache-Control)" "public, max-age=10" "Cache-Control before"
code=$(get_head "$base/no/such/route")
expect_eq "$code" 200 "the SPA fallback answers an extension-less path before"
write_ini "short=public, max-age=77" "frame_ancestors=https://news.example" "spa_fallback=off" \
	"poll=7" "period=1h" "verify=sha256" "ingest.upstream=https://127.0.0.1:9/PREP.zip" "timeout=99"
printf '[headers]\n/index.html = X-Reloaded: yes\n' >>"$ini"
sleep 0.3
hup "all at once"
sleep 0.5
for ((i = 0; i < 50; i++)); do
	code=$(get_head "$base/index.html")
	[[ $(header X-Reloaded) == yes ]] && break
	sleep 0.1
done
expect_eq "$(header X-Reloaded)" yes "a [headers] rule added on SIGHUP is on the cut served"
expect_eq "$(header Cache-Control)" "public, max-age=77" "[cache] short changes on SIGHUP"
expect_eq "$(header Content-Security-Policy)" "frame-ancestors https://news.example" \
	"frame_ancestors changes on SIGHUP"
code=$(get_head "$base/no/such/route")
expect_eq "$code" 404 "spa_fallback = off takes effect on SIGHUP"
expect_log 'ingest reload-rebuilt cut=20240602_2215' "the cut served is rebuilt with the new policy, same cut"
expect_log 'ingest reload-taken .*upstream=https://127.0.0.1:9/PREP.zip verify=sha256 poll_s=7 period_s=3600' \
	"the ingest thread takes the upstream, verification, poll and period"
curl -s "${auth[@]}" "$admin/status" >"$T/status.json"
/usr/bin/python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["period_s"]==3600 and s["next_poll"], s' \
	"$T/status.json" || fail "/status does not show the new period and a poll: $(cat "$T/status.json")"
ok "/status shows period_s=3600 and a next poll"
for k in cache.short server.frame_ancestors server.spa_fallback ingest.poll ingest.period ingest.verify ingest.upstream; do
	grep -q "config reloaded key=$k old=" "$LOG" || fail "no 'config reloaded key=$k' line"
done
ok "one 'config reloaded key=... old=... new=...' line per changed key"
expect_log 'config not-reloaded key=server.timeout old=30 new=99 action="restart to apply' \
	"a setting that is not reloadable is logged and kept"
touch "$T/load.stop"
wait "$LOADPID" || true
read -r good failed errs <"$T/load" || fail "the load client wrote nothing"
((good > 50)) || fail "the load client made only $good requests"
expect_eq "$failed" 0 "no failed request and no dropped connection during the reload ($good requests; $errs)"

# 3. The shield's rules: a low rate for loopback, then back.
write_ini "short=public, max-age=77" "frame_ancestors=https://news.example" "spa_fallback=off" \
	"poll=7" "period=1h" "verify=sha256" "ingest.upstream=https://127.0.0.1:9/PREP.zip" "timeout=99" \
	"rate=2" "rate_burst=2" "exempt=off"
hup shield
n429=0
for i in 1 2 3 4 5 6 7 8; do
	[[ $(curl -s -o /dev/null -w '%{http_code}' "$base/index.html") == 429 ]] && n429=$((n429 + 1))
done
((n429 >= 4)) || fail "rate = 2 on SIGHUP: only $n429 of 8 quick requests got 429"
ok "[shield] rate, rate_burst and exempt change on SIGHUP ($n429 of 8 got 429)"

# 4. log_level: warn hides the next reload's info lines.
write_ini "log_level=warn"
kill -HUP "$PID"   # its own "reload-done" is info: the level is already warn
expect_log 'config reloaded key=server.log_level old=info new=warn' "the log level change is logged"
sleep 0.5
lines=$(wc -l <"$LOG")
write_ini "log_level=warn" "short=public, max-age=5"
kill -HUP "$PID"
sleep 1
if tail -n +"$((lines + 1))" "$LOG" | grep -q ' info '; then
	fail "info lines after log_level = warn"
fi
ok "log_level = warn takes effect on SIGHUP"
write_ini
hup "back to info"
code=$(get_head "$base/index.html")
expect_eq "$(header Cache-Control)" "public, max-age=10" "the base config is back"

# 5. Broken configs change nothing, each error with FILE:LINE.
write_ini "short=public, max-age=33" "rate=abc"
printf 'colour = blue\n' >>"$ini"
hup "bad value"
expect_log "server reload-error error=\"$ini:[0-9]*: rate = 'abc': expected" "a bad value is logged with FILE:LINE"
expect_log "server reload-error error=\"$ini:[0-9]*: unknown key 'colour' in \\[placeholder\\]" \
	"an unknown key is logged with FILE:LINE, in the same reload"
expect_log 'server reload-refused .*errors=2' "the config is refused whole"
code=$(get_head "$base/index.html")
expect_eq "$(header Cache-Control)" "public, max-age=10" "nothing of a refused config is applied"
write_ini "short=public, max-age=33"
echo "not a certificate" >"$T/cert.pem"
hup "bad certificate"
expect_log "server reload-error error=\"$ini:[0-9]*: .*$T/cert.pem" "an unreadable certificate is logged with FILE:LINE"
code=$(get_head "$base/index.html")
expect_eq "$(header Cache-Control)" "public, max-age=10" "a config with a bad certificate changes nothing"
code=$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$HTTPS_PORT/index.html")
expect_eq "$code" 200 "HTTPS still serves with the certificate it had"
cp "$T/c/cert.pem" "$T/cert.pem"
hup "fixed"
code=$(get_head "$base/index.html")
expect_eq "$(header Cache-Control)" "public, max-age=33" "once fixed, the next SIGHUP applies it"
stop_prepd
done_testing
