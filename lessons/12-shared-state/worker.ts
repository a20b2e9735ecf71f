// Lesson 12's web worker, one per CPU in lesson 07's cluster (primary.ts forks it). /memory/visit and
// /memory/limited count and limit in this worker's memory: the bug. /redis/visit and /redis/limited do
// the same in Redis: the fix. /heavy hands its count to the job workers through a BullMQ queue.

import type { Job, Queue, QueueEvents } from 'bullmq';
import type http from 'node:http';
import { Redis as Client } from 'ioredis';
import { readLoops } from '../01-single-process/heavy.ts';
import { exitWith, reply, type Target } from '../01-single-process/server.ts';
import { runWorker } from '../03-cluster/cluster-worker.ts';
import { connect, jobDefaults, type HeavyJob, type HeavyResult } from './jobs.ts';
import { admit, readSettings, verdict, type Settings } from './policy.ts';
import { memoryStore, redisStore, type Store } from './store.ts';

interface Parts {
  settings: Settings;
  stores: Record<Store['name'], Store>;
  queue: Queue<HeavyJob, HeavyResult>;
  events: QueueEvents;
  fromId: typeof Job.fromId<HeavyJob, HeavyResult>;
  clients: Client[];
}

const settings = readSettings(process.env);
if ('problem' in settings) exitWith(settings.problem); // the primary has checked them already
if (!process.env.REDIS_URL) exitWith('REDIS_URL is not set: run primary.ts, which starts a Redis and sets it');
// Listening first, Redis and BullMQ meanwhile: loading BullMQ alone takes seconds on a busy machine,
// and a worker must listen within lesson 03's listen timeout. `/` answers at once; a route that
// needs Redis waits until it is reached (one that finds no Redis gets 503).
const parts = connectAll(settings as Settings, process.env.REDIS_URL!);
parts.catch((error) => console.error(`[pid ${process.pid}] cannot reach Redis: ${error.message}`));
// Lesson 03's worker, with these routes: lesson 01's server, its stop and its leaving the cluster;
// the Redis connections close once it has answered everything.
runWorker({ handle: (req, res, target) => void answer(req, res, target), beforeLeaving: disconnectAll });

async function connectAll(settings: Settings, url: string): Promise<Parts> {
  const redis = new Client(url); // fails a command after a few retries: a request gets 503, not a hang
  const blocking = connect(url); // QueueEvents blocks on Redis streams
  const { Job, Queue, QueueEvents } = await import('bullmq');
  const queue = new Queue<HeavyJob, HeavyResult>(jobDefaults.queue, {
    connection: redis,
    prefix: jobDefaults.prefix,
    defaultJobOptions: { removeOnComplete: jobDefaults.keep, removeOnFail: jobDefaults.keep },
  });
  const events = new QueueEvents(jobDefaults.queue, { connection: blocking, prefix: jobDefaults.prefix });
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  const fromId = (queue: Queue<HeavyJob, HeavyResult>, id: string) => Job.fromId<HeavyJob, HeavyResult>(queue, id);
  return { settings, stores: { memory: memoryStore(), redis: redisStore(redis) }, queue, events, fromId, clients: [redis, blocking] };
}

async function answer(req: http.IncomingMessage, res: http.ServerResponse, { path, query }: Target): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, `Method ${req.method} not allowed: use GET`, { allow: 'GET, HEAD' });
  try {
    if (path === '/') return reply(res, 200, `Served by pid ${process.pid}`);
    const [, where, what] = /^\/(memory|redis)\/(visit|limited)$/.exec(path) ?? [];
    if (what === 'visit') return await visit(res, (await parts).stores[where as Store['name']]);
    if (what === 'limited') return await limited(req, res, (await parts).stores[where as Store['name']], (await parts).settings);
    if (path === '/heavy') return await heavy(res, await parts, new URLSearchParams(query).get('n'));
    if (path.startsWith('/jobs/')) return await jobResult(res, await parts, path.slice('/jobs/'.length));
    reply(res, 404, 'Not found: try /, /redis/visit, /redis/limited, /memory/visit, /memory/limited, /heavy or /jobs/<id>');
  } catch (error) {
    reply(res, 503, `Redis did not answer (${(error as Error).message}): try again`, { 'retry-after': '1' });
  }
}

async function visit(res: http.ServerResponse, store: Store): Promise<void> {
  const count = await store.visit();
  reply(res, 200, `Visit ${count}, counted in ${store.name} by pid ${process.pid}`, { 'x-visit': String(count) });
}

// Per client address: all of a test's requests come from 127.0.0.1, as one client.
async function limited(req: http.IncomingMessage, res: http.ServerResponse, store: Store, settings: Settings): Promise<void> {
  const { count, msLeft } = await store.hit(req.socket.remoteAddress ?? 'unknown', settings.windowS * 1000);
  const { isAllowed, remaining, retryAfterS } = verdict(count, msLeft, settings.limit);
  const headers = { 'x-ratelimit-limit': String(settings.limit), 'x-ratelimit-remaining': String(remaining) };
  if (isAllowed) return reply(res, 200, `Allowed: request ${count} of ${settings.limit} in this ${settings.windowS} s window, counted in ${store.name}`, headers);
  reply(res, 429, `Too many requests: ${settings.limit} per ${settings.windowS} s; try again in ${retryAfterS} s`, { ...headers, 'retry-after': String(retryAfterS) });
}

// The job is added, then waited for: the answer is lesson 01's, so every load test and comparison
// works unchanged. A job not done within ANSWER_WITHIN gets 202 and its URL; it is not lost.
async function heavy(res: http.ServerResponse, { queue, events, settings }: Parts, raw: string | null): Promise<void> {
  const n = readLoops(raw);
  if ('reason' in n) return reply(res, 400, n.reason);
  const job = await admitAndAdd(queue, settings.maxQueued, n.loops);
  if ('retryAfterS' in job) {
    return reply(res, 503, `Queue full: ${settings.maxQueued} jobs waiting; try again in ${job.retryAfterS} s`, { 'retry-after': String(job.retryAfterS) });
  }
  try {
    const result = await job.waitUntilFinished(events, settings.answerWithinS * 1000);
    reply(res, 200, `The result of the CPU intensive task is ${result.total}`, { 'x-job-id': job.id!, 'x-job-worker-pid': String(result.pid) });
  } catch (error) {
    if (!/timed out before finishing/.test((error as Error).message)) return failedJob(res, job.id!, (error as Error).message);
    reply(res, 202, `Job ${job.id} is not done after ${settings.answerWithinS} s: GET /jobs/${job.id} for its result`, { location: `/jobs/${job.id}`, 'x-job-id': job.id! });
  }
}

// One admission at a time in this worker: a count and an add of another request cannot slip in
// between this one's, so the queue never holds more than maxQueued plus one per web worker.
let admissions: Promise<unknown> = Promise.resolve();

function admitAndAdd(queue: Parts['queue'], maxQueued: number, loops: number): Promise<Job<HeavyJob, HeavyResult> | { retryAfterS: number }> {
  const next = admissions.then(async () => {
    const admission = admit(await queue.getWaitingCount(), maxQueued);
    return admission.isAdmitted ? queue.add('count', { loops }) : { retryAfterS: admission.retryAfterS };
  });
  admissions = next.catch(() => undefined);
  return next;
}

async function jobResult(res: http.ServerResponse, { queue, fromId }: Parts, id: string): Promise<void> {
  if (!/^[1-9]\d{0,15}$/.test(id)) return reply(res, 400, `A job id is a whole number, got ${JSON.stringify(id.slice(0, 20))}`);
  const job = await fromId(queue, id);
  if (!job) return reply(res, 404, `No job ${id}: finished jobs are kept ${jobDefaults.keep.age} s`);
  const state = await job.getState();
  if (state === 'completed') return reply(res, 200, `The result of the CPU intensive task is ${job.returnvalue.total}`, { 'x-job-id': id, 'x-job-worker-pid': String(job.returnvalue.pid) });
  if (state === 'failed') return failedJob(res, id, job.failedReason);
  reply(res, 202, `Job ${id} is ${state}: ask again`, { 'retry-after': '1' });
}

// 502: the web worker is a gateway to the job workers, and the job worker's side failed. The job
// stays in the queue's failed set (removeOnFail keeps it), for someone to see why.
function failedJob(res: http.ServerResponse, id: string, reason: string): void {
  reply(res, 502, `Job ${id} failed: ${reason}; GET /jobs/${id} shows it again`, { 'x-job-id': id });
}

// ---- Leaving: the Redis connections, once the server has answered everything ----

async function disconnectAll(): Promise<void> {
  const connected = await parts.catch(() => undefined);
  if (!connected) return;
  await Promise.allSettled([connected.events.close(), connected.queue.close()]);
  connected.clients.forEach((client) => client.disconnect());
}
