// Given, not an exercise: lesson 08's thread.ts, unchanged. What each thread of your pool runs: wait
// for a loop count, count it with heavy(), post the total back, wait for the next. One job at a time.

import os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { heavy } from '../01-single-process/heavy.ts';

const defaults = {
  nice: 10, // 0 is normal, 19 the lowest: see below
};

export interface ThreadData {
  crashOnLoops?: number; // the test hook: a job of exactly this many loops crashes the thread
}

export type ThreadMessage = { ready: true } | { total: number };

const port = parentPort!;
const { crashOnLoops } = workerData as ThreadData;

// On Linux each thread has a nice value of its own: a counting thread at 10 yields its core at once
// when the event loop wakes up, so / stays quick. (Elsewhere the call would slow the whole process.)
if (process.platform === 'linux') os.setPriority(defaults.nice);

port.on('message', (loops: number) => {
  if (loops === crashOnLoops) throw new Error(`crashing on purpose: EVERY_CORE_TEST_CRASH_THREAD_ON=${loops}`);
  port.postMessage({ total: heavy(loops) } satisfies ThreadMessage);
});
port.postMessage({ ready: true } satisfies ThreadMessage);
