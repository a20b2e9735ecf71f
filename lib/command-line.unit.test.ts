import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { commandLine } from './options.ts';

const usage = 'Usage: step [--count N] [--fast]';
const options = { count: { type: 'string' }, fast: { type: 'boolean', short: 'f' } } as const;

// process.exit throws instead, so a test sees the code and what was printed before it.
class Exited extends Error {
  code: number | undefined;
  printed: { out: string[]; err: string[] };
  constructor(code: number | undefined, printed: { out: string[]; err: string[] }) {
    super(`exit ${code}`);
    this.code = code;
    this.printed = printed;
  }
}

function capture(t: TestContext): { out: string[]; err: string[] } {
  const printed = { out: [] as string[], err: [] as string[] };
  t.mock.method(console, 'log', (line: string) => printed.out.push(line));
  t.mock.method(console, 'error', (line: string) => printed.err.push(line));
  t.mock.method(process, 'exit', (code?: number) => {
    throw new Exited(code, printed);
  });
  return printed;
}

function exitOf(run: () => unknown): Exited {
  try {
    run();
  } catch (error) {
    if (error instanceof Exited) return error;
    throw error;
  }
  assert.fail('it did not exit');
}

describe('the command line every step reads', () => {
  test('known options are parsed, and positionals only where the step takes them', (t) => {
    const printed = capture(t);
    const { parse } = commandLine('step', usage);
    const parsed = parse(['--count', '3', '-f', 'http://x/'], options, { positionals: true });
    assert.deepEqual({ ...parsed.values }, { count: '3', fast: true });
    assert.deepEqual(parsed.positionals, ['http://x/']);
    assert.deepEqual(printed, { out: [], err: [] });
  });

  test('--help and -h print the usage alone and exit 0', (t) => {
    const printed = capture(t);
    for (const flag of ['--help', '-h']) {
      const exit = exitOf(() => commandLine('step', usage).parse([flag], options));
      assert.equal(exit.code, 0, flag);
    }
    assert.deepEqual(printed, { out: [usage, usage], err: [] });
  });

  test('an unknown option prints one line naming it, then the usage, and exits 2', (t) => {
    capture(t);
    const exit = exitOf(() => commandLine('step', usage).parse(['--bogus'], options));
    assert.equal(exit.code, 2);
    assert.deepEqual(exit.printed.err, [`step: unknown option --bogus\n\n${usage}`]);
    assert.deepEqual(exit.printed.out, []);
  });

  test('an argument where the step takes options only is named in quotes', (t) => {
    capture(t);
    const exit = exitOf(() => commandLine('step', usage).parse(['stray'], options));
    assert.equal(exit.code, 2);
    assert.deepEqual(exit.printed.err, [`step: unexpected argument "stray": this step takes options only\n\n${usage}`]);
  });

  test("any other mistake is parseArgs's own first line", (t) => {
    capture(t);
    const exit = exitOf(() => commandLine('step', usage).parse(['--count'], options));
    assert.equal(exit.code, 2);
    const [line] = exit.printed.err;
    assert.match(line, /^step: Option '--count <value>' argument missing\n\nUsage: step/);
    assert.equal(line.split('\n\n')[0].includes('\n'), false, `one line: ${JSON.stringify(line)}`);
  });

  test('fail() prints the problem and the usage on stderr, and exits 2', (t) => {
    capture(t);
    const exit = exitOf(() => commandLine('loadtest', usage).fail('expected one URL, got 0'));
    assert.equal(exit.code, 2);
    assert.deepEqual(exit.printed.err, [`loadtest: expected one URL, got 0\n\n${usage}`]);
  });
});
