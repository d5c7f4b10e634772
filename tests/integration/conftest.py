"""pytest fixtures: `herald(conf, files=...)` starts a server that is stopped (and checked for a
clean exit and no sanitizer report) at the end of the test."""
import pytest

from harness import Herald


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
