import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { countRound, heavyDefaults, readLoops } from './heavy.ts';

const refusal = (shown: string) => ({ reason: `n must be a whole number from 1 to 10000000000, got ${JSON.stringify(shown)}` });

describe("lesson 01's loop count (?n=)", () => {
  test("no n counts to the seed's 5,000,000", () => {
    assert.deepEqual(readLoops(null), { loops: 5_000_000 });
    assert.equal(heavyDefaults.loops, 5_000_000);
  });

  test('n from 1 to 10,000,000,000 is the count, both ends included', () => {
    assert.deepEqual(readLoops('1'), { loops: 1 });
    assert.deepEqual(readLoops('42'), { loops: 42 });
    assert.deepEqual(readLoops('9999999999'), { loops: 9_999_999_999 });
    assert.deepEqual(readLoops('10000000000'), { loops: 10_000_000_000 });
  });

  test('one more than the cap, or any larger count, is refused with the reason', () => {
    assert.deepEqual(readLoops('10000000001'), refusal('10000000001'));
    assert.deepEqual(readLoops('99999999999'), refusal('99999999999'));
    assert.deepEqual(readLoops('100000000000'), refusal('100000000000'));
  });

  test('anything but plain decimal digits is refused: 0, signs, exponents, spaces, leading zeros', () => {
    for (const raw of ['', '0', '-5', '+5', '1e6', '0x10', '5.0', ' 5', '5 ', '05', 'abc', '٣']) {
      assert.deepEqual(readLoops(raw), refusal(raw), `n=${JSON.stringify(raw)}`);
    }
  });

  test('the reason quotes at most 20 characters of what arrived', () => {
    assert.deepEqual(readLoops('x'.repeat(10_000)), refusal('x'.repeat(20)));
  });

  test('a count goes in rounds of at most a billion, each bound a 32-bit integer, the last one what is left', () => {
    assert.equal(countRound(5_000_000, 0), 5_000_000, 'the default: one round');
    assert.equal(countRound(10_000_000_000, 0), 1_000_000_000);
    assert.equal(countRound(10_000_000_000, 9_000_000_000), 1_000_000_000, 'the last full round');
    assert.equal(countRound(2_000_000_001, 2_000_000_000), 1, 'what is left');
    assert.equal(countRound(3_500_000_000, 3_000_000_000), 500_000_000);
    for (const total of [0, 1e9, 2e9, 5e9, 9e9]) {
      const round = countRound(heavyDefaults.maxLoops, total);
      assert.ok(Number.isInteger(round) && round > 0 && round <= 2 ** 31 - 1, `round ${round} after ${total}`);
    }
  });

  test('rounds of countRound() add up to n exactly, however they fall', () => {
    for (const n of [0, 1, 12_345, 1_000_000_001, 3_000_000_000, heavyDefaults.maxLoops]) {
      let total = 0;
      let rounds = 0;
      for (; total < n; rounds++) total += countRound(n, total);
      assert.equal(total, n);
      assert.equal(rounds, Math.ceil(n / heavyDefaults.loopsPerRound), `rounds for ${n}`);
    }
  });
});
