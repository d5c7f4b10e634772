"""`push long-polling;` over real sockets: buffered answers at once, held requests
answered by the next publish or by longpoll_timeout (304), If-None-Match, the X-Herald-Missed
signal, 410 on channel DELETE, many held at once, clients that leave while held, CORS."""
import json
import select
import signal
import socket
import struct
import time

import pytest

from push_clients import Conn, build_request, etag_id, mid, publish

CONF = '''
error_log stderr info;
http {
    access_log off;
    longpoll_timeout 1s;
    channel a { buffer 100; }
    channel small { buffer 3; }
    channel none { buffer 0; }
    server {
        listen 127.0.0.1:0;
        location /lp/    { push long-polling; channel $tail; }
        location /slow/  { push long-polling; channel $tail; longpoll_timeout 30s; }
        location /cors/  { push long-polling; channel $tail; allow_origin https://good.example; }
        location = /pub  { publish; channel $arg_channel; }
        location = /status { status; }
    }
}
'''


@pytest.fixture
def srv(herald):
    return herald(CONF)


def start(srv, path, headers=None):
    """Sends a long-poll and returns the connection without reading the answer."""
    c = Conn(srv.port)
    c.send(build_request('GET', path, headers=headers))
    return c


def answered(c, within):
    """True if the server has started answering within `within` seconds."""
    if c.buf:
        return True
    r, _, _ = select.select([c.sock], [], [], within)
    return bool(r)


def status_json(srv):
    c = Conn(srv.port)
    try:
        return json.loads(c.request('GET', '/status')[2])
    finally:
        c.close()


def wait_held(srv, n, timeout=3):
    deadline = time.time() + timeout
    while status_json(srv)['subscribers']['long-polling'] != n:
        assert time.time() < deadline, 'expected %d held long-polls' % n
        time.sleep(0.02)


def test_buffered_message_answers_at_once(srv):
    publish(srv, 'a', 'm1')
    publish(srv, 'a', 'm2')
    c = Conn(srv.port)
    t0 = time.time()
    status, h, body = c.request('GET', '/lp/a?since=0')
    assert (status, etag_id(h), body) == (200, 1, b'm1')
    assert h['cache-control'] == 'no-cache'
    status, h, body = c.request('GET', '/lp/a?since=' + mid(srv, 'a', 1))  # keep-alive
    assert (status, etag_id(h), body) == (200, 2, b'm2')
    assert time.time() - t0 < 0.9
    c.close()


def test_held_until_publish(srv):
    publish(srv, 'a', 'm1')
    c = start(srv, '/lp/a?since=' + mid(srv, 'a', 1))
    assert not answered(c, 0.3)
    t0 = time.time()
    assert publish(srv, 'a', 'later', ctype='text/x-custom')[0] == 201
    status, h, body = c.response()
    assert time.time() - t0 < 0.9
    assert (status, etag_id(h), body) == (200, 2, b'later')
    assert h['content-type'] == 'text/x-custom'
    # The connection stays usable: the next poll is held again.
    c.send(build_request('GET', '/lp/a?since=' + mid(srv, 'a', 2)))
    assert not answered(c, 0.2)
    publish(srv, 'a', 'third')
    assert c.response()[2] == b'third'
    c.close()


def test_without_since_waits_for_the_next_new_message(srv):
    publish(srv, 'a', 'old')
    c = start(srv, '/lp/a')
    assert not answered(c, 0.3)
    publish(srv, 'a', 'new')
    status, h, body = c.response()
    assert (status, etag_id(h), body) == (200, 2, b'new')
    c.close()


def test_timeout_is_304(srv):
    publish(srv, 'a', 'm1')
    c = start(srv, '/lp/a?since=' + mid(srv, 'a', 1))
    t0 = time.time()
    status, h, body = c.response()
    took = time.time() - t0
    assert status == 304 and body == b''
    assert etag_id(h) == 1  # the client's resume point is unchanged
    assert 0.8 <= took < 3, took
    # Keep-alive after the 304: the next poll still works.
    publish(srv, 'a', 'm2')
    status, h, body = c.request('GET', '/lp/a?since=' + mid(srv, 'a', 1))
    assert body == b'm2'
    c.close()


def test_if_none_match_is_the_resume_point(srv):
    for i in range(1, 4):
        publish(srv, 'a', 'm%d' % i)
    c = Conn(srv.port)
    status, h, body = c.request('GET', '/lp/a',
                                headers={'If-None-Match': '"%s"' % mid(srv, 'a', 1)})
    assert (etag_id(h), body) == (2, b'm2')
    c.send(build_request('GET', '/lp/a', headers={'If-None-Match': '"%s"' % mid(srv, 'a', 3)}))
    assert not answered(c, 0.3)
    publish(srv, 'a', 'm4')
    status, h, body = c.response()
    assert (etag_id(h), body) == (4, b'm4')
    # Weak tags, lists and "*" (RFC 9110 §13.1.2); the header wins over ?since=.
    status, h, body = c.request('GET', '/lp/a?since=0',
                                headers={'If-None-Match': 'W/"%s"' % mid(srv, 'a', 2)})
    assert (etag_id(h), body) == (3, b'm3')
    status, h, body = c.request('GET', '/lp/a', headers={
        'If-None-Match': '"%s", "%s"' % (mid(srv, 'a', 1), mid(srv, 'a', 3))})
    assert (etag_id(h), body) == (4, b'm4')
    c.send(build_request('GET', '/lp/a?since=0', headers={'If-None-Match': '*'}))
    assert not answered(c, 0.3)  # "*": the client has the newest, so wait for the next
    publish(srv, 'a', 'm5')
    status, h, body = c.response()
    assert (etag_id(h), body) == (5, b'm5')
    c.close()


def test_missed_older_than_buffer(srv):
    for i in range(1, 7):
        publish(srv, 'small', 'm%d' % i)
    c = Conn(srv.port)
    status, h, body = c.request('GET', '/lp/small?since=' + mid(srv, 'small', 2))
    assert (status, etag_id(h), body) == (200, 4, b'm4')
    assert h['x-herald-missed'] == '1'
    status, h, body = c.request('GET', '/lp/small?since=' + mid(srv, 'small', 4))
    assert body == b'm5' and 'x-herald-missed' not in h
    c.close()


def test_missed_for_unknown_id(srv):
    for i in range(1, 3):
        publish(srv, 'small', 'm%d' % i)
    c = Conn(srv.port)
    t0 = time.time()
    status, h, body = c.request('GET', '/lp/small?since=' + mid(srv, 'small', 50))
    assert (status, etag_id(h), body) == (200, 1, b'm1')
    assert h['x-herald-missed'] == '1'
    assert time.time() - t0 < 0.9  # never held: the client must learn it at once
    c.close()


def test_missed_with_nothing_buffered_answers_at_once(srv):
    publish(srv, 'none', 'gone')  # buffer 0: nothing is kept
    c = Conn(srv.port)
    t0 = time.time()
    status, h, body = c.request('GET', '/lp/none?since=' + mid(srv, 'none', 7))
    assert time.time() - t0 < 0.9
    assert status in (204, 304) and h['x-herald-missed'] == '1'
    # Up to date on an unbuffered channel: held, then the live message.
    c.send(build_request('GET', '/lp/none?since=' + mid(srv, 'none', 1)))
    assert not answered(c, 0.2)
    publish(srv, 'none', 'live')
    status, h, body = c.response()
    assert (etag_id(h), body) == (2, b'live')
    c.close()


def test_delete_answers_held_polls_with_410(srv):
    polls = [start(srv, '/slow/a?since=0') for _ in range(3)]
    wait_held(srv, 3)
    c = Conn(srv.port)
    status, h, body = c.request('DELETE', '/pub?channel=a')
    assert status == 200
    for p in polls:
        p.sock.settimeout(2)
        assert p.response()[0] == 410
        p.close()
    # The channel is gone.
    status, h, body = c.request('GET', '/lp/a?since=0')
    assert status == 404
    c.close()


def test_many_held_released_by_one_publish(srv):
    n = 200
    polls = [start(srv, '/slow/a?since=0') for _ in range(n)]
    wait_held(srv, n, timeout=5)
    status, info = publish(srv, 'a', 'broadcast')
    assert status == 201 and info['subscribers'] == n
    for p in polls:
        p.sock.settimeout(3)
        status, h, body = p.response()
        assert (status, etag_id(h), body) == (200, 1, b'broadcast')
        p.close()
    assert status_json(srv)['subscribers']['long-polling'] == 0


def test_client_leaving_while_held(srv):
    polls = [start(srv, '/slow/a?since=0') for _ in range(20)]
    wait_held(srv, 20)
    for i, p in enumerate(polls):
        if i % 2:  # RST half of them, FIN the rest
            p.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        p.close()
    wait_held(srv, 0)
    assert publish(srv, 'a', 'nobody')[0] == 201
    c = Conn(srv.port)
    assert c.request('GET', '/lp/a?since=0')[2] == b'nobody'
    c.close()


def test_errors(srv):
    for path, headers, want in [('/lp/nope?since=0', None, 404), ('/lp/bad*name', None, 400)]:
        c = Conn(srv.port)
        assert c.request('GET', path, headers=headers)[0] == want, path
        c.close()


def test_a_resume_point_that_is_no_id_gets_all_and_missed_at_once(srv):
    publish(srv, 'a', 'm1')
    for path, headers in [('/lp/a?since=x1', None), ('/lp/a?since=1', None),
                          ('/lp/a', {'If-None-Match': '"x"'}),
                          ('/lp/a?since=0', {'If-None-Match': '"x"'})]:
        c = Conn(srv.port)
        status, h, body = c.request('GET', path, headers=headers)
        assert (status, etag_id(h), body, h['x-herald-missed']) == (200, 1, b'm1', '1'), path
        c.close()


def test_cors_on_held_and_timed_out_answers(srv):
    origin = {'Origin': 'https://good.example'}
    c = start(srv, '/cors/a?since=0', headers=origin)
    assert not answered(c, 0.2)
    publish(srv, 'a', 'x')
    status, h, body = c.response()
    assert status == 200 and h['access-control-allow-origin'] == 'https://good.example'
    assert 'x-herald-missed' in h['access-control-expose-headers'].lower()
    # times out:
    status, h, body = c.request('GET', '/cors/a?since=' + mid(srv, 'a', 1), headers=origin)
    assert status == 304 and h['access-control-allow-origin'] == 'https://good.example'
    c.close()
    c = Conn(srv.port)
    assert c.request('GET', '/cors/a?since=0', headers={'Origin': 'https://evil.example'})[0] == 403
    status, h, _ = c.request('OPTIONS', '/cors/a', headers={
        'Origin': 'https://good.example', 'Access-Control-Request-Method': 'GET'})
    assert status == 204 and h['access-control-allow-origin'] == 'https://good.example'
    c.close()


def test_pipelined_request_waits_behind_a_held_poll(srv):
    publish(srv, 'a', 'm1')
    c = Conn(srv.port)
    c.send(build_request('GET', '/lp/a?since=' + mid(srv, 'a', 1)) +
           build_request('GET', '/lp/a?since=0') +
           build_request('GET', '/status'))
    assert not answered(c, 0.3)  # the held poll answers first, so nothing may come yet
    publish(srv, 'a', 'm2')
    status, h, body = c.response()
    assert (status, etag_id(h), body) == (200, 2, b'm2')
    status, h, body = c.response()
    assert (status, etag_id(h), body) == (200, 1, b'm1')
    status, h, body = c.response()
    assert status == 200 and b'"connections"' in body
    c.close()


def test_pipelined_request_after_a_timed_out_poll(srv):
    c = Conn(srv.port)
    c.send(build_request('GET', '/lp/a?since=0') + build_request('GET', '/lp/a?since=0'))
    t0 = time.time()
    assert c.response()[0] == 304
    publish(srv, 'a', 'after')
    status, h, body = c.response()
    assert (status, body) == (200, b'after')
    assert time.time() - t0 < 2
    c.close()


def test_head_long_poll(srv):
    publish(srv, 'a', 'm1')
    c = Conn(srv.port)
    status, h, body = c.request('HEAD', '/lp/a?since=0')
    assert status == 200 and etag_id(h) == 1 and h['content-length'] == '2' and body == b''
    assert c.request('GET', '/lp/a?since=0')[2] == b'm1'  # nothing stray was sent
    c.close()


@pytest.mark.parametrize('sig', [signal.SIGQUIT, signal.SIGTERM])
def test_shutdown_with_held_polls(srv, sig):
    polls = [start(srv, '/slow/a?since=0') for _ in range(5)]
    wait_held(srv, 5)
    srv.stop(sig)  # asserts a clean exit
    for p in polls:
        p.sock.settimeout(2)
        if sig == signal.SIGQUIT:  # graceful: every held poll is answered, then closed
            status, h, _ = p.response()
            assert status == 304 and h['connection'] == 'close'
        p.close()


def test_many_holds_time_out_together(srv):
    polls = [start(srv, '/lp/a?since=0') for _ in range(100)]
    t0 = time.time()
    for p in polls:
        p.sock.settimeout(5)
        status, h, body = p.response()
        assert status == 304
        p.close()
    assert time.time() - t0 < 3
    assert status_json(srv)['subscribers']['long-polling'] == 0
