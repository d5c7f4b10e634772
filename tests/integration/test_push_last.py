"""?last=N on a first connect: the newest N buffered messages (at most the buffer), then live, on
every strategy; polling and long-polling answer the oldest of the N first and walk on with
since=. A resume point (since, Last-Event-ID, If-None-Match) wins over last. N outside
1..1000 -> 400."""
import json

import pytest

from push_clients import (STRATEGY_ROUTES, Conn, Stream, Ws, channel_life, etag_text,
                          parse_iframe, parse_sse, publish)

CONF = '''
error_log stderr info;
http {
    access_log off;
    channel ev { buffer 5; }
    channel empty { buffer 5; }
    server {
        listen 127.0.0.1:0;
%s
    }
}
''' % STRATEGY_ROUTES


@pytest.fixture
def srv(herald):
    s = herald(CONF)
    for i in range(1, 8):  # m1..m7; the buffer keeps m3..m7
        assert publish(s, 'ev', 'm%d' % i)[0] == 201
    return s


def sse_data(st, n):
    st.wait_for(lambda s: len(parse_sse(s.body)[0]) >= n)
    return [(e['data'], e['id']) for e in parse_sse(st.body)[0]]


def test_sse(srv):
    L = channel_life(srv, 'ev')
    st = Stream(srv.port, '/sse/ev?last=2')
    assert st.status == 200
    assert sse_data(st, 2) == [('m6', L(6)), ('m7', L(7))]
    publish(srv, 'ev', 'm8')
    assert [d for d, _ in sse_data(st, 3)] == ['m6', 'm7', 'm8']
    assert b'herald-missed' not in bytes(st.body)
    st.close()


def test_sse_last_beyond_the_buffer_gives_all_buffered(srv):
    st = Stream(srv.port, '/sse/ev?last=1000')
    assert [d for d, _ in sse_data(st, 5)] == ['m3', 'm4', 'm5', 'm6', 'm7']
    assert b'herald-missed' not in bytes(st.body)
    st.close()


def test_resume_points_win_over_last(srv):
    L = channel_life(srv, 'ev')
    st = Stream(srv.port, '/sse/ev?last=1&since=' + L(4))
    assert [d for d, _ in sse_data(st, 3)] == ['m5', 'm6', 'm7']
    st.close()
    st = Stream(srv.port, '/sse/ev?last=1', headers={'Last-Event-ID': L(5)})
    assert [d for d, _ in sse_data(st, 2)] == ['m6', 'm7']
    st.close()
    c = Conn(srv.port)
    status, h, body = c.request('GET', '/poll/ev?last=3', headers={'If-None-Match': '"%s"' % L(6)})
    c.close()
    assert status == 200 and body == b'm7'


def test_iframe(srv):
    st = Stream(srv.port, '/if/ev?last=3')
    st.wait_for(lambda s: len(parse_iframe(s.body)) >= 3)
    assert [a[0] for _, a in parse_iframe(st.body)] == ['m5', 'm6', 'm7']
    publish(srv, 'ev', 'm8')
    st.wait_for(lambda s: len(parse_iframe(s.body)) >= 4)
    assert parse_iframe(st.body)[3][1][0] == 'm8'
    st.close()


def test_websocket(srv):
    ws = Ws(srv.port, '/ws/ev?last=2&format=json')
    assert ws.status == 101
    got = [json.loads(ws.recv()[1])['data'] for _ in range(2)]
    publish(srv, 'ev', 'm8')
    got.append(json.loads(ws.recv()[1])['data'])
    assert got == ['m6', 'm7', 'm8']
    ws.close()


@pytest.mark.parametrize('route', ['/poll/', '/lp/'])
def test_polling_and_long_polling_start_at_the_oldest_of_the_n(srv, route):
    c = Conn(srv.port)
    status, h, body = c.request('GET', route + 'ev?last=3')
    assert status == 200 and body == b'm5' and 'x-herald-missed' not in h
    got = [body]
    since = etag_text(h)
    for _ in range(2):
        status, h, body = c.request('GET', '%sev?since=%s' % (route, since))
        assert status == 200
        got.append(body)
        since = etag_text(h)
    c.close()
    assert got == [b'm5', b'm6', b'm7']


def test_empty_channel_is_live_only(srv):
    st = Stream(srv.port, '/sse/empty?last=5')
    st.wait_for(lambda s: b'retry' in s.body)
    publish(srv, 'empty', 'first')
    assert [d for d, _ in sse_data(st, 1)] == ['first']
    st.close()


@pytest.mark.parametrize('value', ['0', '1001', 'abc'])
@pytest.mark.parametrize('route', ['/sse/', '/poll/', '/lp/', '/if/', '/ws/'])
def test_bad_last_is_400(srv, route, value):
    if route == '/ws/':
        ws = Ws(srv.port, '/ws/ev?last=' + value)
        status = ws.status
        ws.close()
    else:
        c = Conn(srv.port)
        status, _, _ = c.request('GET', '%sev?last=%s' % (route, value))
        c.close()
    assert status == 400, (route, value, status)
    ok = Ws(srv.port, '/ws/ev?last=1000') if route == '/ws/' else None
    if ok:
        assert ok.status == 101
        ok.close()
