import assert from 'node:assert/strict';
import { EventEmitter, on } from 'node:events';
import { describe, test, type TestContext } from 'node:test';
import { Worker } from 'node:worker_threads';
import { importLesson } from '../../lib/harness.ts';
import type { PoolOptions } from './pool.ts';

// On the exercises track (npm run check), the learner's pool.ts.
const { afterExit, createPool, isQueueFull, poolDefaults, retryDelayMs } = await importLesson<typeof import('./pool.ts')>('lessons/08-worker-threads/pool.ts');

// Stand-ins for thread.ts, small enough to start in milliseconds on every runtime: one that counts
// (instantly: it answers n with n, and crashes on 7 as the test hook does), one that holds every job
// until told, and one that dies while it loads.
const threads = {
  counts: `const { parentPort } = require('node:worker_threads');
    parentPort.on('message', (n) => { if (n === 7) throw new Error('crashing on purpose'); parentPort.postMessage({ total: n }); });
    parentPort.postMessage({ ready: true });`,
  holds: `const { parentPort } = require('node:worker_threads');
    parentPort.on('message', () => {});
    parentPort.postMessage({ ready: true });`,
  cannotLoad: `throw new Error('cannot load on purpose');`,
};
type Kind = keyof typeof threads;

// Lines a pool logs or fails with, kept in order; wait() resolves at the first that matches (from
// line `from` on), now or later.
class Lines extends EventEmitter {
  readonly all: string[] = [];
  push = (line: string): void => {
    this.all.push(line);
    this.emit('line', line);
  };
  async wait(pattern: RegExp, from = 0): Promise<string> {
    const seen = this.all.slice(from).find((line) => pattern.test(line));
    if (seen !== undefined) return seen;
    for await (const [line] of on(this, 'line')) if (pattern.test(line)) return line;
    throw new Error('unreachable');
  }
}

// A pool whose n-th thread runs `kinds[n]` (the last kind again once the list runs out), whose log
// and failToStart lines are kept, and which is closed when the test ends.
function poolOf(t: TestContext, kinds: Kind[], options: Partial<PoolOptions> = {}) {
  const lines = new Lines();
  const failedToStart = new Lines();
  let started = 0;
  const pool = createPool({
    size: 2,
    maxQueued: 4,
    threadData: {},
    log: lines.push,
    failToStart: failedToStart.push,
    startWorker: () => new Worker(threads[kinds[Math.min(started++, kinds.length - 1)]], { eval: true }),
    ...options,
  });
  t.after(() => pool.close());
  return { pool, lines, failedToStart, started: () => started };
}

describe('lesson 08: the pool decides alone, in plain functions', () => {
  test('the queue admits jobs up to its bound, and refuses the one after', () => {
    assert.equal(isQueueFull(0, 3), false);
    assert.equal(isQueueFull(2, 3), false, 'the last place');
    assert.equal(isQueueFull(3, 3), true, 'one more than the bound');
    assert.equal(isQueueFull(0, 0), true, 'no places at all');
  });

  test('a failed replacement is tried again after 1 s, then twice as long each time, never above 30 s', () => {
    assert.deepEqual([1, 2, 3, 4, 5].map(retryDelayMs), [1_000, 2_000, 4_000, 8_000, 16_000]);
    assert.equal(retryDelayMs(6), poolDefaults.retryMaxMs, '32 s is capped');
    assert.equal(retryDelayMs(50), poolDefaults.retryMaxMs);
  });

  test('after a thread exits: a crashed thread is replaced, a failed replacement retried, a first thread that never loaded ends the start, and a closing pool does nothing', () => {
    assert.equal(afterExit({ isReady: true, isReplacement: false }, false), 'replace');
    assert.equal(afterExit({ isReady: true, isReplacement: true }, false), 'replace');
    assert.equal(afterExit({ isReady: false, isReplacement: true }, false), 'retry later');
    assert.equal(afterExit({ isReady: false, isReplacement: false }, false), 'fail to start');
    for (const isReady of [true, false]) {
      for (const isReplacement of [true, false]) assert.equal(afterExit({ isReady, isReplacement }, true), 'nothing');
    }
  });
});

// A bound on each test, so that a pool that leaves a job hanging fails rather than hangs the run.
describe('lesson 08: the pool, with stand-in threads', { timeout: 30_000 }, () => {
  test('jobs wait in the queue while every thread is busy, and isFull() says so at the bound', async (t) => {
    const { pool } = poolOf(t, ['holds'], { size: 1, maxQueued: 2 });
    await pool.ready;
    void pool.run(1).catch(() => {}); // taken by the thread, which holds it
    assert.equal(pool.isFull(), false, 'nothing waits yet');
    void pool.run(2).catch(() => {});
    assert.equal(pool.isFull(), false, 'one of two places taken');
    void pool.run(3).catch(() => {});
    assert.equal(pool.isFull(), true, 'two of two places taken');
  });

  test('a first thread that cannot load ends the start, once, with the reason', async (t) => {
    const { failedToStart, lines } = poolOf(t, ['counts', 'cannotLoad'], { size: 2 });
    await failedToStart.wait(/died before it was ready \(cannot load on purpose\): not starting more/);
    assert.equal(failedToStart.all.length, 1, JSON.stringify(failedToStart.all));
    assert.deepEqual(lines.all, []);
  });

  test('a replacement that cannot load leaves the healthy thread serving, and is tried again, backing off', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    // Threads 1 and 2 count; 3 (the first replacement) and 4 (its first retry) cannot load; 5 counts;
    // 6 (a later replacement) cannot load.
    const { pool, lines, failedToStart, started } = poolOf(t, ['counts', 'counts', 'cannotLoad', 'cannotLoad', 'counts', 'cannotLoad']);
    await pool.ready;
    await assert.rejects(pool.run(7), /the thread counting it crashed \(crashing on purpose\)/);
    await lines.wait(/could not start \(cannot load on purpose\): serving on 1 thread, trying again in 1 s$/);
    assert.deepEqual(failedToStart.all, [], 'the server goes on');
    assert.equal((await pool.run(42)).total, 42, 'the other thread still counts');
    assert.equal(started(), 3);
    const [healthy] = pool.threadIds();

    t.mock.timers.tick(retryDelayMs(1) - 1);
    assert.equal(started(), 3, 'not before its time');
    t.mock.timers.tick(1);
    assert.equal(started(), 4, 'tried again after 1 s');
    await lines.wait(/could not start \(cannot load on purpose\): serving on 1 thread, trying again in 2 s$/);
    t.mock.timers.tick(retryDelayMs(2));
    assert.equal(started(), 5, 'then after 2 s more');
    await lines.wait(/^thread \d+ ready, in place of thread \d+$/);
    assert.equal(pool.threadIds().length, 2, `threads: ${pool.threadIds()}`);
    assert.ok(pool.threadIds().includes(healthy), 'the healthy thread was never touched');

    // Once a thread has started, the count of failures starts again: the next wait is 1 s again.
    const later = lines.all.length;
    await assert.rejects(pool.run(7), /crashed/);
    assert.match(await lines.wait(/could not start/, later), /serving on 1 thread, trying again in 1 s$/);
    assert.deepEqual(failedToStart.all, []);
  });

  test('with no thread left and the replacement failing, waiting and new jobs get the reason at once instead of hanging', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { pool, lines } = poolOf(t, ['counts', 'cannotLoad', 'counts'], { size: 1 });
    await pool.ready;
    const crashed = pool.run(7);
    const waiting = pool.run(42); // queued behind the crash
    await assert.rejects(crashed, /crashed/);
    await assert.rejects(waiting, /no thread is running \(the last could not start: cannot load on purpose\); trying again in 1 s/);
    await lines.wait(/serving on 0 threads, trying again in 1 s$/);
    await assert.rejects(pool.run(43), /no thread is running/);

    t.mock.timers.tick(retryDelayMs(1));
    await lines.wait(/ready, in place of/);
    assert.equal((await pool.run(44)).total, 44, 'served again once a thread is back');
  });

  test('a closed pool starts no thread, not even a retry it had planned', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { pool, lines, started } = poolOf(t, ['counts', 'cannotLoad', 'counts'], { size: 1 });
    await pool.ready;
    await assert.rejects(pool.run(7), /crashed/);
    await lines.wait(/trying again in 1 s$/);
    await pool.close();
    t.mock.timers.tick(poolDefaults.retryMaxMs);
    assert.equal(started(), 2);
    assert.deepEqual(pool.threadIds(), []);
  });
});
