"""The Debian package end to end, as root on this machine: `make deb`, lintian (no
errors), `dpkg -i`, start herald the way herald.service does (systemd is absent in CI: the
ExecStartPre and ExecStart lines are run by hand), the demo page and a pub/sub round trip, an
edit of the conffile applied with `herald -s reload` while a subscriber stays connected, log
rotation (the logrotate postrotate script), conffile semantics on reinstall, stop, and
`dpkg --purge` leaving nothing behind. `systemd-analyze verify` runs when it is installed.

It needs root (dpkg); as another user it fails and says so, unless HERALD_SKIP_PACKAGE_TEST=1.
It runs once per `make test`, in the epoll pass: the kqueue pass (HERALD_BACKEND=kqueue) skips
it, since the package holds the epoll build, and so does the ThreadSanitizer pass
(HERALD_TSAN=1), whose build is not the packaged one (it ran there too, for nothing, until
session 10).
"""
import fcntl
import http.client
import json
import os
import pwd
import grp
import re
import shlex
import shutil
import socket
import subprocess
import time

import pytest

from harness import ROOT
from push_clients import id_seq
from test_daemon import Sub

CONF = '/etc/herald/herald.conf'
PORT = 8080


def sh(*args, check=True, timeout=120, **kw):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL, **kw)
    if check and r.returncode != 0:
        raise AssertionError('%s -> %d\n%s\n%s' % (' '.join(args), r.returncode, r.stdout,
                                                    r.stderr))
    return r


def pkg_status():
    r = sh('dpkg-query', '-W', '-f=${Status}', 'herald', check=False)
    return r.stdout.split()[-1] if r.returncode == 0 and r.stdout.split() else 'not-installed'


def installed():
    return pkg_status() == 'installed'


def purge():
    sh('dpkg', '--purge', 'herald', check=False)


def port_open(port):
    try:
        socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
        return True
    except OSError:
        return False


def get(path, port=PORT, method='GET', body=None):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
    c.request(method, path, body=body)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data


def unit_lines(unit_text, key):
    return [line.split('=', 1)[1] for line in unit_text.splitlines() if line.startswith(key + '=')]


def wait_for(pred, timeout=5, what=''):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    assert pred(), 'timed out waiting for ' + what


@pytest.fixture
def root_machine():
    if os.environ.get('HERALD_BACKEND') or os.environ.get('HERALD_TSAN'):
        pytest.skip('the package test runs once, in the epoll pass of make test')
    if os.geteuid() != 0:
        if os.environ.get('HERALD_SKIP_PACKAGE_TEST') == '1':
            pytest.skip('HERALD_SKIP_PACKAGE_TEST=1: the .deb test needs root')
        pytest.fail('test_package needs root: it runs dpkg -i/--purge on this machine (CI runs '
                    'as root). Run make test as root, or set HERALD_SKIP_PACKAGE_TEST=1 to skip '
                    'it knowingly.', pytrace=False)
    # One package test per machine at a time (several checkouts may run their suites at once):
    # it builds into the tree, installs system-wide and listens on the packaged port.
    with open('/tmp/herald-package-test.lock', 'w') as lock:
        deadline = time.time() + 900
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.time() < deadline, 'another package test holds the lock'
                time.sleep(0.5)
        if pkg_status() != 'not-installed':
            purge()   # a herald package left by an earlier run or by hand
        assert not port_open(PORT), 'port %d is busy: the packaged config listens there' % PORT
        try:
            yield
        finally:
            purge()


def ensure_package(name):
    """The .deb depends on adduser (postinst); minimal images may lack it."""
    r = sh('dpkg-query', '-W', '-f=${Status}', name, check=False)
    if r.returncode == 0 and r.stdout.endswith(' installed'):
        return
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    sh('apt-get', 'update', '-qq', env=env, timeout=600)
    sh('apt-get', 'install', '-y', '-qq', '--no-install-recommends', name, env=env, timeout=600)


def build_deb():
    # `make deb` installs dpkg-dev, fakeroot and lintian (tools/deps.sh deb) and is
    # incremental; niced so that a cold compile does not starve the tests running beside it.
    r = sh('nice', '-n', '15', 'make', '--no-print-directory', '-j2', 'deb', cwd=ROOT,
           timeout=900)
    deb = r.stdout.strip().splitlines()[-1]
    assert re.search(r'/herald_[0-9][^_/]*_[a-z0-9]+\.deb$', deb), r.stdout
    version = re.search(r'#define HERALD_VERSION "([^"]+)"',
                        open(os.path.join(ROOT, 'include/app/version.hpp')).read()).group(1)
    arch = sh('dpkg', '--print-architecture').stdout.strip()
    assert os.path.basename(deb) == 'herald_%s_%s.deb' % (version, arch)
    return deb, version


def lintian(deb):
    if not shutil.which('lintian'):
        pytest.fail('lintian is missing: tools/deps.sh deb installs it', pytrace=False)
    r = sh('lintian', '--pedantic', '--display-info', deb, check=False, timeout=300)
    tags = [line for line in r.stdout.splitlines() if re.match(r'^[EWIPX]: ', line)]
    errors = [t for t in tags if t.startswith('E:')]
    assert not errors, 'lintian errors:\n' + '\n'.join(tags)
    return tags


def gone(pid):
    """The process has exited (a zombie no one reaps yet counts: it is no longer ours)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except FileNotFoundError:
        return True


def repack(deb, version, workdir):
    """The same package with another version: a "newer" build to upgrade to."""
    tree = os.path.join(workdir, 'tree')
    shutil.rmtree(tree, ignore_errors=True)
    sh('dpkg-deb', '-R', deb, tree)
    control = os.path.join(tree, 'DEBIAN', 'control')
    text = re.sub(r'^Version: .*$', 'Version: ' + version, open(control).read(), flags=re.M)
    with open(control, 'w') as f:
        f.write(text)
    out = os.path.join(workdir, 'herald_%s.deb' % version)
    sh('dpkg-deb', '--root-owner-group', '-b', tree, out)
    return out


def start_like_the_unit(unit_text):
    pre = unit_lines(unit_text, 'ExecStartPre')
    start = unit_lines(unit_text, 'ExecStart')
    assert pre and start, unit_text
    assert shlex.split(pre[0]) == ['/usr/sbin/herald', '-t', '-q', '-c', CONF]
    r = sh(*shlex.split(pre[0]))
    assert r.stdout == '' and r.stderr == '', r   # -q: quiet when valid
    proc = subprocess.Popen(shlex.split(start[0]), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    wait_for(lambda: port_open(PORT) or proc.poll() is not None, 10, 'port %d' % PORT)
    assert proc.poll() is None, proc.stdout.read()
    return proc


def test_deb_installs_runs_reloads_and_purges(root_machine, tmp_path):
    deb, version = build_deb()
    tags = lintian(deb)
    print('lintian:', *tags, sep='\n  ')

    ensure_package('adduser')
    sh('dpkg', '-i', deb)
    assert installed()
    if os.path.isdir('/run/systemd/system'):       # a real systemd started it: take over
        sh('systemctl', 'stop', 'herald.service', check=False)
    assert sh('/usr/sbin/herald', '-v').stdout.strip() == 'herald version ' + version
    conffiles = sh('dpkg-query', '-W', '-f=${Conffiles}', 'herald').stdout
    for f in (CONF, '/etc/herald/mime.types', '/etc/logrotate.d/herald'):
        assert f in conffiles, conffiles
    files = sh('dpkg', '-L', 'herald').stdout.split()
    unit_path = [f for f in files if f.endswith('/systemd/system/herald.service')][0]
    for f in ('/usr/sbin/herald', '/usr/share/herald/www/index.html',
              '/usr/share/herald/grafana-herald.json',
              '/usr/share/man/man8/herald.8.gz', '/usr/share/man/man5/herald.conf.5.gz'):
        assert f in files, f
    herald_user = pwd.getpwnam('herald')
    assert herald_user.pw_uid < 1000 and herald_user.pw_shell.endswith('nologin')
    assert os.path.isdir('/var/log/herald')
    unit_text = open(unit_path).read()
    assert 'Restart=on-failure' in unit_text and 'ExecReload=/bin/kill -HUP $MAINPID' in unit_text
    if shutil.which('systemd-analyze'):
        r = sh('systemd-analyze', 'verify', unit_path, check=False)
        assert r.returncode == 0 and 'herald.service' not in r.stderr, r.stderr

    proc = start_like_the_unit(unit_text)
    sub = None
    try:
        # The port answers as soon as it is bound, which is before the privilege drop.
        wait_for(lambda: b' started' in open('/var/log/herald/error.log', 'rb').read(), 5,
                 'the "started" line')
        with open('/proc/%d/status' % proc.pid) as f:
            uids = re.search(r'^Uid:\s+(.*)$', f.read(), re.M).group(1).split()
        assert uids == [str(herald_user.pw_uid)] * 4, uids      # `user herald` applied
        assert int(open('/run/herald.pid').read()) == proc.pid

        status, headers, body = get('/')
        assert status == 200 and headers['content-type'].startswith('text/html')
        assert b'<html' in body.lower()
        assert get('/herald.js')[0] == 200

        # Pub/sub round trip: an SSE subscriber on the demo route gets what /pub publishes.
        sub = Sub('sse', PORT, '/sse/chat')
        sub.sock.setblocking(True)
        sub.read_until(lambda s: s.head is not None)
        assert sub.status == 200
        time.sleep(0.1)
        status, _, body = get('/pub?channel=chat', method='POST', body='hello from dpkg')
        assert status == 201, body
        first = id_seq(json.loads(body)['id'])
        sub.read_until(lambda s: first in s.ids)
        assert b'data: hello from dpkg' in sub.text

        # Edit the conffile, reload through the pid file with the default config path.
        assert get('/pkgtest')[0] == 404
        text = open(CONF).read()
        edited = text.replace('location = /status', 'location = /pkgtest { push polling; '
                              'channel chat; }\n        location = /status', 1)
        assert edited != text
        with open(CONF, 'w') as f:
            f.write(edited)
        sh('/usr/sbin/herald', '-s', 'reload')
        wait_for(lambda: get('/pkgtest')[0] == 200, 5, 'the reloaded route')
        assert get('/pkgtest')[2] == b'hello from dpkg'
        status, _, body = get('/pub?channel=chat', method='POST', body='after reload')
        sub.read_until(lambda s: first + 1 in s.ids)            # still connected
        assert sub.alive()

        # Rotation as logrotate does it: move, create (herald's files), then its postrotate.
        rotate = open('/etc/logrotate.d/herald').read()
        post = rotate.split('postrotate', 1)[1].split('endscript', 1)[0]
        for name in ('error.log', 'access.log'):
            p = '/var/log/herald/' + name
            os.rename(p, p + '.1')
            sh('install', '-o', 'herald', '-g', 'adm', '-m', '0640', '/dev/null', p)
        sh('sh', '-ec', post)
        wait_for(lambda: b'logs reopened' in open('/var/log/herald/error.log', 'rb').read(),
                 5, 'the reopened error log')
        # Each worker reopens its access log when it next runs (after the master's "logs
        # reopened"): a request served just before that is logged in the old file.
        def logged_in_new_file():
            get('/index.html?rotated')
            return b'?rotated' in open('/var/log/herald/access.log', 'rb').read()
        wait_for(logged_in_new_file, 5, 'the reopened access log')
        assert b'/pkgtest' in open('/var/log/herald/access.log.1', 'rb').read()

        # Conffile semantics: reinstalling keeps the administrator's edit.
        sh('dpkg', '-i', deb)
        assert open(CONF).read() == edited
        assert get('/pkgtest')[0] == 200                        # and herald kept running

        # A newer package over the running server, then the binary upgrade its unit documents
        # (`systemctl kill -s USR2`, here `herald -s upgrade`): the binary at /usr/sbin/herald
        # takes over, the pid file names it, the old process exits 0, the chat channel
        # continues (ids go on) and the subscriber keeps its connection: "apt upgrade" drops
        # nobody.
        newer = repack(deb, version + '+1', str(tmp_path))
        sh('dpkg', '-i', newer)
        assert sh('dpkg-query', '-W', '-f=${Version}', 'herald').stdout == version + '+1'
        last = json.loads(body)['id']
        sh('/usr/sbin/herald', '-s', 'upgrade')
        wait_for(lambda: open('/run/herald.pid').read().strip() not in ('', str(proc.pid)), 15,
                 'the pid file to name the new process')
        server_pid = int(open('/run/herald.pid').read())
        assert proc.wait(timeout=10) == 0
        status, _, body = get('/pub?channel=chat', method='POST', body='after upgrade')
        assert status == 201, body
        now = json.loads(body)['id']
        assert now.split('-')[0] == last.split('-')[0] and id_seq(now) == id_seq(last) + 1, (last, now)
        sub.read_until(lambda s: id_seq(now) in s.ids or s.ended or s.eof)
        assert not sub.ended and not sub.eof and sub.alive(), 'the subscriber was cut'
        assert b'data: after upgrade' in sub.text and not sub.events, sub.events
        assert sub.ids[-2:] == [id_seq(last), id_seq(now)], sub.ids
        sub.sock.close()
        assert get('/pkgtest')[0] == 200
        log = open('/var/log/herald/error.log').read()
        assert 'upgrade: took over 2 channels with' in log, log   # clock and chat

        # stop = TERM through the pid file: exit 0 within a second.
        t0 = time.time()
        sh('/usr/sbin/herald', '-s', 'stop')
        wait_for(lambda: gone(server_pid), 5, 'the new process to exit')
        assert time.time() - t0 < 1.5
        assert not port_open(PORT)
        r = sh('/usr/sbin/herald', '-s', 'reload', check=False)
        assert r.returncode == 1 and 'not running' in r.stderr + r.stdout, r
    finally:
        if sub is not None:
            sub.sock.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        output = proc.stdout.read().decode(errors='replace')
    assert 'error' not in output.lower(), output

    sh('dpkg', '--purge', 'herald')
    assert pkg_status() == 'not-installed'
    leftovers = [p for p in ('/etc/herald', '/usr/sbin/herald', '/usr/share/herald',
                             '/usr/share/doc/herald', '/etc/logrotate.d/herald', unit_path,
                             '/var/log/herald', '/run/herald.pid',
                             '/etc/systemd/system/multi-user.target.wants/herald.service',
                             '/usr/share/man/man8/herald.8.gz')
                 if os.path.lexists(p)]
    state = '/var/lib/systemd/deb-systemd-helper-enabled'
    if os.path.isdir(state):
        leftovers += [os.path.join(d, f) for d, _, fs in os.walk(state) for f in fs
                      if 'herald' in f]
    assert not leftovers, leftovers
    with pytest.raises(KeyError):
        pwd.getpwnam('herald')
    with pytest.raises(KeyError):
        grp.getgrnam('herald')
