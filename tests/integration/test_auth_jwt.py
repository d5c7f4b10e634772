"""Signed-token access (`auth_jwt`) over real sockets, with tokens made here by an independent
HS256 implementation (hmac + hashlib + base64): each of the five strategies with a valid, an
expired, a wrong-channel, a badly signed and a missing token; wildcard channel patterns; the
token from the Authorization header, ?token= and a cookie; the publisher with and without a
`publish` claim; the token kept out of the access log; live subscribers ended when their
token expires (WebSocket 4401, SSE/iframe final event, held long-poll 401); revocation through
the publisher API (by sub on one channel, on every channel, every subscriber of a channel),
across two event loops, with the count of ended subscribers."""
import base64
import hashlib
import hmac
import json
import os
import time

import pytest

from push_clients import Conn, Stream, Ws, parse_sse, publish

KEY = b'k' * 20 + b'0123456789ab-test-key'
OTHER_KEY = b'x' * 40

CONF = '''
error_log stderr info;
http {
    access_log {tmp}/access.log;
    channel_autocreate on;
    auth_jwt_leeway 0;
    server {
        listen 127.0.0.1:0;
        auth_jwt "file:jwt.key";
        location /poll/   { push polling; channel $tail; }
        location /lp/     { push long-polling; channel $tail; longpoll_timeout 1s; }
        location /held/   { push long-polling; channel $tail; longpoll_timeout 20s; }
        location /if/     { push iframe; channel $tail; }
        location /sse/    { push sse; channel $tail; }
        location /ws/     { push websocket; channel $tail; publish on; auth_jwt "file:jwt.key" publish; }
        location /cookie/ { push sse; channel $tail; auth_jwt_cookie jwt; }
        location /open/   { push sse; channel $tail; auth_jwt off; }
        location = /pub   { publish; channel $arg_channel; auth_jwt "file:jwt.key" publish; }
        location = /rawpub { publish; channel $arg_channel; auth_jwt off; }
    }
}
'''


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode()


def make_token(claims, key=KEY, alg='HS256'):
    head = b64url(json.dumps({'alg': alg, 'typ': 'JWT'}).encode())
    body = b64url(json.dumps(claims).encode())
    sig = b64url(hmac.new(key, (head + '.' + body).encode(), hashlib.sha256).digest())
    return head + '.' + body + '.' + sig


def token(channels=('user-42',), sub='42', ttl=300, **extra):
    claims = {'sub': sub, 'channels': list(channels), 'exp': int(time.time()) + ttl}
    claims.update(extra)
    return make_token(claims)


@pytest.fixture
def srv(herald):
    return herald(CONF, files={'jwt.key': KEY.decode() + '\n'})


def bearer(tok):
    return {'Authorization': 'Bearer ' + tok}


def answer(srv, strategy, channel, tok):
    """(status, headers) of one subscribe attempt; tok None = no token."""
    q = '?since=0' + ('&token=' + tok if tok else '')
    path = {'polling': '/poll/', 'long-polling': '/lp/', 'iframe': '/if/', 'sse': '/sse/',
            'websocket': '/ws/'}[strategy] + channel + q
    if strategy == 'websocket':
        ws = Ws(srv.port, path)
        ws.close()
        return ws.status, ws.headers
    if strategy in ('iframe', 'sse'):
        st = Stream(srv.port, path)
        st.close()
        return st.status, st.headers
    status, headers, _ = srv.get(path)
    return status, headers


CASES = [
    ('valid', lambda: token(), None),
    ('wildcard', lambda: token(channels=('user-4*',)), None),
    ('expired', lambda: token(ttl=-5), (401, 'error="invalid_token"')),
    ('not yet valid', lambda: token(nbf=int(time.time()) + 60), (401, 'error="invalid_token"')),
    ('wrong channel', lambda: token(channels=('user-43', 'user-4')), (403, 'insufficient_scope')),
    ('bad signature', lambda: make_token({'sub': '42', 'channels': ['user-42']}, OTHER_KEY),
     (401, 'error="invalid_token"')),
    ('alg none', lambda: make_token({'sub': '42', 'channels': ['user-42']}, alg='none'),
     (401, 'error="invalid_token"')),
    ('missing', lambda: None, (401, None)),
]


@pytest.mark.parametrize('strategy', ['polling', 'long-polling', 'iframe', 'sse', 'websocket'])
def test_each_strategy_checks_the_token(srv, strategy):
    publish(srv, 'user-42', 'hello', path='/rawpub')
    for name, make, refused in CASES:
        status, headers = answer(srv, strategy, 'user-42', make())
        if refused is None:
            assert status == (101 if strategy == 'websocket' else 200), name
            continue
        assert status == refused[0], (name, status)
        challenge = headers.get('www-authenticate', '')
        assert challenge.startswith('Bearer realm="herald"'), (name, challenge)
        if refused[1]:
            assert refused[1] in challenge, (name, challenge)
        else:
            assert 'error=' not in challenge, (name, challenge)
    assert srv.wait_log(r'subscribe of "user-42" refused for 127\.0\.0\.1: channel not in '
                        r'token \(sub "42"\): 403')
    assert srv.wait_log(r'subscribe of "user-42" refused for .*: expired \(sub "42"\): 401')


def test_token_sources_and_unguarded_routes(srv):
    tok = token()
    st = Stream(srv.port, '/sse/user-42', headers=bearer(tok))
    assert st.status == 200
    st.close()
    # The cookie counts only where auth_jwt_cookie names it.
    assert Stream(srv.port, '/sse/user-42', headers={'Cookie': 'jwt=' + tok}).status == 401
    st = Stream(srv.port, '/cookie/user-42', headers={'Cookie': 'a=b; jwt=' + tok})
    assert st.status == 200
    st.close()
    # A bad header token is not rescued by a good ?token= (the header is read first).
    assert Stream(srv.port, '/sse/user-42?token=' + tok, headers=bearer('x.y.z')).status == 401
    st = Stream(srv.port, '/open/user-42')
    assert st.status == 200
    st.close()


def test_publish_needs_the_publish_claim(srv):
    def pub(tok, channel='user-42'):
        conn = Conn(srv.port)
        status, h, body = conn.request('POST', '/pub?channel=' + channel, body=b'x',
                                       headers=bearer(tok) if tok else {})
        conn.close()
        return status, h

    assert pub(None)[0] == 401
    assert pub(token())[0] == 403  # may read user-42, not write to it
    assert pub(token(publish=['user-*']))[0] == 201
    assert pub(token(publish=['user-*']), 'news')[0] == 403
    # GET (channel info) on the publisher is guarded the same way.
    conn = Conn(srv.port)
    assert conn.request('GET', '/pub?channel=user-42')[0] == 401
    conn.close()
    # WebSocket with `publish on;`: the token reads; without a publish claim its messages
    # close the connection (1008), with one they are published.
    ws = Ws(srv.port, '/ws/user-42?token=' + token())
    assert ws.status == 101
    ws.send_text('from reader')
    op, payload = ws.recv()
    assert op == 8 and payload[:2] == (1008).to_bytes(2, 'big') and b'publish not allowed' in payload
    ws.close()
    ws = Ws(srv.port, '/ws/user-42?since=0&token=' + token(publish=['user-42']))
    assert ws.status == 101
    ws.send_text('from writer')
    seen = []
    while 'from writer' not in seen:
        op, payload = ws.recv()
        assert op == 1
        seen.append(payload.decode())
    ws.close()


def test_token_not_in_access_log(srv):
    publish(srv, 'user-42', 'hello', path='/rawpub')
    tok = token()
    assert srv.get('/poll/user-42?since=0&token=' + tok)[0] == 200
    assert srv.get('/poll/user-42?%74oken=' + tok + '&since=0&token=' + tok)[0] == 200
    assert srv.get('/poll/user-42?token=' + tok + 'x')[0] == 401
    srv.stop()
    with open(os.path.join(srv.tmp, 'access.log')) as f:
        log = f.read()
    assert log.count('token=***') == 3 and '%74oken=***&since=0' in log, log
    assert tok.split('.')[2] not in log and tok.split('.')[1] not in log
    assert tok.split('.')[2] not in srv.log()


def held_poll(srv, path):
    """Sends a long-poll that will be held; returns the connection to read its answer from."""
    conn = Conn(srv.port, timeout=6)
    conn.send(('GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % path).encode())
    return conn


def wait_subs(srv, channel, want, tok, timeout=3):
    """Waits until GET /pub shows the wanted {sub: count} for channel; returns the info."""
    deadline = time.time() + timeout
    while True:
        status, _, body = srv.get('/pub?channel=' + channel, headers=bearer(tok))
        info = json.loads(body) if status == 200 else {}
        if info.get('by_sub') == want or time.time() > deadline:
            assert info.get('by_sub') == want, (status, info)
            return info
        time.sleep(0.02)


def close_code(ws, timeout=5):
    while True:
        op, payload = ws.recv(timeout)
        if op == 8:
            return int.from_bytes(payload[:2], 'big'), payload[2:].decode()


def test_live_subscribers_end_when_the_token_expires(srv):
    admin = token(publish=['*'], sub='admin')
    tok = token(ttl=2)
    ws = Ws(srv.port, '/ws/user-42?token=' + tok)
    assert ws.status == 101
    sse = Stream(srv.port, '/sse/user-42?token=' + tok)
    ifr = Stream(srv.port, '/if/user-42?token=' + tok)
    lp = held_poll(srv, '/held/user-42?token=' + tok)
    keep = Stream(srv.port, '/sse/user-42?token=' + token(sub='43'))  # a later exp: stays
    assert sse.status == ifr.status == keep.status == 200
    wait_subs(srv, 'user-42', {'42': 4, '43': 1}, admin)
    started = time.time()
    assert close_code(ws) == (4401, 'token expired')
    sse.wait_for(lambda s: s.ended, 4)
    events = parse_sse(sse.body)[0]
    assert events[-1]['event'] == 'herald-expired', events
    ifr.wait_for(lambda s: s.ended, 4)
    assert b'({"ended":"expired"})' in ifr.body.replace(b'null,"",', b'')
    status, h = lp.head()
    assert status == 401 and 'invalid_token' in h['www-authenticate']
    assert time.time() - started < 3.5
    assert srv.wait_log(r'sse subscriber .* of "user-42" \(sub "42"\): token expired')
    publish(srv, 'user-42', 'still here', path='/rawpub')
    keep.wait_for(lambda s: b'still here' in s.body, 3)
    wait_subs(srv, 'user-42', {'43': 1}, admin)
    for c in (ws, sse, ifr, lp, keep):
        c.close()


REVOKE_CONF = CONF.replace('error_log stderr info;', 'error_log stderr info;\nworker_threads 2;')


def test_revocation_by_sub_and_by_channel(herald):
    srv = herald(REVOKE_CONF, files={'jwt.key': KEY.decode()})
    admin = token(publish=['*'], sub='admin')
    t42 = token(channels=['user-*'], sub='42')
    ws = [Ws(srv.port, '/ws/user-42?token=' + t42) for _ in range(2)]
    sse = Stream(srv.port, '/sse/user-42?token=' + t42)
    other = Stream(srv.port, '/sse/user-42?token=' + token(sub='43'))
    elsewhere = Ws(srv.port, '/ws/user-7?token=' + t42)
    lp = held_poll(srv, '/held/user-42?token=' + t42)
    assert all(w.status == 101 for w in ws + [elsewhere]) and sse.status == other.status == 200
    wait_subs(srv, 'user-42', {'42': 4, '43': 1}, admin)

    def delete(query, tok=admin):
        conn = Conn(srv.port)
        status, _, body = conn.request('DELETE', '/pub?' + query,
                                       headers=bearer(tok) if tok else {})
        conn.close()
        return status, (json.loads(body) if status == 200 else None)

    assert delete('channel=user-42&sub=42', tok=None)[0] == 401
    assert delete('channel=user-42&sub=42', tok=token(publish=['user-7']))[0] == 403
    assert delete('sub=42', tok=token(publish=['user-*']))[0] == 403  # every channel needs "*"
    assert delete('subscribers=all')[0] == 400
    assert delete('channel=user-42&subscribers=some')[0] == 400
    assert delete('channel=user-42&sub=')[0] == 400
    assert delete('channel=user-42&sub=42') == (200, {'ended': 4})
    for w in ws:
        assert close_code(w) == (4403, 'revoked')
    sse.wait_for(lambda s: s.ended, 3)
    assert parse_sse(sse.body)[0][-1]['event'] == 'herald-revoked'
    assert lp.head()[0] == 403
    info = wait_subs(srv, 'user-42', {'43': 1}, admin)
    assert info['total_subscribers'] == 1
    publish(srv, 'user-42', 'channel kept', path='/rawpub')
    other.wait_for(lambda s: b'channel kept' in s.body, 3)
    assert delete('sub=42') == (200, {'ended': 1})  # user-7, on every channel
    assert close_code(elsewhere) == (4403, 'revoked')
    assert delete('sub=42') == (200, {'ended': 0})
    assert delete('channel=user-42&subscribers=all') == (200, {'ended': 1})
    other.wait_for(lambda s: s.ended, 3)
    assert srv.wait_log(r'revoked 4 subscribers of "user-42" \(sub "42"\)')
    for c in ws + [sse, other, elsewhere, lp]:
        c.close()


def test_t_checks_the_key(tmp_path):
    import subprocess
    from harness import BIN

    def check(conf):
        path = tmp_path / 'h.conf'
        path.write_text(conf)
        return subprocess.run([BIN, '-t', '-c', str(path)], capture_output=True, text=True,
                              timeout=20)

    root = 'user root; ' if os.geteuid() == 0 else ''  # herald refuses root without it
    base = root + 'http { server { listen 127.0.0.1:0;\n  auth_jwt %s; } }\n'
    r = check(base % '"file:missing.key"')
    assert r.returncode == 1 and ('h.conf:2:12: open() "%s/missing.key" failed' % tmp_path) in r.stderr
    (tmp_path / 'short.key').write_text('too short\n')
    r = check(base % '"file:short.key"')
    assert r.returncode == 1 and 'h.conf:2:12: the "auth_jwt" key is 9 bytes' in r.stderr
    (tmp_path / 'good.key').write_bytes(KEY + b'\n')
    r = check(base % '"file:good.key" publish')
    assert r.returncode == 0, r.stderr
    assert KEY.decode() not in r.stderr + r.stdout
