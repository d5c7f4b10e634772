"""The publisher API, channel DELETE, /status and access control over real sockets:
POST/PUT -> 201 {"id","channel","subscribers"}, GET channel info, DELETE closing every kind of
subscriber (WebSocket close 1000, SSE/iframe last chunk, held long-poll 410), 413/404/400/403,
channel_autocreate, allow/deny by address, and /status as JSON and Prometheus text."""
import json
import re
import socket
import struct
import time

import pytest

from push_clients import Conn, Life, Stream, Ws, build_request, channel_life, id_life, parse_sse, publish
from harness import memory_broker_only

CONF = '''
error_log stderr info;
http {
    access_log off;
    client_max_body_size 1k;
    ws_ping_interval 0;
    channel a { buffer 10; }
    channel b { buffer 10; }
    server {
        listen 127.0.0.1:0;
        location /poll/   { push polling;      channel $tail; }
        location /lp/     { push long-polling; channel $tail; longpoll_timeout 30s; }
        location /sse/    { push sse;          channel $tail; }
        location /if/     { push iframe;       channel $tail; }
        location /ws/     { push websocket;    channel $tail; }
        location = /pub   { publish; channel $arg_channel; }
        location = /pubput { publish; channel a; }
        location = /big   { publish; channel $arg_channel; client_max_body_size 64k; }
        location = /local { publish; channel $arg_channel; allow 127.0.0.1; deny all; }
        location = /nolocal { publish; channel $arg_channel; deny 127.0.0.1; }
        location = /net   { publish; channel $arg_channel;
                            deny 127.0.0.3; allow 127.0.0.0/30; deny all; }
        location = /pubcors { publish; channel $arg_channel; allow_origin https://good.example; }
        location = /wspub { push websocket; channel a; publish on;
                            allow_origin https://good.example; }
        location = /status { status; }
    }
}
'''


@pytest.fixture
def srv(herald):
    return herald(CONF)


def req(srv, method, path, body=None, headers=None, source=None):
    c = Conn(srv.port, source=source)
    try:
        return c.request(method, path, body=body, headers=headers)
    finally:
        c.close()


def status_json(srv):
    status, h, body = req(srv, 'GET', '/status')
    assert status == 200 and h['content-type'].startswith('application/json')
    return json.loads(body)


def wait_subscribers(srv, strategy, n, timeout=3):
    deadline = time.time() + timeout
    while status_json(srv)['subscribers'][strategy] != n:
        assert time.time() < deadline, 'expected %d %s subscribers: %r' % (
            n, strategy, status_json(srv))
        time.sleep(0.02)


def test_post_and_put_publish(srv):
    status, h, body = req(srv, 'POST', '/pub?channel=a', body='one',
                          headers={'Content-Type': 'text/plain'})
    assert status == 201 and h['content-type'].startswith('application/json')
    first = json.loads(body)
    L = Life.of(first['id'])
    assert first == {'id': L(1), 'channel': 'a', 'subscribers': 0}
    status, info = publish(srv, 'a', 'two', method='PUT')
    assert status == 201 and info['id'] == L(2)
    status, h, body = req(srv, 'PUT', '/pubput', body='three')  # literal channel
    assert status == 201 and json.loads(body)['id'] == L(3)
    assert req(srv, 'GET', '/poll/a')[2] == b'three'
    # Ids are per channel, and so is the life they name.
    other = publish(srv, 'b', 'x')[1]['id']
    assert Life.of(other)(1) == other and id_life(other) != L.life


def test_publish_counts_subscribers(srv):
    streams = [Stream(srv.port, '/sse/a') for _ in range(2)] + [Stream(srv.port, '/if/a')]
    ws = Ws(srv.port, '/ws/a')
    assert ws.status == 101
    wait_subscribers(srv, 'websocket', 1)
    status, info = publish(srv, 'a', 'hi')
    assert info['subscribers'] == 4
    for s in streams:
        s.close()
    ws.close()


def test_content_type_is_kept_per_strategy(srv):
    ws = Ws(srv.port, '/ws/a')
    wait_subscribers(srv, 'websocket', 1)
    publish(srv, 'a', b'\x00\x01\xff', ctype='application/octet-stream')
    publish(srv, 'a', '{"k":"v"}', ctype='application/json')
    assert ws.recv() == (0x2, b'\x00\x01\xff')  # binary frame for a non-text type
    assert ws.recv() == (0x1, b'{"k":"v"}')
    status, h, body = req(srv, 'GET', '/poll/a?since=0')
    assert h['content-type'] == 'application/octet-stream' and body == b'\x00\x01\xff'
    ws.close()


def test_get_channel_info(srv):
    for i in range(12):
        publish(srv, 'a', 'm%d' % i)  # buffer 10
    sse = Stream(srv.port, '/sse/a')
    lp = Conn(srv.port)
    L = channel_life(srv, 'a')
    lp.send(build_request('GET', '/lp/a?since=' + L(12)))
    ws = Ws(srv.port, '/ws/a')
    wait_subscribers(srv, 'websocket', 1)
    wait_subscribers(srv, 'long-polling', 1)
    status, h, body = req(srv, 'GET', '/pub?channel=a')
    assert status == 200
    info = json.loads(body)
    assert info['channel'] == 'a'
    assert info['subscribers'] == {'polling': 0, 'long-polling': 1, 'iframe': 0, 'sse': 1,
                                   'websocket': 1}
    assert info['buffered'] == 10
    assert info['first_id'] == L(3) and info['last_id'] == L(12)
    assert info['published'] == 12
    assert req(srv, 'GET', '/pub?channel=nope')[0] == 404
    for c in (sse, lp, ws):
        c.close()


def test_delete_closes_every_subscriber(srv):
    publish(srv, 'a', 'before')
    sse = Stream(srv.port, '/sse/a?since=0')
    ifr = Stream(srv.port, '/if/a?since=0')
    ws = Ws(srv.port, '/ws/a?since=0')
    assert ws.status == 101
    lp = Conn(srv.port)
    lp.send(build_request('GET', '/lp/a?since=' + channel_life(srv, 'a')(1)))
    wait_subscribers(srv, 'long-polling', 1)
    wait_subscribers(srv, 'websocket', 1)
    status, h, body = req(srv, 'DELETE', '/pub?channel=a')
    assert status == 200 and json.loads(body) == {'channel': 'a', 'deleted': True}
    # WebSocket: the buffered message, then close 1000.
    assert ws.recv() == (0x1, b'before')
    op, payload = ws.recv()
    assert op == 0x8 and struct.unpack('!H', payload[:2])[0] == 1000
    ws.close()
    # SSE and iframe: the terminating chunk.
    sse.wait_for(lambda s: s.ended)
    assert [e['data'] for e in parse_sse(sse.body)[0]] == ['before']
    ifr.wait_for(lambda s: s.ended)
    assert b'"before"' in ifr.body
    # Held long-poll: 410.
    lp.sock.settimeout(3)
    assert lp.response()[0] == 410
    for c in (sse, ifr, lp):
        c.close()
    # The channel is gone for every verb and strategy.
    assert req(srv, 'GET', '/pub?channel=a')[0] == 404
    assert req(srv, 'POST', '/pub?channel=a', body='x')[0] == 404
    assert req(srv, 'DELETE', '/pub?channel=a')[0] == 404
    assert req(srv, 'GET', '/poll/a')[0] == 404
    assert Ws(srv.port, '/ws/a').status == 404
    st = status_json(srv)
    assert st['channels'] == 1
    assert all(v == 0 for v in st['subscribers'].values())
    # Other channels are untouched.
    assert publish(srv, 'b', 'still here')[0] == 201


def test_body_over_client_max_body_size_is_413(srv):
    assert req(srv, 'POST', '/pub?channel=a', body='x' * 1024)[0] == 201
    assert req(srv, 'POST', '/pub?channel=a', body='x' * 1025)[0] == 413
    # Chunked bodies are held to the same limit.
    c = Conn(srv.port)
    c.send(b'POST /pub?channel=a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'
           b'400\r\n' + b'y' * 1024 + b'\r\n10\r\n' + b'z' * 16 + b'\r\n0\r\n\r\n')
    assert c.response()[0] == 413
    c.close()
    # Per-location limit.
    assert req(srv, 'POST', '/big?channel=a', body='x' * 60000)[0] == 201
    assert req(srv, 'POST', '/big?channel=a', body='x' * 70000)[0] == 413
    # Nothing over the limit was published.
    info = json.loads(req(srv, 'GET', '/pub?channel=a')[2])
    assert info['published'] == 2


def test_unknown_and_invalid_channels(srv):
    assert req(srv, 'POST', '/pub?channel=nope', body='x')[0] == 404
    assert req(srv, 'POST', '/pub?channel=bad/name', body='x')[0] == 400
    assert req(srv, 'POST', '/pub?channel=' + 'x' * 129, body='x')[0] == 400
    assert req(srv, 'POST', '/pub', body='x')[0] == 400
    assert req(srv, 'DELETE', '/pub?channel=bad%20name')[0] == 400
    assert req(srv, 'PATCH', '/pub?channel=a', body='x')[0] == 405


def test_channel_autocreate(herald):
    srv = herald(CONF.replace('access_log off;', 'access_log off; channel_autocreate on;'))
    # Asking about a channel does not create it (over Redis neither: no key is written).
    assert req(srv, 'GET', '/pub?channel=fresh')[0] == 404
    status, info = publish(srv, 'fresh', 'born')
    assert status == 201 and info == {'id': Life.of(info['id'])(1), 'channel': 'fresh',
                                      'subscribers': 0}
    assert req(srv, 'GET', '/poll/fresh')[2] == b'born'
    assert status_json(srv)['channels'] == 3
    assert req(srv, 'POST', '/pub?channel=bad*name', body='x')[0] == 400
    # A subscriber creates the channel too (channel_autocreate; test_push_idle.py has the rest).
    assert req(srv, 'GET', '/poll/other')[0] == 204
    assert status_json(srv)['channels'] == 4


@memory_broker_only("max_channels bounds the channels a node holds; a publish through Redis holds "
                    "none")
def test_max_channels_bounds_autocreate(herald):
    """Autocreated channels are bounded by max_channels (declared ones count too): past it a
    publish to a new name is refused with 503 and creates nothing."""
    srv = herald(CONF.replace('access_log off;', 'access_log off; channel_autocreate on; '
                              'max_channels 4;'))
    assert publish(srv, 'c1', 'x')[0] == 201
    assert publish(srv, 'c2', 'x')[0] == 201
    assert req(srv, 'POST', '/pub?channel=c3', body='x')[0] == 503
    assert status_json(srv)['channels'] == 4
    assert publish(srv, 'c1', 'y')[0] == 201  # existing channels still take messages
    assert req(srv, 'DELETE', '/pub?channel=c1')[0] == 200
    assert publish(srv, 'c3', 'x')[0] == 201  # room again
    assert req(srv, 'GET', '/poll/c4')[0] == 503  # subscribers are bounded the same way


def test_dot_channel_names_are_invalid(herald):
    """"." and ".." are path segments a URL normalizer removes, so a channel with such a name
    could be published but never subscribed: they are invalid names everywhere."""
    srv = herald(CONF.replace('access_log off;', 'access_log off; channel_autocreate on;'))
    for name in ('.', '..'):
        assert req(srv, 'POST', '/pub?channel=' + name, body='x')[0] == 400, name
        assert req(srv, 'GET', '/pub?channel=' + name)[0] == 400, name
        assert req(srv, 'DELETE', '/pub?channel=' + name)[0] == 400, name
    assert status_json(srv)['channels'] == 2
    assert publish(srv, '...', 'dots')[0] == 201  # only the two segment names are special
    assert req(srv, 'GET', '/poll/...')[2] == b'dots'


def can_bind(addr):
    try:
        s = socket.socket()
        s.bind((addr, 0))
        s.close()
        return True
    except OSError:
        return False


def test_allow_deny(srv):
    assert req(srv, 'POST', '/local?channel=a', body='x')[0] == 201
    assert req(srv, 'POST', '/nolocal?channel=a', body='x')[0] == 403
    assert req(srv, 'GET', '/nolocal?channel=a')[0] == 403  # every method
    if not can_bind('127.0.0.2'):
        pytest.skip('no 127.0.0.2 on this host')
    # Evaluated in order, first match wins (like nginx).
    assert req(srv, 'POST', '/local?channel=a', body='x', source='127.0.0.2')[0] == 403
    assert req(srv, 'POST', '/net?channel=a', body='x', source='127.0.0.2')[0] == 201
    assert req(srv, 'POST', '/net?channel=a', body='x', source='127.0.0.3')[0] == 403
    assert req(srv, 'POST', '/net?channel=a', body='x', source='127.0.0.4')[0] == 403
    assert req(srv, 'POST', '/nolocal?channel=a', body='x', source='127.0.0.2')[0] == 201


def test_publisher_cors(srv):
    status, h, _ = req(srv, 'POST', '/pubcors?channel=a', body='x',
                       headers={'Origin': 'https://good.example'})
    assert status == 201 and h['access-control-allow-origin'] == 'https://good.example'
    # Origins compare case-insensitively (RFC 6454), on every route alike.
    status, h, _ = req(srv, 'POST', '/pubcors?channel=a', body='y',
                       headers={'Origin': 'HTTPS://Good.Example'})
    assert status == 201


def test_publisher_refuses_unlisted_origins(srv):
    """allow_origin on a publish route: a browser request from an unlisted origin is refused
    before anything is published, and the preflight of a JSON publish is answered."""
    for method in ('POST', 'PUT', 'DELETE', 'GET'):
        status, h, _ = req(srv, method, '/pubcors?channel=a', body='evil',
                           headers={'Origin': 'https://evil.example'})
        assert status == 403 and 'access-control-allow-origin' not in h, method
    assert json.loads(req(srv, 'GET', '/pub?channel=a')[2])['published'] == 0
    assert req(srv, 'GET', '/poll/a')[0] == 204  # nothing reached the channel
    status, h, body = req(srv, 'OPTIONS', '/pubcors?channel=a', headers={
        'Origin': 'https://good.example', 'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type'})
    assert status == 204 and h['access-control-allow-origin'] == 'https://good.example'
    assert 'POST' in h['access-control-allow-methods']
    assert 'content-type' in h['access-control-allow-headers'].lower()
    status, h, body = req(srv, 'OPTIONS', '/pubcors?channel=a', headers={
        'Origin': 'https://evil.example', 'Access-Control-Request-Method': 'POST'})
    assert status == 403
    status, h, _ = req(srv, 'POST', '/pubcors?channel=a', body='{"a":1}', headers={
        'Origin': 'https://good.example', 'Content-Type': 'application/json'})
    assert status == 201
    # The WebSocket publish route: the upgrade itself is refused.
    ws = Ws(srv.port, '/wspub', headers={'Origin': 'https://evil.example'})
    assert ws.status == 403
    ws.close()
    ws = Ws(srv.port, '/wspub', headers={'Origin': 'https://good.example'})
    assert ws.status == 101
    ws.send_text('from ws')
    deadline = time.time() + 3
    while json.loads(req(srv, 'GET', '/pub?channel=a')[2])['published'] != 2:
        assert time.time() < deadline
        time.sleep(0.02)
    ws.close()


def test_status_json(srv):
    st = status_json(srv)
    for key in ('connections', 'requests', 'subscribers', 'channels', 'published', 'delivered',
                'dropped'):
        assert key in st, key
    assert set(st['subscribers']) == {'polling', 'long-polling', 'iframe', 'sse', 'websocket'}
    assert st['channels'] == 2 and st['published'] == 0
    sse = [Stream(srv.port, '/sse/a') for _ in range(3)]
    ws = Ws(srv.port, '/ws/b')
    wait_subscribers(srv, 'sse', 3)
    wait_subscribers(srv, 'websocket', 1)
    before = status_json(srv)
    assert before['connections'] >= 5  # 3 SSE, 1 WebSocket, the status request itself
    publish(srv, 'a', 'x')
    publish(srv, 'b', 'y')
    for s in sse:
        s.wait_for(lambda s: b'data: x' in s.body)
    assert ws.recv() == (0x1, b'y')
    after = status_json(srv)
    assert after['published'] == 2
    assert after['delivered'] - before['delivered'] == 4
    assert after['requests'] > before['requests']
    assert after['dropped'] == 0
    for s in sse:
        s.close()
    ws.close()
    wait_subscribers(srv, 'sse', 0)
    wait_subscribers(srv, 'websocket', 0)


def test_status_prometheus(srv):
    publish(srv, 'a', 'x')
    status, h, body = req(srv, 'GET', '/status?format=prometheus')
    assert status == 200 and h['content-type'].startswith('text/plain')
    text = body.decode()
    samples = {}
    for line in text.splitlines():
        if line.startswith('#'):
            assert re.match(r'# (HELP|TYPE) herald_\w+ ', line), line
            continue
        m = re.fullmatch(r'(herald_\w+(?:\{[^}]*\})?) (\d+(?:\.\d+)?(?:e[-+]?\d+)?)', line)
        assert m, line
        samples[m.group(1)] = float(m.group(2))
    assert samples['herald_messages_published_total'] == 1
    assert samples['herald_channels'] == 2
    for s in ('polling', 'long-polling', 'iframe', 'sse', 'websocket'):
        assert samples['herald_subscribers{strategy="%s"}' % s] == 0
    assert 'herald_connections' in samples and 'herald_requests_total' in samples
    # Every metric has exactly one TYPE line.
    names = re.findall(r'^# TYPE (\w+) ', text, re.M)
    assert len(names) == len(set(names))
    assert req(srv, 'POST', '/status', body='x')[0] == 405


@memory_broker_only("publish_backlog is the in-process fan-out's back-pressure")
def test_publish_backlog_answers_503_with_retry_after(herald):
    """Back-pressure: publishes that arrive while the subscribers' worker still has
    publish_backlog messages waiting for fan-out get 503 + Retry-After and store nothing; the
    subscriber gets exactly the accepted ones. Fifty publishes pipelined in one write reach one
    worker thread together, before it fans any of them out."""
    from harness import read_response
    srv = herald('''
error_log stderr info;
worker_threads 1;
http {
    access_log off;
    publish_backlog 2;
    channel bp { buffer 100; }
    server {
        listen 127.0.0.1:0;
        location /ws/ { push websocket; channel $tail; }
        location = /pub { publish; channel $arg_channel; }
    }
}
''')
    ws = Ws(srv.port, '/ws/bp')
    assert ws.status == 101
    s = srv.connect(timeout=5)
    head = b'POST /pub?channel=bp HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n'
    s.sendall(b''.join(head + b'm%02d' % i for i in range(50)))
    statuses, retry = [], set()
    for _ in range(50):
        status, headers, _ = read_response(s)
        statuses.append(status)
        if status == 503:
            retry.add(headers.get('retry-after'))
    s.close()
    assert set(statuses) <= {201, 503}, statuses
    assert 503 in statuses, 'no back-pressure: %r' % statuses
    assert retry == {'1'}
    accepted = [i for i, st in enumerate(statuses) if st == 201]
    got = [ws.recv()[1] for _ in accepted]
    assert got == [b'm%02d' % i for i in accepted]
    ws.close()
