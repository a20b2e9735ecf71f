// Lesson 03: every core. The primary forks one worker per CPU; each worker runs lesson 01's server
// unchanged and they all share one port. A worker that dies is replaced; one that cannot start is not.
// Run it:  npx tsx lessons/03-cluster/primary.ts        (WORKERS=4 to choose the count)

import cluster, { type Worker } from 'node:cluster';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { commandLine } from '../../lib/options.ts';

export const defaults = {
  workerCount: os.availableParallelism(), // the CPUs this process may use (os.cpus() ignores affinity)
  maxWorkers: 256, // each worker is a whole process of ~50 MB: more than this is a typo
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

const usage = `Usage: npx tsx lessons/03-cluster/primary.ts

  It takes no options; its settings come from the environment:
  WORKERS=${defaults.workerCount}   how many workers (default: one per CPU)
  PORT=3000    the port they share (read by lesson 01's server)`;

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  commandLine('primary', usage).parse(process.argv.slice(2), {});
  startPrimary();
}

export function startPrimary(): void {
  state.workerCount = readWorkerCount(process.env.WORKERS);
  log(`${os.availableParallelism()} CPUs: forking ${workers(state.workerCount)} of lesson 01's server`);
  cluster.setupPrimary({ exec: defaults.serverFile });
  cluster.on('listening', onListening);
  cluster.on('exit', onExit);
  process.once('SIGINT', () => shutdown('SIGINT', 0));
  process.once('SIGTERM', () => shutdown('SIGTERM', 0));
  for (let i = 0; i < state.workerCount; i++) forkWorker();
}

function forkWorker(): Worker {
  const worker = cluster.fork();
  state.workers.set(worker.id, {});
  return worker;
}

function onListening(worker: Worker, address: AddressInfo): void {
  const info = state.workers.get(worker.id);
  if (!info) return;
  info.listeningAt = Date.now();
  const up = [...state.workers.values()].filter((w) => w.listeningAt !== undefined).length;
  log(`worker ${worker.process.pid} listening (${up}/${state.workerCount} up)`);
  if (state.isReady || up < state.workerCount) return;
  state.isReady = true;
  log(`cluster ready: ${up} workers listening on http://${address.address ?? '127.0.0.1'}:${address.port}`);
}

function onExit(worker: Worker, code: number | null, signal: string | null): void {
  const info = state.workers.get(worker.id);
  state.workers.delete(worker.id);
  if (!info) return;
  if (state.isShuttingDown) return state.workers.size === 0 ? finish() : undefined;

  const how = signal ? `signal ${signal}` : `exit code ${code}`;
  // Counted from 'listening', not from fork: on a busy machine a worker can take seconds to fail.
  const upMs = info.listeningAt === undefined ? 0 : Date.now() - info.listeningAt;
  state.quickExits = upMs < defaults.minUptimeMs ? state.quickExits + 1 : 0;
  if (state.quickExits >= defaults.maxQuickExits) {
    logError(
      `${state.quickExits} workers in a row died before they had served for ${defaults.minUptimeMs} ms ` +
        `(last: ${how}): not forking more. Their own lines above say why; fix that and start again.`,
    );
    return shutdown('giving up', 1);
  }
  const when = info.listeningAt === undefined ? 'before it listened' : `after ${(upMs / 1000).toFixed(1)} s`;
  log(`worker ${worker.process.pid} died (${how}) ${when}: forking a replacement`);
  forkWorker();
}

export function shutdown(reason: string, exitCode: number): void {
  if (state.isShuttingDown) return;
  state.isShuttingDown = true;
  state.exitCode = exitCode;
  log(`${reason}: asking ${workers(state.workers.size)} to finish their requests and exit`);
  if (state.workers.size === 0) return finish();
  // disconnect() closes each worker's listener; the worker answers what it holds, then exits.
  for (const worker of Object.values(cluster.workers ?? {})) if (worker?.isConnected()) worker.disconnect();
  setTimeout(forceKill, defaults.graceMs).unref();
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
