// Do the tests catch a broken lesson? Each mutant below is a lesson broken on purpose, the way a
// learner or a refactoring might break it. For each: copy the project to a temporary folder, make
// the one edit, run the test file that should catch it, and expect it to fail within a bound.
// A mutant whose tests still pass, or that hangs past the bound, is a hole in the suite: exit 1.
// Run it:  npm run mutants        (or: npm run mutants -- 04-policy-ignored  to run one)

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { exitOnSignals, killGroup, root } from '../lib/launch.ts';
import { commandLine } from '../lib/options.ts';

const defaults = {
  boundS: 150, // a mutant's test file must have failed by then; later counts as a hang
};

interface Mutant {
  name: string;
  why: string; // what a learner would have got wrong
  file: string;
  find: string | RegExp; // must match exactly once in the file
  replace: string;
  test: string; // the test file that must fail
  only?: string; // just its tests whose names match this (--test-name-pattern), where one test shows it
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
  },
  {
    name: '07-no-backoff',
    why: 'the replacement of a quick exit is forked at once: the planned delay is logged but not waited',
    file: 'lessons/03-cluster/primary.ts',
    find: '    }, delayMs);\n    this.#pendingForks.add(timer);',
    replace: '    }, 0);\n    this.#pendingForks.add(timer);',
    test: 'lessons/07-zero-downtime/zero-downtime.test.ts',
  },
  {
    name: '07-replace-twice',
    why: 'every unplanned exit gets a replacement, even one whose replacement a roll has forked already',
    file: 'lessons/03-cluster/primary.ts',
    find: 'if (tracked.slot.isRemoved || this.#trackedIn(tracked.slot).length > 0) {',
    replace: 'if (tracked.slot.isRemoved) {',
    test: 'lessons/07-zero-downtime/zero-downtime.test.ts',
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
    find: '  onSpawn?.(lesson);\n  if (options.ready) await lesson.waitFor(options.ready);\n',
    replace: '  if (options.ready) await lesson.waitFor(options.ready);\n  onSpawn?.(lesson);\n',
    test: 'test/harness.test.ts',
  },
];

const chosen = readArgs(process.argv.slice(2));
exitOnSignals(); // Ctrl+C ends the run, the test run it started and its copy of the project
const results = [];
for (const mutant of chosen) results.push(await run(mutant));
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
    const outcome = timedOut ? `still running after ${defaults.boundS} s` : code === 0 ? 'its tests passed' : 'caught';
    const detail = outcome === 'caught' ? `failed in ${seconds} s: ${failed.slice(0, 3).join('; ') || '(no test name)'}` : outcome;
    console.log(`${outcome === 'caught' ? '✔' : '✖'} ${mutant.name}: ${mutant.why}\n    ${detail}`);
    return { mutant, outcome };
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

// The project's own files, without .git and node_modules (linked instead: the same packages).
function copyProject(): string {
  const copy = mkdtempSync(join(os.tmpdir(), 'every-core-mutant-'));
  const skip = new Set(['.git', 'node_modules', '.pm2']);
  cpSync(root, copy, { recursive: true, filter: (source) => !skip.has(source.slice(root.length).split('/')[0]) });
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
  process.once('exit', () => rmSync(copy, { recursive: true, force: true }));
  return copy;
}

function breakLesson(copy: string, mutant: Mutant): void {
  const path = join(copy, mutant.file);
  const text = readFileSync(path, 'utf8');
  const matches = text.split(mutant.find).length - 1;
  if (matches !== 1) throw new Error(`mutant ${mutant.name}: its pattern matches ${matches} times in ${mutant.file}, not once: update it`);
  writeFileSync(path, text.replace(mutant.find, mutant.replace));
}

// The test file on this runtime, as npm test runs it, in a process group of its own.
async function runTests(copy: string, mutant: Mutant): Promise<{ code: number | null; timedOut: boolean; failed: string[] }> {
  const only = mutant.only ? [`--test-name-pattern=${mutant.only}`] : [];
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...only, mutant.test], {
    cwd: copy,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (output += text));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid!);
  }, defaults.boundS * 1000);
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  killGroup(child.pid!); // lessons it started, if it left any
  const failed = [...output.matchAll(/^ {2,}✖ (.+?) \(\d/gm)].map(([, name]) => name);
  return { code, timedOut, failed: [...new Set(failed)] };
}

function readArgs(argv: string[]): Mutant[] {
  const usage = `Usage: npm run mutants -- [name ...]\n\n  name   one of: ${mutants.map((m) => m.name).join(', ')} (default: all)`;
  const { fail, parse } = commandLine('mutants', usage);
  const names: string[] = parse(argv, {}, { positionals: true }).positionals;
  const unknown = names.filter((name) => !mutants.some((m) => m.name === name));
  if (unknown.length > 0) return fail(`no mutant named ${unknown.join(', ')}`);
  return names.length === 0 ? mutants : mutants.filter((m) => names.includes(m.name));
}
