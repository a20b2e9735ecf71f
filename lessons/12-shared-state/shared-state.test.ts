import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { alivePids, endWithLessons, get, heavyLoops, isBun, launch, removeLeftoversWhenGone, removeWhenGone, signalAtLine, start, waitUntil, type Lesson, type Reply } from '../../lib/harness.ts';
import { connect, jobDefaults, type HeavyJob, type HeavyResult } from './jobs.ts';
import { cleanLeftovers, redisDefaults, redisServerProblem, startRedis } from './redis.ts';

const primary = 'lessons/12-shared-state/primary.ts';
const ready = /cluster ready: \d+ workers? listening/;
const workerCount = 2;
const limit = 5;
const maxLoops = heavyLoops(100_000_000); // a long /heavy: long enough to be killed in the middle
const noRedis = redisServerProblem();
const bunResetsQueued =
  "Bun: as in lesson 07, its workers each listen with SO_REUSEPORT, and Linux resets the connections still queued on a " +
  "listener when it closes, so an old worker's exit resets a fresh connection or two (seen: 1 read ECONNRESET in a roll)";
// Each wait's bound: a roll starts two workers, each through tsx, on a busy 2-core machine.
const limitMs = 60_000;
// Never a Redis of the machine's: each run starts its own, and its counts start at 0.
// The poison job: any job worker that starts counting this many loops kills itself with SIGKILL
// (the harness's signalAtLine, set in this test's environment only: no code of the lesson does it,
// no client of a learner's run can ask for it). Node only: Bun reads no --import from NODE_OPTIONS.
const poisonLoops = 4_444_444;
const poison = isBun ? {} : signalAtLine(`(${poisonLoops} loops)`, 'SIGKILL');
const noSignalAtLine = 'the harness\'s signalAtLine, an --import in NODE_OPTIONS, which Bun does not read';
const noPoison = `Bun: the poison job is made by ${noSignalAtLine}`;
// The README's figure: a job is failed once its job worker has died 3 times (maxStalledCount 2).
const deathsBeforeFailed = 3;
// Locks of 2 s (JOB_LOCK), not 4: a killed job worker's job comes back sooner, and each test waits less.
const env = { WORKERS: String(workerCount), JOB_WORKERS: '2', MAX_QUEUED: '4', LIMIT: String(limit), WINDOW: '600', ANSWER_WITHIN: '300', REDIS_URL: '', JOB_LOCK: '2', ...poison };

// One lesson for the whole describe (each start costs seconds): started in before(), stopped (with
// its Redis) in after(). The tests run in order; each says what it takes from those before it.
function lessonForAll(moreEnv: Record<string, string> = {}): () => Lesson {
  let lesson: Lesson | undefined;
  before(async () => {
    lesson = await launch(primary, { ready, env: { ...env, ...moreEnv }, limitMs }, (started) => (lesson = started));
  });
  after(() => lesson?.stop());
  return () => lesson!;
}

async function gets(url: string, count: number): Promise<Reply[]> {
  const replies: Reply[] = [];
  for (let i = 0; i < count; i++) replies.push(await get(url));
  return replies;
}

const visitNumbers = (replies: Reply[]) => replies.map((reply) => Number(reply.headers['x-visit']));

function byPid(replies: Reply[]): Map<number, Reply[]> {
  const groups = new Map<number, Reply[]>();
  for (const reply of replies) groups.set(reply.pid, [...(groups.get(reply.pid) ?? []), reply]);
  return groups;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

// The lesson's own tests, in order; beside them the poison job and measure.ts, each with lessons of its
// own (its own Redis too), so they wait for none of them.
// A job worker run by hand (its opening comment says how) checks what it is given before it connects.
describe("lesson 12's job worker, run by hand with what it cannot run with", { concurrency: true }, () => {
  const jobWorker = 'lessons/12-shared-state/job-worker.ts';
  for (const [env, line] of [
    [{ REDIS_URL: '' }, /^job-worker: set REDIS_URL to the Redis that holds the queue: for primary\.ts's own, redis:\/\/:<requirepass in its folder's redis\.conf>@127\.0\.0\.1:<port>\n$/],
    [{ REDIS_URL: 'redis://127.0.0.1:1', JOB_LOCK: '0' }, /^job-worker: JOB_LOCK must be a whole number from 1 to 600, got "0": try JOB_LOCK=4\n$/],
  ] as const) {
    test(`${Object.keys(env).at(-1)} ${env.REDIS_URL ? 'out of range' : 'unset'}: one line that says what to set, and exit 1`, async (t) => {
      const run = await start(t, jobWorker, { ready: false, env, limitMs: 10_000 });
      assert.deepEqual(await run.exited, { code: 1, signal: null }, run.output());
      assert.match(run.output(), line);
    });
  }
});

describe('lesson 12', { skip: noRedis ?? false, concurrency: true }, () => {
  // A test run ended by Ctrl+C or kill -9 ends its lessons with SIGKILL, and their Redis folders stay:
  // the harness's guardian removes them once this process is gone. A run that ends well removes them
  // itself (cleanLeftovers(), below), and takes the request back.
  let keepLeftovers = () => {};
  before(() => void (keepLeftovers = removeLeftoversWhenGone(os.tmpdir(), redisDefaults.prefix)));
  after(() => keepLeftovers());

  describe('lesson 12: state and work that outlive a process', { concurrency: 1 }, () => {
    test('without redis-server it says which package to install, in one line, and exits 1', async (t) => {
      const lesson = await launch(primary, { ready: false, env: { ...env, PATH: '/nonexistent' } }, (started) => t.after(() => started.stop()));
      assert.deepEqual(await lesson.exited, { code: 1, signal: null });
      assert.match(lesson.output(), /^\[primary \d+\] redis-server not found: install it \(sudo apt-get install redis-server, .*\n$/);
    });

    const lesson = lessonForAll();
    // A stopped lesson is killed with SIGKILL, as a crashed run is: its folder is left for the next
    // run, and for this, to remove. Registered after lessonForAll()'s stop, so it runs after it.
    after(() => cleanLeftovers());

    test(`in memory, with ${workerCount} workers a client gets its limit from each worker: about ${workerCount} times the limit`, async () => {
      const replies = await gets(`${lesson().url}/memory/limited`, 4 * limit * workerCount);
      const allowed = replies.filter((reply) => reply.status === 200).length;
      const perWorker = [...byPid(replies).values()].map((served) => Math.min(served.length, limit));
      assert.equal(byPid(replies).size, workerCount, 'every worker took some of the requests');
      assert.equal(allowed, perWorker.reduce((sum, n) => sum + n, 0), 'each worker let `limit` through of its own share');
      assert.ok(allowed > limit, `${allowed} allowed: more than the limit of ${limit}`);
    });

    test('in memory, visit numbers repeat: each worker counts 1, 2, 3 ... on its own, interleaved', async () => {
      const replies = await gets(`${lesson().url}/memory/visit`, 6 * workerCount);
      for (const [pid, served] of byPid(replies)) assert.deepEqual(visitNumbers(served), range(1, served.length), `worker ${pid}'s own series`);
      assert.ok(new Set(visitNumbers(replies)).size < replies.length, `numbers repeat: ${visitNumbers(replies)}`);
    });

    test(`in Redis, with ${workerCount} workers a client gets exactly its limit, then 429 with Retry-After`, async () => {
      const replies = await gets(`${lesson().url}/redis/limited`, 4 * limit * workerCount);
      assert.equal(byPid(replies).size, workerCount, 'every worker took some of the requests');
      assert.deepEqual(replies.map((reply) => reply.status), [...Array(limit).fill(200), ...Array(replies.length - limit).fill(429)]);
      assert.ok(replies.slice(limit).every((reply) => Number(reply.headers['retry-after']) >= 1));
    });

    test('in Redis, visits count 1, 2, 3 ... with no gap and no repeat, whichever worker answers', async () => {
      const replies = await gets(`${lesson().url}/redis/visit`, 6 * workerCount);
      assert.equal(byPid(replies).size, workerCount, 'every worker took some of the requests');
      assert.deepEqual(visitNumbers(replies), range(1, replies.length));
    });

    test('in Redis, the count carries on through a rolling restart under load: no gap, no repeat, no request lost', { skip: isBun ? bunResetsQueued : false }, async (t) => {
      const before = Number((await get(`${lesson().url}/redis/visit`)).headers['x-visit']);
      const mark = lesson().output().length;
      const load = startLoops(t, `${lesson().url}/redis/visit`, 4);
      // Lesson 07 stops a roll whose new worker is not listening within 10 s, which a machine busy
      // enough can cause: then roll again, at most 3 times.
      for (let roll = 1, from = mark; ; roll++, from = lesson().output().length) {
        process.kill(lesson().pid, 'SIGUSR2');
        const [, outcome] = await lesson().waitFor(/rolling restart (done|stopped): .*\n/, from);
        if (outcome === 'done') break;
        assert.ok(roll < 3, `3 rolls in a row stopped:\n${lesson().output().slice(mark)}`);
      }
      const { replies, failures } = await load.stop();
      assert.deepEqual(failures, [], 'every request got an answer');
      const numbers = visitNumbers(replies).sort((a, b) => a - b);
      assert.deepEqual(numbers, range(before + 1, before + replies.length), 'the numbers during the roll follow on, each once');
      assert.ok(byPid(replies).size > workerCount, `old and new workers answered: ${[...byPid(replies).keys()]}`);
    });

    test("/heavy answers with lesson 01's result, counted in a job worker, not in the web worker", async () => {
      const reply = await get(`${lesson().url}/heavy?n=1234567`);
      assert.equal(reply.status, 200);
      assert.equal(reply.body, 'The result of the CPU intensive task is 1234567\n');
      assert.notEqual(Number(reply.headers['x-job-worker-pid']), reply.pid);
      assert.equal((await get(`${lesson().url}/heavy?n=0x10`)).status, 400);
    });

    test('a job that is done can be read again at /jobs/<id>; an id that is no number gets 400, an unknown one or path 404', async () => {
      const counted = await get(`${lesson().url}/heavy?n=4321`);
      const id = String(counted.headers['x-job-id']);
      const again = await get(`${lesson().url}/jobs/${id}`);
      assert.equal(again.status, 200);
      assert.equal(again.body, 'The result of the CPU intensive task is 4321\n');
      assert.equal(again.headers['x-job-worker-pid'], counted.headers['x-job-worker-pid']);
      const bad = await get(`${lesson().url}/jobs/0x10`);
      assert.equal(bad.status, 400);
      assert.equal(bad.body, 'A job id is a whole number, got "0x10"\n');
      assert.match((await get(`${lesson().url}/jobs/999999999`)).body, /^No job 999999999: finished jobs are kept \d+ s\n$/);
      assert.equal((await get(`${lesson().url}/jobs/999999999`)).status, 404);
      assert.equal((await get(`${lesson().url}/nope`)).status, 404);
    });

    test('a full queue answers 503 with Retry-After, and every job it took is answered', async () => {
      const replies = await Promise.all(Array.from({ length: 16 }, () => get(`${lesson().url}/heavy?n=${maxLoops}`)));
      const refused = replies.filter((reply) => reply.status === 503);
      assert.ok(refused.length > 0, 'some were refused');
      assert.ok(refused.every((reply) => reply.headers['retry-after'] === '1' && /^Queue full/.test(reply.body)), refused[0]?.body);
      assert.ok(replies.every((reply) => reply.status === 503 || reply.status === 200), `statuses: ${replies.map((r) => r.status)}`);
    });

    test('kill -9 of job workers in the middle of their jobs, again and again under load: 0 jobs lost, none done twice, / still answers', async (t) => {
      const mark = lesson().output().length;
      const load = startLoops(t, `${lesson().url}/heavy?n=${maxLoops}`, 3);
      const killed: { pid: number; job: string }[] = [];
      for (let round = 0; round < 2; round++) {
        const victim = await jobInHand(lesson(), mark, killed);
        process.kill(victim.pid, 'SIGKILL');
        killed.push(victim);
        assert.equal((await get(`${lesson().url}/`)).status, 200);
      }
      // stop() waits for the requests in flight: the last victim's job among them, done by another job
      // worker once its lock has run out.
      const { replies, failures } = await load.stop();
      assert.deepEqual(failures, [], 'every request got an answer');
      assert.ok(replies.every((reply) => reply.status === 200 && reply.body === `The result of the CPU intensive task is ${maxLoops}\n`), `statuses: ${replies.map((r) => r.status)}`);
      const jobIds = replies.map((reply) => String(reply.headers['x-job-id']));
      // A kill can land just after a job was done (its reply names the victim, which counted it), even
      // between its end in Redis and its "completed" line, which then never comes: those jobs are not
      // killed in the middle, and have at most that one line.
      const doneByVictim = new Set(replies.filter((reply) => killed.some(({ pid, job }) => reply.headers['x-job-id'] === job && Number(reply.headers['x-job-worker-pid']) === pid)).map((reply) => String(reply.headers['x-job-id'])));
      // A client can have its answer before the job worker's "completed" line has reached this process.
      for (const id of jobIds) if (!doneByVictim.has(id)) await lesson().waitFor(new RegExp(`\\] completed job ${id}\\n`), mark);
      const log = lesson().output().slice(mark);
      assert.equal(new Set(jobIds).size, jobIds.length, 'no two answers for one job');
      for (const id of jobIds) {
        const lines = log.match(new RegExp(`\\] completed job ${id}\\n`, 'g'))?.length ?? 0;
        assert.ok(lines === 1 || (lines === 0 && doneByVictim.has(id)), `job ${id} completed once (${lines} completed lines)`);
      }
      assert.doesNotMatch(log, /\] failed job/, 'no job failed, none lost its lock while it ran');
      const midJob = killed.filter(({ pid, job }) => !log.includes(`[job worker ${pid}] completed job ${job}\n`) && !doneByVictim.has(job));
      assert.ok(midJob.length > 0, 'at least one kill landed in the middle of a job');
      for (const { pid, job } of midJob) {
        const reply = replies.find((r) => r.headers['x-job-id'] === job);
        assert.ok(reply, `job ${job}, killed in the middle, was answered`);
        assert.notEqual(Number(reply.headers['x-job-worker-pid']), pid, `job ${job} was done again, by another job worker than ${pid}`);
      }
    });

    // A run of its own, not the one above: a process killed with SIGKILL writes no coverage, and the
    // one above did all the rest (npm run coverage). It runs beside that one, whose folder stays.
    // Its TMPDIR is its own: every lesson 12 start cleans up after killed runs, and one started beside
    // this test (this file's measure.ts and poison runs, lesson 12's other test file) stopped this
    // Redis before the test could see it running (seen in CI, under coverage).
    test("a kill -9 of the primary leaves its Redis running, and the next run stops it and removes its folder", async (t) => {
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'every-core-12-tmp-'));
      t.after(removeWhenGone(tmp));
      let redisPid = 0;
      // Not by cleanLeftovers() alone, which is under test here: its Redis by pid too.
      t.after(async () => {
        cleanLeftovers(tmp);
        if (redisPid > 0 && (await alivePids([redisPid])).length > 0) process.kill(redisPid, 'SIGKILL');
        fs.rmSync(tmp, { recursive: true, force: true });
      });
      const killed = await launch(primary, { ready, env: { ...env, TMPDIR: tmp }, limitMs }, (started) => t.after(() => started.stop()));
      const { pid, folder } = redisOf(killed);
      redisPid = pid;
      t.after(endWithLessons(redisPid)); // once its primary is killed, the Redis is nobody's: ended with this run
      assert.equal(path.dirname(folder), tmp);
      process.kill(killed.pid, 'SIGKILL');
      await killed.exited;
      assert.deepEqual(await alivePids([redisPid]), [redisPid], 'the Redis of the killed run is still running');
      const removed = cleanLeftovers(tmp);
      assert.deepEqual(removed, [path.basename(folder)], `the next run removes ${folder}`);
      await waitUntil(async () => (await alivePids([redisPid])).length === 0, `redis-server ${redisPid} to be gone`);
      assert.equal(fs.existsSync(folder), false);
    });
  });

  // The poison job in a run of its own, beside the tests above: its three lock expiries are waits of
  // a lock's length or more each, and in their sequence they would hold up every test after them. Its
  // locks last 1 s (JOB_LOCK), checked for stalls every half second: the test's whole wait is these three.
  describe('lesson 12: a poison job, in a run of its own', { skip: isBun ? noPoison : false }, () => {
    const lesson = lessonForAll({ JOB_LOCK: '1' });
    after(() => cleanLeftovers());

    test(`a poison job, which kills every job worker that runs it, is failed after ${deathsBeforeFailed} deaths: its client gets 502, it stays failed with its reason, and every other job is answered once`, async (t) => {
      const mark = lesson().output().length;
      // Other jobs all along, a few a second: the proof is that each is answered once, and jobs one
      // after another (as the other tests send) would only burn CPU through the 3 lock expiries.
      const load = startLoops(t, `${lesson().url}/heavy?n=1234567`, 2, 200);
      const poisoned = await get(`${lesson().url}/heavy?n=${poisonLoops}`, { timeoutMs: 5 * limitMs });
      const id = String(poisoned.headers['x-job-id']);
      assert.equal(poisoned.status, 502, poisoned.body);
      assert.equal(poisoned.body, `Job ${id} failed: job stalled more than allowable limit; GET /jobs/${id} shows it again\n`);
      // The job worker's own line can reach this process after the web worker's answer.
      await lesson().waitFor(new RegExp(`\\] failed job ${id}: `), mark);
      const log = lesson().output().slice(mark);
      const runs = [...log.matchAll(new RegExp(`\\[job worker (\\d+)\\] started job ${id} \\(`, 'g'))].map(([, pid]) => pid);
      assert.equal(runs.length, deathsBeforeFailed, `job ${id} was run ${runs.length} times, by ${runs}`);
      for (const pid of runs) assert.match(log, new RegExp(`job worker ${pid} died \\(signal SIGKILL\\)`), `job worker ${pid} died of the poison`);
      assert.equal(log.match(new RegExp(`\\] failed job ${id}: job stalled more than allowable limit\\n`, 'g'))?.length, 1, 'failed once, by the job worker that took it next');
      const inspected = await get(`${lesson().url}/jobs/${id}`);
      assert.deepEqual([inspected.status, inspected.body], [502, poisoned.body], 'the failed job is kept, with its reason, for someone to look at');
      const { replies, failures } = await load.stop();
      assert.deepEqual(failures, [], 'every other request got an answer');
      assert.ok(replies.length > 0, 'other jobs ran meanwhile');
      assert.ok(replies.every((reply) => reply.status === 200 && reply.body === 'The result of the CPU intensive task is 1234567\n'), `statuses: ${replies.map((r) => r.status)}`);
      const jobIds = replies.map((reply) => String(reply.headers['x-job-id']));
      assert.equal(new Set(jobIds).size, jobIds.length, 'no two answers for one job');
      for (const other of jobIds) await lesson().waitFor(new RegExp(`\\] completed job ${other}\\n`), mark);
      const after = lesson().output().slice(mark);
      for (const other of jobIds) assert.equal(after.match(new RegExp(`\\] completed job ${other}\\n`, 'g'))?.length, 1, `job ${other} completed once`);
    });
  });

  // A job worker run by hand, as its opening comment says, on a Redis of the test's own: the stop that
  // the primary's SIGTERM asks of each job worker, proved on one alone. The SIGTERM comes the moment
  // the job starts (signalAtLine), so it always lands in the middle of the count.
  test('a job worker run by hand with REDIS_URL counts a job from the queue; a SIGTERM in the middle of it: it finishes the job, takes no other, and exits 0', { skip: isBun ? noSignalAtLine : false }, async (t) => {
    // Its folder in one of the test's own: a run that cleans up after killed lesson 12 runs (every start
    // does) takes a Redis folder whose owner is not a lesson 12 process for a leftover, and this
    // process is not one where a runner loads every test file into one (bare node --test on Node 20).
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'every-core-12-hand-'));
    t.after(removeWhenGone(tmp));
    const redis = await startRedis({ tmp });
    t.after(endWithLessons(redis.pid!)); // its redis-server runs in a group of its own, as the lessons do
    const { Job, Queue } = await import('bullmq');
    const client = connect(redis.url);
    const queue = new Queue<HeavyJob, HeavyResult>(jobDefaults.queue, { connection: client, prefix: jobDefaults.prefix });
    t.after(async () => {
      await Promise.race([queue.close(), sleep(2_000)]); // it leaves the connection it was given open
      client.disconnect();
      await redis.stop();
      fs.rmSync(tmp, { recursive: true, force: true });
    });
    const [first, second] = await queue.addBulk([{ name: 'count', data: { loops: maxLoops } }, { name: 'count', data: { loops: 1 } }]);
    const env = { REDIS_URL: redis.url, JOB_LOCK: '2', ...signalAtLine(`started job ${first.id} `, 'SIGTERM') };
    const jobWorker = await start(t, 'lessons/12-shared-state/job-worker.ts', { ready: false, env, limitMs });
    assert.deepEqual(await jobWorker.exited, { code: 0, signal: null }, jobWorker.output());
    // Its "ready" line can come after the job's first: BullMQ's worker takes jobs as soon as it can.
    const readyLine = `ready, its Redis at ${new URL(redis.url).host}`;
    const lines = jobWorker.output().split('\n').filter(Boolean).map((line) => line.replace(/^\[job worker \d+\] /, ''));
    assert.ok(lines.includes(readyLine), jobWorker.output());
    assert.deepEqual(lines.filter((line) => line !== readyLine), [`started job ${first.id} (${maxLoops} loops)`, 'stopping: finishing the job in hand, then exiting', `completed job ${first.id}`]);
    assert.equal((await Job.fromId<HeavyJob, HeavyResult>(queue, first.id!))?.returnvalue.total, maxLoops, 'its result is in Redis');
    assert.equal(await queue.getJobState(second.id!), 'waiting', 'the next job is left in the queue for another job worker');
  });

  // The measurement the README quotes, run tiny: it asserts the shape of what it prints, never a figure.
  describe("measure.ts: /heavy through the queue against lesson 03, measured alike", () => {
    const measure = 'lessons/12-shared-state/measure.ts';

    test("a tiny run measures both, prints the table, the queue's cost per job and the ratio, and exits 0", async (t) => {
      const args = ['--count', '1', '--duration', '0.5', '--connections', '2'];
      const run = await start(t, measure, { ready: false, args, limitMs });
      assert.deepEqual(await run.exited, { code: 0, signal: null }, run.output());
      const out = run.output();
      assert.match(out, /^\S+ v?[\d.]+, \d+ CPUs, load average \d+\.\d; 0\.5 s per measurement, 2 connections$/m);
      assert.match(out, /^lesson 03: \/heavy in the web workers: starting lessons\/03-cluster\/primary\.ts$/m);
      assert.match(out, /^lesson 12: \/heavy through the queue: starting lessons\/12-shared-state\/primary\.ts$/m);
      assert.match(out, /heavyPerS[^]*lesson 03: \/heavy in the web workers[^]*lesson 12: \/heavy through the queue/);
      assert.match(out, /^the queue's cost per job: -?\d+\.\d\d ms \(\/heavy\?n=1 one at a time, \d+\.\d\d against \d+\.\d\d ms\)$/m);
      // Under coverage, with other files beside it, lesson 03 once answered no /heavy in the 0.5 s: the
      // line then says so (the test below checks both kinds of line).
      assert.match(out, /^\/heavy through the queue: (\d+\.\d\dx lesson 03's|\d+ requests per second, lesson 03 none in this run \(measure longer: --duration\);) .*\/ under that load: p99 \S+ against \S+ ms$/m);
    });

    test("the last line gives the queue's requests per second as a multiple of lesson 03's, or says that lesson 03 answered none", async () => {
      const { ratioLine } = await import('./measure.ts');
      const row = { name: '', heavyP50Ms: 0, heavyP99Ms: 0, rootP50Ms: 0, emptyJobMs: 0, errors: 0 };
      assert.equal(ratioLine({ ...row, heavyPerS: 30, rootP99Ms: 9 }, { ...row, heavyPerS: 40, rootP99Ms: 800 }), "/heavy through the queue: 0.75x lesson 03's requests per second; / under that load: p99 9 against 800 ms");
      assert.equal(ratioLine({ ...row, heavyPerS: 3, rootP99Ms: 20.7 }, { ...row, heavyPerS: 0, rootP99Ms: 2050.6 }), '/heavy through the queue: 3 requests per second, lesson 03 none in this run (measure longer: --duration); / under that load: p99 20.7 against 2050.6 ms');
    });

    test('a --count that is no whole number from 1 to 64 exits 2 with the usage', async (t) => {
      const run = await start(t, measure, { ready: false, args: ['--count', '0'] });
      assert.deepEqual(await run.exited, { code: 2, signal: null }, run.output());
      assert.match(run.output(), /--count must be a whole number from 1 to 64, got "0"[^]*Usage: npx tsx lessons\/12-shared-state\/measure\.ts/);
    });
  });
});

// A job worker with a job in hand: its "started job" line seen after `from`, and no "completed" line
// for that job yet, nor has it been killed already.
async function jobInHand(lesson: Lesson, from: number, killed: { pid: number }[]): Promise<{ pid: number; job: string }> {
  let found: { pid: number; job: string } | undefined;
  await waitUntil(() => {
    const log = lesson.output().slice(from);
    const started = [...log.matchAll(/\[job worker (\d+)\] started job (\d+) /g)].map(([, pid, job]) => ({ pid: Number(pid), job }));
    found = started.reverse().find(({ pid, job }) => !killed.some((victim) => victim.pid === pid) && !new RegExp(`\\] (completed|failed) job ${job}\\b`).test(log));
    return found !== undefined;
  }, 'a job worker in the middle of a job', limitMs);
  return found!;
}

// `connections` loops of GETs, each keeping every reply, until stop() (registered with the test, so
// a failure stops them too), or by themselves after the longest wait. `everyMs`: each loop starts a
// request at most that often (0: one right after another).
function startLoops(t: TestContext, url: string, connections: number, everyMs = 0) {
  const replies: Reply[] = [];
  const failures: string[] = [];
  const deadline = Date.now() + limitMs;
  let isStopped = false;
  t.after(() => void (isStopped = true));
  const loop = async () => {
    while (!isStopped && Date.now() < deadline) {
      const startedAt = Date.now();
      try {
        replies.push(await get(url));
      } catch (error) {
        failures.push((error as Error).message);
      }
      const restMs = startedAt + everyMs - Date.now();
      if (restMs > 0 && !isStopped) await sleep(restMs);
    }
  };
  const loops = Promise.all(Array.from({ length: connections }, loop));
  return {
    async stop() {
      isStopped = true;
      await loops;
      return { replies, failures };
    },
  };
}


function redisOf(lesson: Lesson): { pid: number; folder: string } {
  const [, pid, folder] = /redis-server (\d+) listening on .*, its folder ([^,]+),/.exec(lesson.output())!;
  return { pid: Number(pid), folder };
}

