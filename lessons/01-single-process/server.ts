// Lesson 01: one process, one thread. A plain node:http server whose /heavy route keeps the CPU
// busy: while it counts, this process answers nobody else. Every later lesson runs this file as is.
// Run it:  npx tsx lessons/01-single-process/server.ts    then: curl -i http://127.0.0.1:3000/heavy

import cluster from 'node:cluster';
import http from 'node:http';
import { heavy, readLoops } from './heavy.ts';

const defaults = {
  port: 3000,
  host: '127.0.0.1',
  drainMs: 500, // after a stop signal, keep answering (with Connection: close) before closing
  graceMs: 5_000, // then close whatever is still open, and exit
};

const port = readPort(process.env.PORT);
const host = process.env.HOST || defaults.host;
const crashOnPurpose = readCrashHook(process.env.EVERY_CORE_TEST_CRASH);
const reusePort = readReusePort(process.env.REUSE_PORT); // lesson 09: this process holds a socket of its own
let isStopping = false;

if (crashOnPurpose === 'boot') fail('EVERY_CORE_TEST_CRASH=boot: exiting 1 before listening, on purpose');
const server = http.createServer(answer);
server.once('error', failToListen);
server.listen({ port, host, exclusive: reusePort, reusePort }, () => {
  console.log(`[pid ${process.pid}] listening on ${urlOf(server)}`);
  // A socket of its own is invisible to a cluster primary, which only hears of the ones it shares out.
  if (reusePort) process.send?.({ event: 'listening', address: server.address() });
  if (crashOnPurpose === 'after-listen') fail('EVERY_CORE_TEST_CRASH=after-listen: exiting 1 just after listening, on purpose');
});

process.once('SIGINT', stop);
process.once('SIGTERM', stop);
// A cluster worker also stops when its primary disconnects it or goes away: Node's workers would
// exit by themselves then, Bun's do not.
if (cluster.isWorker) process.once('disconnect', stop);

function answer(req: http.IncomingMessage, res: http.ServerResponse): void {
  res.setHeader('x-worker-pid', process.pid);
  // Once this process is on its way out (by its own signal, or because a cluster primary closed
  // its listener), every answer tells keep-alive clients to reconnect: to another worker, if any.
  if (isStopping || !server.listening) res.setHeader('connection', 'close');

  const [path, query] = splitUrl(req.url ?? '/');
  if (path !== '/' && path !== '/heavy') return reply(res, 404, 'Not found: try / or /heavy');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return reply(res, 405, `Method ${req.method} not allowed: use GET`);
  }
  if (path === '/') return reply(res, 200, `Served by pid ${process.pid}`);

  const n = readLoops(new URLSearchParams(query).get('n'));
  if ('reason' in n) return reply(res, 400, n.reason);
  reply(res, 200, `The result of the CPU intensive task is ${heavy(n.loops)}`);
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

function stop(): void {
  if (isStopping) return;
  isStopping = true;
  console.log(`[pid ${process.pid}] stopping: answering what is open, then exiting`);
  setTimeout(forceExit, defaults.graceMs).unref();
  // Closing idle keep-alive sockets at once races with a client that is sending on one just then;
  // a short drain lets busy clients read a Connection: close answer and leave between requests.
  setTimeout(closeServer, defaults.drainMs).unref();
}

function closeServer(): void {
  // The callback runs once the last connection has ended, whether the listener was open or not.
  server.close(leave);
  server.closeIdleConnections();
}

function leave(): void {
  // A cluster worker still connected to its primary leaves through disconnect(), which returns once
  // the primary has stopped handing it connections: on Node the primary holds each connection it
  // hands over until the worker takes or refuses it, and one handed to a worker that has just
  // exited would hang until the client gives up.
  if (!cluster.isWorker || !process.connected) process.exit(0);
  process.once('disconnect', () => process.exit(0));
  cluster.worker!.disconnect();
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

// Lesson 07's tests crash workers on purpose to watch the primary back off. Off unless set; the name
// is long so that nobody sets it by accident.
function readCrashHook(raw: string | undefined): 'boot' | 'after-listen' | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (raw === 'boot' || raw === 'after-listen') return raw;
  return fail(`EVERY_CORE_TEST_CRASH must be boot or after-listen (a test hook), got ${JSON.stringify(raw)}: unset it`);
}

// Lesson 09 sets it for its workers. Off unless set.
function readReusePort(raw: string | undefined): boolean {
  if (raw === undefined || raw === '' || raw === '0') return false;
  if (raw === '1') return true;
  return fail(`REUSE_PORT must be 1 (each process listens with SO_REUSEPORT) or 0, got ${JSON.stringify(raw)}: unset it`);
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
