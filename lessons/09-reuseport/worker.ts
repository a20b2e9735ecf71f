// What each of lesson 09's workers runs: lesson 03's worker (lesson 01's server, leaving the cluster
// properly), but on a listening socket of its own: `reusePort`, so that the kernel, not the primary,
// hands it connections. The primary forks it (primary.ts).

import { runWorker } from '../03-cluster/cluster-worker.ts';

const server = runWorker({ reusePort: true });
// A cluster primary hears of the sockets it shares out, not of one a worker opens itself: say so.
server.once('listening', () => process.send?.({ event: 'listening', address: server.http.address() }));
