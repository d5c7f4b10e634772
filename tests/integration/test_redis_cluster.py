"""The Redis broker on a Redis Cluster (README "Several nodes: the Redis broker"): three
masters started by this module (one cluster for the module), herald nodes configured with the
three `redis_server` seeds (or one, to find the rest).

The design checked here:
  - each channel's keys live on the master of its hash slot; channels are chosen so that every
    master holds some, and a publish on one node reaches every strategy on another node;
  - a client resumes on another node than the one that served it (Last-Event-ID, ?since=);
  - one channel's slot migrates to another master while it is published on (ASK during the
    move, MOVED after it, the sharded subscription ended by Redis and made on the new owner):
    subscribers on the other node get every message once, in order, on the same connection;
  - a channel's master is killed and the cluster promotes its replica (a cluster of its own,
    three masters and one replica): publishes answer 503 until the slot has a master again,
    then 201 with the ids going on; subscribers stay connected and miss nothing silently.
"""
import binascii
import json
import os
import threading
import time

import pytest

from push_clients import Conn, Stream, Ws, build_request, etag_text, parse_iframe
from redis_server import RedisServer, free_port
from test_redis_broker import (REDIS_TIMEOUT_S, WAIT, node_config, poll_until, publish, published_id,
                               run_storm, split_id, sse_events, sse_wait, ws_json)

RANGES = [(0, 5460), (5461, 10922), (10923, 16383)]


class ClusterNode(RedisServer):
    """A redis-server with cluster mode on (its nodes.conf in its own folder). The cluster bus
    gets its own free port (by default it is the port + 10000, which may be taken or too
    high)."""

    def __init__(self, folder):
        super().__init__(folder)
        self.bus_port = free_port()

    def options(self):
        return super().options() + ['--cluster-enabled', 'yes', '--cluster-config-file',
                                    'nodes.conf', '--cluster-port', str(self.bus_port)]


def form_cluster(servers):
    """The first three servers take the slots in thirds and every server is met by the first
    (CLUSTER MEET: what `redis-cli --cluster create` does, without its fixed waits); each gets
    its .id. The caller waits for the state it needs."""
    for s in servers:
        s.id = s.cmd('CLUSTER', 'MYID').decode()
    for m, (a, b) in zip(servers, RANGES):
        assert m.cmd('CLUSTER', 'ADDSLOTSRANGE', a, b) == 'OK'
    for s in servers[1:]:
        assert servers[0].cmd('CLUSTER', 'MEET', '127.0.0.1', s.port, s.bus_port) == 'OK'


@pytest.fixture(scope='module')
def cluster(tmp_path_factory):
    """Three masters, slots in thirds, joined by CLUSTER MEET (what `redis-cli --cluster
    create` does, without its fixed waits)."""
    masters = [ClusterNode(tmp_path_factory.mktemp('cluster')).start() for _ in range(3)]
    try:
        form_cluster(masters)
        deadline = time.monotonic() + 10
        while not all(b'cluster_state:ok' in m.cmd('CLUSTER', 'INFO') and
                      len(m.cmd('CLUSTER', 'SLOTS')) == 3 for m in masters):
            assert time.monotonic() < deadline, [m.log() for m in masters]
            time.sleep(0.05)
        yield masters
    finally:
        for m in masters:
            m.kill()


@pytest.fixture
def nodes(herald, cluster):
    """node(seeds) starts one more herald node on the module's cluster (seeds: indexes of the
    masters written as redis_server lines), all with the same fresh prefix."""
    prefix = 't%s:' % os.urandom(4).hex()

    def node(seeds=(0, 1, 2)):
        srv = herald(node_config([cluster[i].port for i in seeds], prefix),
                     files={'www/index.html': 'static'})
        srv.prefix = prefix
        return srv

    node.prefix = prefix
    return node


def crc16(data):
    return binascii.crc_hqx(data, 0)  # CRC-16/XMODEM, Redis Cluster's key hash


def slot_of(key):
    """Redis Cluster's hash slot of key (a {hash tag} hashes alone)."""
    k = key.encode()
    a = k.find(b'{')
    if a >= 0:
        b = k.find(b'}', a + 1)
        if b > a + 1:
            k = k[a + 1:b]
    return crc16(k) % 16384


def master_of(slot):
    return next(i for i, (a, b) in enumerate(RANGES) if a <= slot <= b)


def channels_on_every_master(prefix, count=5):
    """count channel names, spread over the three masters (by their topic {prefix+name})."""
    out, k = [], 0
    while len(out) < count:
        name = 'c%d' % k
        if master_of(slot_of('{%s%s}' % (prefix, name))) == len(out) % 3:
            out.append(name)
        k += 1
    return out


def status(srv):
    c = Conn(srv.port)
    try:
        st, _, body = c.request('GET', '/status')
        assert st == 200
        return json.loads(body)
    finally:
        c.close()


# ---- 1. every strategy, channels on every master --------------------------------------------

def test_every_strategy_on_every_master_receives_what_another_node_publishes(nodes, cluster):
    a, b = nodes(), nodes(seeds=(1,))  # b finds the cluster from one seed
    chans = channels_on_every_master(nodes.prefix, 5)
    strategies = dict(zip(chans, ('sse', 'ws', 'if', 'lp', 'poll')))
    warm = {ch: published_id(a, ch, 'w-' + ch) for ch in chans}
    owners = set()
    for ch in chans:  # the keys are on the master of their slot
        m = master_of(slot_of('{%s%s}' % (nodes.prefix, ch)))
        owners.add(m)
        assert cluster[m].cmd('EXISTS', '{%s%s}:seq' % (nodes.prefix, ch)) == 1
    assert owners == {0, 1, 2}
    subs = {}
    for ch, kind in strategies.items():
        if kind == 'sse':
            subs[ch] = Stream(b.port, '/sse/%s?since=0' % ch)
            assert sse_wait(subs[ch], 1)[0]['id'] == warm[ch]
        elif kind == 'ws':
            subs[ch] = Ws(b.port, '/ws/%s?since=0&format=json' % ch)
            assert ws_json(subs[ch])['id'] == warm[ch]
        elif kind == 'if':
            subs[ch] = Stream(b.port, '/if/%s?since=0' % ch)
            subs[ch].wait_for(lambda s: len(parse_iframe(s.body)) >= 1, WAIT)
        elif kind == 'lp':
            subs[ch] = Conn(b.port)
            subs[ch].send(build_request('GET', '/lp/%s?since=%s' % (ch, warm[ch])))
    got = {ch: published_id(a, ch, 'hello-' + ch) for ch in chans}
    for ch, kind in strategies.items():
        want = got[ch]
        assert split_id(want) == (split_id(warm[ch])[0], 2)
        if kind == 'sse':
            assert [(e['id'], e['data']) for e in sse_wait(subs[ch], 2)][1] == (want, 'hello-' + ch)
        elif kind == 'ws':
            env = ws_json(subs[ch])
            assert (env['id'], env['data'], env['channel']) == (want, 'hello-' + ch, ch)
        elif kind == 'if':
            subs[ch].wait_for(lambda s: len(parse_iframe(s.body)) >= 2, WAIT)
            assert parse_iframe(subs[ch].body)[1][1][:2] == ['hello-' + ch, want]
        elif kind == 'lp':
            subs[ch].sock.settimeout(WAIT)
            st, h, body = subs[ch].response()
            assert (st, body, etag_text(h)) == (200, ('hello-' + ch).encode(), want)
        else:
            h, body = poll_until(b.port, '/poll/%s?since=%s' % (ch, warm[ch]))
            assert (body, etag_text(h)) == (('hello-' + ch).encode(), want)
    for s in subs.values():
        s.close()
    deadline = time.monotonic() + 3  # /status's Redis figures are refreshed each second
    while True:
        r = status(b)['redis']
        if r['cluster'] and r['masters'] == 3 and r['commands']['connected'] and \
                r['pubsub']['connected']:
            break
        assert time.monotonic() < deadline, r
        time.sleep(0.1)


# ---- 2. resume on another node ---------------------------------------------------------------

def test_resume_on_another_node_than_the_one_that_served(nodes):
    a, b = nodes(), nodes()
    for ch in channels_on_every_master(nodes.prefix, 3):
        first = [published_id(a, ch, 'm%d' % k) for k in (1, 2, 3)]
        sse = Stream(a.port, '/sse/%s?since=0' % ch)
        assert [e['id'] for e in sse_wait(sse, 3)] == first
        sse.close()
        later = [published_id(a, ch, 'm%d' % k) for k in (4, 5)]
        sse = Stream(b.port, '/sse/' + ch, headers={'Last-Event-ID': first[2]})
        events = sse_wait(sse, 2)
        assert [(e['id'], e['data']) for e in events] == list(zip(later, ('m4', 'm5')))
        assert all(e['event'] == 'message' for e in events), events
        sse.close()
        ws = Ws(b.port, '/ws/%s?since=%s&format=json' % (ch, first[1]))
        assert [ws_json(ws)['id'] for _ in range(3)] == [first[2]] + later
        ws.close()


# ---- 3. a slot migrates while publishing -----------------------------------------------------

def test_a_slot_migrating_while_publishing_loses_and_doubles_nothing(nodes, cluster):
    a, b = nodes(), nodes()
    ch = channels_on_every_master(nodes.prefix, 1)[0]   # on master 0
    src, dst = cluster[0], cluster[1]
    slot = slot_of('{%s%s}' % (nodes.prefix, ch))
    w = published_id(a, ch, 'warm-up')
    sse = Stream(b.port, '/sse/%s?since=0' % ch)
    ws = Ws(b.port, '/ws/%s?since=0&format=json' % ch)
    assert sse_wait(sse, 1)[0]['id'] == w and ws_json(ws)['id'] == w

    sent = [(w, 'warm-up')]
    steps = []

    def publisher():
        c = Conn(a.port, timeout=REDIS_TIMEOUT_S + 5)
        try:
            for k in range(60):  # ~50/s
                st, _, body = c.request('POST', '/pub?channel=' + ch, body='n%d' % k,
                                        headers={'Content-Type': 'text/plain'})
                assert st == 201, (k, st, body)
                sent.append((json.loads(body)['id'], 'n%d' % k))
                if k == 15:
                    steps.append(dst.cmd('CLUSTER', 'SETSLOT', slot, 'IMPORTING', src.id))
                    steps.append(src.cmd('CLUSTER', 'SETSLOT', slot, 'MIGRATING', dst.id))
                if k == 25:  # the keys go: the next publishes are ASKed to dst
                    keys = src.cmd('CLUSTER', 'GETKEYSINSLOT', slot, 10)
                    steps.append(src.cmd('MIGRATE', '127.0.0.1', dst.port, '', 0, 5000,
                                         'KEYS', *keys))
                if k == 35:  # dst owns the slot: MOVED, and Redis ends src's subscription
                    for m in (dst, src, cluster[2]):
                        steps.append(m.cmd('CLUSTER', 'SETSLOT', slot, 'NODE', dst.id))
                time.sleep(0.02)
        finally:
            c.close()

    t = threading.Thread(target=publisher)
    t.start()
    got_ws = [(w, 'warm-up')]
    deadline = time.monotonic() + 10
    while len(got_ws) < 61 and time.monotonic() < deadline:
        env = ws_json(ws, timeout=max(0.1, deadline - time.monotonic()))
        got_ws.append((env.get('id'), env.get('data')))
    t.join()
    assert steps == ['OK'] * 6, steps
    assert dst.cmd('EXISTS', '{%s%s}:seq' % (nodes.prefix, ch)) == 1
    assert len(sent) == 61
    assert [split_id(i)[1] for i, _ in sent] == list(range(1, 62))
    assert got_ws == sent
    assert [(e['id'], e['data']) for e in sse_wait(sse, 61)] == sent
    assert not sse.ended and not sse.eof
    last = published_id(a, ch, 'last')
    sse.wait_for(lambda s: any(e['id'] == last for e in sse_events(s)), WAIT)
    assert [e['id'] for e in sse_events(sse)] == [i for i, _ in sent] + [last]
    deadline = time.monotonic() + 3  # /status's Redis figures are refreshed each second
    while status(a)['redis']['redirects'] < 2:
        assert time.monotonic() < deadline, status(a)['redis']
        time.sleep(0.1)
    sse.close()
    ws.close()


# ---- 4. the loss test over the cluster ---------------------------------------------------------

CLUSTER_STORM_N = 45  # messages per channel


def test_reconnect_storm_over_every_master_loses_nothing(nodes):
    """Three nodes (one knowing all seeds, two a single one), one channel on each master, an
    SSE and a WebSocket subscriber per channel moving to the next node every few messages with
    their last id while the messages are published round robin over nodes and channels: each
    subscriber reads exactly its channel's messages, in order, once."""
    ports = [n.port for n in (nodes(), nodes(seeds=(1,)), nodes(seeds=(2,)))]
    run_storm(ports, channels_on_every_master(nodes.prefix, 3), CLUSTER_STORM_N, 2)


# ---- 5. a channel list in one hash slot, or refused -----------------------------------------

def test_a_channel_list_is_published_atomically_only_within_one_slot(nodes, cluster):
    """A publish to a channel list is one script: channels whose keys share a hash slot are
    published together (each its id, subscribers on another node get them), a list across
    slots -> 400 with the reason and nothing stored, also on a node whose first request it is
    (before it knows it talks to a cluster, Redis's CROSSSLOT answer says it)."""
    a = nodes()
    p = nodes.prefix
    slot = slot_of('{%sx0}' % p)
    same = next('y%d' % k for k in range(1000000) if slot_of('{%sy%d}' % (p, k)) == slot)
    other = next('z%d' % k for k in range(100) if slot_of('{%sz%d}' % (p, k)) != slot)
    first = published_id(a, 'x0', 'warm')
    b = nodes(seeds=(2,))
    sub = Stream(b.port, '/sse/%s?since=0' % same)
    assert sub.status == 200
    st, _, body = Conn(a.port).request('POST', '/pub?channel=%s,x0' % same, body='both')
    assert st == 201, body
    ids = json.loads(body)['ids']
    assert [i['channel'] for i in ids] == [same, 'x0']
    assert split_id(ids[1]['id']) == (split_id(first)[0], 2) and split_id(ids[0]['id'])[1] == 1
    assert [(e['id'], e['data']) for e in sse_wait(sub, 1)] == [(ids[0]['id'], 'both')]
    for srv in (a, nodes(seeds=(1,))):
        st, _, body = Conn(srv.port).request('POST', '/pub?channel=x0,%s,%s' % (same, other),
                                             body='no')
        assert st == 400 and b'different Redis Cluster hash slots' in body, (st, body)
    assert srv.wait_log(r'"%s": channels in different Redis Cluster hash slots' % other)
    assert cluster[master_of(slot)].cmd('GET', '{%sx0}:seq' % p) == b'2', 'nothing stored'
    assert cluster[master_of(slot_of('{%s%s}' % (p, other)))].cmd(
        'EXISTS', '{%s%s}:seq' % (p, other)) == 0
    sub.close()


# ---- 5b. masters announced by host name ----------------------------------------------------

def test_masters_announced_by_host_name_are_resolved(nodes, cluster):
    """cluster-preferred-endpoint-type hostname: CLUSTER SLOTS names each master by the name it
    announces (`localhost` here) instead of its address. Nodes seeded by address resolve those
    names off the event loop and serve channels on every master. (Before herald resolved
    names, each master's link was refused with "Invalid argument" and every publish got 503.)"""
    try:
        for m in cluster:
            assert m.cmd('CONFIG', 'SET', 'cluster-announce-hostname', 'localhost') == 'OK'
            assert m.cmd('CONFIG', 'SET', 'cluster-preferred-endpoint-type', 'hostname') == 'OK'
        deadline = time.monotonic() + 10
        while not all(all(r[2][0] == b'localhost' for r in m.cmd('CLUSTER', 'SLOTS'))
                      for m in cluster):
            assert time.monotonic() < deadline, [m.cmd('CLUSTER', 'SLOTS') for m in cluster]
            time.sleep(0.05)
        a, b = nodes(seeds=(0,)), nodes(seeds=(2,))
        chans = channels_on_every_master(nodes.prefix, 3)
        subs = {ch: Stream(b.port, '/sse/%s?since=0' % ch) for ch in chans}
        for ch in chans:
            assert subs[ch].status == 200
        ids = {ch: published_id(a, ch, 'named-' + ch) for ch in chans}
        for ch in chans:
            assert [(e['id'], e['data']) for e in sse_wait(subs[ch], 1)] == [
                (ids[ch], 'named-' + ch)]
            subs[ch].close()
        deadline = time.monotonic() + 3  # /status's Redis figures are refreshed each second
        while True:
            r = status(b)['redis']
            if r['masters'] == 3 and r['commands']['connected'] and r['pubsub']['connected']:
                break
            assert time.monotonic() < deadline, r
            time.sleep(0.1)
        for srv in (a, b):
            assert 'Invalid argument' not in srv.log() and 'resolve' not in srv.log(), srv.log()
    finally:
        for m in cluster:
            m.cmd('CONFIG', 'SET', 'cluster-preferred-endpoint-type', 'ip')
            m.cmd('CONFIG', 'SET', 'cluster-announce-hostname', '')


# ---- 6. a master fails and its replica takes over ------------------------------------------

class FastFailoverNode(ClusterNode):
    """A cluster node that declares a silent peer failed after 500 ms (default 15 s) and starts
    a replica's first sync at once (default: 5 s later, waiting for more replicas)."""

    def options(self):
        return super().options() + ['--cluster-node-timeout', '500',
                                    '--repl-diskless-sync-delay', '0']


@pytest.fixture
def failover_cluster(tmp_path_factory):
    """Three masters (slots in thirds) and one replica of the first, its own cluster: the test
    kills that master."""
    servers = [FastFailoverNode(tmp_path_factory.mktemp('failover')).start() for _ in range(4)]
    masters, replica = servers[:3], servers[3]
    try:
        form_cluster(servers)
        deadline = time.monotonic() + 10
        while replica.id.encode() not in masters[0].cmd('CLUSTER', 'NODES'):
            assert time.monotonic() < deadline, replica.log()
            time.sleep(0.05)
        while True:  # the replica knows the master once the bus has spread it
            try:
                if replica.cmd('CLUSTER', 'REPLICATE', masters[0].id) == 'OK':
                    break
            except Exception:  # "Unknown node" until then
                pass
            assert time.monotonic() < deadline, replica.log()
            time.sleep(0.05)
        while not (all(b'cluster_state:ok' in s.cmd('CLUSTER', 'INFO') for s in servers) and
                   b'master_link_status:up' in replica.cmd('INFO', 'replication')):
            assert time.monotonic() < deadline, [s.log() for s in servers]
            time.sleep(0.05)
        yield masters, replica
    finally:
        for s in servers:
            s.kill()


def test_a_master_killed_and_its_replica_promoted_loses_nothing_silently(herald,
                                                                         failover_cluster):
    """The master of a channel's slot is killed while a node publishes on it; the cluster
    promotes the replica. Publishes answer 503 while the slot has no master and 201 again
    after, on the same node, without a restart of anything; subscribers on the other node keep
    their connection and get every message that was answered 201, in order, once each, or are
    told what they missed: never silence, never a duplicate."""
    masters, replica = failover_cluster
    prefix = 't%s:' % os.urandom(4).hex()
    conf = node_config([m.port for m in masters], prefix)
    a, b = herald(conf), herald(conf)
    ch = next(c for c in ('f%d' % k for k in range(1000))
              if master_of(slot_of('{%s%s}' % (prefix, c))) == 0)
    sse = Stream(b.port, '/sse/%s?since=0' % ch)
    ws = Ws(b.port, '/ws/%s?since=0&format=json' % ch)
    before = [published_id(a, ch, 'b%d' % k) for k in range(3)]
    assert [e['id'] for e in sse_wait(sse, 3)] == before
    assert [ws_json(ws)['id'] for _ in range(3)] == before
    # Replicated before the kill: the replica has every write so far.
    deadline = time.monotonic() + WAIT
    while masters[0].cmd('WAIT', 1, 1000) != 1:
        assert time.monotonic() < deadline
    masters[0].kill()

    accepted, refused = [], 0
    deadline = time.monotonic() + 20
    k = 0
    while True:  # until the promoted replica has taken several publishes
        status, _, body = publish(a, ch, 'd%d' % k)
        assert status in (201, 503), (status, body)
        if status == 201:
            accepted.append((json.loads(body)['id'], 'd%d' % k))
        else:
            refused += 1
        k += 1
        if len(accepted) >= 3 and refused:
            break
        assert time.monotonic() < deadline, (refused, accepted, replica.log())
        time.sleep(0.05)
    assert b'role:master' in replica.cmd('INFO', 'replication')
    want = [(i, 'b%d' % n) for n, i in enumerate(before)] + accepted
    # Ids go on from where the old master left them: the replica had the counter.
    assert [split_id(i)[1] for i, _ in want] == list(range(1, len(want) + 1)), want

    def done(st):
        events = sse_events(st)
        return any(e['event'] == 'herald-missed' for e in events) or \
            [e['id'] for e in events if e['event'] == 'message'][-1:] == [want[-1][0]]
    sse.wait_for(done, WAIT + REDIS_TIMEOUT_S + 2)
    events = sse_events(sse)
    got = [(e['id'], e['data']) for e in events if e['event'] == 'message']
    if any(e['event'] == 'herald-missed' for e in events):
        assert len(set(got)) == len(got) and set(got) <= set(want), events
    else:
        assert got == want, events
    assert not sse.eof, 'the SSE subscriber lost its connection'
    sse.close()
    frames = []
    while not frames or (frames[-1].get('id') != want[-1][0] and 'herald' not in frames[-1]):
        frames.append(ws_json(ws, WAIT + REDIS_TIMEOUT_S + 2))
    if any('herald' in f for f in frames):
        assert frames[-1].get('herald') == 'missed', frames
    else:
        assert [(f['id'], f['data']) for f in frames] == accepted, frames  # after `before`
    ws.close()
