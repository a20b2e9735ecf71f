// Given, not an exercise: lesson 08's thread.ts, unchanged. What each thread of your pool runs: wait
// for a loop count, count it as lesson 01's handler does, post the total back, wait for the next.

import { parentPort, workerData } from 'node:worker_threads';
import { countRound } from '../01-single-process/heavy.ts';

export interface ThreadData {
  crashOnLoops?: number; // the test hook: a job of exactly this many loops crashes the thread
}

export type ThreadMessage = { ready: true } | { total: number };

const port = parentPort!;
const { crashOnLoops } = workerData as ThreadData;

port.on('message', count);
port.postMessage({ ready: true } satisfies ThreadMessage);

// Lesson 01's loop, here in the function the thread's port calls, not in a helper: V8 would inline
// a helper into this listener, and after the thread's first few hundred jobs its loop ran in
// Maglev's code for good, at 3.3 ms a job instead of 1.9 (Node 26: lesson 01's heavy.ts).
function count(loops: number): void {
  if (loops === crashOnLoops) throw new Error(`crashing on purpose: EVERY_CORE_TEST_CRASH_THREAD_ON=${loops}`);
  let total = 0;
  while (total < loops) {
    const round = countRound(loops, total);
    let counted = 0;
    while (counted < round) {
      counted++;
    }
    total += counted;
  }
  port.postMessage({ total } satisfies ThreadMessage);
}
