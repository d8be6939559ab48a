#!/usr/bin/env bash
# Browser tests: strophe.js in Debian's headless Chromium (playwright-core) against the real
# tern binary, from a page on another origin: over BOSH (chromium_bosh.test.mjs), and over
# WebSocket with TLS (chromium_wss.test.mjs: a test CA that Chromium trusts through an NSS
# database in a temporary HOME, certificates chosen by SNI).
#
#   tests/browser/run.sh            # uses $TERN_BIN, else <repo>/target/debug/tern
#
# Builds nothing: run `cargo build -p tern` first (or set TERN_BIN). Installs what it needs:
# Debian's chromium (apt-get) when /usr/bin/chromium is missing, libnss3-tools when certutil
# is missing, openssl when missing, nodejs/npm when missing, and node_modules (npm ci, from
# package-lock.json) when missing or stale. playwright never downloads a browser. Ends with
# "browser: N passed, N failed"; exits non-zero on failure.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"

log() { printf '\n== browser: %s\n' "$*"; }
die() { printf 'browser: error: %s\n' "$*" >&2; echo "browser: 0 passed, 1 failed"; exit 2; }


# shellcheck source=../lib.sh
source "$HERE/../lib.sh"

# ---------------------------------------------------------------- the server binary
find_tern_bin "$HERE"

# ---------------------------------------------------------------- Chromium (Debian's)
CHROMIUM_BIN="${CHROMIUM_BIN:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM_BIN" ]; then
    log "installing chromium (apt-get)"
    START=$SECONDS
    apt_install chromium
    log "chromium installed in $(( SECONDS - START )) s"
fi
[ -x "$CHROMIUM_BIN" ] || die "no Chromium at $CHROMIUM_BIN"
export CHROMIUM_BIN

# ---------------------------------------------------------------- certutil, openssl
# chromium_wss.test.mjs makes its CA and certificates with openssl and puts the CA in an NSS
# database with certutil (libnss3-tools).
command -v certutil >/dev/null || { log "installing libnss3-tools (apt-get)"; apt_install libnss3-tools; }
command -v openssl >/dev/null || { log "installing openssl (apt-get)"; apt_install openssl; }
command -v certutil >/dev/null || die "certutil not found even with libnss3-tools installed"

# ---------------------------------------------------------------- Node modules
need_node
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
npm_install .browser-lock.sha256

# ---------------------------------------------------------------- run
WORK="$(mktemp -d "${TMPDIR:-/tmp}/tern-browser-run.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

CHROMIUM_VERSION="$("$CHROMIUM_BIN" --version 2>/dev/null | head -1)"
NODE_TESTS=(chromium_*.test.mjs)
log "node --test ${NODE_TESTS[*]} ($CHROMIUM_VERSION, playwright-core $(node -p 'require("./node_modules/playwright-core/package.json").version'), strophe.js $(node -p 'require("./node_modules/strophe.js/package.json").version'), node $NODE_VERSION)"
node --test "${NODE_TESTS[@]}" 2>&1 | tee "$WORK/node.out"
NODE_RC=${PIPESTATUS[0]}

# node's TAP closing lines, e.g. "# pass 3" (they count each scenario and each of its steps).
node_count() {
    local n
    n=$(grep -E "^# $1 [0-9]+$" "$WORK/node.out" | tail -1 | cut -d' ' -f3)
    echo "${n:-0}"
}
PASS=$(node_count pass)
FAIL=$(( $(node_count fail) + $(node_count cancelled) ))
# A runner that failed without a countable failure (crash, no tests) still fails the run.
if [ "$NODE_RC" -ne 0 ] && [ "$FAIL" -eq 0 ]; then FAIL=1; fi
if [ "$NODE_RC" -eq 0 ] && [ "$PASS" -eq 0 ]; then FAIL=1; NODE_RC=1; echo "browser: no test ran"; fi
echo "browser: $PASS passed, $FAIL failed"
[ "$NODE_RC" -eq 0 ]
