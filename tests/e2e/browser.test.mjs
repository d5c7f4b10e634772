// The demo pages in headless Chromium against the real herald on the shipped config:
// every clock page ticks, the echo answers, two chat pages on different strategies see each
// other's messages in order, no page loads anything from elsewhere. Screenshots go to build/e2e/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sleep, waitFor, idLife, idSeq } from './server.mjs';
import { heraldAndBrowser, screenshotPath } from './browser.mjs';

const TIME = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/;

const env = heraldAndBrowser('pages');

// Opens a page and records every request it makes, to check they all stay on herald.
async function open(path, { viewport } = {}) {
  const page = await env.browser.context.newPage();
  if (viewport) await page.setViewportSize(viewport);
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(env.srv.url(path), { waitUntil: 'domcontentloaded' });
  return { page, requests };
}

function assertLocal(requests) {
  const origin = env.srv.origin;
  const ws = origin.replace(/^http/, 'ws');
  for (const url of requests) {
    assert.ok(url.startsWith(origin + '/') || url.startsWith(ws + '/') || url.startsWith('data:'),
      `request to another origin: ${url}`);
  }
}

for (const name of ['poll', 'longpoll', 'iframe', 'sse', 'websocket']) {
  test(`${name}.html: the clock changes at least twice within 4 s`, async () => {
    const { page, requests } = await open(`/${name}.html`);
    const started = Date.now(); // from the moment the page is there
    const seen = [];
    while (Date.now() - started < 4000 && seen.length < 3) {
      const text = (await page.textContent('#clock')).trim();
      if (TIME.test(text) && seen[seen.length - 1] !== text) seen.push(text);
      await sleep(50);
    }
    assert.ok(seen.length >= 3, `${name}: times shown within 4 s: ${JSON.stringify(seen)}`);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i] > seen[i - 1], `time went backwards: ${seen}`);
    const messages = Number(await page.textContent('#messages'));
    const made = Number(await page.textContent('#requests'));
    assert.ok(messages >= 2, `${name}: messages counter ${messages}`);
    assert.ok(made >= 1, `${name}: requests counter ${made}`);
    assert.match(await page.textContent('#route'), new RegExp(`^/${name === 'websocket' ? 'ws' : name}/clock$`));
    assertLocal(requests);
    await page.close();
  });
}

test('echo.html shows 服务器回应:hello, and echoes what is typed', async () => {
  const { page, requests } = await open('/echo.html');
  await page.waitForSelector('#log li.received', { timeout: 4000 });
  assert.equal((await page.textContent('#log li.received')).trim(), '← 服务器回应:hello');
  await page.fill('#text', 'héllo, 世界');
  await page.press('#text', 'Enter');
  await waitFor(async () => (await page.textContent('#log')).includes('服务器回应:héllo, 世界'),
    { what: 'second echo' });
  assertLocal(requests);
  await page.close();
});

// Chromium always offers permessage-deflate: herald accepts it, the browser's compressed
// message is inflated intact, and the reply goes back compressed (herald's /status counts
// both; the page sees the exact text).
test("Chromium's WebSocket negotiates permessage-deflate and round-trips compressed text", async () => {
  const status = async () => (await (await fetch(env.srv.url('/status'))).json()).ws_deflate;
  const { page } = await open('/echo.html');
  await page.waitForSelector('#log li.received', { timeout: 4000 });
  const before = await status();
  const text = 'compressible, and again '.repeat(400); // 9,600 bytes
  const got = await page.evaluate(async (t) => {
    const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/echo');
    await new Promise((ok, fail) => { ws.onopen = ok; ws.onerror = () => fail(new Error('ws error')); });
    const reply = new Promise((ok) => { ws.onmessage = (e) => ok(e.data); });
    ws.send(t);
    const data = await reply;
    ws.close();
    return { extensions: ws.extensions, same: data === '服务器回应:' + t };
  }, text);
  assert.match(got.extensions, /^permessage-deflate/);
  assert.ok(got.same, 'the echo came back changed');
  const after = await status();
  assert.ok(after.received.messages > before.received.messages, 'herald inflated nothing');
  assert.ok(after.received.plain_bytes - before.received.plain_bytes >= text.length);
  assert.ok(after.received.wire_bytes - before.received.wire_bytes < text.length / 10);
  assert.ok(after.sent.messages > before.sent.messages, 'herald compressed nothing');
  assert.ok(after.sent.wire_bytes - before.sent.wire_bytes < text.length / 10);
  await page.close();
});

test('chat.html: websocket and long-polling pages see each other in order, once', async () => {
  const a = await open('/chat.html?strategy=websocket&nick=ann');
  const b = await open('/chat.html?strategy=long-polling&nick=bob');
  for (const p of [a.page, b.page]) {
    await p.waitForSelector('#state.open', { timeout: 5000 });
  }
  assert.equal(await a.page.evaluate(() => chat.sub.strategy), 'websocket');
  assert.equal(await b.page.evaluate(() => chat.sub.strategy), 'long-polling');

  const sent = [];
  // This herald is fresh, so the texts are unique; duplicates would still show up here.
  const texts = (p) => p.evaluate((want) => chat.received.filter((m) => want.includes(m.text)), sent);
  // Alternate senders; each message is awaited on both pages so the expected order is fixed.
  const script = [
    [a, 'Hello from the WebSocket side!'], [b, 'Hi Ann, Bob here, on long-polling.'],
    [a, 'Same order on both pages?'], [b, 'Yes: one request per message, resumed by id.'],
    [a, 'And <b>markup</b> stays text.'], [b, 'Unicode too: ünïcödé ✓ 你好'],
  ];
  for (const [who, text] of script) {
    await who.page.fill('#text', text);
    await who.page.press('#text', 'Enter');
    sent.push(text);
    for (const p of [a.page, b.page]) {
      await waitFor(async () => (await texts(p)).length === sent.length,
        { timeout: 5000, what: `"${text}" on both pages` });
    }
  }
  for (const [label, p] of [['websocket page', a.page], ['long-polling page', b.page]]) {
    const got = await texts(p);
    assert.deepEqual(got.map((m) => m.text), sent, `${label}: order`);
    assert.equal(new Set(got.map((m) => idLife(m.id))).size, 1, `${label}: one life`);
    const ids = got.map((m) => idSeq(m.id));
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], `${label}: ids increase`);
    const all = await p.evaluate(() => chat.received.map((m) => m.id));
    assert.equal(new Set(all).size, all.length, `${label}: no duplicate id`);
    const nicks = got.map((m) => m.nick);
    assert.deepEqual(nicks, ['ann', 'bob', 'ann', 'bob', 'ann', 'bob']);
  }
  // The markup in a message is shown as text.
  assert.equal(await a.page.locator('#log b').count(), 0);
  assertLocal(a.requests);
  assertLocal(b.requests);

  await a.page.screenshot({ path: screenshotPath('chat.png') });
  await b.page.setViewportSize({ width: 390, height: 844 });
  await b.page.screenshot({ path: screenshotPath('chat-phone.png') });
  await a.page.close();
  await b.page.close();
});

test('chat.html: switching strategy keeps the conversation without gaps', async () => {
  const { page } = await open('/chat.html?strategy=sse&nick=cy');
  await page.waitForSelector('#state.open', { timeout: 5000 });
  const tag = `s${Date.now()}`;
  const order = ['polling', 'iframe', 'auto', 'long-polling'];
  const sent = [];
  for (let i = 0; i < order.length; i++) {
    await env.srv.publish('chat', JSON.stringify({ nick: 'srv', text: `${tag} ${i}` }));
    sent.push(`${tag} ${i}`);
    await page.selectOption('#strategy', order[i]);
    await page.waitForSelector('#state.open', { timeout: 5000 });
  }
  await env.srv.publish('chat', JSON.stringify({ nick: 'srv', text: `${tag} end` }));
  sent.push(`${tag} end`);
  const got = await waitFor(async () => {
    const r = await page.evaluate((t) => chat.received.filter((m) => m.text.startsWith(t)).map((m) => m.text), tag);
    return r.length >= sent.length && r;
  }, { timeout: 6000, what: 'every message after the switches' });
  assert.deepEqual(got, sent);
  const ids = await page.evaluate(() => chat.received.map((m) => m.id));
  assert.equal(new Set(ids).size, ids.length, 'no duplicate id');
  await page.close();
});

test('status.html renders /status as a live table', async () => {
  const { page, requests } = await open('/status.html');
  await page.waitForSelector('#state.open', { timeout: 4000 });
  await waitFor(async () => /^\d+(\.\d)?$/.test((await page.textContent('#pub-rate')).trim()),
    { timeout: 4000, what: 'messages/s' });
  const connections = Number(await page.textContent('#connections'));
  assert.ok(connections >= 1, `connections ${connections}`);
  const rows = await page.$$eval('#subscribers tr td:first-child', (tds) => tds.map((td) => td.textContent));
  for (const s of ['polling', 'long-polling', 'iframe', 'sse', 'websocket', 'total']) {
    assert.ok(rows.includes(s), `subscribers row ${s}: ${rows}`);
  }
  // The clock publishes once a second.
  const rate = Number(await page.textContent('#pub-rate'));
  assert.ok(rate > 0, `published/s ${rate}`);
  assertLocal(requests);
  await page.close();
});

test('index.html links every demo page, all of which load cleanly', async () => {
  const { page, requests } = await open('/index.html');
  const links = await page.$$eval('main a[href$=".html"]', (as) => [...new Set(as.map((a) => a.getAttribute('href')))]);
  for (const want of ['poll.html', 'longpoll.html', 'iframe.html', 'sse.html', 'websocket.html',
    'echo.html', 'chat.html', 'status.html']) {
    assert.ok(links.includes(want), `index links ${want}`);
  }
  assert.equal(await page.$eval('meta[charset]', (m) => m.getAttribute('charset').toLowerCase()), 'utf-8');
  await page.screenshot({ path: screenshotPath('index.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: screenshotPath('index-phone.png'), fullPage: true });
  assertLocal(requests);
  for (const link of links) {
    const res = await fetch(env.srv.url('/' + link));
    assert.equal(res.status, 200, link);
    assert.match(res.headers.get('content-type') || '', /^text\/html/, link);
    const html = await res.text();
    assert.match(html, /<meta charset="utf-8">/i, `${link}: charset`);
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//i, `${link}: external resource`);
  }
  await page.close();
});

test('herald.js loads as an ES module through herald.mjs', async () => {
  const { page } = await open('/index.html');
  await page.addScriptTag({
    type: 'module',
    content: "import herald, { subscribe } from '/herald.mjs'; window.mod = [typeof herald.subscribe, subscribe === herald.subscribe, herald.strategies.join()];",
  });
  const mod = await waitFor(() => page.evaluate(() => window.mod), { what: 'module evaluated' });
  assert.deepEqual(mod, ['function', true, 'websocket,sse,long-polling,polling,iframe']);
  const res = await fetch(env.srv.url('/herald.mjs'));
  assert.match(res.headers.get('content-type') || '', /javascript/);
  await page.close();
});

test('no page threw an uncaught error', () => {
  assert.deepEqual(env.browser.errors, []);
});
