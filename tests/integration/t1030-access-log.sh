#!/usr/bin/env bash
# The access log: Combined Log Format plus cut and time, written off the
# request path, reopened on SIGHUP (logrotate).
. "$(dirname "$0")/lib.sh"

alog=$T/access.log
start_prepd alog --package "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" --access-log "$alog"
base=http://127.0.0.1:$HTTP_PORT
get "$base/index.html?x=1" -A 'Mozilla/5.0 "quoted"' -e 'https://portal.example/nota' >/dev/null
get "$base/missing.css" >/dev/null
curl -sS -I -o /dev/null "$base/"

for ((i = 0; i < 50; i++)); do
	[[ -s $alog && $(wc -l <"$alog") -ge 3 ]] && break
	sleep 0.1
done
[[ $(wc -l <"$alog") -eq 3 ]] || fail "want 3 lines, got: $(cat "$alog")"
ok "one line per request"
# Each worker has its own queue, so lines from different workers may be
# written out of order: find each request's line by its content.
line1=$(grep 'GET /index' "$alog")
re='^127\.0\.0\.1 - - \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}\] "GET /index\.html\?x=1 HTTP/1\.1" 200 [0-9]+ "https://portal\.example/nota" "Mozilla/5\.0 \\x22quoted\\x22" 1 20240602_2215 [0-9]+\.[0-9]{6}$'
expect_match "$line1" "$re" "combined format, escaped quotes, cut and seconds"
size=$(stat -c %s "$PKGDIR/site/index.html")
expect_match "$line1" "\" 200 $size \"" "bytes sent are logged"
expect_match "$(grep missing "$alog")" '"GET /missing\.css HTTP/1\.1" 404 ' "404 logged"
expect_match "$(grep HEAD "$alog")" '"HEAD / HTTP/1\.1" 200 - ' "HEAD logs no body bytes"

# Parsed the way goaccess's format string in the README reads it.
python3 - "$alog" <<'PY' || fail "a line does not split into the documented fields"
import re, sys
pat = re.compile(r'^(\S+) - - \[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)" (\d+) (\S+) (\d+\.\d+)$')
for line in open(sys.argv[1]):
    if not pat.match(line.rstrip("\n")):
        print("unparsed:", line, file=sys.stderr)
        sys.exit(1)
PY
ok "every line has the documented fields"

# logrotate: move the file, SIGHUP, new lines go to a new file.
mv "$alog" "$alog.1"
kill -HUP "$PID"
expect_log 'alog reopened' "SIGHUP reopens the log"
get "$base/" >/dev/null
for ((i = 0; i < 50; i++)); do [[ -s $alog ]] && break; sleep 0.1; done
[[ $(wc -l <"$alog") -eq 1 ]] || fail "new file after reopen: $(cat "$alog" 2>&1)"
ok "after SIGHUP lines go to the new file"
[[ $(wc -l <"$alog.1") -eq 3 ]] || fail "rotated file changed"
ok "the rotated file keeps its lines"
stop_prepd

# An access log that cannot be opened stops start-up with the reason.
rc=0; "$PREPD" --http 127.0.0.1:0 --data "$T/x" --access-log /nonexistent/dir/a.log >"$T/bad.log" 2>&1 || rc=$?
[[ $rc -ne 0 ]] && grep -q 'alog open-failed.*No such file or directory' "$T/bad.log" || fail "bad access log path: $(cat "$T/bad.log")"
ok "an unopenable access log is reported"
done_testing
