#!/usr/bin/env bash
# RSS per idle BOSH session at 20,000 sessions, with the reference loader. One loader process
# cannot hold 20,000 BOSH sessions here (it keeps about two sockets per session and the
# open-file limit is 20,000), so two loaders run side by side: A logs in users 1..10000 and
# holds them; B then logs in 10001..20000 and measures. B's rss_per_session_kb is the marginal
# cost of sessions 10,000 to 20,000; (RSS at 20,000 - RSS of the fresh server) / 20,000 is
# printed as rss_per_session_kb_total.
#   bash bench/bosh-rss-20k.sh [TARGET_ENV...]   (after bench/peers-bosh.sh registered 20000 users)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
export OUT=${OUT:-/tmp/lab/issue4-20k-$(date +%s).jsonl}
ulimit -n "$(ulimit -Hn)"
cd "$PEERS/bench"
[ $# -gt 0 ] && TARGETS=("$@")
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
for t in "${TARGETS[@]}"; do
    restart_target "$t"
    # shellcheck disable=SC1090
    pid=$(source "$t"; cat "$PIDFILE")
    base=$(rss_kb "$pid")
    ./run.sh "$t" sessions --transport bosh --first 1 --count 10000 --concurrency 50 --hold 400 --timeout 120 >/tmp/lab/20k-a.json &
    a=$!
    # A's logins are done when the server's RSS has not changed for 10 s (at most 10 minutes).
    prev=0; same=0; tries=0
    while [ "$same" -lt 5 ] && [ "$tries" -lt 300 ]; do
        sleep 2; tries=$((tries+1))
        cur=$(rss_kb "$pid" || echo gone)
        [ "$cur" = gone ] && { echo "$t: server died during phase A" >&2; break; }
        if [ "$cur" = "$prev" ]; then same=$((same+1)); else same=0; fi; prev=$cur
    done
    if kill -0 "$pid" 2>/dev/null; then
        run ./run.sh "$t" sessions --transport bosh --first 10001 --count 10000 --concurrency 50 --hold 15 --timeout 120
        total=$(rss_kb "$pid")
        label=$(source "$t"; echo "$LABEL")
        echo "{\"label\": \"$label\", \"mode\": \"rss20k\", \"rss_fresh_kb\": $base, \"rss_20k_kb\": $total, \"rss_per_session_kb_total\": $(( (total - base) / 20000 ))}" | tee -a "$OUT"
    fi
    kill "$a" 2>/dev/null || true; wait "$a" 2>/dev/null || true
done
echo "results: $OUT"
