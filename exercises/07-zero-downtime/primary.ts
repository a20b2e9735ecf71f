// Exercise 07: no downtime. Your exercise 03 cluster, plus: `kill -USR2 <primary pid>` replaces the
// workers one at a time while the others serve, and a worker that keeps crashing is respawned ever
// more slowly. Stopping one worker gracefully (stop()) and the crash bookkeeping are given.
// Run it:  npx tsx exercises/07-zero-downtime/primary.ts      Check it:  npm run check -- 07

import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { defaults as lesson03, log, logError, readWorkerCount, workers } from '../03-cluster/primary.ts';
import { todo } from '../todo.ts';

const defaults = {
  // Not SIGHUP: a closing terminal sends that, and it should stop a server, not roll it. SIGUSR1 is
  // taken too: it opens Node's debugger.
  rollSignal: 'SIGUSR2',
  listenTimeoutMs: 10_000, // a replacement not listening by then is stopped, and the roll with it
  graceMs: lesson03.graceMs, // a worker asked to stop that has not exited by then gets SIGKILL
  minUptimeMs: lesson03.minUptimeMs, // a worker that dies before it has listened this long failed quickly...
  maxQuickFailures: 5, // ...and after this many quick failures in a row the primary gives up
  firstBackoffMs: 100, // the respawn after a quick failure waits this long, twice as long for each one in a row...
  maxBackoffMs: 15_000, // ...but never longer than this
} as const;

interface Slot {
  worker: Worker;
  listeningSince?: number; // Date.now() of its 'listening'
  isStopping: boolean; // asked to stop: no longer counted as listening, and its exit is no crash
  isCandidate: boolean; // forked by a roll and not listening yet: if it dies, the roll stops there
}

const state = {
  workerCount: readWorkerCount(process.env.WORKERS),
  isReady: false,
  isShuttingDown: false,
  exitCode: 0,
  quickFailures: 0, // in a row
  isRolling: false,
  isRollQueued: false,
  slots: new Map<number, Slot>(), // by worker.id
};

log(`${os.availableParallelism()} CPUs: forking ${workers(state.workerCount)} of exercise 01's server`);
log(`kill -USR2 ${process.pid} replaces them one at a time; Ctrl+C stops them all`);
cluster.setupPrimary({ exec: lesson03.serverFile });
cluster.on('listening', onListening);
cluster.on('exit', onExit);
process.on(defaults.rollSignal, requestRoll);
process.once('SIGINT', () => shutdown('SIGINT', 0));
process.once('SIGTERM', () => shutdown('SIGTERM', 0));
for (let i = 0; i < state.workerCount; i++) fork();

function fork(isCandidate = false): Slot {
  const slot: Slot = { worker: cluster.fork(), isStopping: false, isCandidate };
  state.slots.set(slot.worker.id, slot);
  return slot;
}

function onListening(worker: Worker, address: AddressInfo): void {
  const slot = state.slots.get(worker.id);
  if (!slot) return;
  slot.listeningSince = Date.now();
  log(`worker ${worker.process.pid} listening (${listeningCount()} listening)`);
  if (state.quickFailures > 0) setTimeout(() => noteStable(slot), defaults.minUptimeMs).unref();
  if (state.isReady || listeningCount() < state.workerCount) return;
  state.isReady = true;
  log(`cluster ready: ${state.workerCount} workers listening on http://${address.address ?? '127.0.0.1'}:${address.port}`);
}

// ---- Rolling restart: one worker at a time, the new one listening before the old one stops ----

function requestRoll(): void {
  if (state.isShuttingDown) return log(`${defaults.rollSignal} while shutting down: ignored`);
  if (!state.isRolling) return void roll();
  // Interleaving two rolls could stop two workers at once; a queued roll still picks up new code.
  log(`${defaults.rollSignal} during a roll: ${state.isRollQueued ? 'one more roll is queued already' : 'queued, it starts when this one is done'}`);
  state.isRollQueued = true;
}

async function roll(): Promise<void> {
  // TODO 1: a rolling restart: replace the workers that serve now (not stopping, not candidates),
  // one at a time, with replace() below; stop early if a replacement fails or a shutdown begins.
  // Set state.isRolling while it runs, and when it is done start the queued roll, if any
  // (state.isRollQueued, set by requestRoll()). The tests read these lines (log()):
  //   `SIGUSR2: rolling restart of <n> workers, one at a time (<k> listening)`
  //   `rolling restart done: <n> of <n> workers replaced in <s> s (<k> listening)` (or `stopped`)
  todo('exercises/07-zero-downtime/primary.ts', 'roll() replaces the workers one at a time (TODO 1)');
}

async function replace(old: Slot, step: string): Promise<boolean> {
  // TODO 2: replace one worker, never dropping below N-1 listening: fork a candidate (fork(true)),
  // log `roll <step>: forked worker <new pid> to replace worker <old pid>`, and wait until it is
  // listening (listeningOrNot() below). Only then stop the old one (stop(), below). If the candidate
  // exits or never listens, stop it instead, logError() why, and return false: the roll stops there
  // and the old workers keep serving. A worker that died meanwhile needs no replacing (its respawn
  // runs the new code): return true.
  return todo('exercises/07-zero-downtime/primary.ts', `replace() worker ${old.worker.process.pid} at roll ${step} (TODO 2)`);
}

function listeningOrNot(worker: Worker): Promise<string> {
  return new Promise((resolve) => {
    const settle = (outcome: string) => {
      clearTimeout(timer);
      worker.off('listening', onListening).off('exit', onExit);
      resolve(outcome);
    };
    const onListening = () => settle('listening');
    const onExit = () => settle('exited before it was listening');
    const timer = setTimeout(() => settle(`was not listening after ${seconds(defaults.listenTimeoutMs)} s`), defaults.listenTimeoutMs);
    worker.once('listening', onListening).once('exit', onExit);
  });
}

// ---- Stopping a worker gracefully, for a roll or for good ----

async function stop(slot: Slot, why: string): Promise<void> {
  const { worker } = slot;
  if (slot.isStopping || worker.isDead()) return;
  slot.isStopping = true;
  log(`${why}: stopping worker ${worker.process.pid} (${listeningCount()} listening)`);
  const exited = once(worker, 'exit');
  const timer = setTimeout(() => forceKill(worker), defaults.graceMs).unref();
  // SIGTERM, not worker.disconnect(): lesson 01's server then answers with Connection: close for half
  // a second before it closes, so keep-alive clients leave between two requests. On Node,
  // disconnect() closes its idle keep-alive sockets at once, racing clients that are just sending.
  worker.process.kill('SIGTERM');
  await exited;
  clearTimeout(timer);
}

function forceKill(worker: Worker): void {
  logError(`worker ${worker.process.pid} still running ${defaults.graceMs} ms after it was asked to stop: SIGKILL`);
  worker.process.kill('SIGKILL');
}

function shutdown(reason: string, exitCode: number): void {
  if (state.isShuttingDown) return;
  state.isShuttingDown = true;
  state.exitCode = exitCode;
  const running = [...state.slots.values()];
  if (running.length === 0) return finish();
  log(`${reason}: asking ${workers(running.length)} to finish their requests and exit`);
  for (const slot of running) void stop(slot, reason);
}

function finish(): void {
  log('all workers have exited');
  process.exit(state.exitCode);
}

// ---- Crashes: respawn, later and later, and give up on a crash loop ----

function onExit(worker: Worker, code: number | null, signal: string | null): void {
  const slot = state.slots.get(worker.id);
  if (!slot) return;
  state.slots.delete(worker.id);
  const how = signal ? `signal ${signal}` : `exit code ${code}`;
  if (slot.isStopping || state.isShuttingDown) {
    log(`worker ${worker.process.pid} has exited (${how})`);
    if (state.isShuttingDown && state.slots.size === 0) finish();
    return;
  }
  if (slot.isCandidate) return; // the roll that forked it says so, and stops
  respawnLater(slot, how);
}

function respawnLater(slot: Slot, how: string): void {
  const listenedMs = slot.listeningSince === undefined ? 0 : Date.now() - slot.listeningSince;
  const isQuick = listenedMs < defaults.minUptimeMs;
  state.quickFailures = isQuick ? state.quickFailures + 1 : 0;
  if (state.quickFailures >= defaults.maxQuickFailures) return giveUp(how);
  const delayMs = isQuick ? backoffMs(state.quickFailures) : 0;
  const life = slot.listeningSince === undefined ? 'before it was listening' : `after ${seconds(listenedMs)} s listening`;
  const plan = isQuick
    ? `quick failure ${state.quickFailures} of ${defaults.maxQuickFailures} in a row, forking a replacement in ${delayMs} ms`
    : 'forking a replacement now';
  log(`worker ${slot.worker.process.pid} died (${how}) ${life} (${listeningCount()} listening): ${plan}`);
  const diedAt = Date.now();
  setTimeout(() => respawn(diedAt), delayMs);
}

function respawn(diedAt: number): void {
  if (state.isShuttingDown) return;
  const { worker } = fork();
  log(`forked worker ${worker.process.pid}, ${Date.now() - diedAt} ms after the crash`);
}

function backoffMs(quickFailures: number): number {
  // TODO 3: how long to wait before respawning after the n-th quick failure in a row:
  // defaults.firstBackoffMs for the first, twice as long for each one after it (100, 200, 400, 800
  // ms), never longer than defaults.maxBackoffMs. (Math.min, and 2 ** n.)
  return todo('exercises/07-zero-downtime/primary.ts', `backoffMs() for quick failure ${quickFailures} in a row (TODO 3)`);
}

function noteStable(slot: Slot): void {
  if (!state.slots.has(slot.worker.id) || slot.isStopping || state.quickFailures === 0) return;
  state.quickFailures = 0;
  log(`worker ${slot.worker.process.pid} has been listening for ${seconds(defaults.minUptimeMs)} s: the crash count starts over`);
}

function giveUp(how: string): void {
  logError(
    `${state.quickFailures} workers in a row died before they had listened for ${defaults.minUptimeMs} ms (last: ${how}): ` +
      `not forking more. Their own lines above say why; fix that and start again.`,
  );
  shutdown('giving up', 1);
}

function listeningCount(): number {
  return [...state.slots.values()].filter((slot) => slot.listeningSince !== undefined && !slot.isStopping).length;
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}
