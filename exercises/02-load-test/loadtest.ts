// Exercise 02: measure before you scale. autocannon sends the requests; the figures are yours: how
// long the run really took, and what its result says (requests per second, latency, failures).
// The lesson's own loadtest.ts is the solution. Check it:  npm run check -- 02
// Run it:  npx tsx exercises/02-load-test/loadtest.ts http://127.0.0.1:3000/heavy --amount 1200 --connections 10

import autocannon from 'autocannon';
import { commandLine, seconds, wholeNumber } from '../../lib/options.ts';
import { isMain } from '../../lib/runtime.ts';
import { todo } from '../todo.ts';

export const defaults = {
  amount: 1200, // the seed's run: 1200 requests...
  connections: 10, // ...10 at a time
  timeoutS: 10, // a request unanswered this long counts as an error
  maxAmount: 1_000_000_000, // bounds on what the options accept: beyond them is a typo
  maxConnections: 10_000,
  maxSeconds: 3600,
};

export interface Load {
  url: string;
  amount?: number; // either a number of requests...
  durationS?: number; // ...or a number of seconds
  connections?: number;
  threads?: number; // autocannon's worker threads, each with its share of the connections; 1: this thread
  progress?: boolean; // autocannon's own progress bar, on stderr
}

export interface Figures {
  url: string;
  connections: number;
  requests: number;
  totalTimeS: number;
  requestsPerSec: number;
  meanLatencyMs: number;
  p50LatencyMs: number;
  p99LatencyMs: number;
  errors: number; // connection errors, timeouts included
  timeouts: number;
  non2xx: number;
}

const usage = `Usage: npx tsx exercises/02-load-test/loadtest.ts <url> [--amount N | --duration S] [--connections C]

  <url>              what to load, e.g. http://127.0.0.1:3000/heavy
  --amount N         send N requests in all (default ${defaults.amount}, the seed's run)
  --duration S       or keep sending for S seconds
  --connections C    how many requests at a time (default ${defaults.connections})`;
const { fail: usageError, parse } = commandLine('loadtest', usage);

if (isMain(import.meta.url)) await main(process.argv.slice(2));

async function main(argv: string[]): Promise<void> {
  const load = readArgs(argv);
  const figures = await measure({ ...load, progress: process.stderr.isTTY });
  console.log(report(figures));
  const { failed, unanswered } = failuresOf(figures, load.amount);
  if (failed === 0) return;
  const hint = figures.requests === 0 ? ': is a server listening there? (npx tsx lessons/01-single-process/server.ts)' : '';
  const lost = unanswered > 0 ? ` (${unanswered} of ${load.amount} never answered)` : '';
  console.error(`${failed} requests failed${lost}${hint}`);
  process.exitCode = 1;
}

// Every request that did not get a 2xx. autocannon drops a request it wrote into a connection the
// server was closing, and counts no error for it: a run of `amount` requests that got fewer answers
// lost the rest.
export function failuresOf(figures: Figures, amount?: number): { failed: number; unanswered: number } {
  const unanswered = amount === undefined ? 0 : Math.max(0, amount - figures.requests);
  return { failed: figures.errors + figures.non2xx + unanswered, unanswered };
}

// The measuring function every later lesson and script reuses.
export function measure(load: Load): Promise<Figures> {
  const connections = load.connections ?? defaults.connections;
  // autocannon checks whether a run is over on each sample tick (every second by default), so a
  // short run idles up to a second at its end; a tenth of that keeps it short. Its per-tick
  // histogram changes with it, but nothing here reads that.
  const options: autocannon.Options = { url: load.url, connections, timeout: defaults.timeoutS, sampleInt: 100 };
  if (load.durationS === undefined) options.amount = load.amount ?? defaults.amount;
  else options.duration = load.durationS;
  if ((load.threads ?? 1) > 1) options.workers = load.threads;
  // autocannon's own duration runs to the tick that noticed the end; the time from the first
  // request to the last answer is the run's real length.
  const startedAt = performance.now();
  let lastAnswerAt = startedAt;
  return new Promise((resolve, reject) => {
    const instance = autocannon(options, (error, result) => {
      process.removeListener('SIGINT', stopEarly);
      if (error) return reject(error);
      // A figure that cannot be worked out rejects the run, rather than throwing inside autocannon.
      try {
        // TODO 1: the run's real length, in seconds: from startedAt (just before the run) to the last
        // answer. autocannon's own result.duration runs on to the sample tick that noticed the end, so
        // note the time of each answer yourself: listen to the instance's 'response' event below and
        // keep performance.now() in lastAnswerAt. In worker threads (options.workers) autocannon
        // reports no single answers: its own result.duration is the one there is.
        const totalTimeS: number = todo('exercises/02-load-test/loadtest.ts', 'measure() times the run, from the first request to the last answer (TODO 1)', { throws: true });
        resolve(figuresOf(load.url, connectionsOpened(connections, options.workers), result, totalTimeS));
      } catch (failure) {
        reject(failure);
      }
    });
    // TODO 1: here, at each answer: lastAnswerAt = performance.now()
    autocannon.track(instance, { renderProgressBar: load.progress ?? false, renderResultsTable: false, renderLatencyTable: false });
    // Ctrl+C ends the run early and still reports what was measured.
    const stopEarly = () => instance.stop();
    process.once('SIGINT', stopEarly);
  });
}

// autocannon gives each worker thread connections / threads of them, rounded down (at least one).
export function connectionsOpened(connections: number, threads = 1): number {
  return Math.max(1, Math.floor(connections / threads)) * threads;
}

export function figuresOf(url: string, connections: number, result: autocannon.Result, totalTimeS: number): Figures {
  // TODO 2: the figures, from autocannon's result (see its type, autocannon.Result): the requests
  // answered (result.requests.total), requests per second over the run's real length (totalTimeS,
  // TODO 1's; 0 for a run of no length), the latencies (mean, p50, p99, in ms), and every failure:
  // connection errors (timeouts included), timeouts, and answers that were not 2xx. A failure left
  // uncounted makes a broken server look fine.
  return todo('exercises/02-load-test/loadtest.ts', `figuresOf() reads ${result.requests.total} requests from autocannon's result (TODO 2)`, { throws: true });
}

export function report(figures: Figures): string {
  const rows: [string, string][] = [
    ['Total time', `${figures.totalTimeS.toFixed(2)} s`],
    ['Requests per second', figures.requestsPerSec.toFixed(1)],
    ['Mean latency', `${figures.meanLatencyMs.toFixed(1)} ms`],
    ['p50 latency', `${figures.p50LatencyMs} ms`],
    ['p99 latency', `${figures.p99LatencyMs} ms`],
    ['Requests', `${figures.requests} answered, ${figures.connections} at a time`],
    ['Errors', `${figures.errors} (${figures.timeouts} timeouts)`],
    ['Non-2xx', String(figures.non2xx)],
  ];
  return [`Load test of ${figures.url}`, ...rows.map(([name, value]) => `  ${name.padEnd(20)} ${value}`)].join('\n');
}

function readArgs(argv: string[]): Load {
  const options = { amount: { type: 'string' }, duration: { type: 'string' }, connections: { type: 'string', short: 'c' } } as const;
  const { values, positionals } = parse(argv, options, { positionals: true });
  if (positionals.length !== 1) return usageError(`expected one URL, got ${positionals.length}`);
  const url = readUrl(positionals[0]);
  if (values.amount !== undefined && values.duration !== undefined) return usageError('give --amount or --duration, not both');
  const connections = values.connections === undefined ? defaults.connections : wholeNumber('--connections', values.connections, usageError, defaults.maxConnections);
  const durationS = values.duration === undefined ? undefined : seconds('--duration', values.duration, usageError);
  const amount = values.amount === undefined ? undefined : wholeNumber('--amount', values.amount, usageError, defaults.maxAmount);
  if (connections > (amount ?? Infinity)) return usageError(`--connections (${connections}) cannot be more than --amount (${amount})`);
  return { url, amount, durationS, connections };
}

function readUrl(raw: string): string {
  const url = URL.canParse(raw) ? new URL(raw) : null;
  if (url?.protocol === 'http:' || url?.protocol === 'https:') return url.href;
  return usageError(`expected an http:// URL, got ${JSON.stringify(raw)}`);
}

