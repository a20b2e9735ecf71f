import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { piecesOf, solve } from './cut-steps.ts';

// git diff -U0 from a lesson to its skeleton: a given difference (the header), a step with a
// todo() marker, and a step whose skeleton side is its comment only.
const skeleton = ['// Exercise', 'import { todo } from "../todo.ts";', 'function a() {', '  // TODO 1: count.', "  todo('f', 'a (TODO 1)');", '}', 'function b() {', '  // TODO 2: set it.', '}'].join('\n');
const diff = `diff --git a/lesson.ts b/skeleton.ts
--- a/lesson.ts
+++ b/skeleton.ts
@@ -1 +1,2 @@
-// Lesson
+// Exercise
+import { todo } from "../todo.ts";
@@ -3,3 +4,2 @@ function a() {
-  let n = 0;
-  while (n < 9) n++;
-  return n;
+  // TODO 1: count.
+  todo('f', 'a (TODO 1)');
@@ -8 +8 @@ function b() {
-  x = 1;
+  // TODO 2: set it.
`;

describe('cutting one step out of an exercise, for the TODO matrix', () => {
  test('each piece knows its steps: the markers in it and the TODO comments; the header is no step', () => {
    const pieces = piecesOf(diff, 'exercises/09-x/a.ts');
    assert.deepEqual(pieces.map((p) => [p.at, p.markers, p.steps]), [[0, [], []], [3, [1], [1]], [7, [], [2]]]);
    assert.deepEqual(pieces[1].lesson, ['  let n = 0;', '  while (n < 9) n++;', '  return n;']);
  });

  test('solved, every step holds the lesson lines and the given differences stay the skeleton\'s; one step can be left out', () => {
    const pieces = piecesOf(diff, 'exercises/09-x/a.ts');
    const all = solve(skeleton, pieces);
    assert.equal(all, ['// Exercise', 'import { todo } from "../todo.ts";', 'function a() {', '  let n = 0;', '  while (n < 9) n++;', '  return n;', '}', 'function b() {', '  x = 1;', '}'].join('\n'));
    const butOne = solve(skeleton, pieces, 1);
    assert.match(butOne, /todo\('f', 'a \(TODO 1\)'\);/);
    assert.match(butOne, /  x = 1;/);
    assert.equal(solve(skeleton, pieces, 2).includes('  // TODO 2: set it.'), true);
  });
});
