import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitUntil } from './launch.ts';
import { get, idleCloseMs, isIdleCloseRace, keepAliveAgent, startLoad } from './load.ts';

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

// A raw server that answers the first request on each connection (keep-alive) and resets the
// connection on the second, as a server closing it just as the request arrives does.
async function resettingSecond(t: TestContext): Promise<string> {
  const listening = net
    .createServer((socket) => {
      let requests = 0;
      socket.on('error', () => {});
      socket.setEncoding('latin1').on('data', (chunk: string) => {
        for (let i = chunk.indexOf('\r\n\r\n'); i !== -1; i = chunk.indexOf('\r\n\r\n', i + 4)) {
          if (++requests === 1) socket.write('HTTP/1.1 200 OK\r\nx-worker-pid: 1\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok');
          else socket.resetAndDestroy();
        }
      });
    })
    .listen(0, '127.0.0.1');
  t.after(() => listening.close());
  await once(listening, 'listening');
  return `http://127.0.0.1:${(listening.address() as AddressInfo).port}/`;
}

describe('the load loop the tests trust to count everything', () => {
  test(`a reset on a keep-alive connection idle for ${idleCloseMs} ms or more is the idle-close race; one idle for less is not`, async (t) => {
    const url = await resettingSecond(t);
    for (const [idleMs, isRace] of [[idleCloseMs + 100, true], [0, false]] as const) {
      const agent = keepAliveAgent(1);
      t.after(() => agent.destroy());
      assert.equal((await get(url, { agent })).status, 200);
      await sleep(idleMs);
      const error = await get(url, { agent }).then(() => assert.fail('the second request was answered'), (error: NodeJS.ErrnoException & { idleMs: number }) => error);
      assert.equal(error.code, 'ECONNRESET');
      assert.equal(isIdleCloseRace(error), isRace, `after ${error.idleMs} ms idle`);
      assert.ok(error.idleMs >= idleMs && error.idleMs < idleMs + 1_000, `idle ${error.idleMs} ms, slept ${idleMs}`);
    }
    assert.equal(isIdleCloseRace(Object.assign(new Error('refused'), { code: 'ECONNREFUSED', idleMs: 10_000 })), false, 'only a reset');
  });

  test('a keep-alive loop counts a connection reset under its request as a failure, not as sent again', async (t) => {
    const url = await resettingSecond(t);
    const load = startLoad(url, { connections: 2, keepAlive: true });
    t.after(() => load.stop());
    await waitUntil(() => load.count.failures >= 4, '4 failures', 5_000);
    const count = await load.stop();
    assert.equal(count.retried, 0, JSON.stringify(count));
    assert.ok(count.requests >= count.failures - 2 && count.errorCodes.ECONNRESET === count.failures, JSON.stringify(count));
  });


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
