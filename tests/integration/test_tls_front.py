"""The TLS-front recipe (README "TLS in front / PROXY protocol"): Debian's nginx with the
stream module terminates TLS (a self-signed certificate made here) and passes the connection to
herald with `proxy_protocol on;`. wss:// WebSocket echo and https:// SSE work through it, and
herald's allow/deny and access log see the client's address from the PROXY header (the clients
connect from 127.0.0.5 / 127.0.0.6, while nginx reaches herald from 127.0.0.1)."""
import asyncio
import http.client
import os
import socket
import ssl
import subprocess
import time

import pytest
import websockets

NGINX = '/usr/sbin/nginx'
STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so'

CONF = '''
    error_log stderr info;
    http {
        access_log {tmp}/access.log;
        server {
            listen 127.0.0.1:0 proxy_protocol;
            location = /echo  { push websocket; echo ""; }
            location /sse/    { push sse; channel $tail; }
            location = /pub   { publish; channel $arg_channel; }
            location = /mine  { push websocket; echo ""; allow 127.0.0.5; deny all; }
            location = /mine.txt { root {www}; allow 127.0.0.5; deny all; }
        }
        channel news { buffer 10; }
    }
'''
NGINX_CONF = '''
load_module {module};
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log info;
events {{ worker_connections 64; }}
stream {{
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {tmp}/cert.pem;
        ssl_certificate_key {tmp}/key.pem;
        proxy_pass 127.0.0.1:{upstream};
        proxy_protocol on;
    }}
}}
'''


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def front(herald, tmp_path):
    assert os.path.exists(NGINX) and os.path.exists(STREAM_MODULE), \
        'needs Debian packages nginx and libnginx-mod-stream (tools/deps.sh test)'
    srv = herald(CONF, files={'www/mine.txt': 'mine'})
    tmp = str(tmp_path)
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                    'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj',
                    '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
                    '-keyout', tmp + '/key.pem', '-out', tmp + '/cert.pem'],
                   check=True, capture_output=True, timeout=30)
    port = free_port()
    with open(tmp + '/nginx.conf', 'w') as f:
        f.write(NGINX_CONF.format(module=STREAM_MODULE, tmp=tmp, port=port, upstream=srv.port))
    proc = subprocess.Popen([NGINX, '-p', tmp, '-e', tmp + '/nginx-error.log', '-c',
                             tmp + '/nginx.conf'], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None, open(tmp + '/nginx-error.log').read()
            time.sleep(0.05)
    ctx = ssl.create_default_context(cafile=tmp + '/cert.pem')
    yield srv, port, ctx
    proc.terminate()
    proc.wait(timeout=10)


def https(port, ctx, source, method, path, body=None):
    c = http.client.HTTPSConnection('127.0.0.1', port, context=ctx, timeout=10,
                                    source_address=(source, 0))
    c.request(method, path, body=body)
    return c, c.getresponse()


def wss_exchange(port, ctx, source, path, messages):
    """Opens wss://127.0.0.1:port/path from the given source address, sends each message and
    returns the echoes."""
    async def run():
        s = socket.socket()
        s.bind((source, 0))
        s.setblocking(False)
        await asyncio.get_running_loop().sock_connect(s, ('127.0.0.1', port))
        async with websockets.connect('wss://127.0.0.1:%d%s' % (port, path), sock=s, ssl=ctx,
                                      server_hostname='127.0.0.1', open_timeout=10) as ws:
            out = []
            for m in messages:
                await ws.send(m)
                out.append(await asyncio.wait_for(ws.recv(), 10))
            return out
    return asyncio.run(run())


def access_line(srv, needle, timeout=5):
    path = os.path.join(srv.tmp, 'access.log')
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            for line in open(path).read().splitlines():
                if needle in line:
                    return line
        time.sleep(0.05)
    return ''


def test_wss_echo_through_nginx_with_the_client_address(front):
    srv, port, ctx = front
    assert wss_exchange(port, ctx, '127.0.0.5', '/echo', ['hello over TLS', b'\x00\x01bin']) == \
        ['hello over TLS', b'\x00\x01bin']
    assert wss_exchange(port, ctx, '127.0.0.5', '/mine', ['mine']) == ['mine']
    with pytest.raises(Exception) as refused:
        wss_exchange(port, ctx, '127.0.0.6', '/mine', ['not mine'])
    assert '403' in str(refused.value)
    assert access_line(srv, 'GET /echo ').startswith('127.0.0.5 ')
    assert access_line(srv, 'GET /mine ').startswith('127.0.0.')
    assert srv.wait_log(r'access forbidden by rule, client: 127\.0\.0\.6')


def test_https_sse_and_allow_deny_through_nginx(front):
    srv, port, ctx = front
    c, r = https(port, ctx, '127.0.0.5', 'GET', '/sse/news')
    assert r.status == 200 and r.getheader('Content-Type').startswith('text/event-stream')
    p, pr = https(port, ctx, '127.0.0.6', 'POST', '/pub?channel=news', body=b'over tls')
    assert pr.status in (200, 201, 202), pr.status
    p.close()
    got = b''
    deadline = time.time() + 10
    while b'data: over tls' not in got and time.time() < deadline:
        got += r.fp.read1(4096) if hasattr(r.fp, 'read1') else r.read(1)
    assert b'data: over tls' in got, got
    c.close()
    ok = https(port, ctx, '127.0.0.5', 'GET', '/mine.txt')[1]
    assert ok.status == 200 and ok.read() == b'mine'
    denied = https(port, ctx, '127.0.0.6', 'GET', '/mine.txt')[1]
    assert denied.status == 403
    assert access_line(srv, 'POST /pub?channel=news ').startswith('127.0.0.6 ')
    assert access_line(srv, 'GET /mine.txt ').startswith('127.0.0.')
