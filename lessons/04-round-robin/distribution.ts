// Lesson 04: who served how many? Sends N requests, C at a time, and prints each worker's share:
// a table, a bar per worker and how even it was. By default every request gets a new connection
// (what the cluster hands out); --keep-alive reuses at most C connections instead.
// Run it:  npx tsx lessons/04-round-robin/distribution.ts [url] [--requests 200] [--concurrency 1] [--keep-alive]

import http from 'node:http';
import type { Socket } from 'node:net';
import { commandLine, wholeNumber } from '../../lib/options.ts';
import { isMain } from '../../lib/runtime.ts';

export const defaults = {
  url: 'http://127.0.0.1:3000/',
  requests: 200,
  concurrency: 1, // one after another: the case where round-robin is exact
  maxRequests: 100_000, // each is a whole TCP connection by default: more is a typo
  maxConcurrency: 1_000,
  timeoutMs: 10_000, // a request unanswered this long counts as failed
  barWidth: 40, // characters for the busiest worker's bar
};

export interface Run {
  url: string;
  requests: number;
  concurrency: number;
  keepAlive: boolean;
}

export interface Tally {
  byPid: Map<number, { requests: number; connections: number }>; // by the x-worker-pid that answered
  connections: number; // TCP connections the run opened, all workers together
  failures: number; // no answer: refused, reset, timed out
  non200: number;
  errorCodes: Record<string, number>;
}

interface Answer {
  status: number;
  pid: number;
  socket: Socket;
}

const usage = `Usage: npx tsx lessons/04-round-robin/distribution.ts [url] [--requests N] [--concurrency C] [--keep-alive]

  url                what to ask (default ${defaults.url}); its answers must carry x-worker-pid
  --requests N       how many requests in all (default ${defaults.requests})
  --concurrency C    how many at a time (default ${defaults.concurrency})
  --keep-alive       reuse connections (at most C of them) instead of a new one per request`;

if (isMain(import.meta.url)) await main(process.argv.slice(2));

async function main(argv: string[]): Promise<void> {
  const run = readArgs(argv);
  const tally = await countByWorker(run);
  console.log(report(run, tally));
  const failed = tally.failures + tally.non200;
  if (failed === 0) return;
  const hint = tally.errorCodes.ECONNREFUSED ? ': is a cluster listening there? (npx tsx lessons/04-round-robin/primary.ts)' : '';
  console.error(`${failed} requests failed ${JSON.stringify(tally.errorCodes)}${hint}`);
  process.exitCode = 1;
}

// The counting the test reuses. `concurrency` loops share the requests; each sends its next one
// as soon as its last one is answered.
export async function countByWorker(run: Run): Promise<Tally> {
  const agent = run.keepAlive ? new http.Agent({ keepAlive: true, maxSockets: run.concurrency }) : false;
  const tally: Tally = { byPid: new Map(), connections: 0, failures: 0, non200: 0, errorCodes: {} };
  const seen = new WeakSet<Socket>();
  let sent = 0;
  const loop = async () => {
    while (sent < run.requests) {
      sent++; // claimed before the await, so the loops never send more than run.requests between them
      try {
        record(tally, seen, await send(run.url, agent));
      } catch (error) {
        tally.failures++;
        const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
        tally.errorCodes[code] = (tally.errorCodes[code] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: run.concurrency }, loop));
  if (agent) agent.destroy();
  return tally;
}

function send(url: string, agent: http.Agent | false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent }, (res) => {
      const socket = res.socket; // taken now: a keep-alive socket goes back to the agent at 'end'
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, pid: Number(res.headers['x-worker-pid']), socket }));
      res.on('error', reject);
    });
    request.setTimeout(defaults.timeoutMs, () => request.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    request.on('error', reject);
  });
}

function record(tally: Tally, seen: WeakSet<Socket>, answer: Answer): void {
  if (!Number.isInteger(answer.pid)) throw Object.assign(new Error('no x-worker-pid header'), { code: 'NO_PID' });
  if (answer.status !== 200) tally.non200++;
  const worker = tally.byPid.get(answer.pid) ?? { requests: 0, connections: 0 };
  tally.byPid.set(answer.pid, worker);
  worker.requests++;
  if (seen.has(answer.socket)) return;
  seen.add(answer.socket);
  worker.connections++;
  tally.connections++;
}

// How even the split was: the busiest worker's count over the idlest one's (1 is even), and the
// coefficient of variation, the spread as a share of the mean (0% is even).
export function fairness(counts: number[]): { maxOverMin: number; cvPercent: number } {
  const mean = counts.reduce((sum, n) => sum + n, 0) / counts.length;
  const variance = counts.reduce((sum, n) => sum + (n - mean) ** 2, 0) / counts.length;
  return { maxOverMin: Math.max(...counts) / Math.min(...counts), cvPercent: (100 * Math.sqrt(variance)) / mean };
}

export function report(run: Run, tally: Tally): string {
  const how = run.keepAlive ? `over ${tally.connections} keep-alive connection${tally.connections === 1 ? '' : 's'}` : 'a new connection for each';
  const title = `${run.requests} requests to ${run.url}, ${run.concurrency} at a time, ${how}`;
  const workers = [...tally.byPid].sort(([a], [b]) => a - b);
  if (workers.length === 0) return `${title}\n\n  no worker answered`;
  const counts = workers.map(([, w]) => w.requests);
  const answered = counts.reduce((sum, n) => sum + n, 0);
  const rows = workers.map(([pid, w]) => row(pid, w.connections, w.requests, answered, Math.max(...counts)));
  return [title, '', '  worker pid  connections  requests   share', ...rows, '', `  ${summary(counts)}`].join('\n');
}

function row(pid: number, connections: number, requests: number, answered: number, most: number): string {
  const share = `${((100 * requests) / answered).toFixed(1)}%`;
  const bar = '█'.repeat(Math.max(1, Math.round((defaults.barWidth * requests) / most)));
  return `  ${String(pid).padStart(10)}  ${String(connections).padStart(11)}  ${String(requests).padStart(8)}  ${share.padStart(6)}  ${bar}`;
}

function summary(counts: number[]): string {
  if (counts.length === 1) return 'only 1 worker answered (any other worker served none)';
  const { maxOverMin, cvPercent } = fairness(counts);
  return `${counts.length} workers answered; fairness: max/min ${maxOverMin.toFixed(2)}, coefficient of variation ${cvPercent.toFixed(1)}% (1.00 and 0% are perfectly even)`;
}

function readArgs(argv: string[]): Run {
  const options = {
    requests: { type: 'string', short: 'n' },
    concurrency: { type: 'string', short: 'c' },
    'keep-alive': { type: 'boolean', short: 'k', default: false },
  } as const;
  const { values, positionals } = commandLine('distribution', usage).parse(argv, options, { positionals: true });
  if (positionals.length > 1) return usageError(`expected at most one URL, got ${positionals.length}: ${positionals.join(' ')}`);
  const url = readUrl(positionals[0] ?? defaults.url);
  const requests = values.requests === undefined ? defaults.requests : wholeNumber('--requests', values.requests, usageError, defaults.maxRequests);
  const concurrency = values.concurrency === undefined ? defaults.concurrency : wholeNumber('--concurrency', values.concurrency, usageError, defaults.maxConcurrency);
  if (concurrency > requests) return usageError(`--concurrency (${concurrency}) cannot be more than --requests (${requests})`);
  return { url, requests, concurrency, keepAlive: values['keep-alive'] };
}

function readUrl(raw: string): string {
  const url = URL.canParse(raw) ? new URL(raw) : null;
  if (url?.protocol === 'http:') return url.href;
  return usageError(`expected an http:// URL, got ${JSON.stringify(raw)}`);
}

function usageError(problem: string): never {
  return commandLine('distribution', usage).fail(problem);
}
