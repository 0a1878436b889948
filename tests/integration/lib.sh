# Shared helpers for integration tests: each tNNNN-*.sh sources this, starts
# the real prepd on loopback with a free port, and talks to it with real
# clients. A test prints "ok - ..." per check and fails on the first broken
# one with the reason; exit 77 means skipped (meson's convention).
set -euo pipefail

: "${PREPD:?PREPD must name the prepd binary (meson test sets it)}"
: "${SRCDIR:?SRCDIR must name the source tree}"
: "${PKGDIR:?PKGDIR must name the generated test packages}"

T=$(mktemp -d /tmp/prepd-test.XXXXXX)
PIDS=()
CHECKS=0

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
	done
	rm -rf "$T"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	if [[ -n ${LOG:-} && -f $LOG ]]; then
		echo "--- prepd log ($LOG), last lines:" >&2
		tail -n 30 "$LOG" >&2
	fi
	local f
	for f in "$T"/*.uplog; do
		[[ -f $f ]] || continue
		echo "--- upstream log ($f), last lines:" >&2
		grep -v ' TLS ' "$f" | tail -n 15 >&2
	done
	exit 1
}

ok() {
	CHECKS=$((CHECKS + 1))
	echo "ok $CHECKS - $*"
}

skip() {
	echo "SKIP: $*"
	exit 77
}

done_testing() {
	echo "$CHECKS passed, 0 failed"
}

# start_prepd NAME [ARGS...]: starts prepd with its own data folder and a
# log at $T/NAME.log, waits until it is ready (or dies), and sets PID, LOG,
# HTTP_PORT and HTTPS_PORT. ARGS come after the defaults, so they override.
start_prepd() {
	local name=$1
	shift
	LOG=$T/$name.log
	mkdir -p "$T/$name"
	# Emptied here, not only by the redirection below: a restart under the
	# same name must not find the last run's "server ready" before the new
	# process has truncated the file.
	: >"$LOG"
	"$PREPD" --http 127.0.0.1:0 --data "$T/$name/var" "$@" >"$LOG" 2>&1 &
	PID=$!
	PIDS+=("$PID")
	local i
	for ((i = 0; i < 100; i++)); do
		if grep -q 'server ready' "$LOG"; then
			HTTP_PORT=$(sed -n 's/.*proto=http addr=[^ ]*:\([0-9]*\) .*/\1/p' "$LOG" | head -n1)
			HTTPS_PORT=$(sed -n 's/.*proto=https addr=[^ ]*:\([0-9]*\) .*/\1/p' "$LOG" | head -n1)
			return 0
		fi
		if ! kill -0 "$PID" 2>/dev/null; then
			fail "prepd $name exited before it was ready"
		fi
		sleep 0.1
	done
	fail "prepd $name was not ready after 10 s"
}

# stop_prepd: SIGTERM and wait; fails if prepd does not stop cleanly.
stop_prepd() {
	kill -TERM "$PID"
	local rc=0
	wait "$PID" || rc=$?
	[[ $rc -eq 0 ]] || fail "prepd exited with status $rc on SIGTERM"
}

# get URL [CURL ARGS...]: body to $T/body, headers to $T/head; prints the
# status code.
get() {
	local url=$1
	shift
	rm -f "$T/body"
	curl -sS -o "$T/body" -D "$T/head" -w '%{http_code}' "$@" "$url"
}

# header NAME: the value of a header in $T/head (last response), or "".
header() {
	awk -v h="$1" 'BEGIN { IGNORECASE = 1 }
		{ sub(/\r$/, "") }
		tolower(substr($0, 1, length(h) + 1)) == tolower(h) ":" {
			v = substr($0, length(h) + 2); sub(/^[ \t]+/, "", v); print v; exit }' "$T/head"
}

expect_eq() {
	[[ $1 == "$2" ]] || fail "$3: got '$1', want '$2'"
	ok "$3"
}

expect_match() {
	[[ $1 =~ $2 ]] || fail "$3: '$1' does not match /$2/"
	ok "$3"
}

expect_log() {
	local i
	for ((i = 0; i < 50; i++)); do
		grep -q -- "$1" "$LOG" && { ok "$2"; return 0; }
		sleep 0.1
	done
	fail "$2: log has no line matching '$1'"
}
