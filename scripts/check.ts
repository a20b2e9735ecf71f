// npm run check: the lessons' own tests, run against your code in exercises/, lesson by lesson. It
// stops at the first lesson that fails and says what to do next: the test, its message, the TODO that
// test needs, and a first hint (more with --hint). Exit 0 only when every exercise passes.
// Run it:  npm run check    one lesson:  npm run check -- 03    re-run on each save:  npm run check -- --watch

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch, type FSWatcher } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exitOnSignals, killGroup } from '../lib/launch.ts';
import { commandLine } from '../lib/options.ts';
import { runtimeArgs } from '../lib/runtime.ts';
import { withCompileCache } from '../lib/ts-cache.mjs';
import { commentOf, hintLevel, inFilesOrder, markersIn, nextStep, notJudgedOn, parseHints, todoLines, type Marker, type Step } from './steps.ts';

const defaults = {
  barWidth: 24,
  messageLines: 6, // of the failing test's message; lines naming a TODO are shown even beyond these
  reporter: './scripts/check-reporter.mjs', // node:test reporter that prints one JSON line per test
  testTimeoutMs: 600_000, // per test file on Node 20 (per test on Bun): a half-written exercise may never exit
  debounceMs: 300, // --watch: an editor's save is often several writes; run once they have settled
};

const root = fileURLToPath(new URL('..', import.meta.url));
// The Node to suggest where this runtime cannot run a lesson's tests: the current LTS, as pinned.
const checkOn: string = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).config.node['26'];
const isBun = 'bun' in process.versions;
// For CI's proofs of this checker (scripts/check-exercises.sh), not for learners: with
// EVERY_CORE_CHECK_BAIL=1 the test run ends at the first failing test, its lessons with it, instead
// of running the lesson's other tests (to their timeouts, once a step is unwritten). That failure,
// the step it names and its todo() line are what a full run prints; only the tally counts fewer tests.
const isBail = process.env.EVERY_CORE_CHECK_BAIL === '1';
if (isBail) exitOnSignals();
const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number) => (text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
const [red, green, yellow, dim, bold] = [paint(31), paint(32), paint(33), paint(2), paint(1)];

interface Started {
  name: string;
  status: 'start';
  file?: string; // absolute
}

interface Result {
  name: string;
  status: 'pass' | 'fail' | 'skip';
  message?: string;
  file?: string;
}

interface Run {
  results: Result[];
  reached: Marker[]; // the unwritten steps that a process reached while the tests ran (todo() lines)
}

const exercises = readdirSync(join(root, 'exercises')).filter((name) => /^\d\d-/.test(name)).sort();
const options = readArgs(process.argv.slice(2));
let running: ChildProcess | undefined;

console.log(bold("every-core check: your exercises/, tested by the lessons' own tests") + dim(` (${runtime()})\n`));
if (options.watch) await watchMode(options.lessons);
else process.exit((await checkFrom(options.lessons, 0)) === undefined ? 0 : 1);

// Checks the lessons in order from `from`; returns the index of the first that fails, if any. A
// lesson whose tests all skip on this runtime (lesson 09 before Node 22.12) judges nothing: it is
// neither passed nor failed but said, with the reason and the command that checks it, and the run
// goes on (exit 0 if nothing failed: a learner on Node 20 can still finish the others).
async function checkFrom(lessons: string[], from: number): Promise<number | undefined> {
  const unchecked: { lesson: string; reason: string }[] = [];
  for (let i = from; i < lessons.length; i++) {
    const lesson = lessons[i];
    const never = notJudgedOn(hintsOf(lesson), isBun ? 'Bun' : 'Node'); // the tests would prove nothing here
    const { results, reached } = never === undefined ? await runTests(lesson) : { results: [], reached: [] };
    const failed = results.filter((r) => r.status === 'fail');
    const reason = never ?? (failed.length === 0 ? notJudgedHere(lesson, results) : undefined);
    if (reason !== undefined) {
      console.log(`${yellow('○')} ${lesson.padEnd(20)} ${yellow(`not checked on ${runtime()}`)}: ${reason}`);
      unchecked.push({ lesson, reason });
      continue;
    }
    console.log(`${failed.length === 0 && results.length > 0 ? green('✔') : red('✖')} ${lesson.padEnd(20)} ${tally(results)}`);
    if (failed.length > 0 || results.length === 0) {
      report(lesson, results, reached, i, lessons.length);
      return i;
    }
  }
  console.log(`\n${bar(lessons.length - unchecked.length, lessons.length)}`);
  if (unchecked.length > 0) {
    const names = unchecked.map((u) => u.lesson).join(', ');
    const others = lessons.length - from - unchecked.length;
    console.log(yellow(`NOT CHECKED on ${runtime()}: ${names}.${others > 0 ? ` The ${others} other exercise${others === 1 ? '' : 's'} checked here pass${others === 1 ? 'es' : ''}.` : ''}`));
    console.log(`  Its lesson's tests skip on this runtime, so your code there has not been judged. Check it on a runtime that runs them:`);
    for (const { lesson } of unchecked) console.log(`    npx --yes node@${checkOn} --import tsx scripts/check.ts ${lesson.slice(0, 2)}`);
    return undefined;
  }
  console.log(green(lessons.length === exercises.length ? "Every exercise passes its lesson's tests. Well done." : 'Passed. Every lesson in order: npm run check'));
  return undefined;
}

// Why this runtime cannot judge the exercise, if it cannot: no test that its hints name ran (each
// skipped, or inside a suite skipped whole, which Node reports as the suite alone) and something skipped.
function notJudgedHere(lesson: string, results: Result[]): string | undefined {
  const parts = stepsOf(lesson).flatMap((step) => step.tests);
  const judging = results.filter((r) => parts.some((part) => r.name.includes(part)));
  const skipped = results.filter((r) => r.status === 'skip');
  if (parts.length === 0 || skipped.length === 0 || judging.some((r) => r.status !== 'skip')) return undefined;
  return [...judging, ...skipped].find((r) => r.message)?.message ?? `its tests skip on ${runtime()}`;
}

function readArgs(args: string[]): { lessons: string[]; level: number; watch: boolean } {
  const usage = `Usage: npm run check [-- NN ...] [--hint [--hint]] [--solution] [--watch]

  NN           only these lessons' exercises (default: all, in order)
  --hint       a second hint for the step you are on; twice: the recipe
  --solution   the recipe at once
  --watch      check again each time you save a file of the exercise; go on to the next when it passes

  ${lessonList()}`;
  const { fail, parse } = commandLine('check', usage);
  const flags = { hint: { type: 'boolean', multiple: true }, solution: { type: 'boolean' }, watch: { type: 'boolean' } } as const;
  const { values, positionals } = parse(args, flags, { positionals: true });
  const level = hintLevel(values.hint?.length ?? 0, values.solution ?? false);
  const lessons = positionals.map((arg) => {
    const lesson = /^\d{1,2}$/.test(arg) ? exercises.find((name) => Number(name.slice(0, 2)) === Number(arg)) : exercises.find((name) => name === arg);
    return lesson ?? fail(`no exercise for lesson ${JSON.stringify(arg)}`);
  });
  return { lessons: lessons.length > 0 ? lessons : exercises, level, watch: values.watch ?? false };
}

function lessonList(): string {
  return `Lessons with an exercise: ${exercises.map((name) => name.slice(0, 2)).join(', ')} (${exercises.join(', ')})`;
}

function runtime(): string {
  return isBun ? `Bun ${process.versions.bun}` : `Node ${process.version}`;
}

// ---- --watch: check the exercise you are on each time one of its files is saved ----

async function watchMode(lessons: string[]): Promise<void> {
  let current = await checkFrom(lessons, 0);
  if (current === undefined) return process.exit(0);
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  let isChecking = false;
  let isAgain = false;
  // Ctrl+C reaches the test run too (same terminal); wait for it, so that no lesson outlives us.
  process.on('SIGINT', async () => {
    watcher?.close();
    clearTimeout(timer);
    running?.kill('SIGINT');
    if (running) await once(running, 'close');
    console.log(`\n${dim(`Stopped watching exercises/${lessons[current!]}/.`)} Once more, at any time: npm run check -- --watch`);
    process.exit(130);
  });
  const follow = () => {
    watcher?.close();
    watcher = watch(join(root, 'exercises', lessons[current!]), () => {
      clearTimeout(timer);
      timer = setTimeout(recheck, defaults.debounceMs);
    });
    console.log(dim(`\nWatching exercises/${lessons[current!]}/: save a file there to check again. Ctrl+C stops.`));
  };
  const recheck = async () => {
    if (isChecking) return void (isAgain = true); // a save during a run: once more after it
    isChecking = true;
    console.log(dim(`\n--- ${new Date().toLocaleTimeString()}: a file of exercises/${lessons[current!]}/ changed ---`));
    const next = await checkFrom(lessons, current!);
    isChecking = false;
    if (next === undefined) {
      watcher?.close();
      return process.exit(0);
    }
    if (next !== current) (current = next), follow();
    else console.log(dim(`\nWatching exercises/${lessons[current!]}/: save a file there to check again. Ctrl+C stops.`));
    if (isAgain) (isAgain = false), recheck();
  };
  follow();
}

// ---- Running one lesson's tests with the switch on ----

async function runTests(lesson: string): Promise<Run> {
  const status = process.stdout.isTTY ? (line: string) => process.stdout.write(line) : () => {};
  status(dim(`  testing ${lesson}...`));
  const files = readdirSync(join(root, 'lessons', lesson)).filter((file) => file.endsWith('.test.ts')).map((file) => `lessons/${lesson}/${file}`);
  const dir = mkdtempSync(join(os.tmpdir(), 'every-core-check-'));
  try {
    // todo() notes each unwritten step it reaches in this file (exercises/todo.ts): a test whose
    // message says only "ECONNRESET" may have reached one in a server it started.
    const todoLog = join(dir, 'todo.log');
    const env = withCompileCache({ ...process.env, EVERY_CORE_TRACK: 'exercises', EVERY_CORE_TODO_LOG: todoLog });
    const results = isBun ? await runOnBun(files, env, dir) : await runOnNode(files, env);
    const reached = existsSync(todoLog) ? todoLines(readFileSync(todoLog, 'utf8')) : [];
    return { results, reached };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    status(`\r${' '.repeat(60)}\r`);
  }
}

async function runOnNode(files: string[], env: NodeJS.ProcessEnv): Promise<Result[]> {
  // --test-timeout came with Node 20.11; on an older Node a test that hangs needs Ctrl+C.
  const [major, minor] = process.versions.node.split('.').map(Number);
  const timeout = major > 20 || minor >= 11 ? [`--test-timeout=${defaults.testTimeoutMs}`] : [];
  // A lesson's files side by side, as npm test runs them (they mostly wait for the lessons they
  // start), except in a run that ends at its first failure (CI's proofs), which keeps the runner's own.
  const concurrency = !isBail && (major > 20 || minor >= 11) ? [`--test-concurrency=${os.availableParallelism() + 1}`] : [];
  const args = [...runtimeArgs(), '--test', ...timeout, ...concurrency, `--test-reporter=${defaults.reporter}`, ...files];
  const isFailure = (line: string) => line.startsWith('{') && (JSON.parse(line) as Result | Started).status === 'fail';
  const { stdout, stderr, code } = await run(process.execPath, args, env, isBail ? isFailure : undefined);
  // Whole lines only: a run ended at its first failure may have been cut in the middle of the next one.
  const events = stdout.slice(0, stdout.lastIndexOf('\n') + 1).split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Result | Started);
  const results = inFilesOrder(events.filter((event): event is Result => event.status !== 'start'), files);
  if (results.length === 0 && code !== 0) return [{ name: files.join(' '), status: 'fail', message: stderr || `exit code ${code}` }];
  return results.map((result) => namedIfTimedOut(result, events.filter((event) => event.file === result.file)));
}

// On Node 20 a timeout fails the whole suite or file; name the test that was still running instead.
function namedIfTimedOut(result: Result, events: (Result | Started)[]): Result {
  if (result.status !== 'fail' || !/^test timed out after/.test(result.message ?? '')) return result;
  const finished = new Set(events.filter((event) => event.status !== 'start').map((event) => event.name));
  const hung = events.filter((event) => event.status === 'start' && !finished.has(event.name) && event.name !== result.name).at(-1);
  return hung ? { ...result, name: hung.name, message: `${result.message}: it never finished` } : result;
}

async function runOnBun(files: string[], env: NodeJS.ProcessEnv, dir: string): Promise<Result[]> {
  const junit = join(dir, 'junit.xml');
  const args = ['test', '--timeout', String(defaults.testTimeoutMs), ...(isBail ? ['--bail'] : []), '--reporter=junit', `--reporter-outfile=${junit}`, ...files];
  const { stderr, code } = await run(process.execPath, args, env);
  const results = readJunit(junit);
  if (results.length === 0 && code !== 0) return [{ name: files.join(' '), status: 'fail', message: stderr || `exit code ${code}` }];
  return results;
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
// `endsRun`: a line of its output after which the run is ended (bail), in a group of its own for that.
async function run(command: string, args: string[], env: NodeJS.ProcessEnv, endsRun?: (line: string) => boolean): Promise<{ stdout: string; stderr: string; code: number | null }> {
  const child = spawn(command, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], detached: endsRun !== undefined });
  running = child;
  let stdout = '';
  let stderr = '';
  let seen = 0; // the length of stdout already looked at, up to its last whole line
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
    if (!endsRun || seen < 0) return;
    const lines = stdout.slice(seen, stdout.lastIndexOf('\n') + 1);
    seen += lines.length;
    if (!lines.split('\n').some(endsRun)) return;
    seen = -1;
    // Frozen first, so that no test starts a lesson between the look at the process tree and the kill.
    try {
      process.kill(-child.pid!, 'SIGSTOP');
    } catch {
      // ESRCH: the run has ended by itself
    }
    killGroup(child.pid!);
  });
  if (endsRun) {
    // Out of the terminal's group: whatever ends this process ends the run too.
    const end = () => killGroup(child.pid!);
    process.once('exit', end);
    child.once('close', () => process.off('exit', end));
  }
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const [code] = (await once(child, 'close')) as [number | null];
  running = undefined;
  return { stdout, stderr, code };
}

// ---- Saying what to do next ----

function tally(results: Result[]): string {
  const count = (status: Result['status']) => results.filter((r) => r.status === status).length;
  const skipped = count('skip') > 0 ? `, ${count('skip')} skipped on ${runtime()}` : '';
  return `${count('pass')} of ${results.length - count('skip')} tests pass${skipped}`;
}

function report(lesson: string, results: Result[], reached: Marker[], doneCount: number, total: number): void {
  const first = results.find((r) => r.status === 'fail');
  console.log(`\n${bar(doneCount, total)}\n`);
  console.log(bold(`Next: lesson ${lesson}, in exercises/${lesson}/`));
  if (first) {
    console.log(`  First failing test: ${bold(first.name)}`);
    console.log(indent(excerpt(first.message ?? ''), '    '));
  } else {
    console.log("  No test ran: is the lesson's test file there?");
  }
  const elsewhere = reached.filter((marker) => !marker.file.startsWith(`exercises/${lesson}/`));
  if (elsewhere.length > 0) {
    console.log(`  Your code in another exercise reached an unwritten step: ${elsewhere[0].text}`);
    console.log(`  That exercise comes first:  npm run check -- ${elsewhere[0].file.split('/')[1].slice(0, 2)}`);
  }
  const steps = stepsOf(lesson);
  const unwritten = markersOf(lesson);
  const here = reached.filter((marker) => marker.file.startsWith(`exercises/${lesson}/`));
  const next = first ? nextStep(first, steps, unwritten.map((m) => m.number), here.map((m) => m.number)) : undefined;
  if (next) showStep(lesson, next.number, next.why, next.checks, steps, unwritten, here);
  else if (first && unwritten.length === 0) console.log('  Every TODO here is written: the failing test above says what is off.');
  console.log(`  This lesson alone:  ${isBun ? `npx --yes bun@${process.versions.bun} scripts/check.ts` : 'npm run check --'} ${lesson.slice(0, 2)}`);
  console.log(`  Stuck? Compare with the lesson:  diff exercises/${lesson}/${mainFile(lesson)} lessons/${lesson}/${mainFile(lesson)}`);
}

function showStep(lesson: string, number: number, why: string, checks: number[], steps: Step[], unwritten: Marker[], reached: Marker[]): void {
  const step = steps.find((s) => s.number === number);
  const file = step?.file ? `exercises/${lesson}/${step.file}` : (unwritten.find((m) => m.number === number)?.file ?? `exercises/${lesson}/${mainFile(lesson)}`);
  const source = readFileSync(join(root, file), 'utf8');
  const comment = commentOf(source, number);
  const marker = reached.find((m) => m.number === number) ?? unwritten.find((m) => m.number === number);
  const line = comment?.line ?? markersIn(file, source).find((m) => m.number === number)?.line;
  const where = line === undefined ? file : `${file}:${line}`;
  const title = step?.title ? `: ${step.title}` : '';
  const others = checks.filter((n) => n !== number);
  console.log(`  Next TODO: ${bold(`TODO ${number}${title}`)}, at ${where}`);
  if (why === 'reached' && marker) console.log(`    Your code reached it:  ${marker.text}`);
  if (why === 'unwritten' && marker) console.log(`    Still unwritten:  ${marker.text}`);
  if (why === 'written') console.log(`    It is written, but not as this test wants it${others.length > 0 ? ` (the test also checks TODO ${others.join(', TODO ')}, written too)` : ''}.`);
  if (comment) console.log(indent(comment.text.replace(/^TODO \d+:\s*/, ''), '    '));
  const hints = step?.hints ?? [];
  hints.slice(0, options.level).forEach((hint, i) => {
    const label = i === 2 ? 'Recipe' : i === 0 ? 'Hint' : 'More';
    console.log(`  ${label} (exercises/${lesson}/hints.md):\n${indent(hint, '    ')}`);
  });
  if (hints.length > options.level) {
    const asks = options.level === 1 ? 'npm run check -- --hint' : 'npm run check -- --solution';
    console.log(dim(`  ${options.level === 1 ? 'Another hint' : 'The recipe'}:  ${asks.replace('check --', `check -- ${lesson.slice(0, 2)}`)}`));
  }
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

function hintsOf(lesson: string): string {
  const file = join(root, 'exercises', lesson, 'hints.md');
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

function stepsOf(lesson: string): Step[] {
  return parseHints(hintsOf(lesson));
}

// The unwritten steps: the todo() calls still in the exercise's files.
function markersOf(lesson: string): Marker[] {
  const files = readdirSync(join(root, 'exercises', lesson)).filter((f) => f.endsWith('.ts'));
  return files.flatMap((f) => markersIn(`exercises/${lesson}/${f}`, readFileSync(join(root, 'exercises', lesson, f), 'utf8')));
}

// The file to compare with the lesson's: the one that holds the exercise's first step (exercise 08's
// pool.ts, not its given server.ts), else the runnable step.
function mainFile(lesson: string): string {
  const files = readdirSync(join(root, 'exercises', lesson)).filter((f) => f.endsWith('.ts'));
  const first = stepsOf(lesson)[0]?.file;
  if (first && files.includes(first)) return first;
  return files.find((f) => f === 'server.ts' || f === 'primary.ts') ?? files[0];
}
