// Bun's test runner gives each test 5 s unless told otherwise: too little for a test that starts a
// cluster on a busy machine. Bun reads no timeout from bunfig.toml (https://github.com/oven-sh/bun/issues/7789),
// and setDefaultTimeout() holds for one test file only, so bunfig.toml preloads this plugin, which
// opens every test file with that call: a bare `bun test` gives each test what `npm test` gives it on
// Node. The call goes on the file's first line, so line numbers in stack traces stay right.
import { plugin } from 'bun';
import { readFileSync } from 'node:fs';

const timeoutMs = 600_000; // npm test's --test-timeout

plugin({
  name: 'every-core test timeout',
  setup(build) {
    build.onLoad({ filter: /\.test\.(ts|mjs)$/ }, ({ path }) => ({
      contents: `import { setDefaultTimeout as setEveryCoreTimeout } from 'bun:test'; setEveryCoreTimeout(${timeoutMs}); ${readFileSync(path, 'utf8')}`,
      loader: path.endsWith('.ts') ? 'ts' : 'js',
    }));
  },
});
