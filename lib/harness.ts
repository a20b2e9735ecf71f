// The one harness every test uses: start a lesson the way a learner runs it (lib/launch.ts) and stop
// it when the test ends, send it requests and load, and look at its processes and sockets.
// Every wait is bounded and fails with what it saw.

import { once } from 'node:events';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { TestContext } from 'node:test';
import { defaults, exitOnSignals, launch, type Lesson, type StartOptions } from './launch.ts';

export { alivePids, freePort, isBun, launch, lessonFile, pidsInGroup, pidsRunning, readTrack, root, track, waitUntil, type Exit, type Lesson } from './launch.ts';

// A test run that ends early (Ctrl+C, kill, a failure) ends every lesson it started.
exitOnSignals();

// In a test: start a lesson and stop it when the test ends, pass or fail.
export function start(t: TestContext, file: string, options: StartOptions): Promise<Lesson> {
  return launch(file, options, (lesson) => t.after(() => lesson.stop()));
}

// A port that something else already holds, to show a lesson meeting "port in use"; freed when
// the test ends.
export async function heldPort(t: TestContext): Promise<number> {
  const holder = net.createServer().listen(0, '127.0.0.1');
  t.after(() => holder.close());
  await once(holder, 'listening');
  return (holder.address() as net.AddressInfo).port;
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
// keep-alive agent, until stop() is called, or by itself after `limitMs` (default: the harness's longest wait).
// `timeoutMs` bounds each request (default: the harness's longest wait); one with no answer by then fails.
export function startLoad(url: string, options: { connections?: number; keepAlive?: boolean; timeoutMs?: number; limitMs?: number } = {}) {
  const connections = options.connections ?? 4;
  const agent = options.keepAlive ? new http.Agent({ keepAlive: true, maxSockets: connections }) : false;
  const count: LoadCount = { requests: 0, failures: 0, non200: 0, errorCodes: {}, byPid: {} };
  const deadline = Date.now() + (options.limitMs ?? defaults.waitMs);
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
