#!/bin/sh
# Browser end-to-end suite (headless Debian chromium via playwright-core) and herald.js unit
# tests, all run by Node's built-in test runner against the real herald binary.
# Usage: tools/run-e2e.sh [HERALD_BIN]        (default: $HERALD_BIN, else build/asan/herald)
# Never downloads a browser: playwright-core drives /usr/bin/chromium ($CHROMIUM to override).
set -eu
cd "$(dirname "$0")/.."

HERALD_BIN=${1:-${HERALD_BIN:-build/asan/herald}}
export HERALD_BIN
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

fail() { echo "run-e2e: $*" >&2; exit 1; }
[ -x "$HERALD_BIN" ] || fail "no herald binary at $HERALD_BIN (make build/asan/herald)"
command -v node >/dev/null || fail "node is missing (tools/deps.sh test)"
command -v npm >/dev/null || fail "npm is missing (tools/deps.sh test)"
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || fail "chromium is missing (tools/deps.sh test)"

# Dependencies exactly as pinned in tests/e2e/package-lock.json. npm ci writes
# node_modules/.package-lock.json last: without it (an empty or half-made node_modules, as an
# interrupted install leaves) or older than the lockfile, install again.
installed=tests/e2e/node_modules/.package-lock.json
if [ ! -f "$installed" ] || [ tests/e2e/package-lock.json -nt "$installed" ]; then
    (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci failed"
fi

mkdir -p build/e2e
# A bounded run: a hung browser or server must not hang CI.
timeout 900 node --test --test-timeout=120000 tests/e2e/ || fail "e2e tests failed"
