// Lesson 05: one process against every core, measured the same way, side by side. Starts lesson 01,
// warms it up, measures it with lesson 02's measure(), stops it; then the same for lesson 03.
// This process is the load generator; the servers run in their own processes.
// Run it:  npx tsx lessons/05-compare/compare.ts        (--help lists the options)

import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { commandLine } from '../../lib/options.ts';
import { isBun, launch, type Lesson } from '../../lib/launch.ts';
import { defaults as loadDefaults, measure, type Figures } from '../02-load-test/loadtest.ts';
import { defaults as clusterDefaults } from '../03-cluster/primary.ts';
import { planDefaults, planOptions, readPlan, workerCount, type Plan } from './options.ts';
import { isMain } from '../../lib/runtime.ts';

export const defaults = {
  ...planDefaults, // what to request, how many at a time, the warm-up: see options.ts
  amount: loadDefaults.amount, // the seed's 1200 requests, for each side
  workers: clusterDefaults.workerCount, // the CPU count
  chartWidth: 40,
  boundAtPct: 90, // a generator that used this much of the CPU it had measured itself, not the server
  busyLoadPerCpu: 0.5, // a 1-minute load average above this per CPU, before the run: others use the cores
};

// The lessons started and not yet stopped, by process group: a Ctrl+C names them as it stops them.
const started = new Map<number, string>();

// How to start one kind of server: one row of the comparison (scripts/bench.ts adds more kinds).
export interface Runner {
  name: string; // the kind, as the JSON names it: 'single', 'cluster', ...
  label: string; // the kind and its size, as the tables print it
  file: string; // what launch() starts, relative to the repository root
  ready: RegExp; // its own log line that says it is listening
  workers: number;
  env?: Record<string, string>;
  bun?: string; // a Bun executable to run it with, instead of this process's runtime
  start?: () => Promise<Server>; // for a server that is not one lesson file (pm2's daemon)
}

// What measureRunner needs of a started server: a Lesson from launch() is one.
export interface Server {
  url: string;
  stop(): Promise<void>;
}

export const runners = {
  single: (): Runner => ({
    name: 'single',
    label: 'single (1 process)',
    file: 'lessons/01-single-process/server.ts',
    ready: /listening on http:/,
    workers: 1,
  }),
  cluster: (workers: number): Runner => ({
    name: 'cluster',
    label: `cluster (${plural(workers, 'worker')})`,
    file: 'lessons/03-cluster/primary.ts',
    ready: /cluster ready/,
    workers,
    env: { WORKERS: String(workers) },
  }),
};

export interface Row extends Figures {
  name: string;
  label: string;
  file: string;
  workers: number;
  generatorCpuPct: number; // this process's CPU while it measured, in % of one core
  generatorThreads: number; // the threads autocannon ran on: each can use one core at most
  isGeneratorBound: boolean; // it used boundAtPct% or more of those: the row shows the generator's ceiling
}

const usage = `Usage: npx tsx lessons/05-compare/compare.ts [--amount N | --duration S] [--connections C]
         [--workers W] [--path P] [--warmup S] [--generator-threads T] [--json FILE]

  --amount N         requests per measurement (default ${defaults.amount}, the seed's run)
  --duration S       or measure each side for S seconds
  --connections C    requests at a time (default ${defaults.minConnections}, or ${defaults.connectionsPerWorker} per worker if that is more)
  --workers W        lesson 03's worker count (default ${defaults.workers}, the CPU count)
  --path P           what to request (default ${defaults.path}; / is the trivial route)
  --warmup S         seconds of load before each measurement, not counted (default ${defaults.warmupS}; 0 skips it)
  --generator-threads T   run autocannon in T worker threads, sharing the connections (default ${defaults.generatorThreads}: this thread)
  --json FILE        also write the results to FILE as JSON`;

if (isMain(import.meta.url)) await main(process.argv.slice(2));

async function main(argv: string[]): Promise<void> {
  const { plan, workers } = readArgs(argv);
  stopOnSignals();
  const loadBefore = os.loadavg()[0];
  console.log(`Lesson 01 against lesson 03 with ${plural(workers, 'worker')}: ${describePlan(plan)}`);
  console.log(`${loadLine(loadBefore, os.availableParallelism())}\n`);
  try {
    const rows = [await measureRunner(runners.single(), plan), await measureRunner(runners.cluster(workers), plan)];
    const speedup = rows[1].requestsPerSec / rows[0].requestsPerSec;
    const efficiency = speedup / workers;
    console.log(`\n${sideBySide(rows)}\n${boundNote(rows)}`);
    const ideal = `${percent(efficiency)} of the ideal ${workers}x`;
    console.log(`Speedup (cluster / single): ${speedup.toFixed(2)}x with ${plural(workers, 'worker')}: ${ideal}\n`);
    console.log(chart(rows));
    const busy = busyNote(loadBefore, os.availableParallelism());
    if (busy) console.log(`\n${busy}`);
    if (plan.json) writeJson(plan.json, { runtime: runtime(), plan, rows, speedup, efficiency });
    failOnErrors(rows);
  } catch (error) {
    console.error(`compare: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}

// Something a later lesson runs beside the measured load (lesson 08 times `/` and reads memory
// meanwhile): started as the measurement starts, stopped as it ends; its figures join the row.
export type Alongside<Extra extends object> = (server: Server) => { stop(): Promise<Extra> };

// Start one runner, warm it up, measure it, stop it: the same steps for every row. The lesson is
// stopped whatever happens; a Ctrl+C meanwhile ends this process, and lib/launch.ts kills the lesson.
export async function measureRunner<Extra extends object = object>(runner: Runner, plan: Plan, alongside?: Alongside<Extra>): Promise<Row & Extra> {
  let server: Server | undefined;
  try {
    server = runner.start ? await runner.start() : await launchRunner(runner, (started) => (server = started));
    const url = `${server.url}${plan.path}`;
    if (plan.warmupS > 0) {
      progress(`${runner.label}: listening on ${server.url}, warming up for ${plan.warmupS} s`);
      await measure({ url, durationS: plan.warmupS, connections: plan.connections, threads: plan.generatorThreads });
    }
    progress(`${runner.label}: measuring`);
    const cpuBefore = process.cpuUsage();
    const beside = alongside?.(server);
    const figures = await measure({ url, amount: plan.amount, durationS: plan.durationS, connections: plan.connections, threads: plan.generatorThreads });
    const generatorCpuPct = cpuPercent(process.cpuUsage(cpuBefore), figures.totalTimeS);
    const generator = { generatorCpuPct, generatorThreads: plan.generatorThreads, isGeneratorBound: isGeneratorBound(generatorCpuPct, plan.generatorThreads) };
    const extra = (await beside?.stop()) as Extra;
    return { name: runner.name, label: runner.label, file: runner.file, workers: runner.workers, ...figures, ...generator, ...extra };
  } finally {
    await server?.stop();
    if (server && 'pid' in server) started.delete(server.pid as number);
    const group = server && 'pid' in server ? `, process group ${server.pid} is empty` : '';
    if (server) progress(`${runner.label}: stopped${group}`);
  }
}

function launchRunner(runner: Runner, onSpawn: (lesson: Lesson) => void): Promise<Lesson> {
  return launch(runner.file, { ready: runner.ready, env: runner.env, bun: runner.bun }, (lesson) => {
    onSpawn(lesson);
    started.set(lesson.pid, `${runner.label} (process group ${lesson.pid})`);
    progress(`${runner.label}: started ${runner.file} as process group ${lesson.pid}`);
  });
}

// Ctrl+C (or kill) ends the whole comparison with 128 + the signal's number, and says what it
// stopped: lib/launch.ts kills every lesson still running as this process exits.
function stopOnSignals(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      const what = started.size > 0 ? `stopping ${[...started.values()].join(', ')}` : 'no lesson was running';
      console.error(`\ncompare: ${signal === 'SIGINT' ? 'Ctrl+C' : signal}, no figures from this run: ${what}`);
      process.exit(128 + os.constants.signals[signal]);
    });
  }
}

export function loadLine(loadAverage: number, cpus: number): string {
  return `Load average before the run: ${loadAverage.toFixed(2)} over the last minute, on ${plural(cpus, 'CPU')}`;
}

// Other work on the CPUs takes them from the lessons, the cluster most: its speedup then says more
// about the machine's load than about the cluster.
export function busyNote(loadAverage: number, cpus: number): string {
  if (loadAverage <= defaults.busyLoadPerCpu * cpus) return '';
  return (
    `busy machine: the load average was ${loadAverage.toFixed(2)} on ${plural(cpus, 'CPU')} before the run (above ` +
    `${(defaults.busyLoadPerCpu * cpus).toFixed(1)}), so other work shared the cores with the lessons and these figures mean little, ` +
    `the speedup least. Run it again on a quiet machine.`
  );
}

// autocannon runs on this process's main thread or in its worker threads: process.cpuUsage() counts
// every thread of the process, so it is the generator's CPU time either way.
function cpuPercent(used: NodeJS.CpuUsage, seconds: number): number {
  return seconds > 0 ? (used.user + used.system) / (seconds * 10_000) : 0;
}

export function sideBySide(rows: Row[]): string {
  const lines: [string, (row: Row) => string][] = [
    ['Total time', (row) => `${row.totalTimeS.toFixed(2)} s`],
    ['Requests per second', (row) => row.requestsPerSec.toFixed(1)],
    ['Mean latency', (row) => `${row.meanLatencyMs.toFixed(1)} ms`],
    ['p50 latency', (row) => `${row.p50LatencyMs} ms`],
    ['p99 latency', (row) => `${row.p99LatencyMs} ms`],
    ['Requests', (row) => String(row.requests)],
    ['Errors', (row) => `${row.errors} (${row.timeouts} timeouts)`],
    ['Non-2xx', (row) => String(row.non2xx)],
    ['Generator CPU', (row) => `${row.generatorCpuPct.toFixed(0)}% of a core${threadsOf(row)}${row.isGeneratorBound ? ', generator-bound' : ''}`],
  ];
  const header = ['', ...rows.map((row) => row.label)];
  return columns([header, ...lines.map(([name, value]) => [name, ...rows.map(value)])]);
}

// Each thread can use one core at most: `threads` cores are all the CPU the generator had.
export function isGeneratorBound(cpuPct: number, threads: number): boolean {
  return cpuPct >= defaults.boundAtPct * threads;
}

function threadsOf(row: Row): string {
  return row.generatorThreads > 1 ? ` (${row.generatorThreads} threads)` : '';
}

// Said under any table that has a generator-bound row: its figure is no server's.
export function boundNote(rows: Row[]): string {
  const bound = rows.filter((row) => row.isGeneratorBound);
  if (bound.length === 0) return '';
  const threads = bound[0].generatorThreads;
  return (
    `generator-bound: ${bound.map((row) => row.label).join(', ')}. The load generator used ${defaults.boundAtPct}% or more ` +
    `of the ${plural(threads, 'core')} its ${plural(threads, 'thread')} can use, so these figures are its ceiling, not the server's: ` +
    `try --generator-threads ${threads * 2}, or a load generator on another machine.\n`
  );
}

// Pads every column to its widest cell: the first to the left, the figures to the right.
export function columns(table: string[][]): string {
  const widths = table[0].map((_, i) => Math.max(...table.map((cells) => cells[i].length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])));
  return table.map((cells) => `  ${line(cells).join('   ')}`.trimEnd()).join('\n');
}

export function chart(rows: Row[]): string {
  const most = Math.max(...rows.map((row) => row.requestsPerSec), 1e-9);
  const width = Math.max(...rows.map((row) => row.label.length));
  const bars = rows.map((row) => {
    const bar = '█'.repeat(Math.round((defaults.chartWidth * row.requestsPerSec) / most));
    return `  ${row.label.padEnd(width)}  ${bar.padEnd(defaults.chartWidth)}  ${row.requestsPerSec.toFixed(1)}`;
  });
  return ['Requests per second', ...bars].join('\n');
}

export function describePlan(plan: Plan): string {
  const amount = plan.durationS === undefined ? `${plan.amount} requests` : `${plan.durationS} s`;
  const warmup = plan.warmupS > 0 ? `after a ${plan.warmupS} s warm-up` : 'no warm-up';
  const threads = plan.generatorThreads > 1 ? `, autocannon in ${plan.generatorThreads} threads` : '';
  return `GET ${plan.path}, ${amount} each, ${plan.connections} at a time, ${warmup}${threads}`;
}

export function runtime(): string {
  return isBun ? `bun ${process.versions.bun}` : `node ${process.version}`;
}

export function writeJson(file: string, results: object): void {
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  progress(`wrote ${file}`);
}

// A failed request makes the figures meaningless: say so and exit 1, as lesson 02 does.
export function failOnErrors(rows: Row[]): void {
  for (const row of rows.filter((r) => r.errors + r.non2xx > 0)) {
    console.error(`${row.label}: ${row.errors} errors, ${row.non2xx} non-2xx answers`);
    process.exitCode = 1;
  }
}

export function progress(line: string): void {
  console.error(`  ${line}`);
}

// The one median rule of the kit's comparisons: the middle item by `value`, the lower middle of an
// even count, so that a row's figures all come from one real measurement, never an average of two.
export function medianOf<T>(items: T[], value: (item: T) => number): T {
  const sorted = [...items].sort((a, b) => value(a) - value(b));
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

export function percent(fraction: number): string {
  return `${(fraction * 100).toFixed(0)}%`;
}

export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function readArgs(argv: string[]): { plan: Plan; workers: number } {
  const { values } = commandLine('compare', usage).parse(argv, { ...planOptions, workers: { type: 'string', short: 'w' } });
  const workers = values.workers === undefined ? defaults.workers : workerCount('--workers', values.workers, usageError);
  return { plan: readPlan(values, workers, { amount: defaults.amount }, usageError), workers };
}

function usageError(problem: string): never {
  return commandLine('compare', usage).fail(problem);
}
