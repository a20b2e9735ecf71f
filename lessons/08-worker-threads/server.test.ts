import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import os from 'node:os';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { get, heavyLoops, heldPort, sendAndFlush, start, type Lesson, type Reply } from '../../lib/harness.ts';
import { stopTests } from '../01-single-process/stop-tests.ts';

const server = 'lessons/08-worker-threads/server.ts';
const ready = /listening on http:/;
const cpus = os.availableParallelism();
const longLoops = heavyLoops(100_000_000); // in a plain run a tenth of a second or so of one core (the most one request may buy is 100 times that)
const long = `/heavy?n=${longLoops}`;
const longResult = `The result of the CPU intensive task is ${longLoops}\n`;

// Each thread's CPU time so far, in ms, by thread id (Linux's /proc/<pid>/task/<tid>/schedstat, in ns).
function cpuMsByThread(pid: number): Map<number, number> {
  const tids = readdirSync(`/proc/${pid}/task`).map(Number);
  return new Map(tids.map((tid) => [tid, Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e6]));
}
const cpuTimeSkip = process.platform === 'linux' ? false : "needs Linux /proc for each thread's CPU time";

// Sends `count` /heavy requests at once, each on its own connection, and returns every answer.
function concurrently(lesson: Lesson, path: string, count: number): Promise<Reply[]> {
  return Promise.all(Array.from({ length: count }, () => get(lesson.url + path)));
}

// The threads that counted concurrent long requests, batch after batch until `want` were seen (at
// most 5 batches): on a fast Node one thread can finish a job before the next arrives, and take it.
async function threadsSeen(lesson: Lesson, want: number): Promise<Set<number>> {
  const seen = new Set<number>();
  for (let batch = 0; batch < 5 && seen.size < want; batch++) threadsOf(await concurrently(lesson, long, want * 4)).forEach((id) => seen.add(id));
  return seen;
}

function threadsOf(replies: Reply[]): Set<number> {
  return new Set(replies.map((reply) => Number(reply.headers['x-worker-thread'])));
}

// Each test on a server of its own, three at a time.
describe('lesson 08: the CPU work on worker threads, the event loop free', { concurrency: 3 }, () => {
  test('/heavy is counted on a worker thread, named in x-worker-thread beside x-worker-pid', async (t) => {
    const lesson = await start(t, server, { ready });
    const reply = await get(`${lesson.url}/heavy`);
    assert.equal(reply.body, 'The result of the CPU intensive task is 5000000\n');
    assert.equal(reply.pid, lesson.pid, 'one process: the threads live inside it');
    assert.match(String(reply.headers['x-worker-thread']), /^[1-9]\d*$/, 'a thread other than the main thread (0)');
  });

  test('thread count equals CPU count: concurrent /heavy requests are counted by that many distinct threads', async (t) => {
    const lesson = await start(t, server, { ready });
    const replies = await concurrently(lesson, `/heavy?n=${heavyLoops(20_000_000)}`, cpus * 4);
    assert.deepEqual(replies.map((reply) => reply.status), replies.map(() => 200));
    const seen = await threadsSeen(lesson, cpus);
    assert.equal(seen.size, cpus, `threads seen: ${[...seen]}`);
  });

  test('THREADS=3 starts three threads, whatever the CPU count', async (t) => {
    const lesson = await start(t, server, { ready, env: { THREADS: '3' } });
    const seen = await threadsSeen(lesson, 3);
    assert.equal(seen.size, 3, `threads seen: ${[...seen]}`);
  });

  test('while every thread counts a long /heavy, a request to / is answered at once (lesson 01 makes it wait)', async (t) => {
    const lesson = await start(t, server, { ready });
    // Counts of most of a second each (0.73 s of one core on Node 26 here), not `long`'s tenth: the
    // quick request's round trip must be the shorter one on a machine busy with other tests too (Node
    // 20 in CI, three test files at once: a count of 100,000,000 finished before / was answered).
    const longer = `/heavy?n=${heavyLoops(1_000_000_000)}`;
    const finished: string[] = [];
    const longs = Array.from({ length: cpus }, () => sendAndFlush(lesson.url + longer));
    await Promise.all(longs.map((request) => request.flushed));
    const quick = get(`${lesson.url}/`);
    await Promise.all([...longs.map((request) => request.then(() => finished.push(longer))), quick.then(() => finished.push('/'))]);
    assert.deepEqual(finished, ['/', ...longs.map(() => longer)], 'the quick request waited for a long one');
  });

  // Order alone cannot tell a count on a thread from no count at all: the CPU each thread burns can.
  test('a long /heavy burns its count in CPU on a worker thread, and the event loop next to none', { skip: cpuTimeSkip }, async (t) => {
    const lesson = await start(t, server, { ready, env: { THREADS: '2' } });
    await get(`${lesson.url}/heavy?n=1`); // each side's lazy setup, outside the measure
    const loops = heavyLoops(3_000_000_000);
    const before = cpuMsByThread(lesson.pid);
    const counted = sendAndFlush(`${lesson.url}/heavy?n=${loops}`);
    await counted.flushed;
    assert.equal((await get(`${lesson.url}/`)).status, 200);
    assert.equal(await counted, `The result of the CPU intensive task is ${loops}\n`);
    const after = cpuMsByThread(lesson.pid);
    const used = [...after].map(([tid, ms]) => ({ tid, ms: ms - (before.get(tid) ?? 0) }));
    const eventLoopMs = used.find(({ tid }) => tid === lesson.pid)!.ms;
    const busiest = used.filter(({ tid }) => tid !== lesson.pid).sort((a, b) => b.ms - a.ms)[0];
    assert.ok(busiest.ms >= loops / 1e7, `no thread burned the count: the busiest other thread used ${busiest.ms.toFixed(1)} ms of CPU`);
    assert.ok(eventLoopMs < busiest.ms / 10, `the event loop used ${eventLoopMs.toFixed(1)} ms of CPU against the counting thread's ${busiest.ms.toFixed(1)}`);
  });

  test('?n= keeps lesson 01\'s bounds: a bad n gets 400 with the reason; unknown paths 404, other methods 405', async (t) => {
    const lesson = await start(t, server, { ready });
    assert.equal((await get(`${lesson.url}/heavy?n=42`)).body, 'The result of the CPU intensive task is 42\n');
    for (const n of ['abc', '0', '1e6', '10000000001']) {
      const reply = await get(`${lesson.url}/heavy?n=${n}`);
      assert.equal(reply.status, 400, `n=${n}`);
      assert.match(reply.body, /^n must be a whole number from 1 to 10000000000, got ".*"\n$/, `n=${n}`);
    }
    assert.equal((await get(`${lesson.url}/nope`)).status, 404);
    const post = await get(`${lesson.url}/heavy`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
  });

  test('more waiting requests than the queue holds (8 per thread) get 503 with Retry-After, not an endless queue', async (t) => {
    const lesson = await start(t, server, { ready, env: { THREADS: '1' } });
    // One counts, 8 wait, the rest arrive while the first is still counting: at least a few are refused.
    const replies = await concurrently(lesson, long, 16);
    const refused = replies.filter((reply) => reply.status === 503);
    assert.ok(refused.length > 0, `statuses: ${replies.map((reply) => reply.status)}`);
    assert.ok(refused.length <= 16 - 9, `at most 16 - (1 counting + 8 waiting) refused, got ${refused.length}`);
    assert.equal(refused[0].headers['retry-after'], '1');
    assert.match(refused[0].body, /^Busy: 8 requests already wait for a thread; retry in 1 s\n$/);
    assert.ok(replies.every((reply) => reply.status === 200 || reply.status === 503), `statuses: ${replies.map((reply) => reply.status)}`);
  });

  test('a request whose client hangs up while it waits for a thread is dropped, never counted', async (t) => {
    const lesson = await start(t, server, { ready, env: { THREADS: '1', EVERY_CORE_TEST_CRASH_THREAD_ON: '7' } });
    // Two long jobs ahead of it (one counting, one waiting): the hang-up has time to be seen even on
    // a fast Node, where one 100,000,000 count took less than the hang-up needed to arrive.
    const counting = sendAndFlush(lesson.url + long);
    await counting.flushed;
    const alsoWaiting = sendAndFlush(lesson.url + long);
    await alsoWaiting.flushed;
    // n=7 would crash the thread, were it ever counted. Node's server answers `Expect: 100-continue`
    // as it takes the request in, so 'continue' says the job is in the queue: then hang up.
    const waiting = http.get(`${lesson.url}/heavy?n=7`, { agent: false, headers: { expect: '100-continue' } });
    waiting.on('error', () => {}); // the hang-up below
    await once(waiting, 'continue');
    waiting.destroy();
    assert.equal(await counting, longResult);
    assert.equal(await alsoWaiting, longResult);
    assert.equal((await get(`${lesson.url}/heavy?n=42`)).status, 200, 'the next job, queued after the dropped one');
    assert.doesNotMatch(lesson.output(), /crashed/);
  });

  test('a thread that crashes is replaced: its request gets 500 with the reason, and every other request is served', async (t) => {
    const lesson = await start(t, server, { ready, env: { THREADS: '2', EVERY_CORE_TEST_CRASH_THREAD_ON: '7' } });
    const before = await threadsSeen(lesson, 2);
    const crashed = await get(`${lesson.url}/heavy?n=7`);
    assert.equal(crashed.status, 500);
    assert.match(crashed.body, /^Not counted: the thread counting it crashed \(crashing on purpose: EVERY_CORE_TEST_CRASH_THREAD_ON=7\); try again\n$/);
    const [, id] = await lesson.waitFor(/thread (\d+) crashed .*: starting a new thread in its place/);
    assert.ok(before.has(Number(id)), `thread ${id} was one of ${[...before]}`);
    await lesson.waitFor(new RegExp(`thread \\d+ ready, in place of thread ${id}`));
    const after = await threadsSeen(lesson, 2);
    assert.equal(after.size, 2, `threads seen after the crash: ${[...after]}`);
    assert.ok(!after.has(Number(id)), `the crashed thread ${id} still answers`);
    assert.equal((await get(`${lesson.url}/`)).status, 200);
  });

  test('SIGTERM while every thread counts lets those requests finish, then the process exits 0', async (t) => {
    const lesson = await start(t, server, { ready });
    const longs = Array.from({ length: cpus }, () => sendAndFlush(lesson.url + long));
    await Promise.all(longs.map((request) => request.flushed));
    // The server accepts in arrival order: once a later connection is answered, the longs are
    // accepted too (a stop refuses what it has not accepted yet, as lesson 01's does).
    assert.equal((await get(lesson.url)).status, 200);
    process.kill(lesson.pid, 'SIGTERM');
    for (const body of await Promise.all(longs)) assert.equal(body, longResult);
    assert.deepEqual(await lesson.exited, { code: 0, signal: null });
  });

  // Each starts a server of its own that exits at once: side by side.
  describe('settings it cannot run with', { concurrency: true }, () => {
    for (const [value, line] of [
      ['zero', /THREADS must be a whole number from 1 to 256, got "zero": try THREADS=\d+/],
      ['0', /THREADS must be a whole number from 1 to 256, got "0"/],
      ['257', /THREADS must be a whole number from 1 to 256, got "257"/],
    ] as const) {
      test(`THREADS=${value} ends the server with one clear line and exit code 1`, async (t) => {
        const lesson = await start(t, server, { ready: false, env: { THREADS: value } });
        assert.deepEqual(await lesson.exited, { code: 1, signal: null });
        assert.match(lesson.output(), line);
        assert.equal(lesson.output().trim().split('\n').length, 1, lesson.output());
      });
    }

    test('a port already in use ends the server with one clear line and exit code 1', async (t) => {
      const port = await heldPort(t);
      const lesson = await start(t, server, { ready: false, port });
      assert.deepEqual(await lesson.exited, { code: 1, signal: null });
      assert.match(lesson.output(), new RegExp(`cannot listen on 127.0.0.1:${port}: port ${port} is already in use`));
    });
  });

  // Lesson 01's stop, proved on this server by lesson 01's own tests.
  stopTests(server);
});
