#!/usr/bin/env bash
# Interop tests: the real tern binary against third-party XMPP clients (slixmpp with pytest;
# with node's test runner: @xmpp/client over TCP and WebSocket, strophe.js over BOSH and
# WebSocket, ws and wss verified against the seeded certificate via NODE_EXTRA_CA_CERTS).
#
#   tests/interop/run.sh            # uses $TERN_BIN, else <repo>/target/debug/tern
#
# Builds nothing: run `cargo build -p tern` first (or set TERN_BIN).
# Sets up what it needs: a venv in tests/interop/.venv (from requirements.txt) and
# node_modules (npm ci, from package-lock.json), installing python3-venv / nodejs /
# npm with apt-get when they are missing. Exits non-zero if anything fails.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"

log() { printf '\n== interop: %s\n' "$*"; }
die() { printf 'interop: error: %s\n' "$*" >&2; exit 2; }


# shellcheck source=../lib.sh
source "$HERE/../lib.sh"

# ---------------------------------------------------------------- the server binary
find_tern_bin "$HERE"

# ---------------------------------------------------------------- Python venv
command -v python3 >/dev/null || apt_install python3 python3-venv
VENV="$HERE/.venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV"; then
        rm -rf "$VENV"
        apt_install python3-venv
        python3 -m venv "$VENV" || die "python3 -m venv failed even with python3-venv installed"
    fi
fi
REQ_SHA="$(sha requirements.txt)"
if [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$REQ_SHA" ]; then
    log "installing Python packages (requirements.txt)"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r requirements.txt \
        || die "pip install -r requirements.txt failed"
    echo "$REQ_SHA" > "$VENV/.requirements.sha256"
fi

# ---------------------------------------------------------------- Node modules
need_node
npm_install .interop-lock.sha256

# ---------------------------------------------------------------- run
WORK="$(mktemp -d "${TMPDIR:-/tmp}/tern-interop.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

log "pytest (slixmpp $("$VENV/bin/python" -c 'import slixmpp; print(slixmpp.__version__)'))"
"$VENV/bin/python" -m pytest -v 2>&1 | tee "$WORK/pytest.out"
PY_RC=${PIPESTATUS[0]}

NODE_TESTS=(*.test.mjs)
log "node --test ${NODE_TESTS[*]} (@xmpp/client $(node -p 'require("./node_modules/@xmpp/client/package.json").version'), strophe.js $(node -p 'require("./node_modules/strophe.js/package.json").version'), node $NODE_VERSION)"
# Node reads NODE_EXTRA_CA_CERTS only at start-up: let tern generate its
# self-signed certificate first; every test server is then seeded with it.
if CERT="$(node tern_server.mjs seed-cert "$WORK/certs")"; then
    NODE_EXTRA_CA_CERTS="$CERT" node --test "${NODE_TESTS[@]}" 2>&1 | tee "$WORK/node.out"
    NODE_RC=${PIPESTATUS[0]}
else
    echo "interop: could not generate the certificate for the node tests" | tee "$WORK/node.out"
    NODE_RC=1
fi

# ---------------------------------------------------------------- summary
# pytest's closing line, e.g. "=== 1 failed, 2 passed, 1 error in 3.1s ===".
py_count() {
    local n
    n=$(grep -E '^=+ .* in [0-9.]+s.* =+$' "$WORK/pytest.out" | tail -1 | grep -Eo "[0-9]+ $1" | cut -d' ' -f1)
    echo "${n:-0}"
}
# node's TAP closing lines, e.g. "# pass 3".
node_count() {
    local n
    n=$(grep -E "^# $1 [0-9]+$" "$WORK/node.out" | tail -1 | cut -d' ' -f3)
    echo "${n:-0}"
}
PY_PASS=$(py_count passed); PY_FAIL=$(( $(py_count failed) + $(py_count errors?) ))
NODE_PASS=$(node_count pass); NODE_FAIL=$(( $(node_count fail) + $(node_count cancelled) ))

log "summary"
printf 'pytest (slixmpp):                        exit %s, %s passed, %s failed\n' "$PY_RC" "$PY_PASS" "$PY_FAIL"
printf 'node --test (@xmpp/client, strophe.js): exit %s, %s passed, %s failed\n' "$NODE_RC" "$NODE_PASS" "$NODE_FAIL"
FAIL=$(( PY_FAIL + NODE_FAIL ))
# A runner that failed without a countable failure (crash, no tests) still fails the run.
if [ "$PY_RC" -ne 0 ] && [ "$PY_FAIL" -eq 0 ]; then FAIL=$(( FAIL + 1 )); fi
if [ "$NODE_RC" -ne 0 ] && [ "$NODE_FAIL" -eq 0 ]; then FAIL=$(( FAIL + 1 )); fi
echo "interop: $(( PY_PASS + NODE_PASS )) passed, $FAIL failed"
[ "$PY_RC" -eq 0 ] && [ "$NODE_RC" -eq 0 ]
