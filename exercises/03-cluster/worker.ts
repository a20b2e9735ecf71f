// Given, not an exercise: what each of exercise 03's workers runs. It is your exercise 01 server, as
// lesson 03's workers run lesson 01's, plus the one thing a cluster worker must do that a lone
// process need not: leave its primary before it exits. Your primary forks it (its defaults.workerFile).

import cluster from 'node:cluster';
import { serve, stop } from '../01-single-process/server.ts';

serve(leave);
// A worker also stops when its primary disconnects it or goes away: Node's workers would exit by
// themselves then, Bun's do not.
process.once('disconnect', () => stop(leave));

// Leaving through disconnect() returns once the primary has stopped handing this worker
// connections: on Node the primary holds each connection it hands over until the worker takes or
// refuses it, and one handed to a worker that has just exited would hang until the client gives up.
function leave(): void {
  if (!cluster.isWorker || !process.connected) process.exit(0);
  process.once('disconnect', () => process.exit(0));
  cluster.worker!.disconnect();
}
