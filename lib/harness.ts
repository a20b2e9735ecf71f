// The one harness every test uses: start a lesson the way a learner runs it (lib/launch.ts) and stop
// it when the test ends, send it requests and load, and look at its processes and sockets.
// Every wait is bounded and fails with what it saw.

import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { TestContext } from 'node:test';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { countingSpeed } from './counting-speed.ts';
import { defaults, exitOnSignals, launch, lessonFile, root, runtimeArgs, type Lesson, type StartOptions } from './launch.ts';
import { get } from './load.ts';

export { alivePids, endWithLessons, freePort, isAlive, isBun, launch, lessonFile, pidsInGroup, pidsRunning, readTrack, removeLeftoversWhenGone, removeNamespacesWhenGone, removeWhenGone, root, runtimeArgs, track, waitUntil, type Exit, type Lesson } from './launch.ts';
export { get, startLoad, type LoadCount, type Reply } from './load.ts';

// The environment that makes a started lesson's primary send itself `signal` right as it writes a line
// holding `text` to stdout: a signal that arrives the moment the line invites it, on every run, where
// a test that reads the line and then signals would lose the race now and then. Node only (Bun reads
// no --import from NODE_OPTIONS); cluster workers (NODE_UNIQUE_ID) are left alone.
export function signalAtLine(text: string, signal: NodeJS.Signals): Record<string, string> {
  const preload = `if (!process.env.NODE_UNIQUE_ID) {
    const write = process.stdout.write;
    let sent = false;
    process.stdout.write = function (chunk, ...rest) {
      const written = write.call(this, chunk, ...rest);
      if (!sent && String(chunk).includes(process.env.EVERY_CORE_SIGNAL_TEXT)) {
        sent = true;
        process.kill(process.pid, process.env.EVERY_CORE_SIGNAL);
      }
      return written;
    };
  }`;
  const options = `--import=data:text/javascript,${encodeURIComponent(preload)}`;
  return { NODE_OPTIONS: [process.env.NODE_OPTIONS, options].filter(Boolean).join(' '), EVERY_CORE_SIGNAL_TEXT: text, EVERY_CORE_SIGNAL: signal };
}

// In a test: start a lesson and stop it when the test ends, pass or fail. A test run that ends
// early (Ctrl+C, kill, a failure) ends every lesson it started: the first start() sees to that.
let isSignalHooked = false;
export function start(t: TestContext, file: string, options: StartOptions): Promise<Lesson> {
  if (!isSignalHooked) exitOnSignals();
  isSignalHooked = true;
  return launch(file, options, (lesson) => t.after(() => lesson.stop()));
}

// A lesson's module, imported into the test's own process: on the exercises track, the learner's
// copy where there is one (as start() runs it), so that in-process tests judge the learner's code too.
export function importLesson<Module>(file: string): Promise<Module> {
  return import(pathToFileURL(join(root, lessonFile(file))).href) as Promise<Module>;
}

// A port that something else already holds, to show a lesson meeting "port in use"; freed when
// the test ends.
export async function heldPort(t: TestContext): Promise<number> {
  const holder = net.createServer().listen(0, '127.0.0.1');
  t.after(() => holder.close());
  await once(holder, 'listening');
  return (holder.address() as net.AddressInfo).port;
}

// A GET whose bytes have left this process (`flushed`), resolving to its body: for tests that must
// know a request is on its way before they act (a signal, a second request).
export function sendAndFlush(url: string, agent: http.Agent | false = false): Promise<string> & { flushed: Promise<void> } {
  const request = http.get(url, { agent });
  request.setTimeout(defaults.waitMs, () => request.destroy(new Error(`no answer from ${url} in ${defaults.waitMs} ms`)));
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

// A /heavy count for a test, given as the count it asks for in a plain run, and scaled to what
// counting costs here. Under coverage (NODE_V8_COVERAGE, as `npm run coverage` runs the suite) V8
// counts every block each turn of a loop runs through, and the same loop costs about 6 (Node 20) to
// 25 (Node 26) times the CPU: a count sized for plain speed outlasts the harness's waits. So under
// coverage the count shrinks by the slowdown measured here, once per process: this process's
// counting speed against a plain child's (lib/counting-speed.ts). A plain run measures nothing.
export function heavyLoops(plainLoops: number): number {
  coverageSlowdown ??= process.env.NODE_V8_COVERAGE ? measureCoverageSlowdown() : 1;
  return Math.max(1, Math.round(plainLoops / coverageSlowdown));
}

let coverageSlowdown: number | undefined;

function measureCoverageSlowdown(): number {
  const plainEnv = { ...process.env, NODE_V8_COVERAGE: '' }; // empty: Node records nothing
  const program = [...runtimeArgs(), join(root, 'lib', 'counting-speed.ts')];
  const plain = Number(execFileSync(process.execPath, program, { env: plainEnv, encoding: 'utf8' }));
  return Math.max(1, plain / countingSpeed());
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

// Waits for this machine's turn at `name`, then holds it until the returned release() is called or
// this process ends. For tests whose subject is shared by every suite on the machine (two suites run
// side by side in CI): lesson 12's --job-hosts runs each remove the namespaces of any dead run, so a
// test that kills one and then looks at what it left must not share the moment with another suite.
// The turn is a Linux abstract socket: no file to leave behind, and the kernel frees it when its
// holder dies, kill -9 included.
export async function takeTurn(name: string, limitMs = 5 * defaults.waitMs): Promise<() => Promise<void>> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const holder = net.createServer();
    const taken = await new Promise<boolean>((resolve, reject) => {
      holder.once('error', (error: NodeJS.ErrnoException) => (error.code === 'EADDRINUSE' ? resolve(false) : reject(error)));
      holder.listen(`\0every-core-${name}`, () => resolve(true));
    });
    if (taken) {
      holder.unref();
      return () => new Promise<void>((resolve) => holder.close(() => resolve()));
    }
    if (Date.now() > deadline) throw new Error(`${name}: another suite on this machine held it for ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

// Which of `pids` hold a listening TCP socket on `port`: the socket's inode from /proc/net/tcp(6),
// then each process's open files. Linux only (see canSeeSockets); no `ss` or `lsof` needed.
export const canSeeSockets = process.platform === 'linux';

export function pidsListeningOn(port: number, pids: number[]): number[] {
  const listening = listeningInodes(port);
  return pids.filter((pid) => socketInodes(pid).some((inode) => listening.has(inode)));
}

function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').trim().split('\n').slice(1)) {
      const [, local, , state, , , , , , inode] = line.trim().split(/\s+/);
      const isListen = state === '0A'; // TCP_LISTEN
      if (isListen && parseInt(local.split(':')[1], 16) === port) inodes.add(inode);
    }
  }
  return inodes;
}

function socketInodes(pid: number): string[] {
  try {
    const links = readdirSync(`/proc/${pid}/fd`).map((fd) => readlinkOrEmpty(`/proc/${pid}/fd/${fd}`));
    return links.map((link) => /^socket:\[(\d+)\]$/.exec(link)?.[1]).filter((inode) => inode !== undefined);
  } catch {
    return []; // the process is gone
  }
}

function readlinkOrEmpty(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return ''; // closed between the listing and the look
  }
}

// ---- A lesson run without root's powers, from a test that runs as root ----
// As root, the run goes into a user namespace of its own (`unshare --user`): there it is user 65534
// (nobody) and cannot touch this machine's network, yet it still reads the checkout and the runtime
// as their owner, wherever they are (a clone under /root, a runtime in npx's cache). As another
// user, it simply runs.
const isRoot = process.getuid?.() === 0;
let nonRoot: string | false | undefined;

// Why a lesson cannot be run without root here (a test's skip reason), or false.
export function withoutRootProblem(): string | false {
  nonRoot ??=
    process.platform !== 'linux' ? 'runs the lesson in a user namespace of its own, a Linux feature'
    : isRoot && spawnSync('unshare', ['--user', 'true']).status !== 0 ? "unshare --user fails here (no util-linux, or user namespaces are disabled): the lesson cannot be run without root's powers"
    : false;
  return nonRoot;
}

// Runs `file` (a lesson, as `npx tsx` would) with `args`, without root; resolves its exit code and output.
export async function runWithoutRoot(file: string, args: string[], { env = {}, timeoutMs = 60_000 }: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  // As launch() runs a lesson: tsx only where this Node cannot strip types (under coverage, tsx's
  // offsets would be mixed into the stripped files' figures).
  const [command, ...rest] = [...(isRoot ? ['unshare', '--user'] : []), process.execPath, ...runtimeArgs(), file, ...args];
  return promisify(execFile)(command, rest, { cwd: root, env: { ...process.env, ...env }, timeout: timeoutMs }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error) => ({ code: error.code as number, stdout: String(error.stdout), stderr: String(error.stderr) }),
  );
}
