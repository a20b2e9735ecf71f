// What each of lesson 11's workers runs: lesson 03's worker (lesson 01's server) unchanged, plus a
// report to the primary twice a second: how many requests it has answered, and its memory.
// The primary forks it (lesson 11's primary.ts).

import diagnosticsChannel from 'node:diagnostics_channel';
import { runWorker } from '../03-cluster/cluster-worker.ts';

const defaults = {
  reportMs: 500, // a few messages a second: enough for a live page, nothing for the primary to carry
};

runWorker();
let answered = 0;
// Node's http publishes each finished response on this channel: the server counts without a change.
diagnosticsChannel.subscribe('http.server.response.finish', () => answered++);
setInterval(report, defaults.reportMs).unref();
report();

function report(): void {
  if (!process.connected) return; // leaving: the primary is no longer listening
  process.send!({ watch: { answered, rssBytes: process.memoryUsage.rss() } });
}
