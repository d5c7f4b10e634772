"""Several channels on one WebSocket (`push websocket; multiplex on;`), with the Python
`websockets` client: JSON commands (subscribe with since/last, unsubscribe, publish) and their
answers, each channel's messages as envelopes in order and once while publishing goes on,
resume per channel after a reconnect, every error of the protocol (the socket stays open),
binary frames (1003), a deleted channel ("closed"), token claims per channel, expiry (4401) and
revocation (4403), and the on_subscribe/on_unsubscribe hooks per channel.
"""
import asyncio
import http.server
import json
import threading
import time

import pytest

websockets = pytest.importorskip('websockets')
from websockets.exceptions import ConnectionClosed  # noqa: E402

from test_auth_jwt import KEY, token  # noqa: E402

CONF = '''
error_log stderr info;
worker_threads 1;
http {
    access_log off;
    ws_close_timeout 1s;
    ws_ping_interval 0;
    channel_autocreate on;
    channel small { buffer 3; }
    server {
        listen 127.0.0.1:0;
        location = /mux   { push websocket; multiplex on; publish on; max_channels_per_connection 3; }
        location = /muxro { push websocket; multiplex on; }
        location = /pub   { publish; channel $arg_channel; }
        location /one/    { push websocket; channel $tail; }
    }
}
'''

JWT_CONF = '''
error_log stderr info;
worker_threads 1;
http {
    access_log off;
    ws_close_timeout 1s;
    ws_ping_interval 0;
    auth_jwt_leeway 0;
    channel user-42 { }
    channel news { }
    channel secret { }
    server {
        listen 127.0.0.1:0;
        location = /mux { push websocket; multiplex on; publish on; auth_jwt "file:jwt.key" publish; }
        location = /pub { publish; channel $arg_channel; }
    }
}
'''


def run(coro, timeout=10):
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture
def srv(herald):
    return herald(CONF)


class Mux:
    """One multiplexed socket: sends commands, reads frames as JSON, keeps what it read."""

    def __init__(self, ws):
        self.ws = ws

    @classmethod
    async def open(cls, port, path='/mux', **kw):
        return cls(await websockets.connect('ws://127.0.0.1:%d%s' % (port, path), **kw))

    async def send(self, **cmd):
        await self.ws.send(json.dumps(cmd))

    async def recv(self, timeout=3):
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def answer(self, **cmd):
        """Sends a command and returns the next frame (its answer, when nothing else is due)."""
        await self.send(**cmd)
        return await self.recv()

    async def control(self, timeout=3):
        """The next control frame, skipping messages."""
        while True:
            got = await self.recv(timeout)
            if 'herald' in got:
                return got

    async def messages(self, n, timeout=3):
        """The next n frames, which must all be messages (envelopes)."""
        out = [await self.recv(timeout) for _ in range(n)]
        assert all('herald' not in m and 'id' in m for m in out), out
        return out

    async def quiet(self, wait=0.3):
        """Nothing more arrives within wait seconds."""
        with pytest.raises(asyncio.TimeoutError):
            got = await asyncio.wait_for(self.ws.recv(), wait)
            raise AssertionError('unexpected frame %r' % got)

    async def close(self):
        await self.ws.close()


def publish(srv, channel, body, event=None):
    headers = {'X-Herald-Event': event} if event else None
    status, _, data = srv.request('POST', '/pub?channel=' + channel, body=body, headers=headers)
    assert status == 201, (status, data)
    return json.loads(data)['id']


def info(srv, channel):
    status, _, data = srv.get('/pub?channel=' + channel)
    assert status == 200, (status, data)
    return json.loads(data)


def test_three_channels_on_one_socket_while_publishing(srv):
    """Subscribing with since, with last and live only, while messages are published to every
    channel: each channel's messages arrive once, in order, history before live; each
    subscription counts as a websocket subscriber of its channel."""
    first_a = [publish(srv, 'a', 'a%d' % i) for i in range(3)]
    publish(srv, 'b', 'b0')
    b1 = publish(srv, 'b', 'b1')

    async def go():
        m = await Mux.open(srv.port)
        assert await m.answer(op='subscribe', channel='a', since='0', ref='1') == \
            {'herald': 'subscribed', 'channel': 'a', 'ref': '1'}
        hist = await m.messages(3)
        assert [(x['channel'], x['id'], x['data']) for x in hist] == \
            [('a', first_a[i], 'a%d' % i) for i in range(3)]
        assert await m.answer(op='subscribe', channel='b', last=1) == \
            {'herald': 'subscribed', 'channel': 'b'}
        (x,) = await m.messages(1)
        assert (x['id'], x['data']) == (b1, 'b1')
        assert await m.answer(op='subscribe', channel='c', ref='c') == \
            {'herald': 'subscribed', 'channel': 'c', 'ref': 'c'}
        for name in 'abc':
            assert info(srv, name)['subscribers']['websocket'] == 1
        sent = {'a': [], 'b': [], 'c': []}
        for i in range(10):
            for name in 'cab':
                sent[name].append(publish(srv, name, '%s-live-%d' % (name, i)))
        got = {'a': [], 'b': [], 'c': []}
        for x in await m.messages(30):
            got[x['channel']].append((x['id'], x['data']))
        for name in 'abc':
            assert got[name] == [(sent[name][i], '%s-live-%d' % (name, i)) for i in range(10)]
        await m.quiet(0.2)
        await m.close()

    run(go())


def test_resume_per_channel_after_a_reconnect(srv):
    """A client that reconnects subscribes each channel with the last id it got: it gets exactly
    what was published meanwhile, per channel; a channel whose buffer lost its point says
    missed (for that channel only) before what it still has."""
    async def first():
        m = await Mux.open(srv.port)
        for name in ('a', 'small'):
            await m.answer(op='subscribe', channel=name)
        ids = {'a': publish(srv, 'a', 'a-1'), 'small': publish(srv, 'small', 's-1')}
        got = await m.messages(2)
        assert {x['channel']: x['id'] for x in got} == ids
        await m.close()
        return ids

    last = run(first())
    missed_a = [publish(srv, 'a', 'a-%d' % i) for i in range(2, 4)]
    missed_s = [publish(srv, 'small', 's-%d' % i) for i in range(2, 7)]  # buffer 3: two lost

    async def second():
        m = await Mux.open(srv.port)
        assert (await m.answer(op='subscribe', channel='a', since=last['a']))['herald'] == \
            'subscribed'
        assert [x['id'] for x in await m.messages(2)] == missed_a
        assert await m.answer(op='subscribe', channel='small', since=last['small'], ref='s') == \
            {'herald': 'subscribed', 'channel': 'small', 'ref': 's'}
        assert await m.recv() == {'herald': 'missed', 'channel': 'small', 'since': last['small'],
                                  'first': missed_s[2]}
        assert [x['id'] for x in await m.messages(3)] == missed_s[2:]
        live = publish(srv, 'a', 'a-live')
        assert [x['id'] for x in await m.messages(1)] == [live]
        await m.quiet(0.2)
        await m.close()

    run(second())


def test_unsubscribe_stops_delivery_and_subscribe_again_resumes(srv):
    async def go():
        m = await Mux.open(srv.port)
        await m.answer(op='subscribe', channel='a')
        await m.answer(op='subscribe', channel='b')
        assert await m.answer(op='unsubscribe', channel='a', ref='u') == \
            {'herald': 'unsubscribed', 'channel': 'a', 'ref': 'u'}
        assert info(srv, 'a')['subscribers']['websocket'] == 0
        lost = publish(srv, 'a', 'while away')
        kept = publish(srv, 'b', 'still here')
        assert [x['id'] for x in await m.messages(1)] == [kept]
        await m.quiet(0.2)
        # No reconnect: subscribing again from an older id gets what it did not see.
        await m.answer(op='subscribe', channel='a', since='0')
        assert [x['id'] for x in await m.messages(1)] == [lost]
        await m.close()

    run(go())


def test_publish_is_acknowledged_with_its_id(srv):
    async def go():
        m = await Mux.open(srv.port)
        other = await Mux.open(srv.port)
        await other.answer(op='subscribe', channel='chat')
        ack = await m.answer(op='publish', channel='chat', data='héllo "x"', event='note', ref='p1')
        assert set(ack) == {'herald', 'channel', 'id', 'ref'}
        assert (ack['herald'], ack['channel'], ack['ref']) == ('published', 'chat', 'p1')
        (x,) = await other.messages(1)
        assert x == {'id': ack['id'], 'channel': 'chat', 'event': 'note', 'data': 'héllo "x"'}
        # Several publishes in a row are answered in order, each with its own id.
        for i in range(5):
            await m.send(op='publish', channel='chat', data=str(i), ref='r%d' % i)
        acks = [await m.recv() for _ in range(5)]
        assert [a['ref'] for a in acks] == ['r%d' % i for i in range(5)]
        assert [x['id'] for x in await other.messages(5)] == [a['id'] for a in acks]
        await m.close()
        await other.close()

    run(go())


def test_commands_sent_at_once_are_answered_in_order(srv):
    """Commands that arrive together (a broker may answer later) are answered in the order
    sent, and a channel's history comes right after its own "subscribed"."""
    old = publish(srv, 'p', 'old')

    async def go():
        m = await Mux.open(srv.port)
        cmds = [dict(op='subscribe', channel='p', since='0', ref='1'),
                dict(op='publish', channel='p', data='new', ref='2'),
                dict(op='subscribe', channel='q', ref='3'),
                dict(op='subscribe', channel='p', ref='4'),
                dict(op='unsubscribe', channel='q', ref='5'),
                dict(op='publish', channel='q', data='unseen', ref='6')]
        await m.ws.send(json.dumps(cmds[0]))
        for c in cmds[1:]:
            await m.send(**c)
        got = [await m.recv() for _ in range(8)]
        assert got[0] == {'herald': 'subscribed', 'channel': 'p', 'ref': '1'}
        assert got[1]['id'] == old
        answers = [g for g in got[2:] if 'herald' in g]
        messages = [g for g in got[2:] if 'herald' not in g]
        assert [(a['herald'], a.get('ref')) for a in answers] == [
            ('published', '2'), ('subscribed', '3'), ('error', '4'), ('unsubscribed', '5'),
            ('published', '6')]
        assert [x['data'] for x in messages] == ['new']
        assert messages[0]['id'] == answers[0]['id']
        await m.quiet(0.2)
        await m.close()

    run(go())


def test_every_error_is_answered_and_the_socket_stays(srv):
    async def go():
        m = await Mux.open(srv.port)

        async def error(raw, status, why, **echo):
            await m.ws.send(raw if isinstance(raw, str) else json.dumps(raw))
            want = {'herald': 'error', 'status': status, 'error': why}
            want.update(echo)
            assert await m.recv() == want

        await error('{"op":"listen","channel":"a","ref":"1"}', 400, 'unknown op', ref='1',
                    channel='a')
        await error('{"op":"subscribe",', 400, 'bad JSON')
        await error('["subscribe"]', 400, 'not a JSON object')
        await error({'op': 'subscribe'}, 400, 'missing "channel"')
        await error({'op': 'subscribe', 'channel': 'a b', 'ref': 'x'}, 400,
                    'invalid channel name', ref='x')
        await error({'op': 'subscribe', 'channel': 'a', 'ref': 'bad ref'}, 400,
                    '"ref" must be 1-64 of A-Z a-z 0-9 _ . : -', channel='a')
        await error({'op': 'subscribe', 'channel': 'a', 'since': 'yesterday'}, 400,
                    '"since" must be a message id or "0"', channel='a')
        await error({'op': 'subscribe', 'channel': 'a', 'last': 0}, 400,
                    '"last" must be an integer from 1 to 1000', channel='a')
        await error({'op': 'unsubscribe', 'channel': 'a', 'ref': '2'}, 409, 'not subscribed',
                    ref='2', channel='a')
        for name in ('a', 'b', 'c'):
            await m.answer(op='subscribe', channel=name)
        await error({'op': 'subscribe', 'channel': 'a', 'ref': '3'}, 409, 'already subscribed',
                    ref='3', channel='a')
        await error({'op': 'subscribe', 'channel': 'd', 'ref': '4'}, 413,
                    'more than 3 channels on this connection (max_channels_per_connection)',
                    ref='4', channel='d')
        # The socket still works: one channel less makes room for another.
        await m.answer(op='unsubscribe', channel='c')
        assert (await m.answer(op='subscribe', channel='d'))['herald'] == 'subscribed'
        mid = publish(srv, 'd', 'after the errors')
        assert [x['id'] for x in await m.messages(1)] == [mid]

        ro = await Mux.open(srv.port, '/muxro')
        assert await ro.answer(op='publish', channel='a', data='x', ref='5') == \
            {'herald': 'error', 'status': 403, 'error': 'publish is off on this route',
             'ref': '5', 'channel': 'a'}
        # A binary frame is no command: close 1003.
        await ro.ws.send(b'\x00\x01')
        with pytest.raises(ConnectionClosed):
            await ro.recv()
        assert ro.ws.close_code == 1003
        await m.close()

    run(go())


def test_a_channel_list_needs_multiplex(srv):
    """A one-channel WebSocket route refuses a list (the reason says where lists go)."""
    status, _, body = srv.request('GET', '/one/a,b', headers={
        'Upgrade': 'websocket', 'Connection': 'Upgrade', 'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ=='})
    assert (status, body) == (400, b'a channel list on a websocket needs multiplex on\n')


def test_deleted_channel_is_closed_and_the_socket_stays(srv):
    async def go():
        m = await Mux.open(srv.port)
        await m.answer(op='subscribe', channel='gone')
        await m.answer(op='subscribe', channel='kept')
        before = publish(srv, 'gone', 'last words')
        status, _, _ = srv.request('DELETE', '/pub?channel=gone')
        assert status in (200, 204)
        assert [x['id'] for x in await m.messages(1)] == [before]
        assert await m.recv() == {'herald': 'closed', 'channel': 'gone'}
        kept = publish(srv, 'kept', 'still')
        assert [x['id'] for x in await m.messages(1)] == [kept]
        # The channel is no longer subscribed: it may be subscribed again (a new life).
        assert (await m.answer(op='subscribe', channel='gone'))['herald'] == 'subscribed'
        again = publish(srv, 'gone', 'reborn')
        assert [x['id'] for x in await m.messages(1)] == [again]
        await m.close()

    run(go())


@pytest.fixture
def jwt_srv(herald):
    return herald(JWT_CONF, files={'jwt.key': KEY.decode() + '\n'})


def test_token_claims_are_checked_per_channel(jwt_srv):
    srv = jwt_srv
    tok = token(channels=['user-42', 'news', 'nowhere'], publish=['user-42'])

    async def go():
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
            await Mux.open(srv.port)
        assert e.value.status_code == 401
        m = await Mux.open(srv.port, '/mux?token=' + tok)
        assert (await m.answer(op='subscribe', channel='user-42'))['herald'] == 'subscribed'
        assert (await m.answer(op='subscribe', channel='news'))['herald'] == 'subscribed'
        assert await m.answer(op='subscribe', channel='secret', ref='s') == \
            {'herald': 'error', 'status': 403, 'error': 'channel not in token', 'ref': 's',
             'channel': 'secret'}
        assert await m.answer(op='subscribe', channel='nowhere') == \
            {'herald': 'error', 'status': 404, 'error': 'unknown channel', 'channel': 'nowhere'}
        ack = await m.answer(op='publish', channel='user-42', data='mine')
        assert ack['herald'] == 'published'
        (x,) = await m.messages(1)
        assert x['id'] == ack['id']
        assert await m.answer(op='publish', channel='news', data='not mine') == \
            {'herald': 'error', 'status': 403,
             'error': "channel not in the token's publish claim", 'channel': 'news'}
        await m.close()

    run(go())


def test_revocation_and_expiry_close_the_socket(jwt_srv):
    srv = jwt_srv

    async def go():
        admin = {'Authorization': 'Bearer ' + token(channels=[], publish=['*'])}
        tok = token(channels=['news', 'user-42'])
        # By channel: the socket subscribed to it ends.
        m = await Mux.open(srv.port, '/mux?token=' + tok)
        await m.answer(op='subscribe', channel='news')
        status, _, body = srv.request('DELETE', '/pub?channel=news&sub=42', headers=admin)
        assert (status, json.loads(body)['ended']) == (200, 1)
        with pytest.raises(ConnectionClosed):
            await m.recv()
        assert m.ws.close_code == 4403
        # By sub on every channel: each subscription counts as one subscriber ended.
        m = await Mux.open(srv.port, '/mux?token=' + tok)
        await m.answer(op='subscribe', channel='news')
        await m.answer(op='subscribe', channel='user-42')
        status, _, body = srv.request('DELETE', '/pub?sub=42', headers=admin)
        assert (status, json.loads(body)['ended']) == (200, 2)
        with pytest.raises(ConnectionClosed):
            await m.recv()
        assert m.ws.close_code == 4403
        # A token that expires ends the socket, subscribed to something or not.
        short = await Mux.open(srv.port, '/mux?token=' + token(channels=['news'], ttl=1))
        with pytest.raises(ConnectionClosed):
            await short.recv(timeout=4)
        assert short.ws.close_code == 4401

    run(go())


class Hooks:
    """The application's hook endpoint: records every event."""

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()
        hooks = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get('Content-Length', '0')))
                with hooks.lock:
                    hooks.events.append(json.loads(body))
                self.send_response(204)
                self.send_header('Content-Length', '0')
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def wait(self, n, timeout=5):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.events) >= n:
                    return [(e['event'], e['channel']) for e in self.events]
            time.sleep(0.02)
        raise AssertionError('hook events: %r' % self.events)


def test_hooks_are_told_per_channel(herald):
    hooks = Hooks()
    try:
        srv = herald(CONF.replace('max_channels_per_connection 3;',
                                  'on_subscribe http://127.0.0.1:%d/join; '
                                  'on_unsubscribe http://127.0.0.1:%d/leave;'
                                  % (hooks.port, hooks.port)))

        async def go():
            m = await Mux.open(srv.port)
            await m.answer(op='subscribe', channel='a')
            await m.answer(op='subscribe', channel='b')
            # Each hook is its own HTTP request: they may arrive in any order.
            assert sorted(hooks.wait(2)) == [('subscribe', 'a'), ('subscribe', 'b')]
            await m.answer(op='unsubscribe', channel='a')
            assert hooks.wait(3)[2] == ('unsubscribe', 'a')
            await m.close()
            assert hooks.wait(4)[3] == ('unsubscribe', 'b')

        run(go())
    finally:
        hooks.server.shutdown()
        hooks.server.server_close()


def test_shipped_config_multiplexes_clock_and_chat(herald):
    from test_push_config import shipped_conf
    srv = herald(shipped_conf())

    async def go():
        m = await Mux.open(srv.port)
        assert await m.answer(op='subscribe', channel='chat', ref='1') == \
            {'herald': 'subscribed', 'channel': 'chat', 'ref': '1'}
        assert (await m.answer(op='subscribe', channel='clock'))['herald'] == 'subscribed'
        assert (await m.messages(1, timeout=3))[0]['channel'] == 'clock'
        await m.send(op='publish', channel='chat', data='x')
        assert (await m.control())['status'] == 403  # clock messages may come first
        await m.close()

    run(go())
