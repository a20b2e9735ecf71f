// Exercise 03: every core. Write the primary: fork one worker per CPU, each running your exercise 01
// server; replace a worker that dies, unless it keeps dying at start; stop them all on a signal.
// Run it:  npx tsx exercises/03-cluster/primary.ts      Check it:  npm run check -- 03

import cluster, { type Worker } from 'node:cluster';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { todo } from '../todo.ts';

export const defaults = {
  workerCount: os.availableParallelism(), // the CPUs this process may use (os.cpus() ignores affinity)
  maxWorkers: 256, // each worker is a whole process of ~50 MB: more than this is a typo
  // The file every worker runs: your exercise 01's server, as lesson 03 runs lesson 01's.
  serverFile: fileURLToPath(new URL('../01-single-process/server.ts', import.meta.url)),
  graceMs: 10_000, // after SIGINT/SIGTERM, how long workers get to finish before SIGKILL
  minUptimeMs: 1_000, // a worker that dies before it has listened this long failed at start...
  maxQuickExits: 3, // ...and after this many such deaths in a row, the primary gives up
};

const state = {
  workerCount: 0,
  isReady: false,
  isShuttingDown: false,
  exitCode: 0,
  quickExits: 0,
  workers: new Map<number, { listeningAt?: number }>(), // by worker.id
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) startPrimary();

export function startPrimary(): void {
  state.workerCount = readWorkerCount(process.env.WORKERS);
  log(`${os.availableParallelism()} CPUs: forking ${workers(state.workerCount)} of exercise 01's server`);
  // TODO 1: fork one worker per CPU. Look at cluster.setupPrimary() (its `exec` is the file every
  // worker runs: defaults.serverFile), cluster.on() for the primary's 'listening' and 'exit' events
  // (onListening and onExit below), process.once() for SIGINT and SIGTERM (shutdown(signal, 0)), and
  // forkWorker() below, once per worker (state.workerCount).
  todo('exercises/03-cluster/primary.ts', 'startPrimary() forks one worker per CPU (TODO 1)');
}

function forkWorker(): Worker {
  const worker = cluster.fork();
  state.workers.set(worker.id, {});
  return worker;
}

function onListening(worker: Worker, address: AddressInfo): void {
  // TODO 2: note the time the worker started listening (state.workers.get(worker.id).listeningAt),
  // and log `worker <pid> listening (<up>/<workerCount> up)` (worker.process.pid). Once every worker
  // is up, log, once: `cluster ready: <up> workers listening on http://<address>:<port>`. The tests
  // wait for that line.
  todo('exercises/03-cluster/primary.ts', `onListening() for worker ${worker.process.pid} on port ${address.port} (TODO 2)`);
}

function onExit(worker: Worker, code: number | null, signal: string | null): void {
  // TODO 3: a worker has exited: forget it (state.workers), and then
  //   - while shutting down, finish() once the last one is gone; fork nothing
  //   - else fork a replacement, logging `worker <pid> died (signal SIGKILL) ...: forking a replacement`
  //     (or `(exit code 1)`: signal, else code)
  //   - but a worker that dies before it has listened for defaults.minUptimeMs failed at start: after
  //     defaults.maxQuickExits such deaths in a row, fork no more; logError() `3 workers in a row died
  //     before they had served for 1000 ms ...: not forking more` and shutdown('giving up', 1)
  todo('exercises/03-cluster/primary.ts', `onExit() for worker ${worker.process.pid} (${signal ?? code}): respawn or not (TODO 3)`);
}

export function shutdown(reason: string, exitCode: number): void {
  // TODO 4: stop every worker gracefully, once. Set state.isShuttingDown and state.exitCode, log why,
  // then worker.disconnect() each connected worker (cluster.workers): it closes their listeners and
  // lesson 01's server answers what it holds, then exits. onExit() calls finish() when the last one
  // is gone (with no worker at all, call it here). Arm forceKill() after defaults.graceMs, .unref()ed.
  todo('exercises/03-cluster/primary.ts', `shutdown() on ${reason} (exit code ${exitCode}): stop the workers (TODO 4)`);
}

function forceKill(): void {
  for (const worker of Object.values(cluster.workers ?? {})) {
    if (!worker || worker.isDead()) continue;
    logError(`worker ${worker.process.pid} still running after ${defaults.graceMs} ms: SIGKILL`);
    worker.process.kill('SIGKILL');
  }
}

function finish(): void {
  log('all workers have exited');
  process.exit(state.exitCode);
}

export function readWorkerCount(raw: string | undefined): number {
  if (raw === undefined || raw === '') return defaults.workerCount;
  if (/^[1-9]\d{0,8}$/.test(raw) && Number(raw) <= defaults.maxWorkers) return Number(raw);
  logError(`WORKERS must be a whole number from 1 to ${defaults.maxWorkers}, got ${JSON.stringify(raw)}: try WORKERS=${defaults.workerCount}`);
  process.exit(1);
}

export function workers(count: number): string {
  return `${count} worker${count === 1 ? '' : 's'}`;
}

export function log(line: string): void {
  console.log(`[primary ${process.pid}] ${line}`);
}

export function logError(line: string): void {
  console.error(`[primary ${process.pid}] ${line}`);
}
