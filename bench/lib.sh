# Shared by the side-by-side scripts (sourced): where things are, and starting each server
# fresh on loopback. tern runs bench/tern-loopback.toml; Prosody and ejabberd come from
# ../shared/peers (start.sh/stop.sh), as does the reference loader.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PEERS=${PEERS:-$ROOT/../shared/peers}
TERN_BIN=${TERN_BIN:-$ROOT/target/release/tern}
PY=/tmp/lab/venv/bin/python
TARGETS=(targets/prosody.env targets/ejabberd.env "$ROOT/bench/tern.env")

# (Re)start tern from a fresh process; its pid goes where tern.env's PIDFILE points.
start_tern() {
    mkdir -p /tmp/lab/tern
    local pattern="tern serve --config $ROOT/bench/tern-loopback.toml"
    pkill -f "$pattern" || true
    for _ in $(seq 1 50); do pgrep -f "$pattern" >/dev/null || break; sleep 0.2; done
    (cd /tmp/lab/tern; nohup "$TERN_BIN" serve --config "$ROOT/bench/tern-loopback.toml" >/tmp/lab/tern/stdout.log 2>&1 &
     echo $! >/tmp/lab/tern/tern.pid)
    for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/15222) 2>/dev/null && break; sleep 0.2; done
}

# Restart the server a target file describes (run from the peers' bench/ directory).
# With PEERS_TLS=1 the peers come back with a TLS WebSocket listener (bench/peers-tls.sh).
restart_target() {
    case "$1" in
        *prosody*) if [ -n "${PEERS_TLS:-}" ]; then start_peer_tls prosody; else bash ../stop.sh prosody >/dev/null; bash ../start.sh prosody >/dev/null; fi ;;
        *ejabberd*) if [ -n "${PEERS_TLS:-}" ]; then start_peer_tls ejabberd; else bash ../stop.sh ejabberd >/dev/null; bash ../start.sh ejabberd >/dev/null; fi ;;
        *) start_tern ;;
    esac
    sleep 3
}

# Start the peers and tern, and register bench1..benchN on tern (XEP-0077).
start_all() {
    NUSERS=$1 bash "$PEERS/start.sh" >/dev/null
    start_tern
    "$PY" "$PEERS/bench/xmppbench.py" register --host 127.0.0.1 --tcp-port 15222 --domain localhost \
        --prefix bench --password pass --first 1 --count "$1" --concurrency 64 >/dev/null
}

source "$ROOT/bench/peers-tls.sh"

# Run one loader command, print its JSON line.
run() { echo "+ $*" >&2; timeout 600 "$@" | tail -1; sleep 2; }
