#!/usr/bin/env bash
# A simulated night (prepsim) against prepd, both ways an institute
# delivers: cuts dropped into the spool with faults (truncated uploads,
# wrong hashes), and cuts served over HTTPS with an index file and a 5xx.
# Every good cut is published with the cut time from its own JSON (R8);
# every faulty one is quarantined and the cut before it stays served.
. "$(dirname "$0")/lib.sh"
sim=$SRCDIR/prepsim/prepsim.py
cat >"$T/night.ini" <<'INI'
[ingest]
verify = sha256
evidence_wait = 3
cut_json = /assets/JSON/PRESIDENTE/NACIONAL/Presidente_NACIONAL.json
cut_key = ultimoCorte
INI

# 1. Spool, 8 cuts a second apart, with faults prepsim picks by its seed.
spool=$T/spool
mkdir -p "$spool"
start_prepd spool --spool "$spool" --config "$T/night.ini"
python3 "$sim" run --spool "$spool" --every 1s --cuts 8 --kind incremental \
	--faults truncated,badhash --seed night-a >"$T/sim-spool.out" 2>&1 ||
	fail "prepsim run --spool: $(cat "$T/sim-spool.out")"
good=$(grep '^prepsim cut=' "$T/sim-spool.out" | grep -c 'faults=none')
bad=$(grep '^prepsim cut=' "$T/sim-spool.out" | grep -vc 'faults=none')
[[ $good -ge 1 && $bad -ge 1 ]] || fail "seed night-a gave good=$good bad=$bad cuts; pick another seed"
last_good=$(grep '^prepsim cut=.*faults=none' "$T/sim-spool.out" | tail -n1 | sed -E 's/.*time=([0-9-]+)T([0-9]+):([0-9]+).*/\1T\2:\3/')
for ((i = 0; i < 100; i++)); do
	(( $(grep -c 'ingest publish\|ingest refuse' "$LOG") >= good + bad )) && break
	sleep 0.1
done
expect_eq "$(grep -c 'ingest publish' "$LOG")" "$good" "every good cut of the night is published ($good)"
expect_eq "$(grep -c 'ingest refuse .*step=verify reason="SHA-256 mismatch' "$LOG")" "$bad" "every truncated or wrong-hash cut is quarantined ($bad)"
get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
expect_match "$(header X-PREP-Cut)" "time=$last_good-06:00\$" "the last good cut is served, its time read from its JSON"
get "http://127.0.0.1:$HTTP_PORT/assets/JSON/PRESIDENTE/NACIONAL/Presidente_NACIONAL.json" >/dev/null
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["generador"]=="prepsim"' "$T/body" ||
	fail "the national JSON is not prepsim's"
ok "the national JSON served is the one prepsim made"
stop_prepd

# 2. HTTPS: prepsim serves the night like an institute; prepd follows the
#    index file and rides out a 5xx.
"$SRCDIR/certs/make-local-cert" "$T/cert" >/dev/null
python3 "$sim" run --serve 127.0.0.1:0 --cert "$T/cert/cert.pem" --key "$T/cert/key.pem" \
	--ready "$T/sim.port" --every 2s --cuts 4 --faults 5xx --seed night-b >"$T/sim-serve.out" 2>&1 &
PIDS+=("$!")
for ((i = 0; i < 100; i++)); do [[ -s $T/sim.port ]] && break; sleep 0.1; done
[[ -s $T/sim.port ]] || fail "prepsim --serve did not start: $(cat "$T/sim-serve.out")"
port=$(cat "$T/sim.port")
start_prepd pull \
	--config <(printf '[ingest]\nverify = sha256\nupstream_index = https://127.0.0.1:%s/ultimo.txt\nca = %s\npoll = 1\ncut_json = /assets/JSON/PRESIDENTE/NACIONAL/Presidente_NACIONAL.json\ncut_key = ultimoCorte\n' "$port" "$T/cert/cert.pem")
for ((i = 0; i < 200; i++)); do
	(( $(grep -c 'ingest publish' "$LOG") >= 2 )) && break
	sleep 0.1
done
(( $(grep -c 'ingest publish' "$LOG") >= 2 )) || fail "fewer than 2 cuts pulled: $(grep ingest "$LOG")"
ok "cuts served over HTTPS are pulled through the index file and published"
if grep -q '^prepsim cut=.*faults=5xx' "$T/sim-serve.out"; then
	expect_log 'fetch-failed .*HTTP 503' "a 5xx period is logged and retried"
fi
stop_prepd
done_testing
