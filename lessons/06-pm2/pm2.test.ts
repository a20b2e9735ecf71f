import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { alivePids, countByPid, freePort, get, heldPort, isBun, pidsInGroup, start, startLoad, waitUntil } from '../../lib/harness.ts';
import { appLimitMs, ecosystem, pm2Home, type App, type Pm2 } from './pm2-home.ts';

const onBun = isBun ? 'Bun: pm2 cluster mode needs Node (process.execPath is bun here; pm2 runs Bun apps in fork mode only)' : false;
const cpus = os.availableParallelism();
const stripsTypes = Boolean((process.features as { typescript?: unknown }).typescript);

// Four pm2 homes, each with its own daemon and port: the blocks run side by side; inside each block
// the tests run in order (a subtest would inherit `concurrency: true`).
describe('lesson 06: pm2', { concurrency: true }, () => {
  describe('pm2 runs lesson 01 on every core, in a pm2 home of its own', { concurrency: 1 }, () => {
    // One daemon for this whole block, in a temporary PM2_HOME: the learner's own ~/.pm2 is never
    // touched. The tests run in order, each on the state the one before left.
    let pm2!: Pm2; // set in before(), on Node
    let workers: number[] = [];
    after(() => pm2?.destroy());
    before(async () => {
      if (isBun) return;
      pm2 = pm2Home(await freePort(), { PATH: `${fakeBunDir()}:${process.env.PATH}` });
      workers = await startApp(pm2);
    });

    test('starting the ecosystem file brings up one online instance per CPU, answering from more than one pid', { skip: onBun }, async () => {
      const apps = await pm2.list();
      assert.deepEqual(apps.map((app) => [app.name, app.pm2_env.exec_mode, app.pm2_env.status]), Array(cpus).fill(['cluster_app', 'cluster_mode', 'online']));
      const counts = await countByPid(pm2.url, 20 * cpus, (seen) => seen.size === cpus);
      assert.deepEqual([...counts.keys()].sort(), [...workers].sort(), `answers by pid: ${JSON.stringify([...counts])}`);
      assert.ok(counts.size > 1, `only ${[...counts.keys()]} answered`);
    });

    const loader = stripsTypes ? 'with no loader (this Node strips the types itself)' : "through the kit's loader (this Node cannot strip types)";
    test(`the instances run on Node ${loader}, even with a bun on PATH`, { skip: onBun }, async () => {
      for (const app of await pm2.list()) {
        assert.equal(app.pm2_env.exec_interpreter, 'node');
        if (stripsTypes) assert.deepEqual(app.pm2_env.node_args, []);
        else assert.match(app.pm2_env.node_args.join(' '), /^--import file:\/\/\/.*\/lib\/strip-types\.mjs$/);
        assert.equal(app.pm2_env.node_version, process.versions.node);
        const binary = executableOf(app.pid);
        assert.equal(basename(binary), basename(realpathSync(process.execPath)), `pid ${app.pid} runs ${binary}`);
      }
    });

    test('a worker killed with SIGKILL is restarted by pm2: a new pid, its restart count up, still every CPU online', { skip: onBun }, async () => {
      const [victim] = await pm2.list();
      process.kill(victim.pid, 'SIGKILL');
      await waitUntil(async () => (await alivePids([victim.pid])).length === 0, `pid ${victim.pid} to die`);
      const survivors = workers.filter((pid) => pid !== victim.pid);
      workers = await pm2.waitOnline(cpus, (apps) => !apps.some((app) => app.pid === victim.pid));
      const replacement = (await pm2.list()).find((app) => app.pm_id === victim.pm_id)!;
      assert.notEqual(replacement.pid, victim.pid);
      assert.equal(replacement.pm2_env.restart_time, victim.pm2_env.restart_time + 1);
      assert.deepEqual(workers.filter((pid) => pid !== replacement.pid).sort(), survivors.sort(), 'the other workers were left alone');
      const counts = await countByPid(pm2.url, 20 * cpus, (seen) => seen.has(replacement.pid));
      assert.ok(counts.has(replacement.pid), `the replacement ${replacement.pid} never answered: ${JSON.stringify([...counts])}`);
    });

    // Both kinds of client at once, each counted on its own: fresh connections break on a closed
    // listener, keep-alive ones on a closed connection.
    test('reload under continuous load replaces every pid and fails 0 requests, with a fresh connection per request and with keep-alive clients', { skip: onBun }, async (t) => {
      const loads = [false, true].map((keepAlive) => ({
        clients: keepAlive ? 'keep-alive clients' : 'a fresh connection per request',
        load: startLoad(pm2.url, { connections: 4, keepAlive, limitMs: appLimitMs }),
      }));
      t.after(() => Promise.all(loads.map(({ load }) => load.stop())));
      await waitUntil(() => loads.every(({ load }) => load.count.requests >= 50), 'both loads to get going');
      await pm2.run('reload', 'cluster_app');
      const answeredByReload = loads.map(({ load }) => load.count.requests);
      const old = workers;
      workers = await pm2.waitOnline(cpus);
      await waitUntil(() => loads.every(({ load }, i) => load.count.requests >= answeredByReload[i] + 50), 'requests answered after the reload, by both loads', appLimitMs);
      const counts = await Promise.all(loads.map(({ load }) => load.stop()));
      assert.deepEqual(workers.filter((pid) => old.includes(pid)), [], `old ${old}, now ${workers}`);
      assert.deepEqual(await alivePids(old), [], 'every old worker has exited');
      for (const [i, count] of counts.entries()) {
        const { clients } = loads[i];
        t.diagnostic(`${clients}: ${count.requests} requests, ${count.failures} failed, ${count.non200} not 200; by pid ${JSON.stringify(count.byPid)}`);
        assert.equal(count.failures, 0, `${clients}: failures: ${JSON.stringify(count.errorCodes)}`);
        assert.equal(count.non200, 0, `${clients}: answers other than 200`);
        assert.ok(workers.some((pid) => count.byPid[pid] > 0), `${clients}: no new worker answered: ${JSON.stringify(count.byPid)}`);
      }
    });
  });

  // The rest of a learner's walk, on an app of its own: it need not wait for the reload above
  // (lesson 06's file took 7.2 s so on Node 26.10.0, against 8.1 s with one walk).
  describe('pm2 stops, deletes and is killed, in a pm2 home of its own', { concurrency: 1 }, () => {
    let pm2!: Pm2; // set in before(), on Node
    let workers: number[] = [];
    after(() => pm2?.destroy());
    before(async () => {
      if (isBun) return;
      pm2 = pm2Home(await freePort());
      workers = await startApp(pm2);
    });

    test('stop leaves the app listed but no longer listening', { skip: onBun }, async () => {
      await pm2.run('stop', 'cluster_app');
      const apps = await pm2.list();
      assert.deepEqual(apps.map((app) => [app.name, app.pm2_env.status, app.pid]), Array(cpus).fill(['cluster_app', 'stopped', 0]));
      assert.deepEqual(await alivePids(workers), []);
      await assert.rejects(get(pm2.url), { code: 'ECONNREFUSED' });
    });

    test('delete removes the app from the list', { skip: onBun }, async () => {
      await pm2.run('delete', 'cluster_app');
      assert.deepEqual(await pm2.list(), []);
    });

    test('a pm2 command that fails rejects with the command, its exit and what pm2 printed', { skip: onBun }, async () => {
      await assert.rejects(pm2.run('no-such-command'), { message: /^pm2 no-such-command failed \(Command failed: .*\):\n[^]*pm2 -h, --help +all available commands/ });
    });

    test('kill ends the pm2 daemon itself: its pid is gone, not only the CLI says so', { skip: onBun }, async () => {
      const daemon = pm2.daemonPid()!;
      assert.deepEqual(await alivePids([daemon]), [daemon], 'the daemon runs before kill');
      await pm2.run('kill');
      await waitUntil(async () => (await alivePids([daemon])).length === 0, `the daemon, pid ${daemon}, to be gone`);
      assert.deepEqual(await pidsInGroup(daemon), []);
    });
  });

  describe('pm2 gives up on a broken app instead of restarting it forever', { concurrency: 1 }, () => {
    test('with its port in use every instance ends errored after at most max_restarts restarts', { skip: onBun }, async (t) => {
      const pm2 = pm2Home(await heldPort(t));
      t.after(() => pm2.destroy());
      await pm2.run('start', ecosystem);
      const maxRestarts = 5; // as in the ecosystem file
      await waitUntilErrored(pm2, (maxRestarts + 1) * cpus);
      const apps = await pm2.list();
      t.diagnostic(`restarts per instance: ${apps.map((app) => app.pm2_env.restart_time)}`);
      assert.equal(apps.length, cpus);
      for (const app of apps) {
        assert.ok(app.pm2_env.restart_time <= maxRestarts, `instance ${app.pm_id} restarted ${app.pm2_env.restart_time} times`);
        assert.match(readFileSync(app.pm2_env.pm_err_log_path, 'utf8'), /port \d+ is already in use/);
      }
      assert.deepEqual(await pidsInGroup(pm2.daemonPid()!), [pm2.daemonPid()], 'only the daemon is left: no worker is being restarted');
    });
  });
  describe("compare.ts: lesson 03's cluster against pm2's, measured alike", { concurrency: true }, () => {
    const compare = 'lessons/06-pm2/compare.ts';

    test('a tiny comparison starts both, measures each round of each, prints the medians and their ratio, and exits 0', { skip: onBun }, async (t) => {
      const args = ['--amount', '20', '--connections', '2', '--rounds', '2', '--warmup', '4'];
      const run = await start(t, compare, { ready: false, args, limitMs: 2 * appLimitMs });
      assert.deepEqual(await run.exited, { code: 0, signal: null }, run.output());
      const out = run.output();
      const perSecond = (name: string) => `${name} \\d+\\.\\d/s`;
      assert.match(out, new RegExp(`^${cpus} CPUs; 20 requests of /heavy per run, 2 at a time$`, 'm'));
      for (const round of [1, 2]) assert.match(out, new RegExp(`^round ${round}: ${perSecond('lesson 03 cluster')}, ${perSecond('pm2 cluster_app')}$`, 'm'));
      const figures = ' +\\d+\\.\\d requests/s, \\d+\\.\\d ms mean, \\d+ ms p99';
      assert.match(out, new RegExp(`^median of 2:\\n  lesson 03 cluster${figures}\\n  pm2 cluster_app${figures}\\n  pm2 / lesson 03 +\\d+\\.\\d\\dx; median of the per-round ratios \\d+\\.\\d\\dx$`, 'm'));
    });

    for (const [what, args, line] of [
      ['more connections than requests', ['--amount', '2', '--connections', '5'], /^compare: --connections \(5\) cannot be more than --amount \(2\)\n/],
      ['a warm-up that is not a count', ['--warmup', 'lots'], /^compare: --warmup must be a whole number from 0 to \d+, got "lots"\n/],
    ] as const) {
      test(`bad options (${what}) print one line and the usage, and exit 2`, async (t) => {
        const run = await start(t, compare, { ready: false, args: [...args] });
        assert.deepEqual(await run.exited, { code: 2, signal: null }, run.output());
        assert.match(run.output(), line);
        assert.match(run.output(), /\n\nUsage: npx tsx (lessons|exercises)\/06-pm2\/compare\.ts /);
      });
    }

    test('on Bun it says that pm2 cluster mode needs Node, and exits 1', { skip: isBun ? false : 'Node: it runs there (the test above)' }, async (t) => {
      const run = await start(t, compare, { ready: false });
      assert.deepEqual(await run.exited, { code: 1, signal: null }, run.output());
      assert.match(run.output(), /^compare: pm2 cluster mode needs Node: run this with npx tsx, not bun\n$/);
    });
  });
});

// Each restart is a step: on a busy machine the whole climb to errored can outlast one wait of
// appLimitMs; no single step may. At most `steps` restarts can happen before every instance is errored.
// The ecosystem file started in this home; resolves with the workers' pids once every CPU's is online.
async function startApp(pm2: Pm2): Promise<number[]> {
  await pm2.run('start', ecosystem);
  return pm2.waitOnline(cpus);
}

async function waitUntilErrored(pm2: Pm2, steps: number): Promise<void> {
  const progress = (apps: App[]) => apps.reduce((sum, app) => sum + app.pm2_env.restart_time + (app.pm2_env.status === 'errored' ? 1 : 0), 0);
  let apps: App[] = [];
  for (let step = 0, seen = -1; !(apps.length > 0 && apps.every((app) => app.pm2_env.status === 'errored')); step++, seen = progress(apps)) {
    assert.ok(step <= steps + cpus, `more than ${steps} restarts and still not every instance errored: ${JSON.stringify(apps.map((app) => [app.pm2_env.status, app.pm2_env.restart_time]))}`);
    await waitUntil(async () => progress((apps = await pm2.list())) > seen, 'an instance to restart or end errored', appLimitMs);
  }
}

// A `bun` first on PATH, as one can be on a learner's (and `npm run` puts node_modules/.bin
// there): pm2 7 picks bun for a .ts script that names no interpreter. This one only fails, loudly.
function fakeBunDir(): string {
  const dir = mkdtempSync(join(os.tmpdir(), 'every-core-fake-bun-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'bun'), '#!/bin/sh\necho "not bun: this test wants Node" >&2\nexit 1\n', { mode: 0o755 });
  return dir;
}

// The binary a process runs. Not its title or arguments: pm2 renames its workers after the script.
// Linux names the binary in /proc; macOS's ps prints it as `comm`.
function executableOf(pid: number): string {
  if (existsSync('/proc/self/exe')) return realpathSync(readlinkSync(`/proc/${pid}/exe`));
  return execFileSync('ps', ['-o', 'comm=', '-p', String(pid)], { encoding: 'utf8' }).trim();
}
