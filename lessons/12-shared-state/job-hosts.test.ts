import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { after, before, describe, test } from 'node:test';
import { alivePids, endWithLessons, get, launch, pidsInGroup, removeLeftoversWhenGone, removeNamespacesWhenGone, root, runWithoutRoot, takeTurn, waitUntil, withoutRootProblem, type Lesson } from '../../lib/harness.ts';
import { findExecutable } from '../../lib/launch.ts';
import { cleanJobHostLeftovers, gatewayOf, jobHostDefaults, jobHostsProblem } from './job-hosts.ts';
import { cleanLeftovers, redisDefaults, redisServerProblem } from './redis.ts';

const primary = 'lessons/12-shared-state/primary.ts';
const ready = /cluster ready: \d+ workers? listening/;
const ip = findExecutable('ip');
const noJobHosts = redisServerProblem() ?? jobHostsProblem({ platform: process.platform, uid: process.getuid?.(), ip });
// One web worker, one job worker on each of 2 job hosts: the least that shows two machines.
const env = { WORKERS: '1', JOB_WORKERS: '1', REDIS_URL: '' };
const args = ['--job-hosts', '2'];
const limitMs = 90_000; // namespaces, Redis, job workers and the cluster, each in turn, on a busy machine

interface JobHost {
  name: string;
  namespace: string;
  address: string;
  gateway: string;
}

describe("lesson 12's job hosts: the decisions, checked without starting anything", () => {
  test("a job host reaches Redis at this machine's end of its veth, the other address of the host's /30", () => {
    assert.equal(gatewayOf('10.210.7.2'), '10.210.7.1');
    assert.equal(gatewayOf('10.210.7.6'), '10.210.7.5');
    assert.equal(gatewayOf('10.210.7.254'), '10.210.7.253');
  });

  test('--job-hosts says what this machine lacks in one line, with how to get it', () => {
    assert.equal(jobHostsProblem({ platform: 'linux', uid: 0, ip: '/usr/sbin/ip' }), undefined);
    assert.equal(jobHostsProblem({ platform: 'linux', uid: 1000, ip: '/usr/sbin/ip' }), '--job-hosts: missing root (to make network namespaces: run it with sudo); or leave --job-hosts out: the job workers then run on this machine');
    assert.equal(jobHostsProblem({ platform: 'linux', uid: 0 }), '--job-hosts: missing ip (sudo apt-get install iproute2); or leave --job-hosts out: the job workers then run on this machine');
    assert.match(jobHostsProblem({ platform: 'darwin', uid: 501 })!, /^--job-hosts: missing Linux \(network namespaces are a Linux feature\), root .*, ip .*;/);
  });

  test('--job-hosts without root says what is missing in one line, before it starts anything, and exits 1', { skip: withoutRootProblem() }, async () => {
    const { code, stdout, stderr } = await runWithoutRoot(primary, args, { env });
    const output = stdout + stderr;
    assert.equal(code, 1, output);
    assert.match(output, /^\[primary \d+\] --job-hosts: missing root \(to make network namespaces: run it with sudo\); or leave --job-hosts out: the job workers then run on this machine\n$/);
  });
});

// One run for these tests, in order, started after a kill -9 of an earlier one; the last stops it.
describe("lesson 12 with its job workers in network namespaces (lesson 10's hosts), one run for these tests in order", { skip: noJobHosts ?? false }, () => {
  const started: Lesson[] = [];
  // Another suite's --job-hosts run would remove the killed run's namespaces as soon as it is dead,
  // before the first test looks: suites on one machine take turns here.
  let release: (() => Promise<void>) | undefined;
  // A test run ended by Ctrl+C or kill -9 ends the runs with SIGKILL: the harness's guardian removes
  // their namespaces, veths and Redis folders once this process is gone. Taken back once the after()
  // below has removed them itself.
  let keep: (() => void)[] = [];
  before(async () => {
    release = await takeTurn('12-job-hosts');
    keep = [removeNamespacesWhenGone(ip!, jobHostDefaults.prefix), removeLeftoversWhenGone(os.tmpdir(), redisDefaults.prefix)];
  });
  // Whatever a failed test left: the processes (the harness), then what outlives a SIGKILL.
  after(async () => {
    for (const lesson of started) await lesson.stop();
    await cleanJobHostLeftovers(ip!);
    cleanLeftovers();
    keep.forEach((takeBack) => takeBack());
    await release?.();
  });
  const startRun = () => launch(primary, { ready, env, args, limitMs }, (lesson) => started.push(lesson));
  let shared: ReturnType<typeof afterAKill> | undefined;
  const sharedRun = () => (shared ??= afterAKill());

  async function afterAKill() {
    const earlier = await startRun();
    const earlierRedis = redisOf(earlier);
    keep.push(endWithLessons(earlierRedis.pid)); // once its primary is killed, the Redis is nobody's: ended with this run
    process.kill(earlier.pid, 'SIGKILL'); // the primary alone: its Redis, namespaces and veths outlive it
    await earlier.exited;
    const leftByKill = leftovers(earlier.pid);
    const redisAfterKill = await alivePids([earlierRedis.pid]);
    const lesson = await startRun();
    return { earlier, earlierRedis, leftByKill, redisAfterKill, lesson };
  }

  test('a run after a kill -9 of an earlier one removes what that one left: namespaces, veths, Redis, its folder, its processes', async (t) => {
    const { earlier, earlierRedis, leftByKill, redisAfterKill, lesson } = await sharedRun();
    // The namespaces and veths only a --job-hosts run removes. The Redis and its folder, any lesson 12
    // run that starts removes (shared-state.test.ts proves it), and one may start in another test
    // file between the kill and these lines: they are the next run's to remove only if still there.
    const kinds = new Set(leftByKill.map((what) => what.split(' ')[0]));
    assert.ok(kinds.has('link') && kinds.has('namespace'), `a SIGKILL left ${leftByKill}: this test shows less than it says`);
    if (redisAfterKill.length === 0) t.diagnostic(`redis-server ${earlierRedis.pid} was already removed by another lesson 12 run`);
    assert.match(lesson.output(), new RegExp(`cleaning up after run ${earlier.pid}, which is no longer running: ec12-${earlier.pid}-1, ec12-${earlier.pid}-2\n`));
    assert.deepEqual(leftovers(earlier.pid), []);
    await waitUntil(async () => (await alivePids([earlierRedis.pid])).length === 0, `redis-server ${earlierRedis.pid} to be gone`);
    await waitUntil(async () => (await pidsInGroup(earlier.pid)).length === 0, `every process of run ${earlier.pid} to be gone`);
  });

  test('/heavy is answered by job workers that live in the namespaces and reach Redis over their veth', async () => {
    const { lesson } = await sharedRun();
    const hosts = jobHostsOf(lesson);
    assert.deepEqual(hosts.map((host) => host.name), ['host1', 'host2'], lesson.output());
    const port = new URL(`http://${/redis-server \d+ listening on (\S+),/.exec(lesson.output())![1]}`).port;
    const redisSeenFrom = [...lesson.output().matchAll(/\[job worker \d+\] ready, its Redis at (\S+)\n/g)].map(([, at]) => at);
    assert.deepEqual(redisSeenFrom.sort(), hosts.map((host) => `${host.gateway}:${port}`).sort(), "each job worker's Redis is at its host's end of the veth");
    const answeredIn = new Set<string>();
    for (let round = 0; round < 20 && answeredIn.size < hosts.length; round++) {
      const replies = await Promise.all([get(`${lesson.url}/heavy`), get(`${lesson.url}/heavy`)]);
      for (const reply of replies) {
        assert.equal(reply.body, 'The result of the CPU intensive task is 5000000\n');
        const pid = Number(reply.headers['x-job-worker-pid']);
        const host = hosts.find((candidate) => namespacePids(candidate.namespace).includes(pid));
        assert.ok(host, `job worker ${pid} runs in none of the job hosts' namespaces`);
        answeredIn.add(host.name);
      }
    }
    assert.deepEqual([...answeredIn].sort(), ['host1', 'host2'], 'job workers on both hosts counted');
  });

  test('Ctrl+C (SIGINT to the whole process group) stops everything: no namespace, veth, Redis, folder or process is left', async () => {
    const { lesson } = await sharedRun();
    const redis = redisOf(lesson);
    assert.equal(leftovers(lesson.pid).filter((what) => what.startsWith('namespace')).length, 2);
    process.kill(-lesson.pid, 'SIGINT');
    assert.deepEqual(await lesson.exited, { code: 0, signal: null }, lesson.output());
    assert.match(lesson.output(), /stopped: job workers, job hosts, Redis and its folder\n/);
    assert.deepEqual(leftovers(lesson.pid), []);
    assert.deepEqual(await alivePids([redis.pid]), []);
    await waitUntil(async () => (await pidsInGroup(lesson.pid)).length === 0, 'every process of the run to be gone');
  });
});

function redisOf(lesson: Lesson): { pid: number; folder: string } {
  const [, pid, folder] = /redis-server (\d+) listening on .*, its folder ([^,]+),/.exec(lesson.output())!;
  return { pid: Number(pid), folder };
}

function jobHostsOf(lesson: Lesson): JobHost[] {
  const lines = lesson.output().matchAll(/job host (host\d+): namespace (\S+), address ([\d.]+), its Redis over its veth at ([\d.]+)\n/g);
  return [...lines].map(([, name, namespace, address, gateway]) => ({ name, namespace, address, gateway }));
}

// The namespaces, veths and folders (its Redis's) of the run with this pid.
function leftovers(pid: number): string[] {
  const prefix = `ec12-${pid}-`;
  const namespaces = run('netns', 'list').split('\n').map((line) => `namespace ${line.split(' ')[0]}`);
  const links = run('-o', 'link', 'show').split('\n').map((line) => `link ${line.split(/[:@]/)[1]?.trim() ?? ''}`);
  const folders = fs.readdirSync(os.tmpdir()).map((name) => `folder ${name}`);
  return [...namespaces, ...links, ...folders].filter((what) => what.split(' ')[1].startsWith(prefix));
}

function namespacePids(namespace: string): number[] {
  return run('netns', 'pids', namespace).split('\n').filter(Boolean).map(Number);
}

function run(...ipArgs: string[]): string {
  return execFileSync(ip!, ipArgs, { encoding: 'utf8' });
}
