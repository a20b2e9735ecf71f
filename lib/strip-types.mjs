// The kit's TypeScript loader for a Node that cannot run .ts files itself (Node 20, a 22 before
// 22.18): `node --import ./lib/strip-types.mjs file.ts`. On a Node that strips types, and on Bun, it
// does nothing. Why not tsx's loader, which `npx tsx` uses and learners keep using: a start under it
// cost 0.66-0.90 s of CPU on Node 20.20.2 against 0.14-0.17 s for a bare one, and the suite starts
// over 400 processes; under this one 0.24-0.33 s, as it only reads the transformed file from a
// cache (lib/strip-types-hooks.mjs). Plain JavaScript: it must start where
// TypeScript cannot.

import { register } from 'node:module';

if (!process.versions.bun && !process.features.typescript) {
  register('./strip-types-hooks.mjs', import.meta.url);
  // Stack traces name the .ts file's own lines: each transformed file carries its source map.
  process.setSourceMapsEnabled(true);
}
