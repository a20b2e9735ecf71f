// Requests that count what they got, for the tests and for lessons that show a failure: one GET,
// and a steady load that counts every failure itself (autocannon reconnects silently).

import http from 'node:http';
import { defaults } from './launch.ts';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  pid: number;
}

// A keep-alive connection that sat idle in the client's pool through a server's whole drain (lesson
// 01's: 500 ms) got no answer there to carry Connection: close, so the server closes it as idle when
// the drain ends, and a request sent on it just then crosses that close: ECONNRESET. Node's docs
// (http.ClientRequest's reusedSocket) advise a client to send such a request again. A load loop here
// is only that idle when the machine stalls it, and it does the same: the request is counted under
// `retried`, not as a failure. Any other reset (an answer cut off, a connection reset sooner) fails.
export const idleCloseMs = 500;
const freedAt = new WeakMap<object, number>();

// An agent that keeps `maxSockets` connections alive and notes when each went back to its pool.
export function keepAliveAgent(maxSockets: number): http.Agent {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  agent.on('free', (socket) => freedAt.set(socket, Date.now()));
  return agent;
}

// The idle-close race above: a reset of a request sent on a connection idle in the pool that long.
export function isIdleCloseRace(error: unknown): boolean {
  const { code, idleMs } = error as { code?: string; idleMs?: number };
  return code === 'ECONNRESET' && (idleMs ?? 0) >= idleCloseMs;
}

// One request. By default on a fresh connection (`agent: false`): Node's global agent keeps
// connections alive, which would pin every request to the worker that took the first one. A failure
// on a reused connection says how long that connection had been idle (`idleMs`, with keepAliveAgent()).
export function get(url: string, options: { method?: string; agent?: http.Agent | false; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Reply> {
  const timeoutMs = options.timeoutMs ?? defaults.waitMs;
  return new Promise((resolve, reject) => {
    let idleMs = 0;
    const request = http.request(url, { method: options.method ?? 'GET', agent: options.agent ?? false, signal: options.signal }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body, pid: Number(res.headers['x-worker-pid']) }),
      );
      res.on('error', reject);
    });
    request.on('socket', (socket) => {
      const freed = freedAt.get(socket);
      if (request.reusedSocket && freed !== undefined) idleMs = Date.now() - freed;
    });
    request.setTimeout(timeoutMs, () => request.destroy(new Error(`no answer from ${url} in ${timeoutMs} ms`)));
    request.on('error', (error) => reject(Object.assign(error, { idleMs })));
    request.end();
  });
}

export interface LoadCount {
  requests: number; // answered, any status
  failures: number; // no answer: reset, refused, hung up
  retried: number; // sent again after the idle-close race (see idleCloseMs), not failures
  non200: number;
  errorCodes: Record<string, number>; // what the failures were, e.g. { ECONNRESET: 2 }
  byPid: Record<number, number>;
}

// A steady load that counts every failure itself. autocannon reconnects silently when a server
// ends a connection, so its error count cannot prove "zero requests lost"; this can. Each of
// `connections` loops sends one request after another, on a fresh connection each time or over a
// keep-alive agent, until stop() is called, or by itself after `limitMs` (default: the harness's longest wait).
// `timeoutMs` bounds each request (default: the harness's longest wait); one with no answer by then fails.
// stop() waits for the requests in flight; stop({ cutAfterMs }) waits that long, then cuts the rest and
// counts each as a failure (ABORT_ERR): for a test that knows one may hang and only counts failures.
export function startLoad(url: string, options: { connections?: number; keepAlive?: boolean; timeoutMs?: number; limitMs?: number } = {}) {
  const connections = options.connections ?? 4;
  const agent = options.keepAlive ? keepAliveAgent(connections) : false;
  const count: LoadCount = { requests: 0, failures: 0, retried: 0, non200: 0, errorCodes: {}, byPid: {} };
  const cut = new AbortController();
  const deadline = Date.now() + (options.limitMs ?? defaults.waitMs);
  let isStopped = false;
  const loop = async () => {
    while (!isStopped && Date.now() < deadline) {
      try {
        const reply = await get(url, { agent, timeoutMs: options.timeoutMs, signal: cut.signal });
        count.requests++;
        if (reply.status !== 200) count.non200++;
        count.byPid[reply.pid] = (count.byPid[reply.pid] ?? 0) + 1;
      } catch (error) {
        if (isIdleCloseRace(error)) {
          count.retried++; // this loop's next request is the same GET, sent again
          continue;
        }
        count.failures++;
        const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
        count.errorCodes[code] = (count.errorCodes[code] ?? 0) + 1;
      }
    }
  };
  const loops = Promise.all(Array.from({ length: connections }, loop));
  return {
    count,
    async stop({ cutAfterMs }: { cutAfterMs?: number } = {}): Promise<LoadCount> {
      isStopped = true;
      const cutting = cutAfterMs === undefined ? undefined : setTimeout(() => cut.abort(), cutAfterMs);
      await loops;
      clearTimeout(cutting);
      if (agent) agent.destroy();
      return count;
    },
  };
}

