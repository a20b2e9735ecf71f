// Exercise 09: no primary in the path. Your exercise 03 cluster, but each worker listens on the port
// itself (worker.ts: the exercise's first part); the primary only forks, watches and replaces, and
// relays each worker's word that it listens (the second part). Check it:  npm run check -- 09
// Run it:  npx tsx exercises/09-reuseport/primary.ts        (Node 22.12+ on Linux; WORKERS=4 to choose the count)

import cluster, { type Worker } from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { commandLine } from '../../lib/options.ts';
import { isMain } from '../../lib/runtime.ts';
import { todo } from '../todo.ts';
import { startPrimary } from '../03-cluster/primary.ts';
import { isBun, reusePortProblem } from '../../lessons/09-reuseport/support.ts'; // given: the lesson's version gate

const usage = `Usage: npx tsx exercises/09-reuseport/primary.ts        (Node 22.12+ on Linux)

  It takes no options; its settings come from the environment:
  WORKERS=N    how many workers (default: one per CPU)
  PORT=3000    the port every worker listens on with a socket of its own`;

if (isMain(import.meta.url)) {
  commandLine('primary', usage).parse(process.argv.slice(2), {});
  main();
}

function main(): void {
  if (isBun) {
    // Bun's node:cluster already gives every worker a SO_REUSEPORT socket of its own on Linux: on Bun,
    // lesson 03's own worker.
    startPrimary().log("on Bun, this is what its cluster always does: running lesson 03's cluster as is");
    return;
  }
  refuseWithoutReusePort();
  cluster.on('message', relayListening);
  startPrimary({ workerFile: fileURLToPath(new URL('./worker.ts', import.meta.url)) });
}

function refuseWithoutReusePort(): void {
  const problem = reusePortProblem();
  if (problem) cannotStart(problem);
  // Port 0 asks the kernel for a free port at each listen(): every worker would get its own.
  const port = process.env.PORT;
  if (port && /^0+$/.test(port)) cannotStart(`PORT=${port} would give every worker a random port of its own: pick one, e.g. PORT=3000`);
}

// worker.ts says "listening" in a message; lesson 03's Primary waits for the worker's own
// 'listening' event, which Node raises only for the sockets the primary shares out.
function relayListening(worker: Worker, message: { event?: string; address?: AddressInfo }): void {
  // TODO 3: a worker's message that says it listens becomes that worker's 'listening' event, which
  // the Primary waits for (its listen timeout, its count, "cluster ready"). Ignore every other
  // message (message?.event must be 'listening', with an address); for this one,
  // worker.emit('listening', message.address).
  todo('exercises/09-reuseport/primary.ts', `relayListening() of worker ${worker.process.pid}'s message ${JSON.stringify(message)} (TODO 3)`);
}

function cannotStart(line: string): never {
  console.error(`[primary ${process.pid}] ${line}`);
  process.exit(1);
}
