// The load hook of lib/strip-types.mjs: a file: URL ending in .ts is ES module JavaScript once its
// types are gone. The kit's TypeScript is what Node 22.18+ runs itself (erasable syntax, imports that
// name the .ts file), so resolving needs nothing and only loading changes. esbuild, which tsx brings,
// removes the types; its output is kept in a cache folder keyed by the file's path and text, so each
// version of a file is transformed once and every later start only reads it.

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cacheDir = join(os.tmpdir(), `every-core-ts-cache-${process.getuid?.() ?? 'user'}`);
const format = 'v1'; // change when the transform below changes: older entries are then never read
let esbuild; // loaded on the first file the cache does not have

export async function load(url, context, nextLoad) {
  // The path alone: a test imports './primary.ts?imported-by-a-test' to run a module anew.
  const file = url.startsWith('file:') ? fileURLToPath(url) : '';
  if (!file.endsWith('.ts')) return nextLoad(url, context);
  const source = readFileSync(file, 'utf8');
  const key = createHash('sha1').update(`${format}\0${file}\0${source}`).digest('hex');
  const cached = join(cacheDir, `${key}.mjs`);
  return { format: 'module', source: readOr(cached) ?? transform(file, source, cached), shortCircuit: true };
}

function readOr(file) {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function transform(file, source, cached) {
  // Found from tsx's own folder, wherever npm put it: the kit depends on tsx, and tsx on esbuild.
  esbuild ??= createRequire(createRequire(import.meta.url).resolve('tsx'))('esbuild');
  const { code } = esbuild.transformSync(source, { loader: 'ts', format: 'esm', sourcemap: 'inline', sourcefile: file });
  // Written aside, then renamed: another process may read the same entry at this moment.
  mkdirSync(cacheDir, { recursive: true });
  const aside = `${cached}.${process.pid}`;
  writeFileSync(aside, code);
  renameSync(aside, cached);
  return code;
}
