// Lesson 12: state and work that outlive a process. Starts a Redis of its own, JOB_WORKERS job workers
// (processes that count /heavy jobs from a BullMQ queue) and lesson 07's cluster of web workers, which
// count visits and limit clients in each worker's memory (/memory/...: the bug) or in Redis (/redis/...).
// Run it:  npx tsx lessons/12-shared-state/primary.ts      then: curl -i http://127.0.0.1:3000/redis/visit
// --job-hosts N runs the job workers in N network namespaces instead (lesson 10's hosts; root).

import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { findExecutable } from '../../lib/launch.ts';
import { commandLine, wholeNumber } from '../../lib/options.ts';
import { startZeroDowntime } from '../07-zero-downtime/primary.ts';
import { jobHostDefaults, jobHostsProblem, makeJobHosts, type JobHost, type JobHosts } from './job-hosts.ts';
import { readSettings, type Settings } from './policy.ts';
import { redisServerProblem, startRedis, type Redis } from './redis.ts';
import { isMain } from '../../lib/runtime.ts';

const defaults = {
  workerFile: fileURLToPath(new URL('./worker.ts', import.meta.url)),
  jobWorkerFile: fileURLToPath(new URL('./job-worker.ts', import.meta.url)),
  firstRespawnMs: 100, // a job worker that died is replaced after this, twice as long each time in a row...
  maxRespawnMs: 5_000, // ...but never longer than this
  steadyMs: 10_000, // one that ran this long resets the wait
};

const usage = `Usage: [sudo] npx tsx lessons/12-shared-state/primary.ts [--job-hosts N]

  --job-hosts N        the job workers run in N network namespaces (lesson 10's hosts), JOB_WORKERS in each,
                       reaching Redis over their veth; needs Linux, root and ip (at most ${jobHostDefaults.maxHosts})
  Its other settings come from the environment:
  LIMIT=10 WINDOW=10   /redis/limited lets a client make LIMIT requests per WINDOW seconds (/memory/limited: per worker)
  JOB_WORKERS=<CPUs>   processes that count /heavy jobs
  MAX_QUEUED=100       /heavy jobs waiting at most; one more gets 503 with Retry-After
  ANSWER_WITHIN=30     seconds /heavy waits for its job before it answers 202 and the job's URL
  JOB_LOCK=4           seconds a job worker's lock on its job lasts unrenewed: a killed one's job comes back after it
  REDIS_URL=...        use this Redis instead of starting one
  WORKERS, PORT        as lesson 03: web workers, and their port
  Signals: kill -USR2 <pid> rolls the web workers; Ctrl+C stops everything, Redis last.`;

const jobWorkers = new Set<ChildProcess>();
let isStopping = false;

if (isMain(import.meta.url)) {
  const { parse, fail } = commandLine('primary', usage);
  const { values } = parse(process.argv.slice(2), { 'job-hosts': { type: 'string' } });
  const raw = values['job-hosts'];
  await main(raw === undefined ? 0 : wholeNumber('--job-hosts', raw, fail, jobHostDefaults.maxHosts));
}

async function main(jobHostCount: number): Promise<void> {
  const settings = readSettings(process.env);
  if ('problem' in settings) exitWith(settings.problem);
  const ip = jobHostCount > 0 ? toolsForJobHosts() : '';
  // Installed before anything starts: a stop while Redis starts still removes it. Lesson 03's
  // handlers, added later, drain the web workers.
  process.on('SIGINT', stopJobWorkers).on('SIGTERM', stopJobWorkers);
  const jobHosts = jobHostCount > 0 ? await makeJobHosts(jobHostCount, ip, log).catch((error) => exitWith(`cannot make the job hosts: ${error.message}`)) : undefined;
  const redis = await ownOrGivenRedis(jobHosts).catch(async (error) => {
    await jobHosts?.remove();
    return exitWith(error.message);
  });
  process.once('exit', () => redis.stopNow()); // a safety net: tearDown() stops it, last
  // Once the web workers have drained (or before they start): the job workers, their hosts, Redis.
  const tearDown = async () => {
    stopJobWorkers();
    await Promise.all([...jobWorkers].map((child) => once(child, 'exit')));
    await jobHosts?.remove();
    await redis.stop();
    log(`stopped: job workers, ${jobHosts ? 'job hosts, ' : ''}Redis and its folder`);
    return 0;
  };
  if (isStopping) process.exit(await tearDown());
  process.env.REDIS_URL = redis.url; // the web workers and job workers on this machine inherit it
  // JOB_WORKERS on this machine, or JOB_WORKERS in each job host.
  const places: (Where | undefined)[] = jobHosts ? jobHosts.hosts.map((host) => ({ host, jobHosts, url: redisUrlFrom(redis.url, host) })) : [undefined];
  await Promise.all(places.flatMap((where) => Array.from({ length: (settings as Settings).jobWorkers }, () => startJobWorker(0, where))));
  if (isStopping) process.exit(await tearDown());
  log(`${jobWorkers.size} job workers ready; forking the web workers`);
  startZeroDowntime({ workerFile: defaults.workerFile }, [{ stop: tearDown }]);
}

async function ownOrGivenRedis(jobHosts: JobHosts | undefined): Promise<Redis> {
  const given = process.env.REDIS_URL;
  if (given && jobHosts) throw new Error('--job-hosts starts a Redis of its own, bound to the job hosts\' veths: unset REDIS_URL');
  if (given) {
    log(`using the Redis at REDIS_URL (${given.replace(/\/\/[^@]*@/, '//***@')})`);
    return { url: given, stop: async () => {}, stopNow: () => {} };
  }
  const problem = redisServerProblem();
  if (problem) throw new Error(problem);
  const gateways = jobHosts?.hosts.map((host) => host.gateway) ?? [];
  const redis = await startRedis({ bind: ['127.0.0.1', ...gateways] }).catch((error) => Promise.reject(new Error(`cannot start redis-server: ${error.message}`)));
  const where = ['127.0.0.1', ...gateways].map((address) => `${address}:${new URL(redis.url).port}`).join(', ');
  log(`redis-server ${redis.pid} listening on ${where}, its folder ${redis.dir}, a password of this run's own`);
  for (const host of jobHosts?.hosts ?? []) log(`job host ${host.name}: namespace ${host.namespace}, address ${host.address}, its Redis over its veth at ${host.gateway}`);
  return redis;
}

function toolsForJobHosts(): string {
  const ip = findExecutable('ip');
  const problem = jobHostsProblem({ platform: process.platform, uid: process.getuid?.(), ip });
  return problem ? exitWith(problem) : ip!;
}

// The same Redis, as a job host reaches it: at this machine's end of the host's veth.
function redisUrlFrom(url: string, host: JobHost): string {
  const there = new URL(url);
  there.hostname = host.gateway;
  return there.href;
}

// ---- Job workers: plain child processes (not cluster workers: they listen on no port) ----

// `where`: a job host, and the Redis URL as seen from there; none: this machine.
interface Where {
  host: JobHost;
  jobHosts: JobHosts;
  url: string;
}

function startJobWorker(diedInARow: number, where?: Where): Promise<void> {
  const inHost = where ? { ...where.jobHosts.inside(where.host), env: { ...process.env, REDIS_URL: where.url } } : {};
  const child = fork(defaults.jobWorkerFile, { stdio: 'inherit', ...inHost });
  jobWorkers.add(child);
  const startedAt = Date.now();
  child.once('exit', (code, signal) => {
    jobWorkers.delete(child);
    if (isStopping) return;
    const inARow = Date.now() - startedAt < defaults.steadyMs ? diedInARow + 1 : 1;
    const delayMs = Math.min(defaults.maxRespawnMs, defaults.firstRespawnMs * 2 ** (inARow - 1));
    log(`job worker ${child.pid} died (${signal ? `signal ${signal}` : `exit code ${code}`}): its job goes back to the queue once its lock runs out; a new job worker in ${delayMs} ms`);
    setTimeout(() => isStopping || void startJobWorker(inARow, where), delayMs);
  });
  return new Promise((resolve) => {
    child.once('message', () => resolve());
    child.once('exit', () => resolve());
  });
}

function stopJobWorkers(): void {
  if (isStopping) return;
  isStopping = true;
  for (const child of jobWorkers) child.kill('SIGTERM'); // each finishes its job in hand first
}

function log(line: string): void {
  console.log(`[primary ${process.pid}] ${line}`);
}

function exitWith(line: string): never {
  console.error(`[primary ${process.pid}] ${line}`);
  process.exit(1);
}
