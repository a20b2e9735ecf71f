// Does making /heavy's loop count a parameter cost CPU? Times the seed's loop (a constant bound)
// against the kit's default path (readLoops + heavy), interleaved, and prints medians and the ratio.
// Run it:  npx tsx scripts/heavy-cost.ts [--rounds 61]

import { parseArgs } from 'node:util';
import { heavy, readLoops } from '../lessons/01-single-process/heavy.ts';

const defaults = { rounds: 61 };

// The seed's route body, verbatim but for the response.
function seedHeavy(): number {
  let total = 0;
  for (let i = 0; i < 5_000_000; i++) {
    total++;
  }
  return total;
}

function kitHeavy(): number {
  const n = readLoops(null); // what GET /heavy without ?n= does
  return 'loops' in n ? heavy(n.loops) : 0;
}

const { values } = parseArgs({ options: { rounds: { type: 'string' } } });
const rounds = Number(values.rounds ?? defaults.rounds);
if (!Number.isInteger(rounds) || rounds < 5) {
  console.error(`heavy-cost: --rounds must be a whole number from 5 up, got ${JSON.stringify(values.rounds)}`);
  process.exit(2);
}

const times = { seed: [] as number[], kit: [] as number[] };
for (let round = 0; round < rounds + 5; round++) {
  // Alternate which goes first, so neither always runs on a warmer (or busier) moment.
  const order = round % 2 ? (['seed', 'kit'] as const) : (['kit', 'seed'] as const);
  for (const which of order) {
    const started = process.hrtime.bigint();
    const total = which === 'seed' ? seedHeavy() : kitHeavy();
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (total !== 5_000_000) throw new Error(`${which} counted ${total}`);
    if (round >= 5) times[which].push(ms); // the first rounds warm up the JIT
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const seed = median(times.seed);
const kit = median(times.kit);
console.log(`default /heavy loop, median of ${rounds} interleaved rounds:`);
console.log(`  seed (constant 5,000,000)   ${seed.toFixed(3)} ms`);
console.log(`  kit  (readLoops + heavy)    ${kit.toFixed(3)} ms`);
console.log(`  kit / seed                  ${(kit / seed).toFixed(3)}`);
