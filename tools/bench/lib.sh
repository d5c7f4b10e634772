# Shared helpers for tools/bench/*.sh (sourced by them, not run). Bash.
# Provides: ROOT, TMP (a private temp dir, removed on exit), server bookkeeping with a cleanup
# trap, tool builds, port picking, CPU/RSS readers, and a runtime watchdog.
# Knobs: SERVER_CPU (default 0) and CLIENT_CPU (default 1) for taskset; HERALD (binary path);
# MAX_SECONDS (watchdog for the whole script); WAIT_QUIET (seconds to wait for idle CPUs).

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
HERALD=${HERALD:-$ROOT/herald}
TOOLS_BIN=$ROOT/build/tools
CLK_TCK=$(getconf CLK_TCK)

# Private temp dir, world-readable so nginx workers (user nobody when started as root) can serve it.
TMP=$(mktemp -d /tmp/herald-bench.XXXXXX)
chmod 755 "$TMP"
SERVER_PIDS=()
WATCHDOG_PID=

bench_cleanup() {
    local pid
    [ -n "$WATCHDOG_PID" ] && kill "$WATCHDOG_PID" 2>/dev/null
    for pid in "${SERVER_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${SERVER_PIDS[@]}"; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$pid" 2>/dev/null
    done
    wait 2>/dev/null
    rm -rf "$TMP"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# start_watchdog SECONDS: the script kills itself (and so its servers, via the trap) past
# SECONDS (plus WAIT_QUIET).
start_watchdog() {
    local self=$$ limit=$(($1 + ${WAIT_QUIET:-0}))
    (
        sleep "$limit" &
        trap 'kill $! 2>/dev/null; exit 0' TERM
        wait $!
        echo "bench: time limit of $limit s reached, stopping" >&2
        kill -TERM "$self"
    ) &
    WATCHDOG_PID=$!
}

note() { printf '%s\n' "$*" >&2; }

# cpu_idle_pct SECONDS: share of idle CPU time (all CPUs) over a sample of SECONDS.
cpu_idle_pct() {
    local a b
    a=$(head -1 /proc/stat)
    sleep "$1"
    b=$(head -1 /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN { n = split(a, x); split(b, y); t = 0
        for (i = 2; i <= 9 && i <= n; i++) t += y[i] - x[i]
        printf "%d", (t > 0 ? 100 * (y[5] - x[5]) / t : 0) }'
}

# check_quiet: with WAIT_QUIET=SECONDS, first wait (up to that long) for the CPUs to be >= 90 %
# idle over 5 s; then warn if they are not, since other work skews every figure.
check_quiet() {
    local idle deadline=$((SECONDS + ${WAIT_QUIET:-0}))
    idle=$(cpu_idle_pct 2)
    while [ "$idle" -lt 90 ] && [ "$SECONDS" -lt "$deadline" ]; do
        note "bench: CPUs ${idle}% idle, waiting for a quiet machine"
        idle=$(cpu_idle_pct 5)
    done
    if [ "$idle" -lt 90 ]; then
        note "bench: WARNING: CPUs only ${idle}% idle before starting; other work skews the figures"
        note "bench: (set WAIT_QUIET=SECONDS to wait for a quiet machine)"
    fi
    note "bench: $(nproc) CPUs; servers on CPU $SERVER_CPU, clients on CPU $CLIENT_CPU"
}

# ---- the quiet-machine guard ---------------------------------------------------------------
# A figure counts only from a quiet machine: a benchmark that shares the CPU with a build or a
# test run measures the noise. guard_begin/guard_end bracket one measurement; guard_end sets
# GUARD_PCT (CPU that processes outside this script's process group used meanwhile, in % of one
# core: tools/bench/othercpu.py) and fails, counting NOISY, when it passes QUIET_MAX (default 5).
# Callers print "-" instead of that run's figures and keep GUARD_PCT on the row; bench_finish
# makes the script exit 3 when any run was withheld.
QUIET_MAX=${QUIET_MAX:-5}
NOISY=0
BENCH_PGID=$(ps -o pgid= $$ | tr -d ' ')
guard_begin() {
    /usr/bin/python3 "$ROOT/tools/bench/othercpu.py" snap "$TMP/guard.snap"
}
guard_end() {
    local r who
    r=$(/usr/bin/python3 "$ROOT/tools/bench/othercpu.py" since "$TMP/guard.snap" "$BENCH_PGID")
    GUARD_PCT=${r%% *}
    who=${r#* }
    if awk -v p="$GUARD_PCT" -v m="$QUIET_MAX" 'BEGIN { exit !(p > m) }'; then
        note "bench: NOT QUIET: other processes used ${GUARD_PCT}% of a core during this run (busiest: $who); its figures are withheld"
        NOISY=$((NOISY + 1))
        return 1
    fi
    return 0
}
# bench_finish: the closing line, and exit 3 when some run was withheld.
bench_finish() {
    if [ "$NOISY" -gt 0 ]; then
        echo "bench: $NOISY run(s) shared the machine with other work (over ${QUIET_MAX}% of a core): figures withheld (shown as -)"
        exit 3
    fi
    echo "bench: every run was quiet (other processes <= ${QUIET_MAX}% of a core during each)"
}
# rotate N WORDS...: the words rotated left by N (servers are measured in alternating order, so
# none is always first after a server start or always last when the machine has warmed up).
rotate() {
    local n=$1
    shift
    local a=("$@") k=${#a[@]} i
    for ((i = 0; i < k; i++)); do printf '%s ' "${a[$(((i + n) % k))]}"; done
}

# build_tools: build/tools/wsload, build/tools/rawecho and build/tools/floor, rebuilt when a
# source is newer.
build_tools() {
    mkdir -p "$TOOLS_BIN"
    local src newest
    newest=$(ls -t "$ROOT"/tools/wsload.cpp "$ROOT"/tools/wsload/*.hpp "$ROOT"/src/deflate/*.cpp \
        "$ROOT"/src/ws/deflate_frame.cpp | head -1)
    if [ ! -x "$TOOLS_BIN/wsload" ] || [ "$newest" -nt "$TOOLS_BIN/wsload" ]; then
        note "bench: building $TOOLS_BIN/wsload"
        g++ -O2 -std=c++20 -Wall -Wextra -Werror -I"$ROOT/include" "$ROOT/tools/wsload.cpp" \
            "$ROOT/src/deflate/inflater.cpp" "$ROOT/src/deflate/deflater.cpp" \
            "$ROOT/src/ws/deflate_frame.cpp" -o "$TOOLS_BIN/wsload" || return 1
    fi
    src=$ROOT/tools/bench/rawecho.c
    if [ ! -x "$TOOLS_BIN/rawecho" ] || [ "$src" -nt "$TOOLS_BIN/rawecho" ]; then
        note "bench: building $TOOLS_BIN/rawecho"
        cc -O2 -Wall -Wextra -Werror -o "$TOOLS_BIN/rawecho" "$src" || return 1
    fi
    src=$ROOT/tools/bench/floor.c
    if [ ! -x "$TOOLS_BIN/floor" ] || [ "$src" -nt "$TOOLS_BIN/floor" ]; then
        note "bench: building $TOOLS_BIN/floor"
        cc -O2 -Wall -Wextra -Werror -o "$TOOLS_BIN/floor" "$src" || return 1
    fi
}

# have_herald: true when the herald binary exists (build it first with `make herald`).
have_herald() {
    [ -x "$HERALD" ]
}

# herald_main_conf: main-context lines every bench config starts with (herald refuses to run
# as root unless told to).
herald_main_conf() {
    echo "worker_threads 1;"
    echo "error_log stderr notice;"
    echo "pid $TMP/herald-$RANDOM.pid;"
    [ "$(id -u)" -eq 0 ] && echo "user root;"
    return 0
}

# free_port: an unused loopback TCP port.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT [SECONDS]: until something accepts on 127.0.0.1:PORT.
wait_port() {
    local i
    for ((i = 0; i < ${2:-10} * 20; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    note "bench: nothing listens on 127.0.0.1:$1"
    return 1
}

# start_server NAME LOG CMD...: runs CMD pinned to SERVER_CPU in the background; sets SERVER_PID.
start_server() {
    local name=$1 log=$2
    shift 2
    taskset -c "$SERVER_CPU" "$@" >"$log" 2>&1 &
    SERVER_PID=$!
    SERVER_PIDS+=("$SERVER_PID")
    note "bench: started $name (pid $SERVER_PID)"
}

# The nchan module of Debian's libnginx-mod-nchan (need_nchan: exits saying so if it is missing).
NCHAN_MODULE=/usr/lib/nginx/modules/ngx_nchan_module.so
need_nchan() {
    [ -f "$NCHAN_MODULE" ] || { note "bench: $NCHAN_MODULE missing (libnginx-mod-nchan)"; exit 1; }
}

# nginx_conf DIR WORKERS: writes DIR/nginx.conf for a benchmark nginx with the nchan module:
# the part every run shares (WORKERS worker processes, 20000 files and connections each, pid,
# error log and body temp files in DIR, no access log), then the http block's body read from
# stdin (directives and server blocks), then the block's closing brace.
nginx_conf() {
    local dir=$1 workers=$2
    mkdir -p "$dir"
    {
        cat <<EOF
load_module $NCHAN_MODULE;
worker_processes $workers;
worker_rlimit_nofile 20000;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 20000; }
http {
    access_log off;
    client_body_temp_path $dir/client_body;
EOF
        cat
        echo "}"
    } >"$dir/nginx.conf"
}

# start_nginx NAME DIR: the nginx of DIR/nginx.conf (nginx_conf), as start_server starts one.
start_nginx() {
    start_server "$1" "$2/out.log" nginx -c "$2/nginx.conf" -p "$2/" -e "$2/error.log"
}

# bounded_wsload ARGS...: wsload -q on CPU $CLIENT_CPU, killed if it runs past DURATION + 2 x
# GRACE + 120 s (the subscribe and publish modes' longest honest run).
bounded_wsload() {
    timeout --foreground "$(awk -v d="$DURATION" -v g="$GRACE" 'BEGIN { printf "%d", d + 2 * g + 120 }')" \
        taskset -c "$CLIENT_CPU" "$TOOLS_BIN/wsload" -q "$@"
}

# stop_server PID: stop one server started by start_server.
stop_server() {
    kill -TERM "$1" 2>/dev/null
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.2
    done
    kill -KILL "$1" 2>/dev/null
}

# nginx_worker MASTER_PID: the (single) worker's pid, waiting for it to appear.
nginx_worker() {
    local w i
    for ((i = 0; i < 100; i++)); do
        w=$(pgrep -P "$1" | head -1)
        [ -n "$w" ] && { echo "$w"; return 0; }
        sleep 0.05
    done
    return 1
}

# cpu_ticks PID...: utime+stime (clock ticks, all threads) summed over the processes.
cpu_ticks() {
    local pid total=0 t
    for pid in "$@"; do
        t=$(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null || echo 0)
        total=$((total + t))
    done
    echo "$total"
}

# field KEY LINE: the value of KEY=VALUE in a wsload result line.
field() {
    printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1
}

# ratio A B: A/B with two decimals, "-" when either is missing or B is zero.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'
}
