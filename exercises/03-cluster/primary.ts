// Exercise 03: every core. Write the primary: fork one worker per CPU, each running your exercise 01
// server (through worker.ts); replace a worker that dies, give up on workers that keep dying at start;
// stop them all on a signal. Stopping one worker is given. Check it:  npm run check -- 03
// Run it:  npx tsx exercises/03-cluster/primary.ts        (WORKERS=4 to choose the count)

import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { commandLine } from '../../lib/options.ts';
import { todo } from '../todo.ts';

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

const usage = `Usage: npx tsx exercises/03-cluster/primary.ts

  It takes no options; its settings come from the environment:
  WORKERS=${defaults.workerCount}   how many workers (default: one per CPU)
  PORT=3000    the port they share (read by your exercise 01 server)`;

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  commandLine('primary', usage).parse(process.argv.slice(2), {});
  startPrimary();
}

export function startPrimary(options: { respawnDelayMs?: (quickExits: number) => number } = {}): void {
  state.workerCount = readWorkerCount(process.env.WORKERS);
  state.respawnDelayMs = options.respawnDelayMs ?? state.respawnDelayMs;
  log(`${os.availableParallelism()} CPUs: forking ${workers(state.workerCount)} of exercise 01's server`);
  // TODO 1: fork one worker per CPU. Look at cluster.setupPrimary() (its `exec` is the file every
  // worker runs: defaults.workerFile), cluster.on() for the primary's 'listening' and 'exit' events
  // (onListening and onExit below), process.on() for SIGINT and SIGTERM (shutdown(signal, 0)), and
  // forkWorker() below, once per worker (state.workerCount). `on`, not `once`, for the signals:
  // `npx tsx` re-sends a Ctrl+C that is not acknowledged within 30 ms.
  todo('exercises/03-cluster/primary.ts', 'startPrimary() forks one worker per CPU (TODO 1)');
}

export function forkWorker(): Tracked {
  const tracked: Tracked = { worker: cluster.fork(), isStopping: false };
  state.workers.set(tracked.worker.id, tracked);
  return tracked;
}

function onListening(worker: Worker, address: AddressInfo): void {
  // TODO 2: a worker is listening. Note when (tracked.listeningSince = Date.now(), tracked from
  // state.workers by worker.id) and log `worker <pid> listening (<n> listening)` (listeningCount()).
  // If quick exits are being counted (state.quickExits > 0), call noteStable(tracked) after
  // defaults.minUptimeMs (.unref() the timer). Once every worker listens, set state.isReady and log,
  // once: `cluster ready: <n> workers listening on http://<address>:<port>`. The tests wait for it.
  todo('exercises/03-cluster/primary.ts', `onListening() for worker ${worker.process.pid} on port ${address.port} (TODO 2)`);
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
  // TODO 3: stop every worker gracefully, once (return early if state.isShuttingDown). Set
  // state.isShuttingDown and state.exitCode, log `<reason>: asking <n> workers to finish their
  // requests and exit`, then stopWorker() each one in state.workers (not awaited: all at once).
  // onExit() calls finish() when the last one is gone; with no worker at all, call it here.
  todo('exercises/03-cluster/primary.ts', `shutdown() on ${reason} (exit code ${exitCode}): stop the workers (TODO 3)`);
}

function finish(): void {
  log('all workers have exited');
  process.exit(state.exitCode);
}

// ---- Exits: keep workerCount running, and give up on workers that cannot start ----

function onExit(worker: Worker, code: number | null, signal: string | null): void {
  // TODO 4: a worker has exited. Forget it (state.workers.delete(worker.id)), then:
  //   - while shutting down (state.isShuttingDown): log `worker <pid> has exited (exit code 0)` (or
  //     `(signal SIGKILL)`: signal, else code), and finish() once the last one is gone; fork nothing
  //   - else, when fewer run than state.workerCount (runningCount() + state.pendingForks: one may be
  //     on its way already), replaceLater(tracked, verb, how); verb is `died`, or `has exited` for
  //     a worker you asked to stop (tracked.isStopping)
  //   - else just log that it exited and no replacement is needed
  todo('exercises/03-cluster/primary.ts', `onExit() for worker ${worker.process.pid} (${signal ?? code}): replace it or not (TODO 4)`);
}

function replaceLater(tracked: Tracked, verb: string, how: string): void {
  // TODO 5: fork a replacement, unless workers keep dying at start. A worker that exits before it
  // has listened for defaults.minUptimeMs (from tracked.listeningSince; never listened counts as 0)
  // exited quickly: count those in a row in state.quickExits (a slower exit starts it over at 0).
  // After defaults.maxQuickExits in a row, giveUp(how) and fork no more. Else log
  // `worker <pid> <verb> (<how>) ...: forking a replacement now`, add one to state.pendingForks, and
  // call forkReplacement(Date.now()) after state.respawnDelayMs(state.quickExits) for a quick exit
  // (0 for a slow one; lesson 07 backs off through it) with setTimeout().
  todo('exercises/03-cluster/primary.ts', `replaceLater() for worker ${tracked.worker.process.pid} that ${verb} (${how}) (TODO 5)`);
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
}

export function logError(line: string): void {
  console.error(`[primary ${process.pid}] ${line}`);
}
