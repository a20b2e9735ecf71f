// How long a newcomer waits for the suite: a fresh clone of this checkout's last commit, a cold cache,
// each runtime pinned in package.json. Prints wall time, CPU-seconds, Node process starts and the
// five slowest test files. A benchmark: it measures and prints, it asserts nothing about time.
// Run it:  npm run bench:suite -- --node 20 --node 26 --bun

import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { killGroup, root } from '../lib/launch.ts';
import { commandLine } from '../lib/options.ts';

const project = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const pins: Record<string, string> = project.config.node; // major -> exact version
const defaults = { node: ['20', '26'], slowest: 5, leakGraceS: 5 };
const usage = `Usage: npm run bench:suite -- [--node <major>]... [--bun] [--bare] [-- <test runner arguments>]

  --node <major>   time npm test on that Node: ${Object.entries(pins).map(([major, version]) => `${major} (${version})`).join(', ')}; repeatable
  --bun            time npm run test:bun on Bun ${project.config.bun}
  --bare           on each Node, also time a bare \`node --test\`, which a learner may type
  (no runtime named: --node ${defaults.node.join(' --node ')})
  after --   passed to each run's command, e.g. -- --test-concurrency=3

It clones this checkout's last commit (uncommitted changes are not in it) into a temporary folder,
links node_modules, and gives each run a fresh TMPDIR, so tsx's cache starts cold. The folder is
removed at the end, also on Ctrl+C. Needs Linux and python3 (the CPU count of orphaned processes).`;

interface Runtime {
  label: string;
  command: (exec: string) => string; // the suite's command line, for sh
  exec: string; // the runtime's executable
}

interface Result {
  label: string;
  wallS: number;
  cpuS: { user: number; sys: number } | null;
  nodeStarts: { all: number; testFiles: number; underTsx: number } | null;
  slowest: { file: string; wallS: number; cpuS?: number; starts?: number }[];
  tests: string;
  exitCode: number | null;
  load: [number, number];
  leftovers: number[];
}

const runtimes = readArgs(process.argv.slice(2));
removeLeftovers(); // of a run killed with kill -9, which could not remove its clone
const work = mkdtempSync(join(os.tmpdir(), `every-core-bench-${process.pid}-`));
let suite: number | undefined; // the process group of the run in progress
let suiteExited: Promise<unknown> = Promise.resolve();
process.once('exit', () => {
  if (suite !== undefined) killGroup(suite);
  rmSync(work, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop(signal));

const checkout = cloneCheckout();
const results: Result[] = [];
for (const runtime of runtimes) {
  console.log(`== ${runtime.label}: ${runtime.command(runtime.exec)}`);
  const result = await runSuite(runtime);
  results.push(result);
  console.log(describe(result));
}
console.log(`\n${table(results)}`);
process.exitCode = results.some((result) => result.exitCode !== 0) ? 1 : 0;

function removeLeftovers(): void {
  for (const name of readdirSync(os.tmpdir())) {
    const pid = Number(/^every-core-bench-(\d+)-/.exec(name)?.[1]);
    if (pid && !isAlive(pid)) rmSync(join(os.tmpdir(), name), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readArgs(argv: string[]): Runtime[] {
  const { fail, parse } = commandLine('bench:suite', usage);
  const { values, positionals } = parse(argv, { node: { type: 'string', multiple: true }, bun: { type: 'boolean' }, bare: { type: 'boolean' } }, { positionals: true });
  const dashDash = argv.indexOf('--');
  if (positionals.length > 0 && (dashDash === -1 || argv.length - dashDash - 1 !== positionals.length)) fail(`unexpected argument ${JSON.stringify(positionals[0])}: runner arguments go after --`);
  const extra = positionals.map((arg) => ` '${arg.replaceAll("'", "'\\''")}'`).join('');
  if (process.platform !== 'linux') fail(`it counts CPU time through Linux's /proc and prctl, and this is ${process.platform}`);
  const majors = values.node ?? (values.bun ? [] : defaults.node);
  const unknown = majors.find((major) => !(major in pins));
  if (unknown !== undefined) fail(`--node must be one of ${Object.keys(pins).join(', ')}, got ${JSON.stringify(unknown)}`);
  const found: Runtime[] = [];
  for (const major of majors) {
    const exec = fetchRuntime('node', pins[major]);
    found.push({ label: `node ${pins[major]} npm test`, exec, command: (node) => String(project.scripts.test).replace(/^node /, `'${node}' `) + extra });
    if (values.bare) found.push({ label: `node ${pins[major]} bare node --test`, exec, command: (node) => `'${node}' --test${extra}` });
  }
  if (values.bun) {
    const exec = fetchRuntime('bun', project.config.bun);
    found.push({ label: `bun ${project.config.bun} npm run test:bun`, exec, command: (bun) => String(project.scripts['test:bun']).replace(/^npx --yes bun@\S+ /, `'${bun}' `) + extra });
  }
  return found;
}

// Fetched (or found in npm's cache) by npx before any clock starts; the run uses the binary itself.
function fetchRuntime(name: 'node' | 'bun', version: string): string {
  const print = name === 'node' ? ['-p', 'process.execPath'] : ['-e', 'console.log(process.execPath)'];
  return execFileSync('npx', ['--yes', `${name}@${version}`, ...print], { encoding: 'utf8', cwd: os.tmpdir() }).trim();
}

function cloneCheckout(): string {
  const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8' }).trim();
  if (dirty) console.log(`Note: uncommitted changes are not measured (the clone has the last commit):\n${dirty}\n`);
  const clone = join(work, 'every-core');
  execFileSync('git', ['clone', '--quiet', root, clone]);
  symlinkSync(realpathSync(join(root, 'node_modules')), join(clone, 'node_modules'));
  return clone;
}

async function runSuite(runtime: Runtime): Promise<Result> {
  const scratch = mkdtempSync(join(work, 'run-'));
  const tmp = join(scratch, 'tmp'); // TMPDIR: tsx keeps its cache there, so it starts cold
  mkdirSync(tmp);
  chmodSync(scratch, 0o755);
  chmodSync(tmp, 0o1777); // a lesson's nginx or browser, under another user, may need its own files there
  const log = join(scratch, 'starts.jsonl');
  const accounts = join(scratch, 'rusage.json');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${dirname(runtime.exec)}:${process.env.PATH}`, // a script that runs `node` gets this one
    TMPDIR: tmp,
    EVERY_CORE_BENCH_LOG: log,
    NODE_OPTIONS: [process.env.NODE_OPTIONS, `--require ${join(root, 'scripts/bench-suite-hook.cjs')}`].filter(Boolean).join(' '),
  };
  delete env.NODE_COMPILE_CACHE; // a warm compile cache would hide what a newcomer waits for
  const load = os.loadavg()[0];
  const started = performance.now();
  const child = spawn('python3', [join(root, 'scripts/bench-suite-reaper.py'), accounts, 'sh', '-c', runtime.command(runtime.exec)], {
    cwd: checkout,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  suite = child.pid!;
  suiteExited = once(child, 'exit');
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (output += text));
  const [code] = await once(child, 'exit');
  const wallS = (performance.now() - started) / 1000;
  suite = undefined;
  const accounted = existsSync(accounts) ? JSON.parse(readFileSync(accounts, 'utf8')) : null;
  const exitCode = accounted?.exitCode ?? code;
  if (exitCode !== 0) console.log(`The suite exited ${exitCode}:\n${failures(output)}`);
  const starts = existsSync(log) ? readStarts(log) : [];
  return {
    label: runtime.label,
    wallS,
    cpuS: accounted?.subreaper ? { user: accounted.userS, sys: accounted.sysS } : null,
    nodeStarts: starts.length > 0 ? countStarts(starts) : null,
    slowest: starts.length > 0 ? slowestFromStarts(starts) : slowestFromBunOutput(output),
    tests: testCounts(output),
    exitCode,
    load: [load, os.loadavg()[0]],
    leftovers: accounted?.leftovers ?? [],
  };
}

interface Start {
  pid: number;
  ppid?: number;
  event: 'start' | 'exit';
  argv?: string[];
  execArgv?: string[];
  testFile?: boolean;
  ms?: number;
  cpuMs?: number;
}

function readStarts(log: string): Start[] {
  return readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line));
}

function countStarts(lines: Start[]) {
  const starts = lines.filter((line) => line.event === 'start');
  const underTsx = (line: Start) => [...line.execArgv!, ...line.argv!].some((arg) => /(^|\/)tsx(\/|$)|^tsx$/.test(arg));
  return { all: starts.length, testFiles: starts.filter((line) => line.testFile).length, underTsx: starts.filter(underTsx).length };
}

// Each test file runs in a process of its own: its lifetime, start to exit, is the file's time; the
// Node processes started under it (lessons, their workers, scripts) are counted by their parents.
function slowestFromStarts(lines: Start[]): Result['slowest'] {
  const exits = new Map(lines.filter((line) => line.event === 'exit').map((line) => [line.pid, line]));
  const starts = lines.filter((line) => line.event === 'start');
  const parentOf = new Map(starts.map((line) => [line.pid, line.ppid]));
  const startsUnder = new Map<number, number>();
  for (const line of starts) {
    for (let pid = line.ppid, hops = 0; pid !== undefined && hops < 20; pid = parentOf.get(pid), hops++) {
      startsUnder.set(pid, (startsUnder.get(pid) ?? 0) + 1);
    }
  }
  return starts
    .filter((line) => line.testFile && exits.has(line.pid))
    .map((line) => ({
      file: relative(checkout, line.argv!.find((arg) => /\.test\.(ts|mjs)$/.test(arg)) ?? line.argv!.join(' ')),
      wallS: exits.get(line.pid)!.ms! / 1000,
      cpuS: exits.get(line.pid)!.cpuMs! / 1000,
      starts: startsUnder.get(line.pid) ?? 0,
    }))
    .sort((a, b) => b.wallS - a.wallS)
    .slice(0, defaults.slowest);
}

// Bun runs every file in one process: its report names each file, then each test with its time.
function slowestFromBunOutput(output: string): Result['slowest'] {
  const byFile = new Map<string, number>();
  let file = '';
  for (const line of output.split('\n')) {
    const header = /^(\S+\.test\.(?:ts|mjs)):$/.exec(line);
    if (header) file = header[1];
    const timed = /\[([\d.]+)(ms|s)\]\s*$/.exec(line);
    if (timed && file) byFile.set(file, (byFile.get(file) ?? 0) + Number(timed[1]) / (timed[2] === 'ms' ? 1000 : 1));
  }
  return [...byFile].map(([name, wallS]) => ({ file: name, wallS })).sort((a, b) => b.wallS - a.wallS).slice(0, defaults.slowest);
}

// Each failed test and the first line of its error, from the runner's summary; else the last lines.
function failures(output: string): string {
  const summary = output.split('\n✖ failing tests:\n')[1];
  if (summary === undefined) return output.split('\n').slice(-60).join('\n');
  return summary.split('\n').filter((line) => /^✖ |^  [\w ]*(Error|error)\b/.test(line)).join('\n');
}

// Node's spec reporter ends with "ℹ pass 12"; its TAP reporter, a bare `node --test`'s on Node 20
// when the output is no terminal, with "# pass 12".
function testCounts(output: string): string {
  const node = (name: string) => output.match(new RegExp(`^(?:ℹ|#) ${name} (\\d+)$`, 'm'))?.[1];
  if (node('tests') !== undefined) return `${node('tests')} tests, ${node('pass')} pass, ${node('skipped')} skipped, ${node('fail')} fail`;
  const bun = (name: string) => output.match(new RegExp(`^ *(\\d+) ${name}$`, 'm'))?.[1] ?? '0';
  return `${bun('pass')} pass, ${bun('skip')} skipped, ${bun('fail')} fail`;
}

function describe(result: Result): string {
  const cpu = result.cpuS ? `${(result.cpuS.user + result.cpuS.sys).toFixed(1)} CPU-s (${result.cpuS.user.toFixed(1)} user + ${result.cpuS.sys.toFixed(1)} sys)` : 'CPU-s unknown (no subreaper)';
  const starts = result.nodeStarts ? `${result.nodeStarts.all} Node process starts (${result.nodeStarts.testFiles} test files, ${result.nodeStarts.underTsx} under tsx)` : 'Node process starts not counted (Bun reads no NODE_OPTIONS)';
  const lines = [
    `   ${result.wallS.toFixed(1)} s wall, ${cpu}, ${starts}`,
    `   ${result.tests}; exit ${result.exitCode}; load average (1 min) ${result.load[0].toFixed(2)} before, ${result.load[1].toFixed(2)} after, on ${os.availableParallelism()} CPUs`,
    `   slowest files:\n${result.slowest.map((slow) => `${slow.file} ${slow.wallS.toFixed(1)} s${slow.cpuS === undefined ? '' : ` (its own process ${slow.cpuS.toFixed(1)} CPU-s, ${slow.starts} Node processes started under it)`}`).map((line) => `     ${line}`).join('\n')}`,
  ];
  if (result.leftovers.length > 0) lines.push(`   ${result.leftovers.length} processes outlived the suite by ${defaults.leakGraceS} s and were killed: ${result.leftovers.join(' ')}`);
  return lines.join('\n');
}

function table(rows: Result[]): string {
  const header = ['run', 'wall s', 'CPU-s', 'Node starts', 'tests', 'load 1m'];
  const cells = rows.map((row) => [
    row.label,
    row.wallS.toFixed(1),
    row.cpuS ? (row.cpuS.user + row.cpuS.sys).toFixed(1) : '?',
    row.nodeStarts ? String(row.nodeStarts.all) : '?',
    row.tests,
    `${row.load[0].toFixed(2)}→${row.load[1].toFixed(2)}`,
  ]);
  const widths = header.map((name, i) => Math.max(name.length, ...cells.map((cell) => cell[i].length)));
  return [header, ...cells].map((cell) => cell.map((text, i) => text.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

// Ctrl+C: the suite's own processes end their lessons on the signal; whatever is left after a few
// seconds is killed, then 'exit' removes the clone.
async function stop(signal: 'SIGINT' | 'SIGTERM'): Promise<never> {
  if (suite !== undefined) {
    try {
      process.kill(-suite, signal);
    } catch {
      // already gone
    }
    await Promise.race([suiteExited, new Promise((resolve) => setTimeout(resolve, defaults.leakGraceS * 1000))]);
  }
  process.exit(128 + os.constants.signals[signal]);
}
