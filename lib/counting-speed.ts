// How fast this process counts: turns of lesson 01's bare counting loop per ms of CPU. The harness
// compares it under coverage with a plain child's (heavyLoops() in harness.ts); the child runs this
// file as its program. CPU time, not wall time: a busy machine slows both alike.

import { isMain } from './runtime.ts';

const defaults = {
  firstLoops: 1_000_000, // a first count, doubled until one takes...
  leastCpuMs: 100, // ...this much CPU: long enough for the loop to be optimized, and to be timed
};

// One call per count, one long loop in it, as /heavy counts: V8 optimizes such a loop while it runs.
export function countingSpeed(): number {
  for (let loops = defaults.firstLoops; ; loops *= 2) {
    const start = process.cpuUsage();
    const counted = count(loops);
    const used = process.cpuUsage(start);
    const cpuMs = (used.user + used.system) / 1000;
    if (cpuMs >= defaults.leastCpuMs) return counted / cpuMs;
  }
}

// Lesson 01's inner loop, bare.
function count(loops: number): number {
  let counted = 0;
  while (counted < loops) {
    counted++;
  }
  return counted;
}

if (isMain(import.meta.url)) console.log(countingSpeed());
