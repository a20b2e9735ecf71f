// Lesson 08: lesson 01's server in one process, but /heavy counts on a pool of worker threads, one
// per CPU, so the event loop stays free: / answers at once while every thread counts.
// Run it:  npx tsx lessons/08-worker-threads/server.ts      (THREADS=4 to choose the count)
//          then: curl -i http://127.0.0.1:3000/heavy

import http from 'node:http';
import os from 'node:os';
import { commandLine } from '../../lib/options.ts';
import { readLoops } from '../01-single-process/heavy.ts';
import { createPool } from './pool.ts';

const defaults = {
  port: 3000,
  host: '127.0.0.1',
  threads: os.availableParallelism(), // the CPUs this process may use
  maxThreads: 256, // each thread holds its own JavaScript heap (a few MB): more than this is a typo
  queuedPerThread: 8, // jobs that may wait for a thread; one more gets 503 (a queue without bound is a memory leak)
  retryAfterS: 1, // what a 503 tells the client
  drainMs: 500, // after a stop signal, keep answering (with Connection: close) before closing
  graceMs: 5_000, // then close whatever is still open, end the threads, and exit
};

const usage = `Usage: npx tsx lessons/08-worker-threads/server.ts

  It takes no options; its settings come from the environment:
  THREADS=${defaults.threads}        how many counting threads (default: one per CPU)
  PORT=${defaults.port}        the port to listen on (0: any free one)
  HOST=${defaults.host}   the address to listen on`;

commandLine('server', usage).parse(process.argv.slice(2), {});
const port = readPort(process.env.PORT);
const host = process.env.HOST || defaults.host;
const threadCount = readThreads(process.env.THREADS);
const crashOnLoops = readCrashHook(process.env.EVERY_CORE_TEST_CRASH_THREAD_ON);
let isStopping = false;

const pool = createPool({
  size: threadCount,
  maxQueued: threadCount * defaults.queuedPerThread,
  threadData: { crashOnLoops },
  log,
  failToStart: fail,
});
const server = http.createServer(answer);
server.once('error', failToListen);
await pool.ready;
server.listen(port, host, () => log(`${threadCount} threads ready; listening on ${urlOf(server)}`));

// `on`, not `once`: tsx re-sends a Ctrl+C that is not acknowledged within 30 ms (see lesson 01).
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

function answer(req: http.IncomingMessage, res: http.ServerResponse): void {
  res.setHeader('x-worker-pid', process.pid);
  if (isStopping) res.setHeader('connection', 'close');

  const [path, query] = splitUrl(req.url ?? '/');
  if (path !== '/' && path !== '/heavy') return reply(res, 404, 'Not found: try / or /heavy');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return reply(res, 405, `Method ${req.method} not allowed: use GET`);
  }
  if (path === '/') return reply(res, 200, `Served by pid ${process.pid}`);

  const n = readLoops(new URLSearchParams(query).get('n'));
  if ('reason' in n) return reply(res, 400, n.reason);
  if (pool.isFull()) {
    res.setHeader('retry-after', defaults.retryAfterS);
    return reply(res, 503, `Busy: ${threadCount * defaults.queuedPerThread} requests already wait for a thread; retry in ${defaults.retryAfterS} s`);
  }
  countOnThread(n.loops, res);
}

// The event loop hands the count to a thread and moves on; the answer goes out when the thread posts back.
// A client that hangs up while its job waits takes the job out of the queue: no thread counts for
// nobody, and a queue full of abandoned jobs does not turn the next clients away with 503.
async function countOnThread(loops: number, res: http.ServerResponse): Promise<void> {
  const hungUp = new AbortController();
  res.once('close', () => hungUp.abort());
  try {
    const { total, threadId } = await pool.run(loops, hungUp.signal);
    res.setHeader('x-worker-thread', threadId);
    reply(res, 200, `The result of the CPU intensive task is ${total}`);
  } catch (error) {
    reply(res, 500, `Not counted: ${(error as Error).message}; try again`);
  }
}

function reply(res: http.ServerResponse, status: number, line: string): void {
  const body = `${line}\n`;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

function splitUrl(url: string): [path: string, query: string] {
  const at = url.indexOf('?');
  return at === -1 ? [url, ''] : [url.slice(0, at), url.slice(at + 1)];
}

// As lesson 01: answer what is open, then close; here the threads end last, once nothing waits on them.
function stop(): void {
  if (isStopping) return;
  isStopping = true;
  log('stopping: answering what is open, then ending the threads and exiting');
  setTimeout(forceExit, defaults.graceMs).unref();
  setTimeout(closeServer, defaults.drainMs).unref();
}

function closeServer(): void {
  server.close(leave);
  server.closeIdleConnections();
}

async function leave(): Promise<void> {
  await pool.close();
  process.exit(0);
}

function forceExit(): void {
  console.error(`[pid ${process.pid}] still busy after ${defaults.graceMs} ms: closing the rest`);
  server.closeAllConnections();
  process.exit(0);
}

function readPort(raw: string | undefined): number {
  if (raw === undefined || raw === '') return defaults.port;
  if (/^\d{1,5}$/.test(raw) && Number(raw) <= 65_535) return Number(raw);
  return fail(`PORT must be a whole number from 0 to 65535, got ${JSON.stringify(raw)}: try PORT=3000`);
}

function readThreads(raw: string | undefined): number {
  if (raw === undefined || raw === '') return defaults.threads;
  if (/^[1-9]\d{0,8}$/.test(raw) && Number(raw) <= defaults.maxThreads) return Number(raw);
  return fail(`THREADS must be a whole number from 1 to ${defaults.maxThreads}, got ${JSON.stringify(raw)}: try THREADS=${defaults.threads}`);
}

// The tests crash a thread on purpose to watch it be replaced: a job of exactly this many loops
// throws inside its thread. Off unless set; the name is long so that nobody sets it by accident.
function readCrashHook(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const n = readLoops(raw);
  if ('loops' in n) return n.loops;
  return fail(`EVERY_CORE_TEST_CRASH_THREAD_ON must be a loop count (a test hook), got ${JSON.stringify(raw)}: unset it`);
}

function failToListen(error: NodeJS.ErrnoException): void {
  const reasons: Record<string, string> = {
    EADDRINUSE: `port ${port} is already in use: stop what holds it, or pick another with PORT=${port + 1}`,
    EACCES: `no permission for port ${port}: ports below 1024 need privileges, try PORT=3000`,
    EADDRNOTAVAIL: `${host} is not an address of this machine: try HOST=127.0.0.1`,
    ENOTFOUND: `${host} is not an address of this machine: try HOST=127.0.0.1`,
  };
  fail(`cannot listen on ${host}:${port}: ${reasons[error.code ?? ''] ?? error.message}`);
}

function log(line: string): void {
  console.log(`[pid ${process.pid}] ${line}`);
}

function fail(line: string): never {
  console.error(`[pid ${process.pid}] ${line}`);
  process.exit(1);
}

function urlOf(listening: http.Server): string {
  const address = listening.address();
  if (address === null || typeof address === 'string') return String(address);
  const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${hostPart}:${address.port}`;
}
