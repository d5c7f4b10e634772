#!/bin/bash
# tools/bench/redis-fanout.sh: one channel fanned out over two nodes that share it through one
# redis-server, herald vs nchan, with single-node herald as the baseline (a benchmark, not a test).
#
# Server sets, each started once and measured side by side in one run:
#   herald-redis  two herald nodes (worker_threads 1, broker redis) on one redis-server
#   nchan-redis   two nchan nodes (Debian nginx + libnginx-mod-nchan, worker_processes 1,
#                 nchan_redis_url + nchan_use_redis on: nchan's distributed Redis mode) on their
#                 own redis-server
#   herald-single one herald node (broker memory, the default): the cost of one node, no Redis
#   redis-floor   the floor of Redis's work per message: one herald node (broker memory) under
#                 the same subscribers and publishes, while wsload (--redis-floor) also sends
#                 one PUBLISH at the same rate to a redis-server that two more connections follow
#                 (the nodes' pub/sub links) and waits for every copy: one command in and one
#                 copy out per node, what any design that shares channels through Redis costs
#                 it at least (storing the message only adds). Its Redis columns are that floor.
# Each redis-server is started by this script on a free loopback port (--save '' --appendonly no).
# Each case uses a fresh channel: wsload (build/tools/wsload, on CPU $CLIENT_CPU) opens 2 x SUBS
# WebSocket subscribers (for a two-node set, alternately on node A and node B: SUBS on each), then
# POSTs 100-byte messages {"n":SEQ,"t":NS_SINCE_EPOCH,...} to node A at R/s for $DURATION s and
# waits up to $GRACE s for stragglers; latency is publish -> delivery, from the timestamp each
# message carries. Reported per set: % of expected deliveries received, latency p50/p99, CPU per
# delivery with the nodes AND redis-server counted together (/proc/PID/task/*/schedstat over the
# publishing window), and Redis CPU per published message, whole (redis_us/msg) and net of
# redis-server's idle work (redis_net_us: its CPU rate over the 2 s before publishing, with
# every subscriber connected, taken out of the window; at 10/s the idle work, mostly its 10 Hz
# timer, is about half of the whole), and Redis commands per published message (INFO
# commandstats before and after, INFO itself left out); then herald-redis/nchan-redis,
# herald-redis/herald-single, and each Redis set's net Redis CPU per message over the floor's.
# Sets are measured in alternating order (rotated per case), and a run during which other
# processes used over QUIET_MAX % of a core is withheld (lib.sh guard; the script then exits
# 3). Every node and redis-server runs on CPU $SERVER_CPU.
#
# Usage: tools/bench/redis-fanout.sh   (as root it installs nginx, libnginx-mod-nchan and
#                                        redis-server if missing)
# Env:   SUBS=5000 (per node) RATES="10 100" DURATION=10 GRACE=5 SIZE=100
#        SETS="herald-redis nchan-redis herald-single redis-floor"
#        SERVER_CPU=0 CLIENT_CPU=1 WAIT_QUIET=0 HERALD=./herald MAX_SECONDS=1800
set -uo pipefail
. "$(dirname "$0")/lib.sh"

SUBS=${SUBS:-5000}
RATES=${RATES:-10 100}
DURATION=${DURATION:-10}
GRACE=${GRACE:-5}
SIZE=${SIZE:-100}
SETS=${SETS:-herald-redis nchan-redis herald-single redis-floor}
CHANNELS=64   # channels each config declares: one fresh channel per case
start_watchdog "${MAX_SECONDS:-1800}"

"$ROOT/tools/deps.sh" bench || exit 1
build_tools || exit 1
check_quiet
need_nchan
command -v redis-server >/dev/null || { note "bench: redis-server missing"; exit 1; }
command -v redis-cli >/dev/null || { note "bench: redis-cli missing"; exit 1; }
ncase=0
for _ in $RATES; do ncase=$((ncase + 1)); done
[ "$ncase" -le "$CHANNELS" ] || { note "bench: at most $CHANNELS rates"; exit 1; }

# start_redis NAME: a fresh redis-server without persistence; sets RPORT and RPID.
start_redis() {
    RPORT=$(free_port)
    start_server "redis ($1)" "$TMP/redis-$1.log" redis-server --port "$RPORT" --bind 127.0.0.1 \
        --save '' --appendonly no --daemonize no --dir "$TMP" --maxclients 1000
    RPID=$SERVER_PID
    wait_port "$RPORT" || { cat "$TMP/redis-$1.log" >&2; return 1; }
}

# start_herald NAME [REDIS_PORT]: one herald node (broker redis when REDIS_PORT is given);
# sets BASE (http://127.0.0.1:PORT) and PID.
start_herald() {
    local name=$1 rport=${2:-} port i
    have_herald || { note "bench: no herald binary ($HERALD): build it with make herald"; return 1; }
    port=$(free_port)
    { herald_main_conf; cat <<EOF
events { worker_connections 20000; }
http {
    access_log off;
    ws_ping_interval 0;
EOF
        if [ -n "$rport" ]; then
            echo "    broker redis;"
            echo "    redis_server 127.0.0.1:$rport;"
            echo "    redis_prefix bench:;"
        fi
        for ((i = 1; i <= CHANNELS; i++)); do echo "    channel b$i { buffer 2000; }"; done
        cat <<EOF
    server {
        listen 127.0.0.1:$port;
        location /ws/   { push websocket; channel \$tail; }
        location = /pub { publish; channel \$arg_channel; }
    }
}
EOF
    } >"$TMP/$name.conf"
    start_server "$name" "$TMP/$name.log" "$HERALD" -c "$TMP/$name.conf"
    PID=$SERVER_PID
    BASE=http://127.0.0.1:$port
    wait_port "$port" || { cat "$TMP/$name.log" >&2; return 1; }
}

# start_nchan NAME REDIS_PORT: one nginx + nchan node in nchan's Redis mode; sets BASE and PID
# (the worker process).
start_nchan() {
    local name=$1 rport=$2 port dir=$TMP/$1
    port=$(free_port)
    nginx_conf "$dir" 1 <<EOF
    nchan_redis_url redis://127.0.0.1:$rport;
    nchan_use_redis on;
    nchan_message_buffer_length 2000;
    nchan_message_timeout 1h;
    server {
        listen 127.0.0.1:$port;
        location = /pub { nchan_publisher; nchan_channel_id \$arg_channel; }
        location ~ ^/ws/(.+)\$ {
            nchan_subscriber websocket; nchan_channel_id \$1; nchan_subscriber_first_message newest;
        }
    }
EOF
    start_nginx "$name" "$dir"
    BASE=http://127.0.0.1:$port
    wait_port "$port" || { cat "$dir/error.log" >&2; return 1; }
    PID=$(nginx_worker "$SERVER_PID") || { note "bench: no nginx worker for $name"; return 1; }
}

# redis_calls PORT: commands a redis-server has run (INFO commandstats, INFO itself left out).
redis_calls() {
    redis-cli -p "$1" INFO commandstats 2>/dev/null | tr -d '\r' |
        awk -F'[:,=]' '/^cmdstat_/ && $1 != "cmdstat_info" { n += $3 } END { print n + 0 }'
}

# Per set: URLS (node A first), PUB (node A's /pub), PIDS (nodes then redis), REDIS_PID,
# REDIS_PORT, FLOOR (wsload's extra arguments).
declare -A URLS PUB PIDS REDIS_PID REDIS_PORT FLOOR
start_set() {
    local a b
    case $1 in
    herald-redis)
        start_redis herald || return 1
        start_herald herald-a "$RPORT" || return 1; a=$BASE; PIDS[$1]="$PID"
        start_herald herald-b "$RPORT" || return 1; b=$BASE; PIDS[$1]="${PIDS[$1]} $PID $RPID"
        URLS[$1]="$a $b"; PUB[$1]=$a; REDIS_PID[$1]=$RPID; REDIS_PORT[$1]=$RPORT
        ;;
    nchan-redis)
        start_redis nchan || return 1
        start_nchan nchan-a "$RPORT" || return 1; a=$BASE; PIDS[$1]="$PID"
        start_nchan nchan-b "$RPORT" || return 1; b=$BASE; PIDS[$1]="${PIDS[$1]} $PID $RPID"
        URLS[$1]="$a $b"; PUB[$1]=$a; REDIS_PID[$1]=$RPID; REDIS_PORT[$1]=$RPORT
        ;;
    herald-single)
        start_herald herald-single || return 1
        URLS[$1]=$BASE; PUB[$1]=$BASE; PIDS[$1]=$PID; REDIS_PID[$1]=
        ;;
    redis-floor)
        start_redis floor || return 1
        start_herald floor-node || return 1
        URLS[$1]=$BASE; PUB[$1]=$BASE; PIDS[$1]="$PID $RPID"; REDIS_PID[$1]=$RPID
        REDIS_PORT[$1]=$RPORT; FLOOR[$1]="--redis-floor $RPORT --redis-floor-nodes 2"
        ;;
    *) note "bench: unknown set $1"; return 1 ;;
    esac
}

ACTIVE=""
for s in $SETS; do
    if start_set "$s"; then ACTIVE="$ACTIVE $s"; else note "bench: $s did not start: left out"; fi
done
[ -n "$ACTIVE" ] || { note "bench: no server set to measure"; exit 1; }

RESULTS=$TMP/results
: >"$RESULTS"
total=$((2 * SUBS))
echo "Fan-out over Redis: ${SIZE}-byte messages published on node A for ${DURATION}s (+ up to ${GRACE}s grace) to $total WebSocket subscribers ($SUBS per node; herald-single: all on one node); servers and redis on CPU $SERVER_CPU, wsload on CPU $CLIENT_CPU"
ROW='%-13s %6s %5s %12s %10s %9s %9s %8s %10s %10s %12s %12s %9s %7s %7s\n'
# shellcheck disable=SC2059
printf "$ROW" set subs rate deliveries/s delivered p50_ms p99_ms cpu_s cpu_us/del redis_cpu_s redis_us/msg redis_net_us redis_cmds errors other%
channel=0
for rate in $RATES; do
    channel=$((channel + 1))
    # shellcheck disable=SC2086
    for s in $(rotate "$channel" $ACTIVE); do
        args=()
        for u in ${URLS[$s]}; do args+=(--url "ws://${u#http://}/ws/b$channel"); done
        for p in ${PIDS[$s]}; do args+=(--cpu-pid "$p"); done
        # shellcheck disable=SC2206
        [ -n "${FLOOR[$s]:-}" ] && args+=(${FLOOR[$s]})
        calls0=
        [ -n "${REDIS_PORT[$s]:-}" ] && calls0=$(redis_calls "${REDIS_PORT[$s]}")
        guard_begin
        r=$(bounded_wsload --mode subscribe --proto ws "${args[@]}" -c "$total" \
            --publish "${PUB[$s]}/pub?channel=b$channel" --rate "$rate" -t "$DURATION" -s "$SIZE" \
            --grace "$GRACE" --settle 2)
        exp=$(field expected "$r"); del=$(field delivered "$r"); pubd=$(field published "$r")
        if [ -n "${FLOOR[$s]:-}" ]; then  # the floor's Redis figures are per floor PUBLISH
            pubd=$(field floor_published "$r")
            [ "$(field floor_failed "$r")" = 0 ] || note "bench: $s: the Redis floor publisher failed"
        fi
        cmds=-
        if [ -n "$calls0" ]; then
            cmds=$(awk -v a="$calls0" -v b="$(redis_calls "${REDIS_PORT[$s]}")" -v n="${pubd:-0}" \
                'BEGIN { if (n > 0) printf "%.2f", (b - a) / n; else print "-" }')
        fi
        pct=$(awk -v d="${del:-0}" -v e="${exp:-0}" 'BEGIN { if (e > 0) printf "%.1f%%", 100 * d / e; else print "-" }')
        errs=$(( $(field errors "$r" | grep . || echo 0) + $(field closed "$r" | grep . || echo 0) \
            + $(field pub_errors "$r" | grep . || echo 0) ))
        rcpu=- rper=- rnet=-
        if [ -n "${REDIS_PID[$s]}" ]; then
            rcpu=$(field "cpu_s_${REDIS_PID[$s]}" "$r")
            rper=$(awk -v c="${rcpu:-}" -v n="${pubd:-0}" 'BEGIN { if (c != "" && n > 0) printf "%.1f", c * 1e6 / n; else print "-" }')
            # Net of redis-server's idle work: its CPU rate over wsload's settle pause (all
            # subscribed, nothing published) times the window, taken out.
            rnet=$(awk -v c="${rcpu:-}" -v n="${pubd:-0}" -v i="$(field "idle_cpu_s_${REDIS_PID[$s]}" "$r")" \
                -v is="$(field idle_s "$r")" -v w="$(field window_s "$r")" \
                'BEGIN { if (c != "" && n > 0 && i != "" && is > 0) printf "%.1f", (c - i / is * w) * 1e6 / n; else print "-" }')
            [ -n "$rcpu" ] || rcpu=-
        fi
        if [ -z "$r" ]; then
            note "bench: $s: wsload gave no result"
        fi
        if guard_end; then
            line="$s $total $rate $(field deliveries_per_s "$r") $pct $(field p50_ms "$r") $(field p99_ms "$r") $(field server_cpu_s "$r") $(field cpu_us_per_delivery "$r") $rcpu $rper $rnet $cmds $errs $GUARD_PCT"
        else
            line="$s $total $rate - - - - - - - - - - - $GUARD_PCT"
        fi
        echo "$line" >>"$RESULTS"
        # shellcheck disable=SC2086,SC2059
        printf "$ROW" $line
    done
done

get() { awk -v r="$1" -v s="$2" -v c="$3" '$3 == r && $1 == s { print $c }' "$RESULTS"; }
echo
echo "herald-redis over nchan-redis and over herald-single (lower is better)"
printf '%-5s %14s %10s %10s %14s %14s %15s %11s %11s\n' rate cpu/del_nchan p50_nchan p99_nchan redis/msg_nchan redis_net_nchan cpu/del_single p50_single p99_single
for rate in $RATES; do
    printf '%-5s %14s %10s %10s %14s %14s %15s %11s %11s\n' "$rate" \
        "$(ratio "$(get "$rate" herald-redis 9)" "$(get "$rate" nchan-redis 9)")" \
        "$(ratio "$(get "$rate" herald-redis 6)" "$(get "$rate" nchan-redis 6)")" \
        "$(ratio "$(get "$rate" herald-redis 7)" "$(get "$rate" nchan-redis 7)")" \
        "$(ratio "$(get "$rate" herald-redis 11)" "$(get "$rate" nchan-redis 11)")" \
        "$(ratio "$(get "$rate" herald-redis 12)" "$(get "$rate" nchan-redis 12)")" \
        "$(ratio "$(get "$rate" herald-redis 9)" "$(get "$rate" herald-single 9)")" \
        "$(ratio "$(get "$rate" herald-redis 6)" "$(get "$rate" herald-single 6)")" \
        "$(ratio "$(get "$rate" herald-redis 7)" "$(get "$rate" herald-single 7)")"
done
echo
echo "Redis CPU per message net of idle work over the floor's (redis-floor: one PUBLISH in, one copy per node out)"
printf '%-5s %18s %18s\n' rate herald-redis/floor nchan-redis/floor
for rate in $RATES; do
    printf '%-5s %18s %18s\n' "$rate" "$(ratio "$(get "$rate" herald-redis 12)" "$(get "$rate" redis-floor 12)")" \
        "$(ratio "$(get "$rate" nchan-redis 12)" "$(get "$rate" redis-floor 12)")"
done
bench_finish
