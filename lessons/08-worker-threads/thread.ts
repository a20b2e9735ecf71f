// What each thread of lesson 08's pool runs: wait for a loop count, count it with lesson 01's
// heavy(), post the total back, wait for the next. One job at a time; the pool does the queueing.

import { parentPort, workerData } from 'node:worker_threads';
import { heavy } from '../01-single-process/heavy.ts';

export interface ThreadData {
  crashOnLoops?: number; // the test hook: a job of exactly this many loops crashes the thread
}

export type ThreadMessage = { ready: true } | { total: number };

const port = parentPort!;
const { crashOnLoops } = workerData as ThreadData;

port.on('message', (loops: number) => {
  if (loops === crashOnLoops) throw new Error(`crashing on purpose: EVERY_CORE_TEST_CRASH_THREAD_ON=${loops}`);
  port.postMessage({ total: heavy(loops) } satisfies ThreadMessage);
});
port.postMessage({ ready: true } satisfies ThreadMessage);
