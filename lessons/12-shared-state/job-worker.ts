// A job worker: a process of its own that takes /heavy jobs off the queue in Redis and counts them.
// The primary (primary.ts) starts as many as JOB_WORKERS; it can run on another machine just as well,
// given REDIS_URL. Run one by hand:  REDIS_URL=redis://:<password>@127.0.0.1:<port> npx tsx lessons/12-shared-state/job-worker.ts

import { Worker, type Job } from 'bullmq';
import { connect, countInSlices, holding, jobDefaults, type HeavyJob, type HeavyResult } from './jobs.ts';
import { readSettings } from './policy.ts';
import { isMain } from '../../lib/runtime.ts';

const graceMs = 10_000; // asked to stop, it finishes its job first; still running after this: exit anyway

if (isMain(import.meta.url)) main();

// What it cannot run with gets one line and exit code 1, set and not forced with process.exit, so
// the module runs to its end in every process (and coverage sees alike the code after it).
function main(): void {
  if (!process.env.REDIS_URL) return refuse("set REDIS_URL to the Redis that holds the queue: for primary.ts's own, redis://:<requirepass in its folder's redis.conf>@127.0.0.1:<port>");
  const settings = readSettings(process.env);
  if ('problem' in settings) return refuse(settings.problem);
  runJobWorker(process.env.REDIS_URL, settings.jobLockS);
}

function refuse(problem: string): void {
  console.error(`job-worker: ${problem}`);
  process.exitCode = 1;
}

export function runJobWorker(url: string, jobLockS: number): void {
  const worker = new Worker<HeavyJob, HeavyResult>(jobDefaults.queue, count, {
    connection: connect(url),
    prefix: jobDefaults.prefix,
    concurrency: 1, // one count at a time: a process is one core
    ...holding(jobLockS),
  });
  worker.on('completed', (job) => log(`completed job ${job.id}`));
  worker.on('failed', (job, error) => log(`failed job ${job?.id}: ${error.message}`));
  worker.on('error', (error) => {
    log(`error: ${error.message}`);
    // Stopping, and Redis is gone (the primary stops it last): no job in hand can be reported now.
    if (isLeaving) process.exit(1);
  });
  const stop = () => void leave(worker);
  process.on('SIGINT', stop).on('SIGTERM', stop).on('disconnect', stop); // disconnect: the primary is gone
  worker.waitUntilReady().then(() => {
    log(`ready, its Redis at ${new URL(url).host}`);
    process.send?.('ready');
  });
}

// Logged here, not on 'active': a job stalled too often is made active and failed without being run.
async function count(job: Job<HeavyJob>): Promise<HeavyResult> {
  log(`started job ${job.id} (${job.data.loops} loops)`);
  return { total: await countInSlices(job.data.loops), pid: process.pid };
}

let isLeaving = false;

async function leave(worker: Worker): Promise<void> {
  if (isLeaving) return;
  isLeaving = true;
  log('stopping: finishing the job in hand, then exiting');
  setTimeout(() => process.exit(1), graceMs).unref();
  await worker.close();
  process.exit(0);
}

function log(line: string): void {
  console.log(`[job worker ${process.pid}] ${line}`);
}
