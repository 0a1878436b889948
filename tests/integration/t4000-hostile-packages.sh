#!/usr/bin/env bash
# Every kind of hostile package is refused at start-up with its entry and
# reason, and the placeholder goes on being served.
. "$(dirname "$0")/lib.sh"

# The caps the hostile packages are sized against (tests/data/mkpkg.py).
cat >"$T/limits.ini" <<INI
[limits]
max_entries = 2000
max_total_bytes = 5M
max_file_bytes = 2M
max_path_bytes = 255
INI

n=0
while IFS=$'\t' read -r name want; do
	[[ $want == ok ]] && continue
	start_prepd "h$n" --config "$T/limits.ini" --package "$PKGDIR/$name"
	grep -q "ingest refuse file=$PKGDIR/$name .*reason=\"[^\"]*$want" "$LOG" ||
		fail "$name: no refusal naming '$want': $(grep ingest "$LOG")"
	code=$(get "http://127.0.0.1:$HTTP_PORT/")
	[[ $code == 200 && $(header X-PREP-Cut) == "seq=0; label=placeholder" ]] ||
		fail "$name: placeholder not served after the refusal"
	[[ -f $PKGDIR/$name ]] || fail "$name: the refused package was removed"
	stop_prepd
	ok "$name refused: $want"
	n=$((n + 1))
done <"$PKGDIR/../pkgs.tsv"
[[ $n -ge 20 ]] || fail "only $n hostile packages tried"

# The log line names the entry for entry-level refusals.
start_prepd sym --package "$PKGDIR/h-symlink.tar.gz"
expect_log 'entry="evil" reason="entry is a symbolic link"' "the refusal names the entry"
expect_log 'action="the package was not published; it is kept in quarantine' "the refusal says what happened to it"
stop_prepd

# A good package under the same caps is published.
start_prepd good --config "$T/limits.ini" --package "$PKGDIR/20240602_2230_PREP_PRES_NAL.zip"
get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
expect_eq "$(header X-PREP-Cut)" "seq=1; label=20240602_2230; time=2024-06-02T22:30-06:00" "a good package is published under the caps"
stop_prepd
done_testing
