#!/bin/sh
# `make test` (what CI runs, through .ci/run): everything, arranged for two cores.
#
#   foreground: the builds (package, ASan, kqueue emulation), then the stages of `make
#               test-run` one by one (unit, integration over epoll and over the kqueue
#               emulation, browser end to end), then the integration suite under
#               ThreadSanitizer, then every fuzz target for TEST_FUZZ_SECONDS. Each stage
#               prints its time ("== stage NAME: N s"); a failing stage does not stop the next.
#   background: at nice 19, the ThreadSanitizer build, then the fuzz targets' builds and
#               `make lint` (layers, cppcheck, clang-tidy on every file).
#
# The integration and browser suites wait on sockets, timeouts and browsers much of the time:
# the background work (CPU only; the line after the TSan suite says how much it used) fills
# those gaps instead of adding its own stage. At nice 19 it takes mostly what the tests leave
# (a niced process gets 15/1039 of a core the tests want); it still slows the foreground
# somewhat (README "Tests" has the stage times with and without it).
# Each part's output: the foreground on stdout; the background's in build/test/*.log, printed
# when it fails. Any failure fails the whole, after the rest has run as far as it can.
set -u
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
NPROC=${NPROC:-2}
TEST_FUZZ_SECONDS=${TEST_FUZZ_SECONDS:-10}
m() { $MAKE --no-print-directory "$@"; }
now() { date +%s; }
start=$(now)

m test-builds || exit 1

out=build/test
mkdir -p "$out"
rm -f "$out"/tsan-build.rc "$out"/lint.rc
# setsid: the background work is a process group of its own, so a failure here can stop it.
# A new session is also a scheduling group of its own where the kernel groups by session
# (autogroup): its tasks' nice values then count only inside it, and the group as a whole
# would get half the CPU. Writing 19 to /proc/self/autogroup makes the whole group nice.
setsid sh -c '
  [ -w /proc/self/autogroup ] && echo 19 >/proc/self/autogroup 2>/dev/null
  nice -n 19 $0 --no-print-directory -j"$1" build/tsan/herald >"$2/tsan-build.log" 2>&1
  echo $? >"$2/tsan-build.rc"
  nice -n 19 $0 --no-print-directory -j"$1" -k fuzz-builds lint >"$2/lint.log" 2>&1
  rc=$?
  times >"$2/background.times"
  echo $rc >"$2/lint.rc"
' "$MAKE" "$NPROC" "$out" &
bg=$!
stop_bg() { kill -TERM -- "-$bg" 2>/dev/null; wait "$bg" 2>/dev/null; }
trap 'stop_bg; exit 130' INT TERM

# Waits for the background to write FILE (its exit code); prints the log when it is not 0.
wait_rc() {
    while [ ! -f "$out/$1.rc" ]; do
        kill -0 "$bg" 2>/dev/null || break
        sleep 1
    done
    rc=$(cat "$out/$1.rc" 2>/dev/null || echo 1)
    if [ "$rc" != 0 ]; then
        echo "== $1 failed (exit $rc): $out/$1.log" >&2
        grep -v ' generated\.$' "$out/$1.log" | tail -n 200 >&2
        return 1
    fi
    return 0
}

# stage NAME COMMAND...: runs one stage, says how long it took; a failure is counted and the
# next stages still run (CI's log then shows every failing stage, not the first).
failed=""
stage() {
    name=$1
    shift
    t0=$(now)
    "$@" || failed="$failed $name"
    echo "== stage $name: $(( $(now) - t0 )) s"
}
echo "== stage builds: $(( $(now) - start )) s"
stage unit m unit
stage integration-epoll tools/run-integration.sh build/asan/herald
stage integration-kqueue-redis env HERALD_BACKEND=kqueue HERALD_BROKER=redis \
    tools/run-integration.sh build/kq/herald
stage browser tools/run-e2e.sh build/asan/herald

t=$(now)
if wait_rc tsan-build; then
    echo "== the ThreadSanitizer build was ready $(( $(now) - t )) s after the browser suite"
    stage tsan m tsan-run
else
    failed="$failed tsan-build"
fi

t=$(now)
if wait_rc lint; then
    echo "== lint clean ($(grep -c '^clang-tidy ' "$out/lint.log") files through clang-tidy, cppcheck, layer check; finished $(( $(now) - t )) s after the TSan suite; log $out/lint.log)"
    # times: the shell's own, then its children's user and system CPU.
    echo "== the background (TSan build, fuzz builds, lint) used $(sed -n 2p "$out/background.times" | sed 's/ / user, /') system CPU"
else
    failed="$failed lint"
fi
wait "$bg" 2>/dev/null

stage fuzz m -j"$NPROC" fuzz FUZZ_SECONDS="$TEST_FUZZ_SECONDS"

echo "== make test: $(( $(now) - start )) s${failed:+, FAILED:$failed}"
[ -z "$failed" ]
