// Threads against processes, measured: lesson 01, lesson 03's cluster and this lesson's pool at the
// same count, each loaded on /heavy with lesson 05's measureRunner(); meanwhile a request to / every
// 50 ms is timed, and the RSS and CPU time of every process the server runs are read. Rounds
// interleave; medians last.
// Run it:  npx tsx lessons/08-worker-threads/compare.ts        (--help lists the options)

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { promisify } from 'node:util';
import { exitOnSignals, pidsInGroup } from '../../lib/launch.ts';
import { get } from '../../lib/load.ts';
import { commandLine, wholeNumber } from '../../lib/options.ts';
import {
  columns, describePlan, failOnErrors, measureRunner, plural, progress, runners, runtime, writeJson,
  type Row, type Runner, type Server,
} from '../05-compare/compare.ts';
import { planOptions, readPlan, workerCount, type Plan } from '../05-compare/options.ts';
import { isMain } from '../../lib/runtime.ts';

const defaults = {
  count: os.availableParallelism(), // threads for lesson 08, workers for lesson 03
  durationS: 5, // per measurement
  rounds: 3, // every row this many times, interleaved; each figure is the median of its rounds
  maxRounds: 20,
  probeEveryMs: 50, // how often a request to / goes out during the load
  memoryEveryMs: 500, // how often the servers' RSS is read during the load (the peak is kept)
  targets: { overCluster: 0.9, overSingle: 1.6, probeP99Ms: 20 }, // lesson 08's, on 2 cores
};

// Lesson 08's pool, as a row of lesson 05's comparison (scripts/bench.ts adds it too).
export function threadsRunner(threads: number): Runner {
  return {
    name: 'threads',
    label: `threads (${plural(threads, 'thread')})`,
    file: 'lessons/08-worker-threads/server.ts',
    ready: /listening on http:/,
    workers: threads,
    env: { THREADS: String(threads) },
  };
}

interface Beside {
  probeP50Ms: number; // latency of the requests to / sent during the load
  probeP99Ms: number;
  probeMaxMs: number;
  probes: number;
  rssMiB: number; // the peak of the summed RSS of every process of the server
  processes: number; // how many processes that was
  cpuMs: number; // CPU time the server's processes used while measured (Linux: /proc; elsewhere NaN)
  cpuCores: number; // that, over the wall time: how many cores the server got
  mainThreadCpuMs: number; // of which the first process's main thread used (the pool's event loop)
}

type CompareRow = Row & Beside & { cpuPerRequestMs: number; mainThreadPct: number };

const usage = `Usage: npx tsx lessons/08-worker-threads/compare.ts [--count N] [--duration S | --amount N]
         [--connections C] [--rounds R] [--path P] [--warmup S] [--json FILE]

  --count N          threads for lesson 08 and workers for lesson 03 (default ${defaults.count}, the CPU count)
  --duration S       seconds per measurement (default ${defaults.durationS})
  --amount N         or N requests per measurement
  --connections C    requests at a time (default: 10, or 4 per thread if that is more)
  --rounds R         measure every row R times, interleaved, and keep the medians (default ${defaults.rounds})
  --path P           what the load requests (default /heavy)
  --warmup S         seconds of load before each measurement, not counted (default 1; 0 skips it)
  --json FILE        also write the results to FILE as JSON`;

if (isMain(import.meta.url)) await main(process.argv.slice(2));

async function main(argv: string[]): Promise<void> {
  const { plan, count, rounds } = readArgs(argv);
  exitOnSignals(); // Ctrl+C ends the comparison, and every lesson it started, with 130
  const rows = [runners.single(), runners.cluster(count), threadsRunner(count)];
  console.log(`Lesson 01, lesson 03 and lesson 08 at ${count} on ${runtime()}: ${describePlan(plan)}; median of ${rounds} rounds`);
  console.log(`Meanwhile: GET / every ${defaults.probeEveryMs} ms, timed; RSS of every process of the server\n`);
  try {
    const measured = await interleave(rows, plan, rounds);
    const medians = measured.map(medianRow);
    console.log(`\n${table(medians)}\n\n${verdicts(medians)}`);
    if (plan.json) writeJson(plan.json, { runtime: runtime(), cpus: os.availableParallelism(), plan, rounds, rows: medians, measured });
    failOnErrors(medians);
  } catch (error) {
    console.error(`compare: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}

// Every round measures every row, forwards and then backwards, so that a busy moment on the
// machine does not always land on the same row.
async function interleave(rows: Runner[], plan: Plan, rounds: number): Promise<CompareRow[][]> {
  const measured: CompareRow[][] = rows.map(() => []);
  for (let round = 1; round <= rounds; round++) {
    progress(`round ${round} of ${rounds}`);
    const order = round % 2 === 0 ? [...rows.keys()].reverse() : [...rows.keys()];
    for (const i of order) {
      const row = await measureRunner(rows[i], plan, probeAndWeigh);
      measured[i].push({ ...row, cpuPerRequestMs: row.cpuMs / row.requests, mainThreadPct: (100 * row.mainThreadCpuMs) / row.cpuMs });
    }
  }
  return measured;
}

// Runs beside the load: times a request to / every few ms, and reads the server's memory.
function probeAndWeigh(server: Server) {
  const latenciesMs: number[] = [];
  const peak = { rssKiB: 0, processes: 0 };
  let isStopped = false;
  const pgid = 'pid' in server ? (server.pid as number) : undefined;
  const startedAt = performance.now();
  const cpuAtStart = groupCpuMs(pgid);
  const probing = (async () => {
    while (!isStopped) {
      const sentAt = performance.now();
      await get(`${server.url}/`);
      latenciesMs.push(performance.now() - sentAt);
      await pause(defaults.probeEveryMs);
    }
  })();
  const weighing = (async () => {
    while (!isStopped && pgid !== undefined) {
      const now = await groupRss(pgid);
      if (now.rssKiB > peak.rssKiB) Object.assign(peak, now);
      await pause(defaults.memoryEveryMs);
    }
  })();
  return {
    async stop(): Promise<Beside> {
      isStopped = true;
      const [cpuAtEnd, cpuBefore] = [await groupCpuMs(pgid), await cpuAtStart];
      const cpuMs = cpuAtEnd.all - cpuBefore.all;
      const wallMs = performance.now() - startedAt;
      await Promise.all([probing, weighing]);
      const sorted = latenciesMs.sort((a, b) => a - b);
      return {
        probeP50Ms: percentile(sorted, 0.5),
        probeP99Ms: percentile(sorted, 0.99),
        probeMaxMs: sorted.at(-1) ?? 0,
        probes: sorted.length,
        rssMiB: peak.rssKiB / 1024,
        processes: peak.processes,
        cpuMs,
        cpuCores: cpuMs / wallMs,
        mainThreadCpuMs: cpuAtEnd.mainThread - cpuBefore.mainThread,
      };
    },
  };
}

// The summed RSS of the server's processes: the lesson's process group, less tsx's esbuild service
// (a compiler that tsx may start beside a lesson on a cold cache; it serves no request).
async function groupRss(pgid: number): Promise<{ rssKiB: number; processes: number }> {
  const { stdout } = await promisify(execFile)('ps', ['-A', '-o', 'pgid=,rss=,args=']);
  const members = stdout
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([group, , command]) => Number(group) === pgid && !command.includes('esbuild'));
  return { rssKiB: members.reduce((sum, [, rss]) => sum + Number(rss), 0), processes: members.length };
}

// CPU time so far of every process in the group, every thread included, and of the first
// process's main thread alone. Read from Linux's /proc; NaN elsewhere (macOS).
async function groupCpuMs(pgid: number | undefined): Promise<{ all: number; mainThread: number }> {
  if (pgid === undefined) return { all: NaN, mainThread: NaN };
  let all = 0;
  for (const pid of await pidsInGroup(pgid)) all += cpuMsOf(`/proc/${pid}/stat`);
  return { all, mainThread: cpuMsOf(`/proc/${pgid}/task/${pgid}/stat`) };
}

function cpuMsOf(statFile: string): number {
  try {
    const stat = readFileSync(statFile, 'utf8');
    const [utime, stime] = stat.slice(stat.lastIndexOf(')') + 2).split(' ').slice(11, 13).map(Number);
    return (utime + stime) * 10; // in clock ticks, 100 a second
  } catch {
    return NaN; // no /proc, or the process has just gone
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function percentile(sorted: number[], fraction: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))];
}

// Each figure on its own: the median req/s, the median / p99, the median RSS, over the rounds.
function medianRow(rounds: CompareRow[]): CompareRow & { roundsRequestsPerSec: number[] } {
  const median = (pick: (row: CompareRow) => number) => {
    const sorted = rounds.map(pick).sort((a, b) => a - b);
    return sorted[Math.floor((sorted.length - 1) / 2)];
  };
  const figures = ['requestsPerSec', 'p50LatencyMs', 'p99LatencyMs', 'probeP50Ms', 'probeP99Ms', 'probeMaxMs', 'rssMiB', 'cpuCores', 'cpuPerRequestMs', 'mainThreadPct'] as const;
  const medians = Object.fromEntries(figures.map((figure) => [figure, median((row) => row[figure])]));
  const errors = rounds.reduce((sum, row) => sum + row.errors, 0);
  const non2xx = rounds.reduce((sum, row) => sum + row.non2xx, 0);
  return { ...rounds[0], ...medians, errors, non2xx, roundsRequestsPerSec: rounds.map((row) => row.requestsPerSec) };
}

function table(rows: (CompareRow & { roundsRequestsPerSec: number[] })[]): string {
  const header = ['', 'req/s', 'p50', 'p99', '/ p50', '/ p99', '/ max', 'RSS', 'processes', 'CPU/req', 'cores', 'main thread', 'errors', 'req/s by round'];
  const cells = rows.map((row) => [
    row.label,
    row.requestsPerSec.toFixed(1),
    `${row.p50LatencyMs} ms`,
    `${row.p99LatencyMs} ms`,
    `${row.probeP50Ms.toFixed(1)} ms`,
    `${row.probeP99Ms.toFixed(1)} ms`,
    `${row.probeMaxMs.toFixed(1)} ms`,
    `${row.rssMiB.toFixed(0)} MiB`,
    String(row.processes),
    `${row.cpuPerRequestMs.toFixed(2)} ms`,
    row.cpuCores.toFixed(2),
    `${row.mainThreadPct.toFixed(0)}%`,
    String(row.errors + row.non2xx),
    row.roundsRequestsPerSec.map((rps) => rps.toFixed(0)).join(' '),
  ]);
  return columns([header, ...cells]);
}

// The lesson's targets (a benchmark's, never a test's): checked on the medians, said plainly.
function verdicts([single, cluster, threads]: CompareRow[]): string {
  const { overCluster, overSingle, probeP99Ms } = defaults.targets;
  const check = (isMet: boolean) => (isMet ? 'met' : 'NOT met');
  const vsCluster = threads.requestsPerSec / cluster.requestsPerSec;
  const vsSingle = threads.requestsPerSec / single.requestsPerSec;
  return [
    `threads / cluster req/s: ${vsCluster.toFixed(2)}x (target at least ${overCluster}x: ${check(vsCluster >= overCluster)})`,
    `threads / single req/s:  ${vsSingle.toFixed(2)}x (target at least ${overSingle}x: ${check(vsSingle >= overSingle)})`,
    `threads / p99 during the load: ${threads.probeP99Ms.toFixed(1)} ms (target under ${probeP99Ms} ms: ${check(threads.probeP99Ms < probeP99Ms)})`,
    `RSS, threads against cluster: ${threads.rssMiB.toFixed(0)} MiB vs ${cluster.rssMiB.toFixed(0)} MiB (target below: ${check(threads.rssMiB < cluster.rssMiB)})`,
    busyMachine([cluster, threads]),
  ].join('\n');
}

// req/s can only show what the machine gave: a server that got fewer cores than it has threads or
// workers was held back by something else running.
function busyMachine(rows: CompareRow[]): string {
  const short = rows.filter((row) => row.cpuCores < 0.8 * row.workers);
  const got = rows.map((row) => `${row.label} ${row.cpuCores.toFixed(2)}`).join(', ');
  if (Number.isNaN(rows[0].cpuCores)) return 'Cores used: not measured here (needs Linux /proc).';
  if (short.length === 0) return `Cores used: ${got}: each got about what it asked for.`;
  return `Cores used: ${got}: under ${short.map((row) => row.workers).join(' and ')}, so the machine was busy; compare CPU/req, not req/s.`;
}

function readArgs(argv: string[]): { plan: Plan; count: number; rounds: number } {
  const { values } = commandLine('compare', usage).parse(argv, { ...planOptions, count: { type: 'string', short: 'n' }, rounds: { type: 'string' } });
  const count = values.count === undefined ? defaults.count : workerCount('--count', values.count, usageError);
  const rounds = values.rounds === undefined ? defaults.rounds : wholeNumber('--rounds', values.rounds, usageError, defaults.maxRounds);
  return { plan: readPlan(values, count, { durationS: defaults.durationS }, usageError), count, rounds };
}

function usageError(problem: string): never {
  return commandLine('compare', usage).fail(problem);
}
