#!/usr/bin/env bash
# Issue 3 measurement over TCP: tern beside Prosody and ejabberd in one run, with the reference
# loader from ../shared/peers (not shipped to users; the project's own bench tool comes later).
#   bash bench/peers-tcp.sh            # needs a release build in $TERN_BIN (default target/release/tern)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS=${PEERS:-$ROOT/../shared/peers}
TERN_BIN=${TERN_BIN:-$ROOT/target/release/tern}
OUT=${OUT:-/tmp/lab/issue3-$(date +%s).jsonl}
export OUT
NUSERS=${NUSERS:-3000} bash "$PEERS/start.sh" >/dev/null
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
    --prefix bench --password pass --first 1 --count "${NUSERS:-3000}" --concurrency 64 >/dev/null
cd "$PEERS/bench"
T=(targets/prosody.env targets/ejabberd.env "$ROOT/bench/tern.env")
run() { echo "+ $*" >&2; timeout 300 "$@" | tail -1; sleep 2; }
for t in "${T[@]}"; do OUT=/dev/null run ./run.sh "$t" sessions --transport tcp --count 2000 --concurrency 50 >/dev/null; done
for t in "${T[@]}"; do run ./run.sh "$t" sessions --transport tcp --count 2000 --concurrency 50 --timeout 60; done
for t in "${T[@]}"; do
    case "$t" in
        *prosody*) bash ../stop.sh prosody >/dev/null; bash ../start.sh prosody >/dev/null ;;
        *ejabberd*) bash ../stop.sh ejabberd >/dev/null; bash ../start.sh ejabberd >/dev/null ;;
        *) start_tern ;;
    esac
    sleep 3
    run ./run.sh "$t" sessions --transport tcp --count 2000 --concurrency 50 --hold 15 --timeout 60
done
for t in "${T[@]}"; do run ./run.sh "$t" messages --transport tcp --pairs 100 --window 4 --warmup 3 --duration 20; done
for t in "${T[@]}"; do run ./run.sh "$t" messages --transport tcp --pairs 100 --rate 1000 --warmup 3 --duration 20; done
echo "results: $OUT"
