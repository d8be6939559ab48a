#!/usr/bin/env bash
# RSS per idle BOSH session at 20,000 sessions for tern, Prosody and ejabberd, with the
# reference loader. One loader process cannot hold 20,000 BOSH sessions here (it keeps about two
# sockets per session and the open-file limit is 20,000), so two loaders run side by side:
# A logs in users 1..10000 and holds them; B then logs in 10001..20000 and measures. B's
# RSS-per-session figure is the marginal cost of the sessions from 10,000 to 20,000.
# The total, (RSS with 20,000 sessions - RSS of the fresh server) / 20,000, is printed too.
#   bash bench/bosh-rss-20k.sh      (after bench/peers-bosh.sh has registered 20000 users)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS=${PEERS:-$ROOT/../shared/peers}
TERN_BIN=${TERN_BIN:-$ROOT/target/release/tern}
OUT=${OUT:-/tmp/lab/issue4-20k-$(date +%s).jsonl}
export OUT
ulimit -n "$(ulimit -Hn)"
cd "$PEERS/bench"
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
for t in targets/prosody.env targets/ejabberd.env "$ROOT/bench/tern.env"; do
    case "$t" in
        *prosody*) bash ../stop.sh prosody >/dev/null; bash ../start.sh prosody >/dev/null ;;
        *ejabberd*) bash ../stop.sh ejabberd >/dev/null; bash ../start.sh ejabberd >/dev/null ;;
        *) pkill -f "tern serve --config $ROOT/bench/tern-loopback.toml" && sleep 1 || true
           (cd /tmp/lab/tern; nohup "$TERN_BIN" serve --config "$ROOT/bench/tern-loopback.toml" >/tmp/lab/tern/stdout.log 2>&1 &
            echo $! >/tmp/lab/tern/tern.pid) ;;
    esac
    sleep 3
    # shellcheck disable=SC1090
    pid=$(source "$t"; cat "$PIDFILE")
    base=$(rss_kb "$pid")
    ./run.sh "$t" sessions --transport bosh --first 1 --count 10000 --concurrency 50 --hold 400 --timeout 120 >/tmp/lab/20k-a.json &
    a=$!
    # wait until A's logins are done (the server's RSS stops growing for 10 s)
    prev=0; same=0
    while [ "$same" -lt 5 ]; do sleep 2; cur=$(rss_kb "$pid"); if [ "$cur" = "$prev" ]; then same=$((same+1)); else same=0; fi; prev=$cur; done
    ./run.sh "$t" sessions --transport bosh --first 10001 --count 10000 --concurrency 50 --hold 15 --timeout 120 | tail -1
    total=$(rss_kb "$pid")
    echo "{\"label\": \"$(source "$t"; echo "$LABEL")\", \"mode\": \"rss20k\", \"rss_fresh_kb\": $base, \"rss_20k_kb\": $total, \"rss_per_session_kb_total\": $(( (total - base) / 20000 ))}" | tee -a "$OUT"
    kill "$a" 2>/dev/null || true; wait "$a" 2>/dev/null || true
done
echo "results: $OUT"
