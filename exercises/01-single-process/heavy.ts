// Exercise 01, part 1: the CPU-bound task that /heavy runs. Write heavy(); the bounds of ?n=
// (readLoops) are given, imported from the lesson: parsing a number is not this lesson's point.
// Check it:  npm run check -- 01

export { heavyDefaults, readLoops } from '../../lessons/01-single-process/heavy.ts';

export function heavy(loops: number): number {
  // TODO 1: count from 0 up to `loops` in a plain synchronous loop (`for` or `while`), and return
  // the count. Plain on purpose: no await, no setImmediate. While it counts, this process's one
  // JavaScript thread can do nothing else, which is what lesson 01 shows and lesson 03 fixes.
  return 0;
}
