"""Client side of the push integration tests: small, strict, blocking clients for every
herald push strategy over raw sockets, and incremental parsers for long streams.

Wire format checked here is the README's "Push strategies and their wire format":
  polling / long-polling: one message per response, ETag "ID", X-Herald-Missed: 1
  SSE: retry:, "id: ID" + one "data:" line per line, event herald-missed
  iframe: <script>parent.CB("DATA","ID")</script>, parent.CB(null,"",{"missed":true,...})
  WebSocket: one frame per message; ?format=json gives {"id","channel","data"}
"""
import base64
import json
import os
import re
import socket
import struct
import time

CALL_RE = re.compile(rb'<script>parent\.([A-Za-z0-9_$.]+)\((.*?)\)</script>', re.S)
SCRIPT_OPEN_RE = re.compile(rb'<script', re.I)


# ---- blocking HTTP ---------------------------------------------------------------------------

class Conn:
    """One keep-alive HTTP/1.1 connection with its own read buffer (one recv per read, not one
    per byte)."""

    def __init__(self, port, timeout=5, source=None, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:  # before connect(), so the window is small from the start
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        if source:
            self.sock.bind((source, 0))
        self.sock.connect(('127.0.0.1', port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def fill(self, timeout=None):
        """One recv into the buffer; False on EOF. socket.timeout propagates."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        chunk = self.sock.recv(65536)
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def read_until(self, sep):
        while True:
            i = self.buf.find(sep)
            if i >= 0:
                out = bytes(self.buf[:i + len(sep)])
                del self.buf[:i + len(sep)]
                return out
            if not self.fill():
                raise EOFError('connection closed before %r' % sep)

    def read_exact(self, n):
        while len(self.buf) < n:
            if not self.fill():
                raise EOFError('connection closed with %d of %d bytes' % (len(self.buf), n))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def request(self, method, path, body=None, headers=None):
        """Sends one request and reads its response: (status, headers lower-case, body)."""
        self.send(build_request(method, path, body, headers))
        return self.response(head_only=method == 'HEAD')

    def head(self):
        return parse_head(self.read_until(b'\r\n\r\n'))

    def response(self, head_only=False):
        status, h = self.head()
        if head_only or status in (204, 304) or status < 200:
            return status, h, b''
        if h.get('transfer-encoding', '').lower() == 'chunked':
            body = b''
            while True:
                size = int(self.read_until(b'\r\n').split(b';')[0], 16)
                if size == 0:
                    self.read_until(b'\r\n')
                    return status, h, body
                body += self.read_exact(size)
                assert self.read_exact(2) == b'\r\n'
        if 'content-length' in h:
            return status, h, self.read_exact(int(h['content-length']))
        while self.fill():  # close-delimited
            pass
        body = bytes(self.buf)
        self.buf.clear()
        return status, h, body

    def chunks(self):
        """After a chunked response head: yields each chunk's payload as it arrives; raises
        EOFError at the terminating chunk (the stream ended)."""
        while True:
            size = int(self.read_until(b'\r\n').split(b';')[0], 16)
            if size == 0:
                raise EOFError('stream ended')
            data = self.read_exact(size + 2)
            yield data[:-2]

    def read_frame(self):
        """After a 101: (opcode, payload) of the next WebSocket frame the server sends."""
        b0, b1 = self.read_exact(2)
        assert b1 & 0x80 == 0, 'server frames are not masked'
        n = b1 & 0x7f
        if n == 126:
            n = struct.unpack('!H', self.read_exact(2))[0]
        elif n == 127:
            n = struct.unpack('!Q', self.read_exact(8))[0]
        return b0 & 0x0f, self.read_exact(n)

    def frames(self):
        """After a 101: yields (opcode, payload) for each WebSocket frame the server sends."""
        while True:
            yield self.read_frame()


def build_request(method, path, body=None, headers=None):
    if isinstance(body, str):
        body = body.encode()
    lines = ['%s %s HTTP/1.1' % (method, path), 'Host: test']
    for k, v in (headers or {}).items():
        lines.append('%s: %s' % (k, v))
    if body is not None:
        lines.append('Content-Length: %d' % len(body))
    return ('\r\n'.join(lines) + '\r\n\r\n').encode('utf-8') + (body or b'')


def parse_head(raw):
    lines = raw.decode('latin-1').split('\r\n')
    status = int(lines[0].split()[1])
    h = {}
    for line in lines[1:]:
        if not line:
            continue
        k, _, v = line.partition(':')
        h[k.strip().lower()] = v.strip()
    return status, h


# Message ids are "LIFE-SEQ" (README, "Push strategies"): LIFE is 12 hex digits drawn when the
# channel's current life began, SEQ counts its messages from 1.
ID_RE = re.compile(r'([0-9a-f]{12})-([1-9][0-9]*)')


def id_seq(mid):
    """The sequence part of a message id (asserting its shape)."""
    m = ID_RE.fullmatch(mid)
    assert m, mid
    return int(m.group(2))


def id_life(mid):
    """The life part of a message id (asserting its shape)."""
    m = ID_RE.fullmatch(mid)
    assert m, mid
    return m.group(1)


class Life:
    """The ids of one life of a channel: L(3) is the id of its third message, L.seq(id) the
    sequence number of an id that must belong to this life, L.seqs(ids) all of them."""

    def __init__(self, life):
        assert re.fullmatch(r'[0-9a-f]{12}', life), life
        self.life = life

    @classmethod
    def of(cls, mid):
        return cls(id_life(mid))

    def __call__(self, seq):
        return '%s-%d' % (self.life, seq)

    def seq(self, mid):
        assert id_life(mid) == self.life, (mid, self.life)
        return id_seq(mid)

    def seqs(self, mids):
        return [self.seq(m) for m in mids]


def channel_life(srv, channel, path='/pub'):
    """The current Life of a channel that holds a message, from its publisher GET."""
    c = Conn(srv.port)
    try:
        status, _, body = c.request('GET', '%s?channel=%s' % (path, channel))
    finally:
        c.close()
    assert status == 200, (status, body)
    last = json.loads(body)['last_id']
    assert last, 'channel %s holds no id yet' % channel
    return Life.of(last)


def etag_id(h):
    """The sequence number of the message id in an ETag "LIFE-SEQ" header (None if absent)."""
    tag = h.get('etag')
    if tag is None:
        return None
    assert tag.startswith('"') and tag.endswith('"'), tag
    return id_seq(tag[1:-1])


def etag_text(h):
    """The whole message id of an ETag header (None if absent)."""
    tag = h.get('etag')
    return None if tag is None else tag.strip('"')


def poll_walk(port, path, count, query=''):
    """count answers of GET path?since=ID&query on one connection, from since=0, each since=
    the previous answer's ETag (how a polling client walks a channel): [(headers, body)]."""
    c = Conn(port)
    since = '0'
    answers = []
    for _ in range(count):
        status, h, body = c.request('GET', '%s?since=%s%s' % (path, since, query))
        assert status == 200, status
        since = etag_text(h)
        answers.append((h, body))
    c.close()
    return answers


def publish(srv, channel, data, ctype='text/plain', path='/pub', method='POST', conn=None):
    """Publishes one message; returns (status, decoded JSON or raw body)."""
    c = conn or Conn(srv.port)
    try:
        status, h, body = c.request(method, '%s?channel=%s' % (path, channel), body=data,
                                    headers={'Content-Type': ctype} if ctype else None)
    finally:
        if conn is None:
            c.close()
    if h.get('content-type', '').startswith('application/json'):
        return status, json.loads(body)
    return status, body


# The five strategies, one route each (the channel is the rest of the path), and POST /pub:
# for the server block of a test config.
STRATEGY_ROUTES = '''
        location /poll/ { push polling;      channel $tail; }
        location /lp/   { push long-polling; channel $tail; }
        location /if/   { push iframe;       channel $tail; }
        location /sse/  { push sse;          channel $tail; }
        location /ws/   { push websocket;    channel $tail; }
        location = /pub { publish; channel $arg_channel; }
'''


def take_chunks(buf):
    """Consumes the complete chunks at the front of buf (a bytearray holding a chunked body):
    returns (their payload, True once the terminating chunk has been consumed)."""
    out = bytearray()
    while True:
        i = buf.find(b'\r\n')
        if i < 0:
            return out, False
        size = int(bytes(buf[:i]).split(b';')[0], 16)
        if size == 0:
            if len(buf) < i + 4:
                return out, False
            assert buf[i + 2:i + 4] == b'\r\n', bytes(buf[:i + 4])
            del buf[:i + 4]
            return out, True
        if len(buf) < i + 4 + size:
            return out, False
        out += buf[i + 2:i + 2 + size]
        assert buf[i + 2 + size:i + 4 + size] == b'\r\n', bytes(buf[:i + 4 + size])
        del buf[:i + 4 + size]


# ---- blocking streams (SSE, iframe) ----------------------------------------------------------

class Stream(Conn):
    """A streaming GET (SSE or iframe): the head is read at once, then pump() decodes the chunked
    body as it arrives into self.body. ended = terminating chunk seen; eof = server closed."""

    def __init__(self, port, path, headers=None, timeout=5, rcvbuf=None):
        super().__init__(port, timeout, rcvbuf=rcvbuf)
        self.send(build_request('GET', path, headers=headers))
        self.status, self.headers = self.head()
        self.chunked = self.headers.get('transfer-encoding', '').lower() == 'chunked'
        self.body = bytearray()
        self.ended = False

    def _decode(self):
        if not self.chunked:
            self.body += self.buf
            self.buf.clear()
        elif not self.ended:
            data, self.ended = take_chunks(self.buf)
            self.body += data

    def pump(self, timeout=0.2):
        """Reads what arrives within timeout; False once the connection is closed."""
        self._decode()
        if self.eof:
            return False
        try:
            if not self.fill(timeout):
                return False
        except socket.timeout:
            return True
        self._decode()
        return True

    def wait_for(self, pred, timeout=5):
        deadline = time.time() + timeout
        while not pred(self):
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError('timed out; body so far: %r' % bytes(self.body[-2000:]))
            if not self.pump(min(left, 0.2)) and not pred(self):
                raise AssertionError('stream closed; body: %r' % bytes(self.body[-2000:]))
        return self

    def wait_closed(self, timeout=5):
        deadline = time.time() + timeout
        while self.pump(max(0.01, min(0.2, deadline - time.time()))):
            if time.time() > deadline:
                raise AssertionError('stream not closed')
        return self


def parse_sse(text):
    """Parses an event stream (HTML §9.2.6). Returns (events, comments, retries); each event is
    a dict with 'event' (default 'message'), 'data', 'id' (last id seen, as a string or None).
    Only complete events (terminated by a blank line) are returned."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode('utf-8')
    events, comments, retries = [], [], []
    last_id = None
    data, event = [], None
    have_fields = False
    lines = re.split(r'\r\n|\n|\r', text)
    lines = lines[:-1]  # the text after the last line end is incomplete
    for line in lines:
        if line == '':
            if have_fields and data:
                events.append({'event': event or 'message', 'data': '\n'.join(data),
                               'id': last_id})
            data, event, have_fields = [], None, False
            continue
        if line.startswith(':'):
            comments.append(line[1:].strip())
            continue
        field, sep, value = line.partition(':')
        if sep and value.startswith(' '):
            value = value[1:]
        have_fields = True
        if field == 'data':
            data.append(value)
        elif field == 'event':
            event = value
        elif field == 'id':
            last_id = value
        elif field == 'retry':
            retries.append(int(value))
    return events, comments, retries


def parse_iframe(body):
    """Every <script>parent.CB(args)</script> call in an iframe stream: (callback, [args])
    with the arguments decoded as JSON (herald's JS escapes are JSON-compatible)."""
    calls = []
    for m in CALL_RE.finditer(bytes(body)):
        calls.append((m.group(1).decode(), json.loads(b'[' + m.group(2) + b']')))
    return calls


# ---- blocking WebSocket ----------------------------------------------------------------------

def ws_key():
    return base64.b64encode(os.urandom(16)).decode()


def ws_client_frame(opcode, payload=b'', fin=True, length=None, key=None):
    """A masked client frame. length: the length to announce (default: the payload's, a lie
    for oversize tests); key: the 4-byte mask (default random; b'\0' * 4 sends the payload as
    it is)."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack('!H', n)
    else:
        head += bytes([0x80 | 127]) + struct.pack('!Q', n)
    key = os.urandom(4) if key is None else key
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


class Ws(Conn):
    """A WebSocket client (RFC 6455) for herald's push routes: status is the handshake status;
    recv() returns (opcode, payload bytes) of the next whole frame from the server."""

    def __init__(self, port, path, headers=None, timeout=5):
        super().__init__(port, timeout)
        hdrs = {'Upgrade': 'websocket', 'Connection': 'Upgrade', 'Sec-WebSocket-Version': '13',
                'Sec-WebSocket-Key': ws_key()}
        hdrs.update(headers or {})
        self.send(build_request('GET', path, headers=hdrs))
        self.status, self.headers = self.head()
        if self.status != 101:
            if 'content-length' in self.headers:
                self.read_exact(int(self.headers['content-length']))

    def recv(self, timeout=5):
        self.sock.settimeout(timeout)
        return self.read_frame()

    def send_text(self, text):
        self.send(ws_client_frame(0x1, text))

    def close(self, code=1000):
        try:
            self.send(ws_client_frame(0x8, struct.pack('!H', code)))
        except OSError:
            pass
        super().close()


# ---- incremental parsers (loss and cross-thread tests) ----------------------------------

class SseParser:
    """Incremental SSE parser: feed() text, get complete events (dicts as parse_sse)."""

    def __init__(self):
        self.pending = ''

    def feed(self, text):
        self.pending += text
        end = self.pending.rfind('\n\n')
        if end < 0:
            return []
        done, self.pending = self.pending[:end + 2], self.pending[end + 2:]
        events, _, _ = parse_sse(done)
        return events


class IframeParser:
    """Incremental iframe parser: feed() bytes, get complete calls (as parse_iframe)."""

    def __init__(self):
        self.pending = b''

    def feed(self, data):
        self.pending += data
        end = self.pending.rfind(b'</script>')
        if end < 0:
            return []
        done, self.pending = self.pending[:end + 9], self.pending[end + 9:]
        return parse_iframe(done)


def mid(srv, channel, seq, path='/pub'):
    """The id of message seq of channel's current life (the channel must hold an id)."""
    return channel_life(srv, channel, path)(seq)
