// Where the kit keeps its compiled TypeScript: one folder per user in the temporary folder, as tsx
// keeps its own. Two caches share it: the Node 20 loader's files with their types removed
// (lib/strip-types-hooks.mjs), and Node's own compile cache (Node 22.1+), which keeps V8's compiled
// code of each module and, from 22.18 on, each .ts file with its types stripped. A lesson file that
// takes Node 26.10 0.16-0.20 s of CPU to start cold starts in 0.04-0.05 s from it (lesson 07's
// primary.ts --bogus, three starts each), and the suite starts over 400 processes.
// Plain JavaScript: it must load where TypeScript cannot (scripts/run-tests.mjs, the loader).

import os from 'node:os';
import { join } from 'node:path';

/** The folder, read from TMPDIR when called. */
export function tsCacheDir() {
  return join(os.tmpdir(), `every-core-ts-cache-${process.getuid?.() ?? 'user'}`);
}

/**
 * The environment for a Node that the kit starts: `env` with Node's compile cache in tsCacheDir(),
 * unless it names a cache of its own (NODE_COMPILE_CACHE) or turns the cache off
 * (NODE_DISABLE_COMPILE_CACHE=1, as a coverage run may want). A Node before 22.1, and Bun, ignore it.
 * @param {NodeJS.ProcessEnv} env
 * @returns {NodeJS.ProcessEnv}
 */
export function withCompileCache(env) {
  if (env.NODE_COMPILE_CACHE || env.NODE_DISABLE_COMPILE_CACHE) return env;
  return { ...env, NODE_COMPILE_CACHE: tsCacheDir() };
}
