// The kit's one rule for numbers a person types, and the readers built on it.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { limits, parseDecimal, parseWhole, port, seconds, wholeNumber, type Fail } from './options.ts';

const fail: Fail = (problem) => {
  throw new Error(problem);
};

describe('lib/options: one strict decimal rule', () => {
  test('plain decimal digits are numbers; signs, spaces, prefixes, exponents and leading zeros are not', () => {
    assert.equal(parseWhole('0'), 0);
    assert.equal(parseWhole('3000'), 3000);
    for (const raw of ['', ' 7', '7 ', '+7', '-7', '07', '0x10', '0b11', '0o7', '1e3', '1_000', '1.0', 'Infinity', 'NaN']) {
      assert.equal(parseWhole(raw), undefined, JSON.stringify(raw));
    }
    assert.equal(parseDecimal('0.5'), 0.5);
    assert.equal(parseDecimal('1.000000001'), 1.000000001); // up to nine decimals: a nanosecond in seconds
    assert.equal(parseDecimal('1.0000000001'), undefined);
    assert.equal(parseDecimal('12'), 12);
    for (const raw of ['.5', '5.', '1e3', '0x10', '0b11', '-1', ' 1', '01.5']) assert.equal(parseDecimal(raw), undefined, JSON.stringify(raw));
  });

  test('wholeNumber takes min and max themselves and nothing beyond, and words the refusal alike', () => {
    assert.equal(wholeNumber('--amount', '1', fail), 1);
    assert.equal(wholeNumber('--amount', String(limits.maxWhole), fail), limits.maxWhole);
    assert.throws(() => wholeNumber('--amount', String(limits.maxWhole + 1), fail), { message: `--amount must be a whole number from 1 to ${limits.maxWhole}, got "${limits.maxWhole + 1}"` });
    assert.throws(() => wholeNumber('--amount', '0', fail), /from 1 to/);
    assert.equal(wholeNumber('--rounds', '25', fail, 25), 25);
    assert.throws(() => wholeNumber('--rounds', '26', fail, 25), { message: '--rounds must be a whole number from 1 to 25, got "26"' });
    assert.equal(wholeNumber('N', '0', fail, 5, { min: 0 }), 0);
    assert.throws(() => wholeNumber('WORKERS', 'all', fail, 256, { hint: 'try WORKERS=2' }), { message: 'WORKERS must be a whole number from 1 to 256, got "all": try WORKERS=2' });
  });

  test('seconds takes a decimal above 0 (or from 0 when allowed) up to the hour, and no 0x10, 1e3 or 0b11', () => {
    assert.equal(seconds('--duration', '0.5', fail), 0.5);
    assert.equal(seconds('--duration', String(limits.maxSeconds), fail), limits.maxSeconds);
    assert.throws(() => seconds('--duration', String(limits.maxSeconds + 1), fail), /at most 3600/);
    assert.throws(() => seconds('--duration', '0', fail), { message: '--duration must be a number of seconds above 0 (at most 3600), got "0"' });
    assert.equal(seconds('--warmup', '0', fail, { allowZero: true }), 0);
    for (const raw of ['0x10', '1e3', '0b11', '', ' 2']) assert.throws(() => seconds('--duration', raw, fail), /must be a number of seconds/, raw);
  });

  test('port: unset or empty gives the fallback, 0 to 65535 are ports, and the refusal says what to type', () => {
    assert.equal(port('PORT', undefined, 3000, fail), 3000);
    assert.equal(port('PORT', '', 3000, fail), 3000);
    assert.equal(port('PORT', '0', 3000, fail), 0);
    assert.equal(port('PORT', '65535', 3000, fail), 65_535);
    assert.throws(() => port('PORT', '65536', 3000, fail), { message: 'PORT must be a whole number from 0 to 65535, got "65536": try PORT=3000' });
    assert.throws(() => port('PORT', 'eighty', 3000, fail), /got "eighty": try PORT=3000/);
    assert.throws(() => port('PORT', '0', 8080, fail, { min: 1 }), /from 1 to 65535/);
  });
});
