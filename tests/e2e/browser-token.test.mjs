// herald.js with a `token` function in headless Chromium against herald with `auth_jwt` on every
// route: tokens live ~2 s, so each subscription is ended by the server for its expiry (WebSocket
// close 4401, the SSE and iframe final events, a long-poll 401) several times while messages
// are published; herald.js asks the function for a fresh token each time, reconnects from the
// last id, and the page receives every message exactly once, in order.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startHerald, addToHttp, setDirective, sleep, waitFor } from './server.mjs';
import { launch } from './browser.mjs';

const KEY = 'e2e-token-key-0123456789abcdefghijklmnop';
const STRATEGIES = ['websocket', 'sse', 'long-polling', 'iframe'];

// HS256 with Node's crypto (an implementation independent of herald's).
function makeToken(claims) {
  const b64 = (b) => Buffer.from(b).toString('base64url');
  const head = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64(JSON.stringify(claims));
  const sig = crypto.createHmac('sha256', KEY).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

describe('herald.js token refresh', () => {
  let srv;
  before(async () => {
    srv = await startHerald({
      name: 'token',
      edit: (t) => addToHttp(setDirective(t, 'stream_keepalive', '1s'),
        `auth_jwt "${KEY}"; auth_jwt_leeway 0;`),
    });
  });
  after(async () => {
    await srv?.stop();
    try { srv?.assertClean(); } finally { srv?.cleanup(); }
  });

  test('every strategy refreshes its expiring token and keeps receiving', async () => {
    const page = await browser.context.newPage();
    const issued = {};
    await page.exposeFunction('issueToken', (who) => {
      issued[who] = (issued[who] || 0) + 1;
      return makeToken({ sub: who, channels: ['chat'], exp: Math.floor(Date.now() / 1000) + 2 });
    });
    await page.goto(srv.url('/index.html'));
    await page.addScriptTag({ url: '/herald.js' });
    const tag = `tok-${Date.now()}`;
    const start = await srv.publish('chat', `${tag} start`);
    await page.evaluate(([strategies, since]) => {
      window.subs = {};
      for (const s of strategies) {
        const rec = { got: [], reasons: [] };
        rec.sub = herald.subscribe('chat', {
          strategy: s, since,
          token: () => window.issueToken(s),
          onmessage: (data) => rec.got.push(data),
          onstatus: (state, d) => { if (state === 'reconnecting') rec.reasons.push(d.reason); },
        });
        window.subs[s] = rec;
      }
    }, [STRATEGIES, start.id]);
    await page.waitForFunction((n) => Object.values(subs).filter((r) => r.sub.state === 'open').length === n,
      STRATEGIES.length, { timeout: 8000 });
    const want = [];
    const until = Date.now() + 4500;
    for (let i = 0; Date.now() < until; i++) {
      const body = `${tag} ${i}`;
      await srv.publish('chat', body);
      want.push(body);
      await sleep(100);
    }
    for (const s of STRATEGIES) {
      await waitFor(async () => (await page.evaluate(([k, t]) => subs[k].got.filter((d) => d.startsWith(t + ' ') && !d.endsWith('start')).length, [s, tag])) >= want.length,
        { timeout: 10000, what: `${s}: all ${want.length} messages` });
    }
    await sleep(300); // let any duplicate arrive
    for (const s of STRATEGIES) {
      const got = await page.evaluate(([k, t]) => subs[k].got.filter((d) => d.startsWith(t + ' ') && !d.endsWith('start')), [s, tag]);
      assert.deepEqual(got, want, `${s}: every message exactly once, in order`);
      const reasons = await page.evaluate((k) => subs[k].reasons, s);
      assert.ok(reasons.includes('token expired'), `${s}: ended for its token at least once (${reasons})`);
      assert.ok(issued[s] >= 2, `${s}: the token function was called again (${issued[s]})`);
    }
    await page.evaluate(() => Object.values(subs).forEach((r) => r.sub.close()));
    await page.close();
  });
});
