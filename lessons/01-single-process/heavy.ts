// The seed's CPU-bound task: how far /heavy counts, as a bounded parameter (?n=).
// scripts/heavy-cost.ts checks, in a running server, that the default costs no more than the seed's loop.

export const heavyDefaults = {
  loops: 5_000_000, // the seed's count: a few milliseconds of one core
  maxLoops: 100_000_000, // the most one request may buy with ?n=
};

// Where the counting loop sits decides its speed. V8 compiles a hot function with Maglev first (on
// Node 24 and later), then with Turbofan, whose loop runs about twice as fast; a loop's own turns
// move its function up to Turbofan. But Maglev inlines a small function like this one into its
// caller, and an inlined loop moves nothing up: called from the request handler, this loop stayed
// in the handler's Maglev code for good (0.65x the seed's speed on Node 26, 0.71x on Node 24). So
// lesson 01's server counts inline in its handler, as the seed did; this is for code that counts
// elsewhere. Measure any new caller with scripts/heavy-cost.ts's method.
export function heavy(loops: number): number {
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
