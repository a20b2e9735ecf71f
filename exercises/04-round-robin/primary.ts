// Exercise 04: who hands out the connections? Your exercise 03 cluster, with its scheduling policy
// chosen: rr (the primary deals each new connection to the next worker) or os (the kernel picks).
// Reading --policy is given; choosing the policy and setting it in time is yours. Check it:  npm run check -- 04
// Run it:  npx tsx exercises/04-round-robin/primary.ts --policy os    (or NODE_CLUSTER_SCHED_POLICY=none)

import cluster from 'node:cluster';
import { commandLine } from '../../lib/options.ts';
import { startPrimary } from '../03-cluster/primary.ts';
import { isMain } from '../../lib/runtime.ts';
import { todo } from '../todo.ts';

export type Policy = 'rr' | 'os';

export const defaults = {
  // Node's own default when nothing is chosen: round-robin, except on Windows (see the README).
  nodePolicy: (process.platform === 'win32' ? 'os' : 'rr') as Policy,
  // NODE_CLUSTER_SCHED_POLICY is Node's own variable, so it keeps Node's words: rr or none.
  envValues: new Map<string, Policy>([['rr', 'rr'], ['none', 'os']]),
};

const policies = {
  rr: { constant: cluster.SCHED_RR, name: 'cluster.SCHED_RR', how: 'the primary accepts every connection and hands it to the next worker in turn' },
  os: { constant: cluster.SCHED_NONE, name: 'cluster.SCHED_NONE', how: 'every worker accepts on the shared socket and the operating system picks which one gets it' },
};

const usage = `Usage: npx tsx exercises/04-round-robin/primary.ts [--policy rr|os]

  --policy rr   round-robin: the primary accepts each connection and deals it to the next worker
  --policy os   the workers accept on one shared socket; the operating system decides who gets each
  (none)        NODE_CLUSTER_SCHED_POLICY=rr|none if set, else Node's default: rr (os on Windows)
  --policy wins over NODE_CLUSTER_SCHED_POLICY. WORKERS=N chooses the worker count, as in lesson 03.`;

if (isMain(import.meta.url)) {
  const choice = choosePolicy(process.argv.slice(2), process.env.NODE_CLUSTER_SCHED_POLICY);
  // TODO 2: make the chosen policy the one in force: cluster.schedulingPolicy takes the constant
  // (policies[choice.policy].constant). Node reads it once, at the first cluster.setupPrimary() or
  // cluster.fork(), and startPrimary() calls setupPrimary(): set it too late and it reads back as
  // changed while the old policy stays in force. (Why can this line not set
  // process.env.NODE_CLUSTER_SCHED_POLICY instead? The lesson's README says.)
  todo('exercises/04-round-robin/primary.ts', `make ${choice.policy} the policy in force, before startPrimary() (TODO 2)`);
  announce(choice);
  startPrimary();
}

export function choosePolicy(argv: string[], env: string | undefined): { policy: Policy; source: string } {
  const flag = readFlag(argv);
  // flag: rr, os, or undefined when there is no --policy.
  // TODO 1: choose the policy and say where the choice came from (announce() prints `source`):
  //   - a --policy flag wins: source `--policy rr`
  //   - else NODE_CLUSTER_SCHED_POLICY, in Node's own words (defaults.envValues maps rr and none):
  //     source `NODE_CLUSTER_SCHED_POLICY=none`. Node silently ignores a value it does not know; do
  //     better: print `NODE_CLUSTER_SCHED_POLICY must be rr or none, got "os": Node would silently
  //     ignore it; ...` on stderr and exit 2, the code of a bad --policy
  //   - else Node's default, defaults.nodePolicy: source `Node's default on <process.platform>`
  return todo('exercises/04-round-robin/primary.ts', `choosePolicy() from --policy ${flag ?? '(none)'} and NODE_CLUSTER_SCHED_POLICY=${env ?? ''} (TODO 1)`);
}

function readFlag(argv: string[]): Policy | undefined {
  const { values } = commandLine('primary', usage).parse(argv, { policy: { type: 'string' } });
  if (values.policy === undefined || values.policy === 'rr' || values.policy === 'os') return values.policy;
  return usageError(`--policy must be rr or os, got ${JSON.stringify(values.policy)}`);
}

function announce({ policy, source }: { policy: Policy; source: string }): void {
  const { name, how } = policies[policy];
  console.log(`[primary ${process.pid}] scheduling policy ${policy} (${name}, from ${source}): ${how}`);
  if (!('bun' in process.versions)) return;
  console.log(`[primary ${process.pid}] on Bun the policy has no effect: each worker binds the port itself with SO_REUSEPORT and the kernel spreads the connections`);
}

function usageError(problem: string): never {
  return commandLine('primary', usage).fail(problem);
}
