// npm test's runner, started by scripts/run-tests.mjs (which see): Node's test runner over every
// lesson's tests and the kit's own. Where this Node cannot strip types itself (Node 20, a 22 before
// 22.18) each test file runs through the kit's loader, lib/strip-types.mjs; Bun has its own runner
// (npm run test:bun). Plain JavaScript: it must start where TypeScript cannot. Not named with "test"
// in front or a .test suffix: a bare `node --test` would take it for a test file. Its arguments are
// the runner's own flags below (e.g. --test-name-pattern=round-robin) or files to run instead of all.
//
// It runs the files through node:test's run(), not `node --test`: the command line sorts the files
// it is given by name (Node 20 and 26 alike), and run() starts them in the order given, so the
// longest start first.

import { setMaxListeners } from 'node:events';
import { createWriteStream, readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import { resolve } from 'node:path';
import { run } from 'node:test';
import * as builtinReporters from 'node:test/reporters';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { withCompileCache } from '../lib/ts-cache.mjs';

const defaults = {
  // Test files mostly wait for the lessons they start, so one more runs than there are cores. On a
  // shared 2-core machine (load 20), 2, 3 and 4 files at once took 239, 195 and 289 s on Node 26.
  concurrency: os.availableParallelism() + 1,
  timeoutMs: 600_000, // a test's longest run (Node 20: a whole file's), cold cache on a busy machine included
};

// The files that took longest, longest first: each file's own process from start to exit, with two
// others beside it, in an npm test on Node 26.10 on a 2-core machine (2026-12-04): 7 to 29 s each;
// the rest took 4.5 s or less.
// Lesson 07's file waits for a slot: its rolls count every reset, and beside the start of lesson 12's
// and pm2's files (a dozen clusters, Redis and pm2 starting at once) CI's Node 22 run saw 1 to 4
// keep-alive resets in 3 of 5 runs on 2026-12-04, none on Node 20 or 26 in them, nor alone; likeliest, a
// CPU-starved old worker meeting the end of its drain before it had read a request already sent.
const slowest = [
  'lessons/06-pm2/pm2.test.ts',
  'lessons/12-shared-state/shared-state.test.ts',
  'lessons/10-many-machines/hosts.test.ts',
  'lessons/07-zero-downtime/zero-downtime.test.ts',
  'lessons/09-reuseport/roll.test.ts',
  'lessons/05-compare/compare.test.ts',
  'lessons/11-watch/watch.test.ts',
  'scripts/screenshot.test.ts',
  'lessons/03-cluster/primary.test.ts',
  'lessons/08-worker-threads/compare.test.ts',
  'lessons/08-worker-threads/server.test.ts',
  'lessons/12-shared-state/job-hosts.test.ts',
];

const usage = `Usage: npm test -- [options] [test files]

  --test-name-pattern=<regex>     run only the tests whose name matches (repeatable)
  --test-skip-pattern=<regex>     skip the tests whose name matches (repeatable)
  --test-only                     run only the tests marked { only: true }
  --test-concurrency=<n>          test files at once (default ${defaults.concurrency}: one more than the CPUs)
  --test-timeout=<ms>             fail a test that runs longer, on Node 20 a whole file (default ${defaults.timeoutMs})
  --test-reporter=<name|module>   spec (default), tap, dot, junit, lcov, or a module (repeatable)
  --test-reporter-destination=<stdout|stderr|file>   one per reporter (default stdout)

With no test files, every lesson's tests and the kit's own, the longest first.`;

const root = fileURLToPath(new URL('..', import.meta.url));
const given = readArgs(process.argv.slice(2));

// Node's compile cache for every test file and every process it starts (lib/ts-cache.mjs).
Object.assign(process.env, withCompileCache(process.env));
// Where this Node cannot strip types, each test file starts through the kit's loader: run() starts
// them with this process's execArgv (Node 20; its execArgv option came later).
if (!process.features.typescript) process.execArgv.push('--import', new URL('../lib/strip-types.mjs', import.meta.url).href);

// Ctrl+C or a kill ends the run: no file starts after it, the running ones are stopped with SIGTERM
// (from a terminal, Ctrl+C reaches them itself too), each ends its lessons, and this waits for them,
// then exits 130 (Ctrl+C) or 143 (SIGTERM).
const stop = new AbortController();
setMaxListeners(0, stop.signal); // run() listens on it once per file: no leak, however many files
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    process.exitCode = 128 + os.constants.signals[signal];
    stop.abort();
  });
}

// Each reporter found before any test file starts: a name that is none exits 2 with the usage.
const reporters = await Promise.all(given.reporters.map(async ({ name, destination }) => ({ reporter: await reporterNamed(name), destination })));

const stream = run({
  cwd: root,
  files: given.files.length > 0 ? given.files : testFiles().map((file) => resolve(root, file)),
  concurrency: given.concurrency,
  timeout: given.timeoutMs,
  signal: stop.signal,
  ...(given.namePatterns.length > 0 ? { testNamePatterns: given.namePatterns } : {}),
  ...(given.skipPatterns.length > 0 ? { testSkipPatterns: given.skipPatterns } : {}),
  ...(given.only ? { only: true } : {}),
});
// A failed test fails the run, as with `node --test` (a todo test that fails does not).
stream.on('test:fail', (data) => {
  if (!data.todo && !stop.signal.aborted) process.exitCode = 1;
});
for (const { reporter, destination } of reporters) {
  const isStdio = destination === 'stdout' || destination === 'stderr';
  const output = isStdio ? process[destination] : createWriteStream(resolve(destination));
  stream.compose(reporter).pipe(output, { end: !isStdio });
}

// A built-in reporter by name, else a module's default export (a path from here, or a package).
// Node's spec reporter is a stream class; the others are async generator functions.
async function reporterNamed(name) {
  const builtin = Object.hasOwn(builtinReporters, name) && name !== 'default' ? builtinReporters[name] : undefined;
  let reporter = builtin;
  try {
    reporter ??= (await import(/^\.{0,2}\//.test(name) ? pathToFileURL(resolve(name)).href : name)).default;
  } catch (error) {
    fail(`--test-reporter=${name}: ${error.message.split('\n')[0]}`);
  }
  if (typeof reporter !== 'function') fail(`--test-reporter=${name}: its module exports no reporter as its default`);
  return typeof reporter.prototype?.pipe === 'function' ? new reporter() : reporter;
}

function readArgs(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'test-name-pattern': { type: 'string', multiple: true },
        'test-skip-pattern': { type: 'string', multiple: true },
        'test-only': { type: 'boolean' },
        'test-concurrency': { type: 'string' },
        'test-timeout': { type: 'string' },
        'test-reporter': { type: 'string', multiple: true },
        'test-reporter-destination': { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    fail(error.message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const count = (flag, raw, fallback) => {
    if (raw === undefined) return fallback;
    if (!/^[1-9]\d*$/.test(raw)) fail(`--${flag} must be a whole number above 0, got "${raw}"`);
    return Number(raw);
  };
  const names = values['test-reporter'] ?? ['spec'];
  const destinations = values['test-reporter-destination'] ?? (names.length === 1 ? ['stdout'] : []);
  if (destinations.length !== names.length) fail(`give one --test-reporter-destination for each --test-reporter (${names.length}), got ${destinations.length}`);
  if (values['test-skip-pattern'] && !process.allowedNodeEnvironmentFlags.has('--test-skip-pattern')) fail(`--test-skip-pattern needs Node 22 or later (this is ${process.version})`);
  return {
    files: positionals.map((file) => {
      if (!statSync(file, { throwIfNoEntry: false })?.isFile()) fail(`no test file ${file}: name files (a shell glob will do), not folders or quoted patterns`);
      return resolve(file);
    }),
    namePatterns: values['test-name-pattern'] ?? [],
    skipPatterns: values['test-skip-pattern'] ?? [],
    only: values['test-only'] === true,
    concurrency: count('test-concurrency', values['test-concurrency'], defaults.concurrency),
    timeoutMs: count('test-timeout', values['test-timeout'], defaults.timeoutMs),
    reporters: names.map((name, i) => ({ name, destination: destinations[i] })),
  };
}

function fail(problem) {
  console.error(`npm test: ${problem}\n\n${usage}`);
  process.exit(2);
}

// The files `lessons/*/*.test.ts lib/*.test.ts scripts/*.test.ts test/*.test.{ts,mjs}` names, the
// slowest first: the runner starts them in this order as slots free up, so a long file started last
// would leave the others idle while it ran alone (in name order, lesson 12's file started at 49 s of
// a 68 s run on Node 26, and ended it alone).
function testFiles() {
  const lessons = readdirSync(`${root}/lessons`).filter((name) => /^\d\d-/.test(name)).sort();
  const testsIn = (dir) => readdirSync(`${root}/${dir}`).filter((name) => /\.test\.(ts|mjs)$/.test(name)).sort().map((name) => `${dir}/${name}`);
  const files = [...lessons.flatMap((lesson) => testsIn(`lessons/${lesson}`)), ...['lib', 'scripts', 'test'].flatMap(testsIn)];
  const rank = (file) => (slowest.includes(file) ? slowest.indexOf(file) : slowest.length);
  return files.sort((a, b) => rank(a) - rank(b)); // stable: the rest keep the shell's order
}
