// @ts-check
// A machine with more CPUs than this one, for checking that the suite's limits grow with the CPU
// count (a 64-core workstation must pass it too). Loaded into every process through NODE_OPTIONS:
//   EVERY_CORE_CPUS=32 NODE_OPTIONS="--import $PWD/lib/fake-cpus.mjs" npm test
// Every lesson then counts 32 CPUs (os.availableParallelism(), the kit's one source of the count).

import os from 'node:os';

const cpus = Number(process.env.EVERY_CORE_CPUS);
if (!Number.isInteger(cpus) || cpus < 1) {
  console.error(`fake-cpus: EVERY_CORE_CPUS must be a whole number from 1 up, got ${JSON.stringify(process.env.EVERY_CORE_CPUS)}`);
  process.exit(2);
}
os.availableParallelism = () => cpus;
