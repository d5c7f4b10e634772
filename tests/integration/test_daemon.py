"""Process management against the real binary: reload under load (HUP) with zero
disconnects and zero lost messages, reload with an invalid edit, QUIT (graceful: every stream
ends with its clean close), TERM (fast), USR1 (log reopen after rotation), `daemon on` with its
pid file and lock, `herald -s`, and the privilege drop (`user`).

Subscribers are raw sockets driven by one selector thread (`Bank`), so 200 of them cost one
Python thread; each one parses its own protocol (WebSocket frames with ?format=json ids, SSE
over chunked transfer coding) and records every id it sees, whether and how it was closed.
"""
import base64
import http.client
import json
import os
import pwd
import re
import selectors
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

from harness import BIN, new_redis_prefix, read_response, with_broker
from push_clients import Life, id_seq, take_chunks

# ---- subscribers -----------------------------------------------------------------------------


class Sub:
    """One streaming subscriber: sends its request, then feed() parses whatever arrives."""

    def __init__(self, kind, port, path):
        self.kind, self.path = kind, path
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.head = None           # status line + headers, once complete
        self.status = None
        self.ids = []              # message ids in arrival order
        self.events = []           # SSE: (event, data) of non-message events; iframe: raw calls
        self.eof = False           # the server closed the TCP connection
        self.ended = False         # chunked stream: terminating chunk seen
        self.close_code = None     # WebSocket: code of the server's close frame
        self.body = bytearray()    # de-chunked stream bytes not yet parsed
        self.text = bytearray()    # every de-chunked stream byte
        self.chunked = False
        req = 'GET %s HTTP/1.1\r\nHost: t\r\n' % path
        if kind == 'ws':
            key = base64.b64encode(os.urandom(16)).decode()
            req += ('Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n'
                    'Sec-WebSocket-Version: 13\r\n' % key)
        self.sock.sendall((req + '\r\n').encode())
        self.sock.setblocking(False)

    def on_readable(self):
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return
        except ConnectionError:
            data = b''
        if not data:
            self.eof = True
            return
        self.buf += data
        self.parse()

    def parse(self):
        if self.head is None:
            i = self.buf.find(b'\r\n\r\n')
            if i < 0:
                return
            self.head = bytes(self.buf[:i]).decode('latin-1')
            del self.buf[:i + 4]
            self.status = int(self.head.split()[1])
            self.chunked = 'transfer-encoding: chunked' in self.head.lower()
        if self.kind == 'ws':
            self.parse_frames()
        else:
            self.dechunk()
            self.parse_stream()

    def parse_frames(self):
        while len(self.buf) >= 2:
            op, ln, off = self.buf[0] & 0x0F, self.buf[1] & 0x7F, 2
            if ln == 126:
                if len(self.buf) < 4:
                    return
                ln, off = struct.unpack('>H', self.buf[2:4])[0], 4
            elif ln == 127:
                if len(self.buf) < 10:
                    return
                ln, off = struct.unpack('>Q', self.buf[2:10])[0], 10
            if len(self.buf) < off + ln:
                return
            payload = bytes(self.buf[off:off + ln])
            del self.buf[:off + ln]
            if op == 0x1:
                msg = json.loads(payload)
                if 'id' in msg:
                    self.ids.append(id_seq(msg['id']))
                else:
                    self.events.append(msg)
            elif op == 0x8:
                self.close_code = struct.unpack('>H', payload[:2])[0] if len(payload) >= 2 else 1005
                try:  # complete the closing handshake (client frames are masked)
                    self.sock.send(bytes([0x88, 0x82, 0, 0, 0, 0]) + payload[:2])
                except OSError:
                    pass

    def dechunk(self):
        if not self.chunked:
            data = bytes(self.buf)
            self.buf.clear()
        elif self.ended:
            return
        else:
            data, self.ended = take_chunks(self.buf)
        self.body += data
        self.text += data

    def parse_stream(self):
        if self.kind == 'sse':
            while True:
                i = self.body.find(b'\n\n')
                if i < 0:
                    return
                block = bytes(self.body[:i]).decode()
                del self.body[:i + 2]
                fields = dict(line.split(': ', 1) for line in block.split('\n')
                              if ': ' in line and not line.startswith(':'))
                if 'id' in fields and 'event' not in fields:
                    self.ids.append(id_seq(fields['id']))
                elif 'event' in fields:
                    self.events.append((fields['event'], fields.get('data')))
        elif self.kind == 'iframe':
            for m in re.finditer(rb'parent\.herald_cb\("([^"]*)","([0-9a-f-]+)"\)', bytes(self.body)):
                self.ids.append(id_seq(m.group(2).decode()))
            keep = self.body.rfind(b'<script')
            if keep > 0 and self.body.find(b'</script>', keep) >= 0:
                keep = len(self.body)
            del self.body[:max(keep, 0)]

    def read_until(self, pred, timeout=5):
        """Blocking use outside a Bank: reads until pred(self) holds."""
        self.sock.settimeout(timeout)
        while not pred(self):
            data = self.sock.recv(65536)
            if not data:
                raise EOFError(bytes(self.text))
            self.buf += data
            self.parse()

    def alive(self):
        return not self.eof and self.close_code is None and not self.ended


class Bank:
    """Owns subscribers and one selector thread that reads them all until stop()."""

    def __init__(self):
        self.subs = []
        self.sel = selectors.DefaultSelector()
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def add(self, sub):
        with self.lock:
            self.subs.append(sub)
            self.sel.register(sub.sock, selectors.EVENT_READ, sub)
        return sub

    def run(self):
        while self.running:
            with self.lock:
                events = self.sel.select(timeout=0.02) if self.subs else []
            if not events:
                time.sleep(0.005)
            for key, _ in events:
                sub = key.data
                with self.lock:
                    sub.on_readable()
                    if sub.eof:
                        self.sel.unregister(sub.sock)

    def wait(self, pred, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if pred():
                    return True
            time.sleep(0.02)
        with self.lock:
            return pred()

    def stop(self):
        self.running = False
        self.thread.join()
        for s in self.subs:
            s.sock.close()


def channel_subscribers(port, channel):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
    c.request('GET', '/pub?channel=' + channel)
    r = c.getresponse()
    info = json.loads(r.read())
    c.close()
    total = info.get('subscribers', 0)
    return sum(total.values()) if isinstance(total, dict) else int(total)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def reload_count(srv):
    return len(re.findall(r'configuration reloaded', srv.log()))


def hup_and_wait(srv, n_before, timeout=5):
    srv.signal(signal.SIGHUP)
    assert srv.wait_log(r'(?s)(configuration reloaded.*){%d}' % (n_before + 1), timeout), srv.log()


def retry(fn, timeout=2):
    """The snapshot reaches each worker by post(); a request may land a moment before it."""
    deadline = time.time() + timeout
    while True:
        try:
            fn()
            return
        except (AssertionError, OSError):
            if time.time() > deadline:
                raise
            time.sleep(0.02)


# ---- reload under load (acceptance) -----------------------------------------------------------

LOAD_CONF = '''
error_log stderr notice;
worker_threads 2;
http {{
    access_log off;
    ws_ping_interval 0;
    sse_retry {retry}ms;
    channel feed {{ buffer 1000; }}
    server {{
        listen 127.0.0.1:{port};
        {extra}
        location /ws/     {{ push websocket; channel $tail; }}
        location /sse/    {{ push sse; channel $tail; }}
        location /switch/ {{ push {switch}; channel $tail; }}
        location = /rev{rev} {{ push polling; channel feed; }}
        location = /pub   {{ publish; channel $arg_channel; }}
    }}
}}
'''


def load_conf(port, rev, switch='polling', extra_port=None):
    extra = 'listen 127.0.0.1:%d;' % extra_port if extra_port else ''
    return LOAD_CONF.format(port=port, rev=rev, switch=switch, extra=extra, retry=1000 + rev)


class Publisher(threading.Thread):
    """POSTs to /pub on one keep-alive connection every `period` seconds; any failure is kept
    (no request may fail because of a reload)."""

    def __init__(self, port, channel, period=0.1):
        super().__init__(daemon=True)
        self.port, self.channel, self.period = port, channel, period
        self.sent, self.errors = 0, []
        self.last_id = '0'  # the id of the newest message sent
        self.stop_flag = threading.Event()

    def run(self):
        conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=5)
        while not self.stop_flag.is_set():
            try:
                conn.request('POST', '/pub?channel=' + self.channel, body='m%d' % (self.sent + 1))
                r = conn.getresponse()
                body = r.read()
                if r.status != 201 or id_seq(json.loads(body)['id']) != self.sent + 1:
                    self.errors.append((r.status, body))
                else:
                    self.sent += 1
                    self.last_id = json.loads(body)['id']
            except Exception as e:  # noqa: BLE001 - kept and asserted on by the test
                self.errors.append(repr(e))
                conn.close()
                conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=5)
            self.stop_flag.wait(self.period)
        conn.close()


def test_reload_under_load_loses_nothing(herald):
    port, extra = free_port(), free_port()
    srv = herald(load_conf(port, 0))
    bank = Bank()
    try:
        subs = [bank.add(Sub('ws', port, '/ws/feed?format=json')) for _ in range(100)]
        subs += [bank.add(Sub('sse', port, '/sse/feed')) for _ in range(100)]
        assert bank.wait(lambda: all(s.status is not None for s in subs), 10)
        assert {s.status for s in subs} == {101, 200}
        deadline = time.time() + 10
        while channel_subscribers(port, 'feed') < 200 and time.time() < deadline:
            time.sleep(0.05)
        assert channel_subscribers(port, 'feed') == 200
        assert srv.get('/switch/feed', port=port)[0] in (200, 204)  # polling answers at once

        pub = Publisher(port, 'feed')
        pub.start()
        for rev in range(1, 11):
            time.sleep(0.3)
            n = reload_count(srv)
            srv.write_conf(load_conf(port, rev, 'sse', extra))
            hup_and_wait(srv, n)

            def applied(rev=rev):
                assert srv.get('/rev%d' % rev, port=port)[0] == 200
                assert srv.get('/rev%d' % (rev - 1), port=port)[0] == 404
            retry(applied)
        time.sleep(0.3)
        pub.stop_flag.set()
        pub.join()
        assert not pub.errors, pub.errors
        total = pub.sent
        assert total >= 30, total
        want = list(range(1, total + 1))
        bank.wait(lambda: all(s.ids == want for s in subs), 5)
        with bank.lock:
            dropped = [s.kind for s in subs if not s.alive()]
            lossy = [(s.kind, s.ids[:3], len(s.ids)) for s in subs if s.ids != want]
        assert not dropped, '%d subscribers disconnected: %s' % (len(dropped), dropped[:5])
        assert not lossy, '%d subscribers missed messages (of %d): %s' % (
            len(lossy), total, lossy[:5])
        assert channel_subscribers(port, 'feed') == 200

        # The switched route now streams, with the new config's sse_retry; the new port answers.
        s = Sub('sse', port, '/switch/feed?since=' + Life.of(pub.last_id)(total - 1))
        s.read_until(lambda s: total in s.ids)
        assert s.status == 200 and 'text/event-stream' in s.head
        assert b'retry: 1010' in s.text
        s.sock.close()
        c = http.client.HTTPConnection('127.0.0.1', extra, timeout=5)
        c.request('GET', '/rev10')
        r = c.getresponse()
        assert r.status == 200 and r.read() == ('m%d' % total).encode()
        c.close()
    finally:
        bank.stop()


def test_reload_with_invalid_edit_keeps_old_config(herald):
    port, extra = free_port(), free_port()
    srv = herald(load_conf(port, 1, 'polling', extra))
    assert srv.request('POST', '/pub?channel=feed', body='x', port=port)[0] == 201
    good = open(srv.conf_path).read()
    bad = good.replace('location /sse/', 'lisen 127.0.0.1:1;\n        location /sse/')
    with open(srv.conf_path, 'w') as f:
        f.write(bad)
    line = bad[:bad.index('lisen')].count('\n') + 1
    srv.signal(signal.SIGHUP)
    assert srv.wait_log(r'%s:%d:9: unknown directive "lisen"' % (re.escape(srv.conf_path), line)),\
        srv.log()
    assert 'keeping the running configuration' in srv.log()
    assert srv.get('/switch/feed', port=port)[0] == 200              # still polling
    assert srv.get('/rev1', port=port)[0] == 200
    assert srv.get('/rev1', port=extra)[0] == 200                     # old extra port kept

    # A valid edit afterwards applies, and a removed listen port stops answering.
    n = reload_count(srv)
    srv.write_conf(load_conf(port, 2, 'sse'))
    hup_and_wait(srv, n)

    def extra_closed():
        with pytest.raises(OSError):
            socket.create_connection(('127.0.0.1', extra), timeout=1).close()
    retry(extra_closed)

    def switched():
        assert srv.get('/rev2', port=port)[0] == 200
        s = Sub('sse', port, '/switch/feed')
        s.read_until(lambda s: s.head is not None)
        s.sock.close()
        assert 'text/event-stream' in s.head
    retry(switched)


def test_reload_removing_a_channel_closes_its_subscribers(herald):
    conf = '''
        error_log stderr notice;
        http {
            ws_ping_interval 0;
            channel keep { buffer 10; }
            %s
            server {
                listen 127.0.0.1:0;
                location /ws/  { push websocket; channel $tail; }
                location /sse/ { push sse; channel $tail; }
                location = /pub { publish; channel $arg_channel; }
            }
        }
    '''
    srv = herald(conf % 'channel gone { buffer 10; }')
    bank = Bank()
    try:
        gone = [bank.add(Sub('ws', srv.port, '/ws/gone?format=json')),
                bank.add(Sub('sse', srv.port, '/sse/gone'))]
        keep = [bank.add(Sub('ws', srv.port, '/ws/keep?format=json')),
                bank.add(Sub('sse', srv.port, '/sse/keep'))]
        assert bank.wait(lambda: all(s.status for s in gone + keep), 5)
        deadline = time.time() + 5
        while channel_subscribers(srv.port, 'gone') < 2 and time.time() < deadline:
            time.sleep(0.05)
        srv.request('POST', '/pub?channel=keep', body='k1')
        n = reload_count(srv)
        srv.write_conf(conf % '')
        hup_and_wait(srv, n)
        assert bank.wait(lambda: not any(s.alive() for s in gone), 5)
        with bank.lock:
            assert gone[0].close_code == 1000 and gone[1].ended
        srv.request('POST', '/pub?channel=keep', body='k2')
        assert bank.wait(lambda: all(s.ids == [1, 2] and s.alive() for s in keep), 5)
        assert srv.request('POST', '/pub?channel=gone', body='x')[0] == 404
    finally:
        bank.stop()


# ---- signals ------------------------------------------------------------------------------

STREAMS_CONF = '''
error_log stderr info;
worker_threads 2;
shutdown_timeout 5s;
http {
    access_log off;
    ws_ping_interval 0;
    ws_close_timeout 1s;
    longpoll_timeout 60s;
    channel c { buffer 100; }
    server {
        listen 127.0.0.1:0;
        root {www};
        location /ws/       { push websocket; channel $tail; }
        location /sse/      { push sse; channel $tail; }
        location /iframe/   { push iframe; channel $tail; }
        location /longpoll/ { push long-polling; channel $tail; }
        location = /pub     { publish; channel $arg_channel; }
    }
}
'''


def open_streams(srv, bank, n=5):
    subs = []
    for _ in range(n):
        subs.append(bank.add(Sub('ws', srv.port, '/ws/c?format=json')))
        subs.append(bank.add(Sub('sse', srv.port, '/sse/c')))
        subs.append(bank.add(Sub('iframe', srv.port, '/iframe/c?callback=herald_cb')))
    polls = [srv.connect() for _ in range(n)]
    for p in polls:
        p.sendall(b'GET /longpoll/c HTTP/1.1\r\nHost: t\r\n\r\n')
    deadline = time.time() + 10
    while channel_subscribers(srv.port, 'c') < 4 * n and time.time() < deadline:
        time.sleep(0.05)
    assert channel_subscribers(srv.port, 'c') == 4 * n
    return subs, polls


def test_quit_ends_every_stream_cleanly(herald):
    big = os.urandom(16 << 20)
    srv = herald(STREAMS_CONF, files={'www/big.bin': big})
    bank = Bank()
    try:
        subs, polls = open_streams(srv, bank)
        srv.request('POST', '/pub?channel=c', body='one')
        assert bank.wait(lambda: all(s.ids == [1] for s in subs), 5)
        # An in-flight response the client reads slowly must still complete.
        # (A small receive window, set before connect, keeps most of the file in herald.)
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        slow.settimeout(5)
        slow.connect(('127.0.0.1', srv.port))
        slow.sendall(b'GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n')
        time.sleep(0.1)
        t0 = time.time()
        srv.signal(signal.SIGQUIT)
        time.sleep(0.05)
        srv.signal(signal.SIGHUP)            # ignored while shutting down: no listener returns
        assert bank.wait(lambda: all(not s.alive() for s in subs), 5)
        with bank.lock:
            for s in subs:
                if s.kind == 'ws':
                    assert s.close_code == 1001, (s.kind, s.close_code)
                else:
                    assert s.ended, (s.kind, bytes(s.buf))
        for p in polls:
            status, _, _ = read_response(p)
            assert status in (200, 304), status
        time.sleep(0.3)
        assert srv.proc.poll() is None, 'exited before the in-flight response was done'
        status, headers, _ = read_response(slow, head_only=True)
        assert status == 200 and int(headers['content-length']) == len(big)
        body = bytearray()
        while len(body) < len(big):
            chunk = slow.recv(1 << 20)
            assert chunk, 'response cut after %d bytes' % len(body)
            body += chunk
        assert body == big
        slow.close()
        srv.proc.wait(timeout=5)
        assert time.time() - t0 < 5
        srv.check_clean()
        assert 'graceful shutdown' in srv.log()
        assert 'reload ignored: shutting down' in srv.log()
    finally:
        bank.stop()


def test_term_exits_within_a_second(herald):
    srv = herald(STREAMS_CONF)
    bank = Bank()
    try:
        open_streams(srv, bank)
        t0 = time.time()
        srv.signal(signal.SIGTERM)
        srv.proc.wait(timeout=5)
        assert time.time() - t0 < 1.0, time.time() - t0
        srv.check_clean()
    finally:
        bank.stop()


def test_signals_reach_only_the_main_thread(herald):
    """Every worker thread (named herald-wN) starts with every signal blocked: HUP, TERM, INT,
    QUIT, USR1 and USR2 are the main thread's alone (a signalfd on Linux, the self-pipe
    handler in the kqueue build), so no worker's call is ever interrupted. 20 HUPs in a row
    each reload, then TERM ends it cleanly."""
    srv = herald(STREAMS_CONF.replace('worker_threads 2;', 'worker_threads 3;'))
    pid = srv.proc.pid
    handled = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGUSR1,
               signal.SIGUSR2)
    workers = 0
    for task in os.listdir('/proc/%d/task' % pid):
        with open('/proc/%d/task/%s/comm' % (pid, task)) as f:
            name = f.read().strip()
        if not name.startswith('herald-w'):
            continue
        workers += 1
        with open('/proc/%d/task/%s/status' % (pid, task)) as f:
            blocked = int(re.search(r'^SigBlk:\s*([0-9a-f]+)$', f.read(), re.M).group(1), 16)
        for sig in handled:
            assert blocked & (1 << (sig - 1)), (name, sig, hex(blocked))
    assert workers == 3, workers
    for n in range(20):
        hup_and_wait(srv, n)
    srv.stop()


def test_usr1_reopens_moved_logs(herald):
    srv = herald('''
        error_log {tmp}/error.log info;
        http {
            access_log {tmp}/access.log;
            server { listen 127.0.0.1:0; root {www}; }
        }
    ''', files={'www/index.html': 'hi'}, start=False)
    start_with_file_log(srv)  # the error log is a file: the port is found there
    err, acc = os.path.join(srv.tmp, 'error.log'), os.path.join(srv.tmp, 'access.log')
    assert srv.get('/index.html?before')[0] == 200
    assert wait_file(acc, b'/index.html?before')
    os.rename(err, err + '.1')
    os.rename(acc, acc + '.1')
    srv.signal(signal.SIGUSR1)
    assert wait_file(err, b'logs reopened')
    assert srv.get('/index.html?after')[0] == 200
    assert wait_file(acc, b'/index.html?after')
    assert b'?after' not in open(acc + '.1', 'rb').read()
    assert b'reopening logs' in open(err + '.1', 'rb').read()


def start_with_file_log(srv):
    env = dict(os.environ)
    env.setdefault('ASAN_OPTIONS', 'detect_leaks=1:abort_on_error=0')
    srv.proc = subprocess.Popen([BIN, '-c', srv.conf_path], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=srv.tmp,
                                env=env)
    threading.Thread(target=srv._pump, daemon=True).start()
    log = os.path.join(srv.tmp, 'error.log')
    assert wait_file(log, b'started'), srv.log()
    srv.ports = [int(p) for p in re.findall(r'listening on 127\.0\.0\.1:(\d+)',
                                             open(log).read())]


def wait_file(path, needle, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if needle in open(path, 'rb').read():
                return True
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    return False


# ---- daemon, pid file, -s -----------------------------------------------------------------

def run_bin(*args, cwd=None, timeout=20):
    env = dict(os.environ)
    env.setdefault('ASAN_OPTIONS', 'detect_leaks=1:abort_on_error=0')
    return subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env=env)


def write_conf(tmp_path, text, name='herald.conf'):
    if os.geteuid() == 0 and not re.search(r'^\s*user\s', text, re.M):
        text = 'user root;\n' + text
    text = with_broker(text, new_redis_prefix())
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (our own child, not yet reaped) counts as gone.
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(')')[-1].split()[0] != 'Z'
    except FileNotFoundError:
        return False


def wait_gone(pid, timeout=5):
    deadline = time.time() + timeout
    while pid_alive(pid) and time.time() < deadline:
        time.sleep(0.02)
    return not pid_alive(pid)


def test_daemon_on_pid_file_and_signals(tmp_path):
    port = free_port()
    conf = write_conf(tmp_path, '''
        daemon on;
        error_log %s/error.log info;
        http { server { listen 127.0.0.1:%d; location = /pub { publish; channel $arg_channel; } }
               channel_autocreate on; }
    ''' % (tmp_path, port))
    pid_path = tmp_path / 'herald.pid'            # default: beside the config
    r = run_bin('-c', conf)
    assert r.returncode == 0, r.stderr
    pid = int(pid_path.read_text())               # written before the shell's process exits
    try:
        assert pid_alive(pid)
        with open('/proc/%d/stat' % pid) as f:    # detached: its own session
            fields = f.read().split(')')[-1].split()
        assert int(fields[3]) == pid, fields      # session id == pid (setsid)
        c = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
        c.request('POST', '/pub?channel=x', body='hi')
        assert c.getresponse().status == 201
        c.close()
        # A second instance with the same pid file refuses, and says why.
        r2 = run_bin('-c', conf)
        assert r2.returncode == 1
        assert 'already running (pid %d' % pid in r2.stderr, r2.stderr
        assert int(pid_path.read_text()) == pid
        # -s reopen / reload reach it.
        assert run_bin('-c', conf, '-s', 'reopen').returncode == 0
        assert run_bin('-c', conf, '-s', 'reload').returncode == 0
        assert wait_file(str(tmp_path / 'error.log'), b'configuration reloaded')
        assert b'logs reopened' in (tmp_path / 'error.log').read_bytes()
        r3 = run_bin('-c', conf, '-s', 'stop')
        assert r3.returncode == 0, r3.stderr
        assert wait_gone(pid, 2)
        assert not pid_path.exists()
    finally:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    log = (tmp_path / 'error.log').read_text()
    for marker in ('AddressSanitizer', 'runtime error:', 'LeakSanitizer'):
        assert marker not in log, log
    # Now the pid file is gone: -s says so clearly.
    r4 = run_bin('-c', conf, '-s', 'quit')
    assert r4.returncode == 1
    assert 'pid file "%s"' % pid_path in r4.stderr and 'is herald running?' in r4.stderr


def test_s_errors_for_stale_pid_file_and_bad_signal(tmp_path):
    conf = write_conf(tmp_path, 'http { server { listen 127.0.0.1:0; } }\n')
    dead = subprocess.Popen(['true'])
    dead.wait()
    (tmp_path / 'herald.pid').write_text('%d\n' % dead.pid)
    r = run_bin('-c', conf, '-s', 'reload')
    assert r.returncode == 1
    assert 'stale pid file "%s" (pid %d): herald is not running' % (
        tmp_path / 'herald.pid', dead.pid) in r.stderr, r.stderr
    # A stale pid file holding a LIVE unrelated pid is still stale (nobody holds its lock):
    # herald must not signal that process.
    (tmp_path / 'herald.pid').write_text('%d\n' % os.getpid())
    r = run_bin('-c', conf, '-s', 'stop')
    assert r.returncode == 1 and 'stale pid file' in r.stderr
    (tmp_path / 'herald.pid').write_text('')
    r = run_bin('-c', conf, '-s', 'stop')
    assert r.returncode == 1 and 'stale pid file' in r.stderr and '(no pid in it)' in r.stderr
    r = run_bin('-c', conf, '-s', 'bogus')
    assert r.returncode == 1 and 'invalid signal "bogus"' in r.stderr


def test_s_signals_a_foreground_server(herald):
    srv = herald('''
        error_log stderr info;
        http { server { listen 127.0.0.1:0; } }
    ''')
    pid_path = os.path.join(srv.tmp, 'herald.pid')
    assert int(open(pid_path).read()) == srv.proc.pid
    # A stale pid file from a crashed run does not stop a new start (tested by the harness
    # start above when the file exists); -s reload/reopen/quit reach the running server.
    for sig, line in (('reload', 'configuration reloaded'), ('reopen', 'logs reopened')):
        r = run_bin('-c', srv.conf_path, '-s', sig)
        assert r.returncode == 0, r.stderr
        assert srv.wait_log(line), srv.log()
    assert run_bin('-c', srv.conf_path, '-s', 'quit').returncode == 0
    srv.proc.wait(timeout=5)
    srv.check_clean()
    assert 'graceful shutdown' in srv.log()
    assert not os.path.exists(pid_path)


def test_start_over_stale_pid_file(herald):
    srv = herald('http { server { listen 127.0.0.1:0; } }', start=False)
    with open(os.path.join(srv.tmp, 'herald.pid'), 'w') as f:
        f.write('%d\n' % os.getpid())     # alive but not locked: left by a crash
    srv.start()
    assert int(open(os.path.join(srv.tmp, 'herald.pid')).read()) == srv.proc.pid


root_only = pytest.mark.skipif(os.geteuid() != 0, reason='privilege drop needs root')


@root_only
def test_user_nobody_drop(herald):
    nobody = pwd.getpwnam('nobody')
    srv = herald('''
        user nobody;
        error_log stderr info;
        http { server { listen 127.0.0.1:0; } }
    ''')
    with open('/proc/%d/status' % srv.proc.pid) as f:
        status = f.read()
    uids = re.search(r'^Uid:\s+(.*)$', status, re.M).group(1).split()
    gids = re.search(r'^Gid:\s+(.*)$', status, re.M).group(1).split()
    groups = re.search(r'^Groups:\s*(.*)$', status, re.M).group(1).split()
    assert set(uids) == {str(nobody.pw_uid)}, uids
    assert set(gids) == {str(nobody.pw_gid)}, gids
    assert groups in ([], [str(nobody.pw_gid)]), groups
    assert srv.get('/')[0] == 404            # serving
    assert 'running as user "nobody"' in srv.log()


@root_only
def test_root_without_user_refuses(tmp_path):
    conf = tmp_path / 'herald.conf'
    conf.write_text('http { server { listen 127.0.0.1:0; } }\n')
    r = run_bin('-c', str(conf))
    assert r.returncode == 1
    assert 'refusing to serve as root' in r.stderr and 'user root' in r.stderr
    # -t checks what a start would check short of binding: the same refusal, not "successful".
    r = run_bin('-c', str(conf), '-t')
    assert r.returncode == 1, r.stderr
    assert 'refusing to serve as root' in r.stderr and 'test failed' in r.stderr
    assert 'successful' not in r.stderr
    conf.write_text('user no_such_user_h5;\nhttp { server { listen 127.0.0.1:0; } }\n')
    r = run_bin('-c', str(conf))
    assert r.returncode == 1 and 'no such user' in r.stderr
    r = run_bin('-c', str(conf), '-t')
    assert r.returncode == 1 and 'no such user' in r.stderr and 'test failed' in r.stderr
    conf.write_text('user root no_such_group_h5;\nhttp { server { listen 127.0.0.1:0; } }\n')
    r = run_bin('-c', str(conf), '-t')
    assert r.returncode == 1 and 'no such group' in r.stderr
    conf.write_text('user root;\nhttp { server { listen 127.0.0.1:0; } }\n')
    r = run_bin('-c', str(conf), '-t')
    assert r.returncode == 0 and 'test is successful' in r.stderr, r.stderr


def test_reload_keeps_the_running_broker_and_says_so(herald):
    """broker and redis_* belong to the process: a reload that changes them keeps the running
    broker (memory, or the Redis it runs on: a publish still answers 201 with no Redis on the
    new address) and warns."""
    port = free_port()
    srv = herald(load_conf(port, 1, 'polling'))
    assert srv.request('POST', '/pub?channel=feed', body='x', port=port)[0] == 201
    n = reload_count(srv)
    conf = open(srv.conf_path).read()
    if re.search(r'^\s*http \{ broker redis;', conf, re.M):  # HERALD_BROKER=redis
        conf = re.sub(r'redis_server [^;]*;', 'redis_server 127.0.0.1:1;', conf, count=1)
    else:
        conf = conf.replace('http {', 'http {\n    broker redis;\n    redis_server 127.0.0.1:1;', 1)
    with open(srv.conf_path, 'w') as f:
        f.write(conf)
    hup_and_wait(srv, n)
    assert 'broker and redis_* changes take effect on restart only' in srv.log(), srv.log()
    assert srv.request('POST', '/pub?channel=feed', body='y', port=port)[0] == 201
