#!/bin/bash
# tools/bench/multiplex.sh: K channels followed over one connection (a channel list) against
# the same K channels over K connections, herald vs nchan (a benchmark, not a test).
#
# Each client follows the same K channels (m0..m{K-1}): "list" opens one SSE connection to
# /sse/m0,m1,...  (herald's channel list; nchan's nchan_channel_id_split_delimiter ","),
# "split" opens K connections, one per channel. The publisher (wsload, on CPU $CLIENT_CPU)
# POSTs 100-byte messages to the K channels in turn at R/s in all, so every client receives R
# messages/s either way and the deliveries are the same: what differs is the server's work per
# delivery (one connection written for K channels' messages, or K connections) and its memory
# per client. Reported per mode and server: deliveries/s, % delivered, latency p50/p99, server
# CPU per delivery, and herald/nchan; list/split per server. Then idle memory: server RSS growth
# per client (and per followed channel) with $IDLE_CLIENTS idle clients in each mode, each on a
# fresh server. Servers run on CPU $SERVER_CPU, in alternating order per case; a run during which
# other processes used over QUIET_MAX % of a core is withheld (lib.sh guard).
#
# herald answers a channel list with the JSON envelope (the message says its channel) and a
# compound cursor as the SSE id; nchan's multiplexed SSE sends its own multi-part ids.
#
# Usage: tools/bench/multiplex.sh        (as root it installs nginx and libnginx-mod-nchan if missing)
# Env:   K=10 CLIENTS="1000" RATES="10 100" DURATION=10 GRACE=5 SERVERS="nchan herald"
#        IDLE_CLIENTS=1000 IDLE=1 SERVER_CPU=0 CLIENT_CPU=1 HERALD=./herald MAX_SECONDS=1800
set -uo pipefail
. "$(dirname "$0")/lib.sh"

K=${K:-10}
CLIENTS=${CLIENTS:-1000}
RATES=${RATES:-10 100}
DURATION=${DURATION:-10}
GRACE=${GRACE:-5}
SERVERS=${SERVERS:-nchan herald}
IDLE_CLIENTS=${IDLE_CLIENTS:-1000}
IDLE=${IDLE:-1}
start_watchdog "${MAX_SECONDS:-1800}"

"$ROOT/tools/deps.sh" bench || exit 1
build_tools || exit 1
check_quiet
need_nchan
((K >= 2 && K <= 16)) || { note "bench: K must be 2..16 (herald's default max_channels_per_connection)"; exit 1; }
# A round's connections (split mode) must stay under the open-file limit of 20000 per process.
for n in $CLIENTS $IDLE_CLIENTS; do
    ((n * K < 19000)) || { note "bench: $n clients x $K channels is past the 20000 open files"; exit 1; }
done

# start_push NAME: a fresh server; sets BASE (http://127.0.0.1:PORT), PID (process to watch).
start_push() {
    local port
    port=$(free_port)
    case $1 in
    nchan)
        nginx_conf "$TMP/nchan" 1 <<EOF
    nchan_message_buffer_length 2000;
    nchan_message_timeout 1h;
    server {
        listen 127.0.0.1:$port;
        location = /pub { nchan_publisher; nchan_channel_id \$arg_channel; }
        location ~ ^/sse/(.+)\$ {
            nchan_subscriber eventsource; nchan_channel_id_split_delimiter ",";
            nchan_channel_id \$1; nchan_subscriber_first_message newest;
        }
    }
EOF
        start_nginx nchan "$TMP/nchan"
        ;;
    herald)
        have_herald || { note "bench: no herald binary ($HERALD): skipping herald"; return 1; }
        { herald_main_conf; cat <<EOF
events { worker_connections 20000; }
http {
    access_log off;
EOF
        for ((i = 0; i < K; i++)); do echo "    channel m$i { buffer 2000; }"; done
        cat <<EOF
    server {
        listen 127.0.0.1:$port;
        location /sse/  { push sse; channel \$tail; }
        location = /pub { publish; channel \$arg_channel; }
    }
}
EOF
        } >"$TMP/herald-multiplex.conf"
        start_server herald "$TMP/herald.log" "$HERALD" -c "$TMP/herald-multiplex.conf"
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

LIST=$(for ((i = 0; i < K; i++)); do printf 'm%d%s' "$i" "$([ $i -lt $((K - 1)) ] && echo ,)"; done)

# sub_args MODE BASE N: wsload's --url list and connection count for N clients.
sub_args() {
    local i
    if [ "$1" = list ]; then
        echo "--url $2/sse/$LIST -c $3"
    else
        for ((i = 0; i < K; i++)); do printf -- '--url %s/sse/m%d ' "$2" "$i"; done
        echo "-c $(($3 * K))"
    fi
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
round=0
echo "Multiplex: $K channels per client, one SSE connection (list) or $K (split); 100-byte messages to the channels in turn for ${DURATION}s; servers on CPU $SERVER_CPU, wsload on CPU $CLIENT_CPU"
ROW='%-6s %6s %5s %-7s %12s %9s %9s %9s %8s %10s %7s %7s\n'
# shellcheck disable=SC2059
printf "$ROW" mode clients rate server deliveries/s delivered p50_ms p99_ms cpu_s cpu_us/del errors other%
for n in $CLIENTS; do
    for rate in $RATES; do
        for mode in list split; do
            round=$((round + 1))
            # shellcheck disable=SC2086
            for s in $(rotate "$round" $ACTIVE); do
                guard_begin
                # shellcheck disable=SC2046
                r=$(bounded_wsload --mode subscribe --proto sse $(sub_args "$mode" "${BASES[$s]}" "$n") \
                    --publish "${BASES[$s]}/pub?channel=m{ch}" --publish-channels "$K" \
                    --sub-channels "$([ "$mode" = list ] && echo "$K" || echo 1)" --rate "$rate" \
                    -t "$DURATION" --grace "$GRACE" --cpu-pid "${SPIDS[$s]}")
                exp=$(field expected "$r"); del=$(field delivered "$r")
                pct=$(awk -v d="${del:-0}" -v e="${exp:-0}" 'BEGIN { if (e > 0) printf "%.1f%%", 100 * d / e; else print "-" }')
                errs=$(( $(field errors "$r" | grep . || echo 0) + $(field closed "$r" | grep . || echo 0) \
                    + $(field pub_errors "$r" | grep . || echo 0) + $(field dups "$r" | grep . || echo 0) ))
                if guard_end; then
                    line="$mode $n $rate $s $(field deliveries_per_s "$r") $pct $(field p50_ms "$r") $(field p99_ms "$r") $(field server_cpu_s "$r") $(field cpu_us_per_delivery "$r") $errs $GUARD_PCT"
                else
                    line="$mode $n $rate $s - - - - - - - $GUARD_PCT"
                fi
                echo "$line" >>"$RESULTS"
                # shellcheck disable=SC2086,SC2059
                printf "$ROW" $line
            done
        done
    done
done

get() { awk -v m="$1" -v n="$2" -v r="$3" -v s="$4" -v c="$5" '$1 == m && $2 == n && $3 == r && $4 == s { print $c }' "$RESULTS"; }
echo
echo "Ratios (lower is better): herald/nchan per mode; list/split per server (CPU per delivery)"
printf '%-6s %5s %-18s %-18s %-18s %-18s\n' clients rate "herald/nchan list" "herald/nchan split" "herald list/split" "nchan list/split"
for n in $CLIENTS; do
    for rate in $RATES; do
        printf '%-6s %5s %-18s %-18s %-18s %-18s\n' "$n" "$rate" \
            "$(ratio "$(get list "$n" "$rate" herald 10)" "$(get list "$n" "$rate" nchan 10)")" \
            "$(ratio "$(get split "$n" "$rate" herald 10)" "$(get split "$n" "$rate" nchan 10)")" \
            "$(ratio "$(get list "$n" "$rate" herald 10)" "$(get split "$n" "$rate" herald 10)")" \
            "$(ratio "$(get list "$n" "$rate" nchan 10)" "$(get split "$n" "$rate" nchan 10)")"
    done
done

[ "$IDLE" = 1 ] || { bench_finish; exit 0; }
for pid in "${SERVER_PIDS[@]}"; do stop_server "$pid"; done
SERVER_PIDS=()
echo
echo "Idle memory: $IDLE_CLIENTS clients following $K channels each, server RSS growth (fresh server each)"
printf '%-7s %-6s %8s %12s %12s %14s %14s\n' server mode conns rss_before_kB rss_after_kB kB_per_client kB_per_channel
for mode in list split; do
    for s in $ACTIVE; do
        start_push "$s" || continue
        # shellcheck disable=SC2046
        r=$(bounded_wsload --mode idle --proto sse $(sub_args "$mode" "$BASE" "$IDLE_CLIENTS") -t 1 --rss-pid "$PID" | grep '^result')
        before=$(field rss_before_kb "$r"); after=$(field rss_after_kb "$r")
        printf '%-7s %-6s %8s %12s %12s %14s %14s\n' "$s" "$mode" "$(field conns "$r")" "$before" "$after" \
            "$(awk -v a="$after" -v b="$before" -v n="$IDLE_CLIENTS" 'BEGIN { if (a != "" && b != "") printf "%.2f", (a - b) / n; else print "-" }')" \
            "$(awk -v a="$after" -v b="$before" -v n="$IDLE_CLIENTS" -v k="$K" 'BEGIN { if (a != "" && b != "") printf "%.3f", (a - b) / n / k; else print "-" }')"
        stop_server "$SERVER_PID"
    done
done
bench_finish
