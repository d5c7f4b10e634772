"""The config decides the strategy: the shipped conf/herald.conf serves every
push route of the wire protocol (on an ephemeral port), and editing a route's `push` strategy
then restarting changes what that route serves."""
import json
import os
import signal
import re
import time

import pytest

from harness import ROOT
from push_clients import (Conn, Stream, Ws, build_request, channel_life, etag_id, etag_text, id_seq,
                          parse_iframe, parse_sse)

CLOCK_RE = r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d'


def shipped_conf():
    """conf/herald.conf as shipped, on an ephemeral port, with its relative paths made absolute
    (the test's copy lives elsewhere)."""
    with open(os.path.join(ROOT, 'conf', 'herald.conf')) as f:
        text = f.read()
    text, n = re.subn(r'listen\s+127\.0\.0\.1:8080;', 'listen 127.0.0.1:0;', text)
    assert n == 1
    text = re.sub(r'(\n\s*)include\s+mime\.types;', r'\1include {repo}/conf/mime.types;', text)
    text = re.sub(r'(\n\s*)root\s+\.\./www;', r'\1root {repo}/www;', text)
    return text


def test_shipped_config_serves_every_strategy(herald):
    srv = herald(shipped_conf())
    port = srv.port
    # clock: a message every second, on every strategy.
    sse = Stream(port, '/sse/clock')
    ifr = Stream(port, '/iframe/clock?callback=herald_tick')
    ws = Ws(port, '/ws/clock')
    assert ws.status == 101
    sse.wait_for(lambda s: parse_sse(s.body)[0], timeout=3)
    ev = parse_sse(sse.body)[0][0]
    assert re.fullmatch(CLOCK_RE, ev['data']) and id_seq(ev['id']) >= 1
    ifr.wait_for(lambda s: parse_iframe(s.body), timeout=3)
    name, (data, mid) = parse_iframe(ifr.body)[0]
    assert name == 'herald_tick' and re.fullmatch(CLOCK_RE, data)
    op, data = ws.recv(timeout=3)
    assert op == 0x1 and re.fullmatch(CLOCK_RE, data.decode())
    c = Conn(port)
    status, h, body = c.request('GET', '/poll/clock')
    assert status == 200 and re.fullmatch(CLOCK_RE, body.decode())
    last = etag_id(h)
    t0 = time.time()
    status, h, body = c.request('GET', '/longpoll/clock?since=' + etag_text(h))  # held ~1 s
    assert status == 200 and etag_id(h) == last + 1 and time.time() - t0 < 2.5
    for s in (sse, ifr, ws):
        s.close()
    # chat: empty at first; /chat/send and /pub (from 127.0.0.1) publish; WebSocket clients
    # on /ws/chat publish what they send.
    assert c.request('GET', '/poll/chat')[0] == 204
    chat = Stream(port, '/sse/chat')
    chat.wait_for(lambda s: b'retry' in s.body)
    assert c.request('POST', '/chat/send', body='hello from POST')[0] == 201
    assert c.request('POST', '/chat/send', body='x' * 5000)[0] == 413  # 4k limit; closes
    c.close()
    c = Conn(port)
    status, h, body = c.request('POST', '/pub?channel=chat', body='from /pub')
    assert status == 201 and json.loads(body)['channel'] == 'chat'
    talker = Ws(port, '/ws/chat')
    assert talker.status == 101
    talker.send_text('hello from ws')
    chat.wait_for(lambda s: len(parse_sse(s.body)[0]) >= 3)
    assert [e['data'] for e in parse_sse(chat.body)[0]] == [
        'hello from POST', 'from /pub', 'hello from ws']
    # A subscribe-only route ignores what clients send.
    quiet = Ws(port, '/ws/clock')
    quiet.send_text('ignored')
    status, h, body = c.request('GET', '/pub?channel=chat')
    assert json.loads(body)['published'] == 3
    # echo and status.
    echo = Ws(port, '/echo')
    echo.send_text('hello')
    assert echo.recv() == (0x1, '服务器回应:hello'.encode())
    status, h, body = c.request('GET', '/status')
    st = json.loads(body)
    assert st['channels'] == 2 and st['subscribers']['sse'] == 1
    for s in (chat, talker, quiet, echo, c):
        s.close()


CONF = '''
error_log stderr info;
http {
    access_log off;
    channel c { buffer 10; }
    channel c2 { buffer 10; }
    server {
        listen 127.0.0.1:0;
        location /x/ { push STRATEGY; channel $tail; }
        location = /pub { publish; channel $arg_channel; }
    }
}
'''


def restart(srv, strategy):
    srv.stop()
    srv.write_conf(CONF.replace('STRATEGY', strategy))
    with srv._log_lock:
        srv._log.clear()
    srv.start()


def serves(srv, channel='c'):
    """What /x/CHANNEL (a channel not published to before) serves now, told apart by the wire
    format alone."""
    c = Conn(srv.port)
    c.send(build_request('POST', '/pub?channel=' + channel, body='m'))
    assert c.response()[0] == 201
    c.send(build_request('GET', '/x/%s?since=0' % channel, headers={
        'Upgrade': 'websocket', 'Connection': 'Upgrade', 'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ=='}))
    status, h = c.head()
    try:
        if status == 101:
            op, data = next(c.frames())
            return 'websocket' if data == b'm' else None
        ctype = h.get('content-type', '')
        if ctype.startswith('text/event-stream'):
            return 'sse'
        if ctype.startswith('text/html') and h.get('transfer-encoding') == 'chunked':
            return 'iframe'
        if status == 200 and etag_id(h) == 1:
            # polling answers at once; so does long-polling for a buffered message: tell them
            # apart by whether an up-to-date request is held.
            c.read_exact(int(h['content-length']))
            c.send(build_request('GET', '/x/%s?since=%s' % (channel, etag_text(h))))
            c.sock.settimeout(0.5)
            try:
                return 'polling' if c.head()[0] == 304 else None
            except OSError:
                return 'long-polling'
        return None
    finally:
        c.close()


@pytest.mark.parametrize('first,second', [('polling', 'sse'), ('long-polling', 'websocket'),
                                          ('iframe', 'polling')])
def test_switching_strategy_in_the_config(herald, first, second):
    srv = herald(CONF.replace('STRATEGY', first))
    assert serves(srv) == first
    restart(srv, second)
    assert serves(srv, 'c2') == second  # a new channel: a shared broker kept c over the restart


RELOAD = '''
error_log stderr info;
worker_threads 2;
http {
    access_log off;
    channel keep { buffer BUF; }
    CHANNEL_GONE
    server {
        listen 127.0.0.1:0;
        location /s/ { push sse; channel $tail; }
        location /x/ { push STRATEGY; channel $tail; }
        location = /pub { publish; channel $arg_channel; }
    }
}
'''


def test_reload_reconciles_channels_and_routes(herald):
    conf_a = (RELOAD.replace('BUF', '3').replace('CHANNEL_GONE', 'channel gone { buffer 10; }')
              .replace('STRATEGY', 'polling'))
    conf_b = RELOAD.replace('BUF', '10').replace('CHANNEL_GONE', '').replace('STRATEGY', 'sse')
    srv = herald(conf_a)
    c = Conn(srv.port)
    for i in range(1, 6):
        c.request('POST', '/pub?channel=keep', body='k%d' % i)  # buffer 3: 3, 4, 5 kept
    L = channel_life(srv, 'keep')
    keep = Stream(srv.port, '/s/keep')
    gone = Stream(srv.port, '/s/gone')
    for s in (keep, gone):
        s.wait_for(lambda x: b'retry' in x.body)
    srv.write_conf(conf_b)
    srv.signal(signal.SIGHUP)
    deadline = time.time() + 5
    while True:  # the new routes apply once every worker has the new configuration
        st = Stream(srv.port, '/x/keep')
        st.close()
        if st.headers.get('content-type', '').startswith('text/event-stream'):
            break
        assert time.time() < deadline, 'reload did not switch /x/ to sse'
        time.sleep(0.05)
    # A removed channel: its subscribers' streams end and it is gone.
    gone.wait_for(lambda x: x.ended)
    gone.close()
    assert c.request('POST', '/pub?channel=gone', body='x')[0] == 404
    # A kept channel: the stream stays, ids continue, the buffer grows to the new size.
    # A kept channel keeps its life: ids go on from L(5).
    for i in range(6, 13):
        status, h, body = c.request('POST', '/pub?channel=keep', body='k%d' % i)
        assert json.loads(body)['id'] == L(i)
    keep.wait_for(lambda x: len(parse_sse(x.body)[0]) == 7)
    assert [e['id'] for e in parse_sse(keep.body)[0]] == [L(i) for i in range(6, 13)]
    keep.close()
    st = Stream(srv.port, '/s/keep?since=' + L(2))
    st.wait_for(lambda x: len(parse_sse(x.body)[0]) == 10)
    ev = parse_sse(st.body)[0]
    assert [e['data'] for e in ev] == ['k%d' % i for i in range(3, 13)]  # no missed signal
    st.close()
    c.close()
