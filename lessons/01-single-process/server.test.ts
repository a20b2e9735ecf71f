import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { describe, test } from 'node:test';
import { get, heavyLoops, heldPort, sendAndFlush, start } from '../../lib/harness.ts';
import { stopTests } from './stop-tests.ts';

const server = 'lessons/01-single-process/server.ts';
const ready = /listening on http:/;

describe('lesson 01: one process, one thread', () => {
  test("/heavy counts to 5,000,000 and answers with the seed's sentence", async (t) => {
    const lesson = await start(t, server, { ready });
    const reply = await get(`${lesson.url}/heavy`);
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'The result of the CPU intensive task is 5000000\n');
  });

  test('every response comes from one process, named in x-worker-pid', async (t) => {
    const lesson = await start(t, server, { ready });
    const replies = await Promise.all(['/', '/heavy', '/', '/heavy?n=10'].map((path) => get(lesson.url + path)));
    assert.deepEqual(new Set(replies.map((reply) => reply.pid)), new Set([lesson.pid]));
    assert.equal(replies[0].body, `Served by pid ${lesson.pid}\n`);
  });

  test('while one long /heavy runs, a request to / waits for it to finish', async (t) => {
    const lesson = await start(t, server, { ready });
    const finished: string[] = [];
    const path = `/heavy?n=${heavyLoops(100_000_000)}`;
    const long = sendAndFlush(lesson.url + path);
    await long.flushed;
    const quick = get(`${lesson.url}/`);
    await Promise.all([long.then(() => finished.push(path)), quick.then(() => finished.push('/'))]);
    assert.deepEqual(finished, [path, '/'], 'the quick request overtook the long one');
  });

  test('?n= sets the loop count, and a bad or out-of-range n gets 400 with the reason', async (t) => {
    const lesson = await start(t, server, { ready });
    assert.equal((await get(`${lesson.url}/heavy?n=42`)).body, 'The result of the CPU intensive task is 42\n');
    for (const n of ['abc', '0', '-5', '1e6', '', '10000000001', '99999999999999999999']) {
      const reply = await get(`${lesson.url}/heavy?n=${n}`);
      assert.equal(reply.status, 400, `n=${n}`);
      assert.match(reply.body, /^n must be a whole number from 1 to 10000000000, got ".*"\n$/, `n=${n}`);
    }
  });

  test('an unknown path gets 404 and another method gets 405 with Allow', async (t) => {
    const lesson = await start(t, server, { ready });
    assert.equal((await get(`${lesson.url}/nope`)).status, 404);
    const post = await get(`${lesson.url}/heavy`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
  });

  test('a port already in use ends the server with one clear line and exit code 1', async (t) => {
    const port = await heldPort(t);
    const lesson = await start(t, server, { ready: false, port });
    assert.deepEqual(await lesson.exited, { code: 1, signal: null });
    assert.match(lesson.output(), new RegExp(`cannot listen on 127.0.0.1:${port}: port ${port} is already in use`));
  });

  test('a bad PORT ends the server with one clear line and exit code 1', async (t) => {
    const lesson = await start(t, server, { ready: false, env: { PORT: 'eighty' } });
    assert.deepEqual(await lesson.exited, { code: 1, signal: null });
    assert.match(lesson.output(), /PORT must be a whole number from 0 to 65535, got "eighty"/);
  });

  stopTests(server);
});
