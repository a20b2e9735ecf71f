// @ts-check
// Ends the lesson groups a process started once that process is gone, however it went: a kill -9
// gives it no 'exit' to end them itself. lib/launch.ts starts one guardian per process that launches
// lessons, in a group of its own, and writes "+<pgid>" and "-<pgid>" lines to its stdin as groups
// start and stop; the pipe closes when that process is gone. Plain JavaScript: it starts in a few
// milliseconds on every runtime, with no TypeScript loader.

import { createInterface } from 'node:readline';

const groups = new Set();
createInterface({ input: process.stdin })
  .on('line', (line) => {
    const pgid = Number(line.slice(1));
    if (!Number.isInteger(pgid) || pgid <= 1) return;
    if (line.startsWith('+')) groups.add(pgid);
    else groups.delete(pgid);
  })
  .on('close', () => {
    for (const pgid of groups) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // ESRCH: the group is gone already
      }
    }
    process.exit(0);
  });
