// Lesson 07: no downtime. Lesson 03's Primary, extended with two things: `kill -USR2 <primary pid>`
// replaces the workers one at a time while the others serve, and a worker that keeps exiting quickly
// is replaced later and later (lesson 03 replaces it at once), then its slot is given up on.
// Run it:  npx tsx lessons/07-zero-downtime/primary.ts        then, from another terminal: kill -USR2 <pid>

import type { Worker } from 'node:cluster';
import { commandLine } from '../../lib/options.ts';
import { isMain } from '../../lib/runtime.ts';
import { asProgram, defaults as lesson03, Primary, readWorkerCount, seconds, workers, type PrimaryOptions, type Tracked } from '../03-cluster/primary.ts';

export const defaults = {
  // Not SIGHUP: a closing terminal sends that, and it should stop a server (lesson 03 stops on it),
  // not roll it. SIGUSR1 is taken too: it opens Node's debugger.
  rollSignal: 'SIGUSR2' as NodeJS.Signals,
  firstBackoffMs: 100, // the replacement after a quick exit waits this long, twice as long for each one in a row...
  maxBackoffMs: 15_000, // ...but never longer than this
};

const usage = `Usage: npx tsx lessons/07-zero-downtime/primary.ts

  It takes no options; its settings come from the environment:
  WORKERS=${lesson03.workerCount}   how many workers (default: one per CPU)
  PORT=3000    the port they share (read by lesson 01's server)
  Signals: kill -USR2 <pid> rolls the workers; Ctrl+C, kill <pid> or a closed terminal stops them all.`;

// As a program: the roll signal is handled before the line that tells anyone to send it.
// `alongside`: what runs beside the cluster in this process, stopped after it (lesson 12's job workers).
export function startZeroDowntime(options: PrimaryOptions = {}, alongside: Parameters<typeof asProgram>[1] = []): ZeroDowntime {
  const primary = asZeroDowntimeProgram(new ZeroDowntime({ workerCount: readWorkerCount(process.env.WORKERS), ...options }), alongside);
  primary.start();
  primary.log(`kill -USR2 ${process.pid} replaces them one at a time; Ctrl+C stops them all`);
  return primary;
}

export function asZeroDowntimeProgram(primary: ZeroDowntime, alongside: Parameters<typeof asProgram>[1] = []): ZeroDowntime {
  process.on(defaults.rollSignal, () => primary.roll());
  return asProgram(primary, alongside);
}

// The wait before the replacement of the n-th quick exit in a row: 100, 200, 400 ms... at most 15 s.
export function backoffMs(quickExits: number, limits: Pick<typeof defaults, 'firstBackoffMs' | 'maxBackoffMs'> = defaults): number {
  if (quickExits < 1) return 0;
  return Math.min(limits.maxBackoffMs, limits.firstBackoffMs * 2 ** (quickExits - 1));
}

export class ZeroDowntime extends Primary {
  #isRolling = false;
  #isQueued = false;

  get isRolling(): boolean {
    return this.#isRolling;
  }

  protected override replacementDelayMs(quickExits: number): number {
    return backoffMs(quickExits);
  }

  // ---- Rolling restart: one worker at a time, the new one listening before the old one stops ----

  roll(): void {
    if (this.isStopping) return this.log(`${defaults.rollSignal} while shutting down: ignored`);
    if (!this.#isRolling) return void this.#roll();
    // Interleaving two rolls could stop two workers at once; a queued roll still picks up new code.
    this.log(`${defaults.rollSignal} during a roll: ${this.#isQueued ? 'one more roll is queued already' : 'queued, it starts when this one is done'}`);
    this.#isQueued = true;
  }

  async #roll(): Promise<void> {
    this.#isRolling = true;
    // Every worker running now is old; one forked from here on (by this roll, or to replace a crash) is new.
    const olds = this.running();
    const startedAt = Date.now();
    this.log(`${defaults.rollSignal}: rolling restart of ${workers(olds.length)}, one at a time (${this.listeningCount()} listening)`);
    let replaced = 0;
    for (const old of olds) {
      if (this.isStopping || !(await this.#replace(old, `${replaced + 1}/${olds.length}`))) break;
      replaced++;
    }
    const outcome = replaced === olds.length ? 'done' : 'stopped';
    this.log(`rolling restart ${outcome}: ${replaced} of ${workers(olds.length)} replaced in ${seconds(Date.now() - startedAt)} s (${this.listeningCount()} listening)`);
    this.#isRolling = false;
    if (!this.#isQueued || this.isStopping) return;
    this.#isQueued = false;
    void this.#roll();
  }

  async #replace(old: Tracked, step: string): Promise<boolean> {
    if (!this.isTracked(old)) return true; // it died meanwhile, and its replacement runs the new code
    const fresh = this.fork(old.slot, 'roll');
    this.log(`roll ${step}: forked worker ${fresh.worker.process.pid} to replace worker ${old.worker.process.pid}`);
    // Lesson 03 bounds every fork: a fresh worker not listening in time is killed, and exits.
    const outcome = await listeningOrExit(fresh.worker);
    if (this.isStopping) return false;
    if (outcome !== 'listening') {
      this.logError(`roll ${step}: worker ${fresh.worker.process.pid} ${outcome}: stopping the roll, the old workers keep serving`);
      return false;
    }
    await this.stopWorker(old, `roll ${step}`);
    return true;
  }
}

function listeningOrExit(worker: Worker): Promise<string> {
  return new Promise((resolve) => {
    const settle = (outcome: string) => {
      worker.off('listening', onListening).off('exit', onExit);
      resolve(outcome);
    };
    const onListening = () => settle('listening');
    const onExit = () => settle('exited before it was listening');
    worker.once('listening', onListening).once('exit', onExit);
  });
}

// Run as a program, it starts the cluster (last: a class is not there before its definition has run);
// lesson 11 imports it and adds a page.
if (isMain(import.meta.url)) {
  commandLine('primary', usage).parse(process.argv.slice(2), {});
  startZeroDowntime();
}
