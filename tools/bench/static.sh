#!/bin/bash
# tools/bench/static.sh: static files, herald vs nginx (a benchmark, not a test).
#
# Serves the same 1 KiB and 64 KiB files from nginx (worker_processes 1, sendfile on,
# access_log off) and herald (worker_threads 1, access_log off) on 127.0.0.1, servers pinned to
# CPU $SERVER_CPU and wrk to CPU $CLIENT_CPU, and runs `wrk -t1 -c64 -d${DURATION}s` against each
# alternately for $ROUNDS rounds. Prints requests/s per run, then per file the mean requests/s,
# herald/nginx, and server CPU seconds per 1,000 requests (utime+stime from /proc/PID/stat).
#
# Usage: tools/bench/static.sh            (as root it installs nginx and wrk if missing)
# Env:   DURATION=10 ROUNDS=3 CONNS=64 SERVER_CPU=0 CLIENT_CPU=1 WAIT_QUIET=0 HERALD=./herald MAX_SECONDS=600
# Without a herald binary it measures nginx alone and says so.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-64}
start_watchdog "${MAX_SECONDS:-600}"

"$ROOT/tools/deps.sh" bench || exit 1
check_quiet

# The files: same bytes for both servers.
mkdir -p "$TMP/www" "$TMP/nginx"
yes 'herald static benchmark line.' | head -c 1024 >"$TMP/www/1k.txt"
yes 'herald static benchmark line.' | head -c 65536 >"$TMP/www/64k.txt"
chmod -R a+rX "$TMP/www"
FILES="1k.txt 64k.txt"

NGINX_PORT=$(free_port)
cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 10000; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    client_body_temp_path $TMP/nginx/client_body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $TMP/www;
    }
}
EOF
start_server nginx "$TMP/nginx/out.log" nginx -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx/" -e "$TMP/nginx/error.log"
NGINX_MASTER=$SERVER_PID
wait_port "$NGINX_PORT" || { cat "$TMP/nginx/out.log" "$TMP/nginx/error.log" >&2; exit 1; }
NGINX_WORKER=$(nginx_worker "$NGINX_MASTER")
SERVERS="nginx"
declare -A PORT=([nginx]=$NGINX_PORT) PIDS=([nginx]="$NGINX_MASTER $NGINX_WORKER")

if have_herald; then
    HERALD_PORT=$(free_port)
    { herald_main_conf; cat <<EOF
events { worker_connections 10000; }
http {
    include $ROOT/conf/mime.types;
    access_log off;
    server {
        listen 127.0.0.1:$HERALD_PORT;
        root $TMP/www;
    }
}
EOF
    } >"$TMP/herald.conf"
    start_server herald "$TMP/herald.log" "$HERALD" -c "$TMP/herald.conf"
    if wait_port "$HERALD_PORT"; then
        SERVERS="nginx herald"
        PORT[herald]=$HERALD_PORT
        PIDS[herald]=$SERVER_PID
    else
        note "bench: herald did not start:"; cat "$TMP/herald.log" >&2
    fi
else
    note "bench: no herald binary ($HERALD): measuring nginx only"
fi

# Both servers must return the same bytes before we time them.
for s in $SERVERS; do
    for f in $FILES; do
        if ! curl -sf "http://127.0.0.1:${PORT[$s]}/$f" | cmp -s - "$TMP/www/$f"; then
            note "bench: $s does not serve /$f correctly"; exit 1
        fi
    done
done

RESULTS=$TMP/results
: >"$RESULTS"
printf '%-7s %-8s %5s %12s %10s %14s %7s\n' server file round requests/s errors "cpu_s/1k_req" other%
for ((round = 1; round <= ROUNDS; round++)); do
    for f in $FILES; do
        # shellcheck disable=SC2086
        for s in $(rotate "$round" $SERVERS); do
            guard_begin
            # shellcheck disable=SC2086
            before=$(cpu_ticks ${PIDS[$s]})
            out=$(timeout --foreground $((DURATION + 30)) taskset -c "$CLIENT_CPU" \
                wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:${PORT[$s]}/$f" 2>&1)
            # shellcheck disable=SC2086
            after=$(cpu_ticks ${PIDS[$s]})
            rps=$(printf '%s\n' "$out" | awk '/^Requests\/sec:/ { print $2 }')
            reqs=$(printf '%s\n' "$out" | awk '/requests in/ { print $1 }')
            errs=$(printf '%s\n' "$out" | awk '/Non-2xx|Socket errors/ { n++ } END { print n ? "yes" : "0" }')
            cpu=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v r="${reqs:-0}" \
                'BEGIN { if (r > 0) printf "%.4f", t / hz / (r / 1000); else print "-" }')
            guard_end || { rps=-; cpu=-; }
            printf '%-7s %-8s %5d %12s %10s %14s %7s\n' "$s" "$f" "$round" "${rps:--}" "$errs" "$cpu" "$GUARD_PCT"
            echo "$s $f $round ${rps:-0} $cpu" >>"$RESULTS"
        done
    done
done

echo
echo "Summary (mean of $ROUNDS rounds, wrk -t1 -c$CONNS -d${DURATION}s; servers on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU)"
printf '%-8s %14s %14s %14s %16s %16s\n' file nginx_req/s herald_req/s herald/nginx nginx_cpu_s/1k herald_cpu_s/1k
for f in $FILES; do
    mean() { awk -v s="$1" -v f="$f" -v col="$2" '$1 == s && $2 == f && $col != "-" { t += $col; n++ } END { if (n) printf "%.4f", t / n; else print "-" }' "$RESULTS"; }
    nr=$(mean nginx 4); hr=$(mean herald 4); nc=$(mean nginx 5); hc=$(mean herald 5)
    printf '%-8s %14.0f %14s %14s %16s %16s\n' "$f" "$nr" "$(awk -v v="$hr" 'BEGIN { if (v == "-") print "-"; else printf "%.0f", v }')" \
        "$(ratio "$hr" "$nr")" "$nc" "$hc"
done
bench_finish
