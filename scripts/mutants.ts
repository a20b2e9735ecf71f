// Do the tests catch a broken lesson? Each mutant below is a lesson broken on purpose, the way a
// learner or a refactoring might break it. For each: copy the project to a temporary folder, make
// the one edit, run the test file that should catch it, and expect it to fail within a bound.
// A mutant whose tests still pass, or that hangs past the bound, is a hole in the suite: exit 1.
// Its first failing test is all the proof needs: the run ends there. Quickest on Node 22.18+, where
// the tests start without tsx; two mutants run at a time (--one-at-a-time: one).
// Run it:  npm run mutants        (or: npm run mutants -- 04-policy-ignored  to run one)

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { exitOnSignals, killGroup, root } from '../lib/launch.ts';
import { commandLine } from '../lib/options.ts';
import { runtimeArgs } from '../lib/runtime.ts';

const defaults = {
  boundS: 150, // a mutant's test file must have failed by then; later counts as a hang
  atOnce: 2, // mutants whose tests run at the same time: they mostly wait for the lessons they start
  reporter: './scripts/check-reporter.mjs', // one JSON line per test, as npm run check reads them
};

interface Failure {
  name: string;
  message?: string;
}

interface Mutant {
  name: string;
  why: string; // what a learner would have got wrong
  file: string;
  find: string | RegExp; // must match exactly once in the file
  replace: string;
  test: string; // the test file that must fail
  only?: string; // just its tests whose names match this (--test-name-pattern): the one that shows it, not those before it
}

const mutants: Mutant[] = [
  {
    name: '01-stop-does-nothing',
    why: "lesson 01's stop() returns at once: SIGTERM neither drains nor exits",
    file: 'lessons/01-single-process/server.ts',
    find: '  stop(): Promise<number> {\n    if (this.#stopped) return this.#stopped;\n',
    replace: '  stop(): Promise<number> {\n    return new Promise<number>(() => {});\n',
    test: 'lessons/01-single-process/server.test.ts',
  },
  {
    name: '03-stop-by-disconnect',
    why: "lesson 03 stops a worker with worker.disconnect(), which closes its idle keep-alive sockets at once",
    file: 'lessons/03-cluster/primary.ts',
    find: "worker.process.kill('SIGTERM');",
    replace: 'worker.disconnect();',
    test: 'lessons/03-cluster/primary.test.ts',
    only: 'SIGTERM: a stopping worker still answers a keep-alive client once',
  },
  {
    name: '04-policy-ignored',
    why: 'lesson 04 announces the chosen policy but never sets cluster.schedulingPolicy',
    file: 'lessons/04-round-robin/primary.ts',
    find: /\n  cluster\.schedulingPolicy = policies\[choice\.policy\]\.constant;/,
    replace: '',
    test: 'lessons/04-round-robin/round-robin.test.ts',
  },
  {
    name: '07-stop-before-listening',
    why: 'lesson 07 stops the old worker before its replacement listens: N-1 serve meanwhile',
    file: 'lessons/07-zero-downtime/primary.ts',
    find: '    const outcome = await listeningOrExit(fresh.worker);\n',
    replace: '    await this.stopWorker(old, `roll ${step}`);\n    const outcome = await listeningOrExit(fresh.worker);\n',
    test: 'lessons/07-zero-downtime/zero-downtime.test.ts',
    only: 'during a roll N workers are listening at every step',
  },
  {
    name: '07-no-backoff',
    why: 'the replacement of a quick exit is forked at once: the planned delay is logged but not waited',
    file: 'lessons/03-cluster/primary.ts',
    find: '    }, delayMs);\n    this.#pendingForks.add(timer);',
    replace: '    }, 0);\n    this.#pendingForks.add(timer);',
    test: 'lessons/07-zero-downtime/zero-downtime.test.ts',
    only: 'are replaced after delays that grow',
  },
  {
    name: '07-replace-twice',
    why: 'every unplanned exit gets a replacement, even one whose replacement a roll has forked already',
    file: 'lessons/03-cluster/primary.ts',
    find: 'if (tracked.slot.isRemoved || this.#trackedIn(tracked.slot).length > 0) {',
    replace: 'if (tracked.slot.isRemoved) {',
    test: 'lessons/07-zero-downtime/zero-downtime.test.ts',
    only: 'is not replaced twice',
  },
  // One of each kind of bug that passed the suite before it had a test for it.
  {
    name: '01-no-loop-cap',
    why: "a cap removed: lesson 01's ?n= takes any count, so one request buys as much CPU as it asks for",
    file: 'lessons/01-single-process/heavy.ts',
    find: 'if (loops <= heavyDefaults.maxLoops) return { loops };',
    replace: 'if (loops > 0) return { loops };',
    test: 'lessons/01-single-process/server.test.ts',
    only: 'out-of-range n gets 400',
  },
  {
    name: '02-rate-over-wrong-span',
    why: "a figure computed wrong: lesson 02 takes milliseconds for tenths of a second, so its requests per second are ten times too low",
    file: 'lessons/02-load-test/loadtest.ts',
    find: '(lastAnswerAt - startedAt) / 1000',
    replace: '(lastAnswerAt - startedAt) / 100',
    test: 'lessons/02-load-test/measure.test.ts',
  },
  {
    name: '04-one-request-too-many',
    why: "a limit off by one: lesson 04's loops send one request more than --requests says",
    file: 'lessons/04-round-robin/distribution.ts',
    find: 'while (sent < run.requests) {',
    replace: 'while (sent <= run.requests) {',
    test: 'lessons/04-round-robin/round-robin.test.ts',
    only: 'distribution.ts prints a row',
  },
  {
    name: 'load-non200-not-counted',
    why: "a failure not counted: the tests' load loop stops counting non-200 answers, so 503s pass for successes",
    file: 'lib/load.ts',
    find: 'if (reply.status !== 200) count.non200++;',
    replace: '',
    test: 'lib/load.test.ts',
  },
  {
    name: 'launch-cleanup-after-ready',
    why: 'cleanup in the wrong order: the launcher hands a lesson to its test for cleanup only once it is ready, so one that never is runs on',
    file: 'lib/launch.ts',
    find: '    const lesson = await startOnce(file, options, onSpawn);\n    if (!options.ready) return lesson;\n    try {\n      await lesson.waitFor(options.ready);\n',
    replace: '    const lesson = await startOnce(file, options);\n    if (!options.ready) return lesson;\n    try {\n      await lesson.waitFor(options.ready);\n      onSpawn?.(lesson);\n',
    test: 'test/harness.test.ts',
  },
];

const { chosen, atOnce } = readArgs(process.argv.slice(2));
const testRuns = new Set<number>(); // the process groups of the test runs under way
const copies = new Set<string>(); // and their copies of the project
exitOnSignals(); // Ctrl+C ends the run, the test runs it started and their copies of the project
process.once('exit', () => {
  testRuns.forEach((pgid) => killGroup(pgid));
  copies.forEach((copy) => rmSync(copy, { recursive: true, force: true }));
});
const results = await inTurn(chosen, atOnce, run);
const survivors = results.filter((result) => result.outcome !== 'caught');
console.log(`\n${results.length - survivors.length} of ${results.length} broken lessons caught by their tests`);
for (const { mutant, outcome } of survivors) console.error(`NOT CAUGHT: ${mutant.name} (${outcome}): ${mutant.why}`);
process.exitCode = survivors.length > 0 ? 1 : 0;

async function run(mutant: Mutant): Promise<{ mutant: Mutant; outcome: string }> {
  const copy = copyProject();
  try {
    breakLesson(copy, mutant);
    const startedAt = Date.now();
    const { code, timedOut, failed } = await runTests(copy, mutant);
    const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
    const outcome = timedOut ? `still running after ${defaults.boundS} s` : failed === undefined && code === 0 ? 'its tests passed' : 'caught';
    const detail = outcome === 'caught' ? `failed in ${seconds} s: ${failed ? `${failed.name}: ${firstLine(failed.message)}` : `exit code ${code}, no failing test named`}` : outcome;
    console.log(`${outcome === 'caught' ? '✔' : '✖'} ${mutant.name}: ${mutant.why}\n    ${detail}`);
    return { mutant, outcome };
  } finally {
    rmSync(copy, { recursive: true, force: true });
    copies.delete(copy);
  }
}

// The project's own files, without .git and node_modules (linked instead: the same packages).
function copyProject(): string {
  const copy = mkdtempSync(join(os.tmpdir(), 'every-core-mutant-'));
  const skip = new Set(['.git', 'node_modules', '.pm2']);
  cpSync(root, copy, { recursive: true, filter: (source) => !skip.has(source.slice(root.length).split('/')[0]) });
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
  copies.add(copy);
  return copy;
}

function breakLesson(copy: string, mutant: Mutant): void {
  const path = join(copy, mutant.file);
  const text = readFileSync(path, 'utf8');
  const matches = text.split(mutant.find).length - 1;
  if (matches !== 1) throw new Error(`mutant ${mutant.name}: its pattern matches ${matches} times in ${mutant.file}, not once: update it`);
  writeFileSync(path, text.replace(mutant.find, mutant.replace));
}

// The test file on this runtime, as npm test runs it (the kit's loader only where this Node cannot
// strip types itself), in a process group of its own, ended at its first failing test: that one is the proof.
async function runTests(copy: string, mutant: Mutant): Promise<{ code: number | null; timedOut: boolean; failed?: Failure }> {
  const only = mutant.only ? [`--test-name-pattern=${mutant.only}`] : [];
  const child = spawn(process.execPath, [...runtimeArgs(), '--test', `--test-reporter=${defaults.reporter}`, ...only, mutant.test], {
    cwd: copy,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Node's compile cache (lib/ts-cache.mjs) inside the copy, removed with it: each copy is a new
    // path, and in the shared cache every run would leave entries for its copies' files.
    env: { ...process.env, NODE_COMPILE_CACHE: join(copy, '.compile-cache') },
  });
  const pgid = child.pid!;
  testRuns.add(pgid);
  let failed: Failure | undefined;
  let timedOut = false;
  // Frozen first, so that no test starts a lesson between the look at the process tree and the kill.
  const end = () => {
    try {
      process.kill(-pgid, 'SIGSTOP');
    } catch {
      // ESRCH: it has ended by itself
    }
    killGroup(pgid);
  };
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (failed || !line.startsWith('{')) return;
    const event = parsed(line);
    if (event?.status !== 'fail') return;
    failed = { name: event.name, message: event.message };
    end();
  });
  child.stderr.resume();
  const timer = setTimeout(() => {
    timedOut = true;
    end();
  }, defaults.boundS * 1000);
  const [code] = await once(child, 'close');
  clearTimeout(timer);
  killGroup(pgid); // lessons it started, if it left any
  testRuns.delete(pgid);
  return { code, timedOut: timedOut && !failed, failed };
}

// `work` on each item, `atOnce` at a time; the results in the items' order.
async function inTurn<Item, Result>(items: Item[], atOnce: number, work: (item: Item) => Promise<Result>): Promise<Result[]> {
  const results: Result[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(atOnce, items.length) }, worker));
  return results;
}

// A line of the reporter's, or undefined for the last line of a killed run, which may be cut short.
function parsed(line: string): (Failure & { status: string }) | undefined {
  try {
    return JSON.parse(line) as Failure & { status: string };
  } catch {
    return undefined;
  }
}

function firstLine(text = ''): string {
  const line = text.trim().split('\n')[0];
  return line.length > 160 ? `${line.slice(0, 160)}...` : line;
}

function readArgs(argv: string[]): { chosen: Mutant[]; atOnce: number } {
  const usage = `Usage: npm run mutants -- [--one-at-a-time] [name ...]

  --one-at-a-time   one mutant's tests at a time (default: ${defaults.atOnce} at once)
  name              one of: ${mutants.map((m) => m.name).join(', ')} (default: all)`;
  const { fail, parse } = commandLine('mutants', usage);
  const { values, positionals } = parse(argv, { 'one-at-a-time': { type: 'boolean' } }, { positionals: true });
  const names: string[] = positionals;
  const unknown = names.filter((name) => !mutants.some((m) => m.name === name));
  if (unknown.length > 0) return fail(`no mutant named ${unknown.join(', ')}`);
  const chosen = names.length === 0 ? mutants : mutants.filter((m) => names.includes(m.name));
  return { chosen, atOnce: values['one-at-a-time'] ? 1 : defaults.atOnce };
}
