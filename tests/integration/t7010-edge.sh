#!/usr/bin/env bash
# The edge (R14, R15): Debian's Varnish, running docs/cdn/varnish.vcl, in
# front of Debian's HAProxy, running docs/cdn/haproxy.cfg, balancing three
# prepd origins over PROXY protocol v2, all on loopback. A site built like
# an Angular app (tests/integration/edgesite.py: index.html, main.<h>.js
# rendering the page from a JSON file and lazy-loading chunk-<h>.js; every
# hash changes at every cut) is published cut after cut to the origins,
# each through its spool: every cut reaches the origins 0, 3 and 15 s apart
# (one origin at 0 s, the next at 3 s, the last at 15 s), a new cut every
# 4 s (overlapping: an origin serves a cut up to three newer than the last
# one's). Meanwhile a crawler (tests/integration/edge.py) and
# headless Chromium (tests/browser/edge.mjs) load the site at the edge.
# Asserts: no response other than 200/304 at the edge, no blank page, the
# edge's cut never goes backwards, and every cut is at the edge within 1 s
# of the last origin publishing it.
#
# The origins purge the edge ([purge edge], a Varnish target on the VCL's
# purge listener) once their fleet ([fleet] peers, the other two) serves a
# cut. A prepd without those settings runs without them, so the same test
# shows what the edge does without purge and fleet view (it fails).
#
# EDGE_WITHOUT=purge,fleet,skew (any of them) leaves those settings out,
# to see which checks fail without each feature (skew: [cache] keep_cuts
# = 0). EDGE_CUTS (default 10) cuts, EDGE_PERIOD (default 4) s apart at
# least, EDGE_SPREADS (default 15; a list is taken in turn, e.g.
# 15,0,3: 0 puts a cut on every origin at once, 3 on the last two 3 s
# after the first): about 55 s of cuts, 70 s in all. EDGE_VISITORS and EDGE_POLLERS
# (default 2 and 1) set the crawler's threads; EDGE_REPORT=FILE writes the
# edge's and the origins' request counts there (bench/edge). The ASan build runs it the same
# way: the edge, not prepd, serves nearly every request.
. "$(dirname "$0")/lib.sh"

command -v varnishd >/dev/null || skip "varnishd is not installed: script/bootstrap installs Debian's varnish"
command -v haproxy >/dev/null || skip "haproxy is not installed: script/bootstrap installs Debian's haproxy"
# EDGE_KEEP=DIR keeps a copy of the test's folder (logs, configs) there.
if [[ -n ${EDGE_KEEP:-} ]]; then
	eval "$(declare -f cleanup | sed '1s/cleanup/lib_cleanup/')"
	cleanup() { rm -rf "$EDGE_KEEP"; cp -a "$T" "$EDGE_KEEP" 2>/dev/null || true; lib_cleanup; }
fi
cuts=${EDGE_CUTS:-10}
without=${EDGE_WITHOUT:-}
[[ -z $without ]] || echo "# without: $without (EDGE_WITHOUT)"
period=${EDGE_PERIOD:-4}

browser=yes
chromium=${CHROMIUM:-/usr/bin/chromium}
if [[ ! -x $chromium ]]; then
	browser="skipped: Chromium is not installed (script/bootstrap installs Debian's chromium)"
elif ! command -v node >/dev/null; then
	browser="skipped: node is not installed (script/bootstrap installs nodejs)"
elif [[ ! -d $SRCDIR/tests/browser/node_modules/playwright-core ]]; then
	fail "playwright-core missing: run script/bootstrap (npm ci in tests/browser)"
fi

# Free loopback ports: three origins, HAProxy, the edge, its purge listener.
read -r pa pb pc plb pedge ppurge < <(python3 - <<'PY'
import socket
ss = [socket.socket() for _ in range(6)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])
PY
)

python3 "$SRCDIR/tests/integration/edgesite.py" "$T/pk" $(seq 0 "$cuts") >"$T/pkgs.list" ||
	fail "edgesite.py could not make the packages"

# What this prepd knows: the purge targets and the fleet view (issue 10).
cat >"$T/probe.ini" <<INI
[fleet]
peers = http://127.0.0.1:$pb/
[purge edge]
type = varnish
url = http://127.0.0.1:$ppurge/
host = 127.0.0.1:$pedge
INI
if "$PREPD" --config "$T/probe.ini" --data "$T/probe" --check-config >"$T/probe.out" 2>&1; then
	features=yes
else
	features=no
	echo "# this prepd has no [purge]/[fleet] settings ($(grep -m1 -i 'unknown\|error' "$T/probe.out" || true)): running without purge and fleet view"
fi

declare -A port=([a]=$pa [b]=$pb [c]=$pc)
declare -A opid
for o in a b c; do
	mkdir -p "$T/$o/spool"
	{
		echo "[server]"
		echo "access_log = $T/$o.access"
		echo "threads = 2"
		echo "[shield]"
		echo "proxy_protocol = v2"
		echo "trusted_proxies = 127.0.0.2"
		echo "[ingest]"
		echo "spool = $T/$o/spool"
		if [[ ,$without, == *,skew,* ]]; then
			echo "[cache]"
			echo "keep_cuts = 0"
		fi
		if [[ $features == yes && ,$without, != *,fleet,* ]]; then
			echo "[fleet]"
			echo -n "peers ="
			for p in a b c; do [[ $p == "$o" ]] || echo -n " http://127.0.0.1:${port[$p]}/"; done
			echo
		fi
		if [[ $features == yes && ,$without, != *,purge,* ]]; then
			echo "[purge edge]"
			echo "type = varnish"
			echo "url = http://127.0.0.1:$ppurge/"
			echo "host = 127.0.0.1:$pedge"
		fi
	} >"$T/$o.ini"
	start_prepd "$o" --config "$T/$o.ini" --http "127.0.0.1:${port[$o]}"
	opid[$o]=$PID
done

# Cut 0 everywhere before the edge starts.
read -r _ label0 pkg0 _ < "$T/pkgs.list"
for o in a b c; do
	cp "$pkg0" "$T/$o/spool/.x" && mv "$T/$o/spool/.x" "$T/$o/spool/$(basename "$pkg0")"
done
for o in a b c; do
	for ((i = 0; i < 100; i++)); do
		curl -sS -D "$T/head" -o /dev/null "http://127.0.0.1:${port[$o]}/" 2>/dev/null &&
			[[ $(header X-PREP-Cut) == *"label=$label0"* ]] && break
		sleep 0.1
	done
	[[ $(header X-PREP-Cut) == *"label=$label0"* ]] || { LOG=$T/$o.log; fail "origin $o does not serve cut $label0"; }
done
ok "three origins serve the first cut $label0 (spool, PROXY v2 from 127.0.0.2 trusted)"

# HAProxy: docs/cdn/haproxy.cfg with the test's ports.
sed -e "s/127\.0\.0\.1:8090/127.0.0.1:$plb/" -e "s/127\.0\.0\.1:8081/127.0.0.1:$pa/" \
	-e "s/127\.0\.0\.1:8082/127.0.0.1:$pb/" -e "s/127\.0\.0\.1:8083/127.0.0.1:$pc/" \
	"$SRCDIR/docs/cdn/haproxy.cfg" >"$T/haproxy.cfg"
haproxy -c -f "$T/haproxy.cfg" >"$T/haproxy.check" 2>&1 || { cat "$T/haproxy.check" >&2; fail "haproxy refuses docs/cdn/haproxy.cfg"; }
haproxy -db -f "$T/haproxy.cfg" >"$T/haproxy.log" 2>&1 &
hpid=$!
PIDS+=("$hpid")

# Varnish: docs/cdn/varnish.vcl with the test's HAProxy port. -j none:
# the test's folder is private to its user, and varnishd's default jail
# would run the cache process as another user (vcache) that cannot read it.
sed -e "s/\.port = \"8090\";/.port = \"$plb\";/" "$SRCDIR/docs/cdn/varnish.vcl" >"$T/edge.vcl"
varnishd -F -j none -n "$T/varnish" -a "127.0.0.1:$pedge" -a "purge=127.0.0.1:$ppurge" \
	-f "$T/edge.vcl" -s malloc,64m -T none >"$T/varnish.log" 2>&1 &
vpid=$!
PIDS+=("$vpid")
# Steady before the first cut: the edge holds the page and the JSON of
# cut 0 (a hit, twice in a row) and each origin's purge of cut 0, retried
# since Varnish was not up when it was published, went through.
edge_steady() {
	local p
	for p in / /assets/data.json; do
		curl -sS -D "$T/head" -o /dev/null "http://127.0.0.1:$pedge$p" 2>/dev/null || return 1
		[[ $(header X-PREP-Cut) == *"label=$label0"* && $(header X-Cache) == HIT ]] || return 1
	done
	[[ $features == no || ,$without, == *,purge,* ]] && return 0
	for p in a b c; do grep -q "purge ok .*cut=$label0" "$T/$p.log" || return 1; done
}
steady=0
for ((i = 0; i < 150 && steady < 2; i++)); do
	if edge_steady; then steady=$((steady + 1)); else steady=0; fi
	kill -0 "$vpid" 2>/dev/null || { cat "$T/varnish.log" >&2; fail "varnishd exited"; }
	sleep 0.2
done
((steady == 2)) || {
	tail -n 20 "$T/varnish.log" "$T/haproxy.log" >&2
	grep 'purge' "$T/a.log" | tail -n 5 >&2
	fail "the edge does not serve cut $label0 from its cache (or a purge of it did not go through)"
}
ok "Varnish (docs/cdn/varnish.vcl) -> HAProxy (docs/cdn/haproxy.cfg, checks up) -> prepd serve $label0"

# Every request the edge answers from here on, as Varnish logged it.
varnishncsa -n "$T/varnish" -F '%m %s %U %{%s}t %{Varnish:handling}x %{X-PREP-Cut}o' -w "$T/edge.access" &
npid=$!
PIDS+=("$npid")

# Who may purge: only the purge listener, only from the ACL (127.0.0.2 is
# loopback but not in it), only prepd's two forms of X-PREP-Ban.
st=$(curl -sS -o /dev/null -w '%{http_code}' -X PURGE "http://127.0.0.1:$pedge/")
expect_eq "$st" 405 "PURGE on the public listener is refused"
st=$(curl -sS -o /dev/null -w '%{http_code}' -X BAN -H 'X-PREP-Ban: obj.status != 0' "http://127.0.0.1:$pedge/")
expect_eq "$st" 405 "BAN on the public listener is refused"
st=$(curl -sS -o /dev/null -w '%{http_code}' --interface 127.0.0.2 -X PURGE "http://127.0.0.1:$ppurge/")
expect_eq "$st" 403 "PURGE from an address outside the VCL's ACL is refused"
st=$(curl -sS -o /dev/null -w '%{http_code}' -X BAN -H 'X-PREP-Ban: obj.http.X-PREP-Cut ~ "."' "http://127.0.0.1:$ppurge/")
expect_eq "$st" 400 "a ban expression other than prepd's two is refused"

if [[ $browser == yes ]]; then
	CHROMIUM=$chromium node "$SRCDIR/tests/browser/edge.mjs" "http://127.0.0.1:$pedge/" \
		"$T/browser.jsonl" "$T/stop" 150 >"$T/browser.log" 2>&1 &
	bpid=$!
	PIDS+=("$bpid")
	browser_arg=(--browser "$T/browser.jsonl")
else
	echo "# browser part $browser"
	browser_arg=()
fi

rc=0
timeout 150 python3 "$SRCDIR/tests/integration/edge.py" --edge "http://127.0.0.1:$pedge/" \
	--pkgs "$T/pkgs.list" --period "$period" --spreads "${EDGE_SPREADS:-15}" --stop "$T/stop" \
	--origin "a=$T/a/spool=$T/a.log" --origin "b=$T/b/spool=$T/b.log" \
	--origin "c=$T/c/spool=$T/c.log" --out "$T/edge.json" "${browser_arg[@]}" \
	--visitors "${EDGE_VISITORS:-2}" --pollers "${EDGE_POLLERS:-1}" \
	>"$T/edge.out" 2>&1 || rc=$?
grep -v '^edge drop ' "$T/edge.out" | grep -v '^check ' || true
if [[ $browser == yes ]]; then wait "$bpid" || fail "browser: $(cat "$T/browser.log")"; fi
[[ $rc -le 1 ]] || fail "edge.py: $(tail -n 5 "$T/edge.out")"

# bench/edge's figures: what the edge answered, what reached the origins
# (their access logs are written within a second).
if [[ -n ${EDGE_REPORT:-} ]]; then
	sleep 2
	{
		varnishstat -n "$T/varnish" -1 -f MAIN.client_req -f MAIN.cache_hit \
			-f MAIN.cache_miss -f MAIN.cache_hitmiss -f MAIN.cache_hitpass \
			-f MAIN.backend_req -f MAIN.n_purges -f MAIN.bans_added |
			awk '{ print "varnish", $1, $2 }'
		for o in a b c; do
			# Visitors' requests only: not HAProxy's checks, not the
			# fleet's polls of the peers.
			echo "origin $o $(grep -v -c '"haproxy-check"\|"prepd-fleet/' "$T/$o.access" || true)"
			echo "purges $o $(grep -c 'purge ok' "$T/$o.log" || true)"
		done
	} >"$EDGE_REPORT"
	cp "$T/edge.json" "$EDGE_REPORT.json"
	cp "$T/edge.out" "$EDGE_REPORT.out"
	if [[ $browser == yes ]]; then cp "$T/browser.jsonl" "$EDGE_REPORT.browser"; fi
fi

kill -TERM "$npid"
wait "$npid" || true
failed=0
# Chromium's own requests (the icon) included; the purge listener's BAN
# and PURGE excluded.
edge_bad=$(awk '$1 == "GET" || $1 == "HEAD" { n++; if ($2 != 200 && $2 != 304 && b++ < 5) printf "%s %s -> %s; ", $1, $3, $2 }
	END { printf "|%d", n }' "$T/edge.access")
if [[ ${edge_bad%|*} == "" && ${edge_bad#*|} -gt 0 ]]; then
	ok "all ${edge_bad#*|} GET/HEAD requests Varnish logged (varnishncsa) were answered 200 or 304"
else
	echo "not ok - Varnish's own log of the ${edge_bad#*|} requests it answered: ${edge_bad%|*}"
	failed=1
fi
while read -r _ name verdict detail; do
	if [[ $verdict == ok ]]; then
		ok "$name: $detail"
	else
		echo "not ok - $name: $detail"
		failed=$((failed + 1))
	fi
done < <(grep '^check ' "$T/edge.out")
[[ $(grep -c '^check ' "$T/edge.out") -ge 5 ]] || fail "edge.py gave no verdicts: $(tail -n 5 "$T/edge.out")"
if ((failed)); then
	echo "--- HAProxy, last lines:" >&2
	grep -v ' 200 \| 304 ' "$T/haproxy.log" | tail -n 10 >&2 || true
	fail "$failed of the edge's checks failed (above)"
fi
if [[ $browser == yes ]]; then
	ok "headless Chromium loaded the edge's page $(grep -c . "$T/browser.jsonl") times without a blank one"
else
	echo "# browser part $browser"
fi

kill -TERM "$vpid" "$hpid"
wait "$vpid" 2>/dev/null || true
wait "$hpid" 2>/dev/null || true
for o in a b c; do
	PID=${opid[$o]} LOG=$T/$o.log stop_prepd
done
done_testing
