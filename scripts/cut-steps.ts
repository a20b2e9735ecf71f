// For scripts/check-exercises.sh: an exercise with every step solved but one. A step is a piece of
// the skeleton that differs from the lesson and holds a todo() marker (its `(TODO n)`); solving it
// puts the lesson's lines there. The other differences (the header, the usage line, `import { todo }`)
// stay the skeleton's. Pieces come from git's patience diff, which lines up on lines that occur once.
// Run it (in a copy with skeletons/ beside exercises/):  node --import tsx scripts/cut-steps.ts list 01
//                                                        node --import tsx scripts/cut-steps.ts write 01 [N]

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { markersIn } from './steps.ts';
import { isMain } from '../lib/runtime.ts';

export interface Piece {
  at: number; // 0-based line in the skeleton where it starts
  skeleton: string[]; // its lines in the skeleton (none: the lesson has lines the skeleton lacks)
  lesson: string[]; // its lines in the lesson
  markers: number[]; // the todo() markers in its skeleton lines
  steps: number[]; // those and the `// TODO n:` comments there; none: a given difference
}

// `git diff -U0` hunks, from the lesson (-) to the skeleton (+).
export function piecesOf(diff: string, skeletonFile: string): Piece[] {
  const pieces: Piece[] = [];
  for (const line of diff.split('\n')) {
    const hunk = line.match(/^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@/);
    if (hunk) {
      const at = Number(hunk[1]) - (hunk[2] === '0' ? 0 : 1);
      pieces.push({ at, skeleton: [], lesson: [], markers: [], steps: [] });
    } else if (pieces.length > 0 && /^[-+]/.test(line) && !/^(---|\+\+\+) /.test(line)) {
      (line[0] === '+' ? pieces.at(-1)!.skeleton : pieces.at(-1)!.lesson).push(line.slice(1));
    }
  }
  for (const piece of pieces) {
    const text = piece.skeleton.join('\n');
    piece.markers = [...new Set(markersIn(skeletonFile, text).map((m) => m.number))];
    const comments = [...text.matchAll(/^\s*\/\/ TODO (\d+):/gm)].map((m) => Number(m[1]));
    piece.steps = [...new Set([...piece.markers, ...comments])].sort((a, b) => a - b);
  }
  return pieces;
}

// The skeleton with every step's piece replaced by the lesson's lines, except the pieces of step `except`.
export function solve(skeleton: string, pieces: Piece[], except?: number): string {
  const lines = skeleton.split('\n');
  for (const piece of [...pieces].reverse()) {
    if (piece.steps.length === 0 || (except !== undefined && piece.steps.includes(except))) continue;
    lines.splice(piece.at, piece.skeleton.length, ...piece.lesson);
  }
  return lines.join('\n');
}

function diff(lessonFile: string, skeletonFile: string): string {
  const run = spawnSync('git', ['diff', '--no-index', '--patience', '--no-color', '-U0', lessonFile, skeletonFile], { encoding: 'utf8' });
  if (run.status !== 0 && run.status !== 1) throw new Error(`git diff failed: ${run.stderr}`);
  return run.stdout;
}

function exerciseFiles(exercise: string): { name: string; skeleton: string; lesson: string; pieces: Piece[] }[] {
  const dir = join('skeletons', exercise);
  return readdirSync(dir).filter((name) => name.endsWith('.ts') && existsSync(join('lessons', exercise, name))).map((name) => {
    const skeleton = join(dir, name);
    const lesson = join('lessons', exercise, name);
    return { name, skeleton, lesson, pieces: piecesOf(diff(lesson, skeleton), `exercises/${exercise}/${name}`) };
  });
}

function main([command, lesson, except]: string[]): void {
  const usage = 'Usage: node --import tsx scripts/cut-steps.ts list|write NN [step], in a copy holding skeletons/ (scripts/check-exercises.sh makes one)';
  if (!existsSync('skeletons')) {
    console.error(`cut-steps: no skeletons/ folder in ${process.cwd()}: it cuts steps out of a copy of the project, never the checkout\n${usage}`);
    process.exit(2);
  }
  const exercise = readdirSync('skeletons').find((name) => name.slice(0, 2) === lesson?.padStart(2, '0'));
  if (!exercise || (command !== 'list' && command !== 'write')) {
    console.error(usage);
    process.exit(2);
  }
  const files = exerciseFiles(exercise);
  if (command === 'list') {
    // One line per step: its number, where, and what keeps it from being cut out alone (if anything).
    const steps = [...new Set(files.flatMap((f) => f.pieces.flatMap((p) => p.steps)))].sort((a, b) => a - b);
    for (const step of steps) {
      const pieces = files.flatMap(({ name, pieces }) => pieces.filter((p) => p.steps.includes(step)).map((p) => ({ name, ...p })));
      const shared = [...new Set(pieces.flatMap((p) => p.steps))].filter((n) => n !== step);
      const problem = !pieces.some((p) => p.markers.includes(step))
        ? 'no todo() marker of its own'
        : shared.length > 0 ? `its code is one piece with TODO ${shared.join(', ')}` : '';
      console.log([step, pieces.map((p) => `${p.name}:${p.at + 1}`).join(','), problem].join('\t'));
    }
    for (const { name, pieces } of files) {
      const dropped = pieces.filter((p) => p.steps.length === 0 && p.lesson.some((l) => !/^\s*(\/\/.*)?$/.test(l)) && p.skeleton.every((l) => /^\s*(\/\/.*)?$/.test(l)));
      for (const piece of dropped) console.error(`note: ${name}:${piece.at + 1}: lesson code that the skeleton drops without a TODO: ${piece.lesson.find((l) => l.trim())!.trim()}`);
    }
    return;
  }
  for (const { name, skeleton, pieces } of files) {
    writeFileSync(join('exercises', exercise, name), solve(readFileSync(skeleton, 'utf8'), pieces, except === undefined ? undefined : Number(except)));
  }
}

if (isMain(import.meta.url)) main(process.argv.slice(2));
