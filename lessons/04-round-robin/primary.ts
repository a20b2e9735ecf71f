// Lesson 04: who hands out the connections? Lesson 03's cluster, unchanged, with its scheduling
// policy chosen: rr (the primary deals each new connection to the next worker) or os (the workers
// all accept on one socket and the kernel picks). Measure the difference with distribution.ts.
// Run it:  npx tsx lessons/04-round-robin/primary.ts --policy os    (or NODE_CLUSTER_SCHED_POLICY=none)

import cluster from 'node:cluster';
import { commandLine } from '../../lib/options.ts';
import { startPrimary } from '../03-cluster/primary.ts';
import { isMain } from '../../lib/runtime.ts';

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

const usage = `Usage: npx tsx lessons/04-round-robin/primary.ts [--policy rr|os]

  --policy rr   round-robin: the primary accepts each connection and deals it to the next worker
  --policy os   the workers accept on one shared socket; the operating system decides who gets each
  (none)        NODE_CLUSTER_SCHED_POLICY=rr|none if set, else Node's default: rr (os on Windows)
  --policy wins over NODE_CLUSTER_SCHED_POLICY. WORKERS=N chooses the worker count, as in lesson 03.`;

if (isMain(import.meta.url)) {
  const choice = choosePolicy(process.argv.slice(2), process.env.NODE_CLUSTER_SCHED_POLICY);
  // Node freezes the policy at the first setupPrimary() or fork(), whichever comes first, and
  // startPrimary() calls setupPrimary(). Set later, schedulingPolicy reads back as changed while the
  // frozen one stays in force. Setting process.env.NODE_CLUSTER_SCHED_POLICY here would do nothing:
  // node:cluster read it once, when it was imported, before this line ran.
  cluster.schedulingPolicy = policies[choice.policy].constant;
  announce(choice);
  startPrimary();
}

// The flag wins, as an explicit choice on the command line should; then the env variable; then Node.
export function choosePolicy(argv: string[], env: string | undefined): { policy: Policy; source: string } {
  const flag = readFlag(argv);
  if (flag !== undefined) return { policy: flag, source: `--policy ${flag}` };
  if (env === undefined || env === '') return { policy: defaults.nodePolicy, source: `Node's default on ${process.platform}` };
  const policy = defaults.envValues.get(env);
  if (policy) return { policy, source: `NODE_CLUSTER_SCHED_POLICY=${env}` };
  // Node itself ignores a value it does not know and silently stays with its default.
  console.error(`[primary ${process.pid}] NODE_CLUSTER_SCHED_POLICY must be rr or none, got ${JSON.stringify(env)}: ` +
    `Node would silently ignore it; try NODE_CLUSTER_SCHED_POLICY=none, or --policy os`);
  process.exit(2); // the same mistake as a bad --policy, so the same exit code
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
