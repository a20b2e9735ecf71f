// npm test: Node's test runner over every lesson's tests and the kit's own. Where this Node cannot
// strip types itself (Node 20, a 22 before 22.18) each test file runs through the kit's loader,
// lib/strip-types.mjs; Bun has its own runner (npm run test:bun).
// Plain JavaScript: it must start where TypeScript cannot. Not named test.mjs: a bare `node --test`
// would take that for a test file. Arguments after `npm test --` are the
// runner's (e.g. --test-name-pattern=round-robin) or files to run instead of all of them.

import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { withCompileCache } from '../lib/ts-cache.mjs';

const defaults = {
  // Test files mostly wait for the lessons they start, so one more runs than there are cores. On a
  // shared 2-core machine (load 20), 2, 3 and 4 files at once took 239, 195 and 289 s on Node 26.
  concurrency: os.availableParallelism() + 1,
  timeoutMs: 600_000, // a whole file's longest run, cold cache on a busy machine included
};

// The files that took longest, longest first (Node 26.10, npm test on a quiet 2-core machine, the
// sum of each file's top-level test durations): 12 to 24 s each for the first eight, 10 s or less for the rest.
const slowest = [
  'lessons/07-zero-downtime/zero-downtime.test.ts',
  'lessons/06-pm2/pm2.test.ts',
  'lessons/12-shared-state/shared-state.test.ts',
  'lessons/09-reuseport/roll.test.ts',
  'lessons/10-many-machines/hosts.test.ts',
  'lessons/03-cluster/primary.test.ts',
  'lessons/11-watch/watch.test.ts',
  'lessons/08-worker-threads/server.test.ts',
  'lessons/05-compare/compare.test.ts',
  'test/hostile.test.ts',
  'scripts/screenshot.test.ts',
  'lessons/08-worker-threads/compare.test.ts',
  'lessons/01-single-process/heavy.test.ts',
  'lessons/01-single-process/server.test.ts',
  'lessons/04-round-robin/round-robin.test.ts',
  'test/kit.test.mjs',
];

const root = fileURLToPath(new URL('..', import.meta.url));
const stripsTypes = Boolean(process.features.typescript);
const loader = stripsTypes ? [] : ['--import', new URL('../lib/strip-types.mjs', import.meta.url).href];
const given = process.argv.slice(2);
const files = given.some((arg) => !arg.startsWith('-')) ? [] : testFiles();
const chosen = (flag) => given.some((arg) => arg.startsWith(`--${flag}`)); // npm test -- --test-concurrency=3 wins
const own = [['test-reporter', 'spec'], ['test-concurrency', defaults.concurrency], ['test-timeout', defaults.timeoutMs]].filter(([flag]) => !chosen(flag));
const args = [...loader, '--test', ...own.map(([flag, value]) => `--${flag}=${value}`), ...given, ...files];

// Node's compile cache for the runner, its test files and every process they start (lib/ts-cache.mjs).
const runner = spawn(process.execPath, args, { cwd: root, stdio: 'inherit', env: withCompileCache(process.env) });
// Ctrl+C reaches the runner itself (same terminal); a kill is passed on. Either way this waits for
// the runner to end its lessons, then exits as it did.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => runner.kill('SIGTERM'));
runner.on('exit', (code, signal) => {
  process.exitCode = code ?? 128 + os.constants.signals[signal];
});

// The files `lessons/*/*.test.ts lib/*.test.ts scripts/*.test.ts test/*.test.{ts,mjs}` names, the
// slowest first: the runner starts them in this order as slots free up, so a long file started last
// would leave the others idle while it ran alone (in lesson order, the suite's last 30 s on Node 26
// were one or two files).
function testFiles() {
  const lessons = readdirSync(`${root}/lessons`).filter((name) => /^\d\d-/.test(name)).sort();
  const testsIn = (dir) => readdirSync(`${root}/${dir}`).filter((name) => /\.test\.(ts|mjs)$/.test(name)).sort().map((name) => `${dir}/${name}`);
  const files = [...lessons.flatMap((lesson) => testsIn(`lessons/${lesson}`)), ...['lib', 'scripts', 'test'].flatMap(testsIn)];
  const rank = (file) => (slowest.includes(file) ? slowest.indexOf(file) : slowest.length);
  return files.sort((a, b) => rank(a) - rank(b)); // stable: the rest keep the shell's order
}
