// The load hook of lib/strip-types.mjs: a file: URL ending in .ts is ES module JavaScript once its
// types are gone. The kit's TypeScript is what Node 22.18+ runs itself (erasable syntax, imports that
// name the .ts file), so resolving needs nothing and only loading changes. esbuild, which tsx brings,
// removes the types; its output is kept in a cache folder, one entry per file path holding the hash of
// the text it came from, so each file is transformed once per change, every later start only reads
// it, and the folder holds no more entries than there are files.

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tsCacheDir } from './ts-cache.mjs';

const cacheDir = tsCacheDir(); // read once, as this module loads
const format = 'v1'; // change when the transform below changes: older entries then no longer match
/** @type {{ transformSync(source: string, options: object): { code: string } } | undefined} */
let esbuild; // loaded on the first file the cache does not have

/**
 * @param {string} url
 * @param {object} context
 * @param {(url: string, context: object) => unknown} nextLoad
 */
export async function load(url, context, nextLoad) {
  // The path alone: a test imports './primary.ts?imported-by-a-test' to run a module anew.
  const file = url.startsWith('file:') ? fileURLToPath(url) : '';
  if (!file.endsWith('.ts')) return nextLoad(url, context);
  const source = readFileSync(file, 'utf8');
  const stamp = `// every-core ${createHash('sha1').update(`${format}\0${source}`).digest('hex')}\n`;
  const entry = join(cacheDir, `${createHash('sha1').update(file).digest('hex')}.mjs`);
  const cached = readOr(entry);
  const code = cached?.startsWith(stamp) ? cached.slice(stamp.length) : transform(file, source, entry, stamp);
  return { format: 'module', source: code, shortCircuit: true };
}

/** @param {string} file */
function readOr(file) {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** @param {string} file @param {string} source @param {string} entry @param {string} stamp */
function transform(file, source, entry, stamp) {
  // Found from tsx's own folder, wherever npm put it: the kit depends on tsx, and tsx on esbuild.
  esbuild ??= createRequire(createRequire(import.meta.url).resolve('tsx'))('esbuild');
  const { code } = esbuild.transformSync(source, { loader: 'ts', format: 'esm', sourcemap: 'inline', sourcefile: file });
  // Written aside, then renamed: another process may read the same entry at this moment.
  mkdirSync(cacheDir, { recursive: true });
  const aside = `${entry}.${process.pid}`;
  writeFileSync(aside, stamp + code);
  renameSync(aside, entry);
  return code;
}
