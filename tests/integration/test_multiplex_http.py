"""Several channels on one HTTP push request (README, "Several channels on one connection"):
`/sse/a,b,c` or `?channels=a,b,c` follows every channel of the list. Each message says its
channel (the JSON envelope, or X-Herald-Channel); the client's id is the compound cursor
(HASH.EPOCH-SEQ per channel, HASH = FNV-1a 32 of the name), which resumes every channel where
it stood: no gap, no duplicate, a missed signal per channel whose buffer moved past it. Bad lists
are 400 with their reason; a channel added on resume is live only; DELETE of one channel ends the
request as it would for that channel alone; every channel must be admitted."""
import base64
import hashlib
import hmac
import http.server
import json
import re
import threading
import time

import pytest

from harness import BROKER
from push_clients import Conn, Stream, build_request, parse_iframe, parse_sse, publish

CONF = '''
error_log stderr info;
http {
    access_log off;
    longpoll_timeout 1s;
    max_channels_per_connection 4;
    channel a { buffer 100; }
    channel b { buffer 100; }
    channel c { buffer 100; }
    channel d { buffer 100; }
    channel e { buffer 100; }
    channel small { buffer 3; }
    server {
        listen 127.0.0.1:0;
        location /sse/   { push sse;          channel $tail; }
        location /if/    { push iframe;       channel $tail; }
        location /lp/    { push long-polling; channel $tail; }
        location /poll/  { push polling;      channel $tail; }
        location /ws/    { push websocket;    channel $tail; }
        location = /q    { push sse;          channel $arg_channels; }
        location = /pub  { publish; channel $arg_channel; }
    }
}
'''


@pytest.fixture
def srv(herald):
    return herald(CONF)


def fnv(name):
    h = 0x811c9dc5
    for byte in name.encode():
        h = ((h ^ byte) * 0x01000193) & 0xffffffff
    return '%08x' % h


BROKER_REDIS = BROKER == 'redis'

CURSOR_RE = re.compile(r'[0-9a-f]{8}\.[0-9a-f]{12}-(0|[1-9][0-9]*)(,[0-9a-f]{8}\.[0-9a-f]{12}-(0|[1-9][0-9]*))*')


def cursor_map(cursor):
    """{channel hash: (epoch, seq)} of a compound cursor, checking its shape."""
    assert CURSOR_RE.fullmatch(cursor), cursor
    out = {}
    for entry in cursor.split(','):
        h, rest = entry.split('.')
        epoch, seq = rest.split('-')
        out[h] = (epoch, int(seq))
    return out


def seq_of(cursor, channel):
    return cursor_map(cursor)[fnv(channel)][1]


def pub(srv, channel, data):
    status, body = publish(srv, channel, data)
    assert status == 201, (status, body)
    return body['id']


def sse_events(st, n, timeout=3):
    st.wait_for(lambda s: len(parse_sse(s.body)[0]) >= n, timeout)
    return parse_sse(st.body)[0]


def messages(events):
    """(channel, data, id) of each message event."""
    out = []
    for e in events:
        if e['event'] == 'message':
            env = json.loads(e['data'])
            out.append((env['channel'], env['data'], env['id']))
    return out


def by_channel(msgs):
    out = {}
    for ch, data, _ in msgs:
        out.setdefault(ch, []).append(data)
    return out


# ---- SSE -------------------------------------------------------------------------------------

def test_sse_three_channels(srv):
    st = Stream(srv.port, '/sse/a,b,c')
    assert st.status == 200
    st.wait_for(lambda s: b'retry:' in s.body)
    ids = {ch: pub(srv, ch, 'm-' + ch) for ch in ('b', 'a', 'c')}
    ev = sse_events(st, 3)
    assert sorted(messages(ev)) == sorted((ch, 'm-' + ch, ids[ch]) for ch in ('a', 'b', 'c'))
    last = cursor_map(ev[-1]['id'])
    # One entry per channel, in list order, each at the message id it was given.
    assert list(last) == [fnv('a'), fnv('b'), fnv('c')]
    for ch in 'abc':
        assert '%s-%d' % last[fnv(ch)] == ids[ch]
    # ?channels= on a query-argument route is the same.
    q = Stream(srv.port, '/q?channels=a,c')
    assert q.status == 200
    mid = pub(srv, 'c', 'via-query')
    ev = sse_events(q, 1)
    assert messages(ev) == [('c', 'via-query', mid)]
    st.close()
    q.close()


def test_sse_resume_after_cut(srv):
    """Publishing goes on on all three channels across a cut: the resumed stream has each
    channel's messages exactly once, in order; a channel whose buffer moved past the cursor gets
    its own herald-missed event and the others none."""
    st = Stream(srv.port, '/sse/a,b,small')
    st.wait_for(lambda s: b'retry:' in s.body)
    for i in range(2):
        for ch in ('a', 'b', 'small'):
            pub(srv, ch, '%s%d' % (ch, i))
    ev = sse_events(st, 6)
    cursor = ev[-1]['id']
    st.close()
    for i in range(2, 7):  # 5 more: small (buffer 3) loses two of them
        for ch in ('a', 'b', 'small'):
            pub(srv, ch, '%s%d' % (ch, i))
    st = Stream(srv.port, '/sse/a,b,small', headers={'Last-Event-ID': cursor})
    st.wait_for(lambda s: len(messages(parse_sse(s.body)[0])) >= 13)
    ev = parse_sse(st.body)[0]
    got = by_channel(messages(ev))
    assert got['a'] == ['a%d' % i for i in range(2, 7)]
    assert got['b'] == ['b%d' % i for i in range(2, 7)]
    assert got['small'] == ['small%d' % i for i in range(4, 7)]
    missed = [json.loads(e['data']) for e in ev if e['event'] == 'herald-missed']
    assert len(missed) == 1 and missed[0]['channel'] == 'small'
    assert missed[0]['since'].endswith('-%d' % seq_of(cursor, 'small'))
    assert missed[0]['first'].endswith('-5')
    # Live again on every channel, and the cursor keeps every position.
    pub(srv, 'b', 'live')
    st.wait_for(lambda s: b'live' in s.body)
    last = parse_sse(st.body)[0][-1]
    assert messages([last])[0][:2] == ('b', 'live')
    assert seq_of(last['id'], 'a') == 7 and seq_of(last['id'], 'b') == 8
    assert seq_of(last['id'], 'small') == 7
    st.close()


def test_sse_since_zero_foreign_and_added_channel(srv):
    for ch in ('a', 'b', 'c'):
        pub(srv, ch, ch + '1')
    # since=0: everything buffered on every channel, no missed signal.
    st = Stream(srv.port, '/sse/a,b?since=0')
    ev = sse_events(st, 2)
    assert sorted(messages(ev))[0][:2] == ('a', 'a1') and len(messages(ev)) == 2
    assert not [e for e in ev if e['event'] != 'message']
    cursor = ev[-1]['id']
    st.close()
    # A resume value that is no cursor is foreign on every channel: all + missed for each.
    st = Stream(srv.port, '/sse/a,b?since=nonsense')
    ev = sse_events(st, 4)
    assert sorted(json.loads(e['data'])['channel'] for e in ev
                  if e['event'] == 'herald-missed') == ['a', 'b']
    assert json.loads(ev[0]['data'])['since'] == ''
    st.close()
    # c added on resume: live only (its buffered c1 is not sent); a and b resume.
    pub(srv, 'a', 'a2')
    st = Stream(srv.port, '/sse/a,b,c', headers={'Last-Event-ID': cursor})
    ev = sse_events(st, 1)
    assert [m[:2] for m in messages(ev)] == [('a', 'a2')]
    pub(srv, 'c', 'c2')
    ev = sse_events(st, 2)
    assert [m[:2] for m in messages(ev)] == [('a', 'a2'), ('c', 'c2')]
    assert seq_of(ev[-1]['id'], 'c') == 2 and seq_of(ev[-1]['id'], 'b') == 1
    st.close()


def test_sse_last_n_per_channel(srv):
    for i in range(3):
        pub(srv, 'a', 'a%d' % i)
        pub(srv, 'b', 'b%d' % i)
    st = Stream(srv.port, '/sse/a,b,c?last=2')
    ev = sse_events(st, 4)
    got = by_channel(messages(ev))
    assert got == {'a': ['a1', 'a2'], 'b': ['b1', 'b2']}
    st.close()


def test_delete_one_channel_ends_the_stream(srv):
    st = Stream(srv.port, '/sse/a,b,c')
    st.wait_for(lambda s: b'retry:' in s.body)
    c = Conn(srv.port)
    status, _, _ = c.request('DELETE', '/pub?channel=b')
    assert status in (200, 204)
    c.close()
    st.wait_for(lambda s: s.ended, 3)


# ---- iframe ----------------------------------------------------------------------------------

def test_iframe_three_channels_and_resume(srv):
    st = Stream(srv.port, '/if/a,b,c?callback=herald_cb')
    assert st.status == 200
    ids = {ch: pub(srv, ch, 'x-' + ch) for ch in ('c', 'a', 'b')}
    st.wait_for(lambda s: len(parse_iframe(s.body)) >= 3)
    calls = parse_iframe(st.body)
    assert all(cb == 'herald_cb' for cb, _ in calls)
    envs = [json.loads(args[0]) for _, args in calls]
    assert sorted((e['channel'], e['data'], e['id']) for e in envs) == \
        sorted((ch, 'x-' + ch, ids[ch]) for ch in 'abc')
    cursor = calls[-1][1][1]
    for ch in 'abc':
        assert '%s-%d' % cursor_map(cursor)[fnv(ch)] == ids[ch]
    st.close()
    pub(srv, 'b', 'after')
    st = Stream(srv.port, '/if/a,b,c?since=' + cursor)
    st.wait_for(lambda s: len(parse_iframe(s.body)) >= 1)
    calls = parse_iframe(st.body)
    assert [json.loads(a[0])['data'] for _, a in calls] == ['after']
    st.close()


def test_iframe_missed_per_channel(srv):
    pub(srv, 'small', 's0')
    st = Stream(srv.port, '/if/a,small?since=0')
    st.wait_for(lambda s: len(parse_iframe(s.body)) >= 1)
    cursor = parse_iframe(st.body)[-1][1][1]
    st.close()
    for i in range(1, 6):
        pub(srv, 'small', 's%d' % i)
    st = Stream(srv.port, '/if/a,small?since=' + cursor)
    st.wait_for(lambda s: len(parse_iframe(s.body)) >= 4)
    calls = parse_iframe(st.body)
    assert calls[0][1][:2] == [None, '']
    signal = calls[0][1][2]
    assert signal['missed'] is True and signal['channel'] == 'small'
    assert [json.loads(a[0])['data'] for _, a in calls[1:]] == ['s3', 's4', 's5']
    st.close()


# ---- bad lists -------------------------------------------------------------------------------

@pytest.mark.parametrize('path,reason', [
    ('/sse/a,,b', 'empty entry'),
    ('/sse/a,b,a', '"a" twice'),
    ('/sse/a,b,c,d,e', 'more than 4 channels'),
    ('/sse/a,b?format=raw', 'needs format json'),
    ('/if/a,b?format=raw', 'needs format json'),
    ('/lp/a,b%20', 'not a channel name'),
    ('/ws/a,b', 'a channel list on a websocket needs multiplex on'),
])
def test_bad_lists_are_400_with_reason(srv, path, reason):
    c = Conn(srv.port)
    status, _, body = c.request('GET', path)
    c.close()
    assert status == 400, (path, status, body)
    assert reason in body.decode(), body


# ---- long-polling and polling ----------------------------------------------------------------

def poll(srv, path, cursor=None, conn=None):
    """One GET with If-None-Match: "CURSOR": (status, headers, body, the ETag's cursor)."""
    c = conn or Conn(srv.port)
    try:
        status, h, body = c.request('GET', path,
                                    headers={'If-None-Match': '"%s"' % cursor} if cursor else None)
    finally:
        if conn is None:
            c.close()
    tag = h.get('etag')
    return status, h, body, tag.strip('"') if tag else None


def walk(srv, path, cursor, n):
    """n answers of a list poll, each resuming from the previous ETag: [(channel, data,
    missed)] and the last cursor."""
    c = Conn(srv.port)
    got = []
    for _ in range(n):
        status, h, body, cursor = poll(srv, path, cursor, conn=c)
        assert status == 200, (status, h)
        got.append((h['x-herald-channel'], body.decode(), h.get('x-herald-missed') == '1'))
    c.close()
    return got, cursor


@pytest.mark.parametrize('route', ['/lp/', '/poll/'])
def test_one_message_per_answer_first_published_first(srv, route):
    path = route + 'a,b,c'
    for ch, data in (('b', 'b1'), ('a', 'a1'), ('b', 'b2'), ('c', 'c1')):
        pub(srv, ch, data)
    got, cursor = walk(srv, path + '?since=0', None, 4)
    assert [g[:2] for g in got] == [('b', 'b1'), ('a', 'a1'), ('b', 'b2'), ('c', 'c1')] or \
        BROKER_REDIS  # the Redis node copies carry no publish time: ties go by list order
    assert sorted(g[:2] for g in got) == [('a', 'a1'), ('b', 'b1'), ('b', 'b2'), ('c', 'c1')]
    assert [seq_of(cursor, ch) for ch in 'abc'] == [1, 2, 1]
    if route == '/poll/':  # nothing newer on any channel: 304 with the same cursor
        status, _, _, same = poll(srv, path, cursor)
        assert status == 304 and same == cursor
        return
    # Held until any channel has something, then that one message.
    c = Conn(srv.port)
    c.send(build_request('GET', path, headers={'If-None-Match': '"%s"' % cursor}))
    time.sleep(0.1)
    mid = pub(srv, 'c', 'c2')
    status, h, body = c.response()
    c.close()
    assert status == 200 and body == b'c2' and h['x-herald-channel'] == 'c'
    tag = h['etag'].strip('"')
    assert '%s-%d' % cursor_map(tag)[fnv('c')] == mid
    assert [seq_of(tag, ch) for ch in 'ab'] == [1, 2]


def test_longpoll_resume_after_cut_with_missed(srv):
    """Publishing goes on on all three channels between polls: each message comes once; the
    channel whose buffer lost the cursor says X-Herald-Missed on its first answer."""
    for ch in ('a', 'b', 'small'):
        pub(srv, ch, ch + '0')
    got, cursor = walk(srv, '/lp/a,b,small?since=0', None, 3)
    assert not any(m for _, _, m in got)
    for i in range(1, 6):
        for ch in ('a', 'b', 'small'):
            pub(srv, ch, '%s%d' % (ch, i))
    got, cursor = walk(srv, '/lp/a,b,small', cursor, 13)
    per = {}
    for ch, data, missed in got:
        per.setdefault(ch, []).append((data, missed))
    assert [d for d, _ in per['a']] == ['a%d' % i for i in range(1, 6)]
    assert [d for d, _ in per['b']] == ['b%d' % i for i in range(1, 6)]
    assert per['small'] == [('small3', True), ('small4', False), ('small5', False)]
    assert not any(m for ch, _, m in got if ch != 'small')
    status, _, _, _ = poll(srv, '/poll/a,b,small', cursor)
    assert status == 304


def test_polling_empty_json_and_first_poll(srv):
    status, h, _, cursor = poll(srv, '/poll/a,b,c')
    assert status == 204 and len(cursor_map(cursor)) == 3
    pub(srv, 'b', 'only')
    # No cursor: the newest message of a channel, as for one channel; json is the envelope.
    c = Conn(srv.port)
    status, h, body = c.request('GET', '/poll/a,b,c?format=json')
    c.close()
    assert status == 200 and h['x-herald-channel'] == 'b'
    env = json.loads(body)
    assert env['channel'] == 'b' and env['data'] == 'only'
    status, _, _, cursor = poll(srv, '/poll/a,b,c', h['etag'].strip('"'))
    assert status == 304


def test_longpoll_delete_one_channel_is_410(srv):
    c = Conn(srv.port)
    c.send(build_request('GET', '/lp/a,b,c', headers={'If-None-Match': '*'}))
    time.sleep(0.1)
    d = Conn(srv.port)
    status, _, _ = d.request('DELETE', '/pub?channel=b')
    d.close()
    assert status in (200, 204)
    status, _, _ = c.response()
    c.close()
    assert status == 410


def test_longpoll_timeout_304_keeps_cursor(srv):
    pub(srv, 'a', 'a1')
    status, h, body, cursor = poll(srv, '/lp/a,b')
    assert status == 304
    assert seq_of(cursor, 'a') == 1 and seq_of(cursor, 'b') == 0
    pub(srv, 'b', 'b1')
    status, h, body, cursor = poll(srv, '/lp/a,b', cursor)
    assert status == 200 and body == b'b1'


# ---- access and counts -----------------------------------------------------------------------

KEY = 'k' * 20 + '0123456789ab-multiplex'
JWT_CONF = '''
error_log stderr info;
http {
    access_log off;
    channel_autocreate on;
    server {
        listen 127.0.0.1:0;
        location /sse/   { push sse; channel $tail; auth_jwt "file:jwt.key"; }
        location /lp/    { push long-polling; channel $tail; auth_jwt "file:jwt.key"; }
        location = /pub  { publish; channel $arg_channel; }
        location = /status { status; }
    }
}
'''


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode()


def token(channels, sub='42'):
    head = b64url(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())
    body = b64url(json.dumps({'sub': sub, 'channels': channels,
                              'exp': int(time.time()) + 300}).encode())
    sig = b64url(hmac.new(KEY.encode(), (head + '.' + body).encode(), hashlib.sha256).digest())
    return head + '.' + body + '.' + sig


def test_every_channel_must_be_admitted_and_counts(herald):
    srv = herald(JWT_CONF, files={'jwt.key': KEY + '\n'})
    tok = token(['a', 'b'])
    for path in ('/sse/a,b,c', '/lp/c,a'):
        c = Conn(srv.port)
        status, h, _ = c.request('GET', path + '?token=' + tok)
        c.close()
        assert status == 403 and 'insufficient_scope' in h['www-authenticate'], path
    st = Stream(srv.port, '/sse/a,b?token=' + tok)
    assert st.status == 200
    st.wait_for(lambda s: b'retry:' in s.body)
    # Each channel of the list is one SSE subscriber.
    c = Conn(srv.port)
    status, _, body = c.request('GET', '/status')
    c.close()
    assert status == 200 and json.loads(body)['subscribers']['sse'] == 2
    # Revoking the token's sub on one channel of the list ends the stream.
    c = Conn(srv.port)
    status, _, body = c.request('DELETE', '/pub?channel=b&sub=42')
    c.close()
    assert status == 200 and json.loads(body)['ended'] == 1
    st.wait_for(lambda s: s.ended, 3)
    assert [e['event'] for e in parse_sse(st.body)[0]] == ['herald-revoked']


class ListApp:
    """An application that refuses the channel `secret` (403) and admits the others, and
    records the hook events it is told."""

    def __init__(self):
        self.lock = threading.Lock()
        self.asked = []   # X-Herald-Channel of every auth request
        self.events = []  # (path, JSON) of every hook
        app = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):
                pass

            def answer(self, code):
                self.send_response(code)
                self.send_header('Content-Length', '0')
                self.end_headers()

            def do_GET(self):
                channel = self.headers.get('X-Herald-Channel')
                with app.lock:
                    app.asked.append(channel)
                self.answer(403 if channel == 'secret' else 204)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get('Content-Length', '0')))
                with app.lock:
                    app.events.append((self.path, json.loads(body)))
                self.answer(200)

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def wait_events(self, n, timeout=3):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.events) >= n:
                    return list(self.events)
            time.sleep(0.02)
        raise AssertionError('hook events: %r' % self.events)


APP_CONF = '''
error_log stderr info;
http {
    access_log off;
    channel_autocreate on;
    server {
        listen 127.0.0.1:0;
        location /sse/ {
            push sse; channel $tail;
            auth_request http://127.0.0.1:APP/auth;
            on_subscribe http://127.0.0.1:APP/hook/join;
            on_unsubscribe http://127.0.0.1:APP/hook/leave;
        }
    }
}
'''


def test_auth_request_and_hooks_per_channel(herald):
    app = ListApp()
    try:
        srv = herald(APP_CONF.replace('APP', str(app.port)))
        c = Conn(srv.port)
        status, _, _ = c.request('GET', '/sse/a,secret,b')
        c.close()
        assert status == 403
        assert app.asked == ['a', 'secret']  # asked in list order; the refusal stops there
        st = Stream(srv.port, '/sse/a,b')
        assert st.status == 200
        joined = app.wait_events(2)
        assert sorted((p, e['channel']) for p, e in joined) == \
            [('/hook/join', 'a'), ('/hook/join', 'b')]
        st.close()
        left = app.wait_events(4)[2:]
        assert sorted((p, e['channel']) for p, e in left) == \
            [('/hook/leave', 'a'), ('/hook/leave', 'b')]
    finally:
        app.server.shutdown()
        app.server.server_close()
