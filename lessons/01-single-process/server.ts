// Lesson 01: one process, one thread. A plain node:http server whose /heavy route keeps the CPU
// busy: while it counts, this process answers nobody else. Every later lesson runs this server as is.
// Run it:  npx tsx lessons/01-single-process/server.ts    then: curl -i http://127.0.0.1:3000/heavy

import http from 'node:http';
import net from 'node:net';
import { pathToFileURL } from 'node:url';
import { commandLine } from '../../lib/options.ts';
import { readLoops } from './heavy.ts';

const defaults = {
  port: 3000,
  host: '127.0.0.1',
  drainMs: 500, // after a stop signal, take no new connections but answer the open ones (with Connection: close)
  graceMs: 5_000, // then close whatever is still open, and exit
};

const usage = `Usage: npx tsx lessons/01-single-process/server.ts

  It takes no options; its settings come from the environment:
  PORT=${defaults.port}        the port to listen on (0: any free one)
  HOST=${defaults.host}   the address to listen on`;

const port = readPort(process.env.PORT);
const host = process.env.HOST || defaults.host;
const server = http.createServer(answer);
let isStopping = false;

// Run as a program, it serves and exits once stopped. Lesson 03's worker imports it and leaves its
// cluster before exiting instead.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  commandLine('server', usage).parse(process.argv.slice(2), {});
  serve(() => process.exit(0));
}

// `reusePort` (lesson 09): a listening socket of this process's own, on a port that others share.
export function serve(leave: () => void, { reusePort = false } = {}): http.Server {
  server.once('error', failToListen);
  server.listen({ port, host, exclusive: reusePort, reusePort }, () => console.log(`[pid ${process.pid}] listening on ${urlOf(server)}`));
  // `on`, not `once`: tsx re-sends a Ctrl+C that its child has not acknowledged within 30 ms, and a
  // second signal with no listener left would end the process on the spot, exit 130, mid-drain.
  process.on('SIGINT', () => stop(leave));
  process.on('SIGTERM', () => stop(leave));
  return server;
}

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
  // The seed's loop, inline in the handler as the seed had it: heavy.ts says why it is not a call.
  const loops = n.loops;
  let total = 0;
  while (total < loops) {
    total++;
  }
  reply(res, 200, `The result of the CPU intensive task is ${total}`);
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

// Stops taking work, finishes what is open, then calls `leave` (exit, for a program on its own).
export function stop(leave: () => void): void {
  if (isStopping) return;
  isStopping = true;
  stopAccepting();
  console.log(`[pid ${process.pid}] stopping: answering what is open, then exiting`);
  setTimeout(forceExit, defaults.graceMs).unref();
  // Closing idle keep-alive sockets at once races with a client that is sending on one just then;
  // a short drain lets busy clients read a Connection: close answer and leave between requests,
  // and lets a connection accepted just before the stop send its request and get its answer.
  setTimeout(() => closeServer(leave), defaults.drainMs).unref();
}

function stopAccepting(): void {
  // Not server.close(): Node's http close also destroys the connections idle at that moment, and
  // since Node 26.4 those include connections accepted a moment ago whose request is not read yet
  // (https://github.com/nodejs/node/pull/63470): under load, their clients would get ECONNRESET.
  // net's close only stops accepting. Bun's http.Server is no net.Server: it closes after the drain.
  if (server instanceof net.Server) net.Server.prototype.close.call(server);
}

function closeServer(leave: () => void): void {
  // The callback runs once the last connection has ended, whether the listener was open or not.
  server.close(leave);
  server.closeIdleConnections();
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
