// Lesson 12's own Redis: a redis-server started for one run, as a part of the lesson and not of the
// machine. Its config, its pid file and anything it writes live in a temporary folder named after
// the run's pid (ec12-<pid>-...); a run that was killed leaves that folder behind, and the next run
// stops its redis-server and removes it. REDIS_URL uses a Redis you already have instead.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { commandOf, findExecutable, freePort, runs } from '../../lib/launch.ts';

export const redisDefaults = {
  prefix: 'ec12-', // the run's folder: ec12-<pid of the process that started it>-XXXXXX
  readyMs: 15_000, // redis-server starts in milliseconds; this bound is for a busy machine
  stopMs: 5_000, // asked to stop and still running this long after: SIGKILL
  maxMemory: '256mb', // no request may grow it without bound; BullMQ needs noeviction beside it
};

export interface Redis {
  url: string; // redis://:<password>@<host>:<port>
  pid?: number; // none when REDIS_URL points at a server this run did not start
  dir?: string;
  stop(): Promise<void>; // stops it and removes its folder
  stopNow(): void; // the same, synchronously, for an 'exit' handler: SIGKILL, then the folder
}

// What `redis-server` is missing, as the one line a learner needs; undefined when it is there.
export function redisServerProblem(): string | undefined {
  if (findExecutable('redis-server')) return undefined;
  return 'redis-server not found: install it (sudo apt-get install redis-server, or brew install redis), or set REDIS_URL to a Redis you have';
}

// `bind`: the addresses it listens on (127.0.0.1, and the kit's own namespace hosts' addresses).
// `tmp`: where its folder goes (a test keeps its own Redis apart from the lessons' runs).
export async function startRedis({ bind = ['127.0.0.1'], tmp = os.tmpdir() } = {}): Promise<Redis> {
  cleanLeftovers(tmp);
  const executable = findExecutable('redis-server');
  if (!executable) throw new Error(redisServerProblem());
  const dir = fs.mkdtempSync(path.join(tmp, `${redisDefaults.prefix}${process.pid}-`));
  const port = await freePort();
  const password = randomBytes(24).toString('hex'); // a new one each run; in a 0600 file, never on a command line
  fs.writeFileSync(path.join(dir, 'redis.conf'), config({ dir, port, password, bind }), { mode: 0o600 });
  // Detached: a Ctrl+C in the terminal reaches the lesson's processes, and they still need Redis
  // while they drain; the lesson stops it last.
  const child = spawn(executable, [path.join(dir, 'redis.conf')], { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify({ pid: child.pid, port }));
  const redis = handle(child, dir, `redis://:${password}@127.0.0.1:${port}`);
  try {
    await ready(child);
  } catch (error) {
    redis.stopNow();
    throw error;
  }
  return redis;
}

function config({ dir, port, password, bind }: { dir: string; port: number; password: string; bind: string[] }): string {
  return `# Written by lessons/12-shared-state/redis.ts for one run; removed when it stops.
bind ${bind.join(' ')}
port ${port}
protected-mode yes
requirepass ${password}
dir ${dir}
pidfile ${dir}/redis.pid
logfile ""
daemonize no
# Nothing on disk: the lesson's data lives as long as the run.
save ""
appendonly no
maxmemory ${redisDefaults.maxMemory}
maxmemory-policy noeviction
`;
}

function ready(child: ChildProcess): Promise<void> {
  let output = '';
  return new Promise((resolve, reject) => {
    const settle = (error?: Error) => {
      clearTimeout(timer);
      child.off('exit', onExit);
      child.stdout!.off('data', onData);
      child.stdout!.resume(); // from here on its log is read and dropped
      if (error) reject(error);
      else resolve();
    };
    const onData = (text: string) => {
      output += text;
      if (/Ready to accept connections/.test(output)) settle();
    };
    const onExit = (code: number | null) => settle(new Error(`redis-server exited at start (exit code ${code}):\n${output.trim()}`));
    const timer = setTimeout(() => settle(new Error(`redis-server was not ready after ${redisDefaults.readyMs} ms:\n${output.trim()}`)), redisDefaults.readyMs);
    child.stdout!.setEncoding('utf8').on('data', onData);
    child.stderr!.setEncoding('utf8').on('data', (text: string) => (output += text));
    child.once('exit', onExit);
  });
}

function handle(child: ChildProcess, dir: string, url: string): Redis {
  const hasExited = () => child.exitCode !== null || child.signalCode !== null;
  return {
    url,
    pid: child.pid,
    dir,
    async stop() {
      if (!hasExited()) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), redisDefaults.stopMs).unref();
        await exited;
        clearTimeout(timer);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
    stopNow() {
      if (!hasExited()) child.kill('SIGKILL'); // it holds nothing worth keeping: no disk, a throwaway run
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---- What a killed run left: its folder names its pid; its redis-server is stopped, the folder removed ----

// `tmp`: where runs keep their folders, os.tmpdir() (a test's own runs may keep theirs elsewhere).
export function cleanLeftovers(tmp = os.tmpdir()): string[] {
  const removed: string[] = [];
  for (const name of fs.readdirSync(tmp)) {
    const owner = new RegExp(`^${redisDefaults.prefix}(\\d+)-`).exec(name)?.[1];
    if (owner === undefined || runs(Number(owner), '12-shared-state')) continue;
    const dir = path.join(tmp, name);
    const { pid, port } = tryOr(() => JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as { pid: number; port: number }, { pid: 0, port: 0 });
    // Only a pid that still runs that run's redis-server: a pid is reused once its process is gone.
    if (pid > 0 && commandOf(pid).includes('redis-server') && commandOf(pid).includes(`:${port}`)) tryOr(() => process.kill(pid, 'SIGKILL'), undefined);
    fs.rmSync(dir, { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

function tryOr<T, F>(action: () => T, fallback: F): T | F {
  try {
    return action();
  } catch {
    return fallback;
  }
}
