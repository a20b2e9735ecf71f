// Does lesson 01's /heavy cost more than the seed's loop, where it runs: in a server? Starts lesson
// 01's server and the seed's (scripts/seed-server.ts), each in its own process, loads them in
// alternating rounds with lesson 02's measure(), prints the medians, and exits 1 if the kit is slower,
// even after one long count that took its counters past 2^31.
// Run it:  npx tsx scripts/heavy-cost.ts [--rounds 5] [--duration 3]    (any Node: npx node@26 --import tsx ...)

import { readFileSync } from 'node:fs';
import { exitOnSignals, launch, type Lesson } from '../lib/launch.ts';
import { commandLine, seconds, wholeNumber } from '../lib/options.ts';
import { defaults as loadDefaults, measure } from '../lessons/02-load-test/loadtest.ts';
import { medianOf } from '../lessons/05-compare/compare.ts';

const defaults = {
  rounds: 5,
  maxRounds: 50,
  durationS: 3, // per server per round
  warmupS: 2, // load before the first round, not counted: V8 tiers /heavy up under load
  connections: 10, // the seed's load test
  longLoops: 3_000_000_000, // one long count first, past 2^31 (lesson 01's heavy.ts says why)
  minRatio: 0.9, // kit/seed below this fails: the kit is clearly slower, beyond this machine's noise
};

const servers = {
  kit: { file: 'lessons/01-single-process/server.ts', label: 'kit  (lesson 01 server.ts)' },
  seed: { file: 'scripts/seed-server.ts', label: 'seed (constant loop inline)' },
};
type Name = keyof typeof servers;
const answer = 'The result of the CPU intensive task is 5000000\n';

const usage = `Usage: npx tsx scripts/heavy-cost.ts [--rounds N] [--duration S] [--connections C]

  --rounds N         alternating rounds, each loads both servers (default ${defaults.rounds})
  --duration S       seconds of load per server per round (default ${defaults.durationS})
  --connections C    requests at a time (default ${defaults.connections})

Exits 1 if the kit runs below ${defaults.minRatio}x the seed's speed: judged by the servers' CPU time per
request where the system reports it (Linux), else by req/s. On another Node:
  npx --yes node@26.10.0 --import tsx scripts/heavy-cost.ts`;

const options = readOptions(process.argv.slice(2));
exitOnSignals(); // Ctrl+C ends the run and both servers
const started: Lesson[] = [];
try {
  await main();
} catch (error) {
  console.error(`heavy-cost: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  await Promise.all(started.map((lesson) => lesson.stop()));
}

async function main(): Promise<void> {
  const kit = await startServer('kit');
  const seed = await startServer('seed');
  console.log(`GET /heavy on Node ${process.version}, ${options.connections} at a time, ${options.rounds} rounds of ${options.durationS} s each`);
  await countPast2To31(kit);
  for (const server of [kit, seed]) await load(server, defaults.warmupS);
  const rounds: Record<Name, Round[]> = { kit: [], seed: [] };
  for (let round = 1; round <= options.rounds; round++) {
    // Alternate who goes first, so neither always meets the quieter (or busier) moment.
    const order: Name[] = round % 2 ? ['kit', 'seed'] : ['seed', 'kit'];
    for (const name of order) rounds[name].push(await load(name === 'kit' ? kit : seed, options.durationS));
    console.log(`  round ${round}: kit ${describe(rounds.kit.at(-1)!)}, seed ${describe(rounds.seed.at(-1)!)}`);
  }
  report(rounds);
}

// One count past 2^31 before any round: a loop whose counter outgrows 32 bits is recompiled with
// floating point for good, and every default /heavy after it would cost several times as much.
async function countPast2To31(kit: Lesson): Promise<void> {
  const loops = defaults.longLoops;
  const startedAt = performance.now();
  const body = await (await fetch(`${kit.url}/heavy?n=${loops}`)).text();
  if (body !== `The result of the CPU intensive task is ${loops}\n`) throw new Error(`${servers.kit.file} answered ${JSON.stringify(body)} to n=${loops}`);
  console.log(`  first, one /heavy?n=${loops} on the kit (its counters past 2^31): ${((performance.now() - startedAt) / 1000).toFixed(1)} s`);
}

interface Round {
  requestsPerSec: number;
  cpuMsPerRequest: number | null; // the server's main thread, where the system tells (Linux)
}

async function startServer(name: Name): Promise<Lesson> {
  const server = await launch(servers[name].file, { ready: /listening on/ }, (lesson) => started.push(lesson));
  const body = await (await fetch(`${server.url}/heavy`)).text();
  if (body !== answer) throw new Error(`${servers[name].file} answered ${JSON.stringify(body)}, not ${JSON.stringify(answer)}`);
  return server;
}

async function load(server: Lesson, durationS: number): Promise<Round> {
  const cpuBefore = cpuNs(server.pid);
  const figures = await measure({ url: `${server.url}/heavy`, durationS, connections: options.connections });
  const cpuAfter = cpuNs(server.pid);
  const failed = figures.errors + figures.non2xx;
  if (failed > 0) throw new Error(`${failed} of ${figures.requests} requests to ${server.url}/heavy failed`);
  const cpuMs = cpuBefore === null || cpuAfter === null ? null : (cpuAfter - cpuBefore) / 1e6;
  return { requestsPerSec: figures.requestsPerSec, cpuMsPerRequest: cpuMs === null ? null : cpuMs / figures.requests };
}

// On a shared machine req/s moves with everyone else's load; CPU time per request much less so.
// Linux counts each thread's time on a CPU in /proc/<pid>/schedstat, in nanoseconds.
function cpuNs(pid: number): number | null {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return null;
  }
}

function describe(round: Round): string {
  const cpu = round.cpuMsPerRequest === null ? '' : ` (${round.cpuMsPerRequest.toFixed(2)} ms CPU each)`;
  return `${round.requestsPerSec.toFixed(1)} req/s${cpu}`;
}

function report(rounds: Record<Name, Round[]>): void {
  const rate = (name: Name) => median(rounds[name].map((round) => round.requestsPerSec));
  const cpu = (name: Name) => median(rounds[name].map((round) => round.cpuMsPerRequest ?? NaN));
  const rateRatio = rate('kit') / rate('seed');
  const cpuRatio = cpu('seed') / cpu('kit'); // as a speed: above 1, the kit's request costs less
  console.log(`medians              req/s    ms CPU per request`);
  for (const name of ['kit', 'seed'] as const) {
    console.log(`  ${servers[name].label.padEnd(30)} ${rate(name).toFixed(1).padStart(6)}   ${cpu(name).toFixed(2).padStart(6)}`);
  }
  console.log(`  kit / seed (speed)             ${rateRatio.toFixed(2).padStart(6)}   ${cpuRatio.toFixed(2).padStart(6)}`);
  const judged = Number.isNaN(cpuRatio) ? { ratio: rateRatio, by: 'req/s' } : { ratio: cpuRatio, by: 'CPU per request' };
  if (judged.ratio >= defaults.minRatio) return;
  console.error(`heavy-cost: the kit's /heavy runs at ${judged.ratio.toFixed(2)}x the seed's (${judged.by}), below ${defaults.minRatio}: see lessons/01-single-process/heavy.ts for where the loop must sit and why it counts in rounds`);
  process.exitCode = 1;
}

function median(values: number[]): number {
  return medianOf(values, (value) => value);
}

function readOptions(argv: string[]) {
  const { values } = commandLine('heavy-cost', usage).parse(argv, {
    rounds: { type: 'string' },
    duration: { type: 'string' },
    connections: { type: 'string', short: 'c' },
  });
  return {
    rounds: values.rounds === undefined ? defaults.rounds : wholeNumber('--rounds', values.rounds, usageError, defaults.maxRounds),
    durationS: values.duration === undefined ? defaults.durationS : seconds('--duration', values.duration, usageError),
    connections: values.connections === undefined ? defaults.connections : wholeNumber('--connections', values.connections, usageError, loadDefaults.maxConnections),
  };
}

function usageError(problem: string): never {
  return commandLine('heavy-cost', usage).fail(problem);
}
