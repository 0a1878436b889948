#!/usr/bin/env bash
# Validators and ranges: 304 for If-None-Match and If-Modified-Since, 206
# and 416 for byte ranges, and ETags that survive a new cut when the file
# did not change.
. "$(dirname "$0")/lib.sh"

start_prepd cond --package "$PKGDIR/20240602_2230_PREP_PRES_NAL.zip"
base=http://127.0.0.1:$HTTP_PORT
js=$base/main.3f2a9c1b8d7e6f50.js

get "$js" >/dev/null
etag=$(header ETag)
lm=$(header Last-Modified)
expect_match "$etag" '^"[0-9a-f]{16}"$' "strong ETag from the content hash"
code=$(get "$js" -H "If-None-Match: $etag")
expect_eq "$code" 304 "If-None-Match gives 304"
expect_eq "$(header ETag)" "$etag" "304 repeats the ETag"
expect_eq "$(header X-PREP-Cut)" "seq=1; label=20240602_2230; time=2024-06-02T22:30-06:00" "304 names the cut"
[[ ! -s $T/body ]] || fail "304 has a body"
ok "304 has no body"
code=$(get "$js" -H "If-None-Match: \"other\", W/$etag")
expect_eq "$code" 304 "weak comparison in a list"
code=$(get "$js" -H 'If-None-Match: "0000000000000000"')
expect_eq "$code" 200 "other ETag gives 200"
code=$(get "$js" -H 'Accept-Encoding: gzip')
gz_etag=$(header ETag)
code=$(get "$js" -H "If-None-Match: $gz_etag" -H 'Accept-Encoding: gzip')
expect_eq "$code" 304 "gzip ETag gives 304"
expect_eq "$(header ETag)" "$gz_etag" "304 for gzip carries the gzip ETag"
code=$(get "$js" -H "If-Modified-Since: $lm")
expect_eq "$code" 304 "If-Modified-Since at Last-Modified gives 304"
code=$(get "$js" -H "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT")
expect_eq "$code" 200 "older If-Modified-Since gives 200"
code=$(get "$js" -H "If-Modified-Since: $lm" -H 'If-None-Match: "0000000000000000"')
expect_eq "$code" 200 "If-None-Match wins over If-Modified-Since"
code=$(get "$js" -H "If-Modified-Since: garbage")
expect_eq "$code" 200 "bad date is ignored"
code=$(get "$js" -H "If-Modified-Since: $(date -u -d '+1 day' '+%a, %d %b %Y %H:%M:%S GMT')")
expect_eq "$code" 200 "a date in the future is ignored"
code=$(get "$js" -H "If-None-Match: $etag" -H 'Accept-Encoding: gzip')
expect_eq "$code" 304 "identity ETag with gzip accepted gives 304"
expect_eq "$(header ETag)" "$etag" "the 304 names the variant the client holds"

bin=$PKGDIR/site/data.bin
size=$(stat -c %s "$bin")
code=$(get "$base/data.bin" -H 'Range: bytes=100-199')
expect_eq "$code" 206 "Range gives 206"
expect_eq "$(header Content-Range)" "bytes 100-199/$size" "Content-Range"
expect_eq "$(header Content-Length)" 100 "partial length"
cmp -s "$T/body" <(tail -c +101 "$bin" | head -c 100) || fail "range bytes differ"
ok "range bytes are the file's"
code=$(get "$base/data.bin" -H 'Range: bytes=-10')
expect_eq "$code" 206 "suffix range"
cmp -s "$T/body" <(tail -c 10 "$bin") || fail "suffix bytes"
ok "suffix bytes are the file's"
code=$(get "$base/data.bin" -H "Range: bytes=$((size - 5))-")
expect_eq "$(header Content-Range)" "bytes $((size - 5))-$((size - 1))/$size" "open range"
code=$(get "$base/data.bin" -H "Range: bytes=$size-")
expect_eq "$code" 416 "range past the end gives 416"
expect_eq "$(header Content-Range)" "bytes */$size" "416 says the size"
expect_eq "$(header Cache-Control)" "no-store" "a 416 is not cacheable"
code=$(get "$base/data.bin" -H 'Range: bytes=0-1,5-6')
expect_eq "$code" 200 "multi-range gets the whole file"
code=$(get "$base/data.bin" -H 'Range: bytes=0-9' -H "If-Range: $(get "$base/data.bin" >/dev/null; header ETag)")
expect_eq "$code" 206 "If-Range with the current ETag keeps the range"
code=$(get "$base/data.bin" -H 'Range: bytes=0-9' -H 'If-Range: "0000000000000000"')
expect_eq "$code" 200 "If-Range with an old ETag gets the whole file"
# curl resumes a download the way users resume the CSV zip.
head -c 1000 "$bin" >"$T/partial"
curl -sS -C - -o "$T/partial" "$base/data.bin"
cmp -s "$T/partial" "$bin" || fail "curl -C - resume"
ok "curl resumes a partial download"
# A range on a gzip-able file is served from the identity bytes.
code=$(get "$js" -H 'Range: bytes=0-9' -H 'Accept-Encoding: gzip')
expect_eq "$code" 206 "range on a gzip-able file"
expect_eq "$(header Content-Encoding)" "" "range is never gzipped"
stop_prepd

# Across cuts: an unchanged file keeps its ETag, a changed one does not.
start_prepd a --package "$PKGDIR/20240602_2230_PREP_PRES_NAL.zip"
get "http://127.0.0.1:$HTTP_PORT/main.3f2a9c1b8d7e6f50.js" >/dev/null; js_a=$(header ETag)
get "http://127.0.0.1:$HTTP_PORT/index.html" >/dev/null; idx_a=$(header ETag)
stop_prepd
start_prepd b --package "$PKGDIR/20240602_2245_PREP_PRES_NAL.zip"
get "http://127.0.0.1:$HTTP_PORT/main.3f2a9c1b8d7e6f50.js" >/dev/null; js_b=$(header ETag)
get "http://127.0.0.1:$HTTP_PORT/index.html" >/dev/null; idx_b=$(header ETag)
expect_eq "$js_b" "$js_a" "unchanged file keeps its ETag across cuts"
[[ $idx_a != "$idx_b" ]] || fail "changed index.html kept its ETag"
ok "changed file gets a new ETag"
code=$(get "http://127.0.0.1:$HTTP_PORT/main.3f2a9c1b8d7e6f50.js" -H "If-None-Match: $js_a")
expect_eq "$code" 304 "a cache holding the old cut's JS gets 304"
stop_prepd

done_testing
