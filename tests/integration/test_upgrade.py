"""Binary upgrade (`herald -s upgrade`, SIGUSR2) against the real binary: the running process
starts the binary found at its own path (replaced here by another copy, as a package upgrade
replaces /usr/sbin/herald) and hands it the listening sockets and the locked pid file over a
Unix socket; no connection attempt is refused meanwhile; the pid file then names the new
process and the old one ends its streams the graceful way and exits. A new binary that fails
(bad config, a script exiting 1, a process killed right after taking the sockets) leaves the
old one serving. The systemd notifications (READY, RELOADING, MAINPID, STOPPING) are read from
a test-owned datagram socket named by NOTIFY_SOCKET.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid

from harness import BIN, memory_broker_only, read_response
from push_clients import id_seq
from test_daemon import Sub, free_port, pid_alive, run_bin, wait_gone, write_conf

CONF = '''
error_log stderr info;
pid {tmp}/herald.pid;
shutdown_timeout 2s;
http {
    access_log off;
    channel c { buffer 10; }
    server {
        listen 127.0.0.1:0;
        root {www};
        location /sse/  { push sse; channel $tail; }
        location = /pub { publish; channel $arg_channel; }
    }
}
'''
FILES = {'www/index.html': 'hi'}


def install(src, path):
    """Puts a copy of src at path as a package upgrade does: a new file renamed over the old
    one, so a process started from path keeps running the old inode."""
    tmp = path + '.new'
    shutil.copyfile(src, tmp)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)


def install_script(path, text):
    tmp = path + '.new'
    with open(tmp, 'w') as f:
        f.write(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)


def read_pid(srv):
    try:
        with open(os.path.join(srv.tmp, 'herald.pid')) as f:
            return int(f.read().strip() or 0)
    except FileNotFoundError:
        return 0


def wait_for(cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError('timed out waiting for ' + what)


class Knocker(threading.Thread):
    """Connects and asks for / in a tight loop (bounded in time and count), counting refusals."""

    def __init__(self, port, limit=4000, seconds=15):
        super().__init__(daemon=True)
        self.port, self.limit, self.seconds = port, limit, seconds
        self.ok = self.refused = self.other = 0
        self.halt = threading.Event()

    def run(self):
        deadline = time.time() + self.seconds
        while not self.halt.is_set() and time.time() < deadline and self.ok < self.limit:
            try:
                s = socket.create_connection(('127.0.0.1', self.port), timeout=2)
            except ConnectionRefusedError:
                self.refused += 1
                continue
            except OSError:
                self.other += 1
                continue
            try:
                s.sendall(b'GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')
                r = read_response(s)
                if r and r[0] == 200:
                    self.ok += 1
                else:
                    self.other += 1   # accepted by the old process as it let go
            except OSError:
                self.other += 1
            finally:
                s.close()
            time.sleep(0.001)


def open_sse(port):
    s = socket.create_connection(('127.0.0.1', port), timeout=5)
    s.sendall(b'GET /sse/c HTTP/1.1\r\nHost: t\r\n\r\n')
    return s


def read_until(sock, needle, timeout=5):
    data = b''
    sock.settimeout(timeout)
    while needle not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def notify_socket(abstract):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = 'herald-test-%s' % uuid.uuid4().hex
    if abstract:
        s.bind('\0' + name)
        return s, '@' + name
    path = '/tmp/%s.sock' % name
    s.bind(path)
    return s, path


def datagram(s, timeout=10):
    s.settimeout(timeout)
    return s.recv(4096).decode()


def stop_new(pid):
    os.kill(pid, signal.SIGTERM)
    assert wait_gone(pid, 10), 'the new process did not exit'


def test_upgrade_hands_the_listeners_to_a_new_build(herald, tmp_path):
    path = str(tmp_path / 'sbin' / 'herald')
    os.makedirs(os.path.dirname(path))
    install(BIN, path)
    note, name = notify_socket(abstract=True)
    srv = herald(CONF, files=FILES, binary=path, env={'NOTIFY_SOCKET': name})
    old = srv.proc.pid
    assert datagram(note) == 'READY=1'
    assert read_pid(srv) == old
    sse = open_sse(srv.port)
    assert b'200 OK' in read_until(sse, b'\r\n\r\n')
    srv.request('POST', '/pub?channel=c', body='one')
    assert b'data: one' in read_until(sse, b'data: one')

    install(BIN, path)               # the path now names another file: the "new build"
    knock = Knocker(srv.port)
    knock.start()
    time.sleep(0.1)
    r = subprocess.run([path, '-c', srv.conf_path, '-s', 'upgrade'], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: read_pid(srv) not in (0, old), 15, 'the pid file to name the new process')
    new = read_pid(srv)
    assert datagram(note) == 'MAINPID=%d' % new
    # The stream moved with its socket: the old process exits, the new one goes on with it.
    assert srv.proc.wait(timeout=10) == 0
    srv.request('POST', '/pub?channel=c', body='two')
    assert b'data: two' in read_until(sse, b'data: two')
    sse.close()
    time.sleep(0.2)
    knock.halt.set()
    knock.join()
    try:
        print('knock: ok %d, other %d, refused %d' % (knock.ok, knock.other, knock.refused))
        assert knock.refused == 0, 'refused %d times (%d served)' % (knock.refused, knock.ok)
        assert knock.ok > 0
        assert pid_alive(new) and not pid_alive(old)
        assert read_pid(srv) == new
        assert srv.get('/')[0] == 200
        log = srv.log()
        assert '%d: upgrade: took over 127.0.0.1:%d' % (new, srv.port) in log
        assert '%d: upgrade: new process %d serves; handed over' % (old, new) in log
        # The stream, and any knock connection open at that moment, moved; none was closed.
        handed = re.search(r'\b%d: upgrade: handed over (\d+) connections? \(0 closed\)' % old, log)
        took = re.search(r'\b%d: upgrade: took over (\d+) connections?\b' % new, log)
        assert handed and took and int(handed.group(1)) == int(took.group(1)) >= 1, log
        note.setblocking(False)
        try:
            extra = note.recv(4096)
        except BlockingIOError:
            extra = None
        assert extra is None, 'the old process told systemd more: %r' % extra
    finally:
        stop_new(new)
    assert datagram(note) == 'STOPPING=1'   # from the new process, now the main one
    note.close()
    wait_for(lambda: read_pid(srv) == 0, 5, 'the pid file to go')
    assert '%d: exiting' % new in srv.log()


def test_upgrade_matches_the_sockets_to_the_new_config(herald):
    """The new process takes the handed sockets of the listens its config keeps, binds the new
    ones and closes the removed ones: once the old process is gone, a connection to a removed
    address is refused, not queued on a socket nobody accepts from. An upgraded process can be
    upgraded again."""
    kept, removed, added = free_port(), free_port(), free_port()
    srv = herald(CONF.replace('listen 127.0.0.1:0;', 'listen 127.0.0.1:%d; listen 127.0.0.1:%d;'
                              % (kept, removed)), files=FILES)
    with open(srv.conf_path) as f:
        text = f.read()
    with open(srv.conf_path, 'w') as f:
        f.write(text.replace('127.0.0.1:%d;' % removed, '127.0.0.1:%d;' % added))
    srv.signal(signal.SIGUSR2)
    assert srv.proc.wait(timeout=15) == 0
    new = read_pid(srv)
    try:
        log = srv.log()
        assert 'upgrade: took over 127.0.0.1:%d' % kept in log, log
        assert 'upgrade: 127.0.0.1:%d is new: bound here' % added in log, log
        assert 'upgrade: 127.0.0.1:%d is no longer configured: closed' % removed in log, log
        assert srv.get('/', port=kept)[0] == 200
        assert srv.get('/', port=added)[0] == 200
        try:
            socket.create_connection(('127.0.0.1', removed), timeout=1).close()
            assert False, 'a connection to the removed listen was accepted'
        except ConnectionRefusedError:
            pass
        # The new process upgrades in turn: it hands over what it took and what it bound, and
        # the pid file it was handed.
        os.kill(new, signal.SIGUSR2)
        wait_for(lambda: read_pid(srv) not in (0, new), 15, 'the pid file to name a third process')
        assert wait_gone(new, 10), 'the second process did not exit'
        new = read_pid(srv)
        assert srv.get('/', port=kept)[0] == 200 and srv.get('/', port=added)[0] == 200
        assert 'upgrade: took over 127.0.0.1:%d' % added in srv.log(), srv.log()
    finally:
        stop_new(new)


def test_failed_upgrades_leave_the_old_process_serving(herald, tmp_path):
    path = str(tmp_path / 'sbin' / 'herald')
    os.makedirs(os.path.dirname(path))
    install(BIN, path)
    srv = herald(CONF, files=FILES, binary=path)
    old = srv.proc.pid
    good_conf = open(srv.conf_path).read()

    def upgrade_fails(n, why, during=None):
        srv.signal(signal.SIGUSR2)
        if during:
            during()
        wait_for(lambda: srv.log().count('upgrade failed, still serving') >= n, 15,
                 'failure %d' % n)
        line = [l for l in srv.log().splitlines() if 'upgrade failed' in l][n - 1]
        assert why in line, line
        assert srv.proc.poll() is None and read_pid(srv) == old
        assert srv.get('/')[0] == 200
        # Publishing paused for the channels' hand-over resumes.
        assert srv.request('POST', '/pub?channel=c', body='after %d' % n)[0] == 201

    # A config the new process refuses (it exits 1 before taking anything).
    with open(srv.conf_path, 'a') as f:
        f.write('bogus_directive on;\n')
    upgrade_fails(1, 'it exited with status 1')
    assert 'unknown directive "bogus_directive"' in srv.log()
    with open(srv.conf_path, 'w') as f:
        f.write(good_conf)
    # A "binary" that exits 1 at once, after noting the descriptors it inherited: stdio and
    # its end of the upgrade socket, none of the old process's sockets, files or pipes.
    fds_path = os.path.join(srv.tmp, 'fds')
    install_script(path, '''#!/usr/bin/python3
import json
import os
fds = []
for fd in range(4096):
    try:
        os.fstat(fd)
    except OSError:
        continue
    fds.append(fd)
with open(%r, 'w') as f:
    f.write('%%s %%s' %% (os.environ['HERALD_UPGRADE_FD'], fds))
raise SystemExit(1)
''' % fds_path)
    upgrade_fails(2, 'it exited with status 1')
    with open(fds_path) as f:
        channel, inherited = f.read().split(' ', 1)
    assert inherited == str([0, 1, 2, int(channel)]), inherited
    # A process that takes the sockets and is killed before it confirms: its copies go with
    # it, ours stay open, so no connection is refused meanwhile. While it holds them (it waits
    # for the test to create `go`), a second upgrade is refused.
    go = os.path.join(srv.tmp, 'go')
    install_script(path, '''#!/usr/bin/python3
import os, signal, socket, time
s = socket.socket(fileno=int(os.environ['HERALD_UPGRADE_FD']))
data, fds, _, _ = socket.recv_fds(s, 65536, 256)
assert fds
for _ in range(1000):   # at most 10 s
    if os.path.exists(%r):
        break
    time.sleep(0.01)
os.kill(os.getpid(), signal.SIGKILL)
''' % go)
    knock = Knocker(srv.port, seconds=10)
    knock.start()

    def second_upgrade():
        wait_for(lambda: srv.log().count('upgrade: starting') == 3, 5, 'the third upgrade')
        srv.signal(signal.SIGUSR2)
        assert srv.wait_log(r'upgrade refused: one is running \(new process \d+\)')
        open(go, 'w').close()

    upgrade_fails(3, 'it was killed by signal 9', during=second_upgrade)
    knock.halt.set()
    knock.join()
    assert knock.refused == 0 and knock.ok > 0
    # Still a working master: a reload applies.
    srv.signal(signal.SIGHUP)
    assert srv.wait_log('configuration reloaded')


def test_s_upgrade_without_a_running_server(tmp_path):
    conf = write_conf(tmp_path, 'pid %s/h.pid;\nhttp { server { listen 127.0.0.1:0; } }\n'
                      % tmp_path)
    r = run_bin('-c', conf, '-s', 'upgrade')
    assert r.returncode == 1
    assert 'h.pid" failed' in r.stderr and 'is herald running?' in r.stderr, r.stderr


def test_notify_socket_datagrams(herald):
    note, name = notify_socket(abstract=False)
    try:
        srv = herald(CONF, files=FILES, env={'NOTIFY_SOCKET': name})
        assert datagram(note) == 'READY=1'
        srv.signal(signal.SIGHUP)
        reloading = datagram(note).split('\n')
        assert reloading[0] == 'RELOADING=1' and reloading[1].startswith('MONOTONIC_USEC=')
        assert int(reloading[1].split('=')[1]) > 0
        assert datagram(note) == 'READY=1'
        with open(srv.conf_path, 'a') as f:
            f.write('bogus_directive on;\n')
        srv.signal(signal.SIGHUP)         # rejected: systemd still hears that it is done
        assert datagram(note).startswith('RELOADING=1\n')
        assert datagram(note) == 'READY=1'
        srv.signal(signal.SIGQUIT)
        assert datagram(note) == 'STOPPING=1'
        assert srv.proc.wait(timeout=10) == 0
    finally:
        note.close()
        os.unlink(name)


CHANNELS_CONF = '''
error_log stderr info;
pid {tmp}/herald.pid;
shutdown_timeout 2s;
http {
    access_log off;
    channel_autocreate on;
    channel c { buffer 500; }
    server {
        listen 127.0.0.1:0;
        root {www};
        location /sse/  { push sse; channel $tail; }
        location = /pub { publish; channel $arg_channel; }
    }
}
'''


class Publisher(threading.Thread):
    """POSTs p0, p1, ... to /pub?channel=c, each on a new connection, about 20 a second,
    retrying one that is answered 503 (with Retry-After) until it is stored: records each
    message's id and every 503 seen. Bounded in time and count."""

    def __init__(self, srv, count=120, seconds=30):
        super().__init__(daemon=True)
        self.srv, self.count, self.seconds = srv, count, seconds
        self.ids, self.paused, self.errors = [], 0, []

    def run(self):
        deadline = time.time() + self.seconds
        for n in range(self.count):
            while time.time() < deadline:
                try:
                    status, headers, body = self.srv.request('POST', '/pub?channel=c',
                                                             body='p%d' % n)
                except OSError as e:
                    self.errors.append(repr(e))
                    time.sleep(0.05)
                    continue
                if status == 201:
                    self.ids.append(json.loads(body)['id'])
                    break
                if status == 503 and headers.get('retry-after') == '1':
                    self.paused += 1
                    time.sleep(0.02)
                    continue
                self.errors.append('%d %r' % (status, body))
                return
            time.sleep(0.05)


def upgrade_to_a_copy(srv, path, old):
    """Installs another copy of the binary at path, signals the upgrade and waits until the
    pid file names the new process: its pid."""
    install(BIN, path)
    srv.signal(signal.SIGUSR2)
    wait_for(lambda: read_pid(srv) not in (0, old), 15, 'the pid file to name the new process')
    return read_pid(srv)


def test_upgrade_moves_the_channels(herald, tmp_path):
    """With the memory broker the channels move to the new process: their lives, ids and
    buffers continue, publishing pauses (503 + Retry-After: 1) from their snapshot until the
    new process serves, a subscriber of the old process moves with its connection and gets
    every message exactly once, and one that resumes on the new process from an id seen on
    the old one gets the rest with no missed signal. (With the Redis broker they stay in
    Redis: the same holds.)"""
    path = str(tmp_path / 'sbin' / 'herald')
    os.makedirs(os.path.dirname(path))
    install(BIN, path)
    srv = herald(CHANNELS_CONF, files=FILES, binary=path)
    old = srv.proc.pid
    redis = 'broker redis' in open(srv.conf_path).read()
    for body in ('a1', 'a2'):
        assert srv.request('POST', '/pub?channel=auto1', body=body)[0] == 201
    auto_before = json.loads(srv.get('/pub?channel=auto1')[2])
    sub = Sub('sse', srv.port, '/sse/c')
    sub.sock.setblocking(True)
    sub.read_until(lambda s: s.head is not None)

    pub = Publisher(srv)
    pub.start()
    wait_for(lambda: len(pub.ids) >= 20, 15, '20 messages before the upgrade')
    new = upgrade_to_a_copy(srv, path, old)
    try:
        # The stream moves to the new process with its socket while the publisher goes on.
        assert srv.proc.wait(timeout=10) == 0
        pub.join(60)
        assert not pub.is_alive() and not pub.errors, pub.errors
        assert len(pub.ids) == pub.count
        epoch = pub.ids[0].split('-')[0]
        assert [i.split('-')[0] for i in pub.ids] == [epoch] * pub.count, 'one life throughout'
        seqs = [id_seq(i) for i in pub.ids]
        assert seqs == list(range(seqs[0], seqs[0] + pub.count)), 'ids continue, none skipped'
        sub.read_until(lambda s: s.ids and s.ids[-1] == seqs[-1], timeout=10)
        sub.sock.close()
        assert not sub.ended and not sub.events, sub.events
        assert sub.ids == seqs, 'every message once, in order, on the moved stream'
        # A client that resumes on the new process from an id it saw on the old one.
        half = seqs[len(seqs) // 2]
        again = Sub('sse', srv.port, '/sse/c?since=%s-%d' % (epoch, half))
        again.sock.setblocking(True)
        again.read_until(lambda s: s.ids and s.ids[-1] == seqs[-1], timeout=10)
        again.sock.close()
        assert not again.events, again.events   # no herald-missed
        assert again.ids == seqs[len(seqs) // 2 + 1:], 'the rest once, in order, after the upgrade'
        auto_after = json.loads(srv.get('/pub?channel=auto1')[2])
        assert auto_after['last_id'] == auto_before['last_id'], (auto_before, auto_after)
        log = srv.log()
        if not redis:
            assert '%d: upgrade: handing over 2 channels with' % old in log
            assert '%d: upgrade: took over 2 channels with' % new in log
    finally:
        stop_new(new)


@memory_broker_only("the channels a node hands over are the memory broker's; Redis keeps its own")
def test_upgrade_takes_only_the_channels_its_config_allows(herald, tmp_path):
    """A handed channel that the new config neither declares nor would autocreate is not taken,
    as on a reload: the new process answers 404 for it and logs why; the declared one is taken."""
    path = str(tmp_path / 'sbin' / 'herald')
    os.makedirs(os.path.dirname(path))
    install(BIN, path)
    srv = herald(CHANNELS_CONF, files=FILES, binary=path)
    old = srv.proc.pid
    assert srv.request('POST', '/pub?channel=auto1', body='x')[0] == 201
    assert srv.request('POST', '/pub?channel=c', body='y')[0] == 201
    with open(srv.conf_path) as f:
        text = f.read()
    with open(srv.conf_path, 'w') as f:
        f.write(text.replace('channel_autocreate on;', ''))
    new = upgrade_to_a_copy(srv, path, old)
    try:
        assert srv.proc.wait(timeout=10) == 0
        assert srv.get('/pub?channel=auto1')[0] == 404
        assert json.loads(srv.get('/pub?channel=c')[2])['published'] == 1
        log = srv.log()
        assert '%d: upgrade: channel "auto1" not taken: channel not found' % new in log, log
        assert '%d: upgrade: took over 1 channel with 1 buffered message' % new in log, log
    finally:
        stop_new(new)
