// A pm2 of its own, for the tests and the comparison script: pm2's CLI from this project's
// node_modules against a fresh temporary PM2_HOME, so the learner's own ~/.pm2 is never touched.
// Its daemon and every worker (one process group) is killed by destroy(), or when this process exits.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { pidsInGroup, root, waitUntil } from '../../lib/launch.ts';

export const ecosystem = 'lessons/06-pm2/ecosystem.config.cjs';

const defaults = {
  cli: join(root, 'node_modules', 'pm2', 'bin', 'pm2'),
  instances: os.availableParallelism(), // as the ecosystem file starts
  // pm2 starts and reloads instances one at a time: about 1.2 s each on a busy 2-core machine, 0.5 s
  // each on 16 cores. So every limit on a whole-app command grows with the instance count.
  baseMs: 60_000,
  perInstanceMs: 5_000,
};

// The longest a start, a reload, or a wait for every instance may take on this machine.
export const appLimitMs = defaults.baseMs + defaults.perInstanceMs * defaults.instances;

// What `pm2 jlist` says about one instance (the fields this lesson reads).
export interface App {
  name: string;
  pid: number; // 0 while stopped or errored
  pm_id: number;
  pm2_env: {
    status: string; // 'online', 'stopped', 'errored', ...
    exec_mode: string;
    exec_interpreter: string;
    node_args: string[];
    node_version: string; // as the worker itself reported it
    restart_time: number;
    pm_out_log_path: string;
    pm_err_log_path: string;
  };
}

export type Pm2 = ReturnType<typeof pm2Home>;

const homes = new Map<string, () => number | undefined>(); // each live home, and how to find its daemon
// Whatever ends this process through 'exit' (exitOnSignals() makes Ctrl+C one) ends every daemon started here.
process.once('exit', () => homes.forEach((daemonPid, home) => removeHome(home, daemonPid())));

// Creates the home at once, so the caller can register destroy() before its first await.
export function pm2Home(port: number, extraEnv: Record<string, string> = {}) {
  const home = mkdtempSync(join(os.tmpdir(), 'every-core-pm2-'));
  const env = cliEnv({ ...extraEnv, PM2_HOME: home, PORT: String(port) });
  const running = new Set<Promise<string>>();
  const daemonPid = (): number | undefined => {
    const file = join(home, 'pm2.pid');
    return existsSync(file) ? Number(readFileSync(file, 'utf8')) : undefined;
  };
  homes.set(home, daemonPid);

  // Any command, even `pm2 --version`, starts a daemon in this home if none runs.
  const run = async (...args: string[]): Promise<string> => {
    const call = cli(args, env);
    running.add(call);
    return call.finally(() => running.delete(call));
  };

  const list = async (): Promise<App[]> => {
    const out = await run('jlist');
    const json = out.split('\n').findLast((line) => line.startsWith('['));
    if (json === undefined) throw new Error(`pm2 jlist printed no list:\n${out}`);
    return JSON.parse(json) as App[];
  };

  // Until `count` instances are online and each has logged lesson 01's own ready line.
  const waitOnline = async (count: number, also: (apps: App[]) => boolean = () => true): Promise<number[]> => {
    let apps: App[] = [];
    const isUp = (app: App) => app.pm2_env.status === 'online' && app.pid > 0 && hasListened(app);
    try {
      await waitUntil(async () => {
        apps = await list();
        return apps.length === count && apps.every(isUp) && also(apps);
      }, `${count} instances online and listening`, appLimitMs);
    } catch (error) {
      const seen = apps.map((app) => `${app.pm_id}: pid ${app.pid} ${app.pm2_env.status}${hasListened(app) ? ', listening' : ''}`);
      throw new Error(`${(error as Error).message}; last seen: ${seen.join('; ') || 'no instance'}`);
    }
    return apps.map((app) => app.pid);
  };

  // Kills the daemon's whole group, proves it empty, and removes the home.
  const destroy = async (): Promise<void> => {
    await Promise.allSettled(running);
    const pid = daemonPid();
    removeHome(home, pid);
    homes.delete(home);
    if (pid) await waitUntil(async () => (await pidsInGroup(pid)).length === 0, `the pm2 daemon's group ${pid} to be empty`);
  };

  return { home, port, url: `http://127.0.0.1:${port}`, run, list, waitOnline, daemonPid, destroy };
}

// The ecosystem file's cluster_app in a home of its own, online on every CPU; destroyed if it fails.
export async function startEcosystem(port: number): Promise<Pm2> {
  const pm2 = pm2Home(port);
  try {
    await pm2.run('start', ecosystem);
    await pm2.waitOnline(defaults.instances);
    return pm2;
  } catch (error) {
    await pm2.destroy();
    throw error;
  }
}

function hasListened(app: App): boolean {
  const log = existsSync(app.pm2_env.pm_out_log_path) ? readFileSync(app.pm2_env.pm_out_log_path, 'utf8') : '';
  return log.includes(`[pid ${app.pid}] listening on`);
}

// Run from the project root on Node, as `npm run pm2 -- <args>` does.
function cli(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const options = { cwd: root, env, timeout: appLimitMs, killSignal: 'SIGKILL' as const };
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [defaults.cli, ...args], options, (error, stdout, stderr) => {
      if (error) reject(new Error(`pm2 ${args.join(' ')} failed (${error.message.split('\n')[0]}):\n${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}

function cliEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.NODE_TEST_CONTEXT; // the test runner's own marker: pm2 and its workers are not tests
  // Under coverage (npm run coverage) every process runs its JavaScript several times slower: pm2's
  // daemon, and the workers it forks, then outlive its 5 s min_uptime even as they fail at boot, and
  // pm2 never gives up on them. Its daemon is pm2's code, its workers lesson 03's, measured elsewhere.
  delete env.NODE_V8_COVERAGE;
  return env;
}

function removeHome(home: string, daemonPid: number | undefined): void {
  try {
    if (daemonPid) process.kill(-daemonPid, 'SIGKILL'); // the daemon leads its group: it and every worker
  } catch {
    // ESRCH: the group is already gone
  }
  rmSync(home, { recursive: true, force: true });
}
