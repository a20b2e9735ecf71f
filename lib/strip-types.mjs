// The kit's TypeScript loader for a Node that cannot run .ts files itself (Node 20, a 22 before
// 22.18): `node --import ./lib/strip-types.mjs file.ts`. On a Node that strips types, and on Bun, it
// does nothing. Why not tsx's loader, which `npx tsx` uses and learners keep using: loading tsx
// costs each process start about 0.5 s of CPU on Node 20 (0.65 s against 0.14 s for a bare start),
// and the suite starts some 450 processes; this one costs about 0.1 s, as it only reads the
// transformed file from a cache (lib/strip-types-hooks.mjs). Plain JavaScript: it must start where
// TypeScript cannot.

import { register } from 'node:module';

if (!process.versions.bun && !process.features.typescript) {
  register('./strip-types-hooks.mjs', import.meta.url);
  // Stack traces name the .ts file's own lines: each transformed file carries its source map.
  process.setSourceMapsEnabled(true);
}
