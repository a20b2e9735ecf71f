// Starting lessons as separate processes, for the tests, the comparisons and the benchmark: each in
// its own process group on a free port, ready when its own log line says so, stopped by killing the
// whole group. Importing this changes nothing in the importing process: the 'exit' hook that ends
// what it started is added by the first launch(); a script that wants Ctrl+C to end its lessons too
// calls exitOnSignals().

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { isBun, runtimeArgs } from './runtime.ts';
import { isAlive, killGroups, processTable } from './process-tree.mjs';
import { withCompileCache } from './ts-cache.mjs';

export { isBun };
export const root = fileURLToPath(new URL('..', import.meta.url));

export const defaults = {
  waitMs: 30_000, // the longest any wait may take: generous, because CI machines are slow and shared
  pollMs: 25, // how often to look again where there is no event to wait for (a pid's death)
  coverageGraceMs: 5_000, // under coverage, how long stop() lets a lesson exit by itself before SIGKILL
  portTries: 3, // starts on a port picked here, if another process took it before the lesson listened
};

export interface StartOptions {
  ready: RegExp | false; // the log line that says the lesson is up; false: do not wait
  env?: Record<string, string>;
  args?: string[];
  port?: number; // default: a free one, picked by pickPort
  pickPort?: () => Promise<number>; // default: freePort() (the harness's own tests hand it a taken one)
  bun?: string; // run the lesson with this Bun executable instead of the current runtime
  loader?: false; // on Node, run it as `node file.ts`, without tsx (a Node that strips types does so anyway)
  limitMs?: number; // the longest a wait for its output or its exit may take (default: defaults.waitMs)
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Lesson {
  child: ChildProcess;
  pid: number; // also its process group's id
  port: number;
  url: string;
  exited: Promise<Exit>; // fails, with the output so far, if the lesson has not exited within the longest wait
  output(): string;
  waitFor(pattern: RegExp, from?: number): Promise<RegExpMatchArray>;
  groupPids(): Promise<number[]>;
  stop(): Promise<void>;
}

// The one switch between the reference lessons and the learner's exercises (`npm run check` sets it).
// With EVERY_CORE_TRACK=exercises, a file the tests name as lessons/NN-topic/x.ts runs as
// exercises/NN-topic/x.ts where the learner has that file; files an exercise does not hold (lesson 04's
// distribution.ts) stay the lesson's. No test is copied: the same tests check both.
export function track(): 'lessons' | 'exercises' {
  return readTrack(process.env.EVERY_CORE_TRACK);
}

export function lessonFile(file: string): string {
  if (track() === 'lessons' || !file.startsWith('lessons/')) return file;
  const exercise = `exercises/${file.slice('lessons/'.length)}`;
  return existsSync(join(root, exercise)) ? exercise : file;
}

export function readTrack(raw: string | undefined): 'lessons' | 'exercises' {
  if (raw === undefined || raw === '' || raw === 'lessons') return 'lessons';
  if (raw === 'exercises') return 'exercises';
  throw new Error(`EVERY_CORE_TRACK must be lessons or exercises, got ${JSON.stringify(raw)}: unset it, or run npm run check`);
}

const running = new Set<number>();
// Groups are detached, so a terminal's Ctrl+C does not reach them: whatever ends this process
// (success, failure, process.exit) ends them too. A signal ends a process without 'exit': see
// exitOnSignals(). Added by the first launch, not at import.
let isExitHooked = false;
function endGroupsOnExit(): void {
  if (isExitHooked) return;
  isExitHooked = true;
  process.once('exit', () => killGroups([...running]));
}

// A kill -9 of this process runs no 'exit' hook: a guardian process (lib/guardian.mjs) holds the list
// of running groups and ends them when the pipe from this process closes.
let guardian: ChildProcess | undefined;
function tellGuardian(line: string): void {
  guardian ??= startGuardian();
  guardian.stdin?.write(`${line}\n`);
}

// What a process that starts lessons would leave on disk if it were killed, listed with the guardian:
// once this process is gone, however it went, the guardian removes it, after ending the lessons.
// Each returns the function that takes the entry back, for a run that has cleaned up after itself.
// `removeWhenGone(path)`: a file or folder; `removeLeftoversWhenGone(dir, prefix)`: each
// <dir>/<prefix><pid>-… whose pid no longer runs (lesson 12 names its Redis folders so).
export function removeWhenGone(path: string): () => void {
  return listWithGuardian(`path ${path}`);
}

export function removeLeftoversWhenGone(dir: string, prefix: string): () => void {
  return listWithGuardian(`leftovers ${dir}\t${prefix}`);
}

// A group this process started itself, not through launch() (a test's own Redis): ended with the
// lessons, on 'exit' and by the guardian.
export function endWithLessons(pgid: number): () => void {
  endGroupsOnExit();
  running.add(pgid);
  tellGuardian(`+${pgid}`);
  return () => {
    running.delete(pgid);
    tellGuardian(`-${pgid}`);
  };
}

// The same for network namespaces and links named <prefix><pid>-…, removed with `ip` (lessons 10 and
// 12's hosts; as root).
export function removeNamespacesWhenGone(ip: string, prefix: string): () => void {
  return listWithGuardian(`netns ${ip}\t${prefix}`);
}

function listWithGuardian(entry: string): () => void {
  tellGuardian(`+${entry}`);
  return () => tellGuardian(`-${entry}`);
}

function startGuardian(): ChildProcess {
  const file = join(root, 'lib', 'guardian.mjs');
  const child = spawn(process.execPath, [file], { detached: true, stdio: ['pipe', 'ignore', 'ignore'], env: childEnv({}) });
  child.on('error', () => {}); // no guardian: the 'exit' hook still ends the groups
  child.stdin?.on('error', () => {});
  // Neither the guardian nor the pipe to it keeps this process alive.
  child.unref();
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return child;
}

// For a script (or a test process) that starts lessons: Ctrl+C or kill ends it through 'exit', so
// its lessons end with it, and its exit status says which signal it was (128 + the signal's number).
// `on`, not `once`: a test runner passes its own signal on, so a second one can arrive while the
// 'exit' hook is still ending groups, and with no listener left it would kill this process mid-way.
export function exitOnSignals(): void {
  let isExiting = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (isExiting) return;
      isExiting = true;
      process.exit(128 + os.constants.signals[signal]);
    });
  }
}

// Starts it; the caller stops it. `onSpawn` runs before the first wait, so cleanup is in place even
// if the lesson never gets ready. A port picked here (freePort()) was free a moment before, but
// another process can take it before the lesson listens (with tests side by side, seen in CI: "port
// 33863 is already in use"): then the lesson is started again on another, up to portTries starts.
export async function launch(file: string, options: StartOptions, onSpawn?: (lesson: Lesson) => void): Promise<Lesson> {
  for (let tries = 1; ; tries++) {
    const lesson = await startOnce(file, options, onSpawn);
    if (!options.ready) return lesson;
    try {
      await lesson.waitFor(options.ready);
      return lesson;
    } catch (error) {
      if (options.port !== undefined || tries >= defaults.portTries || !lostItsPort(lesson)) throw error;
      await lesson.stop();
    }
  }
}

// It exited saying that its own port was taken (as lesson 01's server says, and nginx).
function lostItsPort(lesson: Lesson): boolean {
  return lesson.child.exitCode !== null && new RegExp(`\\b${lesson.port}\\b[^\\n]*(already|in use)`).test(lesson.output());
}

async function startOnce(file: string, options: StartOptions, onSpawn?: (lesson: Lesson) => void): Promise<Lesson> {
  const port = options.port ?? (await (options.pickPort ?? freePort)());
  const [command, ...runtime] = options.bun ? [options.bun] : [process.execPath, ...runtimeArgs(options.loader)];
  const child = spawn(command, [...runtime, lessonFile(file), ...(options.args ?? [])], {
    cwd: root,
    env: childEnv({ PORT: String(port), ...options.env }),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid!;
  endGroupsOnExit();
  running.add(pid);
  tellGuardian(`+${pid}`);
  const lesson = watch(child, pid, port, options.limitMs ?? defaults.waitMs);
  onSpawn?.(lesson);
  return lesson;
}

function watch(child: ChildProcess, pid: number, port: number, limitMs: number): Lesson {
  let output = '';
  const waiters = new Set<() => void>();
  const onData = (text: string) => {
    output += text;
    waiters.forEach((wake) => wake());
  };
  // Decoded as a stream, so a character split across two chunks (a █ of a bar) stays whole.
  child.stdout!.setEncoding('utf8').on('data', onData);
  child.stderr!.setEncoding('utf8').on('data', onData);
  // 'close', not 'exit': only then has all of its output been read (a quick exit can come first).
  let hasClosed = false;
  const exited = once(child, 'close').then(([code, signal]) => {
    hasClosed = true;
    return { code, signal } as Exit;
  });
  exited.then(() => waiters.forEach((wake) => wake()));

  const waitFor = (pattern: RegExp, from = 0) =>
    bounded<RegExpMatchArray>(`${pattern}`, limitMs, () => output, (settle) => {
      const check = () => {
        const match = output.slice(from).match(pattern);
        if (match) settle(null, match);
        else if (hasClosed) settle(new Error(`exited before ${pattern}`));
      };
      waiters.add(check);
      check();
      return () => waiters.delete(check);
    });

  const stop = async () => {
    if (process.env.NODE_V8_COVERAGE) await askToExit(child, pid);
    killGroup(pid);
    await exited;
    await waitUntil(async () => (await pidsInGroup(pid)).length === 0, `process group ${pid} to be empty`);
    running.delete(pid);
    tellGuardian(`-${pid}`);
  };

  return {
    child,
    pid,
    port,
    url: `http://127.0.0.1:${port}`,
    // A getter: each wait for the exit has its own bound, and none is left running unawaited.
    get exited() {
      return bounded<Exit>('exit', limitMs, () => output, (settle) => void exited.then((exit) => settle(null, exit)));
    },
    output: () => output,
    waitFor,
    groupPids: () => pidsInGroup(pid),
    stop,
  };
}

// A process writes its coverage (NODE_V8_COVERAGE, which c8 sets) only when it exits by itself, and
// a SIGKILL leaves none: under coverage, stop() asks with SIGTERM first (the lesson, or its group
// once the lesson is gone) and gives its processes a bounded time to exit before the SIGKILL.
async function askToExit(child: ChildProcess, pgid: number): Promise<void> {
  const isLeaderAlive = child.exitCode === null && child.signalCode === null;
  try {
    process.kill(isLeaderAlive ? pgid : -pgid, 'SIGTERM');
  } catch {
    return; // ESRCH: nothing left to ask
  }
  const deadline = Date.now() + defaults.coverageGraceMs;
  while (Date.now() < deadline && (await pidsInGroup(pgid)).length > 0) await new Promise((resolve) => setTimeout(resolve, 4 * defaults.pollMs));
}

// A wait for something a lesson does, failing after the longest wait with what it printed so far.
function bounded<T>(what: string, limitMs: number, output: () => string, wait: (settle: (error: Error | null, value?: T) => void) => (() => void) | void): Promise<T> {
  return new Promise((resolve, reject) => {
    let cleanup: (() => void) | void;
    const timer = setTimeout(() => settle(new Error(`no ${what} within ${limitMs} ms`)), limitMs);
    const settle = (error: Error | null, value?: T) => {
      clearTimeout(timer);
      cleanup?.();
      if (error) reject(new Error(`${error.message}; its output:\n${output()}`));
      else resolve(value!);
    };
    cleanup = wait(settle);
  });
}

// Lesson 08's pool picks its threads' entry by the same test as runtimeArgs().
export { runtimeArgs, stripsTypes } from './runtime.ts';

// A lesson's environment: this process's, with `extra`, and Node's compile cache (lib/ts-cache.mjs),
// so that every start of a lesson after its first reads its compiled code instead of compiling it.
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = withCompileCache({ ...process.env, ...extra });
  delete env.NODE_TEST_CONTEXT; // the test runner's own marker: a lesson is not a test file
  return env;
}

// The group, and every group that its processes started: a comparison or a test run starts its
// lessons in groups of their own, and a SIGKILL gives it no chance to end them itself. Synchronous
// (a look at the process table, then kill), so that it works in an 'exit' handler too.
export function killGroup(pgid: number): void {
  killGroups([pgid]);
}

export async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

// The live processes (zombies left out), with their command lines where asked for.
async function liveProcesses(withArgs = false): Promise<{ pid: number; pgid: number; args: string }[]> {
  const live = processTable().filter((p) => !p.isZombie);
  if (process.platform === 'linux' || !withArgs) return live.map((p) => ({ ...p, args: withArgs ? commandOf(p.pid) : '' }));
  const { stdout } = await promisify(execFile)('ps', ['-A', '-o', 'pid=,args=']);
  const args = new Map(stdout.trim().split('\n').map((line) => line.trim().split(/\s+/)).map(([pid, ...rest]) => [Number(pid), rest.join(' ')] as const));
  return live.map((p) => ({ ...p, args: args.get(p.pid) ?? '' }));
}

export async function pidsInGroup(pgid: number): Promise<number[]> {
  return (await liveProcesses()).filter((p) => p.pgid === pgid).map((p) => p.pid);
}

// The group's processes that run `file` (on the exercises track, the learner's copy of it). A lesson's
// group holds more than its own code: on a cold cache tsx starts esbuild service processes in it too.
export async function pidsRunning(pgid: number, file: string): Promise<number[]> {
  const path = lessonFile(file);
  return (await liveProcesses(true)).filter((p) => p.pgid === pgid && p.args.includes(path)).map((p) => p.pid);
}

export async function alivePids(pids: number[]): Promise<number[]> {
  const live = new Set((await liveProcesses()).map((p) => p.pid));
  return pids.filter((pid) => live.has(pid));
}

// Where there is no event to wait for (another process's death), look again every few ms, bounded.
export async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, limitMs = defaults.waitMs): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, defaults.pollMs));
  }
}

// Whether `pid` still runs code (lib/process-tree.mjs).
export { isAlive };

// The command line `pid` runs, '' when it is gone or cannot be read (Linux's /proc).
export function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

// Whether `pid` still runs something whose command line holds `fragment`: a pid is reused once its
// process is gone, so a run that left things behind is told from a live one by what it runs.
export function runs(pid: number, fragment: string): boolean {
  if (pid === process.pid) return true;
  if (!isAlive(pid)) return false;
  return process.platform !== 'linux' || commandOf(pid).includes(fragment);
}

// An executable on the PATH, or in the sbin folders: a user's PATH often leaves them out, and that is
// where nginx, ip and redis-server live.
export function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  return dirs.filter(Boolean).map((dir) => join(dir, name)).find(isExecutable);
}

export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}
