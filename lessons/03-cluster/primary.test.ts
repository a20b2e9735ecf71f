import assert from 'node:assert/strict';
import http from 'node:http';
import os from 'node:os';
import { describe, test } from 'node:test';
import { alivePids, countByPid, get, heldPort, isBun, pidsRunning, start, waitUntil, type Lesson } from '../../lib/harness.ts';

const primary = 'lessons/03-cluster/primary.ts';
const ready = /cluster ready: \d+ workers? listening/;

// Counted from the processes themselves, not from the primary's log.
function workerPids(cluster: Lesson): Promise<number[]> {
  return pidsRunning(cluster.pid, 'lessons/03-cluster/worker.ts');
}

describe('lesson 03: one worker per CPU with node:cluster', () => {
  test('worker count equals CPU count, and every worker answers requests', async (t) => {
    const cluster = await start(t, primary, { ready });
    const cpus = os.availableParallelism();
    const workers = await workerPids(cluster);
    assert.equal(workers.length, cpus, `worker pids ${workers} for ${cpus} CPUs`);
    const counts = await countByPid(cluster.url, 20 * cpus, (seen) => seen.size === cpus);
    assert.deepEqual([...counts.keys()].sort(), [...workers].sort(), `answers by pid: ${JSON.stringify([...counts])}`);
  });

  test('requests on fresh connections are served by more than one pid', async (t) => {
    const cluster = await start(t, primary, { ready, env: { WORKERS: '2' } });
    const counts = await countByPid(cluster.url, 20);
    // Node's primary deals connections out in turn; Bun's kernel spreads them (SO_REUSEPORT).
    t.diagnostic(`${isBun ? 'Bun' : 'Node'}: 20 requests by pid: ${JSON.stringify(Object.fromEntries(counts))}`);
    assert.equal(counts.size, 2);
    assert.ok(!counts.has(cluster.pid), 'the primary itself answers no request');
  });

  test('a worker killed with SIGKILL is replaced and the server keeps answering', async (t) => {
    const cluster = await start(t, primary, { ready, env: { WORKERS: '2' } });
    const [victim, survivor] = await workerPids(cluster);
    const mark = cluster.output().length;
    process.kill(victim, 'SIGKILL');
    await cluster.waitFor(new RegExp(`worker ${victim} died \\(signal SIGKILL\\)`), mark);
    const meanwhile = await countByPid(cluster.url, 5);
    assert.ok(!meanwhile.has(victim), 'the dead worker answered');
    await cluster.waitFor(/worker \d+ listening \(2 listening\)/, mark);
    const workers = await workerPids(cluster);
    assert.equal(workers.length, 2);
    assert.ok(workers.includes(survivor) && !workers.includes(victim), `workers now: ${workers}`);
    const replacement = workers.find((pid) => pid !== survivor)!;
    const counts = await countByPid(cluster.url, 20, (seen) => seen.has(replacement));
    assert.ok(counts.has(replacement), `the replacement ${replacement} never answered: ${JSON.stringify([...counts])}`);
  });

  test('SIGTERM to the primary stops every worker and exits 0', async (t) => {
    const cluster = await start(t, primary, { ready, env: { WORKERS: '2' } });
    const workers = await workerPids(cluster);
    process.kill(cluster.pid, 'SIGTERM');
    assert.deepEqual(await cluster.exited, { code: 0, signal: null }, cluster.output());
    await waitUntil(async () => (await alivePids(workers)).length === 0, `worker pids ${workers} to be gone`);
  });

  test('a stopping worker still answers a keep-alive client once, with Connection: close, then exits', async (t) => {
    const cluster = await start(t, primary, { ready, env: { WORKERS: '1' } });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    assert.equal((await get(cluster.url, { agent })).headers.connection, 'keep-alive');
    const mark = cluster.output().length;
    process.kill(cluster.pid, 'SIGTERM');
    await cluster.waitFor(/\[pid \d+\] stopping/, mark);
    // Asked with SIGTERM, lesson 01's server drains for half a second; worker.disconnect() would
    // have closed this idle connection at once.
    const last = await get(cluster.url, { agent });
    assert.equal(last.status, 200);
    assert.equal(last.headers.connection, 'close');
    assert.deepEqual(await cluster.exited, { code: 0, signal: null }, cluster.output());
  });

  test('a port already in use ends the primary with a clear error instead of a respawn loop', async (t) => {
    const port = await heldPort(t);
    const cluster = await start(t, primary, { ready: false, port, env: { WORKERS: '2' } });
    assert.deepEqual(await cluster.exited, { code: 1, signal: null }, cluster.output());
    assert.match(cluster.output(), /port \d+ is already in use/);
    assert.match(cluster.output(), /5 workers in a row exited before they had listened for 1000 ms .*not forking more/);
    const forks = cluster.output().match(/forked worker/g)?.length ?? 0;
    assert.ok(forks <= 4, `${forks} replacements forked for a port that can never be had`);
  });

  test("with PORT=0, Node's workers share one random port while Bun's each get their own", async (t) => {
    const cluster = await start(t, primary, { ready, port: 0, env: { WORKERS: '2' } });
    const ports = new Set([...cluster.output().matchAll(/\[pid \d+\] listening on http:\/\/127\.0\.0\.1:(\d+)/g)].map((m) => m[1]));
    assert.equal(ports.size, isBun ? 2 : 1, `ports the workers listen on: ${[...ports]}`);
  });

  test('a bad WORKERS value exits 1 with a message', async (t) => {
    const cluster = await start(t, primary, { ready: false, env: { WORKERS: 'all' } });
    assert.deepEqual(await cluster.exited, { code: 1, signal: null });
    assert.match(cluster.output(), /WORKERS must be a whole number from 1 to 256, got "all"/);
  });
});
