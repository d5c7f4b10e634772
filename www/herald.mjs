// ES module entry for herald.js: `import herald from '/herald.mjs'`. herald.js is a classic script
// (a file cannot be both a classic script and a module with a default export); it attaches to globalThis.
import './herald.js';
const herald = globalThis.herald;
export default herald;
export const subscribe = herald.subscribe, publish = herald.publish;
