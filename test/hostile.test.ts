// Every server of the kit, fed what no browser sends: broken request lines and targets, bad
// percent-encoding, oversized and half-sent headers, a huge chunked body. Each must answer 4xx or
// close that one connection, and go on serving the next client. Each server is started once and
// gets every case, over raw sockets, one after another.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, get, isAlive, isBun, launch, type Lesson } from '../lib/harness.ts';
import { reusePortProblem } from '../lessons/09-reuseport/support.ts';

const waitMs = 30_000; // the harness's longest wait, for an answer that never comes
const hugeBodyBytes = 64 * 1024 * 1024; // a body no server here should read to its end
// Connections left in the middle of their headers at once: well under lesson 11's cap of 32, which
// on Bun also still counts the connections the cases above closed a moment ago (seen: a reset at 20).
const halfSentCount = 8;
const resetRetryMs = 2_000; // Bun: how long a reset of the next client is tried again (see servesTheNextClient)

interface Server {
  name: string;
  file: string;
  args?: string[];
  env?: Record<string, string>;
  freePortIn?: string; // an environment variable that must name a free port of its own
  ready: RegExp;
  skip: string | false;
  // Where the page under test listens and what a normal GET asks for, once the lesson is up.
  find?(lesson: Lesson): Promise<{ port: number; okPath: string; secret?: string }>;
  prepare?(): void;
  cleanUp?(lesson: Lesson): void;
}

const privateTmp = join(os.tmpdir(), `every-core-hostile-${process.pid}`); // made by the test that uses it
const nginxMissing = findNginx() ? false : 'nginx is not installed (sudo apt-get install nginx, or brew install nginx)';

const servers: Server[] = [
  { name: "lesson 01's server", file: 'lessons/01-single-process/server.ts', ready: /listening on http:/, skip: false },
  { name: "lesson 03's cluster", file: 'lessons/03-cluster/primary.ts', env: { WORKERS: '2' }, ready: /cluster ready/, skip: false },
  { name: "lesson 08's server", file: 'lessons/08-worker-threads/server.ts', env: { THREADS: '1' }, ready: /listening on http:/, skip: false },
  { name: "lesson 09's cluster", file: 'lessons/09-reuseport/primary.ts', env: { WORKERS: '2' }, ready: /cluster ready/, skip: reusePortProblem() ?? false },
  {
    // The front is the same nginx with or without namespaces; --local needs no root and starts one host.
    // Its TMPDIR is a private folder (mode 700, as macOS gives every user, and as a test runner may):
    // nginx's workers, an unprivileged user when it starts as root, cannot reach a file there.
    name: "lesson 10's nginx front (--local)",
    file: 'lessons/10-many-machines/hosts.ts',
    args: ['--local', '--hosts', '1'],
    env: { WORKERS: '1', TMPDIR: privateTmp },
    ready: /front: http:\/\/127\.0\.0\.1:\d+/,
    skip: nginxMissing,
    prepare: makePrivateTmp,
    cleanUp: () => rmSync(privateTmp, { recursive: true, force: true }),
  },
  {
    name: "lesson 11's page",
    file: 'lessons/11-watch/primary.ts',
    env: { WORKERS: '1' },
    freePortIn: 'WATCH_PORT',
    ready: /watch the cluster: http:\/\/127\.0\.0\.1:\d+\/\?secret=[0-9a-f]+/,
    skip: false,
    find: async (lesson) => {
      const [, port, secret] = (await lesson.waitFor(/watch the cluster: http:\/\/127\.0\.0\.1:(\d+)\/\?secret=([0-9a-f]+)/)) as string[];
      return { port: Number(port), okPath: `/?secret=${secret}`, secret };
    },
  },
];

// The private TMPDIR, after removing those of earlier runs that a kill -9 ended before their after hooks.
function makePrivateTmp(): void {
  for (const name of readdirSync(os.tmpdir())) {
    const owner = /^every-core-hostile-(\d+)$/.exec(name)?.[1];
    if (owner && !isAlive(Number(owner))) rmSync(join(os.tmpdir(), name), { recursive: true, force: true });
  }
  mkdirSync(privateTmp, { mode: 0o700 });
}

// A request as raw bytes, for a server on `hostPort` (what a client puts in Host).
interface Case {
  name: string;
  bytes: (hostPort: string) => string | Buffer;
  mayAnswer?: boolean; // a well-formed request to an odd place: any answer but a 5xx is right
  alsoRight?: number; // a 5xx that is the right answer (505 for a version nobody speaks)
}

const cases: Case[] = [
  { name: 'a request line of control bytes', bytes: () => '\x00\x01\x02\x7f nonsense\r\n\r\n' },
  { name: 'a request line with no target and no version', bytes: () => 'GET\r\n\r\n' },
  { name: 'an unknown HTTP version', bytes: (h) => `GET / HTTP/9.9\r\nHost: ${h}\r\n\r\n`, alsoRight: 505 },
  { name: 'a target with a space in it', bytes: (h) => `GET /a b HTTP/1.1\r\nHost: ${h}\r\n\r\n` },
  { name: 'a target that does not start with /', bytes: (h) => `GET heavy HTTP/1.1\r\nHost: ${h}\r\n\r\n` },
  { name: 'a target of raw bytes that are not UTF-8', bytes: (h) => Buffer.concat([Buffer.from('GET /'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(` HTTP/1.1\r\nHost: ${h}\r\n\r\n`)]) },
  { name: 'the target //', bytes: (h) => `GET // HTTP/1.1\r\nHost: ${h}\r\n\r\n` },
  { name: 'the target //[', bytes: (h) => `GET //[ HTTP/1.1\r\nHost: ${h}\r\n\r\n` },
  { name: 'the target //host/path', bytes: (h) => `GET //127.0.0.1/heavy HTTP/1.1\r\nHost: ${h}\r\n\r\n` },
  { name: 'an absolute-form target', bytes: (h) => `GET http://${h}/nowhere HTTP/1.1\r\nHost: ${h}\r\n\r\n`, mayAnswer: true },
  { name: 'an absolute-form target naming another host', bytes: (h) => `GET http://example.invalid/ HTTP/1.1\r\nHost: ${h}\r\n\r\n`, mayAnswer: true },
  { name: 'an absolute-form target with a bad authority', bytes: (h) => `GET http://[/ HTTP/1.1\r\nHost: ${h}\r\n\r\n` },
  { name: 'bad percent-encoding in the path', bytes: (h) => `GET /%zz%E0%A4%A HTTP/1.1\r\nHost: ${h}\r\n\r\n` },
  { name: 'bad percent-encoding in the query', bytes: (h) => `GET /heavy?n=%zz&%=%E0%A4%A HTTP/1.1\r\nHost: ${h}\r\n\r\n` },
  { name: 'a header line with no colon', bytes: (h) => `GET / HTTP/1.1\r\nHost: ${h}\r\nno colon here\r\n\r\n` },
  { name: 'no Host header in HTTP/1.1', bytes: () => 'GET / HTTP/1.1\r\n\r\n' },
  { name: 'one header of 20 KB', bytes: (h) => `GET / HTTP/1.1\r\nHost: ${h}\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n` },
  { name: '20 KB of small headers', bytes: (h) => `GET / HTTP/1.1\r\nHost: ${h}\r\n${'X-Small: 0123456789abcdef\r\n'.repeat(800)}\r\n` },
  { name: 'Content-Length and Transfer-Encoding together', bytes: (h) => `POST / HTTP/1.1\r\nHost: ${h}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n` },
  { name: 'a negative Content-Length', bytes: (h) => `POST / HTTP/1.1\r\nHost: ${h}\r\nContent-Length: -1\r\n\r\n` },
  { name: 'a chunk size that is no number', bytes: (h) => `POST / HTTP/1.1\r\nHost: ${h}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n` },
];

// Each server on its own, side by side; within a server the tests run in order, one client at a time.
describe('hostile input', { concurrency: true }, () => {
  for (const server of servers) {
    describe(`hostile input to ${server.name}`, { skip: server.skip, concurrency: 1 }, () => {
      let lesson: Lesson;
      let page: { port: number; okPath: string; secret?: string };
      let hostPort = '';

      before(async () => {
        server.prepare?.();
        const env = { ...server.env, ...(server.freePortIn ? { [server.freePortIn]: String(await freePort()) } : {}) };
        lesson = await launch(server.file, { ready: server.ready, args: server.args, env }, (started) => {
          lesson = started;
        });
        page = server.find ? await server.find(lesson) : { port: lesson.port, okPath: '/' };
        hostPort = `127.0.0.1:${page.port}`;
      });

      // SIGTERM first, so that a lesson that cleans up after itself (lesson 10's nginx and folders) can.
      after(async () => {
        if (!lesson) return;
        if (lesson.child.exitCode === null && lesson.child.signalCode === null) {
          process.kill(lesson.pid, 'SIGTERM');
          await lesson.exited.catch(() => undefined);
        }
        await lesson.stop();
        server.cleanUp?.(lesson);
      });

      const servesTheNextClient = async (what: string) => {
        const started = Date.now();
        let reply = await nextGet();
        // Bun only: its http.Server counts a connection against maxConnections for a moment after it has
        // closed, and resets a fresh client meanwhile (lesson 11's page, cap 32: 1 to 3 resets in a row
        // now and then, in bare bun runs and in CI, with no connection to the page open). A reset is
        // tried again, for at most resetRetryMs; a server that stays down still fails here.
        while (isBun && reply.status === 'read ECONNRESET' && Date.now() - started < resetRetryMs) {
          await sleep(50);
          reply = await nextGet();
        }
        assert.equal(reply.status, 200, `after ${what}, a normal GET got ${reply.status}; the lesson's output:\n${lesson.output()}`);
      };
      const nextGet = () => get(`http://${hostPort}${page.okPath}`).catch((error: Error) => ({ status: error.message, body: '' }));

      for (const hostile of cases) {
        test(`${hostile.name}: ${hostile.mayAnswer ? 'no 5xx' : '4xx or the connection closed'}, and the next client is served`, async () => {
          const outcome = await exchange(page.port, hostile.bytes(hostPort));
          if (hostile.mayAnswer) assert.ok(outcome.status === null || outcome.status < 500, `${hostile.name}: ${outcome.head}`);
          else assert.ok(outcome.status === null || outcome.status === hostile.alsoRight || (outcome.status >= 400 && outcome.status < 500), `${hostile.name}: ${outcome.head}`);
          await servesTheNextClient(hostile.name);
        });
      }

      test(`${halfSentCount} connections stopped half-way through their headers do not keep the next client waiting`, async () => {
        const sockets = await Promise.all(Array.from({ length: halfSentCount }, () => halfSent(page.port, hostPort)));
        try {
          await servesTheNextClient('half-sent headers');
        } finally {
          sockets.forEach((socket) => socket.destroy());
        }
      });

      test('a huge chunked body is refused (4xx or closed) before its end, and the next client is served', async () => {
        // Lesson 11's actions read a body; elsewhere a POST is refused by its method or its path.
        const target = page.secret ? `/more` : '/';
        const secret = page.secret ? `X-Watch-Secret: ${page.secret}\r\n` : '';
        const head = `POST ${target} HTTP/1.1\r\nHost: ${hostPort}\r\n${secret}Transfer-Encoding: chunked\r\n\r\n`;
        const outcome = await streamChunked(page.port, head, hugeBodyBytes);
        assert.ok(outcome.status === null || (outcome.status >= 400 && outcome.status < 500), `${outcome.head}; the lesson's output:\n${lesson.output()}`);
        assert.ok(outcome.sentBytes < hugeBodyBytes, `the server read all ${hugeBodyBytes} bytes of the body before it answered ${outcome.status}`);
        await servesTheNextClient('a huge chunked body');
      });
    });
  }
});

interface Outcome {
  status: number | null; // null: closed without an answer
  head: string; // the answer's first line, or what happened instead
}

// Sends the bytes on a fresh connection and waits for the answer's status line or the close.
async function exchange(port: number, bytes: string | Buffer): Promise<Outcome> {
  const socket = net.connect(port, '127.0.0.1');
  const outcome = outcomeOf(socket);
  socket.on('error', () => undefined); // a reset is one way to close
  socket.write(bytes);
  return outcome;
}

function outcomeOf(socket: net.Socket): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`neither an answer nor a close within ${waitMs} ms; received: ${JSON.stringify(received.slice(0, 200))}`));
    }, waitMs);
    const settle = () => {
      clearTimeout(timer);
      socket.destroy();
      const firstLine = received.split('\r\n')[0];
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(firstLine)?.[1];
      resolve({ status: status === undefined ? null : Number(status), head: firstLine || 'closed without an answer' });
    };
    socket.setEncoding('latin1').on('data', (chunk: string) => {
      received += chunk;
      if (received.includes('\r\n')) settle();
    });
    socket.on('close', settle);
  });
}

// A connection that sent the start of a request and then nothing.
async function halfSent(port: number, hostPort: string): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  socket.write(`GET / HTTP/1.1\r\nHost: ${hostPort}\r\nX-Half: some`);
  return socket;
}

// Sends the head, then chunks of a body up to `bodyBytes`, as fast as the server takes them, until
// the server answers or closes.
async function streamChunked(port: number, head: string, bodyBytes: number): Promise<Outcome & { sentBytes: number }> {
  const socket = net.connect(port, '127.0.0.1');
  const outcome = outcomeOf(socket);
  let isOver = false;
  void outcome.then(() => (isOver = true), () => (isOver = true));
  socket.on('error', () => undefined);
  const chunk = Buffer.alloc(64 * 1024, 'x');
  const framed = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
  socket.write(head);
  let sentBytes = 0;
  while (!isOver && sentBytes < bodyBytes) {
    sentBytes += chunk.length;
    // once() rejects on 'error': a server that refuses the body closes the socket under this write,
    // and that close is the outcome, not a failure of the test. A write the kernel took at once
    // still yields a turn of the event loop, so an answer that came meanwhile is read: a server that
    // refuses and then discards the rest (nginx) drains the socket as fast as this loop can fill it.
    if (socket.write(framed)) await new Promise((resolve) => setImmediate(resolve));
    else await Promise.race([once(socket, 'drain').catch(() => undefined), outcome.catch(() => undefined)]);
  }
  if (!isOver) socket.write('0\r\n\r\n');
  return { ...(await outcome), sentBytes };
}

function findNginx(): boolean {
  const path = process.env.NGINX ?? 'nginx';
  const dirs = ['/usr/sbin', '/sbin', '/usr/local/sbin'];
  const env = { ...process.env, PATH: [process.env.PATH, ...dirs].join(':') };
  return spawnSync(path, ['-v'], { env }).status === 0;
}
