// Exercise 07: no downtime. Your exercise 03 cluster, imported, plus two things: `kill -USR2 <primary
// pid>` replaces the workers one at a time while the others serve, and a worker that keeps exiting
// quickly is replaced later and later, then given up on. Check it:  npm run check -- 07
// Run it:  npx tsx exercises/07-zero-downtime/primary.ts        then, from another terminal: kill -USR2 <pid>

import type { Worker } from 'node:cluster';
import { commandLine } from '../../lib/options.ts';
import { todo } from '../todo.ts';
import { defaults as lesson03, forkWorker, listeningCount, log, logError, seconds, startPrimary, state, stopWorker, workers, type Tracked } from '../03-cluster/primary.ts';

const defaults = {
  // Not SIGHUP: a closing terminal sends that, and it should stop a server, not roll it. SIGUSR1 is
  // taken too: it opens Node's debugger.
  rollSignal: 'SIGUSR2',
  listenTimeoutMs: 10_000, // a replacement not listening by then is stopped, and the roll with it
  firstBackoffMs: 100, // the replacement after a quick exit waits this long, twice as long for each one in a row...
  maxBackoffMs: 15_000, // ...but never longer than this
} as const;

const rolls = { isRolling: false, isQueued: false };

const usage = `Usage: npx tsx exercises/07-zero-downtime/primary.ts

  It takes no options; its settings come from the environment:
  WORKERS=${lesson03.workerCount}   how many workers (default: one per CPU)
  PORT=3000    the port they share (read by your exercise 01 server)
  Signals: kill -USR2 <pid> rolls the workers; Ctrl+C or kill <pid> stops them all.`;

commandLine('primary', usage).parse(process.argv.slice(2), {});
startPrimary({ respawnDelayMs: backoffMs });
log(`kill -USR2 ${process.pid} replaces them one at a time; Ctrl+C stops them all`);
process.on(defaults.rollSignal, requestRoll);

function backoffMs(quickExits: number): number {
  // TODO 1: how long to wait before replacing a worker after `quickExits` quick exits in a row (1 for
  // the first): defaults.firstBackoffMs, twice as long for each one more in a row (100, 200, 400,
  // 800...), but never more than defaults.maxBackoffMs. Lesson 03's primary calls it (startPrimary's
  // respawnDelayMs) and gives up after its maxQuickExits. Math.min() and 2 ** n are all it takes.
  return todo('exercises/07-zero-downtime/primary.ts', `backoffMs(${quickExits}): the delay before a replacement (TODO 1)`);
}

// ---- Rolling restart: one worker at a time, the new one listening before the old one stops ----

function requestRoll(): void {
  if (state.isShuttingDown) return log(`${defaults.rollSignal} while shutting down: ignored`);
  if (!rolls.isRolling) return void roll();
  // Interleaving two rolls could stop two workers at once; a queued roll still picks up new code.
  log(`${defaults.rollSignal} during a roll: ${rolls.isQueued ? 'one more roll is queued already' : 'queued, it starts when this one is done'}`);
  rolls.isQueued = true;
}

async function roll(): Promise<void> {
  // TODO 2: replace every worker running now, one at a time. Set rolls.isRolling; the old ones are
  // the workers in state.workers that are not stopping; log `SIGUSR2: rolling restart of <n>
  // workers, one at a time`. Then await replace(old, '<i>/<n>') for each, in turn: never two at
  // once, and stop at the first that returns false (or once state.isShuttingDown). Log
  // `rolling restart done: <replaced> of <n> workers replaced in <s> s` (or `stopped`), clear
  // rolls.isRolling, and if a roll was queued meanwhile (rolls.isQueued), clear that and roll again.
  todo('exercises/07-zero-downtime/primary.ts', 'roll() replaces the workers one at a time (TODO 2)');
}

async function replace(old: Tracked, step: string): Promise<boolean> {
  // TODO 3: replace one worker with no moment where fewer serve. If it has died meanwhile (no longer
  // in state.workers), return true: its replacement runs the new code already. Else forkWorker() a
  // new one, log `roll <step>: forked worker <new pid> to replace worker <old pid>`, and await
  // listeningOrNot(new worker). Only once it says 'listening' await stopWorker(old, `roll <step>`)
  // and return true. Any other outcome: logError() it, stopWorker() the new one, and return false:
  // the old workers keep serving. While shutting down, return false.
  return todo('exercises/07-zero-downtime/primary.ts', `replace() worker ${old.worker.process.pid} in roll ${step} (TODO 3)`);
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
