// Launches Debian's headless Chromium through playwright-core (which never downloads a browser).
// Each launch gets a fresh profile directory, removed by close().
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { before, after } from 'node:test';
import { ROOT, startHerald } from './server.mjs';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const SHOTS = path.join(ROOT, 'build', 'e2e');

const ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--no-first-run', '--disable-quic', '--disable-sync',
  // Timers in background pages must keep running: several pages are open at once.
  '--disable-background-timer-throttling', '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];

export async function launch({ viewport = { width: 1100, height: 800 } } = {}) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport,
  });
  const errors = [];
  context.on('page', (page) => watch(page, errors));
  for (const page of context.pages()) watch(page, errors);
  return {
    context,
    errors, // uncaught page exceptions, for tests to assert on
    async page(url) {
      const page = await context.newPage();
      if (url) await page.goto(url);
      return page;
    },
    async close() {
      await context.close().catch(() => {});
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

function watch(page, errors) {
  page.on('pageerror', (e) => errors.push(`${page.url()}: ${e.message}`));
  if (process.env.E2E_CONSOLE) page.on('console', (m) => console.log(`[${page.url()}] ${m.type()}: ${m.text()}`));
}

export function screenshotPath(name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  return path.join(SHOTS, name);
}

// For a test file: starts herald on the shipped config (startHerald({ name })) and one
// Chromium before its tests, and after them closes the browser, stops herald and checks it
// exited cleanly. The returned object's srv and browser are set once the before hook ran.
export function heraldAndBrowser(name) {
  const env = { srv: null, browser: null };
  before(async () => {
    env.srv = await startHerald({ name });
    env.browser = await launch();
  });
  after(async () => {
    await env.browser?.close();
    if (env.srv) {
      await env.srv.stop();
      try { env.srv.assertClean(); } finally { env.srv.cleanup(); }
    }
  });
  return env;
}
