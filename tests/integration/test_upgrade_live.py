"""Binary upgrade with live connections (issue 21): on `herald -s upgrade` (SIGUSR2) the old
process hands every live connection, with its state, to the new process over the upgrade
socket: WebSocket (one channel, ?format=json, permessage-deflate, multiplexed with its
subscriptions), SSE and iframe streams (channel lists with their compound cursor too), held
long-polls and idle keep-alive HTTP connections. The client side never sees a close, an end of
stream, a 1001 or a missed signal, and gets every message exactly once and in order, from the
old process and then from the new one, over the same TCP connection.

Clients are asyncio coroutines (the Python `websockets` client for WebSocket, raw streams with
small parsers for SSE, iframe, long-polling and the publisher), so the 300 subscribers of the
load test cost one thread. Every wait is bounded; a failure names the clients that lost
something and what they lost. The old process logs `upgrade: handed over N connections`, the
new one `upgrade: took over N connections`.

These tests run on either broker: with the Redis broker the channels stay in Redis and the
connections move all the same.
"""
import asyncio
import json
import os
import re
import signal
import time

import pytest

websockets = pytest.importorskip('websockets')
from websockets.exceptions import ConnectionClosed  # noqa: E402

from harness import BIN  # noqa: E402
from push_clients import (IframeParser, SseParser, id_seq, parse_head,  # noqa: E402
                          take_chunks, build_request as request_bytes)
from test_daemon import pid_alive  # noqa: E402
from test_upgrade import install, install_script, read_pid  # noqa: E402

CONF = '''
error_log stderr info;
pid {tmp}/herald.pid;
shutdown_timeout 2s;
http {
    access_log off;
    ws_ping_interval 0;
    channel c { buffer 1000; }
    channel a { buffer 100; }
    channel b { buffer 100; }
    channel d { buffer 100; }
    channel e { buffer 100; }
    channel f { buffer 100; }
    server {
        listen 127.0.0.1:0;
        root {www};
        location /ws/      { push websocket; channel $tail; }
        location /wspub/   { push websocket; channel $tail; publish on; }
        location = /mux    { push websocket; multiplex on; publish on; }
        location /sse/     { push sse; channel $tail; }
        location /if/      { push iframe; channel $tail; }
        location /lp/      { push long-polling; channel $tail; }
        location = /pub    { publish; channel $arg_channel; }
        location = /status { status; }
    }
}
'''
FILES = {'www/index.html': 'hi'}


def run(coro, timeout):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError('timed out (%gs) waiting for %s' % (timeout, what))
        await asyncio.sleep(0.02)


def start_at_a_path(herald, tmp_path, conf=CONF, files=FILES):
    """herald started from a path of its own, which an upgrade can replace with another copy."""
    path = str(tmp_path / 'sbin' / 'herald')
    os.makedirs(os.path.dirname(path))
    install(BIN, path)
    return herald(conf, files=files, binary=path), path


async def upgrade(srv, path, old):
    """Installs another copy of the binary at path, sends SIGUSR2 to process old and waits until
    the pid file names the new process and old is gone: the new pid."""
    await asyncio.get_running_loop().run_in_executor(None, install, BIN, path)
    os.kill(old, signal.SIGUSR2)
    await until(lambda: read_pid(srv) not in (0, old), 15,
                'the pid file to name the process after %d' % old)
    new = read_pid(srv)
    await until(lambda: not pid_alive(old), 15, 'the old process %d to exit' % old)
    return new


def stop_all(srv, pids):
    """Ends the processes the test started by upgrades (pids after the first, and whatever the
    pid file names now) that still run (SIGTERM), newest first; the fixture stops the first."""
    pids = [p for p in pids[1:] if p != srv.proc.pid]
    if read_pid(srv) not in pids + [0, srv.proc.pid]:
        pids.append(read_pid(srv))
    for pid in reversed(pids):
        if pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
    deadline = time.time() + 10
    while any(pid_alive(p) for p in pids) and time.time() < deadline:
        time.sleep(0.02)
    assert not any(pid_alive(p) for p in pids), 'processes did not exit'


def connection_counts(log, pid):
    """N of every `PID: upgrade: handed over N connections` and `took over N connections` line of
    process pid (summed: one line per worker thread or one in all)."""
    handed = sum(int(n) for n in re.findall(r'\b%d: upgrade: handed over (\d+) connections?\b'
                                           % pid, log))
    took = sum(int(n) for n in re.findall(r'\b%d: upgrade: took over (\d+) connections?\b'
                                         % pid, log))
    return handed, took


async def check_handover_log(srv, old, new, expected):
    """The old process logged that it handed over `expected` connections, the new one that it
    took them over (waiting a moment for the new one's line)."""
    def counts():
        log = srv.log()
        return connection_counts(log, old)[0], connection_counts(log, new)[1]

    deadline = time.monotonic() + 5
    while counts() != (expected, expected) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    handed, took = counts()
    # Each worker of the old process says how its connections went: here every one moved.
    per_worker = re.findall(r'\b%d: worker \d+: upgrade: (\d+) connections? moved; (\d+) ended '
                            r'the graceful way because they cannot move .*, (\d+) because'
                            % old, srv.log())
    assert per_worker and sum(int(m) for m, _, _ in per_worker) == expected and all(
        (u, late) == ('0', '0') for _, u, late in per_worker), per_worker
    assert (handed, took) == (expected, expected), (
        'the log should say that process %d handed over %d connections and process %d took '
        'over %d; it says handed over %d, took over %d. The upgrade lines:\n%s'
        % (old, expected, new, expected, handed, took,
           '\n'.join(line for line in srv.log().splitlines() if 'upgrade' in line)))


# ---- asyncio HTTP ----------------------------------------------------------------------------



async def read_response(reader):
    """One response: (status, headers lower-case, body). IncompleteReadError on EOF."""
    status, h = parse_head(await reader.readuntil(b'\r\n\r\n'))
    if status in (204, 304) or status < 200:
        return status, h, b''
    if h.get('transfer-encoding', '').lower() == 'chunked':
        body = b''
        while True:
            size = int((await reader.readuntil(b'\r\n')).split(b';')[0], 16)
            if size == 0:
                await reader.readuntil(b'\r\n')
                return status, h, body
            body += (await reader.readexactly(size + 2))[:-2]
    return status, h, await reader.readexactly(int(h.get('content-length', 0)))


async def open_conn(port):
    return await asyncio.open_connection('127.0.0.1', port)


async def http(port, method, path, body=None):
    """One request on a connection of its own."""
    r, w = await open_conn(port)
    try:
        w.write(request_bytes(method, path, body))
        return await asyncio.wait_for(read_response(r), 5)
    finally:
        w.close()


async def publish(port, channel, data):
    status, _, body = await http(port, 'POST', '/pub?channel=' + channel, data)
    assert status == 201, (status, body)
    return json.loads(body)['id']


async def channel_info(port, channel):
    status, _, body = await http(port, 'GET', '/pub?channel=' + channel)
    assert status == 200, (status, body)
    return json.loads(body)


class Publisher:
    """POSTs p0, p1, ... to /pub?channel=CH on ONE keep-alive connection, about `rate` a second;
    a publish answered 503 with Retry-After (the old process while channels and connections
    move) is sent again until it is stored. A connection the server closes is counted
    (`connects`) and opened again, so the test goes on and reports it."""

    def __init__(self, port, channel, rate=20):
        self.port, self.channel, self.period = port, channel, 1.0 / rate
        self.seqs, self.bodies = [], {}     # seq of each stored message, seq -> body
        self.lives = set()
        self.connects = self.paused = 0
        self.errors = []
        self.halt = False

    def last(self):
        return self.seqs[-1] if self.seqs else 0

    async def run(self, seconds=90):
        deadline = time.monotonic() + seconds
        r, w = await open_conn(self.port)
        self.connects = 1
        n = 0
        try:
            while not self.halt and time.monotonic() < deadline:
                body = 'p%d' % n
                while time.monotonic() < deadline:
                    try:
                        w.write(request_bytes('POST', '/pub?channel=' + self.channel, body))
                        status, h, answer = await asyncio.wait_for(read_response(r), 5)
                    except (asyncio.IncompleteReadError, ConnectionError,
                            asyncio.TimeoutError) as e:
                        self.errors.append('connection lost on %s: %r' % (body, e))
                        w.close()
                        r, w = await open_conn(self.port)
                        self.connects += 1
                        continue
                    if status == 201:
                        mid = json.loads(answer)['id']
                        self.lives.add(mid.split('-')[0])
                        self.seqs.append(id_seq(mid))
                        self.bodies[id_seq(mid)] = body
                        break
                    if status == 503 and h.get('retry-after') == '1':
                        self.paused += 1
                        await asyncio.sleep(0.02)
                        continue
                    self.errors.append('%s answered %d %r' % (body, status, answer))
                    return
                n += 1
                await asyncio.sleep(self.period)
        finally:
            w.close()


# ---- subscribers -----------------------------------------------------------------------------

class Sub:
    """One subscriber of the load test: what it got (seq, data) and everything that went wrong:
    problems (a close, an end of stream, a missed signal, an unexpected answer), connects (a
    long-poll client opens its connection again when the server closed it)."""

    def __init__(self, kind, n, life):
        self.kind, self.name, self.life = kind, '%s#%d' % (kind, n), life
        self.got = []
        self.problems = []
        self.connects = 0
        self.dead = False      # the connection is gone and the client stopped
        self.ready = False     # subscribed (head or handshake received)

    def last(self):
        return self.got[-1][0] if self.got else 0

    def lost(self, what):
        self.problems.append(what)

    def take(self, mid, data):
        if mid.split('-')[0] != self.life:
            self.lost('id %s is not of the channel\'s life %s' % (mid, self.life))
        self.got.append((id_seq(mid), data))


async def ws_sub(sub, port, path, compression):
    try:
        ws = await websockets.connect('ws://127.0.0.1:%d%s' % (port, path), ping_interval=None,
                                      compression=compression, open_timeout=10,
                                      close_timeout=2, max_queue=None)
    except (OSError, websockets.InvalidHandshake, asyncio.TimeoutError) as e:
        sub.lost('handshake failed: %r' % e)
        sub.dead = True
        return
    sub.connects, sub.ready = 1, True
    try:
        async for frame in ws:
            msg = json.loads(frame)
            if 'id' in msg:
                sub.take(msg['id'], msg['data'])
            else:
                sub.lost('control frame %r' % msg)
    except ConnectionClosed as e:
        sub.lost('WebSocket closed: %s' % e)
    except asyncio.CancelledError:
        await ws.close()
        raise
    else:
        sub.lost('WebSocket closed by the server: %s %r' % (ws.close_code, ws.close_reason))
    finally:
        sub.dead = True


async def stream_sub(sub, port, path):
    """SSE or iframe: a chunked stream of events, parsed as it comes."""
    try:
        r, w = await open_conn(port)
        w.write(request_bytes('GET', path))
        status, h = parse_head(await r.readuntil(b'\r\n\r\n'))
    except (OSError, asyncio.IncompleteReadError) as e:
        sub.lost('request failed: %r' % e)
        sub.dead = True
        return
    sub.connects = 1
    if status != 200:
        sub.lost('answered %d' % status)
        sub.dead = True
        w.close()
        return
    sub.ready = True
    parser = SseParser() if sub.kind == 'sse' else IframeParser()
    buf = bytearray()
    try:
        while True:
            data = await r.read(65536)
            if not data:
                sub.lost('the server closed the connection (EOF)')
                break
            buf += data
            payload, ended = take_chunks(buf)
            if sub.kind == 'sse':
                for ev in parser.feed(bytes(payload).decode()):
                    if ev['event'] == 'message':
                        sub.take(ev['id'], ev['data'])
                    else:
                        sub.lost('event %s: %s' % (ev['event'], ev['data']))
            else:
                for _, args in parser.feed(bytes(payload)):
                    if args[0] is None:
                        sub.lost('iframe call %r' % args)
                    else:
                        sub.take(args[1], args[0])
            if ended:
                sub.lost('the stream ended (last chunk)')
                break
    except ConnectionError as e:
        sub.lost('connection error %r' % e)
    finally:
        sub.dead = True
        w.close()


async def longpoll_sub(sub, port, channel, since):
    """Polls /lp/CHANNEL?since=ID on one keep-alive connection, each time from the last id it
    got. A connection the server closes is opened again (counted, at most 20 times) so the
    client goes on."""
    r = w = None
    try:
        while sub.connects < 20:
            if w is None:
                r, w = await open_conn(port)
                sub.connects += 1
                sub.ready = True
            w.write(request_bytes('GET', '/lp/%s?since=%s' % (channel, since)))
            try:
                status, h, body = await read_response(r)
            except (asyncio.IncompleteReadError, ConnectionError) as e:
                sub.lost('the server closed the connection while a poll was held (%s)'
                         % type(e).__name__)
                w.close()
                r = w = None
                continue
            if h.get('x-herald-missed'):
                sub.lost('X-Herald-Missed on %d' % status)
            if status == 200:
                since = h['etag'].strip('"')
                sub.take(since, body.decode())
            elif status != 304:
                sub.lost('answered %d %r' % (status, body))
                break
            if h.get('connection', '').lower() == 'close':
                sub.lost('answered %d with Connection: close' % status)
                w.close()
                r = w = None
    finally:
        sub.dead = True
        if w is not None:
            w.close()


def summary(subs, first, last=None, bodies=None):
    """A line per kind of client that lost something, with a few examples; [] if none did.
    Each must have got messages first..last (last: the newest it got when None) once, in order,
    with their bodies (when given)."""
    lines = []
    by_kind = {}
    for s in subs:
        by_kind.setdefault(s.kind, []).append(s)
    for kind, group in by_kind.items():
        bad = []
        for s in group:
            why = list(s.problems)
            if s.connects != 1:
                why.append('%d TCP connections instead of one' % s.connects)
            seqs = [q for q, _ in s.got]
            want = list(range(first, (s.last() if last is None else last) + 1))
            if seqs != want:
                missing = sorted(set(want) - set(seqs))
                extra = len(seqs) - len(set(seqs))
                why.append('got %d of %d messages (missing %s%s, %d twice%s)'
                           % (len(set(seqs) & set(want)), len(want), missing[:5],
                              '...' if len(missing) > 5 else '', extra,
                              '' if seqs == sorted(seqs) else ', out of order'))
            wrong = [(q, d) for q, d in s.got if (bodies or {}).get(q, d) != d]
            if wrong:
                why.append('wrong data %r' % wrong[:3])
            if why:
                bad.append('%s: %s' % (s.name, '; '.join(why)))
        if bad:
            lines.append('%d of %d %s clients lost something, e.g. %s'
                         % (len(bad), len(group), group[0].kind, ' | '.join(bad[:3])))
    return lines


# ---- the load test ---------------------------------------------------------------------------

WS_N, SSE_N, IFRAME_N, LP_N = 100, 100, 50, 50
UPGRADES = 10


def test_upgrades_keep_every_connection(herald, tmp_path):
    """The issue's load test: 100 WebSocket + 100 SSE + 50 iframe + 50 long-poll subscribers of
    one channel and a publisher at 20 messages/s on a keep-alive connection; ten upgrades in a
    row, each to another copy of the binary. Every client keeps its one TCP connection
    throughout (no close, no end of stream, no 1001; each long-poll client polls on the same
    socket every time) and gets every message exactly once and in order with no missed
    signal; the pid file names the last process, every earlier one is gone, and /status of the
    last one counts the subscribers."""
    srv, path = start_at_a_path(herald, tmp_path)
    pids = [srv.proc.pid]

    async def main():
        port = srv.port
        seed = await publish(port, 'c', 'seed')   # every client starts after it: since=seed
        first = id_seq(seed) + 1
        subs, tasks = [], []

        def add(kind, coro_of):
            sub = Sub(kind, sum(1 for s in subs if s.kind == kind), seed.split('-')[0])
            subs.append(sub)
            tasks.append(asyncio.ensure_future(coro_of(sub)))

        for i in range(WS_N):
            add('websocket', lambda s, i=i: ws_sub(s, port, '/ws/c?format=json&since=' + seed,
                                                   'deflate' if i % 2 else None))
        for _ in range(SSE_N):
            add('sse', lambda s: stream_sub(s, port, '/sse/c?since=' + seed))
        for _ in range(IFRAME_N):
            add('iframe', lambda s: stream_sub(s, port, '/if/c?callback=herald_cb&since=' + seed))
        for _ in range(LP_N):
            add('long-poll', lambda s: longpoll_sub(s, port, 'c', seed))
        pub = Publisher(port, 'c')
        try:
            await until(lambda: all(s.ready or s.dead for s in subs), 20,
                        'the %d subscribers to connect' % len(subs))
            assert not any(s.dead for s in subs), summary(subs, first)
            pub_task = asyncio.ensure_future(pub.run())
            await until(lambda: pub.last() >= first + 4, 10, '5 messages before the upgrades')

            def caught_up(target):
                return all(s.dead or s.last() >= target for s in subs)

            await until(lambda: caught_up(first + 4), 10, 'every client to get 5 messages')
            for k in range(1, UPGRADES + 1):
                old = pids[-1]
                pids.append(await upgrade(srv, path, old))
                # Everything published up to now reaches every client that is still connected.
                target = pub.last() + 1
                await until(lambda: pub.last() >= target, 10,
                            'a publish after upgrade %d (publisher errors: %s)' % (k, pub.errors))
                try:
                    await until(lambda: caught_up(target), 10,
                                'every client to get message %d after upgrade %d' % (target, k))
                except AssertionError as e:
                    lost = summary(subs, first)
                    raise AssertionError('%s\n%s' % (e, '\n'.join(lost))) from None
                lost = summary(subs, first)
                if pub.connects != 1:
                    lost.append('the publisher\'s keep-alive connection was closed: %s'
                                % pub.errors)
                assert not lost, ('after upgrade %d of %d (process %d -> %d), connections '
                                  'were cut:\n%s' % (k, UPGRADES, old, pids[-1], '\n'.join(lost)))
                await check_handover_log(srv, old, pids[-1], len(subs) + 1)
            # A few more after the last upgrade, then every client has everything.
            target = pub.last() + 3
            await until(lambda: pub.last() >= target, 10, 'the last messages')
            pub.halt = True
            await asyncio.wait_for(pub_task, 10)
            assert not pub.errors and pub.connects == 1, pub.errors
            last = pub.last()
            assert pub.seqs == list(range(first, last + 1)), 'the publisher\'s ids continue'
            assert pub.lives == {seed.split('-')[0]}, ('one life throughout', seed, pub.lives)
            await until(lambda: caught_up(last), 10, 'every client to get message %d' % last)
            lost = summary(subs, first, last, pub.bodies)
            assert not lost, 'after %d upgrades:\n%s' % (UPGRADES, '\n'.join(lost))
            # Held long-polls (every long-poll client waits for the next message now) and
            # streams count as subscribers of the last process.
            want = {'websocket': WS_N, 'sse': SSE_N, 'iframe': IFRAME_N, 'long-polling': LP_N}
            status = {}

            async def counted():
                nonlocal status
                status = json.loads((await http(port, 'GET', '/status'))[2])
                return {k: status['subscribers'][k] for k in want} == want

            deadline = time.monotonic() + 5
            while not await counted() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert {k: status['subscribers'][k] for k in want} == want, status['subscribers']
            # The handed-over connections are the last process's (and this request's).
            assert status['connections'] >= len(subs) + 1, status['connections']
            return len(subs), last - first + 1, pub.paused
        finally:
            pub.halt = True
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    try:
        clients, messages, paused = run(main(), 150)
        print('%d clients, %d messages, %d upgrades, %d publishes answered 503'
              % (clients, messages, UPGRADES, paused))
        last = pids[-1]
        assert read_pid(srv) == last, 'the pid file names %d, not %d' % (read_pid(srv), last)
        assert pid_alive(last)
        assert not [p for p in pids[:-1] if pid_alive(p)], 'an old process still runs'
    finally:
        stop_all(srv, pids)


# ---- connection state across one upgrade -----------------------------------------------------

def fnv1a32(name):
    h = 0x811c9dc5
    for byte in name.encode():
        h = ((h ^ byte) * 0x01000193) & 0xffffffff
    return '%08x' % h


def cursor_entries(cursor):
    """{hash: 'LIFE-SEQ'} of a compound cursor."""
    out = {}
    for entry in cursor.split(','):
        hsh, _, mid = entry.partition('.')
        out[hsh] = mid
    return out


class Mux:
    """A multiplexed WebSocket: commands out, frames in (parsed), kept in order."""

    def __init__(self, ws):
        self.ws, self.frames = ws, []

    async def cmd(self, **c):
        await self.ws.send(json.dumps(c))

    async def until(self, pred, what, timeout=5):
        deadline = time.monotonic() + timeout
        while not pred(self.frames):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError('multiplexed socket: timed out waiting for %s; frames %r'
                                     % (what, self.frames))
            self.frames.append(json.loads(await asyncio.wait_for(self.ws.recv(), left)))

    def messages(self, channel):
        return [(f['id'], f['data']) for f in self.frames
                if 'herald' not in f and f.get('channel') == channel]


async def recv_text(ws, timeout=5):
    return await asyncio.wait_for(ws.recv(), timeout)


class RawStream:
    """An SSE stream (for the channel list) read by a background task."""

    def __init__(self):
        self.events, self.problems = [], []

    async def open(self, port, path):
        self.r, self.w = await open_conn(port)
        self.w.write(request_bytes('GET', path))
        status, h = parse_head(await self.r.readuntil(b'\r\n\r\n'))
        assert status == 200, status
        self.task = asyncio.ensure_future(self.pump())
        return self

    async def pump(self):
        parser, buf = SseParser(), bytearray()
        while True:
            try:
                data = await self.r.read(65536)
            except ConnectionError as e:
                self.problems.append('connection error %r' % e)
                return
            if not data:
                self.problems.append('the server closed the connection (EOF)')
                return
            buf += data
            payload, ended = take_chunks(buf)
            self.events += parser.feed(bytes(payload).decode())
            if ended:
                self.problems.append('the stream ended (last chunk)')
                return

    async def wait(self, n, what, timeout=5):
        deadline = time.monotonic() + timeout
        while len(self.events) < n:
            if self.problems or self.task.done() or time.monotonic() > deadline:
                raise AssertionError('SSE list stream: %s; waiting for %s; events %r'
                                     % (self.problems or 'timed out', what, self.events))
            await asyncio.sleep(0.02)

    def close(self):
        self.task.cancel()
        self.w.close()


def test_upgrade_keeps_connection_state(herald, tmp_path):
    """Across one upgrade each connection keeps what it set up on the old process:
    (a) a multiplexed WebSocket its two subscriptions (and publish on) and every later message
    of each channel once; (b) an SSE channel list its stream, with the compound cursor going on
    from where it was; (c) a WebSocket with permessage-deflate its extension: a compressed text
    sent after the upgrade is inflated and published as the one sent before (a repeat of it,
    which a client with context takeover compresses against the first); (d) an idle keep-alive
    HTTP connection its socket: the next request on it is answered; (e) a held long-poll is
    answered with the next message by the new process, on the same socket; (f) a WebSocket with
    ?format=json its format. Every part is checked, then all failures are reported at once."""
    srv, path = start_at_a_path(herald, tmp_path)
    pids = [srv.proc.pid]

    async def main():
        port = srv.port
        seeds = {ch: await publish(port, ch, 'seed-' + ch) for ch in 'abdef'}
        # (a) multiplexed: subscribed to a and b from their seeds.
        mux = Mux(await websockets.connect('ws://127.0.0.1:%d/mux' % port, ping_interval=None,
                                           compression=None, close_timeout=2))
        for ch in 'ab':
            await mux.cmd(op='subscribe', channel=ch, since=seeds[ch], ref='s' + ch)
        await mux.until(lambda fs: sum(f.get('herald') == 'subscribed' for f in fs) == 2,
                        'both subscriptions')
        # (b) an SSE channel list from the start of both channels.
        sse = await RawStream().open(port, '/sse/a,b?since=0')
        await sse.wait(2, 'the seeds of a and b')
        # (c) permessage-deflate on a publish-on route: the client is a subscriber too.
        text = 'the same compressible sentence, said again and again. ' * 8
        zws = await websockets.connect('ws://127.0.0.1:%d/wspub/d' % port, ping_interval=None,
                                       compression='deflate', close_timeout=2)
        answer = zws.response_headers.get('Sec-WebSocket-Extensions', '')
        assert 'permessage-deflate' in answer, answer
        # With client context takeover (the client's offer; herald answers as it chooses) the
        # second text is compressed against the first, so the new process inflates it only with
        # the inflater's window moved along.
        takeover = not zws.extensions[0].local_no_context_takeover
        await zws.send(text + ' 1')
        assert await recv_text(zws) == text + ' 1'
        # (d) an idle keep-alive connection that made one request.
        kr, kw = await open_conn(port)
        kw.write(request_bytes('GET', '/'))
        assert (await asyncio.wait_for(read_response(kr), 5))[0] == 200
        # (e) a long-poll held at the newest id of e.
        lr, lw = await open_conn(port)
        lw.write(request_bytes('GET', '/lp/e', headers={'If-None-Match': '"%s"' % seeds['e']}))
        for _ in range(250):
            if (await channel_info(port, 'e'))['subscribers'].get('long-polling') == 1:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError('the long-poll on e is not held')
        # (f) ?format=json.
        jws = await websockets.connect('ws://127.0.0.1:%d/ws/f?format=json' % port,
                                       ping_interval=None, compression=None, close_timeout=2)
        f1 = await publish(port, 'f', 'f1')
        assert json.loads(await recv_text(jws)) == {'id': f1, 'channel': 'f', 'data': 'f1'}
        a1, b1 = await publish(port, 'a', 'a1'), await publish(port, 'b', 'b1')
        await mux.until(lambda fs: len(mux.messages('a')) == 1 and len(mux.messages('b')) == 1,
                        'a1 and b1')
        await sse.wait(4, 'a1 and b1')
        before = list(sse.events)

        pids.append(await upgrade(srv, path, pids[-1]))
        problems = []

        async def part(name, coro):
            try:
                await coro
            except asyncio.IncompleteReadError as e:
                problems.append('(%s) the server closed the connection (EOF after %d bytes %r)'
                                % (name, len(e.partial), e.partial[:200]))
            except asyncio.TimeoutError:
                problems.append('(%s) no answer within 5 s' % name)
            except ConnectionClosed as e:
                problems.append('(%s) the WebSocket was closed: %s' % (name, e))
            except (AssertionError, OSError) as e:
                problems.append('(%s) %s: %s' % (name, type(e).__name__, e))

        a2, b2 = await publish(port, 'a', 'a2'), await publish(port, 'b', 'b2')

        async def multiplexed():
            await mux.until(lambda fs: len(mux.messages('a')) == 2 and len(mux.messages('b')) == 2,
                            'a2 and b2 after the upgrade')
            # The new process knows the subscriptions (409) and that the socket may publish.
            await mux.cmd(op='subscribe', channel='a', ref='again')
            await mux.cmd(op='publish', channel='b', data='b3', ref='p')
            await mux.until(lambda fs: any(f.get('ref') == 'again' for f in fs)
                            and any(f.get('ref') == 'p' for f in fs)
                            and len(mux.messages('b')) == 3, 'the answers to two commands')
            again = [f for f in mux.frames if f.get('ref') == 'again'][0]
            assert again.get('status') == 409, again
            published = [f for f in mux.frames if f.get('ref') == 'p'][0]
            assert published.get('herald') == 'published', published
            assert mux.messages('a') == [(a1, 'a1'), (a2, 'a2')], mux.messages('a')
            assert mux.messages('b') == [(b1, 'b1'), (b2, 'b2'), (published['id'], 'b3')], \
                mux.messages('b')
            assert not [f for f in mux.frames if f.get('herald') not in (None, 'subscribed',
                                                                        'published', 'error')], \
                mux.frames

        async def channel_list():
            await sse.wait(7, 'a2, b2, b3 after the upgrade')
            assert sse.events[:4] == before
            got = [(json.loads(e['data'])['channel'], json.loads(e['data'])['data'])
                   for e in sse.events]
            assert got[4:] == [('a', 'a2'), ('b', 'b2'), ('b', 'b3')], got
            assert all(e['event'] == 'message' for e in sse.events), sse.events
            # The cursor goes on: each event moves only its own channel's entry to its id.
            prev = cursor_entries(before[-1]['id'])
            for e in sse.events[4:]:
                env = json.loads(e['data'])
                cur = cursor_entries(e['id'])
                want = dict(prev)
                want[fnv1a32(env['channel'])] = env['id']
                assert cur == want, (prev, e)
                prev = cur
            assert not sse.problems, sse.problems

        async def deflate():
            await zws.send(text + ' 2')
            assert await recv_text(zws) == text + ' 2'
            info = await channel_info(port, 'd')
            assert info['last_id'].split('-')[1] == str(id_seq(seeds['d']) + 2), info
            st = json.loads((await http(port, 'GET', '/status'))[2])['ws_deflate']
            assert st['received']['messages'] >= 1 and st['sent']['messages'] >= 1, (
                'the new process neither inflated nor deflated a message: %s' % st)

        async def keepalive():
            kw.write(request_bytes('GET', '/'))
            status, h, body = await asyncio.wait_for(read_response(kr), 5)
            assert (status, body) == (200, b'hi'), (status, h, body)

        async def held_longpoll():
            e1 = await publish(port, 'e', 'e1')
            status, h, body = await asyncio.wait_for(read_response(lr), 5)
            assert (status, h.get('etag'), body) == (200, '"%s"' % e1, b'e1'), (
                'the held long-poll was answered %d %r %r, not with e1 (%s)'
                % (status, h, body, e1))
            assert 'x-herald-missed' not in h, h
            lw.write(request_bytes('GET', '/lp/e?since=' + e1))   # the same socket again
            e2 = await publish(port, 'e', 'e2')
            status, h, body = await asyncio.wait_for(read_response(lr), 5)
            assert (status, body) == (200, b'e2') and h.get('etag') == '"%s"' % e2, (status, h)

        async def json_format():
            f2 = await publish(port, 'f', 'f2')
            assert json.loads(await recv_text(jws)) == {'id': f2, 'channel': 'f', 'data': 'f2'}

        await part('a: multiplexed WebSocket', multiplexed())
        await part('b: SSE channel list', channel_list())
        await part('c: WebSocket with permessage-deflate, client context takeover %s'
                   % ('on' if takeover else 'off'), deflate())
        await part('d: idle keep-alive connection', keepalive())
        await part('e: held long-poll', held_longpoll())
        await part('f: WebSocket ?format=json', json_format())
        try:
            await check_handover_log(srv, pids[-2], pids[-1], 6)
        except AssertionError as e:
            problems.append('(log) %s' % e)
        assert not problems, 'connections lost their state in the upgrade:\n' + '\n'.join(problems)
        sse.close()
        for c in (mux.ws, zws, jws):
            await c.close()
        kw.close()
        lw.close()

    try:
        run(main(), 60)
    finally:
        stop_all(srv, pids)


# ---- a failed upgrade keeps every connection -------------------------------------------------

def test_failed_upgrade_keeps_every_connection(herald, tmp_path):
    """A new binary that fails (a script that exits 1; one that takes the listening sockets and
    is killed) leaves every live connection on the old process, which goes on delivering to it:
    nothing closed, nothing lost, and it hands none over. The next, good, upgrade then moves
    them all."""
    srv, path = start_at_a_path(herald, tmp_path)
    pids = [srv.proc.pid]

    async def main():
        port = srv.port
        seed = await publish(port, 'c', 'seed')
        life = seed.split('-')[0]
        subs = [Sub(k, 0, life) for k in ('websocket', 'sse', 'iframe', 'long-poll')]
        tasks = [asyncio.ensure_future(ws_sub(subs[0], port, '/ws/c?format=json&since=' + seed,
                                              'deflate')),
                 asyncio.ensure_future(stream_sub(subs[1], port, '/sse/c?since=' + seed)),
                 asyncio.ensure_future(stream_sub(subs[2], port,
                                                  '/if/c?callback=herald_cb&since=' + seed)),
                 asyncio.ensure_future(longpoll_sub(subs[3], port, 'c', seed))]
        kr, kw = await open_conn(port)
        kw.write(request_bytes('GET', '/'))
        assert (await asyncio.wait_for(read_response(kr), 5))[0] == 200
        first, last = id_seq(seed) + 1, id_seq(seed)
        try:
            await until(lambda: all(s.ready for s in subs), 10, 'the subscribers')

            async def deliver(tag):
                nonlocal last
                last = id_seq(await publish(port, 'c', tag))
                await until(lambda: all(s.dead or s.last() >= last for s in subs), 5,
                            'every client to get %s' % tag)
                lost = summary(subs, first, last, {})
                kw.write(request_bytes('GET', '/'))
                try:
                    status = (await asyncio.wait_for(read_response(kr), 5))[0]
                except (asyncio.IncompleteReadError, ConnectionError) as e:
                    status = repr(e)
                if status != 200:
                    lost.append('the idle keep-alive connection: %s' % status)
                assert not lost, '%s:\n%s' % (tag, '\n'.join(lost))

            await deliver('before')
            fails = 0
            for script in ('#!/bin/sh\nexit 1\n', '''#!/usr/bin/python3
import os, signal, socket
s = socket.socket(fileno=int(os.environ['HERALD_UPGRADE_FD']))
data, fds, _, _ = socket.recv_fds(s, 65536, 256)
assert fds
os.kill(os.getpid(), signal.SIGKILL)
'''):
                install_script(path, script)
                os.kill(pids[0], signal.SIGUSR2)
                fails += 1
                await until(lambda: srv.log().count('upgrade failed, still serving') >= fails, 15,
                            'failed upgrade %d' % fails)
                assert srv.proc.poll() is None and read_pid(srv) == pids[0]
                await deliver('after failed upgrade %d' % fails)
            assert connection_counts(srv.log(), pids[0]) == (0, 0), srv.log()
            # A good upgrade moves every one of them (4 subscribers and the idle connection).
            pids.append(await upgrade(srv, path, pids[0]))
            await deliver('after the good upgrade')
            assert not summary(subs, first, last, {})
            await check_handover_log(srv, pids[0], pids[1], 5)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            kw.close()

    try:
        run(main(), 60)
    finally:
        stop_all(srv, pids)


JWT_CONF = '''
error_log stderr info;
pid {tmp}/herald.pid;
shutdown_timeout 5s;
http {
    access_log off;
    ws_ping_interval 0;
    auth_jwt_leeway 0;
    channel news { buffer 100; }
    channel mine { buffer 100; }
    channel secret { buffer 100; }
    server {
        listen 127.0.0.1:0;
        location = /mux { push websocket; multiplex on; publish on; auth_jwt "file:jwt.key" publish; }
        location = /pub { publish; channel $arg_channel; }
    }
}
'''


def test_upgrade_keeps_a_multiplexed_sockets_token_claims(herald, tmp_path):
    """A multiplexed socket admitted by a token moves with the token's claims: after the
    upgrade it still may subscribe and publish only where the token says (a socket that lost
    them would be free to follow any channel)."""
    from test_auth_jwt import KEY, token
    srv, path = start_at_a_path(herald, tmp_path, JWT_CONF, {'jwt.key': KEY.decode() + '\n'})
    port = srv.port
    pids = [srv.proc.pid]

    async def body():
        tok = token(channels=['news', 'mine'], publish=['mine'])
        mux = Mux(await websockets.connect('ws://127.0.0.1:%d/mux?token=%s' % (port, tok)))
        await mux.cmd(op='subscribe', channel='news', ref='n')
        await mux.until(lambda fs: any(f.get('ref') == 'n' for f in fs), 'news subscribed')
        pids.append(await upgrade(srv, path, pids[-1]))
        await check_handover_log(srv, pids[-2], pids[-1], 1)
        for ref, c in (('s1', dict(op='subscribe', channel='secret')),
                       ('p1', dict(op='publish', channel='news', data='x')),
                       ('s2', dict(op='subscribe', channel='mine')),
                       ('p2', dict(op='publish', channel='mine', data='ok'))):
            await mux.cmd(ref=ref, **c)
        await mux.until(lambda fs: {'s1', 'p1', 's2', 'p2'} <= {f.get('ref') for f in fs},
                        'four answers')
        by_ref = {f['ref']: f for f in mux.frames if 'ref' in f}
        assert by_ref['s1']['herald'] == 'error' and by_ref['s1']['status'] == 403, by_ref['s1']
        assert by_ref['p1']['herald'] == 'error' and by_ref['p1']['status'] == 403, by_ref['p1']
        assert by_ref['s2']['herald'] == 'subscribed', by_ref['s2']
        assert by_ref['p2']['herald'] == 'published', by_ref['p2']
        news = await publish(port, 'news', 'n1')
        await mux.until(lambda fs: ('mine' in [f.get('channel') for f in fs if 'herald' not in f]
                                    and news in [f.get('id') for f in fs]),
                        'the moved channel and the new one deliver')
        await mux.ws.close()

    try:
        run(body(), 30)
    finally:
        stop_all(srv, pids)


def test_a_connection_still_in_a_request_ends_at_the_shutdown_timeout(herald, tmp_path):
    """A request whose body is still coming has no clean point: the old process waits for it
    until shutdown_timeout (2 s here), then ends it the graceful way and says so; it does not
    move."""
    srv, path = start_at_a_path(herald, tmp_path)
    pids = [srv.proc.pid]

    async def body():
        r, w = await asyncio.open_connection('127.0.0.1', srv.port)
        w.write(b'POST /pub?channel=c HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc')
        await w.drain()
        await asyncio.sleep(0.2)
        pids.append(await upgrade(srv, path, pids[-1]))
        assert await asyncio.wait_for(r.read(), 5) == b'', 'the half-sent request was answered'
        log = srv.log()
        late = re.findall(r'\b%d: worker \d+: upgrade: (\d+) connections? moved; (\d+) ended the '
                          r'graceful way because they cannot move .*, (\d+) because' % pids[-2], log)
        assert sum(int(x) for _, _, x in late) == 1 and sum(int(m) for m, _, _ in late) == 0, late
        assert connection_counts(log, pids[-2])[0] == 0, log

    try:
        run(body(), 30)
    finally:
        stop_all(srv, pids)


def test_a_moved_connection_still_counts_against_limit_conn_per_addr(herald, tmp_path):
    """limit_conn_per_addr counts a client's requests in progress: a subscriber that moved in
    an upgrade is still one (a new process that forgot it would let the client open one more
    stream per upgrade)."""
    conf = CONF.replace('        listen 127.0.0.1:0;',
                        '        listen 127.0.0.1:0;\n        limit_conn_per_addr 1;')
    srv, path = start_at_a_path(herald, tmp_path, conf)
    port = srv.port
    pids = [srv.proc.pid]

    async def status_of(path_):
        r, w = await asyncio.open_connection('127.0.0.1', port)
        w.write(b'GET %s HTTP/1.1\r\nHost: t\r\n\r\n' % path_.encode())
        await w.drain()
        line = await asyncio.wait_for(r.readline(), 5)
        w.close()
        return int(line.split()[1])

    async def body():
        r, w = await asyncio.open_connection('127.0.0.1', port)
        w.write(b'GET /sse/c HTTP/1.1\r\nHost: t\r\n\r\n')
        await w.drain()
        assert b' 200 ' in await asyncio.wait_for(r.readline(), 5)
        assert await status_of('/sse/c') == 429  # the one in progress counts
        pids.append(await upgrade(srv, path, pids[-1]))
        await check_handover_log(srv, pids[-2], pids[-1], 1)
        assert await status_of('/sse/c') == 429, 'the moved stream was not counted'
        w.close()
        await until_status(lambda: status_of('/sse/c'), 200, 'the stream closed to count no more')

    async def until_status(get, want, what):
        deadline = time.monotonic() + 5
        while await get() != want:
            assert time.monotonic() < deadline, what
            await asyncio.sleep(0.05)

    try:
        run(body(), 30)
    finally:
        stop_all(srv, pids)
