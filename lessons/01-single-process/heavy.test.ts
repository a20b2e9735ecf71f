import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { get, sendAndFlush, start } from '../../lib/harness.ts';
import { countRound, heavy, heavyDefaults, readLoops } from './heavy.ts';

const server = 'lessons/01-single-process/server.ts';
const ready = /listening on http:/;

// CPU time a thread has used so far, in ms: Linux keeps it, in ns, in /proc/<pid>/task/<tid>/schedstat.
function threadCpuMs(pid: number, tid = pid): number {
  return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
}
const cpuTimeSkip = process.platform === 'linux' ? false : 'needs Linux /proc for a thread\'s CPU time';

// However fast the machine, an increment takes at least a tenth of a nanosecond (a 10 GHz core):
// so a count costs at least this much CPU, unless it is not counted at all.
function leastCpuMs(loops: number): number {
  return loops / 1e7;
}

describe("lesson 01: /heavy's count and its bounds", () => {
  test('?n= is a whole number from 1 to 10,000,000,000; anything else is a reason for a 400', () => {
    assert.deepEqual(readLoops(null), { loops: heavyDefaults.loops });
    assert.deepEqual(readLoops('1'), { loops: 1 });
    assert.deepEqual(readLoops('10000000000'), { loops: 10_000_000_000 }, 'the most one request may buy');
    for (const raw of ['10000000001', '99999999999', '100000000000', '0', '01', '-5', '1e6', '', ' 5', '5 ', '0x10', '1.5']) {
      const n = readLoops(raw);
      assert.ok('reason' in n, `n=${JSON.stringify(raw)} was taken as ${JSON.stringify(n)}`);
      assert.equal(n.reason, `n must be a whole number from 1 to 10000000000, got ${JSON.stringify(raw)}`);
    }
    assert.match((readLoops('7'.repeat(500)) as { reason: string }).reason, /got "7{20}"$/, 'a long n is cut in the message');
  });

  test('a count goes in rounds of at most a billion, each bound a 32-bit integer, the last one what is left', () => {
    assert.equal(countRound(5_000_000, 0), 5_000_000, 'the default: one round');
    assert.equal(countRound(10_000_000_000, 0), 1_000_000_000);
    assert.equal(countRound(10_000_000_000, 9_000_000_000), 1_000_000_000, 'the last full round');
    assert.equal(countRound(2_000_000_001, 2_000_000_000), 1, 'what is left');
    assert.equal(countRound(3_500_000_000, 3_000_000_000), 500_000_000);
    for (const total of [0, 1e9, 2e9, 5e9, 9e9]) {
      const round = countRound(heavyDefaults.maxLoops, total);
      assert.ok(Number.isInteger(round) && round > 0 && round <= 2 ** 31 - 1, `round ${round} after ${total}`);
    }
  });

  test('heavy() counts exactly to n, however the rounds fall', () => {
    for (const n of [0, 1, 42, 1_000_001]) assert.equal(heavy(n), n);
  });
});

describe('lesson 01: a long /heavy blocks, and what it costs shows it', () => {
  // Order alone cannot tell a count from no count (an instant /heavy also comes first): the CPU the
  // count burns on the server's one thread, and the time / waits for it, can.
  test('a long /heavy burns its count in CPU on the one thread, and / waits about as long', { skip: cpuTimeSkip }, async (t) => {
    const lesson = await start(t, server, { ready });
    await get(`${lesson.url}/heavy?n=1`); // the first request's lazy setup, outside the measure
    const loops = 3_000_000_000; // three rounds: about a second of one core, or two
    const cpuBefore = threadCpuMs(lesson.pid);
    const long = sendAndFlush(`${lesson.url}/heavy?n=${loops}`);
    await long.flushed;
    const sentAt = performance.now();
    const finished: string[] = [];
    const quick = get(`${lesson.url}/`).then((reply) => (finished.push('/'), reply));
    const counted = long.then((body) => (finished.push('/heavy'), body));
    assert.equal((await quick).status, 200);
    const waitedMs = performance.now() - sentAt;
    assert.equal(await counted, `The result of the CPU intensive task is ${loops}\n`);
    assert.deepEqual(finished, ['/heavy', '/'], 'the quick request was answered while the count went on');
    const countMs = threadCpuMs(lesson.pid) - cpuBefore;
    assert.ok(countMs >= leastCpuMs(loops), `counting to ${loops} cost the server's thread ${countMs.toFixed(1)} ms of CPU: not counted?`);
    assert.ok(waitedMs >= countMs / 2, `/ waited ${waitedMs.toFixed(1)} ms while the count took ${countMs.toFixed(1)} ms of CPU: it did not wait for the count`);
  });
});
