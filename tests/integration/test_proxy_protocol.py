"""PROXY protocol on a listener (`listen ... proxy_protocol;`): the address in the v1 or v2
header becomes the client address that allow/deny, the access log and the log lines see; a
connection without a valid header is closed and logged; a listener without the flag treats a
PROXY line as a bad request."""
import os
import socket
import struct
import time

from clients import V2_SIG, v2_inet, v2_inet6

CONF = '''
    error_log stderr info;
    http {
        access_log {tmp}/access.log;
        server {
            listen 127.0.0.1:0 proxy_protocol;
            root {www};
            location / { allow 192.0.2.1; allow 2001:db8::5; deny all; }
        }
    }
'''
FILES = {'www/index.html': 'hello'}


def exchange(port, data, timeout=5):
    """Sends data, reads until the server closes; returns everything read."""
    s = socket.create_connection(('127.0.0.1', port), timeout=timeout)
    try:
        s.sendall(data)
        out = b''
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk
    finally:
        s.close()


def get(path):
    return ('GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' % path).encode()


def access_lines(srv, needle, timeout=5):
    path = os.path.join(srv.tmp, 'access.log')
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            lines = [l for l in open(path).read().splitlines() if needle in l]
            if lines:
                return lines
        time.sleep(0.05)
    return []


def test_v1_address_is_the_client_for_allow_deny_and_the_access_log(herald):
    srv = herald(CONF, files=FILES)
    pp = srv.ports[0]
    ok = exchange(pp, b'PROXY TCP4 192.0.2.1 127.0.0.1 40000 80\r\n' + get('/index.html?v1ok'))
    assert ok.startswith(b'HTTP/1.1 200'), ok
    assert ok.endswith(b'hello')
    denied = exchange(pp, b'PROXY TCP4 192.0.2.2 127.0.0.1 40001 80\r\n' + get('/index.html?v1no'))
    assert denied.startswith(b'HTTP/1.1 403'), denied
    assert access_lines(srv, '?v1ok')[0].startswith('192.0.2.1 ')
    assert access_lines(srv, '?v1no')[0].startswith('192.0.2.2 ')
    assert srv.wait_log(r'access forbidden by rule, client: 192\.0\.2\.2')


def test_v2_ipv4_and_ipv6_addresses(herald):
    srv = herald(CONF, files=FILES)
    pp = srv.ports[0]
    tlv = b'\x04' + struct.pack('>H', 3) + b'abc'
    ok = exchange(pp, v2_inet('192.0.2.1', '127.0.0.1', 40000, 80, tlv) + get('/index.html?v2ok'))
    assert ok.startswith(b'HTTP/1.1 200'), ok
    ok6 = exchange(pp, v2_inet6('2001:db8::5', '::1', 40000, 80) + get('/index.html?v2six'))
    assert ok6.startswith(b'HTTP/1.1 200'), ok6
    denied = exchange(pp, v2_inet('198.51.100.7', '127.0.0.1', 1, 80) + get('/index.html?v2no'))
    assert denied.startswith(b'HTTP/1.1 403'), denied
    assert access_lines(srv, '?v2ok')[0].startswith('192.0.2.1 ')
    assert access_lines(srv, '?v2six')[0].startswith('2001:db8::5 ')
    assert access_lines(srv, '?v2no')[0].startswith('198.51.100.7 ')


def test_local_and_unknown_keep_the_socket_address(herald):
    srv = herald(CONF, files=FILES)
    pp = srv.ports[0]
    # 127.0.0.1 is denied by the location, so the answer shows which address was used.
    local = exchange(pp, V2_SIG + b'\x20\x00\x00\x00' + get('/index.html?local'))
    assert local.startswith(b'HTTP/1.1 403'), local
    unknown = exchange(pp, b'PROXY UNKNOWN\r\n' + get('/index.html?unknown'))
    assert unknown.startswith(b'HTTP/1.1 403'), unknown
    assert access_lines(srv, '?local')[0].startswith('127.0.0.1 ')


def test_missing_or_bad_header_closes_the_connection_with_a_log_line(herald):
    srv = herald(CONF, files=FILES)
    pp = srv.ports[0]
    assert exchange(pp, get('/index.html?noheader')) == b''
    assert srv.wait_log(r'bad PROXY protocol header from 127\.0\.0\.1:\d+: no PROXY protocol header')
    assert exchange(pp, b'PROXY TCP4 192.0.2.1 127.0.0.1 99999 80\r\n' + get('/')) == b''
    assert srv.wait_log(r'bad PROXY protocol header from 127\.0\.0\.1:\d+: bad v1 ports')
    assert exchange(pp, b'PROXY TCP4 ' + b'1' * 200) == b''
    assert srv.wait_log(r'v1 line longer than 107 bytes')
    assert access_lines(srv, '?noheader', timeout=0.5) == []
    # The server is still fine.
    ok = exchange(pp, b'PROXY TCP4 192.0.2.1 127.0.0.1 1 80\r\n' + get('/index.html'))
    assert ok.startswith(b'HTTP/1.1 200'), ok


def test_header_split_over_many_writes_and_keep_alive(herald):
    srv = herald(CONF, files=FILES)
    data = (b'PROXY TCP4 192.0.2.1 127.0.0.1 40000 80\r\n' +
            b'GET /index.html?a HTTP/1.1\r\nHost: x\r\n\r\n' + get('/index.html?b'))
    s = socket.create_connection(('127.0.0.1', srv.ports[0]), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(0, len(data), 7):
        s.sendall(data[i:i + 7])
        time.sleep(0.005)
    out = b''
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    assert out.count(b'HTTP/1.1 200') == 2, out
    assert access_lines(srv, '?b')[0].startswith('192.0.2.1 ')


def test_plain_listener_does_not_read_proxy_headers(herald):
    srv = herald(CONF.replace(' proxy_protocol;', ';'), files=FILES)
    out = exchange(srv.port, b'PROXY TCP4 192.0.2.1 127.0.0.1 40000 80\r\n' + get('/index.html'))
    assert out.startswith(b'HTTP/1.1 400'), out


def test_config_rejects_unknown_listen_parameter(herald, tmp_path):
    import subprocess
    from harness import BIN
    conf = tmp_path / 'bad.conf'
    conf.write_text('user root;\nhttp { server { listen 127.0.0.1:0 proxy_protocl; } }\n')
    r = subprocess.run([BIN, '-t', '-c', str(conf)], capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    assert 'invalid parameter "proxy_protocl"' in r.stdout + r.stderr
