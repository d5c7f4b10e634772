"""Observability: the delivery-latency histograms, per-worker loop figures and counters of
/status (JSON and Prometheus) checked against known traffic: a fixed number of live deliveries
per strategy, and one delivery held back by a subscriber that does not read, whose latency must
show the stall (the hand-off is measured when the last byte reaches the socket)."""
import json
import os
import re
import time

from harness import Herald, memory_broker_only
from push_clients import STRATEGY_ROUTES, Conn, Stream, Ws, id_life, id_seq, publish

CONF = '''
error_log stderr notice;
worker_threads 2;
http {
    access_log off;
    longpoll_timeout 10s;
    ws_ping_interval 0;
    client_max_body_size 16m;
    output_queue_limit 64m;
    status_top_channels 2;
    channel x { buffer 100; }
    channel a { } channel b { } channel c { } channel d { }
    server {
        listen 127.0.0.1:0;
''' + STRATEGY_ROUTES + '''        location = /status { status; }
        location /slow/ { push sse; channel $tail; output_queue_limit 16k; }
    }
}
'''

N = 10


def status_json(srv):
    c = Conn(srv.port)
    try:
        code, _, body = c.request('GET', '/status')
    finally:
        c.close()
    assert code == 200
    return json.loads(body)


def prometheus(srv):
    c = Conn(srv.port)
    try:
        code, h, body = c.request('GET', '/status?format=prometheus')
    finally:
        c.close()
    assert code == 200 and h['content-type'].startswith('text/plain')
    samples = {}
    for line in body.decode().splitlines():
        if line and not line.startswith('#'):
            name, value = line.rsplit(' ', 1)
            samples[name] = float(value)
    return samples


def buckets(samples, strategy):
    """[(le, cumulative count)] of one strategy's latency histogram, in exposition order."""
    out = []
    pat = re.compile(r'herald_delivery_latency_seconds_bucket\{strategy="%s",le="([^"]+)"\}$'
                     % re.escape(strategy))
    for name, v in samples.items():
        m = pat.match(name)
        if m:
            out.append((float('inf') if m.group(1) == '+Inf' else float(m.group(1)), v))
    return out


def wait_until(pred, timeout=5):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, 'timed out'
        time.sleep(0.05)


def test_latency_histograms_count_every_live_delivery(tmp_path):
    srv = Herald(CONF, tmp_path)
    try:
        sse = Stream(srv.port, '/sse/x')
        ifr = Stream(srv.port, '/if/x')
        ws = Ws(srv.port, '/ws/x')
        assert (sse.status, ifr.status, ws.status) == (200, 200, 101)
        lp = Conn(srv.port)
        lp.send(b'GET /lp/x HTTP/1.1\r\nHost: t\r\n\r\n')
        wait_until(lambda: sum(status_json(srv)['subscribers'].values()) == 4)
        for i in range(N):
            assert publish(srv, 'x', 'm%d' % i)[0] in (200, 201, 202)
        for _ in range(N):
            ws.recv()
        sse.wait_for(lambda s: s.body.count(b'data: m') == N)
        ifr.wait_for(lambda s: s.body.count(b'("m') == N)
        assert lp.response()[0] == 200
        # Polling answers from the buffer: that is not a live delivery and is not timed.
        poll = Conn(srv.port)
        assert poll.request('GET', '/poll/x')[0] == 200
        poll.close()

        st = status_json(srv)
        lat = st['latency']
        assert len(lat['bounds_ms']) == 18 and len(lat['all']['buckets']) == 19
        assert sum(lat['all']['buckets']) == lat['all']['count']
        assert {k: lat[k]['count'] for k in lat if k != 'bounds_ms'} == {
            'all': 3 * N + 1, 'polling': 0, 'long-polling': 1, 'iframe': N, 'sse': N,
            'websocket': N}
        for k in ('sse', 'iframe', 'websocket'):
            assert 0 <= lat[k]['p50_ms'] <= lat[k]['p99_ms'] < 5000, lat[k]
        # Each delivery counted once: 3 streams x N, the long-poll's live one, the poll's one.
        assert st['delivered'] == 3 * N + 2

        samples = prometheus(srv)
        for strategy, want in (('sse', N), ('websocket', N), ('long-polling', 1), ('polling', 0)):
            b = buckets(samples, strategy)
            assert len(b) == 19 and b[-1][0] == float('inf')
            assert all(b[i][1] <= b[i + 1][1] for i in range(len(b) - 1)), b
            assert b[-1][1] == want
            assert samples['herald_delivery_latency_seconds_count{strategy="%s"}' % strategy] == want
        assert samples['herald_delivery_latency_seconds_sum{strategy="sse"}'] > 0
        for c in (sse, ifr, ws, lp):
            c.close()
    finally:
        srv.stop()


def test_stalled_subscriber_shows_in_latency_and_queued_bytes(tmp_path):
    srv = Herald(CONF, tmp_path)
    try:
        sse = Stream(srv.port, '/sse/x', rcvbuf=4096)  # reads nothing until told
        wait_until(lambda: status_json(srv)['subscribers']['sse'] == 1)
        size = 8 << 20
        assert publish(srv, 'x', 'a' * size)[0] in (200, 201, 202)
        wait_until(lambda: sum(t['queued_bytes'] for t in status_json(srv)['threads']) > 0)
        time.sleep(0.6)
        assert status_json(srv)['latency']['sse']['count'] == 0  # not all handed over yet
        sse.wait_for(lambda s: len(s.body) >= size, timeout=20)
        wait_until(lambda: status_json(srv)['latency']['sse']['count'] == 1)
        st = status_json(srv)
        assert st['latency']['sse']['p50_ms'] >= 250, st['latency']  # bucket (0.5 s, 1 s] or later
        # Drained: the queue comes back to zero (the stream's own small writes, such as the
        # chunk that follows the message, may still be on their way when the count moved).
        wait_until(lambda: sum(t['queued_bytes'] for t in status_json(srv)['threads']) == 0)
        b = buckets(prometheus(srv), 'sse')
        assert dict(b)[0.5] == 0 and b[-1][1] == 1, b
        sse.close()
    finally:
        srv.stop()


def test_worker_figures(tmp_path):
    srv = Herald(CONF, tmp_path)
    try:
        held = [Conn(srv.port) for _ in range(6)]
        for c in held:
            assert c.request('GET', '/poll/x')[0] in (200, 204, 304)
        first = status_json(srv)
        time.sleep(0.3)
        st = status_json(srv)
        threads = st['threads']
        assert len(threads) == st['workers'] == 2
        assert sum(t['connections'] for t in threads) == st['connections'] == 7
        # The kernel spreads connections over the workers' listening sockets at random, so all
        # seven may land on one worker (1 in 64): only a worker that has connections must have
        # looped; every figure only grows.
        for a, b in zip(first['threads'], threads):
            assert b['iterations'] >= a['iterations']
            assert b['wait_s'] + b['busy_s'] >= a['wait_s'] + a['busy_s']
            if a['connections']:
                assert a['iterations'] > 0 and a['wait_s'] + a['busy_s'] > 0
        # A wait is counted when it ends: the worker that answered the second reading woke up
        # after waiting through most of the 0.3 s.
        assert sum(t['wait_s'] for t in threads) - sum(t['wait_s'] for t in first['threads']) > 0.1
        # The held six plus the scrape itself (the previous reading's connection may still be
        # closing: wait for it).
        wait_until(lambda: (lambda p: p['herald_worker_connections{worker="0"}'] +
                            p['herald_worker_connections{worker="1"}'])(prometheus(srv)) == 7)
        samples = prometheus(srv)
        assert (samples['herald_worker_loop_iterations_total{worker="0"}'] +
                samples['herald_worker_loop_iterations_total{worker="1"}']) > 0
        assert 'herald_worker_queued_bytes{worker="1"}' in samples
        for c in held:
            c.close()
    finally:
        srv.stop()


def channel_info(srv, name):
    c = Conn(srv.port)
    try:
        code, _, body = c.request('GET', '/pub?channel=' + name)
    finally:
        c.close()
    assert code == 200
    return json.loads(body)


def test_channel_info_figures(tmp_path):
    srv = Herald(CONF, tmp_path)
    try:
        sse = Stream(srv.port, '/sse/x')
        ws = Ws(srv.port, '/ws/x')
        wait_until(lambda: channel_info(srv, 'x')['total_subscribers'] == 2)
        before = time.time()
        for i in range(5):
            publish(srv, 'x', 'm%d' % i)
        for _ in range(5):
            ws.recv()
        sse.wait_for(lambda s: s.body.count(b'data: m') == 5)
        poll = Conn(srv.port)
        assert poll.request('GET', '/poll/x')[0] == 200  # one more delivery, from the buffer
        poll.close()
        info = channel_info(srv, 'x')
        assert info['subscribers'] == {'polling': 0, 'long-polling': 0, 'iframe': 0, 'sse': 1,
                                       'websocket': 1}
        assert (info['published'], info['delivered'], info['dropped']) == (5, 11, 0)
        assert (info['buffered'], id_seq(info['first_id']), id_seq(info['last_id'])) == (5, 1, 5)
        assert id_life(info['first_id']) == id_life(info['last_id'])
        t = time.mktime(time.strptime(info['last_publish'][:19], '%Y-%m-%dT%H:%M:%S')) - time.timezone
        assert before - 1 <= t <= time.time() + 1, info['last_publish']
        assert 0 < info['publish_rate'] <= 1.0, info  # 5 messages add 5 / 10 s
        assert channel_info(srv, 'a')['last_publish'] == ''
        sse.close()
        ws.close()
    finally:
        srv.stop()


def test_slow_subscriber_counts_as_dropped_on_its_channel(tmp_path):
    srv = Herald(CONF, tmp_path)
    try:
        slow = Stream(srv.port, '/slow/a', rcvbuf=4096)  # never reads
        wait_until(lambda: channel_info(srv, 'a')['total_subscribers'] == 1)
        for _ in range(100):
            publish(srv, 'a', 'z' * 65536)
            if channel_info(srv, 'a')['dropped'] == 1:
                break
        assert channel_info(srv, 'a')['dropped'] == 1
        assert channel_info(srv, 'a')['total_subscribers'] == 0
        assert channel_info(srv, 'b')['dropped'] == 0
        assert status_json(srv)['dropped'] == 1
        slow.close()
    finally:
        srv.stop()


@memory_broker_only("per-channel figures cover the channels this node follows; one only published "
                    "to is not")
def test_top_channels_are_bounded(tmp_path):
    srv = Herald(CONF, tmp_path)
    try:
        subs = [Stream(srv.port, '/sse/' + name) for name in 'aaabcc']
        wait_until(lambda: status_json(srv)['subscribers']['sse'] == 6)
        for i in range(20):
            publish(srv, 'd', 'd%d' % i)
        top = status_json(srv)['top_channels']
        assert [c['channel'] for c in top['by_subscribers']] == ['a', 'c']
        assert [c['total_subscribers'] for c in top['by_subscribers']] == [3, 2]
        # d has the only non-zero rate; the rest tie at 0 and go by name.
        assert [c['channel'] for c in top['by_publish_rate']] == ['d', 'a']
        assert top['by_publish_rate'][0]['published'] == 20
        samples = prometheus(srv)
        series = sorted(k for k in samples if k.startswith('herald_channel_subscribers{'))
        assert series == ['herald_channel_subscribers{channel="%s"}' % n for n in 'acd']
        assert samples['herald_channel_subscribers{channel="a"}'] == 3
        assert samples['herald_channel_published_total{channel="d"}'] == 20
        assert samples['herald_channel_publish_rate{channel="d"}'] > 0
        for s in subs:
            s.close()
    finally:
        srv.stop()


def test_grafana_dashboard_queries_only_exported_metrics(tmp_path):
    """Every metric the packaged dashboard (pkg/grafana-herald.json) queries is one herald
    exports, with the labels the panels group by."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, 'pkg', 'grafana-herald.json')) as f:
        dash = json.load(f)
    exprs = [t['expr'] for p in dash['panels'] for t in p['targets']]
    assert len(exprs) >= 10
    srv = Herald(CONF, tmp_path)
    try:
        sse = Stream(srv.port, '/sse/x')
        publish(srv, 'x', 'one')
        sse.wait_for(lambda s: b'data: one' in s.body)
        wait_until(lambda: status_json(srv)['latency']['sse']['count'] == 1)
        exported = {re.match(r'[a-z_]+', k).group(0) for k in prometheus(srv)}
        for e in exprs:
            for metric in re.findall(r'\b(herald_[a-z_]+)\{', e):
                assert metric in exported, (metric, e)
            for label in re.findall(r'by \(([a-z_, ]+)\)', e):
                for name in label.split(', '):
                    assert name in ('le', 'strategy', 'worker', 'channel'), e
        sse.close()
    finally:
        srv.stop()
