// Given, not an exercise: lesson 03's cluster-worker.ts, unchanged, so that it runs YOUR exercise 01
// server (the import below is relative): serve, and leave the cluster before exiting.
//
// Lesson 01's server as a cluster worker: the same server, plus the one thing a cluster worker must
// do that a lone process need not: leave its primary before it exits. worker.ts runs it for lesson
// 03 (and pm2, lesson 06); lesson 09's worker runs it on a listening socket of its own.

import cluster from 'node:cluster';
import type http from 'node:http';
import { serve, stop } from '../01-single-process/server.ts';

export function runWorker(listen: { reusePort?: boolean } = {}): http.Server {
  const server = serve(leave, listen);
  // A worker also stops when its primary disconnects it or goes away: Node's workers would exit by
  // themselves then, Bun's do not.
  process.once('disconnect', () => stop(leave));
  return server;
}

// Leaving through disconnect() returns once the primary has stopped handing this worker
// connections: on Node the primary holds each connection it hands over until the worker takes or
// refuses it, and one handed to a worker that has just exited would hang until the client gives up.
function leave(): void {
  if (!cluster.isWorker || !process.connected) process.exit(0);
  process.once('disconnect', () => process.exit(0));
  cluster.worker!.disconnect();
}
