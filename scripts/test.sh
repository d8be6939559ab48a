#!/usr/bin/env bash
# tern's whole test suite, from a fresh Debian machine with Rust:
#   bash scripts/test.sh
# Installs what the tests need (PostgreSQL, Python venv + slixmpp, Node + @xmpp/client +
# strophe.js, Chromium + playwright-core, cargo-fuzz), starts a throwaway PostgreSQL, and runs:
#   1. cargo tests of every crate (unit, deterministic session tests, integration tests
#      against the real binary; the storage suite on SQLite and on PostgreSQL),
#   2. interop tests with real third-party clients (tests/interop: slixmpp, @xmpp/client,
#      strophe.js over BOSH),
#   3. a real headless Chromium (Debian's chromium driven by playwright-core) using BOSH from
#      a page on another origin (tests/browser),
#   4. each cargo-fuzz target briefly (FUZZ_SECONDS per target, default 20; 0 skips them).
# Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
FUZZ_SECONDS="${FUZZ_SECONDS:-20}"

step() { printf '\n==== %s ====\n' "$*"; }

apt_install() {
    # Install Debian packages that are missing (names given as "command:package").
    local missing=()
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    if ((${#missing[@]})); then
        step "apt-get install ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}
apt_install cc:gcc pkg-config:pkg-config python3:python3 node:nodejs npm:npm

step "PostgreSQL for the storage tests"
eval "$(bash scripts/pg-test-server.sh)"
export TERN_REQUIRE_PG=1
trap 'bash "$ROOT/scripts/pg-test-server.sh" stop >/dev/null 2>&1 || true' EXIT

step "cargo test (workspace)"
cargo build --workspace --bins
cargo test --workspace --no-fail-fast 2>&1 | tee /tmp/tern-cargo-test.log
grep -E "^test result:" /tmp/tern-cargo-test.log | awk '{p+=$4; f+=$6} END {printf "cargo: %d passed, %d failed\n", p, f}'

step "interop tests with real clients"
TERN_BIN="$ROOT/target/debug/tern" bash tests/interop/run.sh

step "headless Chromium over BOSH"
TERN_BIN="$ROOT/target/debug/tern" bash tests/browser/run.sh

if [ "$FUZZ_SECONDS" != 0 ]; then
    step "fuzz targets, ${FUZZ_SECONDS}s each"
    bash scripts/fuzz.sh "$FUZZ_SECONDS"
fi

step "all tests passed"
