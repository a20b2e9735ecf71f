// Lesson 09's catch: when a SO_REUSEPORT socket closes, Linux resets the connections still queued on
// it. This rolls lesson 09's workers (each asked to stop in turn, lesson 03 forks its replacement)
// under a steady load of fresh connections, and counts what was lost.
// Run it:  npx tsx lessons/09-reuseport/roll.ts                          (this machine's network, as it is)
//          npx tsx lessons/09-reuseport/roll.ts --tcp-migrate-req 1      (root: in a network namespace of its own)

import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { exitOnSignals, isAlive, launch, pidsRunning, type Lesson } from '../../lib/launch.ts';
import { startLoad, type LoadCount } from '../../lib/load.ts';
import { commandLine, wholeNumber } from '../../lib/options.ts';
import { defaults as lesson03 } from '../03-cluster/primary.ts';
import { isMain } from '../../lib/runtime.ts';

export const defaults = {
  workers: 2,
  rounds: 3, // each round stops every worker once
  connections: 8, // load loops, each sending one request after another on a fresh connection
  path: '/heavy', // a busy worker lets connections queue on its socket: the ones a close resets
  // Lesson 03 takes a worker that dies within minUptimeMs of listening for one that cannot start,
  // and gives up after a few: the roll stops a worker only once it has served a little longer.
  servedBeforeStopMs: lesson03.minUptimeMs + 500,
  namespacePrefix: 'every-core-09-', // then the pid of the run that owns it: a later run removes it if that pid is gone
  migrateSysctl: '/proc/sys/net/ipv4/tcp_migrate_req', // per network namespace, Linux 5.14+
};

const primary = 'lessons/09-reuseport/primary.ts';
const serverFile = 'worker.ts'; // what lesson 03's and lesson 09's workers run, each its own worker.ts
const insideMarker = 'EVERY_CORE_09_NAMESPACE'; // set on the run inside the namespace, to its name

const usage = `Usage: npx tsx lessons/09-reuseport/roll.ts [--tcp-migrate-req 0|1] [--rounds R] [--workers W]

  --tcp-migrate-req 0|1   run in a network namespace of its own, with net.ipv4.tcp_migrate_req set
                          to this inside it (needs root and iproute2's ip; the host's setting is not touched).
                          Without it: this machine's network, with its own tcp_migrate_req
  --rounds R              stop every worker R times (default ${defaults.rounds})
  --workers W             lesson 09's worker count (default ${defaults.workers})`;

if (isMain(import.meta.url)) await main(process.argv.slice(2));

async function main(argv: string[]): Promise<void> {
  const options = readArgs(argv);
  exitOnSignals(); // Ctrl+C ends the run through 'exit': the cluster it started, and its namespace, go with it
  if (options.migrate === undefined || process.env[insideMarker]) return void (await rollUnderLoad(options));
  try {
    process.exitCode = await inOwnNamespace(options.migrate, argv);
  } catch (error) {
    // An `ip` command that failed, and its own words why (the 'exit' handler removes what was made).
    process.exitCode = cannotStart((error as Error).message.trim().split('\n').join(': '));
  }
}

// ---- The roll: what runs in the namespace, or on this machine's network ----

async function rollUnderLoad({ rounds, workers }: { rounds: number; workers: number }): Promise<void> {
  say(`net.ipv4.tcp_migrate_req here: ${migrateSetting()}`);
  let cluster: Lesson | undefined;
  try {
    cluster = await launch(primary, { ready: /cluster ready/, env: { WORKERS: String(workers) } }, (started) => (cluster = started));
    say(`lesson 09 with ${workers} workers ready on ${cluster.url}; load: ${defaults.connections} loops of GET ${defaults.path}, a fresh connection each`);
    const total: LoadCount[] = [];
    const since = listeningSince(await pidsRunning(cluster.pid, serverFile));
    for (let round = 1; round <= rounds; round++) total.push(await roundUnderLoad(cluster, since, round, rounds));
    say(`all ${rounds} rounds, ${rounds * workers} workers replaced: ${describeCount(sumOf(total))}; tcp_migrate_req=${migrateSetting()}`);
  } catch (error) {
    process.exitCode = 1;
    console.error(`roll: ${(error as Error).message}`);
  } finally {
    await cluster?.stop();
  }
}

async function roundUnderLoad(cluster: Lesson, since: Map<number, number>, round: number, rounds: number): Promise<LoadCount> {
  const load = startLoad(`${cluster.url}${defaults.path}`, { connections: defaults.connections });
  const rolled = rollOnce(cluster, since).catch((error: Error) => error);
  const failure = await rolled;
  const count = await load.stop(); // a failed round still says what it counted
  say(`round ${round} of ${rounds}: ${describeCount(count)}`);
  if (failure) throw failure;
  return count;
}

async function rollOnce(cluster: Lesson, since: Map<number, number>): Promise<void> {
  for (const pid of await pidsRunning(cluster.pid, serverFile)) await replace(cluster, since, pid);
}

// When each worker was first seen listening (the workers of a cluster just ready: now, which is later).
function listeningSince(pids: number[]): Map<number, number> {
  return new Map(pids.map((pid) => [pid, performance.now()]));
}

// SIGTERM, once the worker has served servedBeforeStopMs: lesson 01's server drains for half a second,
// then closes its socket and exits; lesson 03 forks the replacement. Whatever was queued on the
// closed socket is reset, unless the kernel migrates it.
async function replace(cluster: Lesson, since: Map<number, number>, pid: number): Promise<void> {
  const servedMs = performance.now() - (since.get(pid) ?? performance.now());
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, defaults.servedBeforeStopMs - servedMs)));
  const mark = cluster.output().length;
  process.kill(pid, 'SIGTERM');
  await cluster.waitFor(new RegExp(`worker ${pid} died`), mark);
  const up = await cluster.waitFor(/worker (\d+) listening \(\d+ listening\)/, mark);
  since.set(Number(up[1]), performance.now());
  say(`stopped worker ${pid}; worker ${up[1]} listens in its place`);
}

function migrateSetting(): string {
  return existsSync(defaults.migrateSysctl) ? readFileSync(defaults.migrateSysctl, 'utf8').trim() : 'absent (Linux before 5.14)';
}

// ---- A network namespace of its own: created, used, removed whatever happens ----

async function inOwnNamespace(migrate: 0 | 1, argv: string[]): Promise<number> {
  const problem = namespaceProblem();
  if (problem) return cannotStart(problem);
  removeLeftovers();
  const name = `${defaults.namespacePrefix}${process.pid}`;
  ip('netns', 'add', name);
  // Registered before anything else can fail: a Ctrl+C (SIGINT ends this process) lands here too.
  process.once('exit', () => removeNamespace(name));
  ip('-n', name, 'link', 'set', 'lo', 'up');
  ip('netns', 'exec', name, 'sh', '-c', `echo ${migrate} > ${defaults.migrateSysctl}`);
  say(`network namespace ${name} created: loopback up, net.ipv4.tcp_migrate_req=${migrate} inside it only`);
  const inside = spawn('ip', ['netns', 'exec', name, process.execPath, ...process.execArgv, fileURLToPath(import.meta.url), ...argv], {
    env: { ...process.env, [insideMarker]: name },
    stdio: 'inherit',
  });
  const [code] = await once(inside, 'exit');
  return code ?? 1;
}

// Why this process cannot make a namespace, if it cannot: said before it tries.
export function namespaceProblem(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces are Linux's; this is ${process.platform}`;
  if (process.getuid?.() !== 0) return 'creating a network namespace needs root: run it with sudo, or leave out --tcp-migrate-req';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return "no `ip` command: install iproute2 (apt-get install -y iproute2), or leave out --tcp-migrate-req";
  }
  if (!existsSync(defaults.migrateSysctl)) return `${defaults.migrateSysctl} is missing: tcp_migrate_req needs Linux 5.14 or later`;
  return undefined;
}

// A run ended by kill -9 leaves its namespace (and lesson processes in it) behind: its owner pid is gone.
export function removeLeftovers(): void {
  for (const name of ownNamespaces()) {
    const owner = Number(name.slice(defaults.namespacePrefix.length));
    if (owner === process.pid || isAlive(owner)) continue;
    say(`removing ${name}, left behind by a run (pid ${owner}) that did not finish`);
    removeNamespace(name);
  }
}

export function ownNamespaces(): string[] {
  const listed = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return listed.split('\n').map((line) => line.split(' ')[0]).filter((name) => new RegExp(`^${defaults.namespacePrefix}\\d+$`).test(name));
}

// Synchronous, so that it also runs in an 'exit' handler. The processes still in it are this run's
// (the lesson and its load); they go first, by pid, or the namespace would outlive its name.
export function removeNamespace(name: string): void {
  try {
    const pids = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
    for (const pid of pids) killQuietly(pid);
    ip('netns', 'delete', name);
    say(`network namespace ${name} removed${pids.length ? ` (and the ${pids.length} processes left in it)` : ''}`);
  } catch (error) {
    console.error(`roll: could not remove network namespace ${name}: ${(error as Error).message.split('\n')[0]}; try: ip netns delete ${name}`);
  }
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // ESRCH: gone already
  }
}

// ---- Counting and saying ----

function sumOf(counts: LoadCount[]): LoadCount {
  const total: LoadCount = { requests: 0, failures: 0, retried: 0, non200: 0, errorCodes: {}, byPid: {} };
  for (const count of counts) {
    total.requests += count.requests;
    total.failures += count.failures;
    total.retried += count.retried;
    total.non200 += count.non200;
    for (const [code, n] of Object.entries(count.errorCodes)) total.errorCodes[code] = (total.errorCodes[code] ?? 0) + n;
  }
  return total;
}

function describeCount(count: LoadCount): string {
  const codes = Object.entries(count.errorCodes).map(([code, n]) => `${code} ${n}`).join(', ');
  const retried = count.retried > 0 ? `, ${count.retried} sent again after a keep-alive connection's idle close` : '';
  return `${count.requests} answered, ${count.failures} lost${codes ? ` (${codes})` : ''}${retried}, ${count.non200} non-200`;
}

function say(line: string): void {
  console.log(`[roll ${process.pid}] ${line}`);
}

function cannotStart(line: string): number {
  console.error(`roll: ${line}`);
  return 1;
}

function readArgs(argv: string[]): { migrate?: 0 | 1; rounds: number; workers: number } {
  const { values } = commandLine('roll', usage).parse(argv, { 'tcp-migrate-req': { type: 'string' }, rounds: { type: 'string' }, workers: { type: 'string' } });
  const raw = values['tcp-migrate-req'];
  if (raw !== undefined && raw !== '0' && raw !== '1') usageError(`--tcp-migrate-req must be 0 or 1, got ${JSON.stringify(raw)}`);
  return {
    migrate: raw === undefined ? undefined : raw === '1' ? 1 : 0,
    rounds: values.rounds === undefined ? defaults.rounds : wholeNumber('--rounds', values.rounds, usageError, 100),
    workers: values.workers === undefined ? defaults.workers : wholeNumber('--workers', values.workers, usageError, lesson03.maxWorkers),
  };
}

function usageError(problem: string): never {
  return commandLine('roll', usage).fail(problem);
}
