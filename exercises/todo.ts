// What an exercise's unwritten step does: it says which TODO comes next and where, then exits 1, so
// the lesson's tests fail at once with that line in their output instead of waiting for a server that
// never gets ready. Inside a test process (a test that imports your file), it throws the same line
// instead, so that only that test fails, with the line as its message. Delete the call once you have
// written the step.

export function todo(file: string, what: string): never {
  const line = `TODO in ${file}: ${what}`;
  if (process.env.NODE_TEST_CONTEXT !== undefined) throw new Error(line);
  console.error(`[pid ${process.pid}] ${line}`);
  process.exit(1);
}
