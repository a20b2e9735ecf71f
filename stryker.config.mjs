// Mutation testing of the kit's pure decisions (limits, figures, option checks, version gates): Stryker
// breaks each decision in many small ways, runs the fast unit tests (*.unit.test.ts) that cover it,
// and counts how many breaks they notice. Run it:  npm run stryker   (report: reports/mutation/)
// To add a decision: give it a unit test, then add its file below, whole or by its functions' names.
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const decisions = [
  { file: 'lessons/01-single-process/heavy.ts' },
  { file: 'lessons/02-load-test/loadtest.ts', functions: ['failuresOf', 'connectionsOpened', 'figuresOf', 'report'] },
  { file: 'lessons/04-round-robin/distribution.ts', functions: ['countByWorker', 'record', 'fairness', 'report', 'row', 'summary'] },
  { file: 'lessons/05-compare/options.ts' },
  { file: 'lessons/09-reuseport/support.ts' },
  { file: 'lib/options.ts' },
];

// A function's lines: from its `function name(` line to the first `}` at the start of a line after
// it (the kit's top-level functions end so), found afresh on each run so that edits move nothing.
function linesOf(file, name) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const first = lines.findIndex((line) => new RegExp(`^(export )?(async )?function ${name}\\b`).test(line));
  const last = lines.findIndex((line, i) => i > first && line === '}');
  if (first === -1 || last === -1) throw new Error(`stryker.config.mjs: no top-level function ${name} in ${file}: update the list`);
  return `${file}:${first + 1}-${last + 1}`;
}

// Node strips types itself from 22.18 (and 23.6); before that, tsx loads the TypeScript.
const stripsTypes = Boolean(process.features.typescript);

// Node's compile cache (lib/ts-cache.mjs) for the hundreds of unit-test runs, which inherit this
// environment (npm run stryker on Node 26.10: 80.6 s without it, 62.5 s with it). Its own folder,
// emptied as a run starts: each run's sandbox is a new path, so the last run's entries are never read.
if (!process.env.NODE_COMPILE_CACHE) {
  const compileCache = fileURLToPath(new URL('.stryker-tmp/compile-cache', import.meta.url));
  rmSync(compileCache, { recursive: true, force: true });
  process.env.NODE_COMPILE_CACHE = compileCache;
}

export default {
  mutate: decisions.flatMap(({ file, functions }) => (functions ? functions.map((name) => linesOf(file, name)) : [file])),
  testRunner: 'tap',
  tap: {
    testFiles: ['lessons/*/*.unit.test.ts', 'lib/*.unit.test.ts'],
    // TAP, which the runner reads: Node 23 and later print spec by default, even into a pipe.
    nodeArgs: ['--test-reporter=tap', ...(stripsTypes ? [] : ['--import', 'tsx'])],
  },
  coverageAnalysis: 'perTest',
  ignoreStatic: true, // a break in module-level code (a usage text) would rerun every test file, for nothing a unit test decides
  concurrency: 2,
  timeoutMS: 3_000, // on top of the unit tests' own time: a break that loops for good (heavy's count) ends sooner
  ignorePatterns: ['/exercises', '/scripts', '/test', '/coverage', '/reports', '/.pm2', '**/*.md', '**/*.svg', '**/*.png'],
  reporters: ['clear-text', 'progress', 'html'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true },
  thresholds: { high: 90, low: 85, break: 85 },
  cleanTempDir: 'always',
};
