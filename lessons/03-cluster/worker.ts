// What each of lesson 03's workers runs: lesson 01's server, unchanged, as a cluster worker
// (cluster-worker.ts: it leaves its primary before it exits). The primary forks it
// (cluster.setupPrimary({ exec })); pm2's cluster mode runs it too (lesson 06), from a process of
// its own whose argv names pm2, not this file: so this file runs the worker on import, no main guard.

import { runWorker } from './cluster-worker.ts';

runWorker();
