// Node `ws` echo server: the seed's stack, the baseline for tools/bench/ws-echo.sh.
// Echoes every message back as it came (text as text, binary as binary). No compression,
// unless the second argument is `deflate`: then perMessageDeflate is on with ws's defaults
// (context takeover both ways, zlib level default, messages of any size compressed).
// Usage: node tools/bench/node-ws-echo.js PORT [deflate]   (binds 127.0.0.1; needs `npm ci`)
'use strict';
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || 9002);
const deflate = process.argv[3] === 'deflate';
const wss = new WebSocketServer({
  host: '127.0.0.1', port, perMessageDeflate: deflate ? { threshold: 0 } : false,
});
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
wss.on('listening', () => console.log(`node-ws-echo: listening on 127.0.0.1:${port}`));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
