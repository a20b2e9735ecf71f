import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { get, heldPort, isBun, launch, pidsInGroup, root, startLoad, waitUntil, type Lesson, type LoadCount } from '../../lib/harness.ts';

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

// As root, the test runs the lesson as the user nobody, who must be able to run this runtime: npx
// keeps the Node or Bun it fetches in root's own cache, which nobody cannot read.
const nobody = { uid: 65534, gid: 65534 };
const noNobody =
  process.platform !== 'linux' ? 'runs the lesson as the user nobody, a Linux setup'
  : isRoot && spawnSync(process.execPath, ['--version'], nobody).status !== 0 ? `the user nobody cannot run ${process.execPath} (npx keeps it in root's cache)`
  : false;

interface Host {
  name: string;
  address: string;
  namespace: string;
  primary: number;
}

// Starts the lesson; when the test ends, stops it (its whole process group) and removes whatever
// namespace or veth it still has: they outlive a SIGKILL, unlike processes.
async function startHosts(t: TestContext, args: string[] = []): Promise<Lesson> {
  return launch(hostsFile, { ready, args, env: { WORKERS: '1' } }, (lesson) => {
    t.after(() => lesson.stop());
    t.after(() => removeLeftovers(lesson.pid));
  });
}

// The hosts as the lesson announced them.
function hostsOf(lesson: Lesson): Host[] {
  const lines = lesson.output().matchAll(/(host\d+): http:\/\/([\d.]+):\d+ in namespace (\S+), primary (\d+)/g);
  return [...lines].map(([, name, address, namespace, primary]) => ({ name, address, namespace, primary: Number(primary) }));
}

// Namespaces, veths and temporary folders of the run with this pid.
async function leftovers(pid: number): Promise<string[]> {
  const prefix = `ec10-${pid}-`;
  const namespaces = (await run(ip!, 'netns', 'list')).split('\n').map((line) => line.split(' ')[0]);
  const links = (await run(ip!, '-o', 'link', 'show')).split('\n').map((line) => line.split(/[:@]/)[1]?.trim() ?? '');
  const found = [...namespaces.map((name) => `namespace ${name}`), ...links.map((name) => `link ${name}`), ...fs.readdirSync(os.tmpdir()).map((name) => `folder ${name}`)];
  return found.filter((what) => what.split(' ')[1].startsWith(prefix));
}

async function removeLeftovers(pid: number): Promise<void> {
  if (!ip) return;
  for (const what of await leftovers(pid)) {
    const [kind, name] = what.split(' ');
    if (kind === 'folder') fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
    if (kind === 'link') await run(ip, 'link', 'delete', name).catch(() => undefined);
    if (kind !== 'namespace') continue;
    for (const pid of await namespacePids(name)) process.kill(pid, 'SIGKILL');
    await run(ip, 'netns', 'delete', name).catch(() => undefined);
  }
}

async function namespacePids(namespace: string): Promise<number[]> {
  return (await run(ip!, 'netns', 'pids', namespace)).split('\n').filter(Boolean).map(Number);
}

// Lesson 01's servers running in a namespace (tsx's esbuild can run there too).
async function workersIn(namespace: string): Promise<number[]> {
  const isWorker = (pid: number) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('03-cluster/worker.ts');
  return (await namespacePids(namespace)).filter((pid) => {
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

describe('lesson 10: many machines behind nginx', () => {
  test('answers through nginx come from every host, each naming its host and the worker in that host', { skip: noNamespaces }, async (t) => {
    const lesson = await startHosts(t);
    const hosts = hostsOf(lesson);
    assert.deepEqual(hosts.map((host) => host.name), ['host1', 'host2', 'host3'], lesson.output());
    const byHost = await answersByHost(lesson.url, hosts.length);
    assert.deepEqual([...byHost.keys()].sort(), ['host1', 'host2', 'host3']);
    for (const host of hosts) {
      assert.match(host.address, /^10\.\d+\.\d+\.\d+$/);
      const inside = await namespacePids(host.namespace); // x-host is true: the worker runs in that host's namespace
      for (const pid of byHost.get(host.name)!) assert.ok(inside.includes(pid), `${host.name}'s answer came from pid ${pid}, not in ${host.namespace}: ${inside}`);
    }
  });

  test('a host powered off under load (every process in its namespace killed) is routed around, and no GET is lost', { skip: noNamespaces }, async (t) => {
    const lesson = await startHosts(t);
    const [, victim] = hostsOf(lesson);
    const load = loads(t, lesson.url);
    await waitUntil(() => load.answered() > 100, 'the load to get 100 answers');
    const mark = lesson.output().length;
    for (const pid of await namespacePids(victim.namespace)) process.kill(pid, 'SIGKILL');
    await lesson.waitFor(/host2 is down: its cluster exited \(signal SIGKILL\); nginx routes around it/, mark);
    const answeredAtKill = load.answered();
    await waitUntil(() => load.answered() > answeredAtKill + 100, '100 more answers after the kill');
    const byHost = await answersByHost(lesson.url, 3); // asks 30 times: host2 never answers
    assert.deepEqual([...byHost.keys()].sort(), ['host1', 'host3']);
    assertNoneLost(t, await load.stop());
  });

  test('a rolling restart host by host (each primary\'s own SIGUSR2, one after the other) under load loses 0 requests', { skip: noNamespaces }, async (t) => {
    const lesson = await startHosts(t);
    const hosts = hostsOf(lesson);
    const load = loads(t, lesson.url);
    await waitUntil(() => load.answered() > 50, 'the load to get 50 answers');
    for (const host of hosts) {
      const before = await workersIn(host.namespace);
      const mark = lesson.output().length;
      process.kill(host.primary, 'SIGUSR2');
      await lesson.waitFor(new RegExp(`\\[${host.name}\\] .*rolling restart done: 1 of 1 worker replaced`), mark);
      const after = await workersIn(host.namespace);
      assert.equal(after.length, 1, `${host.name}'s workers after its roll: ${after}`);
      assert.deepEqual(after.filter((pid) => before.includes(pid)), [], `${host.name}: ${before} -> ${after}`);
    }
    assertNoneLost(t, await load.stop());
  });

  test('SIGTERM stops nginx and every cluster, and leaves no namespace, veth, folder or process', { skip: noNamespaces }, async (t) => {
    const lesson = await startHosts(t);
    assert.equal((await leftovers(lesson.pid)).filter((what) => what.startsWith('namespace')).length, 3);
    process.kill(lesson.pid, 'SIGTERM');
    assert.deepEqual(await lesson.exited, { code: 0, signal: null }, lesson.output());
    assert.deepEqual(await leftovers(lesson.pid), []);
    await waitUntil(async () => (await pidsInGroup(lesson.pid)).length === 0, 'every process of the run to be gone');
  });

  test('a start that fails half-way (nginx cannot have its port) says why, exits 1 and leaves nothing behind', { skip: noNamespaces }, async (t) => {
    const port = await heldPort(t);
    const lesson = await launch(hostsFile, { ready: false, port, env: { WORKERS: '1' } }, (lesson) => {
      t.after(() => lesson.stop());
      t.after(() => removeLeftovers(lesson.pid));
    });
    assert.deepEqual(await lesson.exited, { code: 1, signal: null }, lesson.output());
    assert.match(lesson.output(), new RegExp(`\\[nginx\\] .*bind\\(\\) to 127\\.0\\.0\\.1:${port} failed \\(98: Address already in use\\)`));
    assert.match(lesson.output(), /cannot start: nginx exited at start: its lines above say why/);
    assert.match(lesson.output(), /\[host3\] .*cluster ready/, 'the hosts were up before nginx failed');
    assert.deepEqual(await leftovers(lesson.pid), []);
    await waitUntil(async () => (await pidsInGroup(lesson.pid)).length === 0, 'every process of the run to be gone');
  });

  test('a run after a kill -9 of an earlier one removes what that one left: namespaces, veths, nginx, clusters', { skip: noNamespaces }, async (t) => {
    const first = await startHosts(t);
    process.kill(first.pid, 'SIGKILL'); // the lesson alone: its nginx and clusters live on, orphaned
    await first.exited;
    assert.ok((await leftovers(first.pid)).length > 0, 'a SIGKILL left nothing behind: this test shows nothing');
    assert.ok((await pidsInGroup(first.pid)).length > 0, 'a SIGKILL left no process behind: this test shows nothing');
    const second = await startHosts(t);
    assert.match(second.output(), new RegExp(`cleaning up after run ${first.pid}, which is no longer running`));
    assert.deepEqual(await leftovers(first.pid), []);
    await waitUntil(async () => (await pidsInGroup(first.pid)).length === 0, `every process of run ${first.pid} to be gone`);
  });

  test('--local runs the hosts as ports on 127.0.0.1, behind the same nginx, without root', { skip: noNginx }, async (t) => {
    const lesson = await startHosts(t, ['--local', '--hosts', '2']);
    assert.match(lesson.output(), /host1: http:\/\/127\.0\.0\.1:\d+ on this machine/);
    const byHost = await answersByHost(lesson.url, 2);
    assert.deepEqual([...byHost.keys()].sort(), ['host1', 'host2']);
    process.kill(lesson.pid, 'SIGTERM');
    assert.deepEqual(await lesson.exited, { code: 0, signal: null }, lesson.output());
    assert.deepEqual(fs.readdirSync(os.tmpdir()).filter((name) => name.startsWith(`ec10-${lesson.pid}-`)), []);
  });

  test('without root it says what is missing and how to get it, in one line, and exits 1', { skip: noNobody }, async () => {
    const asNobody = isRoot ? nobody : {}; // anyone else runs it as is
    const runtime = isBun ? [] : ['--import', 'tsx'];
    const result = await promisify(execFile)(process.execPath, [...runtime, hostsFile], { cwd: root, timeout: 30_000, ...asNobody }).then(
      () => ({ code: 0, stderr: '' }),
      (error) => ({ code: error.code as number, stderr: String(error.stderr) }),
    );
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /^hosts: missing root \(to make network namespaces: run it with sudo\).*; or try --local, which needs only nginx\n$/);
  });

  test('without nginx it says what is missing and how to get it, in one line, and exits 1', async (t) => {
    const lesson = await launch(hostsFile, { ready: false, args: ['--local'], env: { NGINX: '/nowhere/nginx' } }, (lesson) => t.after(() => lesson.stop()));
    assert.deepEqual(await lesson.exited, { code: 1, signal: null });
    assert.equal(lesson.output(), 'hosts: missing nginx at NGINX=/nowhere/nginx (sudo apt-get install nginx, or brew install nginx)\n');
  });

  for (const args of [['--hosts', '0'], ['--hosts', 'three'], ['--hosts', '17'], ['--remote']]) {
    test(`bad options (${args.join(' ')}) print one line and the usage, and exit 2`, async (t) => {
      const lesson = await launch(hostsFile, { ready: false, args }, (lesson) => t.after(() => lesson.stop()));
      assert.deepEqual(await lesson.exited, { code: 2, signal: null });
      assert.match(lesson.output(), /^hosts: .+\n\nUsage: .*hosts\.ts \[--hosts N\] \[--local\]\n/);
    });
  }

  test('--help prints the usage and exits 0', async (t) => {
    const lesson = await launch(hostsFile, { ready: false, args: ['--help'] }, (lesson) => t.after(() => lesson.stop()));
    assert.deepEqual(await lesson.exited, { code: 0, signal: null });
    assert.match(lesson.output(), /^Usage: /);
  });
});

function run(file: string, ...args: string[]): Promise<string> {
  return promisify(execFile)(file, args).then(({ stdout }) => stdout);
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
