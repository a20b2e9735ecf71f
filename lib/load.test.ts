import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { waitUntil } from './launch.ts';
import { startLoad } from './load.ts';

// An in-process server whose nth request gets the status `statusOf(n)`, from pid `n % 2`; status 0: no answer.
async function server(t: TestContext, statusOf: (n: number) => number): Promise<string> {
  let n = 0;
  const listening = http
    .createServer((_req, res) => {
      n++;
      if (statusOf(n) !== 0) res.writeHead(statusOf(n), { 'x-worker-pid': n % 2, 'content-length': 2 }).end('ok');
    })
    .listen(0, '127.0.0.1');
  t.after(() => (listening.closeAllConnections(), listening.close()));
  await once(listening, 'listening');
  return `http://127.0.0.1:${(listening.address() as AddressInfo).port}/`;
}

describe('the load loop the tests trust to count everything', () => {
  test('every answer that is not 200 is counted as non-200, and still as an answer of its pid', async (t) => {
    const url = await server(t, (n) => (n % 3 === 0 ? 503 : 200));
    const load = startLoad(url, { connections: 1 });
    await waitUntil(() => load.count.requests >= 30, '30 answers');
    const count = await load.stop();
    assert.equal(count.non200, Math.floor(count.requests / 3), JSON.stringify(count));
    assert.equal(count.byPid[0] + count.byPid[1], count.requests);
    assert.equal(count.failures, 0);
  });

  test('stop() waits for the requests in flight: none is left uncounted', async (t) => {
    const url = await server(t, () => 200);
    const load = startLoad(url, { connections: 3 });
    await waitUntil(() => load.count.requests >= 10, '10 answers');
    const count = await load.stop();
    const settled = count.requests + count.failures;
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(load.count.requests + load.count.failures, settled, 'counts moved after stop() returned');
  });

  test('stop({ cutAfterMs }) cuts a request that hangs once that time is up, and counts it as a failure', { timeout: 5_000 }, async (t) => {
    const url = await server(t, (n) => (n === 3 ? 0 : 200)); // the third request is never answered
    const load = startLoad(url, { connections: 1 });
    await waitUntil(() => load.count.requests >= 2, '2 answers');
    const stopping = load.stop({ cutAfterMs: 200 });
    const startedMs = Date.now();
    const count = await stopping;
    assert.ok(Date.now() - startedMs >= 150, `stop() returned after ${Date.now() - startedMs} ms, before it cut`);
    assert.deepEqual([count.requests, count.failures, count.errorCodes], [2, 1, { ABORT_ERR: 1 }]);
  });
});
