"""`push polling;` over real sockets: newest message with ETag, walking the channel with
?since= and If-None-Match, 304/204, the X-Herald-Missed signal, the JSON envelope, errors
(404/400/405) and CORS."""
import json

import pytest

from push_clients import Conn, channel_life, etag_id, etag_text, publish

CONF = '''
error_log stderr info;
http {
    access_log off;
    channel a { buffer 100; }
    channel small { buffer 3; }
    channel empty { }
    server {
        listen 127.0.0.1:0;
        location /poll/  { push polling; channel $tail; }
        location /cors/  { push polling; channel $tail; allow_origin https://good.example; }
        location /star/  { push polling; channel $tail; allow_origin *; }
        location = /q    { push polling; channel $arg_ch; }
        location = /pub  { publish; channel $arg_channel; }
    }
}
'''


@pytest.fixture
def srv(herald):
    return herald(CONF)


def get(srv, path, headers=None):
    c = Conn(srv.port)
    try:
        return c.request('GET', path, headers=headers)
    finally:
        c.close()


def test_empty_channel_is_204(srv):
    status, h, body = get(srv, '/poll/empty')
    assert status == 204 and body == b''
    assert h['cache-control'] == 'no-cache'
    assert 'etag' not in h
    # A resume point on an empty channel is not news either.
    assert get(srv, '/poll/empty?since=0')[0] == 204


def test_newest_message_with_etag_and_type(srv):
    assert publish(srv, 'a', 'first')[0] == 201
    assert publish(srv, 'a', '{"x":1}', ctype='application/json')[0] == 201
    status, h, body = get(srv, '/poll/a')
    assert status == 200 and body == b'{"x":1}'
    assert h['etag'] == '"%s"' % channel_life(srv, 'a')(2)
    assert h['content-type'] == 'application/json'  # the publisher's type is kept
    assert h['cache-control'] == 'no-cache'
    assert 'x-herald-missed' not in h


def test_walk_with_since_then_304(srv):
    for i in range(1, 6):
        publish(srv, 'a', 'm%d' % i)
    L = channel_life(srv, 'a')
    c = Conn(srv.port)
    seen, since = [], '0'
    for _ in range(10):  # one keep-alive connection walks the channel
        status, h, body = c.request('GET', '/poll/a?since=%s' % since)
        if status == 304:
            assert etag_text(h) == L(5) and body == b''
            break
        assert status == 200 and 'x-herald-missed' not in h
        since = etag_text(h)
        seen.append((since, body.decode()))
    assert seen == [(L(i), 'm%d' % i) for i in range(1, 6)]
    # Later messages continue the walk.
    publish(srv, 'a', 'm6')
    status, h, body = c.request('GET', '/poll/a?since=' + L(5))
    assert (status, etag_id(h), body) == (200, 6, b'm6')
    c.close()


def test_if_none_match_walks_like_since(srv):
    for i in range(1, 4):
        publish(srv, 'a', 'm%d' % i)
    L = channel_life(srv, 'a')
    status, h, body = get(srv, '/poll/a', headers={'If-None-Match': '"%s"' % L(1)})
    assert (status, etag_text(h), body) == (200, L(2), b'm2')
    status, h, _ = get(srv, '/poll/a', headers={'If-None-Match': '"%s"' % L(3)})
    assert status == 304 and etag_text(h) == L(3)
    # The transport's own header wins over ?since= (a client revalidating with the ETag it
    # got keeps the URL it started with).
    status, h, body = get(srv, '/poll/a?since=0', headers={'If-None-Match': '"%s"' % L(2)})
    assert (status, etag_text(h), body) == (200, L(3), b'm3')
    status, h, body = get(srv, '/poll/a?since=' + L(2), headers={'If-None-Match': '"%s"' % L(3)})
    assert status == 304 and etag_id(h) == 3


def test_if_none_match_weak_star_and_lists(srv):
    """RFC 9110 §13.1.2: If-None-Match is a list compared weakly; "*" matches any current
    representation."""
    for i in range(1, 4):
        publish(srv, 'a', 'm%d' % i)
    L = channel_life(srv, 'a')
    status, h, body = get(srv, '/poll/a', headers={'If-None-Match': 'W/"%s"' % L(1)})
    assert (status, etag_text(h), body) == (200, L(2), b'm2')
    status, h, body = get(srv, '/poll/a', headers={'If-None-Match': '"%s", W/"%s"' % (L(1), L(2))})
    assert (status, etag_text(h), body) == (200, L(3), b'm3')  # after the newest one held
    status, h, body = get(srv, '/poll/a', headers={'If-None-Match': '"other-tag", "%s"' % L(1)})
    assert (status, etag_text(h), body) == (200, L(2), b'm2')
    status, h, body = get(srv, '/poll/a', headers={'If-None-Match': '*'})
    assert (status, etag_id(h), body) == (304, 3, b'')
    assert get(srv, '/poll/empty', headers={'If-None-Match': '*'})[0] == 204


def test_missed_when_resume_point_left_the_buffer(srv):
    for i in range(1, 7):
        publish(srv, 'small', 'm%d' % i)  # buffer 3: 4, 5, 6 remain
    L = channel_life(srv, 'small')
    status, h, body = get(srv, '/poll/small?since=' + L(1))
    assert (status, etag_text(h), body) == (200, L(4), b'm4')
    assert h['x-herald-missed'] == '1'
    # since = first - 1 lost nothing.
    status, h, body = get(srv, '/poll/small?since=' + L(3))
    assert (status, etag_text(h), body) == (200, L(4), b'm4') and 'x-herald-missed' not in h
    status, h, body = get(srv, '/poll/small?since=' + L(4))
    assert body == b'm5' and 'x-herald-missed' not in h


def test_missed_for_an_id_the_channel_never_had(srv):
    for i in range(1, 4):
        publish(srv, 'small', 'm%d' % i)
    L = channel_life(srv, 'small')
    status, h, body = get(srv, '/poll/small?since=' + L(100))
    assert (status, etag_text(h), body) == (200, L(1), b'm1')
    assert h['x-herald-missed'] == '1'
    status, h, body = get(srv, '/poll/small?since=' + L(2 ** 64 - 1))
    assert body == b'm1' and h['x-herald-missed'] == '1'
    status, h, body = get(srv, '/poll/small', headers={'If-None-Match': '"%s"' % L(77)})
    assert body == b'm1' and h['x-herald-missed'] == '1'
    # On an empty channel the signal still comes, with no message.
    status, h, body = get(srv, '/poll/empty?since=' + L(9))
    assert status in (204, 304) and h['x-herald-missed'] == '1'


def test_json_envelope(srv):
    publish(srv, 'a', 'line1\n"quoted" \u00e9')
    status, h, body = get(srv, '/poll/a?format=json')
    assert status == 200 and h['content-type'].startswith('application/json')
    mid = channel_life(srv, 'a')(1)
    assert json.loads(body) == {'id': mid, 'channel': 'a', 'data': 'line1\n"quoted" \u00e9'}
    assert etag_text(h) == mid
    assert get(srv, '/poll/a?format=raw')[2] == 'line1\n"quoted" \u00e9'.encode()
    assert get(srv, '/poll/a?format=xml')[0] == 400


def test_channel_from_query_argument(srv):
    publish(srv, 'a', 'hello')
    assert get(srv, '/q?ch=a')[2] == b'hello'
    assert get(srv, '/q?ch=nope')[0] == 404
    assert get(srv, '/q')[0] == 400


@pytest.mark.parametrize('path,status', [
    ('/poll/nope', 404),
    ('/poll/', 400),
    ('/poll/a/b', 400),
    ('/poll/a%20b', 400),
    ('/poll/' + 'x' * 129, 400),
])
def test_errors(srv, path, status):
    assert get(srv, path)[0] == status


def test_longest_valid_name_is_accepted(srv):
    assert get(srv, '/poll/' + 'x' * 128)[0] == 404  # valid, just not declared
    assert get(srv, '/poll/A-z_0.9:x')[0] == 404


@pytest.mark.parametrize('since,header', [
    ('abc', None), ('-1', None), ('1.5', None), ('99999999999999999999999', None), ('3', None),
    (None, '"abc"'), (None, '3'),  # the second: not an entity-tag
    ('0', '"abc"'),  # the header wins over ?since=, also when it names no id
])
def test_a_resume_point_that_is_no_id_gets_all_and_missed(srv, since, header):
    for i in range(1, 3):
        publish(srv, 'a', 'm%d' % i)
    L = channel_life(srv, 'a')
    status, h, body = get(srv, '/poll/a' + ('?since=' + since if since else ''),
                          headers={'If-None-Match': header} if header else None)
    assert (status, etag_text(h), body, h['x-herald-missed']) == (200, L(1), b'm1', '1')


def test_post_is_405(srv):
    c = Conn(srv.port)
    status, h, _ = c.request('POST', '/poll/a', body='x')
    assert status == 405
    c.close()


def test_cors(srv):
    publish(srv, 'a', 'x')
    status, h, _ = get(srv, '/cors/a', headers={'Origin': 'https://good.example'})
    assert status == 200
    assert h['access-control-allow-origin'] == 'https://good.example'
    assert 'etag' in h['access-control-expose-headers'].lower()
    assert 'x-herald-missed' in h['access-control-expose-headers'].lower()
    assert h['vary'] == 'Origin'  # a shared cache must not serve this answer to another origin
    # Same origin (no Origin header): no CORS headers at all.
    status, h, _ = get(srv, '/cors/a')
    assert status == 200 and 'access-control-allow-origin' not in h
    # Another origin is refused.
    assert get(srv, '/cors/a', headers={'Origin': 'https://evil.example'})[0] == 403
    status, h, _ = get(srv, '/star/a', headers={'Origin': 'https://any.example'})
    assert status == 200 and h['access-control-allow-origin'] == '*' and 'vary' not in h
    # 304s carry the CORS headers too (a browser must be able to read them).
    status, h, _ = get(srv, '/cors/a?since=' + channel_life(srv, 'a')(1),
                       headers={'Origin': 'https://good.example'})
    assert status == 304 and h['access-control-allow-origin'] == 'https://good.example'


def test_cors_preflight(srv):
    c = Conn(srv.port)
    status, h, body = c.request('OPTIONS', '/cors/a', headers={
        'Origin': 'https://good.example', 'Access-Control-Request-Method': 'GET',
        'Access-Control-Request-Headers': 'if-none-match'})
    assert status == 204
    assert h['access-control-allow-origin'] == 'https://good.example'
    assert 'GET' in h['access-control-allow-methods']
    assert 'if-none-match' in h['access-control-allow-headers'].lower()
    status, h, body = c.request('OPTIONS', '/cors/a', headers={
        'Origin': 'https://evil.example', 'Access-Control-Request-Method': 'GET'})
    assert status == 403
    c.close()
