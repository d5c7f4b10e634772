"""Cross-thread fan-out (issue 4): with `worker_threads 4`, 40 subscribers of every strategy
(8 each) land on the four event loops (each worker has its own SO_REUSEPORT listener and the
kernel hashes connections over them), four publishers post concurrently over their own
connections (so messages are published from several threads at once), and every subscriber
must receive every message exactly once, in id order, with the same id -> message mapping as
every other subscriber."""
import json
import threading
import time

from push_clients import (Conn, IframeParser, SseParser, build_request, etag_id, publish, ws_key)

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
        location /poll/ { push polling;      channel $tail; }
        location /lp/   { push long-polling; channel $tail; }
        location /if/   { push iframe;       channel $tail; }
        location /sse/  { push sse;          channel $tail; }
        location /ws/   { push websocket;    channel $tail; }
        location = /pub { publish; channel $arg_channel; }
        location = /status { status; }
    }
}
'''


def poll_walk(c, path, out, deadline, idle):
    since = 0
    while len(out) < M and time.monotonic() < deadline:
        status, h, body = c.request('GET', '%s?since=%d' % (path, since))
        if status == 200:
            since = etag_id(h)
            out.append((since, body.decode()))
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
            stream(c, out, deadline, lambda b: [(int(e['id']), e['data'])
                                                for e in p.feed(b.decode())])
        elif kind == 'iframe':
            c.send(build_request('GET', '/if/x?since=0'))
            ready.set()
            p = IframeParser()
            stream(c, out, deadline, lambda b: [(int(a[1]), a[0]) for _, a in p.feed(b)])
        else:
            c.send(build_request('GET', '/ws/x?since=0&format=json', headers={
                'Upgrade': 'websocket', 'Connection': 'Upgrade', 'Sec-WebSocket-Version': '13',
                'Sec-WebSocket-Key': ws_key()}))
            ready.set()
            assert c.head()[0] == 101
            for op, data in c.frames():
                assert op == 0x1
                env = json.loads(data)
                out.append((int(env['id']), env['data']))
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
        ids.append(int(info['id']))
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
