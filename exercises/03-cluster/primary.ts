// Exercise 03: every core. Write the heart of lesson 03's Primary: fork one worker per CPU, each
// running your exercise 01 server (through worker.ts); replace a worker that dies, unless its slot's
// workers keep dying at start; stop a worker gracefully. The rest is given. Check it:  npm run check -- 03
// Run it:  npx tsx exercises/03-cluster/primary.ts        (WORKERS=4 to choose the count)

import cluster, { type Worker } from 'node:cluster';
import { EventEmitter, once } from 'node:events';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { commandLine, parseWhole } from '../../lib/options.ts';
import { isMain } from '../../lib/runtime.ts';
import { todo } from '../todo.ts';

export const defaults = {
  workerCount: os.availableParallelism(), // the CPUs this process may use (os.cpus() ignores affinity)
  maxWorkers: 256, // each worker is a whole process of ~50 MB: more than this is a typo
  workerFile: fileURLToPath(new URL('./worker.ts', import.meta.url)),
  graceMs: 10_000, // a worker asked to stop that has not exited by then gets SIGKILL, and the exit is 1
  listenTimeoutMs: 10_000, // a worker not listening by then is killed: it counts as a quick exit
  minUptimeMs: 1_000, // a worker that dies before it has listened this long exited quickly...
  maxQuickExits: 5, // ...and after this many quick exits in a row, its slot is given up
  stopSignals: ['SIGINT', 'SIGTERM', 'SIGHUP'] as NodeJS.Signals[], // SIGHUP: the terminal closed
};

export type Limits = Pick<typeof defaults, 'minUptimeMs' | 'maxQuickExits'>;

export interface PrimaryOptions extends Partial<Limits> {
  workerCount?: number;
  workerFile?: string; // what each worker runs (lessons 09 and 11 bring their own)
  env?: Record<string, string>; // added to each worker's environment
  graceMs?: number;
  listenTimeoutMs?: number;
}

// Why a worker was forked: at the start, to replace one that died, to grow the count, or (lesson 07) a roll.
export type ForkReason = 'first' | 'respawn' | 'added' | 'roll';

// A place for one worker. Quick exits are counted per slot, as pm2 counts restarts per instance: a
// slot whose workers keep dying is given up, and the healthy slots keep serving.
export interface Slot {
  quickExits: number; // in a row
  gaveUp: boolean;
  isRemoved: boolean; // by setWorkerCount(): its worker is stopped and not replaced
}

export interface Tracked {
  worker: Worker;
  slot: Slot;
  listeningSince?: number; // Date.now() of its 'listening'
  isStopping: boolean; // asked to stop: no longer counted, and its exit is no crash
}

export interface WorkerInfo {
  pid: number;
  id: number;
  phase: 'starting' | 'listening' | 'stopping';
  listeningSince?: number;
}

interface Events {
  fork: [worker: Worker, reason: ForkReason];
  listening: [worker: Worker, address: AddressInfo];
  exit: [worker: Worker, code: number | null, signal: string | null];
  ready: [url: string];
  line: [line: string, isError: boolean]; // every line the primary has to say (lesson 11 shows them)
  stopped: [exitCode: number];
}

const usage = `Usage: npx tsx exercises/03-cluster/primary.ts

  It takes no options; its settings come from the environment:
  WORKERS=${defaults.workerCount}   how many workers (default: one per CPU)
  PORT=3000    the port they share (read by lesson 01's server)
  Signals: Ctrl+C, kill <pid> or a closed terminal (SIGHUP) stops them all.`;


// As a program: WORKERS read (a bad value exits 1 with the reason), then run until stopped. Lessons
// 04 and 09 start theirs this way too.
export function startPrimary(options: PrimaryOptions = {}): Primary {
  const primary = asProgram(new Primary({ workerCount: readWorkerCount(process.env.WORKERS), ...options }));
  primary.start();
  return primary;
}

// What makes a Primary a program: its stop signals handled first (before any line invites one), its
// lines on the terminal, and its exit status once it has stopped: the worst of its own and of what
// runs `alongside` it in this process (lesson 11's page), stopped after it.
export function asProgram<P extends Primary>(primary: P, alongside: { stop(): Promise<number> }[] = []): P {
  // `on`, not `once`: `npx tsx` re-sends a Ctrl+C that is not acknowledged within 30 ms, and a second
  // SIGINT with no listener would end the primary at once, before its workers have drained.
  for (const signal of defaults.stopSignals) process.on(signal, () => void primary.stop(signal));
  printLines(primary);
  primary.once('stopped', async (exitCode) => {
    const others = await Promise.all(alongside.map((thing) => thing.stop()));
    process.exit(Math.max(exitCode, ...others));
  });
  return primary;
}

export function printLines(primary: Primary): void {
  primary.on('line', (line, isError) => (isError ? console.error : console.log)(`[primary ${process.pid}] ${line}`));
}

export class Primary extends EventEmitter<Events> {
  readonly options: Required<Omit<PrimaryOptions, 'env'>> & { env: Record<string, string> };
  #workerCount: number;
  #slots: Slot[] = [];
  #workers = new Map<number, Tracked>(); // by worker.id
  #quickExitsInARow = 0; // across the cluster: gives up all at once when nothing is listening
  #pendingForks = new Set<NodeJS.Timeout>(); // replacements waiting out their delay
  #isReady = false;
  #stopping?: Promise<number>;
  #exitCode = 0;

  constructor(options: PrimaryOptions = {}) {
    super();
    const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
    this.options = { ...defaults, env: {}, ...given };
    this.#workerCount = this.options.workerCount;
  }

  get workerCount(): number {
    return this.#workerCount;
  }

  get isStopping(): boolean {
    return this.#stopping !== undefined;
  }

  get isReady(): boolean {
    return this.#isReady;
  }

  start(): void {
    this.log(`${os.availableParallelism()} CPUs: forking ${workers(this.#workerCount)} of lesson 01's server`);
    // TODO 1: fork one worker per CPU (this.#workerCount of them). First tell node:cluster which file
    // every worker runs: cluster.setupPrimary({ exec }), with this.options.workerFile. Then fork each
    // worker with this.fork(slot, 'first'), each in a new slot of its own (this.#newSlot()): a slot is
    // the place a replacement takes when its worker dies. fork() below does the rest.
    todo('exercises/03-cluster/primary.ts', `start() forks ${workers(this.#workerCount)}, one per CPU (TODO 1)`);
  }

  // ---- Forking: every fork is bounded by the listen timeout ----

  protected fork(slot: Slot, reason: ForkReason): Tracked {
    const worker = cluster.fork(this.options.env);
    const tracked: Tracked = { worker, slot, isStopping: false };
    this.#workers.set(worker.id, tracked);
    const timer = setTimeout(() => this.#notListening(tracked), this.options.listenTimeoutMs).unref();
    worker.once('listening', (address: AddressInfo) => (clearTimeout(timer), this.#onListening(tracked, address)));
    worker.once('exit', (code: number | null, signal: string | null) => (clearTimeout(timer), this.#onExit(tracked, code, signal)));
    this.emit('fork', worker, reason);
    return tracked;
  }

  #notListening(tracked: Tracked): void {
    if (tracked.isStopping || tracked.worker.isDead()) return;
    this.logError(`worker ${pidOf(tracked)} not listening ${seconds(this.options.listenTimeoutMs)} s after its fork: SIGKILL`);
    tracked.worker.process.kill('SIGKILL');
  }

  #onListening(tracked: Tracked, address: AddressInfo): void {
    if (!this.#workers.has(tracked.worker.id)) return;
    tracked.listeningSince = Date.now();
    this.log(`worker ${pidOf(tracked)} listening (${this.listeningCount()} listening)`);
    setTimeout(() => this.#noteStable(tracked), this.options.minUptimeMs).unref();
    this.emit('listening', tracked.worker, address);
    if (this.#isReady || this.listeningCount() < this.#workerCount) return;
    this.#isReady = true;
    const url = `http://${address.address ?? '127.0.0.1'}:${address.port}`;
    this.log(`cluster ready: ${workers(this.#workerCount)} listening on ${url}`);
    this.emit('ready', url);
  }

  #noteStable(tracked: Tracked): void {
    if (!this.#workers.has(tracked.worker.id) || tracked.isStopping) return;
    const hadQuickExits = tracked.slot.quickExits > 0;
    tracked.slot.quickExits = 0;
    this.#quickExitsInARow = 0;
    if (hadQuickExits) this.log(`worker ${pidOf(tracked)} has been listening for ${seconds(this.options.minUptimeMs)} s: the quick exit count starts over`);
  }

  // ---- Stopping a worker gracefully, for good or (lesson 07) to replace it ----

  async stopWorker(tracked: Tracked, why: string): Promise<void> {
    // TODO 4: stop one worker gracefully, once, and resolve once it has exited.
    //   - return at once if it is stopping already (tracked.isStopping) or dead (worker.isDead());
    //     else set tracked.isStopping (from now on it is not counted, and its exit is no crash) and
    //     log `${why}: stopping worker <pid> (<n> listening)` with this.log() and this.listeningCount()
    //   - ask it with SIGTERM (worker.process.kill), not worker.disconnect(): your exercise 01 server
    //     then drains, answering keep-alive clients with Connection: close; disconnect() would close
    //     their idle sockets at once, racing clients that are just sending
    //   - a safety net: after this.options.graceMs, this.#forceKill(tracked) (.unref() the timer)
    //   - wait for its 'exit' (once() from node:events: start waiting before the signal), then clear the timer
    return todo('exercises/03-cluster/primary.ts', `stopWorker() stops worker ${pidOf(tracked)} gracefully (TODO 4)`);
  }

  #forceKill(tracked: Tracked): void {
    // A forced end is no clean stop: a supervisor reading the exit status must be able to tell.
    this.#exitCode = 1;
    this.logError(`worker ${pidOf(tracked)} still running ${this.options.graceMs} ms after it was asked to stop: SIGKILL`);
    tracked.worker.process.kill('SIGKILL');
  }

  // Stops every worker; resolves to the exit status: 0, or 1 after giving up or a forced end.
  stop(reason = 'stop'): Promise<number> {
    this.#stopping ??= this.#stopAll(reason);
    return this.#stopping;
  }

  async #stopAll(reason: string): Promise<number> {
    this.#pendingForks.forEach((timer) => clearTimeout(timer));
    this.#pendingForks.clear();
    const running = [...this.#workers.values()];
    this.log(`${reason}: asking ${workers(running.length)} to finish their requests and exit`);
    await Promise.all(running.map((tracked) => this.stopWorker(tracked, reason)));
    await Promise.all([...this.#workers.values()].map((tracked) => once(tracked.worker, 'exit')));
    this.log('all workers have exited');
    this.emit('stopped', this.#exitCode);
    return this.#exitCode;
  }

  // ---- How many: lesson 11's buttons ----

  setWorkerCount(count: number): void {
    const parsed = parseWorkerCount(String(count), { workerCount: this.#workerCount, maxWorkers: defaults.maxWorkers });
    if ('reason' in parsed) throw new RangeError(parsed.reason);
    if (this.isStopping) return;
    while (this.#workerCount < count) this.#grow();
    while (this.#workerCount > count) this.#shrink();
  }

  #grow(): void {
    this.#workerCount++;
    const { worker } = this.fork(this.#newSlot(), 'added');
    this.log(`one worker more, ${this.#workerCount} from now on: forked worker ${worker.process.pid}`);
  }

  #shrink(): void {
    this.#workerCount--;
    // A slot given up on goes first: it serves nothing. Otherwise the newest.
    const slot = this.#slots.find((s) => s.gaveUp && !s.isRemoved) ?? this.#slots.findLast((s) => !s.isRemoved)!;
    slot.isRemoved = true;
    const running = this.#trackedIn(slot);
    if (running.length === 0) return this.log(`one worker less, ${this.#workerCount} from now on`);
    for (const tracked of running) void this.stopWorker(tracked, `one worker less, ${this.#workerCount} from now on`);
  }

  #newSlot(): Slot {
    const slot: Slot = { quickExits: 0, gaveUp: false, isRemoved: false };
    this.#slots.push(slot);
    return slot;
  }

  // ---- Exits: keep every slot filled, and give up on slots whose workers cannot start ----

  #onExit(tracked: Tracked, code: number | null, signal: string | null): void {
    this.#workers.delete(tracked.worker.id);
    this.emit('exit', tracked.worker, code, signal);
    const how = signal ? `signal ${signal}` : `exit code ${code}`;
    // TODO 2: replace the worker that has exited, or not. Log one line for each case:
    //   - while the primary stops (this.isStopping), nothing is replaced: `worker <pid> has exited (<how>)`
    //   - the verb: `has exited` for a worker asked to stop (tracked.isStopping), else `died`
    //   - a slot removed (tracked.slot.isRemoved) or that has a worker again (this.#trackedIn(slot):
    //     lesson 07's roll forks the new one before the old one exits) needs none:
    //     `worker <pid> <verb> (<how>)`, plus `: its slot has a worker, no replacement needed` if it died
    //   - otherwise this.#replaceLater(tracked, verb, how) decides when (TODO 3) and forks it
    todo('exercises/03-cluster/primary.ts', `#onExit() for worker ${pidOf(tracked)} (${how}): replace it or not (TODO 2)`);
  }

  #replaceLater(tracked: Tracked, verb: string, how: string): void {
    // Counted from 'listening', not from fork: on a busy machine a worker can take seconds to fail.
    const listenedMs = tracked.listeningSince === undefined ? undefined : Date.now() - tracked.listeningSince;
    const judged = judgeExit({ slot: tracked.slot.quickExits, cluster: this.#quickExitsInARow }, listenedMs, this.listeningCount(), this.options);
    tracked.slot.quickExits = judged.slot;
    this.#quickExitsInARow = judged.cluster;
    const life = listenedMs === undefined ? 'before it listened' : `after ${seconds(listenedMs)} s listening`;
    const said = `worker ${pidOf(tracked)} ${verb} (${how}) ${life} (${this.listeningCount()} listening)`;
    if (judged.verdict === 'give up') return this.#giveUp(said, how);
    if (judged.verdict === 'give up slot') return this.#giveUpSlot(tracked.slot, said, how);
    const delayMs = judged.isQuick ? this.replacementDelayMs(judged.slot) : 0;
    const when = delayMs === 0 ? 'now' : `in ${delayMs} ms`;
    const plan = judged.isQuick ? `quick exit ${judged.slot} of ${this.options.maxQuickExits} in a row, forking a replacement ${when}` : `forking a replacement ${when}`;
    this.log(`${said}: ${plan}`);
    const exitedAt = Date.now();
    const timer = setTimeout(() => {
      this.#pendingForks.delete(timer);
      const { worker } = this.fork(tracked.slot, 'respawn');
      this.log(`forked worker ${worker.process.pid}, ${Date.now() - exitedAt} ms after the exit`);
    }, delayMs);
    this.#pendingForks.add(timer);
  }

  // Lesson 03 replaces at once; lesson 07 waits longer after each quick exit in a row.
  protected replacementDelayMs(_quickExits: number): number {
    return 0;
  }

  #giveUpSlot(slot: Slot, said: string, how: string): void {
    slot.gaveUp = true;
    const serving = this.#slots.filter((s) => !s.gaveUp && !s.isRemoved).length;
    this.logError(
      `${said}: ${this.options.maxQuickExits} workers in a row exited before they had listened for ${this.options.minUptimeMs} ms in this slot (last: ${how}): ` +
        `not forking more for it; ${serving} of ${workers(this.#workerCount)} still in service. Its lines above say why.`,
    );
    if (serving === 0) void this.#stopWithCode('giving up', 1);
  }

  #giveUp(said: string, how: string): void {
    this.logError(
      `${said}: ${this.#quickExitsInARow} workers in a row exited before they had listened for ${this.options.minUptimeMs} ms (last: ${how}) ` +
        `and none is listening: not forking more. Their own lines above say why; fix that and start again.`,
    );
    void this.#stopWithCode('giving up', 1);
  }

  #stopWithCode(reason: string, exitCode: number): Promise<number> {
    this.#exitCode = Math.max(this.#exitCode, exitCode);
    return this.stop(reason);
  }

  // ---- What others may read ----

  list(): WorkerInfo[] {
    return [...this.#workers.values()].map(({ worker, listeningSince, isStopping }) => ({
      pid: worker.process.pid!,
      id: worker.id,
      phase: isStopping ? 'stopping' : listeningSince === undefined ? 'starting' : 'listening',
      listeningSince,
    }));
  }

  workerByPid(pid: number): Worker | undefined {
    return [...this.#workers.values()].find(({ worker }) => worker.process.pid === pid)?.worker;
  }

  runningCount(): number {
    return [...this.#workers.values()].filter((tracked) => !tracked.isStopping).length;
  }

  listeningCount(): number {
    return [...this.#workers.values()].filter((tracked) => tracked.listeningSince !== undefined && !tracked.isStopping).length;
  }

  // For lesson 07's roll: the workers running now, and a fresh one in the same slot as an old one.
  protected running(): Tracked[] {
    return [...this.#workers.values()].filter((tracked) => !tracked.isStopping);
  }

  protected isTracked(tracked: Tracked): boolean {
    return this.#workers.has(tracked.worker.id);
  }

  #trackedIn(slot: Slot): Tracked[] {
    return [...this.#workers.values()].filter((tracked) => tracked.slot === slot && !tracked.isStopping);
  }

  log(line: string): void {
    this.emit('line', line, false);
  }

  logError(line: string): void {
    this.emit('line', line, true);
  }
}

// ---- Decisions, as plain functions ----

export interface Judged {
  isQuick: boolean;
  slot: number; // quick exits in a row in the dead worker's slot, this one counted
  cluster: number; // and across the cluster
  verdict: 'replace' | 'give up slot' | 'give up';
}

// A worker exited unasked, having listened `listenedMs` (undefined: never). A quick exit adds one to
// its slot's count and to the cluster's; any other exit starts both over. A slot gives up at
// maxQuickExits; the whole cluster gives up only when nothing else is listening either (port in use,
// a typo in the code: every slot would fail alike, so why wait for each of them to give up).
export function judgeExit(before: { slot: number; cluster: number }, listenedMs: number | undefined, othersListening: number, limits: Limits = defaults): Judged {
  // TODO 3: judge the exit. Quick: it never listened (listenedMs undefined) or listened less than
  // limits.minUptimeMs. Not quick: both counts start over (0), verdict 'replace'. Quick: one more in
  // its slot and one more across the cluster; then 'give up' when the cluster's count has reached
  // limits.maxQuickExits and nothing else is listening (othersListening === 0), else 'give up slot'
  // when the slot's count has reached it, else 'replace'. Return { isQuick, slot, cluster, verdict }.
  return todo('exercises/03-cluster/primary.ts', `judgeExit() after ${listenedMs === undefined ? 'no listen' : `${listenedMs} ms listening`}: replace, or give up (TODO 3)`);
}

export function parseWorkerCount(raw: string | undefined, limits = { workerCount: defaults.workerCount, maxWorkers: defaults.maxWorkers }): { workerCount: number } | { reason: string } {
  if (raw === undefined || raw === '') return { workerCount: limits.workerCount };
  const count = parseWhole(raw);
  if (count !== undefined && count >= 1 && count <= limits.maxWorkers) return { workerCount: count };
  return { reason: `WORKERS must be a whole number from 1 to ${limits.maxWorkers}, got ${JSON.stringify(raw)}: try WORKERS=${limits.workerCount}` };
}

// For programs: the count, or the reason on stderr and exit 1.
export function readWorkerCount(raw: string | undefined): number {
  const parsed = parseWorkerCount(raw);
  if ('workerCount' in parsed) return parsed.workerCount;
  console.error(`[primary ${process.pid}] ${parsed.reason}`);
  process.exit(1);
}

// ---- Small helpers, lesson 07's too ----

export function workers(count: number): string {
  return `${count} worker${count === 1 ? '' : 's'}`;
}

export function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

function pidOf(tracked: Tracked): number | undefined {
  return tracked.worker.process.pid;
}

// The program, last: a class is not there before its definition has run.
if (isMain(import.meta.url)) {
  commandLine('primary', usage).parse(process.argv.slice(2), {});
  startPrimary();
}
