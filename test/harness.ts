// The one harness every test uses: start a lesson the way a learner runs it, in its own process
// group, on a free port; wait for its own log line; stop it by killing the whole group.
// Every wait is bounded and fails with what it saw.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestContext } from 'node:test';

export const isBun = 'bun' in process.versions;
export const root = fileURLToPath(new URL('..', import.meta.url));

const defaults = {
  waitMs: 30_000, // the longest any wait may take: generous, because CI machines are slow and shared
  pollMs: 25, // how often to look again where there is no event to wait for (a pid's death)
};

export interface StartOptions {
  ready: RegExp | false; // the log line that says the lesson is up; false: do not wait
  env?: Record<string, string>;
  args?: string[];
  port?: number; // default: a free one
  bun?: string; // run the lesson with this Bun executable instead of the current runtime
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Lesson {
  child: ChildProcess;
  pid: number;
  port: number;
  url: string;
  exited: Promise<Exit>;
  output(): string;
  waitFor(pattern: RegExp, from?: number): Promise<RegExpMatchArray>;
  groupPids(): Promise<number[]>;
  stop(): Promise<void>;
}

// The one switch between the reference lessons and the learner's exercises (`npm run check` sets it).
// With EVERY_CORE_TRACK=exercises, a file the tests name as lessons/NN-topic/x.ts runs as
// exercises/NN-topic/x.ts where the learner has that file; files an exercise does not hold (lesson 04's
// distribution.ts) stay the lesson's. No test is copied: the same tests check both.
export const track = readTrack(process.env.EVERY_CORE_TRACK);

export function lessonFile(file: string): string {
  if (track === 'lessons' || !file.startsWith('lessons/')) return file;
  const exercise = `exercises/${file.slice('lessons/'.length)}`;
  return existsSync(join(root, exercise)) ? exercise : file;
}

function readTrack(raw: string | undefined): 'lessons' | 'exercises' {
  if (raw === undefined || raw === '' || raw === 'lessons') return 'lessons';
  if (raw === 'exercises') return 'exercises';
  console.error(`EVERY_CORE_TRACK must be lessons or exercises, got ${JSON.stringify(raw)}: unset it, or run npm run check`);
  process.exit(2);
}

const running = new Set<number>();
// A run that ends early (a failure, Ctrl+C, kill) must not leave lessons behind: their groups are
// detached, so the terminal's Ctrl+C does not reach them; this process ends them on its way out.
process.once('exit', () => running.forEach((pgid) => killGroup(pgid)));
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => process.exit(128 + os.constants.signals[signal]));
}

// In a test: start a lesson and stop it when the test ends, pass or fail.
export function start(t: TestContext, file: string, options: StartOptions): Promise<Lesson> {
  return launch(file, options, (lesson) => t.after(() => lesson.stop()));
}

// Anywhere (a script, a lesson that runs other lessons): start it; the caller stops it.
// `onSpawn` runs before the first wait, so cleanup is in place even if the lesson never gets ready.
export async function launch(file: string, options: StartOptions, onSpawn?: (lesson: Lesson) => void): Promise<Lesson> {
  const port = options.port ?? (await freePort());
  const [command, ...runtime] = options.bun ? [options.bun] : [process.execPath, ...runtimeArgs()];
  const child = spawn(command, [...runtime, lessonFile(file), ...(options.args ?? [])], {
    cwd: root,
    env: childEnv({ PORT: String(port), ...options.env }),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid!;
  running.add(pid);
  const lesson = watch(child, pid, port);
  onSpawn?.(lesson);
  if (options.ready) await lesson.waitFor(options.ready);
  return lesson;
}

function watch(child: ChildProcess, pid: number, port: number): Lesson {
  let output = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    waiters.forEach((wake) => wake());
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }) as Exit);
  exited.then(() => waiters.forEach((wake) => wake()));

  const waitFor = (pattern: RegExp, from = 0) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`no ${pattern} within ${defaults.waitMs} ms`)), defaults.waitMs);
      const check = () => {
        const match = output.slice(from).match(pattern);
        if (match) done(null, match);
        else if (child.exitCode !== null || child.signalCode !== null) done(new Error(`exited before ${pattern}`));
      };
      const done = (error: Error | null, match?: RegExpMatchArray) => {
        clearTimeout(timer);
        waiters.delete(check);
        if (error) reject(new Error(`${error.message}; its output:\n${output}`));
        else resolve(match!);
      };
      waiters.add(check);
      check();
    });

  const stop = async () => {
    killGroup(pid);
    await exited;
    await waitUntil(async () => (await pidsInGroup(pid)).length === 0, `process group ${pid} to be empty`);
    running.delete(pid);
  };

  return {
    child,
    pid,
    port,
    url: `http://127.0.0.1:${port}`,
    exited,
    output: () => output,
    waitFor,
    groupPids: () => pidsInGroup(pid),
    stop,
  };
}

// On Node the lesson runs through tsx's loader, as `npx tsx file` does; Bun runs TypeScript itself.
function runtimeArgs(): string[] {
  return isBun ? [] : ['--import', 'tsx'];
}

function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.NODE_TEST_CONTEXT; // the test runner's own marker: a lesson is not a test file
  return env;
}

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // ESRCH: the group is already gone
  }
}

export async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

// A port that something else already holds, to show a lesson meeting "port in use"; freed when
// the test ends.
export async function heldPort(t: TestContext): Promise<number> {
  const holder = net.createServer().listen(0, '127.0.0.1');
  t.after(() => holder.close());
  await once(holder, 'listening');
  return (holder.address() as net.AddressInfo).port;
}

// `ps` is the portable way (Linux, macOS) to see other processes. Zombies (exited, not yet reaped
// by their parent) count as gone: they hold no port and run no code.
async function liveProcesses(): Promise<{ pid: number; pgid: number; args: string }[]> {
  const { stdout } = await promisify(execFile)('ps', ['-A', '-o', 'pid=,pgid=,stat=,args=']);
  return stdout
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([, , stat]) => !stat.startsWith('Z'))
    .map(([pid, pgid, , ...args]) => ({ pid: Number(pid), pgid: Number(pgid), args: args.join(' ') }));
}

export async function pidsInGroup(pgid: number): Promise<number[]> {
  return (await liveProcesses()).filter((p) => p.pgid === pgid).map((p) => p.pid);
}

// The group's processes that run `file` (on the exercises track, the learner's copy of it). A lesson's
// group holds more than its own code: on a cold cache tsx starts esbuild service processes in it too.
export async function pidsRunning(pgid: number, file: string): Promise<number[]> {
  const path = lessonFile(file);
  return (await liveProcesses()).filter((p) => p.pgid === pgid && p.args.includes(path)).map((p) => p.pid);
}

export async function alivePids(pids: number[]): Promise<number[]> {
  const live = new Set((await liveProcesses()).map((p) => p.pid));
  return pids.filter((pid) => live.has(pid));
}

// Where there is no event to wait for (another process's death), look again every few ms, bounded.
export async function waitUntil(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + defaults.waitMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${defaults.waitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, defaults.pollMs));
  }
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  pid: number;
}

// One request. By default on a fresh connection (`agent: false`): Node's global agent keeps
// connections alive, which would pin every request to the worker that took the first one.
export function get(url: string, options: { method?: string; agent?: http.Agent | false; timeoutMs?: number } = {}): Promise<Reply> {
  const timeoutMs = options.timeoutMs ?? defaults.waitMs;
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: options.method ?? 'GET', agent: options.agent ?? false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body, pid: Number(res.headers['x-worker-pid']) }),
      );
      res.on('error', reject);
    });
    request.setTimeout(timeoutMs, () => request.destroy(new Error(`no answer from ${url} in ${timeoutMs} ms`)));
    request.on('error', reject);
    request.end();
  });
}

// A GET whose bytes have left this process (`flushed`), resolving to its body: for tests that must
// know a request is on its way before they act (a signal, a second request).
export function sendAndFlush(url: string, agent: http.Agent | false = false): Promise<string> & { flushed: Promise<void> } {
  const request = http.get(url, { agent });
  const body = new Promise<string>((resolve, reject) => {
    request.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve(text));
    });
    request.on('error', reject);
  });
  const flushed = once(request, 'finish').then(() => undefined);
  return Object.assign(body, { flushed });
}

// Sends `requests` GETs one after another, each on a fresh connection, and counts who answered.
// Stops early once `until` holds for the counts so far. A non-200 answer fails the whole call.
export async function countByPid(url: string, requests: number, until?: (counts: Map<number, number>) => boolean): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  for (let i = 0; i < requests && !until?.(counts); i++) {
    const reply = await get(url);
    if (reply.status !== 200) throw new Error(`request ${i + 1} to ${url} got ${reply.status}: ${reply.body}`);
    counts.set(reply.pid, (counts.get(reply.pid) ?? 0) + 1);
  }
  return counts;
}

export interface LoadCount {
  requests: number; // answered, any status
  failures: number; // no answer: reset, refused, hung up
  non200: number;
  errorCodes: Record<string, number>; // what the failures were, e.g. { ECONNRESET: 2 }
  byPid: Record<number, number>;
}

// A steady load that counts every failure itself. autocannon reconnects silently when a server
// ends a connection, so its error count cannot prove "zero requests lost"; this can. Each of
// `connections` loops sends one request after another, on a fresh connection each time or over a
// keep-alive agent, until stop() is called, or by itself after the harness's longest wait.
// `timeoutMs` bounds each request (default: the harness's longest wait); one with no answer by then fails.
export function startLoad(url: string, options: { connections?: number; keepAlive?: boolean; timeoutMs?: number } = {}) {
  const connections = options.connections ?? 4;
  const agent = options.keepAlive ? new http.Agent({ keepAlive: true, maxSockets: connections }) : false;
  const count: LoadCount = { requests: 0, failures: 0, non200: 0, errorCodes: {}, byPid: {} };
  const deadline = Date.now() + defaults.waitMs;
  let isStopped = false;
  const loop = async () => {
    while (!isStopped && Date.now() < deadline) {
      try {
        const reply = await get(url, { agent, timeoutMs: options.timeoutMs });
        count.requests++;
        if (reply.status !== 200) count.non200++;
        count.byPid[reply.pid] = (count.byPid[reply.pid] ?? 0) + 1;
      } catch (error) {
        count.failures++;
        const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
        count.errorCodes[code] = (count.errorCodes[code] ?? 0) + 1;
      }
    }
  };
  const loops = Promise.all(Array.from({ length: connections }, loop));
  return {
    count,
    async stop(): Promise<LoadCount> {
      isStopped = true;
      await loops;
      if (agent) agent.destroy();
      return count;
    },
  };
}
