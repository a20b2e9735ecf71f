// bench:suite's counter, preloaded into every Node process of the benchmarked suite through
// NODE_OPTIONS=--require: one line when a process starts and, if it ends by itself, one when it
// exits, with its lifetime and CPU time. Nothing else: it changes no behaviour of the process.
'use strict';
const { appendFileSync } = require('node:fs');
const { isMainThread } = require('node:worker_threads');

const log = process.env.EVERY_CORE_BENCH_LOG;
if (log && isMainThread) {
  const write = (fields) => appendFileSync(log, `${JSON.stringify({ pid: process.pid, ...fields })}\n`);
  write({ event: 'start', ppid: process.ppid, argv: process.argv.slice(1), execArgv: process.execArgv, testFile: Boolean(process.env.NODE_TEST_CONTEXT) });
  process.on('exit', () => {
    const usage = process.resourceUsage();
    write({ event: 'exit', ms: performance.now(), cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000 });
  });
}
