import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type autocannon from 'autocannon';
import { seconds, wholeNumber } from '../../lib/options.ts';
import { connectionsOpened, failuresOf, figuresOf, report, type Figures } from './loadtest.ts';

// fail() prints and exits in a script; here it throws what it would have printed.
const fail = (problem: string): never => {
  throw new Error(problem);
};

// What autocannon hands back, cut to what figuresOf reads.
function result(total: number, latency = { mean: 12.345, p50: 11, p99: 40 }, counts = { errors: 2, timeouts: 1, non2xx: 3 }): autocannon.Result {
  return { requests: { total }, latency, ...counts } as unknown as autocannon.Result;
}

const figures: Figures = {
  url: 'http://127.0.0.1:3000/heavy',
  connections: 10,
  requests: 1200,
  totalTimeS: 2.5,
  requestsPerSec: 480,
  meanLatencyMs: 20.04,
  p50LatencyMs: 19,
  p99LatencyMs: 35,
  errors: 2,
  timeouts: 1,
  non2xx: 3,
};

describe("lesson 02's figures", () => {
  test('requests per second are the answered requests over the run from first request to last answer', () => {
    const figured = figuresOf('http://x/', 10, result(1200), 2.5);
    assert.equal(figured.requestsPerSec, 480);
    assert.equal(figured.totalTimeS, 2.5);
    assert.equal(figured.requests, 1200);
  });

  test('a run of no measurable length reports 0 requests per second, not Infinity', () => {
    assert.equal(figuresOf('http://x/', 10, result(5), 0).requestsPerSec, 0);
  });

  test("latencies, errors, timeouts and non-2xx answers are autocannon's own, each in its place", () => {
    assert.deepEqual(figuresOf('http://x/', 7, result(100), 1), {
      url: 'http://x/',
      connections: 7,
      requests: 100,
      totalTimeS: 1,
      requestsPerSec: 100,
      meanLatencyMs: 12.345,
      p50LatencyMs: 11,
      p99LatencyMs: 40,
      errors: 2,
      timeouts: 1,
      non2xx: 3,
    });
  });

  test('connections opened: each thread gets its share rounded down, and at least one', () => {
    assert.equal(connectionsOpened(10), 10);
    assert.equal(connectionsOpened(10, 1), 10);
    assert.equal(connectionsOpened(10, 3), 9);
    assert.equal(connectionsOpened(10, 4), 8);
    assert.equal(connectionsOpened(2, 4), 4);
  });

  test("the report prints the seed's figures, one per line, rounded as a reader wants them", () => {
    assert.equal(
      report(figures),
      [
        'Load test of http://127.0.0.1:3000/heavy',
        '  Total time           2.50 s',
        '  Requests per second  480.0',
        '  Mean latency         20.0 ms',
        '  p50 latency          19 ms',
        '  p99 latency          35 ms',
        '  Requests             1200 answered, 10 at a time',
        '  Errors               2 (1 timeouts)',
        '  Non-2xx              3',
      ].join('\n'),
    );
  });
});

describe("lesson 02's failures", () => {
  test('errors, non-2xx answers and, for a run of --amount N, every request never answered are failures', () => {
    assert.deepEqual(failuresOf({ ...figures, errors: 0, non2xx: 0 }, 1200), { failed: 0, unanswered: 0 });
    assert.deepEqual(failuresOf({ ...figures, errors: 0, non2xx: 0, requests: 1199 }, 1200), { failed: 1, unanswered: 1 });
    assert.deepEqual(failuresOf(figures, 1200), { failed: 5, unanswered: 0 });
    assert.deepEqual(failuresOf({ ...figures, requests: 1190 }, 1200), { failed: 15, unanswered: 10 });
    assert.deepEqual(failuresOf({ ...figures, errors: 0, non2xx: 0, requests: 50 }), { failed: 0, unanswered: 0 }, 'a --duration run has no amount to fall short of');
  });
});

describe("the option checks every script shares (lesson 02's)", () => {
  test('a whole number from 1 to the bound is taken, both ends included', () => {
    assert.equal(wholeNumber('--amount', '1', fail), 1);
    assert.equal(wholeNumber('--amount', '1000000000', fail), 1_000_000_000);
    assert.equal(wholeNumber('--connections', '10000', fail, 10_000), 10_000);
  });

  test('one above the bound, 0 and anything but plain digits fail with the name, the bound and what arrived', () => {
    assert.throws(() => wholeNumber('--connections', '10001', fail, 10_000), { message: '--connections must be a whole number from 1 to 10000, got "10001"' });
    assert.throws(() => wholeNumber('--amount', '1000000001', fail), { message: '--amount must be a whole number from 1 to 1000000000, got "1000000001"' });
    for (const raw of ['0', '', '-1', '+1', '1.5', '1e3', '01', ' 1', '1 ', '10000000000', 'ten']) {
      assert.throws(() => wholeNumber('--amount', raw, fail), { message: `--amount must be a whole number from 1 to 1000000000, got ${JSON.stringify(raw)}` }, raw);
    }
  });

  test('seconds above 0 up to an hour are taken, fractions included', () => {
    assert.equal(seconds('--duration', '0.5', fail), 0.5);
    assert.equal(seconds('--duration', '3600', fail), 3600);
    assert.equal(seconds('--duration', '10', fail), 10);
  });

  test('0 seconds is refused unless zero is allowed, and then it is taken', () => {
    assert.throws(() => seconds('--duration', '0', fail), { message: '--duration must be a number of seconds above 0 (at most 3600), got "0"' });
    assert.equal(seconds('--warmup', '0', fail, { allowZero: true }), 0);
  });

  test('more than an hour, a negative, an empty or a non-number fails with the name and what arrived', () => {
    for (const allowZero of [false, true]) {
      const floor = allowZero ? 'from 0' : 'above 0';
      for (const raw of ['3600.5', '3601', '-1', '', '  ', 'ten', 'NaN', 'Infinity']) {
        assert.throws(() => seconds('--warmup', raw, fail, { allowZero }), { message: `--warmup must be a number of seconds ${floor} (at most 3600), got ${JSON.stringify(raw)}` }, `${raw} ${allowZero}`);
      }
    }
  });
});
