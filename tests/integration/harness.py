"""Integration harness: starts the real herald binary on an ephemeral loopback port.

Usage (pytest):
    def test_x(herald):                       # fixture from conftest.py
        srv = herald('''
            http { server { listen 127.0.0.1:0; root {www}; } }
        ''', files={'www/index.html': 'hi'})
        status, headers, body = srv.get('/')

The config text may use {tmp} (the test's temp dir) and {www} ({tmp}/www) placeholders.
Lines are dedented. `error_log stderr debug;`-style lines are the test's business; the harness
only needs the notice line 'listening on ADDR:PORT' that herald logs for every bound socket.

With HERALD_BROKER=redis in the environment every config's http block starts with `broker redis;`
on this pytest process's redis-server (conftest.py starts it) and a key prefix of its own per
herald instance, unless the config names a broker itself (with_broker()).
"""
import os
import re
import signal
import signal as _signal
import socket
import subprocess
import textwrap
import threading
import time
import http.client
import itertools

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
BIN = os.path.abspath(os.environ.get('HERALD_BIN', os.path.join(ROOT, 'build', 'asan', 'herald')))
# The broker every test's herald runs on: memory (herald's default) or redis.
BROKER = os.environ.get('HERALD_BROKER', 'memory')
assert BROKER in ('memory', 'redis'), 'HERALD_BROKER must be memory or redis, not %r' % BROKER
REDIS_PORT = None  # the port of this pytest process's redis-server (conftest.py sets it)
_instances = itertools.count(1)


def memory_broker_only(why):
    """Marks a test that inherently concerns the memory broker: skipped with HERALD_BROKER=redis."""
    return pytest.mark.skipif(BROKER == 'redis', reason='memory broker only: ' + why)


def new_redis_prefix():
    """A Redis key prefix of its own for one herald instance, so that tests sharing the worker's
    redis-server never see each other's channels."""
    return 'h%d.%d:' % (os.getpid(), next(_instances))


def with_broker(text, prefix):
    """text with `broker redis; redis_server ...; redis_prefix PREFIX;` at the top of its http
    block when HERALD_BROKER=redis; unchanged otherwise, or when the config names a broker.
    The directives go on the `http {` line itself, so that every other line keeps its number
    (tests check file:line:col in error messages)."""
    if BROKER != 'redis' or re.search(r'^\s*broker\s', text, re.M):
        return text
    m = re.search(r'^\s*http\s*\{', text, re.M)
    if m is None:
        return text
    assert REDIS_PORT is not None, 'HERALD_BROKER=redis but no redis-server started (conftest.py)'
    lines = ' broker redis; redis_server 127.0.0.1:%d; redis_prefix %s;' % (REDIS_PORT, prefix)
    return text[:m.end()] + lines + text[m.end():]


SANITIZER_MARKERS = ('ERROR: AddressSanitizer', 'runtime error:', 'ERROR: LeakSanitizer',
                     'WARNING: ThreadSanitizer')


class Herald:
    def __init__(self, conf, tmp, files=None, start=True, args=(), binary=None, env=None):
        self.tmp = str(tmp)
        self.www = os.path.join(self.tmp, 'www')
        os.makedirs(self.www, exist_ok=True)
        for name, content in (files or {}).items():
            path = os.path.join(self.tmp, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            mode = 'wb' if isinstance(content, bytes) else 'w'
            with open(path, mode) as f:
                f.write(content)
        self.conf_path = os.path.join(self.tmp, 'herald.conf')
        self.redis_prefix = new_redis_prefix()  # kept over reloads and restarts
        self.write_conf(conf)
        self.args = list(args)
        self.binary = binary or BIN   # another path to start from (the upgrade tests)
        self.env = dict(env or {})    # added to the environment
        self.proc = None
        self.ports = []
        self._log = []
        self._log_lock = threading.Lock()
        if start:
            self.start()

    def write_conf(self, conf):
        text = (textwrap.dedent(conf).replace('{tmp}', self.tmp).replace('{www}', self.www)
                .replace('{repo}', ROOT))
        # herald refuses to serve as root without an explicit `user`; tests run as root in CI.
        if os.geteuid() == 0 and not re.search(r'^\s*user\s', text, re.M):
            text = 'user root;\n' + text
        # `make tsan`: run every test with 4 event loops so that cross-thread paths
        # (broker fan-out, post(), reload) are exercised, unless the test chose a count.
        if os.environ.get('HERALD_TSAN') == '1' and not re.search(r'^\s*worker_threads\s', text,
                                                                  re.M):
            text = 'worker_threads 4;\n' + text
        text = with_broker(text, self.redis_prefix)
        with open(self.conf_path, 'w') as f:
            f.write(text)

    def start(self, timeout=10):
        env = dict(os.environ)
        env.setdefault('ASAN_OPTIONS', 'detect_leaks=1:abort_on_error=0')
        env.setdefault('UBSAN_OPTIONS', 'print_stacktrace=1')
        env.update(self.env)
        self.proc = subprocess.Popen([self.binary, '-c', self.conf_path] + self.args,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, cwd=self.tmp, env=env)
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self._log_lock:
                text = ''.join(self._log)
            if re.search(r'listening on ', text):
                time.sleep(0.05)  # let every worker's listener be announced
                seen = []
                for _, p in re.findall(r'listening on (\[?[0-9a-f.:]+\]?):(\d+)', self.log()):
                    if int(p) not in seen:
                        seen.append(int(p))
                self.ports = seen
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        raise RuntimeError('herald did not start:\n' + self.log())

    def _pump(self):
        for line in iter(self.proc.stdout.readline, b''):
            with self._log_lock:
                self._log.append(line.decode('utf-8', 'replace'))

    @property
    def port(self):
        return self.ports[0]

    def log(self):
        with self._log_lock:
            return ''.join(self._log)

    def wait_log(self, pattern, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if re.search(pattern, self.log()):
                return True
            time.sleep(0.02)
        return False

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=_signal.SIGTERM, timeout=10):
        """Stops herald and asserts a clean exit (code 0, no sanitizer report)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.check_clean()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError('herald did not exit within %ss:\n%s' % (timeout, self.log()))
        time.sleep(0.05)
        return self.check_clean()

    def check_clean(self):
        log = self.log()
        for marker in SANITIZER_MARKERS:
            assert marker not in log, 'sanitizer report:\n' + log
        assert self.proc.returncode == 0, 'exit code %s:\n%s' % (self.proc.returncode, log)
        return log

    # ---- clients -------------------------------------------------------------------------
    def connect(self, timeout=5, port=None):
        s = socket.create_connection(('127.0.0.1', port or self.port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def request(self, method, path, body=None, headers=None, port=None, timeout=5):
        conn = http.client.HTTPConnection('127.0.0.1', port or self.port, timeout=timeout)
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def get(self, path, headers=None, **kw):
        return self.request('GET', path, headers=headers, **kw)

    def raw(self, data, timeout=3, port=None, shut_wr=False):
        """Sends raw bytes, returns everything received until the server closes or timeout."""
        s = self.connect(timeout=timeout, port=port)
        s.sendall(data)
        if shut_wr:
            s.shutdown(socket.SHUT_WR)
        out = b''
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except socket.timeout:
            pass
        s.close()
        return out


def read_response(sock, head_only=False):
    """Reads one HTTP/1.1 response from a socket: (status, headers dict lower-case, body)."""
    f = sock.makefile('rb', buffering=0)  # unbuffered: never swallows the next response
    line = f.readline()
    if not line:
        return None
    status = int(line.split()[1])
    headers = {}
    while True:
        h = f.readline()
        if h in (b'\r\n', b'\n', b''):
            break
        k, _, v = h.decode('latin-1').partition(':')
        headers[k.strip().lower()] = v.strip()
    body = b''
    if head_only or status in (204, 304) or 100 <= status < 200:
        return status, headers, body
    if headers.get('transfer-encoding', '').lower() == 'chunked':
        while True:
            size = int(f.readline().split(b';')[0], 16)
            if size == 0:
                while f.readline() not in (b'\r\n', b''):
                    pass
                break
            body += read_exact(f, size)
            f.readline()
    elif 'content-length' in headers:
        body = read_exact(f, int(headers['content-length']))
    return status, headers, body


def read_exact(f, n):
    """Reads exactly n bytes (a raw socket file returns what one recv gives)."""
    out = b''
    while len(out) < n:
        chunk = f.read(n - len(out))
        if not chunk:
            break
        out += chunk
    return out
