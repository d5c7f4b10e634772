// herald.connect() under Node (node --test) against the real herald: the cursor helpers, and
// three channels over one connection on the multiplexed WebSocket (the `ws` package),
// long-polling and polling (fetch), each channel's messages once and in order with the
// channel named, channels added and removed without losing the others' messages, and publish
// over the socket. SSE, the iframe and shared tabs are covered by browser-connect.test.mjs.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import herald from '../../www/herald.mjs';
import { startHerald, addToHttp, sleep, waitFor } from './server.mjs';

let srv;
const CHANNELS = ['n_a', 'n_b', 'n_c'];

before(async () => {
  srv = await startHerald({
    name: 'heraldjs-connect',
    edit: (t) => {
      let text = addToHttp(t, CHANNELS.map((c) => `channel ${c} { buffer 100; }`).join('\n    '));
      // A publishing multiplexed route beside the shipped subscribe-only one.
      return text.replace(/(location = \/status)/, 'location = /muxpub { push websocket; multiplex on; publish on; }\n        ' +
        'location = /lpq { push long-polling; channel $arg_channels; }\n        $1');
    },
  });
  herald.defaults.base = srv.origin;
  herald.defaults.WebSocket = WebSocket;
});

after(async () => {
  if (!srv) return;
  await srv.stop();
  try { srv.assertClean(); } finally { srv.cleanup(); }
});

describe('cursor helpers', () => {
  test('channel hash is FNV-1a 32 of the name', () => {
    // Reference values computed independently (Python: the FNV-1a loop over the bytes).
    assert.equal(herald._channelHash('news'), '4bc7bc46');
    assert.equal(herald._channelHash(''), '811c9dc5');
    assert.equal(herald._channelHash('a'), 'e40c292c');
  });
  test('compound cursors parse; anything else is no cursor', () => {
    assert.deepEqual(herald._parseCursor('4bc7bc46.5f0c2a9e17b4-17,e40c292c.5f0c2a9e17b4-0'),
      { '4bc7bc46': '5f0c2a9e17b4-17', e40c292c: '5f0c2a9e17b4-0' });
    for (const bad of ['', '5f0c2a9e17b4-17', '4bc7bc46.5f0c-1', '4bc7bc46.5f0c2a9e17b4-1,', 'x'])
      assert.equal(herald._parseCursor(bad), null, bad);
  });
});

function follow(conn, got, name) {
  got[name] = got[name] || [];
  return conn.subscribe(name, { onmessage: (data, id, event, channel) => got[name].push([data, channel]) });
}

for (const strategy of ['websocket', 'long-polling', 'polling']) {
  describe(`connect over ${strategy}`, () => {
    test('three channels, one connection, each message once with its channel', async () => {
      const routes = strategy === 'websocket' ? { websocket: '/muxpub' } : {};
      const conn = herald.connect({ strategy, pollInterval: 50, routes });
      const got = {};
      const handles = Object.fromEntries(CHANNELS.map((c) => [c, follow(conn, got, c)]));
      try {
        await waitFor(() => conn.state === 'open', { timeout: 5000, what: 'open' });
        await sleep(300);
        const tag = `${strategy}-${Date.now()}`;
        const want = Object.fromEntries(CHANNELS.map((c) => [c, []]));
        for (let i = 0; i < 15; i++) {
          const c = CHANNELS[i % 3];
          await srv.publish(c, `${tag} ${i}`);
          want[c].push([`${tag} ${i}`, c]);
        }
        for (const c of CHANNELS) {
          await waitFor(() => got[c].filter((m) => m[0].startsWith(tag)).length >= 5, { timeout: 5000, what: c });
        }
        // n_a leaves; the others go on.
        handles.n_a.close();
        await sleep(300);
        await srv.publish('n_a', `${tag} gone`);
        await srv.publish('n_b', `${tag} b-after`);
        want.n_b.push([`${tag} b-after`, 'n_b']);
        await waitFor(() => got.n_b.some((m) => m[0] === `${tag} b-after`), { timeout: 5000, what: 'after leaving' });
        await sleep(200);
        for (const c of CHANNELS) assert.deepEqual(got[c].filter((m) => m[0].startsWith(tag)), want[c], c);
        assert.equal(conn.strategy, strategy);
        assert.deepEqual(conn.channels, ['n_b', 'n_c']);
        if (strategy === 'websocket') {
          const r = await conn.publish('n_c', `${tag} over the socket`);
          assert.match(r.id, /^[0-9a-f]{12}-\d+$/);
          await waitFor(() => got.n_c.some((m) => m[0] === `${tag} over the socket`), { what: 'own publish' });
          await assert.rejects(conn.publish('nope', 'x'), (e) => e.status === 404);
        } else {
          await assert.rejects(conn.publish('n_c', 'x'), /multiplexed websocket/);
        }
      } finally {
        conn.close();
      }
    });
  });
}

describe('connect with a query route', () => {
  test('{channels} in a route takes the list (channel $arg_channels)', async () => {
    const conn = herald.connect({ strategy: 'long-polling', routes: { 'long-polling': '/lpq?channels={channels}' } });
    const got = {};
    follow(conn, got, 'n_a');
    follow(conn, got, 'n_c');
    try {
      await waitFor(() => conn.state === 'open', { timeout: 5000, what: 'open' });
      await sleep(300);
      const tag = `query-${Date.now()}`;
      await srv.publish('n_c', `${tag} c`);
      await srv.publish('n_b', `${tag} b`);
      await srv.publish('n_a', `${tag} a`);
      await waitFor(() => (got.n_a || []).some((m) => m[0] === `${tag} a`), { timeout: 5000, what: 'n_a' });
      await sleep(200);
      assert.deepEqual(got.n_c.filter((m) => m[0].startsWith(tag)), [[`${tag} c`, 'n_c']]);
      assert.deepEqual(got.n_a.filter((m) => m[0].startsWith(tag)), [[`${tag} a`, 'n_a']]);
      assert.equal(got.n_b, undefined);
    } finally {
      conn.close();
    }
  });
});
