#!/usr/bin/env bash
# Throwaway PostgreSQL server for tern's PostgreSQL tests (tern-store).
#
#   eval "$(bash scripts/pg-test-server.sh)"   # start (or reuse) and export TERN_TEST_PG_URL
#   bash scripts/pg-test-server.sh stop         # stop it and delete its data
#
# Installs PostgreSQL via apt if initdb/pg_ctl are missing, creates a cluster in
# $TERN_PG_DIR (default /tmp/tern-pg-test) owned by the `postgres` user (the server
# refuses to run as root), listens on a free port on 127.0.0.1 only, trust auth,
# fsync off (test data only), and creates the database `tern_test`.
# Idempotent: a second start reuses the running server. Only the export line and a
# comment go to stdout, so the output can be eval'ed; progress goes to stderr.
set -euo pipefail

DIR="${TERN_PG_DIR:-/tmp/tern-pg-test}"
DATA="$DIR/data"
PORT_FILE="$DIR/port"
LOG="$DIR/server.log"
DB=tern_test

log() { echo "pg-test-server: $*" >&2; }

find_bindir() {
    local d
    # Highest installed major version first.
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
        if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then echo "$d"; return 0; fi
    done
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v pg_ctl)"; return 0
    fi
    return 1
}

ensure_installed() {
    if BIN="$(find_bindir)"; then return 0; fi
    log "installing PostgreSQL via apt"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q postgresql >&2; then
        apt-get update -q >&2
        apt-get install -y -q postgresql >&2
    fi
    BIN="$(find_bindir)" || { log "initdb/pg_ctl not found after install"; exit 1; }
}

# Run a command as the cluster owner: `postgres` when we are root, else ourselves.
as_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
    local p i
    for i in $(seq 1 200); do
        p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
        if ! port_in_use "$p"; then echo "$p"; return 0; fi
    done
    log "no free port found"; exit 1
}

is_running() { [[ -d "$DATA" ]] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

# Running *and* answering on the recorded port.
is_healthy() {
    is_running && [[ -f "$PORT_FILE" ]] &&
        "$BIN/pg_isready" -q -h 127.0.0.1 -p "$(cat "$PORT_FILE")" -t 5 >/dev/null 2>&1
}

print_env() {
    local port; port="$(cat "$PORT_FILE")"
    echo "export TERN_TEST_PG_URL=postgres://postgres@127.0.0.1:$port/$DB"
    echo "# stop with: bash $(cd "$(dirname "$0")" && pwd)/pg-test-server.sh stop"
}

stop() {
    if [[ ! -d "$DIR" ]]; then log "not running"; return 0; fi
    if BIN="$(find_bindir)" && is_running; then
        as_owner "$BIN/pg_ctl" -D "$DATA" -m immediate -w stop >&2
    fi
    rm -rf "$DIR"
    log "stopped"
}

start() {
    ensure_installed
    if is_healthy; then
        log "already running"
        print_env
        return 0
    fi
    if is_running; then
        # Alive but not answering (e.g. dying after a crash): make sure it is gone.
        log "server not answering; stopping it"
        as_owner "$BIN/pg_ctl" -D "$DATA" -m immediate -w stop >&2 || true
        local i
        for i in $(seq 1 50); do is_running || break; sleep 0.2; done
    fi
    mkdir -p "$DIR"
    if [[ "$(id -u)" == 0 ]]; then chown postgres: "$DIR"; fi
    if [[ ! -f "$DATA/PG_VERSION" ]]; then
        rm -rf "$DATA"
        log "initdb in $DATA"
        as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C \
            --no-sync >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; exit 1; }
    fi
    local port; port="$(free_port)"
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
        -o "-p $port -c listen_addresses=127.0.0.1 -k $DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >&2 || { tail -n 30 "$LOG" >&2; exit 1; }
    echo "$port" > "$PORT_FILE"
    local psql=("$BIN/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1)
    if [[ "$("${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]]; then
        "${psql[@]}" -c "CREATE DATABASE $DB" >&2
    fi
    log "running on 127.0.0.1:$port (data in $DATA)"
    print_env
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    env) BIN="$(find_bindir)" && is_running && print_env ;;
    *) echo "usage: $0 [start|stop|env]" >&2; exit 2 ;;
esac
