#!/usr/bin/env bash
# RSS per idle session at about 20,000 sessions (BOSH or WebSocket), with the reference loader.
# One loader process cannot hold that many sessions here (the open-file limit is 20,000 and a
# BOSH session takes about two sockets), so two loaders run side by side: A logs in users
# 1..HALF and holds them; B then logs in HALF+1..2*HALF and measures. B's rss_per_session_kb
# is the marginal cost of the second half; (RSS at the end - RSS of the fresh server) / total
# is printed as rss_per_session_kb_total.
#   TRANSPORT=bosh bash bench/rss-20k.sh [TARGET_ENV...]   (after registering the users)
# TRANSPORT: bosh (default) or ws; HALF: default 10000. A server also needs one descriptor per
# WebSocket session, so WS runs use HALF=9950 (19,900 sessions) under the 20,000 limit.
# EXTRA: more loader arguments (e.g. a wss:// --ws-url for TLS); LABEL_SUFFIX: appended to the
# label of the summary line (e.g. -wss).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
export OUT=${OUT:-/tmp/lab/rss20k-$(date +%s).jsonl}
TRANSPORT=${TRANSPORT:-bosh}
HALF=${HALF:-10000}
read -r -a EXTRA <<<"${EXTRA:-}"
ulimit -n "$(ulimit -Hn)"
cd "$PEERS/bench"
[ $# -gt 0 ] && TARGETS=("$@")
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
for t in "${TARGETS[@]}"; do
    restart_target "$t"
    # shellcheck disable=SC1090
    pid=$(source "$t"; cat "$PIDFILE")
    base=$(rss_kb "$pid")
    ./run.sh "$t" sessions --transport "$TRANSPORT" --first 1 --count "$HALF" --concurrency 50 --hold 400 --timeout 120 "${EXTRA[@]}" >/tmp/lab/20k-a.json &
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
        run ./run.sh "$t" sessions --transport "$TRANSPORT" --first $((HALF + 1)) --count "$HALF" --concurrency 50 --hold 15 --timeout 120 "${EXTRA[@]}"
        total=$(rss_kb "$pid")
        label=$(source "$t"; echo "$LABEL")${LABEL_SUFFIX:-}
        n=$((2 * HALF))
        echo "{\"label\": \"$label\", \"transport\": \"$TRANSPORT\", \"mode\": \"rss20k\", \"sessions\": $n, \"rss_fresh_kb\": $base, \"rss_end_kb\": $total, \"rss_per_session_kb_total\": $(( (total - base) / n ))}" | tee -a "$OUT"
    fi
    kill "$a" 2>/dev/null || true; wait "$a" 2>/dev/null || true
done
echo "results: $OUT"
