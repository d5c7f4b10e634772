"""Asking and telling the application: `auth_request` (a GET to a small Python application on
loopback decides each subscriber on all five strategies and each publisher request: 2xx admits,
401/403 refuse with that status, anything else, a closed connection or no answer within
auth_request_timeout -> 503; the client's Cookie, Authorization and Origin and the X-Original-*,
X-Herald-* and X-Real-IP headers reach it; auth_request_cache; a client that leaves while its
answer is awaited; other requests served meanwhile) and `on_subscribe` / `on_unsubscribe` (the
JSON events, retried when the application first fails, counted in /status)."""
import http.server
import json
import socket
import threading
import time

import pytest

from clients import status
from push_clients import Conn, Stream, Ws, build_request, publish


class App:
    """The application: answers /auth/* by behaviour and records /hook/* events."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = []    # (path, headers dict) of every /auth request
        self.events = []  # (path, parsed JSON) of every hook delivered (2xx)
        self.flaky = 0    # /hook/flaky attempts so far
        app = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):
                pass

            def answer(self, code, extra=None):
                self.send_response(code)
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.send_header('Content-Length', '0')
                self.end_headers()

            def do_GET(self):
                with app.lock:
                    app.seen.append((self.path, dict(self.headers)))
                kind = self.path.split('/')[-1]
                if kind == 'cookie':
                    self.answer(204 if 'auth=yes' in self.headers.get('Cookie', '') else 403)
                elif kind == '401':
                    self.answer(401, {'WWW-Authenticate': 'Bearer realm="herald"'})
                elif kind == 'slow':
                    time.sleep(1.5)
                    self.answer(200)
                elif kind == 'late':  # after the client below has gone, within the timeout
                    time.sleep(0.4)
                    self.answer(200)
                elif kind == 'close':
                    self.close_connection = True
                else:
                    self.answer(500)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get('Content-Length', '0')))
                if self.path.endswith('/flaky'):
                    with app.lock:
                        app.flaky += 1
                        fail = app.flaky <= 2
                    if fail:
                        self.answer(500)
                        return
                with app.lock:
                    app.events.append((self.path, json.loads(body)))
                self.answer(200)

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def auth_count(self, suffix):
        with self.lock:
            return sum(1 for p, _ in self.seen if p.endswith(suffix))

    def wait_events(self, n, timeout=5):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.events) >= n:
                    return list(self.events)
            time.sleep(0.02)
        raise AssertionError('hook events: %r' % self.events)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


CONF = '''
error_log stderr info;
http {
    access_log off;
    channel_autocreate on;
    server {
        listen 127.0.0.1:0;
        auth_request http://127.0.0.1:APP/auth/cookie;
        auth_request_timeout 1s;
        location /polling/      { push polling;      channel $tail; }
        location /long-polling/ { push long-polling; channel $tail; longpoll_timeout 1s; }
        location /iframe/       { push iframe;       channel $tail; }
        location /sse/          { push sse;          channel $tail; }
        location /websocket/    { push websocket;    channel $tail; }
        location /slow/   { push sse; channel $tail; auth_request http://127.0.0.1:APP/auth/slow; }
        location /late/   { push sse; channel $tail; auth_request http://127.0.0.1:APP/auth/late; }
        location /latews/ { push websocket; channel $tail;
                            auth_request http://127.0.0.1:APP/auth/late; }
        location /closed/ { push sse; channel $tail; auth_request http://localhost:APP/auth/close; }
        location /broken/ { push sse; channel $tail; auth_request http://127.0.0.1:APP/auth/500; }
        location /bearer/ { push sse; channel $tail; auth_request http://127.0.0.1:APP/auth/401; }
        location /cached/ { push polling; channel $tail; auth_request_cache 30s; }
        location = /pub     { publish; channel $arg_channel; auth_request off; }
        location = /pubauth { publish; channel $arg_channel; }
        location = /status  { status; auth_request off; }
        location /hooked/ {
            push sse; channel $tail; auth_request off;
            on_subscribe http://127.0.0.1:APP/hook/join;
            on_unsubscribe http://127.0.0.1:APP/hook/leave;
        }
        location /flaky/ {
            push websocket; channel $tail; auth_request off;
            on_subscribe http://127.0.0.1:APP/hook/flaky;
        }
        location /nohook/ {
            push sse; channel $tail; auth_request off;
            on_subscribe http://127.0.0.1:1/hook/refused;
        }
    }
}
'''


@pytest.fixture
def app():
    a = App()
    yield a
    a.stop()


@pytest.fixture
def srv(herald, app):
    return herald(CONF.replace('APP', str(app.port)))


def subscribe(srv, strategy, channel, cookie):
    """Opens one subscriber; returns its status (101/200/204/304 admitted, else refused)."""
    headers = {'Cookie': cookie}
    path = '/%s/%s' % (strategy, channel)
    if strategy == 'websocket':
        ws = Ws(srv.port, path, headers=headers)
        ws.close()
        return ws.status
    if strategy in ('sse', 'iframe'):
        st = Stream(srv.port, path, headers=headers)
        st.close()
        return st.status
    c = Conn(srv.port)
    code, _, _ = c.request('GET', path, headers=headers)
    c.close()
    return code


@pytest.mark.parametrize('strategy', ['polling', 'long-polling', 'iframe', 'sse', 'websocket'])
def test_each_strategy_is_admitted_or_refused_by_the_application(srv, app, strategy):
    assert subscribe(srv, strategy, 'ch1', 'auth=no') == 403
    assert subscribe(srv, strategy, 'ch1', 'auth=yes; x=1') in (101, 200, 204, 304)
    with app.lock:
        path, h = app.seen[-1]
    assert path == '/auth/cookie'
    assert h['X-Herald-Strategy'] == strategy and h['X-Herald-Channel'] == 'ch1'


def test_application_sees_the_client_headers(srv, app):
    c = Conn(srv.port)
    c.send(build_request('GET', '/polling/news?since=5&x=%20y', headers={
        'Cookie': 'auth=yes; session=abc', 'Authorization': 'Bearer t0k3n',
        'Origin': 'https://app.example', 'X-Other': 'not forwarded'}))
    assert c.response()[0] != 403
    c.close()
    with app.lock:
        _, h = app.seen[-1]
    assert h['Cookie'] == 'auth=yes; session=abc'
    assert h['Authorization'] == 'Bearer t0k3n'
    assert h['Origin'] == 'https://app.example'
    assert h['X-Original-URI'] == '/polling/news?since=5&x=%20y'
    assert h['X-Original-Method'] == 'GET'
    assert h['X-Real-IP'] == '127.0.0.1'
    assert h['Host'] == '127.0.0.1:%d' % app.port
    assert 'X-Other' not in h


def test_401_passes_www_authenticate_on(srv):
    code, h, _ = srv.get('/bearer/a')
    assert code == 401 and h['www-authenticate'] == 'Bearer realm="herald"'
    ws = Ws(srv.port, '/bearer/a')  # the handshake waits too and is refused with the status
    assert ws.status == 401


def test_failures_are_503_with_a_reason(srv):
    assert srv.get('/closed/a')[0] == 503
    assert srv.get('/broken/a')[0] == 503
    assert srv.wait_log(r'auth_request http://localhost:\d+/auth/close: connection closed')
    assert srv.wait_log(r'the application answered 500: 503')


def test_no_answer_in_time_is_503_and_other_requests_are_served_meanwhile(srv, app):
    slow = Conn(srv.port)
    t0 = time.monotonic()
    slow.send(build_request('GET', '/slow/a'))
    time.sleep(0.1)
    assert srv.get('/polling/a', headers={'Cookie': 'auth=yes'})[0] == 204
    st = Stream(srv.port, '/sse/b', headers={'Cookie': 'auth=yes'})
    assert st.status == 200
    st.close()
    assert time.monotonic() - t0 < 0.8, 'the loop was not blocked'
    code, _, _ = slow.response()
    elapsed = time.monotonic() - t0
    assert code == 503 and 0.9 < elapsed < 1.6, (code, elapsed)
    assert srv.wait_log(r'auth_request http://127\.0\.0\.1:\d+/auth/slow: no response in time')
    s = status(srv)['auth_request']
    assert s['timeouts'] == 1 and s['failed'] >= 1 and s['admitted'] >= 2


def test_client_gone_while_its_answer_is_awaited(srv, app):
    for strategy_path in ('/late/a', '/late/b'):
        c = Conn(srv.port)
        c.send(build_request('GET', strategy_path))
        c.close()
    ws = socket.create_connection(('127.0.0.1', srv.port))
    ws.sendall(build_request('GET', '/late/c', headers={
        'Upgrade': 'websocket', 'Connection': 'Upgrade', 'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ=='}))
    ws.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')
    ws.close()  # RST
    deadline = time.monotonic() + 3
    while app.auth_count('/auth/late') < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.6)  # the answers arrive after their clients left
    assert status(srv)['connections'] == 1
    st = Stream(srv.port, '/late/d')  # the same path still works
    assert st.status == 200
    st.close()


def test_cache_answers_per_credentials_and_channel(srv, app):
    c = Conn(srv.port)  # one connection: one worker thread, whose cache this is
    yes = {'Cookie': 'auth=yes'}
    assert c.request('GET', '/cached/a', headers=yes)[0] == 204
    assert c.request('GET', '/cached/a', headers=yes)[0] == 204
    assert app.auth_count('/auth/cookie') == 1
    assert c.request('GET', '/cached/b', headers=yes)[0] == 204  # another channel
    no = {'Cookie': 'auth=no'}
    assert c.request('GET', '/cached/a', headers=no)[0] == 403  # other credentials
    assert c.request('GET', '/cached/a', headers=no)[0] == 403  # refusals are kept
    c.close()
    assert app.auth_count('/auth/cookie') == 3
    s = status(srv)['auth_request']
    assert s['cache_hits'] == 2 and s['sent'] == 3 and s['refused'] == 2 and s['admitted'] == 3


def test_publish_is_guarded(srv, app):
    c = Conn(srv.port)
    assert c.request('POST', '/pubauth?channel=p', body='x')[0] == 403
    assert c.request('POST', '/pubauth?channel=p', body='hello',
                     headers={'Cookie': 'auth=yes'})[0] == 201
    code, _, body = c.request('GET', '/pub?channel=p')  # auth_request off
    assert code == 200 and json.loads(body)['published'] == 1
    c.close()
    with app.lock:
        _, h = app.seen[-1]
    assert h['X-Herald-Strategy'] == 'publish' and h['X-Original-Method'] == 'POST'


def test_hooks_tell_join_and_leave(srv, app):
    st = Stream(srv.port, '/hooked/room.1:x')
    assert st.status == 200
    joined = app.wait_events(1)
    st.close()
    events = app.wait_events(2)
    want = {'channel': 'room.1:x', 'strategy': 'sse', 'sub': '', 'addr': '127.0.0.1',
            'node': socket.gethostname()}
    assert joined[0] == ('/hook/join', dict(want, event='subscribe'))
    assert events[1] == ('/hook/leave', dict(want, event='unsubscribe'))
    assert status(srv)['hooks']['sent'] == 2


def test_hooks_are_retried_and_failures_counted(srv, app):
    ws = Ws(srv.port, '/flaky/w')
    assert ws.status == 101
    events = app.wait_events(1, timeout=5)  # third attempt, after 200 ms and 800 ms
    assert events[0][0] == '/hook/flaky' and events[0][1]['strategy'] == 'websocket'
    ws.close()
    st = Stream(srv.port, '/nohook/n')  # nobody listens there: three attempts, then failed
    st.close()
    deadline = time.monotonic() + 5
    while status(srv)['hooks']['failed'] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    h = status(srv)['hooks']
    assert h['sent'] == 1 and h['failed'] == 1 and h['retried'] == 4 and h['dropped'] == 0
    assert srv.wait_log(r'hook http://127\.0\.0\.1:1/hook/refused: .* after 3 attempts')
    code, _, body = srv.get('/status?format=prometheus')
    assert 'herald_hook_events_total{result="failed"} 1' in body.decode()


def test_pipelined_requests_are_decided_in_turn(srv, app):
    c = Conn(srv.port)
    c.send(build_request('GET', '/polling/p1?a=1', headers={'Cookie': 'auth=yes'}) +
           build_request('GET', '/polling/p2?b=2', headers={'Cookie': 'auth=no'}))
    assert c.response()[0] == 204
    assert c.response()[0] == 403
    c.close()
    with app.lock:
        uris = [h['X-Original-URI'] for _, h in app.seen[-2:]]
    assert uris == ['/polling/p1?a=1', '/polling/p2?b=2']


def test_suspended_handshake_keeps_its_head_while_others_are_read(srv, app):
    key = 'x3JJHMbDL1EzLkh9GBhXDw=='
    ws = Conn(srv.port)
    ws.send(build_request('GET', '/latews/hs', headers={
        'Upgrade': 'websocket', 'Connection': 'Upgrade', 'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': key}))
    time.sleep(0.1)
    for i in range(5):  # other clients' bytes pass through the worker's read buffer meanwhile
        c = Conn(srv.port)
        assert c.request('GET', '/polling/o%d?%s' % (i, 'z' * 300),
                         headers={'Cookie': 'auth=no', 'Sec-WebSocket-Key': 'A' * 24})[0] == 403
        c.close()
    status_code, h = ws.head()
    assert status_code == 101
    assert h['sec-websocket-accept'] == 'HSmrc0sMlYUkAGmm5OPpG2HaGWk='
    ws.close()


CHAIN_CONF = '''
error_log stderr info;
http {
    access_log off;
    channel_autocreate on;
    real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
    server {
        listen 127.0.0.1:0;
        location /private/ {
            push sse; channel $tail;
            auth_jwt "KEY";
            auth_request http://127.0.0.1:APP/auth/cookie;
            on_subscribe http://127.0.0.1:APP/hook/join;
        }
    }
}
'''


def test_the_access_steps_in_order_share_one_client_and_one_sub(herald, app):
    """allow/deny's client address, the token and the application's answer work together: a
    request without a token is refused before the application is asked; with a token, the
    application sees the forwarded client address, and the hook carries the token's sub and
    that address."""
    from test_auth_jwt import KEY, token
    srv = herald(CHAIN_CONF.replace('APP', str(app.port)).replace('KEY', KEY.decode()))
    fwd = {'X-Forwarded-For': '192.0.2.5', 'Cookie': 'auth=yes'}
    st = Stream(srv.port, '/private/user-42', headers=fwd)
    st.close()
    assert st.status == 401
    assert app.auth_count('/auth/cookie') == 0
    st = Stream(srv.port, '/private/user-42?token=' + token(), headers=fwd)
    assert st.status == 200
    with app.lock:
        _, h = app.seen[-1]
    assert h['X-Real-IP'] == '192.0.2.5'
    (path, event), = app.wait_events(1)
    st.close()
    assert path == '/hook/join'
    assert event['sub'] == '42' and event['addr'] == '192.0.2.5'
    assert event['channel'] == 'user-42' and event['event'] == 'subscribe'
