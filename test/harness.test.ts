import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { freePort, get, heldPort, launch, pidsInGroup, type Lesson } from '../lib/harness.ts';
import { tsCacheDir } from '../lib/ts-cache.mjs';

describe('the harness cleans up what it starts, ready or not', () => {
  let pid: number | undefined;

  // A lesson that dies at start (a bad PORT) stands for one that hangs there: both never print
  // their ready line, and either may leave processes of its group behind.
  test('a lesson that never prints its ready line fails its start, and was handed to its test for cleanup first', async (t) => {
    const starting = launch('lessons/01-single-process/server.ts', { ready: /listening on/, env: { PORT: 'eighty' } }, (lesson) => {
      pid = lesson.pid;
      t.after(() => lesson.stop());
    });
    await assert.rejects(starting, /exited before \/listening on\/; its output:\n.*PORT must be a whole number/);
    assert.ok(pid !== undefined, 'the lesson was started but never handed over: nothing would stop it');
  });

  test('once that test has ended, no process of its group is left', async () => {
    assert.ok(pid !== undefined, 'the test above handed over no lesson');
    assert.deepEqual(await pidsInGroup(pid), []);
  });
});

// freePort() picks a port that is free at that moment; another process can take it before the lesson
// listens. Here the first pick is a port this test holds.
test('a lesson whose picked port is taken before it listens is started again on another; a port the test gave is not', async (t) => {
  const taken = await heldPort(t);
  const picks = [taken];
  const starts: Lesson[] = [];
  const lesson = await launch('lessons/01-single-process/server.ts', { ready: /listening on/, pickPort: async () => picks.shift() ?? freePort() }, (started) => {
    starts.push(started);
    t.after(() => started.stop());
  });
  assert.equal(starts.length, 2);
  assert.match(starts[0].output(), new RegExp(`port ${taken} is already in use`));
  assert.notEqual(lesson.port, taken);
  assert.equal((await get(lesson.url)).status, 200);
  const given = launch('lessons/01-single-process/server.ts', { ready: /listening on/, port: taken }, (started) => t.after(() => started.stop()));
  await assert.rejects(given, new RegExp(`port ${taken} is already in use`));
  // At most three starts: a fourth pick would be free.
  const three = [taken, taken, taken];
  const unlucky = launch('lessons/01-single-process/server.ts', { ready: /listening on/, pickPort: async () => three.shift() ?? freePort() }, (started) => t.after(() => started.stop()));
  await assert.rejects(unlucky, new RegExp(`port ${taken} is already in use`));
});

// What makes the suite's hundreds of starts cheap: each lesson reads its compiled code from the
// kit's cache (lib/ts-cache.mjs) instead of compiling it again. Read from the process itself.
// NODE_COMPILE_CACHE emptied: under npm test this process has the same folder, which a lesson would inherit.
test("a lesson the harness starts has Node's compile cache in the kit's folder, and nothing of the test runner's", { skip: process.platform !== 'linux' && 'reads /proc/<pid>/environ: Linux only' }, async (t) => {
  const lesson = await launch('lessons/01-single-process/server.ts', { ready: /listening on/, env: { NODE_COMPILE_CACHE: '' } }, (started) => t.after(() => started.stop()));
  const env = Object.fromEntries(readFileSync(`/proc/${lesson.pid}/environ`, 'utf8').split('\0').filter(Boolean).map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
  assert.equal(env.NODE_COMPILE_CACHE, tsCacheDir());
  assert.equal(env.NODE_TEST_CONTEXT, undefined);
});
