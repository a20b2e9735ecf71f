// The options compare.ts and scripts/bench.ts share, checked the same way: what to request, how
// much, how many at a time, the warm-up, where the JSON goes. Bad input ends the run with one line.

import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { seconds, wholeNumber, type Fail } from '../../lib/options.ts';
import { defaults as loadDefaults } from '../02-load-test/loadtest.ts';
import { defaults as clusterDefaults } from '../03-cluster/primary.ts';

export const planDefaults = {
  path: '/heavy',
  minConnections: loadDefaults.connections, // the seed's 10 at a time...
  connectionsPerWorker: 4, // ...or more: a keep-alive connection stays with one worker all run long
  warmupS: 1, // load before each measurement, not counted: /heavy gets compiled, connections opened
  maxWorkers: clusterDefaults.maxWorkers,
  generatorThreads: 1, // autocannon on this process's main thread; more: its worker threads
  maxGeneratorThreads: 64,
};

// The same load for every row.
export interface Plan {
  path: string;
  amount?: number; // either requests per measurement...
  durationS?: number; // ...or seconds per measurement
  connections: number;
  warmupS: number;
  generatorThreads: number;
  json?: string;
}

// For node:util's parseArgs; each script adds its own (--workers, --rounds).
export const planOptions = {
  amount: { type: 'string' },
  duration: { type: 'string' },
  connections: { type: 'string', short: 'c' },
  path: { type: 'string' },
  warmup: { type: 'string' },
  'generator-threads': { type: 'string' },
  json: { type: 'string' },
} as const;

type PlanValues = { [name in keyof typeof planOptions]?: string | boolean };

// Checks the shared options; `fallback` is the amount or duration when neither is given.
export function readPlan(values: PlanValues, mostWorkers: number, fallback: { amount?: number; durationS?: number }, fail: Fail): Plan {
  const { amount, duration, connections, path, warmup, json, 'generator-threads': threads } = values as Record<string, string | undefined>;
  if (amount !== undefined && duration !== undefined) return fail('give --amount or --duration, not both');
  const plan: Plan = {
    path: path ?? planDefaults.path,
    ...(amount === undefined && duration === undefined ? fallback : {}),
    connections: Math.max(planDefaults.minConnections, planDefaults.connectionsPerWorker * mostWorkers),
    warmupS: warmup === undefined ? planDefaults.warmupS : seconds('--warmup', warmup, fail, { allowZero: true }),
    generatorThreads: threads === undefined ? planDefaults.generatorThreads : wholeNumber('--generator-threads', threads, fail, planDefaults.maxGeneratorThreads),
  };
  if (amount !== undefined) plan.amount = wholeNumber('--amount', amount, fail);
  if (duration !== undefined) plan.durationS = seconds('--duration', duration, fail);
  if (connections !== undefined) plan.connections = wholeNumber('--connections', connections, fail, loadDefaults.maxConnections);
  if (plan.connections > (plan.amount ?? Infinity)) {
    fail(`--connections (${plan.connections}) cannot be more than --amount (${plan.amount}): raise --amount or lower --connections`);
  }
  if (plan.connections < plan.generatorThreads) {
    fail(`--connections (${plan.connections}) cannot be fewer than --generator-threads (${plan.generatorThreads}): each thread opens its share`);
  }
  if (!/^\/\S*$/.test(plan.path)) fail(`--path must start with / (e.g. /heavy or /heavy?n=1000), got ${JSON.stringify(path)}`);
  if (json !== undefined) plan.json = jsonFile(json, fail);
  return plan;
}

export function workerCount(name: string, raw: string, fail: Fail): number {
  return wholeNumber(name, raw, fail, planDefaults.maxWorkers);
}

// Checked before the run, so a long benchmark does not end on an unwritable path.
function jsonFile(raw: string, fail: Fail): string {
  const file = resolve(raw);
  if (raw !== '' && existsSync(dirname(file))) return file;
  return fail(`--json needs a file in an existing folder, got ${JSON.stringify(raw)}`);
}
