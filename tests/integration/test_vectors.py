"""Replays the third-party HTTP/1.1 request vectors (tests/data/vectors: Node.js llhttp strict
cases and http-parser cases, MIT, see their NOTICE files) against the running herald binary.

One TCP connection per vector, the raw bytes sent in one write, judged as
tests/data/vectors/README.md says:
  complete N            exactly N responses, none a parse rejection; nothing more
  complete_then_close   N responses, then the server closes (trailing bytes ignored)
  incomplete (N done)   N responses, then silence: no bytes, no close
  error (N done before) no 2xx/3xx for the bad message: a 4xx/5xx or a close
  upgrade               one response that is not a parse rejection (CONNECT: 405 or 501)
  accepted (http-parser "simple" HPE_OK)   no parse rejection
Where herald is stricter than those parsers by RFC 9112 the vector is listed in STRICTER with
the status herald must send and the clause that allows it; any other failure is a parser bug.
The allow-list is checked both ways: a listed vector must get exactly its listed status.
"""
import base64
import concurrent.futures
import json
import os
import socket
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, '..', 'data', 'vectors')

# Statuses that mean "this request was refused by the HTTP layer" (not routing, like 404/405).
REJECT = {400, 411, 413, 414, 417, 431, 501, 505}

NO_HOST = 'RFC 9112 §3.2: an HTTP/1.1 request without Host gets 400'
OBS_FOLD = 'RFC 9112 §5.2: obs-fold (a field line starting with SP/HTAB) is rejected with 400'
ASTERISK = 'RFC 9112 §3.2.4: asterisk-form is only for OPTIONS; other methods get 400'
NOT_HTTP = 'RFC 9112 §2.3: HTTP-version is "HTTP/" DIGIT "." DIGIT; other protocols get 400'
NO_VERSION = 'RFC 9112 §3: the request-line requires HTTP-version (no HTTP/0.9); 400'
BARE_LF = 'RFC 9112 §2.2: a bare LF line terminator may be rejected; herald rejects it (400)'
FRAGMENT = 'RFC 9112 §3.2: a request-target has no fragment, so "#" is rejected (400)'
USERINFO = 'RFC 9110 §4.2.4: userinfo in an http(s) URI is treated as an error (400)'
TE_AND_CL = ('RFC 9112 §6.3 item 3: a server may reject Transfer-Encoding with Content-Length '
             '(400), and must then close')

# Vector id -> (status herald sends, the clause that allows herald to be stricter). Where several
# apply, the reason given is the first check herald makes (e.g. "#" in the request line comes
# before the missing Host at the end of the head).
STRICTER = {
    # llhttp strict-mode vectors that llhttp accepts
    'llhttp:request/connection.md#1': (400, NO_HOST),
    'llhttp:request/connection.md#2': (400, NO_HOST),
    'llhttp:request/connection.md#7': (400, NO_HOST),
    'llhttp:request/connection.md#8': (400, NO_HOST),
    'llhttp:request/connection.md#12': (400, NO_HOST),
    'llhttp:request/connection.md#14': (400, NO_HOST),
    'llhttp:request/connection.md#18': (400, NO_HOST),
    'llhttp:request/connection.md#19': (400, NO_HOST),
    'llhttp:request/content-length.md#1': (400, NO_HOST),
    'llhttp:request/content-length.md#2': (400, NO_HOST),
    'llhttp:request/content-length.md#10': (400, NO_HOST),
    'llhttp:request/content-length.md#11': (400, NO_HOST),
    'llhttp:request/method.md#1': (400, NO_HOST),
    'llhttp:request/method.md#5': (400, ASTERISK),
    'llhttp:request/method.md#12': (400, NOT_HTTP),
    'llhttp:request/method.md#13': (400, NOT_HTTP),
    'llhttp:request/method.md#14': (400, NOT_HTTP),
    'llhttp:request/method.md#15': (400, ASTERISK),
    'llhttp:request/pipelining.md#1': (400, NO_HOST),
    'llhttp:request/sample.md#1': (400, NO_HOST),
    'llhttp:request/sample.md#2': (400, NO_HOST),
    'llhttp:request/sample.md#5': (400, NO_HOST),
    'llhttp:request/sample.md#6': (400, NO_HOST),
    'llhttp:request/sample.md#7': (400, NO_HOST),
    'llhttp:request/sample.md#9': (400, NO_HOST),
    'llhttp:request/sample.md#10': (400, NO_VERSION),
    'llhttp:request/sample.md#15': (400, NO_HOST),
    'llhttp:request/sample.md#16': (400, NO_HOST),
    'llhttp:request/sample.md#17': (400, NO_HOST),
    'llhttp:request/transfer-encoding.md#1': (400, NO_HOST),
    'llhttp:request/transfer-encoding.md#2': (400, NO_HOST),
    'llhttp:request/transfer-encoding.md#3': (400, NO_HOST),
    'llhttp:request/transfer-encoding.md#4': (400, NO_HOST),
    'llhttp:request/transfer-encoding.md#5': (400, NO_HOST),
    'llhttp:request/transfer-encoding.md#6': (400, NO_HOST),
    'llhttp:request/transfer-encoding.md#7': (400, NO_HOST),
    'llhttp:request/transfer-encoding.md#10': (400, NO_HOST),
    'llhttp:request/transfer-encoding.md#20': (400, FRAGMENT),
    'llhttp:request/transfer-encoding.md#21': (400, FRAGMENT),
    'llhttp:request/uri.md#1': (400, NO_HOST),
    'llhttp:request/uri.md#2': (400, NO_HOST),
    'llhttp:request/uri.md#3': (400, NO_HOST),
    'llhttp:request/uri.md#4': (400, NO_HOST),
    'llhttp:request/uri.md#5': (400, NO_HOST),
    'llhttp:request/uri.md#6': (400, NO_HOST),
    'llhttp:request/uri.md#8': (400, FRAGMENT),
    'llhttp:request/uri.md#10': (400, USERINFO),
    # http-parser vectors it accepts (its 2.9 parser was lenient, see its NOTICE)
    'http-parser:3': (400, NO_HOST),
    'http-parser:4': (400, FRAGMENT),
    'http-parser:5': (400, NO_HOST),
    'http-parser:6': (400, NO_HOST),
    'http-parser:8': (400, FRAGMENT),
    'http-parser:9': (400, NO_HOST),
    'http-parser:10': (400, NO_HOST),
    'http-parser:11': (400, NO_HOST),
    'http-parser:12': (400, NO_HOST),
    'http-parser:13': (400, NO_HOST),
    'http-parser:15': (400, NO_HOST),
    'http-parser:16': (400, NO_HOST),
    'http-parser:19': (400, NO_HOST),
    'http-parser:20': (400, NO_VERSION),
    'http-parser:21': (400, ASTERISK),
    'http-parser:22': (400, OBS_FOLD),
    'http-parser:23': (400, NO_HOST),
    'http-parser:24': (400, NO_HOST),
    'http-parser:25': (400, NO_HOST),
    'http-parser:32': (400, USERINFO),
    'http-parser:33': (400, BARE_LF),
    'http-parser:34': (400, OBS_FOLD),
    'http-parser:35': (400, NO_HOST),
    'http-parser:36': (400, OBS_FOLD),
    'http-parser:42': (400, NOT_HTTP),
    'http-parser:43': (400, NO_HOST),
    'http-parser:44': (400, OBS_FOLD),
    'http-parser:45': (400, TE_AND_CL),
    'http-parser:47': (400, NO_HOST),
    'http-parser:51': (400, OBS_FOLD),
    'http-parser:61': (400, NO_HOST),
    'http-parser:63': (400, NO_HOST),
    'http-parser:64': (400, NO_HOST),
    'http-parser:65': (400, NO_HOST),
    'http-parser:66': (400, NO_HOST),
    'http-parser:67': (400, NO_HOST),
    'http-parser:68': (400, NO_HOST),
    'http-parser:69': (400, NO_HOST),
    'http-parser:70': (400, NO_HOST),
    'http-parser:71': (400, NO_HOST),
    'http-parser:72': (400, NO_HOST),
    'http-parser:73': (400, NO_HOST),
    'http-parser:74': (400, NO_HOST),
    'http-parser:75': (400, NO_HOST),
    'http-parser:76': (400, NO_HOST),
    'http-parser:77': (400, NO_HOST),
    'http-parser:78': (400, NO_HOST),
    'http-parser:79': (400, NO_HOST),
    'http-parser:80': (400, NO_HOST),
    'http-parser:81': (400, NO_HOST),
    'http-parser:82': (400, NO_HOST),
    'http-parser:83': (400, NO_HOST),
    'http-parser:84': (400, NO_HOST),
    'http-parser:85': (400, NO_HOST),
    'http-parser:86': (400, NO_HOST),
    'http-parser:87': (400, NO_HOST),
    'http-parser:88': (400, NO_HOST),
    'http-parser:89': (400, NO_HOST),
    'http-parser:90': (400, NO_HOST),
    'http-parser:91': (400, NO_HOST),
    'http-parser:92': (400, NO_HOST),
    'http-parser:93': (400, NO_HOST),
    'http-parser:94': (400, NO_HOST),
    'http-parser:108': (400, OBS_FOLD),
}


def _lines(path):
    with open(path, encoding='utf-8') as f:
        return [json.loads(line) for line in f if line.strip()]


def load_vectors():
    """[(id, raw bytes, outcome, n_complete, methods, description)]"""
    out = []
    for o in _lines(os.path.join(DATA, 'llhttp', 'requests.jsonl')):
        if o['llhttp_type'] != 'request':  # request-lenient-*: not a strict verdict
            continue
        msgs = o['messages']
        done = [m for m in msgs if m.get('complete')]
        out.append(('llhttp:' + o['id'], base64.b64decode(o['raw_b64']), o['outcome'],
                    len(done), [m['method'] for m in done] or [m['method'] for m in msgs],
                    o['title']))
    for i, o in enumerate(_lines(os.path.join(DATA, 'http-parser', 'requests.jsonl')), 1):
        raw = o['raw'].encode('latin-1')  # \u00XX escapes stand for single bytes
        vid = 'http-parser:%d' % i
        if o['kind'] == 'simple':
            outcome = 'accepted' if o['expect_errno'] == 'HPE_OK' else 'error'
            out.append((vid, raw, outcome, 0, [], o['expect_errno']))
        else:
            outcome = 'upgrade' if o['upgrade'] is not None else 'complete'
            out.append((vid, raw, outcome, 1, [o['method']], o['name']))
    return out


class Reader:
    """Reads HTTP/1.1 responses off a socket with deadlines."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b''
        self.eof = False

    def _fill(self, deadline):
        left = deadline - time.time()
        if left <= 0 or self.eof:
            return False
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            data = b''
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _need(self, n, deadline):
        while len(self.buf) < n:
            if not self._fill(deadline):
                return False
        return True

    def _line(self, deadline):
        while b'\r\n' not in self.buf:
            if not self._fill(deadline):
                return None
        line, _, self.buf = self.buf.partition(b'\r\n')
        return line

    def response(self, deadline, head_only=False):
        """Next final response as (status, headers), or None on close or timeout."""
        while True:
            while b'\r\n\r\n' not in self.buf:
                if not self._fill(deadline):
                    return None
            head, _, self.buf = self.buf.partition(b'\r\n\r\n')
            lines = head.decode('latin-1').split('\r\n')
            status = int(lines[0].split()[1])
            headers = {}
            for h in lines[1:]:
                k, _, v = h.partition(':')
                headers[k.strip().lower()] = v.strip()
            if 100 <= status < 200:
                continue
            if not self._body(status, headers, deadline, head_only):
                return None
            return status, headers

    def _body(self, status, headers, deadline, head_only):
        if head_only or status in (204, 304):
            return True
        if headers.get('transfer-encoding', '').lower() == 'chunked':
            while True:
                line = self._line(deadline)
                if line is None:
                    return False
                size = int(line.split(b';')[0], 16)
                if size == 0:
                    while (line := self._line(deadline)) not in (b'', None):
                        pass
                    return line is not None
                if not self._need(size + 2, deadline):
                    return False
                self.buf = self.buf[size + 2:]
        if 'content-length' in headers:
            n = int(headers['content-length'])
            if not self._need(n, deadline):
                return False
            self.buf = self.buf[n:]
            return True
        while self._fill(deadline):  # no framing: the body ends at the close
            pass
        self.buf = b''
        return True

    def quiet(self, seconds):
        """True if nothing arrives (and no close) for `seconds`."""
        if self.buf or self.eof:
            return False
        return not self._fill(time.time() + seconds) and not self.eof


def replay(port, vector):
    """Sends one vector and returns (ok, statuses, what happened) per the module rules."""
    vid, raw, outcome, n_done, methods, _ = vector
    sock = socket.create_connection(('127.0.0.1', port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.sendall(raw)
        return judge(Reader(sock), vid, outcome, n_done, methods)
    finally:
        sock.close()


def read_n(reader, n, methods, deadline):
    statuses = []
    while len(statuses) < n:
        head_only = len(statuses) < len(methods) and methods[len(statuses)] == 'HEAD'
        r = reader.response(deadline, head_only)
        if r is None:
            break
        statuses.append(r[0])
    return statuses


def judge(reader, vid, outcome, n_done, methods):
    deadline = time.time() + 5
    listed = STRICTER.get(vid)
    if listed is not None:  # herald must refuse it with the listed status
        r = reader.response(deadline, methods[:1] == ['HEAD'])
        status = r[0] if r else None
        return status == listed[0], [status], 'listed as stricter: want %d' % listed[0]
    if outcome in ('complete', 'complete_then_close', 'incomplete'):
        statuses = read_n(reader, n_done, methods, deadline)
        ok = len(statuses) == n_done and not REJECT & set(statuses)
        if outcome == 'complete':
            after = reader.quiet(0.15) or reader.eof  # a close after them is fine
            return ok and after, statuses, 'want %d non-rejected responses' % n_done
        if outcome == 'complete_then_close':
            reader.response(time.time() + 3)
            return ok and reader.eof and not reader.buf, statuses, 'want responses then close'
        return ok and reader.quiet(0.3), statuses, 'want responses then silence'
    if outcome == 'error':
        statuses = read_n(reader, n_done, methods, deadline)
        r = reader.response(deadline)
        if r is not None:
            statuses.append(r[0])
        refused = (r is not None and r[0] >= 400) or (r is None and reader.eof)
        ok = len(statuses) >= n_done and refused and not any(
            200 <= s < 400 for s in statuses[n_done:])
        return ok, statuses, 'want a 4xx/5xx or a close'
    if outcome == 'upgrade':
        r = reader.response(deadline, methods[:1] == ['HEAD'])
        status = r[0] if r else None
        if methods[:1] == ['CONNECT']:
            return status in (405, 501), [status], 'want 405 or 501 for CONNECT'
        return status is not None and status not in REJECT, [status], 'want a response'
    assert outcome == 'accepted', outcome
    statuses = []
    while (r := reader.response(time.time() + 0.5)) is not None:
        statuses.append(r[0])
    return not REJECT & set(statuses), statuses, 'want no rejection'


CONF = '''
http {
    server {
        listen 127.0.0.1:0;
        location / { root {www}; }
    }
}
'''


def test_stricter_list_names_existing_vectors():
    ids = {v[0] for v in load_vectors()}
    assert set(STRICTER) <= ids, sorted(set(STRICTER) - ids)
    assert len(ids) == len(load_vectors()), 'vector ids must be unique'


def test_replay_vectors(herald):
    vectors = load_vectors()
    # 120 llhttp strict vectors (the upstream README says 110; the data holds 120) + 110 http-parser
    assert len(vectors) == 120 + 110, len(vectors)
    srv = herald(CONF, files={'www/index.html': '<h1>herald</h1>\n'})
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda v: replay(srv.port, v), vectors))
    failures = []
    for v, (ok, statuses, want) in zip(vectors, results):
        if not ok:
            failures.append('%s [%s] %r: got %s; %s' % (v[0], v[5], v[1][:80], statuses, want))
    assert not failures, '%d vector(s) failed:\n%s' % (len(failures), '\n'.join(failures))
