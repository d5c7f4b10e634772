"""Binary payloads on every push strategy: a message that is not text (a type
other than text/*, application/json, application/javascript, or bytes that are not valid UTF-8)
comes back byte for byte on all five strategies, raw and ?format=json:
  WebSocket: a binary frame (raw), {"data":"BASE64","encoding":"base64"} (json);
  SSE: `event: binary` + `data: BASE64` (raw), the envelope (json);
  iframe: parent.CB("BASE64","ID","base64") (raw), the envelope (json);
  polling, long-polling: the exact bytes with the published Content-Type (raw), the envelope.
Text messages are unchanged: no "encoding" field, the default SSE event, two call arguments."""
import base64
import json
import os

import pytest

from push_clients import STRATEGY_ROUTES, Stream, Ws, etag_text, parse_iframe, parse_sse, poll_walk, publish

CONF = '''
error_log stderr info;
http {
    access_log off;
    channel bin { buffer 100; }
    server {
        listen 127.0.0.1:0;
%s
    }
}
''' % STRATEGY_ROUTES

# Bytes no text path carries intact: ill-formed UTF-8, NUL, CR/LF (SSE line ends), quotes,
# '<' and "</script>" (iframe), '\\' and U+2028 (JS string literals), then random bytes.
NASTY = (b'\xff\xfe\x00\r\n\r<"\'\\</script>\xc3(\xe2\x80\xa8\xed\xa0\x80\xf4\x90\x80\x80\n' +
         os.urandom(4096) + b'\r')

# (bytes, Content-Type, text?) in publish order.
MESSAGES = [
    (NASTY, 'application/octet-stream', False),
    (b'caf\xc3\xa9 \xe2\x9c\x93\n"quoted" </script>', 'text/plain; charset=utf-8', True),
    (b'not utf-8: \xc0\xaf\xff\r\nend', 'text/plain', False),  # a text type, but not UTF-8
    (b'', 'image/png', False),
    (b'\x89PNG\r\n\x1a\n' + os.urandom(70000), 'image/png', False),  # 64-bit frame length
    (b'{"k": "v"}', 'application/json', True),
    (b'plain ascii, but declared binary', 'application/octet-stream', False),
]


@pytest.fixture
def srv(herald):
    s = herald(CONF)
    for data, ctype, _ in MESSAGES:
        status, reply = publish(s, 'bin', data, ctype=ctype)
        assert status == 201, (status, reply)
    return s


def from_envelope(text, channel='bin'):
    """(bytes, id, binary?) of one JSON envelope; checks its fields."""
    env = json.loads(text)
    assert env['channel'] == channel
    if 'encoding' in env:
        assert env['encoding'] == 'base64'
        assert set(env) == {'id', 'channel', 'data', 'encoding'}
        return base64.b64decode(env['data'], validate=True), env['id'], True
    assert set(env) == {'id', 'channel', 'data'}
    return env['data'].encode('utf-8'), env['id'], False


def check(got):
    """got: [(bytes, binary?)] in order; every message back byte for byte, text as text."""
    assert len(got) == len(MESSAGES)
    for i, ((data, binary), (want, _, text)) in enumerate(zip(got, MESSAGES)):
        assert data == want, 'message %d: %d bytes back, %d published' % (i, len(data), len(want))
        assert binary == (not text), 'message %d: binary=%s' % (i, binary)


@pytest.mark.parametrize('fmt', ['raw', 'json'])
def test_websocket(srv, fmt):
    ws = Ws(srv.port, '/ws/bin?since=0' + ('&format=json' if fmt == 'json' else ''))
    assert ws.status == 101
    got = []
    for _ in MESSAGES:
        opcode, payload = ws.recv()
        if fmt == 'raw':
            assert opcode in (1, 2)
            got.append((payload, opcode == 2))
        else:
            assert opcode == 1, 'the envelope is always a text frame'
            data, _, binary = from_envelope(payload.decode('utf-8'))
            got.append((data, binary))
    ws.close()
    check(got)


@pytest.mark.parametrize('fmt', ['raw', 'json'])
def test_sse(srv, fmt):
    st = Stream(srv.port, '/sse/bin?since=0' + ('&format=json' if fmt == 'json' else ''))
    assert st.status == 200
    st.wait_for(lambda s: len(parse_sse(s.body)[0]) >= len(MESSAGES))
    # Every event is text a browser's EventSource decodes as UTF-8 without loss.
    bytes(st.body).decode('utf-8')
    events = parse_sse(st.body)[0]
    got = []
    for e in events:
        if fmt == 'raw':
            assert e['event'] in ('message', 'binary')
            binary = e['event'] == 'binary'
            got.append((base64.b64decode(e['data'], validate=True) if binary
                        else e['data'].encode('utf-8'), binary))
        else:
            assert e['event'] == 'message'
            data, mid, binary = from_envelope(e['data'])
            assert mid == e['id']
            got.append((data, binary))
    st.close()
    if fmt == 'raw':  # SSE turns CRLF and CR into LF in text; the text messages here have none
        assert b'\r' not in MESSAGES[1][0] and b'\r' not in MESSAGES[5][0]
    check(got)


@pytest.mark.parametrize('fmt', ['raw', 'json'])
def test_iframe(srv, fmt):
    st = Stream(srv.port, '/if/bin?since=0' + ('&format=json' if fmt == 'json' else ''))
    assert st.status == 200
    st.wait_for(lambda s: len(parse_iframe(s.body)) >= len(MESSAGES))
    body = bytes(st.body)
    body.decode('utf-8')
    # The only script ends are the calls' own (one per message; the preamble has none).
    assert body.count(b'</script>') == len(MESSAGES)
    got = []
    for cb, args in parse_iframe(body):
        assert cb == 'herald_push'
        if fmt == 'raw':
            if len(args) == 3:
                assert args[2] == 'base64'
                got.append((base64.b64decode(args[0], validate=True), True))
            else:
                assert len(args) == 2
                got.append((args[0].encode('utf-8'), False))
        else:
            assert len(args) == 2
            data, mid, binary = from_envelope(args[0])
            assert mid == args[1]
            got.append((data, binary))
    st.close()
    check(got)


@pytest.mark.parametrize('route', ['/poll/', '/lp/'])
@pytest.mark.parametrize('fmt', ['raw', 'json'])
def test_polling_and_long_polling(srv, route, fmt):
    got = []
    answers = poll_walk(srv.port, route + 'bin', len(MESSAGES), '&format=' + fmt)
    for (h, body), (_, ctype, _) in zip(answers, MESSAGES):
        assert 'x-herald-missed' not in h
        if fmt == 'raw':
            assert h['content-type'] == ctype
            assert h['x-content-type-options'] == 'nosniff'
            got.append((body, None))
        else:
            assert h['content-type'] == 'application/json'
            d, mid, binary = from_envelope(body.decode('utf-8'))
            assert mid == etag_text(h)
            got.append((d, binary))
    if fmt == 'raw':  # the raw body carries no text/binary mark: the Content-Type does
        got = [(d, not text) for (d, _), (_, _, text) in zip(got, MESSAGES)]
    check(got)


def test_live_binary_message_reaches_every_stream(srv):
    """Published while the subscribers are connected (not from history), random bytes again."""
    payload = os.urandom(3000) + b'\xff</script>\r\n'
    ws = Ws(srv.port, '/ws/bin')
    wsj = Ws(srv.port, '/ws/bin?format=json')
    sse = Stream(srv.port, '/sse/bin')
    ifr = Stream(srv.port, '/if/bin')
    sse.wait_for(lambda s: b'retry' in s.body)
    ifr.wait_for(lambda s: len(s.body) >= 1024)
    assert publish(srv, 'bin', payload, ctype='application/octet-stream')[0] == 201
    assert ws.recv() == (2, payload)
    opcode, env = wsj.recv()
    assert opcode == 1 and from_envelope(env.decode())[0::2] == (payload, True)
    sse.wait_for(lambda s: len(parse_sse(s.body)[0]) >= 1)
    (e,) = parse_sse(sse.body)[0]
    assert e['event'] == 'binary' and base64.b64decode(e['data'], validate=True) == payload
    ifr.wait_for(lambda s: len(parse_iframe(s.body)) >= 1)
    ((_, args),) = parse_iframe(ifr.body)
    assert args[2] == 'base64' and base64.b64decode(args[0], validate=True) == payload
    for s in (ws, wsj, sse, ifr):
        s.close()
