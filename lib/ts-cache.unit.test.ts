// Where the kit keeps its compiled TypeScript, and the environment that gives every Node it starts
// Node's own compile cache there (lib/ts-cache.mjs): pure, so no process of its own.

import assert from 'node:assert/strict';
import os from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { tsCacheDir, withCompileCache } from './ts-cache.mjs';

describe("the kit's cache of compiled TypeScript", () => {
  test('one folder per user, in the temporary folder', () => {
    assert.equal(tsCacheDir(), join(os.tmpdir(), `every-core-ts-cache-${process.getuid?.() ?? 'user'}`));
  });

  test("a Node the kit starts gets Node's compile cache in that folder, the rest of its environment as it was", () => {
    const env = { PATH: '/bin', WORKERS: '2' };
    assert.deepEqual(withCompileCache(env), { PATH: '/bin', WORKERS: '2', NODE_COMPILE_CACHE: tsCacheDir() });
    assert.deepEqual(env, { PATH: '/bin', WORKERS: '2' }, 'the environment given is not changed');
  });

  test('a cache the caller named, or turned off, is left as it is', () => {
    assert.deepEqual(withCompileCache({ NODE_COMPILE_CACHE: '/elsewhere' }), { NODE_COMPILE_CACHE: '/elsewhere' });
    assert.deepEqual(withCompileCache({ NODE_DISABLE_COMPILE_CACHE: '1' }), { NODE_DISABLE_COMPILE_CACHE: '1' });
  });
});
