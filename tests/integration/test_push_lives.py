"""Ids from an earlier life of a channel: a channel's ids are "LIFE-SEQ" and a new LIFE is drawn
whenever the channel begins again (herald restarted, DELETE then re-created, a reload that
removes it and a later one that adds it back). A client resuming with an id it saw before gets
every buffered message of the current life AND the missed signal, on all five strategies; never
the new stream's messages after that id's sequence number as if nothing had happened."""
import json
import signal
import time

import pytest

from push_clients import (STRATEGY_ROUTES, Conn, Life, Stream, Ws, etag_text, id_life,
                          parse_iframe, parse_sse)
from harness import memory_broker_only

CONF = '''
error_log stderr info;
worker_threads 2;
http {
    access_log off;
    channel_autocreate on;
    CHANNELS
    server {
        listen 127.0.0.1:0;
        ROUTES
    }
}
'''

STRATEGIES = ['polling', 'long-polling', 'iframe', 'sse', 'websocket']


def conf(channels=''):
    return CONF.replace('CHANNELS', channels).replace('ROUTES', STRATEGY_ROUTES)


def publish_all(srv, channel, bodies):
    """Publishes bodies in order; returns their ids."""
    c = Conn(srv.port)
    ids = []
    try:
        for b in bodies:
            status, _, body = c.request('POST', '/pub?channel=' + channel, body=b)
            assert status == 201, (status, body)
            ids.append(json.loads(body)['id'])
    finally:
        c.close()
    return ids


def resume(srv, strategy, channel, since, count):
    """Resumes channel after `since` on one strategy. Returns (missed, [(id, data)]): missed is
    the missed signal's {"since","first"} (None if there was none) and the messages that follow
    (count of them; polling and long-polling walk the channel one request at a time)."""
    path = {'polling': '/poll/', 'long-polling': '/lp/', 'iframe': '/if/', 'sse': '/sse/',
            'websocket': '/ws/'}[strategy] + channel
    if strategy in ('polling', 'long-polling'):
        c = Conn(srv.port)
        try:
            missed, got, at = None, [], since
            while len(got) < count:
                status, h, body = c.request('GET', path + '?since=' + at)
                assert status == 200, (status, h)
                if h.get('x-herald-missed'):
                    assert missed is None, 'missed signalled twice'
                    missed = {'since': since, 'first': etag_text(h)}
                at = etag_text(h)
                got.append((at, body.decode()))
            return missed, got
        finally:
            c.close()
    if strategy == 'sse':
        st = Stream(srv.port, path, headers={'Last-Event-ID': since})
        try:
            st.wait_for(lambda s: len(parse_sse(s.body)[0]) >= count + 1)
            ev = parse_sse(st.body)[0]
        finally:
            st.close()
        assert ev[0]['event'] == 'herald-missed', ev
        return json.loads(ev[0]['data']), [(e['id'], e['data']) for e in ev[1:]]
    if strategy == 'iframe':
        st = Stream(srv.port, path + '?callback=herald_cb&since=' + since)
        try:
            st.wait_for(lambda s: len(parse_iframe(s.body)) >= count + 1)
            calls = parse_iframe(st.body)
        finally:
            st.close()
        first = calls[0][1]
        assert first[:2] == [None, ''] and first[2].pop('missed') is True, calls
        return first[2], [(args[1], args[0]) for _, args in calls[1:]]
    ws = Ws(srv.port, path + '?format=json&since=' + since)
    try:
        assert ws.status == 101
        op, data = ws.recv()
        signal_ = json.loads(data)
        assert op == 0x1 and signal_.pop('herald') == 'missed', signal_
        got = []
        for _ in range(count):
            op, data = ws.recv()
            m = json.loads(data)
            got.append((m['id'], m['data']))
        return signal_, got
    finally:
        ws.close()


def check_every_strategy(srv, channel, old_id, new_ids, bodies):
    """On each strategy, resuming with old_id (an id of an earlier life) gives every buffered
    message of the current life, and the missed signal naming old_id."""
    assert id_life(old_id) != id_life(new_ids[0])
    for strategy in STRATEGIES:
        missed, got = resume(srv, strategy, channel, old_id, len(new_ids))
        assert missed == {'since': old_id, 'first': new_ids[0]}, (strategy, missed)
        assert got == list(zip(new_ids, bodies)), (strategy, got)


NEW = ['n1', 'n2', 'n3', 'n4']


@memory_broker_only("a restart begins every channel again; Redis keeps its ids across restarts")
def test_resume_after_restart_gets_everything_and_missed(herald):
    srv = herald(conf('channel c { buffer 10; }'))
    old = publish_all(srv, 'c', ['o1', 'o2', 'o3', 'o4', 'o5'])
    L = Life.of(old[0])
    assert L.seqs(old) == [1, 2, 3, 4, 5]  # strictly increasing within one life
    srv.stop()
    with srv._log_lock:  # the restarted server announces its own (new ephemeral) port
        srv._log.clear()
    srv.start()
    new = publish_all(srv, 'c', NEW)
    assert Life.of(new[0]).seqs(new) == [1, 2, 3, 4]
    # old[2] is "...-3": without lives it would name message 3 of the new stream.
    check_every_strategy(srv, 'c', old[2], new, NEW)
    # An id of the current life still resumes exactly, with no signal.
    c = Conn(srv.port)
    status, h, body = c.request('GET', '/poll/c?since=' + new[1])
    assert (status, etag_text(h), body, 'x-herald-missed' in h) == (200, new[2], b'n3', False)
    c.close()


def test_resume_after_delete_and_recreate_gets_everything_and_missed(herald):
    srv = herald(conf())
    old = publish_all(srv, 'auto', ['o1', 'o2', 'o3', 'o4', 'o5'])
    c = Conn(srv.port)
    assert c.request('DELETE', '/pub?channel=auto')[0] == 200
    c.close()
    new = publish_all(srv, 'auto', NEW)  # autocreated again: a new life
    check_every_strategy(srv, 'auto', old[2], new, NEW)


def reload_to(srv, text, probe):
    """Writes the new config, SIGHUP, and waits until probe() holds."""
    srv.write_conf(text)
    srv.signal(signal.SIGHUP)
    deadline = time.time() + 5
    while not probe():
        assert time.time() < deadline, 'reload did not apply'
        time.sleep(0.05)


@memory_broker_only("a reload that removes a channel ends its life; Redis keeps it for the other "
                    "nodes")
def test_resume_after_reload_removes_and_adds_back(herald):
    # Without autocreate, so that "removed" is visible as a 404 on publish.
    with_c = conf('channel c { buffer 10; }').replace('channel_autocreate on;', '')
    without_c = conf('').replace('channel_autocreate on;', '')
    srv = herald(with_c)
    old = publish_all(srv, 'c', ['o1', 'o2', 'o3', 'o4', 'o5'])

    def publish_status():
        c = Conn(srv.port)
        try:
            return c.request('POST', '/pub?channel=c', body='probe')[0]
        finally:
            c.close()
    reload_to(srv, without_c, lambda: publish_status() == 404)
    reload_to(srv, with_c, lambda: publish_status() == 201)
    # The probe that saw 201 published message 1 of the new life.
    new = publish_all(srv, 'c', NEW[1:])
    L = Life.of(new[0])
    assert L.seqs(new) == [2, 3, 4]
    check_every_strategy(srv, 'c', old[2], [L(1)] + new, ['probe'] + NEW[1:])


@pytest.mark.parametrize('since', ['5', 'abc', '0123456789ab-x', '000000000000-1'])
def test_a_resume_point_that_is_no_id_of_this_life_gets_everything_and_missed(herald, since):
    srv = herald(conf())
    new = publish_all(srv, 'z', NEW)
    for strategy in STRATEGIES:
        missed, got = resume(srv, strategy, 'z', since, len(new))
        assert got == list(zip(new, NEW)), (strategy, got)
        # The signal repeats the client's point when it was an id at all.
        assert missed['first'] == new[0], (strategy, missed)
