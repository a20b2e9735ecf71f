// Lesson 01: one process, one thread. A plain node:http server whose /heavy route keeps the CPU
// busy: while it counts, this process answers nobody else. Every later lesson builds on this file:
// the cluster's workers run it as is, lesson 08 and lesson 11's page give it routes of their own.
// Run it:  npx tsx lessons/01-single-process/server.ts    then: curl -i http://127.0.0.1:3000/heavy

import { EventEmitter } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { commandLine, port as readPort, type Fail } from '../../lib/options.ts';
import { isMain } from '../../lib/runtime.ts';
import { countRound, readLoops } from './heavy.ts';

export const defaults = {
  port: 3000,
  host: '127.0.0.1',
  drainMs: 500, // after a stop signal, take no new connections but answer the open ones (with Connection: close)
  graceMs: 5_000, // then cut whatever is still open, and say so with exit code 1
  stopSignals: ['SIGINT', 'SIGTERM', 'SIGHUP'] as const, // Ctrl+C, kill, a closed terminal
};

const usage = `Usage: npx tsx lessons/01-single-process/server.ts

  It takes no options; its settings come from the environment:
  PORT=${defaults.port}        the port to listen on (0: any free one)
  HOST=${defaults.host}   the address to listen on
  Ctrl+C, kill <pid> or a closed terminal stops it: open requests are answered first.`;

// Run as a program (the guard is the file's last line, once the class below is defined): the stop signals are handled before anything is printed, so a signal sent as
// soon as the first line appears still gets a graceful stop. It exits with what stop() says.
function main(argv: string[]): void {
  commandLine('server', usage).parse(argv, {});
  const server = new Server(settingsFrom(process.env, exitWith));
  onStopSignals(() => server.stop());
  server.on('stopped', (exitCode) => process.exit(exitCode));
  server.listen().catch((error: Error) => exitWith(error.message));
}

// A route's view of the request target, split on its first '?': nothing here can throw, whatever
// arrived (`//[`, `%zz`, a target of 8 KB). A handler parses the query with URLSearchParams, which
// does not throw either.
export interface Target {
  path: string;
  query: string;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, target: Target) => void;

export interface ServerOptions {
  port?: number;
  host?: string;
  reusePort?: boolean; // lesson 09: a listening socket of this process's own, on a port that others share
  handle?: Handler; // what to answer; lesson 01's own routes by default
  maxConnections?: number; // open connections at most; more are closed at once (lesson 11's page)
  drainMs?: number;
  graceMs?: number;
  label?: string; // what its log lines start with, `pid N` by default
}

// The server, its stop and its log lines. Events: 'listening' (url), 'stopping', 'stopped' (exitCode:
// 0 once every connection ended by itself, 1 when the grace ran out and the rest were cut).
export class Server extends EventEmitter<{ listening: [url: string]; stopping: []; stopped: [exitCode: number] }> {
  readonly http: http.Server;
  readonly #options: Required<Omit<ServerOptions, 'maxConnections'>> & Pick<ServerOptions, 'maxConnections'>;
  #isStopping = false;
  #stopped?: Promise<number>;

  constructor(options: ServerOptions = {}) {
    super();
    this.#options = { port: defaults.port, host: defaults.host, reusePort: false, handle: routes(), drainMs: defaults.drainMs, graceMs: defaults.graceMs, label: `pid ${process.pid}`, ...options };
    this.http = http.createServer((req, res) => this.#answer(req, res));
    if (options.maxConnections !== undefined) this.http.maxConnections = options.maxConnections;
  }

  get isStopping(): boolean {
    return this.#isStopping;
  }

  // Resolves with the URL once listening; rejects with one line that says why not and what to do.
  listen(): Promise<string> {
    const { port, host, reusePort } = this.#options;
    return new Promise((resolve, reject) => {
      this.http.once('error', (error: NodeJS.ErrnoException) => reject(new Error(cannotListen(host, port, error))));
      this.http.listen({ port, host, exclusive: reusePort, reusePort }, () => {
        const url = urlOf(this.http);
        this.log(`listening on ${url}`);
        this.emit('listening', url);
        resolve(url);
      });
    });
  }

  // Stops taking work, finishes what is open, then resolves with the exit code. Safe to call twice.
  stop(): Promise<number> {
    if (this.#stopped) return this.#stopped;
    this.#isStopping = true;
    this.#stopped = new Promise((resolve) => {
      const settle = (exitCode: number) => {
        clearTimeout(forced);
        this.emit('stopped', exitCode);
        resolve(exitCode);
      };
      this.#stopAccepting();
      this.log('stopping: answering what is open, then exiting');
      this.emit('stopping');
      const forced = setTimeout(() => settle(this.#cutTheRest()), this.#options.graceMs).unref();
      // Closing idle keep-alive sockets at once races with a client that is sending on one just
      // then; a short drain lets busy clients read a Connection: close answer and leave between
      // requests, and lets a connection accepted just before the stop send its request and get its
      // answer. Not unref()ed, unlike the safety net: the stop is not over until it has run.
      setTimeout(() => this.#close(() => settle(0)), this.#options.drainMs);
    });
    return this.#stopped;
  }

  log(line: string): void {
    console.log(`[${this.#options.label}] ${line}`);
  }

  #answer(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.setHeader('x-worker-pid', process.pid);
    // Once this process is on its way out (by its own signal, or because a cluster primary closed
    // its listener), every answer tells keep-alive clients to reconnect: to another worker, if any.
    if (this.#isStopping || !this.http.listening) res.setHeader('connection', 'close');
    this.#options.handle(req, res, splitTarget(req.url ?? '/'));
  }

  #stopAccepting(): void {
    // Not server.close(): Node's http close also destroys the connections idle at that moment, and
    // since Node 26.4 those include connections accepted a moment ago whose request is not read yet
    // (https://github.com/nodejs/node/pull/63470): under load, their clients would get ECONNRESET.
    // net's close only stops accepting. Bun's http.Server is no net.Server: it closes after the drain.
    if (this.http instanceof net.Server) net.Server.prototype.close.call(this.http);
  }

  #close(then: () => void): void {
    // A request that reached this process while it was busy (a long count, a machine too busy to
    // run it) waits unread in its socket, and its connection looks idle. A timer of 0 ms runs after
    // the event loop has read what has arrived (setImmediate does on Node, not on Bun), so such a
    // connection is busy, and answered, when the idle ones are closed.
    setTimeout(() => {
      // The callback runs once the last connection has ended, whether the listener was open or not.
      this.http.close(then);
      this.http.closeIdleConnections();
    }, 0);
  }

  #cutTheRest(): number {
    console.error(`[${this.#options.label}] still busy after ${this.#options.graceMs} ms: closing the rest`);
    this.http.closeAllConnections();
    return 1;
  }
}

// `on`, not `once`: tsx re-sends a Ctrl+C that its child has not acknowledged within 30 ms, and a
// second signal with no listener left would end the process on the spot, exit 130, mid-drain.
export function onStopSignals(stop: (signal: NodeJS.Signals) => void): void {
  for (const signal of defaults.stopSignals) process.on(signal, () => stop(signal));
}

// PORT and HOST, or one line through `fail` that says what is wrong and what to type instead.
export function settingsFrom(env: NodeJS.ProcessEnv, fail: Fail): { port: number; host: string } {
  return { port: readPort('PORT', env.PORT, defaults.port, fail), host: env.HOST || defaults.host };
}

// ---- Lesson 01's routes ----

// `/` says who answered; `/heavy` counts to ?n= (default 5,000,000), here, on this thread. Lesson 08
// passes `handOff` to count elsewhere: the routes, their refusals and their answers stay these.
export function routes(handOff?: (res: http.ServerResponse, loops: number) => void): Handler {
  return (req, res, { path, query }) => {
    if (path !== '/' && path !== '/heavy') return reply(res, 404, 'Not found: try / or /heavy');
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, `Method ${req.method} not allowed: use GET`, { allow: 'GET, HEAD' });
    if (hasBody(req)) return reply(res, 413, 'A GET here takes no body', { connection: 'close' });
    if (path === '/') return reply(res, 200, `Served by pid ${process.pid}`);

    const n = readLoops(new URLSearchParams(query).get('n'));
    if ('reason' in n) return reply(res, 400, n.reason);
    if (handOff) return handOff(res, n.loops);
    // The seed's loop, inline in the handler as the seed had it, in rounds of at most a billion:
    // heavy.ts says why it is not a call, and why rounds.
    const loops = n.loops;
    let total = 0;
    while (total < loops) {
      const round = countRound(loops, total);
      let counted = 0;
      while (counted < round) {
        counted++;
      }
      total += counted;
    }
    answerHeavy(res, total);
  };
}

export function answerHeavy(res: http.ServerResponse, total: number): void {
  reply(res, 200, `The result of the CPU intensive task is ${total}`);
}

// A body nobody reads would be read and thrown away to its end, however long: refuse it and close.
export function hasBody(req: http.IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

export function reply(res: http.ServerResponse, status: number, line: string, headers: Record<string, string> = {}): void {
  const body = `${line}\n`;
  res.writeHead(status, {
    ...headers,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

export function splitTarget(url: string): Target {
  const at = url.indexOf('?');
  return at === -1 ? { path: url, query: '' } : { path: url.slice(0, at), query: url.slice(at + 1) };
}

// ---- Why it could not start, in one line ----

export function cannotListen(host: string, port: number, error: NodeJS.ErrnoException): string {
  const reasons: Record<string, string> = {
    EADDRINUSE: `port ${port} is already in use: stop what holds it, or pick another with PORT=${port + 1}`,
    EACCES: `no permission for port ${port}: ports below 1024 need privileges, try PORT=3000`,
    EADDRNOTAVAIL: `${host} is not an address of this machine: try HOST=127.0.0.1`,
    ENOTFOUND: `${host} is not an address of this machine: try HOST=127.0.0.1`,
  };
  return `cannot listen on ${host}:${port}: ${reasons[error.code ?? ''] ?? error.message}`;
}

// For a program that cannot start: one line on stderr, exit 1.
export function exitWith(line: string): never {
  console.error(`[pid ${process.pid}] ${line}`);
  process.exit(1);
}

function urlOf(listening: http.Server): string {
  const address = listening.address();
  if (address === null || typeof address === 'string') return String(address);
  const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${hostPart}:${address.port}`;
}

if (isMain(import.meta.url)) main(process.argv.slice(2));
