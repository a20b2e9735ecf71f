import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { launch, pidsInGroup } from '../lib/harness.ts';

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
