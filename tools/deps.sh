#!/bin/sh
# Installs the Debian packages herald needs when they are missing.
# Usage: tools/deps.sh build|test|bench|deb|lint|fuzz
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -e
build="g++ make libssl-dev pkg-config"
test="$build libcriterion-dev redis-server redis-tools curl python3 python3-websockets python3-pytest python3-pytest-xdist nodejs npm chromium fonts-wqy-microhei cppcheck clang-tidy clang libclang-rt-14-dev nginx libnginx-mod-stream"
bench="$build nginx libnginx-mod-nchan redis-server wrk curl python3"
deb="$build dpkg-dev fakeroot lintian adduser"
lint="$build cppcheck clang-tidy libcriterion-dev"
fuzz="$build clang libclang-rt-14-dev"
case "${1:-build}" in
  build) want=$build ;; test) want=$test ;; bench) want=$bench ;;
  deb) want=$deb ;; lint) want=$lint ;; fuzz) want=$fuzz ;;
  *) echo "usage: $0 build|test|bench|deb|lint|fuzz" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
  # Node may come from elsewhere (nodesource bundles npm): a working command is enough.
  case $p in nodejs|npm) command -v "${p%js}" >/dev/null 2>&1 && continue ;; esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "herald: missing packages:$missing" >&2
  echo "run: sudo apt-get update && sudo apt-get install -y$missing" >&2
  exit 1
fi
echo "herald: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends $missing >/dev/null
