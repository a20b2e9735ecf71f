// Lesson 07: no downtime. Lesson 03's cluster, plus: `kill -USR2 <primary pid>` replaces the workers
// one at a time while the others serve; SIGINT/SIGTERM drain every worker before the primary exits;
// a worker that keeps crashing is respawned ever more slowly, then given up on.
// Run it:  npx tsx lessons/07-zero-downtime/primary.ts        then, from another terminal: kill -USR2 <pid>

import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { defaults as lesson03, log, logError, readWorkerCount, workers } from '../03-cluster/primary.ts';

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
  pendingRespawns: 0, // replacements waiting out their delay
  isRolling: false,
  isRollQueued: false,
  slots: new Map<number, Slot>(), // by worker.id
};

log(`${os.availableParallelism()} CPUs: forking ${workers(state.workerCount)} of lesson 01's server`);
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
  state.isRolling = true;
  const olds = [...state.slots.values()].filter((slot) => !slot.isStopping && !slot.isCandidate);
  const startedAt = Date.now();
  log(`${defaults.rollSignal}: rolling restart of ${workers(olds.length)}, one at a time (${listeningCount()} listening)`);
  let replaced = 0;
  for (const old of olds) {
    if (state.isShuttingDown || !(await replace(old, `${replaced + 1}/${olds.length}`))) break;
    replaced++;
  }
  const outcome = replaced === olds.length ? 'done' : 'stopped';
  log(`rolling restart ${outcome}: ${replaced} of ${workers(olds.length)} replaced in ${seconds(Date.now() - startedAt)} s (${listeningCount()} listening)`);
  state.isRolling = false;
  if (!state.isRollQueued || state.isShuttingDown) return;
  state.isRollQueued = false;
  void roll();
}

async function replace(old: Slot, step: string): Promise<boolean> {
  if (!state.slots.has(old.worker.id)) return true; // it died meanwhile, and its respawn runs the new code
  const fresh = fork(true);
  log(`roll ${step}: forked worker ${fresh.worker.process.pid} to replace worker ${old.worker.process.pid}`);
  const outcome = await listeningOrNot(fresh.worker);
  if (state.isShuttingDown) return false;
  if (outcome !== 'listening') {
    logError(`roll ${step}: worker ${fresh.worker.process.pid} ${outcome}: stopping the roll, the old workers keep serving`);
    await stop(fresh, `roll ${step}`);
    return false;
  }
  fresh.isCandidate = false;
  await stop(old, `roll ${step}`);
  return true;
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
  if (state.isShuttingDown) {
    log(`worker ${worker.process.pid} has exited (${how})`);
    if (state.slots.size === 0) finish();
    return;
  }
  // Counted, not assumed: an old worker that dies while the roll's replacement for it is starting
  // needs no second replacement, and a replacement that fails while its old worker still runs needs none.
  const running = runningCount() + state.pendingRespawns;
  if (running >= state.workerCount) {
    const verb = slot.isStopping ? 'has exited' : 'died';
    return log(`worker ${worker.process.pid} ${verb} (${how}): ${workers(running)} running or on the way, no replacement needed`);
  }
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
  state.pendingRespawns++;
  setTimeout(() => respawn(diedAt), delayMs);
}

function respawn(diedAt: number): void {
  state.pendingRespawns--;
  if (state.isShuttingDown) return;
  const { worker } = fork();
  log(`forked worker ${worker.process.pid}, ${Date.now() - diedAt} ms after the crash`);
}

function backoffMs(quickFailures: number): number {
  return Math.min(defaults.maxBackoffMs, defaults.firstBackoffMs * 2 ** (quickFailures - 1));
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

function runningCount(): number {
  return [...state.slots.values()].filter((slot) => !slot.isStopping).length;
}

function listeningCount(): number {
  return [...state.slots.values()].filter((slot) => slot.listeningSince !== undefined && !slot.isStopping).length;
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}
