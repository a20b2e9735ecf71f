import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { admit, hit, readSettings, verdict, type Window } from './policy.ts';
import { holding } from './jobs.ts';
import { memoryStore } from './store.ts';

describe("lesson 12's decisions, without a process", () => {
  test('a window opens at the first request, counts up, and a request at its end opens the next', () => {
    let window: Window | undefined;
    for (let nowMs = 0; nowMs < 5; nowMs++) window = hit(window, 1_000 + nowMs, 10_000);
    assert.deepEqual(window, { count: 5, endsAtMs: 11_000 });
    assert.deepEqual(hit(window, 10_999, 10_000), { count: 6, endsAtMs: 11_000 });
    assert.deepEqual(hit(window, 11_000, 10_000), { count: 1, endsAtMs: 21_000 });
  });

  test('the limit lets exactly `limit` requests through, and tells the next when to come back, in whole seconds up', () => {
    assert.deepEqual(verdict(10, 4_200, 10), { isAllowed: true, remaining: 0, retryAfterS: 5 });
    assert.deepEqual(verdict(11, 4_200, 10), { isAllowed: false, remaining: 0, retryAfterS: 5 });
    assert.equal(verdict(1, 9_000, 10).remaining, 9);
    assert.equal(verdict(11, 0, 10).retryAfterS, 1, 'a window ending now still says 1 s, never 0');
  });

  test('the memory store counts per client, each window on its own', async () => {
    let nowMs = 0;
    const store = memoryStore(() => nowMs);
    for (let i = 0; i < 3; i++) await store.hit('a', 1_000);
    assert.deepEqual(await store.hit('a', 1_000), { count: 4, msLeft: 1_000 });
    assert.deepEqual(await store.hit('b', 1_000), { count: 1, msLeft: 1_000 });
    nowMs = 1_000;
    assert.deepEqual(await store.hit('a', 1_000), { count: 1, msLeft: 1_000 });
    assert.deepEqual([await store.visit(), await store.visit()], [1, 2]);
  });

  test('the queue admits below its bound and refuses at it, with a Retry-After', () => {
    assert.deepEqual(admit(3, 4), { isAdmitted: true });
    assert.deepEqual(admit(4, 4), { isAdmitted: false, retryAfterS: 1 });
    assert.deepEqual(admit(9, 4), { isAdmitted: false, retryAfterS: 1 });
  });

  test('settings default when unset and refuse what is not a whole number in range, naming the variable', () => {
    const settings = readSettings({});
    assert.ok(!('problem' in settings));
    assert.deepEqual({ ...settings, jobWorkers: 0 }, { limit: 10, windowS: 10, maxQueued: 100, jobWorkers: 0, answerWithinS: 30, jobLockS: 4 });
    assert.deepEqual(readSettings({ LIMIT: '0' }), { problem: 'LIMIT must be a whole number from 1 to 1000000, got "0": try LIMIT=10' });
    assert.deepEqual(readSettings({ MAX_QUEUED: '1e3' }), { problem: 'MAX_QUEUED must be a whole number from 1 to 100000, got "1e3": try MAX_QUEUED=100' });
    assert.deepEqual(readSettings({ JOB_WORKERS: '65' }).hasOwnProperty('problem'), true);
    assert.equal((readSettings({ LIMIT: '5' }) as { limit: number }).limit, 5);
    assert.deepEqual(readSettings({ JOB_LOCK: '0' }), { problem: 'JOB_LOCK must be a whole number from 1 to 600, got "0": try JOB_LOCK=4' });
    assert.equal((readSettings({ JOB_LOCK: '2' }) as { jobLockS: number }).jobLockS, 2);
  });

  test("a job worker's lock lasts JOB_LOCK seconds, renewed every quarter of it; a job is failed at its third stall, checked every second (half a lock, if shorter)", () => {
    assert.deepEqual(holding(2), { lockDuration: 2_000, lockRenewTime: 500, stalledInterval: 1_000, maxStalledCount: 2 });
    assert.deepEqual([holding(4).lockDuration, holding(4).lockRenewTime], [4_000, 1_000]);
    assert.equal(holding(1).stalledInterval, 500, 'a lock of 1 s is checked every half second');
  });
});
