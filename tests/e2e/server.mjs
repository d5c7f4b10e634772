// Starts and stops the real herald binary for the e2e and herald.js tests.
//
// The test config is derived from the shipped conf/herald.conf, so the tests exercise exactly the
// routes `make run` serves: listen becomes 127.0.0.1:0 (the bound port is read from herald's
// `listening on 127.0.0.1:PORT` log line), root points to the repo's www/, relative includes become
// absolute, and pid/log files go to a temp dir. `edit` lets a test change the text further
// (see removeLocations/addToHttp). Binary: $HERALD_BIN, default build/asan/herald.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const WWW = path.join(ROOT, 'www');
export const BIN = path.resolve(ROOT, process.env.HERALD_BIN || 'build/asan/herald');
export const SHIPPED_CONF = path.resolve(ROOT, process.env.HERALD_CONF_TEMPLATE || 'conf/herald.conf');

const SANITIZER_MARKERS = ['ERROR: AddressSanitizer', 'runtime error:', 'ERROR: LeakSanitizer'];

// Removes every `location [=] PATH... { ... }` block whose path starts with prefix.
// A message id is "LIFE-SEQ" (README, "Push strategies"): its sequence number as a BigInt, and
// its life, asserting the shape.
const ID_RE = /^([0-9a-f]{12})-([1-9][0-9]*)$/;
export function idSeq(id) {
  const m = ID_RE.exec(id);
  if (!m) throw new Error(`not a message id: ${id}`);
  return BigInt(m[2]);
}
export function idLife(id) {
  const m = ID_RE.exec(id);
  if (!m) throw new Error(`not a message id: ${id}`);
  return m[1];
}

export function removeLocations(text, prefix) {
  const esc = prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return text.replace(new RegExp(`^[ \\t]*location\\s+(?:=\\s*)?${esc}\\S*\\s*\\{[^}]*\\}[ \\t]*\\n?`, 'gm'), '');
}

// Inserts directives at the top of the http block (e.g. an extra channel).
export function addToHttp(text, directives) {
  return text.replace(/^(\s*http\s*\{)/m, `$1\n    ${directives}`);
}

// Sets a simple directive (`name value;`) wherever the config has it, else at the top of http.
export function setDirective(text, name, value) {
  const re = new RegExp(`^([ \\t]*)${name}\\s+[^;]+;`, 'gm');
  return re.test(text) ? text.replace(re, `$1${name} ${value};`) : addToHttp(text, `${name} ${value};`);
}

// The shipped config with test-safe paths and port.
export function testConfig({ tmp, port = 0, edit } = {}) {
  let text = fs.readFileSync(SHIPPED_CONF, 'utf8');
  const confDir = path.dirname(SHIPPED_CONF);
  let listened = false;
  text = text.replace(/^(\s*)listen\s+[^;]+;/gm, (m, indent) => {
    if (listened) return '';
    listened = true;
    return `${indent}listen 127.0.0.1:${port};`;
  });
  text = text.replace(/^(\s*)root\s+[^;]+;/gm, `$1root ${WWW};`);
  text = text.replace(/^(\s*)include\s+([^;\s]+);/gm,
    (m, indent, file) => `${indent}include ${path.resolve(confDir, file)};`);
  text = text.replace(/^(\s*)pid\s+[^;]+;/gm, `$1pid ${path.join(tmp, 'herald.pid')};`);
  text = text.replace(/^(\s*)error_log\s+[^;]+;/gm, '$1error_log stderr notice;');
  text = text.replace(/^(\s*)access_log\s+(?!off\s*;)[^;]+;/gm, `$1access_log ${path.join(tmp, 'access.log')};`);
  text = text.replace(/^(\s*)daemon\s+[^;]+;/gm, '$1daemon off;');
  text = text.replace(/^\s*(user|group)\s+[^;]+;\n?/gm, '');
  // herald refuses to serve as root unless told so (CI runs as root).
  if (process.geteuid && process.geteuid() === 0) text = 'user root;\n' + text;
  if (!listened) throw new Error(`${SHIPPED_CONF}: no listen directive`);
  return edit ? edit(text) : text;
}

export class Herald {
  constructor({ edit, name = 'herald' } = {}) {
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-e2e-`));
    this.edit = edit;
    this.port = 0;
    this.proc = null;
    this.logs = [];        // the log of every run, in order
    this.exits = [];
  }

  get origin() { return `http://127.0.0.1:${this.port}`; }
  url(p) { return this.origin + p; }
  log() { return this.logs.join(''); }

  // Starts herald (on this.port when it is set: restarts keep the port, so pages reconnect).
  async start({ timeout = 15000 } = {}) {
    if (!fs.existsSync(BIN)) throw new Error(`herald binary not found: ${BIN} (make build/asan/herald)`);
    const confPath = path.join(this.tmp, 'herald.conf');
    fs.writeFileSync(confPath, testConfig({ tmp: this.tmp, port: this.port, edit: this.edit }));
    // The old socket may linger briefly after a restart: retry a busy port a few times.
    for (let attempt = 0; ; attempt++) {
      try {
        await this._spawn(confPath, timeout);
        return this;
      } catch (e) {
        // Retry a busy port (restart on the same port) or a binary that could not be spawned.
        const retriable = this.port !== 0 || /spawn /.test(e.message);
        if (!retriable || attempt >= 20) throw e;
        await sleep(250);
      }
    }
  }

  _spawn(confPath, timeout) {
    const env = { ...process.env };
    env.ASAN_OPTIONS ??= 'detect_leaks=1:abort_on_error=0';
    env.UBSAN_OPTIONS ??= 'print_stacktrace=1';
    const proc = spawn(BIN, ['-c', confPath], { cwd: this.tmp, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const run = this.logs.push('') - 1;
    const append = (chunk) => { this.logs[run] += chunk.toString('utf8'); };
    proc.stdout.on('data', append);
    proc.stderr.on('data', append);
    const exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => resolve({ code, signal }));
      // A binary being relinked by a parallel `make` cannot be spawned for a moment.
      proc.on('error', (e) => { append(`spawn ${BIN}: ${e.message}\n`); resolve({ code: null, signal: null, error: e }); });
    });
    this.proc = proc;
    this._exited = exited;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(`herald did not log "listening on" within ${timeout} ms`), timeout);
      const check = () => {
        const m = /listening on (?:\[[^\]]*\]|[0-9.]+):(\d+)/.exec(this.logs[run]);
        if (m) {
          clearTimeout(timer);
          proc.stdout.off('data', check);
          proc.stderr.off('data', check);
          this.port = Number(m[1]);
          resolve();
        }
      };
      const fail = (why) => {
        clearTimeout(timer);
        proc.kill('SIGKILL');
        reject(new Error(`${why}\n--- herald log ---\n${this.logs[run]}`));
      };
      proc.stdout.on('data', check);
      proc.stderr.on('data', check);
      exited.then(({ code, signal, error }) => {
        if (this.proc !== proc || /listening on/.test(this.logs[run])) return;
        fail(error ? `spawn ${BIN} failed: ${error.message}` : `herald exited early (code ${code}, signal ${signal})`);
      });
    });
  }

  // Stops herald (SIGTERM, or the given signal) and waits for it to exit.
  async stop(signal = 'SIGTERM', timeout = 10000) {
    const proc = this.proc;
    if (!proc) return null;
    this.proc = null;
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeout);
    const result = await this._exited;
    clearTimeout(timer);
    this.exits.push({ ...result, requested: signal });
    return result;
  }

  // Kills herald without warning (a crash, as far as clients can tell) and starts it again on the same port.
  async restart({ signal = 'SIGKILL', downMs = 0 } = {}) {
    await this.stop(signal);
    if (downMs) await sleep(downMs);
    return this.start();
  }

  // Throws when a sanitizer reported something or a graceful stop did not exit 0.
  assertClean() {
    const log = this.log();
    for (const marker of SANITIZER_MARKERS) {
      if (log.includes(marker)) throw new Error(`sanitizer report in herald's log:\n${log}`);
    }
    for (const e of this.exits) {
      if (e.requested === 'SIGTERM' && e.code !== 0) {
        throw new Error(`herald exited with code ${e.code} signal ${e.signal} after SIGTERM:\n${log}`);
      }
    }
  }

  async publish(channel, data) {
    const res = await fetch(this.url(`/pub?channel=${encodeURIComponent(channel)}`), {
      method: 'POST', body: data, headers: { 'Content-Type': 'text/plain; charset=utf-8' },
    });
    const text = await res.text();
    if (res.status !== 201) throw new Error(`publish to ${channel}: HTTP ${res.status} ${text}`);
    return JSON.parse(text);
  }

  cleanup() {
    if (this.proc) this.proc.kill('SIGKILL');
    fs.rmSync(this.tmp, { recursive: true, force: true });
  }
}

export async function startHerald(opts) {
  const h = new Herald(opts);
  try {
    await h.start();
  } catch (e) {
    h.cleanup();
    throw e;
  }
  return h;
}

export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// Polls fn until it returns a truthy value (returned) or the timeout passes (throws with what).
export async function waitFor(fn, { timeout = 5000, interval = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(interval);
  }
}
