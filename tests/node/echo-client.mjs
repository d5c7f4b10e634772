// Node `ws` echo session against herald's echo route (a real client library); run by
// tests/integration/test_ws_clients.py.
//
// Usage: node echo-client.mjs ws://127.0.0.1:PORT/echo PREFIX
// Sends text, binary, fragmented text and binary, an empty and a 64 KiB message and a ping,
// checks every reply, then closes with 1000. Prints one JSON line
// {"ok":bool,"failures":[...],"closeCode":N,"closeReason":"...","extensions":"...","steps":N}
// and exits 0 only if every check passed and the close was clean (code 1000, wasClean).
import WebSocket from 'ws';

// A third argument "deflate" expects permessage-deflate to be negotiated (ws offers it by
// default); without it the client offers nothing.
const [url, prefix = '', mode = ''] = process.argv.slice(2);
const deflate = mode === 'deflate';
if (!url) {
    console.error('usage: node echo-client.mjs URL [PREFIX]');
    process.exit(2);
}

const failures = [];
let steps = 0;
const check = (cond, what) => {
    steps += 1;
    if (!cond) failures.push(what);
};

// Incoming messages and pongs, consumed in order by the steps below.
const inbox = [];
const waiters = [];
const deliver = (item) => {
    const w = waiters.shift();
    if (w) w(item);
    else inbox.push(item);
};
const next = () =>
    inbox.length ? Promise.resolve(inbox.shift()) : new Promise((resolve) => waiters.push(resolve));

const ws = new WebSocket(url, { perMessageDeflate: deflate ? { threshold: 0 } : false });
const timer = setTimeout(() => {
    failures.push('timeout');
    finish(null, '', false);
}, 8000);

let finished = false;
function finish(code, reason, wasClean) {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    const ok = failures.length === 0 && code === 1000 && wasClean;
    console.log(JSON.stringify({ ok, failures, closeCode: code, closeReason: reason,
                                 wasClean, extensions: ws.extensions, steps }));
    process.exit(ok ? 0 : 1);
}

ws.on('message', (data, isBinary) => deliver({ kind: isBinary ? 'binary' : 'text', data }));
ws.on('pong', (data) => deliver({ kind: 'pong', data }));
ws.on('error', (err) => failures.push('error: ' + err.message));
ws.on('close', (code, reason) => finish(code, reason.toString(), true));

async function expectText(want, what) {
    const m = await next();
    check(m.kind === 'text' && m.data.toString('utf8') === want,
          `${what}: got ${m.kind} ${String(m.data).slice(0, 60)}`);
}

async function expectBinary(want, what) {
    const m = await next();
    check(m.kind === 'binary' && Buffer.compare(m.data, want) === 0, `${what}: got ${m.kind}`);
}

ws.on('open', async () => {
    check(deflate ? ws.extensions.startsWith('permessage-deflate') : ws.extensions === '',
          `extensions negotiated: ${ws.extensions}`);

    ws.send('hello');
    await expectText(prefix + 'hello', 'text');

    ws.send('你好 ✓');
    await expectText(prefix + '你好 ✓', 'utf-8 text');

    const bin = Buffer.from([0, 1, 2, 0xfe, 0xff, 0x80]);
    ws.send(bin);
    await expectBinary(bin, 'binary');

    // Fragmented text: the first fragment is a text frame, the rest continuations.
    ws.send('frag1 ', { fin: false });
    ws.send('frag2 ', { fin: false });
    ws.send('end', { fin: true });
    await expectText(prefix + 'frag1 frag2 end', 'fragmented text');

    ws.send(Buffer.from([1, 2]), { binary: true, fin: false });
    ws.send(Buffer.from([3]), { binary: true, fin: true });
    await expectBinary(Buffer.from([1, 2, 3]), 'fragmented binary');

    ws.send('');
    await expectText(prefix, 'empty text');

    const big = 'x'.repeat(64 * 1024);
    ws.send(big);
    await expectText(prefix + big, '64 KiB text');

    ws.ping(Buffer.from('ping-payload'));
    const p = await next();
    check(p.kind === 'pong' && p.data.toString() === 'ping-payload', 'pong payload');

    ws.close(1000, 'done');
});
