// Given, not an exercise: lesson 08's server.ts, unchanged, so that it runs YOUR exercise 01 server
// and YOUR pool (pool.ts: the exercise; the imports below are relative). /heavy counts on the pool.
// Run it:  npx tsx exercises/08-worker-threads/server.ts      (THREADS=4 to choose the count)
//          then: curl -i http://127.0.0.1:3000/heavy

import type http from 'node:http';
import os from 'node:os';
import { commandLine, wholeNumber, type Fail } from '../../lib/options.ts';
import { isMain } from '../../lib/runtime.ts';
import { readLoops } from '../01-single-process/heavy.ts';
import { answerHeavy, exitWith, onStopSignals, reply, routes, Server, settingsFrom } from '../01-single-process/server.ts';
import { createPool, type Pool } from './pool.ts';

const defaults = {
  threads: os.availableParallelism(), // the CPUs this process may use
  maxThreads: 256, // each thread holds its own JavaScript heap (a few MB): more than this is a typo
  queuedPerThread: 8, // jobs that may wait for a thread; one more gets 503 (a queue without bound is a memory leak)
  retryAfterS: 1, // what a 503 tells the client
};

const usage = `Usage: npx tsx exercises/08-worker-threads/server.ts

  It takes no options; its settings come from the environment:
  THREADS=${defaults.threads}        how many counting threads (default: one per CPU)
  PORT=3000        the port to listen on (0: any free one)
  HOST=127.0.0.1   the address to listen on
  Ctrl+C, kill <pid> or a closed terminal stops it: open requests are answered first.`;

if (isMain(import.meta.url)) await main(process.argv.slice(2));

// Lesson 01's program, with a pool: the threads start first, the server listens once they are
// ready, and the threads end last, once the server has answered everything it took.
async function main(argv: string[]): Promise<void> {
  commandLine('server', usage).parse(argv, {});
  const threadCount = readThreads(process.env.THREADS, exitWith);
  const pool = createPool({
    size: threadCount,
    maxQueued: threadCount * defaults.queuedPerThread,
    threadData: { crashOnLoops: readCrashHook(process.env.EVERY_CORE_TEST_CRASH_THREAD_ON, exitWith) },
    log: (line) => console.log(`[pid ${process.pid}] ${line}`),
    failToStart: exitWith,
  });
  const server = new Server({ ...settingsFrom(process.env, exitWith), handle: answerWith(pool, threadCount) });
  onStopSignals(() => server.stop());
  server.on('stopped', async (exitCode) => {
    await pool.close();
    process.exit(exitCode);
  });
  await pool.ready;
  console.log(`[pid ${process.pid}] ${threadCount} threads ready`);
  if (server.isStopping) return; // stopped while its threads started: it closes without listening
  await server.listen().catch((error: Error) => exitWith(error.message));
}

// Lesson 01's routes, but /heavy waits for a thread instead of counting here; a full queue is a 503.
function answerWith(pool: Pool, threadCount: number) {
  return routes((res, loops) => {
    if (!pool.isFull()) return void countOnThread(pool, loops, res);
    const waiting = threadCount * defaults.queuedPerThread;
    reply(res, 503, `Busy: ${waiting} requests already wait for a thread; retry in ${defaults.retryAfterS} s`, { 'retry-after': String(defaults.retryAfterS) });
  });
}

// The event loop hands the count to a thread and moves on; the answer goes out when the thread posts back.
// A client that hangs up while its job waits takes the job out of the queue: no thread counts for
// nobody, and a queue full of abandoned jobs does not turn the next clients away with 503.
async function countOnThread(pool: Pool, loops: number, res: http.ServerResponse): Promise<void> {
  const hungUp = new AbortController();
  res.once('close', () => hungUp.abort());
  try {
    const { total, threadId } = await pool.run(loops, hungUp.signal);
    res.setHeader('x-worker-thread', threadId);
    answerHeavy(res, total);
  } catch (error) {
    reply(res, 500, `Not counted: ${(error as Error).message}; try again`);
  }
}

function readThreads(raw: string | undefined, fail: Fail): number {
  if (raw === undefined || raw === '') return defaults.threads;
  return wholeNumber('THREADS', raw, fail, defaults.maxThreads, { hint: `try THREADS=${defaults.threads}` });
}

// The tests crash a thread on purpose to watch it be replaced: a job of exactly this many loops
// throws inside its thread. Off unless set; the name is long so that nobody sets it by accident.
function readCrashHook(raw: string | undefined, fail: Fail): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const n = readLoops(raw);
  if ('loops' in n) return n.loops;
  return fail(`EVERY_CORE_TEST_CRASH_THREAD_ON must be a loop count (a test hook), got ${JSON.stringify(raw)}: unset it`);
}
