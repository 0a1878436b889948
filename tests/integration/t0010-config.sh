#!/usr/bin/env bash
# The config file: errors name file and line; flags override the file;
# header rules (R12) and frame-ancestors (R10) reach responses.
. "$(dirname "$0")/lib.sh"

cfg=$T/bad.ini
printf '[server]\nhttp = 127.0.0.1:0\ntreads = 4\n' >"$cfg"
rc=0; out=$("$PREPD" --config "$cfg" 2>&1) || rc=$?
[[ $rc -eq 2 ]] || fail "bad key exits 2, got $rc"
expect_eq "$out" "$cfg:3: unknown key 'treads' in [server]; known keys: http, https, admin, admin_token, data, user, package, access_log, threads, connection_limit, per_ip_connection_limit, timeout, header_timeout, frame_ancestors, spa_fallback, log_level" "bad key names file:line"

printf '[server]\nhttp = 127.0.0.1:0\n[headers]\n/json/main.json = Content-Length: 3\n' >"$cfg"
rc=0; out=$("$PREPD" --config "$cfg" 2>&1) || rc=$?
[[ $rc -eq 2 && $out == "$cfg:4: [headers] /json/main.json = Content-Length: 3: prepd sets this header itself"* ]] \
	|| fail "managed header rule: $rc $out"
ok "a rule on a header prepd manages is refused with file:line"

rc=0; out=$("$PREPD" --config "$T/missing.ini" 2>&1) || rc=$?
[[ $rc -eq 2 && $out == *"missing.ini: cannot open the config file"* ]] || fail "missing config: $out"
ok "a missing config file is reported"

# The example config shipped in the repo must load as it is.
sed -e "s#^http = .*#http = 127.0.0.1:0#" -e "s#^;data = .*#data = $T/example-var#" \
	-e "s#^access_log = .*#access_log = $T/example-access.log#" \
	"$SRCDIR/prepd.ini.example" >"$T/example.ini"
start_prepd example --config "$T/example.ini"
ok "prepd.ini.example loads"
stop_prepd

cat >"$T/good.ini" <<INI
[server]
http = 127.0.0.1:1
frame_ancestors = 'self' https://www.periodico.example
package = $PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz

[cache]
short = public, max-age=5

[headers]
/assets/JSON/PRESIDENTE/NACIONAL/Presidente_NACIONAL.json = Cache-Control: no-cache
/assets/JSON/PRESIDENTE/NACIONAL/Presidente_NACIONAL.json = Access-Control-Allow-Origin: *
/assets/JSON/* = X-Origen: PREP
INI
# --http on the command line overrides the file's port 1.
start_prepd good --config "$T/good.ini" --http 127.0.0.1:0
[[ $HTTP_PORT != 1 ]] || fail "flag did not override the file"
ok "flags override the config file"
get "http://127.0.0.1:$HTTP_PORT/assets/JSON/PRESIDENTE/NACIONAL/Presidente_NACIONAL.json" >/dev/null
expect_eq "$(header Cache-Control)" "no-cache" "header rule sets Cache-Control (R12)"
expect_eq "$(header Access-Control-Allow-Origin)" "*" "header rule adds a header"
expect_eq "$(header X-Origen)" "PREP" "a glob rule applies too"
expect_eq "$(header Content-Security-Policy)" "frame-ancestors 'self' https://www.periodico.example" "frame_ancestors from config (R10)"
get "http://127.0.0.1:$HTTP_PORT/index.html" >/dev/null
expect_eq "$(header Cache-Control)" "public, max-age=5" "[cache] short applies to HTML"
expect_eq "$(header X-Origen)" "" "rules do not leak to other paths"
stop_prepd

done_testing
