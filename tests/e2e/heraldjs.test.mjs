// herald.js unit tests under Node (node --test), against a real herald: id tracking and
// de-duplication, resume with since=, the "missed" signal, reconnection with backoff, auto
// fallback, publish(), binary messages as Uint8Array. Node 20 has fetch but no WebSocket or EventSource: the websocket
// transport runs on the `ws` package (pinned in package-lock.json); SSE and iframe are covered
// by the browser tests.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import herald from '../../www/herald.mjs';
import { startHerald, addToHttp, sleep, waitFor } from './server.mjs';

let srv;

// Test channels next to the shipped ones: each test uses its own, so ids are predictable.
const CHANNELS = ['u_poll', 'u_lp', 'u_ws', 'u_since', 'u_dedup', 'u_restart', 'u_down', 'u_auto', 'u_bin', 'u_event']
  .map((c) => `channel ${c} { buffer 100; }`).join('\n    ') + '\n    channel u_small { buffer 4; }';

before(async () => {
  srv = await startHerald({ name: 'heraldjs', edit: (t) => addToHttp(t, CHANNELS) });
  herald.defaults.base = srv.origin;
  herald.defaults.WebSocket = WebSocket;
});

after(async () => {
  if (!srv) return;
  await srv.stop();
  try { srv.assertClean(); } finally { srv.cleanup(); }
});

// Subscribes and records messages and statuses; closed by the caller.
function track(target, options) {
  const rec = { got: [], statuses: [], missed: [] };
  rec.sub = herald.subscribe(target, {
    ...options,
    onmessage: (data, id) => rec.got.push({ data, id }),
    onstatus: (state, detail) => rec.statuses.push({ state, ...detail }),
    onmissed: (info) => rec.missed.push(info),
  });
  rec.data = () => rec.got.map((m) => m.data);
  return rec;
}

async function publishAll(channel, bodies) {
  const ids = [];
  for (const b of bodies) ids.push((await srv.publish(channel, b)).id);
  return ids;
}

const opened = (rec) => waitFor(() => rec.sub.state === 'open', { timeout: 5000, what: `${rec.sub.strategy} open` });

describe('pure helpers', () => {
  test('ids of one life compare by sequence; ids of another life are new', () => {
    const e = '5f0c2a9e17b4-', f = '00000000000a-';
    const cases = [
      ['2', '1', true], ['10', '9', true], ['9', '10', false], ['5', '5', false], ['007', '7', false],
      ['18446744073709551616', '18446744073709551615', true], ['1', null, true], ['1', '', true],
      [e + '2', e + '1', true], [e + '10', e + '9', true], [e + '9', e + '10', false],
      [e + '5', e + '5', false], [f + '1', e + '9', true], [e + '1', f + '9', true],
      [e + '3', '0', true], ['x', 'x', false], ['x', 'y', true],
    ];
    for (const [a, b, want] of cases) assert.equal(herald._idAfter(a, b), want, `${a} after ${b}`);
  });

  test('backoff: fast first retry, doubling with jitter, capped', () => {
    const o = { backoffBase: 250, backoffMax: 10000 };
    for (let n = 0; n < 200; n++) {
      const first = herald._backoffDelay(0, o);
      assert.ok(first >= 125 && first <= 250, `first retry ${first}`);
      for (let attempt = 1; attempt < 40; attempt++) {
        const ceil = Math.min(10000, 250 * 2 ** attempt);
        const d = herald._backoffDelay(attempt, o);
        assert.ok(d >= ceil / 2 && d <= ceil, `attempt ${attempt}: ${d} not in [${ceil / 2}, ${ceil}]`);
      }
    }
    const samples = new Set(Array.from({ length: 50 }, () => herald._backoffDelay(5, o)));
    assert.ok(samples.size > 10, 'jitter spreads the delays');
  });

  test('routes from a channel name, a path, or an explicit map', () => {
    const want = { websocket: '/ws/chat', sse: '/sse/chat', 'long-polling': '/longpoll/chat',
      polling: '/poll/chat', iframe: '/iframe/chat' };
    assert.deepEqual(herald._resolveRoutes('chat'), want);
    assert.deepEqual(herald._resolveRoutes('/chat'), want);
    assert.deepEqual(herald._resolveRoutes({ sse: '/events' }), { sse: '/events' });
    assert.deepEqual(herald._resolveRoutes('chat', { websocket: null, sse: '/x' }),
      { ...want, websocket: null, sse: '/x' });
  });

  test('unknown strategy and missing route are errors', () => {
    assert.throws(() => herald.subscribe('chat', { strategy: 'carrier-pigeon' }), /unknown strategy/);
    assert.throws(() => herald.subscribe({ sse: '/sse/chat' }, { strategy: 'websocket' }), /no route/);
  });
});

describe('delivery and id tracking', () => {
  for (const [strategy, channel] of [['polling', 'u_poll'], ['long-polling', 'u_lp'], ['websocket', 'u_ws']]) {
    test(`${strategy}: every message once, in order, ids as lastId`, async () => {
      const first = await publishAll(channel, ['m0']);
      const rec = track(channel, { strategy, since: first[0], pollInterval: 50 });
      try {
        await opened(rec);
        const bodies = Array.from({ length: 25 }, (_, i) => `m${i + 1} ✓`);
        const ids = await publishAll(channel, bodies);
        await waitFor(() => rec.got.length >= bodies.length, { timeout: 5000, what: 'messages' });
        await sleep(200);
        assert.deepEqual(rec.data(), bodies);
        assert.deepEqual(rec.got.map((m) => m.id), ids);
        assert.equal(rec.sub.lastId, ids[ids.length - 1]);
        assert.equal(rec.sub.strategy, strategy);
        assert.deepEqual(rec.missed, []);
      } finally {
        rec.sub.close();
      }
      assert.equal(rec.statuses.at(-1).state, 'closed');
    });
  }

  test('the publisher\'s event name is onmessage\'s third argument on every strategy', async () => {
    for (const event of ['price.update', null]) {
      const headers = { 'Content-Type': 'text/plain' };
      if (event) headers['X-Herald-Event'] = event;
      const res = await fetch(srv.url('/pub?channel=u_event'), { method: 'POST', body: 'e', headers });
      assert.equal(res.status, 201);
    }
    for (const strategy of ['polling', 'long-polling', 'websocket']) {
      const got = [];
      const sub = herald.subscribe('u_event', {
        strategy, since: '0', pollInterval: 50, onmessage: (data, id, event) => got.push([data, event]),
      });
      try {
        await waitFor(() => got.length >= 2, { timeout: 5000, what: `${strategy} events` });
        assert.deepEqual(got, [['e', 'price.update'], ['e', undefined]], strategy);
      } finally {
        sub.close();
      }
    }
  });

  test('since= starts after the given id on every strategy', async () => {
    const ids = await publishAll('u_since', ['a', 'b', 'c', 'd', 'e']);
    for (const strategy of ['polling', 'long-polling', 'websocket']) {
      const rec = track('u_since', { strategy, since: ids[2], pollInterval: 50 });
      try {
        await waitFor(() => rec.got.length >= 2, { timeout: 5000, what: `${strategy} backlog` });
        await sleep(150);
        assert.deepEqual(rec.data(), ['d', 'e'], strategy);
        assert.equal(rec.sub.lastId, ids[4]);
      } finally {
        rec.sub.close();
      }
    }
  });

  test('a message whose id is not after lastId is dropped; "missed" starts a new sequence', async () => {
    const rec = track('u_dedup', { strategy: 'polling', since: '5' });
    rec.sub.close(); // drive the subscription by hand from here
    const feed = (id) => rec.sub._message(`x${id}`, id);
    ['5', '6', '6', '4', '10', '9', '11'].forEach(feed);
    assert.deepEqual(rec.data(), ['x6', 'x10', 'x11']);
    assert.equal(rec.sub.lastId, '11');
    rec.sub._missed({ since: '11', first: '1' }); // e.g. a restarted server: ids start again
    ['1', '2', '2', '3'].forEach(feed);
    assert.deepEqual(rec.data(), ['x6', 'x10', 'x11', 'x1', 'x2', 'x3']);
    assert.deepEqual(rec.missed, [{ since: '11', first: '1', strategy: 'polling' }]);
  });

  test('the server\'s "missed" signal reaches onmissed on every strategy', async () => {
    const ids = await publishAll('u_small', Array.from({ length: 10 }, (_, i) => `s${i}`));
    for (const strategy of ['polling', 'long-polling', 'websocket']) {
      const rec = track('u_small', { strategy, since: ids[0], pollInterval: 50 });
      try {
        await waitFor(() => rec.got.length >= 4, { timeout: 5000, what: `${strategy} buffered messages` });
        await sleep(150);
        assert.deepEqual(rec.data(), ['s6', 's7', 's8', 's9'], strategy);
        assert.equal(rec.missed.length, 1, `${strategy}: one missed signal`);
        assert.equal(rec.missed[0].since, ids[0]);
        assert.equal(rec.missed[0].first, ids[6]);
        assert.ok(rec.statuses.some((s) => s.state === 'missed'));
      } finally {
        rec.sub.close();
      }
    }
  });
});

describe('reconnection', () => {
  test('herald restarted: websocket and long-polling reconnect with backoff and resume', async () => {
    const start = await publishAll('u_restart', ['r0']);
    const recs = ['websocket', 'long-polling', 'polling'].map((strategy) =>
      track('u_restart', { strategy, since: start[0], pollInterval: 50 }));
    try {
      for (const r of recs) await opened(r);
      // More before the restart than after, so every resume point is an id the new process never had.
      const before = ['b1', 'b2', 'b3', 'b4', 'b5'];
      await publishAll('u_restart', before);
      for (const r of recs) await waitFor(() => r.got.length === 5, { what: `${r.sub.strategy} before` });
      await srv.restart({ signal: 'SIGKILL', downMs: 600 });
      const after = ['a1', 'a2', 'a3'];
      await publishAll('u_restart', after);
      for (const r of recs) {
        await waitFor(() => r.got.length >= 8, { timeout: 15000, what: `${r.sub.strategy} after restart` });
      }
      await sleep(200);
      for (const r of recs) {
        const label = r.sub.strategy;
        assert.deepEqual(r.data(), [...before, ...after], label);
        const retries = r.statuses.filter((s) => s.state === 'reconnecting');
        assert.ok(retries.length >= 1, `${label}: reconnecting reported`);
        assert.ok(retries.every((s) => s.delay <= 10000), `${label}: delays capped`);
        assert.ok(retries[0].delay <= 250, `${label}: first retry is fast (${retries[0].delay} ms)`);
        assert.ok(r.statuses.filter((s) => s.state === 'open').length >= 2, `${label}: open again`);
        assert.equal(r.missed.length, 1, `${label}: the restart shows as missed`);
        assert.equal(r.sub.strategy, label);
      }
    } finally {
      recs.forEach((r) => r.sub.close());
    }
  });

  test('while herald is down the retry delays grow', async () => {
    const rec = track('u_down', { strategy: 'long-polling', backoffBase: 40, backoffMax: 400 });
    try {
      await opened(rec);
      await srv.stop('SIGTERM');
      await waitFor(() => rec.statuses.filter((s) => s.state === 'reconnecting').length >= 6,
        { timeout: 8000, what: 'six retries' });
      const retries = rec.statuses.filter((s) => s.state === 'reconnecting');
      assert.deepEqual(retries.slice(0, 6).map((s) => s.attempt), [1, 2, 3, 4, 5, 6]);
      retries.slice(0, 6).forEach((s, n) => {
        const ceil = Math.min(400, 40 * 2 ** n);
        assert.ok(s.delay >= ceil / 2 && s.delay <= ceil, `retry ${n}: ${s.delay} in [${ceil / 2}, ${ceil}]`);
      });
      assert.equal(rec.sub.strategy, 'long-polling', 'a fixed strategy never falls back');
      await srv.start();
      await waitFor(() => rec.sub.state === 'open', { timeout: 5000, what: 'open after the restart' });
      const ids = await publishAll('u_down', ['back']);
      await waitFor(() => rec.got.length === 1, { what: 'message after the restart' });
      assert.equal(rec.got[0].id, ids[0]);
    } finally {
      rec.sub.close();
    }
  });

  test('auto: without WebSocket and EventSource it settles on long-polling', async () => {
    const rec = track('u_auto', { strategy: 'auto', WebSocket: false, EventSource: false });
    try {
      await opened(rec);
      assert.equal(rec.sub.strategy, 'long-polling');
      const fallbacks = rec.statuses.filter((s) => s.state === 'fallback').map((s) => `${s.from}>${s.to}`);
      assert.deepEqual(fallbacks, ['websocket>sse', 'sse>long-polling']);
      await publishAll('u_auto', ['one']);
      await waitFor(() => rec.got.length === 1, { what: 'message' });
    } finally {
      rec.sub.close();
    }
  });

  test('auto: a refused route moves on; a working one is kept', async () => {
    const rec = track({ websocket: '/ws/no_such_channel', 'long-polling': '/longpoll/u_auto' },
      { strategy: 'auto' });
    try {
      await opened(rec);
      assert.equal(rec.sub.strategy, 'long-polling');
      assert.ok(rec.statuses.some((s) => s.state === 'fallback' && s.from === 'websocket'));
    } finally {
      rec.sub.close();
    }
    const ws = track('u_auto', { strategy: 'auto' });
    try {
      await opened(ws);
      assert.equal(ws.sub.strategy, 'websocket');
      assert.ok(!ws.statuses.some((s) => s.state === 'fallback'));
    } finally {
      ws.sub.close();
    }
  });

  test('send() publishes over a websocket route with publish on', async () => {
    const tag = `send-${Date.now()}`;
    const rec = track('chat', { strategy: 'websocket', since: (await srv.publish('chat', 'x')).id });
    try {
      await opened(rec);
      assert.equal(rec.sub.send(`${tag} over ws`), true);
      await waitFor(() => rec.got.some((m) => m.data === `${tag} over ws`), { what: 'own message back' });
    } finally {
      rec.sub.close();
    }
    assert.equal(rec.sub.send('closed'), false);
  });
});

describe('publish()', () => {
  test('resolves to the server\'s answer', async () => {
    const r = await herald.publish('/chat/send', 'from publish()');
    assert.equal(r.channel, 'chat');
    assert.match(r.id, /^[0-9a-f]{12}-[1-9][0-9]*$/);
    assert.equal(typeof r.subscribers, 'number');
  });

  test('rejects with the status on refusal', async () => {
    await assert.rejects(herald.publish('/chat/send', 'x'.repeat(5000)), (e) => e.status === 413);
    await assert.rejects(herald.publish('/pub?channel=no_such_channel', 'x'), (e) => e.status === 404);
  });

  test('objects are sent as JSON', async () => {
    const rec = track('chat', { strategy: 'polling', since: (await srv.publish('chat', 'x')).id, pollInterval: 50 });
    try {
      await herald.publish('/chat/send', { nick: 'node', text: 'hi' });
      await waitFor(() => rec.got.length === 1, { what: 'json message' });
      assert.deepEqual(JSON.parse(rec.got[0].data), { nick: 'node', text: 'hi' });
    } finally {
      rec.sub.close();
    }
  });
});

// Binary messages reach onmessage as a Uint8Array of exactly the published bytes, text
// messages as strings. (SSE and iframe: browser-heraldjs.test.mjs; Node has no EventSource.)
describe('binary messages', () => {
  test('the text rule matches the server\'s (is_text_type, then valid UTF-8)', () => {
    for (const t of ['', 'text/plain', 'TEXT/HTML; charset=utf-8', ' application/json ', 'application/javascript;x'])
      assert.equal(herald._isTextType(t), true, t);
    for (const t of ['text/', 'application/octet-stream', 'image/png', 'application/jsonx'])
      assert.equal(herald._isTextType(t), false, t);
    assert.equal(herald._isTextType(null), true, 'no Content-Type');
    const bytes = (a) => new Uint8Array(a).buffer;
    assert.equal(herald._bodyData(bytes([0xef, 0xbb, 0xbf, 0x68, 0xc3, 0xa9]), 'text/plain'), '\ufeffhé',
      'a leading BOM is data');
    assert.deepEqual(herald._bodyData(bytes([0x68, 0xff]), 'text/plain'), new Uint8Array([0x68, 0xff]));
    assert.deepEqual(herald._bodyData(bytes([0x68, 0x69]), 'image/png'), new Uint8Array([0x68, 0x69]));
  });

  for (const strategy of ['polling', 'long-polling', 'websocket']) {
    test(`${strategy}: random bytes come back byte for byte as a Uint8Array, text as a string`, async () => {
      const start = await srv.publish('u_bin', 'start');
      const rec = track('u_bin', { strategy, since: start.id, pollInterval: 50 });
      try {
        await opened(rec);
        const random = new Uint8Array(5000);
        crypto.getRandomValues(random);
        const nasty = new TextEncoder().encode('\0\r\n</script>"\'\\<');
        const bytes = new Uint8Array([0xff, 0xfe, ...nasty, ...random, 0xc3]);
        const sent = [
          ['bytes', bytes, null],
          ['text', 'h\u00e9llo\n"w"', null],
          ['not UTF-8 as text/plain', new Uint8Array([0x61, 0xc0, 0xaf, 0x62]), 'text/plain'],
          ['empty bytes', new Uint8Array(0), null],
        ];
        for (const [, data, type] of sent) await herald.publish(`/pub?channel=u_bin`, data, type ? { type } : {});
        await waitFor(() => rec.got.length >= sent.length, { timeout: 5000, what: 'messages' });
        for (const [i, [label, data]] of sent.entries()) {
          const got = rec.got[i].data;
          if (typeof data === 'string') {
            assert.equal(got, data, label);
          } else {
            assert.ok(got instanceof Uint8Array, `${label}: a Uint8Array, got ${typeof got}`);
            assert.deepEqual(got, data, label);
          }
        }
        assert.equal(rec.got.length, sent.length);
        assert.deepEqual(rec.missed, []);
      } finally {
        rec.sub.close();
      }
    });
  }
});
