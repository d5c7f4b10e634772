"""HTTP/1.1 and static files over real sockets against the real binary."""
import os
import re
import socket
import subprocess
import time

import pytest

from harness import read_response

CONF = '''
error_log stderr info;
events { worker_connections 4000; }
http {
    include {repo}/conf/mime.types;
    access_log off;
    client_header_timeout 1s;
    keepalive_timeout 10s;
    client_max_body_size 1k;
    server {
        listen 127.0.0.1:0;
        root {www};
    }
}
'''

INDEX = '<!doctype html><title>herald test</title><p>hello</p>\n'


@pytest.fixture
def srv(herald, tmp_path):
    files = {'www/index.html': INDEX, 'www/ten.txt': '0123456789', 'www/sub/empty/.keep': '',
             'www/sub/page.html': '<p>sub</p>', 'secret.txt': 'TOP SECRET'}
    for i in range(10):
        files['www/p%d.txt' % i] = 'page %d' % i
    s = herald(CONF, files=files)
    os.symlink(os.path.join(s.tmp, 'secret.txt'), os.path.join(s.www, 'escape.txt'))
    os.symlink(os.path.join(s.www, 'ten.txt'), os.path.join(s.www, 'inside.txt'))
    return s


def responses(data):
    """Status codes of every response in a raw byte stream."""
    return [int(m) for m in re.findall(rb'^HTTP/1\.1 (\d{3}) ', data, re.M)]


def test_index_served_with_validators(srv):
    status, h, body = srv.get('/')
    assert status == 200
    assert body.decode() == INDEX
    assert h['content-type'].startswith('text/html')
    assert h['server'] == 'herald'
    assert re.match(r'^"[0-9a-f]+-[0-9a-f]+"$', h['etag'])
    assert h['accept-ranges'] == 'bytes'
    assert 'last-modified' in h and 'date' in h
    assert int(h['content-length']) == len(INDEX)


def test_head_has_no_body(srv):
    s = srv.connect()
    s.sendall(b'HEAD /ten.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /ten.txt HTTP/1.1\r\nHost: x\r\n\r\n')
    status, h, body = read_response(s, head_only=True)
    assert status == 200 and h['content-length'] == '10'
    status, h, body = read_response(s)
    assert body == b'0123456789'  # the HEAD response carried no body bytes


def test_keep_alive_rules(srv):
    s = srv.connect()
    for _ in range(3):
        s.sendall(b'GET /ten.txt HTTP/1.1\r\nHost: x\r\n\r\n')
        status, h, body = read_response(s)
        assert status == 200 and h['connection'] == 'keep-alive'
    s.sendall(b'GET /ten.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    status, h, _ = read_response(s)
    assert h['connection'] == 'close'
    assert s.recv(100) == b''
    # HTTP/1.0: close by default, keep-alive on request.
    out = srv.raw(b'GET /ten.txt HTTP/1.0\r\n\r\n')
    assert responses(out) == [200] and b'Connection: close' in out
    s = srv.connect()
    s.sendall(b'GET /ten.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n')
    status, h, _ = read_response(s)
    assert h['connection'] == 'keep-alive'
    s.sendall(b'GET /ten.txt HTTP/1.0\r\n\r\n')
    assert read_response(s)[0] == 200
    assert s.recv(10) == b''


def test_pipelining_ten_requests_in_one_write(srv):
    s = srv.connect()
    s.sendall(b''.join(b'GET /p%d.txt HTTP/1.1\r\nHost: x\r\n\r\n' % i for i in range(10)))
    for i in range(10):
        status, _, body = read_response(s)
        assert status == 200 and body == b'page %d' % i


def test_conditional_get(srv):
    _, h, _ = srv.get('/ten.txt')
    assert srv.get('/ten.txt', {'If-None-Match': h['etag']})[0] == 304
    assert srv.get('/ten.txt', {'If-None-Match': '"nope", ' + h['etag']})[0] == 304
    assert srv.get('/ten.txt', {'If-None-Match': '"nope"'})[0] == 200
    assert srv.get('/ten.txt', {'If-Modified-Since': h['last-modified']})[0] == 304
    assert srv.get('/ten.txt', {'If-Modified-Since': 'Thu, 01 Jan 1970 00:00:00 GMT'})[0] == 200


def test_ranges(srv):
    status, h, body = srv.get('/ten.txt', {'Range': 'bytes=2-5'})
    assert status == 206 and body == b'2345' and h['content-range'] == 'bytes 2-5/10'
    status, h, body = srv.get('/ten.txt', {'Range': 'bytes=-3'})
    assert status == 206 and body == b'789'
    status, h, body = srv.get('/ten.txt', {'Range': 'bytes=7-'})
    assert status == 206 and body == b'789'
    status, h, _ = srv.get('/ten.txt', {'Range': 'bytes=10-20'})
    assert status == 416 and h['content-range'] == 'bytes */10'
    assert srv.get('/ten.txt', {'Range': 'bytes=0-1,4-5'})[0] == 200  # multi-range: full body


def test_not_found_forbidden_redirect(srv):
    assert srv.get('/missing.html')[0] == 404
    assert srv.get('/sub/empty/')[0] == 403  # directory without index: no listing
    status, h, _ = srv.get('/sub')
    assert status == 301 and h['location'] == '/sub/'


def test_method_not_allowed(srv):
    status, h, _ = srv.request('POST', '/ten.txt', body=b'x')
    assert status == 405 and h['allow'] == 'GET, HEAD'
    status, h, _ = srv.request('DELETE', '/ten.txt')
    assert status == 405


def test_symlinks_never_leave_root(srv):
    assert srv.get('/inside.txt')[2] == b'0123456789'
    status, _, body = srv.get('/escape.txt')
    assert status == 403 and b'SECRET' not in body


@pytest.mark.parametrize('target', [
    b'/../secret.txt', b'/%2e%2e/secret.txt', b'/sub/../../secret.txt', b'/%2E%2E/%2e%2e/secret.txt',
    b'/sub%2F..%2F..%2Fsecret.txt', b'/ten.txt%00.html', b'/..%2fsecret.txt',
])
def test_traversal_rejected(srv, target):
    out = srv.raw(b'GET ' + target + b' HTTP/1.1\r\nHost: x\r\n\r\n')
    assert responses(out) == [400], out
    assert b'SECRET' not in out


def test_dot_segments_inside_root_are_resolved(srv):
    assert srv.get('/sub/../ten.txt')[2] == b'0123456789'
    assert srv.get('/sub/./page.html')[2] == b'<p>sub</p>'
    assert srv.get('/%74en.txt')[2] == b'0123456789'  # percent-decoded


STRICT = [
    ('cl_and_te', b'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400),
    ('two_cl', b'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', 400),
    ('bad_cl', b'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3x\r\n\r\nabc', 400),
    ('te_gzip', b'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n', 501),
    ('bad_chunk', b'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400),
    ('space_before_colon', b'GET / HTTP/1.1\r\nHost : x\r\n\r\n', 400),
    ('obs_fold', b'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  b\r\n\r\n', 400),
    ('nul_in_target', b'GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n', 400),
    ('ctl_in_header', b'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n', 400),
    ('missing_host', b'GET / HTTP/1.1\r\n\r\n', 400),
    ('two_hosts', b'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400),
    ('http2_version', b'GET / HTTP/2.0\r\nHost: x\r\n\r\n', 505),
    ('long_request_line', b'GET /' + b'a' * 9000 + b' HTTP/1.1\r\nHost: x\r\n\r\n', 414),
    ('huge_headers', b'GET / HTTP/1.1\r\nHost: x\r\n' + b'X-Big: ' + b'b' * 17000 + b'\r\n\r\n', 431),
    ('many_headers', b'GET / HTTP/1.1\r\nHost: x\r\n' + b''.join(b'X-%d: y\r\n' % i for i in range(101)) + b'\r\n', 431),
    ('body_too_large', b'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n' + b'x' * 5000, 413),
    ('chunked_too_large', b'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n' + b'x' * 2048 + b'\r\n0\r\n\r\n', 413),
]


@pytest.mark.parametrize('name,data,status', STRICT, ids=[c[0] for c in STRICT])
def test_strictness_status_and_close(srv, name, data, status):
    s = srv.connect(timeout=3)
    s.sendall(data + b'GET /ten.txt HTTP/1.1\r\nHost: x\r\n\r\n')
    out = b''
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except ConnectionResetError:
        pass
    # exactly one response with the expected status, then the server closed the connection
    assert responses(out) == [status], out[:300]


def test_chunked_body_then_pipelined_request(srv):
    s = srv.connect()
    s.sendall(b'POST /ten.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'
              b'3;ext=1\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n'
              b'GET /ten.txt HTTP/1.1\r\nHost: x\r\n\r\n')
    assert read_response(s)[0] == 405
    assert read_response(s)[2] == b'0123456789'


def test_slowloris_header_is_cut(srv):
    s = srv.connect(timeout=5)
    start = time.time()
    closed_at = None
    for b in b'GET /ten.txt HTTP/1.1\r\nHost: x\r\nX-Slow: ' + b'a' * 40:
        try:
            s.send(bytes([b]))
        except (BrokenPipeError, ConnectionResetError):
            closed_at = time.time()
            break
        s.settimeout(0.1)
        try:
            if s.recv(100) == b'':
                closed_at = time.time()
                break
        except socket.timeout:
            pass
        except ConnectionResetError:
            # herald closed with our unread bytes in its receive queue: the kernel answers RST
            closed_at = time.time()
            break
        if time.time() - start > 4:
            break
    assert closed_at is not None, 'trickling client was never cut off'
    assert 0.8 <= closed_at - start <= 2.5
    assert srv.get('/ten.txt')[0] == 200  # others unaffected


def test_thousand_keepalive_connections(herald):
    # Its own server: opening 1,000 connections one by one under ASan on a loaded machine can
    # take longer than the 1 s client_header_timeout the other tests use.
    srv = herald(CONF.replace('client_header_timeout 1s', 'client_header_timeout 60s'),
                 files={'www/ten.txt': '0123456789'})
    socks = [srv.connect(timeout=10) for _ in range(1000)]
    for rnd in range(2):
        for s in socks:
            s.sendall(b'GET /ten.txt HTTP/1.1\r\nHost: x\r\n\r\n')
        for s in socks:
            status, _, body = read_response(s)
            assert status == 200 and body == b'0123456789'
    for s in socks:
        s.close()


def test_curl_sees_the_same(srv):
    out = subprocess.run(['curl', '-s', '-i', 'http://127.0.0.1:%d/' % srv.port],
                         capture_output=True, timeout=10).stdout
    assert out.startswith(b'HTTP/1.1 200 OK')
    assert INDEX.encode() in out


def test_error_pages_are_html(srv):
    status, h, body = srv.get('/nope')
    assert status == 404 and h['content-type'] == 'text/html' and b'404 Not Found' in body
