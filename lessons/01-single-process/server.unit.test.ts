// Lesson 01's Server in this process: what needs no process of its own to prove (the stop's exit
// code, targets that cannot be parsed, a refused body, the routes' refusals).

import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { get, importLesson } from '../../lib/harness.ts';

// On the exercises track (npm run check), the learner's server.ts.
const { routes, Server, splitTarget } = await importLesson<typeof import('./server.ts')>('lessons/01-single-process/server.ts');
type Server = InstanceType<typeof Server>;

// A server on a free port, its log lines kept out of the test's output.
async function listening(t: import('node:test').TestContext, options: ConstructorParameters<typeof Server>[0] = {}): Promise<{ server: Server; url: string }> {
  const server = new Server({ port: 0, ...options });
  t.mock.method(server, 'log', () => {});
  t.mock.method(console, 'error', () => {});
  const url = await server.listen();
  t.after(() => server.http.closeAllConnections());
  t.after(() => server.http.close());
  return { server, url };
}

// One raw request, written as given; resolves to what came back before the server closed it.
function raw(url: string, request: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.end(request));
    let text = '';
    socket.setEncoding('utf8').on('data', (chunk) => (text += chunk));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
}

describe("lesson 01's Server, in-process", () => {
  test('a stop with nothing open resolves 0 after the drain, and says stopped once', async (t) => {
    const { server } = await listening(t, { drainMs: 10 });
    const stopped: number[] = [];
    server.on('stopped', (code) => stopped.push(code));
    assert.equal(await server.stop(), 0);
    assert.equal(await server.stop(), 0, 'a second stop gives the same answer');
    assert.deepEqual(stopped, [0]);
  });

  test('a stop that has to cut a request off after the grace resolves 1, so a supervisor can tell', async (t) => {
    const { server, url } = await listening(t, { drainMs: 10, graceMs: 50, handle: () => {} });
    const request = get(url).catch((error: NodeJS.ErrnoException) => error.code);
    await once(server.http, 'request'); // the request is in, and its handler never answers
    assert.equal(await server.stop(), 1);
    assert.equal(await request, 'ECONNRESET');
  });

  test('a request answered within the grace lets the stop resolve 0', async (t) => {
    let answerNow = () => {};
    const { server, url } = await listening(t, { drainMs: 10, graceMs: 5_000, handle: (_req, res) => (answerNow = () => res.end('late\n')) });
    const request = get(url);
    await once(server.http, 'request');
    const stop = server.stop();
    answerNow();
    assert.equal((await request).body, 'late\n');
    assert.equal(await stop, 0);
  });

  // The drain ends by closing the connections idle at that moment. A request that reached this
  // process while it was busy past that moment (a long count, or a machine too busy to run it) waits
  // in its socket, unread, so its connection looks idle. Here a second thread sends it while the
  // server's thread is held in a handler until the drain is over; the stop must read it, not cut it.
  test('a request sent on an open connection while the server is busy past the drain is answered, not cut as idle', async (t) => {
    const drainMs = 20;
    const sent = new Int32Array(new SharedArrayBuffer(4));
    let stopAt = 0;
    const { server, url } = await listening(t, {
      drainMs,
      graceMs: 5_000,
      handle: (req, res) => {
        if (req.url === '/busy') {
          late.postMessage('send');
          Atomics.wait(sent, 0, 0, 5_000); // until the other thread has sent its request
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.max(0, stopAt + 2 * drainMs - Date.now()));
        }
        res.end('ok\n');
      },
    });
    const accepted = new Promise<void>((resolve) => {
      let count = 0;
      server.http.on('connection', () => ++count === 2 && resolve());
    });
    const late = lateSender(Number(new URL(url).port), sent);
    t.after(() => late.terminate());
    const busy = net.connect(Number(new URL(url).port), '127.0.0.1');
    t.after(() => busy.destroy());
    await accepted; // both connections are the server's, neither has sent anything
    const stop = server.stop();
    stopAt = Date.now();
    busy.write('GET /busy HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const [answer] = (await once(late, 'message')) as [string];
    assert.match(answer, /^HTTP\/1\.1 200 OK\r\n[^]*\r\nconnection: close\r\n[^]*\r\n\r\nok\n$/i, `the late request got ${JSON.stringify(answer)}`);
    assert.equal(await stop, 0);
  });

  test('splitTarget splits on the first ? and never throws, whatever the target', () => {
    assert.deepEqual(splitTarget('/heavy?n=1?x'), { path: '/heavy', query: 'n=1?x' });
    assert.deepEqual(splitTarget('//['), { path: '//[', query: '' });
    assert.deepEqual(splitTarget(''), { path: '', query: '' });
    for (const target of ['%zz', 'http://[::1', '*', '/\u0000', '?']) assert.doesNotThrow(() => splitTarget(target));
  });

  test('targets that cannot be parsed as URLs get 404 or 400, and the server keeps serving', async (t) => {
    const { url } = await listening(t);
    for (const target of ['//[', '/%zz', 'http://[::1/heavy', '/heavy?n=%zz', '/heavy?n=1%00', '*']) {
      const answer = await raw(url, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      assert.match(answer, /^HTTP\/1\.1 4\d\d /, `GET ${target}: ${JSON.stringify(answer.slice(0, 60))}`);
    }
    assert.equal((await get(`${url}/`)).status, 200);
  });

  test('a GET with a body gets 413 and the connection is closed, however long the body would be', async (t) => {
    const { url } = await listening(t);
    const answer = await raw(url, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
    assert.match(answer, /^HTTP\/1\.1 413 /);
    assert.match(answer, /\r\nconnection: close\r\n/i);
  });

  test("the routes answer 404, 405 with Allow, and 400 with the reason, as one line each", async (t) => {
    const { url } = await listening(t, { handle: routes() });
    assert.equal((await get(`${url}/nope`)).body, 'Not found: try / or /heavy\n');
    const post = await get(`${url}/heavy`, { method: 'POST' });
    assert.deepEqual([post.status, post.headers.allow], [405, 'GET, HEAD']);
    const bad = await get(`${url}/heavy?n=0`);
    assert.deepEqual([bad.status, bad.body], [400, 'n must be a whole number from 1 to 10000000000, got "0"\n']);
  });

  test('a port in use rejects listen() with one line that names the port and what to do', async (t) => {
    const { server } = await listening(t);
    const port = (server.http.address() as net.AddressInfo).port;
    const second = new Server({ port });
    await assert.rejects(second.listen(), { message: `cannot listen on 127.0.0.1:${port}: port ${port} is already in use: stop what holds it, or pick another with PORT=${port + 1}` });
  });
});

// A thread of its own with one open connection: on 'send' it sends a GET on it, marks `sent` and
// posts back whatever came back before the connection closed. Its own thread, so that it can send
// while this one is held.
function lateSender(port: number, sent: Int32Array): Worker {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const socket = require('node:net').connect(workerData.port, '127.0.0.1');
    let text = '';
    socket.setEncoding('utf8').on('data', (chunk) => (text += chunk));
    socket.on('error', () => {});
    socket.on('close', () => parentPort.postMessage(text));
    parentPort.once('message', () => socket.write('GET / HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n', () => {
      Atomics.store(workerData.sent, 0, 1);
      Atomics.notify(workerData.sent, 0);
    }));`;
  return new Worker(code, { eval: true, workerData: { port, sent } });
}
