// @ts-check
// Ends the lesson groups a process started once that process is gone, however it went: a kill -9
// gives it no 'exit' to end them itself. lib/launch.ts starts one guardian per process that launches
// lessons, in a group of its own, and writes lines to its stdin; the pipe closes when that process
// is gone. Then the guardian ends every group still listed, with the groups those started (a
// lesson's detached Redis), waits for them to be gone, and removes what is listed on disk.
// Lines: "+<pgid>" / "-<pgid>", a group; "+path <path>" / "-path <path>", a file or folder to remove;
// "+leftovers <dir>\t<prefix>" / "-leftovers …", each <dir>/<prefix><pid>-… whose pid no longer runs
// (lesson 12's Redis folders are named after the run that made them); "+netns <ip>\t<prefix>" /
// "-netns …", the same for network namespaces and links (lessons 10 and 12's hosts), through `ip`.
// Plain JavaScript: it starts in a few milliseconds on every runtime, with no TypeScript loader.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive as runs, killGroups } from './process-tree.mjs';

const goneWithinMs = 3_000; // SIGKILLed processes are gone in milliseconds; past this, leave what they hold
// A run that owns leftovers and still runs after this is another one, alive (a suite beside this one):
// its folders and namespaces stay. Its own run's were ended as this process exited, or above.
const ownersGoneWithinMs = 500;
const pollMs = 20;
const pathSettleMs = 1_000; // see removeAll()
const pathRetryMs = 200;

/** @type {Map<string, Set<string>>} */
const listed = new Map([
  ['group', new Set()],
  ['path', new Set()],
  ['leftovers', new Set()],
  ['netns', new Set()],
]);

createInterface({ input: process.stdin })
  .on('line', (line) => {
    const [, sign, kind = 'group', value] = /^([+-])(?:(path|leftovers|netns) )?(.+)$/.exec(line) ?? [];
    if (!sign) return;
    const set = /** @type {Set<string>} */ (listed.get(kind));
    if (sign === '+') set.add(value);
    else set.delete(value);
  })
  .on('close', () => void endAll().finally(() => process.exit(0)));

async function endAll() {
  const groups = [...listed.get('group') ?? []].map(Number).filter((pgid) => Number.isInteger(pgid) && pgid > 1);
  const pids = killGroups(groups);
  await until(() => pids.every((pid) => !runs(pid)));
  await removeAll([...listed.get('path') ?? []]);
  for (const rule of listed.get('leftovers') ?? []) {
    const [dir, prefix] = rule.split('\t');
    const owned = entries(dir).flatMap((name) => {
      const owner = name.startsWith(prefix) ? /^(\d+)-/.exec(name.slice(prefix.length))?.[1] : undefined;
      return owner === undefined ? [] : [{ name, owner: Number(owner) }];
    });
    await until(() => owned.every(({ owner }) => !runs(owner)), ownersGoneWithinMs);
    for (const { name, owner } of owned) if (!runs(owner)) rmSync(join(dir, name), { recursive: true, force: true });
  }
  for (const rule of listed.get('netns') ?? []) {
    const [ip, prefix] = rule.split('\t');
    const ownerOf = (/** @type {string} */ name) => (name.startsWith(prefix) ? Number(/^(\d+)-/.exec(name.slice(prefix.length))?.[1]) : NaN);
    const orphaned = (/** @type {string} */ name) => Number.isInteger(ownerOf(name)) && !runs(ownerOf(name));
    await until(() => namespaces(ip).filter((name) => Number.isInteger(ownerOf(name))).every((name) => orphaned(name)), ownersGoneWithinMs);
    for (const name of namespaces(ip).filter(orphaned)) {
      // Whatever still runs inside (nothing, once the groups above are ended) goes with it.
      for (const pid of tryRun(ip, ['netns', 'pids', name]).split('\n').map(Number).filter((pid) => pid > 1)) tryKill(pid);
      tryRun(ip, ['netns', 'delete', name]);
    }
    // A veth's end on this machine goes with its peer's namespace; any other link of the run, here.
    const links = tryRun(ip, ['-o', 'link', 'show']).split('\n').map((line) => line.split(/[:@]/)[1]?.trim() ?? '');
    for (const name of links.filter(orphaned)) tryRun(ip, ['link', 'delete', name]);
  }
}

/** @param {string} ip */
function namespaces(ip) {
  return tryRun(ip, ['netns', 'list']).split('\n').map((line) => line.split(' ')[0]).filter(Boolean);
}

/** @param {string} command @param {string[]} args */
function tryRun(command, args) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
  } catch {
    return '';
  }
}

/** @param {number} pid */
function tryKill(pid) {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

// A process outside the groups can still be writing there as it dies: a Chromium started by the
// killed process itself exits once its pipe to it closes, and writes to its profile meanwhile.
// So each path is removed again while it comes back, for at most pathSettleMs.
/** @param {string[]} paths */
async function removeAll(paths) {
  const existed = paths.filter((path) => existsSync(path));
  if (existed.length === 0) return;
  const deadline = Date.now() + pathSettleMs;
  for (;;) {
    for (const path of existed) rmSync(path, { recursive: true, force: true, maxRetries: 3 });
    if (Date.now() >= deadline) return;
    await sleep(pathRetryMs);
  }
}

/** @param {() => boolean} isDone @param {number} limitMs */
async function until(isDone, limitMs = goneWithinMs) {
  for (const deadline = Date.now() + limitMs; !isDone() && Date.now() < deadline; ) await sleep(pollMs);
}

/** @param {string} dir */
function entries(dir) {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
