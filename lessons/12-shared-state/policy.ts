// Lesson 12's decisions, as plain functions with no process, no clock and no Redis: the settings,
// the rate limit's window and verdict, and the queue's admission. policy.test.ts checks each.

import os from 'node:os';

export interface Settings {
  limit: number; // requests a client may make per window on /redis/limited (and on /memory/limited, per worker)
  windowS: number;
  maxQueued: number; // /heavy jobs waiting for a job worker; one more is refused with 503
  jobWorkers: number; // processes that take /heavy jobs off the queue
  answerWithinS: number; // how long a web worker waits for a job's result before it answers 202
  jobLockS: number; // how long a job worker's lock on its job lasts unrenewed: a killed one's job comes back after it
}

const ranges: Record<string, { key: keyof Settings; min: number; max: number; fallback: number }> = {
  LIMIT: { key: 'limit', min: 1, max: 1_000_000, fallback: 10 },
  WINDOW: { key: 'windowS', min: 1, max: 86_400, fallback: 10 },
  MAX_QUEUED: { key: 'maxQueued', min: 1, max: 100_000, fallback: 100 },
  JOB_WORKERS: { key: 'jobWorkers', min: 1, max: 64, fallback: os.availableParallelism() },
  ANSWER_WITHIN: { key: 'answerWithinS', min: 1, max: 600, fallback: 30 },
  JOB_LOCK: { key: 'jobLockS', min: 1, max: 600, fallback: 4 },
};

// Every setting from the environment, or the one line that says which is wrong and how to fix it.
export function readSettings(env: Record<string, string | undefined>): Settings | { problem: string } {
  const settings: Settings = { limit: 0, windowS: 0, maxQueued: 0, jobWorkers: 0, answerWithinS: 0, jobLockS: 0 };
  for (const [name, { key, min, max, fallback }] of Object.entries(ranges)) {
    const raw = env[name];
    const value = raw === undefined || raw === '' ? fallback : /^[1-9]\d{0,8}$/.test(raw) ? Number(raw) : NaN;
    if (!(value >= min && value <= max)) return { problem: `${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw!.slice(0, 20))}: try ${name}=${fallback}` };
    (settings[key] as number) = value;
  }
  return settings;
}

// ---- The rate limit: a fixed window per client, opened by its first request ----

export interface Window {
  count: number; // requests in this window so far, this one included
  endsAtMs: number;
}

// One request from a client whose window was `window` (undefined: none yet), at `nowMs`. Redis does
// the same with INCR (count) and PEXPIRE ... NX (the window opens at the first request).
export function hit(window: Window | undefined, nowMs: number, windowMs: number): Window {
  if (window === undefined || nowMs >= window.endsAtMs) return { count: 1, endsAtMs: nowMs + windowMs };
  return { count: window.count + 1, endsAtMs: window.endsAtMs };
}

export interface Verdict {
  isAllowed: boolean;
  remaining: number; // what the client may still send in this window
  retryAfterS: number; // when a refused client may try again: the window's end, in whole seconds up
}

export function verdict(count: number, msLeft: number, limit: number): Verdict {
  return {
    isAllowed: count <= limit,
    remaining: Math.max(0, limit - count),
    retryAfterS: Math.max(1, Math.ceil(msLeft / 1000)),
  };
}

// ---- The queue: bounded, so that a burst costs memory in Redis up to a limit and no further ----

// Checked before a job is added, by each web worker on its own, one admission at a time: N web workers
// may each admit one at the bound at the same moment, so the queue holds at most maxQueued + N - 1.
export function admit(waiting: number, maxQueued: number): { isAdmitted: true } | { isAdmitted: false; retryAfterS: number } {
  if (waiting < maxQueued) return { isAdmitted: true };
  return { isAdmitted: false, retryAfterS: 1 };
}
