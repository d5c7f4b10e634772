#!/bin/bash
# tools/bench/fanout.sh: one channel fanned out to many subscribers, herald vs nchan vs the
# physical floor (a benchmark, not a test).
#
# Servers: herald (worker_threads 1), nchan (Debian nginx + libnginx-mod-nchan,
# worker_processes 1) and floor (tools/bench/floor.c: one write() of a pre-built message per
# subscriber and nothing else, the least any push server must do) with equivalent routes: POST /pub?channel=NAME publishes; /ws/NAME,
# /sse/NAME and /longpoll/NAME subscribe (buffer 2000 messages, new subscribers start at the next
# message). Each run uses a fresh channel: wsload (build/tools/wsload, on CPU $CLIENT_CPU) opens
# N subscribers, then POSTs 100-byte messages {"n":SEQ,"t":NS_SINCE_EPOCH,...} at R/s for
# $DURATION s over a pipelined keep-alive connection, and waits up to $GRACE s for stragglers.
# Reported: deliveries/s, % of expected deliveries received, publish->delivery latency p50/p99,
# server CPU seconds over the run and server CPU per delivery (/proc/PID/task/*/schedstat), and
# herald/nchan and herald/floor ratios. Servers are measured in alternating order (rotated per
# case), and a run during which other processes used over QUIET_MAX % of a core is withheld
# (lib.sh guard; the script then exits 3). Long-poll subscribers resume with ?since=ID (herald, from the ETag) and
# If-None-Match/If-Modified-Since (nchan). Then idle memory: server RSS growth per subscriber
# with $IDLE_SUBS idle WebSocket and SSE subscribers, each on a freshly started server.
# Servers run on CPU $SERVER_CPU; client and servers are separate processes (fd limit 20000 each).
# DEFLATES="0 1" also runs every ws case with permessage-deflate (wsload --deflate offers it and
# inflates; nchan gets nchan_deflate_message_for_websocket on, which compresses every message
# once at publish, for its plain ws rows too; herald has ws_deflate on by default and compresses
# a message once, when the first subscriber that negotiated the extension needs it; floor
# cannot compress and is left out of those rows), labelled "ws+z"; JSON=1 makes
# the messages JSON records that compress like real ones. B/del is bytes read by the
# subscribers per delivery (frame headers included), the bytes on the wire.
#
# Usage: tools/bench/fanout.sh         (as root it installs nginx and libnginx-mod-nchan if missing)
# Env:   DURATION=10 GRACE=5 SUBS="1000 10000" RATES="10 100" PROTOS="ws sse longpoll"
#        SERVERS="floor nchan herald" SIZE=100 IDLE_SUBS=10000 IDLE=1 (0 skips idle memory)
#        DEFLATES=0 ("0 1": ws with and without permessage-deflate) JSON=0
#        SERVER_CPU=0 CLIENT_CPU=1 WAIT_QUIET=0 HERALD=./herald MAX_SECONDS=1800
set -uo pipefail
. "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-10}
GRACE=${GRACE:-5}
SUBS=${SUBS:-1000 10000}
RATES=${RATES:-10 100}
PROTOS=${PROTOS:-ws sse longpoll}
SERVERS=${SERVERS:-floor nchan herald}
SIZE=${SIZE:-100}
IDLE_SUBS=${IDLE_SUBS:-10000}
IDLE=${IDLE:-1}
DEFLATES=${DEFLATES:-0}
JSON=${JSON:-0}
start_watchdog "${MAX_SECONDS:-1800}"

"$ROOT/tools/deps.sh" bench || exit 1
build_tools || exit 1
check_quiet
need_nchan

# start_push NAME: a fresh server; sets BASE (http://127.0.0.1:PORT), PID (process to watch).
start_push() {
    local port i
    port=$(free_port)
    case $1 in
    nchan)
        nginx_conf "$TMP/nchan" 1 <<EOF
    nchan_message_buffer_length 2000;
    nchan_message_timeout 1h;
    server {
        listen 127.0.0.1:$port;
        location = /pub {
            nchan_publisher; nchan_channel_id \$arg_channel;
            $([[ " $DEFLATES " == *" 1 "* ]] && echo "nchan_deflate_message_for_websocket on;")
        }
        location ~ ^/ws/(.+)\$ {
            nchan_subscriber websocket; nchan_channel_id \$1; nchan_subscriber_first_message newest;
            $([[ " $DEFLATES " == *" 1 "* ]] && echo "nchan_deflate_message_for_websocket on;")
        }
        location ~ ^/sse/(.+)\$ {
            nchan_subscriber eventsource; nchan_channel_id \$1; nchan_subscriber_first_message newest;
        }
        location ~ ^/longpoll/(.+)\$ {
            nchan_subscriber longpoll; nchan_channel_id \$1; nchan_subscriber_first_message newest;
        }
    }
EOF
        start_nginx nchan "$TMP/nchan"
        ;;
    floor)
        start_server floor "$TMP/floor.log" "$TOOLS_BIN/floor" "$port"
        ;;
    herald)
        have_herald || { note "bench: no herald binary ($HERALD): skipping herald"; return 1; }
        { herald_main_conf; cat <<EOF
events { worker_connections 20000; }
http {
    access_log off;
    ws_ping_interval 0;
    longpoll_timeout 30s;
EOF
        for ((i = 1; i <= 64; i++)); do echo "    channel b$i { buffer 2000; }"; done
        cat <<EOF
    server {
        listen 127.0.0.1:$port;
        location /ws/       { push websocket;    channel \$tail; }
        location /sse/      { push sse;          channel \$tail; }
        location /longpoll/ { push long-polling; channel \$tail; }
        location = /pub     { publish; channel \$arg_channel; }
    }
}
EOF
        } >"$TMP/herald-fanout.conf"
        start_server herald "$TMP/herald.log" "$HERALD" -c "$TMP/herald-fanout.conf"
        ;;
    esac
    PID=$SERVER_PID
    BASE=http://127.0.0.1:$port
    if ! wait_port "$port"; then
        cat "$TMP/herald.log" "$TMP/nchan/error.log" >&2 2>/dev/null
        return 1
    fi
    [ "$1" = nchan ] && PID=$(nginx_worker "$SERVER_PID")
    return 0
}

sub_url() {   # sub_url PROTO BASE CHANNEL
    case $1 in
    ws) echo "ws://${2#http://}/ws/$3" ;;
    *) echo "$2/$1/$3" ;;
    esac
}

declare -A BASES SPIDS
ACTIVE=""
for s in $SERVERS; do
    start_push "$s" || continue
    BASES[$s]=$BASE
    SPIDS[$s]=$PID
    ACTIVE="$ACTIVE $s"
done
[ -n "$ACTIVE" ] || { note "bench: no server to measure"; exit 1; }

RESULTS=$TMP/results
: >"$RESULTS"
channel=0
echo "Fan-out: ${SIZE}-byte $([ "$JSON" = 1 ] && echo "JSON ")messages for ${DURATION}s (+ up to ${GRACE}s grace); servers on CPU $SERVER_CPU, wsload on CPU $CLIENT_CPU"
ROW='%-8s %6s %5s %-7s %12s %12s %9s %9s %9s %9s %10s %8s %7s %8s\n'
# shellcheck disable=SC2059
printf "$ROW" proto subs rate server deliveries/s expected/s delivered p50_ms p99_ms cpu_s cpu_us/del errors other% B/del
CASES=""
for proto in $PROTOS; do
    if [ "$proto" = ws ]; then
        for d in $DEFLATES; do if [ "$d" = 1 ]; then CASES="$CASES ws+z"; else CASES="$CASES ws"; fi; done
    else
        CASES="$CASES $proto"
    fi
done
for label in $CASES; do
    proto=${label%+z}
    extra=()
    [ "$JSON" = 1 ] && extra+=(--json)
    [ "$label" = ws+z ] && extra+=(--deflate)
    for n in $SUBS; do
        for rate in $RATES; do
            channel=$((channel + 1))
            # shellcheck disable=SC2086
            for s in $(rotate "$channel" $ACTIVE); do
                [ "$label" = ws+z ] && [ "$s" = floor ] && continue
                guard_begin
                r=$(bounded_wsload --mode subscribe --proto "$proto" --url "$(sub_url "$proto" "${BASES[$s]}" "b$channel")" \
                    -c "$n" --publish "${BASES[$s]}/pub?channel=b$channel" --rate "$rate" -t "$DURATION" \
                    -s "$SIZE" --grace "$GRACE" --cpu-pid "${SPIDS[$s]}" "${extra[@]}")
                exp=$(field expected "$r"); del=$(field delivered "$r")
                pct=$(awk -v d="${del:-0}" -v e="${exp:-0}" 'BEGIN { if (e > 0) printf "%.1f%%", 100 * d / e; else print "-" }')
                errs=$(( $(field errors "$r" | grep . || echo 0) + $(field closed "$r" | grep . || echo 0) \
                    + $(field pub_errors "$r" | grep . || echo 0) ))
                if guard_end; then
                    line="$label $n $rate $s $(field deliveries_per_s "$r") $((n * rate)) $pct $(field p50_ms "$r") $(field p99_ms "$r") $(field server_cpu_s "$r") $(field cpu_us_per_delivery "$r") $errs $GUARD_PCT $(field bytes_per_delivery "$r")"
                else
                    line="$label $n $rate $s - $((n * rate)) - - - - - - $GUARD_PCT -"
                fi
                echo "$line" >>"$RESULTS"
                # shellcheck disable=SC2086,SC2059
                printf "$ROW" $line
            done
        done
    done
done

get() { awk -v p="$1" -v n="$2" -v r="$3" -v s="$4" -v c="$5" '$1 == p && $2 == n && $3 == r && $4 == s { print $c }' "$RESULTS"; }
echo
echo "herald/nchan and herald/floor (lower is better for CPU and latency)"
printf '%-8s %6s %5s %14s %10s %10s %16s\n' proto subs rate cpu/del_nchan p50_nchan p99_nchan cpu/del_floor
for proto in $CASES; do
    for n in $SUBS; do
        for rate in $RATES; do
            printf '%-8s %6s %5s %14s %10s %10s %16s\n' "$proto" "$n" "$rate" \
                "$(ratio "$(get "$proto" "$n" "$rate" herald 11)" "$(get "$proto" "$n" "$rate" nchan 11)")" \
                "$(ratio "$(get "$proto" "$n" "$rate" herald 8)" "$(get "$proto" "$n" "$rate" nchan 8)")" \
                "$(ratio "$(get "$proto" "$n" "$rate" herald 9)" "$(get "$proto" "$n" "$rate" nchan 9)")" \
                "$(ratio "$(get "$proto" "$n" "$rate" herald 11)" "$(get "$proto" "$n" "$rate" floor 11)")"
        done
    done
done

if [[ " $CASES " == *" ws+z "* && " $CASES " == *" ws "* ]]; then
    echo
    echo "permessage-deflate: ws+z over ws, per server (bytes and CPU per delivery; the target: herald's CPU within 1.2x of its uncompressed fan-out)"
    printf '%-7s %6s %5s %10s %10s %12s %12s %10s\n' server subs rate B/del_ws B/del_ws+z wire_ratio cpu/del_ratio p99_ratio
    for s in $ACTIVE; do
        [ "$s" = floor ] && continue
        for n in $SUBS; do
            for rate in $RATES; do
                printf '%-7s %6s %5s %10s %10s %12s %12s %10s\n' "$s" "$n" "$rate" \
                    "$(get ws "$n" "$rate" "$s" 14)" "$(get ws+z "$n" "$rate" "$s" 14)" \
                    "$(ratio "$(get ws+z "$n" "$rate" "$s" 14)" "$(get ws "$n" "$rate" "$s" 14)")" \
                    "$(ratio "$(get ws+z "$n" "$rate" "$s" 11)" "$(get ws "$n" "$rate" "$s" 11)")" \
                    "$(ratio "$(get ws+z "$n" "$rate" "$s" 9)" "$(get ws "$n" "$rate" "$s" 9)")"
            done
        done
    done
fi

[ "$IDLE" = 1 ] || { bench_finish; exit 0; }
for pid in "${SERVER_PIDS[@]}"; do stop_server "$pid"; done
SERVER_PIDS=()
echo
echo "Idle memory: $IDLE_SUBS idle subscribers on one channel, server RSS growth (fresh server each)"
printf '%-7s %-5s %12s %12s %12s %8s\n' server proto rss_before_kB rss_after_kB kB_per_sub ready
for proto in ws sse; do
    for s in $ACTIVE; do
        [ "$s" = floor ] && continue
        start_push "$s" || continue
        r=$(bounded_wsload --mode idle --proto "$proto" --url "$(sub_url "$proto" "$BASE" b64)" -c "$IDLE_SUBS" -t 1 \
            --rss-pid "$PID" | grep '^result')
        printf '%-7s %-5s %12s %12s %12s %8s\n' "$s" "$proto" "$(field rss_before_kb "$r")" \
            "$(field rss_after_kb "$r")" "$(field kb_per_conn "$r")" "$(field conns "$r")"
        stop_server "$SERVER_PID"
    done
done
bench_finish
