#!/usr/bin/env bash
# Issue 4 measurement over BOSH: tern beside Prosody and ejabberd in one run, with the
# reference loader from ../shared/peers (the project's own bench tool comes with issue 6).
#   bash bench/peers-bosh.sh        # needs a release build in $TERN_BIN (default target/release/tern)
# NUSERS (default 20000) users per server; SESSIONS_BIG (default 19000) idle sessions for the
# large RSS point (the loader and each server must stay under the 20000 open-file limit here).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS=${PEERS:-$ROOT/../shared/peers}
TERN_BIN=${TERN_BIN:-$ROOT/target/release/tern}
NUSERS=${NUSERS:-20000}
BIG=${SESSIONS_BIG:-19000}
OUT=${OUT:-/tmp/lab/issue4-$(date +%s).jsonl}
export OUT
ulimit -n "$(ulimit -Hn)"
NUSERS=$NUSERS bash "$PEERS/start.sh" >/dev/null
start_tern() {
    mkdir -p /tmp/lab/tern
    pkill -f "tern serve --config $ROOT/bench/tern-loopback.toml" && sleep 1 || true
    (cd /tmp/lab/tern; nohup "$TERN_BIN" serve --config "$ROOT/bench/tern-loopback.toml" >/tmp/lab/tern/stdout.log 2>&1 &
     echo $! >/tmp/lab/tern/tern.pid)
    sleep 1
}
start_tern
PY=/tmp/lab/venv/bin/python
"$PY" "$PEERS/bench/xmppbench.py" register --host 127.0.0.1 --tcp-port 45222 --domain localhost \
    --prefix bench --password pass --first 1 --count "$NUSERS" --concurrency 64 >/dev/null
cd "$PEERS/bench"
T=(targets/prosody.env targets/ejabberd.env "$ROOT/bench/tern.env")
run() { echo "+ $*" >&2; timeout 600 "$@" | tail -1; sleep 2; }
restart() {
    case "$1" in
        *prosody*) bash ../stop.sh prosody >/dev/null; bash ../start.sh prosody >/dev/null ;;
        *ejabberd*) bash ../stop.sh ejabberd >/dev/null; bash ../start.sh ejabberd >/dev/null ;;
        *) start_tern ;;
    esac
    sleep 3
}
# warm the loader's SCRAM cache (unmeasured; SKIP_WARM=1 when it is warm already)
if [ -z "${SKIP_WARM:-}" ]; then
    for t in "${T[@]}"; do OUT=/dev/null run ./run.sh "$t" sessions --transport tcp --count "$NUSERS" --concurrency 50 >/dev/null; done
fi
for t in "${T[@]}"; do run ./run.sh "$t" sessions --transport bosh --count 2000 --concurrency 50 --timeout 60; done
for n in 5000 "$BIG"; do for t in "${T[@]}"; do
    restart "$t"
    run ./run.sh "$t" sessions --transport bosh --count "$n" --concurrency 50 --hold 15 --timeout 120
done; done
for t in "${T[@]}"; do run ./run.sh "$t" messages --transport bosh --pairs 100 --window 4 --warmup 3 --duration 20; done
for t in "${T[@]}"; do run ./run.sh "$t" messages --transport bosh --pairs 100 --rate 1000 --warmup 3 --duration 20; done
echo "results: $OUT"
