// npm run check: the lessons' own tests, run against your code in exercises/, lesson by lesson. It
// stops at the first lesson that fails and says what to do next: the test, its message, a hint from
// the lesson's README, the TODO still in your file. Exit 0 only when every exercise passes.
// Run it:  npm run check            one lesson:  npm run check -- 03

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandLine } from '../lib/options.ts';

const defaults = {
  barWidth: 24,
  messageLines: 6, // of the failing test's message; lines naming a TODO are shown even beyond these
  reporter: './scripts/check-reporter.mjs', // node:test reporter that prints one JSON line per test
  testTimeoutMs: 600_000, // per test file on Node 20 (per test on Bun): a half-written exercise may never exit
};

const root = fileURLToPath(new URL('..', import.meta.url));
const isBun = 'bun' in process.versions;
const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number) => (text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
const [red, green, dim, bold] = [paint(31), paint(32), paint(2), paint(1)];

interface Started {
  name: string;
  status: 'start';
}

interface Result {
  name: string;
  status: 'pass' | 'fail' | 'skip';
  message?: string;
}

const exercises = readdirSync(join(root, 'exercises')).filter((name) => /^\d\d-/.test(name)).sort();
const chosen = readArgs(process.argv.slice(2));
console.log(bold("every-core check: your exercises/, tested by the lessons' own tests") + dim(` (${runtime()})\n`));
let done = 0;
for (const lesson of chosen) {
  const results = await runTests(lesson);
  const failed = results.filter((r) => r.status === 'fail');
  console.log(`${failed.length === 0 && results.length > 0 ? green('✔') : red('✖')} ${lesson.padEnd(20)} ${tally(results)}`);
  if (failed.length > 0 || results.length === 0) {
    report(lesson, results);
    process.exit(1);
  }
  done++;
}
console.log(`\n${bar(done, chosen.length)}`);
console.log(green(chosen.length === exercises.length ? 'Every exercise passes its lesson\'s tests. Well done.' : 'Passed. Every lesson in order: npm run check'));

function readArgs(args: string[]): string[] {
  const usage = `Usage: npm run check [-- NN ...]\n\n  ${lessonList()}`;
  const { fail, parse } = commandLine('check', usage);
  const { positionals } = parse(args, {}, { positionals: true });
  if (positionals.length === 0) return exercises;
  return positionals.map((arg) => {
    const lesson = /^\d{1,2}$/.test(arg) ? exercises.find((name) => Number(name.slice(0, 2)) === Number(arg)) : exercises.find((name) => name === arg);
    return lesson ?? fail(`no exercise for lesson ${JSON.stringify(arg)}`);
  });
}

function lessonList(): string {
  return `Lessons with an exercise: ${exercises.map((name) => name.slice(0, 2)).join(', ')} (${exercises.join(', ')})`;
}

function runtime(): string {
  return isBun ? `Bun ${process.versions.bun}` : `Node ${process.version}`;
}

// ---- Running one lesson's tests with the switch on ----

async function runTests(lesson: string): Promise<Result[]> {
  const status = process.stdout.isTTY ? (line: string) => process.stdout.write(line) : () => {};
  status(dim(`  testing ${lesson}...`));
  const files = readdirSync(join(root, 'lessons', lesson)).filter((file) => file.endsWith('.test.ts')).map((file) => `lessons/${lesson}/${file}`);
  const env = { ...process.env, EVERY_CORE_TRACK: 'exercises' };
  const results = isBun ? await runOnBun(files, env) : await runOnNode(files, env);
  status(`\r${' '.repeat(60)}\r`);
  return results;
}

async function runOnNode(files: string[], env: NodeJS.ProcessEnv): Promise<Result[]> {
  // --test-timeout came with Node 20.11; on an older Node a test that hangs needs Ctrl+C.
  const [major, minor] = process.versions.node.split('.').map(Number);
  const timeout = major > 20 || minor >= 11 ? [`--test-timeout=${defaults.testTimeoutMs}`] : [];
  const args = ['--import', 'tsx', '--test', ...timeout, `--test-reporter=${defaults.reporter}`, ...files];
  const { stdout, stderr, code } = await run(process.execPath, args, env);
  const events = stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Result | Started);
  const results = events.filter((event): event is Result => event.status !== 'start');
  if (results.length === 0 && code !== 0) return [{ name: files.join(' '), status: 'fail', message: stderr || `exit code ${code}` }];
  return results.map((result) => namedIfTimedOut(result, events));
}

// On Node 20 a timeout fails the whole suite or file; name the test that was still running instead.
function namedIfTimedOut(result: Result, events: (Result | Started)[]): Result {
  if (result.status !== 'fail' || !/^test timed out after/.test(result.message ?? '')) return result;
  const finished = new Set(events.filter((event) => event.status !== 'start').map((event) => event.name));
  const hung = events.filter((event) => event.status === 'start' && !finished.has(event.name) && event.name !== result.name).at(-1);
  return hung ? { ...result, name: hung.name, message: `${result.message}: it never finished` } : result;
}

async function runOnBun(files: string[], env: NodeJS.ProcessEnv): Promise<Result[]> {
  const dir = mkdtempSync(join(os.tmpdir(), 'every-core-check-'));
  try {
    const junit = join(dir, 'junit.xml');
    const args = ['test', '--timeout', String(defaults.testTimeoutMs), '--reporter=junit', `--reporter-outfile=${junit}`, ...files];
    const { stderr, code } = await run(process.execPath, args, env);
    const results = readJunit(junit);
    if (results.length === 0 && code !== 0) return [{ name: files.join(' '), status: 'fail', message: stderr || `exit code ${code}` }];
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Bun's JUnit file: one <testcase name="..."> per test, holding <failure message="..."> or <skipped/>.
function readJunit(file: string): Result[] {
  let xml: string;
  try {
    xml = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return [...xml.matchAll(/<testcase name="([^"]*)"[^>]*?(\/>|>([^]*?)<\/testcase>)/g)].map(([, name, , body = '']) => {
    const failure = body.match(/<failure[^>]*message="([^"]*)"/);
    const status = failure ? 'fail' : /<skipped/.test(body) ? 'skip' : 'pass';
    return { name: unescapeXml(name), status, message: failure ? unescapeXml(failure[1]) : undefined };
  });
}

function unescapeXml(text: string): string {
  const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
  return text.replace(/&(#\d+|\w+);/g, (entity, name: string) => (name.startsWith('#') ? String.fromCodePoint(Number(name.slice(1))) : (named[name] ?? entity)));
}

// The test runner is a child, so a test that hangs or crashes the runner cannot take this report down.
async function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string; code: number | null }> {
  const child = spawn(command, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const [code] = (await once(child, 'close')) as [number | null];
  return { stdout, stderr, code };
}

// ---- Saying what to do next ----

function tally(results: Result[]): string {
  const count = (status: Result['status']) => results.filter((r) => r.status === status).length;
  const skipped = count('skip') > 0 ? `, ${count('skip')} skipped on ${runtime()}` : '';
  return `${count('pass')} of ${results.length - count('skip')} tests pass${skipped}`;
}

function report(lesson: string, results: Result[]): void {
  const first = results.find((r) => r.status === 'fail');
  const number = lesson.slice(0, 2);
  console.log(`\n${bar(done, chosen.length)}\n`);
  console.log(bold(`Next: lesson ${lesson}, in exercises/${lesson}/`));
  if (first) {
    console.log(`  First failing test: ${bold(first.name)}`);
    console.log(indent(excerpt(first.message ?? ''), '    '));
  } else {
    console.log('  No test ran: is the lesson\'s test file there?');
  }
  const [todo, ...more] = todosIn(lesson);
  const others = more.length > 0 ? dim(` (then ${more.map((t) => t.split('\n')[0].split('/').pop()).join(', ')})`) : '';
  if (todo) {
    const [where, ...what] = todo.split('\n');
    console.log(`  Next TODO, at ${where}${others}:\n${indent(what.join('\n'), '    ')}`);
  }
  const hint = hintOf(lesson);
  if (hint) console.log(`  Hint (lessons/${lesson}/README.md):\n${indent(hint, '    ')}`);
  console.log(`  This lesson alone:  ${isBun ? `npx --yes bun@${process.versions.bun} scripts/check.ts` : 'npm run check --'} ${number}`);
  console.log(`  Stuck? Compare with the lesson:  diff exercises/${lesson}/${mainFile(lesson)} lessons/${lesson}/${mainFile(lesson)}`);
}

function bar(doneCount: number, total: number): string {
  const filled = Math.round((defaults.barWidth * doneCount) / total);
  return `[${green('█'.repeat(filled))}${dim('░'.repeat(defaults.barWidth - filled))}] ${doneCount} of ${total} lesson${total === 1 ? '' : 's'} done`;
}

// The first lines of a message, plus any later line that names a TODO: it says where to go.
function excerpt(message: string): string {
  const lines = message.trimEnd().split('\n');
  const head = lines.slice(0, defaults.messageLines);
  const todos = lines.slice(defaults.messageLines).filter((line) => line.includes('TODO in '));
  const more = lines.length > head.length + todos.length ? [dim('...')] : [];
  return [...head, ...(todos.length > 0 ? [dim('...'), ...todos.slice(0, 2)] : more)].join('\n');
}

function indent(text: string, prefix: string): string {
  return text.split('\n').map((line) => prefix + line).join('\n');
}

function todosIn(lesson: string): string[] {
  const found: string[] = [];
  for (const file of readdirSync(join(root, 'exercises', lesson)).filter((f) => f.endsWith('.ts')).sort(byMainFirst(lesson))) {
    const lines = readFileSync(join(root, 'exercises', lesson, file), 'utf8').split('\n');
    lines.forEach((line, i) => {
      const match = line.match(/\/\/ (TODO \d+:.*)/);
      if (match) found.push(`exercises/${lesson}/${file}:${i + 1}\n${[match[1], ...commentAfter(lines, i)].join('\n')}`);
    });
  }
  return found.sort((a, b) => todoNumber(a) - todoNumber(b));
}

// The rest of a TODO's comment: the lines below it that are still comment, up to the next TODO.
function commentAfter(lines: string[], at: number): string[] {
  const rest: string[] = [];
  for (const line of lines.slice(at + 1)) {
    const match = line.match(/^\s*\/\/ ?(.*)$/);
    if (!match || /TODO \d+:/.test(match[1])) break;
    rest.push(match[1]);
  }
  return rest;
}

function todoNumber(line: string): number {
  return Number(line.match(/TODO (\d+):/)?.[1] ?? 0);
}

function byMainFirst(lesson: string): (a: string, b: string) => number {
  return (a, b) => Number(b === mainFile(lesson)) - Number(a === mainFile(lesson)) || a.localeCompare(b);
}

// The runnable step of an exercise: the file its lesson's README opens with.
function mainFile(lesson: string): string {
  const files = readdirSync(join(root, 'exercises', lesson)).filter((f) => f.endsWith('.ts'));
  return files.find((f) => f === 'server.ts' || f === 'primary.ts') ?? files[0];
}

// The lesson README's `Hint:` paragraph, in its Exercise section.
function hintOf(lesson: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(join(root, 'lessons', lesson, 'README.md'), 'utf8');
  } catch {
    return undefined;
  }
  return text.split(/\n\s*\n/).find((paragraph) => paragraph.startsWith('Hint: '))?.slice('Hint: '.length).trim();
}
