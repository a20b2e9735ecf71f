// Given, not an exercise: lesson 08's thread-on-node-20.mjs, unchanged.
// Node 20 does not hand the tsx loader its main thread runs under on to worker threads (not even
// with execArgv: ['--import', 'tsx']: ERR_UNKNOWN_FILE_EXTENSION), so on Node 20 each thread starts
// here, registers tsx for itself, then loads the TypeScript. pool.ts says when this file is used.

import { register } from 'tsx/esm/api';

register();
await import('./thread.ts');
