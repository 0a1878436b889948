#!/usr/bin/env bash
# Paths: folders, the single-page app fallback, 404 pages, encoded names,
# and everything that must get 400.
. "$(dirname "$0")/lib.sh"

start_prepd paths --package "$PKGDIR/20240602_2230_PREP_PRES_NAL.zip"
base=http://127.0.0.1:$HTTP_PORT

code=$(get "$base/")
expect_eq "$code" 200 "/ serves index.html"
cmp -s "$T/body" "$PKGDIR/site/index.html" || fail "/ is not index.html"
code=$(get "$base/estados/Nuevo%20Le%C3%B3n/")
expect_eq "$code" 200 "folder with accented name serves its index.html"
cmp -s "$T/body" "$PKGDIR/site/estados/Nuevo León/index.html" || fail "folder index bytes"
code=$(get "$base/estados/Nuevo%20Le%C3%B3n")
expect_eq "$code" 301 "folder without slash redirects"
expect_eq "$(header Location)" "/estados/Nuevo%20Le%C3%B3n/" "redirect keeps the name, adds the slash"
expect_eq "$(header Content-Security-Policy)" "frame-ancestors *" "the redirect carries frame-ancestors"
expect_eq "$(header X-PREP-Cut)" "seq=1; label=20240602_2230; time=2024-06-02T22:30-06:00" "the redirect names the cut"
code=$(get "$base/assets/JSON/ESTADOS/Michoac%C3%A1n.json")
expect_eq "$code" 200 "percent-encoded UTF-8 file name"
code=$(get "$base/assets/JSON/ESTADOS/Michoacán.json")
expect_eq "$code" 200 "raw UTF-8 file name"

# SPA routes: extension-less paths get index.html with 200.
for route in /presidencia /presidencia/entidad/07 /estados/NoExiste/ ; do
	code=$(get "$base$route")
	[[ $code == 200 ]] || fail "route $route: $code"
	cmp -s "$T/body" "$PKGDIR/site/index.html" || fail "route $route is not index.html"
done
ok "extension-less routes fall back to index.html"

# Missing files with an extension: the package's own 404.html, status 404.
code=$(get "$base/no-such.js")
expect_eq "$code" 404 "missing file is 404"
grep -q 'No encontrado' "$T/body" || fail "package 404.html not used"
ok "the package's 404.html is the body"

# Bad paths: 400, never a file.
for p in '/%2e%2e/etc/passwd' '/assets/%2E%2E/%2E%2E/x' '/a%00.html' '/a%5c..%5cb' \
	 '/%C0%AF' '/%FF.html' '/%zz' '/x%0d%0aSet-Cookie:%20a=1'; do
	code=$(get "$base$p" --path-as-is)
	[[ $code == 400 ]] || fail "$p: status $code, want 400"
	grep -q 'Bad request' "$T/body" || fail "$p: body"
done
ok "encoded '..', NUL, backslash, bad UTF-8 and CR/LF get 400"
code=$(get "$base/../../etc/passwd" --path-as-is)
expect_eq "$code" 400 "raw '..' gets 400"
# A request line with a raw backslash.
code=$(printf 'GET /a\\b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
	timeout 5 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.stdin.buffer.read())
print(s.recv(100).split()[1].decode())' "$HTTP_PORT")
expect_eq "$code" 400 "raw backslash gets 400"
long=$(printf 'a%.0s' {1..5000})
code=$(get "$base/$long")
expect_eq "$code" 414 "very long path gets 414"
stop_prepd

# With the fallback off and a package without 404.html, the built-in 404.
start_prepd nofallback --spa-fallback off --package "$PKGDIR/20240602_2230_PREP_PRES_NAL.zip"
code=$(get "http://127.0.0.1:$HTTP_PORT/presidencia")
expect_eq "$code" 404 "spa_fallback off: routes are 404"
stop_prepd

done_testing
