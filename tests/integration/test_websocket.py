"""WebSocket (RFC 6455) against the real binary over raw sockets: the opening
handshake (§4.2), every framing violation with the exact close code herald must send (§5, §7.4,
§8.1) followed by the TCP close, the echo route, keepalive pings, the close handshake and its
timeout, shutdown (1001), and `push websocket` channel subscriptions.

Frames are built by a small client-side encoder (`frame()`) that can produce any opcode, flag,
length form or mask, including the illegal ones; `WsClient` reads the server's frames and
checks that they are well formed (unmasked, RSV 0, control frames whole and <= 125 bytes).
"""
import base64
import hashlib
import json
import os
import signal
import socket
import struct
import threading
import time
import zlib

import pytest

from harness import Herald

GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
PREFIX = '服务器回应:'

CONF = '''
error_log stderr info;
worker_threads 1;
http {
    access_log off;
    ws_close_timeout 1s;
    ws_ping_interval 0;
    channel c1 { buffer 10; }
    channel c2 { buffer 3; }
    server {
        listen 127.0.0.1:0;
        location = /echo   { push websocket; echo "服务器回应:"; }
        location = /raw    { push websocket; echo ""; }
        location = /small  { push websocket; echo ""; ws_max_message_size 1k; }
        location = /proto  { push websocket; echo ""; ws_protocols chat superchat v2.herald; }
        location = /origin { push websocket; echo ""; allow_origin https://good.example http://also.example; }
        location = /anyorigin { push websocket; echo ""; allow_origin *; }
        location = /slow   { push websocket; echo ""; ws_max_queue 64k; }
        location /ws/      { push websocket; channel $tail; }
        location = /ws/chat { push websocket; channel c1; publish on; }
        location /slowws/  { push websocket; channel $tail; ws_max_queue 64k; }
        location = /pub    { publish; channel $arg_channel; }
    }
}
'''


# ---- client-side codec ---------------------------------------------------------------------

def mask_bytes(payload, key):
    """XORs payload with the 4-byte key (RFC 6455 §5.3), fast enough for megabytes."""
    if not payload:
        return b''
    n = len(payload)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, 'big') ^ int.from_bytes(k, 'big')).to_bytes(n, 'big')


def frame(opcode, payload=b'', fin=True, rsv=0, mask=True, length=None, form=None, key=None):
    """One client frame. length overrides the announced payload length; form forces the
    length encoding (7, 16 or 64 bits) even where a shorter one would do."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mbit = 0x80 if mask else 0
    form = form or (7 if n < 126 else 16 if n < 65536 else 64)
    if form == 7:
        head = bytes([b0, mbit | n])
    elif form == 16:
        head = bytes([b0, mbit | 126]) + struct.pack('!H', n)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack('!Q', n)
    if not mask:
        return head + payload
    key = key if key is not None else os.urandom(4)
    return head + key + mask_bytes(payload, key)


def close_payload(code, reason=b''):
    return struct.pack('!H', code) + reason


# The suite runs twice: as is, and with every connection offering permessage-deflate (RFC 7692)
# the way browsers do. Client frames stay uncompressed (a sender may leave RSV1 clear on any
# message); the server's compressed messages are inflated by WsClient with Python's zlib, so
# every expectation about what comes back holds in both modes.
MODE = {'deflate': False}


@pytest.fixture(autouse=True, scope='module', params=['plain', 'deflate'])
def ws_mode(request):
    MODE['deflate'] = request.param == 'deflate'
    yield request.param
    MODE['deflate'] = False


class WsClient:
    """A connected, upgraded socket plus a read buffer (bytes after the 101 head included)."""

    def __init__(self, sock, status, headers, buf):
        self.sock, self.status, self.headers, self.buf = sock, status, headers, buf
        self.deflate = headers.get('sec-websocket-extensions', '').startswith('permessage-deflate')

    def send(self, data):
        self.sock.sendall(data)

    def send_frame(self, opcode, payload=b'', **kw):
        self.sock.sendall(frame(opcode, payload, **kw))

    def _fill(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                return False
            self.buf += chunk
        return True

    def recv_frame(self):
        """(fin, opcode, payload) of the next server frame; None at EOF between frames."""
        if not self._fill(2):
            assert self.buf == b'', 'EOF inside a frame header: %r' % self.buf
            return None
        b0, b1 = self.buf[0], self.buf[1]
        # RSV1 only where permessage-deflate was negotiated, and only on a data message's first
        # frame (RFC 7692 §6.1).
        rsv1_ok = self.deflate and (b0 & 0x0F) in (TEXT, BINARY)
        assert b0 & (0x30 if rsv1_ok else 0x70) == 0, 'server frame with RSV bits: %#x' % b0
        assert b1 & 0x80 == 0, 'server frames must not be masked (RFC 6455 §5.1)'
        n, off = b1 & 0x7F, 2
        if n == 126:
            assert self._fill(4)
            n, off = struct.unpack('!H', self.buf[2:4])[0], 4
        elif n == 127:
            assert self._fill(10)
            n, off = struct.unpack('!Q', self.buf[2:10])[0], 10
        assert self._fill(off + n), 'EOF inside a frame payload'
        fin, op, payload = bool(b0 & 0x80), b0 & 0x0F, self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        if op & 0x8:
            assert fin and n <= 125, 'bad server control frame'
        if b0 & 0x40:  # a compressed message: herald sends it as one frame
            assert fin, 'compressed message in fragments'
            payload = zlib.decompressobj(-15).decompress(payload + b'\x00\x00\xff\xff')
        return fin, op, payload

    def recv_message(self):
        """Next data message (reassembled), answering nothing; returns (opcode, payload).
        Control frames met on the way are collected in self.controls."""
        self.controls = getattr(self, 'controls', [])
        op, data = None, b''
        while True:
            f = self.recv_frame()
            assert f is not None, 'EOF while waiting for a message'
            fin, fop, payload = f
            if fop & 0x8:
                assert fop != CLOSE, 'close %r while waiting for a message' % (payload,)
                self.controls.append((fop, payload))
                continue
            if op is None:
                assert fop in (TEXT, BINARY), 'message starts with opcode %d' % fop
                op = fop
            else:
                assert fop == CONT
            data += payload
            if fin:
                return op, data

    def expect_close(self, code, eof=True):
        """The next frame is a close with this status code (None: empty payload); then, if
        eof, the server closes the TCP connection without sending anything else."""
        f = self.recv_frame()
        assert f is not None, 'TCP closed without a close frame'
        fin, op, payload = f
        assert op == CLOSE, 'expected close %s, got opcode %d %r' % (code, op, payload[:60])
        if code is None:
            assert payload == b''
        else:
            assert len(payload) >= 2, 'close frame without status: %r' % payload
            got = struct.unpack('!H', payload[:2])[0]
            assert got == code, 'close code %d, expected %d (reason %r)' % (got, code,
                                                                            payload[2:])
            payload[2:].decode('utf-8')  # the reason is UTF-8 (§5.5.1)
        if eof:
            self.expect_eof()
        return payload

    def expect_eof(self, timeout=3):
        """The server closes the connection (recv returns b'') without sending more."""
        assert self.buf == b'', 'unexpected bytes after close: %r' % self.buf[:80]
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise AssertionError('server did not close the TCP connection')
        assert data == b'', 'unexpected bytes after close: %r' % data[:80]

    def close(self):
        self.sock.close()


def upgrade_request(path, key=None, headers=None, version='13', connection='Upgrade',
                    method='GET', extra_lines=()):
    key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
    lines = ['%s %s HTTP/1.1' % (method, path), 'Host: 127.0.0.1', 'Upgrade: websocket',
             'Connection: ' + connection, 'Sec-WebSocket-Key: ' + key]
    if version is not None:
        lines.append('Sec-WebSocket-Version: ' + version)
    for k, v in (headers or {}).items():
        lines.append('%s: %s' % (k, v))
    lines.extend(extra_lines)
    return ('\r\n'.join(lines) + '\r\n\r\n').encode(), key


def read_head(sock):
    """Reads an HTTP response head byte-exactly: (status, headers, leftover bytes)."""
    buf = b''
    while b'\r\n\r\n' not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError('connection closed during the handshake: %r' % buf)
        buf += chunk
    head, _, rest = buf.partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(':')
        headers.setdefault(k.strip().lower(), v.strip())
    return status, headers, rest


def connect(srv, path='/echo', early=b'', expect=101, rcvbuf=None, **kw):
    """Opens a WebSocket (or a refused handshake when expect != 101). early: bytes sent in the
    same write as the request; rcvbuf: a small SO_RCVBUF makes a slow reader."""
    if MODE['deflate'] and not any(k.lower() == 'sec-websocket-extensions'
                                   for k in (kw.get('headers') or {})):
        kw['headers'] = dict(kw.get('headers') or {}, **{
            'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits'})
    req, key = upgrade_request(path, **kw)
    if rcvbuf:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(3)
        s.connect(('127.0.0.1', srv.port))
    else:
        s = srv.connect(timeout=3)
    s.sendall(req + early)
    status, headers, rest = read_head(s)
    assert status == expect, (status, headers, rest)
    if status == 101:
        accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        assert headers['upgrade'].lower() == 'websocket'
        assert 'upgrade' in headers['connection'].lower()
        assert headers['sec-websocket-accept'] == accept
    return WsClient(s, status, headers, rest)


def read_body(c):
    """Body of a refused handshake (Content-Length framed)."""
    n = int(c.headers.get('content-length', '0'))
    while len(c.buf) < n:
        chunk = c.sock.recv(4096)
        if not chunk:
            break
        c.buf += chunk
    return c.buf[:n]


# ---- fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def srv(tmp_path_factory):
    """One server for the stateless tests; stopped (and checked clean) after the module."""
    s = Herald(CONF, tmp_path_factory.mktemp('ws'))
    yield s
    s.stop()


@pytest.fixture
def fresh(herald):
    """A server of its own (for channel state, signals and timing)."""
    return herald(CONF)


def violation(srv, data, code, path='/raw'):
    c = connect(srv, path)
    c.send(data)
    c.expect_close(code)
    c.close()


# ---- framing violations --------------------------------------------------------------------

def test_unmasked_frame_is_1002(srv):
    violation(srv, frame(TEXT, 'hi', mask=False), 1002)
    violation(srv, frame(PING, 'x', mask=False), 1002)
    violation(srv, frame(CLOSE, close_payload(1000), mask=False), 1002)


@pytest.mark.parametrize('rsv', [4, 2, 1, 7])  # RSV1 (0x40), RSV2, RSV3, all
@pytest.mark.parametrize('op', [TEXT, BINARY, PING])
def test_rsv_bits_are_1002(srv, rsv, op):
    if MODE['deflate'] and rsv == 4 and op != PING:
        # Negotiated, RSV1 marks a compressed message: 'x' (0x78) opens a stored block that
        # the appended 00 00 ff ff completes, so it inflates to the empty message.
        c = connect(srv, '/raw')
        c.send(frame(op, 'x', rsv=rsv))
        assert c.recv_message() == (op, b'')
        c.close()
        return
    violation(srv, frame(op, 'x', rsv=rsv), 1002)


def test_rsv_on_continuation_is_1002(srv):
    violation(srv, frame(TEXT, 'a', fin=False) + frame(CONT, 'b', rsv=4), 1002)


@pytest.mark.parametrize('op', [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcodes_are_1002(srv, op):
    violation(srv, frame(op, 'x'), 1002)


@pytest.mark.parametrize('op', [3, 0xB])
def test_reserved_opcode_inside_fragmented_message_is_1002(srv, op):
    violation(srv, frame(TEXT, 'a', fin=False) + frame(op, 'x'), 1002)


@pytest.mark.parametrize('op', [PING, PONG, CLOSE])
@pytest.mark.parametrize('n', [126, 200, 65535])
def test_control_frame_over_125_is_1002(srv, op, n):
    payload = close_payload(1000, b'r' * (n - 2)) if op == CLOSE else b'p' * n
    violation(srv, frame(op, payload), 1002)


def test_control_frame_125_is_fine(srv):
    c = connect(srv, '/raw')
    c.send_frame(PING, b'p' * 125)
    assert c.recv_frame() == (True, PONG, b'p' * 125)
    c.send_frame(CLOSE, close_payload(1000, b'r' * 123))
    c.expect_close(1000)


def test_control_frame_with_16bit_length_form_is_1002(srv):
    # 5 bytes announced with the 126 form: the 7-bit field is not <= 125.
    violation(srv, frame(PING, 'abcde', form=16), 1002)


@pytest.mark.parametrize('op', [PING, PONG, CLOSE])
def test_fragmented_control_frame_is_1002(srv, op):
    payload = close_payload(1000) if op == CLOSE else b'x'
    violation(srv, frame(op, payload, fin=False), 1002)


def test_64bit_length_with_top_bit_is_1002(srv):
    c = connect(srv, '/raw')
    head = bytes([0x82, 0x80 | 127]) + struct.pack('!Q', (1 << 63) | 5) + b'\0\0\0\0'
    c.send(head + b'hello')
    c.expect_close(1002)


def test_64bit_length_top_bit_fails_on_first_length_byte(srv):
    # Fail fast: the first byte of the 64-bit length is enough to know.
    c = connect(srv, '/raw')
    c.send(bytes([0x82, 0x80 | 127, 0x80]))
    c.expect_close(1002)


def test_continuation_without_start_is_1002(srv):
    violation(srv, frame(CONT, 'x'), 1002)
    violation(srv, frame(CONT, 'x', fin=False), 1002)
    # A finished message does not leave a message open.
    c = connect(srv, '/raw')
    c.send(frame(TEXT, 'a', fin=False) + frame(CONT, 'b') + frame(CONT, 'c'))
    assert c.recv_message() == (TEXT, b'ab')
    c.expect_close(1002)


@pytest.mark.parametrize('first,second', [(TEXT, TEXT), (TEXT, BINARY), (BINARY, TEXT),
                                          (BINARY, BINARY)])
def test_new_data_frame_while_fragmented_is_1002(srv, first, second):
    violation(srv, frame(first, 'a', fin=False) + frame(second, 'b'), 1002)
    violation(srv, frame(first, 'a', fin=False) + frame(CONT, 'b', fin=False) +
              frame(second, 'c', fin=False), 1002)


# ---- UTF-8 ----------------------------------------------------------------------------------

BAD_UTF8 = {
    'overlong_slash_2': b'\xc0\xaf',
    'overlong_c1': b'\xc1\xbf',
    'overlong_slash_3': b'\xe0\x80\xaf',
    'overlong_3_max': b'\xe0\x9f\xbf',
    'overlong_slash_4': b'\xf0\x80\x80\xaf',
    'overlong_4_max': b'\xf0\x8f\xbf\xbf',
    'surrogate_high': b'\xed\xa0\x80',
    'surrogate_low': b'\xed\xbf\xbf',
    'surrogate_pair': b'\xed\xa0\x80\xed\xb0\x80',
    'above_10ffff': b'\xf4\x90\x80\x80',
    'f5_lead': b'\xf5\x80\x80\x80',
    'ff': b'\xff',
    'lone_continuation': b'\x80',
    'truncated_end': b'\xe2\x82',
    'bad_continuation': b'\xe2\x28\xa1',
}


@pytest.mark.parametrize('name', sorted(BAD_UTF8))
def test_invalid_utf8_text_is_1007(srv, name):
    violation(srv, frame(TEXT, b'ok ' + BAD_UTF8[name] + b' end'), 1007)


@pytest.mark.parametrize('name', ['overlong_slash_3', 'surrogate_high', 'above_10ffff', 'ff'])
def test_invalid_utf8_in_later_fragment_is_1007(srv, name):
    violation(srv, frame(TEXT, 'fine ', fin=False) + frame(CONT, 'still fine', fin=False) +
              frame(CONT, b'x' + BAD_UTF8[name]), 1007)


def test_invalid_utf8_split_across_fragments_is_1007(srv):
    # ED | A0 80: a surrogate whose bytes straddle two frames.
    violation(srv, frame(TEXT, b'a\xed', fin=False) + frame(CONT, b'\xa0\x80'), 1007)


def test_truncated_sequence_at_message_end_is_1007(srv):
    violation(srv, frame(TEXT, b'a', fin=False) + frame(CONT, b'\xf0\x9f\x98'), 1007)


def test_invalid_utf8_fails_fast_mid_frame(srv):
    # Only the start of a 1000-byte frame arrives; the bad byte alone must trigger 1007.
    c = connect(srv, '/raw')
    key = b'\x01\x02\x03\x04'
    whole = frame(TEXT, b'abc\xff' + b'z' * 996, key=key)
    c.send(whole[:2 + 2 + 4 + 10])
    c.expect_close(1007)


def test_binary_is_not_utf8_checked(srv):
    c = connect(srv, '/raw')
    c.send_frame(BINARY, b'\xff\xed\xa0\x80\xc0\xaf')
    assert c.recv_message() == (BINARY, b'\xff\xed\xa0\x80\xc0\xaf')
    c.close()


def test_valid_utf8_boundaries_echo(srv):
    text = ('\x00\x7f\x80\u07ff\u0800\ud7ff\ue000\ufffd\uffff\U00010000\U0010ffff'
            '服务器😀').encode('utf-8')
    c = connect(srv, '/raw')
    c.send_frame(TEXT, text)
    assert c.recv_message() == (TEXT, text)
    # The same, every character split across fragments.
    parts = [text[i:i + 1] for i in range(len(text))]
    data = frame(TEXT, parts[0], fin=False)
    for i, p in enumerate(parts[1:], 1):
        data += frame(CONT, p, fin=i == len(parts) - 1)
    c.send(data)
    assert c.recv_message() == (TEXT, text)
    c.close()


# ---- close frames ---------------------------------------------------------------------------

def test_close_with_one_byte_payload_is_1002(srv):
    violation(srv, frame(CLOSE, b'\x03'), 1002)


@pytest.mark.parametrize('code', [0, 1, 999, 1004, 1005, 1006, 1012, 1015, 1016, 2000, 2999,
                                  5000, 65535])
def test_invalid_close_codes_are_1002(srv, code):
    violation(srv, frame(CLOSE, close_payload(code)), 1002)


@pytest.mark.parametrize('code', [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000,
                                  3999, 4000, 4999])
def test_valid_close_codes_are_echoed(srv, code):
    c = connect(srv, '/raw')
    c.send_frame(CLOSE, close_payload(code, 'bye ✓'.encode()))
    c.expect_close(code)


def test_close_without_status_gets_close(srv):
    c = connect(srv, '/raw')
    c.send_frame(CLOSE)
    f = c.recv_frame()
    assert f is not None and f[1] == CLOSE
    assert f[2] in (b'', close_payload(1000)), f[2]  # no status to echo (§5.5.1, §7.4.1)
    c.expect_eof()


@pytest.mark.parametrize('reason', [b'\xff', b'abc\xc0\xaf', b'\xed\xa0\x80', b'\xf4\x90\x80\x80',
                                    b'cut \xe2\x82'])
def test_close_reason_invalid_utf8_is_1007(srv, reason):
    violation(srv, frame(CLOSE, close_payload(1000, reason)), 1007)


def test_close_mid_fragmented_message(srv):
    # Control frames may interleave; a close ends everything, the partial message is dropped.
    c = connect(srv, '/raw')
    c.send(frame(TEXT, 'part', fin=False) + frame(CLOSE, close_payload(1000)))
    c.expect_close(1000)


def test_bytes_after_close_are_ignored(srv):
    c = connect(srv, '/raw')
    c.send(frame(CLOSE, close_payload(1000)) + frame(TEXT, 'late') + b'\xff\xff garbage')
    c.expect_close(1000)


# ---- message size --------------------------------------------------------------------------

@pytest.mark.parametrize('op', [TEXT, BINARY])
def test_single_frame_over_limit_is_1009(srv, op):
    c = connect(srv, '/small')  # ws_max_message_size 1k
    c.send_frame(op, b'a' * 1024)
    assert c.recv_message() == (op, b'a' * 1024)  # exactly the limit is fine
    c.send_frame(op, b'a' * 1025)
    c.expect_close(1009)


@pytest.mark.parametrize('op', [TEXT, BINARY])
def test_fragmented_message_over_limit_is_1009(srv, op):
    c = connect(srv, '/small')
    c.send(frame(op, b'a' * 600, fin=False) + frame(CONT, b'b' * 424))
    assert c.recv_message() == (op, b'a' * 600 + b'b' * 424)
    c.send(frame(op, b'a' * 600, fin=False) + frame(CONT, b'b' * 300, fin=False) +
           frame(CONT, b'c' * 125))
    c.expect_close(1009)


def test_oversized_frame_fails_at_header(srv):
    # Only the header of a 2 KiB frame arrives: herald must not wait for (or buffer) the payload.
    c = connect(srv, '/small')
    c.send(frame(BINARY, b'a' * 2048)[:8])
    c.expect_close(1009)


def test_16_mib_message_against_default_limit_is_1009(srv):
    c = connect(srv, '/raw')  # default ws_max_message_size 1m
    data = frame(BINARY, b'\x5a' * (16 << 20))
    errors = []

    def pump():  # the whole message, as a client would send it
        try:
            c.sock.sendall(data)
        except OSError as e:  # herald stops reading after ws_close_timeout
            errors.append(e)

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    # The close frame, then EOF (a FIN, not a RST that could destroy the close frame in our
    # receive queue: herald keeps discarding our input while it lingers).
    c.expect_close(1009)
    t.join(5)
    assert not t.is_alive()
    c.close()


def test_16_mib_fragmented_message_is_1009(srv):
    c = connect(srv, '/raw')
    chunk = b'x' * (256 << 10)
    c.send(frame(BINARY, chunk, fin=False) + frame(CONT, chunk, fin=False) +
           frame(CONT, chunk, fin=False) + frame(CONT, chunk, fin=False))  # 1 MiB: still fine
    c.send(frame(CONT, b'!', fin=False)[:8])
    c.expect_close(1009)


def test_max_size_message_echoed_with_default_limits(srv):
    # ws_max_message_size and ws_max_queue are both 1m by default: one maximal message must
    # still go out to a reader that keeps up (not 1008).
    c = connect(srv, '/raw')
    # Inflating and deflating 1 MiB twice takes a ThreadSanitizer build on a loaded machine
    # more than the 3 s the other cases wait: this test is about the limits, not the speed.
    c.sock.settimeout(30)
    data = os.urandom(1 << 20)
    c.send_frame(BINARY, data)
    assert c.recv_message() == (BINARY, data)
    c.send(frame(BINARY, data[:1 << 19], fin=False) + frame(CONT, data[1 << 19:]))
    assert c.recv_message() == (BINARY, data)
    c.send_frame(BINARY, data + b'!')
    c.expect_close(1009)


# ---- backpressure ---------------------------------------------------------------------------

def drain_until_close(c):
    """Reads data frames until a close frame; returns (bytes of data seen, close code)."""
    seen = 0
    while True:
        f = c.recv_frame()
        assert f is not None, 'TCP closed without a close frame'
        if f[1] == CLOSE:
            return seen, struct.unpack('!H', f[2][:2])[0]
        seen += len(f[2])


def test_slow_reader_closed_with_1008(fresh):
    c = connect(fresh, '/slow', rcvbuf=4096)  # ws_max_queue 64k
    # Random bytes: with permessage-deflate a run of one letter would compress to nothing.
    chunk = frame(BINARY, os.urandom(32768))
    sent = 0
    try:
        for _ in range(400):  # 13 MB of echo that we do not read
            c.send(chunk)
            sent += 32768
    except OSError:
        pass
    c.sock.settimeout(5)
    seen, code = drain_until_close(c)
    assert code == 1008
    assert seen < sent
    c.send_frame(CLOSE, close_payload(1008))
    c.expect_eof()
    assert fresh.wait_log('ws_max_queue')


def test_slow_subscriber_closed_with_1008(fresh):
    c = connect(fresh, '/slowws/c1', rcvbuf=4096)  # ws_max_queue 64k
    body = os.urandom(256 << 10)  # incompressible, as above
    for i in range(40):  # 10 MB we do not read
        publish(fresh, 'c1', body)
    fast = connect(fresh, '/ws/c1')  # the others are unaffected
    publish(fresh, 'c1', 'after')
    # Over Redis the node's copy may still be taking the last of the 40 from pub/sub when
    # `fast` joins ("from now" is the node's now): it then gets those first, whole and in order.
    kind, data = fast.recv_message()
    while kind == BINARY and data == body:
        kind, data = fast.recv_message()
    assert (kind, data) == (TEXT, b'after')
    c.sock.settimeout(5)
    seen, code = drain_until_close(c)
    assert code == 1008
    assert seen < 40 * len(body)
    c.send_frame(CLOSE, close_payload(1008))
    c.expect_eof()


# ---- handshake ------------------------------------------------------------------------------

def test_accept_key_rfc_sample(srv):
    req, _ = upgrade_request('/echo', key='dGhlIHNhbXBsZSBub25jZQ==')
    s = srv.connect()
    s.sendall(req)
    status, h, _ = read_head(s)
    assert status == 101
    # RFC 6455 §1.3's sample (the issue text misquotes its middle as "xOo+").
    assert h['sec-websocket-accept'] == 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='
    s.close()


@pytest.mark.parametrize('version', ['8', '12', '14', '', 'abc'])
def test_bad_version_is_426_with_version_header(srv, version):
    c = connect(srv, '/echo', version=version, expect=426)
    assert c.headers['sec-websocket-version'] == '13'
    c.close()


def test_missing_version_is_426(srv):
    c = connect(srv, '/echo', version=None, expect=426)
    assert c.headers['sec-websocket-version'] == '13'
    c.close()


@pytest.mark.parametrize('key', [
    base64.b64encode(b'x' * 15).decode(),        # 15 bytes
    base64.b64encode(b'x' * 17).decode(),        # 17 bytes
    base64.b64encode(b'x' * 32).decode(),        # 32 bytes
    'not base64 at all!!!!!!=',                  # 24 chars, not base64
    'AAAAAAAAAAAAAAAAAAAAAA',                    # 16 bytes without padding
    '',
])
def test_bad_key_is_400(srv, key):
    c = connect(srv, '/echo', key=key, expect=400)
    c.close()


def test_plain_get_on_websocket_location_is_426(srv):
    for path in ('/echo', '/ws/c1'):
        status, h, body = srv.get(path)
        assert status == 426, (path, status, body)
        assert h.get('upgrade', '').lower() == 'websocket'
        assert 0 < len(body) < 200 and b'WebSocket' in body
        assert h['content-type'].startswith('text/plain')


def test_post_is_405(srv):
    status, h, body = srv.request('POST', '/echo', body=b'', headers={
        'Upgrade': 'websocket', 'Connection': 'Upgrade', 'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': base64.b64encode(os.urandom(16)).decode()})
    assert status == 405
    assert 'GET' in h.get('allow', '')


def test_http10_upgrade_is_refused(srv):
    req, _ = upgrade_request('/echo')
    req = req.replace(b'HTTP/1.1', b'HTTP/1.0', 1)
    out = srv.raw(req)
    assert out.startswith(b'HTTP/1.1 4') or out.startswith(b'HTTP/1.0 4'), out[:100]


@pytest.mark.parametrize('connection', ['keep-alive, Upgrade', 'upgrade', 'UPGRADE',
                                        'Upgrade , keep-alive', 'foo,\tupgrade'])
def test_connection_header_list(srv, connection):
    c = connect(srv, '/echo', connection=connection)
    c.send_frame(TEXT, 'x')
    assert c.recv_message() == (TEXT, (PREFIX + 'x').encode())
    c.close()


def test_upgrade_header_is_case_insensitive(srv):
    req, _ = upgrade_request('/echo')
    req = req.replace(b'Upgrade: websocket', b'Upgrade: WebSocket')
    s = srv.connect()
    s.sendall(req)
    assert read_head(s)[0] == 101
    s.close()


def test_connection_without_upgrade_token_is_426(srv):
    connect(srv, '/echo', connection='keep-alive', expect=426).close()


@pytest.mark.parametrize('offered,chosen', [
    ('chat', 'chat'),
    ('superchat, chat', 'superchat'),      # the client's order wins
    ('unknown, chat', 'chat'),
    ('v2.herald', 'v2.herald'),
    ('unknown', None),
    ('CHAT', None),                        # tokens are case-sensitive
])
def test_subprotocol_selection(srv, offered, chosen):
    c = connect(srv, '/proto', headers={'Sec-WebSocket-Protocol': offered})
    assert c.headers.get('sec-websocket-protocol') == chosen
    c.close()


def test_subprotocol_offered_in_several_fields(srv):
    c = connect(srv, '/proto', extra_lines=['Sec-WebSocket-Protocol: x, y',
                                            'Sec-WebSocket-Protocol: superchat'])
    assert c.headers.get('sec-websocket-protocol') == 'superchat'
    c.close()


def test_no_subprotocol_header_where_not_configured(srv):
    c = connect(srv, '/echo', headers={'Sec-WebSocket-Protocol': 'chat'})
    assert 'sec-websocket-protocol' not in c.headers
    c.close()


def test_origin_checks(srv):
    connect(srv, '/origin', headers={'Origin': 'https://good.example'}).close()
    connect(srv, '/origin', headers={'Origin': 'http://also.example'}).close()
    connect(srv, '/origin').close()  # not a browser: no Origin, no check
    connect(srv, '/origin', headers={'Origin': 'https://evil.example'}, expect=403).close()
    connect(srv, '/origin', headers={'Origin': 'http://good.example'}, expect=403).close()
    connect(srv, '/origin', headers={'Origin': 'null'}, expect=403).close()
    connect(srv, '/anyorigin', headers={'Origin': 'https://evil.example'}).close()


def test_unknown_extensions_are_declined(srv):
    # permessage-deflate is negotiated (test_ws_clients.py, test_deflate.py); anything else is not.
    c = connect(srv, '/echo', headers={
        'Sec-WebSocket-Extensions': 'x-webkit-deflate-frame, permessage-deflate; bogus_param'})
    assert 'sec-websocket-extensions' not in c.headers
    # Since nothing was negotiated, RSV1 (the compression bit) is still a violation.
    c.send_frame(TEXT, 'x', rsv=4)
    c.expect_close(1002)


def test_deflate_min_size_sends_short_messages_plain(fresh):
    # ws_deflate_min_size (64 bytes by default): once permessage-deflate is negotiated, a
    # shorter message still goes out as a plain frame; a longer one is compressed (RSV1).
    c = connect(fresh, '/ws/c2', headers={'Sec-WebSocket-Extensions': 'permessage-deflate'})
    assert c.headers['sec-websocket-extensions'].startswith('permessage-deflate')
    big = json.dumps({'text': 'herald ' * 80}).encode()
    for body in (b'short', big):
        status, _, _ = fresh.request('POST', '/pub?channel=c2', body=body)
        assert status == 201
    got = []
    for _ in range(2):
        assert c._fill(2)
        b0, n = c.buf[0], c.buf[1] & 0x7F
        off = 2
        if n == 126:
            assert c._fill(4)
            n, off = struct.unpack('!H', c.buf[2:4])[0], 4
        assert c._fill(off + n)
        got.append((bool(b0 & 0x40), bytes(c.buf[off:off + n])))
        c.buf = c.buf[off + n:]
    assert got[0] == (False, b'short')
    assert got[1][0], 'a message over ws_deflate_min_size goes out compressed'
    assert len(got[1][1]) < len(big) // 4
    assert zlib.decompressobj(-15).decompress(got[1][1] + b'\x00\x00\xff\xff') == big
    c.close()


def test_first_frame_in_handshake_write_is_kept(srv):
    early = frame(TEXT, 'eager') + frame(PING, 'p') + frame(BINARY, b'\x00\x01')
    c = connect(srv, '/echo', early=early)
    assert c.recv_message() == (TEXT, (PREFIX + 'eager').encode())
    assert c.recv_frame() == (True, PONG, b'p')
    assert c.recv_message() == (BINARY, b'\x00\x01')
    c.close()


def test_partial_first_frame_in_handshake_write_is_kept(srv):
    whole = frame(TEXT, 'split eager frame')
    c = connect(srv, '/echo', early=whole[:5])
    time.sleep(0.05)
    c.send(whole[5:])
    assert c.recv_message() == (TEXT, (PREFIX + 'split eager frame').encode())
    c.close()


# ---- echo -----------------------------------------------------------------------------------

def test_echo_hello(srv):
    c = connect(srv, '/echo')
    c.send_frame(TEXT, 'hello')
    assert c.recv_message() == (TEXT, (PREFIX + 'hello').encode())
    c.send_frame(TEXT, '你好')
    assert c.recv_message() == (TEXT, (PREFIX + '你好').encode())
    c.send_frame(CLOSE, close_payload(1000))
    c.expect_close(1000)


def test_binary_echoed_unprefixed(srv):
    c = connect(srv, '/echo')
    data = bytes(range(256))
    c.send_frame(BINARY, data)
    assert c.recv_message() == (BINARY, data)
    c.close()


def fragmented_with_pings():
    parts = ['frag1 ', 'frag2 ', '分片 ', 'end']
    data = frame(TEXT, parts[0], fin=False)
    data += frame(PING, 'p1')
    data += frame(CONT, parts[1], fin=False)
    data += frame(PING, 'p2') + frame(PONG, 'unsolicited')
    data += frame(CONT, parts[2], fin=False)
    data += frame(PING, b'')
    data += frame(CONT, parts[3], fin=True)
    return data, ''.join(parts)


def check_fragmented_echo(c, text):
    frames = [c.recv_frame() for _ in range(4)]
    assert frames[:3] == [(True, PONG, b'p1'), (True, PONG, b'p2'), (True, PONG, b'')]
    assert frames[3] == (True, TEXT, (PREFIX + text).encode())


def test_fragmented_echo_with_interleaved_pings(srv):
    c = connect(srv, '/echo')
    data, text = fragmented_with_pings()
    c.send(data)
    check_fragmented_echo(c, text)
    c.send_frame(CLOSE, close_payload(1000))
    c.expect_close(1000)


def test_fragmented_echo_byte_by_byte(srv):
    c = connect(srv, '/echo')
    data, text = fragmented_with_pings()
    for i in range(len(data)):
        c.send(data[i:i + 1])
        if i % 16 == 0:
            time.sleep(0.001)  # give the server separate reads
    check_fragmented_echo(c, text)
    c.close()


@pytest.mark.parametrize('split', [1, 2, 3, 5, 6, 7, 9, 13])
def test_frames_split_at_every_header_offset(srv, split):
    c = connect(srv, '/raw')
    data = frame(BINARY, b'q' * 300) + frame(TEXT, 't' * 70000)
    c.send(data[:split])
    time.sleep(0.02)
    c.send(data[split:])
    assert c.recv_message() == (BINARY, b'q' * 300)
    assert c.recv_message() == (TEXT, b't' * 70000)
    c.close()


@pytest.mark.parametrize('op', [TEXT, BINARY])
def test_64k_and_empty_messages_echoed_exactly(srv, op):
    c = connect(srv, '/raw')
    big = (b'0123456789abcdef' * 4096) if op == TEXT else os.urandom(65536)
    c.send_frame(op, big)
    assert c.recv_message() == (op, big)
    c.send_frame(op, b'')
    assert c.recv_message() == (op, b'')
    # Empty fragments, too.
    c.send(frame(op, b'', fin=False) + frame(CONT, b'', fin=False) + frame(CONT, b''))
    assert c.recv_message() == (op, b'')
    # 64 KiB exactly in the 64-bit length form, and a 125/126/65535/65536 walk.
    c.send_frame(op, big, form=64)
    assert c.recv_message() == (op, big)
    for n in (125, 126, 127, 65535, 65536, 65537):
        c.send_frame(op, big[:n] if n <= len(big) else big + big[:n - len(big)])
        got = c.recv_message()
        assert got[0] == op and len(got[1]) == n
    c.close()


def test_64k_echo_then_ping_not_inside_frame(srv):
    c = connect(srv, '/raw')
    big = os.urandom(1 << 17)
    c.send(frame(BINARY, big) + frame(PING, 'after'))
    first = c.recv_frame()
    second = c.recv_frame()
    assert sorted([first[1], second[1]]) == [BINARY, PONG]
    assert (True, BINARY, big) in (first, second) and (True, PONG, b'after') in (first, second)
    c.close()


def test_ping_pong_same_payload(srv):
    c = connect(srv, '/raw')
    for payload in (b'', b'x', b'\x00\xff binary \x80', b'z' * 125):
        c.send_frame(PING, payload)
        assert c.recv_frame() == (True, PONG, payload)
    c.close()


def test_unsolicited_pong_ignored(srv):
    c = connect(srv, '/raw')
    c.send(frame(PONG, 'nobody asked') + frame(TEXT, 'after'))
    assert c.recv_frame() == (True, TEXT, b'after')
    c.close()


def test_many_messages_pipelined(srv):
    c = connect(srv, '/echo')
    n = 500
    c.send(b''.join(frame(TEXT, 'm%d' % i) for i in range(n)))
    for i in range(n):
        assert c.recv_message() == (TEXT, (PREFIX + 'm%d' % i).encode())
    c.close()


def test_client_vanishing_mid_frame_is_harmless(srv):
    c = connect(srv, '/raw')
    c.send(frame(TEXT, 'x' * 1000)[:100])
    c.close()
    c = connect(srv, '/raw', early=frame(TEXT, 'a', fin=False))
    c.sock.shutdown(socket.SHUT_WR)  # EOF inside a fragmented message
    c.expect_eof()
    c.close()
    # The server is still fine.
    c = connect(srv, '/raw')
    c.send_frame(TEXT, 'alive')
    assert c.recv_message() == (TEXT, b'alive')
    c.close()


# ---- keepalive, close timeout, shutdown -----------------------------------------------------

def test_server_ping_after_interval(herald):
    srv = herald(CONF.replace('ws_ping_interval 0', 'ws_ping_interval 1s'))
    c = connect(srv, '/raw')
    t0 = time.time()
    fin, op, payload = c.recv_frame()
    assert op == PING and 0.7 < time.time() - t0 < 1.8
    c.send_frame(PONG, payload)
    c.send_frame(TEXT, 'still here')
    assert c.recv_message() == (TEXT, b'still here')
    c.close()


def test_answered_pings_keep_alive(herald):
    srv = herald(CONF.replace('ws_ping_interval 0', 'ws_ping_interval 500ms'))
    c = connect(srv, '/raw')
    for _ in range(3):  # past the 2-interval deadline twice over: the pongs count
        fin, op, payload = c.recv_frame()
        assert op == PING, (op, payload)
        c.send_frame(PONG, payload)
    c.send_frame(TEXT, 'still here')
    assert c.recv_message() == (TEXT, b'still here')
    c.close()


def test_silent_client_is_closed_after_two_intervals(herald):
    srv = herald(CONF.replace('ws_ping_interval 0', 'ws_ping_interval 500ms'))
    c = connect(srv, '/raw')
    t0 = time.time()
    fin, op, _ = c.recv_frame()
    assert op == PING
    f = c.recv_frame()
    closed_at = time.time() - t0
    assert f is not None and f[1] == CLOSE, f
    assert struct.unpack('!H', f[2][:2])[0] in (1001, 1008, 1011)
    assert 0.8 < closed_at < 1.6, closed_at
    # The client never answers the close either: TCP closes after ws_close_timeout.
    c.expect_eof(timeout=3)
    assert 1.6 < time.time() - t0 < 3.0
    c.close()


def test_any_frame_counts_as_alive(herald):
    srv = herald(CONF.replace('ws_ping_interval 0', 'ws_ping_interval 500ms'))
    c = connect(srv, '/raw')
    t0 = time.time()
    while time.time() - t0 < 1.4:  # chatty client that ignores pings
        c.send_frame(BINARY, b'.')
        while True:
            fin, op, payload = c.recv_frame()
            if op == BINARY:
                break
            assert op == PING
        time.sleep(0.1)
    c.close()


def test_shutdown_sends_1001_and_completes_handshake(fresh):
    c = connect(fresh, '/echo')
    c.send_frame(TEXT, 'before')
    assert c.recv_message() == (TEXT, (PREFIX + 'before').encode())
    fresh.signal(signal.SIGQUIT)
    payload = c.expect_close(1001, eof=False)
    c.send_frame(CLOSE, payload[:2])  # answer: the server then closes TCP at once
    t0 = time.time()
    c.expect_eof()
    assert time.time() - t0 < 0.5
    fresh.proc.wait(timeout=5)
    c.close()


def test_close_timeout_after_server_close(fresh):
    c = connect(fresh, '/raw')
    c2 = connect(fresh, '/ws/c1')
    fresh.signal(signal.SIGQUIT)
    t0 = time.time()
    c.expect_close(1001, eof=False)
    c2.expect_close(1001, eof=False)
    # Neither client answers; herald keeps reading for ws_close_timeout (1s), then closes.
    c.expect_eof(timeout=3)
    assert 0.7 < time.time() - t0 < 2.0
    c2.expect_eof(timeout=3)
    fresh.proc.wait(timeout=5)
    c.close()
    c2.close()


def test_data_after_server_close_is_discarded(fresh):
    c = connect(fresh, '/echo')
    fresh.signal(signal.SIGQUIT)
    c.expect_close(1001, eof=False)
    c.send_frame(TEXT, 'too late')   # §5.5.1: no data after our close
    c.send_frame(PING, 'too late')
    c.send_frame(CLOSE, close_payload(1001))
    c.expect_eof()
    fresh.proc.wait(timeout=5)


# ---- push over WebSocket --------------------------------------------------------------------

def publish(srv, channel, body, ctype='text/plain'):
    status, h, out = srv.request('POST', '/pub?channel=' + channel, body=body,
                                 headers={'Content-Type': ctype})
    assert status == 201, (status, out)
    return json.loads(out)


def test_push_message_arrives_as_text_frame(fresh):
    c = connect(fresh, '/ws/c1')
    r = publish(fresh, 'c1', 'hello subscribers')
    assert r['subscribers'] == 1
    assert c.recv_message() == (TEXT, b'hello subscribers')
    publish(fresh, 'c1', '第二条 ✓'.encode())
    assert c.recv_message() == (TEXT, '第二条 ✓'.encode())
    publish(fresh, 'c1', b'\x00\xffbin', ctype='application/octet-stream')
    assert c.recv_message() == (BINARY, b'\x00\xffbin')
    # Client messages on a subscribe-only route are ignored; pings still answered.
    c.send_frame(TEXT, 'ignored')
    c.send_frame(PING, 'p')
    assert c.recv_frame() == (True, PONG, b'p')
    c.send_frame(CLOSE, close_payload(1000))
    c.expect_close(1000)


def test_push_fanout_to_many(fresh):
    clients = [connect(fresh, '/ws/c1') for _ in range(20)]
    r = publish(fresh, 'c1', 'everyone')
    assert r['subscribers'] == 20
    for c in clients:
        assert c.recv_message() == (TEXT, b'everyone')
        c.close()


def test_push_resume_with_since(fresh):
    ids = [publish(fresh, 'c1', 'm%d' % i)['id'] for i in range(5)]
    c = connect(fresh, '/ws/c1?since=' + ids[1])
    assert [c.recv_message()[1] for _ in range(3)] == [b'm2', b'm3', b'm4']
    publish(fresh, 'c1', 'live')
    assert c.recv_message() == (TEXT, b'live')
    c.close()
    c = connect(fresh, '/ws/c1?since=' + ids[4])  # up to date: nothing replayed
    publish(fresh, 'c1', 'next')
    assert c.recv_message() == (TEXT, b'live')
    assert c.recv_message() == (TEXT, b'next')
    c.close()


def test_push_json_format(fresh):
    c = connect(fresh, '/ws/c1?format=json')
    r = publish(fresh, 'c1', 'say "hi"\n')
    op, data = c.recv_message()
    assert op == TEXT
    assert json.loads(data) == {'id': r['id'], 'channel': 'c1', 'data': 'say "hi"\n'}
    c.close()


def test_push_missed_signal(fresh):
    ids = [publish(fresh, 'c2', 'm%d' % i)['id'] for i in range(8)]  # c2 keeps 3
    c = connect(fresh, '/ws/c2?since=' + ids[0])
    op, data = c.recv_message()
    assert op == TEXT
    assert json.loads(data) == {'herald': 'missed', 'since': ids[0], 'first': ids[5]}
    assert [c.recv_message()[1] for _ in range(3)] == [b'm5', b'm6', b'm7']
    c.close()


def test_push_delete_channel_closes_1000(fresh):
    c = connect(fresh, '/ws/c1')
    d = connect(fresh, '/ws/c1?format=json')
    status, _, _ = fresh.request('DELETE', '/pub?channel=c1')
    assert status in (200, 204), status
    for x in (c, d):
        payload = x.expect_close(1000, eof=False)
        x.send_frame(CLOSE, payload[:2])
        x.expect_eof()
        x.close()


def test_push_chat_clients_publish(fresh):
    a = connect(fresh, '/ws/chat')
    b = connect(fresh, '/ws/c1')
    a.send_frame(TEXT, 'from a ✓')
    assert b.recv_message() == (TEXT, 'from a ✓'.encode())
    assert a.recv_message() == (TEXT, 'from a ✓'.encode())  # the sender is a subscriber too
    a.send(frame(TEXT, 'frag', fin=False) + frame(PING, 'p') + frame(CONT, 'mented'))
    assert a.recv_frame() == (True, PONG, b'p')
    assert b.recv_message() == (TEXT, b'fragmented')
    a.send_frame(BINARY, b'\x00\x01')
    assert b.recv_message() == (BINARY, b'\x00\x01')
    a.close()
    b.close()


def test_push_vanished_subscriber_is_released(fresh):
    c = connect(fresh, '/ws/c1')
    c.close()  # no close frame: TCP just goes away
    deadline = time.time() + 2
    while publish(fresh, 'c1', 'anyone?')['subscribers'] != 0:
        assert time.time() < deadline, 'subscriber still counted after its TCP close'
        time.sleep(0.02)
    d = connect(fresh, '/ws/c1')
    c2 = connect(fresh, '/ws/c1', early=frame(TEXT, 'a' * 10, fin=False))
    c2.close()  # gone in the middle of a fragmented message
    publish(fresh, 'c1', 'still works')
    assert d.recv_message() == (TEXT, b'still works')
    d.close()


def test_upgrade_after_keepalive_request(fresh):
    s = fresh.connect()
    s.sendall(b'GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\n')
    status, h, rest = read_head(s)
    n = int(h.get('content-length', '0'))
    while len(rest) < n:
        rest += s.recv(4096)
    assert status == 404 and rest[n:] == b''
    req, key = upgrade_request('/echo')
    s.sendall(req + frame(TEXT, 'second request'))
    status, h, rest = read_head(s)
    assert status == 101
    c = WsClient(s, status, h, rest)
    assert c.recv_message() == (TEXT, (PREFIX + 'second request').encode())
    c.close()


def test_push_unknown_channel_refused(fresh):
    c = connect(fresh, '/ws/nope', expect=404)
    c.close()
