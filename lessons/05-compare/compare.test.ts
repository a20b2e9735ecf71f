import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { isBun, pidsInGroup, start, waitUntil, type Lesson } from '../../lib/harness.ts';
import { reusePortProblem } from '../09-reuseport/support.ts';
import { boundNote, busyNote, isGeneratorBound, loadLine, type Row } from './compare.ts';
import { readPlan, workerCount } from './options.ts';

const compare = 'lessons/05-compare/compare.ts';
const bench = 'scripts/bench.ts';
// A whole run starts, warms up, measures and stops two or more lessons: on a busy machine that takes
// longer than one wait of the harness.
const wholeRunMs = 120_000;
const hasReusePortRows = !isBun && !reusePortProblem(); // lesson 09 runs here, and is not lesson 03 (as on Bun)

function tempFile(t: TestContext, name: string): string {
  const dir = mkdtempSync(join(os.tmpdir(), 'every-core-05-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, name);
}

// compare.ts and bench.ts name every process group they start; none may outlive them.
async function assertGroupsGone(run: Lesson): Promise<number[]> {
  const groups = [...run.output().matchAll(/as process group (\d+)/g)].map((match) => Number(match[1]));
  for (const pgid of groups) await waitUntil(async () => (await pidsInGroup(pgid)).length === 0, `process group ${pgid} to be empty`);
  return groups;
}

function jsonOf(file: string) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

// Each run mostly waits (autocannon ends a measurement on its one-second tick), so the tests run
// side by side; each starts its own lessons on free ports.
describe('lesson 05: one process against every core, side by side', { concurrency: true }, () => {
  test('a tiny run measures lesson 01 and lesson 03 the same way and prints them side by side', async (t) => {
    const json = tempFile(t, 'compare.json');
    const args = ['--amount', '100', '--connections', '4', '--workers', '2', '--warmup', '0.1', '--json', json];
    const run = await start(t, compare, { ready: false, args, limitMs: wholeRunMs });
    assert.deepEqual(await run.exited, { code: 0, signal: null }, run.output());
    const out = run.output();
    assert.match(out, /single \(1 process\) +cluster \(2 workers\)/);
    for (const figure of ['Total time', 'Requests per second', 'Mean latency', 'p50 latency', 'p99 latency', 'Generator CPU']) {
      assert.match(out, new RegExp(`${figure} +\\d[^\\n]* +\\d`), `${figure} has a figure for each side`);
    }
    assert.match(out, /Requests +100 +100/);
    assert.match(out, /Errors +0 \(0 timeouts\) +0 \(0 timeouts\)/);
    assert.match(out, /Speedup \(cluster \/ single\): \d+\.\d\dx with 2 workers/);
    assert.match(out, /single \(1 process\) +█+ +\d/, 'a bar for lesson 01');
    assert.match(out, /cluster \(2 workers\) +█+ +\d/, 'a bar for lesson 03');
    assert.equal((await assertGroupsGone(run)).length, 2);

    const results = jsonOf(json);
    assert.deepEqual(results.rows.map((row: { name: string }) => row.name), ['single', 'cluster']);
    for (const row of results.rows) {
      assert.equal(row.requests, 100);
      assert.equal(row.errors + row.non2xx, 0, JSON.stringify(row));
      assert.ok(row.requestsPerSec > 0 && row.generatorCpuPct >= 0, JSON.stringify(row));
    }
    assert.equal(results.rows[1].workers, 2);
    assert.ok(results.speedup > 0 && Number.isFinite(results.speedup), `speedup ${results.speedup}`);
  });

  test('Ctrl+C in the middle of a run stops every lesson it started', async (t) => {
    const run = await start(t, compare, { ready: false, args: ['--duration', '1', '--warmup', '0', '--workers', '2'], limitMs: wholeRunMs });
    await run.waitFor(/cluster \(2 workers\): measuring/);
    process.kill(run.pid, 'SIGINT');
    assert.deepEqual(await run.exited, { code: 130, signal: null }, run.output());
    assert.match(run.output(), /compare: Ctrl\+C, no figures from this run: stopping cluster \(2 workers\) \(process group \d+\)\n/);
    assert.equal((await assertGroupsGone(run)).length, 2, run.output());
  });

  test('the load average before the run is printed, and a busy machine is named under the figures', () => {
    assert.equal(loadLine(0.42, 2), 'Load average before the run: 0.42 over the last minute, on 2 CPUs');
    assert.equal(busyNote(1, 2), '', 'half a core per CPU is still quiet');
    assert.match(busyNote(1.01, 2), /^busy machine: the load average was 1\.01 on 2 CPUs before the run \(above 1\.0\)/);
    assert.match(busyNote(9, 16), /on 16 CPUs/);
    assert.equal(busyNote(7.9, 16), '');
  });

  test('the benchmark prints the machine, rows per worker count (reusePort beside round-robin where it runs), the bare cluster, and JSON', async (t) => {
    const json = tempFile(t, 'bench.json');
    const args = ['--workers', '1', '--amount', '20', '--connections', '2', '--warmup', '0', '--json', json];
    const run = await start(t, bench, { ready: false, args, limitMs: wholeRunMs });
    assert.deepEqual(await run.exited, { code: 0, signal: null }, run.output());
    const out = run.output();
    assert.match(out, /CPU +.+, \d+ CPUs/);
    assert.match(out, /Node +\d+\.\d+/);
    assert.match(out, /run +workers +req\/s +p50 +p99 +speedup +efficiency +generator CPU/);
    assert.match(out, /single +1 +\d+\.\d +\d+ ms +\d+ ms +1\.00x +100% +\d+% +0/);
    assert.match(out, /cluster +1 +\d+\.\d/);
    assert.match(out, /bare cluster +1 +\d+\.\d/);
    assert.match(out, /Lesson 03 against a bare cluster at 1 worker: /);
    if (hasReusePortRows) assert.match(out, /reusePort +1 +\d+\.\d[^\n]*\n[^]*reusePort \(lesson 09\) against round-robin \(lesson 03\) on \/heavy:\n  at 1 worker: /);
    else assert.match(out, /No reusePort rows: /);
    const names = ['single', 'cluster', ...(hasReusePortRows ? ['reusePort'] : []), 'bare cluster'];
    assert.equal((await assertGroupsGone(run)).length, names.length);
    const results = jsonOf(json);
    assert.deepEqual(results.rows.map((row: { name: string }) => row.name), names);
    assert.equal(results.machine.cpus, os.availableParallelism());
    for (const row of results.rows) assert.ok(Number.isFinite(row.speedup) && Number.isFinite(row.efficiency), JSON.stringify(row));
    for (const row of results.rows) assert.equal(typeof row.isGeneratorBound, 'boolean', JSON.stringify(row));
  });

  test('with --generator-threads 2, autocannon runs in two threads and every request is still counted', async (t) => {
    const json = tempFile(t, 'threads.json');
    const args = ['--amount', '100', '--connections', '4', '--workers', '2', '--warmup', '0', '--generator-threads', '2', '--json', json];
    const run = await start(t, compare, { ready: false, args, limitMs: wholeRunMs });
    assert.deepEqual(await run.exited, { code: 0, signal: null }, run.output());
    assert.match(run.output(), /autocannon in 2 threads/);
    assert.match(run.output(), /Generator CPU +\d+% of a core \(2 threads\)/);
    for (const row of jsonOf(json).rows) {
      assert.equal(row.requests, 100, JSON.stringify(row));
      assert.equal(row.generatorThreads, 2);
      assert.ok(row.totalTimeS > 0 && row.requestsPerSec > 0, JSON.stringify(row));
    }
  });

  test('a row whose generator used 90% or more of the cores its threads can use is marked generator-bound', () => {
    assert.deepEqual([isGeneratorBound(89, 1), isGeneratorBound(90, 1), isGeneratorBound(150, 2), isGeneratorBound(185, 2)], [false, true, false, true]);
    const row = (label: string, isBound: boolean) => ({ label, generatorThreads: 1, isGeneratorBound: isBound }) as Row;
    assert.equal(boundNote([row('single (1 process)', false)]), '');
    assert.match(boundNote([row('single (1 process)', true), row('cluster (2 workers)', false)]), /^generator-bound: single \(1 process\)\. .*try --generator-threads 2/);
  });

  test('the shared options refuse what cannot be measured, each with one line that says what to give', () => {
    const fail = (problem: string): never => {
      throw new Error(problem);
    };
    const plan = (values: Record<string, string>) => readPlan(values, 2, { amount: 100 }, fail);
    assert.throws(() => workerCount('--workers', '0', fail), /--workers must be a whole number from 1 to 256, got "0"/);
    assert.throws(() => plan({ amount: '5', duration: '2' }), /not both/);
    assert.throws(() => plan({ json: '/no/such/folder/out.json' }), /--json needs a file in an existing folder/);
    assert.throws(() => plan({ duration: '0' }), /--duration must be a number of seconds above 0/);
    assert.throws(() => plan({ 'generator-threads': '0' }), /--generator-threads must be a whole number from 1 to 64, got "0"/);
    assert.throws(() => plan({ connections: '2', 'generator-threads': '4' }), /--connections \(2\) cannot be fewer than --generator-threads \(4\)/);
    assert.deepEqual(plan({ connections: '4', 'generator-threads': '4', warmup: '0' }), { path: '/heavy', amount: 100, connections: 4, warmupS: 0, generatorThreads: 4 });
  });

  // The checks above are the options' own; a run shows each script wires them to its usage and exit 2
  // before it starts anything (bench.ts's comma-separated --workers is its own).
  const badArgs: [string, string, string[], RegExp][] = [
    ['compare', compare, ['--workers', '0'], /--workers must be a whole number from 1 to 256, got "0"/],
    ['compare', compare, ['--amount', '5', '--duration', '2'], /not both/],
    ['bench', bench, ['--workers', '1,two'], /--workers must be a whole number from 1 to 256, got "two"/],
    ['bench', bench, ['--generator-threads', '0'], /--generator-threads must be a whole number from 1 to 64, got "0"/],
  ];
  test('bad options print one line and the usage, and exit 2', async (t) => {
    const runs = await Promise.all(badArgs.map(([, file, args]) => start(t, file, { ready: false, args, limitMs: wholeRunMs })));
    for (const [i, [name, , args, message]] of badArgs.entries()) {
      assert.deepEqual(await runs[i].exited, { code: 2, signal: null }, `${name} ${args.join(' ')}`);
      assert.match(runs[i].output(), message);
      assert.match(runs[i].output(), /Usage: /);
      assert.doesNotMatch(runs[i].output(), /process group/, 'nothing is started for bad options');
    }
  });
});
