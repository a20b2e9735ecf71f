// @ts-check
// The kit's own checks. This one test file is JavaScript because it is the one a bare `node --test`
// finds on every Node: Node finds .ts test files only where it strips types itself (22.18 and up).
// Where it cannot load TypeScript, this file loads tsx and imports every lesson's tests itself, so
// `node --test` runs the whole suite there too instead of passing with 0 tests.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const lessons = readdirSync(join(root, 'lessons')).filter((name) => /^\d\d-/.test(name));

if (!(await canImportTypeScript())) await importEveryTest();
const { freePort, isAlive, isBun, pidsInGroup, start, startLoad, waitUntil } = await import('../lib/harness.ts');
const { commandLine } = await import('../lib/options.ts');

// True where this runtime strips types (Node 22.18+, Bun) or a loader was given (npm test's --import tsx).
async function canImportTypeScript() {
  try {
    // A side-effect-free module, under a URL of its own: Node remembers a failed import for good.
    const probe = '../lessons/01-single-process/heavy.ts?can-this-process-load-typescript';
    await import(probe);
    return true;
  } catch (error) {
    if (/** @type {NodeJS.ErrnoException} */ (error).code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw error;
    return false;
  }
}

// Then the test runner could not have found the .ts tests either: npm test's files, in its order
// (the lessons', then the unit tests of lib/, then the suite-wide ones beside this file).
async function importEveryTest() {
  const loader = new URL('../lib/strip-types.mjs', import.meta.url).href; // as npm test runs on this Node
  await import(loader);
  // Processes that this one forks (the in-process Primary tests' cluster workers) run TypeScript
  // too: node:cluster hands them this process's execArgv, as npm test's would.
  process.execArgv.push('--import', loader);
  const folders = [...lessons.map((lesson) => join('lessons', lesson)), 'lib', 'scripts', 'test'];
  for (const folder of folders) {
    for (const file of readdirSync(join(root, folder)).filter((name) => name.endsWith('.test.ts'))) {
      await import(pathToFileURL(join(root, folder, file)).href);
    }
  }
}

/** @param {string} dir */
function sourceFiles(dir) {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !file.includes('node_modules'))
    .map((file) => join(dir, file));
}

const stripsTypes = Boolean(/** @type {{ typescript?: string | false }} */ (process.features).typescript);

describe('the kit', () => {
  test('every lesson folder has a README, a runnable step and a test beside it', () => {
    assert.ok(lessons.length >= 3, `lessons found: ${lessons}`);
    for (const lesson of lessons) {
      const files = readdirSync(join(root, 'lessons', lesson));
      assert.ok(files.includes('README.md'), `${lesson} has no README.md`);
      assert.ok(files.some((f) => f.endsWith('.test.ts')), `${lesson} has no *.test.ts`);
      assert.ok(files.some((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')), `${lesson} has no runnable step`);
    }
  });

  test('local imports carry their .ts extension (.mjs for the kit\'s plain JavaScript), so Node (through tsx or by itself) and Bun all resolve them', () => {
    const bare = [];
    for (const file of ['lessons', 'exercises', 'lib', 'scripts'].flatMap(sourceFiles)) {
      const text = readFileSync(join(root, file), 'utf8');
      for (const [, specifier] of text.matchAll(/from '(\.\.?\/[^']*)'/g)) {
        if (!/\.(ts|mjs)$/.test(specifier)) bare.push(`${file}: ${specifier}`);
      }
    }
    assert.deepEqual(bare, []);
  });

  test("the harness's stop() ends a lesson's whole process group, workers included", async (t) => {
    const cluster = await start(t, 'lessons/03-cluster/primary.ts', { ready: /cluster ready/, env: { WORKERS: '2' } });
    const before = await cluster.groupPids();
    assert.ok(before.length >= 3, `a primary and two workers (and maybe tsx's esbuild): ${before}`);
    await cluster.stop();
    assert.deepEqual(await cluster.groupPids(), []);
  });

  // A kill -9 runs no 'exit' hook: the launcher's guardian (lib/guardian.mjs) ends the groups.
  test('a kill -9 of a script that started lessons still ends every lesson it started', async (t) => {
    const args = ['--duration', '30', '--warmup', '0', '--workers', '2'];
    const run = await start(t, 'lessons/05-compare/compare.ts', { ready: /single \(1 process\): measuring/, args });
    const groups = [...run.output().matchAll(/as process group (\d+)/g)].map((match) => Number(match[1]));
    assert.equal(groups.length, 1, run.output());
    assert.ok((await pidsInGroup(groups[0])).length > 0, 'lesson 01 runs in its group');
    process.kill(run.pid, 'SIGKILL');
    await waitUntil(() => !isAlive(run.pid), `compare (pid ${run.pid}) to be gone`);
    for (const pgid of groups) await waitUntil(async () => (await pidsInGroup(pgid)).length === 0, `process group ${pgid}, started by the killed compare, to be empty`);
  });

  // What a test run leaves when it is killed (Ctrl+C, kill -9) besides its lessons' groups: a lesson's
  // detached Redis, its folders, its namespaces. The guardian is fed as lib/launch.ts feeds it, then
  // its pipe closes, as it does when the process that fed it dies.
  test('once its feeder is gone, the guardian ends each group with the groups it started, and removes the paths and dead runs\' leftovers it was given, and nothing else', async (t) => {
    const dir = mkdtempSync(join(os.tmpdir(), 'every-core-guardian-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    // A "lesson": its own group, and a child it started detached, in a group of its own (as lesson 12 starts Redis).
    const lesson = spawn(process.execPath, ['-e', "const c = require('node:child_process').spawn('sleep', ['60'], { detached: true, stdio: 'ignore' }); console.log(c.pid); setInterval(() => {}, 1e6)"], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    const [detached] = (await once(lesson.stdout.setEncoding('utf8'), 'data')).map(Number);
    t.after(() => [lesson.pid, detached].forEach((pid) => isAlive(/** @type {number} */ (pid)) && process.kill(/** @type {number} */ (pid), 'SIGKILL')));
    const takenBack = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' }); // a group listed, then taken back
    t.after(() => takenBack.kill('SIGKILL'));
    const dead = /** @type {number} */ (spawnSync('true').pid); // a run that is over
    const made = (/** @type {string} */ name) => (mkdirSync(join(dir, name)), join(dir, name));
    const [listed, unlisted, deadRuns, liveRuns, otherPrefix] = [made('listed'), made('unlisted'), made(`ec99-${dead}-x`), made(`ec99-${process.pid}-x`), made(`ec98-${dead}-x`)];
    const guardian = spawn(process.execPath, [join(root, 'lib', 'guardian.mjs')], { stdio: ['pipe', 'ignore', 'ignore'] });
    const lines = [`+${lesson.pid}`, `+path ${listed}`, `+path ${unlisted}`, `-path ${unlisted}`, `+leftovers ${dir}\tec99-`, `+${takenBack.pid}`, `-${takenBack.pid}`];
    guardian.stdin.end(lines.join('\n') + '\n');
    assert.deepEqual(await once(guardian, 'exit'), [0, null]);
    assert.equal(isAlive(/** @type {number} */ (lesson.pid)), false, 'the group it was given is ended');
    // The guardian waits for what it killed to be gone; a zombie (not yet reaped) counts as gone.
    await waitUntil(() => !isAlive(detached), `${detached}, which the lesson started in a group of its own, to be gone`, 1_000);
    assert.equal(isAlive(/** @type {number} */ (takenBack.pid)), true, 'a group taken back is left alone');
    assert.deepEqual(readdirSync(dir).sort(), [liveRuns, otherPrefix, unlisted].map((path) => path.slice(dir.length + 1)).sort(), `${listed} and ${deadRuns} go; a live run's, another prefix's and a path taken back stay`);
  });

  test('the harness load loop counts a refused connection as a failure, so "0 failures" means something', async () => {
    const load = startLoad(`http://127.0.0.1:${await freePort()}/`, { connections: 2 });
    await waitUntil(() => load.count.failures >= 10, '10 failures');
    const count = await load.stop();
    assert.equal(count.requests, 0);
    assert.ok((count.errorCodes.ECONNREFUSED ?? 0) >= 10, JSON.stringify(count));
  });

  // Every file whose opening comment says "Run it:" is a step a learner runs, exercises included.
  // The bare cluster and the seed's server are yardsticks: they stay bare, options included.
  const runnable = ['lessons', 'exercises', 'scripts']
    .flatMap(sourceFiles)
    .filter((file) => /^\/\/ Run it:/m.test(readFileSync(join(root, file), 'utf8').split('\n').slice(0, 6).join('\n')))
    .filter((file) => !['scripts/bare-cluster.ts', 'scripts/seed-server.ts'].includes(file));
  // One process per step, as a learner runs it. The unknown-option line can only come from
  // lib/options.ts's parse() (parseArgs's own message reads otherwise), so a step that passes this
  // reads its command line through parse(), and parse() answers --help alike for every step: that
  // is the next test's, in-process, instead of a second process per step.
  test('every runnable step answers an unknown option with one line, its usage and exit 2', async (t) => {
    assert.ok(runnable.length >= 10, `runnable steps found: ${runnable}`);
    // A few steps at a time: all at once, a busy 2-core machine starts them too slowly.
    for (let i = 0; i < runnable.length; i += 3) await Promise.all(runnable.slice(i, i + 3).map((file) => checkUnknownOption(t, file)));
  });

  /** @param {import('node:test').TestContext} t @param {string} file */
  async function checkUnknownOption(t, file) {
    const bogus = await start(t, file, { ready: false, args: ['--bogus'] });
    assert.deepEqual(await bogus.exited, { code: 2, signal: null }, `${file} --bogus:\n${bogus.output()}`);
    assert.match(bogus.output(), /^[\w:-]+: unknown option --bogus\n\nUsage: /, `${file} --bogus`);
  }

  test("lib/options.ts's parse() answers --help (and -h) with the usage on stdout and exit 0", (t) => {
    const { parse } = commandLine('step', 'Usage: step [--count N]');
    /** @type {string[]} */
    const printed = [];
    t.mock.method(console, 'log', (/** @type {string} */ line) => printed.push(line));
    t.mock.method(console, 'error', (/** @type {string} */ line) => printed.push(`stderr: ${line}`));
    t.mock.method(process, 'exit', (/** @type {number} */ code) => {
      throw new Error(`exit ${code}`);
    });
    for (const argv of [['--help'], ['-h'], ['--count', '3', '--help'],]) {
      assert.throws(() => parse(argv, { count: { type: 'string' } }), /^Error: exit 0$/, argv.join(' '));
    }
    assert.deepEqual(printed, Array(3).fill('Usage: step [--count N]'));
    assert.throws(() => parse(['--bogus'], {}), /^Error: exit 2$/);
    assert.deepEqual(printed.slice(3), ['stderr: step: unknown option --bogus\n\nUsage: step [--count N]']);
  });

  const noStripping = isBun ? 'Bun: it runs TypeScript itself, always' : 'this Node does not strip types itself (22.18+ does): lessons run through tsx';
  test('where Node strips types itself, `node lessons/03-cluster/primary.ts` runs the cluster without tsx', { skip: isBun || !stripsTypes ? noStripping : false }, async (t) => {
    const cluster = await start(t, 'lessons/03-cluster/primary.ts', { ready: /cluster ready/, env: { WORKERS: '2' }, loader: false });
    assert.doesNotMatch(cluster.child.spawnargs.join(' '), /tsx/);
    const reply = await fetch(`${cluster.url}/heavy?n=10`);
    assert.equal(await reply.text(), 'The result of the CPU intensive task is 10\n');
  });

  // npm test's own runner (scripts/run-tests.mjs), on three small test files that note when they run.
  const noRunner = isBun ? 'Bun: npm test runs on Node (Bun has its own runner, npm run test:bun)' : false;
  test('npm test runs the files in the order it is given, not by name, and exits 1 when a test fails, 0 when none does', { skip: noRunner }, (t) => {
    const dir = mkdtempSync(join(os.tmpdir(), 'every-core-runner-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const ran = join(dir, 'ran.log');
    const file = (/** @type {string} */ name, /** @type {boolean} */ passes) => {
      const path = join(dir, `${name}.test.mjs`);
      writeFileSync(path, `import { appendFileSync } from 'node:fs';\nimport { test } from 'node:test';\nappendFileSync(${JSON.stringify(ran)}, '${name} ');\ntest('${name}', () => { if (!${passes}) throw new Error('${name} fails'); });\n`);
      return path;
    };
    const [c, a, b] = [file('c', true), file('a', false), file('b', true)];
    const npmTest = (/** @type {string[]} */ args) => {
      const env = { ...process.env };
      delete env.NODE_TEST_CONTEXT; // this file's own runner's marker: with it, run() runs no files
      return spawnSync(process.execPath, ['scripts/run-tests.mjs', '--test-concurrency=1', '--test-reporter=dot', ...args], { cwd: root, env, encoding: 'utf8' });
    };
    const failing = npmTest([c, a, b]);
    assert.equal(failing.status, 1, failing.stdout + failing.stderr);
    assert.equal(readFileSync(ran, 'utf8'), 'c a b ');
    const passing = npmTest([b, c]);
    assert.equal(passing.status, 0, passing.stdout + passing.stderr);
    assert.equal(readFileSync(ran, 'utf8'), 'c a b b c ');
  });

  test('npm test answers an option it does not know, or a file or reporter that is not there, with one line, its usage and exit 2', { skip: noRunner }, () => {
    /** @type {[string[], RegExp][]} */
    const cases = [
      [['--bogus'], /^npm test: Unknown option '--bogus'/],
      [['--test-concurrency=0'], /^npm test: --test-concurrency must be a whole number above 0, got "0"\n/],
      [['nowhere.test.ts'], /^npm test: no test file nowhere\.test\.ts: /],
      [['--test-reporter=./nowhere.mjs'], /^npm test: --test-reporter=\.\/nowhere\.mjs: /],
    ];
    for (const [args, line] of cases) {
      const run = spawnSync(process.execPath, ['scripts/run-tests.mjs', ...args], { cwd: root, encoding: 'utf8' });
      assert.equal(run.status, 2, `${args}: ${run.stderr}`);
      assert.match(run.stderr, line);
      assert.match(run.stderr, /\n\nUsage: npm test -- \[options\] \[test files\]\n/);
    }
  });
});
