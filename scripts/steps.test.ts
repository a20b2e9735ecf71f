import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { commentOf, hintLevel, inFilesOrder, markersIn, nextStep, notJudgedOn, parseHints, todoLines } from './steps.ts';

const hints = `# Exercise 09: hints

## TODO 1: answer (server.ts)

Tests: answers / | 404 for the rest

Look at: reply().
Two lines.

More: splitUrl().

Recipe:

\`\`\`ts
reply(res, 200, 'ok');

return;
\`\`\`

## TODO 2: stop (server.ts)

Tests: SIGTERM

Look at: stop().

## TODO 3: leave (server.ts)

Tests: SIGTERM | exits 0
`;

const source = `function answer() {
  // TODO 1: answer it.
  //   more words
  reply(res, 501, 'TODO in exercises/09-x/server.ts: answer() (TODO 1)');
}
// TODO 2: my own note, kept after writing step 2
function stop() {
  // TODO 3: leave.
  todo('exercises/09-x/server.ts', 'leave (TODO 3)');
  // todo('exercises/09-x/server.ts', 'commented out (TODO 4)');
}`;

describe('the steps of an exercise, for npm run check', () => {
  test('hints.md gives each step its tests and its hints in order, the recipe whole with its blank lines', () => {
    const steps = parseHints(hints);
    assert.deepEqual(steps.map((s) => [s.number, s.title, s.file, s.tests]), [
      [1, 'answer', 'server.ts', ['answers /', '404 for the rest']],
      [2, 'stop', 'server.ts', ['SIGTERM']],
      [3, 'leave', 'server.ts', ['SIGTERM', 'exits 0']],
    ]);
    assert.deepEqual(steps[0].hints, ['reply().\nTwo lines.', 'splitUrl().', "```ts\nreply(res, 200, 'ok');\n\nreturn;\n```"]);
    assert.deepEqual(steps[1].hints, ['stop().']);
    assert.deepEqual(steps[2].hints, []);
  });

  test('an unwritten step is a todo() call or a `TODO in` string in code; comments, a learner\'s notes included, are not', () => {
    assert.deepEqual(markersIn('exercises/09-x/server.ts', source).map((m) => [m.number, m.line]), [[1, 4], [3, 9]]);
    assert.equal(markersIn('f', source)[0].text, 'TODO in exercises/09-x/server.ts: answer() (TODO 1)');
  });

  test('todo() lines are found in any output, with their step number and file', () => {
    const output = 'noise\n[pid 12] TODO in exercises/01-single-process/server.ts: stop() answers (TODO 3)\nmore';
    assert.deepEqual(todoLines(output).map((m) => [m.number, m.file]), [[3, 'exercises/01-single-process/server.ts']]);
  });

  test('the next step is the one the failing test reached, even if a lower one is unwritten', () => {
    const steps = parseHints(hints);
    assert.deepEqual(nextStep({ name: 'SIGTERM ends it' }, steps, [1, 3], [3]), { number: 3, why: 'reached', checks: [2, 3] });
    const message = 'ECONNRESET\n[pid 1] TODO in exercises/09-x/server.ts: leave (TODO 3)';
    assert.equal(nextStep({ name: 'answers / fast', message }, steps, [1, 3], [])?.number, 3);
  });

  test('else the lowest unwritten step the test checks, not a finished step whose comment stayed; all written: the last', () => {
    const steps = parseHints(hints);
    assert.deepEqual(nextStep({ name: 'SIGTERM ends it' }, steps, [1, 3], []), { number: 3, why: 'unwritten', checks: [2, 3] });
    assert.deepEqual(nextStep({ name: 'SIGTERM ends it' }, steps, [], []), { number: 3, why: 'written', checks: [2, 3] });
  });

  test('a test the hints do not name points at the step reached, else the lowest unwritten, else none', () => {
    const steps = parseHints(hints);
    assert.equal(nextStep({ name: 'something new' }, steps, [1, 3], [3])?.number, 3);
    assert.deepEqual(nextStep({ name: 'something new' }, steps, [3, 1], []), { number: 1, why: 'first', checks: [] });
    assert.equal(nextStep({ name: 'something new' }, steps, [], []), undefined);
  });

  test("a step's comment is found with the comment lines under it, up to the code", () => {
    assert.deepEqual(commentOf(source, 1), { line: 2, text: 'TODO 1: answer it.\n  more words' });
    assert.equal(commentOf(source, 5), undefined);
  });

  test("a runtime named in a `Not judged on` paragraph before the first step is not judged, with the paragraph's reason", () => {
    const text = '# Exercise\n\nNot judged on Bun: every worker\nhas its own.\n\n## TODO 1: x (a.ts)\n\nNot judged on Node: only in a step, so not this.\n';
    assert.equal(notJudgedOn(text, 'Bun'), 'every worker has its own.');
    assert.equal(notJudgedOn(text, 'Node'), undefined);
    assert.equal(notJudgedOn(hints, 'Bun'), undefined);
  });

  test('one hint by default, two with --hint, the recipe with --hint twice or --solution', () => {
    assert.deepEqual([hintLevel(0, false), hintLevel(1, false), hintLevel(2, false), hintLevel(5, false), hintLevel(0, true)], [1, 2, 3, 3, 3]);
  });
});

describe("a lesson's results, its files run side by side", () => {
  test("come back in the files' order, each file's in its own, a result of no known file last", () => {
    const files = ['lessons/01-x/heavy.test.ts', 'lessons/01-x/server.test.ts'];
    const at = (file: string) => `/home/learner/every-core/${file}`;
    const arrived = [
      { name: 'server 1', file: at(files[1]) },
      { name: 'heavy 1', file: at(files[0]) },
      { name: 'no file' },
      { name: 'server 2', file: at(files[1]) },
      { name: 'heavy 2', file: at(files[0]) },
      { name: 'other', file: at('lessons/01-x/other.test.ts') },
    ];
    assert.deepEqual(inFilesOrder(arrived, files).map((result) => result.name), ['heavy 1', 'heavy 2', 'server 1', 'server 2', 'no file', 'other']);
    // A file whose path merely ends like another's is not that one.
    assert.deepEqual(inFilesOrder([{ name: 'a', file: '/x/mylessons/01-x/heavy.test.ts' }, { name: 'b', file: at(files[1]) }], files).map((r) => r.name), ['b', 'a']);
  });
});

describe("each exercise's hints.md", () => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const exercises = readdirSync(join(root, 'exercises')).filter((name) => /^\d\d-/.test(name));
  // A lesson's tests: its *.test.ts, and the shared ones it runs from a *-tests.ts (lesson 01's stop tests).
  for (const exercise of exercises) {
    test(`${exercise}: a step for every todo() marker, and every test it names is one of lesson ${exercise.slice(0, 2)}'s`, () => {
      const steps = parseHints(readFileSync(join(root, 'exercises', exercise, 'hints.md'), 'utf8'));
      const tests = readdirSync(join(root, 'lessons', exercise)).filter((f) => /(\.test|-tests)\.ts$/.test(f)).map((f) => readFileSync(join(root, 'lessons', exercise, f), 'utf8')).join('\n');
      for (const step of steps) {
        assert.ok(step.hints.length === 3, `TODO ${step.number}: a hint, more, and a recipe`);
        for (const part of step.tests) assert.ok(tests.includes(part), `TODO ${step.number} names a test that lesson ${exercise} does not have: "${part}"`);
      }
      const files = readdirSync(join(root, 'exercises', exercise)).filter((f) => f.endsWith('.ts'));
      const markers = files.flatMap((f) => markersIn(f, readFileSync(join(root, 'exercises', exercise, f), 'utf8')));
      for (const marker of markers) assert.ok(steps.some((step) => step.number === marker.number && step.file === marker.file), `${marker.file}:${marker.line}: TODO ${marker.number} has no section "## TODO ${marker.number}: ... (${marker.file})" in hints.md`);
    });
  }
});
