"""A redis-server started by the tests (no persistence, loopback, a free port that stays the same
across restarts) and a minimal RESP client for setting it up and inspecting it."""
import os
import shutil
import signal
import socket
import subprocess
import time


class RedisError(Exception):
    pass


def _resp_encode(args):
    out = [b'*%d\r\n' % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b'$%d\r\n%s\r\n' % (len(a), a))
    return b''.join(out)


def _resp_read(f):
    line = f.readline()
    if not line.endswith(b'\r\n'):
        raise EOFError('redis closed the connection')
    kind, rest = line[:1], line[1:-2]
    if kind == b'+':
        return rest.decode()
    if kind == b'-':
        raise RedisError(rest.decode())
    if kind == b':':
        return int(rest)
    if kind == b'$':
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2]
    if kind == b'*':
        n = int(rest)
        return None if n < 0 else [_resp_read(f) for _ in range(n)]
    raise RedisError('unexpected reply %r' % line)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class RedisServer:
    """One redis-server (no persistence) on a loopback port that stays the same across
    restarts. cmd() speaks RESP over a fresh connection."""

    def __init__(self, folder):
        self.dir = str(folder)
        self.port = free_port()
        self.proc = None

    def options(self):
        """redis-server's command-line options (a subclass adds its own)."""
        return ['--port', str(self.port), '--bind', '127.0.0.1', '--save', '',
                '--appendonly', 'no', '--daemonize', 'no', '--dir', self.dir,
                '--logfile', os.path.join(self.dir, 'redis.log')]

    def start(self, timeout=10):
        exe = shutil.which('redis-server')
        assert exe, 'redis-server not found: install redis-server (tools/deps.sh test)'
        self.proc = subprocess.Popen(
            [exe] + self.options(),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, 'redis-server exited: ' + self.log()
            try:
                if self.cmd('PING', timeout=0.5) == 'PONG':
                    return self
            except (OSError, EOFError, RedisError):
                pass
            time.sleep(0.02)
        raise AssertionError('redis-server did not answer PING: ' + self.log())

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.alive():
            self.proc.send_signal(signal.SIGCONT)  # in case a test left it stopped
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()

    def stop(self, timeout=5):
        """Ends it gracefully (SIGTERM), SIGKILL if it does not exit in time."""
        if self.alive():
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def log(self):
        try:
            with open(os.path.join(self.dir, 'redis.log')) as f:
                return f.read()[-2000:]
        except OSError:
            return ''

    def cmd(self, *args, timeout=3):
        with socket.create_connection(('127.0.0.1', self.port), timeout=timeout) as s:
            s.sendall(_resp_encode(args))
            with s.makefile('rb') as f:
                return _resp_read(f)
