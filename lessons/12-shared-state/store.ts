// Where a web worker keeps what all of them share: a visit counter and a per-client rate limit.
// The memory store is the bug: each worker of a cluster has its own. The Redis store is the fix:
// one counter for all of them, updated atomically in Redis.

import type { Redis as Client } from 'ioredis';
import { hit, type Window } from './policy.ts';

export interface Store {
  name: 'memory' | 'redis';
  visit(): Promise<number>; // this visit's number: 1, 2, 3 ...
  hit(client: string, windowMs: number): Promise<{ count: number; msLeft: number }>; // this request's number in its client's window
}

export const keys = {
  prefix: 'every-core:12:', // apart from anything else in a Redis given by REDIS_URL
  visits: 'every-core:12:visits',
  rate: (client: string) => `every-core:12:rate:${client}`,
};

const maxClients = 10_000; // the memory store forgets the oldest window beyond this: no client list grows without bound

export function memoryStore(now: () => number = Date.now): Store {
  let visits = 0;
  const windows = new Map<string, Window>();
  return {
    name: 'memory',
    async visit() {
      return ++visits;
    },
    async hit(client, windowMs) {
      const nowMs = now();
      const window = hit(windows.get(client), nowMs, windowMs);
      windows.delete(client); // re-inserted last: the Map's order is oldest first
      windows.set(client, window);
      if (windows.size > maxClients) windows.delete(windows.keys().next().value!);
      return { count: window.count, msLeft: window.endsAtMs - nowMs };
    },
  };
}

export function redisStore(redis: Client): Store {
  return {
    name: 'redis',
    async visit() {
      return redis.incr(keys.visits); // one command: Redis runs commands one at a time
    },
    async hit(client, windowMs) {
      // MULTI: the three run together, nothing between them. PEXPIRE NX sets the window's end only
      // on the first request of the window, as policy.ts's hit() does for the memory store.
      const replies = await redis.multi().incr(keys.rate(client)).pexpire(keys.rate(client), windowMs, 'NX').pttl(keys.rate(client)).exec();
      const failed = replies?.find(([error]) => error);
      if (!replies || failed) throw failed?.[0] ?? new Error('the MULTI for the rate limit was aborted');
      return { count: Number(replies[0][1]), msLeft: Number(replies[2][1]) };
    },
  };
}
