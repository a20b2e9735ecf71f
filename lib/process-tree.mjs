// @ts-check
// The processes of this machine as a tree, and a group with every group its processes started: the
// harness (lib/launch.ts) ends a lesson's groups with it, and so does the guardian (lib/guardian.mjs)
// once the process that started them is gone. A lesson's own server process (lesson 12's Redis, its
// nginx) runs detached, in a group of its own: it is found through its parent while that still runs.
// Plain JavaScript: the guardian loads it with no TypeScript loader.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * @typedef {object} Proc
 * @property {number} pid
 * @property {number} ppid
 * @property {number} pgid
 * @property {boolean} isZombie exited, not yet reaped by its parent: it holds no port and runs no code
 */

/**
 * Every process this one can see. On Linux straight from /proc: the tests look again every 25 ms
 * while they wait for a death, and each look started a `ps` (reading /proc instead, with the
 * TypeScript loader's change, took a Node 26 suite run from 274 to 264 CPU-seconds). Elsewhere
 * (macOS) `ps`, the portable way.
 * @returns {Proc[]}
 */
export function processTable() {
  if (process.platform !== 'linux') {
    const out = execFileSync('ps', ['-A', '-o', 'pid=,ppid=,pgid=,stat='], { encoding: 'utf8' });
    return out
      .trim()
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .map(([pid, ppid, pgid, stat]) => ({ pid: Number(pid), ppid: Number(ppid), pgid: Number(pgid), isZombie: stat.startsWith('Z') }));
  }
  /** @type {Proc[]} */
  const table = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone between the listing and the read
    }
    // "pid (name) state ppid pgrp ...": the name may hold spaces and parentheses, so count from its end.
    const [state, ppid, pgid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    table.push({ pid: Number(name), ppid: Number(ppid), pgid: Number(pgid), isZombie: state === 'Z' });
  }
  return table;
}

/**
 * The group, and every group that its processes started, with the pids of all of them.
 * @param {number} pgid
 * @param {Proc[]} table
 * @returns {{ groups: number[], pids: number[] }}
 */
export function treeOfGroup(pgid, table) {
  const inTree = new Set(table.filter((p) => p.pgid === pgid).map((p) => p.pid));
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of table) if (!inTree.has(p.pid) && inTree.has(p.ppid)) grew = Boolean(inTree.add(p.pid));
  }
  const groups = [pgid, ...new Set(table.filter((p) => inTree.has(p.pid) && p.pgid !== pgid).map((p) => p.pgid))];
  // A group started from the tree holds processes of its own children too, whatever their parent now.
  const pids = table.filter((p) => groups.includes(p.pgid) || inTree.has(p.pid)).map((p) => p.pid);
  return { groups, pids };
}

/**
 * SIGKILL to each group and every group started from it, read from one look at the table first:
 * once a parent is killed, its detached children are nobody's. Synchronous, for an 'exit' handler.
 * Returns the pids it meant to end.
 * @param {number[]} pgids
 * @returns {number[]}
 */
export function killGroups(pgids) {
  /** @type {Proc[]} */
  let table = [];
  try {
    table = processTable();
  } catch {
    // no ps: the groups alone
  }
  const trees = pgids.map((pgid) => (table.length > 0 ? treeOfGroup(pgid, table) : { groups: [pgid], pids: [] }));
  // A guardian that a lesson started (a script that launches lessons, or lists a folder) is left to
  // end its own: it does so, and removes what it was given, once its own feeder is gone.
  const groups = [...new Set(trees.flatMap((tree) => tree.groups))].filter((group) => pgids.includes(group) || !isGuardian(group));
  for (const group of groups) {
    try {
      process.kill(-group, 'SIGKILL');
    } catch {
      // ESRCH: the group is already gone
    }
  }
  return trees.flatMap((tree) => tree.pids).filter((pid) => table.some((p) => p.pid === pid && groups.includes(p.pgid)));
}

/** @param {number} pid */
function isGuardian(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((arg) => arg.endsWith('/lib/guardian.mjs'));
  } catch {
    return false; // gone, or no /proc: ended with the rest
  }
}

/**
 * Whether `pid` still runs code. A zombie (exited, not yet reaped by its parent) counts as gone: it
 * holds no port and runs no code. Synchronous, for 'exit' handlers and cleanup loops.
 * @param {number} pid
 * @returns {boolean}
 */
export function isAlive(pid) {
  if (process.platform === 'linux') {
    try {
      return !/^\d+ \(.*\) Z/s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false; // no /proc entry: gone
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return /** @type {NodeJS.ErrnoException} */ (error).code === 'EPERM'; // someone else's, but alive
  }
}
