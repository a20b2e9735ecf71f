// Exercise 09: what each worker runs: exercise 03's worker (your exercise 01 server, leaving the
// cluster properly), but on a listening socket of its own, so that the kernel, not the primary, hands
// it connections; then it tells its primary that it listens. Check it:  npm run check -- 09 (Node 22.12+)

import { todo } from '../todo.ts';
import { runWorker } from '../03-cluster/cluster-worker.ts';

// TODO 1: run the worker on a socket of its own. runWorker() takes options for the server's listen()
// (read its signature in ../03-cluster/cluster-worker.ts); the one that matters here is listen()'s
// `reusePort` (Node 22.12+: SO_REUSEPORT). In a cluster worker, listen() without it asks the primary
// for its shared socket; with it, the worker opens its own, and the kernel spreads the connections.
const server = runWorker(todo('exercises/09-reuseport/worker.ts', 'runWorker() listens on a socket of its own (TODO 1)'));
// A cluster primary hears of the sockets it shares out, not of one a worker opens itself: say so.
// TODO 2: tell the primary once this worker listens: on the server's 'listening' (server.once), send it a message with process.send(): { event: 'listening', address }, the address
// being server.http.address(). (process.send is undefined outside a cluster: call it with ?.)
server.once('listening', () => todo('exercises/09-reuseport/worker.ts', "the worker tells its primary it listens (TODO 2)"));
