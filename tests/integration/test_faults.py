"""Faults that must not lose data.

1. Reconnect storm: subscribers of every strategy (polling, long-polling, iframe, SSE,
   WebSocket) drop their connection at random moments (after a random number of messages or a
   random time: mid chunk, mid frame, during a held long-poll; FIN or RST) and resume from the
   last id they saw, at least 1,000 reconnect cycles in all, while messages are published.
   The buffer holds everything, so each must end with every message exactly once, in order,
   and never be told it missed something. The subscriber clients are test_push_loss.py's
   (same protocol checks); this test only drives them harder: many more, shorter sessions.

2. Falling out of the window: with `buffer 20`, a subscriber of each strategy that is away
   while 100 messages are published resumes from its last id and must get the strategy's
   documented "missed" signal (README, "Push strategies": X-Herald-Missed: 1, event
   herald-missed, the missed iframe call, the {"herald":"missed"} frame) naming its resume
   point and the oldest id still buffered, then every message still buffered, in order, each
   once, then the live ones; a subscriber that stayed connected meanwhile misses nothing.
"""
import json
import random
import socket
import time

import test_push_loss as loss
from push_clients import (STRATEGY_ROUTES, Conn, IframeParser, Life, SseParser, build_request,
                          channel_life, etag_id, etag_text, id_seq, ws_key)

# ---- 1. reconnect storm ---------------------------------------------------------------------

N = 1000            # messages
RATE = 100          # per second: a 10 s run
PER_STRATEGY = 4
MIN_CYCLES = 1000   # reconnect cycles in all, across the 20 subscribers
MAX_BUDGET = 30     # a session ends after 1..MAX_BUDGET messages ...
MAX_SESSION = 0.35  # ... or after 0.02..MAX_SESSION seconds, whichever comes first
RUN_LIMIT = 35      # seconds for the whole storm

STORM_CONF = loss.CONF.replace('channel loss { buffer 10000; }', 'channel loss { buffer 5000; }')


class Cycling:
    """Mixed into test_push_loss's subscribers: short sessions, and the loop goes on until the
    subscriber has everything AND its share of reconnect cycles (once it has everything, a
    session is a resume that finds nothing new, which must not produce anything either)."""
    min_sessions = MIN_CYCLES // (5 * PER_STRATEGY)

    def run(self):
        t0 = time.monotonic()
        while ((self.last < N or self.sessions < self.min_sessions) and len(self.errors) < 20
               and time.monotonic() < self.stop_at):
            self.sessions += 1
            budget = self.rng.randint(1, MAX_BUDGET)
            deadline = min(self.stop_at,
                           time.monotonic() + self.rng.uniform(0.02, MAX_SESSION))
            try:
                self.session(budget, deadline)
            except socket.timeout:
                pass
            except (ConnectionError, EOFError):
                self.server_closed += 1
            if self.conn:
                if self.rng.random() < 0.3:
                    self.conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                              b'\1\0\0\0\0\0\0\0')
                self.conn.close()
                self.conn = None
            time.sleep(self.rng.uniform(0, 0.01))
        return time.monotonic() - t0


KINDS = [type('Cycling' + k.__name__, (Cycling, k), {})
         for k in (loss.Polling, loss.LongPolling, loss.Iframe, loss.Sse, loss.WebSocket)]


def storm_child(kind, index, port, seed, stop_at, results):
    loss.N = N  # this forked process only: the loss clients stop at N
    loss.child(kind, index, port, seed, stop_at, results)


def publish_paced(port, n, rate, stop_at):
    c = Conn(port, timeout=10)
    t0 = time.monotonic()
    for i in range(1, n + 1):
        status, _, body = c.request('POST', '/pub?channel=loss', body=loss.payload(i),
                                    headers={'Content-Type': 'text/plain; charset=utf-8'})
        assert status == 201 and id_seq(json.loads(body)['id']) == i, (i, status, body)
        if time.monotonic() > stop_at:
            return i
        ahead = i / rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
    c.close()
    return n


def test_reconnect_storm_loses_nothing(herald):
    srv = herald(STORM_CONF)
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    t0 = time.monotonic()
    stop_at = t0 + RUN_LIMIT
    published, reports = loss.run_subscribers(srv.port, KINDS, PER_STRATEGY, rng, stop_at,
                                              lambda: publish_paced(srv.port, N, RATE, stop_at),
                                              target=storm_child)
    took = time.monotonic() - t0
    cycles = sum(r['sessions'] for r in reports)
    info = 'seed %d, %.1fs, published %d, %d reconnect cycles\n%s' % (
        seed, took, published, cycles, '\n'.join(
            '%-22s last %5d sessions %3d server-closed %d errors %d' % (
                r['name'], r['last'], r['sessions'], r['server_closed'], len(r['errors']))
            for r in reports))
    print(info)
    assert published == N, info
    errors = [e for r in reports for e in r['errors'][:5]]
    assert not errors, '\n'.join(errors[:40]) + '\n' + info
    for r in reports:
        assert r['ok'], '%s did not get exactly 1..%d in order\n%s' % (r['name'], N, info)
    assert cycles >= MIN_CYCLES, info


# ---- 2. falling out of the buffer window ----------------------------------------------------

WINDOW = 20
AWAY = 100

WINDOW_CONF = '''
error_log stderr notice;
worker_threads 2;
http {
    access_log off;
    longpoll_timeout 5s;
    ws_ping_interval 0;
    channel poll { buffer 20; }
    channel lp   { buffer 20; }
    channel if   { buffer 20; }
    channel sse  { buffer 20; }
    channel ws   { buffer 20; }
    server {
        listen 127.0.0.1:0;
''' + STRATEGY_ROUTES + '''    }
}
'''


def publish_range(srv, channel, first, last):
    c = Conn(srv.port)
    for i in range(first, last + 1):
        status, _, body = c.request('POST', '/pub?channel=' + channel, body='m%d' % i,
                                    headers={'Content-Type': 'text/plain'})
        assert status == 201 and id_seq(json.loads(body)['id']) == i, (status, body)
    c.close()


class Sub:
    """A subscriber that names its resume point by sequence number within the one life of its
    channel that it has seen (0: from the start)."""
    life = None

    def seen(self, mid):
        """The sequence number of an id it received (all of one life)."""
        if self.life is None:
            self.life = Life.of(mid)
        return self.life.seq(mid)

    def since_id(self, seq):
        return self.life(seq) if seq else '0'


class PollSub(Sub):
    """Polling and long-polling: one request per message, resuming with ?since=."""

    def __init__(self, srv, route):
        self.srv, self.route = srv, route

    def connect(self, since):
        self.conn = Conn(self.srv.port)
        self.since = since

    def take(self, n):
        """The next n items: ('msg', id, data) or ('missed', header value)."""
        out = []
        while len([x for x in out if x[0] == 'msg']) < n:
            status, h, body = self.conn.request('GET', '/%s/%s?since=%s' % (
                self.route, self.route, self.since_id(self.since)))
            assert status == 200, (self.route, status, h)
            if 'x-herald-missed' in h:
                out.append(('missed', h['x-herald-missed']))
            mid = self.seen(etag_text(h))
            out.append(('msg', mid, body.decode()))
            self.since = mid
        return out

    def close(self):
        self.conn.close()


class SseSub(Sub):
    def __init__(self, srv):
        self.srv = srv

    def connect(self, since):
        self.conn = Conn(self.srv.port)
        hdrs = {'Last-Event-ID': self.since_id(since)} if since else None
        self.conn.send(build_request('GET', '/sse/sse', headers=hdrs))
        status, _ = self.conn.head()
        assert status == 200
        self.parser, self.pending, self.chunks = SseParser(), [], self.conn.chunks()

    def take(self, n):
        out = []
        while len([x for x in out if x[0] == 'msg']) < n:
            while not self.pending:
                self.pending += self.parser.feed(next(self.chunks).decode())
            ev = self.pending.pop(0)
            if ev['event'] == 'herald-missed':
                out.append(('missed', json.loads(ev['data'])))
            else:
                assert ev['event'] == 'message', ev
                out.append(('msg', self.seen(ev['id']), ev['data']))
        return out

    def close(self):
        self.conn.close()


class IframeSub(Sub):
    def __init__(self, srv):
        self.srv = srv

    def connect(self, since):
        self.conn = Conn(self.srv.port)
        self.conn.send(build_request('GET', '/if/if?callback=herald_cb&since=' + self.since_id(since)))
        status, _ = self.conn.head()
        assert status == 200
        self.parser, self.pending, self.chunks = IframeParser(), [], self.conn.chunks()

    def take(self, n):
        out = []
        while len([x for x in out if x[0] == 'msg']) < n:
            while not self.pending:
                self.pending += self.parser.feed(next(self.chunks))
            name, args = self.pending.pop(0)
            assert name == 'herald_cb', name
            if args[0] is None:
                out.append(('missed', args[2]))
            else:
                out.append(('msg', self.seen(args[1]), args[0]))
        return out

    def close(self):
        self.conn.close()


class WsSub(Sub):
    def __init__(self, srv):
        self.srv = srv

    def connect(self, since):
        self.conn = Conn(self.srv.port)
        self.conn.send(build_request('GET', '/ws/ws?format=json&since=' + self.since_id(since), headers={
            'Upgrade': 'websocket', 'Connection': 'Upgrade', 'Sec-WebSocket-Version': '13',
            'Sec-WebSocket-Key': ws_key()}))
        status, _ = self.conn.head()
        assert status == 101
        self.frames = self.conn.frames()

    def take(self, n):
        out = []
        while len([x for x in out if x[0] == 'msg']) < n:
            op, data = next(self.frames)
            assert op == 0x1, op
            env = json.loads(data)
            if 'herald' in env:
                assert env.pop('herald') == 'missed', env
                out.append(('missed', env))
            else:
                assert env['channel'] == 'ws', env
                out.append(('msg', self.seen(env['id']), env['data']))
        return out

    def close(self):
        self.conn.close()


def msgs(first, last):
    return [('msg', i, 'm%d' % i) for i in range(first, last + 1)]


def test_resume_outside_the_window_is_told_then_gets_the_buffer(herald):
    srv = herald(WINDOW_CONF)
    strategies = {
        'poll': (lambda: PollSub(srv, 'poll'), '1'),
        'lp': (lambda: PollSub(srv, 'lp'), '1'),
        'if': (lambda: IframeSub(srv), {'missed': True, 'since': 5, 'first': 86}),
        'sse': (lambda: SseSub(srv), {'since': 5, 'first': 86}),
        'ws': (lambda: WsSub(srv), {'since': 5, 'first': 86}),
    }
    for channel, (make, signal) in strategies.items():
        paused, steady = make(), make()
        paused.connect(0)
        steady.connect(0)
        steady_got = []

        def publish(first, last):
            # In steps of 10 that the steady subscriber reads as they come (a poller has no
            # connection to hold its place: it stays in the window by asking often enough).
            for lo in range(first, last + 1, 10):
                hi = min(last, lo + 9)
                publish_range(srv, channel, lo, hi)
                steady_got.extend(steady.take(hi - lo + 1))

        publish(1, 5)
        assert paused.take(5) == msgs(1, 5), channel
        paused.close()  # away while 100 are published: 6..105; the buffer keeps 86..105
        publish(6, 5 + AWAY)
        paused.connect(5)  # resume from the last id it saw
        got = paused.take(WINDOW)
        if isinstance(signal, dict):  # the ids it names, in the channel's life
            signal = {k: paused.life(v) if k != 'missed' else v for k, v in signal.items()}
        assert got == [('missed', signal)] + msgs(6 + AWAY - WINDOW, 5 + AWAY), (channel, got)
        publish(6 + AWAY, 8 + AWAY)  # live again
        assert paused.take(3) == msgs(6 + AWAY, 8 + AWAY), channel
        assert steady_got == msgs(1, 8 + AWAY), channel  # no gap, no signal
        paused.close()
        steady.close()
    # Polling forms: If-None-Match names the resume point as well as ?since= does.
    c = Conn(srv.port)
    status, h, body = c.request('GET', '/poll/poll',
                                headers={'If-None-Match': '"%s"' % channel_life(srv, 'poll')(5)})
    assert (status, h.get('x-herald-missed'), etag_id(h)) == (200, '1', 89), h
    c.close()
