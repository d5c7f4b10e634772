"""Channels made by subscribers, and idle channels collected.

With `channel_autocreate on`, a subscriber that arrives before the first publish creates the
channel (as nchan does) and gets what is published next, on all five strategies, instead of a
404 that makes herald.js back off while messages go by; `channel_autocreate_on_subscribe off`
refuses that (nchan's nchan_subscribe_existing_channels_only). An autocreated channel with no
subscriber (nor poll) for `channel_idle_timeout` and no message younger than its ttl is
collected: the one-channel-per-user pattern no longer grows memory without bound.
"""
import json
import re
import socket
import time

import pytest

import harness
from harness import memory_broker_only
from clients import release_binary, rss_bytes, status
from push_clients import (STRATEGY_ROUTES, Conn, Stream, Ws, build_request, etag_text,
                          parse_iframe, parse_sse, publish)

CONF = '''
error_log stderr info;
worker_threads 2;
http {
    access_log off;
    channel_autocreate on;
    EXTRA
    server {
        listen 127.0.0.1:0;
        ROUTES
        location = /status { status; }
    }
}
'''


def conf(extra=''):
    return CONF.replace('EXTRA', extra).replace('ROUTES', STRATEGY_ROUTES)


def channels(srv):
    return status(srv)['channels']


class Early:
    """A subscriber on one strategy that arrives before the channel exists; got() waits for the
    first message's data."""

    def __init__(self, srv, strategy, channel):
        self.srv, self.strategy, self.channel = srv, strategy, channel
        self.conn = None
        if strategy == 'polling':
            c = Conn(srv.port)
            st, h, _ = c.request('GET', '/poll/' + channel)
            self.status = st
            self.cursor = etag_text(h) if 'etag' in h else None
            self.conn = c
        elif strategy == 'long-polling':
            c = Conn(srv.port)
            c.send(build_request('GET', '/lp/' + channel))
            self.conn = c
            self.status = None  # known when the response comes
        elif strategy == 'sse':
            self.conn = Stream(srv.port, '/sse/' + channel)
            self.status = self.conn.status
        elif strategy == 'iframe':
            self.conn = Stream(srv.port, '/if/' + channel + '?callback=herald_cb')
            self.status = self.conn.status
        else:
            self.conn = Ws(srv.port, '/ws/' + channel)
            self.status = self.conn.status

    def got(self):
        s = self.strategy
        if s == 'polling':
            path = '/poll/' + self.channel + ('?since=' + self.cursor if self.cursor else '')
            st, _, body = self.conn.request('GET', path)
            assert st == 200, st
            return body.decode()
        if s == 'long-polling':
            st, _, body = self.conn.response()
            self.status = st
            assert st == 200, (st, body)
            return body.decode()
        if s == 'sse':
            self.conn.wait_for(lambda t: parse_sse(t.body)[0])
            return parse_sse(self.conn.body)[0][0]['data']
        if s == 'iframe':
            self.conn.wait_for(lambda t: parse_iframe(t.body))
            return parse_iframe(self.conn.body)[0][1][0]
        op, data = self.conn.recv()
        assert op == 0x1
        return data.decode()

    def close(self):
        self.conn.close()


STRATEGIES = ['polling', 'long-polling', 'iframe', 'sse', 'websocket']


def test_a_subscriber_before_the_first_publish_creates_the_channel(herald):
    srv = herald(conf())
    subs = [Early(srv, s, 'early-' + s.replace('-', '')) for s in STRATEGIES]
    try:
        for e in subs:
            if e.strategy == 'polling':
                assert e.status in (204, 304), e.status  # "nothing yet", not 404
            elif e.strategy != 'long-polling':
                assert e.status in (200, 101), (e.strategy, e.status)
        assert channels(srv) == 5
        for e in subs:
            assert publish(srv, e.channel, 'first for ' + e.strategy)[0] == 201
        for e in subs:
            assert e.got() == 'first for ' + e.strategy, e.strategy
    finally:
        for e in subs:
            e.close()


def test_autocreate_on_subscribe_off_refuses_unknown_channels(herald):
    srv = herald(conf('channel_autocreate_on_subscribe off;'))
    for path in ('/poll/x', '/lp/x', '/if/x', '/sse/x'):
        code, _, _ = srv.get(path)
        assert code == 404, (path, code)
    ws = Ws(srv.port, '/ws/x')
    assert ws.status == 404
    ws.close()
    assert channels(srv) == 0
    # Publishers still create it, and then subscribers are welcome.
    assert publish(srv, 'x', 'hi')[0] == 201
    code, _, body = srv.get('/poll/x')
    assert (code, body) == (200, b'hi')


def wait_channels(srv, want, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        n = channels(srv)
        if n == want or time.monotonic() > deadline:
            return n
        time.sleep(0.1)


def test_idle_channels_are_collected_and_held_ones_are_not(herald):
    srv = herald(conf('channel_idle_timeout 1s; channel declared { buffer 5; }'))
    first = publish(srv, 'gone', 'm1')[1]['id']
    # Its info (not a use: it holds nothing) has a Redis node follow it too, so that /status
    # counts it on both brokers.
    assert srv.get('/pub?channel=gone')[0] == 200
    held = Ws(srv.port, '/ws/held')
    assert held.status == 101
    assert channels(srv) == 3
    assert wait_channels(srv, 2) == 2, 'the idle channel was not collected'
    time.sleep(1.5)  # "held" has its subscriber: it stays, and so does the declared one
    assert channels(srv) == 2
    assert publish(srv, 'held', 'still here')[0] == 201
    assert held.recv()[1] == b'still here'
    held.close()
    assert wait_channels(srv, 1) == 1, 'the channel whose subscriber left was not collected'
    assert srv.wait_log('collected 1 idle channel')
    # A client resuming from the collected channel's id gets the new life and the missed signal.
    again = publish(srv, 'gone', 'm2')[1]['id']
    assert again.split('-')[0] != first.split('-')[0]
    c = Conn(srv.port)
    st, h, body = c.request('GET', '/poll/gone?since=' + first)
    c.close()
    assert (st, body, h.get('x-herald-missed')) == (200, b'm2', '1')


def test_a_polled_channel_stays(herald):
    srv = herald(conf('channel_idle_timeout 1s;'))
    assert publish(srv, 'polled', 'm')[0] == 201
    c = Conn(srv.port)
    try:
        for _ in range(12):  # 2.4 s of polls, every 0.2 s
            assert c.request('GET', '/poll/polled')[0] == 200
            time.sleep(0.2)
    finally:
        c.close()
    assert channels(srv) == 1
    assert wait_channels(srv, 0) == 0


STATUS_RE = re.compile(rb'HTTP/1\.1 (\d{3}) ')


def pipeline(port, requests, batch=1000):
    """Sends requests over one keep-alive connection, batch at a time; returns the status
    counts. Responses carry no body that could hold a status line (201 JSON, 204)."""
    counts = {}
    s = socket.create_connection(('127.0.0.1', port), timeout=30)
    try:
        for i in range(0, len(requests), batch):
            part = requests[i:i + batch]
            s.sendall(b''.join(part))
            buf = b''
            seen = 0
            while seen < len(part):
                data = s.recv(1 << 20)
                assert data, 'herald closed the connection'
                buf += data
                cut = buf.rfind(b'\r\n\r\n')
                if cut < 0:
                    continue
                # Count the heads complete so far (a 201's small JSON body follows its head).
                found = STATUS_RE.findall(buf)
                seen = len(found)
            for code in STATUS_RE.findall(buf):
                counts[int(code)] = counts.get(int(code), 0) + 1
    finally:
        s.close()
    return counts


N = 100_000


@memory_broker_only("RSS of channels held in the node")
def test_a_hundred_thousand_idle_channels_give_their_memory_back(herald, monkeypatch):
    """100,000 channels, half made by publishing and half by subscribing (a poll each), go idle;
    /status's channel count and herald's RSS come back down. The release binary: ASan keeps
    freed memory in its quarantine, so its RSS says nothing about herald's."""
    path, why = release_binary()
    if path is None:
        pytest.fail('the release binary is needed for an RSS figure: ' + why)
    monkeypatch.setattr(harness, 'BIN', path)
    # The idle timeout leaves room for pipelining all N requests on a loaded machine (a 2 s
    # timeout let the first channels go before the count below under a parallel TSan run).
    srv = herald(conf('channel_idle_timeout 6s; max_channels 200000;'))
    pubs = [b'POST /pub?channel=u%d HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello' % i
            for i in range(N // 2)]
    polls = [b'GET /poll/s%d HTTP/1.1\r\nHost: x\r\n\r\n' % i for i in range(N // 2)]
    # Warm-up: a first round of 2,000 channels, collected, so one-time growth is in the baseline.
    assert pipeline(srv.port, pubs[:1000] + polls[:1000]) == {201: 1000, 204: 1000}
    assert wait_channels(srv, 0, timeout=15) == 0
    time.sleep(0.5)
    baseline = rss_bytes(srv.proc.pid)
    got = pipeline(srv.port, pubs + polls)
    assert got == {201: N // 2, 204: N // 2}, got
    assert channels(srv) == N
    peak = rss_bytes(srv.proc.pid)
    n = wait_channels(srv, 0, timeout=30)
    assert n == 0, '%d channels left after they went idle' % n
    deadline = time.monotonic() + 5
    while True:
        rss = rss_bytes(srv.proc.pid)
        if rss - baseline <= (peak - baseline) // 10 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    print('RSS: baseline %.1f MiB, %d channels %.1f MiB, after they were collected %.1f MiB'
          % (baseline / 2**20, N, peak / 2**20, rss / 2**20))
    assert peak - baseline > 20 << 20, 'the channels did not cost memory: the test proves nothing'
    assert rss - baseline <= (peak - baseline) // 10, (baseline, peak, rss)
