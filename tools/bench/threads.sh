#!/bin/bash
# tools/bench/threads.sh: how herald scales with worker threads, beside nginx/nchan with as many
# worker processes (a benchmark, not a test).
#
# For each T in $THREADS (default 1..cores-1, and "1 2" on a 2-core machine, where the client
# then shares the second core): the server is pinned to CPUs 0..T-1, the client to the others
# (or to every CPU when none is left). Two loads per server:
#   static  wrk -t(client CPUs) -c$CONNS -d$DURATION on a 1 KiB file: requests/s, CPU per 1k req
#   fan-out wsload: $SUBS WebSocket subscribers on one channel, $RATE msgs/s of 100 bytes for
#           $DURATION s: delivered %, p99, server CPU per delivery (all threads/processes)
# Printed: each run, then per server the scaling ratio (static req/s at T / at 1) and the
# cross-thread fan-out overhead (CPU per delivery at T / at 1 - 1; target <= 10 %).
# The quiet-machine guard of lib.sh applies (exit 3 when a run was withheld).
#
# Usage: tools/bench/threads.sh   (as root it installs nginx, libnginx-mod-nchan and wrk)
# Env:   THREADS="1 2" DURATION=8 CONNS=64 SUBS=10000 RATE=10 SERVERS="nginx herald"
#        QUIET_MAX=5 HERALD=./herald MAX_SECONDS=1200
set -uo pipefail
. "$(dirname "$0")/lib.sh"

CORES=$(nproc)
if [ "$CORES" -le 2 ]; then DEF_THREADS="1 2"; else DEF_THREADS=$(seq -s ' ' 1 $((CORES - 1))); fi
THREADS=${THREADS:-$DEF_THREADS}
DURATION=${DURATION:-8}
CONNS=${CONNS:-64}
SUBS=${SUBS:-10000}
RATE=${RATE:-10}
SERVERS=${SERVERS:-nginx herald}
start_watchdog "${MAX_SECONDS:-1200}"

"$ROOT/tools/deps.sh" bench || exit 1
build_tools || exit 1
check_quiet
have_herald || { note "bench: no herald binary ($HERALD): build it with make herald"; exit 1; }
mkdir -p "$TMP/www"
yes 'herald static benchmark line.' | head -c 1024 >"$TMP/www/1k.txt"
chmod -R a+rX "$TMP/www"

cpus() {   # cpus T: "server-cpus client-cpus client-count"
    local t=$1 last=$((CORES - 1))
    if [ "$t" -le "$last" ]; then
        echo "0-$((t - 1)) $t-$last $((CORES - t))"
    else
        echo "0-$last 0-$last $CORES"
    fi
}

# start NAME T: nginx (+nchan) or herald with T workers; sets PORT and WATCH (pids to charge).
start() {
    local name=$1 t=$2 scpu=$3 i
    PORT=$(free_port)
    mkdir -p "$TMP/$name$t"
    if [ "$name" = nginx ]; then
        nginx_conf "$TMP/$name$t" "$t" <<EOF
    sendfile on;
    default_type text/plain;
    nchan_message_buffer_length 2000;
    server {
        listen 127.0.0.1:$PORT;
        root $TMP/www;
        location = /pub { nchan_publisher; nchan_channel_id \$arg_channel; }
        location ~ ^/ws/(.+)\$ {
            nchan_subscriber websocket; nchan_channel_id \$1; nchan_subscriber_first_message newest;
        }
    }
EOF
        taskset -c "$scpu" nginx -c "$TMP/$name$t/nginx.conf" -p "$TMP/$name$t/" \
            -e "$TMP/$name$t/error.log" >"$TMP/$name$t/out.log" 2>&1 &
    else
        { echo "worker_threads $t;"; echo "error_log stderr notice;"; echo "pid $TMP/$name$t/herald.pid;"
          [ "$(id -u)" -eq 0 ] && echo "user root;"
          cat <<EOF
events { worker_connections 20000; }
http {
    access_log off;
    ws_ping_interval 0;
    include $ROOT/conf/mime.types;
EOF
          for ((i = 1; i <= 16; i++)); do echo "    channel t$i { buffer 2000; }"; done
          cat <<EOF
    server {
        listen 127.0.0.1:$PORT;
        root $TMP/www;
        location /ws/   { push websocket; channel \$tail; }
        location = /pub { publish; channel \$arg_channel; }
    }
}
EOF
        } >"$TMP/$name$t/herald.conf"
        taskset -c "$scpu" "$HERALD" -c "$TMP/$name$t/herald.conf" >"$TMP/$name$t/out.log" 2>&1 &
    fi
    SERVER_PID=$!
    SERVER_PIDS+=("$SERVER_PID")
    wait_port "$PORT" || { cat "$TMP/$name$t/out.log" >&2; return 1; }
    sleep 0.3
    WATCH="$SERVER_PID $(pgrep -P "$SERVER_PID" | tr '\n' ' ')"
    return 0
}

RESULTS=$TMP/results
: >"$RESULTS"
ROW='%-7s %3s %-9s %12s %10s %10s %9s %9s %7s\n'
# shellcheck disable=SC2059
printf "$ROW" server T load req_or_del/s cpu_us/op delivered p99_ms errors other%
chan=0
for t in $THREADS; do
    read -r scpu ccpu ccount <<<"$(cpus "$t")"
    # shellcheck disable=SC2086
    for s in $(rotate "$t" $SERVERS); do
        start "$s" "$t" "$scpu" || continue
        # static
        guard_begin
        # shellcheck disable=SC2086
        before=$(cpu_ticks $WATCH)
        out=$(timeout --foreground $((DURATION + 30)) taskset -c "$ccpu" \
            wrk -t"$ccount" -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$PORT/1k.txt" 2>&1)
        # shellcheck disable=SC2086
        after=$(cpu_ticks $WATCH)
        rps=$(printf '%s\n' "$out" | awk '/^Requests\/sec:/ { print $2 }')
        reqs=$(printf '%s\n' "$out" | awk '/requests in/ { print $1 }')
        errs=$(printf '%s\n' "$out" | awk '/Non-2xx|Socket errors/ { n++ } END { print n ? n : 0 }')
        cpu=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v r="${reqs:-0}" \
            'BEGIN { if (r > 0) printf "%.2f", 1e6 * t / hz / r; else print "-" }')
        guard_end || { rps=-; cpu=-; }
        line="$s $t static ${rps:--} $cpu - - $errs $GUARD_PCT"
        echo "$line" >>"$RESULTS"
        # shellcheck disable=SC2086,SC2059
        printf "$ROW" $line
        # fan-out
        chan=$((chan + 1))
        guard_begin
        # shellcheck disable=SC2086
        before=$(cpu_ticks $WATCH)
        r=$(timeout --foreground $((DURATION + 150)) taskset -c "$ccpu" "$TOOLS_BIN/wsload" -q \
            --mode subscribe --proto ws --url "ws://127.0.0.1:$PORT/ws/t$chan" -c "$SUBS" \
            --publish "http://127.0.0.1:$PORT/pub?channel=t$chan" --rate "$RATE" -t "$DURATION" \
            -s 100 --grace 5)
        # shellcheck disable=SC2086
        after=$(cpu_ticks $WATCH)
        del=$(field delivered "$r"); exp=$(field expected "$r")
        cpu=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v d="${del:-0}" \
            'BEGIN { if (d > 0) printf "%.2f", 1e6 * t / hz / d; else print "-" }')
        pct=$(awk -v d="${del:-0}" -v e="${exp:-0}" 'BEGIN { if (e > 0) printf "%.1f%%", 100 * d / e; else print "-" }')
        dps=$(field deliveries_per_s "$r"); p99=$(field p99_ms "$r")
        errs=$(( $(field errors "$r" | grep . || echo 0) + $(field closed "$r" | grep . || echo 0) ))
        guard_end || { dps=-; cpu=-; pct=-; p99=-; }
        line="$s $t fanout ${dps:--} $cpu $pct ${p99:--} $errs $GUARD_PCT"
        echo "$line" >>"$RESULTS"
        # shellcheck disable=SC2086,SC2059
        printf "$ROW" $line
        stop_server "$SERVER_PID"
    done
done

get() { awk -v s="$1" -v t="$2" -v l="$3" -v c="$4" '$1 == s && $2 == t && $3 == l { print $c }' "$RESULTS"; }
echo
echo "Scaling against one worker (static: req/s at T / at 1; fan-out: CPU per delivery at T / at 1)"
printf '%-7s %3s %16s %22s\n' server T static_scaling fanout_cpu_per_del
for s in $SERVERS; do
    for t in $THREADS; do
        printf '%-7s %3s %16s %22s\n' "$s" "$t" "$(ratio "$(get "$s" "$t" static 4)" "$(get "$s" 1 static 4)")" \
            "$(ratio "$(get "$s" "$t" fanout 5)" "$(get "$s" 1 fanout 5)")"
    done
done
bench_finish
