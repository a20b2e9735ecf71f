// The seed's CPU-bound task, with its loop count as a bounded parameter.
// scripts/heavy-cost.ts checks that the default costs no more than the seed's constant loop.

export const heavyDefaults = {
  loops: 5_000_000, // the seed's count: a few milliseconds of one core
  maxLoops: 100_000_000, // the most one request may buy with ?n=
};

export function heavy(loops: number): number {
  // The seed writes `for (let i = 0; i < 5_000_000; i++) total++`. With a variable bound that loop
  // compiled up to 1.33x slower here; counting `total` itself up to the bound is the same work and
  // runs as fast as the seed's constant loop (scripts/heavy-cost.ts measures both).
  let total = 0;
  while (total < loops) {
    total++;
  }
  return total;
}

// `?n=` as a loop count, or the reason it is not one (the server answers 400 with it).
export function readLoops(raw: string | null): { loops: number } | { reason: string } {
  if (raw === null) return { loops: heavyDefaults.loops };
  const loops = /^[1-9]\d{0,8}$/.test(raw) ? Number(raw) : NaN;
  if (loops <= heavyDefaults.maxLoops) return { loops };
  return { reason: `n must be a whole number from 1 to ${heavyDefaults.maxLoops}, got ${JSON.stringify(raw.slice(0, 20))}` };
}
