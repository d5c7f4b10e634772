"""Cross-thread fan-out: with `worker_threads 4`, 40 subscribers of every strategy
(8 each) land on the four event loops (each worker has its own SO_REUSEPORT listener and the
kernel hashes connections over them), four publishers post concurrently over their own
connections (so messages are published from several threads at once), and every subscriber
must receive every message exactly once, in id order, with the same id -> message mapping as
every other subscriber. Also: a DELETE reaches subscribers on every thread, and a churn of
channel deletes, autocreates and reloads under concurrent publishers and subscribers leaves
herald serving correctly (and clean under ASan/TSan: `make tsan` runs this file too)."""
import json
import random
import signal
import socket
import struct
import threading
import time

from push_clients import (STRATEGY_ROUTES, Conn, IframeParser, SseParser, Stream, Ws, build_request, etag_id,
                          etag_text, id_seq, publish, ws_client_frame, ws_key)

PUBLISHERS = 4
PER_PUBLISHER = 100
M = PUBLISHERS * PER_PUBLISHER
PER_STRATEGY = 8

CONF = '''
error_log stderr notice;
worker_threads 4;
http {
    access_log off;
    longpoll_timeout 2s;
    ws_ping_interval 0;
    channel x { buffer 1000; }
    server {
        listen 127.0.0.1:0;
''' + STRATEGY_ROUTES + '''        location = /status { status; }
    }
}
'''


def poll_walk(c, path, out, deadline, idle):
    since = '0'
    while len(out) < M and time.monotonic() < deadline:
        status, h, body = c.request('GET', '%s?since=%s' % (path, since))
        if status == 200:
            since = etag_text(h)
            out.append((id_seq(since), body.decode()))
        else:
            assert status in (204, 304), status
            time.sleep(idle)


def stream(c, out, deadline, decode):
    assert c.head()[0] in (101, 200)
    for item in c.chunks():
        out.extend(decode(item))
        if len(out) >= M or time.monotonic() > deadline:
            return


def subscriber(kind, port, out, ready, deadline):
    c = Conn(port, timeout=10)
    try:
        if kind == 'polling':
            ready.set()
            poll_walk(c, '/poll/x', out, deadline, 0.02)
        elif kind == 'long-polling':
            ready.set()
            poll_walk(c, '/lp/x', out, deadline, 0)
        elif kind == 'sse':
            c.send(build_request('GET', '/sse/x?since=0'))
            ready.set()
            p = SseParser()
            stream(c, out, deadline, lambda b: [(id_seq(e['id']), e['data'])
                                                for e in p.feed(b.decode())])
        elif kind == 'iframe':
            c.send(build_request('GET', '/if/x?since=0'))
            ready.set()
            p = IframeParser()
            stream(c, out, deadline, lambda b: [(id_seq(a[1]), a[0]) for _, a in p.feed(b)])
        else:
            c.send(build_request('GET', '/ws/x?since=0&format=json', headers={
                'Upgrade': 'websocket', 'Connection': 'Upgrade', 'Sec-WebSocket-Version': '13',
                'Sec-WebSocket-Key': ws_key()}))
            ready.set()
            assert c.head()[0] == 101
            for op, data in c.frames():
                assert op == 0x1
                env = json.loads(data)
                out.append((id_seq(env['id']), env['data']))
                if len(out) >= M or time.monotonic() > deadline:
                    break
    except Exception as e:  # reported through the missing messages
        out.append(('error', repr(e)))
    finally:
        c.close()


def publisher(srv, k, ids):
    c = Conn(srv.port)
    for i in range(PER_PUBLISHER):
        status, info = publish(srv, 'x', 'p%d-%d' % (k, i), conn=c)
        assert status == 201
        ids.append(id_seq(info['id']))
    c.close()


def test_every_subscriber_on_every_thread_gets_every_message(herald):
    srv = herald(CONF)
    deadline = time.monotonic() + 20
    threads, outs = [], {}
    for kind in ('polling', 'long-polling', 'iframe', 'sse', 'websocket'):
        for k in range(PER_STRATEGY):
            out, ready = [], threading.Event()
            outs['%s#%d' % (kind, k)] = out
            t = threading.Thread(target=subscriber, args=(kind, srv.port, out, ready, deadline),
                                 daemon=True)
            t.start()
            ready.wait(5)
            threads.append(t)
    status = json.loads(Conn(srv.port).request('GET', '/status')[2])
    assert status['workers'] == 4
    pub_ids = [[] for _ in range(PUBLISHERS)]
    pubs = [threading.Thread(target=publisher, args=(srv, k, pub_ids[k]), daemon=True)
            for k in range(PUBLISHERS)]
    for t in pubs:
        t.start()
    for t in pubs + threads:
        t.join(max(0.1, deadline - time.monotonic()))
    # Every publisher saw its own messages get increasing ids; together they cover 1..M.
    for ids in pub_ids:
        assert ids == sorted(ids) and len(ids) == PER_PUBLISHER
    assert sorted(i for ids in pub_ids for i in ids) == list(range(1, M + 1))
    reference = None
    for name, out in outs.items():
        assert [i for i, _ in out] == list(range(1, M + 1)), '%s: %r' % (name, out[-3:])
        if reference is None:
            reference = out
            assert sorted(d for _, d in out) == sorted(
                'p%d-%d' % (k, i) for k in range(PUBLISHERS) for i in range(PER_PUBLISHER))
            # Each publisher's messages keep their order.
            for k in range(PUBLISHERS):
                mine = [d for _, d in out if d.startswith('p%d-' % k)]
                assert mine == ['p%d-%d' % (k, i) for i in range(PER_PUBLISHER)]
        assert out == reference, name  # the same id -> message everywhere


def test_delete_reaches_subscribers_on_every_thread(herald):
    srv = herald(CONF)
    streams = [Stream(srv.port, '/sse/x?since=0') for _ in range(10)]
    streams += [Stream(srv.port, '/if/x?since=0') for _ in range(10)]
    sockets = [Ws(srv.port, '/ws/x') for _ in range(10)]
    polls = []
    for _ in range(10):
        p = Conn(srv.port)
        p.send(build_request('GET', '/lp/x?since=0'))
        polls.append(p)
    c = Conn(srv.port)
    deadline = time.monotonic() + 5
    while json.loads(c.request('GET', '/pub?channel=x')[2])['total_subscribers'] < 40:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert c.request('DELETE', '/pub?channel=x')[0] == 200
    for s in streams:
        s.wait_for(lambda x: x.ended)
        s.close()
    for w in sockets:
        op, payload = w.recv(timeout=3)
        assert op == 0x8 and payload[:2] == b'\x03\xe8'
        w.close()
    for p in polls:
        p.sock.settimeout(3)
        assert p.response()[0] == 410
        p.close()
    st = json.loads(c.request('GET', '/status')[2])
    assert st['channels'] == 0 and sum(st['subscribers'].values()) == 0
    c.close()


CHURN = '''
error_log stderr notice;
worker_threads 4;
http {
    access_log off;
    AUTOCREATE
    longpoll_timeout 1s;
    stream_keepalive 1s;
    ws_ping_interval 0;
    server {
        listen 127.0.0.1:0;
''' + STRATEGY_ROUTES.replace('websocket;    channel $tail;',
                             'websocket;    channel $tail; publish on;') + '''    }
}
'''
CHURN_ON = CHURN.replace('AUTOCREATE', 'channel_autocreate on;')
CHURN_OFF = CHURN.replace('AUTOCREATE', 'channel c0 { buffer 7; } channel c2 { buffer 3; ttl 1s; }')


def test_churn_of_channels_subscribers_and_reloads(herald):
    """Channels deleted, autocreated and reconciled by reloads while publishers on several
    threads publish and subscribers of every strategy come and go (reset or closed, mid
    message): herald must stay up, answer correctly afterwards and exit cleanly."""
    srv = herald(CHURN_ON)
    stop = time.monotonic() + 3
    failures = []

    def guard(fn, *args):
        def run():
            try:
                fn(*args)
            except Exception as e:  # reported by the assert below
                failures.append(repr(e))
        return threading.Thread(target=run, daemon=True)

    def publisher(seed):
        rng = random.Random(seed)
        while time.monotonic() < stop:
            c = Conn(srv.port)
            for _ in range(rng.randint(1, 40)):
                status = c.request('POST', '/pub?channel=c%d' % rng.randint(0, 3),
                                   body='x' * rng.randint(0, 3000))[0]
                assert status in (201, 404), status
            c.close()

    def deleter():
        rng = random.Random(7)
        while time.monotonic() < stop:
            c = Conn(srv.port)
            assert c.request('DELETE', '/pub?channel=c%d' % rng.randint(0, 3))[0] in (200, 404)
            c.close()
            time.sleep(rng.uniform(0, 0.04))

    def reloader():
        rng = random.Random(11)
        while time.monotonic() < stop:
            time.sleep(rng.uniform(0.1, 0.3))
            srv.write_conf(CHURN_ON if rng.random() < 0.5 else CHURN_OFF)
            srv.signal(signal.SIGHUP)

    def subscriber(seed):
        rng = random.Random(seed)
        while time.monotonic() < stop:
            kind = rng.choice(['poll', 'lp', 'if', 'sse', 'ws'])
            since = rng.choice(['', '?since=0', '?since=%d' % rng.randint(0, 300)])
            headers = {'Upgrade': 'websocket', 'Connection': 'Upgrade', 'Sec-WebSocket-Key':
                       ws_key(), 'Sec-WebSocket-Version': '13'} if kind == 'ws' else None
            c = Conn(srv.port, timeout=0.5)
            c.send(build_request('GET', '/%s/c%d%s' % (kind, rng.randint(0, 3), since),
                                 headers=headers))
            end = time.monotonic() + rng.uniform(0, 0.4)
            try:
                while time.monotonic() < end and c.fill(max(0.01, end - time.monotonic())):
                    if kind == 'ws' and rng.random() < 0.2:
                        c.send(ws_client_frame(0x1, 'chat'))
            except (socket.timeout, ConnectionError):
                pass
            if rng.random() < 0.5:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            c.close()

    threads = [guard(publisher, k) for k in range(3)] + [guard(deleter), guard(reloader)]
    threads += [guard(subscriber, 100 + k) for k in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not failures, failures
    # Still serving, with the configuration the last reload left.
    srv.write_conf(CHURN_OFF)
    srv.signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    c = Conn(srv.port)
    while c.request('POST', '/pub?channel=c1', body='x')[0] != 404:  # autocreate now off
        assert time.monotonic() < deadline
        time.sleep(0.05)
    status, info = publish(srv, 'c0', 'after the storm')
    assert status == 201
    status, h, body = c.request('GET', '/poll/c0')
    assert (etag_text(h), body) == (info['id'], b'after the storm')
    c.close()
