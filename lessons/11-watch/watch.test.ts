import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test, type TestContext } from 'node:test';
import { alivePids, freePort, heldPort, isBun, launch, pidsRunning, removeWhenGone, start, startLoad, waitUntil, type Lesson } from '../../lib/harness.ts';
import { defaults, readTarget, sendEvent } from './primary.ts';

const primary = 'lessons/11-watch/primary.ts';
const ready = /cluster ready: \d+ workers? listening/;
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const waitMs = 30_000; // the harness's longest wait

interface Watched {
  cluster: Lesson;
  watchUrl: string; // as printed, with the secret
  secret: string;
  port: number; // the page's
}

async function startWatched(t: TestContext, workers: number): Promise<Watched> {
  const { started: cluster, port } = await onAFreeWatchPort((port) => start(t, primary, { ready, env: { WORKERS: String(workers), WATCH_PORT: String(port) } }));
  const [, watchUrl, secret] = (await cluster.waitFor(/watch the cluster: (http:\/\/127\.0\.0\.1:\d+\/\?secret=([0-9a-f]+))/)) as string[];
  return { cluster, watchUrl, secret, port };
}

// freePort() hands out a port that is free at that moment; before the lesson binds it, another
// test's outgoing connection can take it as its local port (the load loops open thousands; seen in
// CI: "port 34467 is already in use"). A start that finds WATCH_PORT taken tries another, three in all.
async function onAFreeWatchPort<T>(startOn: (port: number) => Promise<T>): Promise<{ started: T; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return { started: await startOn(port), port };
    } catch (error) {
      if (attempt === 3 || !/cannot show the page: .* is already in use/.test((error as Error).message)) throw error;
    }
  }
}

function workerPids(cluster: Lesson): Promise<number[]> {
  return pidsRunning(cluster.pid, 'lessons/11-watch/worker.ts');
}

interface Sent {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

// A request with the headers a test picks (Host and Origin included), on a fresh connection.
function send(port: number, { method = 'GET', path, headers = {}, body }: Sent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, method, path, headers: { host: `127.0.0.1:${port}`, ...headers }, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      // An event stream never ends: its status and first bytes are enough.
      if (res.headers['content-type'] === 'text/event-stream') res.once('data', () => (res.destroy(), resolve({ status: res.statusCode!, body: 'stream' })));
    });
    request.setTimeout(waitMs, () => request.destroy(new Error(`no answer from ${path} in ${waitMs} ms`)));
    request.on('error', reject);
    request.end(body);
  });
}

// Each test on a cluster of its own, side by side, and beside them the hostile input's tests on one
// cluster: the browser's test is the long one.
describe('lesson 11: watch the cluster in a browser', { concurrency: true }, () => {
  test('strangers get 403 with the reason and change nothing; the page itself can act', async (t) => {
    const { cluster, secret, port } = await startWatched(t, 2);
    const before = await workerPids(cluster);
    const mark = cluster.output().length;
    const own = { 'x-watch-secret': secret, origin: `http://127.0.0.1:${port}` };
    const refusals: [string, Sent, RegExp][] = [
      ['the page under a foreign Host (DNS rebinding)', { path: `/?secret=${secret}`, headers: { host: `attacker.example:${port}` } }, /^wrong Host "attacker\.example:\d+"/],
      ['the page without its secret', { path: '/' }, /^no secret/],
      ['the page with a wrong secret', { path: `/?secret=${'0'.repeat(32)}` }, /^wrong secret/],
      ['the event stream under a foreign Host', { path: `/events?secret=${secret}`, headers: { host: 'attacker.example' } }, /^wrong Host/],
      ['a kill from another site open in the browser', { method: 'POST', path: '/kill', headers: { ...own, origin: 'http://attacker.example' }, body: `{"pid":${before[0]}}` }, /^foreign Origin "http:\/\/attacker\.example"/],
      ['a kill under a foreign Host', { method: 'POST', path: '/kill', headers: { ...own, host: `attacker.example:${port}` }, body: `{"pid":${before[0]}}` }, /^wrong Host/],
      ['a roll without the secret', { method: 'POST', path: '/roll', headers: { origin: own.origin } }, /^no secret/],
      ['a roll with the secret in the URL instead of the header', { method: 'POST', path: `/roll?secret=${secret}`, headers: { origin: own.origin } }, /^no secret/],
      ['one more worker with a wrong secret', { method: 'POST', path: '/more', headers: { ...own, 'x-watch-secret': 'f'.repeat(32) } }, /^wrong secret/],
    ];
    for (const [what, request, reason] of refusals) {
      const reply = await send(port, request);
      assert.equal(reply.status, 403, `${what}: ${reply.status} ${reply.body}`);
      assert.match(reply.body, reason, what);
    }
    assert.doesNotMatch(cluster.output().slice(mark), /page:|rolling restart|SIGKILL/, 'a refused request acted');
    assert.deepEqual(await alivePids(before), before, 'a refused kill killed');

    const tooLarge = await send(port, { method: 'POST', path: '/kill', headers: own, body: 'x'.repeat(4096) });
    assert.equal(tooLarge.status, 413, tooLarge.body);
    const kill = await send(port, { method: 'POST', path: '/kill', headers: own, body: `{"pid":${before[0]}}` });
    assert.equal(kill.status, 200, kill.body);
    await waitUntil(async () => (await alivePids([before[0]])).length === 0, `worker ${before[0]} to die`);
    await cluster.waitFor(new RegExp(`worker ${before[0]} died \\(signal SIGKILL\\)`), mark);
  });

  test('one worker more forks one that listens; one less stops the newest and keeps the rest; never fewer than one', async (t) => {
    const { cluster, secret, port } = await startWatched(t, 1);
    const own = { 'x-watch-secret': secret, origin: `http://127.0.0.1:${port}` };
    const [first] = await workerPids(cluster);
    const more = await send(port, { method: 'POST', path: '/more', headers: own });
    assert.deepEqual([more.status, more.body.trim()], [200, 'forking worker 2']);
    await cluster.waitFor(/one worker more, 2 from now on: forked worker \d+/);
    await cluster.waitFor(/worker \d+ listening \(2 listening\)/);
    const both = await workerPids(cluster);
    assert.equal(both.length, 2, `workers after /more: ${both}`);

    const less = await send(port, { method: 'POST', path: '/less', headers: own });
    assert.deepEqual([less.status, less.body.trim()], [200, '1 workers from now on']);
    await waitUntil(async () => (await workerPids(cluster)).length === 1, 'one worker to be left');
    assert.deepEqual(await workerPids(cluster), [first], 'the newest worker stops, the first keeps serving');

    const fewest = await send(port, { method: 'POST', path: '/less', headers: own });
    assert.deepEqual([fewest.status, fewest.body.trim()], [400, 'one worker is the fewest']);
    assert.deepEqual(await workerPids(cluster), [first]);
    const reply = await fetch(`${cluster.url}/`);
    assert.equal(reply.status, 200);
  });

  test('a WATCH_PORT that is taken or not a port stops it with one line and exit 1, before any worker', async (t) => {
    const taken = await heldPort(t);
    for (const [watchPort, message] of [[String(taken), /cannot show the page: cannot listen on 127\.0\.0\.1:\d+: port \d+ is already in use: .* WATCH_PORT=\d+/], ['http', /WATCH_PORT must be a whole number from 0 to 65535, got "http"/]] as const) {
      const lesson = await start(t, primary, { ready: false, env: { WATCH_PORT: watchPort } });
      assert.deepEqual(await lesson.exited, { code: 1, signal: null }, lesson.output());
      assert.match(lesson.output(), message);
      assert.doesNotMatch(lesson.output(), /forking/);
    }
  });

  const noBrowser = isBun
    ? "Bun: its http publishes no diagnostics_channel events, so the page's counts stay 0 there; watch a cluster on Node"
    : !existsSync(chromiumPath)
      ? `no Chromium at ${chromiumPath}: apt-get install chromium (Debian), or CHROMIUM=/path/to/chromium`
      : false;

  test('in a real browser: a row per worker, kill replaces one, a roll replaces all while the chart moves, no console error', { skip: noBrowser }, async (t) => {
    const { chromium } = await import('playwright-core');
    const profile = mkdtempSync(join(os.tmpdir(), 'every-core-chromium-'));
    t.after(removeWhenGone(profile)); // a test run killed with kill -9: the guardian removes it
    // A fresh profile and nothing that phones home: the browser talks to 127.0.0.1 only. It starts
    // while the cluster does.
    const launching = chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 900, height: 640 },
      timeout: waitMs,
    });
    // One hook, in this order: the browser writes to its profile until it is closed.
    const removeProfile = () => rmSync(profile, { recursive: true, force: true, maxRetries: 3 });
    t.after(async () => {
      await (await launching.catch(() => undefined))?.close();
      removeProfile();
    });
    const [{ cluster, watchUrl }, browser] = await Promise.all([startWatched(t, 2), launching]);
    // Ctrl+C ends this process through process.exit (the harness), skipping t.after: playwright's own
    // exit handler, added by the launch, kills the browser first, then this removes its profile.
    process.once('exit', removeProfile);
    const page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(waitMs);
    const consoleErrors: string[] = [];
    page.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()));
    page.on('pageerror', (error) => consoleErrors.push(error.message));
    // A request handed to the worker just as SIGKILL ends it gets no answer: give up on it after 5 s,
    // or when the load stops.
    const load = startLoad(cluster.url, { connections: 4, timeoutMs: 5_000 });
    t.after(() => load.stop());
    await page.goto(watchUrl);

    // Read from the table's cells: the rows are redrawn twice a second, the cells' texts in one go.
    const column = (n: number) => page.locator(`#workers td:nth-child(${n})`).allTextContents();
    const pidsOnPage = async () => (await column(1)).map(Number);
    const allListening = async (count: number) => {
      const phases = await column(2);
      return phases.length === count && phases.every((phase) => phase === 'listening');
    };
    await waitUntil(() => allListening(2), '2 rows, listening');
    const first = await pidsOnPage();
    assert.deepEqual([...first].sort(), (await workerPids(cluster)).sort(), 'the rows are not the running workers');

    await t.test('kill: its row is replaced by a new pid, and the death is in the log', async () => {
      await page.click(`button[data-kill="${first[0]}"]`);
      await page.locator('#log li', { hasText: `worker ${first[0]} died (signal SIGKILL)` }).waitFor();
      await waitUntil(async () => !(await pidsOnPage()).includes(first[0]) && (await allListening(2)), `a new row for worker ${first[0]}`);
      const after = await pidsOnPage();
      assert.ok(after.includes(first[1]), `the other worker went too: ${first} -> ${after}`);
      assert.deepEqual(await column(3), after.map((pid) => (pid === first[1] ? 'first' : 'respawn')));
    });

    await t.test('rolling restart: every pid changes while the chart keeps moving', async () => {
      const before = await pidsOnPage();
      const chart = async () => ({ samples: Number(await page.getAttribute('#chart', 'data-samples')), points: await page.getAttribute('#line', 'points') });
      const chartBefore = await chart();
      await page.click('#roll');
      await page.locator('#log li', { hasText: 'rolling restart done: 2 of 2 workers replaced' }).waitFor();
      await waitUntil(() => allListening(2), '2 rows, listening, after the roll');
      const after = await pidsOnPage();
      assert.deepEqual(after.filter((pid) => before.includes(pid)), [], `${before} -> ${after}`);
      assert.deepEqual(await column(3), ['roll', 'roll']);
      const chartAfter = await chart();
      assert.ok(chartAfter.samples > chartBefore.samples && chartAfter.points !== chartBefore.points, `the chart did not move during the roll: ${JSON.stringify([chartBefore, chartAfter])}`);
      await waitUntil(async () => (await column(4)).some((perSecond) => Number(perSecond) > 0), 'the new workers to report requests per second');
    });

    if (process.env.WATCH_SCREENSHOT) await screenshot(page, process.env.WATCH_SCREENSHOT);
    // No count of failures here: a SIGKILL fails the requests its worker held (lesson 07 tests the roll's zero).
    const count = await load.stop({ cutAfterMs: 500 });
    t.diagnostic(`load during the test: ${count.requests} answered, ${count.failures} failed ${JSON.stringify(count.errorCodes)}`);
    assert.deepEqual(consoleErrors, [], 'console errors on the page');
  });

  // One cluster, watched, for the tests that send the page what a stranger might, one after another:
  // none of them changes it, and the last stops it.
  describe('the page under hostile input', { concurrency: 1 }, () => {
    let watched: Watched;
    let started: Lesson | undefined;
    after(() => started?.stop());
    before(async () => {
      const { started: cluster, port } = await onAFreeWatchPort((port) => launch(primary, { ready, env: { WORKERS: '1', WATCH_PORT: String(port) } }, (lesson) => (started = lesson)));
      const [, watchUrl, secret] = (await cluster.waitFor(/watch the cluster: (http:\/\/127\.0\.0\.1:\d+\/\?secret=([0-9a-f]+))/)) as string[];
      watched = { cluster, watchUrl, secret, port };
    });

    test('the page listens on 127.0.0.1 only, and caps its event streams', async (t) => {
      const { port, secret } = watched;
      const other = net.connect(port, '127.0.0.2');
      const refused = await new Promise<string>((resolve) => other.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? '')).once('connect', () => resolve('connected')));
      other.destroy();
      assert.equal(refused, 'ECONNREFUSED', 'the page answered on 127.0.0.2');

      const streams: http.ClientRequest[] = [];
      t.after(() => streams.forEach((stream) => stream.destroy()));
      const open = () =>
        new Promise<number>((resolve, reject) => {
          const stream = http.get({ host: '127.0.0.1', port, path: `/events?secret=${secret}`, agent: false }, (res) => resolve(res.statusCode!));
          stream.on('error', reject);
          streams.push(stream);
        });
      const statuses = [];
      for (let i = 0; i < 9; i++) statuses.push(await open());
      assert.deepEqual(statuses, [...new Array(8).fill(200), 503]);
    });

    test('a request target it cannot parse gets 400, and the page keeps serving', async () => {
      const { cluster, port, secret } = watched;
      for (const target of ['//[', 'http://[/']) {
        const answer = await rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
        assert.match(answer, /^HTTP\/1\.1 400 /, `GET ${target}: ${answer}\n${cluster.output()}`);
      }
      assert.equal((await send(port, { path: `/?secret=${secret}` })).status, 200);
      assert.equal(cluster.child.exitCode, null, cluster.output());
    });

    test("an action's body is limited in bytes, not characters", async () => {
      const { port, secret } = watched;
      const own = { 'x-watch-secret': secret, origin: `http://127.0.0.1:${port}`, 'transfer-encoding': 'chunked' };
      const body = 'é'.repeat(600); // 600 characters, 1,200 bytes
      const reply = await send(port, { method: 'POST', path: '/kill', headers: own, body });
      assert.equal(reply.status, 413, `a ${Buffer.byteLength(body)}-byte body: ${reply.status} ${reply.body}`);
    });

    // A page of its own: on the shared one, the sockets of the tests above can still count on the
    // page's side a moment after they closed (Bun in CI: "refused after only 19 connections").
    test('connections to the page are capped: the one past the cap is closed unanswered', async (t) => {
      const { port } = await startWatched(t, 1);
      const held: net.Socket[] = [];
      t.after(() => held.forEach((socket) => socket.destroy()));
      // Each asks once (its answer proves it was taken), then starts a second request and holds it open.
      const openOne = () =>
        new Promise<boolean>((resolve, reject) => {
          const socket = net.connect(port, '127.0.0.1', () => socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\nGET / HTTP/1.1\r\n`));
          held.push(socket);
          socket.once('data', () => resolve(true)).once('close', () => resolve(false));
          socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? resolve(false) : reject(error)));
        });
      let taken = 0;
      while (taken <= defaults.maxConnections && (await openOne())) taken++;
      assert.ok(taken <= defaults.maxConnections, `${taken} connections taken, the cap is ${defaults.maxConnections}`);
      assert.ok(taken >= defaults.maxConnections - defaults.maxPages, `refused after only ${taken} connections`);
      held.forEach((socket) => socket.destroy());
      await waitUntil(async () => (await send(port, { path: '/' }).catch(() => ({ status: 0 }))).status === 403, 'the page to answer again');
    });

    // Last: it stops the cluster these tests share.
    test('SIGTERM with a page open ends its event stream, stops the workers and the page, and exits 0', async () => {
      const { cluster, port, secret } = watched;
      const stream = await new Promise<http.IncomingMessage>((resolve, reject) => http.get({ host: '127.0.0.1', port, path: `/events?secret=${secret}`, agent: false }, resolve).on('error', reject));
      stream.resume();
      const ended = new Promise((resolve) => stream.once('end', resolve));
      process.kill(cluster.pid, 'SIGTERM');
      await ended;
      assert.deepEqual(await cluster.exited, { code: 0, signal: null }, cluster.output());
      assert.match(cluster.output(), /all workers have exited/);
    });
  });
});

// The README's picture (WATCH_SCREENSHOT=file): the page after half a minute of load, a kill and a roll.
async function screenshot(page: import('playwright-core').Page, path: string): Promise<void> {
  await waitUntil(async () => Number(await page.getAttribute('#chart', 'data-samples')) >= 30, '30 samples on the chart', 60_000);
  await page.screenshot({ path });
}

// Raw bytes to the page's port; resolves to what came back before the server closed or answered.
function rawRequest(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    let text = '';
    socket.setEncoding('latin1').on('data', (chunk) => {
      text += chunk;
      if (text.includes('\r\n\r\n')) socket.destroy(), resolve(text);
    });
    socket.on('close', () => resolve(text)).on('error', reject);
    socket.setTimeout(waitMs, () => socket.destroy(new Error(`no answer in ${waitMs} ms`)));
  });
}

test('the request target is read without a throw: a target that is no path is null', () => {
  assert.deepEqual(readTarget('/events?secret=abc&x=1')?.query.get('secret'), 'abc');
  assert.equal(readTarget('/kill')?.path, '/kill');
  for (const target of ['//[', 'http://[/', '*', '', undefined]) assert.equal(readTarget(target), null, String(target));
});

test('an event stream whose socket has not drained is dropped, not buffered without end', () => {
  let written = 0;
  const stalled = new Writable({ highWaterMark: 64, write: () => written++ }); // never calls back: never drains
  const page = stalled as unknown as http.ServerResponse;
  assert.equal(sendEvent(page, 'log', { line: 'x'.repeat(100) }), true);
  assert.equal(sendEvent(page, 'log', { line: 'and one more' }), false);
  assert.equal(written, 1);
  assert.equal(stalled.destroyed, true);
});

