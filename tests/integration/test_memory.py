"""Memory comes back: after 10,000 idle WebSocket connections open and close, herald's RSS
returns to within 2 MiB of what it was before they came (read from /proc). A bound, not a
timing: the test waits up to a few seconds for it.

The release binary, not the sanitized one: ASan keeps freed memory in its quarantine on
purpose, so its RSS says nothing about herald's allocator behaviour.
"""
import selectors
import time

import pytest

import harness
from clients import raise_nofile, release_binary, rss_bytes, wait_connections, ws_upgrade
from clients import open_socket

N = 10000
SLACK = 2 << 20

CONF = '''
error_log stderr notice;
worker_threads 1;
events { worker_connections 12000; }
http {
    access_log off;
    ws_ping_interval 0;
    channel idle { buffer 10; }
    server {
        listen 127.0.0.1:0;
        location /ws/      { push websocket; channel $tail; }
        location = /status { status; }
    }
}
'''


def open_upgraded(port, n):
    """n WebSocket subscribers, handshakes pipelined over non-blocking sockets."""
    socks = [open_socket(port, blocking=False) for _ in range(n)]
    req = ws_upgrade('/ws/idle')
    for s in socks:
        s.send(req)
    sel = selectors.DefaultSelector()
    heads = {}
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
        heads[s] = b''
    deadline = time.monotonic() + 60
    pending = n
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            heads[s] += s.recv(4096)
            if b'\r\n\r\n' in heads[s]:
                assert heads[s].startswith(b'HTTP/1.1 101'), heads[s][:80]
                sel.unregister(s)
                pending -= 1
    assert pending == 0, '%d handshakes unanswered' % pending
    return socks


def test_rss_returns_after_idle_connections_close(herald, monkeypatch):
    raise_nofile()
    path, why = release_binary()
    if path is None:
        pytest.fail('the release binary is needed for an RSS figure: ' + why)
    monkeypatch.setattr(harness, 'BIN', path)
    srv = herald(CONF)
    # Warm-up: one round of a few connections, so one-time allocations (the fd table's first
    # growth, the first buffers) are in the baseline.
    for s in open_upgraded(srv.port, 50):
        s.close()
    wait_connections(srv)
    time.sleep(0.5)
    baseline = rss_bytes(srv.proc.pid)
    socks = open_upgraded(srv.port, N)
    wait_connections(srv, want=N + 1)
    peak = rss_bytes(srv.proc.pid)
    for s in socks:
        s.close()
    wait_connections(srv, timeout=30)
    deadline = time.monotonic() + 5
    while True:
        rss = rss_bytes(srv.proc.pid)
        if rss <= baseline + SLACK or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    print('RSS: baseline %.1f MiB, %d idle WebSocket connections %.1f MiB, after they closed %.1f MiB'
          % (baseline / 2**20, N, peak / 2**20, rss / 2**20))
    assert peak > baseline + 4 * SLACK, 'the connections did not cost memory: the test proves nothing'
    assert rss <= baseline + SLACK, (baseline, peak, rss)
