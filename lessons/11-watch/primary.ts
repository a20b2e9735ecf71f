// Lesson 11: watch it. Lesson 07's cluster, imported, plus a page on http://127.0.0.1:3001 that shows
// each worker, the cluster's requests per second and the primary's log, live (Server-Sent Events),
// with buttons to kill a worker, roll, or run one worker more or less. Only the holder of the secret
// in the printed URL can press them, and only from the page itself.
// Run it:  npx tsx lessons/11-watch/primary.ts        then open the URL it prints

import type { Worker } from 'node:cluster';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import { fileURLToPath } from 'node:url';
import { commandLine, port as readPort } from '../../lib/options.ts';
import { isMain } from '../../lib/runtime.ts';
import { reply as replyPlain, Server, splitTarget } from '../01-single-process/server.ts';
import { defaults as lesson03, readWorkerCount, type ForkReason } from '../03-cluster/primary.ts';
import { asZeroDowntimeProgram, ZeroDowntime } from '../07-zero-downtime/primary.ts';

export const defaults = {
  port: 3001,
  host: '127.0.0.1', // the page can kill workers: never reachable from another machine
  workerFile: fileURLToPath(new URL('./worker.ts', import.meta.url)),
  pageFile: fileURLToPath(new URL('./page.html', import.meta.url)),
  sampleMs: 1_000, // the chart's step...
  historyLength: 60, // ...and its width: the last minute
  pushMs: 500, // how often each open page gets the table
  logLength: 200, // lines a page that opens late still sees
  maxPages: 8, // open event streams: each holds a socket and a timer's work
  maxConnections: 32, // to the page's port, which lives in the primary: a few pages, their streams, their buttons
  headersTimeoutMs: 10_000, // a connection that has not sent its request by then is closed
  maxBodyBytes: 1_024, // an action's body is a pid at most
};

interface Row {
  how: ForkReason;
  forkedAt: number;
  answered: number; // as the worker last reported it
  perSecond: number;
  rssBytes: number;
  reportedAt: number;
}

const watch = {
  port: 0,
  secret: randomBytes(16).toString('hex'), // in the printed URL and the page; nowhere else
  rows: new Map<number, Row>(), // by worker.id
  answered: 0, // by every worker that ever reported
  sampled: 0, // `answered` at the last sample
  history: new Array<number>(defaults.historyLength).fill(0),
  samples: 0, // how many samples so far: the chart moves when this grows
  log: [] as { at: number; line: string; isError: boolean }[],
  pages: new Set<http.ServerResponse>(),
};

const usage = `Usage: npx tsx lessons/11-watch/primary.ts

  It takes no options; its settings come from the environment:
  WORKERS=${lesson03.workerCount}        how many workers (default: one per CPU)
  PORT=3000        the port they share (read by lesson 01's server)
  WATCH_PORT=${defaults.port}  the page's port, on ${defaults.host} only
  Open the URL it prints: the page needs the secret in it.`;

if (isMain(import.meta.url)) {
  commandLine('watch', usage).parse(process.argv.slice(2), {});
  startWatch();
}

// The page listens first: a cluster that could not be watched is not started. The page is lesson 01's
// Server with routes of its own; the signals are handled before anything is printed, and stop the
// page too once the workers are gone (asZeroDowntimeProgram).
export function startWatch(): void {
  const port = readPort('WATCH_PORT', process.env.WATCH_PORT, defaults.port, cannotStart);
  const primary = new ZeroDowntime({ workerCount: readWorkerCount(process.env.WORKERS), workerFile: defaults.workerFile });
  const page = new Server({ port, host: defaults.host, maxConnections: defaults.maxConnections, handle: (req, res) => route(primary, req, res), label: `primary ${process.pid}` });
  page.http.headersTimeout = defaults.headersTimeoutMs;
  page.http.requestTimeout = defaults.headersTimeoutMs;
  // An open event stream never ends by itself: end them all, so that the page's stop is a clean one.
  page.on('stopping', () => watch.pages.forEach((stream) => stream.end()));
  asZeroDowntimeProgram(primary, [page]);
  primary.on('line', remember);
  page.listen().then(
    (url) => {
      watch.port = Number(new URL(url).port);
      primary.on('fork', onFork).on('exit', (worker) => watch.rows.delete(worker.id));
      setInterval(sample, defaults.sampleMs).unref();
      setInterval(() => pushState(primary), defaults.pushMs).unref();
      primary.log(`watch the cluster: ${url}/?secret=${watch.secret}`);
      primary.start();
      primary.log(`kill -USR2 ${process.pid} replaces them one at a time; Ctrl+C stops them all`);
    },
    // Lesson 01's line names PORT; here the page's port is WATCH_PORT.
    (error: Error) => cannotStart(`cannot show the page: ${error.message.replaceAll('PORT=', 'WATCH_PORT=')}`),
  );
}

// ---- What the page shows: a row per worker, the requests per second, the primary's log ----

function onFork(worker: Worker, how: ForkReason): void {
  const now = Date.now();
  watch.rows.set(worker.id, { how, forkedAt: now, answered: 0, perSecond: 0, rssBytes: 0, reportedAt: now });
  worker.on('message', (message) => onReport(worker, message));
}

function onReport(worker: Worker, message: unknown): void {
  const report = (message as { watch?: { answered: number; rssBytes: number } } | null)?.watch;
  const row = watch.rows.get(worker.id);
  if (!report || !row || !Number.isFinite(report.answered) || !Number.isFinite(report.rssBytes)) return;
  const now = Date.now();
  const newlyAnswered = Math.max(0, report.answered - row.answered);
  watch.answered += newlyAnswered;
  row.perSecond = newlyAnswered / Math.max(0.001, (now - row.reportedAt) / 1000);
  Object.assign(row, { answered: report.answered, rssBytes: report.rssBytes, reportedAt: now });
}

function sample(): void {
  watch.history.push(watch.answered - watch.sampled);
  watch.history.shift();
  watch.sampled = watch.answered;
  watch.samples++;
}

function snapshot(primary: ZeroDowntime) {
  const now = Date.now();
  const workers = primary.list().map(({ id, pid, phase }) => {
    const row = watch.rows.get(id);
    return { pid, phase, how: row?.how ?? 'respawn', perSecond: Math.round(row?.perSecond ?? 0), answered: row?.answered ?? 0, rssBytes: row?.rssBytes ?? 0, uptimeMs: now - (row?.forkedAt ?? now) };
  });
  return { workers, workerCount: primary.workerCount, isRolling: primary.isRolling, history: watch.history, samples: watch.samples, sampleMs: defaults.sampleMs };
}

function remember(line: string, isError: boolean): void {
  const entry = { at: Date.now(), line, isError };
  watch.log.push(entry);
  if (watch.log.length > defaults.logLength) watch.log.shift();
  for (const page of watch.pages) sendEvent(page, 'log', entry);
}

function pushState(primary: ZeroDowntime): void {
  if (watch.pages.size === 0) return;
  const current = snapshot(primary);
  for (const page of watch.pages) sendEvent(page, 'state', current);
}

// A page that has not taken the last event yet (its socket's buffer is full: a stalled tab, a client
// that never reads) is dropped rather than buffered without end; a browser's EventSource reconnects.
export function sendEvent(page: Pick<http.ServerResponse, 'writableNeedDrain' | 'write' | 'destroy'>, event: string, data: unknown): boolean {
  if (page.writableNeedDrain) {
    page.destroy();
    return false;
  }
  page.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  return true;
}

// ---- Requests: who may look, who may act ----

// Lesson 01 splits the target on '?' (nothing there can throw); a target that is no path here (`//[`,
// `*`, `http://…`) is refused, and the query is read with URLSearchParams, which does not throw either.
export function readTarget(raw: string | undefined): { path: string; query: URLSearchParams } | null {
  if (raw === undefined || !raw.startsWith('/') || !URL.canParse(raw, 'http://watch.invalid')) return null;
  const { path, query } = splitTarget(raw);
  return { path, query: new URLSearchParams(query) };
}

function route(primary: ZeroDowntime, req: http.IncomingMessage, res: http.ServerResponse): void {
  const target = readTarget(req.url);
  if (!target) return reply(res, 400, `cannot parse the request target ${JSON.stringify(req.url)}: open the URL the primary printed`);
  const refusal = refuse(req, target.query);
  if (refusal) return reply(res, 403, refusal);
  const { path } = target;
  const actions: Record<string, (body: string) => [number, string]> = {
    '/kill': (body) => kill(primary, body),
    '/roll': () => roll(primary),
    '/more': () => oneMore(primary),
    '/less': () => oneLess(primary),
  };
  if (path === '/' || path === '/events') {
    if (req.method !== 'GET') return reply(res, 405, `${req.method} ${path}: use GET`, { allow: 'GET' });
    return path === '/' ? servePage(res) : openEvents(primary, req, res);
  }
  const action = Object.hasOwn(actions, path) ? actions[path] : undefined;
  if (!action) return reply(res, 404, `Not found: the page is /, its actions are POST ${Object.keys(actions).join(', ')}`);
  if (req.method !== 'POST') return reply(res, 405, `${req.method} ${path}: actions are POSTs`, { allow: 'POST' });
  readBody(req, res, (body) => reply(res, ...action(body)));
}

// DNS rebinding: a foreign site can point its own name at 127.0.0.1, but its requests still carry
// its name in Host. Another site open in the same browser can send a POST, but not read the secret,
// and its Origin says where it comes from. The secret rides in a header, which no form can send.
function refuse(req: http.IncomingMessage, query: URLSearchParams): string | undefined {
  const hosts = [`${defaults.host}:${watch.port}`, `localhost:${watch.port}`];
  if (!hosts.includes(req.headers.host ?? '')) return `wrong Host ${JSON.stringify(req.headers.host ?? '')}: open http://${hosts[0]}/ as printed`;
  const origin = req.headers.origin;
  if (origin !== undefined && !hosts.some((host) => origin === `http://${host}`)) return `foreign Origin ${JSON.stringify(origin)}: actions come from the page itself`;
  const given = req.method === 'GET' ? query.get('secret') : req.headers['x-watch-secret'];
  if (typeof given !== 'string' || given === '') return 'no secret: use the URL the primary printed, with its ?secret=';
  if (!sameSecret(given)) return 'wrong secret: use the URL the primary printed at its start';
  return undefined;
}

function sameSecret(given: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(watch.secret);
  return a.length === b.length && timingSafeEqual(a, b);
}

function servePage(res: http.ServerResponse): void {
  const nonce = randomBytes(16).toString('base64');
  const html = readFileSync(defaults.pageFile, 'utf8').replaceAll('__SECRET__', watch.secret).replaceAll('__NONCE__', nonce);
  res.writeHead(200, {
    ...strict,
    'content-type': 'text/html; charset=utf-8',
    // Its own inline script and style, and requests to itself: nothing else, no frame around it.
    'content-security-policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src data:; frame-ancestors 'none'`,
  });
  res.end(html);
}

function openEvents(primary: ZeroDowntime, req: http.IncomingMessage, res: http.ServerResponse): void {
  if (watch.pages.size >= defaults.maxPages) return reply(res, 503, `${defaults.maxPages} pages are open already: close one`);
  res.writeHead(200, { ...strict, 'content-type': 'text/event-stream' });
  watch.pages.add(res);
  req.once('close', () => watch.pages.delete(res));
  res.once('close', () => watch.pages.delete(res));
  for (const entry of watch.log) sendEvent(res, 'log', entry);
  sendEvent(res, 'state', snapshot(primary));
}

// Counted in bytes as they arrive (a character of the body can be 4 of them), decoded once complete.
function readBody(req: http.IncomingMessage, res: http.ServerResponse, then: (body: string) => void): void {
  const tooLarge = `a body of at most ${defaults.maxBodyBytes} bytes`;
  if (Number(req.headers['content-length'] ?? 0) > defaults.maxBodyBytes) return reply(res, 413, tooLarge, { connection: 'close' });
  const chunks: Buffer[] = [];
  let bytes = 0;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes <= defaults.maxBodyBytes) return void chunks.push(chunk);
    if (!res.headersSent) reply(res, 413, tooLarge, { connection: 'close' });
    req.destroy();
  });
  req.on('end', () => res.headersSent || then(Buffer.concat(chunks).toString('utf8')));
}

// ---- The buttons ----

function kill(primary: ZeroDowntime, body: string): [number, string] {
  const pid = Number((parseJson(body) as { pid?: unknown } | undefined)?.pid);
  const worker = Number.isInteger(pid) ? primary.workerByPid(pid) : undefined;
  if (!worker) return [400, `no worker with pid ${pid}: send {"pid": N} with a pid from the table`];
  primary.log(`page: SIGKILL to worker ${pid}`);
  worker.process.kill('SIGKILL');
  return [200, `sent SIGKILL to worker ${pid}`];
}

function roll(primary: ZeroDowntime): [number, string] {
  if (primary.isStopping) return [503, 'shutting down'];
  primary.log('page: rolling restart');
  primary.roll();
  return [202, 'rolling restart requested: the log shows each step'];
}

function oneMore(primary: ZeroDowntime): [number, string] {
  if (primary.isStopping) return [503, 'shutting down'];
  if (primary.workerCount >= lesson03.maxWorkers) return [400, `${lesson03.maxWorkers} workers is the most`];
  primary.log(`page: one worker more`);
  primary.setWorkerCount(primary.workerCount + 1);
  return [200, `forking worker ${primary.workerCount}`];
}

function oneLess(primary: ZeroDowntime): [number, string] {
  if (primary.isStopping) return [503, 'shutting down'];
  if (primary.workerCount <= 1) return [400, 'one worker is the fewest'];
  primary.log(`page: one worker less`);
  primary.setWorkerCount(primary.workerCount - 1);
  return [200, `${primary.workerCount} workers from now on`];
}

// ---- Small helpers ----

const strict = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' };

function reply(res: http.ServerResponse, status: number, line: string, headers: Record<string, string> = {}): void {
  replyPlain(res, status, line, { ...strict, ...headers });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function cannotStart(line: string): never {
  console.error(`[primary ${process.pid}] ${line}`);
  process.exit(1);
}
