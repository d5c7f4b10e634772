// The status page in headless Chromium: while messages are published to a channel with a live
// subscriber, its canvas charts draw and move (new samples, new pixels, non-zero rates and
// latency), the worker and top-channel tables fill, and the page fits a phone's width.
// Screenshots go to build/e2e/ (docs/status.png is one of them, copied by hand).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sleep, waitFor } from './server.mjs';
import { heraldAndBrowser, screenshotPath } from './browser.mjs';

const env = heraldAndBrowser('status');

// Holds an SSE subscription to `chat` open (so publishes are delivered and timed) until abort.
function subscribe() {
  const ctl = new AbortController();
  const done = fetch(env.srv.url('/sse/chat'), { signal: ctl.signal })
    .then(async (res) => { for await (const _ of res.body) { /* drain */ } })
    .catch(() => {});
  return { stop: async () => { ctl.abort(); await done; } };
}

// Publishes to chat every 50 ms until stop() is awaited.
function publishing() {
  let on = true;
  const loop = (async () => {
    for (let i = 0; on && i < 400; i++) {
      await env.srv.publish('chat', `status test ${i}`);
      await sleep(50);
    }
  })();
  return { stop: async () => { on = false; await loop; } };
}

async function chart(page, name) {
  return page.$eval(`#c-${name}`, (c) => ({
    samples: Number(c.dataset.samples || 0), last: Number(c.dataset.last || 0),
    pixels: c.toDataURL(), width: c.width,
  }));
}

for (const [label, viewport] of [['desktop', { width: 1100, height: 1400 }], ['phone', { width: 390, height: 844 }]]) {
  test(`status.html (${label}): the charts draw and move while messages are published`, async () => {
    const sub = subscribe();
    const pub = publishing();
    const page = await env.browser.context.newPage();
    try {
      await page.setViewportSize(viewport);
      await page.goto(env.srv.url('/status.html'), { waitUntil: 'domcontentloaded' });
      await waitFor(async () => (await chart(page, 'published')).samples >= 2,
        { timeout: 8000, what: 'two samples on the published chart' });
      const first = {};
      for (const name of ['connections', 'published', 'delivered', 'dropped', 'p99']) {
        first[name] = await chart(page, name);
        assert.ok(first[name].width > 0, `${name}: canvas has no size`);
      }
      await waitFor(async () => (await chart(page, 'published')).samples >= first.published.samples + 2,
        { timeout: 8000, what: 'two more samples' });
      for (const name of ['connections', 'published', 'delivered', 'p99']) {
        const now = await chart(page, name);
        assert.ok(now.samples > first[name].samples, `${name}: no new sample`);
        if (name !== 'connections') assert.ok(now.last > 0, `${name}: last value ${now.last}`);
        assert.notEqual(now.pixels, first[name].pixels, `${name}: the chart did not move`);
      }
      assert.ok(Number(await page.textContent('#v-published')) >= 5, 'published/s shown');
      assert.ok(await page.$$eval('#threads tr', (r) => r.length) >= 1, 'worker table empty');
      const top = await page.$$eval('#top-channels tr td:first-child', (c) => c.map((x) => x.textContent));
      assert.ok(top.includes('chat'), `top channels: ${top}`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `page is ${overflow}px wider than the viewport`);
      await page.screenshot({ path: screenshotPath(`status-${label}.png`), fullPage: label === 'desktop' });
      assert.deepEqual(env.browser.errors, []);
    } finally {
      await page.close();
      await pub.stop();
      await sub.stop();
    }
  });
}
