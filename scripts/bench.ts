// The scaling curve: lesson 01, then lesson 03 (round-robin) and lesson 09 (reusePort) at 1, 2, 4, ...
// workers up to the CPU count, then a bare cluster at the largest count (and, asked for, lesson 08's
// threads, pm2 and Bun), each started, warmed up and measured as lesson 05 does.
// Run it:  npm run bench        (npm run bench -- --rounds 3 --threads --pm2 --bun --json bench.json --svg bench.svg)

import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { commandLine, wholeNumber } from '../lib/options.ts';
import { exitOnSignals, freePort, isBun, root } from '../lib/launch.ts';
import {
  boundNote, chart, columns, defaults as compareDefaults, describePlan, failOnErrors, measureRunner, medianOf, percent, plural, progress,
  runners as lessonRunners, runtime, writeJson, type Row, type Runner,
} from '../lessons/05-compare/compare.ts';
import { planOptions, readPlan, workerCount, type Plan } from '../lessons/05-compare/options.ts';
import { ecosystem, startEcosystem } from '../lessons/06-pm2/pm2-home.ts';
import { reusePortProblem } from '../lessons/09-reuseport/support.ts';
import { threadsRunner } from '../lessons/08-worker-threads/compare.ts';
import { scalingSvg } from './scaling-svg.ts';

const defaults = {
  durationS: 5, // per row: long enough for the req/s to settle
  workerCounts: doublingUpTo(os.availableParallelism()), // 1, 2, 4, ... and the CPU count
  rounds: 1,
  maxRounds: 20,
  bareMarginPct: 5, // the target: lesson 03 within 5% of a bare cluster
  // lesson 09's targets: on /heavy (each request costs the same wherever it runs) reusePort within 5%
  // of round-robin at every worker count; on a cheap route, where the primary's hand-off is most of
  // the work, 1.3x round-robin at the best count, on a machine of 8 or more cores
  reusePortHeavyMarginPct: 5,
  reusePortCheapSpeedup: 1.3,
  reusePortMinCpus: 8,
};

// ── The runners: how each row's server starts. ──────────────────────────────────────────────────
// To add a row kind, add a runner here and its rows in plan() below.
const runners = {
  ...lessonRunners,
  pm2: (): Runner => ({
    name: 'pm2',
    label: `pm2 cluster_app (${plural(os.availableParallelism(), 'worker')})`, // its ecosystem file says: every CPU
    file: ecosystem,
    ready: /online/,
    workers: os.availableParallelism(),
    start: async () => {
      const pm2 = await startEcosystem(await freePort());
      return { url: pm2.url, stop: pm2.destroy };
    },
  }),
  singleOnBun: (bun: string): Runner => ({ ...lessonRunners.single(), name: 'single on Bun', label: 'single on Bun (1 process)', bun }),
  clusterOnBun: (workers: number, bun: string): Runner => ({
    ...lessonRunners.cluster(workers),
    name: 'cluster on Bun',
    label: `cluster on Bun (${plural(workers, 'worker')})`,
    bun,
  }),
  reusePort: (workers: number): Runner => ({
    name: 'reusePort',
    label: `reusePort (${plural(workers, 'worker')})`,
    file: 'lessons/09-reuseport/primary.ts',
    ready: /cluster ready/,
    workers,
    env: { WORKERS: String(workers) },
  }),
  threads: threadsRunner,
  threadsOnBun: (threads: number, bun: string): Runner => ({
    ...threadsRunner(threads),
    name: 'threads on Bun',
    label: `threads on Bun (${plural(threads, 'thread')})`,
    bun,
  }),
  bare: (workers: number): Runner => ({
    name: 'bare cluster',
    label: `bare cluster (${plural(workers, 'worker')})`,
    file: 'scripts/bare-cluster.ts',
    ready: /bare cluster ready/,
    workers,
    env: { WORKERS: String(workers) },
  }),
};

// Lesson 09 on Bun is lesson 03 on Bun (its cluster always listens with SO_REUSEPORT): no rows of its own.
const reusePortLeftOut = isBun ? 'on Bun, lesson 09 is lesson 03: its cluster always uses SO_REUSEPORT' : reusePortProblem();

function plan(workerCounts: number[], extra: { threads: boolean; pm2: boolean; bun?: string }): Runner[] {
  const most = Math.max(...workerCounts);
  const beside = (count: number) => (reusePortLeftOut ? [runners.cluster(count)] : [runners.cluster(count), runners.reusePort(count)]);
  const rows = [runners.single(), ...workerCounts.flatMap(beside), runners.bare(most)];
  if (extra.threads) rows.push(runners.threads(most));
  if (extra.pm2) rows.push(runners.pm2());
  if (extra.bun) rows.push(runners.singleOnBun(extra.bun), runners.clusterOnBun(most, extra.bun));
  if (extra.bun && extra.threads) rows.push(runners.threadsOnBun(most, extra.bun));
  return rows;
}

// Each row's speedup is over the single process on its own runtime: Bun's /heavy loop is faster.
function baselineOf(row: Row): string {
  return row.name.endsWith('on Bun') ? 'single on Bun' : 'single';
}
// ─────────────────────────────────────────────────────────────────────────────────────────────────

interface BenchRow extends Row {
  speedup: number; // requests per second over the single process's
  efficiency: number; // speedup per worker: 1 is perfect scaling
  roundsRequestsPerSec: number[]; // every round's figure; the row is the median round
}

const usage = `Usage: npm run bench -- [--workers 1,2,4] [--duration S | --amount N] [--connections C]
         [--path P] [--warmup S] [--generator-threads T] [--rounds R] [--threads] [--pm2] [--bun] [--json FILE] [--svg FILE]

  --workers LIST     lesson 03's worker counts, comma-separated (default ${defaults.workerCounts.join(',')}: doubling up to the CPU count)
  --duration S       seconds per row (default ${defaults.durationS})
  --amount N         or N requests per row
  --connections C    requests at a time (default ${compareDefaults.minConnections}, or ${compareDefaults.connectionsPerWorker} per worker of the largest count if that is more)
  --path P           what to request (default ${compareDefaults.path}; / is the trivial route)
  --warmup S         seconds of load before each row, not counted (default ${compareDefaults.warmupS}; 0 skips it)
  --generator-threads T   run autocannon in T worker threads, sharing the connections (default ${compareDefaults.generatorThreads}: this thread)
  --rounds R         measure every row R times, interleaved, and keep each row's median (default ${defaults.rounds})
  --threads          add a row for lesson 08's pool of worker threads, as many as the largest worker count
  --pm2              add a row for lesson 06's pm2 cluster_app (one worker per CPU; Node only)
  --bun              add rows for lesson 01 and lesson 03 (and 08, with --threads) on Bun ${bunPin()}, fetched by npx as npm run test:bun does
  --json FILE        also write the machine and every row to FILE as JSON
  --svg FILE         also draw the scaling curve to FILE as SVG: req/s by worker count, the ideal line, every row`;

const options = readArgs(process.argv.slice(2));
exitOnSignals(); // Ctrl+C ends the benchmark, and every lesson it started, with 130
try {
  await main(options);
} catch (error) {
  console.error(`bench: ${(error as Error).message}`);
  process.exitCode = 1;
}

async function main({ load, workerCounts, rounds, threads, pm2, bun, svg }: ReturnType<typeof readArgs>): Promise<void> {
  const bunPath = bun ? await fetchBun() : undefined;
  const host = await machine(bunPath);
  console.log(describeMachine(host));
  console.log(`Load: ${describePlan(load)}${rounds > 1 ? `; median of ${rounds} rounds` : ''}`);
  console.log(reusePortLeftOut ? `No reusePort rows: ${reusePortLeftOut}\n` : '');
  const runs = plan(workerCounts, { threads, pm2, bun: bunPath });
  const measured: Row[][] = runs.map(() => []);
  // Every round measures every row, in turn forwards and backwards, so that a busy moment on the
  // machine, or one that grows busier, does not always land on the same rows.
  for (let round = 1; round <= rounds; round++) {
    if (rounds > 1) progress(`round ${round} of ${rounds}`);
    const order = [...runs.keys()];
    if (round % 2 === 0) order.reverse();
    for (const i of order) measured[i].push(await measureRunner(runs[i], load));
  }
  const rows = scale(measured.map(median));
  console.log(`\n${table(rows, rounds)}\n${boundNote(rows)}\n${chart(rows)}\n\n${againstBare(rows)}`);
  if (!reusePortLeftOut) console.log(`\n${againstRoundRobin(rows, load, host.cpus)}`);
  if (load.json) writeJson(load.json, { machine: host, plan: load, rounds, rows });
  if (svg) writeSvg(svg, rows, host);
  failOnErrors(rows);
}

function writeSvg(file: string, rows: BenchRow[], host: Awaited<ReturnType<typeof machine>>): void {
  const title = `${options.load.path} on ${host.cpus} CPUs (${host.cpuModel}), ${host.runtime}`;
  writeFileSync(file, scalingSvg(rows, title, host.cpus));
  progress(`wrote ${file}`);
}

function median(rounds: Row[]): Row & { roundsRequestsPerSec: number[] } {
  return { ...medianOf(rounds, (row) => row.requestsPerSec), roundsRequestsPerSec: rounds.map((row) => row.requestsPerSec) };
}

function scale(rows: (Row & { roundsRequestsPerSec: number[] })[]): BenchRow[] {
  return rows.map((row) => {
    const speedup = row.requestsPerSec / rows.find((other) => other.name === baselineOf(row))!.requestsPerSec;
    return { ...row, speedup, efficiency: speedup / row.workers };
  });
}

function table(rows: BenchRow[], rounds: number): string {
  const header = ['run', 'workers', 'req/s', 'p50', 'p99', 'speedup', 'efficiency', 'generator CPU', 'errors', 'generator-bound'];
  // speedup: over the single process on the same runtime (Node, or Bun for the Bun rows)
  const cells = rows.map((row) => [
    row.name,
    String(row.workers),
    row.requestsPerSec.toFixed(1),
    `${row.p50LatencyMs} ms`,
    `${row.p99LatencyMs} ms`,
    `${row.speedup.toFixed(2)}x`,
    percent(row.efficiency),
    percent(row.generatorCpuPct / 100),
    String(row.errors + row.non2xx),
    row.isGeneratorBound ? 'yes' : '',
  ]);
  if (rounds === 1) return columns([header, ...cells]);
  const spread = rows.map((row) => row.roundsRequestsPerSec.map((rps) => rps.toFixed(0)).join(' '));
  return columns([[...header, 'req/s by round'], ...cells.map((line, i) => [...line, spread[i]])]);
}

// The target: lesson 03's bookkeeping (respawns, graceful stop) costs no throughput.
function againstBare(rows: BenchRow[]): string {
  const bare = rows.find((row) => row.name === 'bare cluster')!;
  const lesson = rows.find((row) => row.name === 'cluster' && row.workers === bare.workers);
  if (!lesson) return `No lesson 03 row at ${plural(bare.workers, 'worker')} to hold against the bare cluster.`;
  const differencePct = (lesson.requestsPerSec / bare.requestsPerSec - 1) * 100;
  const verdict = differencePct >= -defaults.bareMarginPct ? 'met' : 'NOT met';
  return (
    `Lesson 03 against a bare cluster at ${plural(bare.workers, 'worker')}: ${lesson.requestsPerSec.toFixed(1)} vs ` +
    `${bare.requestsPerSec.toFixed(1)} req/s, ${differencePct >= 0 ? '+' : ''}${differencePct.toFixed(1)}% ` +
    `(target: at most ${defaults.bareMarginPct}% below; ${verdict})`
  );
}

// Lesson 09's targets, judged only where the figures can judge them: rows whose generator was not
// the bottleneck, and, on a cheap route, a machine with cores enough for the hand-off to matter.
function againstRoundRobin(rows: BenchRow[], load: Plan, cpus: number): string {
  const pairs = rows
    .filter((row) => row.name === 'reusePort')
    .map((reuse) => ({ reuse, rr: rows.find((row) => row.name === 'cluster' && row.workers === reuse.workers)! }));
  const lines = pairs.map(({ reuse, rr }) => {
    const bound = reuse.isGeneratorBound || rr.isGeneratorBound ? ' (generator-bound)' : '';
    return `  at ${plural(reuse.workers, 'worker')}: ${reuse.requestsPerSec.toFixed(1)} vs ${rr.requestsPerSec.toFixed(1)} req/s, ${ratio(reuse, rr)}${bound}`;
  });
  const isHeavy = load.path.startsWith('/heavy');
  const verdict = isHeavy ? heavyVerdict(pairs) : cheapVerdict(pairs, cpus);
  return [`reusePort (lesson 09) against round-robin (lesson 03) on ${load.path}:`, ...lines, verdict].join('\n');
}

function heavyVerdict(pairs: { reuse: BenchRow; rr: BenchRow }[]): string {
  const target = `target: within ${defaults.reusePortHeavyMarginPct}% of round-robin at every worker count`;
  if (pairs.some(({ reuse, rr }) => reuse.isGeneratorBound || rr.isGeneratorBound)) return `${target}; not judged: generator-bound rows`;
  const worst = Math.min(...pairs.map(({ reuse, rr }) => (reuse.requestsPerSec / rr.requestsPerSec - 1) * 100));
  return `${target}; ${Math.abs(worst) <= defaults.reusePortHeavyMarginPct || worst > 0 ? 'met' : 'NOT met'} (least: ${signed(worst)}%)`;
}

function cheapVerdict(pairs: { reuse: BenchRow; rr: BenchRow }[], cpus: number): string {
  const target = `target: ${defaults.reusePortCheapSpeedup}x round-robin at the best worker count, on ${defaults.reusePortMinCpus}+ cores`;
  const best = (name: 'reuse' | 'rr') => pairs.map((pair) => pair[name]).reduce((a, b) => (b.requestsPerSec > a.requestsPerSec ? b : a));
  const [reuse, rr] = [best('reuse'), best('rr')];
  const figures = `best ${reuse.requestsPerSec.toFixed(1)} (${plural(reuse.workers, 'worker')}) vs ${rr.requestsPerSec.toFixed(1)} (${plural(rr.workers, 'worker')}), ${ratio(reuse, rr)}`;
  if (reuse.isGeneratorBound || rr.isGeneratorBound) return `${target}; ${figures}; not judged: generator-bound`;
  if (cpus < defaults.reusePortMinCpus) return `${target}; ${figures}; not judged: ${plural(cpus, 'CPU')} here`;
  return `${target}; ${figures}; ${reuse.requestsPerSec / rr.requestsPerSec >= defaults.reusePortCheapSpeedup ? 'met' : 'NOT met'}`;
}

function ratio(row: BenchRow, against: BenchRow): string {
  return `${(row.requestsPerSec / against.requestsPerSec).toFixed(2)}x`;
}

function signed(value: number): string {
  return `${value >= 0 ? '+' : ''}${value.toFixed(1)}`;
}

async function machine(bunPath?: string) {
  return {
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    cpus: os.availableParallelism(),
    memoryGiB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    runtime: runtime(), // what runs the lessons: launch() uses this script's own runtime
    node: process.versions.node,
    bun: await bunVersion(bunPath),
    loadAverage: os.loadavg().map((load) => Number(load.toFixed(2))),
  };
}

function describeMachine(host: Awaited<ReturnType<typeof machine>>): string {
  return [
    'Machine',
    `  CPU           ${host.cpuModel}, ${host.cpus} CPUs`,
    `  Memory        ${host.memoryGiB} GiB`,
    `  OS            ${host.os}`,
    `  Node          ${host.node}${isBun ? " (Bun's Node compatibility)" : ''}`,
    `  Bun           ${host.bun ?? 'none found (on PATH or in node_modules/.bin)'}`,
    `  Lessons run   on ${host.runtime}`,
    `  Load average  ${host.loadAverage.join(' ')} (near 0 on a quiet machine; above that, expect noisy figures)`,
    '',
  ].join('\n');
}

// Bun is optional: the one --bun fetched, else a bun binary on PATH or in node_modules/.bin, if any.
async function bunVersion(bunPath?: string): Promise<string | null> {
  if (isBun) return process.versions.bun ?? null;
  const places = [join(root, 'node_modules', '.bin'), ...(process.env.PATH ?? '').split(delimiter)];
  const binary = bunPath ?? places.map((dir) => join(dir, 'bun')).find((file) => existsSync(file));
  if (!binary) return null;
  try {
    const { stdout } = await promisify(execFile)(binary, ['--version'], { timeout: 10_000 });
    return `${stdout.trim()} (${binary})`;
  } catch {
    return `unknown version (${binary} --version failed)`;
  }
}

// The Bun the kit pins in package.json (config.bun), where npx keeps it: the same one npm run test:bun runs.
async function fetchBun(): Promise<string> {
  progress(`fetching Bun ${bunPin()} with npx (once; then it comes from npm's cache)`);
  const args = ['--yes', `bun@${bunPin()}`, '-e', 'console.log(process.execPath)'];
  const { stdout } = await promisify(execFile)('npx', args, { cwd: root, timeout: 300_000 });
  return stdout.trim().split('\n').at(-1)!;
}

function bunPin(): string {
  return JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).config.bun;
}

function readArgs(argv: string[]) {
  const extraRows = { threads: { type: 'boolean' }, pm2: { type: 'boolean' }, bun: { type: 'boolean' } } as const;
  const { values } = commandLine('bench', usage).parse(argv, { ...planOptions, workers: { type: 'string', short: 'w' }, rounds: { type: 'string' }, svg: { type: 'string' }, ...extraRows });
  if (isBun && (values.pm2 || values.bun)) usageError('--pm2 and --bun add rows to a run on Node: run npm run bench, not bun');
  const workerCounts = values.workers === undefined ? defaults.workerCounts : readWorkerCounts(values.workers);
  const rounds = values.rounds === undefined ? defaults.rounds : wholeNumber('--rounds', values.rounds, usageError, defaults.maxRounds);
  const load = readPlan(values, Math.max(...workerCounts), { durationS: defaults.durationS }, usageError);
  const svg = values.svg === undefined ? undefined : svgFile(values.svg);
  return { load, workerCounts, rounds, threads: values.threads === true, pm2: values.pm2 === true, bun: values.bun === true, svg };
}

function svgFile(raw: string): string {
  const file = resolve(raw);
  if (raw !== '' && existsSync(dirname(file))) return file;
  return usageError(`--svg needs a file in an existing folder, got ${JSON.stringify(raw)}`);
}

function readWorkerCounts(raw: string): number[] {
  const counts = raw.split(',').map((part) => workerCount('--workers', part.trim(), usageError));
  return [...new Set(counts)].sort((a, b) => a - b);
}

function doublingUpTo(cpus: number): number[] {
  const counts = [];
  for (let count = 1; count < cpus; count *= 2) counts.push(count);
  return [...counts, cpus];
}

function usageError(problem: string): never {
  return commandLine('bench', usage).fail(problem);
}
