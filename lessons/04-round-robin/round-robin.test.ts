import assert from 'node:assert/strict';
import http from 'node:http';
import { after, describe, test, type TestContext } from 'node:test';
import { canSeeSockets, get, importLesson, isBun, launch, pidsListeningOn, pidsRunning, start, type Lesson } from '../../lib/harness.ts';
import { countByWorker } from './distribution.ts';
// On the exercises track, the learner's primary.ts: choosePolicy is its TODO 1.
const { choosePolicy } = await importLesson<typeof import('./primary.ts')>('lessons/04-round-robin/primary.ts');

const primary = 'lessons/04-round-robin/primary.ts';
const distribution = 'lessons/04-round-robin/distribution.ts';
const ready = /cluster ready: \d+ workers? listening/;
const noRoundRobin = "Bun: its node:cluster has no round-robin; each worker binds the port with SO_REUSEPORT and the kernel picks";
const noSocketView = isBun ? noRoundRobin : !canSeeSockets ? `${process.platform}: the test reads who holds a socket from Linux's /proc` : false;

// The policy in force, by who holds the listening socket: under rr only the primary (it accepts and
// deals), under os the workers too (each accepts on the shared socket itself).
async function socketHolders(cluster: Lesson): Promise<{ primary: boolean; workers: number; of: number }> {
  const workers = await workerPids(cluster);
  return {
    primary: pidsListeningOn(cluster.port, [cluster.pid]).length === 1,
    workers: pidsListeningOn(cluster.port, workers).length,
    of: workers.length,
  };
}

// Counted from the processes themselves: on a cold cache tsx's esbuild shares the group too.
function workerPids(cluster: Lesson): Promise<number[]> {
  return pidsRunning(cluster.pid, 'lessons/03-cluster/worker.ts');
}

function counts(byPid: Map<number, { requests: number; connections: number }>): string {
  return JSON.stringify(Object.fromEntries([...byPid].map(([pid, w]) => [pid, w.requests])));
}

// One cluster serves every test of a block: they run one after another, each leaves it as it found
// it (its connections closed), and round-robin's count holds from wherever the turn stands.
function sharedCluster(policy: 'rr' | 'os', workers: number): () => Promise<Lesson> {
  const started: Lesson[] = [];
  after(() => Promise.all(started.map((lesson) => lesson.stop())));
  let cluster: Promise<Lesson> | undefined;
  return () => (cluster ??= launch(primary, { ready, args: ['--policy', policy], env: { WORKERS: String(workers) } }, (lesson) => started.push(lesson)));
}

// Each block has a cluster of its own, so the blocks run side by side; inside a block the tests run
// one after another (a subtest would inherit `concurrency: true`): they share its cluster.
describe('lesson 04: round-robin or the operating system, measured', { concurrency: true }, () => {
  describe('with --policy rr, one cluster of 3 workers', { concurrency: 1 }, () => {
    const rrCluster = sharedCluster('rr', 3);

    test('with rr, sequential requests on fresh connections cycle through the workers: over k×N requests each of the N serves exactly k', { skip: isBun ? noRoundRobin : false }, async () => {
      const cluster = await rrCluster();
      assert.match(cluster.output(), /scheduling policy rr \(cluster\.SCHED_RR, from --policy rr\)/);
      const workers = await workerPids(cluster);
      const k = 7;
      const tally = await countByWorker({ url: cluster.url, requests: k * workers.length, concurrency: 1, keepAlive: false });
      assert.deepEqual([...tally.byPid.keys()].sort(), [...workers].sort(), `answers by pid: ${counts(tally.byPid)}`);
      for (const [pid, { requests }] of tally.byPid) assert.equal(requests, k, `worker ${pid} served ${requests}, not ${k}: ${counts(tally.byPid)}`);
    });

    test('over one keep-alive connection, every request is served by the same worker (rr)', async (t) => {
      await sameWorkerOverKeepAlive(t, await rrCluster());
    });

    test('with keep-alive, round-robin balances connections, not requests: 4 connections over 3 workers split 2, 1 and 1', { skip: isBun ? noRoundRobin : false }, async (t) => {
      const cluster = await rrCluster();
      const tally = await countByWorker({ url: cluster.url, requests: 120, concurrency: 4, keepAlive: true });
      t.diagnostic(`120 requests over 4 keep-alive connections, by pid: ${JSON.stringify(Object.fromEntries(tally.byPid))}`);
      assert.equal(tally.connections, 4);
      const connections = [...tally.byPid.values()].map((w) => w.connections).sort();
      assert.deepEqual(connections, [1, 1, 2], `connections by pid: ${JSON.stringify([...tally.byPid])}`);
    });

    test('with --policy rr, only the primary holds the listening socket', { skip: noSocketView }, async () => {
      assert.deepEqual(await socketHolders(await rrCluster()), { primary: true, workers: 0, of: 3 });
    });

    test('distribution.ts prints a row and a bar per worker, and the fairness figures', async (t) => {
      const cluster = await rrCluster();
      const run = await start(t, distribution, { ready: false, args: [`${cluster.url}/`, '--requests', '20', '--concurrency', '2'] });
      assert.deepEqual(await run.exited, { code: 0, signal: null }, run.output());
      const rows = [...run.output().matchAll(/^ +(\d+) +(\d+) +(\d+) +[\d.]+% +█+$/gm)];
      const workers = await workerPids(cluster);
      for (const [row, pid] of rows) assert.ok(workers.includes(Number(pid)), `row for a pid that is not a worker: ${row}`);
      assert.equal(rows.reduce((sum, [, , , requests]) => sum + Number(requests), 0), 20, run.output());
      assert.match(run.output(), /20 requests to .*, 2 at a time, a new connection for each/);
      assert.match(run.output(), /workers? answered/);
      if (rows.length > 1) assert.match(run.output(), /fairness: max\/min \d+\.\d\d, coefficient of variation \d+\.\d%/);
    });
  });

  describe('with --policy os, one cluster of 2 workers', { concurrency: 1 }, () => {
    const osCluster = sharedCluster('os', 2);

    test('with os, every request is still served and every answer comes from a live worker (the kernel decides the counts)', async (t) => {
      const cluster = await osCluster();
      assert.match(cluster.output(), /scheduling policy os \(cluster\.SCHED_NONE, from --policy os\)/);
      const workers = await workerPids(cluster);
      const tally = await countByWorker({ url: cluster.url, requests: 20, concurrency: 1, keepAlive: false });
      t.diagnostic(`20 requests on fresh connections by pid under os: ${counts(tally.byPid)}`);
      assert.equal(tally.failures + tally.non200, 0, JSON.stringify(tally.errorCodes));
      const answered = [...tally.byPid.values()].reduce((sum, w) => sum + w.requests, 0);
      assert.equal(answered, 20);
      for (const pid of tally.byPid.keys()) assert.ok(workers.includes(pid), `pid ${pid} answered but is not one of the workers ${workers}`);
    });

    test('over one keep-alive connection, every request is served by the same worker (os)', async (t) => {
      await sameWorkerOverKeepAlive(t, await osCluster());
    });

    test('with --policy os, every worker holds the listening socket itself', { skip: noSocketView }, async () => {
      assert.deepEqual(await socketHolders(await osCluster()), { primary: true, workers: 2, of: 2 });
    });
  });

  test('the policy comes from --policy, else from NODE_CLUSTER_SCHED_POLICY (rr or none), else from Node: rr off Windows', () => {
    assert.deepEqual(choosePolicy(['--policy', 'os'], undefined), { policy: 'os', source: '--policy os' });
    assert.deepEqual(choosePolicy(['--policy', 'rr'], 'none'), { policy: 'rr', source: '--policy rr' });
    assert.deepEqual(choosePolicy([], 'none'), { policy: 'os', source: 'NODE_CLUSTER_SCHED_POLICY=none' });
    assert.deepEqual(choosePolicy([], 'rr'), { policy: 'rr', source: 'NODE_CLUSTER_SCHED_POLICY=rr' });
    assert.deepEqual(choosePolicy([], ''), { policy: process.platform === 'win32' ? 'os' : 'rr', source: `Node's default on ${process.platform}` });
    assert.deepEqual(choosePolicy([], undefined), choosePolicy([], ''));
  });

  test('NODE_CLUSTER_SCHED_POLICY=none, with no --policy, hands the socket to the workers', { skip: noSocketView }, async (t) => {
    const byEnv = await start(t, primary, { ready, env: { WORKERS: '2', NODE_CLUSTER_SCHED_POLICY: 'none' } });
    assert.match(byEnv.output(), /scheduling policy os \(cluster\.SCHED_NONE, from NODE_CLUSTER_SCHED_POLICY=none\)/);
    assert.deepEqual(await socketHolders(byEnv), { primary: true, workers: 2, of: 2 });
  });

  test('a bad --policy exits 2 with the usage, and so does a bad NODE_CLUSTER_SCHED_POLICY, which Node would ignore', async (t) => {
    const [badFlag, badEnv] = await Promise.all([
      start(t, primary, { ready: false, args: ['--policy', 'fair'] }),
      start(t, primary, { ready: false, env: { NODE_CLUSTER_SCHED_POLICY: 'os' } }),
    ]);
    assert.deepEqual(await badFlag.exited, { code: 2, signal: null }, badFlag.output());
    assert.match(badFlag.output(), /--policy must be rr or os, got "fair"/);
    // The lesson's file or the learner's exercise: each names itself.
    assert.match(badFlag.output(), /Usage: npx tsx (lessons|exercises)\/04-round-robin\/primary.ts \[--policy rr\|os\]/);
    assert.deepEqual(await badEnv.exited, { code: 2, signal: null }, badEnv.output());
    assert.match(badEnv.output(), /NODE_CLUSTER_SCHED_POLICY must be rr or none, got "os": Node would silently ignore it/);
    assert.doesNotMatch(badFlag.output() + badEnv.output(), /forking/);
  });

  const badArgs: [string, string[], RegExp][] = [
    ['a URL that is not http', ['ftp://example'], /expected an http:\/\/ URL, got "ftp:\/\/example"/],
    ['requests that are not a number', ['--requests', 'many'], /--requests must be a whole number from 1 to 100000, got "many"/],
    ['more at a time than in all', ['--requests', '5', '--concurrency', '10'], /--concurrency \(10\) cannot be more than --requests \(5\)/],
    ['an unknown option', ['--fast'], /distribution: unknown option --fast\n/],
  ];
  describe('distribution.ts with bad arguments', { concurrency: true }, () => {
    for (const [what, args, message] of badArgs) {
      test(`distribution.ts with bad arguments (${what}) prints its usage and exits 2`, async (t) => {
        const run = await start(t, distribution, { ready: false, args });
        assert.deepEqual(await run.exited, { code: 2, signal: null }, run.output());
        assert.match(run.output(), message);
        assert.match(run.output(), /Usage: npx tsx lessons\/04-round-robin\/distribution.ts \[url\]/);
      });
    }
  });
});

// Both policies: a keep-alive connection belongs to the worker that accepted it.
async function sameWorkerOverKeepAlive(t: TestContext, cluster: Lesson): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const pids = [];
  for (let i = 0; i < 20; i++) pids.push((await get(cluster.url, { agent })).pid);
  assert.deepEqual(new Set(pids), new Set([pids[0]]), `pids in order: ${pids}`);
  if (isBun) assert.match(cluster.output(), /on Bun the policy has no effect/);
}
