import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { waitUntil } from './launch.ts';
import { startLoad } from './load.ts';

// An in-process server whose nth request gets the status `statusOf(n)`, from pid `n % 2`.
async function server(t: TestContext, statusOf: (n: number) => number): Promise<string> {
  let n = 0;
  const listening = http
    .createServer((_req, res) => {
      n++;
      res.writeHead(statusOf(n), { 'x-worker-pid': n % 2, 'content-length': 2 }).end('ok');
    })
    .listen(0, '127.0.0.1');
  t.after(() => listening.close());
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
});
