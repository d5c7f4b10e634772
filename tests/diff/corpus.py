#!/usr/bin/python3
"""Builds the corpus for the HTTP parser differential check (herald vs llhttp).

One JSON object per line: {"id", "raw_b64", "source"}; raw_b64 is the exact bytes one client
sends on one connection (possibly several pipelined requests). Ids:
  llhttp:<vector id>       every vector of tests/data/vectors/llhttp/requests.jsonl (strict and
                           lenient ones alike: both parsers run strict)
  http-parser:<line no.>   every vector of tests/data/vectors/http-parser/requests.jsonl
                           (numbered from 1, as in tests/integration/test_vectors.py)
  gen:valid/<name>         generated well-formed requests (RFC 9110/9112)
  gen:invalid/<rule>/<name> generated requests that break one of herald's strict-parsing rules
  gen:limit/<name>         sizes around the parsers' configured limits
  gen:incomplete/<name>    bytes that stop inside a message

Usage: corpus.py [-o FILE]   (default: stdout)
"""
import argparse
import base64
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, '..', 'data', 'vectors')
HOST = ('Host', 'example.com')
CONNECT_HOST = ('Host', 'example.com:443')
POST_A = b'POST / HTTP/1.1\r\nHost: a\r\n'


def req(method='GET', target='/', version='HTTP/1.1', headers=(HOST,), body=b''):
    """One request as bytes; header names and values are str (latin-1) or bytes."""
    def b(x):
        return x if isinstance(x, bytes) else x.encode('latin-1')
    out = b(method) + b' ' + b(target) + b' ' + b(version) + b'\r\n'
    for name, value in headers:
        out += b(name) + b': ' + b(value) + b'\r\n'
    return out + b'\r\n' + b(body)


def post(body, headers=(), target='/upload', method='POST'):
    return req(method, target, headers=(HOST, ('Content-Length', str(len(body)))) + tuple(headers),
               body=body)


def post_cl(content_length, body):
    return req('POST', '/', headers=(HOST, ('Content-Length', content_length)), body=body)


def chunked(body_bytes, headers=(), target='/upload', version='HTTP/1.1', te='chunked'):
    """A chunked POST; body_bytes is the already-encoded chunked body."""
    return req('POST', target, version, (HOST, ('Transfer-Encoding', te)) + tuple(headers),
               body_bytes)


def vector_cases():
    cases = []
    with open(os.path.join(VECTORS, 'llhttp', 'requests.jsonl'), encoding='utf-8') as f:
        for line in f:
            if line.strip():
                o = json.loads(line)
                cases.append(('llhttp:' + o['id'], base64.b64decode(o['raw_b64']), 'llhttp'))
    with open(os.path.join(VECTORS, 'http-parser', 'requests.jsonl'), encoding='utf-8') as f:
        n = 0
        for line in f:
            if line.strip():
                n += 1
                o = json.loads(line)
                # \u00XX escapes stand for single bytes
                cases.append(('http-parser:%d' % n, o['raw'].encode('latin-1'), 'http-parser'))
    return cases


def valid_cases():
    v = {}
    for m in ('GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE'):
        v['method/' + m] = req(m)
    for m in ('POST', 'PUT', 'PATCH'):
        v['method/' + m] = post(b'hello', method=m)
    for m in ('PROPFIND', 'MKCOL', 'REPORT', 'PURGE', 'SEARCH', 'QUERY', 'M-SEARCH'):
        v['method/' + m] = req(m)
    targets = {
        'root': '/',
        'deep': '/a/b/c.html',
        'query': '/a?b=c&d=e',
        'empty-query': '/index.html?',
        'query-slashes': '/s?next=/a/b?c',
        'pct': '/%41%42%c3%a9',
        'pct-space': '/a%20b',
        'tilde': '/~user/',
        'dot': '/a/./b',
        'dotdot-inside': '/a/../b',
        'params': '/p;v=1',
        'subdelims': "/a:b@c!$&'()*+,;=",
        'browser-chars': '/x{}|^`"<>\\',
        'long': '/' + 'a' * 4000,
        'absolute': 'http://example.com/a?b',
        'absolute-no-path': 'http://example.com',
        'absolute-https-port': 'https://example.com:8443/x',
        'absolute-upper': 'HTTP://EXAMPLE.COM/',
        'absolute-query-only': 'http://example.com?x=1',
    }
    for name, t in targets.items():
        v['target/' + name] = req('GET', t)
    v['target/asterisk-options'] = req('OPTIONS', '*')
    v['target/connect-authority'] = req('CONNECT', 'example.com:443', headers=(CONNECT_HOST,))
    fields = {
        'lower-names': [('host', 'a'), ('accept', '*/*')],
        'upper-names': [('HOST', 'a'), ('ACCEPT', '*/*')],
        'tchar-name': [HOST, ("!#$%&'*+-.^_`|~09Az", 'x')],
        'empty-value': [HOST, ('X-Empty', '')],
        'inner-spaces': [HOST, ('X-A', 'a  b \t c')],
        'obs-text': [HOST, ('X-A', b'caf\xe9 \x80\xff')],
        'quotes': [HOST, ('X-A', '"quoted, value"; q=0.5')],
        'duplicate-field': [HOST, ('Accept', 'a'), ('Accept', 'b')],
        'host-port': [('Host', 'example.com:8080')],
        'host-ipv6': [('Host', '[::1]:8080')],
        'host-ipv4': [('Host', '127.0.0.1')],
        'host-empty': [('Host', '')],
        'long-value': [HOST, ('X-Long', 'v' * 4000)],
        'forty-fields': [HOST] + [('X-F%d' % i, str(i)) for i in range(40)],
        'ninety-nine-fields': [HOST] + [('X-F%d' % i, str(i)) for i in range(98)],
        'connection-keep-alive': [HOST, ('Connection', 'keep-alive')],
        'connection-list': [HOST, ('Connection', 'TE, keep-alive')],
        'te-header-trailers': [HOST, ('TE', 'trailers'), ('Connection', 'TE')],
        'connection-close-htab': [HOST, ('Connection', 'close\t')],
        'connection-two-fields': [HOST, ('Connection', 'keep-alive'), ('Connection', 'close')],
        'connection-close-upper': [HOST, ('Connection', 'CLOSE')],
        'expect-continue-case': [HOST, ('Expect', '100-Continue')],
    }
    for name, headers in fields.items():
        v['header/' + name] = req('GET', '/', headers=tuple(headers))
    v['header/expect-continue'] = post(b'data', headers=(('Expect', '100-continue'),))
    # OWS variations are written by hand: req() always puts one SP after the colon
    v['header/no-ows'] = b'GET / HTTP/1.1\r\nHost:example.com\r\nX-A:b\r\n\r\n'
    v['header/tab-ows'] = b'GET / HTTP/1.1\r\nHost:\texample.com\t\r\nX-A: \t b \t \r\n\r\n'
    v['header/trailing-ows'] = b'GET / HTTP/1.1\r\nHost: example.com   \r\n\r\n'
    v['header/ows-only-value'] = b'GET / HTTP/1.1\r\nHost: example.com\r\nX-A:   \r\n\r\n'
    # Content-Length bodies
    v['body/cl-zero'] = post(b'')
    v['body/cl-text'] = post(b'hello world')
    v['body/cl-binary'] = post(bytes(range(256)))
    v['body/cl-crlf-inside'] = post(b'a\r\n\r\nGET / HTTP/1.1\r\n\r\n')
    v['body/cl-leading-zeros'] = post_cl('005', b'12345')
    v['body/cl-ows'] = b'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \t 3 \t\r\n\r\nabc'
    v['body/cl-64k'] = post(b'x' * 65536)
    v['body/cl-many-zeros'] = post_cl('0' * 30 + '3', b'abc')
    v['body/cl-upper-name'] = req('POST', '/', headers=(HOST, ('CONTENT-LENGTH', '3')), body=b'abc')
    # chunked bodies (RFC 9112 §7.1)
    ch = {
        'one': b'5\r\nhello\r\n0\r\n\r\n',
        'several': b'1\r\na\r\n2\r\nbc\r\n3\r\ndef\r\n0\r\n\r\n',
        'upper-hex': b'A\r\n0123456789\r\n0\r\n\r\n',
        'lower-hex': b'a\r\n0123456789\r\n0\r\n\r\n',
        'leading-zeros': b'0005\r\nhello\r\n000\r\n\r\n',
        'empty': b'0\r\n\r\n',
        'ext-name': b'5;foo\r\nhello\r\n0\r\n\r\n',
        'ext-value': b'5;foo=bar\r\nhello\r\n0;last=1\r\n\r\n',
        'ext-quoted': b'5;foo="b a;r"\r\nhello\r\n0\r\n\r\n',
        'ext-quoted-escape': b'5;foo="a\\"b"\r\nhello\r\n0\r\n\r\n',
        'ext-several': b'5;a=b;c=d;e\r\nhello\r\n0\r\n\r\n',
        'ext-bws': b'5 ;a = b\r\nhello\r\n0\r\n\r\n',
        'trailer-one': b'5\r\nhello\r\n0\r\nX-Trailer: yes\r\n\r\n',
        'trailer-several': b'5\r\nhello\r\n0\r\nA: 1\r\nB: 2\r\nC:\r\n\r\n',
        'binary-data': b'4\r\n\x00\r\n\xff\r\n0\r\n\r\n',
        'big': b'10000\r\n' + b'y' * 65536 + b'\r\n0\r\n\r\n',
    }
    for name, body in ch.items():
        v['chunked/' + name] = chunked(body)
    v['chunked/te-case'] = chunked(b'3\r\nabc\r\n0\r\n\r\n', te='Chunked')
    v['chunked/te-upper'] = POST_A + b'TRANSFER-ENCODING: CHUNKED\r\n\r\n0\r\n\r\n'
    v['chunked/te-ows'] = POST_A + b'Transfer-Encoding:  chunked \r\n\r\n0\r\n\r\n'
    v.update(connection_cases())
    return {'gen:valid/' + k: x for k, x in v.items()}


def connection_cases():
    """Pipelining, persistence and upgrades: what happens to the bytes after a message."""
    v = {}
    get = req()
    close = req(headers=(HOST, ('Connection', 'close')))
    # pipelining (RFC 9112 §9.3.2)
    v['pipeline/three-gets'] = get * 3
    v['pipeline/ten-gets'] = get * 10
    v['pipeline/mixed'] = (get + post(b'abc') + chunked(b'3\r\nxyz\r\n0\r\nT: 1\r\n\r\n') +
                           req('HEAD'))
    v['pipeline/crlf-between'] = get + b'\r\n' + get
    v['pipeline/crlf-after'] = get + b'\r\n\r\n'
    v['pipeline/leading-crlf'] = b'\r\n\r\n' + get
    v['pipeline/last-closes'] = get + close
    v['pipeline/close-then-more'] = close + get
    v['pipeline/head-then-get'] = req('HEAD') + get
    v['pipeline/close-then-crlf'] = close + b'\r\n'
    # HTTP/1.0 (RFC 9112 §9.3: persistent only with keep-alive)
    def http10(*headers, method='GET', body=b''):
        return req(method, '/', 'HTTP/1.0', headers, body)
    v['http10/plain'] = http10()
    v['http10/host'] = http10(HOST)
    v['http10/keep-alive'] = http10(HOST, ('Connection', 'keep-alive')) * 2
    v['http10/keep-alive-case'] = http10(HOST, ('Connection', 'Keep-Alive')) + get
    v['http10/then-more'] = http10(HOST) + get
    v['http10/cl-body'] = http10(('Content-Length', '3'), method='POST', body=b'abc')
    v['http10/keep-alive-then-close'] = http10(HOST, ('Connection', 'keep-alive, close')) + get
    v['http10/keep-alive-body'] = http10(('Content-Length', '3'), ('Connection', 'keep-alive'),
                                         method='POST', body=b'abc') + get
    # upgrades (RFC 9110 §7.8) and CONNECT (§9.3.6)
    ws = (HOST, ('Connection', 'Upgrade'), ('Upgrade', 'websocket'),
          ('Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='), ('Sec-WebSocket-Version', '13'))
    frame = b'\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58'
    v['upgrade/websocket'] = req('GET', '/ws', headers=ws) + frame
    v['upgrade/connection-only'] = req(headers=(HOST, ('Connection', 'upgrade'))) + get
    v['upgrade/upgrade-only'] = req(headers=(HOST, ('Upgrade', 'websocket'))) + get
    v['upgrade/keep-alive-upgrade'] = req('GET', '/ws', headers=(
        HOST, ('Connection', 'keep-alive, Upgrade'), ('Upgrade', 'h2c')))
    v['upgrade/with-body'] = req('POST', '/up', headers=(
        HOST, ('Connection', 'upgrade'), ('Upgrade', 'x'), ('Content-Length', '4')),
        body=b'body') + b'\x00tunnel'
    v['upgrade/connect-with-cl'] = req('CONNECT', 'example.com:443', headers=(
        CONNECT_HOST, ('Content-Length', '4'))) + b'data'
    v['upgrade/connect-tunnel'] = (req('CONNECT', 'example.com:443', headers=(CONNECT_HOST,)) +
                                   b'\x16\x03\x01')
    return v


def invalid_cases():
    """Each of herald's strict-parsing rules, with a few spellings each."""
    bad = {}

    def add(rule, name, raw):
        bad['gen:invalid/%s/%s' % (rule, name)] = raw

    def add_all(rule, prefix, pairs, suffix=b''):
        for name, middle in pairs:
            add(rule, name, prefix + middle + suffix)
    G = b'GET / HTTP/1.1\r\n'
    P = POST_A
    TE = P + b'Transfer-Encoding: chunked\r\n\r\n'
    # Content-Length with Transfer-Encoding (RFC 9112 §6.3 item 3; §11.2 smuggling)
    add_all('cl-te', P, (
        ('cl-first', b'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'),
        ('te-first', b'Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n'),
        ('cl-zero', b'Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'),
        ('te-gzip', b'Content-Length: 3\r\nTransfer-Encoding: gzip\r\n\r\nabc')))
    add('cl-te', 'http10', b'POST / HTTP/1.0\r\nContent-Length: 5\r\n'
                           b'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n')
    # differing / repeated Content-Length (RFC 9110 §8.6, RFC 9112 §6.3 item 5)
    add('cl-differ', 'two-fields', P + b'Content-Length: 1\r\nContent-Length: 2\r\n\r\nab')
    add('cl-differ', 'list', P + b'Content-Length: 1, 2\r\n\r\nab')
    add('cl-repeat', 'same-twice', P + b'Content-Length: 2\r\nContent-Length: 2\r\n\r\nab')
    add('cl-repeat', 'same-list', P + b'Content-Length: 2, 2\r\n\r\nab')
    # invalid Content-Length (RFC 9110 §8.6: 1*DIGIT)
    add_all('cl-bad', P + b'Content-Length: ', (
        ('negative', b'-1'), ('plus', b'+5'), ('suffix', b'5a'), ('hex', b'0x10'), ('empty', b''),
        ('inner-space', b'1 2'), ('decimal', b'5.0'), ('overflow', b'99999999999999999999'),
        ('int64-max-plus-one', b'9223372036854775808')), b'\r\n\r\nhello')
    # Transfer-Encoding other than chunked (RFC 9112 §6.1: 501), or chunked not last / twice
    add_all('te', P + b'Transfer-Encoding: ', (
        ('gzip', b'gzip'), ('identity', b'identity'), ('deflate', b'deflate'),
        ('gzip-chunked', b'gzip, chunked'), ('chunked-gzip', b'chunked, gzip'),
        ('chunked-twice', b'chunked, chunked'), ('empty', b''), ('chunked-param', b'chunked;q=1'),
        ('two-fields', b'chunked\r\nTransfer-Encoding: chunked'),
        ('gzip-then-chunked-fields', b'gzip\r\nTransfer-Encoding: chunked')), b'\r\n\r\n0\r\n\r\n')
    add('te', 'http10', b'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')
    # bad chunk sizes and framing (RFC 9112 §7.1)
    add_all('chunk', TE, (
        ('non-hex', b'g\r\nabc\r\n0\r\n\r\n'),
        ('empty-size', b'\r\nabc\r\n0\r\n\r\n'),
        ('negative', b'-1\r\nabc\r\n0\r\n\r\n'),
        ('0x-prefix', b'0x3\r\nabc\r\n0\r\n\r\n'),
        ('leading-space', b' 3\r\nabc\r\n0\r\n\r\n'),
        ('trailing-space', b'3 \r\nabc\r\n0\r\n\r\n'),
        ('overflow', b'fffffffffffffffffffff\r\nabc\r\n0\r\n\r\n'),
        ('bare-lf-size', b'3\nabc\r\n0\r\n\r\n'),
        ('bare-cr-size', b'3\rabc\r\n0\r\n\r\n'),
        ('data-too-long', b'3\r\nabcd\r\n0\r\n\r\n'),
        ('data-lf-only', b'3\r\nabc\n0\r\n\r\n'),
        ('ext-empty-name', b'3;=x\r\nabc\r\n0\r\n\r\n'),
        ('ext-space-in-value', b'3;a=b c\r\nabc\r\n0\r\n\r\n'),
        ('ext-nul', b'3;a\x00\r\nabc\r\n0\r\n\r\n'),
        ('ext-ctl-in-quoted', b'3;a="\x01"\r\nabc\r\n0\r\n\r\n'),
        ('ext-unterminated-quote', b'3;a="b\r\nabc\r\n0\r\n\r\n'),
        ('last-chunk-bare-lf', b'3\r\nabc\r\n0\n\r\n'),
        ('end-bare-lf', b'3\r\nabc\r\n0\r\n\n'),
        ('trailer-obs-fold', b'0\r\nA: 1\r\n b\r\n\r\n'),
        ('trailer-space-before-colon', b'0\r\nA : 1\r\n\r\n'),
        ('trailer-nul', b'0\r\nA: \x00\r\n\r\n'),
        ('trailer-no-colon', b'0\r\nA\r\n\r\n'),
        ('ext-cr-in-quoted', b'3;a="\r"\r\nabc\r\n0\r\n\r\n'),
        ('ext-garbage-after-quoted', b'3;a="b"x\r\nabc\r\n0\r\n\r\n'),
        ('trailer-empty-name', b'0\r\n: v\r\n\r\n'),
        ('trailer-bare-lf', b'0\r\nA: 1\n\r\n'),
        ('ext-line-5000', b'3;a=' + b'x' * 5000 + b'\r\nabc\r\n0\r\n\r\n')))
    # whitespace between field-name and colon (RFC 9112 §5.1)
    add('space-before-colon', 'sp', G + b'Host : a\r\n\r\n')
    add('space-before-colon', 'htab', G + b'Host: a\r\nX-A\t: b\r\n\r\n')
    add('space-before-colon', 'content-length', P + b'Content-Length : 3\r\n\r\nabc')
    add('space-before-colon', 'transfer-encoding',
        P + b'Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n')
    # obs-fold (RFC 9112 §5.2) and whitespace before the first field line (§2.2)
    add('obs-fold', 'sp', G + b'Host: a\r\nX-A: b\r\n c\r\n\r\n')
    add('obs-fold', 'htab', G + b'Host: a\r\nX-A: b\r\n\tc\r\n\r\n')
    add('obs-fold', 'first-line', G + b' Host: a\r\n\r\n')
    add('obs-fold', 'empty-then-fold', G + b'Host: a\r\nX-A:\r\n c\r\n\r\n')
    # NUL / CTL / DEL / SP in the request-target (RFC 9112 §3.2, RFC 3986 §2)
    add_all('ctl-target', b'GET ', (
        ('nul', b'/a\x00b'), ('soh', b'/a\x01b'), ('del', b'/a\x7fb'), ('us', b'/a\x1fb'),
        ('htab', b'/a\tb'), ('esc', b'/a\x1bb'), ('non-ascii', b'/caf\xc3\xa9'),
        ('double-sp', b' /'), ('fragment', b'/a#b'), ('ff', b'/a\x0cb'), ('cr', b'/a\rb'),
        ('lf', b'/a\nb')), b' HTTP/1.1\r\nHost: a\r\n\r\n')
    # NUL / CTL / DEL in field values and names (RFC 9110 §5.5, §5.1)
    add_all('ctl-value', G + b'Host: a\r\nX-A: ', (
        ('nul', b'a\x00b'), ('soh', b'a\x01b'), ('del', b'a\x7fb'), ('ff', b'a\x0cb'),
        ('esc', b'a\x1bb'), ('vt', b'a\x0bb'), ('bare-cr', b'a\rb'), ('bare-lf', b'a\nb'),
        ('nul-first', b'\x00'), ('nul-last', b'ab\x00')), b'\r\n\r\n')
    add_all('bad-name', G + b'Host: a\r\n', (
        ('nul', b'X\x00A'), ('del', b'X\x7fA'), ('non-ascii', b'X\xe9A'), ('at', b'X@A'),
        ('slash', b'X/A'), ('empty', b''), ('quote', b'X"A'), ('brace', b'X{A}')), b': v\r\n\r\n')
    add('bad-name', 'no-colon', G + b'Host: a\r\nX-A\r\n\r\n')
    # Host (RFC 9112 §3.2: exactly one in HTTP/1.1; RFC 3986 §3.2.2 host syntax)
    add('host', 'missing', G + b'\r\n')
    add('host', 'missing-with-fields', G + b'Accept: */*\r\n\r\n')
    add_all('host', G, (
        ('duplicate-same', b'Host: a\r\nHost: a'), ('duplicate-differ', b'Host: a\r\nHost: b'),
        ('duplicate-case', b'Host: a\r\nhost: a'), ('space-inside', b'Host: a b'),
        ('slash', b'Host: a/b'), ('userinfo', b'Host: u@a'), ('list', b'Host: a, b')),
        b'\r\n\r\n')
    add('host', 'absolute-form-without-host', b'GET http://a/ HTTP/1.1\r\n\r\n')
    # HTTP-version (RFC 9112 §2.3; RFC 9110 §15.6.6 505)
    add_all('version', b'GET / ', (
        ('1.2', b'HTTP/1.2'), ('2.0', b'HTTP/2.0'), ('3.0', b'HTTP/3.0'), ('0.9', b'HTTP/0.9'),
        ('lowercase', b'http/1.1'), ('no-minor', b'HTTP/1'), ('two-digit-minor', b'HTTP/1.10'),
        ('two-digit-major', b'HTTP/11.1'), ('junk-after', b'HTTP/1.1x'),
        ('space-after', b'HTTP/1.1 '), ('space-inside', b'HTTP/ 1.1'),
        ('other-proto', b'HTTPS/1.1'), ('empty', b'')), b'\r\nHost: a\r\n\r\n')
    add('version', 'missing', b'GET /\r\nHost: a\r\n\r\n')
    # bare LF / bare CR line endings (RFC 9112 §2.2)
    add('bare-lf', 'request-line', b'GET / HTTP/1.1\nHost: a\r\n\r\n')
    add('bare-lf', 'field-line', G + b'Host: a\nX-A: b\r\n\r\n')
    add('bare-lf', 'end-of-head', G + b'Host: a\r\n\n')
    add('bare-lf', 'everywhere', b'GET / HTTP/1.1\nHost: a\n\n')
    add('bare-lf', 'leading-empty-line', b'\nGET / HTTP/1.1\r\nHost: a\r\n\r\n')
    add('bare-cr', 'request-line', b'GET / HTTP/1.1\rHost: a\r\n\r\n')
    add('bare-cr', 'field-line', G + b'Host: a\rX-A: b\r\n\r\n')
    add('bare-cr', 'end-of-head', G + b'Host: a\r\n\rX')
    add('bare-cr', 'leading-empty-line', b'\rGET / HTTP/1.1\r\nHost: a\r\n\r\n')
    # request-line shape (RFC 9112 §3: single SP separators; method = token)
    add_all('request-line', b'', (
        ('leading-space', b' GET / HTTP/1.1'), ('htab-separator', b'GET\t/ HTTP/1.1'),
        ('double-sp-before-version', b'GET /  HTTP/1.1'), ('method-non-token', b'GE(T / HTTP/1.1'),
        ('empty-method', b' / HTTP/1.1'), ('nul-first', b'\x00GET / HTTP/1.1')),
        b'\r\nHost: a\r\n\r\n')
    add('request-line', 'whitespace-line-after', G + b' \r\nHost: a\r\n\r\n')
    # request-target forms (RFC 9112 §3.2; RFC 9110 §4.2.4) and path rules (RFC 3986)
    add_all('target', b'', (
        ('asterisk-get', b'GET *'), ('authority-get', b'GET example.com:80'),
        ('connect-origin', b'CONNECT /'), ('connect-no-port', b'CONNECT example.com'),
        ('userinfo', b'GET http://u:p@example.com/'), ('ftp-scheme', b'GET ftp://example.com/'),
        ('empty-authority', b'GET http:///a'), ('relative', b'GET a/b'),
        ('dotdot-above-root', b'GET /../etc/passwd'), ('pct-dotdot', b'GET /%2e%2e/x'),
        ('pct-slash', b'GET /a%2Fb'), ('pct-nul', b'GET /a%00b'), ('pct-bad', b'GET /a%zzb'),
        ('pct-truncated', b'GET /a%4')), b' HTTP/1.1\r\nHost: a\r\n\r\n')
    # expectations (RFC 9110 §10.1.1)
    add('expect', 'continue-and-more',
        P + b'Expect: 100-continue, foo\r\nContent-Length: 1\r\n\r\na')
    add('expect', 'unknown', P + b'Expect: 200-ok\r\nContent-Length: 1\r\n\r\na')
    # unknown methods: RFC 9110 §9.1 allows any token; routing answers 405/501
    for m in (b'FOO', b'get', b'MKCOLA', b'BREW'):
        bad['gen:ext-method/' + m.decode()] = m + b' / HTTP/1.1\r\nHost: a\r\n\r\n'
    return bad


def limit_cases():
    """herald: request line <= 8 KiB (414), field lines <= 16 KiB (431), <= 100 fields (431);
    Node's llhttp binding: url + field names + values <= 16 KiB (--max-http-header-size)."""
    lim = {}
    lim['request-line-8k'] = req('GET', '/' + 'a' * 8100)
    lim['request-line-12k'] = req('GET', '/' + 'a' * 12000)
    lim['request-line-70k'] = req('GET', '/' + 'a' * 70000)
    lim['field-value-15k'] = req(headers=(HOST, ('X-Long', 'v' * 15000)))
    lim['field-value-20k'] = req(headers=(HOST, ('X-Long', 'v' * 20000)))
    lim['fields-100'] = req(headers=(HOST,) + tuple(('X-F%d' % i, 'v') for i in range(99)))
    lim['fields-101'] = req(headers=(HOST,) + tuple(('X-F%d' % i, 'v') for i in range(100)))
    lim['fields-2000'] = req(headers=(HOST,) + tuple(('X-F%d' % i, 'v') for i in range(2000)))
    lim['body-over-1m'] = req('POST', '/', headers=(HOST, ('Content-Length', str(2 << 20))))
    lim['chunk-over-1m'] = chunked(b'200000\r\n')
    return {'gen:limit/' + k: x for k, x in lim.items()}


def incomplete_cases():
    inc = {
        'head': b'GET / HTTP/1.1\r\nHost: a\r\n',
        'request-line': b'GET /partial',
        'cl-body': req('POST', '/', headers=(HOST, ('Content-Length', '10')), body=b'abc'),
        'chunked-data': chunked(b'a\r\nabc'),
        'chunked-trailer': chunked(b'0\r\nX: 1\r\n'),
        'second-message': req() + b'GET / HT',
        'lone-cr-after': req() + b'\r',
    }
    return {'gen:incomplete/' + k: x for k, x in inc.items()}


def build():
    cases = vector_cases()
    for group in (valid_cases(), invalid_cases(), limit_cases(), incomplete_cases()):
        cases.extend((k, raw, 'generated') for k, raw in group.items())
    ids = [c[0] for c in cases]
    assert len(ids) == len(set(ids)), 'duplicate corpus ids'
    return cases


def write(out):
    """Writes the corpus as JSON lines to a text file object; returns the number of inputs."""
    cases = build()
    for vid, raw, source in cases:
        out.write(json.dumps({'id': vid, 'raw_b64': base64.b64encode(raw).decode(),
                              'source': source}) + '\n')
    return len(cases)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('-o', '--output', help='corpus file (default: stdout)')
    args = ap.parse_args()
    if args.output:
        with open(args.output, 'w', encoding='ascii') as out:
            write(out)
    else:
        write(sys.stdout)


if __name__ == '__main__':
    main()
