// Lesson 06: what does pm2 cost? Starts lesson 03's cluster and pm2's cluster_app side by side (one
// worker per CPU each, free ports, pm2 in a temporary PM2_HOME) and loads /heavy on each with
// lesson 02's measure(): a warm-up first, then rounds that alternate who goes first; medians last.
// Run it:  npx tsx lessons/06-pm2/compare.ts [--amount 1200] [--connections 10] [--rounds 3] [--warmup 300]

import os from 'node:os';
import { commandLine, limits, wholeNumber } from '../../lib/options.ts';
import { exitOnSignals, freePort, isBun, launch } from '../../lib/launch.ts';
import { defaults as load, measure, type Figures } from '../02-load-test/loadtest.ts';
import { medianOf } from '../05-compare/compare.ts';
import { startEcosystem } from './pm2-home.ts';

const defaults = {
  amount: load.amount, // per measured run: lesson 02's seed run, 1200 requests...
  connections: load.connections, // ...10 at a time
  rounds: 3, // measured runs per contender; the median is reported
  warmUp: 300, // requests to each before measuring, so neither is measured cold
  path: '/heavy',
};

interface Contender {
  name: string;
  url: string;
  runs: Figures[];
  stop(): Promise<void>;
}

const usage = `Usage: npx tsx lessons/06-pm2/compare.ts [--amount N] [--connections C] [--rounds R] [--warmup W]

  --amount N       requests per measured run (default ${defaults.amount})
  --connections C  how many at a time (default ${defaults.connections})
  --rounds R       measured runs of each, alternating (default ${defaults.rounds}, at most 25)
  --warmup W       requests to each before measuring (default ${defaults.warmUp}; 0: none)`;

const settings = readArgs(process.argv.slice(2));
if (isBun) fail('pm2 cluster mode needs Node: run this with npx tsx, not bun');
exitOnSignals(); // Ctrl+C ends the comparison, and both clusters with it
const contenders = await startBoth();
try {
  await compare(contenders);
} finally {
  await Promise.all(contenders.map((contender) => contender.stop()));
}

async function startBoth(): Promise<Contender[]> {
  const cluster = await launch('lessons/03-cluster/primary.ts', { ready: /cluster ready/ });
  let pm2;
  try {
    pm2 = await startEcosystem(await freePort());
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  const stopPm2 = () => pm2.destroy();
  return [
    { name: 'lesson 03 cluster', url: cluster.url + defaults.path, runs: [], stop: cluster.stop },
    { name: 'pm2 cluster_app', url: pm2.url + defaults.path, runs: [], stop: stopPm2 },
  ];
}

async function compare(contenders: Contender[]): Promise<void> {
  const { amount, connections, rounds, warmUp } = settings;
  console.log(`${os.availableParallelism()} CPUs; ${amount} requests of ${defaults.path} per run, ${connections} at a time`);
  if (warmUp > 0) for (const contender of contenders) await measure({ url: contender.url, amount: warmUp, connections: Math.min(connections, warmUp) });
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 ? contenders : [...contenders].reverse();
    for (const contender of order) contender.runs.push(await measure({ url: contender.url, amount, connections }));
    console.log(`round ${round}: ${contenders.map((c) => `${c.name} ${c.runs.at(-1)!.requestsPerSec.toFixed(1)}/s`).join(', ')}`);
  }
  const [baseline, pm2] = contenders.map((contender) => ({ ...contender, median: median(contender.runs) }));
  console.log(`median of ${rounds}:`);
  for (const { name, median } of [baseline, pm2]) console.log(`  ${line(name, median)}`);
  // Each round's two runs are next to each other in time, so their ratio shrugs off a machine
  // that gets busier or quieter over the whole comparison.
  const ratios = pm2.runs.map((run, i) => run.requestsPerSec / baseline.runs[i].requestsPerSec).sort((a, b) => a - b);
  const ratioOfMedians = pm2.median.requestsPerSec / baseline.median.requestsPerSec;
  console.log(`  pm2 / lesson 03      ${ratioOfMedians.toFixed(2)}x; median of the per-round ratios ${medianOf(ratios, (ratio) => ratio).toFixed(2)}x`);
  const failed = contenders.flatMap((contender) => contender.runs).reduce((sum, run) => sum + run.errors + run.non2xx, 0);
  if (failed > 0) fail(`${failed} requests failed across the runs: the figures above are not comparable`);
}

function median(runs: Figures[]): Figures {
  return medianOf(runs, (run) => run.requestsPerSec);
}

function line(name: string, figures: Figures): string {
  const { requestsPerSec, meanLatencyMs, p99LatencyMs } = figures;
  return `${name.padEnd(20)} ${requestsPerSec.toFixed(1).padStart(7)} requests/s, ${meanLatencyMs.toFixed(1)} ms mean, ${p99LatencyMs} ms p99`;
}

function readArgs(argv: string[]): { amount: number; connections: number; rounds: number; warmUp: number } {
  const options = { amount: { type: 'string' }, connections: { type: 'string' }, rounds: { type: 'string' }, warmup: { type: 'string' } } as const;
  const { values } = commandLine('compare', usage).parse(argv, options);
  const amount = values.amount === undefined ? defaults.amount : wholeNumber('--amount', values.amount, usageError);
  const connections = values.connections === undefined ? defaults.connections : wholeNumber('--connections', values.connections, usageError, load.maxConnections);
  const rounds = values.rounds === undefined ? defaults.rounds : wholeNumber('--rounds', values.rounds, usageError, 25);
  const warmUp = values.warmup === undefined ? defaults.warmUp : wholeNumber('--warmup', values.warmup, usageError, limits.maxWhole, { min: 0 });
  if (connections > amount) return usageError(`--connections (${connections}) cannot be more than --amount (${amount})`);
  return { amount, connections, rounds, warmUp };
}

function usageError(problem: string): never {
  return commandLine('compare', usage).fail(problem);
}

function fail(problem: string): never {
  console.error(`compare: ${problem}`);
  process.exit(1);
}
