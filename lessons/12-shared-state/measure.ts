// What the queue costs, measured (not a test): /heavy through lesson 12's queue against lesson 03
// counting in its workers, at the same CPU count; the queue's own cost per job (/heavy?n=1, one at a
// time: the round trip through Redis and a job worker, with nothing to count); and / under load.
// Run it:  npx tsx lessons/12-shared-state/measure.ts        (--help lists the options)

import autocannon from 'autocannon';
import os from 'node:os';
import { exitOnSignals, launch, type Lesson } from '../../lib/launch.ts';
import { get } from '../../lib/load.ts';
import { commandLine, seconds, wholeNumber } from '../../lib/options.ts';
import { isMain } from '../../lib/runtime.ts';

const defaults = {
  count: os.availableParallelism(), // lesson 03's workers; lesson 12's web workers, and as many job workers
  durationS: 5, // per measurement
  connections: 8, // /heavy requests at a time
  probeEveryMs: 50, // a request to / this often during the /heavy load, timed
};

const usage = `Usage: npx tsx lessons/12-shared-state/measure.ts [--count N] [--duration S] [--connections C]

  --count N         lesson 03's workers, lesson 12's web workers and job workers (default ${defaults.count}, the CPU count)
  --duration S      seconds per measurement (default ${defaults.durationS})
  --connections C   /heavy requests at a time (default ${defaults.connections})`;

export interface Row {
  name: string;
  heavyPerS: number;
  heavyP50Ms: number;
  heavyP99Ms: number;
  rootP50Ms: number; // / while /heavy runs
  rootP99Ms: number;
  emptyJobMs: number; // mean time of /heavy?n=1, one at a time
  errors: number;
}

if (isMain(import.meta.url)) await main(process.argv.slice(2));

async function main(argv: string[]): Promise<void> {
  const { values } = commandLine('measure', usage).parse(argv, { count: { type: 'string' }, duration: { type: 'string' }, connections: { type: 'string' } });
  const fail = commandLine('measure', usage).fail;
  const count = values.count === undefined ? defaults.count : wholeNumber('--count', values.count, fail, 64);
  const durationS = values.duration === undefined ? defaults.durationS : seconds('--duration', values.duration, fail);
  const connections = values.connections === undefined ? defaults.connections : wholeNumber('--connections', values.connections, fail, 1_000);
  exitOnSignals(); // Ctrl+C ends the lessons this started too
  console.log(`${process.release.name} ${process.version}, ${os.availableParallelism()} CPUs, load average ${os.loadavg()[0].toFixed(1)}; ${durationS} s per measurement, ${connections} connections`);
  const rows = [
    await measure('lesson 03: /heavy in the web workers', 'lessons/03-cluster/primary.ts', { WORKERS: String(count) }, durationS, connections),
    await measure('lesson 12: /heavy through the queue', 'lessons/12-shared-state/primary.ts', { WORKERS: String(count), JOB_WORKERS: String(count), REDIS_URL: '' }, durationS, connections),
  ];
  console.table(rows.map(({ name, ...figures }) => ({ '': name, ...figures })));
  const [direct, queued] = rows;
  console.log(`the queue's cost per job: ${(queued.emptyJobMs - direct.emptyJobMs).toFixed(2)} ms (/heavy?n=1 one at a time, ${queued.emptyJobMs.toFixed(2)} against ${direct.emptyJobMs.toFixed(2)} ms)`);
  console.log(ratioLine(queued, direct));
  process.exit(rows.some((row) => row.errors > 0) ? 1 : 0);
}

async function measure(name: string, file: string, env: Record<string, string>, durationS: number, connections: number): Promise<Row> {
  console.log(`${name}: starting ${file}`);
  const lesson = await launch(file, { ready: /cluster ready/, env });
  try {
    await load(`${lesson.url}/heavy`, Math.min(1, durationS), connections); // warm-up: each process compiles its hot code
    const probes = probe(lesson);
    const heavy = await load(`${lesson.url}/heavy`, durationS, connections);
    const root = await probes.stop();
    const empty = await load(`${lesson.url}/heavy?n=1`, durationS, 1);
    return {
      name,
      heavyPerS: Math.round(heavy.requests.total / heavy.duration),
      heavyP50Ms: heavy.latency.p50,
      heavyP99Ms: heavy.latency.p99,
      rootP50Ms: percentile(root, 50),
      rootP99Ms: percentile(root, 99),
      emptyJobMs: Number(empty.latency.average.toFixed(2)),
      errors: heavy.errors + heavy.non2xx + empty.errors + empty.non2xx,
    };
  } finally {
    // SIGTERM first, as Ctrl+C would: lesson 12 then stops its own Redis and removes its folder (a
    // SIGKILL, which stop() sends, leaves them for the next run to remove).
    try {
      process.kill(lesson.pid, 'SIGTERM');
      await lesson.exited;
    } finally {
      await lesson.stop();
    }
  }
}

// autocannon stops at a sample's end, a second by default: a 0.5 s run would last 1 s. Samples no
// longer than the run, and rates from its totals.
function load(url: string, durationS: number, connections: number): Promise<autocannon.Result> {
  return autocannon({ url, duration: durationS, connections, sampleInt: Math.min(1000, durationS * 1000) });
}

// A GET of / every probeEveryMs on a fresh connection, each timed, until stop().
function probe(lesson: Lesson) {
  const times: number[] = [];
  const timer = setInterval(() => {
    const startedAt = performance.now();
    get(`${lesson.url}/`).then(() => times.push(Math.round((performance.now() - startedAt) * 10) / 10), () => times.push(Infinity));
  }, defaults.probeEveryMs);
  return {
    async stop() {
      clearInterval(timer);
      return times;
    },
  };
}

// The last line: the queue's requests per second as a multiple of lesson 03's, and / under that load.
// Lesson 03 can answer no /heavy in a short run on a busy machine (its event loops count, and each
// /heavy takes longer than the run): then there is no multiple to give, and the line says so.
export function ratioLine(queued: Row, direct: Row): string {
  const root = `/ under that load: p99 ${queued.rootP99Ms} against ${direct.rootP99Ms} ms`;
  if (direct.heavyPerS === 0) return `/heavy through the queue: ${queued.heavyPerS} requests per second, lesson 03 none in this run (measure longer: --duration); ${root}`;
  return `/heavy through the queue: ${(queued.heavyPerS / direct.heavyPerS).toFixed(2)}x lesson 03's requests per second; ${root}`;
}

function percentile(values: number[], pct: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * pct) / 100))] ?? NaN;
}
