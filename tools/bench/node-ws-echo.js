// Node `ws` echo server: the seed's stack, the baseline for tools/bench/ws-echo.sh.
// Echoes every message back as it came (text as text, binary as binary); no compression.
// Usage: node tools/bench/node-ws-echo.js PORT   (binds 127.0.0.1; needs `npm ci` in tools/bench)
'use strict';
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || 9002);
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
wss.on('listening', () => console.log(`node-ws-echo: listening on 127.0.0.1:${port}`));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
