// Published content in headless Chromium against the shipped config: an iframe stream opened
// as a top-level page with any ?callback= cannot turn a message into script, and published
// bytes served by polling never run as a page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sleep } from './server.mjs';
import { heraldAndBrowser } from './browser.mjs';

const env = heraldAndBrowser('security');

// What an attacker publishes through the open /chat/send route: script for eval-like sinks,
// markup for document.write-like ones, a javascript: URL for navigation sinks.
const PAYLOADS = [
  'window.__owned = (window.__owned || 0) + 1',
  '<img src=x onerror="window.__owned = (window.__owned || 0) + 1">',
  'javascript:window.__owned = (window.__owned || 0) + 1',
];

async function sendChat(text) {
  const res = await fetch(env.srv.url('/chat/send'), {
    method: 'POST', body: text, headers: { 'Content-Type': 'text/plain' },
  });
  assert.equal(res.status, 201, `publish: ${res.status}`);
}

test('an iframe stream opened top-level runs no published message, whatever the callback', async () => {
  for (const p of PAYLOADS) await sendChat(p);
  const callbacks = ['eval', 'document.write', 'location.assign', 'setTimeout', 'alert',
    'herald_push', 'herald_x'];
  for (const cb of callbacks) {
    const page = await env.browser.context.newPage();
    let dialogs = 0;
    page.on('dialog', (d) => { dialogs++; d.dismiss().catch(() => {}); });
    const res = await page.goto(env.srv.url(`/iframe/chat?since=0&callback=${encodeURIComponent(cb)}`),
      { waitUntil: 'commit' });
    await sleep(1500); // the backlog has arrived and every streamed script had its chance
    const owned = await page.evaluate(() => window.__owned).catch(() => undefined);
    assert.equal(owned, undefined, `callback=${cb} (HTTP ${res.status()}): a message ran`);
    assert.equal(dialogs, 0, `callback=${cb}: a dialog opened`);
    if (!cb.startsWith('herald_')) assert.equal(res.status(), 400, `callback=${cb}`);
    await page.close();
  }
});

test('published HTML, SVG and XML served by polling run no script in the page', async () => {
  const docs = [
    ['text/html', '<script>window.__owned = 1</script><p>hi</p>'],
    ['image/svg+xml', '<svg xmlns="http://www.w3.org/2000/svg"><script>window.__owned = 1</script></svg>'],
    ['application/xhtml+xml', '<html xmlns="http://www.w3.org/1999/xhtml"><body><script>window.__owned = 1</script></body></html>'],
  ];
  for (const [type, body] of docs) {
    const res = await fetch(env.srv.url('/pub?channel=chat'), {
      method: 'POST', body, headers: { 'Content-Type': type },
    });
    assert.equal(res.status, 201);
    const page = await env.browser.context.newPage();
    // Without a resume point polling answers the newest message: the one just published
    // (checked, so the case cannot pass by serving some other message).
    const got = await page.goto(env.srv.url('/poll/chat'));
    assert.equal(await got.text(), body, type);
    assert.ok(got.headers()['content-type'].startsWith(type), got.headers()['content-type']);
    assert.equal(got.headers()['content-security-policy'], 'sandbox', type);
    assert.equal(got.headers()['x-content-type-options'], 'nosniff', type);
    await sleep(300);
    const owned = await page.evaluate(() => window.__owned).catch(() => undefined);
    assert.equal(owned, undefined, `${type}: the published script ran`);
    await page.close();
  }
});
