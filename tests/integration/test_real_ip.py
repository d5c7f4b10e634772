"""The real client address behind proxies (`real_ip_from`, `real_ip_header`, as nginx's realip
with real_ip_recursive on): X-Forwarded-For and X-Real-IP from a trusted peer change what
allow/deny and the access log see; an untrusted peer's header, malformed values and spoofed
leftmost entries do not; `real_ip_header proxy_protocol` believes a PROXY header only from a
trusted proxy."""
import os
import socket
import time

from clients import v2_inet
from harness import read_response

CONF = '''
    error_log stderr info;
    http {
        access_log {tmp}/access.log;
        real_ip_from 127.0.0.1;
        real_ip_from 10.0.0.0/8;
        real_ip_header X-Forwarded-For;
        server {
            listen 127.0.0.1:0;
            root {www};
            location / { allow 192.0.2.1; allow 2001:db8::5; deny all; }
            location /rip/ { real_ip_header X-Real-IP; allow 192.0.2.9; deny all; }
            location /off/ { real_ip_header X-Real-IP; real_ip_from 10.0.0.0/8;
                             allow 192.0.2.9; deny all; }
        }
        server {
            listen 127.0.0.3:0 proxy_protocol;
            root {www};
            location / { allow 192.0.2.1; deny all; }
            location /pp/ { real_ip_header proxy_protocol; allow 192.0.2.1; deny all; }
        }
    }
'''
FILES = {'www/index.html': 'hello', 'www/rip/index.html': 'rip', 'www/off/index.html': 'off',
         'www/pp/index.html': 'pp'}
def ask(port, path, headers=(), src='127.0.0.1', prefix=b'', dst='127.0.0.1'):
    """One request from source address src to dst:port; returns (status, body)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(5)
    s.connect((dst, port))
    try:
        head = 'GET %s HTTP/1.1\r\nHost: x\r\n' % path
        head += ''.join('%s: %s\r\n' % h for h in headers)
        s.sendall(prefix + (head + 'Connection: close\r\n\r\n').encode())
        code, _, body = read_response(s)
        return code, body
    finally:
        s.close()


class AccessLog:
    """The access log's lines, read again only when a wanted line is not there yet (the log is
    written in batches, at least once a second): one wait per batch, not per line."""

    def __init__(self, srv):
        self.path = os.path.join(srv.tmp, 'access.log')
        self.lines = []

    def __call__(self, needle, timeout=5):
        deadline = time.time() + timeout
        while True:
            for line in self.lines:
                if needle in line:
                    return line
            if time.time() > deadline:
                return ''
            time.sleep(0.05)
            if os.path.exists(self.path):
                self.lines = open(self.path).read().splitlines()


def xff(value):
    return (('X-Forwarded-For', value),)


def check(srv, cases, dst='127.0.0.1', port=None):
    """cases: (tag, path, headers, src, prefix, want_status, want_client). Sends every request,
    then reads the access log once they are all answered (its lines are written in batches)."""
    for tag, path, headers, src, prefix, want, _ in cases:
        code, _ = ask(port or srv.ports[0], path + '?' + tag, headers, src, prefix, dst)
        assert code == want, (tag, code)
    log = AccessLog(srv)
    for tag, _, _, _, _, _, client in cases:
        line = log('?' + tag + ' ')
        assert line.startswith(client + ' '), (tag, line)


def test_forwarded_for_from_a_trusted_peer_is_the_client(herald):
    srv = herald(CONF, files=FILES)
    lo = '127.0.0.1'
    check(srv, [
        ('a', '/index.html', xff('192.0.2.1'), lo, b'', 200, '192.0.2.1'),
        # A trusted hop (127.0.0.1, 10/8) on the right is skipped.
        ('b', '/index.html', xff('192.0.2.1, 10.1.2.3,127.0.0.1'), lo, b'', 200, '192.0.2.1'),
        # IPv6 and IPv4-mapped forms.
        ('c', '/index.html', xff('2001:db8::5'), lo, b'', 200, '2001:db8::5'),
        ('d', '/index.html', xff('::ffff:192.0.2.1'), lo, b'', 200, '192.0.2.1'),
        # Without the header the peer itself is the client (and is denied).
        ('e', '/index.html', (), lo, b'', 403, lo),
        # The client wrote 192.0.2.1 itself; the proxy appended the address it came from.
        ('s1', '/index.html', xff('192.0.2.1, 198.51.100.7'), lo, b'', 403, '198.51.100.7'),
        # Two fields are one list: the second field is the right end.
        ('s2', '/index.html', (('X-Forwarded-For', '192.0.2.1'),
                               ('X-Forwarded-For', '198.51.100.8')), lo, b'', 403,
         '198.51.100.8'),
        # An untrusted peer's header is not read.
        ('u', '/index.html', xff('192.0.2.1'), '127.0.0.7', b'', 403, '127.0.0.7'),
    ])
    assert srv.wait_log(r'access forbidden by rule, client: 198\.51\.100\.7')
    assert srv.wait_log(r'access forbidden by rule, client: 127\.0\.0\.7')


def test_malformed_values_keep_the_peer_address(herald):
    srv = herald(CONF, files=FILES)
    bad = ['192.0.2.1:80', '[2001:db8::5]', 'unknown', '', '192.0.2.1,,', 'x, 192.0.2.1',
           ','.join(['192.0.2.1'] * 33)]
    check(srv, [('m%d' % i, '/index.html', xff(v), '127.0.0.1', b'', 403, '127.0.0.1')
                for i, v in enumerate(bad)])
    assert srv.wait_log(r'client 127\.0\.0\.1: malformed X-Forwarded-For ignored')
    assert srv.wait_log(r'X-Forwarded-For with too many addresses ignored')


def test_location_overrides_header_and_trusted_ranges(herald):
    srv = herald(CONF, files=FILES)
    rip = (('X-Real-IP', '192.0.2.9'),)
    lo = '127.0.0.1'
    check(srv, [
        ('r1', '/rip/', rip, lo, b'', 200, '192.0.2.9'),
        ('r2', '/rip/', xff('192.0.2.9'), lo, b'', 403, lo),  # X-Forwarded-For not read here
        ('r3', '/off/', rip, lo, b'', 403, lo),  # /off/ trusts only 10/8
    ])


def test_proxy_protocol_address_and_real_ip_header(herald):
    srv = herald(CONF, files=FILES)
    lo = '127.0.0.1'
    check(srv, [
        # `real_ip_header proxy_protocol`: the PROXY address from a trusted proxy ...
        ('p1', '/pp/', (), lo, v2_inet('192.0.2.1'), 200, '192.0.2.1'),
        # ... and not from any other peer: then the peer's own address is the client.
        ('p2', '/pp/', (), '127.0.0.7', v2_inet('192.0.2.1'), 403, '127.0.0.7'),
        # X-Forwarded-For behind PROXY: the PROXY address (10.0.0.5, trusted) must be trusted.
        ('p3', '/index.html', xff('192.0.2.1'), lo, v2_inet('10.0.0.5'), 200, '192.0.2.1'),
        ('p4', '/index.html', xff('192.0.2.1'), lo, v2_inet('198.51.100.1'), 403,
         '198.51.100.1'),
    ], dst='127.0.0.3', port=srv.ports[1])
    assert srv.wait_log(r'PROXY protocol address from an untrusted peer ignored')


def test_the_next_request_on_a_connection_starts_from_the_socket_address(herald):
    """The forwarded address belongs to one request: the next request on the same keep-alive
    connection, here a malformed one answered before routing, is logged with the peer's own
    address, not the previous request's forwarded one."""
    srv = herald(CONF, files=FILES)
    s = socket.create_connection(('127.0.0.1', srv.ports[0]), timeout=5)
    try:
        s.sendall(b'GET /index.html?k1 HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.1\r\n\r\n')
        code, _, _ = read_response(s)
        assert code == 200
        s.sendall(b'GET /index.html?k2 HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n')
        code, _, _ = read_response(s)
        assert code == 400
    finally:
        s.close()
    log = AccessLog(srv)
    assert log('?k1 ').startswith('192.0.2.1 ')
    bad = log(' 400 ')
    assert bad.startswith('127.0.0.1 '), bad


def test_subscriber_log_lines_name_the_real_client(herald):
    """A stream's own log lines (revoked, token expired, slow consumer dropped) name the client
    as the access log does, not the proxy that carried it."""
    import http.client
    srv = herald('''
        error_log stderr info;
        http {
            channel_autocreate on;
            real_ip_from 127.0.0.1;
            real_ip_header X-Forwarded-For;
            server {
                listen 127.0.0.1:0;
                location /sse/ { push sse; channel $tail; }
                location = /pub { publish; channel $arg_channel; }
            }
        }
    ''')
    s = socket.create_connection(('127.0.0.1', srv.port), timeout=5)
    try:
        s.sendall(b'GET /sse/rip HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.44\r\n\r\n')
        head = b''
        while b'\r\n\r\n' not in head:
            chunk = s.recv(4096)
            assert chunk
            head += chunk
        assert head.startswith(b'HTTP/1.1 200')
        c = http.client.HTTPConnection('127.0.0.1', srv.port, timeout=5)
        c.request('DELETE', '/pub?channel=rip&subscribers=all')
        r = c.getresponse()
        assert (r.status, r.read()) == (200, b'{"ended":1}\n')
        c.close()
        assert srv.wait_log(r'sse subscriber 192\.0\.2\.44 of "rip" \(sub ""\): revoked')
    finally:
        s.close()
