// Lesson 01's stop, as tests that any server built on lesson 01's Server runs against itself:
// lesson 01's server.test.ts calls stopTests() for lesson 01, lesson 08's for lesson 08. One copy
// of the proof, so that a server that drifts from lesson 01's stop fails the same tests.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { describe, test } from 'node:test';
import { get, heavyLoops, isBun, sendAndFlush, start } from '../../lib/harness.ts';

const bunClosesAfterTheDrain =
  "Bun: its http.Server is no net.Server, so the server cannot close its listener alone; it closes it after the drain, with the idle connections";

// `file`: the server as a learner runs it; `long`: a path that keeps it busy for a moment.
export function stopTests(file: string, options: { ready?: RegExp; long?: string; result?: string } = {}): void {
  const loops = heavyLoops(100_000_000);
  const { ready = /listening on http:/, long = `/heavy?n=${loops}`, result = `The result of the CPU intensive task is ${loops}\n` } = options;
  // Each test stops a server of its own: side by side, as the servers do not share anything.
  describe('the stop', { concurrency: true }, () => {
    test('SIGTERM in the middle of a request still delivers its response, then exits 0', async (t) => {
      const lesson = await start(t, file, { ready });
      const request = sendAndFlush(lesson.url + long);
      await request.flushed;
      // Accepted in arrival order: once a later connection is answered, the long one is in.
      await get(lesson.url);
      process.kill(lesson.pid, 'SIGTERM');
      assert.equal(await request, result);
      assert.deepEqual(await lesson.exited, { code: 0, signal: null });
    });

    // A closed terminal sends SIGHUP: a stop, not a crash. The handlers are in place before the first
    // line, so a signal sent the moment a learner sees the server start is a graceful stop too.
    test('SIGHUP sent as soon as its first line appears stops it gracefully: exit 0', async (t) => {
      const lesson = await start(t, file, { ready: /\S/ });
      process.kill(lesson.pid, 'SIGHUP');
      assert.deepEqual(await lesson.exited, { code: 0, signal: null }, lesson.output());
      assert.match(lesson.output(), /stopping/);
    });

    test('after SIGTERM a keep-alive client is told Connection: close on its next answer', async (t) => {
      const lesson = await start(t, file, { ready });
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      t.after(() => agent.destroy());
      assert.equal((await get(lesson.url, { agent })).headers.connection, 'keep-alive');
      process.kill(lesson.pid, 'SIGTERM');
      await lesson.waitFor(/stopping/);
      const last = await get(lesson.url, { agent });
      assert.equal(last.status, 200);
      assert.equal(last.headers.connection, 'close');
      assert.deepEqual(await lesson.exited, { code: 0, signal: null });
    });

    // Node 26.4+ destroys a connection that has sent nothing yet when the http server closes; the
    // server must stop accepting first and answer such a connection during the drain.
    test('after SIGTERM new connections are refused at once, and one accepted before still gets its answer', { skip: isBun ? bunClosesAfterTheDrain : false }, async (t) => {
      const lesson = await start(t, file, { ready });
      const early = net.connect(lesson.port, '127.0.0.1');
      t.after(() => early.destroy());
      let response = '';
      let error = '';
      early.setEncoding('utf8').on('data', (chunk) => (response += chunk));
      early.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
      const closed = once(early, 'close', { signal: AbortSignal.timeout(10_000) });
      await once(early, 'connect');
      // The server accepts in arrival order: once a later connection is answered, `early` is accepted.
      assert.equal((await get(lesson.url)).status, 200);
      process.kill(lesson.pid, 'SIGTERM');
      await lesson.waitFor(/stopping/);
      await assert.rejects(get(lesson.url), { code: 'ECONNREFUSED' });
      // Sent only now, after the stop: a connection accepted before it is answered, never just closed.
      early.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      await closed;
      assert.match(response, /^HTTP\/1\.1 200 OK\r\n/, `the connection accepted before SIGTERM got ${JSON.stringify(response)} ${error}`);
      assert.match(response, /\r\nconnection: close\r\n/i);
      assert.deepEqual(await lesson.exited, { code: 0, signal: null });
    });
  });
}
