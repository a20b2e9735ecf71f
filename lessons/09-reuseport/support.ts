// Whether this runtime can run lesson 09: the primary refuses with this line, its tests skip with
// it, and the benchmark leaves out its rows.

export const reusePortSince = { node22: [22, 12], node23: [23, 1] }; // the Node releases that brought listen()'s reusePort
// Linux spreads connections over the sockets of one port; other systems let them share it but
// give every connection to one of them (or the last to bind), which would look like a broken cluster.
const balancingPlatforms = ['linux'];

export const isBun = 'bun' in process.versions;

// undefined where lesson 09 runs; otherwise the one line that says why not, and what to do.
export function reusePortProblem(): string | undefined {
  if (!balancingPlatforms.includes(process.platform)) {
    return `${process.platform} does not spread connections over SO_REUSEPORT sockets as Linux does: run this lesson on Linux`;
  }
  if (isBun || hasReusePort(process.versions.node)) return undefined;
  const { node22, node23 } = reusePortSince;
  return (
    `listen() has reusePort since Node ${node22.join('.')} (and ${node23.join('.')}); this is Node ${process.versions.node}: ` +
    'run it with Node 22.12 or later, e.g. npx --yes node@22 --import tsx lessons/09-reuseport/primary.ts'
  );
}

export function hasReusePort(version: string): boolean {
  const [major, minor] = version.split('.').map(Number);
  const { node22, node23 } = reusePortSince;
  return major > 23 || (major === 23 && minor >= node23[1]) || (major === 22 && minor >= node22[1]);
}
