import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { get, heldPort, launch, pidsInGroup, removeLeftoversWhenGone, removeNamespacesWhenGone, root, runWithoutRoot, startLoad, waitUntil, withoutRootProblem, type Lesson, type LoadCount } from '../../lib/harness.ts';
import { defaults as loadtest, measure, type Figures } from '../02-load-test/loadtest.ts';
import { defaults, leftBehind, missingTools, nginxConfig, overlaps, pickSubnet, readOptions } from './hosts.ts';

const hostsFile = 'lessons/10-many-machines/hosts.ts';
const ready = /front: http:\/\/127\.0\.0\.1:\d+/;
const nginx = findExecutable('nginx');
const ip = findExecutable('ip');
const isRoot = process.getuid?.() === 0;
const noNginx = nginx ? false : 'nginx is not installed (sudo apt-get install nginx, or brew install nginx)';
const noNamespaces =
  process.platform !== 'linux' ? 'network namespaces are a Linux feature'
  : !isRoot ? 'making network namespaces needs root: run the tests with sudo'
  : !ip ? 'ip is not installed (sudo apt-get install iproute2)'
  : noNginx;

interface Host {
  name: string;
  address: string;
  namespace: string;
  primary: number;
}

// Starts the lesson; `onStop` gets what stops it (its whole process group) and removes whatever
// namespace, veth or folder it still has: they outlive a SIGKILL, unlike processes.
function startHosts(onStop: (stop: () => Promise<void>) => void, options: { args?: string[]; port?: number; ready?: false } = {}): Promise<Lesson> {
  const { args = [], port, ready: waitFor = ready } = options;
  // limitMs: several clusters and nginx, each ready in turn, take longer than one lesson on a busy machine.
  return launch(hostsFile, { ready: waitFor, args, port, env: { WORKERS: '1' }, limitMs: 90_000 }, (lesson) => {
    started.add(lesson.pid);
    onStop(async () => {
      await lesson.stop();
      removeLeftovers(lesson.pid);
    });
  });
}

// A test run that ends early (Ctrl+C, kill, a failure) SIGKILLs the lessons it started as it exits (the
// harness): what they made outside their processes is removed here, as this process exits. The test
// runner passes a SIGINT or SIGTERM on to this process, which may then get it twice: a listener that
// stays keeps the second one from killing it half-way through this cleanup.
const started = new Set<number>();
process.on('exit', () => started.forEach(removeLeftovers));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => undefined);

// The hosts as the lesson announced them.
function hostsOf(lesson: Lesson): Host[] {
  const lines = lesson.output().matchAll(/(host\d+): http:\/\/([\d.]+):\d+ in namespace (\S+), primary (\d+)/g);
  return [...lines].map(([, name, address, namespace, primary]) => ({ name, address, namespace, primary: Number(primary) }));
}

// Namespaces, veths and temporary folders of the run with this pid.
function leftovers(pid: number): string[] {
  const prefix = `ec10-${pid}-`;
  const namespaces = ip ? run(ip, 'netns', 'list').split('\n').map((line) => line.split(' ')[0]) : [];
  const links = ip ? run(ip, '-o', 'link', 'show').split('\n').map((line) => line.split(/[:@]/)[1]?.trim() ?? '') : [];
  const found = [...namespaces.map((name) => `namespace ${name}`), ...links.map((name) => `link ${name}`), ...fs.readdirSync(os.tmpdir()).map((name) => `folder ${name}`)];
  return found.filter((what) => what.split(' ')[1].startsWith(prefix));
}

// Synchronous, so that it can run as this process exits.
function removeLeftovers(pid: number): void {
  for (const what of leftovers(pid)) {
    const [kind, name] = what.split(' ');
    if (kind === 'folder') fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
    if (kind === 'link') tryRun(ip!, 'link', 'delete', name);
    if (kind !== 'namespace') continue;
    for (const pid of namespacePids(name)) tryRun('kill', '-9', String(pid));
    tryRun(ip!, 'netns', 'delete', name);
  }
}

function namespacePids(namespace: string): number[] {
  try {
    return run(ip!, 'netns', 'pids', namespace).split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // removed meanwhile
  }
}

// Lesson 01's servers running in a namespace (tsx's esbuild can run there too).
function workersIn(namespace: string): number[] {
  const isWorker = (pid: number) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('03-cluster/worker.ts');
  return namespacePids(namespace).filter((pid) => {
    try {
      return isWorker(pid);
    } catch {
      return false; // gone meanwhile
    }
  });
}

// Fresh connections through nginx until every host has answered once; who answered, by host.
async function answersByHost(url: string, hostCount: number): Promise<Map<string, number[]>> {
  const byHost = new Map<string, number[]>();
  for (let i = 0; i < 10 * hostCount && byHost.size < hostCount; i++) {
    const reply = await get(url);
    assert.equal(reply.status, 200, reply.body);
    const host = String(reply.headers['x-host']);
    byHost.set(host, [...(byHost.get(host) ?? []), reply.pid]);
  }
  return byHost;
}

// Two loads at once: fresh connections, and keep-alive ones (they break differently).
function loads(t: TestContext, url: string) {
  const fresh = startLoad(url, { connections: 4 });
  const keepAlive = startLoad(url, { connections: 4, keepAlive: true });
  t.after(() => Promise.all([fresh.stop(), keepAlive.stop()]));
  return {
    answered: () => fresh.count.requests + keepAlive.count.requests,
    stop: () => Promise.all([fresh.stop(), keepAlive.stop()]),
  };
}

// SIGUSR2 to a host's primary, until its roll is done. Lesson 07 stops a roll whose new worker is not
// listening within its bound (10 s), keeping the old one: on a busy machine that happens, and then the
// roll is sent again, at most 3 times in all. The load runs all along, so a stopped roll counts too.
async function roll(t: TestContext, lesson: Lesson, host: Host): Promise<void> {
  const outcome = new RegExp(`\\[${host.name}\\] .*rolling restart (done|stopped): (\\d+) of 1 worker replaced`);
  for (let attempt = 1; ; attempt++) {
    const mark = lesson.output().length;
    process.kill(host.primary, 'SIGUSR2');
    const [line, result] = await lesson.waitFor(outcome, mark);
    if (result === 'done') return assert.match(line, /done: 1 of 1 worker replaced/);
    t.diagnostic(`${host.name}, roll ${attempt}: ${line.trim()}`);
    assert.ok(attempt < 3, `${host.name}'s roll stopped ${attempt} times: ${line}`);
  }
}

function assertNoneLost(t: TestContext, counts: LoadCount[]): void {
  for (const [name, count] of [['fresh connections', counts[0]], ['keep-alive connections', counts[1]]] as const) {
    t.diagnostic(`${name}: ${count.requests} answered, ${count.failures} failed ${JSON.stringify(count.errorCodes)}, ${count.non200} non-200`);
  }
  for (const count of counts) {
    assert.ok(count.requests > 0, 'the load got no answer at all');
    assert.equal(count.failures, 0, JSON.stringify(count));
    assert.equal(count.non200, 0, JSON.stringify(count));
  }
}

// Lesson 02's figures, every one of `amount` requests answered with a 2xx.
function assertEveryAnswer(t: TestContext, figures: Figures, amount: number): void {
  t.diagnostic(`lesson 02's load test: ${figures.requests} answered of ${amount}, ${figures.errors} errors, ${figures.non2xx} non-2xx`);
  const { requests, errors, non2xx } = figures;
  assert.deepEqual({ requests, errors, non2xx }, { requests: amount, errors: 0, non2xx: 0 });
}

describe('lesson 10: the decisions, checked without starting anything', () => {
  const hosts = [
    { name: 'host1', address: '10.210.7.2', port: 3000 },
    { name: 'host2', address: '10.210.7.6', port: 3000 },
    { name: 'host3', address: '10.210.7.10', port: 3000 },
  ];
  const config = nginxConfig({ dir: '/tmp/ec10-1-x', frontPort: 8081, hosts });

  test("nginx keeps a client's connection open for more requests than lesson 02's load test can send (nginx's own default closes it after 1000)", () => {
    const server = config.slice(config.indexOf('  server {'));
    const limit = Number(/^\s*keepalive_requests (\d+);/m.exec(server)?.[1]);
    assert.ok(limit >= loadtest.maxAmount, `keepalive_requests in the front's server block: ${limit}, lesson 02 sends up to ${loadtest.maxAmount}`);
  });

  test('nginx listens on 127.0.0.1 only, spreads over every host once and retries a failed GET on the next one, never a POST', () => {
    assert.deepEqual(config.match(/^\s*listen .*$/gm)?.map((line) => line.trim()), ['listen 127.0.0.1:8081;']);
    const servers = config.match(/^\s*server \S+:\d+ .*$/gm)?.map((line) => line.trim());
    assert.deepEqual(servers, hosts.map((host) => `server ${host.address}:3000 max_fails=1 fail_timeout=5s;`));
    assert.match(config, /^\s*proxy_next_upstream error timeout http_502 http_503 http_504;$/m);
    assert.doesNotMatch(config, /non_idempotent/);
    for (const line of config.match(/^\s*\w+_path .*$|^(pid|lock_file) .*$/gm) ?? []) assert.match(line, /\/tmp\/ec10-1-x\//, `a path outside the run's folder: ${line}`);
  });

  test('x-host names the host that answered: after a retry, the last address nginx tried', () => {
    const map = config.slice(config.indexOf('map $upstream_addr'), config.indexOf('}', config.indexOf('map $upstream_addr')));
    // nginx checks a map's regular expressions in order and takes the first that matches.
    const rules = [...map.matchAll(/^\s*~(\S+) (\S+);$/gm)].map(([, pattern, name]) => ({ pattern: new RegExp(pattern), name }));
    const hostOf = (upstreamAddr: string) => rules.find((rule) => rule.pattern.test(upstreamAddr))?.name ?? 'none';
    assert.equal(hostOf('10.210.7.2:3000'), 'host1');
    assert.equal(hostOf('10.210.7.10:3000'), 'host3');
    assert.equal(hostOf('10.210.7.6:3000, 10.210.7.2:3000'), 'host1');
    assert.equal(hostOf('10.210.7.2:3000, 10.210.7.6:3000'), 'host2');
    assert.equal(hostOf('10.210.7.1:3000'), 'none', 'an address of no host (10.210.7.1 is not 10.210.7.10)');
  });

  test("the hosts' /24 is one that no route or address of this machine overlaps, tried from the run's pid on", () => {
    assert.equal(pickSubnet([], 5), '10.210.5');
    assert.equal(pickSubnet(['10.210.5.0/24', '10.210.6.9/32'], 5), '10.210.7');
    assert.equal(pickSubnet(['10.210.6.0/23'], 6), '10.210.8', 'a /23 covers two /24s');
    assert.equal(pickSubnet(['10.210.255.0/24'], 255), '10.210.0', 'past 255 it wraps around');
    assert.equal(pickSubnet([], 256 + 3), '10.210.3');
    assert.equal(pickSubnet(['10.211.0.0/16', '10.209.0.0/16', '192.168.1.0/24'], 9), '10.210.9');
    const allBut4 = Array.from({ length: 256 }, (_, x) => `10.210.${x}.0/24`).filter((cidr) => cidr !== '10.210.4.0/24');
    assert.equal(pickSubnet(allBut4, 5), '10.210.4', 'the last of the 256 it tries');
    assert.throws(() => pickSubnet(['10.0.0.0/8'], 5), /^Error: every \/24 in 10\.210\.0\.0\/16 is in use on this machine/);
    assert.throws(() => pickSubnet(['0.0.0.0/0'], 5), /is in use/);
  });

  test('two networks overlap when they share an address, whatever their sizes', () => {
    assert.equal(overlaps('10.210.5.0/24', '10.210.5.9'), true);
    assert.equal(overlaps('10.210.5.0/24', '10.210.5.255/32'), true);
    assert.equal(overlaps('10.210.5.0/24', '10.210.6.0'), false);
    assert.equal(overlaps('10.210.5.0/24', '10.210.4.0/23'), true);
    assert.equal(overlaps('10.210.6.0/24', '10.210.4.0/23'), false);
    assert.equal(overlaps('10.210.5.0/24', '10.0.0.0/8'), true);
    assert.equal(overlaps('10.210.5.0/24', '11.0.0.0/8'), false);
    assert.equal(overlaps('10.210.5.0/24', '0.0.0.0/0'), true);
  });

  test('what a run left is found by its name, ec10-<pid>-..., and only for runs that no longer run', () => {
    const names = ['ec10-123-1', 'ec10-123-1', 'ec10-123-Ab3xYz', 'ec10-456-1', 'ec10-x-1', 'ec10-123', 'ec100-5-1', 'eth0', 'tsx-0'];
    const left = leftBehind(names, (pid) => pid === 456);
    assert.deepEqual([...left], [[123, ['ec10-123-1', 'ec10-123-Ab3xYz']]]);
    assert.deepEqual([...leftBehind(names, () => true)], []);
  });

  test(`--hosts takes a whole number from 1 to ${defaults.maxHosts}; anything else is refused with what it got`, () => {
    const fail = (problem: string): never => {
      throw new Error(problem);
    };
    assert.deepEqual(readOptions([], fail), { hostCount: 3, isLocal: false });
    assert.deepEqual(readOptions(['--hosts', '1', '--local'], fail), { hostCount: 1, isLocal: true });
    assert.deepEqual(readOptions(['--hosts', '16'], fail), { hostCount: 16, isLocal: false });
    for (const bad of ['0', '17', 'three', '', '2.5', '0x3', '03', '1e1']) {
      assert.throws(() => readOptions(['--hosts', bad], fail), { message: `--hosts must be a whole number from 1 to 16, got ${JSON.stringify(bad)}` });
    }
  });

  test('what is missing is said in one line with how to get it: root, ip and nginx for namespaces, only nginx for --local', () => {
    const linux = { platform: 'linux', ip: '/usr/sbin/ip', nginx: '/usr/sbin/nginx' };
    assert.equal(missingTools(false, { ...linux, uid: 0 }), undefined);
    assert.equal(missingTools(false, { ...linux, uid: 1000 }), 'hosts: missing root (to make network namespaces: run it with sudo); or try --local, which needs only nginx');
    assert.equal(missingTools(false, { ...linux, uid: 0, ip: undefined }), 'hosts: missing ip (sudo apt-get install iproute2); or try --local, which needs only nginx');
    assert.equal(missingTools(false, { platform: 'darwin', uid: 501, nginx: '/opt/homebrew/bin/nginx' }), 'hosts: missing Linux (network namespaces are a Linux feature), root (to make network namespaces: run it with sudo), ip (sudo apt-get install iproute2); or try --local, which needs only nginx');
    assert.equal(missingTools(true, { platform: 'darwin', uid: 501, nginx: '/opt/homebrew/bin/nginx' }), undefined);
    assert.equal(missingTools(true, { ...linux, uid: 1000, nginx: undefined }), 'hosts: missing nginx (sudo apt-get install nginx, or brew install nginx)');
    assert.equal(missingTools(true, { ...linux, uid: 1000, nginx: undefined, nginxFromEnv: '/nowhere/nginx' }), 'hosts: missing nginx at NGINX=/nowhere/nginx (sudo apt-get install nginx, or brew install nginx)');
  });
});

// The shared run's tests and the runs of their own, side by side: a start of one fills the time
// another waits (each run has namespaces, a /24 and a folder of its own).
describe('lesson 10: runs of the lesson', { concurrency: true }, () => {
  // A kill -9 of the test run gives the 'exit' hook above no chance: the harness's guardian ends the
  // runs then, and removes their namespaces, links and folders once this process is gone. Taken back
  // once every run here has ended and cleaned up.
  let keep: (() => void)[] = [];
  before(() => {
    keep = [removeLeftoversWhenGone(os.tmpdir(), defaults.prefix), ...(ip && isRoot ? [removeNamespacesWhenGone(ip, defaults.prefix)] : [])];
  });
  after(() => keep.forEach((takeBack) => takeBack()));

  // One run serves these tests, in this order: each leaves the hosts as the next one needs them, up to
  // the power-off and the SIGTERM, which come last. Run alone, any of them brings the run up itself.
  describe('lesson 10: three hosts behind nginx, one run for these tests in order', { skip: noNamespaces, concurrency: 1 }, () => {
    const stops: (() => Promise<void>)[] = [];
    after(() => Promise.all(stops.map((stop) => stop())));
    let shared: ReturnType<typeof afterAKill> | undefined;
    const sharedRun = () => (shared ??= afterAKill());

    // The shared run starts after a kill -9 of an earlier run (two hosts), and cleans up after it.
    async function afterAKill() {
      const earlier = await startHosts((stop) => stops.push(stop), { args: ['--hosts', '2'] });
      process.kill(earlier.pid, 'SIGKILL'); // the lesson alone: its nginx and clusters live on, orphaned
      await earlier.exited;
      const leftByKill = leftovers(earlier.pid);
      const runningAfterKill = await pidsInGroup(earlier.pid);
      const lesson = await startHosts((stop) => stops.push(stop));
      return { earlier, leftByKill, runningAfterKill, lesson };
    }

    test('a run after a kill -9 of an earlier one removes what that one left: namespaces, veths, folder, nginx, clusters', async () => {
      const { earlier, leftByKill, runningAfterKill, lesson } = await sharedRun();
      const kinds = new Set(leftByKill.map((what) => what.split(' ')[0]));
      assert.deepEqual([...kinds].sort(), ['folder', 'link', 'namespace'], `a SIGKILL left ${leftByKill}: this test shows less than it says`);
      assert.ok(runningAfterKill.length > 0, 'a SIGKILL left no process behind: this test shows nothing');
      assert.match(lesson.output(), new RegExp(`cleaning up after run ${earlier.pid}, which is no longer running`));
      assert.deepEqual(leftovers(earlier.pid), []);
      await waitUntil(async () => (await pidsInGroup(earlier.pid)).length === 0, `every process of run ${earlier.pid} to be gone`);
    });

    test('answers through nginx come from every host, each naming its host and the worker in that host', async () => {
      const { lesson } = await sharedRun();
      const hosts = hostsOf(lesson);
      assert.deepEqual(hosts.map((host) => host.name), ['host1', 'host2', 'host3'], lesson.output());
      const byHost = await answersByHost(lesson.url, hosts.length);
      assert.deepEqual([...byHost.keys()].sort(), ['host1', 'host2', 'host3']);
      for (const host of hosts) {
        assert.match(host.address, /^10\.\d+\.\d+\.\d+$/);
        const inside = namespacePids(host.namespace); // x-host is true: the worker runs in that host's namespace
        for (const pid of byHost.get(host.name)!) assert.ok(inside.includes(pid), `${host.name}'s answer came from pid ${pid}, not in ${host.namespace}: ${inside}`);
      }
    });

    test("lesson 02's load test through the front, 2,500 requests on 2 connections (past nginx's default of 1000 a connection), gets every answer", async (t) => {
      const { lesson } = await sharedRun();
      const amount = 2_500;
      assertEveryAnswer(t, await measure({ url: `${lesson.url}/`, amount, connections: 2 }), amount);
    });

    test("a rolling restart host by host (each primary's own SIGUSR2, one after the other) under load loses 0 requests", async (t) => {
      const { lesson } = await sharedRun();
      const hosts = hostsOf(lesson);
      const load = loads(t, lesson.url);
      await waitUntil(() => load.answered() > 50, 'the load to get 50 answers');
      for (const host of hosts) {
        const before = workersIn(host.namespace);
        await roll(t, lesson, host);
        const after = workersIn(host.namespace);
        assert.equal(after.length, 1, `${host.name}'s workers after its roll: ${after}`);
        assert.deepEqual(after.filter((pid) => before.includes(pid)), [], `${host.name}: ${before} -> ${after}`);
      }
      assertNoneLost(t, await load.stop());
    });

    test("a host powered off under load (every process in its namespace killed) is routed around: no GET is lost, lesson 02's load test included", async (t) => {
      const { lesson } = await sharedRun();
      const [, victim] = hostsOf(lesson);
      const load = loads(t, lesson.url);
      const amount = 4_000; // 2,000 a connection: past nginx's default limit too
      let isMeasured = false;
      const measured = measure({ url: `${lesson.url}/`, amount, connections: 2 }).finally(() => (isMeasured = true));
      await waitUntil(() => load.answered() > 100, 'the load to get 100 answers');
      const mark = lesson.output().length;
      for (const pid of namespacePids(victim.namespace)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // ESRCH: it ended between the listing and the kill (a worker that had just exited)
        }
      }
      assert.equal(isMeasured, false, `lesson 02's load test had sent its ${amount} requests before the power-off: it shows nothing`);
      await lesson.waitFor(/host2 is down: its cluster exited \(signal SIGKILL\); nginx routes around it/, mark);
      const answeredAtKill = load.answered();
      await waitUntil(() => load.answered() > answeredAtKill + 100, '100 more answers after the kill');
      const byHost = await answersByHost(lesson.url, 3); // asks 30 times: host2 never answers
      assert.deepEqual([...byHost.keys()].sort(), ['host1', 'host3']);
      assertNoneLost(t, await load.stop());
      assertEveryAnswer(t, await measured, amount);
    });

    test('SIGTERM stops nginx and every cluster, and leaves no namespace, veth, folder or process', async () => {
      const { lesson } = await sharedRun();
      assert.equal(leftovers(lesson.pid).filter((what) => what.startsWith('namespace')).length, 3);
      process.kill(lesson.pid, 'SIGTERM');
      assert.deepEqual(await lesson.exited, { code: 0, signal: null }, lesson.output());
      assert.match(lesson.output(), /SIGTERM: stopping nginx, then every host's cluster, then the hosts/);
      assert.deepEqual(leftovers(lesson.pid), []);
      await waitUntil(async () => (await pidsInGroup(lesson.pid)).length === 0, 'every process of the run to be gone');
    });
  });

  // Independent runs: at once, so that one's start fills the time another waits.
  describe('lesson 10: runs of their own', { concurrency: true }, () => {
    test('a start that fails half-way (nginx cannot have its port) says why, exits 1 and leaves nothing behind', { skip: noNamespaces }, async (t) => {
      const port = await heldPort(t);
      const lesson = await startHosts(t.after.bind(t), { args: ['--hosts', '2'], port, ready: false });
      assert.deepEqual(await lesson.exited, { code: 1, signal: null }, lesson.output());
      assert.match(lesson.output(), new RegExp(`\\[nginx\\] .*bind\\(\\) to 127\\.0\\.0\\.1:${port} failed \\(98: Address already in use\\)`));
      assert.match(lesson.output(), /cannot start: nginx exited at start: its lines above say why/);
      assert.match(lesson.output(), /\[host2\] .*cluster ready/, 'the hosts were up before nginx failed');
      assert.deepEqual(leftovers(lesson.pid), []);
      await waitUntil(async () => (await pidsInGroup(lesson.pid)).length === 0, 'every process of the run to be gone');
    });

    test('--local runs the hosts as ports on 127.0.0.1, behind the same nginx, without root', { skip: noNginx }, async (t) => {
      const lesson = await startHosts(t.after.bind(t), { args: ['--local', '--hosts', '2'] });
      assert.match(lesson.output(), /host1: http:\/\/127\.0\.0\.1:\d+ on this machine/);
      const byHost = await answersByHost(lesson.url, 2);
      assert.deepEqual([...byHost.keys()].sort(), ['host1', 'host2']);
      process.kill(lesson.pid, 'SIGTERM');
      assert.deepEqual(await lesson.exited, { code: 0, signal: null }, lesson.output());
      assert.deepEqual(fs.readdirSync(os.tmpdir()).filter((name) => name.startsWith(`ec10-${lesson.pid}-`)), []);
    });

    test('without root it says what is missing and how to get it, in one line, and exits 1', { skip: withoutRootProblem() }, async () => {
      const result = await runWithoutRoot(hostsFile, [], { timeoutMs: 30_000 });
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /^hosts: missing root \(to make network namespaces: run it with sudo\).*; or try --local, which needs only nginx\n$/);
    });

    test('a bad --hosts prints one line and the usage, and exits 2', async (t) => {
      const lesson = await launch(hostsFile, { ready: false, args: ['--hosts', '17'] }, (lesson) => t.after(() => lesson.stop()));
      assert.deepEqual(await lesson.exited, { code: 2, signal: null });
      assert.match(lesson.output(), /^hosts: --hosts must be a whole number from 1 to 16, got "17"\n\nUsage: .*hosts\.ts \[--hosts N\] \[--local\]\n/);
    });
  });
});

function run(file: string, ...args: string[]): string {
  return execFileSync(file, args, { encoding: 'utf8' });
}

function tryRun(file: string, ...args: string[]): void {
  try {
    execFileSync(file, args, { stdio: 'ignore' });
  } catch {
    // already gone
  }
}

// As the lesson looks: PATH, then the sbin folders a user's PATH often leaves out.
function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  return dirs.map((dir) => path.join(dir, name)).find((file) => {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  });
}
