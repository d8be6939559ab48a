#!/usr/bin/env bash
# Issue 5 measurement over WebSocket (RFC 7395): tern beside Prosody and ejabberd in one run,
# with the reference loader from ../shared/peers (the project's own bench tool comes with
# issue 6).
#   bash bench/peers-ws.sh       # needs a release build in $TERN_BIN (default target/release/tern)
# Plain ws for all three servers (the peers' loopback setup serves no TLS on HTTP); tern also
# over wss (its 15291 listener, the loader trusting tern's generated certificate through
# SSL_CERT_FILE) for the TLS memory figure. NUSERS (default 20000) users per server;
# SKIP_WARM=1 when the loader's SCRAM cache is warm. The ~20,000-session point is
# bench/rss-20k.sh with TRANSPORT=ws HALF=9950.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
NUSERS=${NUSERS:-20000}
export OUT=${OUT:-/tmp/lab/issue5-$(date +%s).jsonl}
ulimit -n "$(ulimit -Hn)"
start_all "$NUSERS"
cd "$PEERS/bench"
TERN=$ROOT/bench/tern.env
WSS=(--ws-url wss://localhost:15291/xmpp-websocket)
export SSL_CERT_FILE=/tmp/lab/tern/certs/localhost.crt
if [ -z "${SKIP_WARM:-}" ]; then
    for t in "${TARGETS[@]}"; do OUT=/dev/null run ./run.sh "$t" sessions --transport tcp --count "$NUSERS" --concurrency 50 >/dev/null; done
fi
# Logins (a warm server: the first 2000 are unmeasured).
for t in "${TARGETS[@]}"; do OUT=/dev/null run ./run.sh "$t" sessions --transport ws --count 2000 --concurrency 50 >/dev/null; done
for t in "${TARGETS[@]}"; do run ./run.sh "$t" sessions --transport ws --count 2000 --concurrency 50 --timeout 60; done
run ./run.sh "$TERN" sessions --transport ws --count 2000 --concurrency 50 --timeout 60 --label tern-wss "${WSS[@]}"
# Memory per idle session, fresh server each time.
for t in "${TARGETS[@]}"; do
    restart_target "$t"
    run ./run.sh "$t" sessions --transport ws --count 5000 --concurrency 50 --hold 15 --timeout 120
done
restart_target "$TERN"
run ./run.sh "$TERN" sessions --transport ws --count 5000 --concurrency 50 --hold 15 --timeout 120 --label tern-wss "${WSS[@]}"
# Messages: closed loop (100 pairs x 4 in flight) and open loop at 1000 msg/s.
for t in "${TARGETS[@]}"; do run ./run.sh "$t" messages --transport ws --pairs 100 --window 4 --warmup 3 --duration 20; done
for t in "${TARGETS[@]}"; do run ./run.sh "$t" messages --transport ws --pairs 100 --rate 1000 --warmup 3 --duration 20; done
echo "results: $OUT"
