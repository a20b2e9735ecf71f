import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { heavy, heavyDefaults, readLoops } from './heavy.ts';

const refusal = (shown: string) => ({ reason: `n must be a whole number from 1 to 100000000, got ${JSON.stringify(shown)}` });

describe("lesson 01's loop count (?n=)", () => {
  test("no n counts to the seed's 5,000,000", () => {
    assert.deepEqual(readLoops(null), { loops: 5_000_000 });
    assert.equal(heavyDefaults.loops, 5_000_000);
  });

  test('n from 1 to 100,000,000 is the count, both ends included', () => {
    assert.deepEqual(readLoops('1'), { loops: 1 });
    assert.deepEqual(readLoops('42'), { loops: 42 });
    assert.deepEqual(readLoops('99999999'), { loops: 99_999_999 });
    assert.deepEqual(readLoops('100000000'), { loops: 100_000_000 });
  });

  test('one more than the cap, or any larger count, is refused with the reason', () => {
    assert.deepEqual(readLoops('100000001'), refusal('100000001'));
    assert.deepEqual(readLoops('999999999'), refusal('999999999'));
    assert.deepEqual(readLoops('1000000000'), refusal('1000000000'));
  });

  test('anything but plain decimal digits is refused: 0, signs, exponents, spaces, leading zeros', () => {
    for (const raw of ['', '0', '-5', '+5', '1e6', '0x10', '5.0', ' 5', '5 ', '05', 'abc', '٣']) {
      assert.deepEqual(readLoops(raw), refusal(raw), `n=${JSON.stringify(raw)}`);
    }
  });

  test('the reason quotes at most 20 characters of what arrived', () => {
    assert.deepEqual(readLoops('x'.repeat(10_000)), refusal('x'.repeat(20)));
  });

  test('heavy(n) counts to n', () => {
    assert.equal(heavy(0), 0);
    assert.equal(heavy(1), 1);
    assert.equal(heavy(12_345), 12_345);
  });
});
