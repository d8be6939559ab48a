#!/usr/bin/env bash
# Issue 4 measurement over BOSH: tern beside Prosody and ejabberd in one run, with the
# reference loader from ../shared/peers (the project's own bench tool comes with issue 6).
#   bash bench/peers-bosh.sh        # needs a release build in $TERN_BIN (default target/release/tern)
# NUSERS (default 20000) users per server; SESSIONS_BIG (default 9000) idle sessions for the
# larger RSS point (one loader keeps about two sockets per BOSH session and the open-file limit
# is 20000 here; bench/rss-20k.sh measures 20000 sessions with two loaders).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
NUSERS=${NUSERS:-20000}
BIG=${SESSIONS_BIG:-9000}
export OUT=${OUT:-/tmp/lab/issue4-$(date +%s).jsonl}
ulimit -n "$(ulimit -Hn)"
start_all "$NUSERS"
cd "$PEERS/bench"
# warm the loader's SCRAM cache (unmeasured; SKIP_WARM=1 when it is warm already)
if [ -z "${SKIP_WARM:-}" ]; then
    for t in "${TARGETS[@]}"; do OUT=/dev/null run ./run.sh "$t" sessions --transport tcp --count "$NUSERS" --concurrency 50 >/dev/null; done
fi
for t in "${TARGETS[@]}"; do run ./run.sh "$t" sessions --transport bosh --count 2000 --concurrency 50 --timeout 60; done
for n in 5000 "$BIG"; do for t in "${TARGETS[@]}"; do
    restart_target "$t"
    run ./run.sh "$t" sessions --transport bosh --count "$n" --concurrency 50 --hold 15 --timeout 120
done; done
for t in "${TARGETS[@]}"; do run ./run.sh "$t" messages --transport bosh --pairs 100 --window 4 --warmup 3 --duration 20; done
for t in "${TARGETS[@]}"; do run ./run.sh "$t" messages --transport bosh --pairs 100 --rate 1000 --warmup 3 --duration 20; done
echo "results: $OUT"
