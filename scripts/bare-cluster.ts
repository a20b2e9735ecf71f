// The benchmark's yardstick: lesson 01's server forked once per worker, and nothing else (no
// respawn, no graceful stop, no bookkeeping). Lesson 03 should cost no throughput against this.
// Run it:  WORKERS=2 npx tsx scripts/bare-cluster.ts       (stop it with Ctrl+C)

import cluster from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { readWorkerCount } from '../lessons/03-cluster/primary.ts';

const workerCount = readWorkerCount(process.env.WORKERS);
let listening = 0;

cluster.setupPrimary({ exec: fileURLToPath(new URL('../lessons/01-single-process/server.ts', import.meta.url)) });
cluster.on('listening', (_worker, address: AddressInfo) => {
  listening++;
  if (listening === workerCount) console.log(`bare cluster ready: ${workerCount} workers on http://127.0.0.1:${address.port}`);
});
for (let i = 0; i < workerCount; i++) cluster.fork();
