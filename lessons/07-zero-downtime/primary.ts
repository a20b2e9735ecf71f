// Lesson 07: no downtime. Lesson 03's cluster, imported, plus two things: `kill -USR2 <primary pid>`
// replaces the workers one at a time while the others serve, and a worker that keeps exiting quickly
// is replaced later and later (lesson 03 replaces it at once), then given up on.
// Run it:  npx tsx lessons/07-zero-downtime/primary.ts        then, from another terminal: kill -USR2 <pid>

import type { Worker } from 'node:cluster';
import { pathToFileURL } from 'node:url';
import { commandLine } from '../../lib/options.ts';
import { defaults as lesson03, forkWorker, listeningCount, log, logError, seconds, startPrimary, state, stopWorker, workers, type PrimaryOptions, type Tracked } from '../03-cluster/primary.ts';

const defaults = {
  // Not SIGHUP: a closing terminal sends that, and it should stop a server, not roll it. SIGUSR1 is
  // taken too: it opens Node's debugger.
  rollSignal: 'SIGUSR2',
  listenTimeoutMs: 10_000, // a replacement not listening by then is stopped, and the roll with it
  firstBackoffMs: 100, // the replacement after a quick exit waits this long, twice as long for each one in a row...
  maxBackoffMs: 15_000, // ...but never longer than this
} as const;

export const rolls = { isRolling: false, isQueued: false };

const usage = `Usage: npx tsx lessons/07-zero-downtime/primary.ts

  It takes no options; its settings come from the environment:
  WORKERS=${lesson03.workerCount}   how many workers (default: one per CPU)
  PORT=3000    the port they share (read by lesson 01's server)
  Signals: kill -USR2 <pid> rolls the workers; Ctrl+C or kill <pid> stops them all.`;

// Run as a program, it starts the cluster; lesson 11 imports it and adds a page.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  commandLine('primary', usage).parse(process.argv.slice(2), {});
  startZeroDowntime();
}

export function startZeroDowntime(options: Pick<PrimaryOptions, 'workerFile'> = {}): void {
  startPrimary({ ...options, respawnDelayMs: backoffMs });
  log(`kill -USR2 ${process.pid} replaces them one at a time; Ctrl+C stops them all`);
  process.on(defaults.rollSignal, requestRoll);
}

function backoffMs(quickExits: number): number {
  return Math.min(defaults.maxBackoffMs, defaults.firstBackoffMs * 2 ** (quickExits - 1));
}

// ---- Rolling restart: one worker at a time, the new one listening before the old one stops ----

export function requestRoll(): void {
  if (state.isShuttingDown) return log(`${defaults.rollSignal} while shutting down: ignored`);
  if (!rolls.isRolling) return void roll();
  // Interleaving two rolls could stop two workers at once; a queued roll still picks up new code.
  log(`${defaults.rollSignal} during a roll: ${rolls.isQueued ? 'one more roll is queued already' : 'queued, it starts when this one is done'}`);
  rolls.isQueued = true;
}

async function roll(): Promise<void> {
  rolls.isRolling = true;
  // Every worker running now is old; one forked from here on (by this roll, or to replace a crash) is new.
  const olds = [...state.workers.values()].filter((tracked) => !tracked.isStopping);
  const startedAt = Date.now();
  log(`${defaults.rollSignal}: rolling restart of ${workers(olds.length)}, one at a time (${listeningCount()} listening)`);
  let replaced = 0;
  for (const old of olds) {
    if (state.isShuttingDown || !(await replace(old, `${replaced + 1}/${olds.length}`))) break;
    replaced++;
  }
  const outcome = replaced === olds.length ? 'done' : 'stopped';
  log(`rolling restart ${outcome}: ${replaced} of ${workers(olds.length)} replaced in ${seconds(Date.now() - startedAt)} s (${listeningCount()} listening)`);
  rolls.isRolling = false;
  if (!rolls.isQueued || state.isShuttingDown) return;
  rolls.isQueued = false;
  void roll();
}

async function replace(old: Tracked, step: string): Promise<boolean> {
  if (!state.workers.has(old.worker.id)) return true; // it died meanwhile, and its replacement runs the new code
  const fresh = forkWorker();
  log(`roll ${step}: forked worker ${fresh.worker.process.pid} to replace worker ${old.worker.process.pid}`);
  const outcome = await listeningOrNot(fresh.worker);
  if (state.isShuttingDown) return false;
  if (outcome !== 'listening') {
    logError(`roll ${step}: worker ${fresh.worker.process.pid} ${outcome}: stopping the roll, the old workers keep serving`);
    await stopWorker(fresh, `roll ${step}`);
    return false;
  }
  await stopWorker(old, `roll ${step}`);
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
