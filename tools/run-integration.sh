#!/bin/sh
# Runs the integration suites (real binary over loopback) against the given herald binary:
# pytest (Python clients: raw sockets, http.client, curl, websockets) and the Node `ws` client.
# Usage: tools/run-integration.sh BINARY [pytest args...]
# Test files or folders among the pytest args (tests/integration/test_x.py, with ::name or not)
# are run instead of the whole tests/integration.
set -e
bin=${1:?usage: tools/run-integration.sh BINARY [pytest args]}
shift
HERALD_BIN=$(realpath "$bin")
export HERALD_BIN
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# As tools/run-e2e.sh: npm ci's own record of a finished install, not the folder.
if [ -f tests/node/package.json ] && [ ! -f tests/node/node_modules/.package-lock.json ]; then
  (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
fi
jobs=""
if /usr/bin/python3 -c 'import xdist' 2>/dev/null; then jobs="-n 2"; fi
echo "== integration ($HERALD_BIN${HERALD_BACKEND:+, backend $HERALD_BACKEND}${HERALD_BROKER:+, broker $HERALD_BROKER}) =="
suite=tests/integration
for a in "$@"; do
  case $a in -*) ;; *) [ -e "${a%%::*}" ] && suite="" ;; esac
done
/usr/bin/python3 -m pytest -q -p no:cacheprovider $jobs $suite "$@"
