import assert from 'node:assert/strict';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { planDefaults, readPlan, workerCount } from './options.ts';

const fail = (problem: string): never => {
  throw new Error(problem);
};
const plan = (values: Parameters<typeof readPlan>[0], mostWorkers = 2, fallback: { amount?: number; durationS?: number } = { amount: 1200 }) =>
  readPlan(values, mostWorkers, fallback, fail);

describe("lesson 05's plan: the same load for every row", () => {
  test('with no options: /heavy, the fallback amount, 10 connections, a 1 s warm-up, one generator thread', () => {
    assert.deepEqual(plan({}), { path: '/heavy', amount: 1200, connections: 10, warmupS: 1, generatorThreads: 1 });
    assert.deepEqual(plan({}, 1, { durationS: 5 }), { path: '/heavy', durationS: 5, connections: 10, warmupS: 1, generatorThreads: 1 });
  });

  test('connections grow as 4 per worker of the largest row once that passes 10', () => {
    assert.equal(planDefaults.connectionsPerWorker, 4);
    assert.equal(plan({}, 2).connections, 10);
    assert.equal(plan({}, 3).connections, 12);
    assert.equal(plan({}, 8).connections, 32);
  });

  test('--amount or --duration replaces the fallback, and both at once fail', () => {
    assert.deepEqual(plan({ amount: '500' }), { path: '/heavy', amount: 500, connections: 10, warmupS: 1, generatorThreads: 1 });
    assert.deepEqual(plan({ duration: '2.5' }), { path: '/heavy', durationS: 2.5, connections: 10, warmupS: 1, generatorThreads: 1 });
    assert.throws(() => plan({ amount: '500', duration: '2' }), { message: 'give --amount or --duration, not both' });
    assert.deepEqual(plan({ amount: '500' }, 2, { durationS: 5 }), { path: '/heavy', amount: 500, connections: 10, warmupS: 1, generatorThreads: 1 });
    assert.deepEqual(plan({ duration: '3' }, 2, { amount: 900 }), { path: '/heavy', durationS: 3, connections: 10, warmupS: 1, generatorThreads: 1 });
    assert.throws(() => plan({ amount: '0' }), { message: '--amount must be a whole number from 1 to 1000000000, got "0"' });
  });

  test('--connections may equal --amount but not pass it', () => {
    assert.equal(plan({ amount: '20', connections: '20' }).connections, 20);
    assert.throws(() => plan({ amount: '20', connections: '21' }), {
      message: '--connections (21) cannot be more than --amount (20): raise --amount or lower --connections',
    });
    assert.throws(() => plan({ amount: '5' }, 2), { message: '--connections (10) cannot be more than --amount (5): raise --amount or lower --connections' });
  });

  test('--connections is bounded by 10,000', () => {
    assert.equal(plan({ connections: '10000' }, 2, { durationS: 1 }).connections, 10_000);
    assert.throws(() => plan({ connections: '10001' }), { message: '--connections must be a whole number from 1 to 10000, got "10001"' });
  });

  test('each generator thread needs a connection of its own, and there are at most 64 threads', () => {
    assert.equal(plan({ connections: '3', 'generator-threads': '3' }).generatorThreads, 3);
    assert.throws(() => plan({ connections: '3', 'generator-threads': '4' }), {
      message: '--connections (3) cannot be fewer than --generator-threads (4): each thread opens its share',
    });
    assert.equal(plan({ connections: '64', 'generator-threads': '64' }).generatorThreads, 64);
    assert.throws(() => plan({ connections: '100', 'generator-threads': '65' }), { message: '--generator-threads must be a whole number from 1 to 64, got "65"' });
  });

  test('--warmup may be 0; a negative warm-up or a zero --duration fails', () => {
    assert.equal(plan({ warmup: '0' }).warmupS, 0);
    assert.equal(plan({ warmup: '2.5' }).warmupS, 2.5);
    assert.throws(() => plan({ warmup: '-1' }), { message: '--warmup must be a number of seconds from 0 (at most 3600), got "-1"' });
    assert.throws(() => plan({ duration: '0' }), { message: '--duration must be a number of seconds above 0 (at most 3600), got "0"' });
  });

  test('--path must start with / and hold no space', () => {
    assert.equal(plan({ path: '/' }).path, '/');
    assert.equal(plan({ path: '/heavy?n=1000' }).path, '/heavy?n=1000');
    for (const path of ['heavy', '', 'x/heavy', '/a b', '/heavy\n']) {
      assert.throws(() => plan({ path }), { message: `--path must start with / (e.g. /heavy or /heavy?n=1000), got ${JSON.stringify(path)}` }, JSON.stringify(path));
    }
  });

  test('--json names a file in an existing folder, resolved from here; anything else fails before the run', () => {
    const file = join(os.tmpdir(), 'rows.json');
    assert.equal(plan({ json: file }).json, file);
    assert.equal(plan({ json: 'rows.json' }).json, resolve('rows.json'));
    for (const json of ['', join(os.tmpdir(), 'no-such-folder-of-every-core', 'rows.json')]) {
      assert.throws(() => plan({ json }), { message: `--json needs a file in an existing folder, got ${JSON.stringify(json)}` });
    }
  });

  test('a worker count is a whole number from 1 to 256', () => {
    assert.equal(workerCount('--workers', '1', fail), 1);
    assert.equal(workerCount('--workers', '256', fail), 256);
    assert.throws(() => workerCount('--workers', '257', fail), { message: '--workers must be a whole number from 1 to 256, got "257"' });
    assert.throws(() => workerCount('--workers', '0', fail), { message: '--workers must be a whole number from 1 to 256, got "0"' });
  });
});
