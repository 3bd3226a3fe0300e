// Browser tests of the web console: build and start the real stack
// (`airlock dev`: embedded NATS, gateway, executor, results; API keys on),
// drive Debian's Chromium headless with playwright-core, run a Python program
// through the playground, check the verdicts shown, open the fleet view and
// check that it shows the executor. Screenshots go to test-artifacts/.
//
//   cd tests/browser && npm ci && node console.test.mjs    (or: go tool task browser)
//
// Environment: AIRLOCK_BIN (use this binary instead of building one),
// CHROMIUM (default /usr/bin/chromium), ARTIFACTS (default <repo>/test-artifacts).
// Needs a Docker engine and the python image (airlock/python).

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ARTIFACTS = process.env.ARTIFACTS || path.join(ROOT, 'test-artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// The machine may be small and shared: be generous.
const READY_MS = 4 * 60_000;
const RUN_MS = 3 * 60_000;
const UI_MS = 30_000;
const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

const log = (...a) => console.log(`[${new Date().toISOString().slice(11, 19)}]`, ...a);
const rnd = () => crypto.randomBytes(5).toString('hex');

// ---- the stack -------------------------------------------------------------------

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function buildBinary(tmp) {
  if (process.env.AIRLOCK_BIN) return path.resolve(process.env.AIRLOCK_BIN);
  const bin = path.join(tmp, 'airlock');
  log('building', bin);
  const r = spawnSync('go', ['build', '-o', bin, './cmd/airlock'], {
    cwd: ROOT, stdio: 'inherit', env: { ...process.env, CGO_ENABLED: '0' },
  });
  if (r.status !== 0) throw new Error(`go build failed (${r.error ? r.error.message : 'exit ' + r.status})`);
  return bin;
}

async function startStack(bin, tmp, opts) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const logPath = path.join(ARTIFACTS, 'airlock.log');
  const out = fs.openSync(logPath, 'w');
  const args = [
    'dev', '--listen', `127.0.0.1:${port}`, '--nats-listen', '', '--data-dir', path.join(tmp, 'data'),
    '--executor-id', opts.executorId, '--slots', '2', '--languages', 'python', '--pool', 'python=1',
    '--api-keys', `browser:${opts.key}`,
    // The same key is the operator's: the fleet view then names the executor
    // (other keys see pseudonyms).
    '--operator-key', opts.key,
  ];
  log('starting airlock', args.filter((a) => !a.includes(opts.key)).join(' '), '(log:', logPath + ')');
  const child = spawn(bin, args, { stdio: ['ignore', out, out] });
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });
  const deadline = Date.now() + READY_MS;
  for (;;) {
    if (exited) throw new Error(`airlock exited early (${JSON.stringify(exited)}):\n${tail(logPath)}`);
    try {
      const r = await fetch(base + '/readyz');
      if (r.status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`not ready within ${READY_MS / 1000} s:\n${tail(logPath)}`);
    await sleep(500);
  }
  log('stack ready at', base);
  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    const t = Date.now();
    while (!exited && Date.now() - t < 90_000) await sleep(200);
    if (!exited) {
      log('airlock did not stop within 90 s; killing it');
      child.kill('SIGKILL');
    }
  };
  return { base, child, stop, exited: () => exited };
}

function tail(file) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-40).join('\n');
  } catch {
    return '';
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- steps -----------------------------------------------------------------------

let page; // the page the current step works in (for failure screenshots)
const results = [];

async function shot(name, p = page, fullPage = false) {
  const file = path.join(ARTIFACTS, name + '.png');
  await p.screenshot({ path: file, fullPage });
  log('  screenshot', path.relative(ROOT, file));
}

async function step(name, fn) {
  const t0 = Date.now();
  log('---', name);
  try {
    await fn();
    results.push({ name, ok: true });
    log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    results.push({ name, ok: false });
    log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
    if (page) await shot('fail-' + name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()).catch(() => {});
    throw e;
  }
}

const text = async (locator) => (await locator.textContent({ timeout: UI_MS })) || '';

// ---- main -------------------------------------------------------------------------

async function main() {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-browser-'));
  const key = 'console-' + rnd();
  const executorId = 'browser-' + rnd();
  let stack;
  let context;
  const cleanup = async () => {
    if (context) await context.close().catch(() => {});
    if (stack) await stack.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  };
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, async () => {
      log('interrupted');
      await cleanup();
      process.exit(130);
    });
  }
  try {
    stack = await startStack(buildBinary(tmp), tmp, { key, executorId });
    const { base } = stack;

    await step('the console is served without a key, the API is not', async () => {
      for (const [p, status, type] of [
        ['/', 200, 'text/html'], ['/console/fleet', 200, 'text/html'],
        ['/console/assets/playground.js', 200, 'javascript'], ['/console/assets/console.css', 200, 'text/css'],
        ['/v1/fleet', 401, 'application/json'], ['/v1/runtimes', 401, 'application/json'],
        ['/console/assets/', 404, 'application/json'],
      ]) {
        const r = await fetch(base + p);
        assert.equal(r.status, status, `GET ${p}`);
        assert.match(r.headers.get('content-type') || '', new RegExp(type), `Content-Type of ${p}`);
      }
      const r = await fetch(base + '/nope', { headers: { Authorization: 'Bearer ' + key } });
      assert.equal(r.status, 404);
      assert.equal((await r.json()).error.code, 'not_found');
    });

    const userDataDir = path.join(tmp, 'chromium-profile');
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: { width: 1440, height: 900 },
      timeout: 120_000,
    });
    context.setDefaultTimeout(UI_MS);
    const foreign = [];
    const consoleErrors = [];
    context.on('request', (req) => {
      const u = req.url();
      if (!u.startsWith(base + '/') && !u.startsWith('data:')) foreign.push(u);
    });
    const watch = (p) => {
      p.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
      p.on('pageerror', (e) => consoleErrors.push('pageerror: ' + e.message));
    };
    context.on('page', watch);
    page = context.pages()[0] || await context.newPage();
    watch(page);
    log('chromium', context.browser() ? context.browser().version() : '(persistent context)');

    await step('playground without a key says a key is needed', async () => {
      await page.goto(base + '/');
      const err = page.locator('#runtimes-error');
      await err.waitFor();
      const t = await text(err);
      assert.match(t, /401/);
      assert.match(t, /API key/);
      await shot('01-playground-no-key');
    });

    await step('typing the API key lists the languages and keeps the key in localStorage', async () => {
      await page.fill('#api-key', key);
      await page.locator('#language option', { hasText: /^python \d/ }).first().waitFor({ state: 'attached' });
      assert.equal(await page.locator('#language').isEnabled(), true);
      assert.match(await page.locator('#language option:checked').textContent(), /^python \d+\.\d+/);
      assert.equal(await page.evaluate(() => localStorage.getItem('airlock.console.apiKey')), key);
      assert.equal(await page.locator('#file-tabs [role=tab]').first().getAttribute('data-file'), 'main.py');
      assert.match(await page.inputValue('#editor'), /Hello/);
      assert.equal(await page.locator('#runtimes-error').count(), 0);
    });

    const mainPy = 'import sys\nfrom greet import greet\n\nprint(greet(sys.stdin.readline().strip()), "|".join(sys.argv[1:]))\n';
    const greetPy = 'def greet(name):\n    return f"Hello, {name}!"\n';
    await step('runs a two-file Python program with stdin and args (Ctrl+Enter)', async () => {
      await page.fill('#editor', mainPy);
      await page.click('#file-add');
      await page.fill('#file-rename-input', 'greet.py');
      await page.press('#file-rename-input', 'Enter');
      await page.locator('#file-tabs [data-file="greet.py"][aria-selected=true]').waitFor();
      await page.fill('#editor', greetPy);
      await page.click('#file-tabs [data-file="main.py"]');
      assert.equal(await page.inputValue('#editor'), mainPy, 'switching tabs keeps the content');
      await page.fill('#stdin', 'Airlock\n');
      await page.fill('#args', 'one\ntwo words\n');
      await page.focus('#editor');
      await page.keyboard.press('Control+Enter');
      const badge = page.locator('#verdict .verdict');
      await badge.waitFor({ timeout: RUN_MS });
      const stdout = await text(page.locator('[data-stage=run] [data-stream=stdout]'));
      assert.equal(await text(badge), 'Accepted', `verdict; stdout ${stdout}; stderr ${await text(page.locator('[data-stage=run] [data-stream=stderr]'))}`);
      assert.equal(stdout, 'Hello, Airlock! one|two words\n');
      assert.equal(await text(page.locator('[data-stage=run] [data-metric=exit-code]')), '0');
      assert.match(await text(page.locator('[data-stage=run] [data-metric=memory]')), /\d+(\.\d)? (KiB|MiB)/);
      assert.equal(await badge.evaluate((e) => getComputedStyle(e).backgroundColor), 'rgb(26, 127, 55)', 'accepted is green');
      await shot('02-playground-accepted');
    });

    await step('judge mode: tests with expected output, one wrong on purpose', async () => {
      await page.fill('#editor', 'n = int(input())\nprint(n * n)\n');
      await page.click('#tab-tests');
      for (const [i, [name, stdin, expected]] of [['', '3', '9'], ['', '4', '16'], ['wrong on purpose', '5', '24']].entries()) {
        await page.click('#test-add');
        if (name) await page.fill(`#test-${i}-name`, name);
        await page.fill(`#test-${i}-stdin`, stdin);
        await page.fill(`#test-${i}-expected`, expected);
      }
      await page.click('#run');
      const badge = page.locator('#verdict .verdict');
      await badge.waitFor({ timeout: RUN_MS });
      assert.equal(await text(badge), 'Wrong answer');
      assert.equal(await badge.evaluate((e) => getComputedStyle(e).backgroundColor), 'rgb(207, 34, 46)', 'wrong answer is red');
      for (const [i, v] of ['accepted', 'accepted', 'wrong_answer'].entries()) {
        assert.equal(await page.locator(`[data-stage=test-${i}]`).getAttribute('data-verdict'), v, `test ${i}`);
      }
      assert.equal(await text(page.locator('[data-stage=test-2] [data-stream=stdout]')), '25\n');
      assert.equal(await text(page.locator('[data-stage=test-2] [data-stream=expected]')), '24');
      assert.match(await text(page.locator('#result .summary-chips')), /2\/3 accepted/);
      await shot('03-playground-tests', page, true);
    });

    await step('an API error is shown readably', async () => {
      await page.click('#tab-limits');
      await page.fill('#lim-mem', '999999');
      await page.keyboard.press('Control+Enter');
      const box = page.locator('#result .error-box');
      await box.waitFor({ timeout: RUN_MS });
      const t = await text(box);
      assert.match(t, /HTTP 422/);
      assert.match(t, /limit_too_high/);
      assert.match(t, /limits\.memory_mb/);
      await shot('04-playground-error');
      await page.fill('#lim-mem', '');
    });

    await step('the share link restores the editor state', async () => {
      await page.click('#share');
      const url = await page.inputValue('#share-url');
      assert.ok(url.startsWith(base + '/#s='), url);
      const state = JSON.parse(Buffer.from(url.slice(url.indexOf('#s=') + 3), 'base64url').toString('utf8'));
      assert.equal(state.language, 'python');
      assert.deepEqual(state.files.map((f) => f.name), ['main.py', 'greet.py']);
      assert.ok(!url.includes(key) && !JSON.stringify(state).includes(key), 'the key is not in the link');
      const other = await context.newPage();
      try {
        await other.goto(url);
        await other.locator('#language option', { hasText: /^python \d/ }).first().waitFor({ state: 'attached' });
        await other.locator('#file-tabs [data-file="greet.py"]').waitFor();
        assert.equal(await other.inputValue('#editor'), 'n = int(input())\nprint(n * n)\n');
        assert.equal(await other.inputValue('#stdin'), 'Airlock\n');
        assert.equal(await other.inputValue('#args'), 'one\ntwo words\n');
        assert.equal(await other.locator('#tests li').count(), 3);
        assert.equal(await other.inputValue('#test-2-name'), 'wrong on purpose');
        assert.equal(await other.inputValue('#test-2-expected'), '24');
        await other.click('#file-tabs [data-file="greet.py"]');
        assert.equal(await other.inputValue('#editor'), greetPy);
        await other.emulateMedia({ colorScheme: 'dark' });
        await shot('05-playground-shared-link-dark', other);
      } finally {
        await other.close();
      }
    });

    await step('the fleet view shows the executor, the queue and the rates', async () => {
      await page.goto(base + '/console/fleet');
      const row = page.locator(`tr[data-executor="${executorId}"]`);
      await row.waitFor();
      assert.equal(await text(row.locator('[data-col=state]')), 'ok');
      assert.match(await text(row.locator('[data-col=busy]')), /^\d \/ 2$/);
      assert.match(await text(row.locator('[data-col=runtimes]')), /1 language/);
      assert.equal(await text(page.locator('#tile-executors [data-value]')), '1');
      // Load while the page watches: the rates come from the completed
      // counters between heartbeats (every 5 s).
      const submit = () => fetch(base + '/v1/executions', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + key },
        body: JSON.stringify({ language: 'python', files: [{ name: 'main.py', content: 'print(sum(range(10**5)))\n' }] }),
      }).then((r) => assert.equal(r.status, 202));
      const load = (async () => {
        for (let i = 0; i < 4; i++) {
          await Promise.all([submit(), submit(), submit()]);
          await sleep(2500);
        }
      })();
      await page.waitForFunction(() => document.querySelectorAll('#rate-chart rect').length > 0, null, { timeout: 90_000 });
      await load;
      await page.waitForFunction((id) => {
        const c = document.querySelector(`tr[data-executor="${id}"] [data-col=completed]`);
        return c && Number(c.textContent) >= 14;
      }, executorId, { timeout: 90_000 });
      assert.match(await text(row.locator('[data-col=p50]')), /^(\d+ ms|\d+(\.\d+)? s)$/);
      assert.match(await text(page.locator('#rate-legend')), /Accepted/);
      const points = await page.locator('#queue-chart polyline').first().getAttribute('points');
      assert.ok(points.split(' ').length >= 5, 'the queue chart has a history: ' + points);
      await shot('06-fleet');
    });

    await step('the fleet view pauses and resumes from the keyboard', async () => {
      await page.locator('body').press('p');
      assert.match(await text(page.locator('#live-text')), /Paused/);
      assert.equal(await page.getAttribute('#pause', 'aria-pressed'), 'true');
      await page.locator('body').press('p');
      await page.waitForFunction(() => /Live/.test(document.querySelector('#live-text').textContent));
    });

    await step('no request left the gateway and the pages logged no errors', async () => {
      assert.deepEqual(foreign, [], 'requests to other origins');
      // On purpose: the first /v1/runtimes without a key (401) and the limit
      // above the maximum (422).
      const unexpected = consoleErrors.filter((m) => !/status of (401|422)/.test(m));
      assert.deepEqual(unexpected, [], 'console errors');
    });
  } finally {
    await cleanup();
  }
}

main().then(() => {
  log(`${results.length} steps passed`);
}, (e) => {
  if (!results.some((r) => !r.ok)) log('FAIL', e && e.stack ? e.stack : e);
  log(`${results.filter((r) => r.ok).length}/${results.length} steps passed`);
  process.exitCode = 1;
});
