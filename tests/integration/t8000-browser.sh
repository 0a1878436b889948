#!/usr/bin/env bash
# The browser test (R10, R8): Debian's headless Chromium loads a page of a
# second loopback origin that embeds prepd's site in an iframe, and sees
# the placeholder, then the results with the cut time once prepsim's first
# cut is published, then the newer cut time once the next is published,
# without anyone reloading the page. Asserts on the DOM (tests/browser/
# embed.mjs) and saves the three screenshots in the build folder.
. "$(dirname "$0")/lib.sh"

chromium=${CHROMIUM:-/usr/bin/chromium}
[[ -x $chromium ]] || skip "Chromium is not installed: script/bootstrap installs Debian's chromium; it could not here"
command -v node >/dev/null || skip "node is not installed: script/bootstrap installs nodejs; it could not here"
[[ -d $SRCDIR/tests/browser/node_modules/playwright-core ]] ||
	fail "playwright-core missing: run script/bootstrap (npm ci in tests/browser)"
shots=${SCREENSHOTS:-$PWD}
mkdir -p "$shots"

spool=$T/spool
mkdir -p "$spool" "$T/pk"
# The placeholder reloads itself every 5 s here ([placeholder] refresh;
# a minute by default), so the frame turns into the results soon after
# the first cut.
printf '[placeholder]\nrefresh = 5s\n' >"$T/web.ini"
start_prepd web --spool "$spool" --config "$T/web.ini"

# The media portal: another origin (another port) framing prepd's site.
mkdir -p "$T/portal"
cat >"$T/portal/index.html" <<HTML
<!doctype html><html lang="es"><head><meta charset="utf-8"><title>Portal de noticias</title></head>
<body><h1>Elecciones 2024: resultados preliminares</h1>
<iframe id="prep" src="http://127.0.0.1:$HTTP_PORT/" title="PREP" style="width:100%;height:800px;border:0"></iframe>
</body></html>
HTML
python3 - "$T/portal" "$T/portal.port" <<'PY' &
import functools, http.server, os, sys
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
handler.log_message = lambda *a: None
http.server.ThreadingHTTPServer.request_queue_size = 128   # Chromium opens several at once
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
open(sys.argv[2] + ".tmp", "w").write(str(srv.server_address[1]))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
srv.timeout = 1
import time
end = time.time() + 240
while time.time() < end:
    srv.handle_request()
PY
PIDS+=("$!")
for ((i = 0; i < 50; i++)); do [[ -s $T/portal.port ]] && break; sleep 0.1; done
portal=http://127.0.0.1:$(cat "$T/portal.port")/

sim=$SRCDIR/prepsim/prepsim.py
# drop N KIND: prepsim makes cut N; it lands in the spool the way an SFTP
# upload ends (a rename), sidecar included.
cat >"$T/drop.sh" <<SH
#!/usr/bin/env bash
set -euo pipefail
p=\$(python3 "$sim" make "$T/pk" --profile 2024 --size small --cut "\$1" --kind "\$2" | tail -n1)
for f in "\$p" "\$p.sha256"; do cp "\$f" "$spool/.\$(basename "\$f")"; mv "$spool/.\$(basename "\$f")" "$spool/\$(basename "\$f")"; done
SH
chmod +x "$T/drop.sh"

out=$(DROP_FIRST="$T/drop.sh 1 full" DROP_NEXT="$T/drop.sh 2 incremental" CHROMIUM=$chromium \
	node "$SRCDIR/tests/browser/embed.mjs" "$portal" "http://127.0.0.1:$HTTP_PORT" "$shots" 2>&1) ||
	fail "browser: $out"
echo "$out"
[[ $out == *placeholder=ok* ]] || fail "placeholder not seen: $out"
ok "the framed placeholder is shown before the first cut (screenshot t8000-1-placeholder.png)"
c1=$(sed -n 's/^corte1=//p' <<<"$out")
c2=$(sed -n 's/^corte2=//p' <<<"$out")
[[ -n $c1 ]] || fail "no cut time shown: $out"
ok "results and the cut time are shown after the first cut: '$c1' (t8000-2-results.png)"
[[ -n $c2 && $c2 != "$c1" && $out == *reload=none* ]] || fail "newer cut not shown by itself: $out"
ok "the newer cut time appears without a reload: '$c2' (t8000-3-next-cut.png)"
for s in 1-placeholder 2-results 3-next-cut; do
	[[ -s $shots/t8000-$s.png ]] || fail "screenshot t8000-$s.png missing"
done
ok "three screenshots saved in $shots"
stop_prepd
done_testing
