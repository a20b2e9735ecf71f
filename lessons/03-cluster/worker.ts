// What each of lesson 03's workers runs: lesson 01's server, unchanged, plus the one thing a
// cluster worker must do that a lone process need not: leave its primary before it exits.
// The primary forks it (cluster.setupPrimary({ exec })); pm2's cluster mode runs it too (lesson 06).

import cluster from 'node:cluster';
import type http from 'node:http';
import { pathToFileURL } from 'node:url';
import { serve, stop } from '../01-single-process/server.ts';

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) runWorker();

// Lesson 09's workers run it too, each with a listening socket of its own (`reusePort`).
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
