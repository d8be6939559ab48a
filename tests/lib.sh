# Shared by tests/interop/run.sh and tests/browser/run.sh (sourced after they define `log`
# and `die`): installing Debian packages, the tern binary under test, and npm packages kept in
# step with package-lock.json.

APT_UPDATED=0
# apt_install PKG...: install with the current package lists, updating them once if that fails.
apt_install() {
    command -v apt-get >/dev/null || die "apt-get not available to install: $*"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "$@"; then
        if [ "$APT_UPDATED" -eq 0 ]; then
            $sudo apt-get update || die "apt-get update failed"
            APT_UPDATED=1
        fi
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "$@" || die "apt-get install $* failed"
    fi
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# find_tern_bin DIR: export TERN_BIN (default: the repository's target/debug/tern).
find_tern_bin() {
    if [ -z "${TERN_BIN:-}" ]; then
        local top
        top="$(git -C "$1" rev-parse --show-toplevel 2>/dev/null || (cd "$1/../.." && pwd))"
        TERN_BIN="$top/target/debug/tern"
    fi
    [ -x "$TERN_BIN" ] || die "tern binary not found at $TERN_BIN: build it with 'cargo build -p tern' or set TERN_BIN"
    export TERN_BIN
    log "server binary: $TERN_BIN"
}

# npm_install STAMP: `npm ci` in the current directory when node_modules is missing or was
# installed from another package-lock.json (the lock's hash is kept in node_modules/STAMP).
npm_install() {
    local lock_sha
    lock_sha="$(sha package-lock.json)"
    if [ ! -d node_modules ] || [ "$(cat "node_modules/$1" 2>/dev/null)" != "$lock_sha" ]; then
        log "installing npm packages (npm ci)"
        npm ci --no-audit --no-fund || die "npm ci failed"
        echo "$lock_sha" >"node_modules/$1"
    fi
}

# need_node: install nodejs/npm when missing and require Node >= 20.10 (@xmpp/client 0.14);
# sets NODE_VERSION.
need_node() {
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        apt_install nodejs npm
    fi
    NODE_VERSION="$(node -p 'process.versions.node')"
    node -e '
      const [maj, min] = process.versions.node.split(".").map(Number);
      process.exit(maj > 20 || (maj === 20 && min >= 10) ? 0 : 1);
    ' || die "Node.js >= 20.10 is needed (found $NODE_VERSION)"
}
