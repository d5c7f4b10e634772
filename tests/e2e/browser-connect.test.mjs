// herald.connect() in headless Chromium against the real herald: several channels over one
// connection on every strategy (the multiplexed WebSocket, and SSE, long-polling, polling and
// the iframe with a channel list), each channel's messages exactly once and in order across
// dropped connections and changes of the list; and `shared`: eight tabs following three
// channels each over one connection for the origin, the leader tab closed while messages are
// published, nothing lost or repeated in any tab.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, addToHttp, sleep, waitFor } from './server.mjs';
import { launch } from './browser.mjs';

const STRATEGIES = ['websocket', 'sse', 'long-polling', 'polling', 'iframe'];
const CHANNELS = ['mx_a', 'mx_b', 'mx_c', 'mx_d'];

let browser;
let srv;

// The shipped config plus test channels, and the multiplexed route if it does not ship one.
function edit(text) {
  let t = addToHttp(text, CHANNELS.map((c) => `channel ${c} { buffer 500; }`).join('\n    '));
  if (!/multiplex\s+on/.test(t)) {
    t = t.replace(/(location = \/status)/, 'location = /mux { push websocket; multiplex on; }\n        $1');
  }
  return t.replace(/stream_keepalive\s+[^;]+;/, 'stream_keepalive 1s;');
}

before(async () => {
  browser = await launch();
  srv = await startHerald({ name: 'connect', edit });
});
after(async () => {
  await browser?.close();
  if (!srv) return;
  await srv.stop();
  try { srv.assertClean(); } finally { srv.cleanup(); }
});

// A page of the server's origin with herald.js and a recorder: window.got[channel] = data[].
async function page() {
  const p = await browser.context.newPage();
  await p.goto(srv.url('/index.html'));
  await p.addScriptTag({ url: '/herald.js' });
  await p.evaluate(() => {
    window.got = {};
    window.missed = [];
    window.handles = {};
    window.follow = (name) => {
      window.got[name] = window.got[name] || [];
      window.handles[name] = window.conn.subscribe(name, {
        onmessage: (data, id, event, channel) => window.got[channel].push(data),
        onmissed: (info) => window.missed.push(info),
      });
    };
  });
  return p;
}

const received = (p, ch, tag) => p.evaluate(([c, t]) => (window.got[c] || []).filter((d) => d.startsWith(t)), [ch, tag]);

async function channelSubscribers(name) {
  const r = await fetch(srv.url(`/pub?channel=${name}`));
  assert.equal(r.status, 200);
  return (await r.json()).total_subscribers;
}

describe('herald.connect: several channels on one connection', () => {
  for (const strategy of STRATEGIES) {
    test(`${strategy}: three channels, connections dropped and the list changed while publishing`, async () => {
      const p = await page();
      const tag = `${strategy}-${Date.now()}`;
      await p.evaluate((s) => {
        window.conn = herald.connect({ strategy: s, pollInterval: 100, streamKeepalive: 1000 });
        ['mx_a', 'mx_b', 'mx_c'].forEach(window.follow);
      }, strategy);
      await p.waitForFunction(() => window.conn.state === 'open', null, { timeout: 8000 });
      assert.equal(await p.evaluate(() => window.conn.strategy), strategy);
      // Give a held request or a stream a moment to be in place on the server.
      await sleep(300);
      const want = { mx_a: [], mx_b: [], mx_c: [], mx_d: [] };
      for (let i = 0; i < 36; i++) {
        const ch = ['mx_a', 'mx_b', 'mx_c'][i % 3];
        const body = `${tag} ${ch} ${i}`;
        await srv.publish(ch, body);
        want[ch].push(body);
        if (i % 10 === 4) await p.evaluate(() => window.conn.reconnect()); // drop mid-stream
        await sleep(10);
      }
      for (const ch of ['mx_a', 'mx_b', 'mx_c']) {
        await waitFor(async () => (await received(p, ch, tag)).length >= want[ch].length,
          { timeout: 10000, what: `${strategy} ${ch}: ${want[ch].length} messages` });
      }
      // A fourth channel joins, the first leaves: the others go on without a gap.
      await p.evaluate(() => { window.follow('mx_d'); window.handles.mx_a.close(); });
      await waitFor(async () => (await p.evaluate(() => window.conn.channels.join(','))) === 'mx_b,mx_c,mx_d',
        { what: 'the new list' });
      await sleep(400);
      for (let i = 0; i < 12; i++) {
        const ch = ['mx_b', 'mx_c', 'mx_d'][i % 3];
        const body = `${tag} after ${ch} ${i}`;
        await srv.publish(ch, body);
        want[ch].push(body);
        await sleep(10);
      }
      await srv.publish('mx_a', `${tag} not followed`);
      for (const ch of ['mx_b', 'mx_c', 'mx_d']) {
        await waitFor(async () => (await received(p, ch, tag)).length >= want[ch].length,
          { timeout: 10000, what: `${strategy} ${ch}: after the change` });
      }
      await sleep(300); // any duplicate or stray message would arrive by now
      for (const ch of CHANNELS) {
        assert.deepEqual(await received(p, ch, tag), want[ch], `${strategy} ${ch}: exactly once, in order`);
      }
      assert.deepEqual(await p.evaluate(() => window.missed), [], `${strategy}: nothing missed`);
      await p.evaluate(() => window.conn.close());
      await p.close();
    });
  }

  test('websocket: publish on the multiplexed socket is refused where publish is off', async () => {
    const p = await page();
    await p.evaluate(() => { window.conn = herald.connect({ strategy: 'websocket' }); window.follow('mx_a'); });
    await p.waitForFunction(() => window.conn.state === 'open', null, { timeout: 8000 });
    const r = await p.evaluate(() => window.conn.publish('mx_a', 'x').then((a) => ({ ok: a }), (e) => ({ status: e.status })));
    assert.deepEqual(r, { status: 403 });
    await p.evaluate(() => window.conn.close());
    await p.close();
  });
});

describe('herald.connect({shared}): one connection for the tabs of an origin', () => {
  test('eight tabs, three channels each, the leader closed while publishing', async () => {
    const key = `tabs-${Date.now()}`;
    const tag = key;
    const tabs = [];
    const sets = [];
    for (let i = 0; i < 8; i++) {
      const p = await page();
      const set = [CHANNELS[i % 4], CHANNELS[(i + 1) % 4], CHANNELS[(i + 2) % 4]];
      await p.evaluate(([k, s]) => {
        window.conn = herald.connect({ shared: k, pollInterval: 100, streamKeepalive: 1000 });
        s.forEach(window.follow);
      }, [key, set]);
      tabs.push(p);
      sets.push(set);
    }
    const roles = async () => Promise.all(tabs.filter((t) => !t.isClosed()).map((t) => t.evaluate(() => window.conn.role)));
    await waitFor(async () => (await roles()).filter((r) => r === 'leader').length === 1, { what: 'one leader' });
    const leader = (await roles()).indexOf('leader');
    await waitFor(async () => (await tabs[leader].evaluate(() => window.conn.state)) === 'open', { what: 'leader open' });
    await waitFor(async () => {
      for (const ch of CHANNELS) if ((await channelSubscribers(ch)) !== 1) return false;
      return true;
    }, { timeout: 5000, what: 'each channel followed by exactly one subscriber (one connection)' });

    const want = Object.fromEntries(CHANNELS.map((c) => [c, []]));
    const publishSome = async (label, n) => {
      for (let i = 0; i < n; i++) {
        const ch = CHANNELS[i % 4];
        const body = `${tag} ${label} ${ch} ${i}`;
        await srv.publish(ch, body);
        want[ch].push(body);
        await sleep(10);
      }
    };
    await publishSome('before', 16);
    const check = async (skip) => {
      for (let i = 0; i < tabs.length; i++) {
        if (i === skip) continue;
        for (const ch of sets[i]) {
          await waitFor(async () => (await received(tabs[i], ch, tag)).length >= want[ch].length,
            { timeout: 10000, what: `tab ${i} ${ch}` });
        }
      }
      await sleep(300);
      for (let i = 0; i < tabs.length; i++) {
        if (i === skip) continue;
        for (const ch of CHANNELS) {
          const expect = sets[i].includes(ch) ? want[ch] : [];
          assert.deepEqual(await received(tabs[i], ch, tag), expect, `tab ${i} ${ch}: exactly once, in order`);
        }
      }
    };
    await check(-1);

    // The leader's tab closes while messages keep coming: another tab takes over.
    const closing = tabs[leader].close({ runBeforeUnload: false });
    await publishSome('handover', 24);
    await closing;
    await waitFor(async () => (await roles()).filter((r) => r === 'leader').length === 1, { what: 'a new leader' });
    await publishSome('after', 16);
    await check(leader);
    await waitFor(async () => {
      for (const ch of CHANNELS) if ((await channelSubscribers(ch)) !== 1) return false;
      return true;
    }, { timeout: 5000, what: 'still one subscriber per channel after the hand-over' });
    for (const t of tabs) if (!t.isClosed()) await t.close();
  });
});
