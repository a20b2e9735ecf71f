// What the web workers and the job workers agree on: the queue's name and Redis prefix, how a job
// worker holds a job (its lock) and how a lost one is noticed, and the count itself.

import { Redis as Client } from 'ioredis';
import { setImmediate as nextTurn } from 'node:timers/promises';

export const jobDefaults = {
  queue: 'heavy',
  prefix: 'every-core:12:bull', // BullMQ's keys, apart from the store's
  // A job worker holds a lock on its job for JOB_LOCK seconds (policy.ts: 4) and renews it every
  // quarter of that (holding(), below). Killed, it renews nothing: the lock runs out, and the next
  // stalled-job check (every stalledIntervalMs, or half a lock if that is shorter, by any job worker)
  // puts the job back in the queue. BullMQ's defaults are 30 s each, so a killed job would wait up
  // to a minute; these take a few seconds.
  stalledIntervalMs: 1_000,
  // A job whose job worker died this many times is put back once more, and the job worker that takes
  // it next fails it without running it: a job that kills every worker that runs it (a poison job)
  // costs 3 job workers, not a crash loop. Failed jobs are kept (removeOnFail: keep) to be looked at.
  maxStalledCount: 2,
  // The lock is renewed by a timer in the job worker's event loop: a count that held the loop past
  // its lock would lose it while still running, and the job would be run twice. So
  // the count yields between slices of this many loops (about a millisecond each).
  sliceLoops: 1_000_000,
  keep: { age: 3_600, count: 10_000 }, // finished jobs kept for GET /jobs/<id>, at most this long and this many
};

// How a job worker holds its jobs, as BullMQ's Worker takes it: locks of `jobLockS` seconds
// (JOB_LOCK), renewed every quarter of that (BullMQ's default is half: a job worker held up for
// three quarters of a lock still keeps its job), checked for stalls and counted as above.
export function holding(jobLockS: number): { lockDuration: number; lockRenewTime: number; stalledInterval: number; maxStalledCount: number } {
  const lockDuration = jobLockS * 1000;
  return { lockDuration, lockRenewTime: lockDuration / 4, stalledInterval: Math.min(jobDefaults.stalledIntervalMs, lockDuration / 2), maxStalledCount: jobDefaults.maxStalledCount };
}

export interface HeavyJob {
  loops: number;
}

export interface HeavyResult {
  total: number;
  pid: number; // the job worker that counted it
}

// BullMQ's blocking commands need a client that never gives up on a command (maxRetriesPerRequest: null).
export function connect(url: string): Client {
  return new Client(url, { maxRetriesPerRequest: null });
}

// Lesson 01's loop, in slices, with a turn of the event loop between them (see sliceLoops).
export async function countInSlices(loops: number): Promise<number> {
  let total = 0;
  while (total < loops) {
    const end = Math.min(loops, total + jobDefaults.sliceLoops);
    while (total < end) {
      total++;
    }
    await nextTurn();
  }
  return total;
}
