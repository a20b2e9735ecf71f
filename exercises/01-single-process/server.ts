// Exercise 01: one process, one thread. Write the routes of a plain node:http server and its graceful
// stop; the rest (port, errors, the test hook) is given. The lesson's own server.ts is the solution.
// Run it:  npx tsx exercises/01-single-process/server.ts      Check it:  npm run check -- 01

import cluster from 'node:cluster';
import http from 'node:http';
import { heavy, readLoops } from './heavy.ts';
import { todo } from '../todo.ts';

const defaults = {
  port: 3000,
  host: '127.0.0.1',
  drainMs: 500, // after a stop signal, keep answering (with Connection: close) before closing
  graceMs: 5_000, // then close whatever is still open, and exit
};

const port = readPort(process.env.PORT);
const host = process.env.HOST || defaults.host;
const crashOnPurpose = readCrashHook(process.env.EVERY_CORE_TEST_CRASH);
let isStopping = false;

if (crashOnPurpose === 'boot') fail('EVERY_CORE_TEST_CRASH=boot: exiting 1 before listening, on purpose');
const server = http.createServer(answer);
server.once('error', failToListen);
server.listen(port, host, () => {
  console.log(`[pid ${process.pid}] listening on ${urlOf(server)}`);
  if (crashOnPurpose === 'after-listen') fail('EVERY_CORE_TEST_CRASH=after-listen: exiting 1 just after listening, on purpose');
});

process.once('SIGINT', stop);
process.once('SIGTERM', stop);
// A cluster worker also stops when its primary disconnects it or goes away: Node's workers would
// exit by themselves then, Bun's do not.
if (cluster.isWorker) process.once('disconnect', stop);

function answer(req: http.IncomingMessage, res: http.ServerResponse): void {
  // Once this process is on its way out, every answer tells keep-alive clients to reconnect.
  if (isStopping || !server.listening) res.setHeader('connection', 'close');

  // TODO 2: answer every request. Look at res.setHeader(), req.method, and splitUrl() below, and
  // send each answer with reply(res, status, line). The tests read exactly these:
  //   - every answer carries the header x-worker-pid: this process's pid (process.pid)
  //   - a path other than / or /heavy: 404
  //   - a method other than GET or HEAD: 405, with the header Allow: GET, HEAD
  //   - GET /: 200 `Served by pid <pid>`
  //   - GET /heavy?n=42: read n with readLoops(new URLSearchParams(query).get('n')); when it gives a
  //     reason, 400 with that reason; else 200 `The result of the CPU intensive task is <heavy(loops)>`
  reply(res, 501, 'TODO in exercises/01-single-process/server.ts: answer() routes / and /heavy (TODO 2)');
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
  // TODO 3: stop gracefully, once: a second signal does nothing (return early while isStopping).
  //   - set isStopping, and log `[pid <pid>] stopping: answering what is open, then exiting`
  //   - keep answering for defaults.drainMs (answer() then says Connection: close), then call
  //     closeServer(); setTimeout() does the waiting
  //   - as a safety net, call forceExit() after defaults.graceMs; .unref() both timers, so that they
  //     never keep the process alive by themselves
  todo('exercises/01-single-process/server.ts', 'stop() answers what is open, then exits (TODO 3)');
}

function closeServer(): void {
  // TODO 4: stop listening and leave once the last open connection has ended: server.close() takes a
  // callback for that moment (call leave() from it). server.close() waits for keep-alive connections
  // too: server.closeIdleConnections() ends the ones that are idle now.
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

// Given: lesson 07's tests crash workers on purpose to watch the primary back off. Off unless set;
// the name is long so that nobody sets it by accident.
function readCrashHook(raw: string | undefined): 'boot' | 'after-listen' | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (raw === 'boot' || raw === 'after-listen') return raw;
  return fail(`EVERY_CORE_TEST_CRASH must be boot or after-listen (a test hook), got ${JSON.stringify(raw)}: unset it`);
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
