/*
 * herald.js - one small API over herald's five push strategies.
 *
 *   <script src="/herald.js"></script>                      (sets window.herald)
 *   import herald from '/herald.mjs';                       (ES module wrapper)
 *
 *   const sub = herald.subscribe('chat', {  // or '/chat', or {websocket: '/ws/chat', sse: ...}
 *     strategy: 'auto',                   // or websocket | sse | long-polling | polling | iframe
 *     since: '5f0c2a9e17b4-17',           // optional: start after this id ('0': all buffered)
 *     routes: { polling: null },          // optional: per-strategy routes (null: never use it)
 *     onmessage(data, id, event) { ... }, // every message once, in order; data: a string,
 *                                         // or a Uint8Array for a binary message; event: the
 *                                         // publisher's X-Herald-Event name, or undefined
 *     onstatus(state, detail) { ... },    // connecting | open | fallback | reconnecting | missed | closed
 *     onmissed(info) { ... },             // the server says messages were lost: {since, first}
 *     token: () => fetch('/token').then(r => r.text()), // optional: auth_jwt routes (a string,
 *                                         // or a function returning one or a Promise of one)
 *   });                                   // more options: see `defaults` below
 *   sub.strategy; sub.lastId; sub.state; sub.send(text); sub.reconnect(); sub.close();
 *   herald.publish('/chat/send', 'hello').then(r => r.id);
 *
 *   const conn = herald.connect({          // many channels over one connection
 *     shared: true,                        // optional: one connection for every tab of the origin
 *     onstatus(state, detail) { ... },     // as above, for the one transport
 *   });
 *   const chat = conn.subscribe('chat', { onmessage(data, id, event, channel) { ... },
 *                                         onmissed(info) { ... } });   // info.channel
 *   chat.close();                          // unsubscribes (a socket by command, no reconnect)
 *   conn.publish('chat', 'hi').then(r => r.id);   // over a `multiplex on; publish on;` socket
 *   conn.strategy; conn.state; conn.role; conn.channels; conn.cursor(); conn.close();
 *
 * A channel name maps to the shipped routes: /ws/NAME, /sse/NAME, /longpoll/NAME, /poll/NAME,
 * /iframe/NAME. herald.js needs fetch, URL and setTimeout; WebSocket, EventSource and a
 * document are used when present (in Node, pass `WebSocket` from the `ws` package).
 *
 * Wire protocol (see the README): message ids are opaque strings "LIFE-SEQ". WebSocket and SSE
 * use ?format=json so each message carries {"id","channel"[,"event"],"data"}; the event name
 * comes from there, the iframe call's fourth argument or the X-Herald-Event header;
 * polling and long-polling read the ETag header; the iframe stream calls a per-connection
 * global callback. Every (re)connection resumes with ?since=<last id seen>, and any message
 * whose id is not after the last one seen is dropped, so a page sees no gap and no duplicate.
 *
 * Binary messages (the server's rule: a type other than text/*, application/json,
 * application/javascript, or bytes that are not valid UTF-8) reach onmessage as a Uint8Array
 * holding exactly the published bytes: the WebSocket envelope carries them in base64 with
 * "encoding":"base64" (SSE too), the iframe call with a
 * third argument 'base64'; polling and long-polling read the body as bytes and decode it as
 * UTF-8 only when its Content-Type is a text type (or absent) and it is valid UTF-8.
 *
 * `auto` tries websocket, then sse, then long-polling, then polling, moving on when a
 * transport fails to open (an old browser, a proxy that refuses the upgrade). Once one has
 * worked, a lost connection is retried on that same transport with exponential backoff and
 * jitter; if it then fails to open several times in a row the whole list is tried again.
 *
 * Signed tokens (`auth_jwt`): the token goes in ?token= (EventSource and WebSocket cannot set
 * headers). A function is called for the first connection and again whenever the server ends
 * the subscription because the token expired or was revoked (WebSocket close 4401/4403, SSE
 * `herald-expired`/`herald-revoked`, the iframe's {ended}, a long-poll or poll 401/403) and
 * after a connection that failed to open (it may have been refused for its token); the fresh
 * token reconnects at once, resuming from the last id.
 *
 * Dependency-free; a classic script (it never uses `export`), so herald.mjs re-exports it.
 */
(function (global) {
  'use strict';

  var AUTO_ORDER = ['websocket', 'sse', 'long-polling', 'polling'];
  var STRATEGIES = AUTO_ORDER.concat(['iframe']);
  var ROUTE_PREFIX = {
    websocket: '/ws/', sse: '/sse/', 'long-polling': '/longpoll/', polling: '/poll/', iframe: '/iframe/'
  };

  // Tunables shared by every subscription; any of them may also be passed per subscribe().
  var defaults = {
    base: null,             // base URL for relative routes (default: the page's location)
    pollInterval: 1000,     // polling: wait after "nothing new" (304/204)
    openTimeout: 8000,      // a transport that neither opens nor fails by then has failed
    longPollTimeout: 120000, // client-side abort of a held long-poll (server answers 304 sooner)
    backoffBase: 250,       // retry n waits between base*2^n/2 and base*2^n ms ...
    backoffMax: 10000,      // ... capped here
    reopenAttempts: 4,      // auto: failed re-opens of the working transport before re-probing
    streamKeepalive: 15000, // the server's stream_keepalive: an iframe silent 2.5x that long is dead
    iframeRenew: 1000,      // iframe: messages per document before a fresh one is started
    sharedSettle: 150,      // herald.connect({shared}): a new leader waits this long for the tabs' channels
    WebSocket: null,        // constructors to use instead of the globals (tests, Node);
    EventSource: null       // false: treat as unavailable
  };

  var callbackSeq = 0;

  function noop() {}

  // Runs fn soon, never synchronously, so a transport cannot re-enter its owner mid-call.
  function defer(fn, arg) { return setTimeout(function () { fn(arg); }, 0); }

  // Calls a user callback; an exception in page code must not break the transport, so it is
  // rethrown asynchronously (it still shows in the console).
  function callUser(fn, self, args) {
    if (typeof fn !== 'function') return;
    try { fn.apply(self, args); } catch (e) { setTimeout(function () { throw e; }, 0); }
  }

  // Ids are opaque strings, sent back to the server exactly as seen. Within one life of a
  // channel they read "LIFE-SEQ" with SEQ increasing, so a message is "seen already" only when
  // it has the same LIFE and a SEQ no greater (SEQ compared as an unbounded decimal); an id of
  // another life, or of any other shape, is new.
  function splitId(id) {
    var s = String(id);
    var m = /^(.*?)(\d+)$/.exec(s);
    return m ? { life: m[1], seq: m[2].replace(/^0+(?=\d)/, '') } : null;
  }
  function idAfter(a, b) {
    if (b === null || b === undefined || b === '') return true;
    var x = splitId(a), y = splitId(b);
    if (!x || !y || x.life !== y.life) return String(a) !== String(b);
    return x.seq.length !== y.seq.length ? x.seq.length > y.seq.length : x.seq > y.seq;
  }

  // Delay before retry number `attempt` (0 = first retry): exponential with "equal jitter",
  // so the first retry is fast and a crowd of clients does not reconnect in lockstep.
  function backoffDelay(attempt, opts) {
    opts = opts || defaults;
    var ceil = Math.min(opts.backoffMax, opts.backoffBase * Math.pow(2, Math.min(attempt, 30)));
    return Math.round(ceil / 2 + Math.random() * ceil / 2);
  }

  // Standard padded base64 (what the server sends for binary messages) -> Uint8Array.
  function fromBase64(text) {
    var bin = global.atob(text);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  // JSON text -> the object it holds, or null (not JSON, or not an object).
  function parseJson(text) {
    try {
      var v = JSON.parse(text);
      return v && typeof v === 'object' ? v : null;
    } catch (e) { return null; }
  }

  // JSON text -> a message envelope ({"id","channel","data"[,"event","encoding"]}), or null.
  function parseEnvelope(text) {
    var m = parseJson(text);
    return m && 'data' in m ? m : null;
  }

  // An envelope's data: the text, or a binary message's exact bytes.
  function envelopeData(m) { return m.encoding === 'base64' ? fromBase64(m.data) : m.data; }

  // The server's text rule for a Content-Type (push/message.hpp, is_text_type): no type,
  // text/*, application/json or application/javascript, parameters ignored, any case.
  function isTextType(type) {
    var t = (type || '').split(';')[0].replace(/^[ \t]+|[ \t]+$/g, '').toLowerCase();
    return t === '' || (t.length > 5 && t.slice(0, 5) === 'text/') ||
      t === 'application/json' || t === 'application/javascript';
  }

  // A polling body: a string when the server would call it text (a text type and valid
  // UTF-8), else the exact bytes. ignoreBOM keeps a leading U+FEFF, which is part of the data.
  function bodyData(buf, type) {
    if (isTextType(type)) {
      try { return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(buf); } catch (e) { /* bytes */ }
    }
    return new Uint8Array(buf);
  }

  // "W/\"17\"" or "\"17\"" -> "17"
  function etagId(res) {
    var tag = res.headers.get('ETag');
    if (!tag) return null;
    return tag.replace(/^W\//, '').replace(/^"|"$/g, '');
  }

  function resolveUrl(url, base) {
    base = base || (global.location && global.location.href);
    return base ? new URL(url, base).href : url;
  }

  function addQuery(url, params) {
    var parts = [];
    for (var k in params) {
      if (params[k] !== null && params[k] !== undefined) {
        parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(params[k]));
      }
    }
    if (!parts.length) return url;
    return url + (url.indexOf('?') < 0 ? '?' : '&') + parts.join('&');
  }

  // 'chat', '/chat' or {websocket: '/ws/chat', ...} -> {strategy: route}
  function resolveRoutes(target, overrides) {
    var routes = {};
    var i;
    if (typeof target === 'string') {
      var name = target.replace(/^\/+|\/+$/g, '');
      for (i = 0; i < STRATEGIES.length; i++) routes[STRATEGIES[i]] = ROUTE_PREFIX[STRATEGIES[i]] + name;
    } else if (target && typeof target === 'object') {
      for (i = 0; i < STRATEGIES.length; i++) {
        if (target[STRATEGIES[i]]) routes[STRATEGIES[i]] = target[STRATEGIES[i]];
      }
    }
    if (overrides) {
      for (i = 0; i < STRATEGIES.length; i++) {
        var s = STRATEGIES[i];
        if (overrides[s] !== undefined) routes[s] = overrides[s] || null;
      }
    }
    return routes;
  }

  // ---- transports ------------------------------------------------------------------------
  // Each opens one connection (or a request loop) and reports through h:
  //   h.open()  h.message(data, id[, event])  h.missed({since, first[, next]})  h.fail(reason)
  //   h.ended('expired' | 'revoked') (the server ended it for its token: refresh, reconnect)
  //   (next: where to resume once no message follows the signal, so it is not signalled again)
  //   h.renew() (reconnect at once, no backoff: the transport wants a fresh start)
  // h ignores calls after fail() or after the subscription moved on. Each returns
  // {close(), send(text) -> bool}; close() must not call h.fail().

  function openWebSocket(sub, h) {
    var WS = sub.options.WebSocket === false ? null : sub.options.WebSocket || global.WebSocket;
    if (!WS) { defer(h.fail, 'WebSocket is not available'); return { close: noop }; }
    var url = sub._url('websocket', { format: 'json' }).replace(/^http/, 'ws');
    var ws;
    try { ws = new WS(url); } catch (e) { defer(h.fail, String(e && e.message || e)); return { close: noop }; }
    ws.binaryType = 'arraybuffer'; // json format sends none, but a binary frame stays bytes
    var timer = setTimeout(function () { h.fail('open timeout'); shut(); }, sub.options.openTimeout);
    function shut() {
      clearTimeout(timer);
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try { ws.close(1000); } catch (e) { /* already closed */ }
    }
    ws.onopen = function () { clearTimeout(timer); h.open(); };
    ws.onmessage = function (ev) {
      if (typeof ev.data !== 'string') { // a binary frame carries no id
        if (ev.data && typeof ev.data.byteLength === 'number') h.message(new Uint8Array(ev.data), null);
        return;
      }
      var m = parseJson(ev.data);
      if (m && m.herald === 'missed') h.missed({ since: m.since, first: m.first, channel: m.channel });
      else if (m && typeof m.herald === 'string') h.control(m); // multiplex answers
      else if (m && 'id' in m) h.message(envelopeData(m), String(m.id), m.event, m.channel);
      else h.message(ev.data, null);
    };
    ws.onerror = noop; // onclose follows and carries the code
    ws.onclose = function (ev) {
      clearTimeout(timer);
      if (ev.code === 4401 || ev.code === 4403) h.ended(ev.code === 4401 ? 'expired' : 'revoked');
      else h.fail('closed (' + ev.code + ')');
    };
    return {
      close: shut,
      send: function (text) {
        if (ws.readyState !== 1) return false;
        ws.send(String(text));
        return true;
      }
    };
  }

  function openEventSource(sub, h) {
    var ES = sub.options.EventSource === false ? null : sub.options.EventSource || global.EventSource;
    if (!ES) { defer(h.fail, 'EventSource is not available'); return { close: noop }; }
    var es;
    // json: the envelope carries binary data in base64 and the event name, so every message
    // (named or not) arrives as the default event and one listener sees them all.
    try { es = new ES(sub._url('sse', { format: 'json' })); } catch (e) { defer(h.fail, String(e && e.message || e)); return { close: noop }; }
    var timer = setTimeout(function () { h.fail('open timeout'); shut(); }, sub.options.openTimeout);
    function shut() { clearTimeout(timer); es.onopen = es.onmessage = es.onerror = null; es.close(); }
    es.onopen = function () { clearTimeout(timer); h.open(); };
    es.onmessage = function (ev) {
      var m = parseEnvelope(ev.data);
      if (m && sub._mux) h.message(envelopeData(m), String(m.id), m.event, m.channel, ev.lastEventId); // id: the cursor
      else if (m) h.message(envelopeData(m), ev.lastEventId || String(m.id), m.event);
      else h.message(ev.data, ev.lastEventId || null);
    };
    es.addEventListener('herald-missed', function (ev) {
      var info = parseJson(ev.data) || {};
      h.missed({ since: info.since, first: info.first, channel: info.channel });
    });
    es.addEventListener('herald-expired', function () { shut(); h.ended('expired'); });
    es.addEventListener('herald-revoked', function () { shut(); h.ended('revoked'); });
    // EventSource would reconnect by itself, but with its own timing and without our
    // fallback logic: take over, resuming with ?since= like every other transport.
    es.onerror = function () { shut(); h.fail('stream error'); };
    return { close: shut };
  }

  // Shared by polling and long-polling: one request at a time; each answer schedules the next.
  function openRequestLoop(sub, h, name, held) {
    var stopped = false;
    var ctrl = null;
    var timer = null;
    function next(delay) {
      if (stopped) return;
      timer = setTimeout(send, delay || 0);
    }
    function send() {
      if (stopped) return;
      var since = sub._mux ? sub._mux.cursor() : sub.lastId;
      var started = Date.now();
      ctrl = typeof AbortController === 'function' ? new AbortController() : null;
      // A held request that has not failed within a second means the route works.
      var openTimer = held ? setTimeout(h.open, 1000) : null;
      var abortTimer = setTimeout(function () { if (ctrl) ctrl.abort(); },
        held ? sub.options.longPollTimeout : sub.options.openTimeout);
      function done() { clearTimeout(openTimer); clearTimeout(abortTimer); }
      fetch(sub._url(name, sub._mux ? { format: 'json' } : null), { cache: 'no-store', signal: ctrl ? ctrl.signal : undefined })
        .then(function (res) {
          if (res.status === 200) {
            return res.arrayBuffer().then(function (buf) {
              done();
              if (stopped) return;
              h.open();
              var id = etagId(res);
              if (sub._mux) { // ?format=json: the envelope names the channel; the ETag is the cursor
                var m = parseEnvelope(new TextDecoder().decode(buf));
                if (!m) { h.fail('not an envelope'); return; }
                if (res.headers.get('X-Herald-Missed')) h.missed({ since: since, first: String(m.id), channel: m.channel });
                h.message(envelopeData(m), String(m.id), m.event, m.channel, id);
                next(0);
                return;
              }
              if (res.headers.get('X-Herald-Missed')) h.missed({ since: since, first: id });
              h.message(bodyData(buf, res.headers.get('Content-Type')), id,
                res.headers.get('X-Herald-Event') || undefined);
              next(0); // more may be waiting: walk the channel at once
            });
          }
          done();
          if (stopped) return;
          if (res.status === 304 || res.status === 204) {
            h.open();
            // The gap is signalled with no message: resume after the newest id (the ETag), or
            // from the start ('0') of a channel that has none, so it is reported once.
            if (res.headers.get('X-Herald-Missed')) h.missed({ since: since, first: '', next: etagId(res) || '0' });
            // polling waits; a long-poll answered 304 timed out, so ask again at once
            // (unless the server answered suspiciously fast, which would make a hot loop).
            var quick = Date.now() - started < 200;
            next(held && !quick && res.status === 304 ? 0 : sub.options.pollInterval);
            return;
          }
          if (res.status === 401 || res.status === 403) {
            h.ended(res.status === 401 ? 'expired' : 'revoked');
            return;
          }
          h.fail('HTTP ' + res.status);
        })
        .catch(function (e) {
          done();
          if (!stopped) h.fail(String(e && e.message || e));
        });
    }
    next(0);
    return {
      close: function () {
        stopped = true;
        clearTimeout(timer);
        if (ctrl) ctrl.abort();
      }
    };
  }

  function openPolling(sub, h) { return openRequestLoop(sub, h, 'polling', false); }
  function openLongPolling(sub, h) { return openRequestLoop(sub, h, 'long-polling', true); }

  // The "forever iframe": the server streams <script>parent.NAME(data, id)</script> chunks
  // (parent.NAME(base64, id, 'base64') for a binary message; a named message adds the name:
  // (data, id, '', event) / (base64, id, 'base64', event)).
  // No event says "the stream started": the document still loading from our URL means it did.
  // Nor does one say that it died: when the connection breaks without a proper end (a crashed
  // server) the frame may stay "loading" for ever. So it is watched: messages and the server's
  // keepalive comments (every stream_keepalive) both add nodes; a long silence means it is dead.
  function openIframe(sub, h) {
    var doc = global.document;
    if (!doc || !doc.body) { defer(h.fail, 'no document for an iframe'); return { close: noop }; }
    var name = 'herald_cb_' + (++callbackSeq) + '_' + Math.random().toString(36).slice(2, 8);
    var silence = Math.max(2.5 * sub.options.streamKeepalive + 1000, 3000);
    var lastSign = 0;      // when the stream last showed a sign of life
    var count = 0;         // messages in this document
    var attached = false;
    var closed = false;
    var observer = null;
    var frame = doc.createElement('iframe');

    global[name] = function (data, id, extra, event) {
      lastSign = Date.now();
      if (extra && extra.missed) { h.missed({ since: extra.since, first: extra.first, channel: extra.channel }); return; }
      if (extra && extra.ended) { shut(); h.ended(extra.ended); return; }
      h.open();
      if (sub._mux) { // a channel list: (ENVELOPE, CURSOR)
        var m = parseEnvelope(data);
        if (m) h.message(envelopeData(m), String(m.id), m.event, m.channel, id);
      } else h.message(extra === 'base64' ? fromBase64(data) : data, id, event);
      // Each message leaves a <script> in the frame: start a fresh document now and then.
      if (++count >= sub.options.iframeRenew) defer(h.renew);
    };
    function watch() {
      if (!observer) {
        try {
          var d = frame.contentDocument;
          if (d && d.readyState === 'loading' && d.URL.indexOf(name) >= 0) {
            observer = new MutationObserver(function () { lastSign = Date.now(); });
            observer.observe(d, { childList: true, subtree: true, characterData: true });
            lastSign = Date.now();
            h.open();
          }
        } catch (e) { /* an error page from another origin */ }
      }
      if (attached && Date.now() - lastSign > silence) { shut(); h.fail('stream silent'); }
    }
    function attach() {
      if (closed || attached) return;
      attached = true;
      lastSign = Date.now();
      doc.body.appendChild(frame);
    }
    function shut() {
      closed = true;
      clearInterval(probe);
      if (observer) observer.disconnect();
      frame.onload = null;
      if (frame.parentNode) frame.parentNode.removeChild(frame);
      try { delete global[name]; } catch (e) { global[name] = undefined; }
    }

    frame.setAttribute('aria-hidden', 'true');
    frame.tabIndex = -1;
    frame.style.cssText = 'position:absolute;width:0;height:0;border:0;visibility:hidden';
    frame.src = sub._url('iframe', { callback: name });
    frame.onload = function () { shut(); h.fail('stream ended'); }; // it never ends while it works
    var probe = setInterval(watch, 100);
    // A never-ending iframe added before the page's own load event would hold that event back.
    if (doc.readyState === 'complete') attach();
    else global.addEventListener('load', attach);
    return { close: shut };
  }

  var TRANSPORTS = {
    websocket: openWebSocket,
    sse: openEventSource,
    'long-polling': openLongPolling,
    polling: openPolling,
    iframe: openIframe
  };

  // ---- subscription ----------------------------------------------------------------------

  function Subscription(target, options) {
    var o = {};
    var k;
    for (k in defaults) o[k] = defaults[k];
    for (k in options || {}) o[k] = options[k];
    this.options = o;
    this._mux = o._mux || null;  // the Connection this engine carries (herald.connect)
    this.routes = this._mux ? o.routes : resolveRoutes(target, o.routes);
    var wanted = o.strategy || 'auto';
    if (wanted !== 'auto' && !TRANSPORTS[wanted]) throw new Error('herald: unknown strategy ' + wanted);
    var routes = this.routes;
    this._candidates = wanted === 'auto'
      ? AUTO_ORDER.filter(function (s) { return !!routes[s]; })
      : [wanted];
    if (!this._candidates.length || !routes[this._candidates[0]]) {
      throw new Error('herald: no route for ' + (wanted === 'auto' ? 'any strategy' : wanted));
    }
    this.mode = wanted;
    this.strategy = null;        // the transport in use (or being tried)
    this.state = 'idle';
    this.lastId = o.since === null || o.since === undefined ? null : String(o.since);
    this._index = 0;             // position in _candidates
    this._settled = wanted !== 'auto'; // a fixed strategy never falls back
    this._attempt = 0;           // consecutive retries, for the backoff
    this._failedOpens = 0;       // consecutive re-opens of the settled transport that failed
    this._acceptNext = false;    // after a "missed" signal the next id starts a new sequence
    this._conn = null;           // {transport, opened, openedAt}
    this._timer = null;
    this._closed = false;
    this._tokenValue = null;     // the token in use (options.token resolved)
    this._refreshToken = true;   // ask options.token again before the next connection
    this._tokenSeq = 0;          // the token request whose answer is awaited
    this._connect();
  }

  Subscription.prototype._status = function (state, detail) {
    this.state = state;
    callUser(this.options.onstatus, this, [state, detail || {}]);
  };

  Subscription.prototype._url = function (strategy, extra) {
    if (this._mux) return this._mux._url(strategy, extra, this._tokenValue);
    var params = { since: this.lastId, token: this._tokenValue };
    for (var k in extra || {}) params[k] = extra[k];
    return addQuery(resolveUrl(this.routes[strategy], this.options.base), params);
  };

  // Resolves options.token first when a (fresh) token is needed, then opens the transport.
  Subscription.prototype._connect = function () {
    this._timer = null;
    if (this._closed) return;
    var self = this;
    var source = this.options.token;
    if (source === null || source === undefined || !this._refreshToken) { this._open(); return; }
    var seq = ++this._tokenSeq;
    var pending;
    try {
      pending = Promise.resolve(typeof source === 'function' ? source.call(this) : source);
    } catch (e) {
      pending = Promise.reject(e);
    }
    pending.then(function (t) {
      if (self._closed || seq !== self._tokenSeq) return;
      self._tokenValue = t === null || t === undefined ? null : String(t);
      self._refreshToken = false;
      self._open();
    }, function (e) {
      if (self._closed || seq !== self._tokenSeq) return;
      var delay = backoffDelay(self._attempt++, self.options);
      self._status('reconnecting', { strategy: self._candidates[self._index], delay: delay,
        attempt: self._attempt, reason: 'token: ' + String(e && e.message || e) });
      self._schedule(delay);
    });
  };

  Subscription.prototype._open = function () {
    var self = this;
    var name = this._candidates[this._index];
    var conn = { transport: null, opened: false, openedAt: 0 };
    this.strategy = name;
    this._conn = conn;
    this._status('connecting', { strategy: name, since: this.lastId });
    var live = function () { return self._conn === conn && !self._closed; };
    conn.transport = TRANSPORTS[name](this, {
      open: function () {
        if (!live() || conn.opened) return;
        conn.opened = true;
        conn.openedAt = Date.now();
        self._settled = true;
        self._failedOpens = 0;
        self._status('open', { strategy: name });
        if (self._mux) self._mux._opened(name);
      },
      message: function (data, id, event, channel, cursor) {
        if (!live()) return;
        if (self._mux) { self._attempt = 0; self._mux._message(data, id, event, channel, cursor); } else self._message(data, id, event);
      },
      missed: function (info) {
        if (!live()) return;
        if (self._mux) self._mux._missed(info); else self._missed(info);
      },
      control: function (m) { if (live() && self._mux) self._mux._control(m); },
      fail: function (reason) { if (live()) self._failed(conn, name, reason); },
      ended: function (why) { if (live()) self._ended(conn, name, why); },
      renew: function () { if (live()) self.reconnect(); }
    });
  };

  Subscription.prototype._message = function (data, id, event) {
    if (id !== null && id !== undefined && id !== '') {
      if (!this._acceptNext && !idAfter(id, this.lastId)) return; // seen already: drop
      this._acceptNext = false;
      this.lastId = String(id);
    }
    this._attempt = 0;
    callUser(this.options.onmessage, this, [data, id, event]);
  };

  Subscription.prototype._missed = function (info) {
    // Everything the server still has follows; the ids may even restart (a restarted server),
    // so the next message is taken whatever its id. lastId stays when messages follow (the
    // first one moves it on); without any (a 204/304 answer) it moves to info.next.
    this._acceptNext = true;
    if (info.next !== undefined && info.next !== null) this.lastId = String(info.next);
    var detail = { since: info.since === undefined ? this.lastId : info.since,
      first: info.first === undefined ? '' : info.first, strategy: this.strategy };
    this._status('missed', detail);
    callUser(this.options.onmissed, this, [detail]);
  };

  // The server ended the subscription for its token: a fresh token, and at once the same
  // transport from the last id. A connection that never opened is a plain failure (backoff),
  // so a token the server keeps refusing cannot make a hot loop.
  Subscription.prototype._ended = function (conn, name, why) {
    var reason = why === 'revoked' ? 'revoked' : 'token expired';
    if (!conn.opened) { this._failed(conn, name, reason); return; }
    this._conn = null;
    if (conn.transport) conn.transport.close();
    this._refreshToken = true;
    this._status('reconnecting', { strategy: name, delay: 0, attempt: this._attempt, reason: reason });
    this._schedule(0);
  };

  Subscription.prototype._failed = function (conn, name, reason) {
    this._conn = null;
    if (!conn.opened) this._refreshToken = true; // refused, perhaps for its token
    if (conn.transport) conn.transport.close();
    var opened = conn.opened;
    // A connection that lived a while was healthy: start the backoff again from the fast end.
    if (opened && Date.now() - conn.openedAt > 5000) this._attempt = 0;
    if (!opened && !this._settled && this._index + 1 < this._candidates.length) {
      this._index++;
      this._status('fallback', { from: name, to: this._candidates[this._index], reason: reason });
      this._schedule(0);
      return;
    }
    if (!opened) this._failedOpens++;
    if (this._settled && this.mode === 'auto' && this._failedOpens >= this.options.reopenAttempts) {
      this._settled = false; // the transport that worked no longer opens: probe the list again
      this._failedOpens = 0;
      this._index = 0;
    } else if (!this._settled) {
      this._index = 0; // every candidate failed: start over after a pause
    }
    var delay = backoffDelay(this._attempt++, this.options);
    this._status('reconnecting', {
      strategy: this._candidates[this._index], delay: delay, attempt: this._attempt, reason: reason
    });
    this._schedule(delay);
  };

  Subscription.prototype._schedule = function (delay) {
    var self = this;
    clearTimeout(this._timer);
    this._timer = setTimeout(function () { self._connect(); }, delay);
  };

  // Sends text over the WebSocket when that is the open transport (for a route with
  // `publish on;`). Returns false otherwise: publish over HTTP instead.
  Subscription.prototype.send = function (text) {
    var t = this._conn && this._conn.opened && this._conn.transport;
    return !!(t && t.send && t.send(text));
  };

  // Drops the current connection and opens it again at once, resuming from lastId
  // (for instance after the browser comes back online).
  Subscription.prototype.reconnect = function () {
    if (this._closed) return;
    if (this._conn && this._conn.transport) this._conn.transport.close();
    this._conn = null;
    this._schedule(0);
  };

  Subscription.prototype.close = function () {
    if (this._closed) return;
    this._closed = true;
    clearTimeout(this._timer);
    if (this._conn && this._conn.transport) this._conn.transport.close();
    this._conn = null;
    this._status('closed', { strategy: this.strategy });
  };

  // ---- connection: many channels over one transport (herald.connect) ----------------------
  // One engine (a Subscription carrying the transport, fallback, backoff and token logic) for
  // every channel of the connection. WebSocket: a `multiplex on` route, channels subscribed and
  // unsubscribed by command on the open socket, each resumed from its own last id. The HTTP
  // strategies: a channel list in the URL (`/sse/a,b,c`), resumed with the compound cursor
  // (README "Several channels on one connection"); a change of the list reconnects at once.
  // Every message goes to the handlers of its channel, once, in that channel's order.

  var MUX_ROUTES = {
    websocket: '/mux', sse: '/sse/', 'long-polling': '/longpoll/', polling: '/poll/', iframe: '/iframe/'
  };

  // The HASH of a cursor entry: FNV-1a 32 of the channel name (names are ASCII), 8 hex digits.
  function channelHash(name) {
    var h = 0x811c9dc5;
    for (var i = 0; i < name.length; i++) {
      h ^= name.charCodeAt(i) & 0xff;
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return ('0000000' + h.toString(16)).slice(-8);
  }

  // "HASH.LIFE-SEQ,..." -> {HASH: 'LIFE-SEQ'}; null when text is no compound cursor.
  function parseCursor(text) {
    if (!text) return null;
    var out = {};
    var parts = String(text).split(',');
    for (var i = 0; i < parts.length; i++) {
      var m = /^([0-9a-f]{8})\.([0-9a-f]{12}-\d+)$/.exec(parts[i]);
      if (!m) return null;
      out[m[1]] = m[2];
    }
    return out;
  }

  function Connection(options) {
    var o = {};
    var k;
    for (k in defaults) o[k] = defaults[k];
    for (k in options || {}) o[k] = options[k];
    this.options = o;
    this.routes = {};
    for (var i = 0; i < STRATEGIES.length; i++) {
      var st = STRATEGIES[i];
      var r = o.routes && o.routes[st] !== undefined ? o.routes[st] : MUX_ROUTES[st];
      if (r) this.routes[st] = r;
    }
    this._channels = {};   // name -> {name, hash, lastId, acceptNext, handles: []}
    this._names = [];      // in the order they were first subscribed
    this._engine = null;   // created with the first channel, closed with the last
    this._refresh = null;  // a pending reconnect after the list changed (HTTP strategies)
    this._refs = 0;
    this._pending = {};    // publish ref -> {resolve, reject}
    this._closed = false;
    this._state = 'idle';  // a follower tab's mirror of the leader's state
    this._strategy = null;
    this._shared = null;
    var key = o.shared === true ? 'default' : o.shared;
    var locks = global.navigator && global.navigator.locks;
    if (key && typeof global.BroadcastChannel === 'function' && locks) this._share(String(key), locks);
  }

  Object.defineProperty(Connection.prototype, 'strategy', {
    get: function () { return this._engine ? this._engine.strategy : this._strategy; }
  });
  Object.defineProperty(Connection.prototype, 'state', {
    get: function () { return this._engine ? this._engine.state : this._state; }
  });
  // Shared connections: 'leader' (this tab holds the connection), 'follower', or null.
  Object.defineProperty(Connection.prototype, 'role', {
    get: function () { return this._shared ? (this._shared.leader ? 'leader' : 'follower') : null; }
  });
  Object.defineProperty(Connection.prototype, 'channels', {
    get: function () { return this._names.slice(); }
  });

  // What resumes every channel at once on an HTTP strategy: one channel's own id, or for a
  // list the compound cursor of every channel with a known position.
  Connection.prototype.cursor = function () {
    if (this._names.length === 1) return this._channels[this._names[0]].lastId;
    var entries = [];
    for (var i = 0; i < this._names.length; i++) {
      var c = this._channels[this._names[i]];
      if (c.lastId && /^[0-9a-f]{12}-\d+$/.test(c.lastId)) entries.push(c.hash + '.' + c.lastId);
    }
    return entries.length ? entries.join(',') : null;
  };

  Connection.prototype._url = function (strategy, extra, token) {
    var route = this.routes[strategy];
    var params = { token: token };
    var k;
    if (strategy !== 'websocket') {
      var list = this._names.join(',');
      route = route.indexOf('{channels}') >= 0 ? route.replace('{channels}', list) : route + list;
      params.since = this.cursor();
      for (k in extra || {}) params[k] = extra[k];
      params.format = 'json'; // the envelope names each message's channel
    }
    return addQuery(resolveUrl(route, this.options.base), params);
  };

  Connection.prototype._command = function (cmd) {
    return !!(this._engine && this._engine.strategy === 'websocket' && this._engine.send(JSON.stringify(cmd)));
  };

  Connection.prototype._subscribeCommand = function (c) {
    var cmd = { op: 'subscribe', channel: c.name };
    if (c.lastId) cmd.since = c.lastId;
    return this._command(cmd);
  };

  // The engine's transport opened: a multiplexed socket (re)subscribes every channel.
  Connection.prototype._opened = function (strategy) {
    if (strategy !== 'websocket') return;
    for (var i = 0; i < this._names.length; i++) this._subscribeCommand(this._channels[this._names[i]]);
  };

  Connection.prototype._message = function (data, id, event, channel, cursor) {
    var i, c;
    // Channels with no position yet learn it from the cursor (their life's start, LIFE-0, or
    // where they joined live). Read only while one lacks it: not every message's work.
    var unplaced = false;
    for (i = 0; i < this._names.length && !unplaced; i++) unplaced = !this._channels[this._names[i]].lastId;
    var entries = unplaced ? parseCursor(cursor) : null;
    if (entries) {
      for (i = 0; i < this._names.length; i++) {
        c = this._channels[this._names[i]];
        if (!c.lastId && entries[c.hash] && c.name !== channel) c.lastId = entries[c.hash];
      }
    }
    if (channel === undefined && this._names.length === 1) channel = this._names[0];
    c = this._channels[channel];
    if (!c) return; // unsubscribed meanwhile
    if (id !== null && id !== undefined && id !== '') {
      if (!c.acceptNext && !idAfter(id, c.lastId)) return; // seen already
      c.acceptNext = false;
      c.lastId = String(id);
    }
    if (this._shared && this._shared.leader) this._post({ t: 'msg', channel: channel, data: data, id: id, event: event });
    var handles = c.handles.slice();
    for (i = 0; i < handles.length; i++) callUser(handles[i].options.onmessage, handles[i], [data, id, event, channel]);
  };

  Connection.prototype._missed = function (info) {
    var name = info.channel || (this._names.length === 1 ? this._names[0] : null);
    var c = name && this._channels[name];
    if (!c) return;
    c.acceptNext = true;
    if (info.next !== undefined && info.next !== null) {
      var entries = parseCursor(info.next);
      if (entries) {
        for (var i = 0; i < this._names.length; i++) {
          var d = this._channels[this._names[i]];
          if (entries[d.hash] && (d === c || !d.lastId)) d.lastId = entries[d.hash];
        }
      } else if (this._names.length === 1) c.lastId = String(info.next);
    }
    if (this._shared && this._shared.leader) {
      this._post({ t: 'missed', info: { channel: name, since: info.since, first: info.first } });
    }
    var detail = { channel: name, since: info.since === undefined ? c.lastId : info.since,
      first: info.first === undefined ? '' : info.first, strategy: this.strategy };
    var handles = c.handles.slice();
    for (var j = 0; j < handles.length; j++) callUser(handles[j].options.onmissed, handles[j], [detail]);
    callUser(this.options.onmissed, this, [detail]);
  };

  // Answers of a multiplexed socket.
  Connection.prototype._control = function (m) {
    var p = m.ref !== undefined && this._pending[m.ref];
    if (p) delete this._pending[m.ref];
    if (m.herald === 'published' && p) { p.resolve({ id: m.id, channel: m.channel }); return; }
    if (m.herald === 'error') {
      if (p) {
        var err = new Error('herald: ' + m.error);
        err.status = m.status;
        p.reject(err);
        return;
      }
      if (m.status === 409) return; // subscribed already (a resubscribe racing an answer)
      var c = m.channel && this._channels[m.channel];
      var handles = c ? c.handles.slice() : [];
      for (var i = 0; i < handles.length; i++) callUser(handles[i].options.onerror, handles[i], [m]);
      callUser(this.options.onerror, this, [m]);
      return;
    }
    if (m.herald === 'closed' && m.channel && this._channels[m.channel]) {
      var hs = this._channels[m.channel].handles.slice();
      for (var j = 0; j < hs.length; j++) callUser(hs[j].options.onclosed, hs[j], [m.channel]);
    }
  };

  // The list changed: a socket takes commands; an HTTP strategy reconnects with the new list
  // (once for every change made in the same turn), resuming each channel from its cursor entry.
  Connection.prototype._changed = function (c, added) {
    var self = this;
    if (this._shared && !this._shared.leader) { // the leader tab holds the connection
      if (c) this._post(added ? { t: 'sub', tab: this._shared.tab, channel: c.name, since: c.lastId }
        : { t: 'unsub', tab: this._shared.tab, channel: c.name });
      return;
    }
    if (this._shared && !this._shared.settled) return; // the new leader connects once settled
    if (!this._names.length) {
      clearTimeout(this._refresh);
      this._refresh = null;
      if (this._engine) this._engine.close();
      this._engine = null;
      return;
    }
    if (!this._engine) {
      var o = {};
      for (var k in this.options) o[k] = this.options[k];
      o.routes = this.routes;
      o._mux = this;
      o.since = null;
      o.onmessage = o.onmissed = null;
      o.onstatus = function (state, detail) {
        if (self._shared) self._post({ t: 'status', state: state, detail: detail });
        callUser(self.options.onstatus, self, [state, detail]);
      };
      this._engine = new Subscription(null, o);
      return;
    }
    if (this._engine.strategy === 'websocket' && this._engine.state === 'open') {
      if (added) this._subscribeCommand(c);
      else this._command({ op: 'unsubscribe', channel: c.name });
      return;
    }
    if (this._engine.strategy === 'websocket') return; // subscribes everything once open
    if (this._refresh) return;
    this._refresh = setTimeout(function () {
      self._refresh = null;
      if (self._engine) self._engine.reconnect();
    }, 0);
  };

  // Follows `name` on this connection: options {onmessage(data, id, event, channel),
  // onmissed(info), onerror(answer), onclosed(channel), since}. Returns {channel, lastId,
  // close()}. Several handles on one channel share its position.
  Connection.prototype.subscribe = function (name, options) {
    if (this._closed) throw new Error('herald: connection closed');
    name = String(name);
    if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(name) || name === '.' || name === '..') {
      throw new Error('herald: invalid channel name ' + name);
    }
    var self = this;
    var c = this._channels[name];
    var added = !c;
    if (added) {
      var since = options && options.since;
      c = { name: name, hash: channelHash(name), lastId: since === null || since === undefined ? null : String(since),
        acceptNext: false, handles: [] };
      this._channels[name] = c;
      this._names.push(name);
    }
    var handle = {
      channel: name,
      options: options || {},
      get lastId() { return c.lastId; },
      close: function () {
        var i = c.handles.indexOf(handle);
        if (i < 0) return;
        c.handles.splice(i, 1);
        if (c.handles.length || self._channels[name] !== c) return;
        delete self._channels[name];
        self._names.splice(self._names.indexOf(name), 1);
        self._changed(c, false);
      }
    };
    c.handles.push(handle);
    if (added) this._changed(c, true);
    return handle;
  };

  // Publishes over the multiplexed socket (a `publish on` route): resolves to {id, channel}
  // once stored, rejects with the server's error (err.status). Over any other transport it
  // rejects: publish over HTTP (herald.publish) instead.
  Connection.prototype.publish = function (channel, data, options) {
    var self = this;
    return new Promise(function (resolve, reject) {
      var ref = 'p' + (++self._refs);
      var cmd = { op: 'publish', channel: String(channel), data: String(data), ref: ref };
      if (options && options.event) cmd.event = options.event;
      self._pending[ref] = { resolve: resolve, reject: reject };
      if (self._shared && !self._shared.leader) { // the leader sends it and answers
        self._post({ t: 'pub', tab: self._shared.tab, cmd: cmd });
        return;
      }
      if (!self._command(cmd)) {
        delete self._pending[ref];
        reject(new Error('herald: not connected over a multiplexed websocket'));
      }
    });
  };

  // ---- one connection for every tab of an origin (options.shared) -------------------------
  // The tabs that share a key elect a leader with a Web Lock: the leader holds the one
  // connection, for the union of every tab's channels, and relays each message once over a
  // BroadcastChannel; each tab keeps its own channels' positions and drops what it saw. When
  // the leader closes, its lock passes to the next tab, which asks every tab for its channels
  // and positions ('hello'), then connects resuming each channel from the oldest position any
  // tab holds: nothing published meanwhile is lost, and each tab drops what it already had.

  Connection.prototype._post = function (m) {
    if (this._shared && !this._closed) this._shared.bc.postMessage(m);
  };

  Connection.prototype._share = function (key, locks) {
    var self = this;
    var sh = this._shared = {
      tab: Math.random().toString(36).slice(2) + Date.now().toString(36),
      bc: new global.BroadcastChannel('herald:' + key),
      leader: false,
      settled: false,
      remote: {},        // tab -> {channel: handle}
      release: null
    };
    sh.bc.onmessage = function (ev) { self._onShared(ev.data || {}); };
    locks.request('herald:' + key, function () {
      if (self._closed) return undefined;
      return new Promise(function (release) {
        sh.release = release;
        sh.leader = true;
        self._post({ t: 'hello' });
        // Let every tab answer with its channels, then connect for all of them.
        setTimeout(function () {
          sh.settled = true;
          if (!self._closed && !self._engine && self._names.length) self._changed(null, true);
        }, self.options.sharedSettle);
      });
    }).catch(noop);
    if (global.addEventListener) {
      global.addEventListener('pagehide', function () { self.close(); });
    }
  };

  Connection.prototype._onShared = function (m) {
    var sh = this._shared;
    var i;
    if (!sh || this._closed) return;
    if (!sh.leader) {
      if (m.t === 'msg') this._message(m.data, m.id, m.event, m.channel, null);
      else if (m.t === 'missed') this._missed(m.info);
      else if (m.t === 'status') {
        this._state = m.state;
        this._strategy = m.detail && m.detail.strategy || this._strategy;
        callUser(this.options.onstatus, this, [m.state, m.detail || {}]);
      } else if (m.t === 'hello') {
        for (i = 0; i < this._names.length; i++) {
          var c = this._channels[this._names[i]];
          this._post({ t: 'sub', tab: sh.tab, channel: c.name, since: c.lastId });
        }
      } else if (m.t === 'pubres' && m.tab === sh.tab) this._control(m.answer);
      return;
    }
    var mine = m.tab && (sh.remote[m.tab] = sh.remote[m.tab] || {});
    if (m.t === 'sub' && mine && !mine[m.channel]) {
      var existing = this._channels[m.channel];
      // The oldest position any tab holds wins, so no tab misses what it has not seen.
      if (existing && m.since && (!existing.lastId || idAfter(existing.lastId, m.since)) && !this._engine) {
        existing.lastId = m.since;
      }
      mine[m.channel] = this.subscribe(m.channel, { since: m.since });
    } else if (m.t === 'unsub' && mine && mine[m.channel]) {
      mine[m.channel].close();
      delete mine[m.channel];
    } else if (m.t === 'bye' && mine) {
      for (var ch in mine) mine[ch].close();
      delete sh.remote[m.tab];
    } else if (m.t === 'pub' && m.cmd) {
      var tab = m.tab;
      var self = this;
      var answer = function (a) { self._post({ t: 'pubres', tab: tab, answer: a }); };
      var cmd = m.cmd;
      this.publish(cmd.channel, cmd.data, { event: cmd.event }).then(function (r) {
        answer({ herald: 'published', id: r.id, channel: r.channel, ref: cmd.ref });
      }, function (e) {
        answer({ herald: 'error', status: e.status || 503, error: String(e.message), ref: cmd.ref });
      });
    }
  };

  Connection.prototype.reconnect = function () { if (this._engine) this._engine.reconnect(); };

  Connection.prototype.close = function () {
    if (this._closed) return;
    if (this._shared) {
      if (!this._shared.leader) this._post({ t: 'bye', tab: this._shared.tab });
      this._shared.bc.close();
      if (this._shared.release) this._shared.release();
    }
    this._closed = true;
    clearTimeout(this._refresh);
    if (this._engine) this._engine.close();
    this._engine = null;
    for (var ref in this._pending) this._pending[ref].reject(new Error('herald: connection closed'));
    this._pending = {};
  };

  function connect(options) { return new Connection(options); }

  // ---- API -------------------------------------------------------------------------------

  function subscribe(target, options) { return new Subscription(target, options); }

  // POSTs data to a publish route: a string as text/plain, an ArrayBuffer or typed array as
  // application/octet-stream bytes, a Blob as it is, any other object as JSON (options.type
  // overrides the type). Resolves to the server's answer ({id, channel, subscribers});
  // rejects on a network error or a non-2xx status.
  function publish(url, data, options) {
    var o = options || {};
    var body = data;
    var type = 'text/plain; charset=utf-8';
    if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
      type = 'application/octet-stream';
    } else if (data !== null && typeof data === 'object' && !(typeof Blob === 'function' && data instanceof Blob)) {
      body = JSON.stringify(data);
      type = 'application/json';
    }
    return fetch(resolveUrl(url, o.base || defaults.base), {
      method: 'POST', body: body, headers: { 'Content-Type': o.type || type }
    }).then(function (res) {
      return res.text().then(function (text) {
        if (!res.ok) {
          var err = new Error('herald: publish failed: HTTP ' + res.status);
          err.status = res.status;
          throw err;
        }
        try { return JSON.parse(text); } catch (e) { return { body: text }; }
      });
    });
  }

  var herald = {
    version: '1.0.0',
    strategies: STRATEGIES.slice(),
    defaults: defaults,
    subscribe: subscribe,
    connect: connect,
    publish: publish,
    // exposed for tests
    _idAfter: idAfter,
    _backoffDelay: backoffDelay,
    _resolveRoutes: resolveRoutes,
    _isTextType: isTextType,
    _bodyData: bodyData,
    _channelHash: channelHash,
    _parseCursor: parseCursor
  };

  global.herald = herald;
  if (typeof module === 'object' && module && module.exports) module.exports = herald;
})(typeof globalThis !== 'undefined' ? globalThis : typeof self !== 'undefined' ? self : this);
