import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { waitUntil } from '../../lib/launch.ts';
import { countByWorker, fairness, report, type Run, type Tally } from './distribution.ts';

// An in-process server that answers as a worker `pid` would, picked per request by `answer`.
// `open` counts the connections it holds open now.
async function fakeCluster(t: TestContext, answer: (n: number, req: http.IncomingMessage, res: http.ServerResponse) => void) {
  let n = 0;
  const server = http.createServer((req, res) => answer(++n, req, res));
  server.keepAliveTimeout = 600_000; // idle connections close when the client closes them, not before
  const open = new Set<Socket>();
  server.on('connection', (socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  t.after(() => server.close());
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, open };
}

const answerAs = (res: http.ServerResponse, pid: number, status = 200) => {
  res.writeHead(status, { 'x-worker-pid': pid, 'content-length': 2 });
  res.end('ok');
};

function tally(byPid: [number, number, number][], extra: Partial<Tally> = {}): Tally {
  const map = new Map(byPid.map(([pid, requests, connections]) => [pid, { requests, connections }]));
  return { byPid: map, connections: byPid.reduce((sum, [, , c]) => sum + c, 0), failures: 0, non200: 0, errorCodes: {}, ...extra };
}

describe("lesson 04's count: who served how many", () => {
  test('every request is counted once, under the pid that answered, and no more are sent than asked', async (t) => {
    const { url } = await fakeCluster(t, (n, _req, res) => answerAs(res, 100 + (n % 3)));
    const counted = await countByWorker({ url, requests: 10, concurrency: 3, keepAlive: false });
    assert.deepEqual([...counted.byPid].sort(([a], [b]) => a - b), [
      [100, { requests: 3, connections: 3 }],
      [101, { requests: 4, connections: 4 }],
      [102, { requests: 3, connections: 3 }],
    ]);
    assert.equal(counted.connections, 10);
    assert.deepEqual({ failures: counted.failures, non200: counted.non200, errorCodes: counted.errorCodes }, { failures: 0, non200: 0, errorCodes: {} });
  });

  test('over keep-alive, connections are counted once each, however many requests they carry', async (t) => {
    const { url, open } = await fakeCluster(t, (_n, req, res) => answerAs(res, req.socket.remotePort!));
    const counted = await countByWorker({ url, requests: 12, concurrency: 2, keepAlive: true });
    const requests = [...counted.byPid.values()].reduce((sum, w) => sum + w.requests, 0);
    assert.equal(requests, 12);
    assert.equal(counted.connections, counted.byPid.size, 'one pid per client port: one connection each');
    assert.ok(counted.connections <= 2, `at most 2 connections, got ${counted.connections}`);
    await waitUntil(() => open.size === 0, 'the run to close its keep-alive connections');
  });

  test('a non-200 answer is counted as such, and still as the answer of its worker', async (t) => {
    const { url } = await fakeCluster(t, (n, _req, res) => answerAs(res, 7, n % 2 === 0 ? 503 : 200));
    const counted = await countByWorker({ url, requests: 6, concurrency: 1, keepAlive: false });
    assert.equal(counted.non200, 3);
    assert.deepEqual(counted.byPid.get(7), { requests: 6, connections: 6 });
  });

  test('a reset connection and an answer without x-worker-pid are failures, counted by their code', async (t) => {
    const { url } = await fakeCluster(t, (n, _req, res) => {
      if (n % 3 === 0) return res.socket!.destroy();
      if (n % 3 === 1) return res.end('no pid');
      answerAs(res, 9);
    });
    const counted = await countByWorker({ url, requests: 9, concurrency: 1, keepAlive: false });
    assert.equal(counted.failures, 6);
    assert.deepEqual(counted.errorCodes, { ECONNRESET: 3, NO_PID: 3 });
    assert.deepEqual(counted.byPid.get(9), { requests: 3, connections: 3 });
    assert.equal(counted.connections, 3);
  });
});

describe("lesson 04's fairness and report", () => {
  test('an even split is max/min 1 and 0% variation', () => {
    assert.deepEqual(fairness([50, 50, 50, 50]), { maxOverMin: 1, cvPercent: 0 });
  });

  test('an uneven split: max over min, and the standard deviation as a share of the mean', () => {
    assert.deepEqual(fairness([30, 10]), { maxOverMin: 3, cvPercent: 50 });
    const { maxOverMin, cvPercent } = fairness([1, 2, 3]);
    assert.equal(maxOverMin, 3);
    assert.equal(cvPercent.toFixed(4), ((100 * Math.sqrt(2 / 3)) / 2).toFixed(4));
  });

  const run: Run = { url: 'http://127.0.0.1:3000/', requests: 40, concurrency: 2, keepAlive: false };

  test('the report has a row per worker by pid, its share and a bar scaled to the busiest, then the fairness', () => {
    assert.equal(
      report(run, tally([[202, 10, 10], [101, 30, 30]])),
      [
        '40 requests to http://127.0.0.1:3000/, 2 at a time, a new connection for each',
        '',
        '  worker pid  connections  requests   share',
        `         101           30        30   75.0%  ${'█'.repeat(40)}`,
        `         202           10        10   25.0%  ${'█'.repeat(13)}`,
        '',
        '  2 workers answered; fairness: max/min 3.00, coefficient of variation 50.0% (1.00 and 0% are perfectly even)',
      ].join('\n'),
    );
  });

  test('a worker with a sliver of the requests still gets a bar of one', () => {
    const rows = report({ ...run, requests: 1001 }, tally([[1, 1000, 1], [2, 1, 1]])).split('\n');
    assert.match(rows[4], /0\.1% {2}█$/);
  });

  test('over keep-alive the title counts the connections, one in the singular', () => {
    assert.match(report({ ...run, keepAlive: true }, tally([[5, 40, 2]])), /, 2 at a time, over 2 keep-alive connections\n/);
    assert.match(report({ ...run, keepAlive: true }, tally([[5, 40, 1]])), /, 2 at a time, over 1 keep-alive connection\n/);
  });

  test('one worker alone is named as such; none is said plainly', () => {
    assert.match(report(run, tally([[5, 40, 40]])), /\n {2}only 1 worker answered \(any other worker served none\)$/);
    assert.equal(report(run, tally([])), '40 requests to http://127.0.0.1:3000/, 2 at a time, a new connection for each\n\n  no worker answered');
  });
});
