// Lesson 06: every core again, with pm2 as the primary instead of lesson 03's. pm2's daemon forks
// lesson 01's server once per CPU in cluster mode, restarts workers that die, replaces them one by
// one on `reload`. pm2 comes from this project and keeps its state in ./.pm2 (see package.json):
// Run it:  npm run pm2 -- start lessons/06-pm2/ecosystem.config.cjs        then: npm run pm2 -- ls

const os = require('node:os');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const root = path.join(__dirname, '..', '..');

module.exports = {
  apps: [
    {
      name: 'cluster_app', // what `pm2 ls`, `logs`, `reload`, `stop` and `delete` call it
      // Lesson 01's server, unchanged, as a cluster worker: lesson 03's worker.ts runs it and leaves the
      // cluster properly (through disconnect()) once it has stopped.
      script: path.join(root, 'lessons', '03-cluster', 'worker.ts'),
      cwd: root, // the workers' working directory, wherever pm2 was started from
      // For a .ts script without one, pm2 7 picks bun whenever bun is on PATH, and refuses to start
      // it below Node 22.18 otherwise: name Node. A Node that strips types (22.18 and later) runs the
      // TypeScript itself; an older one through the kit's loader (lib/strip-types.mjs), which starts
      // faster than tsx's: a start that outlasts min_uptime below would not count as unstable.
      interpreter: 'node',
      // An absolute URL: a relative one is looked up from the daemon's cwd, wherever that was.
      node_args: process.features.typescript ? [] : ['--import', pathToFileURL(path.join(root, 'lib', 'strip-types.mjs')).href],
      exec_mode: 'cluster', // pm2's daemon becomes the node:cluster primary: one port, every worker
      // Every CPU this process may use, as in lesson 03; pm2's own 0 or 'max' count os.cpus(),
      // which ignores CPU affinity (containers, taskset).
      instances: os.availableParallelism(),
      env: { PORT: process.env.PORT || '3000', HOST: '127.0.0.1' }, // read by lesson 01's server
      // On reload pm2 stops an old worker once its replacement emits 'listening', or after this
      // anyway (default 3 s, which a tsx boot on a busy machine can miss).
      listen_timeout: 10_000,
      // Stopping sends SIGINT, then SIGKILL after this: longer than the server's own drain (0.5 s)
      // plus grace (5 s), so pm2 never cuts off a request the server is still finishing.
      kill_timeout: 8_000,
      min_uptime: 5_000, // a worker that dies sooner than this after starting is an unstable restart...
      max_restarts: 5, // ...and after 5 of them pm2 marks the instance errored instead of looping
    },
  ],
};
