// Lesson 11: watch it. Lesson 07's cluster, imported, plus a page on http://127.0.0.1:3001 that shows
// each worker, the cluster's requests per second and the primary's log, live (Server-Sent Events),
// with buttons to kill a worker, roll, or run one worker more or less. Only the holder of the secret
// in the printed URL can press them, and only from the page itself.
// Run it:  npx tsx lessons/11-watch/primary.ts        then open the URL it prints

import cluster, { type Worker } from 'node:cluster';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { commandLine } from '../../lib/options.ts';
import { defaults as lesson03, forkWorker, log, logError, logLines, state, stopWorker } from '../03-cluster/primary.ts';
import { requestRoll, rolls, startZeroDowntime } from '../07-zero-downtime/primary.ts';

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
  maxBodyBytes: 1_024, // an action's body is a pid at most
};

type How = 'first' | 'respawn' | 'roll' | 'added';

interface Row {
  how: How;
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
  addedIds: new Set<number>(), // forked by the "one more" button
  firstForks: 0,
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

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  commandLine('watch', usage).parse(process.argv.slice(2), {});
  startWatch();
}

// The page listens first: a cluster that could not be watched is not started.
export function startWatch(): void {
  const port = readPort(process.env.WATCH_PORT);
  const server = http.createServer(route);
  server.once('error', (error: NodeJS.ErrnoException) => failToListen(port, error));
  server.listen(port, defaults.host, () => {
    watch.port = (server.address() as AddressInfo).port;
    logLines.on('line', remember);
    cluster.on('fork', onFork).on('message', onReport).on('exit', (worker) => watch.rows.delete(worker.id));
    setInterval(sample, defaults.sampleMs).unref();
    setInterval(pushState, defaults.pushMs).unref();
    log(`watch the cluster: http://${defaults.host}:${watch.port}/?secret=${watch.secret}`);
    startZeroDowntime({ workerFile: defaults.workerFile });
  });
}

// ---- What the page shows: a row per worker, the requests per second, the primary's log ----

function onFork(worker: Worker): void {
  const now = Date.now();
  watch.rows.set(worker.id, { how: howStarted(worker), forkedAt: now, answered: 0, perSecond: 0, rssBytes: 0, reportedAt: now });
}

function howStarted(worker: Worker): How {
  if (watch.addedIds.delete(worker.id)) return 'added';
  if (!state.isReady && watch.firstForks < state.workerCount) {
    watch.firstForks++;
    return 'first';
  }
  // A worker that dies during a roll is replaced while rolls.isRolling too: it shows as 'roll'.
  return rolls.isRolling ? 'roll' : 'respawn';
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

function snapshot() {
  const now = Date.now();
  const workers = [...state.workers.values()].map(({ worker, listeningSince, isStopping }) => {
    const row = watch.rows.get(worker.id);
    const phase = isStopping ? 'stopping' : listeningSince === undefined ? 'starting' : 'listening';
    return { pid: worker.process.pid, phase, how: row?.how ?? 'respawn', perSecond: Math.round(row?.perSecond ?? 0), answered: row?.answered ?? 0, rssBytes: row?.rssBytes ?? 0, uptimeMs: now - (row?.forkedAt ?? now) };
  });
  return { workers, workerCount: state.workerCount, isRolling: rolls.isRolling, history: watch.history, samples: watch.samples, sampleMs: defaults.sampleMs };
}

function remember(line: string, isError: boolean): void {
  const entry = { at: Date.now(), line, isError };
  watch.log.push(entry);
  if (watch.log.length > defaults.logLength) watch.log.shift();
  for (const page of watch.pages) send(page, 'log', entry);
}

function pushState(): void {
  if (watch.pages.size === 0) return;
  const current = snapshot();
  for (const page of watch.pages) send(page, 'state', current);
}

function send(page: http.ServerResponse, event: string, data: unknown): void {
  page.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

// ---- Requests: who may look, who may act ----

function route(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://watch.invalid');
  const refusal = refuse(req, url);
  if (refusal) return reply(res, 403, refusal);
  const actions: Record<string, (body: string) => [number, string]> = { '/kill': kill, '/roll': roll, '/more': oneMore, '/less': oneLess };
  if (url.pathname === '/' || url.pathname === '/events') {
    if (req.method !== 'GET') return reply(res, 405, `${req.method} ${url.pathname}: use GET`, { allow: 'GET' });
    return url.pathname === '/' ? servePage(res) : openEvents(req, res);
  }
  const action = actions[url.pathname];
  if (!action) return reply(res, 404, `Not found: the page is /, its actions are POST ${Object.keys(actions).join(', ')}`);
  if (req.method !== 'POST') return reply(res, 405, `${req.method} ${url.pathname}: actions are POSTs`, { allow: 'POST' });
  readBody(req, res, (body) => reply(res, ...action(body)));
}

// DNS rebinding: a foreign site can point its own name at 127.0.0.1, but its requests still carry
// its name in Host. Another site open in the same browser can send a POST, but not read the secret,
// and its Origin says where it comes from. The secret rides in a header, which no form can send.
function refuse(req: http.IncomingMessage, url: URL): string | undefined {
  const hosts = [`${defaults.host}:${watch.port}`, `localhost:${watch.port}`];
  if (!hosts.includes(req.headers.host ?? '')) return `wrong Host ${JSON.stringify(req.headers.host ?? '')}: open http://${hosts[0]}/ as printed`;
  const origin = req.headers.origin;
  if (origin !== undefined && !hosts.some((host) => origin === `http://${host}`)) return `foreign Origin ${JSON.stringify(origin)}: actions come from the page itself`;
  const given = req.method === 'GET' ? url.searchParams.get('secret') : req.headers['x-watch-secret'];
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

function openEvents(req: http.IncomingMessage, res: http.ServerResponse): void {
  if (watch.pages.size >= defaults.maxPages) return reply(res, 503, `${defaults.maxPages} pages are open already: close one`);
  res.writeHead(200, { ...strict, 'content-type': 'text/event-stream' });
  watch.pages.add(res);
  req.once('close', () => watch.pages.delete(res));
  for (const entry of watch.log) send(res, 'log', entry);
  send(res, 'state', snapshot());
}

function readBody(req: http.IncomingMessage, res: http.ServerResponse, then: (body: string) => void): void {
  const tooLarge = `a body of at most ${defaults.maxBodyBytes} bytes`;
  if (Number(req.headers['content-length'] ?? 0) > defaults.maxBodyBytes) return reply(res, 413, tooLarge, { connection: 'close' });
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk: string) => {
    body += chunk;
    if (body.length <= defaults.maxBodyBytes) return;
    reply(res, 413, tooLarge, { connection: 'close' });
    req.destroy();
  });
  req.on('end', () => res.headersSent || then(body));
}

// ---- The buttons ----

function kill(body: string): [number, string] {
  const pid = Number((parseJson(body) as { pid?: unknown } | undefined)?.pid);
  const tracked = [...state.workers.values()].find(({ worker }) => worker.process.pid === pid);
  if (!tracked) return [400, `no worker with pid ${pid}: send {"pid": N} with a pid from the table`];
  log(`page: SIGKILL to worker ${pid}`);
  tracked.worker.process.kill('SIGKILL');
  return [200, `sent SIGKILL to worker ${pid}`];
}

function roll(): [number, string] {
  if (state.isShuttingDown) return [503, 'shutting down'];
  log('page: rolling restart');
  requestRoll();
  return [202, 'rolling restart requested: the log shows each step'];
}

function oneMore(): [number, string] {
  if (state.isShuttingDown) return [503, 'shutting down'];
  if (state.workerCount >= lesson03.maxWorkers) return [400, `${lesson03.maxWorkers} workers is the most`];
  state.workerCount++;
  log(`page: one worker more, ${state.workerCount} from now on`);
  watch.addedIds.add(forkWorker().worker.id);
  return [200, `forking worker ${state.workerCount}`];
}

function oneLess(): [number, string] {
  if (state.isShuttingDown) return [503, 'shutting down'];
  const running = [...state.workers.values()].filter((tracked) => !tracked.isStopping);
  if (state.workerCount <= 1 || running.length <= 1) return [400, 'one worker is the fewest'];
  state.workerCount--;
  void stopWorker(running[running.length - 1], `page: one worker less, ${state.workerCount} from now on`);
  return [200, `stopping worker ${running[running.length - 1].worker.process.pid}`];
}

// ---- Small helpers ----

const strict = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' };

function reply(res: http.ServerResponse, status: number, line: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...strict, ...headers, 'content-type': 'text/plain; charset=utf-8' });
  res.end(`${line}\n`);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function readPort(raw: string | undefined): number {
  if (raw === undefined || raw === '') return defaults.port;
  if (/^\d{1,5}$/.test(raw) && Number(raw) <= 65_535) return Number(raw);
  logError(`WATCH_PORT must be a whole number from 0 to 65535, got ${JSON.stringify(raw)}: try WATCH_PORT=${defaults.port}`);
  process.exit(1);
}

function failToListen(port: number, error: NodeJS.ErrnoException): void {
  const why = error.code === 'EADDRINUSE' ? `port ${port} is in use: pick another with WATCH_PORT=${port + 1}` : error.message;
  logError(`cannot show the page on ${defaults.host}:${port}: ${why}`);
  process.exit(1);
}
