import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { get, heavyLoops, sendAndFlush, start } from '../../lib/harness.ts';

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

describe('lesson 01: a long /heavy blocks, and what it costs shows it', () => {
  // Order alone cannot tell a count from no count (an instant /heavy also comes first): the CPU the
  // count burns on the server's one thread, and the time / waits for it, can.
  test('a long /heavy burns its count in CPU on the one thread, and / waits about as long', { skip: cpuTimeSkip }, async (t) => {
    const lesson = await start(t, server, { ready });
    await get(`${lesson.url}/heavy?n=1`); // the first request's lazy setup, outside the measure
    const loops = heavyLoops(3_000_000_000); // in a plain run three rounds: about a second of one core, or two
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
