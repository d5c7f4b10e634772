"""pytest fixtures: `herald(conf, files=...)` starts a server that is stopped (and checked for a
clean exit and no sanitizer report) at the end of the test. With HERALD_BROKER=redis, each pytest
process (each xdist worker) runs one redis-server for the whole session, which every herald the
harness starts uses as its broker (harness.with_broker)."""
import pytest

import harness
from harness import Herald
from redis_server import RedisServer


@pytest.fixture(scope='session', autouse=True)
def broker_redis_server(tmp_path_factory):
    if harness.BROKER != 'redis':
        yield None
        return
    r = RedisServer(tmp_path_factory.mktemp('broker-redis')).start()
    harness.REDIS_PORT = r.port
    yield r
    harness.REDIS_PORT = None
    r.stop()


@pytest.fixture
def herald(tmp_path):
    servers = []

    def start(conf, files=None, **kw):
        srv = Herald(conf, tmp_path / ('s%d' % len(servers)), files=files, **kw)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()
