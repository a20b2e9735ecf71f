// Exercise 08: lesson 08's pool of worker threads. Write its core: take the next job from the queue,
// refuse work when the queue is full, hand a new job to an idle thread, replace a thread that crashes.
// Starting threads, their messages, and trying again a replacement that cannot start are given;
// server.ts uses it, thread.ts is what each thread runs. Check it:  npm run check -- 08

import { Worker } from 'node:worker_threads';
import { todo } from '../todo.ts';
import type { ThreadData, ThreadMessage } from './thread.ts';

export const poolDefaults = {
  retryFirstMs: 1_000, // a replacement that could not start is tried again after this,
  retryMaxMs: 30_000, // then after twice as long each time, up to this
};

// Bun, and a Node that strips types itself (22.18 and later), load thread.ts in a thread as they
// load the main file; so does any Node 22 under tsx, whose loader reaches worker threads. Node 20
// does neither, so there each thread starts from a .mjs file that registers a loader first.
const canLoadTypeScript = 'bun' in process.versions || Boolean((process.features as { typescript?: unknown }).typescript);
const threadEntry = new URL(canLoadTypeScript ? './thread.ts' : './thread-on-node-20.mjs', import.meta.url);

export interface PoolOptions {
  size: number; // how many threads
  maxQueued: number; // how many jobs may wait for a thread; run() refuses more (isFull())
  threadData: ThreadData;
  log(line: string): void;
  failToStart(line: string): void; // a first thread died before it was ready: the pool cannot start
  startWorker?(threadData: ThreadData): Worker; // what a thread runs (default: thread.ts); the unit tests pass stand-ins
}

export interface Counted {
  total: number;
  threadId: number; // the thread that counted
}

interface Job {
  loops: number;
  resolve(counted: Counted): void;
  reject(error: Error): void;
}

interface Thread {
  worker: Worker;
  id: number; // worker.threadId, kept: Node sets that to -1 once the thread has exited
  isReady: boolean;
  replaces?: number; // the id of the thread it takes over from
  job?: Job;
  error?: Error;
}

// ---- The pool's decisions, as plain functions ----

// A queue of `maxQueued` places: the job that would be one more is refused.
export function isQueueFull(queued: number, maxQueued: number): boolean {
  // TODO 2: whether the queue is full: true once `maxQueued` jobs wait, so that the job that would
  // be one more is refused. isFull() below asks it with queue.length; server.ts asks isFull() before
  // each /heavy and answers 503 with Retry-After instead of queueing: a queue without a bound is a
  // memory leak.
  todo('exercises/08-worker-threads/pool.ts', `isQueueFull(${queued}, ${maxQueued}): may one more job wait? (TODO 2)`);
}

// What to do once a thread has exited, by what it was.
export function afterExit(thread: { isReady: boolean; isReplacement: boolean }, isClosing: boolean): 'nothing' | 'replace' | 'retry later' | 'fail to start' {
  if (isClosing) return 'nothing';
  if (thread.isReady) return 'replace'; // it ran, then crashed: a new one will most likely start
  // A first thread that cannot load means the code or the machine is wrong: nothing has been served
  // yet, so the program says why and exits. A replacement that cannot load (out of memory, a file
  // gone in a deploy) must not take the threads that still serve down with it: try again later.
  return thread.isReplacement ? 'retry later' : 'fail to start';
}

// After `failures` starts in a row that failed: 1 s, 2 s, 4 s ... at most 30 s.
export function retryDelayMs(failures: number): number {
  return Math.min(poolDefaults.retryFirstMs * 2 ** (failures - 1), poolDefaults.retryMaxMs);
}

// ---- The pool ----

export function createPool(options: PoolOptions) {
  const threads = new Set<Thread>();
  const queue: Job[] = [];
  const startWorker = options.startWorker ?? ((threadData: ThreadData) => new Worker(threadEntry, { workerData: threadData }));
  let isClosing = false;
  let failures = 0; // replacements in a row that could not start
  let cannotStart: string | undefined; // why, while no thread runs at all
  const retries = new Set<NodeJS.Timeout>();
  let markReady: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));

  for (let i = 0; i < options.size; i++) startThread();

  function startThread(replaces?: number): void {
    const worker = startWorker(options.threadData);
    const thread: Thread = { worker, id: worker.threadId, isReady: false, replaces };
    threads.add(thread);
    thread.worker.on('message', (message: ThreadMessage) => onMessage(thread, message));
    thread.worker.on('error', (error) => (thread.error = error)); // 'exit' follows: handled there
    thread.worker.on('exit', (code) => onExit(thread, code));
  }

  function onMessage(thread: Thread, message: ThreadMessage): void {
    if ('ready' in message) {
      thread.isReady = true;
      failures = 0;
      cannotStart = undefined;
      if (thread.replaces !== undefined) options.log(`thread ${thread.id} ready, in place of thread ${thread.replaces}`);
      if ([...threads].every((t) => t.isReady)) markReady();
    } else {
      thread.job!.resolve({ total: message.total, threadId: thread.id });
      thread.job = undefined;
    }
    takeNext(thread);
  }

  function takeNext(thread: Thread): void {
    // TODO 1: the thread is free (ready, or done with its job): give it the job that has waited
    // longest, if any. queue.shift() takes it; keep it in thread.job (onMessage resolves it from
    // there, onExit rejects it) and post its loop count to the thread: thread.worker.postMessage().
    todo('exercises/08-worker-threads/pool.ts', `takeNext() hands thread ${thread.id} the next job (TODO 1)`);
  }

  function onExit(thread: Thread, code: number): void {
    threads.delete(thread);
    const reason = thread.error?.message ?? `exit code ${code}`;
    const decision = afterExit({ isReady: thread.isReady, isReplacement: thread.replaces !== undefined }, isClosing);
    if (decision === 'nothing') return;
    if (decision === 'fail to start') return options.failToStart(`thread ${thread.id} died before it was ready (${reason}): not starting more`);
    if (decision === 'replace') {
      // TODO 4: a ready thread crashed (afterExit() said 'replace'). Fail only the job it held, if
      // any (thread.job's reject(), with an Error `the thread counting it crashed (<reason>)`: its
      // request gets 500), log `thread <id> crashed (<reason>): starting a new thread in its place`
      // with options.log(), and start that thread: startThread(thread.id) (it says which thread it
      // replaces once it is ready). Then return: retryLater() below is for a start that failed.
      todo('exercises/08-worker-threads/pool.ts', `onExit() replaces crashed thread ${thread.id} (TODO 4)`);
    }
    retryLater(thread, reason);
  }

  function retryLater(thread: Thread, reason: string): void {
    failures++;
    const delayMs = retryDelayMs(failures);
    const serving = threads.size;
    const retryIn = `trying again in ${delayMs / 1000} s`;
    options.log(`thread ${thread.id} could not start (${reason}): serving on ${plural(serving, 'thread')}, ${retryIn}`);
    if (serving === 0) {
      // No thread will take the waiting jobs before the retry: answer them now rather than let them hang.
      cannotStart = `no thread is running (the last could not start: ${reason}); ${retryIn}`;
      for (const job of queue.splice(0)) job.reject(new Error(cannotStart));
    }
    const retry = setTimeout(() => {
      retries.delete(retry);
      startThread(thread.replaces);
    }, delayMs);
    retries.add(retry);
  }

  // `signal`: the job is dropped if it fires while the job still waits (its client has gone). A job
  // that a thread has begun runs to its end: a thread cannot be interrupted mid-count, only ended.
  function run(loops: number, signal?: AbortSignal): Promise<Counted> {
    return new Promise((resolve, reject) => {
      if (cannotStart !== undefined) return reject(new Error(cannotStart));
      const job = { loops, resolve, reject };
      queue.push(job);
      signal?.addEventListener('abort', () => drop(job), { once: true });
      // TODO 3: the job waits in the queue; if a thread is idle now (ready, with no job), hand it
      // over at once with takeNext(thread). Otherwise it waits until a thread is free: onMessage()
      // calls takeNext() then.
      todo('exercises/08-worker-threads/pool.ts', `run(${loops}) hands the job to an idle thread (TODO 3)`);
    });
  }

  function drop(job: Job): void {
    const at = queue.indexOf(job);
    if (at === -1) return;
    queue.splice(at, 1);
    job.reject(new Error('its client has gone'));
  }

  // Once no request waits any more: end every thread, and start no more.
  async function close(): Promise<void> {
    isClosing = true;
    retries.forEach((retry) => clearTimeout(retry));
    await Promise.all([...threads].map((thread) => thread.worker.terminate()));
  }

  return {
    ready, // resolves once every thread has loaded and said so
    run,
    isFull: () => isQueueFull(queue.length, options.maxQueued),
    threadIds: () => [...threads].map((thread) => thread.id),
    close,
  };
}

export type Pool = ReturnType<typeof createPool>;

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
