"""Command line: -t, -v, -h, bad options, config errors with FILE:LINE:COL."""
import os
import subprocess

from harness import BIN, ROOT


def run(*args, cwd=None):
    return subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=20, cwd=cwd)


def test_t_on_shipped_config():
    r = run('-t', '-c', os.path.join(ROOT, 'conf', 'herald.conf'))
    assert r.returncode == 0, r.stderr
    assert 'configuration file %s test is successful' % os.path.join(ROOT, 'conf', 'herald.conf') \
        in r.stderr


def test_t_reports_file_line_column(tmp_path):
    conf = tmp_path / 'bad.conf'
    conf.write_text('events {\n}\nhttp {\n    server {\n        lisen 127.0.0.1:0;\n    }\n}\n')
    r = run('-t', '-c', str(conf))
    assert r.returncode == 1
    assert '%s:5:9: unknown directive "lisen"' % conf in r.stderr


def test_t_reports_broker_redis_without_server(tmp_path):
    conf = tmp_path / 'bad.conf'
    conf.write_text('http {\n    broker redis;\n    redis_prefix app:;\n}\n')
    r = run('-t', '-c', str(conf))
    assert r.returncode == 1
    assert '%s:2:5: "broker redis" requires a "redis_server"' % conf in r.stderr, r.stderr
    conf.write_text('user root;\nhttp {\n    broker redis;\n    redis_server 127.0.0.1:6379;\n}\n')
    r = run('-t', '-c', str(conf))
    assert r.returncode == 0, r.stderr


def test_t_takes_redis_cluster_seeds_and_refuses_a_duplicate(tmp_path):
    conf = tmp_path / 'cluster.conf'
    seeds = ''.join('    redis_server 127.0.0.1:%d;\n' % p for p in (7000, 7001, 7002))
    conf.write_text('user root;\nhttp {\n    broker redis;\n' + seeds + '}\n')
    r = run('-t', '-c', str(conf))
    assert r.returncode == 0, r.stderr
    conf.write_text('user root;\nhttp {\n    broker redis;\n' + seeds +
                    '    redis_server 127.0.0.1:7001;\n}\n')
    r = run('-t', '-c', str(conf))
    assert r.returncode == 1
    assert '%s:7:5: "redis_server" 127.0.0.1:7001 is duplicate' % conf in r.stderr, r.stderr


def test_t_reports_errors_in_included_files(tmp_path):
    (tmp_path / 'inc').mkdir()
    (tmp_path / 'inc' / 'a.conf').write_text('server {\n  listen 127.0.0.1:0\n}\n')
    conf = tmp_path / 'main.conf'
    conf.write_text('http {\n  include inc/*.conf;\n}\n')
    r = run('-t', '-c', str(conf))
    assert r.returncode == 1
    assert str(tmp_path / 'inc' / 'a.conf') + ':3:' in r.stderr, r.stderr


def test_missing_config_file(tmp_path):
    r = run('-t', '-c', str(tmp_path / 'nope.conf'))
    assert r.returncode == 1 and 'nope.conf' in r.stderr


def test_version_and_help():
    r = run('-v')
    assert r.returncode == 0 and r.stdout.startswith('herald version ')
    r = run('-h')
    assert r.returncode == 0 and 'Usage: herald' in r.stdout
    r = run('--bogus')
    assert r.returncode == 1 and 'invalid option' in r.stderr


def test_default_config_is_relative_to_cwd():
    r = run('-t', cwd=ROOT)
    assert r.returncode == 0, r.stderr
