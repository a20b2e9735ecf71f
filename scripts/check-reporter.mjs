// A node:test reporter for `npm run check`: one JSON line per finished test (suites left out), with
// the failure's message and no stack, for scripts/check.ts to read. Not for people: they get check.ts.
// Plain JavaScript: Node loads a reporter before tsx's loader applies.

export default async function* checkReporter(source) {
  for await (const event of source) {
    // Starts too: when a file times out, the test that never finished is the last one started.
    // Its file too: files run side by side, and check.ts puts their results back in the files' order.
    if (event.type === 'test:start') yield `${JSON.stringify({ name: event.data.name, status: 'start', file: event.data.file })}\n`;
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { name, details, skip, todo, file } = event.data;
    // Suites are left out, unless skipped whole: their tests are then never reported one by one.
    if (details?.type === 'suite' && skip === undefined) continue;
    const status = event.type === 'test:fail' ? 'fail' : skip !== undefined || todo !== undefined ? 'skip' : 'pass';
    // A skip's reason too: npm run check says why a lesson could not judge an exercise here.
    const message = status === 'fail' ? messageOf(details?.error) : status === 'skip' && typeof skip === 'string' ? skip : undefined;
    yield `${JSON.stringify({ name, status, message, file })}\n`;
  }
}

// The runner wraps what a test threw in an ERR_TEST_FAILURE whose cause is the learner-facing error.
function messageOf(error) {
  if (!error) return 'failed';
  const shown = error.cause instanceof Error ? error.cause : error;
  return shown.message || String(shown);
}
