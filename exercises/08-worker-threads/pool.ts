// Exercise 08: lesson 08's pool of worker threads. Write its core: hand a job to an idle thread,
// take the next job from the queue, refuse work when the queue is full, replace a thread that crashes.
// Starting threads and their messages are given; server.ts uses it. Check it:  npm run check -- 08

import { Worker } from 'node:worker_threads';
import { todo } from '../todo.ts';
import type { ThreadData, ThreadMessage } from './thread.ts';

// Bun, and a Node that strips types itself (22.18 and later), load thread.ts in a thread as they
// load the main file; so does any Node 22 under tsx, whose loader reaches worker threads. Node 20
// under tsx does neither, so there each thread starts from a .mjs file that registers tsx first.
const canLoadTypeScript = 'bun' in process.versions || Boolean((process.features as { typescript?: unknown }).typescript);
const threadEntry = new URL(canLoadTypeScript ? './thread.ts' : './thread-on-node-20.mjs', import.meta.url);

export interface PoolOptions {
  size: number; // how many threads
  maxQueued: number; // how many jobs may wait for a thread; run() refuses more (isFull())
  threadData: ThreadData;
  log(line: string): void;
  failToStart(line: string): void; // a thread died before it was ready: starting another would too
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
  replaces?: number; // the id of the crashed thread it took over from
  job?: Job;
  error?: Error;
}

export function createPool(options: PoolOptions) {
  const threads = new Set<Thread>();
  const queue: Job[] = [];
  let isClosing = false;
  let markReady: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));

  for (let i = 0; i < options.size; i++) startThread();

  function startThread(replaces?: number): void {
    const worker = new Worker(threadEntry, { workerData: options.threadData });
    const thread: Thread = { worker, id: worker.threadId, isReady: false, replaces };
    threads.add(thread);
    thread.worker.on('message', (message: ThreadMessage) => onMessage(thread, message));
    thread.worker.on('error', (error) => (thread.error = error)); // 'exit' follows: handled there
    thread.worker.on('exit', (code) => onExit(thread, code));
  }

  function onMessage(thread: Thread, message: ThreadMessage): void {
    if ('ready' in message) {
      thread.isReady = true;
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
    if (isClosing) return;
    const reason = thread.error?.message ?? `exit code ${code}`;
    if (!thread.isReady) return options.failToStart(`thread ${thread.id} died before it was ready (${reason}): not starting more`);
    // TODO 4: a ready thread crashed. Fail only the job it held, if any (thread.job's reject(), with
    // an Error `the thread counting it crashed (<reason>)`: its request gets 500), log
    // `thread <id> crashed (<reason>): starting a new thread in its place` with options.log(), and
    // start that thread: startThread(thread.id) (it says which thread it replaces once it is ready).
    todo('exercises/08-worker-threads/pool.ts', `onExit() replaces crashed thread ${thread.id} (TODO 4)`);
  }

  // `signal`: the job is dropped if it fires while the job still waits (its client has gone). A job
  // that a thread has begun runs to its end: a thread cannot be interrupted mid-count, only ended.
  function run(loops: number, signal?: AbortSignal): Promise<Counted> {
    return new Promise((resolve, reject) => {
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

  // Once no request waits any more: end every thread.
  async function close(): Promise<void> {
    isClosing = true;
    await Promise.all([...threads].map((thread) => thread.worker.terminate()));
  }

  return {
    ready, // resolves once every thread has loaded and said so
    run,
    // TODO 2: whether the queue is full: true once options.maxQueued jobs wait. server.ts asks
    // before each /heavy and answers 503 with Retry-After instead of queueing: a queue without a
    // bound is a memory leak.
    isFull: (): boolean => todo('exercises/08-worker-threads/pool.ts', `isFull(): ${queue.length} jobs wait; may one more? (TODO 2)`),
    threadIds: () => [...threads].map((thread) => thread.id),
    close,
  };
}

export type Pool = ReturnType<typeof createPool>;
