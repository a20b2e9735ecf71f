import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { isBun, pidsInGroup, start, waitUntil, type Lesson } from '../../lib/harness.ts';
import { reusePortProblem } from '../09-reuseport/support.ts';

const compare = 'lessons/08-worker-threads/compare.ts';
const bench = 'scripts/bench.ts';

function tempJson(t: TestContext): string {
  const dir = mkdtempSync(join(os.tmpdir(), 'every-core-08-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'results.json');
}

// Every process group a run names must be empty once it has ended.
async function assertGroupsGone(run: Lesson): Promise<number[]> {
  const groups = [...run.output().matchAll(/as process group (\d+)/g)].map((match) => Number(match[1]));
  for (const pgid of groups) await waitUntil(async () => (await pidsInGroup(pgid)).length === 0, `process group ${pgid} to be empty`);
  return groups;
}

// Each run mostly waits on its servers and on autocannon's tick, so the two run side by side.
describe('lesson 08: threads against processes, measured', { concurrency: true }, () => {
  test('a tiny compare measures lesson 01, the cluster and the pool alike, times / meanwhile, and counts every process', async (t) => {
    const json = tempJson(t);
    const args = ['--count', '2', '--rounds', '1', '--amount', '40', '--connections', '4', '--warmup', '0', '--json', json];
    const run = await start(t, compare, { ready: false, args, limitMs: 120_000 });
    assert.deepEqual(await run.exited, { code: 0, signal: null }, run.output());
    assert.match(run.output(), /single \(1 process\) +\d+\.\d/);
    assert.match(run.output(), /cluster \(2 workers\) +\d+\.\d/);
    assert.match(run.output(), /threads \(2 threads\) +\d+\.\d/);
    assert.match(run.output(), /threads \/ cluster req\/s: \d+\.\d\dx \(target at least 0\.9x: (met|NOT met)\)/);
    assert.equal((await assertGroupsGone(run)).length, 3);

    const { rows } = JSON.parse(readFileSync(json, 'utf8'));
    assert.deepEqual(rows.map((row: { name: string }) => row.name), ['single', 'cluster', 'threads']);
    // The cluster is a primary and two workers; the pool's threads live inside one process.
    assert.deepEqual(rows.map((row: { processes: number }) => row.processes), [1, 3, 1]);
    for (const row of rows) {
      assert.equal(row.requests, 40, JSON.stringify(row));
      assert.equal(row.errors + row.non2xx, 0, JSON.stringify(row));
      assert.ok(row.probes >= 1 && row.probeP99Ms > 0 && row.rssMiB > 0, JSON.stringify(row));
    }
  });

  test('npm run bench -- --threads adds a row for the pool at the largest worker count', async (t) => {
    const json = tempJson(t);
    const args = ['--workers', '1', '--amount', '20', '--connections', '2', '--warmup', '0', '--threads', '--json', json];
    const run = await start(t, bench, { ready: false, args, limitMs: 120_000 });
    assert.deepEqual(await run.exited, { code: 0, signal: null }, run.output());
    assert.match(run.output(), /threads +1 +\d+\.\d/);
    // Where lesson 09 runs (Node 22.12+), a reusePort row stands beside each cluster row.
    const reusePort = !isBun && reusePortProblem() === undefined ? ['reusePort'] : [];
    assert.equal((await assertGroupsGone(run)).length, 4 + reusePort.length);
    const { rows } = JSON.parse(readFileSync(json, 'utf8'));
    assert.deepEqual(rows.map((row: { name: string }) => row.name), ['single', 'cluster', ...reusePort, 'bare cluster', 'threads']);
  });

  test('bad options print one line and the usage, and exit 2', async (t) => {
    for (const [args, line] of [
      [['--count', '0'], /--count must be a whole number from 1 to 256, got "0"/],
      [['--rounds', 'many'], /--rounds must be a whole number from 1 to 20, got "many"/],
    ] as const) {
      const run = await start(t, compare, { ready: false, args: [...args] });
      assert.deepEqual(await run.exited, { code: 2, signal: null }, args.join(' '));
      assert.match(run.output(), line);
      assert.match(run.output(), /Usage: /);
      assert.doesNotMatch(run.output(), /process group/, 'nothing is started for bad options');
    }
  });
});
