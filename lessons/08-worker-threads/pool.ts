// Lesson 08's pool of worker threads: a fixed number of threads, one job each at a time, a bounded
// queue in front of them. A thread that crashes fails only the job it held and is replaced.
// server.ts uses it; what each thread runs is thread.ts.

import { Worker } from 'node:worker_threads';
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
    const job = queue.shift();
    if (!job) return;
    thread.job = job;
    thread.worker.postMessage(job.loops);
  }

  function onExit(thread: Thread, code: number): void {
    threads.delete(thread);
    if (isClosing) return;
    const reason = thread.error?.message ?? `exit code ${code}`;
    if (!thread.isReady) return options.failToStart(`thread ${thread.id} died before it was ready (${reason}): not starting more`);
    thread.job?.reject(new Error(`the thread counting it crashed (${reason})`));
    options.log(`thread ${thread.id} crashed (${reason}): starting a new thread in its place`);
    startThread(thread.id);
  }

  // `signal`: the job is dropped if it fires while the job still waits (its client has gone). A job
  // that a thread has begun runs to its end: a thread cannot be interrupted mid-count, only ended.
  function run(loops: number, signal?: AbortSignal): Promise<Counted> {
    return new Promise((resolve, reject) => {
      const job = { loops, resolve, reject };
      queue.push(job);
      signal?.addEventListener('abort', () => drop(job), { once: true });
      const idle = [...threads].find((thread) => thread.isReady && !thread.job);
      if (idle) takeNext(idle);
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
    isFull: () => queue.length >= options.maxQueued,
    threadIds: () => [...threads].map((thread) => thread.id),
    close,
  };
}

export type Pool = ReturnType<typeof createPool>;
