"""Real WebSocket clients against herald's echo route: Python `websockets` (Debian
python3-websockets, asyncio API) and Node `ws` (tests/node, pinned by package-lock.json; run
`npm ci` there, tools/run-integration.sh does). Each runs an echo session of text, binary and
fragmented messages and ends with a clean close that must report code 1000.
"""
import asyncio
import json
import os
import shutil
import signal
import subprocess

import pytest

websockets = pytest.importorskip('websockets')
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.join(HERE, '..', 'node')
PREFIX = '服务器回应:'

CONF = '''
error_log stderr info;
worker_threads 1;
http {
    access_log off;
    ws_close_timeout 1s;
    channel_autocreate on;
    server {
        listen 127.0.0.1:0;
        location = /echo  { push websocket; echo "服务器回应:"; }
        location = /raw   { push websocket; echo ""; }
        location = /small { push websocket; echo ""; ws_max_message_size 1k; }
        location = /proto { push websocket; echo ""; ws_protocols chat superchat; }
        location = /status { status; }
        location /ws/ { push websocket; channel $tail; }
        location = /pub { publish; channel $arg_channel; }
    }
}
'''


@pytest.fixture
def srv(herald):
    return herald(CONF)


def run(coro, timeout=8):
    return asyncio.run(asyncio.wait_for(coro, timeout))


# ---- Python websockets ---------------------------------------------------------------------

def check_extensions(ws, compression):
    if compression is None:
        assert not ws.extensions
    else:  # herald accepts websockets' offer, without context takeover in either direction
        assert [e.name for e in ws.extensions] == ['permessage-deflate']
        assert ws.extensions[0].remote_no_context_takeover
        assert ws.extensions[0].local_no_context_takeover


COMPRESSION = pytest.mark.parametrize('compression', [None, 'deflate'])


@COMPRESSION
def test_python_websockets_echo_session(srv, compression):
    url = 'ws://127.0.0.1:%d/echo' % srv.port

    async def session():
        async with websockets.connect(url, max_size=None, compression=compression) as ws:
            check_extensions(ws, compression)
            await ws.send('hello')
            assert await ws.recv() == PREFIX + 'hello'
            await ws.send('你好 ✓')
            assert await ws.recv() == PREFIX + '你好 ✓'
            await ws.send(b'\x00\x01\xfe\xff')
            assert await ws.recv() == b'\x00\x01\xfe\xff'
            # An iterable sends one fragmented message (text frame + continuations).
            await ws.send(['frag1 ', 'frag2 ', '分片 ', 'end'])
            assert await ws.recv() == PREFIX + 'frag1 frag2 分片 end'
            await ws.send([b'\x01', b'\x02\x03', b''])
            assert await ws.recv() == b'\x01\x02\x03'
            await ws.send('')
            assert await ws.recv() == PREFIX
            big = 'y' * (64 * 1024)
            await ws.send(big)
            assert await ws.recv() == PREFIX + big
            pong = await ws.ping(b'py-ping')
            await asyncio.wait_for(pong, 2)
            await ws.close(1000, 'done')
            return ws.close_code, ws.close_reason

    code, _ = run(session())
    assert code == 1000


@pytest.mark.parametrize('compression', [None, 'deflate', 'memLevel1'])
def test_python_websockets_large_binary_and_subprotocol(srv, compression):
    # Random bytes do not compress: zlib sends them as stored blocks, 5 bytes of overhead each,
    # in blocks of 2 KiB at websockets' default memLevel 5 and 128 bytes at memLevel 1, so the
    # compressed frame of a maximal message is larger than ws_max_message_size; the limit is
    # on the inflated size, and the frame must be accepted.
    url = 'ws://127.0.0.1:%d/proto' % srv.port
    extensions = None
    if compression == 'memLevel1':
        from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
        extensions = [ClientPerMessageDeflateFactory(client_max_window_bits=True,
                                                     compress_settings={'memLevel': 1})]
        compression = None

    async def session():
        async with websockets.connect(url, subprotocols=['nope', 'superchat', 'chat'],
                                      max_size=None, compression=compression,
                                      extensions=extensions) as ws:
            check_extensions(ws, 'deflate' if extensions else compression)
            assert ws.subprotocol == 'superchat'
            data = os.urandom(1 << 20)  # exactly the default ws_max_message_size
            await ws.send(data)
            assert await ws.recv() == data
            await ws.close()
            return ws.close_code

    assert run(session()) == 1000


def test_status_counts_bytes_before_and_after_compression(srv):
    """/status's ws_deflate: messages and payload bytes, plain and on the wire, each way: an
    echo (inflated in, compressed out) and a published message (a shared frame)."""
    import urllib.request

    def figures():
        with urllib.request.urlopen('http://127.0.0.1:%d/status' % srv.port, timeout=5) as r:
            return json.load(r)['ws_deflate']

    assert figures() == {'sent': {'messages': 0, 'plain_bytes': 0, 'wire_bytes': 0},
                         'received': {'messages': 0, 'wire_bytes': 0, 'plain_bytes': 0}}
    text = 'compressible ' * 300  # 3,900 bytes

    async def session():
        async with websockets.connect('ws://127.0.0.1:%d/raw' % srv.port,
                                      compression='deflate') as ws:
            await ws.send(text)
            assert await ws.recv() == text
        async with websockets.connect('ws://127.0.0.1:%d/ws/news' % srv.port,
                                      compression='deflate') as ws:
            req = urllib.request.Request('http://127.0.0.1:%d/pub?channel=news' % srv.port,
                                         data=text.encode(), method='POST',
                                         headers={'Content-Type': 'text/plain'})
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: urllib.request.urlopen(req, timeout=5).read())
            assert await ws.recv() == text

    run(session())
    f = figures()
    assert f['received']['messages'] == 1 and f['received']['plain_bytes'] == len(text)
    assert 0 < f['received']['wire_bytes'] < len(text) // 10, f
    assert f['sent']['messages'] == 2 and f['sent']['plain_bytes'] == 2 * len(text)
    assert 0 < f['sent']['wire_bytes'] < 2 * len(text) // 10, f
    with urllib.request.urlopen('http://127.0.0.1:%d/status?format=prometheus' % srv.port,
                                timeout=5) as r:
        prom = r.read().decode()
    assert ('herald_ws_deflate_bytes_total{direction="sent",form="plain"} %d' % (2 * len(text))
            in prom), prom
    assert 'herald_ws_deflate_messages_total{direction="received"} 1' in prom


@COMPRESSION
def test_python_websockets_too_big_gets_1009(srv, compression):
    # Compressed, 2 KiB of 'x' is a few bytes on the wire: the limit applies to the inflated size.
    url = 'ws://127.0.0.1:%d/small' % srv.port

    async def session():
        async with websockets.connect(url, compression=compression) as ws:
            check_extensions(ws, compression)
            await ws.send('x' * 2048)
            with pytest.raises(ConnectionClosedError) as e:
                await ws.recv()
            return e.value.rcvd.code if e.value.rcvd else None

    assert run(session()) == 1009


@COMPRESSION
def test_python_websockets_sees_1001_on_shutdown(srv, compression):
    url = 'ws://127.0.0.1:%d/echo' % srv.port

    async def session():
        async with websockets.connect(url, compression=compression) as ws:
            await ws.send('before')
            assert await ws.recv() == PREFIX + 'before'
            srv.signal(signal.SIGQUIT)
            with pytest.raises(ConnectionClosedOK) as e:
                await ws.recv()
            return e.value.rcvd.code

    assert run(session()) == 1001
    srv.proc.wait(timeout=5)


# ---- Node ws -------------------------------------------------------------------------------

def node_client(script, *args, timeout=15):
    node = shutil.which('node')
    if node is None:
        pytest.skip('node is not installed (tools/deps.sh test)')
    assert os.path.isdir(os.path.join(NODE_DIR, 'node_modules', 'ws')), \
        'tests/node/node_modules missing: run `npm ci` in tests/node'
    p = subprocess.run([node, os.path.join(NODE_DIR, script)] + list(args),
                       capture_output=True, timeout=timeout)
    lines = p.stdout.decode().strip().splitlines()
    assert lines, 'no output from %s: %s' % (script, p.stderr.decode())
    return p.returncode, json.loads(lines[-1])


@pytest.mark.parametrize('mode', ['', 'deflate'])
def test_node_ws_echo_session(srv, mode):
    rc, out = node_client('echo-client.mjs', 'ws://127.0.0.1:%d/echo' % srv.port, PREFIX, mode)
    assert out['failures'] == [], out
    assert out['closeCode'] == 1000, out
    if mode:
        assert out['extensions'].startswith('permessage-deflate'), out
    else:
        assert out['extensions'] == ''
    assert out['steps'] >= 9
    assert rc == 0 and out['ok'], out
