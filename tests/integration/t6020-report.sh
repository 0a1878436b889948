#!/usr/bin/env bash
# The memoria técnica of a short night (R18, R19): prepsim drops a few cuts
# into the spool (one with a wrong hash) while curl loops load prepd on
# 127.0.0.1 over HTTP and HTTPS; then `prepd report` writes the HTML, the
# PDF (Chromium) and the access log bundle. Checks: the publication
# timeline and the refusal, the self-probe's rows and availability, the
# incident log (start, refusal, stop), the bundle's lines and
# SHA256SUMS (sha256sum -c), the PDF; then headless Chromium opens the
# report (no console error, every chart with its title, the data marks)
# and the dashboard with Basic auth (the cut served), screenshots in the
# build folder. The audience figures need the statistics (DATA/stats.db's
# minute table, written by the stats sink): without them the report must
# say "sin datos", and this test checks that it does.
. "$(dirname "$0")/lib.sh"
sim=$SRCDIR/prepsim/prepsim.py
shots=${SCREENSHOTS:-$PWD}
mkdir -p "$shots"
"$SRCDIR/certs/make-local-cert" "$T/cert" >/dev/null
cat >"$T/night.ini" <<'INI'
[ingest]
verify = sha256
evidence_wait = 3
cut_json = /assets/JSON/PRESIDENTE/NACIONAL/Presidente_NACIONAL.json
cut_key = ultimoCorte
[probe]
interval = 1
[placeholder]
difusor = Periódico <b>de prueba</b>
INI
spool=$T/spool
mkdir -p "$spool"
alog=$T/access.log
start_prepd night --config "$T/night.ini" --spool "$spool" --https 127.0.0.1:0 \
	--cert "$T/cert/cert.pem" --key "$T/cert/key.pem" --admin 127.0.0.1:0 --access-log "$alog"
data=$T/night/var
admin_port=$(sed -n 's/.*proto=admin addr=[^ ]*:\([0-9]*\).*/\1/p' "$LOG" | head -n1)
token=$(cat "$data/admin.token")

# Load: visitors reading pages and polling the JSON, framed by a portal.
load() {
	local end=$((SECONDS + $1)) i=0
	while ((SECONDS < end)); do
		i=$((i + 1))
		curl -s -o /dev/null -o /dev/null -A "visitante-$((i % 7))" -e "https://portal.example/nota" \
			"http://127.0.0.1:$HTTP_PORT/" "http://127.0.0.1:$HTTP_PORT/assets/JSON/PRESIDENTE/NACIONAL/Presidente_NACIONAL.json" || true
		curl -sk -o /dev/null -A "visitante-https" "https://127.0.0.1:$HTTPS_PORT/" || true
	done
}
load 12 &
loader=$!
PIDS+=("$loader")
python3 "$sim" run --spool "$spool" --every 1s --cuts 5 --kind incremental \
	--faults badhash --seed r4 >"$T/sim.out" 2>&1 ||
	fail "prepsim run: $(cat "$T/sim.out")"
good=$(grep '^prepsim cut=' "$T/sim.out" | grep -c 'faults=none')
bad=$(grep '^prepsim cut=' "$T/sim.out" | grep -vc 'faults=none')
[[ $good -ge 2 && $bad -ge 1 ]] || fail "seed r4 gave good=$good bad=$bad cuts; pick another seed"
for ((i = 0; i < 100; i++)); do
	(( $(grep -c 'ingest publish\|ingest refuse' "$LOG") >= good + bad )) && break
	sleep 0.1
done
expect_eq "$(grep -c 'ingest publish' "$LOG")" "$good" "the $good good cuts are published"
wait "$loader" || true
get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
cut=$(header X-PREP-Cut | sed -n 's/.*label=\([^;]*\).*/\1/p')
[[ -n $cut ]] || fail "no cut label in X-PREP-Cut"

# The incident log while prepd runs.
expect_eq "$(head -n1 "$data/incidents.log" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["kind"], j["previous"])')" \
	"start first" "the incident log starts with a start line"
expect_eq "$(grep -c '"kind":"refused"' "$data/incidents.log")" "$bad" "each refused package is an incident"

# The self-probe: both listeners answered, with the cut served.
sqlite3 "$data/stats.db" "SELECT listener, ok, status, cut FROM probe" >"$T/probe.txt" ||
	fail "no probe table in stats.db"
grep -q "^http|1|200|" "$T/probe.txt" || fail "no ok probe of http: $(cat "$T/probe.txt")"
grep -q "^https|1|200|" "$T/probe.txt" || fail "no ok probe of https: $(cat "$T/probe.txt")"
grep -q "^http|1|200|$cut\$" "$T/probe.txt" || fail "the probe never saw cut $cut"
ok "the self-probe recorded both listeners and the cut served"

# The dashboard's JSON with the bearer token, and Basic refused for a POST.
code=$(get "http://127.0.0.1:$admin_port/dashboard.json" -H "Authorization: Bearer $token")
expect_eq "$code" 200 "GET /dashboard.json with the token"
expect_eq "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["cut"]["label"], j["state"] in ("al_dia","atrasado","muy_atrasado"))' "$T/body")" \
	"$cut True" "the dashboard JSON names the cut served and a state"
expect_eq "$(get "http://127.0.0.1:$admin_port/" -u "operador:$token")" 200 "GET / with the token as the Basic password"
expect_match "$(header Content-Security-Policy)" "script-src 'sha256-" "the page's CSP allows only its own script"
expect_eq "$(get "http://127.0.0.1:$admin_port/" -u "operador:wrong")" 401 "a wrong Basic password is refused"
expect_match "$(grep -i '^www-authenticate: basic' "$T/head")" 'realm="prepd"' "401 asks a browser for Basic"
expect_eq "$(get "http://127.0.0.1:$admin_port/rollback/1" -X POST -u "operador:$token")" 401 \
	"Basic is not enough for a POST (a browser would send it for any site)"

browser=yes
chromium=${CHROMIUM:-/usr/bin/chromium}
if [[ ! -x $chromium ]] || ! command -v node >/dev/null ||
	[[ ! -d $SRCDIR/tests/browser/node_modules/playwright-core ]]; then
	browser=no
fi
export CHROMIUM=$chromium   # prepd report prints the PDF with the same one
if [[ $browser == yes ]]; then
	out=$(cd "$SRCDIR/tests/browser" && node report.mjs /dev/null "http://127.0.0.1:$admin_port/" \
		"$token" "$cut" "$shots" 2>&1) && fail "report.mjs accepted an empty file as the report"
	# (the real run is below, after the report is made)
fi
stop_prepd
expect_eq "$(tail -n1 "$data/incidents.log" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["kind"], j["clean"])')" \
	"stop True" "a clean stop is the last incident line"

# The report, from the data folder of the stopped prepd.
"$PREPD" report --data "$data" --config "$T/night.ini" --access-log "$alog" --out "$T/out" \
	>"$T/report.out" 2>&1 || fail "prepd report failed: $(cat "$T/report.out")"
html=$T/out/memoria-tecnica.html
[[ -s $html ]] || fail "no memoria-tecnica.html: $(cat "$T/report.out")"
ok "prepd report wrote the HTML"
grep -q 'period .* America/Mexico_City' "$T/report.out" || fail "the report does not state its period: $(cat "$T/report.out")"
ok "prepd report states the period it took from the journal"
! grep -q '<b>de prueba' "$html" || fail "the difusor's name is not escaped"
grep -q 'Periódico &lt;b&gt;de prueba&lt;/b&gt;' "$html" || fail "the difusor's name is missing"
ok "names from the settings are HTML-escaped"
rows=$(grep -o 'rechazado (cuarentena)' "$html" | wc -l)
expect_eq "$rows" "$bad" "the timeline lists the refused package"
pub=$(grep -o '<td class="ok">publicado' "$html" | wc -l)
expect_eq "$pub" "$good" "the timeline lists every published cut"
grep -q 'Disponibilidad del periodo' "$html" || fail "no availability table"
grep -q '<td>https</td>' "$html" || fail "no https availability row"
ok "availability from the probe"
if sqlite3 "$data/stats.db" .tables 2>/dev/null | grep -qw minute; then
	marks=$(grep -o '<circle class="pt" data-series="0"' "$html" | wc -l)
	((marks > 0)) || fail "stats.db has the minute table but the charts have no point of the night"
	ok "the audience charts have $marks points of the night"
	stats=yes
else
	grep -q 'Sin datos de audiencia' "$html" || fail "no statistics and the report does not say so"
	ok "no statistics recorded (no stats sink in this build): the report says 'sin datos'"
	stats=no
fi

# The log bundle.
(cd "$T/out/logs" && sha256sum -c --quiet SHA256SUMS) || fail "sha256sum -c SHA256SUMS failed"
ok "sha256sum -c accepts logs/SHA256SUMS"
nfiles=$(wc -l <"$T/out/logs/SHA256SUMS")
((nfiles >= 1)) || fail "no log file in the bundle"
zcat "$T/out/logs"/access-*.log.gz >"$T/bundle.txt"
expect_eq "$(wc -l <"$T/bundle.txt")" "$(wc -l <"$alog")" "the bundle holds every line of the night"
cmp -s "$T/bundle.txt" "$alog" || fail "the bundle's lines differ from the access log's"
ok "the bundle's lines are the access log's, unchanged"

if [[ ! -x $chromium ]]; then
	grep -q 'no PDF: Chromium is not installed' "$T/report.out" || fail "no Chromium and no line saying so"
	echo "SKIP: the PDF and the browser checks: Chromium is not installed (script/bootstrap installs it)"
	done_testing
	exit 0
fi
pdf=$T/out/memoria-tecnica.pdf
[[ $(head -c5 "$pdf") == "%PDF-" ]] || fail "no PDF: $(cat "$T/report.out")"
pages=$(python3 -c 'import re,sys; print(len(re.findall(rb"/Type\s*/Page(?![s\w])", open(sys.argv[1],"rb").read())))' "$pdf")
((pages > 1)) || fail "the PDF has $pages page(s); the report's sections start pages"
ok "the PDF is a PDF of $pages pages"
cp "$pdf" "$shots/report-memoria-tecnica.pdf"
if [[ $browser == no ]]; then
	echo "SKIP: the browser checks: node or playwright-core is missing (npm ci in tests/browser)"
	done_testing
	exit 0
fi

# The browser: the report, then the dashboard of a new prepd on the same
# data (the cut is replayed) with Basic auth.
start_prepd night --config "$T/night.ini" --admin 127.0.0.1:0
admin_port=$(sed -n 's/.*proto=admin addr=[^ ]*:\([0-9]*\).*/\1/p' "$LOG" | head -n1)
expect_eq "$(grep "\"kind\":\"start\"" "$data/incidents.log" | tail -n1 | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["kind"], j["previous"])')" \
	"start clean" "the restart after a clean stop says so"
out=$(cd "$SRCDIR/tests/browser" && node report.mjs "$html" "http://127.0.0.1:$admin_port/" \
	"$token" "$cut" "$shots" 2>&1) || fail "browser: $out"
echo "$out" | sed 's/^/# /'
charts=$(echo "$out" | sed -n 's/^charts=\([0-9]*\).*/\1/p')
marks=$(echo "$out" | sed -n 's/.* marks=\([0-9]*\).*/\1/p')
expect_eq "$charts" 5 "Chromium shows the 5 charts"
if [[ $stats == yes ]]; then
	((marks > 0)) || fail "the charts have no data marks"
	ok "the charts have $marks data marks"
fi
echo "$out" | grep -q '^state=' || fail "the dashboard showed no state"
ok "the dashboard, opened with Basic auth, shows cut $cut"
for f in report-1-memoria.png report-2-dashboard.png; do
	[[ -s $shots/$f ]] || fail "no screenshot $f"
done
ok "screenshots in $shots"
stop_prepd
done_testing
