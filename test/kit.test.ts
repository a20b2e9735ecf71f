import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { freePort, root, start, startLoad, waitUntil } from './harness.ts';

const lessons = readdirSync(join(root, 'lessons')).filter((name) => /^\d\d-/.test(name));

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !file.includes('node_modules'))
    .map((file) => join(dir, file));
}

describe('the kit', () => {
  test('every lesson folder has a README, a runnable step and a test beside it', () => {
    assert.ok(lessons.length >= 3, `lessons found: ${lessons}`);
    for (const lesson of lessons) {
      const files = readdirSync(join(root, 'lessons', lesson));
      assert.ok(files.includes('README.md'), `${lesson} has no README.md`);
      assert.ok(files.some((f) => f.endsWith('.test.ts')), `${lesson} has no *.test.ts`);
      assert.ok(files.some((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')), `${lesson} has no runnable step`);
    }
  });

  test('local imports carry their .ts extension, so Node (through tsx) and Bun both resolve them', () => {
    const bare = [];
    for (const file of [...sourceFiles('lessons'), ...sourceFiles('exercises'), ...sourceFiles('test'), ...sourceFiles('scripts')]) {
      const text = readFileSync(join(root, file), 'utf8');
      for (const [, specifier] of text.matchAll(/from '(\.\.?\/[^']*)'/g)) {
        if (!specifier.endsWith('.ts')) bare.push(`${file}: ${specifier}`);
      }
    }
    assert.deepEqual(bare, []);
  });

  test("the harness's stop() ends a lesson's whole process group, workers included", async (t) => {
    const cluster = await start(t, 'lessons/03-cluster/primary.ts', { ready: /cluster ready/, env: { WORKERS: '2' } });
    const before = await cluster.groupPids();
    assert.ok(before.length >= 3, `a primary and two workers (and maybe tsx's esbuild): ${before}`);
    await cluster.stop();
    assert.deepEqual(await cluster.groupPids(), []);
  });

  test('the harness load loop counts a refused connection as a failure, so "0 failures" means something', async () => {
    const load = startLoad(`http://127.0.0.1:${await freePort()}/`, { connections: 2 });
    await waitUntil(() => load.count.failures >= 10, '10 failures');
    const count = await load.stop();
    assert.equal(count.requests, 0);
    assert.ok((count.errorCodes.ECONNREFUSED ?? 0) >= 10, JSON.stringify(count));
  });
});
