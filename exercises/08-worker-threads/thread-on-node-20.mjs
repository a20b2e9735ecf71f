// Given, not an exercise: lesson 08's thread-on-node-20.mjs, unchanged.
// Node 20 does not hand the TypeScript loader its main thread runs under on to worker threads (not
// even with execArgv: ['--import', 'tsx']: ERR_UNKNOWN_FILE_EXTENSION), so on Node 20 each thread
// starts here, registers the kit's loader (lib/strip-types.mjs, as the main thread's) for itself,
// then loads the TypeScript. pool.ts says when this file is used.

import '../../lib/strip-types.mjs';

await import('./thread.ts');
