#!/usr/bin/python3
"""Writes the seed corpora, OUT/<target>/*, from the readable cases below (the cases are the
source; the seed files are build output, made by tests/fuzz/run.sh into build/fuzz/seeds/).
Each harness reads a few parameter bytes before its payload (see the "Input layout" line in its
header comment); the prefixes here give the split cuts and limits.
Usage: tests/fuzz/make_corpus.py OUT"""
import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def u16(n):
    return struct.pack('>H', n)


def http(flags, cut1, cut2, body_limit, data):
    return bytes([flags]) + u16(cut1) + u16(cut2) + bytes([body_limit]) + data


def ws_frame(opcode, payload, fin=True, key=b'\0\0\0\0'):
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n <= 125:
        head += bytes([0x80 | n])
    elif n <= 0xFFFF:
        head += bytes([0x80 | 126]) + u16(n)
    else:
        head += bytes([0x80 | 127]) + struct.pack('>Q', n)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


def ws(limit, cut1, cut2, code, data):
    return bytes([limit]) + u16(cut1) + u16(cut2) + u16(code) + data


def raw_deflate(data, level=6, strategy=zlib.Z_DEFAULT_STRATEGY, flush=zlib.Z_SYNC_FLUSH):
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 8, strategy)
    return c.compress(data) + c.flush(flush)


def inflate(limit, cut1, cut2, window_bits, data):
    return u16(limit) + u16(cut1) + u16(cut2) + bytes([window_bits]) + data


def deflate(level, cut, data):
    return bytes([level]) + u16(cut) + data


def cfg(cut1, cut2, text):
    return u16(cut1) + u16(cut2) + text


def enc(flags, msg_id, callback, data):
    return bytes([flags]) + u16(msg_id) + bytes([len(callback)]) + callback + data


def path(method, name, target):
    return bytes([method, len(name)]) + name + target


CORPORA = {
    'http': {
        'get': http(0, 5, 20, 0, b'GET /index.html?a=1 HTTP/1.1\r\nHost: example.com\r\n'
                    b'Accept: */*\r\n\r\n'),
        'chunked_post': http(0, 30, 90, 64, b'POST /pub?channel=chat HTTP/1.1\r\nHost: h\r\n'
                             b'Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n'
                             b'5;ext=1;q="a\\"b"\r\nhello\r\n3\r\n, w\r\n0\r\nTrailer: v\r\n\r\n'),
        'content_length': http(0, 40, 41, 0, b'PUT /x HTTP/1.1\r\nHost: h:80\r\n'
                               b'Content-Length: 5\r\nExpect: 100-continue\r\n'
                               b'Connection: close\r\n\r\nhelloGET / HTTP/1.0\r\n\r\n'),
        'absolute_upgrade': http(0, 7, 60, 0, b'GET http://example.com:8080/a/../b?c=d HTTP/1.1\r\n'
                                 b'Host: example.com:8080\r\nConnection: keep-alive, Upgrade\r\n'
                                 b'Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n'
                                 b'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'),
        'pipelined': http(1 | 0x30, 3, 30, 0, b'\r\nOPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n'
                          b'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'
                          b'HEAD / HTTP/1.1\r\nHost: a\r\n\r\n'),
        'bad_space_before_colon': http(0, 2, 25, 0, b'GET / HTTP/1.1\r\nHost : a\r\n\r\n'),
        'raw_chunked': http(2, 4, 9, 16, b'1a\r\nabcdefghijklmnopqrstuvwxyz\r\n'
                            b'0 ;x=y\r\nA: b\r\n\r\n'),
    },
    'ws': {
        'text': ws(0, 3, 8, 1000, ws_frame(1, b'hello')),
        'masked_key': ws(0, 1, 6, 1001, ws_frame(1, 'héllo wörld'.encode(), key=b'\x37\xfa\x21\x3d')),
        'fragmented_ping': ws(0, 5, 14, 3000, ws_frame(1, b'hel', fin=False) + ws_frame(9, b'p') +
                              ws_frame(0, b'lo', fin=False) + ws_frame(0, '€'.encode())),
        'close_reason': ws(0, 2, 9, 4999, ws_frame(10, b'pong') +
                           ws_frame(8, u16(1000) + b'bye') + ws_frame(1, b'after')),
        'binary_126': ws(0, 4, 100, 1002, ws_frame(2, bytes(range(200)))),
        'invalid_utf8': ws(0, 7, 8, 2000, ws_frame(1, b'ok \xed\xa0\x80 surrogate')),
        'too_big': ws(16, 1, 2, 1009, ws_frame(1, b'x' * 40)),
    },
    'config': {
        'minimal': cfg(3, 40, b'http { server { listen 127.0.0.1:0; root /tmp; } }\n'),
        'channels': cfg(10, 200, b'worker_threads 2;\nevents { worker_connections 512; }\n'
                        b'http {\n  channel_autocreate on;\n  channel chat { buffer 200; ttl 1h30m; }\n'
                        b'  channel clock { buffer 16; source clock 1s; }\n'
                        b'  server {\n    listen [::1]:8080 reuseport;\n'
                        b'    location = /ws { push websocket; channel chat; publish on; '
                        b'ws_max_message_size 64k; }\n'
                        b'    location /sse/ { push sse; channel $tail; sse_retry 2s; }\n'
                        b'    location = /pub { publish; channel $arg_id; allow 10.0.0.0/8; '
                        b'deny all; }\n  }\n}\n'),
        'strings': cfg(20, 21, b'# comment\nhttp { types { text/html html htm; } server {\n'
                       b'  listen 8080; location = /echo { push websocket; '
                       b'echo "say \\"hi\\"\\n"; allow_origin \'https://a.example\'; } } }\n'),
        'error_unknown': cfg(0, 5, b'http { server { lisen 80; } }\n'),
        'error_eof': cfg(1, 2, b'http { server { listen 80;\n'),
    },
    'encoders': {
        'lines': enc(0, 1, b'', b'line one\r\nline two\rthree\n\nend\n'),
        'script': enc(4, 7, b'herald_my_cb', b'</script><!-- "quotes" \'single\' & <b>\\ /'),
        'utf8': enc(9, 65535, b'herald_x_1', 'héllo \u2028 sep \u2029 € 😀'.encode()),
        'invalid_utf8': enc(22, 3, b'cb', b'\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82 \xff'),
        'controls': enc(17, 42, b'bad(cb)', bytes(range(0, 40)) + b'\x7f'),
    },
    'path': {
        'dots': path(1, b'a', b'/a/b/../c/./d?a=1&b=x+y%20z'),
        'escapes': path(1, b'b', b'/%2e%2e/etc/%2F/%00/%41%42%zz'),
        'slashes': path(1, b'q', b'//a///b/./c/../'),
        'absolute': path(1, b'x', b'https://example.com:8443/p/q?x=%3D&y'),
        'asterisk': path(6, b'', b'*'),
        'authority': path(7, b'', b'example.com:443'),
        'utf8': path(1, b'n', '/ünï/cödé/%C3%A9'.encode()),
    },
    'resp': {
        'resp2': cfg(3, 20, b'+OK\r\n-ERR no\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*-1\r\n'
                     b'*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n'),
        'resp3': cfg(5, 40, b'_\r\n#t\r\n,1.5e3\r\n,-inf\r\n(12345678901234567890\r\n'
                     b'!3\r\nbad\r\n=7\r\ntxt:abc\r\n~1\r\n:1\r\n'),
        'hello_map': cfg(10, 30, b'%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n'),
        'push_attr': cfg(2, 9, b'|1\r\n+ttl\r\n:5\r\n>3\r\n$8\r\nsmessage\r\n$1\r\nc\r\n$1\r\nm\r\n'),
        'nested': cfg(1, 2, b'*2\r\n*1\r\n*1\r\n%1\r\n+k\r\n*0\r\n:7\r\n'),
        'malformed': cfg(0, 1, b'*2\r\n:1\r\n$x\r\n'),
        'cluster_slots': cfg(4, 60, b'*2\r\n*3\r\n:0\r\n:8191\r\n*3\r\n$9\r\n127.0.0.1\r\n'
                             b':7001\r\n$2\r\nid\r\n*4\r\n:8192\r\n:16383\r\n'
                             b'*2\r\n$1\r\n?\r\n:7002\r\n*2\r\n+::1\r\n:7003\r\n'),
        'redirects': cfg(3, 30, b'-MOVED 3999 127.0.0.1:6381\r\n-ASK 12 ::1:7000\r\n'
                         b'-MOVED 1 :7003\r\n-TRYAGAIN x\r\n'),
    },
}

# fuzz_jwt: tokens signed with the harness's key, and claim sets (the harness also signs its
# whole input as a payload).
import base64
import hashlib
import hmac


def jwt(header, payload, key=b'fuzz-key-0123456789abcdef0123456789'):
    b = lambda x: base64.urlsafe_b64encode(x).rstrip(b'=')
    signing_input = b(header) + b'.' + b(payload)
    return signing_input + b'.' + b(hmac.new(key, signing_input, hashlib.sha256).digest())


CORPORA['jwt'] = {
    'valid': jwt(b'{"alg":"HS256","typ":"JWT"}',
                 b'{"sub":"u1","channels":["a","news.*"],"publish":["*"],"exp":1700000100}'),
    'alg_none': jwt(b'{"alg":"none"}', b'{}'),
    'claims': b'{"sub":"u\\u00e9","nbf":1.5,"exp":-3,"aud":[{"x":[null,true,false]}]}',
    'escapes': b'{"channels":["\\ud83d\\ude00*","a\\"b"],"publish":[]}',
    'bad_b64': b'eyJhbGciOiJIUzI1NiJ9.e30=.AAAA+/',
}

# fuzz_proxy: [cut1 u16][cut2 u16] then a PROXY header and the first bytes after it.
def proxy(cut1, cut2, data):
    return u16(cut1) + u16(cut2) + data


V2_SIG = b'\r\n\r\n\x00\r\nQUIT\n'
CORPORA['proxy'] = {
    'v1_tcp4': proxy(10, 30, b'PROXY TCP4 192.0.2.1 127.0.0.1 56324 443\r\nGET / HTTP/1.1\r\n'),
    'v1_tcp6': proxy(5, 6, b'PROXY TCP6 2001:db8::1 ::1 1 65535\r\n'),
    'v1_unknown': proxy(0, 3, b'PROXY UNKNOWN\r\n'),
    'v2_inet': proxy(12, 16, V2_SIG + b'\x21\x11\x00\x12' + bytes([192, 0, 2, 1, 127, 0, 0, 1])
                     + struct.pack('>HH', 56324, 443) + b'\x04\x00\x03abc'),
    'v2_inet6': proxy(1, 20, V2_SIG + b'\x21\x21\x00\x24' + bytes(15) + b'\x01' + bytes(15)
                      + b'\x01' + struct.pack('>HH', 1, 2)),
    'v2_local': proxy(0, 0, V2_SIG + b'\x20\x00\x00\x00'),
}

JSON = b'{"channel":"news","id":42,"data":{"title":"hello","tags":["a","b"]}}' * 8
CORPORA['inflate'] = {
    'dynamic': inflate(4096, 10, 40, 7, raw_deflate(JSON)),
    'fixed': inflate(4096, 3, 5, 7, raw_deflate(b'hello hello hello', 6, zlib.Z_FIXED)),
    'stored': inflate(100, 1, 2, 7, raw_deflate(b'stored bytes', 0, flush=zlib.Z_FINISH)),
    'rfc7692_hello': inflate(64, 2, 4, 7, bytes.fromhex('f248cdc9c90700') + b'\0\0\xff\xff'),
    'bomb': inflate(256, 5, 9, 7, raw_deflate(bytes(100000), 9)),
    'small_window': inflate(4096, 0, 0, 0, raw_deflate(bytes(range(256)) * 3)),
    'bad_type': inflate(16, 0, 1, 7, b'\x07\x00'),
}
CORPORA['deflate'] = {
    'json': deflate(5, 7, JSON),
    'empty': deflate(0, 0, b''),
    'repeats': deflate(8, 100, b'ab' * 3000 + b'z' * 400),
    'binary': deflate(1, 3, bytes(range(256)) * 2),
}

# fuzz_httpc: [flags u8: bit 0 = HEAD][cut1 u16][cut2 u16][body limit u8 (x16 + 1)] then
# responses on one connection.
CORPORA['httpc'] = {
    'length': http(0, 10, 40, 8, b'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'
                   b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\n'
                   b'Content-Length: 0\r\n\r\n'),
    'chunked': http(0, 30, 60, 8, b'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n'
                    b'Transfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nX: y\r\n\r\n'),
    'close': http(0, 3, 9, 1, b'HTTP/1.0 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nno'),
    'head': http(1, 5, 6, 0, b'HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n'
                 b'HTTP/1.1 304 Not Modified\r\n\r\n'),
}

# fuzz_cursor: [name count u8] then names ending at '\n', then a compound cursor.
CORPORA['cursor'] = {
    'three': b'\x03news\nchat\nticker\n'
             b'4b8a1df0.0123456789ab-7,e40c292c.0123456789ab-0,bf9cf968.000000000000-3',
    'zero': b'\x02a\nb\n0',
    'id': b'\x01a\n0123456789ab-5',
    'bad': b'\x02a\nb\ne40c292c.0123456789ab-05,',
    'dup': b'\x01a\ne40c292c.0123456789ab-1,e40c292c.0123456789ab-2',
}

# fuzz_ws_command: the commands of a multiplexed WebSocket, one text frame each.
CORPORA['ws_command'] = {
    'subscribe': b'{"op":"subscribe","channel":"chat","since":"00000000abcd-5","ref":"1"}',
    'last': b'{"op":"subscribe","channel":"news.x","last":10}',
    'unsubscribe': b'{"op":"unsubscribe","channel":"chat","ref":"2"}',
    'publish': b'{"op":"publish","channel":"c","data":"hi \\"x\\" \\u00e9\\ud83d\\ude00",'
               b'"event":"flash","ref":"3"}',
    'unknown': b'{"v":[1,{"a":null}],"op":"listen","channel":"a b","ref":""}',
    'twice': b'{"op":"subscribe","op":"publish","channel":"c","last":1e2,"since":"0"}',
}

# fuzz_handover: one record of the upgrade's hand-over socket (big-endian u16 version, u16
# type, u32 body length, then the body; src/app/handover.cpp).
def rec(version, kind, body):
    return struct.pack('>HHI', version, kind, len(body)) + body


def s16(b):
    return struct.pack('>H', len(b)) + b


def addr4(port):  # a sockaddr_in: family AF_INET (2, host order), port, 127.0.0.1
    return bytes([16]) + struct.pack('<H', 2) + struct.pack('>H', port) + bytes([127, 0, 0, 1]) + bytes(8)


def connection(kind, input_, flags, strategy, channels, position, bits=(15, 15)):
    return (bytes([kind]) + s16(b'127.0.0.1:8080') + addr4(40000) + addr4(40000) +
            struct.pack('>I', len(input_)) + input_ + s16(b'example.com') + s16(b'/ws/chat') +
            s16(bytes(10) + b'\xff\xff\x7f\x00\x00\x01') + s16(b'127.0.0.1') + bytes([flags]) +
            s16(b'') + bytes([strategy]) + s16(channels) + s16(position) + bytes([0]) +
            s16(b'alice') + struct.pack('>q', 1900000000) + s16(b'') + bytes(bits) +
            s16(b'chat\nnews.*') + s16(b''))


CORPORA['handover'] = {
    'listener': rec(1, 1, s16(b'127.0.0.1:8080') + struct.pack('>H', 1)),
    'pid_file': rec(1, 2, s16(b'/run/herald.pid') + struct.pack('>H', 0)),
    'end': rec(1, 3, struct.pack('>I', 4242)),
    'ready': rec(1, 4, struct.pack('>I', 4243)),
    'channel': rec(2, 5, s16(b'chat') + struct.pack('>QQI', 0x1234abcd, 17, 2)),
    'message': rec(2, 6, struct.pack('>Qq', 17, 1765000000000) + s16(b'text/plain') +
                   s16(b'flash') + struct.pack('>I', 5) + b'hello'),
    'idle': rec(3, 7, connection(1, b'GET / HTTP/1.1\r\nHo', 2, 0, b'', b'')),
    'websocket': rec(3, 7, connection(4, b'', 2 | 4 | 8 | 16 | 32, 4, b'chat,news',
                                      b'4b8a1df0.0123456789ab-7', (9, 12))),
}

# The shipped config, minus its include (the harness only lexes inputs that include files).
with open(os.path.join(HERE, '..', '..', 'conf', 'herald.conf'), 'rb') as f:
    shipped = b''.join(l for l in f.read().splitlines(True) if b'include' not in l)
CORPORA['config']['herald_conf'] = cfg(100, 1000, shipped)

OUT = sys.argv[1] if len(sys.argv) > 1 else sys.exit(__doc__)
for target, cases in CORPORA.items():
    folder = os.path.join(OUT, target)
    os.makedirs(folder, exist_ok=True)
    for name, data in cases.items():
        with open(os.path.join(folder, name), 'wb') as f:
            f.write(data)
