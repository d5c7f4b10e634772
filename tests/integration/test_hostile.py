"""Hostile and broken peers, over loopback against the real binary: slowloris,
slow readers, connection floods past worker_connections and past the fd limit, resets and
half-closes at every stage of a request, and oversized everything. In each case herald must keep
serving the other clients, keep its memory bounded, and exit cleanly (code 0, no sanitizer
report) when the fixture stops it.

Load generators that must not share the GIL with a latency measurement run in forked child
processes. Every test is bounded in time and stops by itself.
"""
import json
import multiprocessing
import os
import resource
import selectors
import socket
import struct
import subprocess
import threading
import time

import pytest

import harness
from clients import (cpu_seconds, dechunk, drain_to_eof, open_socket, percentile,
                     raise_nofile, read_head, release_binary, reset, rss_bytes, status,
                     wait_connections, ws_frames, ws_upgrade)
from harness import read_response
from push_clients import Conn, build_request, id_seq, parse_sse, publish, ws_client_frame


@pytest.fixture(autouse=True)
def _fds():
    raise_nofile()  # 2,000+ client sockets here, and herald inherits the raised limit


# ---- slowloris ------------------------------------------------------------------------------

SLOWLORIS_N = 2000
HEADER_TIMEOUT = 2.0

SLOWLORIS_CONF = '''
error_log stderr notice;
worker_threads 1;
events { worker_connections 10000; }
http {
    access_log off;
    client_header_timeout 2s;
    keepalive_timeout 30s;
    server {
        listen 127.0.0.1:0;
        root {www};
        location = /status { status; }
    }
}
'''


def slowloris(port, n, results, ready):
    """Child process: n connections that send a request line and then one header byte per
    connection every 0.5 s, never finishing the head. Reports when each was cut, measured from
    its first byte."""
    sel = selectors.DefaultSelector()
    socks, first, cut = [], [], {}
    for i in range(n):
        s = open_socket(port, blocking=False)
        s.send(b'GET /index.html HTTP/1.1\r\n')
        first.append(time.monotonic())
        socks.append(s)
        sel.register(s, selectors.EVENT_READ, i)
    ready.set()
    trickle = b'X-Slow: ' + b'a' * 1000
    pos = 0
    next_round = time.monotonic()
    deadline = first[-1] + HEADER_TIMEOUT + 6
    while len(cut) < n and time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_round:
            byte = trickle[pos % len(trickle):pos % len(trickle) + 1]
            pos += 1
            for i, s in enumerate(socks):
                if i in cut:
                    continue
                try:
                    s.send(byte)
                except BlockingIOError:
                    pass
                except OSError:
                    cut[i] = time.monotonic()
                    sel.unregister(s)
            next_round = now + 0.5
        for key, _ in sel.select(timeout=max(0.0, min(0.1, next_round - time.monotonic()))):
            i = key.data
            try:
                data = key.fileobj.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b''
            if data == b'':
                cut[i] = time.monotonic()
                sel.unregister(key.fileobj)
            else:  # herald answers a timed-out head with nothing; any answer is a failure
                results.put(('answered', i, data[:100]))
    delays = [cut[i] - first[i] for i in cut]
    results.put(('done', n - len(cut), min(delays) if delays else None,
                 max(delays) if delays else None))
    for s in socks:
        s.close()


def request_latencies(srv, duration=None, count=None):
    """A normal client: GET /index.html over keep-alive, a new connection every 10 requests.
    Runs for `duration` seconds or `count` requests; returns the latencies in seconds."""
    out = []
    c = None
    t_end = time.monotonic() + duration if duration else None
    while (count is None or len(out) < count) and (t_end is None or time.monotonic() < t_end):
        t0 = time.monotonic()
        if c is None or len(out) % 10 == 0:
            if c:
                c.close()
            c = Conn(srv.port, timeout=5)
        code, _, body = c.request('GET', '/index.html')
        out.append(time.monotonic() - t0)
        assert code == 200 and body == b'hello\n'
        time.sleep(0.002)  # a client, not a benchmark
    if c:
        c.close()
    return out


def test_slowloris_cut_at_header_timeout_others_served(herald):
    srv = herald(SLOWLORIS_CONF, files={'www/index.html': 'hello\n'})
    request_latencies(srv, count=20)  # warm up
    idle = request_latencies(srv, count=300)
    ctx = multiprocessing.get_context('fork')
    results, ready = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=slowloris, args=(srv.port, SLOWLORIS_N, results, ready),
                        daemon=True)
    child.start()
    try:
        assert ready.wait(20), 'slowloris connections not opened'
        # Measure while the trickle runs and while herald cuts the 2,000 connections.
        busy = request_latencies(srv, duration=HEADER_TIMEOUT + 1.0)
        msgs = [results.get(timeout=20)]
        while msgs[-1][0] != 'done':
            msgs.append(results.get(timeout=20))
    finally:
        child.join(timeout=5)
        if child.is_alive():
            child.kill()
    # Idle again: the baseline is the worse of before and after, so load from outside this
    # test (other tests, other processes on the 2 cores) cannot pass for herald's slowness.
    idle_after = request_latencies(srv, count=300)
    answered = [m for m in msgs if m[0] == 'answered']
    _, left, dmin, dmax = msgs[-1]
    idle_p99 = max(percentile(idle, 99), percentile(idle_after, 99))
    busy_p99 = percentile(busy, 99)
    print('slowloris: idle p99 %.1f ms, under attack p99 %.1f ms (%d requests); cut after '
          '%.2f..%.2f s' % (idle_p99 * 1e3, busy_p99 * 1e3, len(busy), dmin, dmax))
    assert not answered, answered[:3]
    assert left == 0, '%d slowloris connections were never cut' % left
    # Never before the timeout; the upper bound allows for this client noticing late (2,000
    # sockets in one Python process on a busy 2-core machine), not for herald waiting.
    assert dmin >= HEADER_TIMEOUT - 0.25 and dmax <= HEADER_TIMEOUT + 3.0, (dmin, dmax)
    assert len(busy) >= 50
    assert busy_p99 <= max(10 * idle_p99, 0.050), (idle_p99, busy_p99)
    st = wait_connections(srv)
    assert st['connections'] == 1, st


# ---- slow readers ---------------------------------------------------------------------------

SLOW_WS = 1000
SLOW_SSE = 1000
HEALTHY = 100          # half WebSocket, half SSE
QUEUE_LIMIT = 64 << 10  # ws_max_queue and output_queue_limit below
MSG_SIZE = 1024
RATE = 100             # messages per second
PUBLISH_SECONDS = 4
# Per-connection memory herald holds besides its output queue: Connection, HttpSession (parser,
# strings), WsSession or Stream, subscription, queue chunk vector. About 2 KiB in the release
# build; ASan's redzones and allocator round this up (measured ~10 KiB): 16 KiB covers both.
CONN_OVERHEAD = 16 << 10
# Allocator and ASan bookkeeping that does not scale with connections (free lists, quarantine
# of freed chunks, shadow pages): a fixed allowance.
SLACK = 64 << 20

SLOW_CONF = '''
error_log stderr notice;
worker_threads 1;
events { worker_connections 10000; }
http {
    access_log off;
    ws_max_queue 64k;
    output_queue_limit 64k;
    ws_close_timeout 1s;       # counts once the 1008 frame is written, not while it is queued
    ws_ping_interval 0;
    stream_keepalive 60s;
    channel feed { buffer 100; }
    server {
        listen 127.0.0.1:0;
        location /ws/      { push websocket; channel $tail; }
        location /sse/     { push sse; channel $tail; }
        location = /pub    { publish; channel $arg_channel; }
        location = /status { status; }
    }
}
'''


def feed_payload(i):
    head = b'%06d ' % i
    return head + b'x' * (MSG_SIZE - len(head))


def test_slow_readers_dropped_memory_bounded(herald):
    """2,000 subscribers (1,000 WebSocket, 1,000 SSE) that never read, 100 healthy ones, and
    100 messages/s of 1 KiB for 4 s.

    RSS bound: baseline + N * (L + M + C) + S, where N = every subscriber connection (2,100),
    L = the per-connection queue limit (ws_max_queue = output_queue_limit = 64 KiB; a queue
    is checked before a message joins it, so it peaks at L + one message), M = one message's
    encoding (1 KiB + framing), C = 16 KiB of per-connection state, S = 64 MiB fixed slack for
    the allocator (and ASan's quarantine and shadow pages, which also make the sanitized
    baseline larger). Kernel socket buffers are not in RSS, so the bound does not depend on
    the kernel's buffer tuning. With these figures: baseline + 2,100 * 81 KiB + 64 MiB, about
    baseline + 230 MiB. (Message bytes are shared, not copied, so the queues of slow
    subscribers actually hold chunk descriptors, and herald stays far below the bound.)

    The kernel's share is kept small too: herald caps each connection's unsent bytes in the
    kernel at 64 KiB (TCP_NOTSENT_LOWAT), so a reader that stops shows up in herald's own
    queue, where the limits see it, instead of vanishing into megabytes of socket buffer.
    Measured on the 2-core machine (release / ASan): baseline 5 / 20 MiB, 2,100 subscribers
    connected 17 / 45 MiB, peak while publishing 30 / 97 MiB, bound 236 / 250 MiB."""
    srv = herald(SLOW_CONF)
    pid = srv.proc.pid
    baseline = rss_bytes(pid)
    slow_ws, slow_sse, healthy = [], [], []
    for i in range(SLOW_WS):
        s = open_socket(srv.port, rcvbuf=4096)
        s.sendall(ws_upgrade('/ws/feed'))
        slow_ws.append(s)
    for i in range(SLOW_SSE):
        s = open_socket(srv.port, rcvbuf=4096)
        s.sendall(build_request('GET', '/sse/feed'))
        slow_sse.append(s)
    for i in range(HEALTHY):
        s = open_socket(srv.port)
        s.sendall(ws_upgrade('/ws/feed') if i % 2 == 0 else build_request('GET', '/sse/feed'))
        healthy.append(s)
    # Every subscriber is registered before the first message.
    deadline = time.monotonic() + 20
    while True:
        st = status(srv)
        subs = st['subscribers']
        if subs['websocket'] + subs['sse'] == SLOW_WS + SLOW_SSE + HEALTHY:
            break
        assert time.monotonic() < deadline, st
        time.sleep(0.1)
    connected = rss_bytes(pid)
    n_conns = SLOW_WS + SLOW_SSE + HEALTHY
    bound = baseline + n_conns * (QUEUE_LIMIT + MSG_SIZE + 64 + CONN_OVERHEAD) + SLACK

    peak = [connected]
    published = []
    errors = []

    def publisher():
        try:
            c = Conn(srv.port, timeout=10)
            t0 = time.monotonic()
            for i in range(1, RATE * PUBLISH_SECONDS + 1):
                code, _, body = c.request('POST', '/pub?channel=feed', body=feed_payload(i),
                                          headers={'Content-Type': 'text/plain'})
                if code != 201:
                    errors.append((i, code, body))
                    return
                published.append(i)
                if i % 10 == 0:
                    peak.append(rss_bytes(pid))
                ahead = i / RATE - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
            c.close()
        except Exception as e:  # reported by the main thread
            errors.append(repr(e))

    pub = threading.Thread(target=publisher, daemon=True)
    t_pub = time.monotonic()
    pub.start()
    # The healthy subscribers read everything as it comes.
    sel = selectors.DefaultSelector()
    got = {}
    for s in healthy:
        s.setblocking(False)
        got[s] = bytearray()
        sel.register(s, selectors.EVENT_READ)
    quiet_since = None
    while True:
        events = sel.select(timeout=0.1)
        for key, _ in events:
            try:
                data = key.fileobj.recv(1 << 16)
            except BlockingIOError:
                continue
            if not data:
                sel.unregister(key.fileobj)
                continue
            got[key.fileobj] += data
        if pub.is_alive():
            continue
        if events:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 0.5:
            break
    pub_took = time.monotonic() - t_pub
    assert not errors, errors
    n_msgs = len(published)
    assert n_msgs == RATE * PUBLISH_SECONDS
    # Healthy: every message, in order, exactly once.
    for k, s in enumerate(healthy):
        raw = bytes(got[s])
        head, _, rest = raw.partition(b'\r\n\r\n')
        if k % 2 == 0:
            assert head.startswith(b'HTTP/1.1 101'), head
            frames, left = ws_frames(rest)
            assert left == b'' and all(op == 0x1 for op, _ in frames)
            ids = [int(p[:6]) for _, p in frames]
            assert all(p == feed_payload(int(p[:6])) for _, p in frames)
        else:
            assert head.startswith(b'HTTP/1.1 200'), head
            body, ended = dechunk(rest)
            assert not ended
            events, _, _ = parse_sse(body)
            ids = [id_seq(e['id']) for e in events]
            assert all(e['data'].encode() == feed_payload(id_seq(e['id'])) for e in events)
        assert ids == list(range(1, n_msgs + 1)), 'healthy subscriber %d: %d messages' % (
            k, len(ids))
    # The slow ones were dropped: counters, then what each sees once it reads.
    st = status(srv)
    subs = st['subscribers']
    assert st['dropped'] >= SLOW_WS + SLOW_SSE, st
    assert subs['websocket'] == HEALTHY // 2 and subs['sse'] == HEALTHY // 2, st
    codes = read_all_ws_close_codes(slow_ws)
    assert codes == {1008: SLOW_WS}, codes
    ends = read_all_to_eof(slow_sse)
    assert ends == {'eof': SLOW_SSE}, ends
    for s in slow_ws + slow_sse + healthy:
        s.close()
    st = wait_connections(srv)
    assert st['connections'] == 1, st
    mib = 1 << 20
    print('slow readers: RSS baseline %.1f MiB, %d connected %.1f MiB, peak %.1f MiB, bound '
          '%.1f MiB; published %d in %.1fs; dropped %d' % (
              baseline / mib, n_conns, connected / mib, max(peak) / mib, bound / mib, n_msgs,
              pub_took, st['dropped']))
    if os.environ.get('HERALD_TSAN') == '1':
        return  # ThreadSanitizer's shadow memory (several times the heap, never returned)
                # makes RSS measure TSan, not herald: the bound holds for release and ASan.
    assert max(peak) <= bound, (max(peak), bound)


def read_all_ws_close_codes(socks, timeout=20):
    """Reads every socket to the end at once (they all hold a full queue); returns
    {close code (or 'no close frame'): count}."""
    sel = selectors.DefaultSelector()
    bufs = {}
    for s in socks:
        s.setblocking(False)
        bufs[s] = bytearray()
        sel.register(s, selectors.EVENT_READ)
    codes = {}
    deadline = time.monotonic() + timeout
    while bufs and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                data = s.recv(1 << 18)
            except BlockingIOError:
                continue
            except OSError:
                data = b''
            buf = bufs[s]
            buf += data
            # Only the tail can hold the close frame: drop whole data frames as they pass.
            head, _, rest = bytes(buf).partition(b'\r\n\r\n') if buf.startswith(b'HTTP/') \
                else (b'', b'', bytes(buf))
            if head and not head.startswith(b'HTTP/1.1 101'):
                codes[head[:12]] = codes.get(head[:12], 0) + 1
                sel.unregister(s)
                del bufs[s]
                continue
            if buf.startswith(b'HTTP/') and not head:
                continue  # head not complete yet
            frames, left = ws_frames(rest)
            close = [p for op, p in frames if op == 0x8]
            if close or not data:
                code = struct.unpack('!H', close[0][:2])[0] if close else 'no close frame'
                codes[code] = codes.get(code, 0) + 1
                sel.unregister(s)
                del bufs[s]
                continue
            bufs[s] = bytearray(left)
    if bufs:
        codes['timeout'] = len(bufs)
    return codes


def read_all_to_eof(socks, timeout=20):
    """Reads every socket until EOF; returns {'eof' | 'reset' | 'timeout': count}."""
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    left = set(socks)
    ends = {}
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                data = s.recv(1 << 18)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                ends['reset'] = ends.get('reset', 0) + 1
            else:
                if data:
                    continue
                ends['eof'] = ends.get('eof', 0) + 1
            sel.unregister(s)
            left.discard(s)
    if left:
        ends['timeout'] = len(left)
    return ends


# ---- connection floods ----------------------------------------------------------------------

FLOOD_CONF = '''
error_log stderr notice;
worker_threads 1;
events { worker_connections %d; }
http {
    access_log off;
    client_header_timeout 30s;
    server {
        listen 127.0.0.1:0;
        root {www};
        location = /status { status; }
    }
}
'''


def flood(port, total, seconds, close_within):
    """Opens `total` connections spread over `seconds` and keeps them open. Each is either held
    (herald keeps it: still open after close_within) or shed (EOF or RST within close_within
    of its connect). Returns (held sockets, shed count, connects that failed outright, the
    slowest shedding seen)."""
    sel = selectors.DefaultSelector()
    opened = {}
    refused = 0
    t0 = time.monotonic()
    for i in range(total):
        due = t0 + seconds * i / total
        while time.monotonic() < due:
            for key, _ in sel.select(timeout=max(0.0, due - time.monotonic())):
                _poll_shed(key, sel, opened)
        try:
            s = open_socket(port, blocking=False, timeout=2)
        except OSError:
            refused += 1
            continue
        opened[s] = [time.monotonic(), None]
        sel.register(s, selectors.EVENT_READ)
    end = time.monotonic() + close_within
    while time.monotonic() < end:
        for key, _ in sel.select(timeout=0.05):
            _poll_shed(key, sel, opened)
    held = [s for s, (_, shed) in opened.items() if shed is None]
    delays = [shed - at for at, shed in opened.values() if shed is not None]
    for s, (_, shed) in opened.items():
        if shed is not None:
            s.close()
    return held, len(delays), refused, max(delays) if delays else 0.0


def _poll_shed(key, sel, opened):
    s = key.fileobj
    try:
        data = s.recv(4096)
    except BlockingIOError:
        return
    except OSError:
        data = b''
    assert data == b'', 'herald sent %r to a flood connection' % data[:80]
    opened[s][1] = time.monotonic()
    sel.unregister(s)


def check_flood(srv, total, seconds, expect_held):
    pid = srv.proc.pid
    cpu0, wall0 = cpu_seconds(pid), time.monotonic()
    held, shed, refused, slowest = flood(srv.port, total, seconds, close_within=1.0)
    cpu, wall = cpu_seconds(pid) - cpu0, time.monotonic() - wall0
    try:
        assert expect_held(len(held)), len(held)
        assert shed + refused == total - len(held)
        assert slowest < 1.0, slowest
        # A connection herald holds is still served at the limit (/status needs no fd).
        held[0].setblocking(True)
        held[0].settimeout(5)
        held[0].sendall(build_request('GET', '/status'))
        assert read_response(held[0])[0] == 200
        # Nothing happens while the limit holds: the loop must be idle, not spinning.
        idle0 = cpu_seconds(pid)
        time.sleep(1.0)
        idle = cpu_seconds(pid) - idle0
    finally:
        for s in held:
            s.close()
    # Service resumes once the flood's connections are gone.
    deadline = time.monotonic() + 5
    while True:
        try:
            code = srv.get('/index.html', timeout=2)[0]
            break
        except OSError:
            assert time.monotonic() < deadline, 'no service after the flood'
            time.sleep(0.1)
    assert code == 200
    st = wait_connections(srv)
    assert st['connections'] == 1, st
    return len(held), shed, refused, slowest, cpu / wall, idle


def test_flood_past_worker_connections(herald):
    srv = herald(FLOOD_CONF % 50, files={'www/index.html': 'hello\n'})
    held, shed, refused, slowest, cpu, idle = check_flood(
        srv, total=600, seconds=2.0, expect_held=lambda n: n == 50)
    print('worker_connections 50: 600 connects in 2 s: held %d, shed %d (slowest %.0f ms), '
          'refused %d; server CPU %.0f%% of wall during the flood, %.2f s in 1 s at the limit'
          % (held, shed, slowest * 1e3, refused, cpu * 100, idle))
    assert cpu < 0.30, cpu
    assert idle < 0.1, idle
    assert srv.wait_log(r'worker_connections \(50\) reached')


def test_flood_past_fd_limit(herald, monkeypatch):
    # The release binary, not the sanitized one: UBSan's vptr check probes memory through a
    # pipe(2), so in a process that is out of fds it reports every first-seen virtual call as
    # "invalid vptr" and aborts (-fno-sanitize-recover; reproduced with a 10-line program, and
    # suppressions do not apply because the dynamic type cannot be read). LeakSanitizer also
    # needs fds at exit. `make test` builds ./herald first; HERALD_RELEASE_BIN overrides it.
    path, why = release_binary()
    if path is None:
        pytest.skip(why)
    monkeypatch.setattr(harness, 'BIN', path)
    srv = herald(FLOOD_CONF % 10000, files={'www/index.html': 'hello\n'})
    # As `ulimit -n 256` would: herald has not accepted anything yet.
    resource.prlimit(srv.proc.pid, resource.RLIMIT_NOFILE, (256, 256))
    held, shed, refused, slowest, cpu, idle = check_flood(
        srv, total=600, seconds=2.0, expect_held=lambda n: 200 <= n < 256)
    print('ulimit -n 256: 600 connects in 2 s: held %d, shed %d (slowest %.0f ms), refused %d; '
          'server CPU %.0f%% of wall during the flood, %.2f s in 1 s at the limit'
          % (held, shed, slowest * 1e3, refused, cpu * 100, idle))
    assert cpu < 0.30, cpu
    assert idle < 0.1, idle
    assert srv.wait_log('Too many open files')


# ---- resets and half-closes -----------------------------------------------------------------

RESET_CONF = '''
error_log stderr notice;
worker_threads 1;
http {
    access_log off;
    longpoll_timeout 30s;
    stream_keepalive 60s;
    ws_ping_interval 0;
    ws_close_timeout 2s;
    channel c { buffer 10; }
    channel big { buffer 2; }
    server {
        listen 127.0.0.1:0;
        root {www};
        location /lp/      { push long-polling; channel $tail; }
        location /sse/     { push sse; channel $tail; }
        location /if/      { push iframe; channel $tail; }
        location /ws/      { push websocket; channel $tail; }
        location = /echo   { push websocket; echo ""; }
        location = /pub    { publish; channel $arg_channel; }
        location = /status { status; }
    }
}
'''
BIG = os.urandom(1 << 20) * 8  # 8 MiB static file, sent with sendfile


def upgraded(port, path, rcvbuf=None):
    s = open_socket(port, rcvbuf=rcvbuf)
    s.sendall(ws_upgrade(path))
    code, _ = read_head(s)
    assert code == 101
    return s


def streaming(port, path, rcvbuf=None):
    s = open_socket(port, rcvbuf=rcvbuf)
    s.sendall(build_request('GET', path))
    code, _ = read_head(s)
    assert code == 200
    return s


def stage_broken_peers(srv, last_id):
    """Opens connections stopped at every stage of a request; returns [(what, socket)].
    last_id: the id of the newest message of channel c, '0' if none (so the long-polls are
    held)."""
    port = srv.port
    out = []
    for _ in range(10):
        s = open_socket(port)
        s.sendall(b'GET /index.html HTTP/1.1\r\nHost: x\r\nX-Part')
        out.append(('mid request head', s))
        s = open_socket(port)
        s.sendall(b'POST /pub?channel=c HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n' +
                  b'b' * 1000)
        out.append(('mid request body', s))
        s = open_socket(port, rcvbuf=4096)
        s.sendall(build_request('GET', '/big.bin'))
        s.recv(2000)
        out.append(('mid sendfile response', s))
        s = upgraded(port, '/echo')
        s.sendall(bytes([0x82, 0x80 | 126]) + struct.pack('!H', 1000) + b'mask' + b'x' * 10)
        out.append(('mid client WebSocket frame', s))
        s = upgraded(port, '/ws/big', rcvbuf=4096)
        out.append(('mid server WebSocket frame', s))
        s = open_socket(port)
        s.sendall(build_request('GET', '/lp/c?since=' + last_id))
        out.append(('held long-poll', s))
        out.append(('SSE stream', streaming(port, '/sse/c')))
        out.append(('iframe stream', streaming(port, '/if/c')))
    return out


def test_resets_and_half_closes_leak_nothing(herald):
    srv = herald(RESET_CONF, files={'www/index.html': 'hello\n', 'www/big.bin': BIG})
    last_id = '0'
    for rnd in range(2):  # once with RST, once with a plain close (FIN): the client vanishes
        staged = stage_broken_peers(srv, last_id=last_id)
        # A 1 MiB message is half written to the WebSocket subscribers of "big" when they go.
        code, _, _ = srv.request('POST', '/pub?channel=big', body=b'm' * (1 << 20))
        assert code == 201
        time.sleep(0.2)
        st = status(srv)
        assert st['connections'] == len(staged) + 1, st
        assert st['subscribers'] == {'polling': 0, 'long-polling': 10, 'iframe': 10, 'sse': 10,
                                     'websocket': 10}, st
        for what, s in staged:
            if rnd == 0:
                reset(s)
            else:
                s.close()
        # Herald writes to whatever is left of them (EPIPE/ECONNRESET, never SIGPIPE).
        for ch in ('c', 'big'):
            code, _, body = srv.request('POST', '/pub?channel=' + ch, body=b'after')
            assert code == 201
            if ch == 'c':
                last_id = json.loads(body)['id']
        st = wait_connections(srv)
        assert st['connections'] == 1, (rnd, st)
        assert sum(st['subscribers'].values()) == 0, st
    # Half-closed: a client that sends its requests then shuts down its sending side still
    # gets every response, then the close.
    s = open_socket(srv.port)
    s.sendall(build_request('GET', '/index.html') * 3)
    s.shutdown(socket.SHUT_WR)
    data, how = drain_to_eof(s)
    s.close()
    assert how == 'eof' and data.count(b'HTTP/1.1 200 OK') == 3 and data.endswith(b'hello\n')
    # Half-closed subscribers are gone subscribers: released at once.
    socks = [streaming(srv.port, '/sse/c'), upgraded(srv.port, '/ws/c')]
    s = open_socket(srv.port)
    s.sendall(build_request('GET', '/lp/c?since=' + last_id))
    socks.append(s)
    time.sleep(0.1)
    assert status(srv)['subscribers']['long-polling'] == 1
    for s in socks:
        s.shutdown(socket.SHUT_WR)
    for s in socks:
        drain_to_eof(s)
        s.close()
    st = wait_connections(srv)
    assert st['connections'] == 1 and sum(st['subscribers'].values()) == 0, st
    assert srv.get('/index.html')[2] == b'hello\n'


# ---- oversized everything -------------------------------------------------------------------

BIG_CONF = '''
error_log stderr notice;
worker_threads 1;
http {
    access_log off;
    large_header_buffer 1k;
    max_header_size 4k;
    max_headers 20;
    client_max_body_size 4k;
    ws_max_message_size 4k;
    ws_ping_interval 0;
    ws_close_timeout 1s;
    channel_autocreate on;
    server {
        listen 127.0.0.1:0;
        root {www};
        location /poll/    { push polling; channel $tail; }
        location /lp/      { push long-polling; channel $tail; }
        location /if/      { push iframe; channel $tail; }
        location /sse/     { push sse; channel $tail; }
        location /ws/      { push websocket; channel $tail; publish on; }
        location = /echo   { push websocket; echo ""; }
        location = /pub    { publish; channel $arg_channel; }
    }
}
'''


def answer(srv, raw):
    """Status of the response to raw bytes, and whether herald closed the connection after."""
    s = open_socket(srv.port)
    s.sendall(raw)
    data, how = drain_to_eof(s, timeout=5)
    s.close()
    assert data.startswith(b'HTTP/1.1 '), data[:100]
    return int(data.split(b' ', 2)[1]), how


def ws_close_code(srv, path, frames):
    """Sends client frames on a fresh WebSocket; returns the server's close code."""
    s = upgraded(srv.port, path)
    try:
        s.sendall(frames)
    except OSError:
        pass  # herald may close before it has read everything; its close frame is what counts
    data, _ = drain_to_eof(s, timeout=5)
    s.close()
    frames_in, _ = ws_frames(data)
    closes = [p for op, p in frames_in if op == 0x8]
    assert closes, data[:100]
    return struct.unpack('!H', closes[0][:2])[0]


def client_frame(op, payload, fin=True, length=None):
    return ws_client_frame(op, payload, fin=fin, length=length, key=b'\0' * 4)


def test_oversized_everything_answered_with_its_code(herald):
    srv = herald(BIG_CONF, files={'www/index.html': 'hello\n'})
    # Request line over large_header_buffer (1k): 414; header block or count: 431.
    assert answer(srv, b'GET /' + b'a' * 2000 + b' HTTP/1.1\r\nHost: x\r\n\r\n') == (414, 'eof')
    assert answer(srv, b'GET / HTTP/1.1\r\nHost: x\r\n' +
                  b''.join(b'X-H%d: %s\r\n' % (i, b'v' * 900) for i in range(6)) +
                  b'\r\n') == (431, 'eof')
    assert answer(srv, b'GET / HTTP/1.1\r\nHost: x\r\nX-Big: ' + b'v' * 5000 +
                  b'\r\n\r\n') == (431, 'eof')
    assert answer(srv, b'GET / HTTP/1.1\r\nHost: x\r\n' +
                  b''.join(b'X-H%d: v\r\n' % i for i in range(30)) + b'\r\n') == (431, 'eof')
    # Bodies over client_max_body_size (4k): announced, or found while de-chunking.
    assert answer(srv, b'POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n'
                  ) == (413, 'eof')
    chunked = b''.join(b'400\r\n' + b'c' * 1024 + b'\r\n' for _ in range(5)) + b'0\r\n\r\n'
    assert answer(srv, b'POST /pub?channel=a HTTP/1.1\r\nHost: x\r\n'
                  b'Transfer-Encoding: chunked\r\n\r\n' + chunked)[0] == 413
    # Publish bodies: 4 KiB is fine, one byte more is 413.
    assert srv.request('POST', '/pub?channel=a', body=b'p' * 4096)[0] == 201
    assert srv.request('POST', '/pub?channel=a', body=b'p' * 4097)[0] == 413
    # Channel names: [A-Za-z0-9_.:-]{1,128}, for the publisher and every strategy.
    assert srv.request('POST', '/pub?channel=' + 'n' * 128, body=b'x')[0] == 201
    for bad in ('n' * 129, 'a%20b', 'a/b', '%00'):
        assert srv.request('POST', '/pub?channel=' + bad, body=b'x')[0] == 400, bad
        for route in ('/poll/', '/lp/', '/if/', '/sse/', '/ws/'):
            assert srv.get(route + bad)[0] == 400, (route, bad)
    # WebSocket messages over ws_max_message_size (4k): 1009, as one frame, fragmented, or
    # announced in a frame header far beyond the limit; on the echo and a publishing route.
    assert ws_close_code(srv, '/echo', client_frame(0x2, b'w' * 4097)) == 1009
    assert ws_close_code(srv, '/echo', client_frame(0x1, b'w' * 3000, fin=False) +
                         client_frame(0x0, b'w' * 3000)) == 1009
    assert ws_close_code(srv, '/echo', client_frame(0x2, b'w' * 100, length=1 << 40)) == 1009
    assert ws_close_code(srv, '/ws/a', client_frame(0x1, b'w' * 5000)) == 1009
    assert srv.get('/index.html')[2] == b'hello\n'


def test_oversized_config_file_and_line(tmp_path):
    ok = 'events { worker_connections 100; }\n'
    cases = {
        # 2 MiB of valid comment lines: over the 1 MiB per-file limit.
        'huge.conf': (ok + ('# ' + 'c' * 1021 + '\n') * 2048, 'is too large'),
        # One 100 KiB line (a directive argument): over the 64 KiB line limit.
        'longline.conf': (ok + 'error_log "' + 'l' * (100 << 10) + '";\n', 'line is too long'),
    }
    for name, (text, error) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        r = subprocess.run([harness.BIN, '-t', '-c', str(path)], capture_output=True,
                           text=True, timeout=20)
        assert r.returncode == 1, (name, r.returncode, r.stderr[-500:])
        assert error in r.stderr and str(path) in r.stderr, (name, r.stderr[-500:])
        assert len(r.stderr) < 2000, 'the error quotes the whole input'
        # The same file in an include.
        main = tmp_path / ('inc-' + name)
        main.write_text('include %s;\n' % path)
        r = subprocess.run([harness.BIN, '-t', '-c', str(main)], capture_output=True,
                           text=True, timeout=20)
        assert r.returncode == 1 and error in r.stderr, (name, r.stderr[-500:])


# ---- peers that send without reading --------------------------------------------------------

FLOOD_IN_CONF = '''
error_log stderr notice;
worker_threads 1;
events { worker_connections 10000; }
http {
    access_log off;
    ws_max_queue 64k;
    output_queue_limit 64k;
    ws_close_timeout 1s;
    ws_ping_interval 0;
    stream_keepalive 60s;
    longpoll_timeout 60s;
    client_body_timeout 60s;
    channel feed { buffer 10; }
    server {
        listen 127.0.0.1:0;
        location /ws/      { push websocket; channel $tail; }
        location /sse/     { push sse; channel $tail; }
        location /lp/      { push long-polling; channel $tail; }
        location = /pub    { publish; channel $arg_channel; }
        location = /status { status; }
    }
}
'''
FLOOD_PEERS = 20
FLOOD_BYTES = 12 << 20  # what each peer tries to send: far past every per-connection bound
FLOOD_SECONDS = 6


def send_flood(socks, chunk, per_socket, seconds, pid):
    """Sends `chunk` repeatedly on every socket (non-blocking, round robin) until each has sent
    per_socket bytes, the server stops taking them, or `seconds` pass. Samples herald's RSS all
    along; returns (bytes sent in all, peak RSS)."""
    sent = {s: 0 for s in socks}  # also the offset in the endless stream of chunks
    peak = rss_bytes(pid)
    deadline = time.monotonic() + seconds
    for s in socks:
        s.setblocking(False)
    while time.monotonic() < deadline:
        busy = False
        for s in socks:
            if sent[s] >= per_socket:
                continue
            try:
                off = sent[s] % len(chunk)  # a partial send resumes mid-chunk
                sent[s] += s.send(chunk[off:])
                busy = True
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:  # closed by herald: nothing more to send on this one
                sent[s] = per_socket
        peak = max(peak, rss_bytes(pid))
        if not busy:
            if all(n >= per_socket for n in sent.values()):
                break
            time.sleep(0.01)
    return sum(sent.values()), peak


def flood_bound(baseline, n):
    return baseline + n * (QUEUE_LIMIT + MSG_SIZE + 64 + CONN_OVERHEAD) + SLACK


def test_ping_flood_without_reading_closed_memory_bounded(herald):
    """WebSocket peers that send masked pings as fast as they can and never read: every pong
    counts against ws_max_queue, so each is closed with 1008 once its queue is full, and RSS
    stays within the README's bound (baseline + N * (L + M + C) + S) whatever they send."""
    srv = herald(FLOOD_IN_CONF)
    pid = srv.proc.pid
    baseline = rss_bytes(pid)
    socks = []
    for _ in range(FLOOD_PEERS):
        s = open_socket(srv.port, rcvbuf=4096)
        s.sendall(ws_upgrade('/ws/feed'))
        socks.append(s)
    pings = b''.join(ws_client_frame(0x9, b'p' * 125) for _ in range(500))
    sent, peak = send_flood(socks, pings, FLOOD_BYTES, FLOOD_SECONDS, pid)
    bound = flood_bound(baseline, FLOOD_PEERS)
    print('ping flood: %d peers sent %.0f MiB; RSS baseline %.1f MiB, peak %.1f MiB, bound '
          '%.1f MiB' % (FLOOD_PEERS, sent / (1 << 20), baseline / (1 << 20), peak / (1 << 20),
                        bound / (1 << 20)))
    codes = read_all_ws_close_codes(socks)
    assert codes == {1008: FLOOD_PEERS}, codes
    for s in socks:
        s.close()
    assert wait_connections(srv)['connections'] == 1
    if os.environ.get('HERALD_TSAN') == '1':
        return  # TSan's shadow memory measures TSan, not herald (see the slow-readers test)
    assert peak <= bound, (peak, bound)


def test_input_flood_while_response_held_memory_bounded(herald):
    """Peers that keep sending after an SSE request or a held long-poll (neither can consume
    input until its response ends): herald stops reading past a small bound instead of
    buffering what they send, RSS stays within the README's bound, and the subscribers are
    still served."""
    srv = herald(FLOOD_IN_CONF)
    pid = srv.proc.pid
    baseline = rss_bytes(pid)
    sse, lp = [], []
    for i in range(FLOOD_PEERS):
        s = open_socket(srv.port)
        s.sendall(build_request('GET', '/sse/feed' if i % 2 == 0 else '/lp/feed'))
        (sse if i % 2 == 0 else lp).append(s)
    deadline = time.monotonic() + 10
    while True:
        subs = status(srv)['subscribers']
        if subs['sse'] + subs['long-polling'] == FLOOD_PEERS:
            break
        assert time.monotonic() < deadline, subs
        time.sleep(0.05)
    sent, peak = send_flood(sse + lp, b'X' * 65536, FLOOD_BYTES, FLOOD_SECONDS, pid)
    bound = flood_bound(baseline, FLOOD_PEERS)
    print('input flood: %d peers sent %.0f MiB; RSS baseline %.1f MiB, peak %.1f MiB, bound '
          '%.1f MiB' % (FLOOD_PEERS, sent / (1 << 20), baseline / (1 << 20), peak / (1 << 20),
                        bound / (1 << 20)))
    # Still subscribers: a message reaches every one of them.
    code, _ = publish(srv, 'feed', 'after-flood')
    assert code == 201
    for s in sse + lp:
        s.setblocking(True)
        s.settimeout(5)
        got = b''
        while b'after-flood' not in got:
            chunk = s.recv(65536)
            assert chunk, got
            got += chunk
        s.close()
    # herald does not read a paused stream, so it learns that those peers left from its next
    # writes to them (EPIPE / RST), here the next messages.
    for _ in range(2):
        assert publish(srv, 'feed', 'nudge')[0] == 201
        time.sleep(0.2)
    assert wait_connections(srv)['connections'] == 1
    if os.environ.get('HERALD_TSAN') == '1':
        return
    assert peak <= bound, (peak, bound)


# ---- open-file cache under a small fd limit -------------------------------------------------

FD_CACHE_CONF = '''
error_log stderr notice;
worker_threads 1;
events { worker_connections 10000; }
http {
    access_log off;
    server {
        listen 127.0.0.1:0;
        root {www};
        location = /status { status; }
    }
}
'''
FD_LIMIT = 1024
FD_FILES = 3000


def test_many_distinct_files_leave_fds_for_connections(herald):
    """One client GETs 3,000 distinct files under `ulimit -n 1024`: the open-file cache holds at
    most a quarter of the fd limit (and drops entries past their validity), so new connections
    are still accepted and served, and RSS stays within the README's bound."""
    files = {'www/f%d.txt' % i: 'file %d\n' % i for i in range(FD_FILES)}
    srv = herald(FD_CACHE_CONF, files=files)
    pid = srv.proc.pid
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))
    baseline = rss_bytes(pid)
    idle_fds = len(os.listdir('/proc/%d/fd' % pid))
    c = Conn(srv.port, timeout=10)
    peak_fds, peak = idle_fds, baseline
    for i in range(FD_FILES):
        code, _, body = c.request('GET', '/f%d.txt' % i)
        assert code == 200 and body == b'file %d\n' % i, (i, code, body)
        if i % 100 == 0:
            peak_fds = max(peak_fds, len(os.listdir('/proc/%d/fd' % pid)))
            peak = max(peak, rss_bytes(pid))
    c.close()
    print('fd cache: %d files under ulimit -n %d: herald fds idle %d, peak %d' % (
        FD_FILES, FD_LIMIT, idle_fds, peak_fds))
    assert peak_fds <= idle_fds + FD_LIMIT // 4 + 2, (idle_fds, peak_fds)
    # New connections are accepted and served.
    socks = [open_socket(srv.port) for _ in range(200)]
    for i, s in enumerate(socks):
        s.sendall(build_request('GET', '/f%d.txt' % i))
    for i, s in enumerate(socks):
        code, _ = read_head(s)
        assert code == 200, (i, code)
        s.close()
    assert wait_connections(srv)['connections'] == 1
    bound = baseline + 200 * (QUEUE_LIMIT + MSG_SIZE + 64 + CONN_OVERHEAD) + SLACK
    if os.environ.get('HERALD_TSAN') != '1':
        assert peak <= bound, (peak, bound)
