// Lesson 12: state and work that outlive a process. Starts a Redis of its own, JOB_WORKERS job workers
// (processes that count /heavy jobs from a BullMQ queue) and lesson 07's cluster of web workers, which
// count visits and limit clients in each worker's memory (/memory/...: the bug) or in Redis (/redis/...).
// Run it:  npx tsx lessons/12-shared-state/primary.ts      then: curl -i http://127.0.0.1:3000/redis/visit

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { commandLine } from '../../lib/options.ts';
import { startZeroDowntime } from '../07-zero-downtime/primary.ts';
import { readSettings, type Settings } from './policy.ts';
import { redisServerProblem, startRedis, type Redis } from './redis.ts';

const defaults = {
  workerFile: fileURLToPath(new URL('./worker.ts', import.meta.url)),
  jobWorkerFile: fileURLToPath(new URL('./job-worker.ts', import.meta.url)),
  firstRespawnMs: 100, // a job worker that died is replaced after this, twice as long each time in a row...
  maxRespawnMs: 5_000, // ...but never longer than this
  steadyMs: 10_000, // one that ran this long resets the wait
};

const usage = `Usage: npx tsx lessons/12-shared-state/primary.ts

  It takes no options; its settings come from the environment:
  LIMIT=10 WINDOW=10   /redis/limited lets a client make LIMIT requests per WINDOW seconds (/memory/limited: per worker)
  JOB_WORKERS=<CPUs>   processes that count /heavy jobs
  MAX_QUEUED=100       /heavy jobs waiting at most; one more gets 503 with Retry-After
  ANSWER_WITHIN=30     seconds /heavy waits for its job before it answers 202 and the job's URL
  REDIS_URL=...        use this Redis instead of starting one
  WORKERS, PORT        as lesson 03: web workers, and their port
  Signals: kill -USR2 <pid> rolls the web workers; Ctrl+C stops everything, Redis last.`;

const jobWorkers = new Set<ChildProcess>();
let isStopping = false;

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  commandLine('primary', usage).parse(process.argv.slice(2), {});
  await main();
}

async function main(): Promise<void> {
  const settings = readSettings(process.env);
  if ('problem' in settings) exitWith(settings.problem);
  // Installed before anything starts: a stop while Redis starts still removes it. Lesson 03's
  // handlers, added later, drain the web workers.
  process.on('SIGINT', stopJobWorkers).on('SIGTERM', stopJobWorkers);
  const redis = await ownOrGivenRedis();
  process.once('exit', () => redis.stopNow()); // last, once the cluster has drained: Redis goes with the run
  if (isStopping) process.exit(0);
  process.env.REDIS_URL = redis.url; // the web workers and job workers inherit it
  await Promise.all(Array.from({ length: (settings as Settings).jobWorkers }, () => startJobWorker(0)));
  if (isStopping) process.exit(0);
  log(`${jobWorkers.size} job workers ready; forking the web workers`);
  startZeroDowntime({ workerFile: defaults.workerFile });
}

async function ownOrGivenRedis(): Promise<Redis> {
  const given = process.env.REDIS_URL;
  if (given) {
    log(`using the Redis at REDIS_URL (${given.replace(/\/\/[^@]*@/, '//***@')})`);
    return { url: given, stop: async () => {}, stopNow: () => {} };
  }
  const problem = redisServerProblem();
  if (problem) exitWith(problem);
  try {
    const redis = await startRedis();
    log(`redis-server ${redis.pid} listening on 127.0.0.1:${new URL(redis.url).port}, its folder ${redis.dir}, a password of this run's own`);
    return redis;
  } catch (error) {
    return exitWith(`cannot start redis-server: ${(error as Error).message}`);
  }
}

// ---- Job workers: plain child processes (not cluster workers: they listen on no port) ----

function startJobWorker(diedInARow: number): Promise<void> {
  const child = fork(defaults.jobWorkerFile, { stdio: 'inherit' });
  jobWorkers.add(child);
  const startedAt = Date.now();
  child.once('exit', (code, signal) => {
    jobWorkers.delete(child);
    if (isStopping) return;
    const inARow = Date.now() - startedAt < defaults.steadyMs ? diedInARow + 1 : 1;
    const delayMs = Math.min(defaults.maxRespawnMs, defaults.firstRespawnMs * 2 ** (inARow - 1));
    log(`job worker ${child.pid} died (${signal ? `signal ${signal}` : `exit code ${code}`}): its job goes back to the queue once its lock runs out; a new job worker in ${delayMs} ms`);
    setTimeout(() => isStopping || void startJobWorker(inARow), delayMs);
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
