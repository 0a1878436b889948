#!/usr/bin/env bash
# Cache headers for a CDN and skew protection, with the real binary: four
# cuts of an Angular-like site whose bundles change at every cut arrive
# through the spool; the old bundles of the last keep_cuts cuts stay
# servable under their own names (an index.html cached anywhere still
# finds its bundle), older ones and names no cut had answer 404 no-store
# (never index.html), per-cut files are always the current cut's, and
# each class carries its Cache-Control, CDN TTL and purge tags. A rollback
# keeps the cut it leaves servable; a SIGHUP that changes the [cache]
# settings keeps the kept files.
. "$(dirname "$0")/lib.sh"

spool=$T/spool
mkdir -p "$spool"
base() { echo "http://127.0.0.1:$HTTP_PORT"; }

# mkcut LABEL MAIN CHUNK: a full package named LABEL_PREP_PRES.tar.gz in
# $T/pkg with index.html pointing at main-MAIN.js, a lazy chunk-CHUNK.js,
# styles, JSON, CSV and a 404 page; the bundle bodies name their cut and
# are big enough to have a gzip variant.
mkcut() {
	python3 - "$T/pkg" "$1" "$2" "$3" <<'PY'
import io, sys, tarfile
out, label, main, chunk = sys.argv[1:5]
def js(name):
    return ("/* %s of %s */\n" % (name, label) + "console.log('prep');\n" * 200).encode()
files = {
    "index.html": ('<!doctype html><html><head><base href="/"><title>PREP %s</title>'
                   '<link rel="stylesheet" href="styles-5INURTSO.css"></head>'
                   '<body><app-root></app-root><script src="main-%s.js"></script></body></html>'
                   % (label, main)).encode(),
    "main-%s.js" % main: js("main-" + main),
    "chunk-%s.js" % chunk: js("chunk-" + chunk),
    "styles-5INURTSO.css": b"body{margin:0}\n" * 50,
    "json/resultados.json": ('{"corte":"%s"}' % label).encode(),
    "datos/base.csv": ("corte,%s\n" % label).encode(),
    "404.html": b"<!doctype html><p>No encontrado</p>",
}
import os
os.makedirs(out, exist_ok=True)
with tarfile.open(os.path.join(out, label + "_PREP_PRES.tar.gz"), "w:gz") as t:
    for name, data in files.items():
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        ti.mtime = 1717387200
        ti.mode = 0o644
        t.addfile(ti, io.BytesIO(data))
PY
}

# publish LABEL: drops its package in the spool and waits until / names it.
publish() {
	cp "$T/pkg/$1_PREP_PRES.tar.gz" "$spool/.part"
	mv "$spool/.part" "$spool/$1_PREP_PRES.tar.gz"
	local i
	for ((i = 0; i < 100; i++)); do
		get "$(base)/" >/dev/null || true
		[[ $(header X-PREP-Cut) == *"label=$1"* ]] && return 0
		sleep 0.1
	done
	fail "cut $1 never published; serving '$(header X-PREP-Cut)'"
}

# Four cuts; the lazy chunk changes every other cut.
mkcut 20240602_2100 AAAAAAA2 CCCCCCC2
mkcut 20240602_2115 AAAAAAA3 CCCCCCC2
mkcut 20240602_2130 AAAAAAA4 CCCCCCC4
mkcut 20240602_2145 AAAAAAA5 CCCCCCC4

cat >"$T/prepd.ini" <<INI
[cache]
keep_cuts = 2
keep_minutes = 60
INI
start_prepd cdn --spool "$spool" --config "$T/prepd.ini" --admin 127.0.0.1:0
APORT=$(sed -n 's/.*proto=admin addr=[^ ]*:\([0-9]*\).*/\1/p' "$LOG" | head -n1)

declare -A etag
publish 20240602_2100
get "$(base)/main-AAAAAAA2.js" >/dev/null
etag[A]=$(header ETag)
publish 20240602_2115
get "$(base)/main-AAAAAAA3.js" >/dev/null
etag[B]=$(header ETag)
publish 20240602_2130
publish 20240602_2145
expect_log 'ingest publish seq=4 cut=20240602_2145 .* kept=3 kept_cuts=2 kept_bytes=[0-9]* kept_pruned=1 ' \
	"the publish line counts what is kept: cut 2115's main and chunk, cut 2130's main; cut 2100 pruned"

# The cut served: every per-cut file is the current one.
expect_eq "$(get "$(base)/")" 200 "index.html"
grep -q 'main-AAAAAAA5.js' "$T/body" || fail "index.html is not cut 2145's"
ok "index.html is the current cut's"
expect_eq "$(header Cache-Control)" \
	"public, max-age=10, s-maxage=10, stale-while-revalidate=10, stale-if-error=86400" \
	"per-cut Cache-Control (no purge: the CDN keeps it as long as a browser)"
expect_eq "$(header Surrogate-Key)" "prep prep-cut-20240602_2145 prep-percut prep-html" \
	"Surrogate-Key names the cut and the class, space-separated"
expect_eq "$(header Cache-Tag)" "prep,prep-cut-20240602_2145,prep-percut,prep-html" \
	"Cache-Tag, comma-separated"
expect_eq "$(header Surrogate-Control)" "" "no Surrogate-Control by default"
get "$(base)/json/resultados.json" >/dev/null
expect_eq "$(cat "$T/body")" '{"corte":"20240602_2145"}' "JSON is the current cut's"
expect_eq "$(header Surrogate-Key)" "prep prep-cut-20240602_2145 prep-percut prep-json" "JSON tags"
get "$(base)/datos/base.csv" >/dev/null
expect_eq "$(header Surrogate-Key)" "prep prep-cut-20240602_2145 prep-percut prep-csv" "CSV tags"

# Fingerprinted files of the cut: immutable, no cut tag.
get "$(base)/main-AAAAAAA5.js" -H 'Accept-Encoding: gzip' >/dev/null
expect_eq "$(header Cache-Control)" "public, max-age=31536000, immutable" "the current bundle is immutable"
expect_eq "$(header Surrogate-Key)" "prep prep-immutable prep-js" "a bundle's tags name no cut"
expect_eq "$(header Content-Encoding)" "gzip" "the bundle has a gzip variant"
get "$(base)/styles-5INURTSO.css" >/dev/null
expect_eq "$(header Surrogate-Key)" "prep prep-immutable prep-css" "styles: immutable"

# Kept bundles of the last two cuts: 200 with their own bytes and ETag.
expect_eq "$(get "$(base)/main-AAAAAAA3.js")" 200 "cut 2115's bundle (two cuts back) is still served"
grep -q '^/\* main-AAAAAAA3 of 20240602_2115 \*/' "$T/body" || fail "not cut 2115's bundle"
ok "its own bytes"
expect_eq "$(header ETag)" "${etag[B]}" "its own ETag, as when it was current"
expect_eq "$(header Cache-Control)" "public, max-age=31536000, immutable" "kept: immutable"
expect_match "$(header X-PREP-Cut)" 'label=20240602_2145' "X-PREP-Cut names the cut serving it"
expect_eq "$(get "$(base)/main-AAAAAAA3.js" -H "If-None-Match: ${etag[B]}")" 304 "a kept file revalidates"
get "$(base)/main-AAAAAAA3.js" -H 'Accept-Encoding: gzip' >/dev/null
expect_eq "$(header Content-Encoding)" "gzip" "a kept file keeps its gzip variant"
expect_eq "$(get "$(base)/main-AAAAAAA4.js")" 200 "cut 2130's bundle is served"
expect_eq "$(get "$(base)/chunk-CCCCCCC2.js")" 200 "cut 2115's lazy chunk is served"
expect_eq "$(get "$(base)/main-AAAAAAA3.js/")" 404 "a kept file is not a folder"
expect_eq "$(get "$(base)/main-AAAAAAA4.js" -r 0-9)" 206 "a range of a kept file"
expect_eq "$(cat "$T/body")" "/* main-AA" "its bytes"

# Pruned (three cuts back) and never-seen fingerprinted names: 404
# no-store, and never the SPA's index.html.
expect_eq "$(get "$(base)/main-AAAAAAA2.js")" 404 "cut 2100's bundle was pruned"
expect_eq "$(header Cache-Control)" "no-store" "a fingerprinted 404 is no-store"
expect_eq "$(header Surrogate-Key)" "" "... and has no tags"
grep -q '<app-root>' "$T/body" && fail "a missing bundle was answered with the SPA's index.html"
ok "a missing bundle is not answered with HTML from the fallback"
expect_eq "$(get "$(base)/chunk-ZZZZZZZ7.js")" 404 "a name no cut had"
expect_eq "$(header Cache-Control)" "no-store" "no-store"
expect_eq "$(get "$(base)/media/roboto-0a1b2c3d4e5f6a7b.woff2")" 404 "a webpack-hashed font no cut had"
expect_eq "$(header Cache-Control)" "no-store" "no-store"
# Other misses: the package's 404 page, cached briefly, with the cut's tags.
expect_eq "$(get "$(base)/json/nope.json")" 404 "a JSON miss"
expect_eq "$(header Cache-Control)" "public, max-age=10" "a miss that is not fingerprinted: error_ttl"
expect_eq "$(header Surrogate-Key)" "prep prep-cut-20240602_2145 prep-percut prep-error" "its tags"
grep -q 'No encontrado' "$T/body" || fail "the package's 404.html is not the body"
ok "the package's 404.html"
expect_eq "$(get "$(base)/presidencia/entidad/07")" 200 "an app route still gets index.html"

# Per-cut files of earlier cuts are never kept: only the cut's own.
get "$(base)/index.html" >/dev/null
grep -q 'main-AAAAAAA5.js' "$T/body" || fail "index.html is not the current one"
ok "index.html has no older version"

# A rollback to cut 2115 (seq 2): the cut it leaves (2145: main 5, chunk
# 4) stays servable for the pages already open on it, with cut 2130's
# main 4; cut 2115's own bundle is the cut's again.
"$PREPD" rollback 2 --admin "127.0.0.1:$APORT" --data "$T/cdn/var" >/dev/null
for ((i = 0; i < 100; i++)); do
	get "$(base)/" >/dev/null
	[[ $(header X-PREP-Cut) == *"seq=5; label=20240602_2115"* ]] && break
	sleep 0.1
done
expect_match "$(header X-PREP-Cut)" '^seq=5; label=20240602_2115' "the rollback is served"
grep -q 'main-AAAAAAA3.js' "$T/body" || fail "index.html is not cut 2115's"
ok "index.html is the rolled-back cut's"
expect_log 'ingest rollback-kept cut=20240602_2115 kept=3 kept_cuts=2 ' \
	"the rollback keeps the cut it leaves and the one before"
expect_eq "$(get "$(base)/main-AAAAAAA5.js")" 200 "the bundle of the cut rolled back from"
expect_eq "$(get "$(base)/chunk-CCCCCCC4.js")" 200 "... and its lazy chunk"
expect_eq "$(get "$(base)/main-AAAAAAA4.js")" 200 "cut 2130's bundle"
expect_eq "$(get "$(base)/main-AAAAAAA3.js")" 200 "the rolled-back cut's own bundle"
expect_match "$(header X-PREP-Cut)" 'label=20240602_2115' "served by the rollback"
expect_eq "$(get "$(base)/main-AAAAAAA2.js")" 404 "cut 2100's bundle does not come back"

# A SIGHUP that changes [cache]: the cut is rebuilt with the new policy
# and keeps its kept files.
cat >"$T/prepd.ini" <<INI
[cache]
keep_cuts = 2
keep_minutes = 60
cdn_ttl = 5m
cdn_header = surrogate-control cdn-cache-control
stale_while_revalidate = 0
tags = cache-tag
error_ttl = 0
INI
kill -HUP "$PID"
expect_log 'ingest reload-rebuilt cut=20240602_2115' "the cut is rebuilt on SIGHUP"
get "$(base)/json/resultados.json" >/dev/null
expect_eq "$(header Cache-Control)" "public, max-age=10" "Cache-Control keeps no CDN TTL"
expect_eq "$(header Surrogate-Control)" "max-age=300, stale-if-error=86400" "Surrogate-Control"
expect_eq "$(header CDN-Cache-Control)" "max-age=300, stale-if-error=86400" "CDN-Cache-Control"
expect_eq "$(header Surrogate-Key)" "" "no Surrogate-Key"
expect_eq "$(header Cache-Tag)" "prep,prep-cut-20240602_2115,prep-percut,prep-json" "Cache-Tag only"
expect_eq "$(get "$(base)/main-AAAAAAA5.js")" 200 "the kept bundle survives the rebuild"
expect_eq "$(header Cache-Tag)" "prep,prep-immutable,prep-js" "with the new tags"
expect_eq "$(get "$(base)/json/nope.json")" 404 "a miss"
expect_eq "$(header Cache-Control)" "no-store" "error_ttl = 0: no-store"

# keep_cuts = 0 turns it off at the next cut.
cat >"$T/prepd.ini" <<INI
[cache]
keep_cuts = 0
INI
kill -HUP "$PID"
expect_log 'config reloaded key=cache.keep_cuts' "keep_cuts changes on SIGHUP"
for ((i = 0; i < 50; i++)); do
	[[ $(get "$(base)/main-AAAAAAA4.js") == 404 ]] && break
	sleep 0.1
done
expect_eq "$(get "$(base)/main-AAAAAAA4.js")" 404 "keep_cuts = 0: nothing kept after the rebuild"
expect_eq "$(get "$(base)/main-AAAAAAA3.js")" 200 "the cut's own bundle"

stop_prepd
done_testing
