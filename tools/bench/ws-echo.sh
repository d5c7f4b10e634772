#!/bin/bash
# tools/bench/ws-echo.sh: WebSocket echo, herald vs Node `ws` vs a raw-TCP epoll echo in C
# (a benchmark, not a test).
#
# In one run: herald's echo route (`location = /echo { push websocket; echo ""; }`, empty prefix
# so replies are as long as requests), tools/bench/node-ws-echo.js (the seed's stack) and
# tools/bench/rawecho.c (no framing at all: the practical ceiling, driven by `wsload --raw`).
# Servers on CPU $SERVER_CPU, the load generator (build/tools/wsload) on CPU $CLIENT_CPU;
# $CONNS connections, 1 and 16 messages in flight, 32 B and 4 KiB payloads, each case $ROUNDS
# times with the servers in a new order each round. Reports messages/s,
# round trip p50/p99/p99.9, server CPU per message (from /proc/PID/task/*/schedstat over the
# measured window), and herald/raw and herald/node ratios: each round's ratio is taken within
# the round (the servers measured seconds apart), and the median over rounds is printed with
# the lowest and highest (this VM's speed drifts by tens of percent from minute to minute, so
# one pair of runs can say 0.5x or 1.3x where the median of five says 0.85x). Then idle memory: server RSS growth
# per connection with $IDLE_CONNS idle WebSocket connections, for herald, node and nchan, each on
# a freshly started server.
#
# Usage: tools/bench/ws-echo.sh        (as root it installs nginx/nchan if missing; Node `ws` is
#                                      installed from tools/bench/package-lock.json with npm ci)
# Env:   DURATION=5 WARMUP=1 CONNS=64 SIZES="32 4096" INFLIGHTS="1 16" SERVERS="raw node herald" ROUNDS=1
#        IDLE_CONNS=10000 IDLE=1 (0 skips idle memory) SERVER_CPU=0 CLIENT_CPU=1 WAIT_QUIET=0 HERALD=./herald
#        DEFLATE=0 (1: the client offers permessage-deflate and sends compressed frames; Node `ws`
#        runs with perMessageDeflate on, its default context takeover; herald compresses each
#        reply with no context takeover; raw cannot and is skipped) JSON=0 (1: JSON payloads)
#        MAX_SECONDS=900
set -uo pipefail
. "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-64}
SIZES=${SIZES:-32 4096}
INFLIGHTS=${INFLIGHTS:-1 16}
ROUNDS=${ROUNDS:-1}
SERVERS=${SERVERS:-raw node herald}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE=${IDLE:-1}
DEFLATE=${DEFLATE:-0}
JSON=${JSON:-0}
ZARGS=()
[ "$DEFLATE" = 1 ] && ZARGS+=(--deflate)
[ "$JSON" = 1 ] && ZARGS+=(--json)
start_watchdog "${MAX_SECONDS:-900}"

"$ROOT/tools/deps.sh" bench || exit 1
build_tools || exit 1
check_quiet
WSLOAD=$TOOLS_BIN/wsload

have_node() {
    command -v node >/dev/null || { note "bench: node not installed: skipping node"; return 1; }
    if [ ! -d "$ROOT/tools/bench/node_modules/ws" ]; then
        note "bench: installing ws (npm ci in tools/bench)"
        (cd "$ROOT/tools/bench" && npm ci --silent --no-audit --no-fund) || return 1
    fi
}

# start_echo NAME: starts a fresh echo server; sets URL and PID (the process to watch), or fails.
start_echo() {
    local port
    port=$(free_port)
    case $1 in
    raw)
        start_server rawecho "$TMP/raw.log" "$TOOLS_BIN/rawecho" "$port"
        URL=raw://127.0.0.1:$port ;;
    node)
        have_node || return 1
        start_server node-ws-echo "$TMP/node.log" node "$ROOT/tools/bench/node-ws-echo.js" "$port" \
            "$([ "$DEFLATE" = 1 ] && echo deflate)"
        URL=ws://127.0.0.1:$port/ ;;
    herald)
        have_herald || { note "bench: no herald binary ($HERALD): skipping herald"; return 1; }
        { herald_main_conf; cat <<EOF
events { worker_connections 20000; }
http {
    access_log off;
    ws_ping_interval 0;
    server {
        listen 127.0.0.1:$port;
        location = /echo { push websocket; echo ""; }
    }
}
EOF
        } >"$TMP/herald-echo.conf"
        start_server herald "$TMP/herald.log" "$HERALD" -c "$TMP/herald-echo.conf"
        URL=ws://127.0.0.1:$port/echo ;;
    nchan)
        nginx_conf "$TMP/nchan" 1 <<EOF
    server {
        listen 127.0.0.1:$port;
        location ~ ^/ws/(.+)\$ { nchan_subscriber websocket; nchan_channel_id \$1; }
    }
EOF
        start_nginx nchan "$TMP/nchan"
        URL=ws://127.0.0.1:$port/ws/idle ;;
    esac
    PID=$SERVER_PID
    if ! wait_port "$port"; then
        cat "$TMP"/*.log >&2 2>/dev/null
        return 1
    fi
    [ "$1" = nchan ] && PID=$(nginx_worker "$SERVER_PID")
    return 0
}

wsload() {
    timeout --foreground "$(awk -v d="$DURATION" -v w="$WARMUP" 'BEGIN { printf "%d", d + w + 90 }')" taskset -c "$CLIENT_CPU" "$WSLOAD" -q "$@"
}

declare -A URLS SPIDS
ACTIVE=""
for s in $SERVERS; do
    [ "$DEFLATE" = 1 ] && [ "$s" = raw ] && { note "bench: raw echo cannot compress: skipping it"; continue; }
    start_echo "$s" || continue
    args=("${ZARGS[@]}")
    [ "$s" = raw ] && args=(--raw)
    check=$(DURATION=1 WARMUP=0 wsload --url "$URL" "${args[@]}" -c 2 -d 1 -s 32 -t 1 --warmup 0)
    if [ "$(field msgs "$check")" = "" ] || [ "$(field msgs "$check")" = 0 ] || [ "$(field errors "$check")" != 0 ]; then
        note "bench: $s does not echo ($check): skipping it"
        continue
    fi
    URLS[$s]=$URL
    SPIDS[$s]=$PID
    ACTIVE="$ACTIVE $s"
done
[ -n "$ACTIVE" ] || { note "bench: no server to measure"; exit 1; }

RESULTS=$TMP/results
: >"$RESULTS"
echo "Echo: $CONNS connections, ${DURATION}s measured after ${WARMUP}s warm-up$([ "$DEFLATE" = 1 ] && echo ", permessage-deflate")$([ "$JSON" = 1 ] && echo ", JSON payloads"); servers on CPU $SERVER_CPU, wsload on CPU $CLIENT_CPU"
printf '%-7s %6s %8s %12s %10s %10s %10s %12s %7s %7s %5s\n' server size inflight msgs/s p50_us p99_us p999_us cpu_us/msg errors other% round
for size in $SIZES; do
    for d in $INFLIGHTS; do
      for ((round = 1; round <= ROUNDS; round++)); do
        # shellcheck disable=SC2086
        for s in $(rotate $((d + round)) $ACTIVE); do
            args=("${ZARGS[@]}")
            [ "$s" = raw ] && args=(--raw)
            guard_begin
            r=$(wsload --url "${URLS[$s]}" "${args[@]}" -c "$CONNS" -d "$d" -s "$size" -t "$DURATION" \
                --warmup "$WARMUP" --cpu-pid "${SPIDS[$s]}")
            if guard_end; then
                line="$s $size $d $(field msgs_per_s "$r") $(field p50_us "$r") $(field p99_us "$r") $(field p999_us "$r") $(field cpu_us_per_msg "$r") $(field errors "$r") $GUARD_PCT"
            else
                line="$s $size $d - - - - - - $GUARD_PCT"
            fi
            echo "$line $round" >>"$RESULTS"
            # shellcheck disable=SC2086
            printf '%-7s %6s %8s %12s %10s %10s %10s %12s %7s %7s %5s\n' $line "$round"
        done
      done
    done
done

# round_ratio A B SIZE INFLIGHT COLUMN: A's figure over B's within each round (rows the guard
# withheld left out), then the median over rounds; with several rounds, "MEDIAN [LOW-HIGH]".
round_ratio() {
    awk -v a="$1" -v b="$2" -v z="$3" -v d="$4" -v c="$5" '
        $2 == z && $3 == d && $c != "-" { if ($1 == a) x[$11] = $c; if ($1 == b) y[$11] = $c }
        END {
            n = 0
            for (r in x) if ((r in y) && y[r] > 0) v[++n] = x[r] / y[r]
            if (n == 0) { print "-"; exit }
            for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
            m = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
            if (n == 1) printf "%.2f", m; else printf "%.2f [%.2f-%.2f]", m, v[1], v[n]
        }' "$RESULTS"
}
echo
if [ "$ROUNDS" -gt 1 ]; then
    echo "Ratios (msgs/s and CPU per message; median of $ROUNDS rounds [lowest-highest], each round's servers measured back to back)"
else
    echo "Ratios (msgs/s and CPU per message)"
fi
printf '%6s %8s %18s %18s %18s %18s\n' size inflight herald/raw_msgs herald/raw_cpu herald/node_msgs herald/node_cpu
for size in $SIZES; do
    for d in $INFLIGHTS; do
        printf '%6s %8s %18s %18s %18s %18s\n' "$size" "$d" \
            "$(round_ratio herald raw "$size" "$d" 4)" "$(round_ratio herald raw "$size" "$d" 8)" \
            "$(round_ratio herald node "$size" "$d" 4)" "$(round_ratio herald node "$size" "$d" 8)"
    done
done

[ "$IDLE" = 1 ] || { bench_finish; exit 0; }
# Idle memory on fresh servers: the echo runs above grew their heaps.
for pid in "${SERVER_PIDS[@]}"; do stop_server "$pid"; done
SERVER_PIDS=()
echo
echo "Idle memory: $IDLE_CONNS idle WebSocket connections, server RSS growth (fresh server each)"
printf '%-7s %12s %12s %12s %8s\n' server rss_before_kB rss_after_kB kB_per_conn ready
for s in herald node nchan; do
    case " $SERVERS nchan " in *" $s "*) ;; *) continue ;; esac
    start_echo "$s" || continue
    r=$(wsload --mode idle --url "$URL" -c "$IDLE_CONNS" -t 1 --rss-pid "$PID" | grep '^result')
    printf '%-7s %12s %12s %12s %8s\n' "$s" "$(field rss_before_kb "$r")" "$(field rss_after_kb "$r")" \
        "$(field kb_per_conn "$r")" "$(field conns "$r")"
    stop_server "$SERVER_PID"
done
bench_finish
