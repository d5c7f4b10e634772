"""Security properties over real sockets against the real binary: answers given before a body is
read never let the body be parsed as a request, published bytes cannot become active content in
a browser, the config cannot inject header bytes."""
import random
import re
import socket
import time

import pytest

from harness import read_response

SMUGGLE_CONF = '''
error_log stderr info;
http {
    access_log off;
    client_max_body_size 2k;
    channel smug { buffer 10; }
    server {
        listen 127.0.0.1:0;
        location = /pub { publish; channel $arg_channel; }
        location = /poll { push polling; channel smug; }
        location = /denied { root {www}; deny all; }
        location /files/ { root {www}; }
    }
}
'''

SMUGGLED = (b'POST /pub?channel=smug HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n'
            b'Content-Type: text/plain\r\n\r\nowned')

# Requests answered before (or without needing) their body: (name, method and target).
EARLY = [
    ('404 no location', b'POST /nomatch'),
    ('403 deny all', b'POST /denied'),
    ('405 static', b'POST /files/a.txt'),
    ('400 bad path', b'POST /files/%2e%2e/%2e%2e/x'),
    ('400 encoded slash', b'POST /files/a%2Fb'),
]


def with_body(start, body, chunked=False, extra=b''):
    if chunked:
        framed = b'%x\r\n%s\r\n0\r\n\r\n' % (len(body), body)
        return (start + b' HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n' + extra +
                b'\r\n' + framed)
    return (start + b' HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n' % len(body) + extra +
            b'\r\n' + body)


def responses(srv, data, timeout=3):
    """Sends data on one connection and returns every status the server sent until it closed."""
    out = srv.raw(data, timeout=timeout)
    return [int(m) for m in re.findall(rb'HTTP/1\.[01] (\d{3}) ', out)]


def smuggled_count(srv):
    s = srv.connect()
    s.sendall(b'GET /poll?since=0 HTTP/1.1\r\nHost: x\r\n\r\n')
    status, _, body = read_response(s)
    s.close()
    return 0 if status == 304 else body.count(b'owned')


@pytest.fixture
def smug(herald):
    return herald(SMUGGLE_CONF, files={'www/files/a.txt': 'a'})


@pytest.mark.parametrize('name,start', EARLY, ids=[e[0] for e in EARLY])
@pytest.mark.parametrize('chunked', [False, True], ids=['length', 'chunked'])
def test_early_answer_never_parses_the_body_as_a_request(smug, name, start, chunked):
    got = responses(smug, with_body(start, SMUGGLED, chunked))
    assert len(got) == 1 and got[0] in (400, 403, 404, 405), (name, got)
    assert smuggled_count(smug) == 0, name
    # the server is still in sync for the next client
    assert smug.request('POST', '/pub?channel=smug', body=b'fine')[0] == 201


def test_413_with_body_holding_a_request(smug):
    body = SMUGGLED + b'x' * 3000
    got = responses(smug, with_body(b'POST /pub?channel=smug', body))
    assert got == [413]
    assert smuggled_count(smug) == 0


def test_early_answers_pipelined_stay_in_sync_property(smug):
    """Property: whatever mix of early-answer requests (each carrying a complete second request
    in its body, framed by length or chunked) is pipelined on one connection, the smuggled
    requests are never answered and the server answers at most one response per real request."""
    rng = random.Random(20261205)
    for _ in range(60):
        n = rng.randint(1, 4)
        reqs, real = b'', 0
        for _ in range(n):
            kind = rng.randrange(3)
            if kind == 0:  # a request that is answered normally, keeps the connection
                reqs += b'GET /files/a.txt HTTP/1.1\r\nHost: x\r\n\r\n'
            else:
                _, start = rng.choice(EARLY)
                extra = b'Expect: 100-continue\r\n' if rng.random() < 0.2 else b''
                reqs += with_body(start, SMUGGLED * rng.randint(1, 3), kind == 2, extra)
            real += 1
        reqs += b'GET /files/a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
        real += 1
        got = [s for s in responses(smug, reqs, timeout=2) if s != 100]
        assert 201 not in got, (reqs, got)
        assert 1 <= len(got) <= real, (reqs, got)
    assert smuggled_count(smug) == 0


# ---- published content in browsers -----------------------------------------------------------

CONTENT_CONF = '''
error_log stderr info;
http {
    access_log off;
    channel c { buffer 10; }
    server {
        listen 127.0.0.1:0;
        location = /pub { publish; channel $arg_channel; }
        location = /poll { push polling; channel c; }
        location = /lp { push long-polling; channel c; }
        location = /sse { push sse; channel c; }
        location = /if { push iframe; channel c; }
        location = /trusted { push polling; channel c; push_trusted on; }
    }
}
'''

ACTIVE = ['text/html', 'text/html; charset=utf-8', 'TEXT/HTML', 'application/xhtml+xml',
          'image/svg+xml', 'text/xml', 'application/xml', 'application/rss+xml']
PASSIVE = ['text/plain', 'application/json', 'image/png', 'application/octet-stream', '']


@pytest.mark.parametrize('ctype', ACTIVE + PASSIVE)
def test_published_bytes_nosniff_and_active_types_sandboxed(herald, ctype):
    srv = herald(CONTENT_CONF)
    headers = {'Content-Type': ctype} if ctype else {}
    status, _, body = srv.request('POST', '/pub?channel=c', body=b'<script>alert(1)</script>',
                                  headers=headers)
    assert status == 201, body
    for path in ('/poll?since=0', '/lp?since=0', '/trusted?since=0'):
        status, h, body = srv.get(path)
        assert status == 200 and body == b'<script>alert(1)</script>', (path, status)
        assert h['x-content-type-options'] == 'nosniff', path
        sandboxed = ctype in ACTIVE and path != '/trusted?since=0'
        assert (h.get('content-security-policy') == 'sandbox') == sandboxed, (path, h)
    for path in ('/sse', '/if'):
        s = srv.connect()
        s.sendall(b'GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % path.encode())
        head = b''
        while b'\r\n\r\n' not in head:
            head += s.recv(4096)
        s.close()
        assert b'\r\nX-Content-Type-Options: nosniff\r\n' in head, (path, head)


def test_push_trusted_is_checked_by_config(tmp_path):
    import os
    import subprocess
    from harness import BIN
    user = 'user root;\n' if os.geteuid() == 0 else ''
    conf = tmp_path / 'good.conf'
    conf.write_text(user + 'http { push_trusted on; server { listen 127.0.0.1:0; } }\n')
    r = subprocess.run([BIN, '-t', '-c', str(conf)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    conf = tmp_path / 'bad.conf'
    conf.write_text(user + 'http { push_trusted maybe; server { listen 127.0.0.1:0; } }\n')
    r = subprocess.run([BIN, '-t', '-c', str(conf)], capture_output=True, text=True)
    assert r.returncode == 1 and 'push_trusted' in r.stderr, r.stderr


def test_header_injection_through_config_refused_by_t(tmp_path):
    import os
    import subprocess
    from harness import BIN
    user = 'user root;\n' if os.geteuid() == 0 else ''
    conf = tmp_path / 'inject.conf'
    conf.write_text(user + 'http { default_type "text/plain\r\nSet-Cookie: x=1"; '
                    'server { listen 127.0.0.1:0; } }\n')
    r = subprocess.run([BIN, '-t', '-c', str(conf)], capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    assert 'control character' in r.stderr and str(conf) + ':' in r.stderr, r.stderr


def test_access_line_of_a_malformed_request_is_its_own(herald):
    srv = herald('''
        error_log stderr info;
        http {
            access_log {tmp}/access.log;
            server { listen 127.0.0.1:0; root {www}; }
        }
    ''', files={'www/index.html': 'hi'})
    s = srv.connect()
    s.sendall(b'GET /index.html?first HTTP/1.1\r\nHost: x\r\nReferer: http://ref.example/\r\n'
              b'User-Agent: FirstAgent\r\n\r\n')
    assert read_response(s)[0] == 200
    s.sendall(b'GET /bad path HTTP/1.1\r\nHost: x\r\n\r\n')
    assert read_response(s)[0] == 400
    s.close()
    path = srv.tmp + '/access.log'
    deadline = time.time() + 5
    lines = []
    while time.time() < deadline and len(lines) < 2:
        time.sleep(0.2)
        try:
            lines = open(path, 'rb').read().splitlines()
        except FileNotFoundError:
            pass
    assert len(lines) == 2, lines
    assert b'?first' in lines[0] and b'FirstAgent' in lines[0]
    assert b' 400 ' in lines[1], lines[1]
    for leaked in (b'?first', b'ref.example', b'FirstAgent'):
        assert leaked not in lines[1], lines[1]


# ---- WebSocket resume larger than ws_max_queue ------------------------------------------------

RESUME_CONF = '''
error_log stderr info;
http {
    access_log off;
    ws_max_queue 1m;
    ws_ping_interval 0;
    channel big { buffer 40; }
    server {
        listen 127.0.0.1:0;
        location = /pub { publish; channel $arg_channel; }
        location /ws/ { push websocket; channel $tail; }
    }
}
'''
BIG_MSG = 100 * 1024


def big_message(i):
    return (b'%04d' % i) * (BIG_MSG // 4)


def read_ws_messages(s, want, timeout=15):
    """Reads text/binary frames until `want` arrived or a close frame; returns (payloads,
    close code or None)."""
    from clients import ws_frames
    s.settimeout(timeout)
    buf = b''
    while b'\r\n\r\n' not in buf:
        buf += s.recv(65536)
    head, _, buf = buf.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 101'), head
    got = []
    while len(got) < want:
        frames, buf = ws_frames(buf)
        for op, payload in frames:
            if op == 0x8:
                return got, int.from_bytes(payload[:2], 'big')
            got.append(payload)
        if len(got) >= want:
            break
        chunk = s.recv(1 << 18)
        if not chunk:
            return got, None
        buf += chunk
    return got, None


def test_websocket_resume_larger_than_queue_delivered_whole(herald):
    from clients import open_socket, ws_upgrade
    srv = herald(RESUME_CONF)
    for i in range(1, 31):
        assert srv.request('POST', '/pub?channel=big', body=big_message(i))[0] == 201
    s = open_socket(srv.port, rcvbuf=16384)
    s.sendall(ws_upgrade('/ws/big?since=0'))
    time.sleep(1.0)  # the reader is not reading yet: the backlog must wait, not be cut
    # Live messages published while the backlog is going out come after it, in order.
    for i in range(31, 34):
        assert srv.request('POST', '/pub?channel=big', body=big_message(i))[0] == 201
    got, close = read_ws_messages(s, 33)
    s.close()
    assert close is None, (len(got), close)
    assert [int(p[:4]) for p in got] == list(range(1, 34))
    assert all(p == big_message(int(p[:4])) for p in got)


# ---- smaller protocol rules --------------------------------------------------------------------

def test_repeated_websocket_key_or_version_is_400(herald):
    from clients import ws_upgrade
    srv = herald('''
        error_log stderr info;
        http { server { listen 127.0.0.1:0; location = /echo { push websocket; echo ""; } } }
    ''')
    good = ws_upgrade('/echo')
    assert responses(srv, good, timeout=1)[:1] == [101]
    head, _, _ = good.partition(b'\r\n\r\n')
    for extra in (b'Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==', b'Sec-WebSocket-Version: 13',
                  b'sec-websocket-key: AAAAAAAAAAAAAAAAAAAAAA=='):
        got = responses(srv, head + b'\r\n' + extra + b'\r\n\r\n', timeout=1)
        assert got[:1] == [400], (extra, got)


def test_ipv6_rule_does_not_match_ipv4_client(herald):
    srv = herald('''
        error_log stderr info;
        http {
            server {
                listen 127.0.0.1:0;
                root {www};
                location /v6 { allow ::/0; deny all; }
                location /v4 { allow 0.0.0.0/0; deny all; }
                location /mapped { allow ::ffff:127.0.0.0/104; deny all; }
            }
        }
    ''', files={'www/v6/a.txt': 'a', 'www/v4/a.txt': 'a', 'www/mapped/a.txt': 'a'})
    assert srv.get('/v6/a.txt')[0] == 403
    assert srv.get('/mapped/a.txt')[0] == 403
    assert srv.get('/v4/a.txt')[0] == 200


STATIC_CONF = '''
error_log stderr info;
http { server { listen 127.0.0.1:0; root {www}; } }
'''


def test_static_if_match_and_if_unmodified_since(herald):
    import os
    from email.utils import formatdate
    srv = herald(STATIC_CONF, files={'www/f.txt': 'hello'})
    os.utime(os.path.join(srv.www, 'f.txt'), (784111777, 784111777))  # Sun, 06 Nov 1994
    status, h, _ = srv.get('/f.txt')
    etag = h['etag']
    cases = [
        ({'If-Match': etag}, 200),
        ({'If-Match': '"nope"'}, 412),
        ({'If-Match': '"nope", ' + etag}, 200),
        ({'If-Match': '*'}, 200),
        ({'If-Match': 'W/' + etag}, 412),  # If-Match compares strongly
        ({'If-Unmodified-Since': 'Sun, 06 Nov 1994 08:49:37 GMT'}, 200),
        ({'If-Unmodified-Since': 'Sun, 06 Nov 1994 08:49:36 GMT'}, 412),
        ({'If-Unmodified-Since': 'Sunday, 06-Nov-94 08:49:36 GMT'}, 412),
        ({'If-Unmodified-Since': 'Sun Nov  6 08:49:36 1994'}, 412),
        ({'If-Unmodified-Since': 'garbage'}, 200),
        ({'If-Match': etag, 'If-Unmodified-Since': 'Sun, 06 Nov 1994 08:49:36 GMT'}, 200),
        # obsolete date forms in If-Modified-Since too
        ({'If-Modified-Since': 'Sunday, 06-Nov-94 08:49:37 GMT'}, 304),
        ({'If-Modified-Since': 'Sun Nov  6 08:49:37 1994'}, 304),
        ({'If-Modified-Since': formatdate(784111776, usegmt=True)}, 200),
    ]
    for headers, want in cases:
        assert srv.get('/f.txt', headers=headers)[0] == want, headers


def test_path_segment_longer_than_the_filesystem_allows_is_404(herald):
    srv = herald(STATIC_CONF, files={'www/f.txt': 'hello'})
    assert srv.get('/' + 'a' * 300)[0] == 404
    assert srv.get('/' + 'a' * 300 + '/b.txt')[0] == 404
    assert srv.get('/f.txt')[0] == 200
