import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { measure } from './loadtest.ts';

// An in-process server: measure() needs answers, not lesson 01's process.
async function server(t: TestContext, status: number): Promise<string> {
  const listening = http.createServer((_req, res) => res.writeHead(status, { 'content-length': 2 }).end('ok')).listen(0, '127.0.0.1');
  t.after(() => listening.close());
  await once(listening, 'listening');
  return `http://127.0.0.1:${(listening.address() as AddressInfo).port}/`;
}

describe("lesson 02's measure(): figures that add up", () => {
  test('the total time lies within the time the run took, and requests per second are the requests over it', async (t) => {
    const url = await server(t, 200);
    const startedAt = performance.now();
    const figures = await measure({ url, amount: 300, connections: 4 });
    const tookS = (performance.now() - startedAt) / 1000;
    assert.equal(figures.requests, 300);
    assert.ok(figures.totalTimeS > 0 && figures.totalTimeS <= tookS, `total time ${figures.totalTimeS} s, the run took ${tookS} s`);
    assert.equal(figures.requestsPerSec, 300 / figures.totalTimeS);
    assert.ok(figures.requestsPerSec >= 300 / tookS, `${figures.requestsPerSec}/s over a run of ${tookS} s`);
  });

  test('every non-2xx answer is counted, and none as an error', async (t) => {
    const url = await server(t, 503);
    const figures = await measure({ url, amount: 40, connections: 4 });
    assert.deepEqual({ requests: figures.requests, non2xx: figures.non2xx, errors: figures.errors }, { requests: 40, non2xx: 40, errors: 0 });
  });
});
