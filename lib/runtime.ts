// What the running runtime is and can do: the kit's one answer to "am I on Bun?", "does this Node
// strip types itself?" and "was this file started as the program?".

import { pathToFileURL } from 'node:url';

export const isBun = 'bun' in process.versions;

// Node 22.18+ (and 23.6+) runs a .ts file as it is: process.features.typescript says 'strip' there.
// Bun runs TypeScript itself, always.
export const stripsTypes = isBun || Boolean((process.features as { typescript?: unknown }).typescript);

// How a TypeScript file of the kit is started with this process's executable. Bun and a Node that
// strips types (by default from 22.18 and 23.6; earlier 22s and 23s only with
// --experimental-strip-types, passed on here) run it as `node file.ts`. Elsewhere (Node 20, an older
// 22) through the kit's own loader, lib/strip-types.mjs, which adds about 0.1 s of CPU to a start
// where tsx's adds 0.5-0.7 s (`npx tsx file`, as the READMEs say, works the same). `loader: false`: neither.
export function runtimeArgs(loader?: false): string[] {
  if (isBun) return [];
  if (stripsTypes) return process.execArgv.filter((arg) => /^--experimental-(strip|transform)-types$/.test(arg));
  return loader === false ? [] : ['--import', new URL('./strip-types.mjs', import.meta.url).href];
}

// True in the file that was started as the program (`npx tsx file.ts`, `node file.ts`, a cluster
// worker's exec file), false where it is imported: a lesson runs from this guard, so the next
// lesson can import it and nothing happens. (import.meta.main does the same from Node 24.2 on.)
export function isMain(moduleUrl: string): boolean {
  const program = process.argv[1];
  return program !== undefined && moduleUrl === pathToFileURL(program).href;
}
