// The seed's CPU-bound task: how far /heavy counts, as a bounded parameter (?n=).
// scripts/heavy-cost.ts checks, in a running server, that the default costs no more than the seed's loop.

export const heavyDefaults = {
  loops: 5_000_000, // the seed's count: a few milliseconds of one core
  maxLoops: 10_000_000_000, // the most one request may buy with ?n=: a few seconds of one core
  loopsPerRound: 1_000_000_000, // the most one inner loop counts: see countRound()
};

// Where the counting loop sits decides its speed. V8 compiles a hot function with Maglev first (on
// Node 24 and later), then with Turbofan, whose loop runs about twice as fast; a loop's own turns
// move its function up to Turbofan. But Maglev inlines a small function into its caller, and an
// inlined loop moves nothing up: called as a helper from the request handler, the loop stayed in the
// handler's Maglev code for good (0.65x the seed's speed on Node 26, 0.71x on Node 24; in a worker
// thread's message listener, the same after its first few hundred jobs). So there is no counting
// helper here: lesson 01's handler and lesson 08's thread each count inline, in the function the
// runtime calls, with countRound() below. Measure any new place with scripts/heavy-cost.ts's method.

// How far the next inner loop counts: what is left, at most a billion. Past 2^31 a counter is no
// longer a 32-bit integer, and V8 and JavaScriptCore recompile its loop with floating point, for
// good: after one /heavy?n=3000000000 counted in one loop, the default /heavy cost 5 times as much
// (Node 26 and 20). Counted in rounds, every loop counter stays small; only `total` grows past 2^31,
// once a round. The `| 0` keeps the bound an integer too (Bun compared with a float otherwise).
export function countRound(loops: number, total: number): number {
  return Math.min(loops - total, heavyDefaults.loopsPerRound) | 0;
}

// `?n=` as a loop count, or the reason it is not one (the server answers 400 with it).
export function readLoops(raw: string | null): { loops: number } | { reason: string } {
  if (raw === null) return { loops: heavyDefaults.loops };
  const loops = /^[1-9]\d{0,10}$/.test(raw) ? Number(raw) : NaN;
  if (loops <= heavyDefaults.maxLoops) return { loops };
  return { reason: `n must be a whole number from 1 to ${heavyDefaults.maxLoops}, got ${JSON.stringify(raw.slice(0, 20))}` };
}
