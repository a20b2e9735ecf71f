// npm test: starts the suite's runner, scripts/suite-runner.mjs, as a process of its own and exits as
// it does. Two processes, as `node --test` under it had been: a kill -9 of this one leaves the runner
// to finish and end every lesson its test files started (with the runner killed, its test files lose
// their output and die before their cleanup: a pm2 daemon and lesson 12's Redis were left).
// Plain JavaScript: it must start where TypeScript cannot. Arguments after `npm test --` go to the
// runner (npm test -- --help lists them).

import { spawn } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

const runner = spawn(process.execPath, [fileURLToPath(new URL('suite-runner.mjs', import.meta.url)), ...process.argv.slice(2)], { stdio: 'inherit' });
// Ctrl+C reaches the runner itself (same terminal); a kill is passed on. Either way this waits for
// the runner to end its lessons, then exits as it did.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => runner.kill('SIGTERM'));
runner.on('exit', (code, signal) => {
  process.exitCode = code ?? 128 + os.constants.signals[signal];
});
