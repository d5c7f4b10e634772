"""The loss test (no message lost by any strategy, with resumes): one channel with a 10,000
message buffer; 5 subscribers of each strategy (polling, long-polling, iframe, SSE, WebSocket);
a publisher posts 5,000 numbered messages over one keep-alive connection (pipelined in small
batches) while every subscriber disconnects at random points (after a random number of messages,
or at a random moment: mid chunk, mid frame, while a long-poll is held; half-closed or reset) and
resumes from the last id it saw, alternating the strategy's resume forms. Each must end with
exactly messages 1..5000, in order, each once, and never see a "missed" signal (everything stays
in the buffer).

Each subscriber is its own process with blocking sockets: polling walks the channel one request
per message, and 25 such clients in one Python interpreter would measure the GIL, not herald.
The whole run is bounded by RUN_LIMIT seconds."""
import json
import multiprocessing
import os
import random
import socket
import struct
import time
import traceback

from push_clients import (STRATEGY_ROUTES, Conn, IframeParser, SseParser, build_request,
                          etag_text, id_life, id_seq, ws_client_frame, ws_key)

# Under `make tsan` (HERALD_TSAN=1) every request costs several times more and polling walks
# the channel one request per message: fewer messages keep that run inside RUN_LIMIT while the
# same churn still exercises every cross-thread path.
N = 2000 if os.environ.get('HERALD_TSAN') == '1' else 5000
PER_STRATEGY = 5
RATE = 800          # messages/s the publisher aims at (it may be slower under ASan)
BATCH = 10          # publish requests pipelined at once
RUN_LIMIT = 50      # seconds for the whole run
MAX_BUDGET = 250    # a subscriber leaves after 1..MAX_BUDGET messages ...
MAX_SESSION = 1.5   # ... or after 0.02..MAX_SESSION seconds, whichever comes first

CONF = '''
error_log stderr notice;
worker_threads 2;
events { worker_connections 2000; }
http {
    access_log off;
    longpoll_timeout 2s;
    stream_keepalive 1s;
    ws_ping_interval 0;
    keepalive_timeout 30s;
    channel loss { buffer 10000; }
    server {
        listen 127.0.0.1:0;
''' + STRATEGY_ROUTES + '''    }
}
'''


def payload(i):
    """Message i: its number first; some carry line ends and markup to exercise the encoders."""
    text = '%d' % i
    if i % 7 == 0:
        text += '\nsecond line'
    if i % 11 == 0:
        text += ' </script><script>x()</script> "q" \\ \u2028'
    return text


def number(data):
    return int(data.split('\n', 1)[0].split(' ', 1)[0])


class Session(Conn):
    """A connection whose every read gives up (socket.timeout) at `deadline`: the random moment
    at which the subscriber drops it, whatever it is in the middle of."""

    def __init__(self, port, deadline):
        self.deadline = deadline
        super().__init__(port, timeout=max(0.001, deadline - time.monotonic()))

    def fill(self, timeout=None):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout('session deadline')
        return super().fill(left)


class Subscriber:
    def __init__(self, index, port, seed, stop_at):
        self.name = '%s#%d' % (type(self).__name__, index)
        self.port = port
        self.rng = random.Random(seed)
        self.stop_at = stop_at
        self.last = 0            # sequence number of the last id received
        self.last_id = '0'       # that id as the server wrote it: the resume point
        self.got = []            # message numbers, in arrival order
        self.errors = []
        self.sessions = 0
        self.server_closed = 0   # sessions the server ended (e.g. a slow consumer dropped)
        self.conn = None

    def take(self, mid_text, data):
        mid = id_seq(mid_text)
        if self.last and id_life(mid_text) != id_life(self.last_id):
            self.errors.append('%s: id %s after %s' % (self.name, mid_text, self.last_id))
        if mid != self.last + 1:
            self.errors.append('%s: id %d after %d' % (self.name, mid, self.last))
        if data != payload(mid):
            self.errors.append('%s: id %d carried %r' % (self.name, mid, data[:60]))
        self.got.append(number(data) if data else -1)
        if mid > self.last:
            self.last, self.last_id = mid, mid_text

    def missed(self, what):
        self.errors.append('%s: unexpected missed signal %r (last %d)' % (self.name, what,
                                                                         self.last))

    def connect(self, deadline, request):
        self.conn = Session(self.port, deadline)
        self.conn.send(request)
        return self.conn

    def run(self):
        t0 = time.monotonic()
        while self.last < N and len(self.errors) < 20 and time.monotonic() < self.stop_at:
            self.sessions += 1
            budget = self.rng.randint(1, MAX_BUDGET)
            deadline = min(self.stop_at, time.monotonic() + self.rng.uniform(0.02, MAX_SESSION))
            try:
                self.session(budget, deadline)
            except socket.timeout:
                pass  # the random moment: whatever was half read is dropped with the connection
            except (ConnectionError, EOFError):
                self.server_closed += 1
            if self.conn:
                if self.rng.random() < 0.3:  # reset instead of FIN
                    self.conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                              struct.pack('ii', 1, 0))
                self.conn.close()
                self.conn = None
            time.sleep(self.rng.uniform(0, 0.01))
        return time.monotonic() - t0

    def session(self, budget, deadline):
        raise NotImplementedError


class Polling(Subscriber):
    path = '/poll/loss'
    idle = 0.02

    def session(self, budget, deadline):
        c = self.connect(deadline, b'')
        taken = 0
        while taken < budget and self.last < N:
            if self.rng.random() < 0.5:
                c.send(build_request('GET', '%s?since=%s' % (self.path, self.last_id)))
            else:
                c.send(build_request('GET', self.path,
                                     headers={'If-None-Match': '"%s"' % self.last_id}))
            status, h, body = c.response()
            if 'x-herald-missed' in h:
                self.missed(h['x-herald-missed'])
            if status == 200:
                self.take(etag_text(h), body.decode('utf-8'))
                taken += 1
            elif status in (204, 304):
                time.sleep(self.idle)
            else:
                self.errors.append('%s: status %d' % (self.name, status))
                time.sleep(0.05)


class LongPolling(Polling):
    path = '/lp/loss'
    idle = 0  # a 304 is a timed-out hold: ask again at once


class Sse(Subscriber):
    def session(self, budget, deadline):
        if self.rng.random() < 0.5:
            req = build_request('GET', '/sse/loss?since=%s' % self.last_id)
        else:
            req = build_request('GET', '/sse/loss', headers={'Last-Event-ID': self.last_id})
        c = self.connect(deadline, req)
        status, h = c.head()
        if status != 200:
            self.errors.append('%s: status %d' % (self.name, status))
            return
        parser = SseParser()
        taken = 0
        for chunk in c.chunks():
            for ev in parser.feed(chunk.decode('utf-8')):
                if ev['event'] != 'message':
                    self.missed(ev)
                    continue
                self.take(ev['id'], ev['data'])
                taken += 1
            if taken >= budget or self.last >= N:
                return


class Iframe(Subscriber):
    def session(self, budget, deadline):
        cb = self.rng.choice(['herald_push', 'herald_cb', 'herald_a1'])
        c = self.connect(deadline, build_request(
            'GET', '/if/loss?since=%s&callback=%s' % (self.last_id, cb)))
        status, h = c.head()
        if status != 200:
            self.errors.append('%s: status %d' % (self.name, status))
            return
        parser = IframeParser()
        taken = 0
        for chunk in c.chunks():
            for name, args in parser.feed(chunk):
                if name != cb:
                    self.errors.append('%s: callback %s' % (self.name, name))
                if args[0] is None:
                    self.missed(args)
                    continue
                self.take(args[1], args[0])
                taken += 1
            if taken >= budget or self.last >= N:
                return


class WebSocket(Subscriber):
    def session(self, budget, deadline):
        c = self.connect(deadline, build_request(
            'GET', '/ws/loss?since=%s&format=json' % self.last_id, headers={
                'Upgrade': 'websocket', 'Connection': 'Upgrade', 'Sec-WebSocket-Version': '13',
                'Sec-WebSocket-Key': ws_key()}))
        status, h = c.head()
        if status != 101:
            self.errors.append('%s: status %d' % (self.name, status))
            return
        taken = 0
        for op, data in c.frames():
            if op == 0x8:
                raise EOFError('close frame')
            if op != 0x1:
                continue
            env = json.loads(data)
            if 'herald' in env:
                self.missed(env)
                continue
            if env['channel'] != 'loss':
                self.errors.append('%s: channel %r' % (self.name, env['channel']))
            self.take(env['id'], env['data'])
            taken += 1
            if taken >= budget or self.last >= N:
                if self.rng.random() < 0.5:
                    c.send(ws_client_frame(0x8, b'\x03\xe8'))  # a polite close, sometimes
                return


def child(kind, index, port, seed, stop_at, results):
    sub = kind(index, port, seed, stop_at)
    took = None
    try:
        took = sub.run()
    except Exception:
        sub.errors.append('%s crashed:\n%s' % (sub.name, traceback.format_exc()))
    results.put({'name': sub.name, 'last': sub.last, 'ok': sub.got == list(range(1, N + 1)),
                 'got_len': len(sub.got), 'errors': sub.errors[:10], 'sessions': sub.sessions,
                 'server_closed': sub.server_closed, 'took': took})


def publish_all(port, stop_at):
    """Publishes 1..N, BATCH requests pipelined at a time, paced at RATE. Returns the count."""
    c = Conn(port, timeout=10)
    t0 = time.monotonic()
    done = 0
    for first in range(1, N + 1, BATCH):
        batch = range(first, min(first + BATCH, N + 1))
        c.send(b''.join(build_request('POST', '/pub?channel=loss', body=payload(i),
                                      headers={'Content-Type': 'text/plain; charset=utf-8'})
                        for i in batch))
        for i in batch:
            status, h, body = c.response()
            assert status == 201, (i, status, body)
            assert id_seq(json.loads(body)['id']) == i
            done = i
        if time.monotonic() > stop_at:
            break
        ahead = batch[-1] / RATE - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
    c.close()
    return done, time.monotonic() - t0


def run_subscribers(port, kinds, per_kind, rng, stop_at, publish, target=None):
    """Forks per_kind subscribers of each kind (target(kind, index, port, seed, stop_at,
    results), child() by default), runs publish() here meanwhile, and returns its result and
    the subscribers' reports sorted by name. Every child is joined (or killed) on the way out."""
    ctx = multiprocessing.get_context('fork')
    results = ctx.Queue()
    procs = []
    for kind in kinds:
        for k in range(per_kind):
            p = ctx.Process(target=target or child,
                            args=(kind, k, port, rng.random(), stop_at, results), daemon=True)
            p.start()
            procs.append(p)
    try:
        out = publish()
        reports = [results.get(timeout=max(1, stop_at + 5 - time.monotonic())) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=1)
            if p.is_alive():
                p.kill()
                p.join()
    reports.sort(key=lambda r: r['name'])
    return out, reports


def test_no_loss_with_random_reconnects(herald):
    srv = herald(CONF)
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    t0 = time.monotonic()
    stop_at = t0 + RUN_LIMIT
    (published, pub_took), reports = run_subscribers(
        srv.port, (Polling, LongPolling, Iframe, Sse, WebSocket), PER_STRATEGY, rng, stop_at,
        lambda: publish_all(srv.port, stop_at))
    took = time.monotonic() - t0
    summary = '\n'.join('%-14s last %5d sessions %3d server-closed %d errors %d took %s' % (
        r['name'], r['last'], r['sessions'], r['server_closed'], len(r['errors']),
        '%.1fs' % r['took'] if r['took'] else '-') for r in reports)
    info = 'seed %d, %.1fs (publisher %.1fs), published %d\n%s' % (
        seed, took, pub_took, published, summary)
    assert published == N, 'publisher did not finish: ' + info
    errors = [e for r in reports for e in r['errors'][:5]]
    assert not errors, '\n'.join(errors[:40]) + '\n' + info
    for r in reports:
        assert r['ok'], '%s did not get exactly 1..%d in order\n%s' % (r['name'], N, info)
        assert r['sessions'] >= 3, '%s reconnected too little\n%s' % (r['name'], info)
    print(info)
