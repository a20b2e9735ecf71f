// Lesson 03: every core. The primary forks one worker per CPU; each worker runs lesson 01's server
// (through worker.ts) and they all share one port. A worker that dies is replaced; workers that keep
// dying at start are given up on. Lesson 07 imports this file and adds rolling restarts and backoff.
// Run it:  npx tsx lessons/03-cluster/primary.ts        (WORKERS=4 to choose the count)

import cluster, { type Worker } from 'node:cluster';
import { EventEmitter, once } from 'node:events';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { commandLine } from '../../lib/options.ts';

export const defaults = {
  workerCount: os.availableParallelism(), // the CPUs this process may use (os.cpus() ignores affinity)
  maxWorkers: 256, // each worker is a whole process of ~50 MB: more than this is a typo
  workerFile: fileURLToPath(new URL('./worker.ts', import.meta.url)),
  graceMs: 10_000, // a worker asked to stop that has not exited by then gets SIGKILL
  minUptimeMs: 1_000, // a worker that dies before it has listened this long exited quickly...
  maxQuickExits: 5, // ...and after this many quick exits in a row, the primary gives up
};

export interface Tracked {
  worker: Worker;
  listeningSince?: number; // Date.now() of its 'listening'
  isStopping: boolean; // asked to stop: no longer counted, and its exit is no crash
}

export const state = {
  workerCount: 0,
  isReady: false,
  isShuttingDown: false,
  exitCode: 0,
  quickExits: 0, // in a row
  pendingForks: 0, // replacements waiting out their delay
  respawnDelayMs: (_quickExits: number) => 0, // lesson 03 replaces at once; lesson 07 backs off
  workers: new Map<number, Tracked>(), // by worker.id
};

// Every line the primary prints, also as an event: lesson 11 shows them on its page.
export const logLines = new EventEmitter<{ line: [line: string, isError: boolean] }>();

const usage = `Usage: npx tsx lessons/03-cluster/primary.ts

  It takes no options; its settings come from the environment:
  WORKERS=${defaults.workerCount}   how many workers (default: one per CPU)
  PORT=3000    the port they share (read by lesson 01's server)`;

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  commandLine('primary', usage).parse(process.argv.slice(2), {});
  startPrimary();
}

// Lesson 07 passes how long to wait before a replacement; lessons 09 and 11 what their workers run.
export interface PrimaryOptions {
  respawnDelayMs?: (quickExits: number) => number;
  workerFile?: string;
}

export function startPrimary(options: PrimaryOptions = {}): void {
  state.workerCount = readWorkerCount(process.env.WORKERS);
  state.respawnDelayMs = options.respawnDelayMs ?? state.respawnDelayMs;
  log(`${os.availableParallelism()} CPUs: forking ${workers(state.workerCount)} of lesson 01's server`);
  cluster.setupPrimary({ exec: options.workerFile ?? defaults.workerFile });
  cluster.on('listening', onListening);
  cluster.on('exit', onExit);
  // `on`, not `once`: `npx tsx` re-sends a Ctrl+C that is not acknowledged within 30 ms, and a second
  // SIGINT with no listener would end the primary at once, before its workers have drained.
  process.on('SIGINT', () => shutdown('SIGINT', 0));
  process.on('SIGTERM', () => shutdown('SIGTERM', 0));
  for (let i = 0; i < state.workerCount; i++) forkWorker();
}

export function forkWorker(): Tracked {
  const tracked: Tracked = { worker: cluster.fork(), isStopping: false };
  state.workers.set(tracked.worker.id, tracked);
  return tracked;
}

function onListening(worker: Worker, address: AddressInfo): void {
  const tracked = state.workers.get(worker.id);
  if (!tracked) return;
  tracked.listeningSince = Date.now();
  log(`worker ${worker.process.pid} listening (${listeningCount()} listening)`);
  if (state.quickExits > 0) setTimeout(() => noteStable(tracked), defaults.minUptimeMs).unref();
  if (state.isReady || listeningCount() < state.workerCount) return;
  state.isReady = true;
  log(`cluster ready: ${workers(state.workerCount)} listening on http://${address.address ?? '127.0.0.1'}:${address.port}`);
}

// ---- Stopping a worker gracefully, for good or (lesson 07) to replace it ----

export async function stopWorker(tracked: Tracked, why: string): Promise<void> {
  const { worker } = tracked;
  if (tracked.isStopping || worker.isDead()) return;
  tracked.isStopping = true;
  log(`${why}: stopping worker ${worker.process.pid} (${listeningCount()} listening)`);
  const exited = once(worker, 'exit');
  const timer = setTimeout(() => forceKill(worker), defaults.graceMs).unref();
  // SIGTERM, not worker.disconnect(): lesson 01's server then answers with Connection: close for half
  // a second before it closes, so keep-alive clients leave between two requests. On Node,
  // disconnect() closes the worker's idle keep-alive sockets at once, racing clients that are just
  // sending (lesson 07 measures it). The worker still leaves through disconnect() itself (worker.ts).
  worker.process.kill('SIGTERM');
  await exited;
  clearTimeout(timer);
}

function forceKill(worker: Worker): void {
  logError(`worker ${worker.process.pid} still running ${defaults.graceMs} ms after it was asked to stop: SIGKILL`);
  worker.process.kill('SIGKILL');
}

export function shutdown(reason: string, exitCode: number): void {
  if (state.isShuttingDown) return;
  state.isShuttingDown = true;
  state.exitCode = exitCode;
  const running = [...state.workers.values()];
  log(`${reason}: asking ${workers(running.length)} to finish their requests and exit`);
  if (running.length === 0) return finish();
  for (const tracked of running) void stopWorker(tracked, reason);
}

function finish(): void {
  log('all workers have exited');
  process.exit(state.exitCode);
}

// ---- Exits: keep workerCount running, and give up on workers that cannot start ----

function onExit(worker: Worker, code: number | null, signal: string | null): void {
  const tracked = state.workers.get(worker.id);
  if (!tracked) return;
  state.workers.delete(worker.id);
  const how = signal ? `signal ${signal}` : `exit code ${code}`;
  if (state.isShuttingDown) {
    log(`worker ${worker.process.pid} has exited (${how})`);
    return state.workers.size === 0 ? finish() : undefined;
  }
  const verb = tracked.isStopping ? 'has exited' : 'died';
  // Counted, not assumed: during lesson 07's roll a worker can die while its replacement is on the
  // way already, and that replacement is enough.
  const running = runningCount() + state.pendingForks;
  if (running < state.workerCount) return replaceLater(tracked, verb, how);
  const enough = tracked.isStopping ? '' : `: ${workers(running)} running, no replacement needed`;
  log(`worker ${worker.process.pid} ${verb} (${how})${enough}`);
}

function replaceLater(tracked: Tracked, verb: string, how: string): void {
  // Counted from 'listening', not from fork: on a busy machine a worker can take seconds to fail.
  const listenedMs = tracked.listeningSince === undefined ? 0 : Date.now() - tracked.listeningSince;
  const isQuick = listenedMs < defaults.minUptimeMs;
  state.quickExits = isQuick ? state.quickExits + 1 : 0;
  if (state.quickExits >= defaults.maxQuickExits) return giveUp(how);
  const delayMs = isQuick ? state.respawnDelayMs(state.quickExits) : 0;
  const life = tracked.listeningSince === undefined ? 'before it listened' : `after ${seconds(listenedMs)} s listening`;
  const when = delayMs === 0 ? 'now' : `in ${delayMs} ms`;
  const plan = isQuick ? `quick exit ${state.quickExits} of ${defaults.maxQuickExits} in a row, forking a replacement ${when}` : `forking a replacement ${when}`;
  log(`worker ${tracked.worker.process.pid} ${verb} (${how}) ${life} (${listeningCount()} listening): ${plan}`);
  const exitedAt = Date.now();
  state.pendingForks++;
  setTimeout(() => forkReplacement(exitedAt), delayMs);
}

function forkReplacement(exitedAt: number): void {
  state.pendingForks--;
  if (state.isShuttingDown) return;
  const { worker } = forkWorker();
  log(`forked worker ${worker.process.pid}, ${Date.now() - exitedAt} ms after the exit`);
}

function noteStable(tracked: Tracked): void {
  if (!state.workers.has(tracked.worker.id) || tracked.isStopping || state.quickExits === 0) return;
  state.quickExits = 0;
  log(`worker ${tracked.worker.process.pid} has been listening for ${seconds(defaults.minUptimeMs)} s: the quick exit count starts over`);
}

function giveUp(how: string): void {
  logError(
    `${state.quickExits} workers in a row exited before they had listened for ${defaults.minUptimeMs} ms (last: ${how}): ` +
      `not forking more. Their own lines above say why; fix that and start again.`,
  );
  shutdown('giving up', 1);
}

// ---- Small helpers, lesson 07's too ----

export function runningCount(): number {
  return [...state.workers.values()].filter((tracked) => !tracked.isStopping).length;
}

export function listeningCount(): number {
  return [...state.workers.values()].filter((tracked) => tracked.listeningSince !== undefined && !tracked.isStopping).length;
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

export function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

export function log(line: string): void {
  console.log(`[primary ${process.pid}] ${line}`);
  logLines.emit('line', line, false);
}

export function logError(line: string): void {
  console.error(`[primary ${process.pid}] ${line}`);
  logLines.emit('line', line, true);
}
