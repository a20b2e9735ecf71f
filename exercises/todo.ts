// What an exercise's unwritten step does: it says which TODO comes next and where, then exits 1, so
// the lesson's tests fail at once with that line in their output instead of waiting for a server that
// never gets ready. Inside a test process (a test that imports your file and calls it there), it
// throws the same line instead, so that only that test fails, with the line as its message. Delete
// the call once you have written the step (its comment may stay).

import { appendFileSync } from 'node:fs';

// `throws`: for a step that a test calls in its own process (lesson 02's measure()), where exiting
// would end the test run itself: imported, it throws an error with the same line; run as the program
// itself, it still exits (an error thrown from a timer's callback does not end Bun).
export function todo(file: string, what: string, { throws = false } = {}): never {
  const line = `TODO in ${file}: ${what}`;
  console.error(`[pid ${process.pid}] ${line}`);
  note(line);
  const isProgram = (process.argv[1] ?? '').endsWith(file);
  if ((throws || process.env.NODE_TEST_CONTEXT !== undefined) && !isProgram) throw new Error(line);
  process.exit(1);
}

// npm run check names a file here and reads it after the tests: the steps reached, even when a test's
// own message only says what went wrong for its client ("ECONNRESET").
function note(line: string): void {
  const log = process.env.EVERY_CORE_TODO_LOG;
  if (!log) return;
  try {
    appendFileSync(log, `${line}\n`);
  } catch {
    // The checker has gone (Ctrl+C): the line above on stderr is enough.
  }
}
