#!/usr/bin/env bash
# Hostile and unusual request heads on a raw socket (tests/integration/
# rawhttp.py): request smuggling shapes, Host, header syntax, targets,
# oversized heads, bodies on the public listener, preconditions. prepd's
# answers are checked against RFC 9110/9112; nginx, when installed, gets
# the same bytes and its answers are only recorded here, for the table in
# docs/security.md.
. "$(dirname "$0")/lib.sh"

"$SRCDIR/certs/make-local-cert" "$T/cert" >/dev/null
start_prepd strict --package "$PKGDIR/20240602_2230_PREP_PRES_NAL.zip" \
	--access-log "$T/access.log" \
	--https 127.0.0.1:0 --cert "$T/cert/cert.pem" --key "$T/cert/key.pem"

# nginx, when installed, gets the same battery at the same time (both
# mostly wait on sockets); its answers are recorded, never checked.
ngpid=
if command -v nginx >/dev/null; then
	mkdir -p "$T/nginx/logs"
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	tport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	cat >"$T/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $T/nginx/body;
	server { listen 127.0.0.1:$port; root $PKGDIR/site; }
	server {
		listen 127.0.0.1:$tport ssl; root $PKGDIR/site;
		ssl_certificate $T/cert/cert.pem; ssl_certificate_key $T/cert/key.pem;
	}
}
CONF
	nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" >"$T/nginx/out.log" 2>&1 &
	ngpid=$!
	PIDS+=("$ngpid")
	for ((i = 0; i < 50; i++)); do
		python3 -c "import socket; socket.create_connection(('127.0.0.1', $port))" 2>/dev/null && break
		sleep 0.1
	done
	python3 "$SRCDIR/tests/integration/rawhttp.py" record "$port" "$tport" >"$T/nginx.txt" 2>&1 &
	rec=$!
fi

python3 "$SRCDIR/tests/integration/rawhttp.py" check "$HTTP_PORT" "$HTTPS_PORT" >"$T/prepd.txt" 2>&1 || {
	cat "$T/prepd.txt" >&2
	fail "prepd's answer breaks RFC 9110/9112 (see the FAIL line above)"
}
cat "$T/prepd.txt"
CHECKS=$(grep -c '^ok ' "$T/prepd.txt")

# Refusals reach the access log with their status, and the ones
# libmicrohttpd 0.9.75 built itself too (method and protocol "-"), and the
# openings refused before libmicrohttpd read them (what was sent of the
# request line; "-" for what was not there).
for want in '"GET /tiny.txt HTTP/1.1" 400' '"POST /tiny.txt HTTP/1.1" 405' \
	'"GET /tiny.txt HTTP/1.1" 431' '"GET /tiny.txt HTTP/1.1" 412' '"- /tiny.txt -" 413' \
	'"GET / -" 400' '"GET / HTTP/2.0" 505' '"GET - -" 400' '"- - -" 400' \
	'"GET /tiny.txt http/1.1" 400'; do
	grep -qF "$want" "$T/access.log" || fail "access log has no line with $want"
	ok "access log: $want"
done
expect_log 'server opening-refused worker=[0-9]* tls_on_http=1 http_on_tls=0 not_http=0' \
	"refused openings are summed up in the log"
kill -0 "$PID" || fail "prepd died"
ok "prepd survived the battery"

if [[ -n $ngpid ]]; then
	wait "$rec" || true
	# The master stops its worker on SIGTERM; SIGKILL would orphan it.
	kill -TERM "$ngpid" && wait "$ngpid" || true
	echo "# nginx $(nginx -v 2>&1 | sed 's/.*\///') beside prepd (recorded, not checked):"
	echo "# | case | prepd | nginx |"
	while IFS= read -r line; do
		name=${line%% => *}
		theirs=${line#* => }
		theirs=${theirs%% => *}
		ours=$(grep -F -- "- $name => " "$T/prepd.txt" | head -n1 | sed 's/.* => //; s/:.*//; s/ (libmicrohttpd.*//')
		echo "# | $name | $ours | $theirs |"
	done <"$T/nginx.txt"
else
	echo "# nginx not installed: no comparison recorded"
fi
done_testing
