"""Publishing one message to several channels in one request, `POST /pub?channel=a,b,c`, over
real sockets: 201 {"ids":[...]} in list order, each subscriber (SSE, WebSocket, polling) of
each channel gets the message once with the id the 201 named, X-Herald-Event and Content-Type
apply to every channel; all or none (an unknown channel -> 404, max_channels reached part way
-> 503, nothing stored on the others); two publishes over overlapping lists in opposite orders
never deadlock; bad lists, GET and DELETE with a list -> 400; the token's publish claim must
cover every channel; auth_request is asked once per request. Runs on both brokers."""
import json
import threading
import time

import pytest

from harness import memory_broker_only
from push_clients import Conn, Stream, Ws, parse_sse
from test_auth_jwt import KEY, make_token
from test_auth_request import App

CONF = '''
error_log stderr info;
http {
    access_log off;
    ws_ping_interval 0;
    channel a { buffer 10; }
    channel b { buffer 10; }
    channel c { buffer 10; }
    server {
        listen 127.0.0.1:0;
        max_channels_per_connection 3;
        location /sse/  { push sse;       channel $tail; }
        location /ws/   { push websocket; channel $tail; }
        location /poll/ { push polling;   channel $tail; }
        location = /pub { publish; channel $arg_channel; }
        location = /status { status; }
        EXTRA
    }
}
'''


def conf(http_extra='', server_extra=''):
    return CONF.replace('access_log off;', 'access_log off; ' + http_extra).replace(
        'EXTRA', server_extra)


def req(srv, method, path, body=None, headers=None):
    c = Conn(srv.port)
    try:
        return c.request(method, path, body=body, headers=headers)
    finally:
        c.close()


def info(srv, channel):
    status, _, body = req(srv, 'GET', '/pub?channel=' + channel)
    assert status == 200, (channel, status, body)
    return json.loads(body)


def wait_subscribers(srv, want, timeout=5):
    """Waits until /status counts want (a dict strategy -> n) subscribers."""
    deadline = time.time() + timeout
    while True:
        got = json.loads(req(srv, 'GET', '/status')[2])['subscribers']
        if all(got[k] == n for k, n in want.items()):
            return
        assert time.time() < deadline, 'subscribers: %r, want %r' % (got, want)
        time.sleep(0.02)


def sse_events(stream, n):
    stream.wait_for(lambda s: len(parse_sse(s.body)[0]) >= n)
    return parse_sse(stream.body)[0]


def test_one_message_reaches_every_channel_once(herald):
    srv = herald(conf())
    sse_a, sse_b = Stream(srv.port, '/sse/a'), Stream(srv.port, '/sse/b')
    ws_c = Ws(srv.port, '/ws/c?format=json')
    ws_a = Ws(srv.port, '/ws/a?format=json')
    assert sse_a.status == sse_b.status == 200 and ws_c.status == ws_a.status == 101
    wait_subscribers(srv, {'sse': 2, 'websocket': 2})
    status, h, body = req(srv, 'POST', '/pub?channel=a,b,c', body='hello',
                          headers={'Content-Type': 'text/csv', 'X-Herald-Event': 'tick'})
    assert status == 201 and h['content-type'].startswith('application/json'), (status, body)
    ids = json.loads(body)['ids']
    assert [(i['channel'], i['subscribers']) for i in ids] == [('a', 2), ('b', 1), ('c', 1)]
    by = {i['channel']: i['id'] for i in ids}
    assert all(i.endswith('-1') for i in by.values()), by  # each channel's own first id

    # Every strategy, every channel: the message once, with the id the 201 named.
    assert [(e['id'], e['event'], e['data']) for e in sse_events(sse_a, 1)] == \
        [(by['a'], 'tick', 'hello')]
    assert [(e['id'], e['event'], e['data']) for e in sse_events(sse_b, 1)] == \
        [(by['b'], 'tick', 'hello')]
    for ws, ch in ((ws_c, 'c'), (ws_a, 'a')):
        op, payload = ws.recv()
        assert op == 1 and json.loads(payload) == {'id': by[ch], 'channel': ch, 'event': 'tick',
                                                   'data': 'hello'}
    status, h, body = req(srv, 'GET', '/poll/b')
    assert (status, body, h['content-type'], h['x-herald-event']) == \
        (200, b'hello', 'text/csv', 'tick')
    assert h['etag'] == '"%s"' % by['b']

    # A second list in another order: ids in that order, and again once per subscriber.
    status, _, body = req(srv, 'PUT', '/pub?channel=c,a', body='again')
    assert status == 201, body
    second = json.loads(body)['ids']
    assert [i['channel'] for i in second] == ['c', 'a']
    assert [i['id'].endswith('-2') for i in second] == [True, True]
    events = sse_events(sse_a, 2)
    assert [e['id'] for e in events] == [by['a'], second[1]['id']]
    assert json.loads(ws_c.recv()[1])['id'] == second[0]['id']
    assert json.loads(ws_a.recv()[1])['id'] == second[1]['id']
    sse_b.pump(0.2)
    assert len(parse_sse(sse_b.body)[0]) == 1, 'b was not in the second list'
    assert info(srv, 'b')['published'] == 1 and info(srv, 'c')['published'] == 2
    for s in (sse_a, sse_b, ws_c, ws_a):
        s.close()


def test_an_unknown_channel_refuses_the_whole_list(herald):
    srv = herald(conf())
    sse_a = Stream(srv.port, '/sse/a')
    wait_subscribers(srv, {'sse': 1})
    status, _, _ = req(srv, 'POST', '/pub?channel=a,nope,b', body='x')
    assert status == 404
    assert srv.wait_log(r'publish to "a,nope,b" refused for \S+: "nope": channel not found')
    for ch in ('a', 'b'):
        i = info(srv, ch)
        assert i['published'] == 0 and i['last_id'] == '', (ch, i)
    sse_a.pump(0.3)
    assert parse_sse(sse_a.body)[0] == [], 'a subscriber got a message of a refused list'
    # The channels are untouched: the next publish is their first message.
    status, _, body = req(srv, 'POST', '/pub?channel=a,b', body='y')
    assert status == 201 and all(i['id'].endswith('-1') for i in json.loads(body)['ids'])
    assert [e['data'] for e in sse_events(sse_a, 1)] == ['y']
    sse_a.close()


@memory_broker_only("max_channels bounds the channels a node holds; a publish through Redis "
                    "holds none")
def test_max_channels_reached_part_way_stores_nothing(herald):
    # a, b, c declared: room for one autocreated channel.
    srv = herald(conf('channel_autocreate on; max_channels 4;'))
    status, _, _ = req(srv, 'POST', '/pub?channel=a,n1,n2', body='x')
    assert status == 503
    assert srv.wait_log(r'"n2": too many channels')
    st = json.loads(req(srv, 'GET', '/status')[2])
    assert st['channels'] == 3, 'channels made for a refused list stay: %r' % st['channels']
    assert info(srv, 'a')['published'] == 0
    assert req(srv, 'GET', '/pub?channel=n1')[0] == 404
    status, _, body = req(srv, 'POST', '/pub?channel=n1,a', body='x')  # fits exactly
    assert status == 201, body
    assert [i['channel'] for i in json.loads(body)['ids']] == ['n1', 'a']
    assert json.loads(req(srv, 'GET', '/status')[2])['channels'] == 4
    assert req(srv, 'POST', '/pub?channel=n2', body='x')[0] == 503


def test_opposite_orders_concurrently_never_deadlock(herald):
    """Two publishers (on two worker threads) send lists over the same channels in opposite
    orders at once: every request lands, and each channel counts every message once."""
    srv = herald('worker_threads 2;\n' + conf())
    n = 40
    sse_b = Stream(srv.port, '/sse/b')
    wait_subscribers(srv, {'sse': 1})
    results = {}

    def run(name, lists):
        c = Conn(srv.port, timeout=10)
        got = []
        try:
            for i in range(n):
                status, _, body = c.request('POST', '/pub?channel=' + lists[i % len(lists)],
                                            body='%s%d' % (name, i))
                got.append((status, body))
        finally:
            c.close()
        results[name] = got

    threads = [threading.Thread(target=run, args=('x', ['a,b,c', 'b,c'])),
               threading.Thread(target=run, args=('y', ['c,b,a', 'c,a']))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not any(t.is_alive() for t in threads), 'a publisher hangs: deadlock?'
    for name in ('x', 'y'):
        assert len(results[name]) == n and all(s == 201 for s, _ in results[name]), results[name]
    # a: 20 from x + 40 from y; b: 40 from x + 20 from y; c: 40 + 40.
    counts = {ch: info(srv, ch)['published'] for ch in 'abc'}
    assert counts == {'a': 60, 'b': 60, 'c': 80}, counts
    events = sse_events(sse_b, 60)
    seqs = [int(e['id'].rsplit('-', 1)[1]) for e in events]
    assert seqs == list(range(1, 61)), 'b: each message once, in order'
    sse_b.close()


def test_bad_lists_are_refused(herald):
    srv = herald(conf())
    sse_a = Stream(srv.port, '/sse/a')
    wait_subscribers(srv, {'sse': 1})
    for q, why in (('a,,b', 'empty entry'), ('a,b,', 'empty entry'), ('a,a', 'twice'),
                   ('a,b%20', 'not a channel name'), ('a,b,c,x', 'more than 3')):
        status, _, body = req(srv, 'POST', '/pub?channel=' + q, body='x')
        assert status == 400 and why in body.decode(), (q, status, body)
    for method in ('GET', 'DELETE'):
        status, _, body = req(srv, method, '/pub?channel=a,b')
        assert status == 400 and b'channel list' in body, (method, status, body)
    # A revocation takes one channel too: with a list it would be taken for every channel.
    for q in ('subscribers=all', 'sub=42'):
        status, _, body = req(srv, 'DELETE', '/pub?channel=a,b&' + q)
        assert status == 400 and b'channel list' in body, (q, status, body)
    assert req(srv, 'HEAD', '/pub?channel=a,b')[0] == 400
    for ch in 'abc':
        assert info(srv, ch)['published'] == 0
    # The subscriber of a is still there, and a still exists.
    status, _, _ = req(srv, 'POST', '/pub?channel=a', body='still')
    assert status == 201
    assert [e['data'] for e in sse_events(sse_a, 1)] == ['still']
    sse_a.close()


def test_the_publish_claim_must_cover_every_channel(herald):
    srv = herald(conf(server_extra='location = /jpub { publish; channel $arg_channel; '
                                   'auth_jwt "file:jwt.key" publish; }'),
                 files={'jwt.key': KEY.decode() + '\n'})
    tok = make_token({'sub': 'p', 'publish': ['a', 'b'], 'exp': int(time.time()) + 300})
    auth = {'Authorization': 'Bearer ' + tok}
    status, _, body = req(srv, 'POST', '/jpub?channel=a,c', body='x', headers=auth)
    assert status == 403, body
    assert srv.wait_log(r'publish of "c" refused .*channel not in token')
    assert info(srv, 'a')['published'] == 0
    assert req(srv, 'POST', '/jpub?channel=a,b', body='x')[0] == 401  # no token
    status, _, body = req(srv, 'POST', '/jpub?channel=b,a', body='x', headers=auth)
    assert status == 201, body
    assert [i['channel'] for i in json.loads(body)['ids']] == ['b', 'a']


def test_auth_request_is_asked_once_with_the_list(herald):
    app = App()
    try:
        srv = herald(conf(server_extra='location = /apub { publish; channel $arg_channel; '
                                       'auth_request http://127.0.0.1:%d/auth/cookie; }'
                                       % app.port))
        assert req(srv, 'POST', '/apub?channel=a,b,c', body='x')[0] == 403
        assert info(srv, 'a')['published'] == 0
        status, _, body = req(srv, 'POST', '/apub?channel=a,b,c', body='x',
                              headers={'Cookie': 'auth=yes'})
        assert status == 201, body
        with app.lock:
            seen = [h['X-Herald-Channel'] for _, h in app.seen]
        assert seen == ['a,b,c', 'a,b,c'], seen
    finally:
        app.stop()
