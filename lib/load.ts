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

// One request. By default on a fresh connection (`agent: false`): Node's global agent keeps
// connections alive, which would pin every request to the worker that took the first one.
export function get(url: string, options: { method?: string; agent?: http.Agent | false; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Reply> {
  const timeoutMs = options.timeoutMs ?? defaults.waitMs;
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: options.method ?? 'GET', agent: options.agent ?? false, signal: options.signal }, (res) => {
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
// stop() waits for the requests in flight; stop({ cutAfterMs }) waits that long, then cuts the rest and
// counts each as a failure (ABORT_ERR): for a test that knows one may hang and only counts failures.
export function startLoad(url: string, options: { connections?: number; keepAlive?: boolean; timeoutMs?: number; limitMs?: number } = {}) {
  const connections = options.connections ?? 4;
  const agent = options.keepAlive ? new http.Agent({ keepAlive: true, maxSockets: connections }) : false;
  const count: LoadCount = { requests: 0, failures: 0, non200: 0, errorCodes: {}, byPid: {} };
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

