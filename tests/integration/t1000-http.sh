#!/usr/bin/env bash
# Every file of a package comes back byte-identical (R2), plain and
# gzip-decoded; the headers each response must carry.
. "$(dirname "$0")/lib.sh"

start_prepd http --package "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz"
base=http://127.0.0.1:$HTTP_PORT
site=$PKGDIR/site

# R2: each file, identity and gzip (decoded by curl), equals the package's.
n=0
while IFS= read -r -d '' f; do
	rel=${f#"$site"/}
	url=$base/$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$rel")
	code=$(get "$url")
	[[ $code == 200 ]] || fail "$rel: status $code"
	cmp -s "$T/body" "$f" || fail "$rel: identity body differs from the package"
	code=$(get "$url" --compressed)
	cmp -s "$T/body" "$f" || fail "$rel: gzip body decodes to different bytes"
	n=$((n + 1))
done < <(find "$site" -type f -print0)
[[ $n -ge 9 ]] || fail "only $n files compared"
ok "all $n files byte-identical, identity and gzip (R2)"

# gzip is sent when asked for and smaller, with Vary.
get "$base/main.3f2a9c1b8d7e6f50.js" -H 'Accept-Encoding: gzip' >/dev/null
expect_eq "$(header Content-Encoding)" "gzip" "JS is sent gzipped when accepted"
expect_eq "$(header Vary)" "Accept-Encoding" "gzip variant has Vary"
gz_len=$(header Content-Length)
get "$base/main.3f2a9c1b8d7e6f50.js" >/dev/null
expect_eq "$(header Content-Encoding)" "" "no gzip when not accepted"
expect_eq "$(header Vary)" "Accept-Encoding" "identity variant has Vary too"
[[ $gz_len -lt $(header Content-Length) ]] || fail "gzip is not smaller"
ok "gzip variant is smaller"
[[ $(header ETag) != "" ]] || fail "no ETag"
id_etag=$(header ETag)
get "$base/main.3f2a9c1b8d7e6f50.js" -H 'Accept-Encoding: gzip' >/dev/null
[[ $(header ETag) != "$id_etag" ]] || fail "gzip and identity share an ETag"
ok "gzip and identity have different strong ETags"
get "$base/main.3f2a9c1b8d7e6f50.js" -H 'Accept-Encoding: gzip;q=0, br' >/dev/null
expect_eq "$(header Content-Encoding)" "" "gzip;q=0 is respected"

# A file whose gzip would be larger has no variant and no Vary.
get "$base/tiny.txt" -H 'Accept-Encoding: gzip' >/dev/null
expect_eq "$(header Content-Encoding)" "" "tiny file is not gzipped"
expect_eq "$(header Vary)" "" "tiny file has no Vary"
expect_eq "$(header Content-Type)" "text/plain; charset=utf-8" "text gets a charset"

# Types and caching policy.
get "$base/" >/dev/null
expect_eq "$(header Content-Type)" "text/html; charset=utf-8" "HTML type"
expect_eq "$(header Cache-Control)" "public, max-age=10, s-maxage=10, stale-while-revalidate=10, stale-if-error=86400" "HTML is short-lived (no purge: the CDN TTL is the browser's)"
get "$base/assets/JSON/PRESIDENTE/NACIONAL/Presidente_NACIONAL.json" >/dev/null
expect_eq "$(header Content-Type)" "application/json; charset=utf-8" "JSON type"
expect_eq "$(header Cache-Control)" "public, max-age=10, s-maxage=10, stale-while-revalidate=10, stale-if-error=86400" "JSON is short-lived"
get "$base/main.3f2a9c1b8d7e6f50.js" >/dev/null
expect_eq "$(header Content-Type)" "text/javascript; charset=utf-8" "JS type"
expect_eq "$(header Cache-Control)" "public, max-age=31536000, immutable" "fingerprinted JS is immutable"
get "$base/styles.a1b2c3d4e5f60718.css" >/dev/null
expect_eq "$(header Cache-Control)" "public, max-age=31536000, immutable" "fingerprinted CSS is immutable"
get "$base/datos/20240602_2215_PREP_PRES.zip" >/dev/null
expect_eq "$(header Content-Type)" "application/zip" "nested database zip is served as a file"
cmp -s "$T/body" "$PKGDIR/site/datos/20240602_2215_PREP_PRES.zip" || fail "nested zip bytes"
ok "nested zip is byte-identical"
expect_eq "$(header Accept-Ranges)" "bytes" "ranges are advertised"

# Headers on every response, including errors.
for path in / /nope.css /%2e%2e/x; do
	get "$base$path" >/dev/null
	expect_eq "$(header X-PREP-Cut)" "seq=1; label=20240602_2215; time=2024-06-02T22:15-06:00" "X-PREP-Cut on $path"
	expect_eq "$(header X-Content-Type-Options)" "nosniff" "nosniff on $path"
	expect_eq "$(header Content-Security-Policy)" "frame-ancestors *" "any origin may frame $path (R10)"
done
[[ -z $(header X-Frame-Options) ]] || fail "X-Frame-Options would forbid framing"
ok "no X-Frame-Options"

# HEAD: same headers, no body.
code=$(curl -sS -I -o /dev/null -D "$T/head" -w '%{http_code}' "$base/main.3f2a9c1b8d7e6f50.js")
expect_eq "$code" 200 "HEAD status"
expect_eq "$(header Content-Length)" "$(stat -c %s "$site/main.3f2a9c1b8d7e6f50.js")" "HEAD Content-Length is the body's"
size=$(curl -sS -I -w '%{size_download}' -o /dev/null "$base/")
expect_eq "$size" 0 "HEAD has no body"

# Other methods: 405 with Allow.
for m in POST PUT DELETE OPTIONS PATCH; do
	code=$(get "$base/" -X "$m")
	[[ $code == 405 ]] || fail "$m: status $code"
	[[ $(header Allow) == "GET, HEAD" ]] || fail "$m: Allow '$(header Allow)'"
done
ok "POST PUT DELETE OPTIONS PATCH get 405 with Allow: GET, HEAD"
code=$(get "$base/" -X POST --data-binary @"$site/main.3f2a9c1b8d7e6f50.js")
expect_eq "$code" 405 "POST with a body gets 405"

# Query strings are ignored (the SPA adds them).
code=$(get "$base/index.html?v=123&x=%00")
expect_eq "$code" 200 "query string ignored"

stop_prepd
done_testing
