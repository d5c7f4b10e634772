"""The Redis broker (`broker redis;`, README "Several nodes: the Redis broker"): herald nodes
sharing channels through one redis-server started by this module on a free loopback port.

The design checked here:
  - a publish on node A answers 201 with the id once Redis stored it; subscribers on node B,
    over every strategy, get the message with that same id; a subscriber on A gets it once;
  - ids are one EPOCH-SEQ sequence whichever node publishes;
  - a client resumes on another node (Last-Event-ID, ?since=) with no loss and no missed signal;
    a node started later serves what Redis holds (?since=0, ?last=N);
  - Redis down -> publish 503 with a JSON error within about redis_timeout, never 201, and 201
    again once Redis is back;
  - a cut pub/sub link loses nothing: the node reads what it missed from the Redis history;
  - Redis losing its data (FLUSHALL) gives a new epoch and a missed signal, never ids of the old
    sequence served as continuous;
  - DELETE and event names cross nodes; the event loop never waits for a stopped Redis;
  - three nodes: every strategy, a resume on the third node, and the loss test (subscribers
    reconnecting on another node every few messages: nothing lost, nothing twice, in order);
  - faults mid-stream: Redis stopped (SIGSTOP: 503 after redis_timeout, subscribers stay, then
    every confirmed message) and killed + restarted empty (503, then 201 in a new epoch; the
    old life's subscribers are ended and get the missed signal on reconnect).
"""
import json
import os
import signal
import socket
import struct
import threading
import time

import pytest

from push_clients import (STRATEGY_ROUTES, Conn, Stream, Ws, build_request, etag_text,
                          parse_iframe, parse_sse, ws_client_frame, ws_key)
from redis_server import RedisServer

REDIS_TIMEOUT_S = 1  # redis_timeout in the nodes' config
WAIT = 4             # bound on every wait for a delivery


# ---- redis-server --------------------------------------------------------------------------

@pytest.fixture(scope='module')
def redis_module(tmp_path_factory):
    r = RedisServer(tmp_path_factory.mktemp('redis')).start()
    yield r
    r.kill()


@pytest.fixture
def redis(redis_module):
    """The module's redis-server, running, awake and empty for each test."""
    r = redis_module
    if r.alive():
        r.proc.send_signal(signal.SIGCONT)
    else:
        r.start()
    r.cmd('FLUSHALL')
    yield r
    if r.alive():
        r.proc.send_signal(signal.SIGCONT)


# ---- herald nodes ----------------------------------------------------------------------------

CONF = '''
error_log stderr info;
http {
    access_log off;
    broker redis;
%(servers)s
    redis_prefix %(prefix)s;
    redis_timeout %(timeout)ds;
    channel_autocreate on;
    longpoll_timeout 5s;
    channel storm { buffer 1000; }
    server {
        listen 127.0.0.1:0;
        root {www};
        location = /status { status; }
%(routes)s
    }
}
'''


def node_config(redis_ports, prefix):
    """A node's config: the Redis broker on redis_ports (one, or a cluster's seeds), every
    strategy's route, /status, /index.html."""
    servers = '\n'.join('    redis_server 127.0.0.1:%d;' % p for p in redis_ports)
    return CONF % {'servers': servers, 'prefix': prefix, 'timeout': REDIS_TIMEOUT_S,
                   'routes': STRATEGY_ROUTES}


@pytest.fixture
def nodes(herald, redis):
    """node() starts one more herald node on the test's Redis, all with the same fresh prefix."""
    prefix = 't%s:' % os.urandom(4).hex()

    def node():
        return herald(node_config([redis.port], prefix), files={'www/index.html': 'static'})

    return node


def split_id(mid):
    """(epoch, seq) of an id "EPOCH-SEQ"."""
    epoch, sep, seq = mid.rpartition('-')
    assert sep and epoch and seq.isdigit() and not seq.startswith('0'), mid
    return epoch, int(seq)


def publish(srv, channel, data, headers=None, method='POST'):
    """(status, headers, body) of one publisher request on srv."""
    c = Conn(srv.port, timeout=REDIS_TIMEOUT_S + 5)
    try:
        return c.request(method, '/pub?channel=' + channel, body=data,
                         headers={'Content-Type': 'text/plain'} if headers is None else headers)
    finally:
        c.close()


def publish_when_back(srv, channel, data, refused=None, timeout=10):
    """Publishes until the answer is 201 (Redis is back), within timeout; every 503 before it is
    appended to refused (if given). Returns the 201's body."""
    deadline = time.monotonic() + timeout
    while True:
        status, _, body = publish(srv, channel, data)
        if status == 201:
            return body
        assert status == 503 and time.monotonic() < deadline, (status, body)
        if refused is not None:
            refused.append(data)
        time.sleep(0.1)


def published_id(srv, channel, data, headers=None):
    status, h, body = publish(srv, channel, data, headers)
    assert status == 201, (status, body)
    answer = json.loads(body)
    assert answer['channel'] == channel
    split_id(answer['id'])
    return answer['id']


def sse_events(stream):
    return parse_sse(stream.body)[0]


def sse_wait(stream, n, timeout=WAIT):
    """The first n events of an SSE stream (waiting for them)."""
    stream.wait_for(lambda s: len(sse_events(s)) >= n, timeout)
    return sse_events(stream)[:n]


def ws_json(ws, timeout=WAIT):
    op, payload = ws.recv(timeout)
    assert op == 0x1, (op, payload)
    return json.loads(payload)


def poll_until(port, path, timeout=WAIT):
    """GET path until it answers 200 (a 304 means not there yet): (headers, body)."""
    c = Conn(port)
    deadline = time.monotonic() + timeout
    try:
        while True:
            status, h, body = c.request('GET', path)
            if status == 200:
                return h, body
            assert status == 304 and time.monotonic() < deadline, (status, body)
            time.sleep(0.05)
    finally:
        c.close()


def close_code(payload):
    return struct.unpack('!H', payload[:2])[0] if len(payload) >= 2 else None


# ---- 1. one publish, every strategy on the other node ---------------------------------------

def test_publish_on_one_node_reaches_every_strategy_on_the_other(nodes):
    a, b = nodes(), nodes()
    w = published_id(a, 'x', 'warm-up')
    # Subscribers on B (and one on A) that have read the warm-up message have joined.
    sse = Stream(b.port, '/sse/x?since=0')
    ifr = Stream(b.port, '/if/x?since=0')
    ws = Ws(b.port, '/ws/x?since=0&format=json')
    sse_a = Stream(a.port, '/sse/x?since=0')
    assert sse.status == ifr.status == sse_a.status == 200 and ws.status == 101
    assert [e['id'] for e in sse_wait(sse, 1)] == [w]
    assert ws_json(ws)['id'] == w
    ifr.wait_for(lambda s: len(parse_iframe(s.body)) >= 1, WAIT)
    assert sse_wait(sse_a, 1)[0]['id'] == w
    lp = Conn(b.port)
    lp.send(build_request('GET', '/lp/x?since=' + w))

    m = published_id(a, 'x', 'hello')
    assert split_id(m)[0] == split_id(w)[0] and split_id(m)[1] == split_id(w)[1] + 1

    assert [(e['id'], e['data']) for e in sse_wait(sse, 2)] == [(w, 'warm-up'), (m, 'hello')]
    env = ws_json(ws)
    assert (env['id'], env['data'], env['channel']) == (m, 'hello', 'x')
    ifr.wait_for(lambda s: len(parse_iframe(s.body)) >= 2, WAIT)
    assert [args[:2] for _, args in parse_iframe(ifr.body)] == [['warm-up', w], ['hello', m]]
    lp.sock.settimeout(WAIT)
    status, h, body = lp.response()
    assert (status, body, etag_text(h)) == (200, b'hello', m)
    h, body = poll_until(b.port, '/poll/x?since=' + w)
    assert (body, etag_text(h)) == (b'hello', m)

    # A's own subscriber gets it exactly once: a later message comes right after it.
    end = published_id(a, 'x', 'end')
    sse_a.wait_for(lambda s: any(e['id'] == end for e in sse_events(s)), WAIT)
    assert [(e['id'], e['data']) for e in sse_events(sse_a)] == [
        (w, 'warm-up'), (m, 'hello'), (end, 'end')]
    for c in (sse, ifr, ws, sse_a, lp):
        c.close()


# ---- 2. one id sequence ----------------------------------------------------------------------

def test_publishes_on_both_nodes_make_one_id_sequence(nodes):
    a, b = nodes(), nodes()
    ids = [published_id((a, b)[i % 2], 'seq', 'm%d' % i) for i in range(6)]
    epochs = {split_id(i)[0] for i in ids}
    assert len(epochs) == 1, ids
    assert [split_id(i)[1] for i in ids] == [1, 2, 3, 4, 5, 6]
    # Both nodes serve the same id -> message history.
    for srv in (a, b):
        ws = Ws(srv.port, '/ws/seq?since=0&format=json')
        got = [ws_json(ws) for _ in range(6)]
        assert [(e['id'], e['data']) for e in got] == [(i, 'm%d' % k) for k, i in enumerate(ids)]
        ws.close()


# ---- 3. resume on another node ---------------------------------------------------------------

def test_resume_on_another_node_after_the_last_id_seen(nodes):
    a, b = nodes(), nodes()
    first = [published_id(a, 'r', 'm%d' % k) for k in (1, 2, 3)]
    sse = Stream(a.port, '/sse/r?since=0')
    assert [e['id'] for e in sse_wait(sse, 3)] == first
    sse.close()
    later = [published_id(b, 'r', 'm%d' % k) for k in (4, 5, 6)]
    want = [(i, 'm%d' % k) for k, i in zip((4, 5, 6), later)]

    # SSE on B with Last-Event-ID: exactly 4..6, no missed signal.
    sse = Stream(b.port, '/sse/r', headers={'Last-Event-ID': first[2]})
    events = sse_wait(sse, 3)
    assert [(e['id'], e['data']) for e in events] == want
    assert all(e['event'] == 'message' for e in events), events
    sse.close()

    # Long-polling on B from ?since=: one message per answer, never X-Herald-Missed.
    c = Conn(b.port)
    since = first[2]
    for mid, data in want:
        status, h, body = c.request('GET', '/lp/r?since=' + since)
        assert (status, body, etag_text(h)) == (200, data.encode(), mid)
        assert 'x-herald-missed' not in h
        since = mid
    c.close()

    # WebSocket on B from ?since=.
    ws = Ws(b.port, '/ws/r?since=%s&format=json' % first[2])
    got = [ws_json(ws) for _ in range(3)]
    assert [(e.get('id'), e.get('data')) for e in got] == want, got
    ws.close()


# ---- 4. a node started later -----------------------------------------------------------------

def test_a_node_started_later_serves_what_redis_holds(nodes):
    a = nodes()
    ids = [published_id(a, 'old', 'm%d' % k) for k in range(1, 6)]
    b = nodes()
    c = Conn(b.port)
    since = '0'
    for k, mid in enumerate(ids, 1):
        status, h, body = c.request('GET', '/poll/old?since=' + since)
        assert (status, body, etag_text(h)) == (200, b'm%d' % k, mid)
        assert 'x-herald-missed' not in h
        since = mid
    c.close()
    sse = Stream(b.port, '/sse/old?last=2')
    assert [(e['id'], e['data']) for e in sse_wait(sse, 2)] == [(ids[3], 'm4'), (ids[4], 'm5')]
    sse.close()


# ---- 5. a publish is confirmed by Redis ------------------------------------------------------

def test_publish_answers_503_while_redis_is_down_and_201_after(nodes, redis):
    a = nodes()
    published_id(a, 'up', 'before')
    redis.kill()
    for _ in range(3):
        t0 = time.monotonic()
        status, h, body = publish(a, 'up', 'lost')
        elapsed = time.monotonic() - t0
        assert status == 503, (status, body)
        assert h.get('content-type', '').startswith('application/json'), h
        assert isinstance(json.loads(body), dict)
        assert elapsed < REDIS_TIMEOUT_S + 1.5, elapsed
    redis.start()
    body = publish_when_back(a, 'up', 'after')
    # Redis came back empty: the channel is in a new epoch, its sequence restarts.
    assert split_id(json.loads(body)['id'])[1] == 1, body


# ---- 6. a cut pub/sub link loses nothing -----------------------------------------------------

def test_a_cut_pubsub_link_loses_nothing(nodes, redis):
    a, b = nodes(), nodes()
    w = published_id(a, 'cut', 'warm-up')
    sse = Stream(b.port, '/sse/cut?since=0')
    ws = Ws(b.port, '/ws/cut?since=0&format=json')
    assert sse_wait(sse, 1)[0]['id'] == w and ws_json(ws)['id'] == w

    sent = [(w, 'warm-up')]
    killed = []

    def publisher():
        c = Conn(a.port, timeout=REDIS_TIMEOUT_S + 5)
        try:
            for k in range(80):  # ~50/s for ~1.6 s
                status, _, body = c.request('POST', '/pub?channel=cut', body='n%d' % k,
                                            headers={'Content-Type': 'text/plain'})
                assert status == 201, (status, body)
                sent.append((json.loads(body)['id'], 'n%d' % k))
                if k == 25:
                    killed.append(redis.cmd('CLIENT', 'KILL', 'TYPE', 'pubsub'))
                time.sleep(0.02)
        finally:
            c.close()

    t = threading.Thread(target=publisher)
    t.start()
    got_ws = [(w, 'warm-up')]
    deadline = time.monotonic() + 10
    while len(got_ws) < 81 and time.monotonic() < deadline:
        env = ws_json(ws, timeout=max(0.1, deadline - time.monotonic()))
        got_ws.append((env.get('id'), env.get('data')))
    t.join()
    assert len(sent) == 81 and killed and killed[0] >= 1, (len(sent), killed)
    assert got_ws == sent
    events = sse_wait(sse, 81)
    assert [(e['id'], e['data']) for e in events] == sent
    assert not sse.ended and not sse.eof  # the same stream all along
    # Nothing more (no duplicate) arrives before a last message.
    last = published_id(a, 'cut', 'last')
    assert ws_json(ws)['id'] == last
    sse.wait_for(lambda s: any(e['id'] == last for e in sse_events(s)), WAIT)
    assert len(sse_events(sse)) == 82
    sse.close()
    ws.close()


# ---- 7. Redis lost its data ------------------------------------------------------------------

def test_flushall_gives_a_new_epoch_and_the_missed_signal(nodes, redis):
    a, b = nodes(), nodes()
    old = [published_id(a, 'fl', 'o%d' % k) for k in (1, 2)]
    sse = Stream(b.port, '/sse/fl?since=0')
    ws = Ws(b.port, '/ws/fl?since=0&format=json')
    assert [e['id'] for e in sse_wait(sse, 2)] == old
    assert [ws_json(ws)['id'] for _ in range(2)] == old
    redis.cmd('FLUSHALL')
    new = [published_id(a, 'fl', 'n%d' % k) for k in (1, 2)]
    old_epoch, new_epoch = split_id(old[0])[0], split_id(new[0])[0]
    assert old_epoch != split_id(new[0])[0] and split_id(new[1])[0] == new_epoch
    assert [split_id(i)[1] for i in new] == [1, 2]
    want_new = [(new[0], 'n1'), (new[1], 'n2')]
    seen = {}  # (epoch, seq) -> data over every delivery: never two data for one id

    def record(mid, data):
        key = split_id(mid)
        assert seen.setdefault(key, data) == data, (mid, data, seen[key])

    for mid, data in zip(old, ('o1', 'o2')):
        record(mid, data)

    # SSE: the missed signal then the new messages, or the stream ends and a reconnect with the
    # last id seen gets them.
    def sse_after(stream):
        events = sse_events(stream)[2:]
        missed = [e for e in events if e['event'] == 'herald-missed']
        data = [(e['id'], e['data']) for e in events if e['event'] == 'message']
        return missed, data

    deadline = time.monotonic() + WAIT
    while not (sse.ended or sse.eof) and len(sse_after(sse)[1]) < 2:
        assert time.monotonic() < deadline, bytes(sse.body)
        sse.pump(0.1)
    missed, data = sse_after(sse)
    for mid, d in data:
        record(mid, d)
    if sse.ended or sse.eof:
        sse.close()
        sse = Stream(b.port, '/sse/fl', headers={'Last-Event-ID': old[1]})
        sse.wait_for(lambda s: len([e for e in sse_events(s) if e['event'] == 'message']) >= 2,
                     WAIT)
        events = sse_events(sse)
        missed = [e for e in events if e['event'] == 'herald-missed']
        data = [(e['id'], e['data']) for e in events if e['event'] == 'message']
        for mid, d in data:
            record(mid, d)
    assert missed, bytes(sse.body)
    assert data == want_new, data
    sse.close()

    # WebSocket: the missed frame then the new messages, or close 1001/1012 and a reconnect.
    frames = []
    closed = None
    while len([f for f in frames if 'id' in f]) < 2:
        op, payload = ws.recv(WAIT)
        if op == 0x8:
            closed = close_code(payload)
            break
        assert op == 0x1, (op, payload)
        frames.append(json.loads(payload))
    ws.close()
    if closed is not None:
        assert closed in (1001, 1012), closed
        ws = Ws(b.port, '/ws/fl?since=%s&format=json' % old[1])
        frames = [ws_json(ws) for _ in range(3)]
        ws.close()
    assert frames[0].get('herald') == 'missed', frames
    got = [(f['id'], f['data']) for f in frames if 'id' in f]
    for mid, d in got:
        record(mid, d)
    assert got == want_new, frames


# ---- 8. DELETE crosses nodes ------------------------------------------------------------------

def test_delete_on_one_node_ends_subscribers_on_the_other(nodes):
    a, b = nodes(), nodes()
    w = published_id(a, 'del', 'before')
    sse = Stream(b.port, '/sse/del?since=0')
    ifr = Stream(b.port, '/if/del?since=0')
    ws = Ws(b.port, '/ws/del?since=0')
    assert sse_wait(sse, 1)[0]['id'] == w
    assert ws.recv(WAIT) == (0x1, b'before')
    ifr.wait_for(lambda s: len(parse_iframe(s.body)) >= 1, WAIT)
    lp = Conn(b.port)
    lp.send(build_request('GET', '/lp/del?since=' + w))
    # The long-poll is held on B (its subscribe is answered after B's own round trip) before
    # the DELETE: four subscribers of B.
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        status, _, body = publish(b, 'del', None, headers={}, method='GET')
        if status == 200 and json.loads(body)['total_subscribers'] == 4:
            break
        time.sleep(0.02)
    else:
        raise AssertionError('the long-poll was not held on B: ' + repr(body))
    status, _, body = publish(a, 'del', None, headers={}, method='DELETE')
    assert status == 200 and json.loads(body) == {'channel': 'del', 'deleted': True}
    # As one node's DELETE: WebSocket close 1000, SSE and iframe streams end, long-poll 410.
    op, payload = ws.recv(WAIT)
    assert op == 0x8 and close_code(payload) == 1000, (op, payload)
    sse.wait_for(lambda s: s.ended, WAIT)
    ifr.wait_for(lambda s: s.ended, WAIT)
    lp.sock.settimeout(WAIT)
    assert lp.response()[0] == 410
    for c in (sse, ifr, ws, lp):
        c.close()


# ---- 9. event names cross nodes --------------------------------------------------------------

def test_event_name_reaches_sse_on_the_other_node(nodes):
    a, b = nodes(), nodes()
    w = published_id(a, 'ev', 'warm-up')
    sse = Stream(b.port, '/sse/ev?since=0')
    assert sse_wait(sse, 1)[0]['id'] == w
    m = published_id(a, 'ev', 'up 3%',
                     headers={'Content-Type': 'text/plain', 'X-Herald-Event': 'price.update'})
    e = sse_wait(sse, 2)[1]
    assert (e['id'], e['event'], e['data']) == (m, 'price.update', 'up 3%')
    sse.close()


# ---- 10. a stopped Redis never blocks the loop -----------------------------------------------

def test_a_stopped_redis_never_blocks_the_event_loop(nodes, redis):
    a = nodes()
    published_id(a, 'stop', 'before')
    redis.proc.send_signal(signal.SIGSTOP)
    try:
        answer = {}

        def pub():
            t0 = time.monotonic()
            answer['status'] = publish(a, 'stop', 'while stopped')[0]
            answer['elapsed'] = time.monotonic() - t0

        t = threading.Thread(target=pub)
        t.start()
        # While that publish waits for Redis, the node serves other requests: each answer
        # comes while the publish is still waiting (a blocked loop would answer them only after
        # redis_timeout had failed the publish).
        for _ in range(3):
            c = Conn(a.port)
            status, _, body = c.request('GET', '/index.html')
            c.close()
            assert (status, body) == (200, b'static')
            assert t.is_alive() and 'status' not in answer, answer
            time.sleep(0.1)
        t.join(REDIS_TIMEOUT_S + 5)
        assert answer.get('status') == 503, answer
        assert answer['elapsed'] < REDIS_TIMEOUT_S + 1.5, answer
    finally:
        redis.proc.send_signal(signal.SIGCONT)


# ---- 10b. Redis named by a host name ---------------------------------------------------------

def test_a_node_reaches_redis_by_host_name(herald, redis):
    """`redis_server localhost:PORT`: the name is resolved off the event loop, each of its
    addresses tried; the node shares channels with a node that names Redis by address."""
    prefix = 't%s:' % os.urandom(4).hex()
    named = node_config([redis.port], prefix).replace(
        'redis_server 127.0.0.1:%d;' % redis.port, 'redis_server localhost:%d;' % redis.port)
    assert 'redis_server localhost:' in named
    a = herald(named, files={'www/index.html': 'static'})
    b = herald(node_config([redis.port], prefix), files={'www/index.html': 'static'})
    w = published_id(a, 'named', 'from a')
    sse = Stream(b.port, '/sse/named?since=0')
    assert [(e['id'], e['data']) for e in sse_wait(sse, 1)] == [(w, 'from a')]
    sse_a = Stream(a.port, '/sse/named?since=' + w)
    m = published_id(b, 'named', 'from b')
    assert [(e['id'], e['data']) for e in sse_wait(sse_a, 1)] == [(m, 'from b')]
    assert split_id(m) == (split_id(w)[0], split_id(w)[1] + 1)
    deadline = time.monotonic() + 3  # /status's Redis figures are refreshed each second
    while True:
        r = json.loads(a.get('/status')[2])['redis']
        if r['commands']['connected'] and r['pubsub']['connected']:
            break
        assert time.monotonic() < deadline, r
        time.sleep(0.1)
    sse.close()
    sse_a.close()


def test_a_name_that_does_not_resolve_gives_503_and_never_blocks_the_loop(herald, redis):
    """A name no resolver knows: publishes answer 503 (never 201), static files are served
    between them, and the log says why (NXDOMAIN, or a timeout where no name server answers).
    That a lookup which hangs never holds the loop is checked in tests/test_net_resolver.cpp
    with a lookup made to wait; here DNS may answer at once."""
    conf = node_config([redis.port], 'tnx:').replace(
        'redis_server 127.0.0.1:%d;' % redis.port, 'redis_server no-such-host.invalid:6379;')
    a = herald(conf, files={'www/index.html': 'static'})
    for _ in range(3):
        t0 = time.monotonic()
        status, _, body = publish(a, 'x', 'lost')
        assert status == 503, (status, body)
        assert json.loads(body)['error'], body
        c = Conn(a.port)
        assert c.request('GET', '/index.html')[::2] == (200, b'static')
        c.close()
        assert time.monotonic() - t0 < REDIS_TIMEOUT_S + 2
    assert a.wait_log(r'redis no-such-host\.invalid:6379: (cannot resolve the host name: .+|'
                      r'resolving the host name timed out)', timeout=10), a.log()


# ---- 11. frames sent before the 101 --------------------------------------------------------

@pytest.mark.parametrize('pings', [1, 200])
def test_frames_sent_before_the_101_are_read_once_the_subscribe_is_answered(nodes, pings):
    """A client that sends frames right behind its upgrade request (before the 101, while the
    node waits for Redis to subscribe it) gets them read once it is upgraded: one ping, or more
    than a held request's worth of input (reading paused meanwhile), all answered."""
    a = nodes()
    published_id(a, 'early', 'warm-up')
    c = Conn(a.port, timeout=WAIT)
    c.send(build_request('GET', '/ws/early', headers={
        'Upgrade': 'websocket', 'Connection': 'Upgrade', 'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': ws_key()}) +
        b''.join(ws_client_frame(0x9, b'p%03d' % i + b'.' * 120) for i in range(pings)))
    status, _ = c.head()
    assert status == 101
    pongs = []
    while len(pongs) < pings:
        op, payload = c.read_frame()
        assert op == 0xA, (op, payload)
        pongs.append(payload[:4])
    assert pongs == [b'p%03d' % i for i in range(pings)]
    c.close()


# ---- 12. a resume ahead of this node's copy ----------------------------------------------------

def test_a_resume_point_this_node_has_not_received_yet_is_not_missed(nodes, redis):
    """A client that saw id N on node A resumes on node B before B's copy got N (B's pub/sub
    link is cut and not back yet): B catches up from Redis first, so N is a resume point like
    any other, not "an id the channel never had" (the missed signal and a replay)."""
    a, b = nodes(), nodes()
    w = published_id(a, 'lag', 'w')
    sse = Stream(b.port, '/sse/lag?since=0')  # B follows the channel
    assert sse_wait(sse, 1)[0]['id'] == w
    assert redis.cmd('CLIENT', 'KILL', 'TYPE', 'pubsub') >= 1
    m = published_id(a, 'lag', 'm')
    c = Conn(b.port)
    status, h, body = c.request('GET', '/poll/lag?since=' + m)
    c.close()
    assert status == 304 and 'x-herald-missed' not in h, (status, h, body)
    resumed = Stream(b.port, '/sse/lag', headers={'Last-Event-ID': m})
    n = published_id(a, 'lag', 'n')
    resumed.wait_for(lambda st: any(e['id'] == n for e in sse_events(st)), WAIT)
    assert [(e['event'], e['id']) for e in sse_events(resumed)] == [('message', n)]
    for st in (sse, resumed):
        st.close()


# ---- 13. three nodes -------------------------------------------------------------------------

def test_three_nodes_every_strategy_and_a_resume_on_the_third(nodes):
    a, b, c = nodes(), nodes(), nodes()
    w = published_id(a, 'tri', 'warm-up')
    # B and C share the five strategies; each has read the warm-up message (it has joined).
    sse = Stream(b.port, '/sse/tri?since=0')
    ws = Ws(b.port, '/ws/tri?since=0&format=json')
    ifr = Stream(c.port, '/if/tri?since=0')
    assert [e['id'] for e in sse_wait(sse, 1)] == [w] and ws_json(ws)['id'] == w
    ifr.wait_for(lambda st: len(parse_iframe(st.body)) >= 1, WAIT)
    lp = Conn(c.port)
    lp.send(build_request('GET', '/lp/tri?since=' + w))
    m = published_id(a, 'tri', 'hello')
    assert [(e['id'], e['data']) for e in sse_wait(sse, 2)][1] == (m, 'hello')
    env = ws_json(ws)
    assert (env['id'], env['data']) == (m, 'hello')
    ifr.wait_for(lambda st: len(parse_iframe(st.body)) >= 2, WAIT)
    assert parse_iframe(ifr.body)[1][1][:2] == ['hello', m]
    lp.sock.settimeout(WAIT)
    status, h, body = lp.response()
    assert (status, body, etag_text(h)) == (200, b'hello', m)
    h, body = poll_until(c.port, '/poll/tri?since=' + w)
    assert (body, etag_text(h)) == (b'hello', m)
    for conn in (sse, ws, ifr, lp):
        conn.close()

    # A client that got id m from node A (its publish answer) resumes on C after messages
    # published on B: exactly those, no missed signal.
    later = [published_id(b, 'tri', 'l%d' % k) for k in range(3)]
    sse = Stream(c.port, '/sse/tri', headers={'Last-Event-ID': m})
    events = sse_wait(sse, 3)
    assert [(e['event'], e['id'], e['data']) for e in events] == [
        ('message', i, 'l%d' % k) for k, i in enumerate(later)]
    sse.close()


# ---- 14. the loss test: reconnect storms across three nodes ----------------------------------

STORM_N = 150         # messages published
STORM_SUBSCRIBERS = 6  # half SSE, half WebSocket


def storm_subscriber(ports, k, last_id, got, problems, stop, channel='storm'):
    """Reads channel from since=0, reconnecting with its last id on the next node after a few
    messages each time, until last_id[0] (the publisher's last id) is read or stop."""
    node = k % len(ports)
    since = '0'
    step = 3 + k  # messages per connection before reconnecting elsewhere
    use_ws = k % 2 == 1
    while not stop.is_set():
        port = ports[node]
        node = (node + 1) % len(ports)
        n = 0
        if use_ws:
            conn = Ws(port, '/ws/%s?since=%s&format=json' % (channel, since))
            if conn.status != 101:
                problems.append('ws status %s' % conn.status)
                return
        elif since == '0':
            conn = Stream(port, '/sse/%s?since=0' % channel)
        else:
            conn = Stream(port, '/sse/' + channel, headers={'Last-Event-ID': since})
        seen = 0  # SSE events already taken from conn
        try:
            while n < step and not stop.is_set():
                if use_ws:
                    try:
                        op, payload = conn.recv(0.5)
                    except socket.timeout:
                        if last_id and since == last_id[0]:
                            return
                        continue
                    except (OSError, EOFError):
                        break
                    if op == 0x8:
                        break
                    assert op == 0x1, (op, payload)
                    env = json.loads(payload)
                    if 'id' not in env:
                        problems.append('signal %r' % env)
                        continue
                    items = [(env['id'], env['data'])]
                else:
                    conn.pump(0.5)
                    events = sse_events(conn)
                    new, seen = events[seen:], len(events)
                    for e in new:
                        if e['event'] != 'message':
                            problems.append('event %r' % e)
                    items = [(e['id'], e['data']) for e in new if e['event'] == 'message']
                    if not items and last_id and since == last_id[0]:
                        return
                    if conn.ended or conn.eof:
                        break
                for mid, data in items:
                    got.append((mid, data))
                    since = mid
                    n += 1
                if last_id and since == last_id[0]:
                    return
        finally:
            conn.close()


def run_storm(ports, chans, per_channel, subscribers_per_channel):
    """Publishes per_channel messages on each of chans, round robin over the channels and the
    nodes (ports), while subscribers_per_channel storm subscribers per channel hop between the
    nodes; asserts every subscriber read exactly its channel's messages, in order, once."""
    stop, problems = threading.Event(), []
    last = {ch: [] for ch in chans}
    gots = {(ch, k): [] for ch in chans for k in range(subscribers_per_channel)}
    subs = [threading.Thread(target=storm_subscriber,
                             args=(ports, k, last[ch], gots[(ch, k)], problems, stop, ch))
            for (ch, k) in gots]
    for t in subs:
        t.start()
    sent = {ch: [] for ch in chans}
    conns = [Conn(p, timeout=REDIS_TIMEOUT_S + 5) for p in ports]
    try:
        for i in range(per_channel * len(chans)):
            ch = chans[i % len(chans)]
            status, _, body = conns[i % len(conns)].request(
                'POST', '/pub?channel=' + ch, body='s%d' % i,
                headers={'Content-Type': 'text/plain'})
            assert status == 201, (status, body)
            sent[ch].append((json.loads(body)['id'], 's%d' % i))
    finally:
        for conn in conns:
            conn.close()
    for ch in chans:
        last[ch].append(sent[ch][-1][0])
    deadline = time.monotonic() + 20
    for t in subs:
        t.join(max(0.1, deadline - time.monotonic()))
    stop.set()
    for t in subs:
        t.join(2)
    assert not problems, problems
    for (ch, k), got in gots.items():
        assert got == sent[ch], (ch, k, len(got), len(sent[ch]),
                                 [x for x in got if x not in sent[ch]][:3],
                                 [x for x in sent[ch] if x not in got][:3])


def test_reconnect_storm_across_three_nodes_loses_nothing(nodes):
    ports = [nodes().port for _ in range(3)]
    run_storm(ports, ['storm'], STORM_N, STORM_SUBSCRIBERS)


# ---- 15. faults: Redis stopped, Redis killed and restarted -----------------------------------

def timed_publish(srv, channel, data):
    t0 = time.monotonic()
    status, h, body = publish(srv, channel, data)
    return status, h, body, time.monotonic() - t0


def get(srv, path):
    c = Conn(srv.port)
    try:
        status, _, body = c.request('GET', path)
    finally:
        c.close()
    return status, body


def test_sigstop_mid_stream_503_then_every_message_after_sigcont(nodes, redis):
    a, b = nodes(), nodes()
    w = published_id(a, 'halt', 'w')
    sse = Stream(b.port, '/sse/halt?since=0')
    ws = Ws(b.port, '/ws/halt?since=0&format=json')
    assert sse_wait(sse, 1)[0]['id'] == w and ws_json(ws)['id'] == w
    confirmed = [(w, 'w')] + [(published_id(a, 'halt', 'b%d' % k), 'b%d' % k) for k in range(3)]
    refused = []
    redis.proc.send_signal(signal.SIGSTOP)
    try:
        for k in range(2):
            status, h, body, took = timed_publish(a, 'halt', 'x%d' % k)
            assert status == 503, (status, body)
            assert h.get('retry-after') == '1' and json.loads(body)['error'], (h, body)
            assert REDIS_TIMEOUT_S * 0.8 <= took < REDIS_TIMEOUT_S + 1.5, took
            refused.append('x%d' % k)
            # Requests that need no Redis are answered on both nodes (that they are answered
            # while a publish waits is test_a_stopped_redis_never_blocks_the_event_loop's).
            for srv in (a, b):
                for path in ('/index.html', '/status'):
                    assert get(srv, path)[0] == 200, path
        assert not (sse.ended or sse.eof), bytes(sse.body)  # still connected
    finally:
        redis.proc.send_signal(signal.SIGCONT)
    body = publish_when_back(a, 'halt', 'after', refused)
    confirmed.append((json.loads(body)['id'], 'after'))
    confirmed += [(published_id(a, 'halt', 'c%d' % k), 'c%d' % k) for k in range(3)]
    last = confirmed[-1][0]

    # Every confirmed message arrives, in order, once; a refused one may arrive too (Redis ran
    # the command that timed out once it woke up), but only once and in its place. Or the
    # stream ends (a reset) and a reconnect with the last id gets the missed signal.
    def check(items, missed):
        ids = [i for i, _ in items]
        assert len(set(ids)) == len(ids), items
        assert [x for x in items if x in confirmed] == confirmed[:len(
            [x for x in items if x in confirmed])], items
        assert all(x in confirmed or x[1] in refused for x in items), items
        if not missed:
            assert [x for x in items if x in confirmed] == confirmed, items

    sse.wait_for(lambda st: st.ended or st.eof or any(
        e['id'] == last for e in sse_events(st)), WAIT + REDIS_TIMEOUT_S)
    events = sse_events(sse)
    if sse.ended or sse.eof:
        sse.close()
        resumed = Stream(b.port, '/sse/halt', headers={'Last-Event-ID': events[-1]['id']})
        resumed.wait_for(lambda st: any(e['id'] == last for e in sse_events(st)), WAIT)
        assert sse_events(resumed)[0]['event'] == 'herald-missed'
        resumed.close()
    else:
        check([(e['id'], e['data']) for e in events if e['event'] == 'message'], False)
        sse.close()
    confirmed = confirmed[1:]  # the WebSocket read the warm-up message already
    items = []
    while not items or items[-1][0] != last:
        op, payload = ws.recv(WAIT + REDIS_TIMEOUT_S)
        if op == 0x8:
            assert close_code(payload) in (1001, 1012), payload
            break
        env = json.loads(payload)
        assert 'id' in env, env  # no missed signal on a continuous stream
        items.append((env['id'], env['data']))
    else:
        check(items, False)
    ws.close()


def test_redis_killed_and_restarted_mid_stream(nodes, redis):
    a, b = nodes(), nodes()
    old = [published_id(a, 'crash', 'o%d' % k) for k in range(3)]
    sse = Stream(b.port, '/sse/crash?since=0')
    ws = Ws(b.port, '/ws/crash?since=0&format=json')
    assert [e['id'] for e in sse_wait(sse, 3)] == old
    assert [ws_json(ws)['id'] for _ in range(3)] == old
    redis.kill()
    status, h, body, took = timed_publish(a, 'crash', 'lost')
    assert status == 503 and h.get('retry-after') == '1', (status, body)
    assert took < REDIS_TIMEOUT_S + 1.5, took
    assert get(b, '/index.html')[0] == 200
    redis.start()  # the same port, empty: no persistence
    body = publish_when_back(a, 'crash', 'n0')
    new = [json.loads(body)['id']] + [published_id(a, 'crash', 'n%d' % k) for k in (1, 2)]
    assert split_id(new[0])[0] != split_id(old[0])[0], (old, new)  # a new epoch
    assert [split_id(i)[1] for i in new] == [1, 2, 3]
    want = [(i, 'n%d' % k) for k, i in enumerate(new)]

    # Never the new ids served as continuous: the old stream ends (or signals missed) and a
    # reconnect with the last id seen gets the missed signal, then the new life.
    sse.wait_for(lambda st: st.ended or st.eof or any(
        e['event'] == 'herald-missed' for e in sse_events(st)), WAIT)
    events = sse_events(sse)[3:]
    assert all(e['id'] not in new or any(x['event'] == 'herald-missed' for x in events)
               for e in events), events
    sse.close()
    resumed = Stream(b.port, '/sse/crash', headers={'Last-Event-ID': old[-1]})
    resumed.wait_for(lambda st: len([e for e in sse_events(st) if e['event'] == 'message']) >= 3,
                     WAIT)
    events = sse_events(resumed)
    assert events[0]['event'] == 'herald-missed', events
    assert [(e['id'], e['data']) for e in events if e['event'] == 'message'] == want
    resumed.close()

    op, payload = ws.recv(WAIT)
    if op == 0x8:
        assert close_code(payload) in (1001, 1012), payload
    else:
        assert json.loads(payload).get('herald') == 'missed', payload
    ws.close()
    ws = Ws(b.port, '/ws/crash?since=%s&format=json' % old[-1])
    frames = [ws_json(ws) for _ in range(4)]
    assert frames[0].get('herald') == 'missed', frames
    assert [(f['id'], f['data']) for f in frames[1:]] == want
    ws.close()
