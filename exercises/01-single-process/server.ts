// Exercise 01: one process, one thread. Write the routes of a plain node:http server, the count that
// keeps /heavy busy, and its graceful stop; the rest (port, errors, the command line) is given.
// The lesson's own server.ts is the solution. Check it:  npm run check -- 01
// Run it:  npx tsx exercises/01-single-process/server.ts    then: curl -i http://127.0.0.1:3000/heavy

import http from 'node:http';
import net from 'node:net';
import { pathToFileURL } from 'node:url';
import { commandLine } from '../../lib/options.ts';
import { readLoops } from './heavy.ts';
import { todo } from '../todo.ts';

const defaults = {
  port: 3000,
  host: '127.0.0.1',
  drainMs: 500, // after a stop signal, take no new connections but answer the open ones (with Connection: close)
  graceMs: 5_000, // then close whatever is still open, and exit
};

const usage = `Usage: npx tsx exercises/01-single-process/server.ts

  It takes no options; its settings come from the environment:
  PORT=${defaults.port}        the port to listen on (0: any free one)
  HOST=${defaults.host}   the address to listen on`;

const port = readPort(process.env.PORT);
const host = process.env.HOST || defaults.host;
const server = http.createServer(answer);
let isStopping = false;

// Run as a program, it serves and exits once stopped. Exercise 03's worker imports it and leaves its
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

  // TODO 1: answer every request. Look at res.setHeader(), req.method, and splitUrl() below, and
  // send each answer with reply(res, status, line). The tests read exactly these:
  //   - every answer carries the header x-worker-pid: this process's pid (process.pid)
  //   - a path other than / or /heavy: 404
  //   - a method other than GET or HEAD: 405, with the header Allow: GET, HEAD
  //   - GET /: 200 `Served by pid <pid>`
  //   - GET /heavy?n=42: read n with readLoops(new URLSearchParams(query).get('n')); when it gives a
  //     reason, 400 with that reason; else 200 `The result of the CPU intensive task is <count>`,
  //     where the count is TODO 2's
  // TODO 2: /heavy's count, right here in answer(), not in a function of its own: a plain
  // synchronous `while` loop that counts from 0 up to n's loops. No await, no setImmediate: while it
  // counts, this process's one JavaScript thread answers nobody else, which is what lesson 01 shows
  // and lesson 03 fixes. (Why inline? lessons/01-single-process/heavy.ts says: V8's Maglev would
  // inline a small counting function into this handler and leave the loop slow for good.)
  reply(res, 501, 'TODO in exercises/01-single-process/server.ts: answer() routes / and /heavy (TODO 1)');
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
  // TODO 3: stop gracefully, once: a second signal does nothing (return early while isStopping).
  //   - set isStopping, call stopAccepting(), and log `[pid <pid>] stopping: answering what is open, then exiting`
  //   - keep answering for defaults.drainMs (answer() then says Connection: close), then call
  //     closeServer(leave); setTimeout() does the waiting
  //   - as a safety net, call forceExit() after defaults.graceMs; .unref() both timers, so that they
  //     never keep the process alive by themselves
  todo('exercises/01-single-process/server.ts', 'stop() answers what is open, then leaves (TODO 3)');
}

function stopAccepting(): void {
  // TODO 4: stop accepting new connections, and nothing more. Not server.close(): Node's http close
  // also destroys the connections idle at that moment, and since Node 26.4 those include connections
  // accepted a moment ago whose request is not read yet: under load their clients get ECONNRESET.
  // net's own close only stops accepting: net.Server.prototype.close.call(server). Bun's
  // http.Server is no net.Server (check with instanceof): there, do nothing; it closes after the drain.
  todo('exercises/01-single-process/server.ts', 'stopAccepting() stops taking new connections (TODO 4)');
}

function closeServer(leave: () => void): void {
  // TODO 5: close and leave once the last open connection has ended: server.close() takes a callback
  // for that moment (pass it `leave`), and it runs whether the listener was open or not.
  // server.close() waits for keep-alive connections too: server.closeIdleConnections() ends the
  // ones that are idle now.
  todo('exercises/01-single-process/server.ts', 'closeServer() closes, then leaves (TODO 5)');
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
