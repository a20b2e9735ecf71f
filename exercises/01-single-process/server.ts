// Exercise 01: one process, one thread. Write the routes of a plain node:http server, the count that
// keeps /heavy busy, and its graceful stop; the rest (port, errors, the command line) is given.
// The lesson's own server.ts is the solution. Check it:  npm run check -- 01
// Run it:  npx tsx exercises/01-single-process/server.ts    then: curl -i http://127.0.0.1:3000/heavy

import { EventEmitter } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { commandLine, port as readPort, type Fail } from '../../lib/options.ts';
import { isMain } from '../../lib/runtime.ts';
import { countRound, readLoops } from './heavy.ts';
import { todo } from '../todo.ts';

export const defaults = {
  port: 3000,
  host: '127.0.0.1',
  drainMs: 500, // after a stop signal, take no new connections but answer the open ones (with Connection: close)
  graceMs: 5_000, // then cut whatever is still open, and say so with exit code 1
  stopSignals: ['SIGINT', 'SIGTERM', 'SIGHUP'] as const, // Ctrl+C, kill, a closed terminal
};

const usage = `Usage: npx tsx exercises/01-single-process/server.ts

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
    // TODO 3: stop gracefully, once: a second call returns the same promise (keep it in #stopped).
    //   - set #isStopping, call #stopAccepting(), log `stopping: answering what is open, then exiting`
    //     with this.log(), and emit 'stopping'
    //   - keep answering for this.#options.drainMs (#answer() then says Connection: close), then
    //     #close() and settle with 0; setTimeout() does the waiting
    //   - as a safety net, settle with #cutTheRest()'s 1 after this.#options.graceMs, whichever comes
    //     first; .unref() that timer, so that it never keeps the process alive by itself
    //   - settling: clear the other timer, emit 'stopped' with the exit code, resolve with it
    return todo('exercises/01-single-process/server.ts', 'stop() answers what is open, then resolves with the exit code (TODO 3)');
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
    // TODO 4: stop accepting new connections, and nothing more. Not this.http.close(): Node's http
    // close also destroys the connections idle at that moment, and since Node 26.4 those include
    // connections accepted a moment ago whose request is not read yet: under load their clients get
    // ECONNRESET. net's own close only stops accepting: net.Server.prototype.close.call(this.http).
    // Bun's http.Server is no net.Server (check with instanceof): there, do nothing; it closes
    // after the drain.
    todo('exercises/01-single-process/server.ts', '#stopAccepting() stops taking new connections (TODO 4)');
  }

  #close(then: () => void): void {
    // TODO 5: close and call `then` once the last open connection has ended: this.http.close() takes
    // a callback for that moment, and it runs whether the listener was open or not. close() waits
    // for keep-alive connections too: this.http.closeIdleConnections() ends the ones idle now. But
    // not in this turn of the event loop: a request that arrived while this process was busy is
    // still unread in its socket, and its connection looks idle. Do both in a setTimeout() of 0 ms,
    // which runs once the loop has read what has arrived.
    todo('exercises/01-single-process/server.ts', '#close() closes, then calls back (TODO 5)');
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
    // TODO 1: answer every request, each with reply(res, status, line[, headers]). The tests read
    // exactly these (#answer() above already sets x-worker-pid and, when stopping, Connection: close):
    //   - a path other than / or /heavy: 404 `Not found: try / or /heavy`
    //   - a method other than GET or HEAD: 405, with the header Allow: GET, HEAD
    //   - a request with a body (hasBody(req)): 413, with Connection: close
    //   - GET /: 200 `Served by pid <pid>`
    //   - GET /heavy?n=42: read n with `const n = readLoops(new URLSearchParams(query).get('n'))`;
    //     when it gives a reason, 400 with that reason; else, if `handOff` was given,
    //     handOff(res, n.loops) and stop there (lesson 08 counts on a thread); else go on below:
    //     the count of n.loops is TODO 2, and answerHeavy() answers with its total
    return reply(res, 501, 'TODO in exercises/01-single-process/server.ts: routes() answers / and /heavy (TODO 1)');
    // The seed's loop, inline in the handler as the seed had it, in rounds of at most a billion:
    // heavy.ts says why it is not a call, and why rounds.
    // TODO 2: /heavy's count, right here in this handler, not in a function of its own: plain
    // synchronous `while` loops that count from 0 up to n.loops, in rounds of countRound(loops,
    // total) (an inner loop counts one round, the outer adds it to the total). No await, no
    // setImmediate: while it counts, this process's one JavaScript thread answers nobody else, which
    // is what lesson 01 shows and lesson 03 fixes. (Why inline, and why rounds? heavy.ts says: V8's
    // Maglev would inline a small counting function here and leave the loop slow for good, and one
    // counter past 2^31 turns the loop to floating point for good.)
    const total: number = todo('exercises/01-single-process/server.ts', '/heavy counts n.loops right here in the handler (TODO 2)');
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
