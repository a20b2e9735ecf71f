import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { heavyLoops, importLesson, launch, start, type Lesson } from '../../lib/harness.ts';

// The measure() under test: the lesson's, or under `npm run check` the learner's exercise 02.
const { measure } = await importLesson<typeof import('./loadtest.ts')>('lessons/02-load-test/loadtest.ts');

const lesson01 = 'lessons/01-single-process/server.ts';
const loadtest = 'lessons/02-load-test/loadtest.ts';
const ready = /listening on http:/;
// The seed's /heavy (its default count, 5,000,000), asked for by its count so that under coverage,
// where counting is slower, heavyLoops() can scale it: 300 answers in all, one at a time.
const heavy = `/heavy?n=${heavyLoops(5_000_000)}`;

// The tests only count answers and failures, so they run side by side, on one lesson 01 server.
describe('lesson 02: measure before you scale', { concurrency: true }, () => {
  const started: Lesson[] = [];
  after(() => Promise.all(started.map((lesson) => lesson.stop())));
  let server: Promise<Lesson> | undefined;
  const target = () => (server ??= launch(lesson01, { ready }, (lesson) => started.push(lesson)));

  test('a short run against lesson 01 prints the figures and exits 0 with 0 errors', async (t) => {
    const run = await start(t, loadtest, { ready: false, args: [`${(await target()).url}${heavy}`, '--amount', '200', '--connections', '10'] });
    assert.deepEqual(await run.exited, { code: 0, signal: null }, run.output());
    for (const figure of ['Total time', 'Requests per second', 'Mean latency', 'p50 latency', 'p99 latency']) {
      assert.match(run.output(), new RegExp(`${figure} +\\d`), figure);
    }
    assert.match(run.output(), /Requests +200 answered, 10 at a time/);
    assert.match(run.output(), /Errors +0 \(0 timeouts\)/);
  });

  test('measure() is the function later lessons reuse: it counts every request and every failure', async () => {
    const figures = await measure({ url: `${(await target()).url}${heavy}`, amount: 100, connections: 5 });
    assert.equal(figures.requests, 100);
    assert.equal(figures.errors + figures.non2xx, 0, `errors ${figures.errors}, non-2xx ${figures.non2xx}`);
    assert.ok(figures.requestsPerSec > 0 && figures.p99LatencyMs >= figures.p50LatencyMs, JSON.stringify(figures));
    assert.ok(Math.abs(figures.requestsPerSec * figures.totalTimeS - figures.requests) < 1e-6, `requests per second over another length than the run's ${figures.totalTimeS} s: ${JSON.stringify(figures)}`);
  });

  test('a run where requests fail exits 1 and says so', async (t) => {
    const run = await start(t, loadtest, { ready: false, args: [`${(await target()).url}/heavy?n=0`, '--amount', '20'] });
    assert.equal((await run.exited).code, 1);
    assert.match(run.output(), /Non-2xx +20/);
    assert.match(run.output(), /20 requests failed/);
  });

  const badArgs: [string, string[], RegExp][] = [
    ['no URL', [], /expected one URL, got 0/],
    ['a URL that is not http', ['ftp://example'], /expected an http:\/\/ URL/],
    ['an amount that is not a number', ['http://127.0.0.1:1/', '--amount', 'lots'], /--amount must be a whole number/],
    ['both amount and duration', ['http://127.0.0.1:1/', '--amount', '5', '--duration', '2'], /not both/],
    ['a duration of zero', ['http://127.0.0.1:1/', '--duration', '0'], /--duration must be a number of seconds above 0/],
    ['an unknown option', ['http://127.0.0.1:1/', '--fast'], /loadtest: unknown option --fast\n/],
  ];
  for (const [what, args, message] of badArgs) {
    test(`bad arguments (${what}) print usage and exit 2`, async (t) => {
      const run = await start(t, loadtest, { ready: false, args });
      assert.deepEqual(await run.exited, { code: 2, signal: null });
      assert.match(run.output(), message);
      assert.match(run.output(), /Usage: npx tsx (lessons|exercises)\/02-load-test\/loadtest.ts <url>/);
    });
  }
});
