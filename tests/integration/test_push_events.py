"""Event names per message (`X-Herald-Event: NAME` on publish) on every push strategy, raw and
?format=json: SSE `event: NAME` (a binary message keeps `event: binary`), the envelope's
"event" after "channel", the polling/long-polling header X-Herald-Event, the iframe call's fourth
argument ("DATA","ID","","NAME") / ("BASE64","ID","base64","NAME"). Unnamed messages are
unchanged. Invalid or reserved names are refused with 400 and nothing is stored."""
import base64
import json

import pytest

from push_clients import STRATEGY_ROUTES, Conn, Stream, Ws, parse_iframe, parse_sse, poll_walk

CONF = '''
error_log stderr info;
http {
    access_log off;
    channel ev { buffer 100; }
    server {
        listen 127.0.0.1:0;
%s
    }
}
''' % STRATEGY_ROUTES

# (bytes, Content-Type, event name or None) in publish order.
MESSAGES = [
    (b'up 3%', 'text/plain', 'price.update'),
    (b'plain', 'text/plain', None),
    (b'\x00\xff</script>', 'application/octet-stream', 'blob:v1'),
    (b'line1\nline2', 'text/plain', 'A_b-9'),
]


def pub(srv, data, ctype, event, channel='ev'):
    c = Conn(srv.port)
    headers = {'Content-Type': ctype}
    if event is not None:
        headers['X-Herald-Event'] = event
    try:
        return c.request('POST', '/pub?channel=' + channel, body=data, headers=headers)
    finally:
        c.close()


def published_count(srv):
    c = Conn(srv.port)
    try:
        status, _, body = c.request('GET', '/pub?channel=ev')
        assert status == 200
        return json.loads(body)['published']
    finally:
        c.close()


@pytest.fixture
def srv(herald):
    s = herald(CONF)
    for data, ctype, event in MESSAGES:
        status, _, body = pub(s, data, ctype, event)
        assert status == 201, (status, body)
    return s


def from_envelope(text):
    env = json.loads(text)
    assert list(env)[:2] == ['id', 'channel'] and env['channel'] == 'ev'
    if 'event' in env:
        assert list(env)[2] == 'event', 'the name follows "channel"'
    data = (base64.b64decode(env['data'], validate=True) if env.get('encoding') == 'base64'
            else env['data'].encode())
    return data, env.get('event'), env['id']


def check(got):
    assert got == [(d, e) for d, _, e in MESSAGES]


@pytest.mark.parametrize('fmt', ['raw', 'json'])
def test_websocket(srv, fmt):
    ws = Ws(srv.port, '/ws/ev?since=0&format=' + fmt)
    assert ws.status == 101
    got = []
    for data, _, event in MESSAGES:
        opcode, payload = ws.recv()
        if fmt == 'raw':  # a raw frame is the bytes alone: the name is only in the envelope
            got.append((payload, event))
        else:
            d, e, _ = from_envelope(payload.decode())
            got.append((d, e))
    ws.close()
    check(got)


@pytest.mark.parametrize('fmt', ['raw', 'json'])
def test_sse(srv, fmt):
    st = Stream(srv.port, '/sse/ev?since=0&format=' + fmt)
    assert st.status == 200
    st.wait_for(lambda s: len(parse_sse(s.body)[0]) >= len(MESSAGES))
    got = []
    for ev, (data, ctype, event) in zip(parse_sse(st.body)[0], MESSAGES):
        if fmt == 'json':
            assert ev['event'] == 'message', 'json events stay messages: the name is inside'
            d, e, mid = from_envelope(ev['data'])
            assert mid == ev['id']
            got.append((d, e))
        elif ctype == 'application/octet-stream':
            assert ev['event'] == 'binary', 'a binary raw event keeps its name "binary"'
            got.append((base64.b64decode(ev['data'], validate=True), event))
        else:
            assert ev['event'] == (event or 'message')
            got.append((ev['data'].encode(), event))
    st.close()
    check(got)
    if fmt == 'raw':
        assert b'event: price.update\ndata: up 3%\n' in bytes(st.body)


@pytest.mark.parametrize('fmt', ['raw', 'json'])
def test_iframe(srv, fmt):
    st = Stream(srv.port, '/if/ev?since=0&format=' + fmt)
    assert st.status == 200
    st.wait_for(lambda s: len(parse_iframe(s.body)) >= len(MESSAGES))
    got = []
    for (cb, args), (data, ctype, event) in zip(parse_iframe(st.body), MESSAGES):
        assert cb == 'herald_push'
        if fmt == 'json':
            assert len(args) == 2
            d, e, mid = from_envelope(args[0])
            assert mid == args[1]
            got.append((d, e))
        elif event is None:
            assert len(args) == 2, 'an unnamed text call keeps its two arguments'
            got.append((args[0].encode(), None))
        else:
            binary = ctype == 'application/octet-stream'
            assert len(args) == 4 and args[2] == ('base64' if binary else '')
            got.append((base64.b64decode(args[0]) if binary else args[0].encode(), args[3]))
    st.close()
    check(got)


@pytest.mark.parametrize('route', ['/poll/', '/lp/'])
@pytest.mark.parametrize('fmt', ['raw', 'json'])
def test_polling_and_long_polling(srv, route, fmt):
    got = []
    for h, body in poll_walk(srv.port, route + 'ev', len(MESSAGES), '&format=' + fmt):
        if fmt == 'raw':
            got.append((body, h.get('x-herald-event')))
        else:
            assert 'x-herald-event' not in h, 'json: the name is in the envelope'
            d, e, _ = from_envelope(body.decode())
            got.append((d, e))
    check(got)


def test_cors_exposes_the_event_header(herald):
    s = herald(CONF.replace('location /poll/ { push polling;      channel $tail; }',
                            'location /poll/ { push polling; channel $tail; allow_origin *; }'))
    assert pub(s, b'x', 'text/plain', 'tick')[0] == 201
    c = Conn(s.port)
    status, h, _ = c.request('GET', '/poll/ev?since=0', headers={'Origin': 'https://a.example'})
    c.close()
    assert status == 200 and h['x-herald-event'] == 'tick'
    assert 'X-Herald-Event' in h['access-control-expose-headers']


@pytest.mark.parametrize('name', ['', 'a b', 'a"b', "a'b", '<x>', 'a\\b', 'a,b', 'e' * 65,
                                  'caf\u00e9', 'message', 'binary', 'herald-missed',
                                  'herald-expired', 'herald-revoked', 'herald-anything'])
def test_invalid_or_reserved_names_are_refused(srv, name):
    before = published_count(srv)
    c = Conn(srv.port)
    c.send(('POST /pub?channel=ev HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n'
            'X-Herald-Event: %s\r\n\r\nx' % name).encode('utf-8'))
    status, h, body = c.response()
    c.close()
    assert status == 400, (name, status)
    assert b'X-Herald-Event' in body
    assert (b'reserved' in body) == (name in ('message', 'binary') or name.startswith('herald-'))
    assert published_count(srv) == before, 'nothing stored'
    assert srv.wait_log(r'publish to "ev" refused for .*X-Herald-Event')


def test_two_event_fields_are_refused(srv):
    before = published_count(srv)
    c = Conn(srv.port)
    c.send(b'POST /pub?channel=ev HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n'
           b'X-Herald-Event: a\r\nX-Herald-Event: b\r\n\r\nx')
    status, _, body = c.response()
    c.close()
    assert status == 400 and b'more than one' in body
    assert published_count(srv) == before


def test_longest_name_is_accepted(srv):
    assert pub(srv, b'x', 'text/plain', 'e' * 64)[0] == 201
