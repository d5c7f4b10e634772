// herald.js in headless Chromium against the real herald: resume without gaps or duplicates
// (connections dropped while messages are published, and herald killed and restarted), and
// `auto` falling back to SSE when the WebSocket upgrade is refused. Also the browser's own
// EventSource reconnecting by itself (Last-Event-ID wins over the URL's ?since=), and binary
// messages reaching the page as Uint8Array on every strategy.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startHerald, removeLocations, setDirective, addToHttp, sleep, waitFor, idLife, idSeq } from './server.mjs';
import { launch } from './browser.mjs';

const STRATEGIES = ['websocket', 'sse', 'long-polling', 'polling', 'iframe'];

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function stopClean(srv) {
  if (!srv) return;
  await srv.stop();
  try { srv.assertClean(); } finally { srv.cleanup(); }
}

// A blank herald page with herald.js loaded and a helper to subscribe and record everything.
async function harness(srv) {
  const page = await browser.context.newPage();
  await page.goto(srv.url('/index.html'));
  await page.addScriptTag({ url: '/herald.js' });
  await page.evaluate(() => {
    window.subs = {};
    window.track = (key, target, options) => {
      const rec = { got: [], statuses: [], missed: [] };
      rec.sub = herald.subscribe(target, {
        ...options,
        onmessage: (data, id) => rec.got.push({ data, id }),
        onstatus: (state, detail) => rec.statuses.push({ state, ...detail }),
        onmissed: (info) => rec.missed.push(info),
      });
      window.subs[key] = rec;
    };
    window.received = (key, prefix) => window.subs[key].got.filter((m) => m.data.startsWith(prefix)).map((m) => m.data);
  });
  return page;
}

function expectExactly(got, want, label) {
  assert.deepEqual(got, want, `${label}: every message exactly once, in order`);
}

describe('resume on the shipped config', () => {
  let srv;
  // Keepalives every second let the iframe transport notice a dead stream quickly.
  before(async () => {
    srv = await startHerald({ name: 'resume', edit: (t) => setDirective(t, 'stream_keepalive', '1s') });
  });
  after(async () => { await stopClean(srv); });

  for (const strategy of STRATEGIES) {
    test(`${strategy}: connections dropped while messages are published`, async () => {
      const page = await harness(srv);
      const tag = `drop-${strategy}-${Date.now()}`;
      // Start after the channel's current end, so only this test's messages count.
      const info = await srv.publish('chat', `${tag} start`);
      await page.evaluate(([s, since]) => track('t', 'chat', { strategy: s, since, pollInterval: 100 }),
        [strategy, info.id]);
      await page.waitForFunction(() => subs.t.sub.state === 'open', null, { timeout: 5000 });
      const want = [];
      for (let i = 0; i < 40; i++) {
        const body = `${tag} ${i}`;
        await srv.publish('chat', body);
        want.push(body);
        if (i % 8 === 3) await page.evaluate(() => subs.t.sub.reconnect()); // drop mid-stream
        await sleep(15);
      }
      await waitFor(async () => (await page.evaluate((t) => received('t', t), tag)).length >= want.length,
        { timeout: 10000, what: `${strategy}: all 40 messages` });
      await sleep(300); // let any duplicate arrive
      expectExactly(await page.evaluate((t) => received('t', t), tag), want, strategy);
      const ids = await page.evaluate(() => subs.t.got.map((m) => m.id));
      assert.equal(new Set(ids).size, ids.length, `${strategy}: no duplicate id`);
      assert.equal(await page.evaluate(() => subs.t.sub.strategy), strategy);
      await page.evaluate(() => subs.t.sub.close());
      await page.close();
    });
  }

  test('every strategy and auto: herald killed and restarted while messages are published', async () => {
    const page = await harness(srv);
    const tag = `restart-${Date.now()}`;
    const start = await srv.publish('chat', `${tag} start`);
    const keys = [...STRATEGIES, 'auto'];
    for (const s of keys) {
      await page.evaluate(([key, since]) => track(key, 'chat',
        { strategy: key, since, pollInterval: 100, streamKeepalive: 1000 }),
        [s, start.id]);
    }
    await page.waitForFunction((ks) => ks.every((k) => subs[k].sub.state === 'open'), keys, { timeout: 5000 });
    // Ids restart with the new process: publish fewer messages after the restart than before,
    // so every client's resume point is an id the new channel never had -> "missed" + all.
    const want = [];
    for (let i = 0; i < 12; i++) {
      await srv.publish('chat', `${tag} before ${i}`);
      want.push(`${tag} before ${i}`);
    }
    for (const k of keys) {
      await waitFor(async () => (await page.evaluate(([key, t]) => received(key, t), [k, tag])).length === want.length,
        { timeout: 5000, what: `${k}: messages before the restart` });
    }
    // Down for 500 ms: the polling client (every 100 ms) then meets the dead server at least
    // once, so every strategy has a failure to report (a faster restart can fall between two
    // polls, and polling would rightly see nothing but the missed signal).
    await srv.restart({ signal: 'SIGKILL', downMs: 500 });
    for (let i = 0; i < 6; i++) {
      await srv.publish('chat', `${tag} after ${i}`);
      want.push(`${tag} after ${i}`);
      await sleep(100);
    }
    for (const k of keys) {
      await waitFor(async () => (await page.evaluate(([key, t]) => received(key, t), [k, tag])).length >= want.length,
        { timeout: 15000, what: `${k}: messages after the restart` });
    }
    await sleep(300);
    for (const k of keys) {
      expectExactly(await page.evaluate(([key, t]) => received(key, t), [k, tag]), want, k);
      const states = await page.evaluate((key) => subs[key].statuses.map((s) => s.state), k);
      assert.ok(states.includes('reconnecting'), `${k}: reported reconnecting (${states})`);
      assert.ok(states.includes('missed'), `${k}: reported the restart's missed signal (${states})`);
    }
    // auto had settled on the websocket and stays there.
    assert.equal(await page.evaluate(() => subs.auto.sub.strategy), 'websocket');
    await page.evaluate(() => Object.values(subs).forEach((r) => r.sub.close()));
    await page.close();
  });
});

async function expectSseFallback(srv, label) {
  const page = await harness(srv);
  await page.evaluate(() => track('a', 'clock', { strategy: 'auto' }));
  await page.waitForFunction(() => subs.a.got.length >= 2, null, { timeout: 8000 });
  const rec = await page.evaluate(() => ({ strategy: subs.a.sub.strategy, statuses: subs.a.statuses, got: subs.a.got }));
  assert.equal(rec.strategy, 'sse', `${label}: ended on SSE`);
  const fallback = rec.statuses.find((s) => s.state === 'fallback');
  assert.ok(fallback && fallback.from === 'websocket' && fallback.to === 'sse',
    `${label}: reported the fallback: ${JSON.stringify(rec.statuses)}`);
  assert.equal(idLife(rec.got[1].id), idLife(rec.got[0].id));
  assert.ok(idSeq(rec.got[1].id) > idSeq(rec.got[0].id));
  await page.evaluate(() => subs.a.sub.close());
  await page.close();
}

describe('auto falls back', () => {
  test('to SSE when there is no WebSocket route', async () => {
    const srv = await startHerald({ name: 'nows', edit: (t) => removeLocations(t, '/ws/') });
    try {
      await expectSseFallback(srv, 'no /ws/ location');
    } finally {
      await stopClean(srv);
    }
  });

  test('to SSE when allow_origin refuses the upgrade', async () => {
    const srv = await startHerald({
      name: 'origin',
      edit: (t) => t.replace(/(location\s+(?:=\s*)?\/ws\/\S*\s*\{)/g, '$1 allow_origin http://elsewhere.invalid;'),
    });
    try {
      await expectSseFallback(srv, 'allow_origin');
    } finally {
      await stopClean(srv);
    }
  });
});

// A TCP relay in front of herald whose connections the test can cut, as a network would: the
// page is loaded through it, so its EventSource reconnects by itself to the same URL.
async function relay(port) {
  const conns = new Set();
  const server = net.createServer((c) => {
    const up = net.connect(port, '127.0.0.1');
    conns.add(c).add(up);
    const drop = () => { c.destroy(); up.destroy(); conns.delete(c); conns.delete(up); };
    c.on('error', drop).on('close', drop);
    up.on('error', drop).on('close', drop);
    c.pipe(up);
    up.pipe(c);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    cut() { for (const c of conns) c.destroy(); conns.clear(); },
    close() { this.cut(); return new Promise((resolve) => server.close(resolve)); },
  };
}

describe('a native EventSource', () => {
  test('reconnecting to /sse/chat?since=N resumes from its Last-Event-ID: no duplicate, no gap', async () => {
    const srv = await startHerald({ name: 'eventsource', edit: (t) => setDirective(t, 'sse_retry', '200ms') });
    const proxy = await relay(srv.port);
    try {
      const page = await browser.context.newPage();
      await page.goto(proxy.origin + '/index.html');
      const tag = `es-${Date.now()}`;
      const start = await srv.publish('chat', `${tag} start`);
      await page.evaluate(([since]) => {
        window.got = [];
        window.opens = 0;
        window.es = new EventSource(`/sse/chat?since=${since}`);
        window.es.onopen = () => { window.opens++; };
        window.es.onmessage = (e) => window.got.push({ id: e.lastEventId, data: e.data });
      }, [start.id]);
      await page.waitForFunction(() => window.opens === 1, null, { timeout: 5000 });
      const want = [];
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 5; i++) {
          const body = `${tag} ${round}.${i}`;
          await srv.publish('chat', body);
          want.push(body);
        }
        await waitFor(async () => (await page.evaluate(() => window.got.length)) >= want.length,
          { what: `round ${round}: ${want.length} messages` });
        proxy.cut(); // the browser sees the stream die and reconnects after retry: 200 ms
        await srv.publish('chat', `${tag} ${round} away`); // published while it is away
        want.push(`${tag} ${round} away`);
        await page.waitForFunction((n) => window.opens === n, round + 2, { timeout: 5000 });
      }
      await waitFor(async () => (await page.evaluate(() => window.got.length)) >= want.length,
        { what: 'every message' });
      await sleep(300); // let any duplicate arrive
      const got = await page.evaluate(() => window.got);
      expectExactly(got.map((m) => m.data), want, 'EventSource');
      await page.evaluate(() => window.es.close());
      await page.close();
    } finally {
      await proxy.close();
      await stopClean(srv);
    }
  });
});

describe('the missed signal without a message', () => {
  // A resume point the channel never had, on a channel with nothing buffered: polling and
  // long-polling get 204 + X-Herald-Missed, the streams their in-band signal. Every strategy
  // reports it exactly once, keeps polling without reporting it again, then gets what follows.
  test('is reported exactly once per gap on every strategy, whatever the status', async () => {
    const srv = await startHerald({ name: 'gap', edit: (t) => addToHttp(t, 'channel gap { buffer 10; }') });
    try {
      const page = await harness(srv);
      for (const s of STRATEGIES) {
        await page.evaluate((key) => track(key, 'gap', { strategy: key, since: '50', pollInterval: 100 }), s);
      }
      await page.waitForFunction((ks) => ks.every((k) => subs[k].sub.state === 'open' || subs[k].missed.length > 0),
        STRATEGIES, { timeout: 5000 });
      await sleep(1500); // polling asks ~15 times, long-polling is held or asks again
      for (const s of STRATEGIES) {
        const missed = await page.evaluate((k) => subs[k].missed, s);
        assert.equal(missed.length, 1, `${s}: missed reported once: ${JSON.stringify(missed)}`);
      }
      await srv.publish('gap', 'after the gap');
      for (const s of STRATEGIES) {
        await waitFor(async () => (await page.evaluate((k) => subs[k].got.length, s)) >= 1,
          { what: `${s}: the message after the gap` });
      }
      await sleep(500);
      for (const s of STRATEGIES) {
        const rec = await page.evaluate((k) => ({ got: subs[k].got.map((m) => m.data), missed: subs[k].missed.length }), s);
        assert.deepEqual(rec, { got: ['after the gap'], missed: 1 }, s);
      }
      await page.evaluate(() => Object.values(subs).forEach((r) => r.sub.close()));
      await page.close();
    } finally {
      await stopClean(srv);
    }
  });
});

// Binary messages: random bytes (and bytes that are not UTF-8 under a text type) come back byte for
// byte as a Uint8Array on all five strategies; text messages stay strings.
describe('binary messages', () => {
  test('every strategy hands the page the published bytes as a Uint8Array', async () => {
    const srv = await startHerald({ name: 'binary', edit: (t) => addToHttp(t, 'channel bin { buffer 20; }') });
    try {
      const post = async (data, type) => {
        const res = await fetch(srv.url('/pub?channel=bin'), { method: 'POST', body: data, headers: { 'Content-Type': type } });
        assert.equal(res.status, 201);
        return (await res.json()).id;
      };
      const start = await post('start', 'text/plain');
      const random = new Uint8Array(20000);
      crypto.getRandomValues(random);
      const nasty = new TextEncoder().encode('\0\r\n\r</script><!--"\'\\\u2028');
      const sent = [
        [new Uint8Array([0xff, 0xfe, ...nasty, ...random, 0xc3]), 'application/octet-stream'],
        ['caf\u00e9 \u2713 </script>', 'text/plain; charset=utf-8'],
        [new Uint8Array([0x61, 0xc0, 0xaf, 0x0a, 0x62]), 'text/plain'],
        [new Uint8Array(0), 'image/png'],
      ];
      for (const [data, type] of sent) await post(data, type);
      const want = sent.map(([d]) => (typeof d === 'string' ? { text: d } : { bytes: Array.from(d) }));

      const page = await harness(srv);
      for (const s of STRATEGIES) {
        await page.evaluate(([key, since]) => track(key, 'bin', { strategy: key, since, pollInterval: 100 }), [s, start]);
      }
      for (const s of STRATEGIES) {
        await waitFor(async () => (await page.evaluate((k) => subs[k].got.length, s)) >= sent.length,
          { timeout: 8000, what: `${s}: ${sent.length} messages` });
      }
      for (const s of STRATEGIES) {
        const got = await page.evaluate((k) => subs[k].got.map((m) => (typeof m.data === 'string' ? { text: m.data }
          : m.data instanceof Uint8Array ? { bytes: Array.from(m.data) } : { other: String(m.data) })), s);
        assert.deepEqual(got, want, `${s}: every message byte for byte`);
      }
      await page.evaluate(() => Object.values(subs).forEach((r) => r.sub.close()));
      await page.close();
    } finally {
      await stopClean(srv);
    }
  });
});
