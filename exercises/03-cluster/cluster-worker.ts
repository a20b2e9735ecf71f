// Given, not an exercise: lesson 03's cluster-worker.ts, unchanged, so that it runs YOUR exercise 01
// server (the import below is relative): serve, and leave the cluster before exiting.
//
// Lesson 01's server as a cluster worker: the same server, plus the one thing a cluster worker must
// do that a lone process need not: leave its primary before it exits. worker.ts runs it for lesson
// 03 (and pm2, lesson 06); lesson 09's worker runs it on a listening socket of its own.

import cluster from 'node:cluster';
import { exitWith, onStopSignals, Server, settingsFrom, type ServerOptions } from '../01-single-process/server.ts';

// What a later lesson's worker may change: its listening socket (lesson 09), its routes, and what to
// close once the server has answered everything (lesson 12: its Redis connections).
export interface WorkerOptions extends Pick<ServerOptions, 'reusePort' | 'handle'> {
  beforeLeaving?: () => Promise<void>;
}

// Listens on PORT and HOST; stops on a stop signal or when its primary disconnects it, then leaves
// the cluster and exits with the server's exit code (1 if the grace ran out).
export function runWorker({ beforeLeaving, ...options }: WorkerOptions = {}): Server {
  const server = new Server({ ...settingsFrom(process.env, exitWith), ...options });
  onStopSignals(() => server.stop());
  // A worker also stops when its primary disconnects it or goes away: Node's workers would exit by
  // themselves then, Bun's do not.
  process.once('disconnect', () => server.stop());
  server.on('stopped', (exitCode) => void (beforeLeaving?.() ?? Promise.resolve()).finally(() => leave(exitCode)));
  server.listen().catch((error: Error) => exitWith(error.message));
  return server;
}

// Leaving through disconnect() returns once the primary has stopped handing this worker
// connections: on Node the primary holds each connection it hands over until the worker takes or
// refuses it, and one handed to a worker that has just exited would hang until the client gives up.
function leave(exitCode: number): void {
  if (!cluster.isWorker || !process.connected) process.exit(exitCode);
  process.once('disconnect', () => process.exit(exitCode));
  cluster.worker!.disconnect();
}

