"""Round trips of herald's DEFLATE (RFC 1951) against an independent implementation: Python's
zlib with raw deflate (wbits -15), in both directions, over a corpus (empty, 1 byte, text,
JSON, random, 1 MiB, long repeats, matches at the window edge), through build/tools/deflate_tool
(the module on stdin/stdout, built with ASan+UBSan). zlib's streams are also fed to herald's
inflater in pieces, and the output limit is checked on a small bomb.

Pure code, independent of the reactor backend: the kqueue run of the suite skips it.
"""
import fcntl
import json
import os
import random
import subprocess
import zlib

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.normpath(os.path.join(HERE, '..', '..'))
TOOL = os.path.join(TOP, 'build', 'tools', 'deflate_tool')

pytestmark = pytest.mark.skipif(os.environ.get('HERALD_BACKEND') == 'kqueue',
                                reason='pure code: run once, with the default backend')


def _corpus():
    rnd = random.Random(18)
    text = ('It was the best of times, it was the worst of times, it was the age of wisdom, '
            'it was the age of foolishness. ' * 40).encode()
    doc = json.dumps([{'id': i, 'channel': 'news/%d' % (i % 7), 'event': 'update',
                       'data': {'price': i * 1.25, 'tags': ['a', 'b', str(i)]}}
                      for i in range(300)]).encode()
    noise = bytes(rnd.getrandbits(8) for _ in range(50000))
    edge = bytes(rnd.getrandbits(8) for _ in range(32768))
    mib = bytearray()
    while len(mib) < 1 << 20:
        mib += doc[:rnd.randrange(100, 4000)] + bytes(rnd.getrandbits(8) for _ in range(64))
    return {
        'empty': b'',
        'one_byte': b'x',
        'text': text,
        'json': doc,
        'random': noise,
        'mib': bytes(mib[:1 << 20]),
        'repeats': b'ab' * 200000 + b'z' * 70000,
        # the same 32 KiB twice: the second copy matches at distance exactly 32768
        'window_edge': edge + edge,
        # one byte further: distance 32769 is out of reach
        'past_window': edge + b'!' + edge,
    }


CORPUS = _corpus()


@pytest.fixture(scope='module')
def tool():
    os.makedirs(os.path.dirname(TOOL), exist_ok=True)
    with open(TOOL + '.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(['make', '-s', 'build/tools/deflate_tool'], cwd=TOP, check=True,
                       timeout=600)
    return TOOL


def _run(tool, args, data):
    return subprocess.run([tool] + args, input=data, capture_output=True, timeout=120)


def _zlib_compress(data, level, flush, strategy=zlib.Z_DEFAULT_STRATEGY):
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 8, strategy)
    return c.compress(data) + c.flush(flush)


@pytest.mark.parametrize('name', sorted(CORPUS))
@pytest.mark.parametrize('level', [1, 6, 9])
def test_herald_compresses_zlib_inflates(tool, name, level):
    data = CORPUS[name]
    for flush in ('sync', 'finish'):
        r = _run(tool, ['compress', str(level), flush], data)
        assert r.returncode == 0, r.stderr
        d = zlib.decompressobj(-15)
        assert d.decompress(r.stdout) == data, (name, level, flush)
        if flush == 'sync':
            assert r.stdout.endswith(b'\x00\x00\xff\xff')
            assert not d.eof
        else:
            assert d.eof and d.unused_data == b''
    if name in ('text', 'json', 'repeats', 'window_edge'):
        assert len(r.stdout) < len(data) * 0.7, (name, len(r.stdout))


@pytest.mark.parametrize('name', sorted(CORPUS))
@pytest.mark.parametrize('level,strategy', [(1, zlib.Z_DEFAULT_STRATEGY),
                                            (9, zlib.Z_DEFAULT_STRATEGY),
                                            (6, zlib.Z_FIXED),
                                            (6, zlib.Z_HUFFMAN_ONLY),
                                            (0, zlib.Z_DEFAULT_STRATEGY)])
def test_zlib_compresses_herald_inflates(tool, name, level, strategy):
    data = CORPUS[name]
    for flush in (zlib.Z_SYNC_FLUSH, zlib.Z_FINISH):
        packed = _zlib_compress(data, level, flush, strategy)
        pieces = ['0', '4096'] + (['1', '3'] if len(packed) < 20000 else [])
        for piece in pieces:
            r = _run(tool, ['inflate', str(len(data)), piece], packed)
            assert r.returncode == 0, (name, piece, r.returncode, r.stderr[-2000:])
            assert r.stdout == data, (name, level, strategy, flush, piece)


def test_output_limit_stops_a_zlib_bomb(tool):
    bomb = _zlib_compress(b'\0' * (8 << 20), 9, zlib.Z_SYNC_FLUSH)
    assert len(bomb) < 16000
    r = _run(tool, ['inflate', str(1 << 16), '0'], bomb)
    assert r.returncode == 4
    assert len(r.stdout) <= 1 << 16


def test_corrupt_zlib_stream_is_an_error_not_a_crash(tool):
    packed = bytearray(_zlib_compress(CORPUS['json'], 6, zlib.Z_FINISH))
    rnd = random.Random(7)
    errors = 0
    for _ in range(60):
        bad = bytearray(packed)
        for _ in range(3):
            bad[rnd.randrange(len(bad))] ^= 1 << rnd.randrange(8)
        r = _run(tool, ['inflate', str(1 << 20), '0'], bytes(bad))
        assert r.returncode in (0, 3, 4), r.stderr[-2000:]
        errors += r.returncode == 3
    assert errors > 0
