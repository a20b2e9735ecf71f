import assert from 'node:assert/strict';
import cluster from 'node:cluster';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { countByPid, isBun, pidsRunning, start, type Lesson } from '../../lib/harness.ts';
import { reusePortProblem } from './support.ts';

const primary = 'lessons/09-reuseport/primary.ts';
const ready = /cluster ready: \d+ workers listening/;
const problem = reusePortProblem(); // the line lesson 09 exits with, where it cannot run
const skip = problem ?? false;

function workerPids(cluster: Lesson): Promise<number[]> {
  return pidsRunning(cluster.pid, 'worker.ts');
}

// Who holds a listening socket on the port, read from /proc rather than `ss -ltnp`: /proc is there on
// every Linux, while `ss` comes with iproute2, which slim containers leave out. The kernel's table
// (/proc/<pid>/net/tcp, for the process's network namespace) gives each LISTEN socket's inode; the
// process's open files (/proc/<pid>/fd) show which of those inodes it holds.
async function listeningSockets(pid: number, port: number): Promise<number> {
  const inodes = new Set<string>();
  for (const table of ['tcp', 'tcp6']) {
    const rows = (await readFile(`/proc/${pid}/net/${table}`, 'utf8')).trim().split('\n').slice(1);
    for (const row of rows.map((line) => line.trim().split(/\s+/))) {
      const [, local, , state, , , , , , inode] = row;
      if (state === '0A' && parseInt(local.split(':')[1], 16) === port) inodes.add(inode); // 0A: LISTEN
    }
  }
  let held = 0;
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => ''); // closed meanwhile
    if (inodes.has(target.match(/^socket:\[(\d+)\]$/)?.[1] ?? '')) held++;
  }
  return held;
}

async function socketsByPid(pids: number[], port: number): Promise<Record<number, number>> {
  return Object.fromEntries(await Promise.all(pids.map(async (pid) => [pid, await listeningSockets(pid, port)])));
}

test('importing the primary changes nothing: no fork, no signal handler, no exit', async () => {
  const listeners = () => ['SIGINT', 'SIGTERM', 'SIGHUP', 'message'].map((name) => process.listenerCount(name));
  const before = listeners();
  const fresh = './primary.ts?imported-by-a-test'; // a second instance of the module, run anew
  await import(fresh);
  assert.deepEqual(listeners(), before);
  assert.equal(Object.keys(cluster.workers ?? {}).length, 0);
  assert.equal(cluster.listenerCount('message'), 0);
});

describe('lesson 09: every worker listens on the port itself (reusePort)', { skip }, () => {
  test('every worker holds a listening socket of its own, and the primary holds none', async (t) => {
    const cluster = await start(t, primary, { ready, env: { WORKERS: '2' } });
    const workers = await workerPids(cluster);
    assert.equal(workers.length, 2, `worker pids: ${workers}`);
    const held = await socketsByPid([cluster.pid, ...workers], cluster.port);
    assert.deepEqual(held, { [cluster.pid]: 0, [workers[0]]: 1, [workers[1]]: 1 }, `listening sockets by pid (primary ${cluster.pid})`);
  });

  test("the same count for lesson 03 on Node: its primary holds the only socket, its workers none", { skip: isBun && "Bun: lesson 03's workers hold their own sockets too" }, async (t) => {
    const cluster = await start(t, 'lessons/03-cluster/primary.ts', { ready, env: { WORKERS: '2' } });
    const workers = await workerPids(cluster);
    const held = await socketsByPid([cluster.pid, ...workers], cluster.port);
    assert.deepEqual(held, { [cluster.pid]: 1, [workers[0]]: 0, [workers[1]]: 0 }, `listening sockets by pid (primary ${cluster.pid})`);
  });

  test('every worker answers, and the primary none', async (t) => {
    const cluster = await start(t, primary, { ready, env: { WORKERS: '2' } });
    const workers = await workerPids(cluster);
    // The kernel picks a socket by a hash of each connection's addresses and ports, not in turn:
    // any one worker may miss a few in a row, so keep asking until both have answered.
    const counts = await countByPid(cluster.url, 200, (seen) => seen.size === 2);
    t.diagnostic(`answers by pid until both had answered: ${JSON.stringify(Object.fromEntries(counts))}`);
    assert.deepEqual([...counts.keys()].sort(), [...workers].sort(), `answers by pid: ${JSON.stringify([...counts])}`);
  });

  test('a worker killed with SIGKILL is replaced, and the replacement holds its own socket and answers', async (t) => {
    const cluster = await start(t, primary, { ready, env: { WORKERS: '2' } });
    const [victim, survivor] = await workerPids(cluster);
    const mark = cluster.output().length;
    process.kill(victim, 'SIGKILL');
    await cluster.waitFor(new RegExp(`worker ${victim} died \\(signal SIGKILL\\)`), mark);
    await cluster.waitFor(/listening \(2 listening\)/, mark);
    const workers = await workerPids(cluster);
    const replacement = workers.find((pid) => pid !== survivor)!;
    assert.ok(workers.length === 2 && workers.includes(survivor) && !workers.includes(victim), `workers now: ${workers}`);
    assert.deepEqual(await socketsByPid([cluster.pid, replacement], cluster.port), { [cluster.pid]: 0, [replacement]: 1 });
    const counts = await countByPid(cluster.url, 200, (seen) => seen.has(replacement));
    assert.ok(counts.has(replacement), `the replacement ${replacement} never answered: ${JSON.stringify([...counts])}`);
  });

  test('PORT=0 exits 1 with one line: each worker would get a random port of its own', { skip: isBun && 'Bun: lesson 09 runs lesson 03 as is' }, async (t) => {
    const cluster = await start(t, primary, { ready: false, port: 0 });
    assert.deepEqual(await cluster.exited, { code: 1, signal: null }, cluster.output());
    assert.equal(cluster.output(), `[primary ${cluster.pid}] PORT=0 would give every worker a random port of its own: pick one, e.g. PORT=3000\n`);
  });
});

describe('lesson 09 on a runtime without reusePort', () => {
  test('exits 1 with one line that names the Node version it needs', { skip: !problem?.startsWith('listen()') && `${isBun ? 'Bun' : `Node ${process.versions.node}`} has reusePort` }, async (t) => {
    const cluster = await start(t, primary, { ready: false, env: { WORKERS: '2' } });
    assert.deepEqual(await cluster.exited, { code: 1, signal: null }, cluster.output());
    assert.equal(cluster.output(), `[primary ${cluster.pid}] ${problem}\n`);
    assert.match(problem!, /this is Node \d+\.\d+\.\d+: run it with Node 22\.12 or later/);
  });
});
