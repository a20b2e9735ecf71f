// Lesson 12's job hosts: lesson 10's network namespaces, each a machine of its own, where job workers
// run unchanged and reach the lesson's Redis over their veth, as they would from another machine.
// `primary.ts --job-hosts N` makes them (Linux, root, ip) and removes them when it stops; what a run
// killed with kill -9 left, the next run removes, as lesson 10 does.

import type { ForkOptions } from 'node:child_process';
import { runs } from '../../lib/launch.ts';
import { freeSubnet, leftBehind, makeNamespace, namespaceHost, namespaceNames, removeNamespace, type Host } from '../10-many-machines/hosts.ts';

export const jobHostDefaults = {
  // Namespaces and veths are named ec12-<pid of the run>-<n>: lesson 10's ec10- are not this lesson's
  // to remove, nor these lesson 10's. (Lesson 12's Redis folder, ec12-<pid>-XXXXXX, is a folder.)
  prefix: 'ec12-',
  maxHosts: 16,
};

export interface JobHost extends Host {
  namespace: string;
  gateway: string; // this machine's end of the host's veth: where its job workers reach Redis
}

export interface JobHosts {
  hosts: JobHost[];
  inside(host: JobHost): Pick<ForkOptions, 'execPath' | 'execArgv'>; // fork()'s options that run a file in the host
  remove(): Promise<void>; // every host, and whatever still runs in it
}

// What --job-hosts lacks on this machine, in one line with how to get it; undefined if nothing.
export function jobHostsProblem(found: { platform: string; uid?: number; ip?: string }): string | undefined {
  const missing: string[] = [];
  if (found.platform !== 'linux') missing.push('Linux (network namespaces are a Linux feature)');
  if (found.uid !== 0) missing.push('root (to make network namespaces: run it with sudo)');
  if (!found.ip) missing.push('ip (sudo apt-get install iproute2)');
  if (missing.length === 0) return undefined;
  return `--job-hosts: missing ${missing.join(', ')}; or leave --job-hosts out: the job workers then run on this machine`;
}

// The host's address is x.x.x.4n+2 of its /30; this machine's end of its veth, x.x.x.4n+1.
export function gatewayOf(address: string): string {
  const parts = address.split('.');
  return [...parts.slice(0, 3), String(Number(parts[3]) - 1)].join('.');
}

// Removes what killed runs left first; a failure half-way removes what this one made, then throws.
export async function makeJobHosts(count: number, ip: string, log: (line: string) => void): Promise<JobHosts> {
  await cleanJobHostLeftovers(ip, log);
  const hosts: JobHost[] = [];
  const remove = async () => {
    for (const host of hosts.splice(0)) await removeNamespace(ip, host.namespace);
  };
  try {
    const subnet = await freeSubnet(ip);
    for (let n = 1; n <= count; n++) {
      const host = namespaceHost(n, subnet, jobHostDefaults.prefix) as JobHost;
      host.gateway = gatewayOf(host.address);
      hosts.push(host); // before it is made: a failure half-way still removes it
      await makeNamespace(ip, host, subnet, n);
    }
  } catch (error) {
    await remove();
    throw error;
  }
  // `ip netns exec` runs the command in place of itself: the job worker keeps fork()'s IPC channel.
  const inside = (host: JobHost) => ({ execPath: ip, execArgv: ['netns', 'exec', host.namespace, process.execPath, ...process.execArgv] });
  return { hosts: [...hosts], inside, remove };
}

// The namespaces and veths of lesson 12 runs that no longer run, removed with whatever runs inside.
export async function cleanJobHostLeftovers(ip: string, log: (line: string) => void = () => {}): Promise<string[]> {
  const removed: string[] = [];
  for (const [owner, names] of leftBehind(await namespaceNames(ip), (pid) => runs(pid, '12-shared-state'), jobHostDefaults.prefix)) {
    names.sort();
    log(`cleaning up after run ${owner}, which is no longer running: ${names.join(', ')}`);
    for (const name of names) await removeNamespace(ip, name);
    removed.push(...names);
  }
  return removed;
}
