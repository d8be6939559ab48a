#!/usr/bin/env bash
# Issue 5 measurement over TLS WebSocket (wss): Prosody and ejabberd from ../shared/peers with a
# TLS listener added (bench/peers-tls.sh) beside tern's wss listener, in one run: CPU per 1000
# logins, RSS per idle session at 5000 sessions and at 19,900 (two loaders, bench/rss-20k.sh).
#   bash bench/peers-wss.sh     (after bench/peers-ws.sh registered the users; release tern build)
# The peers are left running in their plain setup afterwards.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
export OUT=${OUT:-/tmp/lab/issue5-wss-$(date +%s).jsonl}
export PEERS_TLS=1
ulimit -n "$(ulimit -Hn)"
cd "$PEERS/bench"
label() { (source "$1"; echo "$LABEL-wss"); }
for t in "${TARGETS[@]}"; do
    restart_target "$t"
    read -r -a wss <<<"$(peer_wss_args "$t")"
    export SSL_CERT_FILE; SSL_CERT_FILE=$(peer_cert_file "$t")
    OUT=/dev/null run ./run.sh "$t" sessions --transport ws --count 2000 --concurrency 50 --label "$(label "$t")" "${wss[@]}" >/dev/null
    run ./run.sh "$t" sessions --transport ws --count 2000 --concurrency 50 --timeout 60 --label "$(label "$t")" "${wss[@]}"
    restart_target "$t"
    run ./run.sh "$t" sessions --transport ws --count 5000 --concurrency 50 --hold 15 --timeout 120 --label "$(label "$t")" "${wss[@]}"
done
if [ -z "${SKIP_20K:-}" ]; then
    for t in "${TARGETS[@]}"; do
        SSL_CERT_FILE=$(peer_cert_file "$t") TRANSPORT=ws HALF=9950 LABEL_SUFFIX=-wss EXTRA="$(peer_wss_args "$t") --label $(label "$t")" \
            bash "$ROOT/bench/rss-20k.sh" "$t"
    done
fi
bash "$PEERS/stop.sh" >/dev/null; NUSERS=${NUSERS:-20000} bash "$PEERS/start.sh" >/dev/null
echo "results: $OUT"
