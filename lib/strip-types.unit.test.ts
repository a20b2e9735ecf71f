// The kit's TypeScript loader for Node 20 (lib/strip-types.mjs), its load hook called directly: it
// runs the same on every runtime, so these run everywhere, without a process of their own.

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';

describe("the kit's TypeScript loader: esbuild's output, from a cache of one entry per file", () => {
  const dir = mkdtempSync(join(os.tmpdir(), 'every-core-strip-types-test-'));
  const file = join(dir, 'step.ts');
  const cacheDir = join(dir, `every-core-ts-cache-${process.getuid?.() ?? 'user'}`);
  let load: (url: string, context: object, nextLoad: (url: string, context: object) => unknown) => Promise<{ format: string; source: string } | unknown>;
  const loadTs = async (url: string) => (await load(url, {}, () => assert.fail(`${url} was passed on`))) as { format: string; source: string };
  const entries = () => readdirSync(cacheDir);

  before(async () => {
    // Its cache folder is read from TMPDIR as the module loads: a fresh module, this test's folder.
    const tmpdir = process.env.TMPDIR;
    process.env.TMPDIR = dir;
    try {
      ({ load } = await import(`./strip-types-hooks.mjs?test-${process.pid}`));
    } finally {
      if (tmpdir === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = tmpdir;
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('anything but a .ts file is passed on untouched', async () => {
    const passed: string[] = [];
    await load('node:fs', {}, (url) => passed.push(url));
    await load(pathToFileURL(join(dir, 'x.mjs')).href, {}, (url) => passed.push(url));
    assert.deepEqual(passed, ['node:fs', pathToFileURL(join(dir, 'x.mjs')).href]);
  });

  test('a .ts file, a query after its name included, loads as a module without its types, lines mapped', async () => {
    writeFileSync(file, 'interface Reply { n: number }\nexport const reply: Reply = { n: 1 as number };\n');
    const { format, source } = await loadTs(`${pathToFileURL(file).href}?imported-by-a-test`);
    assert.equal(format, 'module');
    assert.match(source, /^const reply = \{ n: 1 \};$/m);
    assert.doesNotMatch(source, /interface|: Reply|as number/);
    assert.match(source, /\/\/# sourceMappingURL=data:application\/json;base64,/);
  });

  test('a second load reads the cache instead of transforming again', async () => {
    const [entry] = entries();
    const cached = readFileSync(join(cacheDir, entry), 'utf8');
    writeFileSync(join(cacheDir, entry), cached.replace('n: 1', 'n: 2')); // what only the cache says
    assert.match((await loadTs(pathToFileURL(file).href)).source, /n: 2/);
  });

  test('a changed file is transformed anew, and still holds one entry', async () => {
    writeFileSync(file, 'export const reply: number = 3;\n');
    assert.match((await loadTs(pathToFileURL(file).href)).source, /^const reply = 3;$/m);
    assert.equal(entries().length, 1, `entries: ${entries()}`);
  });
});
