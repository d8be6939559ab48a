#!/usr/bin/env bash
# Issue 3 measurement over TCP: tern beside Prosody and ejabberd in one run, with the reference
# loader from ../shared/peers (not shipped to users; the project's own bench tool comes later).
#   bash bench/peers-tcp.sh            # needs a release build in $TERN_BIN (default target/release/tern)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
export OUT=${OUT:-/tmp/lab/issue3-$(date +%s).jsonl}
start_all "${NUSERS:-3000}"
cd "$PEERS/bench"
for t in "${TARGETS[@]}"; do OUT=/dev/null run ./run.sh "$t" sessions --transport tcp --count 2000 --concurrency 50 >/dev/null; done
for t in "${TARGETS[@]}"; do run ./run.sh "$t" sessions --transport tcp --count 2000 --concurrency 50 --timeout 60; done
for t in "${TARGETS[@]}"; do
    restart_target "$t"
    run ./run.sh "$t" sessions --transport tcp --count 2000 --concurrency 50 --hold 15 --timeout 60
done
for t in "${TARGETS[@]}"; do run ./run.sh "$t" messages --transport tcp --pairs 100 --window 4 --warmup 3 --duration 20; done
for t in "${TARGETS[@]}"; do run ./run.sh "$t" messages --transport tcp --pairs 100 --rate 1000 --warmup 3 --duration 20; done
echo "results: $OUT"
