// After `npm run coverage`: every lesson file must have at least 90% of its lines run by the tests
// (c8's json summary, coverage/coverage-summary.json), or the run fails and names the files. A file
// this runtime cannot run is listed with the reason instead. And the figures must be sound: where Node
// strips types, a lesson file that some process ran through tsx instead has byte offsets of another
// text, which c8 merges into nonsense; that fails too.

import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { root, stripsTypes } from '../lib/launch.ts';
import { reusePortProblem } from '../lessons/09-reuseport/support.ts';

const defaults = {
  leastLinesPct: 90,
  summary: join(root, 'coverage', 'coverage-summary.json'),
  processes: join(root, 'coverage', 'tmp'), // each process's raw V8 coverage (.c8rc.json's tempDirectory)
};

// Files not checked here, each with why: this runtime does not run them, or no test does yet (a
// known gap, printed on every run until a test closes it and its line goes).
const notRunHere: Record<string, string | undefined> = {
  'lessons/08-worker-threads/thread-on-node-20.mjs': stripsTypes ? "Node 20's entry for lesson 08's threads: this Node runs thread.ts itself" : undefined,
  'lessons/09-reuseport/primary.ts': reusePortProblem(),
  'lessons/09-reuseport/roll.ts': reusePortProblem(),
};

type Summary = Record<string, { lines: { pct: number; covered: number; total: number } }>;
const summary = JSON.parse(readFileSync(defaults.summary, 'utf8')) as Summary;
const lessonFiles = Object.entries(summary)
  .map(([file, figures]) => ({ file: relative(root, file), linesPct: figures.lines.pct }))
  .filter(({ file }) => file.startsWith('lessons/'));

const skipped = lessonFiles.filter(({ file }) => notRunHere[file] !== undefined);
for (const { file, linesPct } of skipped) console.log(`coverage: not checked here: ${file} (${linesPct}% of lines): ${notRunHere[file]}`);
const under = lessonFiles.filter(({ file, linesPct }) => notRunHere[file] === undefined && linesPct < defaults.leastLinesPct);
const mixed = stripsTypes ? filesRunThroughTsx() : [];

if (under.length > 0) {
  console.error(`coverage: ${under.length} lesson file(s) under ${defaults.leastLinesPct}% of lines: a test for what they do, or a reason in scripts/coverage-check.ts:`);
  for (const { file, linesPct } of under) console.error(`  ${file}: ${linesPct}%`);
}
if (mixed.length > 0) {
  console.error(`coverage: this Node strips types, yet some process ran these through tsx, so their figures are wrong: start them as launch() does (runtimeArgs()):`);
  for (const file of mixed) console.error(`  ${file}`);
}
if (under.length === 0 && mixed.length === 0) console.log(`coverage: all ${lessonFiles.length - skipped.length} lesson files checked here have ${defaults.leastLinesPct}% of their lines or more`);
process.exitCode = under.length > 0 || mixed.length > 0 ? 1 : 0;

// The kit's files that a process loaded with a source map (tsx writes one; type stripping none).
function filesRunThroughTsx(): string[] {
  const files = new Set<string>();
  for (const name of readdirSync(defaults.processes).filter((name) => name.endsWith('.json'))) {
    const text = readFileSync(join(defaults.processes, name), 'utf8');
    if (!text.includes('"source-map-cache"')) continue; // most: read whole only where there is a map
    const { 'source-map-cache': maps = {} } = JSON.parse(text) as { 'source-map-cache'?: Record<string, unknown> };
    for (const url of Object.keys(maps)) {
      const file = url.startsWith('file://') ? relative(root, new URL(url).pathname) : '';
      if (/^(lessons|lib)\//.test(file)) files.add(file);
    }
  }
  return [...files].sort();
}
