#!/bin/bash
# tools/bench/ws-deflate.sh: permessage-deflate (RFC 7692), a benchmark, not a test.
#
# 1. Fan-out of 1 KiB JSON messages to 10,000 WebSocket subscribers, with and without the
#    extension, herald vs nchan (nchan_deflate_message_for_websocket on): bytes on the wire per
#    delivery, server CPU per delivery, p99 (tools/bench/fanout.sh, DEFLATES="0 1" JSON=1). herald
#    compresses a message once and shares the frame, so its CPU per delivery should stay within
#    1.2x of the uncompressed run.
# 2. Echo of 4 KiB JSON with the extension, herald vs Node `ws` (perMessageDeflate on, with its
#    default context takeover; herald uses none, see the README) (tools/bench/ws-echo.sh,
#    DEFLATE=1 JSON=1).
# Both runs are guarded by lib.sh's quiet check (a run during which other processes used more
# than QUIET_MAX % of a core is withheld and the script exits 3).
#
# Usage: tools/bench/ws-deflate.sh
# Env:   SUBS=10000 RATES=10 SIZE=1024 DURATION=10 ECHO_SIZES=4096 INFLIGHTS="1 16" CONNS=64
#        (and what fanout.sh and ws-echo.sh take: SERVER_CPU, CLIENT_CPU, WAIT_QUIET, HERALD ...)
set -uo pipefail
here=$(dirname "$0")
status=0
SUBS=${SUBS:-10000} RATES=${RATES:-10} SIZE=${SIZE:-1024} PROTOS=ws DEFLATES="0 1" JSON=1 \
    SERVERS=${FANOUT_SERVERS:-nchan herald} IDLE=0 "$here/fanout.sh" || status=$?
echo
SIZES=${ECHO_SIZES:-4096} INFLIGHTS=${INFLIGHTS:-1 16} DEFLATE=1 JSON=1 \
    SERVERS=${ECHO_SERVERS:-node herald} IDLE=0 "$here/ws-echo.sh" || status=$?
exit "$status"
