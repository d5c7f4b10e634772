"""Per-address limits: `limit_conn_per_addr N;` (requests in progress per client address; a
stream or a WebSocket counts while it is open) and `limit_rate_per_addr N/s burst=M;` (new
requests and WebSocket handshakes): 429 past them, other addresses unaffected, counted in
/status; behind a proxy they count the real address (PROXY header, trusted X-Forwarded-For)."""
import json
import re
import socket
import time

from clients import read_head, v2_inet, ws_upgrade
from harness import read_response

CONF = '''
    error_log stderr info;
    http {
        channel a { }
        server {
            listen 127.0.0.1:0;
            limit_conn_per_addr 2;
            location /sse/ { push sse; channel $tail; }
            location /ws/ { push websocket; channel $tail; }
        }
        server {
            listen 127.0.0.4:0;
            limit_rate_per_addr 1/s burst=3;
            root {www};
            location /ws/ { push websocket; channel $tail; }
        }
        server {
            listen 127.0.0.5:0 proxy_protocol;
            limit_conn_per_addr 1;
            location /sse/ { push sse; channel $tail; }
        }
        server {
            listen 127.0.0.6:0;
            real_ip_from 127.0.0.1;
            real_ip_header X-Forwarded-For;
            limit_rate_per_addr 1/s;
            root {www};
        }
        server {
            listen 127.0.0.8:0;
            location = /status { status; }
        }
    }
'''
FILES = {'www/index.html': 'hello'}


def port_of(srv, host):
    return int(re.search(r'listening on %s:(\d+)' % re.escape(host), srv.log()).group(1))


def opened(host, port, data, src='127.0.0.1'):
    """A socket from src to host:port that sent data and read the response head:
    (socket, status, head). The caller closes the socket."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(5)
    s.connect((host, port))
    s.sendall(data)
    code, head = read_head(s)
    return s, code, head


def sse(path='/sse/a'):
    return ('GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % path).encode()


def get(path, headers=''):
    return ('GET %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n' % (path, headers)).encode()


def status(srv):
    s, code, _ = opened('127.0.0.8', port_of(srv, '127.0.0.8'), get('/status'))
    assert code == 200
    body = b''
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    s.close()
    return json.loads(body)


def test_conn_limit_per_address_and_a_freed_slot(herald):
    srv = herald(CONF, files=FILES)
    host, port = '127.0.0.1', port_of(srv, '127.0.0.1')
    keep = []
    try:
        for path in ('/sse/a', '/ws/a'):  # a stream and a WebSocket both count while open
            s, code, _ = opened(host, port, sse(path) if path.startswith('/sse')
                                else ws_upgrade(path))
            keep.append(s)
            assert code == (200 if path.startswith('/sse') else 101)
        s, code, head = opened(host, port, sse())
        s.close()
        assert code == 429, head
        s, code, head = opened(host, port, ws_upgrade('/ws/a'))  # refused at the handshake
        s.close()
        assert code == 429, head
        # Another source address has its own count.
        other, code, _ = opened(host, port, sse(), src='127.0.0.2')
        keep.append(other)
        assert code == 200
        # Closing one frees its slot (the close is seen asynchronously: retry briefly).
        keep.pop(0).close()
        deadline = time.time() + 3
        while True:
            s, code, _ = opened(host, port, sse())
            if code == 200 or time.time() > deadline:
                break
            s.close()
            time.sleep(0.02)
        keep.append(s)
        assert code == 200
    finally:
        for s in keep:
            s.close()
    st = status(srv)
    assert st['limits']['rejected_conn'] >= 2
    assert srv.wait_log(r'limiting requests by limit_conn_per_addr \(2\), client: 127\.0\.0\.1')


def test_rate_limit_with_burst_and_websocket_handshakes(herald):
    srv = herald(CONF, files=FILES)
    host, port = '127.0.0.4', port_of(srv, '127.0.0.4')
    # 1/s with burst=3: four at once, the fifth is refused with Retry-After.
    codes = []
    for i in range(4):
        s, code, _ = opened(host, port, get('/index.html') if i % 2 else ws_upgrade('/ws/a'))
        s.close()
        codes.append(code)
    assert codes == [101, 200, 101, 200], codes
    s, code, head = opened(host, port, ws_upgrade('/ws/a'))
    s.close()
    assert code == 429, head
    assert b'Retry-After: 1\r\n' in head
    s, code, head = opened(host, port, get('/index.html'))
    s.close()
    assert code == 429
    # Another address has its own bucket.
    s, code, _ = opened(host, port, get('/index.html'), src='127.0.0.2')
    s.close()
    assert code == 200
    time.sleep(1.05)  # one token back (1/s)
    s, code, _ = opened(host, port, get('/index.html'))
    s.close()
    assert code == 200
    st = status(srv)
    assert st['limits']['rejected_rate'] >= 2
    assert st['limits']['addresses'] >= 1
    s, code, _ = opened('127.0.0.8', port_of(srv, '127.0.0.8'), get('/status?format=prometheus'))
    text = s.makefile('rb').read().decode()
    s.close()
    assert re.search(r'^herald_limit_rejected_total\{limit="rate"\} [1-9]', text, re.M), text
    assert 'herald_limit_rejected_total{limit="conn"} 0' in text


def test_limits_count_the_real_address_behind_a_proxy(herald):
    srv = herald(CONF, files=FILES)
    pp = port_of(srv, '127.0.0.5')
    keep = []
    try:
        # PROXY protocol: every connection comes from 127.0.0.1, the limit counts the address
        # in the header.
        s, code, _ = opened('127.0.0.5', pp, v2_inet('192.0.2.1', '127.0.0.5') + sse())
        keep.append(s)
        assert code == 200
        s, code, head = opened('127.0.0.5', pp, v2_inet('192.0.2.1', '127.0.0.5') + sse())
        s.close()
        assert code == 429, head
        s, code, _ = opened('127.0.0.5', pp, v2_inet('192.0.2.2', '127.0.0.5') + sse())
        keep.append(s)
        assert code == 200
    finally:
        for s in keep:
            s.close()
    assert srv.wait_log(r'limit_conn_per_addr \(1\), client: 192\.0\.2\.1')
    # Trusted X-Forwarded-For: the rate is per forwarded address.
    xp = port_of(srv, '127.0.0.6')
    results = []
    for client in ('192.0.2.1', '192.0.2.1', '192.0.2.2'):
        s = socket.create_connection(('127.0.0.6', xp), timeout=5)
        s.sendall(get('/index.html', 'X-Forwarded-For: %s\r\n' % client))
        results.append(read_response(s)[0])
        s.close()
    assert results == [200, 429, 200], results
    assert srv.wait_log(r'limit_rate_per_addr \(1/s burst=0\), client: 192\.0\.2\.1')
