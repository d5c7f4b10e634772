"""Helpers for the hostile-peer and fault tests: file-descriptor limits, process
figures read from /proc (RSS, CPU time), the /status counters, resets (RST), many non-blocking
sockets at once, latency percentiles, and PROXY protocol v2 headers. Protocol clients live in
push_clients.py; these are only what the resource tests add on top.
"""
import json
import os
import resource
import socket
import struct
import time

from push_clients import build_request, ws_key

CLK_TCK = os.sysconf('SC_CLK_TCK')
V2_SIG = b'\r\n\r\n\x00\r\nQUIT\n'  # the PROXY protocol v2 signature
PAGE = os.sysconf('SC_PAGE_SIZE')


def raise_nofile():
    """Raises this process's soft fd limit to the hard limit (the children it starts, herald
    included, inherit it). Returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rss_bytes(pid):
    """Resident set size of a process (VmRSS of /proc/PID/status)."""
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) * 1024
    raise AssertionError('no VmRSS for pid %d' % pid)


def cpu_seconds(pid):
    """User + system CPU time a process has used (/proc/PID/stat fields 14 and 15)."""
    with open('/proc/%d/stat' % pid) as f:
        stat = f.read()
    fields = stat[stat.rindex(')') + 2:].split()  # after "pid (comm) "; comm may hold spaces
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status(srv, timeout=5):
    """The /status counters as a dict (the location must be `location = /status { status; }`)."""
    code, _, body = srv.get('/status', timeout=timeout)
    assert code == 200, code
    return json.loads(body)


def wait_connections(srv, want=1, timeout=10):
    """Polls /status until `connections` is `want` (1 = only the status request itself).
    Returns the last figures seen; the caller asserts on them."""
    deadline = time.monotonic() + timeout
    while True:
        st = status(srv)
        if st['connections'] == want or time.monotonic() > deadline:
            return st
        time.sleep(0.05)


def reset(sock):
    """Closes with RST instead of FIN (SO_LINGER on with a zero timeout)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    except OSError:
        pass
    sock.close()


def open_socket(port, rcvbuf=None, blocking=True, timeout=5):
    """A connected TCP socket to 127.0.0.1:port; rcvbuf is set before connect() so the
    advertised window is small from the first segment."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect(('127.0.0.1', port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.setblocking(blocking)
    return s


def ws_upgrade(path):
    """The bytes of a WebSocket opening handshake for path."""
    return build_request('GET', path, headers={
        'Upgrade': 'websocket', 'Connection': 'Upgrade', 'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': ws_key()})


def read_head(sock, timeout=5):
    """Reads one response head from a blocking socket (byte-exact: stops at CRLFCRLF, so what
    follows stays in the kernel for the caller). Returns (status, raw head)."""
    sock.settimeout(timeout)
    head = b''
    while not head.endswith(b'\r\n\r\n'):
        b = sock.recv(1)
        if not b:
            raise EOFError('closed after %r' % head)
        head += b
    return int(head.split(b' ', 2)[1]), head


def drain_to_eof(sock, timeout=5, limit=1 << 30):
    """Reads until EOF or reset; returns (bytes read, how: 'eof' | 'reset' | 'timeout')."""
    sock.settimeout(timeout)
    got = bytearray()
    try:
        while len(got) < limit:
            b = sock.recv(1 << 16)
            if not b:
                return bytes(got), 'eof'
            got += b
    except ConnectionResetError:
        return bytes(got), 'reset'
    except socket.timeout:
        return bytes(got), 'timeout'
    return bytes(got), 'limit'


def ws_frames(data):
    """Parses server frames (unmasked) from bytes: ([(opcode, payload)], leftover bytes)."""
    frames = []
    i = 0
    n = len(data)
    while i + 2 <= n:
        b0, b1 = data[i], data[i + 1]
        ln = b1 & 0x7f
        j = i + 2
        if ln == 126:
            if j + 2 > n:
                break
            ln = struct.unpack_from('!H', data, j)[0]
            j += 2
        elif ln == 127:
            if j + 8 > n:
                break
            ln = struct.unpack_from('!Q', data, j)[0]
            j += 8
        if j + ln > n:
            break
        frames.append((b0 & 0x0f, bytes(data[j:j + ln])))
        i = j + ln
    return frames, bytes(data[i:])


def dechunk(data):
    """Decodes a chunked body prefix: (payload bytes, ended: terminating chunk seen)."""
    out = bytearray()
    i = 0
    while True:
        j = data.find(b'\r\n', i)
        if j < 0:
            return bytes(out), False
        size = int(data[i:j].split(b';')[0], 16)
        if size == 0:
            return bytes(out), True
        if j + 2 + size + 2 > len(data):
            return bytes(out), False
        out += data[j + 2:j + 2 + size]
        i = j + 4 + size


def percentile(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * p / 100.0))]


def release_binary():
    """The optimised, unsanitized herald for the one test that must run herald out of fds:
    HERALD_RELEASE_BIN, else ./herald (`make herald`) if no source is newer than it.
    Returns (path or None, why not)."""
    from harness import ROOT
    path = os.environ.get('HERALD_RELEASE_BIN')
    if path:
        if os.access(path, os.X_OK):
            return path, ''
        return None, 'HERALD_RELEASE_BIN=%s is not executable' % path
    path = os.path.join(ROOT, 'herald')
    if not os.access(path, os.X_OK):
        return None, './herald is missing (make herald)'
    built = os.path.getmtime(path)
    for top in ('src', 'include'):
        for folder, _, names in os.walk(os.path.join(ROOT, top)):
            for name in names:
                if os.path.getmtime(os.path.join(folder, name)) > built:
                    return None, './herald is older than %s (make herald)' % name
    return path, ''


def v2_inet(src, dst='127.0.0.1', sport=40000, dport=80, tlvs=b''):
    """A PROXY protocol v2 header: PROXY over TCP/IPv4 from src:sport to dst:dport."""
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('>HH', sport, dport) + tlvs
    return V2_SIG + b'\x21\x11' + struct.pack('>H', len(body)) + body


def v2_inet6(src, dst, sport, dport):
    """A PROXY protocol v2 header: PROXY over TCP/IPv6."""
    body = (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst) +
            struct.pack('>HH', sport, dport))
    return V2_SIG + b'\x21\x21' + struct.pack('>H', len(body)) + body
