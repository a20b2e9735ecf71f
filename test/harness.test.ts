import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { launch, pidsInGroup } from '../lib/harness.ts';
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

// What makes the suite's hundreds of starts cheap: each lesson reads its compiled code from the
// kit's cache (lib/ts-cache.mjs) instead of compiling it again. Read from the process itself.
// NODE_COMPILE_CACHE emptied: under npm test this process has the same folder, which a lesson would inherit.
test("a lesson the harness starts has Node's compile cache in the kit's folder, and nothing of the test runner's", { skip: process.platform !== 'linux' && 'reads /proc/<pid>/environ: Linux only' }, async (t) => {
  const lesson = await launch('lessons/01-single-process/server.ts', { ready: /listening on/, env: { NODE_COMPILE_CACHE: '' } }, (started) => t.after(() => started.stop()));
  const env = Object.fromEntries(readFileSync(`/proc/${lesson.pid}/environ`, 'utf8').split('\0').filter(Boolean).map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
  assert.equal(env.NODE_COMPILE_CACHE, tsCacheDir());
  assert.equal(env.NODE_TEST_CONTEXT, undefined);
});
